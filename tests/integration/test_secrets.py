"""Secrets never leave the process.  Credentials planted everywhere a
traced program can carry them — request headers, response cookies, URL
user info, signed-URL parameters, SQL literals, bound parameters, libpq
passwords — are searched for in every byte the receiver got, spans and
resource alike, and SQL literals also in the spool, where spans wait
when the backend is down (at exit and before an exec)."""

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from harness import (BUILD, KIND_SERVER, Background, Sink, find_spans,
                     free_port, run_traced, wait_for_port)
from pgserver import PgServer, need_postgres

# Every default sensitive query key of the semantic conventions
# (AWSAccessKeyId, Signature, sig, X-Goog-Signature) and the AWS SigV4 ones.
URL_KEYS = {"sig": "Sx5Sig", "X-Amz-Signature": "Sx6AmzSig",
            "AWSAccessKeyId": "Sx12AwsKeyId", "Signature": "Sx13AwsSig",
            "X-Goog-Signature": "Sx14GoogSig",
            "X-Amz-Credential": "Sx15AmzCred",
            "X-Amz-Security-Token": "Sx16AmzToken"}
HTTP_SECRETS = ["Sx1Bearer", "Sx2Cookie", "Sx3Proxy", "Sx4UrlPw",
                "Sx7SetCookie"] + list(URL_KEYS.values())
SQL_SECRETS = ["Sx8Literal", "Sx9Bound", "Sx10PgPw", "Sx11Sqlite"]


def script(d, text):
    """The program goes in a file: a secret in `python3 -c` source would be
    on the command line, which the resource reports (sanitised, but not
    every string in a program's source can be told from a secret)."""
    path = os.path.join(d, "prog.py")
    with open(path, "w") as f:
        f.write(text)
    return path


def everything(sink):
    """All the receiver wrote: spans (with resources) and request logs."""
    text = ""
    for path in (sink.out, str(sink.out) + ".requests"):
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                text += f.read()
    return text


SERVER = textwrap.dedent("""
            import sys
            from http.server import BaseHTTPRequestHandler, HTTPServer
            class H(BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def do_GET(self):
                    self.send_response(200)
                    self.send_header("Set-Cookie", "sid=Sx7SetCookie")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                def log_message(self, *a):
                    pass
            HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """)


