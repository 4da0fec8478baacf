"""HTTPS: spans and W3C trace context inside TLS (OpenSSL), on real
programs, all preloaded: curl, python's urllib and wget (GnuTLS)
against a python ssl-wrapped http.server, curl -> nginx with TLS -> an https backend, a
non-blocking C client whose SSL_write calls block and are retried
(TLS 1.2 and 1.3, with and without partial writes), the same with
gnutls_record_send (retried with the same arguments or none), renegotiation and
key updates between keep-alive requests, a TLS stream that is
not HTTP, the exporter itself sending to an https receiver, and psql and
pgbench with sslmode=require against a PostgreSQL server with ssl on
(pgserver.py).  The certificate is made here with `openssl req`."""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

from harness import (KIND_CLIENT, KIND_SERVER, Background, Sink,
                     assert_child_of, attr, find_span, find_spans, free_port,
                     is_root, need_programs, nginx_conf, remove_scratch,
                     run_traced, static_site, summarize, traced_env,
                     wait_for_port)
import pgserver
from pgserver import PgServer

PROGS = Path(__file__).resolve().parent / "progs"

# GET /data/N: N deterministic bytes; GET /tp: how many traceparent
# headers came; POST: sha256 of the body.  HTTP/1.1 keep-alive over TLS.
SERVER_PY = textwrap.dedent(r"""
    import hashlib, http.server, ssl, sys

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/data/"):
                n = int(self.path[6:])
                self.reply(bytes((i * 7 + i // 251) % 256 for i in range(n)))
                return
            tps = self.headers.get_all("traceparent") or []
            self.reply(("%s %d\n" % (self.path, len(tps))).encode())

        def do_POST(self):
            data = self.rfile.read(int(self.headers["Content-Length"]))
            tps = self.headers.get_all("traceparent") or []
            self.reply(("%s %d\n" % (hashlib.sha256(data).hexdigest(),
                                     len(tps))).encode())

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()
""")

# One connection: TLS handshake, then nothing read until the file named
# by argv[4] exists (the client makes it once a write has blocked), then
# one request answered with the sha256 of its body and its traceparent
# count.  A tiny receive buffer makes the client's writes block.
SLOW_SERVER_PY = textwrap.dedent(r"""
    import hashlib, os, socket, ssl, sys, time

    port, cert, key, gofile = sys.argv[1:5]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    while True:  # the test's probe of the port comes first
        try:
            c = ctx.wrap_socket(ls.accept()[0], server_side=True)
            break
        except (ssl.SSLError, OSError):
            pass
    while not os.path.exists(gofile):
        time.sleep(0.01)
    f = c.makefile("rb")
    f.readline()
    n, tps = 0, 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            n = int(value)
        if name.lower() == b"traceparent":
            tps += 1
    body = f.read(n)
    text = ("%s %d %d\n" % (hashlib.sha256(body).hexdigest(), len(body),
                            tps)).encode()
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n%s" % (len(text), text))
    c.close()
""")

# A TLS stream that is not HTTP: the server echoes what it reads.
ECHO_PY = textwrap.dedent(r"""
    import socket, ssl, sys

    port, cert, key = sys.argv[1:4]
    ls = socket.create_server(("127.0.0.1", int(port)))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    while True:  # the test's probe of the port comes first
        try:
            c = ctx.wrap_socket(ls.accept()[0], server_side=True)
            break
        except (ssl.SSLError, OSError):
            pass
    with c:
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
""")

ECHO_CLIENT_PY = textwrap.dedent(r"""
    import hashlib, socket, ssl, sys

    ctx = ssl.create_default_context(cafile=sys.argv[2])
    data = b"".join(b"\x00\x01binary %d\r\n\r\n" % i for i in range(5000))
    got = b""
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1",
                                                   int(sys.argv[1]))),
                         server_hostname="127.0.0.1") as c:
        c.sendall(data)
        while len(got) < len(data):
            got += c.recv(65536)
    print(len(got), got == data)
""")

