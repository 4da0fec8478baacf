"""OTEL_SEMCONV_STABILITY_OPT_IN on real programs: a preloaded curl
calling a preloaded Python HTTP server, and the sqlite3 CLI.  With
http/dup and database/dup the legacy attribute names arrive beside the
stable ones, with the same values (docs/otel-reference.md §6); unset, or
with the stable-only words, only the stable names do.
"""

import unittest

from harness import (KIND_CLIENT, KIND_SERVER, Background, Sink, attr,
                     find_span, find_spans, free_port, need_programs, run_traced,
                     wait_for_port)

LEGACY_HTTP = ("http.method", "http.status_code", "http.url", "http.target",
               "http.scheme", "http.flavor", "net.peer.name",
               "net.peer.port", "net.host.name", "net.host.port")
LEGACY_DB = ("db.system", "db.statement", "db.operation", "db.name",
             "db.sql.table")


class HttpDupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need_programs("curl")

    def exchange(self, opt_in):
        """curl -> python http.server, both traced with opt_in; returns
        (client span, server span)."""
        port = free_port()
        env = {"OTEL_SEMCONV_STABILITY_OPT_IN": opt_in}
        with Sink() as sink:
            with Background(["python3", "-m", "http.server", "--bind",
                             "127.0.0.1", str(port)], sink, **env):
                wait_for_port(port)
                r = run_traced(["curl", "-sf", "-o", "/dev/null",
                                "http://127.0.0.1:%d/?q=1" % port], sink,
                               **env)
                self.assertEqual(r.returncode, 0, r.stderr)
                sink.wait_for_spans(
                    lambda s: find_spans(s, kind=KIND_SERVER) and
                    find_spans(s, kind=KIND_CLIENT))
            spans = sink.spans()
        return (find_span(spans, kind=KIND_CLIENT),
                find_span(spans, kind=KIND_SERVER))

    def test_dup_adds_legacy_names(self):
        client, server = self.exchange("http/dup,messaging/dup")
        for span in (client, server):
            self.assertEqual(attr(span, "http.method"), "GET")
            self.assertEqual(attr(span, "http.status_code"), 200)
            self.assertEqual(attr(span, "http.request.method"), "GET")
            self.assertEqual(attr(span, "http.response.status_code"), 200)
            self.assertEqual(attr(span, "http.flavor"),
                             attr(span, "network.protocol.version"))
        self.assertEqual(attr(client, "http.url"), attr(client, "url.full"))
        self.assertTrue(attr(client, "http.url").endswith("/?q=1"))
        self.assertEqual(attr(client, "net.peer.name"), "127.0.0.1")
        self.assertEqual(attr(client, "net.peer.port"),
                         attr(client, "server.port"))
        self.assertIsNone(attr(client, "http.target"))
        self.assertEqual(attr(server, "http.target"), "/?q=1")
        self.assertEqual(attr(server, "url.path"), "/")
        self.assertEqual(attr(server, "net.host.port"),
                         attr(server, "server.port"))
        self.assertIsNone(attr(server, "http.url"))

    def test_stable_only_by_default(self):
        for opt_in in (None, "http", "database/dup"):
            client, server = self.exchange(opt_in)
            for span in (client, server):
                self.assertEqual(attr(span, "http.request.method"), "GET")
                present = [k for k in LEGACY_HTTP
                           if attr(span, k) is not None]
                self.assertEqual(present, [], opt_in)


class DatabaseDupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need_programs("sqlite3")

    def statement(self, opt_in):
        with Sink() as sink:
            r = run_traced(["sqlite3", ":memory:",
                            "CREATE TABLE t(a); SELECT a FROM t WHERE a = 42;"],
                           sink, OTEL_SEMCONV_STABILITY_OPT_IN=opt_in)
            self.assertEqual(r.returncode, 0, r.stderr)
            sink.wait_for_spans(2)
            spans = sink.spans()
        return find_span(spans, pred=lambda s: attr(
            s, "db.operation.name") == "SELECT")

    def test_dup_adds_legacy_names(self):
        s = self.statement("database/dup")
        self.assertEqual(attr(s, "db.system"), "sqlite")
        self.assertEqual(attr(s, "db.system.name"), "sqlite")
        self.assertEqual(attr(s, "db.statement"), attr(s, "db.query.text"))
        self.assertNotIn("42", attr(s, "db.statement"))
        self.assertEqual(attr(s, "db.operation"), "SELECT")
        self.assertEqual(attr(s, "db.sql.table"), "t")
        self.assertIsNone(attr(s, "http.method"))

    def test_stable_only_by_default(self):
        for opt_in in (None, "database", "http/dup"):
            s = self.statement(opt_in)
            self.assertEqual(attr(s, "db.system.name"), "sqlite")
            present = [k for k in LEGACY_DB if attr(s, k) is not None]
            self.assertEqual(present, [], opt_in)


if __name__ == "__main__":
    unittest.main()
