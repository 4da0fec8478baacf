"""HTTP/1.x spans from socket traffic on real programs, all preloaded: curl
and python clients against python servers and nginx, with W3C trace
context carried across the processes.  Byte-exactness is checked with a
C client that pipelines requests through a tiny non-blocking send buffer;
binary traffic must produce no span and arrive untouched."""

import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

from harness import (KIND_CLIENT, KIND_SERVER, STATUS_ERROR, STATUS_UNSET,
                     Background, Sink, assert_child_of, attr, find_span,
                     find_spans, free_port, is_root, need_programs, nginx_conf,
                     remove_scratch, run_traced, static_site, summarize,
                     wait_for_port)

PROGS = Path(__file__).resolve().parent / "progs"

# An HTTP/1.1 keep-alive server: GET / (text), /chunked (chunked body),
# /fail (500), /slow-head (HEAD-friendly), POST (answers the sha256 of
# the body, how many traceparent headers came and the first one).
# usage: SERVER_PY PORT [GATE]: with GATE, connections get a small
# receive buffer and nothing is read from them before the file GATE
# exists (the client creates it once its writes find the socket full).
SERVER_PY = textwrap.dedent(r"""
    import hashlib, http.server, os, socket, sys, time

    GATE = sys.argv[2] if len(sys.argv) > 2 else None

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def setup(self):
            deadline = time.monotonic() + 120
            while GATE and not os.path.exists(GATE) and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
            super().setup()

        def reply(self, code, body):
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/chunked"):
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (b"hello ", b"chunked ", b"world"):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
                return
            if self.path.startswith("/fail"):
                self.reply(500, b"boom\n")
                return
            tps = self.headers.get_all("traceparent") or []
            self.reply(200, ("ok %s %d\n" % (self.path, len(tps))).encode())

        def do_POST(self):
            n = int(self.headers["Content-Length"])
            data = self.rfile.read(n)
            tps = self.headers.get_all("traceparent") or []
            body = "%s %d %s\n" % (hashlib.sha256(data).hexdigest(),
                                   len(tps), tps[0] if tps else "-")
            self.reply(200, body.encode())

    class S(http.server.ThreadingHTTPServer):
        def server_bind(self):
            if GATE:   # accepted sockets inherit it; set before listen()
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                       4096)
            super().server_bind()

    S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def server(sink, port, name="pyserver", gate=None, **env):
    argv = [sys.executable, "-c", SERVER_PY, str(port)]
    if gate is not None:
        argv.append(str(gate))
    return Background(argv, sink, OTEL_SERVICE_NAME=name, **env)


def service(span):
    return span["resource"].get("service.name")


class CurlToPython(unittest.TestCase):
    """curl -> python3 -m http.server: the canonical pair."""

    def setUp(self):
        need_programs("curl")
        self.dir = tempfile.mkdtemp(prefix="otelshim-www-")
        Path(self.dir, "hello.txt").write_text("hello world\n")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_one_trace_with_attributes_and_404(self):
        port = free_port()
        with Sink() as sink:
            with Background([sys.executable, "-m", "http.server",
                             "--bind", "127.0.0.1", str(port)], sink,
                            cwd=self.dir, OTEL_SERVICE_NAME="www"):
                wait_for_port(port)
                url = "http://127.0.0.1:%d/hello.txt?q=1&sig=abc" % port
                r = run_traced(["curl", "-sS", "-A", "otel-test/1", url],
                               sink, OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, "hello world\n", r.stderr)
                r = run_traced(["curl", "-sS", "-o", "/dev/null", "-w",
                                "%{http_code}",
                                "http://127.0.0.1:%d/missing" % port],
                               sink, OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, "404")
                spans = sink.wait_for_spans(4)
                time.sleep(0.5)
                spans = sink.spans()
        self.assertEqual(len(spans), 4, summarize(spans))
        ok = lambda s: attr(s, "http.response.status_code") == 200
        client = find_span(spans, "GET", KIND_CLIENT, pred=ok)
        srv = find_span(spans, "GET", KIND_SERVER, pred=ok)
        self.assertEqual(service(client), "curl")
        self.assertEqual(service(srv), "www")
        assert_child_of(srv, client)
        self.assertTrue(is_root(client))
        self.assertTrue(srv["flags"] & 0x300 == 0x300)  # remote parent
        a = srv["attributes"]
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["url.path"], "/hello.txt")
        self.assertEqual(a["url.query"], "q=1&sig=REDACTED")
        self.assertEqual(a["url.scheme"], "http")
        self.assertEqual(a["network.protocol.version"], "1.1")
        self.assertEqual(a["server.address"], "127.0.0.1")
        self.assertEqual(a["server.port"], port)
        self.assertEqual(a["client.address"], "127.0.0.1")
        self.assertEqual(a["network.peer.address"], "127.0.0.1")
        self.assertIsInstance(a["network.peer.port"], int)
        self.assertEqual(a["user_agent.original"], "otel-test/1")
        self.assertEqual(srv["status"]["code"], STATUS_UNSET)
        self.assertNotIn("error.type", a)
        c = client["attributes"]
        self.assertEqual(c["url.full"],
                         "http://127.0.0.1:%d/hello.txt?q=1&sig=REDACTED"
                         % port)
        self.assertEqual(c["server.address"], "127.0.0.1")
        self.assertEqual(c["server.port"], port)
        self.assertEqual(c["network.peer.address"], "127.0.0.1")
        self.assertEqual(c["http.request.method"], "GET")
        # The server span lies within the client span.
        self.assertLessEqual(int(client["start_time_unix_nano"]),
                             int(srv["start_time_unix_nano"]))
        self.assertLessEqual(int(srv["end_time_unix_nano"]),
                             int(client["end_time_unix_nano"]))
        # 404: the server span is not an error, the client span is.
        nf = lambda s: attr(s, "http.response.status_code") == 404
        c404 = find_span(spans, "GET", KIND_CLIENT, pred=nf)
        s404 = find_span(spans, "GET", KIND_SERVER, pred=nf)
        assert_child_of(s404, c404)
        self.assertEqual(s404["status"]["code"], STATUS_UNSET)
        self.assertNotIn("error.type", s404["attributes"])
        self.assertEqual(c404["status"]["code"], STATUS_ERROR)
        self.assertEqual(attr(c404, "error.type"), "404")

    def test_propagators_none_sends_no_traceparent(self):
        port = free_port()
        with Sink() as sink:
            with server(sink, port):
                wait_for_port(port)
                r = run_traced(["curl", "-sS",
                                "http://127.0.0.1:%d/x" % port], sink,
                               OTEL_PROPAGATORS="none")
                self.assertEqual(r.stdout, "ok /x 0\n")
                r = run_traced(["curl", "-sS",
                                "http://127.0.0.1:%d/y" % port], sink)
                self.assertEqual(r.stdout, "ok /y 1\n")
                spans = sink.wait_for_spans(
                    lambda ss: len(find_spans(ss, kind=KIND_SERVER)) >= 2)
        s = find_span(spans, kind=KIND_SERVER, attrs={"url.path": "/x"})
        self.assertTrue(is_root(s), summarize(spans))
        y = find_span(spans, kind=KIND_SERVER, attrs={"url.path": "/y"})
        self.assertFalse(is_root(y), summarize(spans))


class ProgramTraceparent(unittest.TestCase):
    """A client that sends its own traceparent, as an application with an
    OpenTelemetry SDK does: our client span joins the program's trace as
    the child of the program's span, and (OTELSHIM_REWRITE_TRACEPARENT,
    default true) the header's parent-id becomes our span's, so the server
    span hangs under it, in the same trace."""

    TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
    PARENT = "00f067aa0ba902b7"
    CLIENT = textwrap.dedent("""
        import sys, urllib.request
        req = urllib.request.Request(sys.argv[1], headers={
            "traceparent": "00-%s-%s-01"})
        print(urllib.request.urlopen(req).read().decode(), end="")
    """)

    def exchange(self, **env):
        port = free_port()
        with Sink() as sink:
            with server(sink, port):
                wait_for_port(port)
                r = run_traced([sys.executable, "-c",
                                self.CLIENT % (self.TRACE, self.PARENT),
                                "http://127.0.0.1:%d/sdk" % port], sink,
                               OTEL_SERVICE_NAME="app", **env)
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = sink.wait_for_spans(2)
        client = find_span(spans, "GET", KIND_CLIENT)
        srv = find_span(spans, "GET", KIND_SERVER)
        self.assertEqual(client["trace_id"], self.TRACE)
        self.assertEqual(client["parent_span_id"], self.PARENT)
        self.assertEqual(srv["trace_id"], self.TRACE)
        # The program's header went out once, never a second one of ours.
        self.assertRegex(srv["attributes"].get("url.path"), "^/sdk$")
        return client, srv

    def test_joined_and_rewritten(self):
        client, srv = self.exchange()
        assert_child_of(srv, client)

    def test_joined_header_untouched(self):
        client, srv = self.exchange(OTELSHIM_REWRITE_TRACEPARENT="false")
        self.assertEqual(srv["parent_span_id"], self.PARENT)


class KeepAliveAndFraming(unittest.TestCase):
    def test_hundred_requests_on_one_connection(self):
        port = free_port()
        prog = textwrap.dedent("""
            import http.client, sys
            c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
            for i in range(100):
                c.request("GET", "/k/%d" % i)
                r = c.getresponse()
                assert r.read() == b"ok /k/%d 1\\n" % i, i
            c.close()
        """)
        with Sink() as sink:
            with server(sink, port):
                wait_for_port(port)
                r = run_traced([sys.executable, "-c", prog, str(port)],
                               sink, OTEL_SERVICE_NAME="loop")
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = sink.wait_for_spans(200, timeout=60)
        servers = find_spans(spans, "GET", KIND_SERVER)
        clients = find_spans(spans, "GET", KIND_CLIENT)
        self.assertEqual(len(servers), 100, summarize(spans[:10]))
        self.assertEqual(len(clients), 100)
        self.assertEqual({attr(s, "url.path") for s in servers},
                         {"/k/%d" % i for i in range(100)})
        # one connection: one client port
        self.assertEqual(len({attr(s, "network.peer.port")
                              for s in servers}), 1)
        by_id = {c["span_id"]: c for c in clients}
        for s in servers:
            parent = by_id[s["parent_span_id"]]
            self.assertEqual(attr(parent, "url.full").split("/", 3)[3],
                             attr(s, "url.path").lstrip("/"))

    def test_chunked_response_and_5xx(self):
        port = free_port()
        prog = textwrap.dedent("""
            import http.client, sys
            c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
            for p in ("/chunked", "/chunked", "/fail", "/after"):
                c.request("GET", p)
                print(c.getresponse().read().decode().strip())
        """)
        with Sink() as sink:
            with server(sink, port):
                wait_for_port(port)
                r = run_traced([sys.executable, "-c", prog, str(port)],
                               sink)
                self.assertEqual(r.stdout.split("\n")[:4],
                                 ["hello chunked world"] * 2 +
                                 ["boom", "ok /after 1"], r.stderr)
                spans = sink.wait_for_spans(8)
        servers = find_spans(spans, kind=KIND_SERVER)
        self.assertEqual(len(servers), 4, summarize(spans))
        chunked = find_spans(servers, attrs={"url.path": "/chunked"})
        self.assertEqual(len(chunked), 2)
        for s in chunked:
            self.assertEqual(attr(s, "http.response.status_code"), 200)
        fail = find_span(servers, attrs={"url.path": "/fail"})
        self.assertEqual(fail["status"]["code"], STATUS_ERROR)
        self.assertEqual(attr(fail, "error.type"), "500")
        cfail = find_span(spans, kind=KIND_CLIENT,
                          attrs={"http.response.status_code": 500})
        assert_child_of(fail, cfail)
        # the request after the chunked ones was still recognised
        find_span(servers, attrs={"url.path": "/after"})

    def test_headers_in_one_byte_pieces(self):
        port = free_port()
        prog = textwrap.dedent("""
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            req = (b"GET /pieces?a=b HTTP/1.1\\r\\nHost: h.example:81\\r\\n"
                   b"User-Agent: trickle\\r\\nConnection: close\\r\\n\\r\\n")
            for i in range(len(req)):
                s.send(req[i:i + 1])
                time.sleep(0.002)
            data = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
            print(data.split(b"\\r\\n\\r\\n", 1)[1].decode().strip())
        """)
        with Sink() as sink:
            with server(sink, port):
                wait_for_port(port)
                r = run_traced([sys.executable, "-c", prog, str(port)],
                               sink)
                # written a byte at a time: the header still goes in
                self.assertEqual(r.stdout.strip(), "ok /pieces?a=b 1",
                                 r.stderr)
                spans = sink.wait_for_spans(2)
        s = find_span(spans, "GET", KIND_SERVER)
        self.assertEqual(attr(s, "url.path"), "/pieces")
        self.assertEqual(attr(s, "url.query"), "a=b")
        self.assertEqual(attr(s, "server.address"), "h.example")
        self.assertEqual(attr(s, "server.port"), 81)
        self.assertEqual(attr(s, "user_agent.original"), "trickle")
        c = find_span(spans, "GET", KIND_CLIENT)
        self.assertEqual(attr(c, "url.full"),
                         "http://h.example:81/pieces?a=b")
        self.assertEqual(attr(c, "http.response.status_code"), 200)
        assert_child_of(s, c)

    PIPELINED = textwrap.dedent("""
        import socket, sys, time
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        reqs = [b"GET /p%d HTTP/1.1\\r\\nHost: h\\r\\n\\r\\n" % i
                for i in range(1, 3)]
        body = b"x" * 1000
        reqs.append(b"POST /p3 HTTP/1.1\\r\\nHost: h\\r\\n"
                    b"Content-Length: %d\\r\\nConnection: close\\r\\n"
                    b"\\r\\n" % len(body) + body)
        data = b"".join(reqs)
        cut = int(sys.argv[2])
        if cut:
            # a request and the start of the next, the rest later
            s.sendall(data[:cut])
            time.sleep(0.2)
            s.sendall(data[cut:])
        else:
            s.sendall(data)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        for part in got.split(b"HTTP/1.1 ")[1:]:
            print(part.split(b"\\r\\n\\r\\n", 1)[1].decode().strip())
    """)

    def pipelined(self, cut):
        port = free_port()
        with Sink() as sink:
            with server(sink, port):
                wait_for_port(port)
                r = run_traced([sys.executable, "-c", self.PIPELINED,
                                str(port), str(cut)], sink)
                lines = r.stdout.strip().split("\n")
                self.assertEqual(lines[:2], ["ok /p1 1", "ok /p2 1"],
                                 r.stderr)
                sha, count, _ = lines[2].split()
                self.assertEqual((sha, count), (hashlib.sha256(
                    b"x" * 1000).hexdigest(), "1"), r.stdout)
                spans = sink.wait_for_spans(6)
        clients = find_spans(spans, kind=KIND_CLIENT)
        servers = find_spans(spans, kind=KIND_SERVER)
        self.assertEqual(len(clients), 3, summarize(spans))
        self.assertEqual(len(servers), 3, summarize(spans))
        for i in range(1, 4):
            srv = find_span(servers, attrs={"url.path": "/p%d" % i})
            cli = find_span(clients, attrs={"url.full": "http://h/p%d" % i})
            assert_child_of(srv, cli)
            self.assertEqual(attr(cli, "http.response.status_code"), 200)
        self.assertEqual(len({c["span_id"] for c in clients}), 3)

    def test_pipelined_in_one_write(self):
        # three requests in one sendall: each its client span and header
        self.pipelined(0)

    def test_pipelined_with_partial_next(self):
        # the first request and the head of the second cut in its
        # request line, then the rest
        self.pipelined(len("GET /p1 HTTP/1.1\r\nHost: h\r\n\r\nGET /p"))


class ByteExactness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need_programs("cc")
        cls.dir = tempfile.mkdtemp(prefix="otelshim-exact-")
        cls.exe = os.path.join(cls.dir, "http_exact")
        subprocess.run(["cc", "-O1", "-o", cls.exe,
                        str(PROGS / "http_exact.c")], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def expected(self, i, n):
        body = bytes(((j * 31 + i * 7) & 0xff) for j in range(n))
        return hashlib.sha256(body).hexdigest()

    def run_mode(self, mode, nreq=12, size=70000, **env):
        """The client pipelines nreq requests of size bytes each; the
        server reads nothing until the client's writes found the socket
        full (the gate file), and its receive buffer is small, so the
        kernel accepts a short count for the write that fills it: partial
        writes happen on any machine, at any load."""
        port = free_port()
        gate = os.path.join(self.dir, "gate-%s-%d" % (mode, nreq))
        if os.path.exists(gate):
            os.unlink(gate)
        with Sink() as sink:
            with server(sink, port, gate=gate):
                wait_for_port(port)
                r = run_traced([self.exe, str(port), mode, str(nreq),
                                str(size), gate], sink, timeout=120,
                               OTEL_SERVICE_NAME="exact", **env)
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = r.stdout.split("\n")[:nreq]
                spans = sink.wait_for_spans(2 * nreq, timeout=30) \
                    if env.get("OTEL_PROPAGATORS") != "none" else []
        self.assertTrue(os.path.exists(gate), "the client never blocked")
        self.assertIn("partial=", r.stderr)
        partial = int(r.stderr.split("partial=")[1].split()[0])
        self.assertGreater(partial, 0, "no partial write happened")
        return lines, spans

    def check(self, mode):
        nreq, size = 12, 70000
        lines, spans = self.run_mode(mode, nreq, size)
        clients = {c["span_id"]: c for c in
                   find_spans(spans, "POST", KIND_CLIENT)}
        self.assertEqual(len(clients), nreq)
        for i, line in enumerate(lines):
            sha, count, tp = line.split()
            self.assertEqual(sha, self.expected(i, size), "request %d" % i)
            self.assertEqual(count, "1", "request %d" % i)
            self.assertIn(tp.split("-")[2], clients)
        servers = find_spans(spans, "POST", KIND_SERVER)
        self.assertEqual(len(servers), nreq)
        for s in servers:
            assert_child_of(s, clients[s["parent_span_id"]])

    def test_write_pieces(self):
        self.check("write")

    def test_writev(self):
        self.check("writev")

    def test_sendmsg(self):
        self.check("sendmsg")

    def test_mixed_and_propagation_off(self):
        self.check("all")
        lines, _ = self.run_mode("all", 6, 30000, OTEL_PROPAGATORS="none")
        for i, line in enumerate(lines):
            sha, count, tp = line.split()
            self.assertEqual(sha, self.expected(i, 30000))
            self.assertEqual((count, tp), ("0", "-"))


class BinaryTraffic(unittest.TestCase):
    def test_random_bytes_untouched_and_untraced(self):
        port = free_port()
        srv = textwrap.dedent("""
            import hashlib, socket, sys
            l = socket.socket()
            l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind(("127.0.0.1", int(sys.argv[1])))
            l.listen(5)
            while True:
                c, _ = l.accept()
                h = hashlib.sha256()
                n = 0
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    h.update(d)
                    n += len(d)
                c.sendall(("%d %s" % (n, h.hexdigest())).encode())
                c.close()
        """)
        cli = textwrap.dedent("""
            import hashlib, os, socket, sys
            for first in (os.urandom(1 << 20), b"\\x16\\x03\\x01" + os.urandom(9999)):
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.sendall(first)
                s.shutdown(socket.SHUT_WR)
                got = b""
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                want = "%d %s" % (len(first), hashlib.sha256(first).hexdigest())
                print(got.decode() == want)
        """)
        with Sink() as sink:
            with Background([sys.executable, "-c", srv, str(port)], sink):
                wait_for_port(port)
                r = run_traced([sys.executable, "-c", cli, str(port)], sink)
                self.assertEqual(r.stdout.split(), ["True", "True"],
                                 r.stderr)
            time.sleep(0.8)
            self.assertEqual(sink.spans(), [])


class Nginx(unittest.TestCase):
    def setUp(self):
        need_programs("nginx", "curl")
        self.scratch = Path(tempfile.mkdtemp(prefix="otelshim-nginx-"))

    def tearDown(self):
        remove_scratch(self.scratch)

    def test_unsampled_trace_goes_on_through_nginx(self):
        """A trace its start left out (flags 00): no span is exported
        anywhere, and the trace still goes curl -> nginx -> backend, each
        hop's traceparent naming the trace and a span of the hop before."""
        d = self.scratch
        trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", \
            "00f067aa0ba902b7"
        port, bport = free_port(), free_port()
        ngx_cmd = nginx_conf(d, """
            server {{
                listen 127.0.0.1:{port};
                location /api/ {{
                    proxy_pass http://127.0.0.1:{bport};
                    proxy_http_version 1.1;
                }}
            }}
        """.format(port=port, bport=bport))
        with Sink() as sink:
            with server(sink, bport, name="backend"), \
                 Background(ngx_cmd, sink, OTEL_SERVICE_NAME="nginx") as ngx:
                wait_for_port(bport)
                wait_for_port(port)
                r = run_traced(["curl", "-sS", "--data-binary", "hello",
                                "http://127.0.0.1:%d/api/post" % port],
                               sink, OTEL_SERVICE_NAME="curl",
                               TRACEPARENT="00-%s-%s-00"
                               % (trace_id, parent_id))
                digest, count, tp = r.stdout.split()
                self.assertEqual(digest, hashlib.sha256(b"hello")
                                 .hexdigest(), r.stderr + ngx.output())
                time.sleep(1.0)
                self.assertEqual(sink.spans(), [])
        self.assertEqual(count, "1")
        version, tid, sid, flags = tp.split("-")
        self.assertEqual((version, tid, flags), ("00", trace_id, "00"))
        self.assertNotIn(sid, (parent_id, "0" * 16))

    def test_curl_nginx_python_one_trace(self):
        d = self.scratch
        port, bport = free_port(), free_port()
        content = static_site(d)
        ngx_cmd = nginx_conf(d, """
            sendfile on;
            server {{
                listen 127.0.0.1:{port};
                location /static/ {{ root {d}/www; }}
                location /api/ {{
                    proxy_pass http://127.0.0.1:{bport};
                    proxy_http_version 1.1;
                }}
            }}
        """.format(d=d, port=port, bport=bport))
        with Sink() as sink:
            with server(sink, bport, name="backend"), \
                 Background(ngx_cmd, sink,
                            OTEL_SERVICE_NAME="nginx") as ngx:
                wait_for_port(bport)
                wait_for_port(port)
                r = run_traced(["curl", "-sS",
                                "http://127.0.0.1:%d/static/big.txt"
                                % port], sink, OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, content, r.stderr)
                r = run_traced(["curl", "-sS",
                                "http://127.0.0.1:%d/api/hello?x=1"
                                % port], sink, OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, "ok /api/hello?x=1 1\n",
                                 r.stderr + ngx.output())
                # Rejections: a header too large (nginx answers 400 before
                # reading the rest of the head) and a control byte in the
                # target (a head that is not HTTP, answered all the same).
                r = run_traced(["curl", "-sS", "-o", "/dev/null", "-w",
                                "%{http_code}", "-H",
                                "X-Big: " + "a" * 30000,
                                "http://127.0.0.1:%d/static/too-big"
                                % port], sink, OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, "400", r.stderr)
                with socket.create_connection(("127.0.0.1", port)) as c:
                    c.sendall(b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertTrue(c.recv(100).startswith(
                        b"HTTP/1.1 400 "))
                master = ngx.proc.pid
                spans = sink.wait_for_spans(
                    lambda ss: len(find_spans(ss, kind=KIND_SERVER)) >= 5,
                    timeout=60)
                time.sleep(0.5)
                spans = sink.spans()
        # static file through sendfile: a complete server span
        static = find_span(spans, "GET", KIND_SERVER,
                           attrs={"url.path": "/static/big.txt"})
        self.assertEqual(service(static), "nginx")
        self.assertEqual(attr(static, "http.response.status_code"), 200)
        cstatic = find_span(spans, "GET", KIND_CLIENT, pred=lambda s:
                            attr(s, "url.full", "").endswith("big.txt"))
        assert_child_of(static, cstatic)
        # curl -> nginx -> backend: one trace, three services
        c1 = find_span(spans, "GET", KIND_CLIENT, pred=lambda s:
                       service(s) == "curl" and
                       "/api/" in attr(s, "url.full", ""))
        s1 = find_span(spans, "GET", KIND_SERVER, pred=lambda s:
                       service(s) == "nginx" and
                       attr(s, "url.path") == "/api/hello")
        c2 = find_span(spans, "GET", KIND_CLIENT, pred=lambda s:
                       service(s) == "nginx")
        s2 = find_span(spans, "GET", KIND_SERVER, pred=lambda s:
                       service(s) == "backend")
        assert_child_of(s1, c1)
        assert_child_of(c2, s1)
        assert_child_of(s2, c2)
        self.assertEqual(attr(c2, "server.port"), bport)
        self.assertEqual(attr(s2, "http.response.status_code"), 200)
        self.assertEqual(attr(s1, "http.response.status_code"), 200)
        # Every response nginx wrote has its span and its status.
        big = find_span(spans, "GET", KIND_SERVER,
                        attrs={"url.path": "/static/too-big"})
        self.assertEqual(attr(big, "http.response.status_code"), 400)
        self.assertNotIn("error.type", big["attributes"])
        assert_child_of(big, find_span(spans, "GET", KIND_CLIENT, pred=lambda
                                       s: attr(s, "url.full", "").endswith(
                                           "/static/too-big")))
        bad = find_span(spans, "GET", KIND_SERVER,
                        pred=lambda s: "url.path" not in s["attributes"])
        self.assertEqual(attr(bad, "http.response.status_code"), 400)
        self.assertEqual(len(find_spans(spans, kind=KIND_SERVER,
                                        pred=lambda s: service(s) ==
                                        "nginx")), 4, summarize(spans))
        # the workers (forked from the master) exported their own spans
        pids = {s["resource"]["process.pid"] for s in spans
                if service(s) == "nginx"}
        self.assertNotIn(master, pids)


if __name__ == "__main__":
    unittest.main()