URLLIB_PY = textwrap.dedent(r"""
    import ssl, sys, urllib.request

    ctx = ssl.create_default_context(cafile=sys.argv[2])
    for path in ("/tp", "/data/70000"):
        with urllib.request.urlopen("https://127.0.0.1:%s%s"
                                    % (sys.argv[1], path),
                                    context=ctx) as r:
            body = r.read()
            print(len(body), body[:20])
""")

_dir = None


def setUpModule():
    global _dir
    need_programs("openssl", "cc")
    _dir = Path(tempfile.mkdtemp(prefix="otelshim-tls-"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(_dir / "key.pem"),
                    "-out", str(_dir / "cert.pem")],
                   check=True, capture_output=True)
    for prog, libs in (("tls_nonblock", ["-lssl", "-lcrypto"]),
                       ("tls_rekey", ["-lssl", "-lcrypto"]),
                       ("gnutls_nonblock", ["-lgnutls"])):
        subprocess.run(["cc", "-O1", "-g", "-Wall", "-o", str(_dir / prog),
                        str(PROGS / (prog + ".c"))] + libs, check=True)


def tearDownModule():
    remove_scratch(_dir)


def cert():
    return str(_dir / "cert.pem")


def key():
    return str(_dir / "key.pem")


def server(sink, port, name="tlsserver", traced=True):
    return Background([sys.executable, "-c", SERVER_PY, str(port), cert(),
                       key()], sink, traced=traced, OTEL_SERVICE_NAME=name)


def service(span):
    return span["resource"].get("service.name")


def data(n):
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


def settle(sink, pred, timeout=15):
    """The spans once pred holds, after a pause for any stray ones."""
    sink.wait_for_spans(pred, timeout=timeout)
    time.sleep(1.0)
    return sink.spans()


class CurlToPython(unittest.TestCase):
    def test_keepalive_connected_and_exact(self):
        need_programs("curl")
        port = free_port()
        base = "https://127.0.0.1:%d" % port
        argv = ["curl", "-sS", "--cacert", cert(), base + "/data/300000",
                base + "/tp"]
        with Sink() as sink, server(sink, port):
            wait_for_port(port)
            plain = subprocess.run(argv, capture_output=True, timeout=30)
            r = subprocess.run(argv, capture_output=True, timeout=30,
                               env=traced_env(sink,
                                              OTEL_SERVICE_NAME="curl"))
            spans = settle(sink, lambda ss: len(ss) >= 6)
        want = data(300000)
        self.assertEqual(plain.stdout, want + b"/tp 0\n")
        # The program sees exactly the response bytes; the server got
        # one traceparent, added inside TLS.
        self.assertEqual(r.stdout, want + b"/tp 1\n", r.stderr)
        # 2 server spans of the untraced run, 2 + 2 of the traced one,
        # none from the ciphertext.
        self.assertEqual(len(spans), 6, summarize(spans))
        clients = find_spans(spans, "GET", KIND_CLIENT)
        self.assertEqual(len(clients), 2, summarize(spans))
        for c in clients:
            self.assertEqual(service(c), "curl")
            self.assertTrue(is_root(c))
            self.assertTrue(attr(c, "url.full").startswith(base + "/"))
            self.assertEqual(attr(c, "server.port"), port)
            self.assertEqual(attr(c, "network.peer.port"), port)
            self.assertEqual(attr(c, "http.response.status_code"), 200)
            path = attr(c, "url.full")[len(base):]
            s = find_span(spans, "GET", KIND_SERVER,
                          attrs={"url.path": path},
                          pred=lambda s: not is_root(s))
            assert_child_of(s, c)
            self.assertEqual(attr(s, "url.scheme"), "https")
            self.assertEqual(attr(s, "server.port"), port)
        # Both requests went over one TLS connection.
        servers = [s for s in find_spans(spans, "GET", KIND_SERVER)
                   if not is_root(s)]
        self.assertEqual(len({attr(s, "network.peer.port")
                              for s in servers}), 1, summarize(servers))


