"""Shared helpers for the integration tests: the test OTLP receiver, the
environment that preloads libotelshim.so into a program, and lookups over
the spans the receiver wrote.  Standard library only; importing it needs
neither the built library nor a running receiver.

Every test module is a plain unittest module:

    from harness import Sink, run_traced, find_span, KIND_CLIENT

    class CurlTest(unittest.TestCase):
        def test_get(self):
            with Sink() as sink:
                run_traced(["curl", "-s", url], sink)
                spans = sink.wait_for_spans(1)
"""

import atexit
import contextlib
import itertools
import json
import os
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
LIB = BUILD / "libotelshim.so"
MODULE = BUILD / "otelshim-exporter.so"
SINK_DIR = ROOT / "tests" / "sink"
SINK_JS = SINK_DIR / "sink.js"

# Span.kind and Status.code values of the OTLP trace protocol.
KIND_UNSPECIFIED = 0
KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
KIND_PRODUCER = 4
KIND_CONSUMER = 5
STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2

# Matches any value in find_spans(attrs=...): the key only has to exist.
ANY = object()


# Ports handed out by free_port(): below the kernel's ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), so
# that no outgoing connection of this or another program on the machine
# takes the port between free_port() and the server's bind().
_PORTS = (20000, 32000)


# Every port free_port() has returned in this run: a test often picks a
# port for one server and then starts another (a PostgreSQL) that picks
# its own before the first has bound; the second must not get the same.
_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that is free now, for a server that has to
    be told its port.  Chosen at random outside the ephemeral range and
    never the same twice in a run, so no other caller can take it before
    the server binds; a server that can bind port 0 and report the port
    it got should do that instead."""
    import random
    lo, hi = _PORTS
    for _ in range(200):
        port = random.randint(lo, hi)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise AssertionError("no free port in %d-%d" % _PORTS)


# Seconds a loaded 2-core machine may add to a short traced program's run
# (starting it, loading libcurl, the exporter thread's first connect) on
# top of what the program waits for by design: "exit is not held beyond
# OTEL_BSP_EXPORT_TIMEOUT" is checked as took < timeout + SLACK, with
# timeouts far below the default of 30 s that a held exit would show.
SLACK = 4.0


def wait_for_port(port, host="127.0.0.1", timeout=30.0):
    """Wait until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(
                    "nothing listening on %s:%d after %.1fs"
                    % (host, port, timeout))
            time.sleep(0.05)


def need_programs(*names):
    """Skip the calling test when one of the programs is not installed."""
    for name in names:
        if shutil.which(name) is None:
            raise unittest.SkipTest("%s is not installed" % name)


# ------------------------------------------------------------ privileges
#
# Tests that need a privilege or a kernel feature the machine may not
# grant (root, chroot, a mount namespace) ask one of these first (tests
# that set resource limits stay within the hard limit they were given).
# Each returns None when the thing works here, or a one-line reason to
# skip with; the answer is probed once (by trying it) and cached.  Inside
# a container or a chroot, root often lacks some of them: unshare cannot
# make / private when / is not a mount point.
#
#     reason = need_mount_namespace()
#     if reason:
#         self.skipTest(reason)         # setUpClass: raise SkipTest(reason)

_probed = {}


def _probe(key, fn):
    if key not in _probed:
        _probed[key] = fn()
    return _probed[key]


