"""Exact parentage under concurrency (README "How parentage is decided"):
event-loop servers that interleave many requests on one thread (nginx,
node), and work handed to other threads (a C worker pool, asyncio's
executor, FastAPI `def` routes).  Every request carries a unique id in its
URL, forwarded by the program, so a span's right parent is known: the
count that matters is spans under the WRONG request, which must be 0; how
many end up without a parent is reported (a parent we cannot prove is
left out)."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

from harness import (KIND_CLIENT, KIND_SERVER, Background, Sink, attr,
                     find_spans, free_port, need_programs, node_binary,
                     run_traced, wait_for_port)

PROGS = Path(__file__).resolve().parent / "progs"

# A thread-per-request backend: answers "ok <path>".
BACKEND_PY = textwrap.dedent(r"""
    import http.server, sys

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            body = ("ok %s\n" % self.path).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
                                    H).serve_forever()
""")

# wrk: every request its own path, /api/<connection>-<n>.
WRK_LUA = textwrap.dedent(r"""
    local n = 0
    local id = 0
    setup = function(thread)
        thread:set("id", id)
        id = id + 1
    end
    request = function()
        n = n + 1
        return wrk.format("GET", "/api/" .. id .. "-" .. n)
    end
""")

LOAD_SECONDS = 3
REPORT = []


def report(line):
    REPORT.append(line)
    sys.stderr.write("\n[parentage] %s\n" % line)


def service(span):
    return span["resource"].get("service.name")


def target_of(span):
    """The request target a span names: url.path (+ query) for server
    spans, the path of url.full for client spans."""
    if span["kind"] == KIND_SERVER:
        q = attr(span, "url.query")
        return attr(span, "url.path", "") + ("?" + q if q else "")
    full = attr(span, "url.full", "")
    i = full.find("/", full.find("//") + 2)
    return full[i:] if i >= 0 else ""


def classify(children, parents, key_child, key_parent):
    """(right, wrong, unparented) for children whose right parent is the
    parent with the same key."""
    by_id = {p["span_id"]: p for p in parents}
    right = wrong = none = 0
    wrongs = []
    for c in children:
        p = by_id.get(c["parent_span_id"] or "")
        if p is None:
            none += 1
        elif key_parent(p) == key_child(c):
            right += 1
        else:
            wrong += 1
            wrongs.append((key_child(c), key_parent(p)))
    return right, wrong, none, wrongs[:5]


def settle(sink, timeout=30.0):
    """All spans once their count stops growing."""
    last, stable, end = -1, 0, time.time() + timeout
    while time.time() < end:
        n = len(sink.spans())
        stable = stable + 1 if n == last else 0
        if stable >= 3:
            break
        last = n
        time.sleep(0.5)
    return sink.spans()


def run_wrk(port, d):
    (d / "ids.lua").write_text(WRK_LUA)
    r = subprocess.run(["wrk", "-t", "2", "-c", "20", "-d",
                        "%ds" % LOAD_SECONDS, "-s", str(d / "ids.lua"),
                        "http://127.0.0.1:%d/" % port],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


NGINX_CONF = """
    daemon off;
    master_process on;
    worker_processes 2;
    user root;
    pid {d}/nginx.pid;
    error_log {d}/error.log warn;
    events {{ worker_connections 256; }}
    http {{
        access_log off;
        client_body_temp_path {d}/body;
        proxy_temp_path {d}/proxy;
        fastcgi_temp_path {d}/fastcgi;
        uwsgi_temp_path {d}/uwsgi;
        scgi_temp_path {d}/scgi;
        upstream back {{
            server 127.0.0.1:{bport};
            {keepalive}
        }}
        server {{
            listen 127.0.0.1:{port};
            location /api/ {{
                proxy_pass http://back;
                {proxy_extra}
            }}
        }}
    }}