class WgetGnuTLS(unittest.TestCase):
    def test_wget_header_injected_and_exact(self):
        need_programs("wget")
        port = free_port()
        base = "https://127.0.0.1:%d" % port
        argv = ["wget", "-q", "-O", "-", "--ca-certificate=" + cert(),
                base + "/data/200000", base + "/tp"]
        with Sink() as sink, server(sink, port):
            wait_for_port(port)
            plain = subprocess.run(argv, capture_output=True, timeout=30)
            r = subprocess.run(argv, capture_output=True, timeout=30,
                               env=traced_env(sink,
                                              OTEL_SERVICE_NAME="wget"))
            spans = settle(sink, lambda ss: len(ss) >= 6)
        self.assertEqual(plain.stdout, data(200000) + b"/tp 0\n")
        # The header arrived on the server side, the bytes are exact.
        self.assertEqual(r.stdout, data(200000) + b"/tp 1\n", r.stderr)
        self.assertEqual(len(spans), 6, summarize(spans))
        for path in ("/data/200000", "/tp"):
            c = find_span(spans, "GET", KIND_CLIENT,
                          attrs={"url.full": base + path})
            s = find_span(spans, "GET", KIND_SERVER,
                          attrs={"url.path": path},
                          pred=lambda s: not is_root(s))
            self.assertEqual(service(c), "wget")
            assert_child_of(s, c)
            self.assertEqual(attr(c, "http.response.status_code"), 200)


class PythonClient(unittest.TestCase):
    def test_urllib_https(self):
        port = free_port()
        with Sink() as sink, server(sink, port):
            wait_for_port(port)
            r = run_traced([sys.executable, "-c", URLLIB_PY, str(port),
                            cert()], sink, OTEL_SERVICE_NAME="urllib")
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = settle(sink, lambda ss: len(ss) >= 4)
        self.assertEqual(r.stdout.splitlines(),
                         ["6 b'/tp 1\\n'", "70000 %r" % data(20)])
        self.assertEqual(len(spans), 4, summarize(spans))
        for path in ("/tp", "/data/70000"):
            c = find_span(spans, "GET", KIND_CLIENT,
                          attrs={"url.full": "https://127.0.0.1:%d%s"
                                 % (port, path)})
            s = find_span(spans, "GET", KIND_SERVER,
                          attrs={"url.path": path})
            self.assertEqual(service(c), "urllib")
            assert_child_of(s, c)
            self.assertEqual(attr(s, "url.scheme"), "https")
            self.assertEqual(attr(c, "http.response.status_code"), 200)


class NotHttp(unittest.TestCase):
    def test_binary_tls_stream_left_alone(self):
        port = free_port()
        with Sink() as sink:
            with Background([sys.executable, "-c", ECHO_PY, str(port),
                             cert(), key()], sink) as echo:
                wait_for_port(port)
                r = run_traced([sys.executable, "-c", ECHO_CLIENT_PY,
                                str(port), cert()], sink)
                echo.proc.wait(timeout=20)
            self.assertEqual(r.stdout.strip(), "%d True" % len(
                b"".join(b"\x00\x01binary %d\r\n\r\n" % i
                         for i in range(5000))), r.stderr)
            # The harness's own connection to the port is no span either.
            time.sleep(1.5)
            self.assertEqual(sink.spans(), [])