def _try(argv, what):
    """None when argv runs and exits 0, else a reason naming what."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s: %s" % (what, e)
    if r.returncode != 0:
        err = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])
        return "%s: %s" % (what, err[-1])
    return None


def need_root():
    """None when running as root."""
    if os.geteuid() == 0:
        return None
    return "needs root (running as uid %d)" % os.geteuid()


def need_chroot():
    """None when chroot(2) works here (root with CAP_SYS_CHROOT)."""
    def probe():
        if need_root():
            return "chroot " + need_root()
        if shutil.which("chroot") is None:
            return "chroot is not installed"
        return _try(["chroot", "/", "true"], "chroot does not work here")
    return _probe("chroot", probe)


def need_mount_namespace():
    """None when a private mount namespace can be made here (what the
    tests use to mount /proc into a root filesystem without the mount
    showing outside): fails in most containers and inside a chroot."""
    def probe():
        if need_root():
            return "a mount namespace " + need_root()
        if shutil.which("unshare") is None:
            return "unshare is not installed"
        return _try(["unshare", "--mount", "--propagation", "private",
                     "true"], "no private mount namespace here (unshare)")
    return _probe("mountns", probe)



def node_binary():
    return shutil.which("node") or shutil.which("nodejs") or "node"


def sink_deps_stale():
    """True when tests/sink/node_modules is missing or older than the
    lockfile, i.e. when `npm ci` has to run before the sink can start."""
    lock = SINK_DIR / "package-lock.json"
    mods = SINK_DIR / "node_modules"
    if not mods.is_dir():
        return True
    # npm writes node_modules/.package-lock.json on every install.
    stamp = mods / ".package-lock.json"
    ref = stamp if stamp.exists() else mods
    return ref.stat().st_mtime < lock.stat().st_mtime


def ensure_sink_deps(out=sys.stderr):
    """Run `npm ci` in tests/sink when its node_modules is missing or stale.
    Raises RuntimeError when npm fails."""
    if not sink_deps_stale():
        return
    print("harness: npm ci in %s" % SINK_DIR, file=out, flush=True)
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                       cwd=SINK_DIR, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("npm ci in %s failed:\n%s" % (SINK_DIR, r.stdout))
    os.utime(SINK_DIR / "node_modules")


# Python source for programs run under the shim: refused() makes a
# connection to a closed loopback port, which records one CLIENT span.
REFUSED_PY = """
import socket
def refused():
    try:
        socket.create_connection(("127.0.0.1", 1))
    except OSError:
        pass
"""

# Python source for programs run under the shim that must wait until the
# receiver has their spans (instead of sleeping and hoping the exporter
# was quick enough): defines sink_has(n), true once the test receiver
# whose spans file is in $OTELSHIM_TEST_SPANS holds n spans, and
# wait_sink(n), which waits for that (at most 60 s, then exits 99).
# Pass the file with sink_wait_env(sink) in the program's environment.
SINK_WAIT_PY = """
import os as _os, time as _time
def sink_has(n):
    try:
        with open(_os.environ["OTELSHIM_TEST_SPANS"], "rb") as _f:
            return _f.read().count(b"\\n") >= n
    except FileNotFoundError:
        return False
def wait_sink(n):
    _end = _time.monotonic() + 60
    while not sink_has(n):
        if _time.monotonic() > _end:
            _os._exit(99)
        _time.sleep(0.02)
"""


def sink_wait_env(sink):
    return {"OTELSHIM_TEST_SPANS": str(sink.out)}


def _read_jsonl(path):
    """Parsed lines of a JSON-lines file; a last line still being written
    (no newline yet) is left for the next read."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in text.split("\n")[:-1]:
        if line.strip():
            out.append(json.loads(line))
    return out