"""


class EventLoops(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="otelshim-parentage-"))

    def tearDown(self):
        if not os.environ.get("OTELSHIM_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def nginx(self, keepalive):
        need_programs("nginx", "wrk")
        d = self.dir
        port, bport = free_port(), free_port()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / sub).mkdir()
        conf = textwrap.dedent(NGINX_CONF).format(
            d=d, port=port, bport=bport,
            keepalive="keepalive 16;" if keepalive else "",
            proxy_extra=("proxy_http_version 1.1; "
                         "proxy_set_header Connection \"\";")
            if keepalive else "")
        (d / "nginx.conf").write_text(conf)
        with Sink() as sink:
            with Background([sys.executable, "-c", BACKEND_PY, str(bport)],
                            sink, OTEL_SERVICE_NAME="backend"), \
                 Background(["nginx", "-p", str(d), "-c",
                             str(d / "nginx.conf")], sink,
                            OTEL_SERVICE_NAME="nginx") as ngx:
                wait_for_port(bport)
                wait_for_port(port)
                # one traced request first: the trace goes through
                r = run_traced(["curl", "-sS", "http://127.0.0.1:%d/api/one"
                                % port], sink, OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, "ok /api/one\n",
                                 r.stderr + ngx.output())
                run_wrk(port, d)
                spans = settle(sink)
        self.check_proxy(spans, "nginx", "nginx keepalive=%d" % keepalive)

    def check_proxy(self, spans, name, label, decided=True):
        servers = find_spans(spans, kind=KIND_SERVER,
                             pred=lambda s: service(s) == name)
        clients = find_spans(spans, kind=KIND_CLIENT,
                             pred=lambda s: service(s) == name)
        self.assertGreater(len(clients), 100, "too little load got through")
        right, wrong, none, wrongs = classify(clients, servers, target_of,
                                              target_of)
        report("%s: %d upstream client spans: %d right, %d WRONG, "
               "%d unparented" % (label, len(clients), right, wrong, none))
        self.assertEqual(wrong, 0, "client spans under the wrong request: "
                         "%r" % wrongs)
        # The backend's spans sit under their client span exactly (the
        # injected header): the same count.
        back = find_spans(spans, kind=KIND_SERVER,
                          pred=lambda s: service(s) == "backend")
        r2, w2, n2, wr2 = classify(back, clients, target_of, target_of)
        self.assertEqual(w2, 0, wr2)
        # Most are decided: an event loop loses a parent only when a
        # callback cannot be told apart.
        if decided:
            self.assertGreater(right, len(clients) // 2)

    def test_nginx_without_keepalive(self):
        self.nginx(keepalive=False)

    def test_nginx_with_upstream_keepalive(self):
        self.nginx(keepalive=True)

    def node_pair(self, keepalive, max_sockets="Infinity", decided=True):
        need_programs("wrk")
        port, bport = free_port(), free_port()
        back = ("require('http').createServer((q, s) => "
                "s.end('ok ' + q.url + '\\n')).listen(%d, '127.0.0.1');"
                % bport)
        front = textwrap.dedent("""
            const http = require('http');
            const agent = new http.Agent({keepAlive: %s,
                                          maxSockets: %s});
            http.createServer((q, s) => {
              http.get({host: '127.0.0.1', port: %d, path: q.url, agent},
                       (r) => { let b = ''; r.on('data', (c) => b += c);
                                r.on('end', () => s.end(b)); })
                .on('error', (e) => { s.statusCode = 502; s.end(); });
            }).listen(%d, '127.0.0.1');
        """) % ("true" if keepalive else "false", max_sockets, bport, port)
        with Sink() as sink:
            with Background([node_binary(), "-e", back], sink,
                            OTEL_SERVICE_NAME="backend"), \
                 Background([node_binary(), "-e", front], sink,
                            OTEL_SERVICE_NAME="front") as fr:
                wait_for_port(bport)
                wait_for_port(port)
                r = run_traced(["curl", "-sS", "http://127.0.0.1:%d/api/one"
                                % port], sink, OTEL_SERVICE_NAME="curl")
                self.assertEqual(r.stdout, "ok /api/one\n",
                                 r.stderr + fr.output())
                run_wrk(port, self.dir)
                spans = settle(sink)
        self.check_proxy(spans, "front", "node keepalive=%d maxSockets=%s"
                         % (keepalive, max_sockets), decided)

    def test_node_to_node(self):
        self.node_pair(keepalive=False)

    def test_node_to_node_keepalive(self):
        self.node_pair(keepalive=True)

    @unittest.expectedFailure
    def test_node_agent_queue(self):
        # Fewer sockets than requests: the agent starts a waiting request
        # from a callback of libuv's close phase, which follows the read
        # of another request with no event wait or I/O between them.  A
        # connection opened there is taken for the request read last: a
        # known wrong parent (README, "How parentage is decided").
        self.node_pair(keepalive=False, max_sockets=4, decided=False)


if __name__ == "__main__":
    unittest.main()