class NonBlockingClient(unittest.TestCase):
    """SSL_write on a non-blocking socket whose peer does not read yet:
    the client checks each result against OpenSSL's rules itself."""

    BODY = 1 << 20

    def _run(self, mode, version, traced):
        port = free_port()
        gofile = _dir / ("go-%s-%s-%d" % (mode, version, traced))
        if gofile.exists():
            gofile.unlink()
        argv = [str(_dir / "tls_nonblock"), str(port), mode, version,
                str(self.BODY), str(gofile)]
        with Sink() as sink:
            with Background([sys.executable, "-c", SLOW_SERVER_PY,
                             str(port), cert(), key(), str(gofile)], sink,
                            OTEL_SERVICE_NAME="slow") as srv:
                wait_for_port(port)
                if traced:
                    r = run_traced(argv, sink, timeout=60,
                                   OTEL_SERVICE_NAME="nonblock")
                else:
                    r = subprocess.run(argv, capture_output=True,
                                       text=True, timeout=60)
                srv.proc.wait(timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr + srv.output())
                # Client and server span, or the server's alone; the
                # harness's probe of the port makes none.
                spans = settle(sink, 2 if traced else 1)
                self.assertEqual(len(spans), 2 if traced else 1,
                                 summarize(spans))
        return r, spans

    def _check(self, mode, version):
        body = bytes((ord("a") + (i * 7 + i // 251) % 26)
                     for i in range(self.BODY))
        sha = hashlib.sha256(body).hexdigest()
        plain, _ = self._run(mode, version, False)
        r, spans = self._run(mode, version, True)
        self.assertTrue(plain.stdout.endswith("%s %d 0\n"
                                              % (sha, self.BODY)),
                        plain.stdout)
        self.assertTrue(r.stdout.endswith("%s %d 1\n" % (sha, self.BODY)),
                        r.stdout)
        # The writes did block and were retried.
        self.assertNotIn("blocked=0", r.stderr)
        self.assertIn("blocked=", r.stderr)
        c = find_span(spans, "POST", KIND_CLIENT)
        s = find_span(spans, "POST", KIND_SERVER)
        assert_child_of(s, c)
        self.assertEqual(attr(c, "url.full"),
                         "https://tls.test/upload")
        self.assertEqual(attr(c, "http.response.status_code"), 200)
        self.assertEqual(attr(s, "url.scheme"), "https")

    def test_default_mode_tls12(self):
        self._check("full", "1.2")

    def test_default_mode_tls13(self):
        self._check("full", "1.3")

    def test_partial_writes_tls12(self):
        self._check("partial", "1.2")

    def test_partial_writes_tls13(self):
        self._check("partial", "1.3")

    def test_moving_buffer_tls13(self):
        # SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: every retry from a copy.
        self._check("moving", "1.3")


class GnuTLSNonBlocking(unittest.TestCase):
    """gnutls_record_send on a non-blocking socket whose peer does not
    read yet (progs/gnutls_nonblock.c): retried with the same arguments,
    the request is followed to its end with its traceparent; retried
    without a buffer, the program still gets exactly GnuTLS's answers and
    the server every byte, and the span ends there."""

    BODY = 200000

    def _run(self, sink, mode, traced):
        port = free_port()
        gofile = _dir / ("gnutls-go-%s-%d" % (mode, traced))
        if gofile.exists():
            gofile.unlink()
        argv = [str(_dir / "gnutls_nonblock"), str(port), mode,
                str(self.BODY), str(gofile)]
        with Background([sys.executable, "-c", SLOW_SERVER_PY, str(port),
                         cert(), key(), str(gofile)], sink,
                        OTEL_SERVICE_NAME="slow-%s-%d" % (mode, traced)) \
                as srv:
            wait_for_port(port)
            if traced:
                r = run_traced(argv, sink, timeout=60,
                               OTEL_SERVICE_NAME="gnutls-" + mode)
            else:
                r = subprocess.run(argv, capture_output=True, text=True,
                                   timeout=60)
            srv.proc.wait(timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr + srv.output())
        # The writes did block and were retried.
        self.assertNotIn("blocked=0", r.stderr)
        self.assertIn("blocked=", r.stderr)
        return r

    def test_retries_with_same_arguments_and_without_buffer(self):
        body = bytes((ord("a") + (i * 7 + i // 251) % 26)
                     for i in range(self.BODY))
        sha = hashlib.sha256(body).hexdigest()
        runs = {}
        with Sink() as sink:
            for mode in ("same", "null"):
                runs[mode] = (self._run(sink, mode, False),
                              self._run(sink, mode, True))
            # A server span per run, a client span per traced run; the
            # harness's probes of the ports make none.
            spans = settle(sink, 6)
        self.assertEqual(len(spans), 6, summarize(spans))
        for mode, (plain, r) in runs.items():
            self.assertTrue(plain.stdout.endswith("%s %d 0\n"
                                                  % (sha, self.BODY)),
                            plain.stdout)
            # Every byte arrived, with one traceparent.
            self.assertTrue(r.stdout.endswith("%s %d 1\n"
                                              % (sha, self.BODY)),
                            r.stdout)
            c = find_span(spans, "POST", KIND_CLIENT,
                          pred=lambda s: service(s) == "gnutls-" + mode)
            s = find_span(spans, "POST", KIND_SERVER,
                          pred=lambda s: service(s) == "slow-%s-1" % mode)
            assert_child_of(s, c)
            self.assertEqual(attr(c, "url.full"), "https://tls.test/upload")
            self.assertEqual(attr(s, "url.scheme"), "https")
            if mode == "same":
                self.assertEqual(attr(c, "http.response.status_code"), 200)
            else:
                # Not followed past the retry: no response seen.
                self.assertIsNone(attr(c, "http.response.status_code"))


class Rekey(unittest.TestCase):
    """Keys changed between keep-alive requests: TLS 1.2 renegotiation
    (the client's, finished by SSL_do_handshake or inside the next
    SSL_write, and the server's HelloRequest) and TLS 1.3 key updates
    (both ways), with a non-blocking client (progs/tls_rekey.c).  The
    server, traced too, says what each request brought; the client
    checks that against what it sent and that the keys did change."""

    def test_renegotiation_and_key_update(self):
        prog = str(_dir / "tls_rekey")
        port = free_port()
        with Sink() as sink, \
             Background([prog, "server", str(port), cert(), key()], sink,
                        OTEL_SERVICE_NAME="rekey-server") as srv:
            wait_for_port(port)
            plain = subprocess.run([prog, "client", str(port)],
                                   capture_output=True, text=True,
                                   timeout=60)
            r = run_traced([prog, "client", str(port)], sink, timeout=60,
                           OTEL_SERVICE_NAME="rekey-client")
            self.assertEqual(plain.returncode, 0, plain.stderr)
            self.assertEqual(r.returncode, 0, r.stderr + srv.output())
            # 4 connections of 3 requests: the untraced run's server
            # spans, the traced run's client and server spans.
            spans = settle(sink, 36)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 12, r.stdout)
        # Each request got one traceparent and nothing else changed in
        # the bytes the server read (head, body and their hash).
        self.assertEqual(plain.stdout.count(" tp=0 "), 12, plain.stdout)
        self.assertEqual(r.stdout, plain.stdout.replace(" tp=0 ", " tp=1 "))
        # One span per request and side, none from the handshakes.
        self.assertEqual(len(spans), 36, summarize(spans))
        self.assertEqual(len(find_spans(spans, kind=KIND_CLIENT)), 12,
                         summarize(spans))
        for line in lines:
            target = line.split()[0]
            path, _, query = target.partition("?")
            c = find_span(spans, kind=KIND_CLIENT,
                          attrs={"url.full": "https://tls.test" + target})
            s = find_span(spans, kind=KIND_SERVER, attrs={"url.path": path},
                          pred=lambda s: not is_root(s) and
                          attr(s, "url.query", "") == query)
            assert_child_of(s, c)
            self.assertEqual(service(c), "rekey-client")
            self.assertEqual(c["name"], "GET" if path.endswith("/get")
                             else "POST")
            self.assertEqual(attr(c, "http.response.status_code"), 200)
            self.assertEqual(attr(c, "network.peer.port"), port)
            self.assertEqual(attr(s, "url.scheme"), "https")
            self.assertEqual(attr(s, "http.response.status_code"), 200)


class Nginx(unittest.TestCase):
    def test_curl_nginx_https_backend_one_trace(self):
        need_programs("nginx", "curl")
        d = Path(tempfile.mkdtemp(prefix="otelshim-nginx-tls-"))
        try:
            self._run(d)
        finally:
            remove_scratch(d)

    def _run(self, d):
        port, bport = free_port(), free_port()
        content = static_site(d)
        ngx_cmd = nginx_conf(d, """
            sendfile on;
            server {{
                listen 127.0.0.1:{port} ssl;
                ssl_certificate {cert};
                ssl_certificate_key {key};
                location /static/ {{ root {d}/www; }}
                location /api/ {{
                    proxy_pass https://127.0.0.1:{bport};
                    proxy_http_version 1.1;
                }}
            }}
        """.format(d=d, port=port, bport=bport, cert=cert(), key=key()),
            workers=1)
        base = "https://127.0.0.1:%d" % port
        with Sink() as sink:
            with server(sink, bport, name="backend"), \
                 Background(ngx_cmd, sink,
                            OTEL_SERVICE_NAME="nginx") as ngx:
                wait_for_port(bport)
                wait_for_port(port)
                r = run_traced(["curl", "-sS", "--cacert", cert(),
                                base + "/static/big.txt"], sink,
                               OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, content, r.stderr)
                r = run_traced(["curl", "-sS", "--cacert", cert(),
                                base + "/api/hello?x=1"], sink,
                               OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, "/api/hello?x=1 1\n",
                                 r.stderr + ngx.output())
                spans = settle(sink, lambda ss: len(
                    find_spans(ss, kind=KIND_SERVER)) >= 3)
        static = find_span(spans, "GET", KIND_SERVER,
                           attrs={"url.path": "/static/big.txt"})
        self.assertEqual(service(static), "nginx")
        self.assertEqual(attr(static, "url.scheme"), "https")
        self.assertEqual(attr(static, "http.response.status_code"), 200)
        cstatic = find_span(spans, "GET", KIND_CLIENT, attrs={
            "url.full": base + "/static/big.txt"})
        assert_child_of(static, cstatic)
        # curl -> nginx (TLS) -> backend (TLS): four connected spans
        c1 = find_span(spans, "GET", KIND_CLIENT,
                       attrs={"url.full": base + "/api/hello?x=1"})
        s1 = find_span(spans, "GET", KIND_SERVER,
                       attrs={"url.path": "/api/hello"},
                       pred=lambda s: service(s) == "nginx")
        c2 = find_span(spans, "GET", KIND_CLIENT,
                       pred=lambda s: service(s) == "nginx")
        s2 = find_span(spans, "GET", KIND_SERVER,
                       pred=lambda s: service(s) == "backend")
        assert_child_of(s1, c1)
        assert_child_of(c2, s1)
        assert_child_of(s2, c2)
        self.assertEqual(attr(s1, "url.scheme"), "https")
        self.assertEqual(attr(c2, "url.full"),
                         "https://127.0.0.1:%d/api/hello?x=1" % bport)
        self.assertEqual(attr(s2, "url.scheme"), "https")
        self.assertEqual(attr(s2, "http.response.status_code"), 200)
        # one span per request: nothing from the ciphertext
        self.assertEqual(len(spans), 6, summarize(spans))


PQ_PASSWORD = "pw_tls_Secret_5521"

# psql's commands: whether the session is TLS, statements with literals
# (one long enough to span several TLS records), an error, and a result
# of many records.
PSQL_CMDS = [
    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    "CREATE TABLE tls_items (id int PRIMARY KEY, name text)",
    "INSERT INTO tls_items VALUES (1, 'tls_secret_lit_4471'), (2, '%s')"
    % ("long_secret_" * 3000),
    "SELECT id, length(name) FROM tls_items WHERE name <> "
    "'tls_secret_lit_4471'",
    "SELECT * FROM tls_missing_table",
    "SELECT g, md5(g::text) FROM generate_series(1, 3000) g",
    "DROP TABLE tls_items",
]

PGBENCH_SCRIPT = """\
\\set a random(1, 100000)
SELECT :a::bigint + 918273 AS tls_bench;
\\startpipeline
SELECT count(*) FROM generate_series(1, :a::int % 10 + 1);
SELECT 'pgb_tls_secret_6161' AS tag;
\\endpipeline
"""


class PostgresSslmode(unittest.TestCase):
    """libpq with sslmode=require: its TLS (OpenSSL on libpq's own BIO)
    carries the PostgreSQL protocol, which is never HTTP, so the spans
    are the libpq hooks' alone, the same as over a plain connection, and
    what the programs print is unchanged."""

    @classmethod
    def setUpClass(cls):
        pgserver.need_postgres()
        cls.pg = PgServer(password=PQ_PASSWORD, ssl=(cert(), key())).start()
        try:
            cls.pg.createdb("app")
        except BaseException:
            cls.pg.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def shape(self, spans):
        """What must not depend on TLS: each span's name, kind, status and
        attributes, without the client's own port and the stack a slow
        span gets (code.*: it depends on the machine's load)."""
        out = []
        for s in spans:
            a = {k: v for k, v in s["attributes"].items()
                 if not k.startswith("code.")}
            a.pop("network.peer.port", None)
            out.append((s["name"], s["kind"], s["status"].get("code"),
                        s["status"].get("message", ""),
                        json.dumps(a, sort_keys=True)))
        return sorted(out)

    def by_service(self, spans, name):
        return [s for s in spans if service(s) == name]

    def test_psql_and_pgbench_over_tls(self):
        psql = [pgserver.pg_bin("psql"), "-X", "-A", "-t"]
        for c in PSQL_CMDS:
            psql += ["-c", c]
        script = _dir / "tls_bench.sql"
        script.write_text(PGBENCH_SCRIPT)
        # A connection (and TLS session) per transaction: objects freed
        # and their sockets' descriptors reused.
        bench = [pgserver.pg_bin("pgbench"), "-n", "-C", "-M", "extended",
                 "-t", "10", "-c", "2", "-j", "1", "-f", str(script)]
        runs = {}
        with Sink() as sink:
            for mode in ("disable", "require"):
                dsn = self.pg.dsn("app", sslmode=mode)
                untraced = subprocess.run(psql + ["-d", dsn],
                                          capture_output=True, timeout=60)
                traced = subprocess.run(
                    psql + ["-d", dsn], capture_output=True, timeout=60,
                    env=traced_env(sink, OTEL_SERVICE_NAME="psql-" + mode))
                b = run_traced(bench + [dsn], sink, timeout=60,
                               OTEL_SERVICE_NAME="pgbench-" + mode)
                self.assertEqual(b.returncode, 0, b.stderr)
                self.assertIn("actually processed: 20/20", b.stdout)
                runs[mode] = (untraced, traced)
            # psql: 7 statements; pgbench: 3 per transaction (a script
            # of its own: no set-up query), for each mode.
            per_mode = len(PSQL_CMDS) + 20 * 3
            spans = settle(sink, 2 * per_mode)
        self.assertEqual(len(spans), 2 * per_mode, summarize(spans))
        for mode, (untraced, traced) in runs.items():
            self.assertEqual(traced.stdout, untraced.stdout, mode)
            self.assertEqual(traced.stderr, untraced.stderr, mode)
            self.assertEqual(traced.returncode, untraced.returncode)
        plain, tls = runs["disable"][1], runs["require"][1]
        self.assertEqual(plain.stdout.split(b"\n", 1)[0], b"f")
        self.assertEqual(tls.stdout.split(b"\n", 1)[0], b"t")
        self.assertEqual(plain.stdout.split(b"\n", 1)[1],
                         tls.stdout.split(b"\n", 1)[1])
        self.assertIn(b'"tls_missing_table" does not exist', tls.stderr)
        # Nothing but query spans: no HTTP span, no span from the TLS
        # records.
        for s in spans:
            self.assertEqual(attr(s, "db.system.name"), "postgresql",
                             summarize([s]))
            self.assertEqual(s["kind"], KIND_CLIENT)
            self.assertEqual(attr(s, "server.port"), self.pg.port)
        for prog in ("psql", "pgbench"):
            self.assertEqual(
                self.shape(self.by_service(spans, prog + "-require")),
                self.shape(self.by_service(spans, prog + "-disable")),
                prog)
        ins = find_span(self.by_service(spans, "psql-require"),
                        name="INSERT tls_items")
        self.assertEqual(attr(ins, "db.query.text"),
                         "INSERT INTO tls_items VALUES (?, ?)")
        sel = find_span(self.by_service(spans, "psql-require"),
                        attrs={"db.query.text": "SELECT g, md5(g::text) "
                               "FROM generate_series(?, ?) g"})
        self.assertEqual(attr(sel, "db.response.returned_rows"), 3000)
        err = find_span(self.by_service(spans, "psql-require"),
                        name="SELECT tls_missing_table")
        self.assertEqual(attr(err, "db.response.status_code"), "42P01")
        blob = json.dumps(spans)
        for secret in ("tls_secret_lit_4471", "long_secret_", "918273",
                       "pgb_tls_secret_6161", PQ_PASSWORD):
            self.assertNotIn(secret, blob)


class ExporterOverHttps(unittest.TestCase):
    def test_own_https_export_is_not_traced(self):
        """The exporter's libcurl speaks TLS through the same hooks: its
        requests must never become spans, nor get a traceparent."""
        need_programs("curl")
        port = free_port()
        www = tempfile.mkdtemp(prefix="otelshim-www-")
        Path(www, "a.txt").write_text("a\n")
        prog = textwrap.dedent("""
            import subprocess, sys, time, urllib.request
            for i in range(3):
                urllib.request.urlopen(sys.argv[1]).read()
                time.sleep(0.6)
        """)
        try:
            with Sink(tls=(key(), cert())) as sink, \
                 Background([sys.executable, "-m", "http.server", "--bind",
                             "127.0.0.1", str(port)], traced=False,
                            cwd=www):
                self.assertTrue(sink.endpoint.startswith("https://"))
                wait_for_port(port)
                r = run_traced([sys.executable, "-c", prog,
                                "http://127.0.0.1:%d/a.txt" % port], sink,
                               OTEL_EXPORTER_OTLP_CERTIFICATE=cert())
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = settle(sink, 3)
                reqs = sink.requests()
        finally:
            shutil.rmtree(www, ignore_errors=True)
        # Batches went out during the run (200 ms schedule) and at exit.
        self.assertGreaterEqual(len(reqs), 2, reqs)
        for q in reqs:
            self.assertNotIn("traceparent", q["headers"])
        self.assertEqual(len(spans), 3, summarize(spans))
        for s in spans:
            self.assertEqual(attr(s, "url.full"),
                             "http://127.0.0.1:%d/a.txt" % port)


class CPythonSslSuite(unittest.TestCase):
    def test_same_result_with_and_without(self):
        """CPython's own test_ssl (sockets, memory BIOs, non-blocking
        handshakes, renegotiation refusals, TLS 1.2 and 1.3) gives the
        same outcome with the library preloaded."""
        try:
            import test.test_ssl  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("CPython's test package is not here")
        argv = [sys.executable, "-m", "test", "test_ssl"]

        def outcome(out):
            return [l for l in out.splitlines()
                    if l.startswith(("Total tests:", "Result:"))]

        # The two runs share nothing: side by side, on two CPUs.
        with Sink() as sink:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    errors="replace")
            try:
                traced = run_traced(argv, sink, timeout=600)
                out, err = proc.communicate(timeout=600)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        plain = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        self.assertIn("Result: SUCCESS", outcome(plain.stdout), plain.stdout)
        self.assertEqual(outcome(traced.stdout), outcome(plain.stdout),
                         traced.stdout[-3000:])


if __name__ == "__main__":
    unittest.main()