class Sink:
    """The node OTLP receiver (tests/sink/sink.js) on a free port.

    Options map to the sink's fault modes: status (answer every request,
    or the first fail_first ones, with this HTTP code), retry_after
    (seconds, sent as Retry-After on error answers), delay_ms (wait before
    answering), hang (read the request, never answer), fail_first (fail
    the first K requests with status, default 503, then succeed), path
    (accept posts to this path only, 404 for any other, as Tempo does),
    grpc (serve OTLP/gRPC; status is then a gRPC status code, and the
    traced programs need OTEL_EXPORTER_OTLP_PROTOCOL=grpc), tls (a (key
    file, certificate file) pair: HTTPS, endpoint https://).

        with Sink(fail_first=2) as sink:
            ... sink.endpoint ... sink.wait_for_spans(3)

    Spans of requests that were not answered 200 are only counted in
    requests(), never returned by spans().
    """

    def __init__(self, status=None, retry_after=None, delay_ms=None,
                 hang=False, fail_first=None, max_bytes=None,
                 start_timeout=30.0, port=0, path=None, grpc=False,
                 tls=None):
        self.options = dict(status=status, retry_after=retry_after,
                            delay_ms=delay_ms, hang=hang,
                            fail_first=fail_first, max_bytes=max_bytes,
                            path=path, grpc=grpc)
        self.start_timeout = start_timeout
        self.tls = tls
        self.want_port = port
        self.proc = None
        self.port = None
        self.endpoint = None
        self.dir = None
        self.out = None
        self._stderr = None

    def _argv(self):
        o = self.options
        argv = [node_binary(), str(SINK_JS), "--port", str(self.want_port),
                "--out", str(self.out)]
        flags = [("status", "--status"), ("retry_after", "--retry-after"),
                 ("delay_ms", "--delay-ms"), ("fail_first", "--fail-first"),
                 ("max_bytes", "--max-bytes"), ("path", "--path")]
        for key, flag in flags:
            if o[key] is not None:
                argv += [flag, str(o[key])]
        if o["hang"]:
            argv.append("--hang")
        if o["grpc"]:
            argv.append("--grpc")
        if self.tls:
            argv += ["--tls-key", str(self.tls[0]),
                     "--tls-cert", str(self.tls[1])]
        return argv

    def start(self):
        ensure_sink_deps()
        self.dir = Path(tempfile.mkdtemp(prefix="otelshim-sink-"))
        self.out = self.dir / "spans.jsonl"
        self._stderr = open(self.dir / "sink.stderr", "w+")
        self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        line = self._first_line()
        parts = line.split()
        if len(parts) != 2 or parts[0] != "listening":
            err = self.stderr()
            self.stop()
            raise RuntimeError("sink did not start (got %r):\n%s"
                               % (line, err))
        self.port = int(parts[1])
        self.endpoint = "%s://127.0.0.1:%d" % (
            "https" if self.tls else "http", self.port)
        return self

    def _first_line(self):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    break
                buf += chunk
        finally:
            sel.close()
        return buf.decode("utf-8", "replace").split("\n")[0]

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        remove_scratch(self.dir)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def traces_url(self):
        """The full URL the OTLP/HTTP trace exporter posts to."""
        return self.endpoint + "/v1/traces"

    def spans(self):
        """Every span received in a request answered 200, in order."""
        return _read_jsonl(self.out)

    def requests(self):
        """One dict per request received: seq, method, path, headers,
        bytes, spans, status_returned (None when hanging or when the
        client went away first), at_ms (when it arrived, in ms on the
        receiver's monotonic clock: differences are exact whatever the
        test's own scheduling)."""
        return _read_jsonl(str(self.out) + ".requests")

    def stderr(self):
        """What the sink logged (rejected bodies, internal errors)."""
        if self.dir is None:
            return ""
        try:
            return (self.dir / "sink.stderr").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_spans(self, pred_or_count=1, timeout=30.0):
        """Wait until the received spans satisfy pred_or_count and return
        all of them.  An int waits for at least that many spans.  A
        callable is called with the list of spans and must return true
        when done; a predicate over a single span (one that raises
        TypeError or AttributeError when given the list) waits until any
        span matches.  Raises AssertionError on timeout."""
        done = _completion(pred_or_count)
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if done(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(
                    "sink: timed out after %.1fs waiting for %r; got %d "
                    "span(s) in %d request(s):\n%s%s"
                    % (timeout, pred_or_count, len(spans),
                       len(self.requests()), summarize(spans),
                       _indent(self.stderr())))
            time.sleep(0.05)

    def wait_for_requests(self, count=1, timeout=30.0):
        """Wait until at least count requests arrived (whatever they were
        answered) and return them.  Raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.requests()
            if len(reqs) >= count:
                return reqs
            if time.monotonic() > deadline:
                raise AssertionError(
                    "sink: timed out after %.1fs waiting for %d request(s),"
                    " got %d" % (timeout, count, len(reqs)))
            time.sleep(0.05)


def _completion(pred_or_count):
    if isinstance(pred_or_count, int):
        return lambda spans: len(spans) >= pred_or_count
    if not callable(pred_or_count):
        raise TypeError("wait_for_spans takes a count or a callable")
    mode = []

    def done(spans):
        if not mode:
            try:
                result = pred_or_count(spans)
                mode.append("list")
                return bool(result)
            except (TypeError, AttributeError):
                mode.append("span")
        if mode[0] == "list":
            return bool(pred_or_count(spans))
        return any(pred_or_count(s) for s in spans)
    return done


def _indent(text):
    if not text:
        return ""
    return "sink stderr:\n" + "".join("  " + l + "\n"
                                      for l in text.splitlines())


# ------------------------------------------------------------ environment

# Spans a traced program could not send wait in its spool for a later
# traced program of the same user to deliver.  Each program traced_env()
# prepares gets a spool directory of its own (its children share it), so
# what one test's program left behind never reaches another test's sink;
# programs started with a copy of os.environ share this run's.
_SPOOL_BASE = Path(tempfile.mkdtemp(prefix="otelshim-test-spools-"))
_spool_seq = itertools.count()
os.environ["OTELSHIM_SPOOL_DIR"] = str(_SPOOL_BASE / "shared")
atexit.register(shutil.rmtree, _SPOOL_BASE, True)


def remove_scratch(d):
    """Removes a test's temporary folder d, unless OTELSHIM_TEST_KEEP asks
    to keep it for a look."""
    if d is not None and not os.environ.get("OTELSHIM_TEST_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


def static_site(d):
    """d/www/static/big.txt, 90 KB of numbered lines for a web server to
    send (nginx with sendfile, say); returns the text."""
    (Path(d) / "www" / "static").mkdir(parents=True)
    content = "".join("line %05d of the static file\n" % i
                      for i in range(3000))
    (Path(d) / "www" / "static" / "big.txt").write_text(content)
    return content


def fresh_spool_dir():
    """A spool directory path no program has used yet (not created: the
    library creates it, 0700, when it first spools)."""
    return str(_SPOOL_BASE / ("spool-%d" % next(_spool_seq)))


def traced_env(sink=None, **overrides):
    """A copy of os.environ that preloads LIB and exports to sink.

    LD_PRELOAD gets LIB appended (space-separated) to what is already
    there; OTEL_EXPORTER_OTLP_ENDPOINT is the sink's endpoint and
    OTEL_BSP_SCHEDULE_DELAY is 200 ms; OTELSHIM_SPOOL_DIR is a fresh
    directory (fresh_spool_dir); OTELSHIM_EXIT_TIMEOUT is 5 s.  OTEL_* variables and
    TRACEPARENT/TRACESTATE inherited from the caller are dropped so the
    tests do not depend on the shell they run in.  Keyword overrides
    are set last; a value of None deletes the variable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_")
           and k not in ("TRACEPARENT", "TRACESTATE")}
    pre = env.get("LD_PRELOAD", "").strip()
    env["LD_PRELOAD"] = (pre + " " + str(LIB)) if pre else str(LIB)
    if sink is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
    env["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    env["OTELSHIM_SPOOL_DIR"] = fresh_spool_dir()
    # A request the exit's one attempt gives up on may have reached the
    # receiver: it is spooled and sent again (at least once).  The test
    # sink, on a loaded machine with many traced processes exiting at
    # once, can take longer than the default second to answer; tests of
    # the exit bound set OTELSHIM_EXIT_TIMEOUT themselves.
    env["OTELSHIM_EXIT_TIMEOUT"] = "5000"
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def _argv(cmd):
    if isinstance(cmd, (str, bytes)):
        return ["/bin/sh", "-c", cmd]
    return [str(c) for c in cmd]


def run_traced(cmd, sink, timeout=30, input=None, cwd=None,
               **env_overrides):
    """Run cmd (a list, or a string for /bin/sh -c) under the shim and
    wait for it.  Returns subprocess.CompletedProcess with stdout and
    stderr captured as text."""
    return subprocess.run(_argv(cmd), env=traced_env(sink, **env_overrides),
                          input=input, cwd=cwd, capture_output=True,
                          text=True, errors="replace", timeout=timeout)


class Background:
    """A long-running program (a server) under the shim, or untraced with
    traced=False.  Its output goes to a file so a chatty program never
    blocks on a full pipe; output() reads it.

        with Background(["python3", "-m", "http.server", port], sink) as srv:
            wait_for_port(port)
    """

    def __init__(self, cmd, sink=None, traced=True, cwd=None,
                 **env_overrides):
        self.argv = _argv(cmd)
        if traced:
            self.env = traced_env(sink, **env_overrides)
        else:
            self.env = dict(os.environ)
            for k, v in env_overrides.items():
                if v is None:
                    self.env.pop(k, None)
                else:
                    self.env[k] = str(v)
        self.cwd = cwd
        self.proc = None
        self._log = None

    def start(self):
        self._log = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def output(self):
        """Everything the program printed so far (stdout and stderr)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the program (its own process group) and wait for it;
        returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._log is not None:
            self._log.close()
        return False


@contextlib.contextmanager
def tls_receiver(certdir):
    """An https receiver on loopback with a self-signed certificate for
    127.0.0.1 written to certdir/c.pem; yields (endpoint, cert path, list
    of the paths POSTed to)."""
    key, cert = os.path.join(certdir, "k.pem"), os.path.join(certdir,
                                                              "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    hits = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield "https://127.0.0.1:%d" % srv.server_address[1], cert, hits
    finally:
        srv.shutdown()


def nginx_conf(d, http, workers=2, connections=64, log="info"):
    """Writes d/nginx.conf for a throw-away nginx run in the foreground
    with everything under d (pid, logs, temp folders), the http block
    holding the lines given (servers, upstreams); returns the command that
    runs it."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (d / sub).mkdir(exist_ok=True)
    conf = textwrap.dedent("""\
        daemon off;
        master_process on;
        worker_processes {workers};
        user root;
        pid {d}/nginx.pid;
        error_log {d}/error.log {log};
        events {{ worker_connections {connections}; }}
        http {{
            access_log {d}/access.log;
            client_body_temp_path {d}/body;
            proxy_temp_path {d}/proxy;
            fastcgi_temp_path {d}/fastcgi;
            uwsgi_temp_path {d}/uwsgi;
            scgi_temp_path {d}/scgi;
        """).format(d=d, workers=workers, connections=connections, log=log)
    (d / "nginx.conf").write_text(conf + textwrap.dedent(http) + "}\n")
    return ["nginx", "-p", str(d), "-c", str(d / "nginx.conf")]


# ------------------------------------------------------------ span lookups

def attr(span, key, default=None):
    """One attribute of a span (or default when it is missing)."""
    return span.get("attributes", {}).get(key, default)


def _matches(span, name, kind, attrs, pred):
    if name is not None and span.get("name") != name:
        return False
    if kind is not None and span.get("kind") != kind:
        return False
    for k, v in (attrs or {}).items():
        have = span.get("attributes", {})
        if k not in have:
            return False
        if v is not ANY and have[k] != v:
            return False
    if pred is not None and not pred(span):
        return False
    return True


def find_spans(spans, name=None, kind=None, attrs=None, pred=None):
    """The spans with this name and kind whose attributes include attrs
    (a dict; the value ANY matches any value) and that satisfy pred."""
    return [s for s in spans if _matches(s, name, kind, attrs, pred)]


def find_span(spans, name=None, kind=None, attrs=None, pred=None):
    """The one span that find_spans() finds; AssertionError (listing what
    was received) when there is none or more than one."""
    found = find_spans(spans, name, kind, attrs, pred)
    if len(found) != 1:
        want = {"name": name, "kind": kind, "attrs": attrs}
        raise AssertionError(
            "expected exactly one span matching %r, found %d among:\n%s"
            % ({k: v for k, v in want.items() if v is not None},
               len(found), summarize(spans)))
    return found[0]


def is_child_of(child, parent):
    """True when child's parent is parent (same trace, parent_span_id)."""
    return (child.get("trace_id") == parent.get("trace_id")
            and child.get("parent_span_id") == parent.get("span_id")
            and child.get("parent_span_id", "") != "")


def assert_child_of(child, parent):
    """AssertionError unless child's parent is parent."""
    if not is_child_of(child, parent):
        raise AssertionError(
            "span %r (trace %s, parent %s) is not a child of %r "
            "(trace %s, span %s)"
            % (child.get("name"), child.get("trace_id"),
               child.get("parent_span_id") or "-", parent.get("name"),
               parent.get("trace_id"), parent.get("span_id")))


def is_root(span):
    return span.get("parent_span_id", "") == ""


def same_trace(*spans):
    return len({s.get("trace_id") for s in spans}) == 1


def duration_ns(span):
    return (int(span["end_time_unix_nano"])
            - int(span["start_time_unix_nano"]))


def summarize(spans):
    """One line per span, for assertion messages."""
    lines = []
    for s in spans:
        lines.append("  %s kind=%s trace=%s span=%s parent=%s status=%s "
                     "attrs=%s" % (
                         s.get("name"), s.get("kind"), s.get("trace_id"),
                         s.get("span_id"), s.get("parent_span_id") or "-",
                         s.get("status", {}).get("code"),
                         json.dumps(s.get("attributes", {}),
                                    sort_keys=True)))
    return "\n".join(lines) + ("\n" if lines else "  (none)\n")


def lib_built():
    """True when build/libotelshim.so exists (make all)."""
    return LIB.exists()
