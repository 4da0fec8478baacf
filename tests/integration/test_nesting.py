"""One trace per request, across the things a request does: the request
span of an unmodified service is the parent of its SQLite statements, of
its PostgreSQL queries (psycopg2, which loads libpq with dlopen) and of the
spans of a program it execs; and the caller's client span is the parent of
the request span."""

import os
import shutil
import sys
import tempfile
import textwrap
import time
import unittest

from harness import (BUILD, KIND_CLIENT, KIND_SERVER, Background, Sink,
                     assert_child_of, find_span, find_spans, free_port,
                     run_traced, wait_for_port, attr)
from pgserver import PgServer, need_postgres

SYSTEM_PY = "/usr/bin/python3"   # Debian's, with python3-psycopg2


def span_data(spans):
    """What the spans themselves say, without the resource (whose
    process.command_args holds the test's own command lines)."""
    return str([{k: v for k, v in s.items() if k != "resource"}
                for s in spans])


class Nesting(unittest.TestCase):
    def test_sqlite_queries_are_children_of_the_request(self):
        port = free_port()
        with Sink() as sink, tempfile.TemporaryDirectory() as d:
            with Background([BUILD / "examples" / "demo_service", port,
                             os.path.join(d, "notes.db")], sink,
                            OTEL_SERVICE_NAME="notes"):
                wait_for_port(port)
                r = run_traced(["curl", "-s", "--data", "milk",
                                "http://127.0.0.1:%d/notes" % port], sink,
                               OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, '{"id":1}')
                spans = sink.wait_for_spans(
                    lambda ss: find_spans(ss, name="INSERT notes") and
                    find_spans(ss, kind=KIND_SERVER))
        client = find_span(spans, kind=KIND_CLIENT, name="POST")
        server = find_span(spans, kind=KIND_SERVER, name="POST")
        insert = find_span(spans, name="INSERT notes")
        assert_child_of(server, client)
        assert_child_of(insert, server)
        self.assertEqual(attr(insert, "db.system.name"), "sqlite")
        self.assertEqual(server["resource"]["service.name"], "notes")
        self.assertNotIn("milk", span_data(spans))

    def test_postgres_queries_are_children_of_the_request(self):
        need_postgres()
        if not os.path.exists(SYSTEM_PY) or os.system(
                SYSTEM_PY + " -c 'import psycopg2' 2>/dev/null") != 0:
            raise unittest.SkipTest("python3-psycopg2 is not installed")
        service = textwrap.dedent("""
            import sys, psycopg2
            from http.server import BaseHTTPRequestHandler, HTTPServer
            dsn = sys.argv[2]
            class H(BaseHTTPRequestHandler):
                def do_GET(self):
                    with psycopg2.connect(dsn) as c, c.cursor() as cur:
                        cur.execute("SELECT count(*) FROM pg_class "
                                    "WHERE relname = %s", ("s3cr3t",))
                        n = cur.fetchone()[0]
                    body = str(n).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *a):
                    pass
            HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """)
        port = free_port()
        with PgServer(password="pw-Xy9") as pg, Sink() as sink:
            with Background([SYSTEM_PY, "-c", service, port, pg.dsn()],
                            sink, OTEL_SERVICE_NAME="pysvc"):
                wait_for_port(port)
                r = run_traced(["curl", "-s", "http://127.0.0.1:%d/" % port],
                               sink)
                self.assertEqual(r.stdout, "0")
                spans = sink.wait_for_spans(
                    lambda ss: find_spans(ss, name="SELECT pg_class") and
                    find_spans(ss, kind=KIND_SERVER))
        server = find_span(spans, kind=KIND_SERVER, name="GET")
        query = find_span(spans, name="SELECT pg_class")
        assert_child_of(query, server)
        self.assertEqual(attr(query, "db.system.name"), "postgresql")
        self.assertNotIn("s3cr3t", span_data(spans))
        self.assertNotIn("pw-Xy9", str(spans))

    def test_an_execd_program_continues_the_request_trace(self):
        """A CGI-style service: each request runs curl, whose failed
        connect is a child of the request span through TRACEPARENT."""
        service = textwrap.dedent("""
            import subprocess, sys
            from http.server import BaseHTTPRequestHandler, HTTPServer
            class H(BaseHTTPRequestHandler):
                def do_GET(self):
                    subprocess.run(["curl", "-s", "http://127.0.0.1:1/"])
                    self.send_response(204)
                    self.end_headers()
                def log_message(self, *a):
                    pass
            HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """)
        port = free_port()
        with Sink() as sink:
            with Background([sys.executable, "-c", service, port], sink):
                wait_for_port(port)
                run_traced(["curl", "-s", "http://127.0.0.1:%d/" % port],
                           sink)
                spans = sink.wait_for_spans(
                    lambda ss: find_spans(ss, name="connect") and
                    find_spans(ss, kind=KIND_SERVER))
        server = find_span(spans, kind=KIND_SERVER, name="GET")
        connect = find_span(spans, name="connect")
        assert_child_of(connect, server)
        self.assertEqual(connect["resource"]["process.executable.name"],
                         "curl")


if __name__ == "__main__":
    unittest.main()