class Secrets(unittest.TestCase):
    def test_http_headers_urls_and_cookies(self):
        server = SERVER
        port = free_port()
        with Sink() as sink, tempfile.TemporaryDirectory() as d:
            with Background([sys.executable, script(d, server), port],
                            sink):
                wait_for_port(port)
                url = ("http://user:Sx4UrlPw@127.0.0.1:%d/p?%s&q=visible" %
                       (port, "&".join("%s=%s" % kv
                                       for kv in URL_KEYS.items())))
                r = run_traced(["curl", "-s", "-H",
                                "Authorization: Bearer Sx1Bearer", "-H",
                                "Cookie: sid=Sx2Cookie", "-H",
                                "Proxy-Authorization: Basic Sx3Proxy", url],
                               sink)
                self.assertEqual(r.stdout, "ok")
                spans = sink.wait_for_spans(
                    lambda ss: find_spans(ss, kind=KIND_SERVER) and
                    len(ss) >= 2)
            text = everything(sink)
        self.assertIn("q=visible", text)      # the search can find things
        for key in URL_KEYS:
            self.assertIn(key + "=REDACTED", text)
        for s in HTTP_SECRETS:
            self.assertNotIn(s, text)

    def test_sensitive_keys_replaced_by_configuration(self):
        """OTELSHIM_URL_SENSITIVE_KEYS replaces the default list."""
        port = free_port()
        with Sink() as sink, tempfile.TemporaryDirectory() as d:
            env = {"OTELSHIM_URL_SENSITIVE_KEYS": "token,Api-Key"}
            with Background([sys.executable, script(d, SERVER), port],
                            sink, **env):
                wait_for_port(port)
                url = ("http://127.0.0.1:%d/p?token=Sx17Token&"
                       "api-key=Sx18ApiKey&sig=plain" % port)
                r = run_traced(["curl", "-s", url], sink, **env)
                self.assertEqual(r.stdout, "ok")
                sink.wait_for_spans(
                    lambda ss: find_spans(ss, kind=KIND_SERVER) and
                    len(ss) >= 2)
            text = everything(sink)
        self.assertIn("sig=plain", text)
        self.assertNotIn("Sx17Token", text)
        self.assertNotIn("Sx18ApiKey", text)

    def test_sql_literals_bound_values_and_passwords(self):
        need_postgres()
        prog = textwrap.dedent("""
            import sqlite3, sys
            db = sqlite3.connect(":memory:")
            db.execute("CREATE TABLE t (v TEXT)")
            db.execute("INSERT INTO t VALUES ('Sx11Sqlite')")
            db.execute("INSERT INTO t VALUES (?)", ("Sx9Bound",))
            db.commit()
        """)
        with Sink() as sink:
            with tempfile.TemporaryDirectory() as d:
                r = run_traced(["/usr/bin/python3", script(d, prog)], sink)
                self.assertEqual(r.returncode, 0, r.stderr)
            with PgServer(password="Sx10PgPw") as pg:
                r = run_traced(["psql", pg.dsn(), "-v", "ON_ERROR_STOP=1",
                                "-c", "SELECT 'Sx8Literal' AS x"], sink)
                self.assertEqual(r.returncode, 0, r.stderr)
                sink.wait_for_spans(
                    lambda ss: find_spans(ss, name="SELECT") or
                    any(s["resource"].get("process.executable.name") ==
                        "psql" for s in ss))
            text = everything(sink)
        self.assertIn("INSERT t", text)
        for s in SQL_SECRETS:
            self.assertNotIn(s, text)

    def test_sql_literals_never_reach_the_spool(self):
        """With the backend refusing, the statements' spans go to the
        spool at exit, and before an exec: no literal in any byte of it,
        nor in what `otelshim flush` then delivers."""
        prog = textwrap.dedent("""
            import os, sqlite3, sys
            db = sqlite3.connect(":memory:")
            db.execute("CREATE TABLE t (v TEXT, n INTEGER)")
            db.execute("INSERT INTO t VALUES ('Sx17Spool', 27182818)")
            db.execute("SELECT * FROM t WHERE v = 'Sx18Spool' "
                       "OR n IN (31415, 92653)")
            db.execute("UPDATE t SET v = 'Sx19Spool -- not a comment' "
                       "WHERE n = 58979 /* Sx20Spool */")
            if sys.argv[1:] == ["exec"]:
                os.execv("/bin/true", ["true"])
        """)
        secrets = ["Sx17Spool", "Sx18Spool", "Sx19Spool", "Sx20Spool",
                   "27182818", "31415", "92653", "58979"]
        port = free_port()
        with tempfile.TemporaryDirectory() as d:
            spool = os.path.join(d, "spool")
            path = script(d, prog)
            for args in ([], ["exec"]):
                r = run_traced(["/usr/bin/python3", path] + args, None,
                               OTELSHIM_SPOOL_DIR=spool,
                               OTEL_EXPORTER_OTLP_COMPRESSION="none",
                               OTEL_EXPORTER_OTLP_ENDPOINT=
                               "http://127.0.0.1:%d" % port)
                self.assertEqual(r.returncode, 0, r.stderr)
            blob = b""
            for f in sorted(os.listdir(spool)):
                with open(os.path.join(spool, f), "rb") as fh:
                    blob += fh.read()
            # Both runs' statements are there, sanitised.
            self.assertEqual(blob.count(b"INSERT INTO t VALUES (?, ?)"), 2,
                             blob)
            self.assertEqual(blob.count(b"UPDATE t SET v = ? WHERE n = ?"),
                             2, blob)
            for secret in secrets:
                self.assertNotIn(secret.encode(), blob)
            with Sink(port=port) as sink:
                r = subprocess.run([str(BUILD / "otelshim"), "flush", spool],
                                   capture_output=True, text=True,
                                   timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = sink.wait_for_spans(
                    lambda ss: len(find_spans(ss, name="UPDATE t")) == 2)
                text = everything(sink)
        sel = find_spans(spans, name="SELECT t")
        self.assertEqual(len(sel), 2)
        self.assertEqual(sel[0]["attributes"]["db.query.text"],
                         "SELECT * FROM t WHERE v = ? OR n IN (?)")
        for secret in secrets:
            self.assertNotIn(secret, text)


if __name__ == "__main__":
    unittest.main()
