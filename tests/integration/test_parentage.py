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
                     find_spans, free_port, need_programs, nginx_conf,
                     node_binary, remove_scratch, run_traced, wait_for_port)

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


NGINX_HTTP = """
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
"""


class EventLoops(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="otelshim-parentage-"))

    def tearDown(self):
        remove_scratch(self.dir)

    def nginx(self, keepalive):
        need_programs("nginx", "wrk")
        d = self.dir
        port, bport = free_port(), free_port()
        ngx_cmd = nginx_conf(d, NGINX_HTTP.format(
            port=port, bport=bport,
            keepalive="keepalive 16;" if keepalive else "",
            proxy_extra=("proxy_http_version 1.1; "
                         "proxy_set_header Connection \"\";")
            if keepalive else ""), connections=256, log="warn")
        with Sink() as sink:
            with Background([sys.executable, "-c", BACKEND_PY, str(bport)],
                            sink, OTEL_SERVICE_NAME="backend"), \
                 Background(ngx_cmd, sink,
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


# ------------------------------------------------------------ hand-offs

FASTAPI_APP = textwrap.dedent(r'''
    import os
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text

    engine = create_engine(os.environ["DATABASE_URL"], pool_size=16)
    app = FastAPI()

    # A plain `def` route: uvicorn runs it on a worker thread (anyio).
    # Each statement names its request in a column alias.
    @app.get("/item/{rid}")
    def item(rid: str):
        with engine.connect() as c:
            c.execute(text("SELECT 1 AS r_" + rid)).scalar()
            c.execute(text("SELECT 2 AS s_" + rid)).scalar()
        return {"rid": rid}
''')

# N client threads, each making its requests one after the other.
CLIENTS_PY = textwrap.dedent(r'''
    import sys, threading, urllib.request
    port, clients, each = (int(a) for a in sys.argv[1:4])
    prefix = sys.argv[4] if len(sys.argv) > 4 else "/item/"
    def run(k):
        for i in range(each):
            rid = "c%dn%d" % (k, i)
            with urllib.request.urlopen("http://127.0.0.1:%d%s%s"
                                        % (port, prefix, rid),
                                        timeout=30) as r:
                assert rid in r.read().decode()
    ts = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in ts: t.start()
    for t in ts: t.join()
    print("done")
''')


# An asyncio server whose handler fetches the same path from the backend
# with urllib on the default executor's threads.
EXECUTOR_PY = textwrap.dedent(r'''
    import asyncio, sys, urllib.request
    port, bport = int(sys.argv[1]), int(sys.argv[2])

    def fetch(path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s"
                                    % (bport, path), timeout=30) as r:
            return r.read()

    async def handle(reader, writer):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ")[1].decode()
            body = await asyncio.get_running_loop().run_in_executor(
                None, fetch, path)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)
            await writer.drain()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
''')


def statement_rid(span):
    """The request id a statement names (its column alias), or None."""
    q = attr(span, "db.query.text") or ""
    for p in ("AS r_", "AS s_"):
        i = q.find(p)
        if i >= 0:
            return q[i + len(p):].split()[0].strip()
    return None


class HandOffs(unittest.TestCase):
    def fastapi(self, clients, each):
        from pgserver import PgServer, need_postgres
        need_postgres()
        if os.system("/usr/bin/python3 -c 'import fastapi, uvicorn, "
                     "sqlalchemy, psycopg2' 2>/dev/null") != 0:
            raise unittest.SkipTest("FastAPI stack not installed")
        d = Path(tempfile.mkdtemp(prefix="otelshim-fastapi-"))
        self.addCleanup(shutil.rmtree, d, True)
        (d / "app.py").write_text(FASTAPI_APP)
        port = free_port()
        with PgServer(password="pw") as pg, Sink() as sink:
            url = "postgresql+psycopg2://%s:%s@%s:%d/postgres" % (
                pg.user, pg.password, pg.host, pg.port)
            with Background(["/usr/bin/python3", "-m", "uvicorn", "app:app",
                             "--port", port, "--no-access-log"], sink,
                            cwd=d, DATABASE_URL=url,
                            OTEL_SERVICE_NAME="shop") as svc:
                wait_for_port(port, timeout=30)
                r = subprocess.run([sys.executable, "-c", CLIENTS_PY,
                                    str(port), str(clients), str(each)],
                                   capture_output=True, text=True,
                                   timeout=300)
                self.assertIn("done", r.stdout, r.stderr + svc.output())
                spans = settle(sink)
        servers = {s["span_id"]: s for s in find_spans(
            spans, kind=KIND_SERVER, pred=lambda s: service(s) == "shop")}
        stmts = [s for s in spans if service(s) == "shop"
                 and attr(s, "db.system.name") == "postgresql"]
        rid_of_server = {k: attr(s, "url.path").rsplit("/", 1)[1]
                         for k, s in servers.items()}
        right = wrong = none = 0
        per_request = {}
        for s in stmts:
            p = s["parent_span_id"] or ""
            if p not in servers:
                none += 1
                continue
            per_request.setdefault(p, []).append(s)
            rid = statement_rid(s)
            if rid is None:
                continue
            if rid == rid_of_server[p]:
                right += 1
                self.assertEqual(s["trace_id"], servers[p]["trace_id"])
            else:
                wrong += 1
        # BEGIN/ROLLBACK (and the first connection's set-up) name no
        # request: under a request, they must at least run inside it.
        extra = 0
        for p, ss in per_request.items():
            srv = servers[p]
            for x in ss:
                if int(x["start_time_unix_nano"]) < \
                        int(srv["start_time_unix_nano"]) or \
                        int(x["end_time_unix_nano"]) > \
                        int(srv["end_time_unix_nano"]):
                    extra += 1
        total = clients * each
        named = sum(1 for s in stmts if statement_rid(s))
        report("fastapi def routes, %d client(s) x %d: %d statements "
               "(%d naming their request): %d right, %d WRONG, %d "
               "unparented; statements outside their parent's time: %d"
               % (clients, each, len(stmts), named, right, wrong, none,
                  extra))
        self.assertEqual(len(servers), total)
        self.assertEqual(named, 2 * total)
        self.assertEqual(wrong, 0)
        self.assertEqual(extra, 0)
        return right, named

    def assert_mostly_parented(self, right, total):
        """One client at a time: a worker parked in its wait is handed the
        request by the wake-up, but a worker the scheduler preempted
        before it waited again takes the next request without blocking,
        and then only the one-request-in-flight rule can parent it, which
        a loaded machine can also defeat (README, "How parentage is
        decided").  Wrong parents are checked strictly above; here the
        share must stay a large majority."""
        self.assertGreaterEqual(right * 4, total * 3,
                                "%d of %d parented" % (right, total))

    def test_c_worker_pool(self):
        need_programs("cc")
        d = Path(tempfile.mkdtemp(prefix="otelshim-pool-"))
        self.addCleanup(shutil.rmtree, d, True)
        exe = d / "pool"
        subprocess.run(["cc", "-O1", "-pthread", "-o", str(exe),
                        str(PROGS / "pool.c")], check=True)
        port, bport = free_port(), free_port()
        for clients, each in ((1, 20), (8, 25)):
            with Sink() as sink:
                with Background([sys.executable, "-c", BACKEND_PY,
                                 str(bport)], sink,
                                OTEL_SERVICE_NAME="backend"), \
                     Background([str(exe), str(port), str(bport), "4"],
                                sink, OTEL_SERVICE_NAME="pool") as pool:
                    wait_for_port(bport)
                    wait_for_port(port)
                    r = subprocess.run([sys.executable, "-c", CLIENTS_PY,
                                        str(port), str(clients), str(each),
                                        "/p/"], capture_output=True,
                                       text=True, timeout=120)
                    self.assertIn("done", r.stdout, r.stderr + pool.output())
                    spans = settle(sink)
            servers = find_spans(spans, kind=KIND_SERVER,
                                 pred=lambda s: service(s) == "pool")
            calls = find_spans(spans, kind=KIND_CLIENT,
                               pred=lambda s: service(s) == "pool")
            self.assertEqual(len(calls), clients * each)
            right, wrong, none, wrongs = classify(calls, servers, target_of,
                                                  target_of)
            report("C worker pool, %d client(s) x %d: %d calls: %d right, "
                   "%d WRONG, %d unparented" % (clients, each, len(calls),
                                                right, wrong, none))
            self.assertEqual(wrong, 0, wrongs)
            if clients == 1:
                self.assert_mostly_parented(right, len(calls))

    def test_asyncio_run_in_executor(self):
        port, bport = free_port(), free_port()
        for clients, each in ((1, 20), (8, 20)):
            with Sink() as sink:
                with Background([sys.executable, "-c", BACKEND_PY,
                                 str(bport)], sink,
                                OTEL_SERVICE_NAME="backend"), \
                     Background([sys.executable, "-c", EXECUTOR_PY,
                                 str(port), str(bport)], sink,
                                OTEL_SERVICE_NAME="aio") as aio:
                    wait_for_port(bport)
                    wait_for_port(port)
                    r = subprocess.run([sys.executable, "-c", CLIENTS_PY,
                                        str(port), str(clients), str(each),
                                        "/x/"], capture_output=True,
                                       text=True, timeout=120)
                    self.assertIn("done", r.stdout, r.stderr + aio.output())
                    spans = settle(sink)
            servers = find_spans(spans, kind=KIND_SERVER,
                                 pred=lambda s: service(s) == "aio")
            calls = find_spans(spans, kind=KIND_CLIENT,
                               pred=lambda s: service(s) == "aio")
            self.assertEqual(len(calls), clients * each)
            right, wrong, none, wrongs = classify(calls, servers, target_of,
                                                  target_of)
            report("asyncio run_in_executor + urllib, %d client(s) x %d: "
                   "%d calls: %d right, %d WRONG, %d unparented"
                   % (clients, each, len(calls), right, wrong, none))
            self.assertEqual(wrong, 0, wrongs)
            if clients == 1:
                self.assert_mostly_parented(right, len(calls))

    def test_fastapi_def_routes_one_client(self):
        right, named = self.fastapi(1, 20)
        self.assert_mostly_parented(right, named)

    def test_fastapi_def_routes_eight_clients(self):
        self.fastapi(8, 15)
