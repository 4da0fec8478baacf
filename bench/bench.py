"""The benchmark driver behind `make bench` (bench/run.sh builds the C
programs first): every workload runs with the shim preloaded and without,
interleaved round by round in one run, and the medians, their min-max and
the shim/plain ratios go to a table on the terminal and to
build/bench/results.json, one top-level key per ratio or figure.

Spans go to bench/sink.c, a discard-only OTLP/HTTP receiver on loopback,
so that decoding them is not what gets measured.  Standard library only,
plus tests/integration/pgserver.py for the PostgreSQL server.

Environment: BENCH_ROUNDS (default 5), BENCH_SECONDS (wrk -d and pgbench
-T, default 5), BENCH_ONLY (comma-separated workload names: floor, start,
http, https, pgbench, sqlite, exporter, memory, fork, exit, instr).

Beside the ratios, the HTTP, pgbench and sqlite rows give the CPU time a
traced request or statement adds, all in: every thread of the traced
process plus the sink's CPU during the run, per request or statement
completed, shim minus plain.  The instr rows count instructions
(callgrind) for a fixed number of requests and statements, a figure the
load on the machine does not move.
"""

import atexit
import contextlib
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
BIN = BUILD / "bench"
LIB = BUILD / "libotelshim.so"
MODULE = BUILD / "otelshim-exporter.so"
NODE_DIR = ROOT / "bench" / "node"
sys.path.insert(0, str(ROOT / "tests" / "integration"))

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ONLY = [w for w in os.environ.get("BENCH_ONLY", "").split(",") if w]

SUMMARY_RE = re.compile(
    r"spans recorded (\d+), exported (\d+), dropped \(queue full\) (\d+), "
    r"dropped \(export failed\) (\d+)")


def log(msg):
    print(msg, flush=True)


# ------------------------------------------------------------ environment

def clean_env():
    """The caller's environment without anything that would trace or
    redirect the benchmark programs."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("OTEL_", "OTELSHIM_"))
            and k not in ("LD_PRELOAD", "TRACEPARENT", "TRACESTATE")}


class Sink:
    """bench/sink.c on a free loopback port, optionally pinned to cpus."""

    def __init__(self, cpus=None):
        argv = [str(BIN / "sink"), "0"]
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     env=clean_env(), text=True)
        self.port = int(self.proc.stdout.readline())
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def cpu(self):
        return process_cpu_s(self.proc.pid)

    def stats(self):
        with urllib.request.urlopen(self.endpoint + "/stats",
                                    timeout=5) as r:
            text = r.read().decode()
        return {k: int(v) for k, v in
                (line.split() for line in text.splitlines())}

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# Spans a shim run could not send go to this run's own spool, never the
# user's (removed at exit, however the run ends).
SPOOL_BASE = tempfile.mkdtemp(prefix="otelshim-bench-spool-")
atexit.register(shutil.rmtree, SPOOL_BASE, True)


def shim_env(endpoint, service, extra=None):
    env = clean_env()
    env["LD_PRELOAD"] = str(LIB)
    env["OTELSHIM_SPOOL_DIR"] = os.path.join(SPOOL_BASE, "spool")
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env["OTEL_SERVICE_NAME"] = service
    env.update(extra or {})
    return env


def run(argv, env, timeout=600, **kw):
    r = subprocess.run(argv, env=env, capture_output=True, text=True,
                       errors="replace", timeout=timeout, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (
            " ".join(map(str, argv)), r.returncode, r.stdout, r.stderr))
    return r


def process_cpu_s(pid):
    """CPU seconds used so far by every thread of the running process pid,
    ended threads included: the utime+stime of /proc/PID/stat, read from
    the process's CPU-time clock ((~pid << 3) | CPUCLOCK_SCHED, what
    clock_getcpuclockid(3) returns) at nanosecond resolution instead of in
    clock ticks."""
    try:
        return time.clock_gettime((~pid << 3) | 2)
    except OSError:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exporter_cpu_s(pid):
    """CPU seconds so far of the exporter thread of the running process
    pid (the thread named otelshim-export): the time on a CPU its
    schedstat gives in ns; 0 when it has none."""
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "comm") as f:
                if f.read().strip() != "otelshim-export":
                    continue
            with open(base + "schedstat") as f:
                return int(f.read().split()[0]) / 1e9
        except OSError:
            continue
    return 0.0


def run_cpu(argv, env, stdin=None, timeout=600):
    """run() for a program that exits by itself, also returning the CPU
    seconds of the process, all its threads (and any children it reaped),
    from the rusage wait4() reports as it is reaped.  Returns (stdout,
    stderr, cpu_s, wall_s)."""
    with tempfile.TemporaryFile("w+", errors="replace") as out, \
            tempfile.TemporaryFile("w+", errors="replace") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=stdin, stdout=out,
                                stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (
            " ".join(map(str, argv)), proc.returncode, stdout, stderr))
    return stdout, stderr, ru.ru_utime + ru.ru_stime, wall


def keyvals(text):
    """'name value' lines -> {name: float}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def summary_counts(stderr):
    """The shim's exit summary (OTEL_LOG_LEVEL=info) -> counters."""
    m = SUMMARY_RE.search(stderr)
    if not m:
        return None
    return dict(zip(("recorded", "exported", "dropped_queue_full",
                     "dropped_export_failed"), map(int, m.groups())))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ statistics

def summ(values):
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values)}


def interleave(variants, rounds=ROUNDS):
    """variants: [(name, fn)], fn() -> {metric: value}.  Runs each variant
    once per round, rotating the order every round so that neither side
    always goes first; returns {name: {metric: [values]}}."""
    out = {name: {} for name, _ in variants}
    for r in range(rounds):
        k = r % len(variants)
        for name, fn in variants[k:] + variants[:k]:
            for metric, v in fn().items():
                out[name].setdefault(metric, []).append(v)
    return out


ROWS = []
RESULTS = {}
EXTRA = {}
FAILED = {}


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "ns":
        return "%.1f ns" % v
    if unit == "us":
        return "%.0f us" % v
    if unit == "cpu_us":
        return "%.2f us" % v
    if unit == "instr":
        return "%.0f instr" % v
    if unit == "ms":
        return "%.2f ms" % v
    if unit == "s":
        return "%.3f s" % v
    if unit == "MiB":
        return "%.1f MiB" % v
    if unit in ("req/s", "tps", "spans/s"):
        return "%.0f %s" % (v, unit)
    return "%.3g %s" % (v, unit)


def fmt_summ(s, unit):
    if s is None:
        return "-"
    return "%s [%s-%s]" % (fmt(s["median"], unit),
                           fmt(s["min"], unit).split()[0],
                           fmt(s["max"], unit).split()[0])


def row(key, workload, unit, plain, shim, value, target, met, note=""):
    """One line of the table; value is the ratio or figure under key."""
    ROWS.append({"key": key, "workload": workload, "unit": unit,
                 "plain": plain, "shim": shim, "value": value,
                 "target": target, "met": met, "note": note})
    RESULTS[key] = value


def cpu_row(key, workload, plain, shim, per, target, note=""):
    """A CPU-per-request/statement row: plain and shim are lists of µs
    per request or statement, one per round, in round order.  The figure
    is the median over the rounds of shim minus plain within the round:
    the two ran one after the other, so a change in the load on the
    machine between rounds cancels better than between medians."""
    p, s = summ(plain), summ(shim)
    diffs = [b - a for a, b in zip(plain, shim)]
    added = statistics.median(diffs)
    note = "shim minus plain by round: %s; %s" % (
        ", ".join("%+.2f" % d for d in diffs), note)
    row(key, workload, "cpu_us", p, s, round(added, 2),
        "report" if target is None else "<= %g us per %s" % (target, per),
        None if target is None else added <= target, note)
    return added


def cpu_note(res, count_label):
    """Counts and the split of a CPU row: the requests or statements per
    round and, shim minus plain, the traced process against the sink;
    where the process had an exporter thread of ours, its own CPU per
    request (nothing to subtract: the plain program has no such
    thread)."""
    p, s = res["plain"], res["shim"]
    exporter = ""
    if max(s.get("exporter_us", [0])) > 0:
        exporter = " (its exporter thread %.2f us)" % statistics.median(
            s["exporter_us"])
    return ("%s per round: plain %d, shim %d (medians); medians, shim "
            "minus plain: traced process %+.2f us%s, sink %+.2f us" % (
                count_label, statistics.median(p["count"]),
                statistics.median(s["count"]),
                statistics.median(s["proc_us"]) -
                statistics.median(p["proc_us"]), exporter,
                statistics.median(s["sink_us"]) -
                statistics.median(p["sink_us"])))


def cpu_metrics(proc_s, sink_s, count, exporter_s=None):
    """CPU per request or statement, µs: the traced process plus the
    sink, and each alone (and the process's exporter thread, if
    measured)."""
    m = {"cpu_us": (proc_s + sink_s) / count * 1e6,
         "proc_us": proc_s / count * 1e6,
         "sink_us": sink_s / count * 1e6, "count": count}
    if exporter_s is not None:
        m["exporter_us"] = exporter_s / count * 1e6
    return m


# ------------------------------------------------------------ workloads

def bench_floor():
    """The hook floors: floor.c times each call through the program's
    binding and straight to libc in the same process, alternating slice
    by slice, and prints the difference; the figure is its median over
    the runs.  Plain runs print the same difference between two ways of
    reaching libc, the resolution of the method; runs with
    bench/passthru.c preloaded, hooks that only call on, show what
    interposing costs before a hook does anything."""
    argv = ["taskset", "-c", "1", BIN / "floor", "1000000"]
    passthru = clean_env()
    passthru["LD_PRELOAD"] = str(BIN / "passthru")
    res = interleave([
        ("plain", lambda: keyvals(run(argv, clean_env()).stdout)),
        ("shim", lambda: keyvals(run(argv, shim_env(
            "http://127.0.0.1:1", "bench-floor")).stdout)),
        ("passthru", lambda: keyvals(run(argv, passthru).stdout)),
    ], rounds=max(ROUNDS, 7))
    for name, label in (("write", "write() to /dev/null"),
                        ("sendrecv", "send/recv, socketpair"),
                        ("sem", "sem_post/sem_wait, uncontended")):
        added = {v: res[v][name + "_added_ns"] for v in res}
        by_run = "; ".join("%s %s" % (v, ", ".join("%+.1f" % x for x in a))
                           for v, a in added.items())
        p = summ(res["plain"][name + "_ns"])
        figure = statistics.median(added["shim"])
        row("floor.%s_added_ns" % name, "hook floor: " + label, "ns", p,
            summ(res["shim"][name + "_ns"]), round(figure, 1),
            "<= 10 ns added", figure <= 10,
            "added in the same process, by run: %s ns" % by_run)
        figure = statistics.median(added["passthru"])
        row("floor.%s_passthru_ns" % name,
            "hook floor: %s, a hook that only calls on (bench/passthru.c)"
            % label, "ns", p, summ(res["passthru"][name + "_ns"]),
            round(figure, 1), "report", None)
    # The OpenSSL hooks on a TLS stream that is not HTTP: a lookup and a
    # branch per call beside a call that costs microseconds, so the
    # target is relative.
    argv = ["taskset", "-c", "1", BIN / "tlsfloor", "200000"]
    res = interleave([
        ("plain", lambda: keyvals(run(argv, clean_env()).stdout)),
        ("shim", lambda: keyvals(run(argv, shim_env(
            "http://127.0.0.1:1", "bench-floor")).stdout)),
    ], rounds=max(ROUNDS, 7))
    p, s = summ(res["plain"]["tls_ns"]), summ(res["shim"]["tls_ns"])
    added = s["median"] - p["median"]
    row("floor.tls_added_ns",
        "hook floor: SSL_write/SSL_read, non-HTTP TLS stream", "ns", p, s,
        round(added, 1), "<= 2% added", added <= 0.02 * p["median"])


def bench_start():
    """spawn alternates plain and shim runs itself (see bench/spawn.c); a
    round is one spawn call of 300 runs of each kind."""
    n = "300"
    env = clean_env()
    env["OTELSHIM_BENCH_PRELOAD"] = str(LIB)
    for key, label, cmd in (("true", "/bin/true", ["/bin/true"]),
                            ("ls", "ls /", ["/bin/ls", "/"])):
        res = interleave([("both", lambda: keyvals(
            run([BIN / "spawn", n] + cmd, env).stdout))],
            rounds=max(ROUNDS, 7))
        p = summ(res["both"]["plain_us"])
        s = summ(res["both"]["shim_us"])
        ratio = s["median"] / p["median"]
        row("start.%s_ratio" % key, "process start: " + label, "us", p, s,
            round(ratio, 3), "<= 1.15x", ratio <= 1.15)


SHM = "/dev/shm"


def status_counts(status_dir, pid):
    """The span counters of a traced process's status file once it is
    newer than this call and the queue is empty (the file is rewritten at
    most once a second), or the last ones read after 5 s."""
    since_ms = time.time() * 1000
    end = time.monotonic() + 5
    spans = None
    while time.monotonic() < end:
        try:
            with open(os.path.join(status_dir,
                                   "otelshim-%d.json" % pid)) as f:
                st = json.load(f)
            spans = st.get("spans")
            if st["updated_unix_ms"] >= since_ms and not spans["queued"]:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    return spans


def wrk(port, seconds, scheme="http"):
    r = run(["wrk", "-t2", "-c4", "-d%ds" % seconds, "--latency",
             "%s://127.0.0.1:%d/" % (scheme, port)], clean_env(),
            timeout=seconds + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", r.stdout)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    total = int(re.search(r"(\d+) requests in", r.stdout).group(1))
    return {"rps": rps, "p99_ms": float(m.group(1)) * scale,
            "requests": total}


def http_server(argv, env, cwd=None):
    """Starts a server that prints its port; returns (proc, port)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, cwd=cwd,
                            text=True, start_new_session=True)
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        raise RuntimeError("%s did not start" % argv)
    return proc, int(line)


def stop_server(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# The targets of the throughput rows (issue 14's table): throughput ratio
# at least, p99 ratio at most.
HTTP_TARGETS = {"c": (0.75, 2.0), "node": (0.90, 1.2)}
PGBENCH_MIN_RATIO = 0.92
SQLITE_MIN_RATIO = 0.90
EXPORTER_MIN_SPANS_S = 3000000
# CPU added per traced request or statement, all in (the process's
# threads and the sink), µs.
CPU_US_PER_REQUEST = 1.5
CPU_US_PER_STATEMENT = 0.4


def bench_http(sink):
    # On a tmpfs, as the README advises: a rename on a busy disk stalls
    # the exporter thread and the ring fills.
    status_dir = tempfile.mkdtemp(prefix="otelshim-bench-status-",
                                  dir=SHM if os.path.isdir(SHM) else None)
    traced = {}

    def variant(name, argv, env, cwd=None):
        def fn():
            proc, port = http_server(argv, env, cwd)
            try:
                wrk(port, 1)                    # warm-up, not measured
                before = status_counts(status_dir, proc.pid)
                cpu0, sink0 = process_cpu_s(proc.pid), sink.cpu()
                exp0 = exporter_cpu_s(proc.pid)
                res = wrk(port, SECONDS)
                time.sleep(0.3)                 # the export catches up
                cpu1, sink1 = process_cpu_s(proc.pid), sink.cpu()
                exp1 = exporter_cpu_s(proc.pid)
                after = status_counts(status_dir, proc.pid)
            finally:
                stop_server(proc)
            if after is not None:
                t = traced.setdefault(name, {"requests": 0, "recorded": 0,
                                             "dropped_queue_full": 0})
                t["requests"] += res["requests"]
                for k in ("recorded", "dropped_queue_full"):
                    t[k] += after[k] - (before or {}).get(k, 0)
            out = {"rps": res["rps"], "p99_ms": res["p99_ms"]}
            out.update(cpu_metrics(cpu1 - cpu0, sink1 - sink0,
                                   res["requests"], exp1 - exp0))
            return out
        return fn

    shim_extra = {"OTELSHIM_STATUS_DIR": status_dir}
    node = shutil.which("node")
    sdk_env = clean_env()
    sdk_env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = \
        sink.endpoint + "/v1/traces"
    sdk_env["OTEL_SERVICE_NAME"] = "bench-node-otel-sdk"
    groups = [
        ("c", "C server (bench/httpd.c)", [
            ("plain", [str(BIN / "httpd"), "0"], clean_env(), None),
            ("shim", [str(BIN / "httpd"), "0"],
             shim_env(sink.endpoint, "bench-httpd", shim_extra), None),
        ]),
        ("node", "node http hello-world", [
            ("plain", [node, "server.js", "0"], clean_env(), NODE_DIR),
            ("shim", [node, "server.js", "0"],
             shim_env(sink.endpoint, "bench-node", shim_extra), NODE_DIR),
            ("otelsdk", [node, "--require", "./otel-sdk.js", "server.js",
                         "0"], sdk_env, NODE_DIR),
        ]),
    ]
    for gkey, glabel, vs in groups:
        res = interleave([(n, variant(gkey + "." + n, a, e, c))
                          for n, a, e, c in vs])
        p_rps, p_p99 = summ(res["plain"]["rps"]), summ(res["plain"]["p99_ms"])
        for vname, vlabel, key in (("shim", "otelshim", gkey),
                                   ("otelsdk", "OpenTelemetry JS SDK",
                                    gkey + "_otelsdk")):
            if vname not in res:
                continue
            s_rps = summ(res[vname]["rps"])
            s_p99 = summ(res[vname]["p99_ms"])
            r_rps = s_rps["median"] / p_rps["median"]
            r_p99 = s_p99["median"] / p_p99["median"]
            note = ""
            t = traced.get(gkey + "." + vname)
            if t:
                note = ("%d requests, %d spans recorded, %d dropped "
                        "(queue full)" % (t["requests"], t["recorded"],
                                          t["dropped_queue_full"]))
                EXTRA["http.%s.spans" % key] = t
            ours = vname == "shim"
            rps_min, p99_max = HTTP_TARGETS[gkey]
            row("http.%s.rps_ratio" % key,
                "HTTP %s, %s: throughput" % (glabel, vlabel), "req/s",
                p_rps, s_rps, round(r_rps, 3),
                ">= %.2f" % rps_min if ours else "report (about 0.27)",
                r_rps >= rps_min if ours else None, note)
            row("http.%s.p99_ratio" % key,
                "HTTP %s, %s: p99 latency" % (glabel, vlabel), "ms",
                p_p99, s_p99, round(r_p99, 3),
                "<= %gx" % p99_max if ours else "report",
                r_p99 <= p99_max if ours else None)
            cpu_row("http.%s.cpu_us_added" % key,
                    "HTTP %s, %s: CPU per request (server, all threads, "
                    "+ sink)" % (glabel, vlabel),
                    res["plain"]["cpu_us"], res[vname]["cpu_us"],
                    "request", CPU_US_PER_REQUEST if ours else None,
                    cpu_note({"plain": res["plain"], "shim": res[vname]},
                             "requests"))
    shutil.rmtree(status_dir, ignore_errors=True)


def bench_https(sink):
    """nginx terminating TLS (keep-alive, a small static page), wrk over
    https: the shim in nginx follows the plaintext inside OpenSSL."""
    from harness import nginx_conf

    d = Path(tempfile.mkdtemp(prefix="otelshim-bench-tls-"))
    key, cert = d / "k.pem", d / "c.pem"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj",
         "/CN=127.0.0.1"], clean_env())
    (d / "www").mkdir()
    (d / "www" / "index.html").write_text("hello\n")

    def variant(env):
        def fn():
            port = free_port()
            cmd = nginx_conf(d, """
                server {{
                    listen 127.0.0.1:{port} ssl;
                    ssl_certificate {cert};
                    ssl_certificate_key {key};
                    keepalive_requests 1000000;
                    location / {{ root {d}/www; }}
                }}
            """.format(port=port, cert=cert, key=key, d=d), workers=1,
                log="error")
            proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                                    stdout=subprocess.DEVNULL)
            try:
                deadline = time.time() + 10
                while time.time() < deadline:
                    with socket.socket() as s:
                        if s.connect_ex(("127.0.0.1", port)) == 0:
                            break
                    time.sleep(0.05)
                wrk(port, 1, "https")           # warm-up, not measured
                res = wrk(port, SECONDS, "https")
            finally:
                stop_server(proc)
            return {"rps": res["rps"], "p99_ms": res["p99_ms"]}
        return fn

    res = interleave([
        ("plain", variant(clean_env())),
        ("shim", variant(shim_env(sink.endpoint, "bench-nginx-tls"))),
    ])
    p, s = summ(res["plain"]["rps"]), summ(res["shim"]["rps"])
    r = s["median"] / p["median"]
    row("https.nginx.rps_ratio", "HTTPS nginx (TLS, keep-alive): "
        "throughput", "req/s", p, s, round(r, 3), ">= 0.90", r >= 0.90)
    shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def pgbench_database(who):
    """A PostgreSQL server with pgbench's tables (scale 1): yields the
    pgbench binary and the environment that reaches the database, or
    None (logged as `who` skipped) when PostgreSQL is missing."""
    import pgserver
    try:
        pgserver.need_postgres()
    except Exception as e:      # unittest.SkipTest
        log("%s: skipped: %s" % (who, e))
        yield None
        return
    pgbench = pgserver.pg_bin("pgbench")
    with pgserver.PgServer() as pg:
        pg.createdb("bench")
        base = clean_env()
        base.update(pg.env("bench", unix=False))
        run([pgbench, "-i", "-s", "1", "-q"], base, timeout=300)
        yield pgbench, base


def bench_pgbench(sink):
    with pgbench_database("pgbench") as db:
        if not db:
            return
        pgbench, base = db
        counts = {}
        for mode in ("simple", "prepared"):
            argv = [pgbench, "-S", "-M", mode, "-c4", "-j2",
                    "-T%d" % SECONDS, "-n"]
            senv = dict(base)
            senv.update(shim_env(sink.endpoint, "bench-pgbench",
                                 {"OTEL_LOG_LEVEL": "info"}))

            def once(env):
                sink0 = sink.cpu()
                out, err, cpu, _ = run_cpu(argv, env, timeout=SECONDS + 120)
                m = {"tps": tps_of(out)}
                # -S: one SELECT per transaction
                m.update(cpu_metrics(cpu, sink.cpu() - sink0,
                                     transactions_of(out)))
                return m, err

            def plain():
                return once(base)[0]

            def shim():
                m, err = once(senv)
                c = summary_counts(err)
                if c:
                    acc = counts.setdefault(mode, dict.fromkeys(c, 0))
                    for k, v in c.items():
                        acc[k] += v
                return m

            res = interleave([("plain", plain), ("shim", shim)])
            p, s = summ(res["plain"]["tps"]), summ(res["shim"]["tps"])
            ratio = s["median"] / p["median"]
            c = counts.get(mode)
            note = ""
            if c:
                note = ("spans recorded %d, exported %d, dropped %d"
                        % (c["recorded"], c["exported"],
                           c["dropped_queue_full"] +
                           c["dropped_export_failed"]))
                EXTRA["pgbench.%s.spans" % mode] = c
            row("pgbench.%s.tps_ratio" % mode,
                "pgbench -S -M %s -c4 -j2 -T%d" % (mode, SECONDS), "tps",
                p, s, round(ratio, 3), ">= %.2f" % PGBENCH_MIN_RATIO,
                ratio >= PGBENCH_MIN_RATIO, note)
            cpu_row("pgbench.%s.cpu_us_added" % mode,
                    "pgbench -S -M %s: CPU per statement (pgbench, all "
                    "threads, + sink)" % mode, res["plain"]["cpu_us"],
                    res["shim"]["cpu_us"], "statement",
                    CPU_US_PER_STATEMENT,
                    cpu_note(res, "statements (transactions of one "
                             "SELECT)"))


def transactions_of(out):
    return int(re.search(r"number of transactions actually processed: "
                         r"(\d+)", out).group(1))


def tps_of(out):
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)",
                  out)
    if not m:
        m = re.search(r"tps = ([\d.]+)", out)
    return float(m.group(1))


# The queue the drops rows are about: OTEL_BSP_MAX_QUEUE_SIZE's default.
DEFAULT_QUEUE = 2048
# Runs of the sqlite3 row traced with perf sched for the wait row.
SCHED_RUNS = 6
TIMEHIST_RE = re.compile(
    r"^\s*([\d.]+)\s+\[(\d+)\]\s+(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)")


def thread_waits(argv, env, stdin_path, tmp):
    """Runs argv under `perf sched record` and reads from `perf sched
    timehist` how long the threads the export depends on waited for a
    CPU: the exporter thread (named otelshim-export) and the sink's
    threads (which answer its requests), each time from wake-up to
    running.  For the longest wait of each, also how much of it the CPU
    it then ran on sat idle.  Returns
    ({"exporter": waits, "sink": waits}, stderr), waits being {"max_ms",
    "idle_ms", "waits_ms"}, or (None, why) where perf cannot trace the
    scheduler."""
    data = os.path.join(tmp, "sched.data")
    with open(stdin_path) as f:
        r = subprocess.run(["perf", "sched", "record", "-q", "-o", data,
                            "--"] + argv, env=env, stdin=f,
                           capture_output=True, text=True, errors="replace",
                           timeout=120)
    if r.returncode != 0:
        return None, "perf sched record failed: " + r.stderr[-200:]
    th = subprocess.run(["perf", "sched", "timehist", "-i", data],
                        capture_output=True, text=True, errors="replace",
                        timeout=120)
    os.unlink(data)
    # "comm[tid/pid]", or "comm[pid]" for a process's first thread.
    exporter = re.compile(r"otelshim-export\[\d+/\d+\]$")
    sink = re.compile(r"sink\[\d+(/\d+)?\]$")
    idle = {}               # cpu -> its recent idle spells, (from, to) in ms
    out = {k: {"max_ms": 0.0, "idle_ms": 0.0, "waits_ms": []}
           for k in ("exporter", "sink")}
    for line in th.stdout.splitlines():
        m = TIMEHIST_RE.match(line)
        if not m:
            continue
        end, cpu, task = float(m.group(1)) * 1e3, m.group(2), m.group(3)
        delay, ran = float(m.group(5)), float(m.group(6))
        if task == "<idle>":
            idle.setdefault(cpu, []).append((end - ran, end))
            del idle[cpu][:-16]
            continue
        w = (out["exporter"] if exporter.match(task) else
             out["sink"] if sink.match(task) else None)
        if w is None:
            continue
        w["waits_ms"].append(delay)
        if delay > w["max_ms"]:
            start = end - ran
            w["max_ms"] = delay
            w["idle_ms"] = sum(max(0.0, min(b, start) -
                                   max(a, start - delay))
                               for a, b in idle.get(cpu, []))
    if not out["exporter"]["waits_ms"]:
        return None, "no exporter thread in perf sched timehist"
    return out, r.stderr


def bench_sqlite(sink):
    sqlite3 = shutil.which("sqlite3")
    if not sqlite3:
        log("sqlite: skipped: no sqlite3")
        return
    tmp = Path(tempfile.mkdtemp(prefix="otelshim-bench-sqlite-"))
    script = tmp / "script.sql"
    n = 100000
    with open(script, "w") as f:
        f.write("BEGIN;\nCREATE TABLE t (id INTEGER PRIMARY KEY, "
                "name TEXT, qty INTEGER);\n")
        for i in range(n - 3):
            f.write("INSERT INTO t (name, qty) VALUES ('item%d', %d);\n"
                    % (i, i % 97))
        f.write("COMMIT;\n")
    db = tmp / "bench.db"
    counts = []

    def once(env):
        db.unlink(missing_ok=True)
        sink0 = sink.cpu()
        with open(script) as f:
            _, err, cpu, dt = run_cpu([sqlite3, str(db)], env, stdin=f)
        m = {"s": dt}
        m.update(cpu_metrics(cpu, sink.cpu() - sink0, n))
        return m, err

    def plain():
        return once(clean_env())[0]

    def shim():
        m, err = once(shim_env(sink.endpoint, "bench-sqlite3",
                               {"OTEL_LOG_LEVEL": "info"}))
        c = summary_counts(err)
        if c:
            counts.append(c)
        return m

    def stacks():
        # The same with a call-site stack taken for every statement's span
        # (OTELSHIM_STACK_THRESHOLD_MS=0): the cost of one capture.
        m, _ = once(shim_env(sink.endpoint, "bench-sqlite3",
                             {"OTELSHIM_STACK_THRESHOLD_MS": "0"}))
        return {"s": m["s"]}

    def least():
        # bench/sqlfloor.c: only what recording a statement at all takes
        # (clock, ids, the text into a ring another thread reads).
        env = clean_env()
        env["LD_PRELOAD"] = str(BIN / "sqlfloor")
        return once(env)[0]

    # Eight rounds, each variant first twice: a run takes a third of a
    # second, and this guest's runs spread by a third.
    res = interleave([("plain", plain), ("shim", shim), ("stacks", stacks),
                      ("least", least)], rounds=max(ROUNDS, 8))
    p, s = summ(res["plain"]["s"]), summ(res["shim"]["s"])
    k = summ(res["stacks"]["s"])
    f = summ(res["least"]["s"])
    per_stack_ns = (k["median"] - s["median"]) / n * 1e9
    row("stack.capture_ns_per_span",
        "call-site stack on every span (sqlite3 run, threshold 0)", "s", s,
        k, round(per_stack_ns, 1), "report", True,
        "added per span against the same run without stacks (stack taken "
        "with libunwind on the application thread, symbolised by the "
        "exporter)")
    ratio = p["median"] / s["median"]
    note = ""
    if counts:
        # Every shim run, not one: a drop in any of them shows.
        c = {k: sum(x[k] for x in counts) for k in counts[0]}
        worst = max(x["dropped_queue_full"] + x["dropped_export_failed"]
                    for x in counts)
        note = ("over %d runs: %d spans recorded, %d exported, %d dropped "
                "(queue full), %d dropped (export failed); at most %d "
                "dropped in one run"
                % (len(counts), c["recorded"], c["exported"],
                   c["dropped_queue_full"], c["dropped_export_failed"],
                   worst))
        EXTRA["sqlite.spans"] = c
        RESULTS["sqlite.spans_exported"] = c["exported"]
        RESULTS["sqlite.spans_dropped"] = (c["dropped_queue_full"] +
                                           c["dropped_export_failed"])
    row("sqlite.throughput_ratio",
        "sqlite3 CLI, %d statements in one transaction" % n, "s", p, s,
        round(ratio, 3), ">= %.2f" % SQLITE_MIN_RATIO,
        ratio >= SQLITE_MIN_RATIO, note)
    row("sqlite.least_recorder_ratio",
        "sqlite3 CLI, %d statements, the least a recorder does per "
        "statement (bench/sqlfloor.c)" % n, "s", p, f,
        round(p["median"] / f["median"], 3), "report", None,
        "two clock reads, three random words, the text into a ring "
        "another thread reads: the floor under the row above; the shim "
        "against it: %.3f" % (f["median"] / s["median"]))
    cpu_row("sqlite.cpu_us_added",
            "sqlite3 CLI: CPU per statement (sqlite3, all threads, + sink)",
            res["plain"]["cpu_us"], res["shim"]["cpu_us"], "statement",
            CPU_US_PER_STATEMENT, cpu_note(res, "statements"))
    cpu_row("sqlite.least_recorder_cpu_us_added",
            "sqlite3 CLI: CPU per statement, the least recorder "
            "(bench/sqlfloor.c, no export)", res["plain"]["cpu_us"],
            res["least"]["cpu_us"], "statement", None,
            "the program's side of the floor under the row above")
    sqlite_waits(sqlite3, script, db, n, s["median"], tmp, sink)
    shutil.rmtree(tmp, ignore_errors=True)


def sqlite_waits(sqlite3, script, db, n, shim_s, tmp, sink):
    """Where the spans the sqlite3 row drops go: the exporter thread's
    longest wait, once woken, for a CPU (and the sink's threads'), against
    how long the default queue lasts at the row's rate (perf sched, a few
    more shim runs)."""
    if not shutil.which("perf"):
        log("sqlite: exporter waits skipped: no perf")
        return
    env = shim_env(sink.endpoint, "bench-sqlite3", {"OTEL_LOG_LEVEL": "info"})
    runs, dropped = [], []
    for _ in range(SCHED_RUNS):
        db.unlink(missing_ok=True)
        w, err = thread_waits([sqlite3, str(db)], env, script, str(tmp))
        if w is None:
            log("sqlite: exporter waits skipped: " + err)
            return
        c = summary_counts(err)
        dropped.append(c["dropped_queue_full"] + c["dropped_export_failed"]
                       if c else 0)
        runs.append(w)
    queue_ms = DEFAULT_QUEUE * shim_s / n * 1e3

    def worst(who):
        w = max((r[who] for r in runs), key=lambda w: w["max_ms"])
        longer = sum(1 for r in runs for d in r[who]["waits_ms"]
                     if d > queue_ms)
        return w, longer, sum(len(r[who]["waits_ms"]) for r in runs)

    e, e_longer, e_all = worst("exporter")
    k, k_longer, k_all = worst("sink")
    EXTRA["sqlite.exporter_waits"] = {"queue_ms": queue_ms, "runs": runs,
                                      "dropped": dropped}
    row("sqlite.exporter_wait_max_ms",
        "sqlite3 CLI: longest wait of the woken exporter thread for a CPU "
        "(perf sched, %d shim runs)" % SCHED_RUNS, "ms", None,
        summ([r["exporter"]["max_ms"] for r in runs]),
        round(e["max_ms"], 2), "report", None,
        "the CPU it then ran on sat idle through %.2f ms of it; the sink's "
        "threads, which answer the exporter: longest %.2f ms, idle through "
        "%.2f; the default queue (%d spans) lasts %.2f ms at the row's rate; "
        "waits longer than that: exporter %d of %d, sink %d of %d; spans "
        "dropped by run: %s"
        % (e["idle_ms"], k["max_ms"], k["idle_ms"], DEFAULT_QUEUE, queue_ms,
           e_longer, e_all, k_longer, k_all,
           ", ".join(str(d) for d in dropped)))


def bench_exporter():
    sink = Sink(cpus="1")
    try:
        env = clean_env()
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        # The bench's own spool: the module lists it, and the user's
        # default one may hold anything.
        env["OTELSHIM_SPOOL_DIR"] = os.path.join(SPOOL_BASE, "spool")
        res = interleave([("shim", lambda: keyvals(run(
            [BIN / "exptput", MODULE, "2"], env).stdout))])
    finally:
        sink.stop()
    s = summ(res["shim"]["spans_per_s"])
    row("exporter.spans_per_s",
        "exporter: encode + send, one core, batches of 512", "spans/s",
        None, s, round(s["median"]), ">= %d spans/s" % EXPORTER_MIN_SPANS_S,
        s["median"] >= EXPORTER_MIN_SPANS_S)


def bench_fork(sink):
    """fork()+_exit()+waitpid, 1000 forks a run, the mean per fork in wall
    and CPU time and the page faults per fork (parent and child), in the
    two cases users meet: a program that recorded spans earlier and then
    forks (its exporter thread idle between exports), against the same
    program untraced; and one that records a span before every fork (the
    exporter busy), against an untraced program that makes the same calls
    and has one idle thread of its own, so that the figure is what the
    library adds and not what glibc charges fork() in any process that
    ever had a second thread (bench/forkcost.c).  The idle case against
    that threaded plain program is reported beside it."""
    def once(env, mode=""):
        return keyvals(run([BIN / "forkcost", "1000"] +
                           ([mode] if mode else []), env).stdout)

    def traced():
        return shim_env(sink.endpoint, "bench-fork",
                        {"OTEL_BSP_SCHEDULE_DELAY": "100"})

    res = interleave([
        ("plain", lambda: once(clean_env())),
        ("plain_thread", lambda: once(clean_env(), "thread")),
        ("plain_busy_thread", lambda: once(clean_env(), "busy,thread")),
        ("shim_idle", lambda: once(traced())),
        ("shim_busy", lambda: once(traced(), "busy")),
    ])
    cases = (
        ("idle", "plain", "shim_idle", "spans recorded earlier, exporter "
         "idle, against plain", "<= 30 us added"),
        ("idle_vs_thread", "plain_thread", "shim_idle", "spans recorded "
         "earlier, against plain with one thread of its own", "report"),
        ("busy", "plain_busy_thread", "shim_busy", "a span before every "
         "fork, exporter busy, against plain with one thread of its own",
         "<= 30 us added"),
    )
    for name, base, traced_name, what, target in cases:
        for key, unit in (("fork_us", "wall"), ("fork_cpu_us", "CPU")):
            p, s = summ(res[base][key]), summ(res[traced_name][key])
            added = s["median"] - p["median"]
            row("fork.%s.%s_added" % (name, key),
                "fork()+_exit()+waitpid, %s (%s time per fork)" % (
                    what, unit), "us", p, s, round(added, 1), target,
                added <= 30 if target != "report" else None)
        faults = {}
        for side in (base, traced_name):
            faults[side] = [a + b for a, b in zip(
                res[side]["fork_faults_parent"],
                res[side]["fork_faults_child"])]
        p, s = summ(faults[base]), summ(faults[traced_name])
        row("fork.%s.faults_added" % name,
            "fork()+_exit()+waitpid, %s (page faults per fork, parent + "
            "child)" % what, "", p, s, round(s["median"] - p["median"], 1),
            "report", None)


def bench_memory(sink):
    secs = "3"

    def mem(env):
        kv = keyvals(run([BIN / "spanload", secs], env).stdout)
        return {"mib": kv["hwm_kib"] / 1024,
                "private_mib": kv["private_kib"] / 1024,
                "vmas": kv["vmas"]}

    res = interleave([
        ("plain", lambda: mem(clean_env())),
        ("shim", lambda: mem(shim_env(sink.endpoint, "bench-memory"))),
    ])
    p, s = summ(res["plain"]["mib"]), summ(res["shim"]["mib"])
    added = s["median"] - p["median"]
    row("memory.rss_added_mib",
        "memory: peak RSS added, spans recorded nonstop, queue 2048",
        "MiB", p, s, round(added, 2), "<= 12 MiB", added <= 12)
    p, s = (summ(res["plain"]["private_mib"]),
            summ(res["shim"]["private_mib"]))
    added = s["median"] - p["median"]
    row("memory.private_added_mib",
        "memory: private added (anonymous or private dirty, "
        "/proc/PID/smaps), same run", "MiB", p, s, round(added, 2),
        "<= 6 MiB", added <= 6)
    p, s = summ(res["plain"]["vmas"]), summ(res["shim"]["vmas"])
    row("memory.vmas_added", "memory: mappings (VMAs) added, same run",
        "", p, s, round(s["median"] - p["median"]), "report", None)

    # A dead backend: an endpoint nobody listens on.  RSS is sampled once a
    # second; growth is the last sample minus the one at 2 s.  The time the
    # program then takes to exit (the final flush) is reported beside it.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % hole.getsockname()[1]
        growth, exit_s = [], []
        for _ in range(2):
            t0 = time.monotonic()
            out = run([BIN / "spanload", "10"],
                      shim_env(dead, "bench-memory-dead")).stdout
            exit_s.append(time.monotonic() - t0 - 10)
            rss = [int(line.split()[2]) for line in out.splitlines()
                   if line.startswith("rss_kib ")]
            growth.append((rss[-1] - rss[1]) / 1024)
    g = summ(growth)
    EXTRA["memory.dead_backend_exit_s"] = exit_s
    row("memory.dead_backend_growth_mib",
        "memory: RSS growth from 2 s to 10 s, dead backend", "MiB", None,
        g, round(g["max"], 2), "flat (<= 1 MiB)", g["max"] <= 1,
        "the program then took %.1f s [%.1f-%.1f] to exit (final flush "
        "against the dead endpoint)" % (statistics.median(exit_s),
                                        min(exit_s), max(exit_s)))


def bench_exit():
    """What a down backend costs a short program at exit: curl fetching
    one page from bench/httpd with the OTLP endpoint refusing (nothing
    listens), hanging (a socket that listens and never accepts, so the
    request is never answered), and spanload after 10 s of spans against
    the refusing one.  What was not sent goes to the spool."""
    srv, port = http_server([str(BIN / "httpd"), "0"], clean_env())
    url = "http://127.0.0.1:%d/" % port
    curl = ["curl", "-s", "-o", "/dev/null", url]

    def timed(env):
        t0 = time.monotonic()
        run(curl, env)
        return {"ms": (time.monotonic() - t0) * 1000}

    try:
        with socket.socket() as hole, socket.socket() as hang:
            hole.bind(("127.0.0.1", 0))
            hang.bind(("127.0.0.1", 0))
            hang.listen(64)
            refused = "http://127.0.0.1:%d" % hole.getsockname()[1]
            hanging = "http://127.0.0.1:%d" % hang.getsockname()[1]
            res = interleave([
                ("plain", lambda: timed(clean_env())),
                ("refused", lambda: timed(shim_env(refused, "bench-exit"))),
                ("hanging", lambda: timed(shim_env(hanging, "bench-exit"))),
            ], rounds=max(ROUNDS, 7))
            p = summ(res["plain"]["ms"])
            for key, target in (("refused", 100), ("hanging", 1000)):
                s = summ(res[key]["ms"])
                added = s["median"] - p["median"]
                row("exit.%s_added_ms" % key,
                    "exit: curl, backend %s" % key, "ms", p, s,
                    round(added, 1), "<= %d ms added" % target,
                    added <= target)
            delays = []
            for _ in range(3):
                t0 = time.monotonic()
                run([BIN / "spanload", "10"],
                    shim_env(refused, "bench-exit-load"))
                delays.append(time.monotonic() - t0 - 10)
    finally:
        stop_server(srv)
    d = summ(delays)
    row("exit.after_dead_load_s",
        "exit: after 10 s of spans, backend refusing", "s", None, d,
        round(d["max"], 3), "<= 1 s", d["max"] <= 1,
        "spanload 10 s run time minus 10 s (its own overshoot included)")


# Fixed sizes of the instruction counts: each figure is the difference
# between two runs, so that start-up and exit cancel.
INSTR_REQUESTS = (2000, 8000)
INSTR_STATEMENTS = (2000, 8000)
# Each shim count is the run with the median total of this many: how
# spans fall into batches depends on timing even under valgrind, and the
# median keeps an odd run out.  Plain counts repeat exactly: one run.
INSTR_RUNS = 3


def callgrind_counts(prefix):
    """Instructions of one callgrind run (--separate-threads=yes), summed
    over its threads: {"app": ..., "exporter": ...}, the exporter being
    the thread that runs exporter_main (pipeline/batch.c)."""
    out = {"app": 0, "exporter": 0}
    files = glob.glob(prefix + ".*-*")
    if not files:
        raise RuntimeError("callgrind wrote no output at " + prefix)
    for path in files:
        with open(path, errors="replace") as f:
            text = f.read()
        total = int(re.search(r"^totals: (\d+)", text, re.M).group(1))
        kind = ("exporter" if re.search(r"^fn=exporter_main$", text, re.M)
                else "app")
        out[kind] += total
    return out


def callgrind_argv(prefix):
    return ["valgrind", "-q", "--tool=callgrind", "--separate-threads=yes",
            "--compress-strings=no", "--callgrind-out-file=%s.%%p" % prefix]


def median_run(runs):
    """runs: [(counts, spans)] of one configuration -> the run whose total
    is the median, and the spread of the totals (max / min)."""
    totals = [c["app"] + c["exporter"] for c, _ in runs]
    order = sorted(range(len(runs)), key=totals.__getitem__)
    return runs[order[len(order) // 2]], max(totals) / min(totals)


def slopes(counts, sizes):
    """Instructions per request or statement, application threads and
    exporter thread: (I(N2) - I(N1)) / (N2 - N1)."""
    n1, n2 = sizes
    return {k: (counts[n2][k] - counts[n1][k]) / (n2 - n1)
            for k in ("app", "exporter")}


def instr_row(key, workload, per, sizes, run_one):
    """run_one(shim, n) -> (counts, spans) of one callgrind run."""
    plain, shim, spans, spread, every = {}, {}, [], 1.0, []
    for n in sizes:
        for variant, into in ((False, plain), (True, shim)):
            runs = [run_one(variant, n)
                    for _ in range(INSTR_RUNS if variant else 1)]
            every.append({"shim": variant, "n": n, "runs": runs})
            (into[n], c), sp = median_run(runs)
            spread = max(spread, sp)
            if variant:
                spans.append(c)
    p, s = slopes(plain, sizes), slopes(shim, sizes)
    p_all, s_all = p["app"] + p["exporter"], s["app"] + s["exporter"]
    added = s_all - p_all
    # A run that recorded no span prints no exit summary.
    exported = (" and ".join("%d of %d" % (c["exported"], c["recorded"])
                             for c in spans) if all(spans) else "no")
    EXTRA[key] = {"sizes": sizes, "plain": plain, "shim": shim,
                  "spans": spans, "runs": every}
    row(key, workload, "instr", summ([p_all]), summ([s_all]), round(added),
        "report", None,
        "added per %s: %+.0f on the application's threads, %+.0f on the "
        "exporter thread; %d and %d %ss, shim: median of %d runs each "
        "(largest max/min of a configuration's totals %.3f), the shim runs "
        "exported %s spans"
        % (per, s["app"] - p["app"], s["exporter"] - p["exporter"],
           sizes[0], sizes[1], per, INSTR_RUNS, spread, exported))


def bench_instr(sink):
    """Instructions (callgrind, user space only, every thread) added per
    request served by bench/httpd.c and per statement run by the sqlite3
    CLI, from runs of two fixed sizes, plain and shim.  The sink, outside
    valgrind, is not counted here."""
    if not shutil.which("valgrind"):
        log("instr: skipped: no valgrind")
        return
    tmp = tempfile.mkdtemp(prefix="otelshim-bench-instr-")
    # Under valgrind the exit flush of the last batch can outlast the
    # default 1 s exit budget; a count is only comparable if every span
    # was encoded and sent, so the budget is a minute here.  And at
    # valgrind's pace a statement now and then lasts longer than the
    # stack threshold (100 ms of wall time): its stack, symbolised once
    # with libdw (about 200M instructions inflating debug sections), would
    # swamp the count, so no stacks.  Valgrind runs one thread at a time
    # and may let the program's thread run on for thousands of spans
    # before the exporter thread gets a turn: a queue that holds the
    # largest run keeps every span (a dropped span would not be encoded,
    # and the count would look cheaper than it is).
    senv = {"OTEL_LOG_LEVEL": "info", "OTELSHIM_EXIT_TIMEOUT": "60000",
            "OTELSHIM_STACK_THRESHOLD_MS": "off",
            "OTEL_BSP_MAX_QUEUE_SIZE": "16384"}
    serial = iter(range(1 << 30))

    def httpd_run(shim, n, extra=None, clients=1):
        # clients > 1: as many keep-alive connections at once, n requests
        # in all, whose requests the server's threads serve in turns.
        env = (shim_env(sink.endpoint, "bench-httpd",
                        dict(senv, **(extra or {}))) if shim
               else clean_env())
        prefix = os.path.join(tmp, "httpd-%d" % next(serial))
        proc = subprocess.Popen(
            callgrind_argv(prefix) + [str(BIN / "httpd"), "0",
                                      str(clients)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, errors="replace")
        try:
            port = int(proc.stdout.readline())
            each = [subprocess.Popen([BIN / "keepalive", str(port),
                                      str(n // clients)], env=clean_env(),
                                     stdout=subprocess.DEVNULL)
                    for _ in range(clients)]
            if any(c.wait(timeout=300) != 0 for c in each):
                raise RuntimeError("keepalive failed")
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError("httpd under callgrind failed: " + err)
        return callgrind_counts(prefix), summary_counts(err)

    instr_row("instr.http_c.added_per_request",
              "instructions per request, C server (callgrind, keep-alive)",
              "request", INSTR_REQUESTS, httpd_run)
    # Four connections at once: consecutive spans are mostly another
    # connection's, whose attributes (the client's port) differ from
    # those of the span before.
    instr_row("instr.http_c4.added_per_request",
              "instructions per request, C server, four keep-alive clients "
              "at once (callgrind)", "request", INSTR_REQUESTS,
              lambda shim, n: httpd_run(shim, n, clients=4))
    # The same requests with every span sampled out (ALWAYS_OFF): each
    # request is still followed and given ids, nothing is written into
    # its record beyond them, and no exporter thread starts.
    instr_row("instr.http_c.sampled_out.added_per_request",
              "instructions per request, C server, sampler always_off "
              "(callgrind)", "request", INSTR_REQUESTS,
              lambda shim, n: httpd_run(
                  shim, n, {"OTEL_TRACES_SAMPLER": "always_off"}))

    sqlite3 = shutil.which("sqlite3")
    if not sqlite3:
        log("instr: sqlite3 skipped: no sqlite3")
        shutil.rmtree(tmp, ignore_errors=True)
        return

    def sqlite_run(shim, n, extra=None):
        env = (shim_env(sink.endpoint, "bench-sqlite3",
                        dict(senv, **(extra or {}))) if shim
               else clean_env())
        script = os.path.join(tmp, "script-%d.sql" % n)
        if not os.path.exists(script):
            with open(script, "w") as f:
                f.write("BEGIN;\nCREATE TABLE t (id INTEGER PRIMARY KEY, "
                        "name TEXT, qty INTEGER);\n")
                for i in range(n - 3):
                    f.write("INSERT INTO t (name, qty) VALUES ('item%d', "
                            "%d);\n" % (i, i % 97))
                f.write("COMMIT;\n")
        db = os.path.join(tmp, "bench.db")
        if os.path.exists(db):
            os.unlink(db)
        prefix = os.path.join(tmp, "sqlite-%d" % next(serial))
        with open(script) as f:
            r = run(callgrind_argv(prefix) + [sqlite3, db], env, stdin=f)
        return callgrind_counts(prefix), summary_counts(r.stderr)

    instr_row("instr.sqlite.added_per_statement",
              "instructions per statement, sqlite3 CLI (callgrind)",
              "statement", INSTR_STATEMENTS, sqlite_run)
    # What a statement costs when the sampler leaves its span out: the
    # statement is still followed, its span is neither filled nor queued
    # (it has no record at all), and no exporter thread starts.
    instr_row("instr.sqlite.sampled_out.added_per_statement",
              "instructions per statement, sqlite3 CLI, sampler "
              "always_off (callgrind)", "statement", INSTR_STATEMENTS,
              lambda shim, n: sqlite_run(
                  shim, n, {"OTEL_TRACES_SAMPLER": "always_off"}))
    instr_pgbench(tmp, senv, sink, serial)
    shutil.rmtree(tmp, ignore_errors=True)


def instr_pgbench(tmp, senv, sink, serial):
    """The instr rows of pgbench -S, simple and prepared: one client,
    one thread, a fixed number of transactions (one SELECT each); the
    server, outside valgrind, is not counted."""
    with pgbench_database("instr: pgbench") as db:
        if not db:
            return
        pgbench, base = db
        for mode in ("simple", "prepared"):
            def pgbench_run(shim, n, mode=mode):
                env = dict(base)
                if shim:
                    env.update(shim_env(sink.endpoint, "bench-pgbench",
                                        senv))
                prefix = os.path.join(tmp, "pgbench-%d" % next(serial))
                r = run(callgrind_argv(prefix) +
                        [pgbench, "-S", "-M", mode, "-c1", "-j1",
                         "-t%d" % n, "-n"], env, timeout=600)
                return callgrind_counts(prefix), summary_counts(r.stderr)

            instr_row("instr.pgbench.%s.added_per_statement" % mode,
                      "instructions per statement, pgbench -S -M %s "
                      "(callgrind)" % mode, "statement", INSTR_STATEMENTS,
                      pgbench_run)


# ------------------------------------------------------------ report

def machine():
    info = {"kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["mem_mib"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    for name, argv in (("node", ["node", "--version"]),
                       ("wrk", ["wrk", "--version"]),
                       ("sqlite3", ["sqlite3", "--version"]),
                       ("pgbench", ["/usr/lib/postgresql/15/bin/pgbench",
                                    "--version"])):
        try:
            r = subprocess.run(argv, capture_output=True, text=True)
            info[name] = (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            pass
    return info


def table():
    lines = []
    head = ("workload", "plain median [min-max]", "shim median [min-max]",
            "ratio / figure", "target", "met")
    rows = [head]
    for r in ROWS:
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        rows.append((r["workload"], fmt_summ(r["plain"], r["unit"]),
                     fmt_summ(r["shim"], r["unit"]), str(r["value"]),
                     r["target"], met))
    widths = [max(len(x[i]) for x in rows) for i in range(len(head))]
    for i, x in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(x, widths))
                     .rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [(r["workload"], r["note"]) for r in ROWS if r["note"]]
    if notes:
        lines.append("")
        lines += ["%s: %s" % n for n in notes]
    return "\n".join(lines)


def markdown():
    """The same table in Markdown, for BENCHMARKS.md."""
    out = ["| workload | plain median [min–max] | shim median [min–max] "
           "| ratio / figure | target | met |",
           "|---|---|---|---|---|---|"]
    for r in ROWS:
        met = {True: "yes", False: "**no**", None: "–"}[r["met"]]
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            r["workload"], fmt_summ(r["plain"], r["unit"]),
            fmt_summ(r["shim"], r["unit"]), r["value"], r["target"], met))
    notes = [(r["workload"], r["note"]) for r in ROWS if r["note"]]
    if notes:
        out.append("")
        out += ["- %s: %s" % n for n in notes]
    return "\n".join(out) + "\n"


def main():
    for p in ("floor", "passthru", "sqlfloor", "tlsfloor", "spawn", "sink",
              "httpd", "exptput", "spanload", "forkcost", "keepalive"):
        if not (BIN / p).exists():
            sys.exit("bench: %s is not built (run bench/run.sh)" % (BIN / p))
    t0 = time.monotonic()
    load_before = os.getloadavg()
    sink = Sink()
    steps = [("floor", bench_floor, False), ("start", bench_start, False),
             ("http", bench_http, True), ("https", bench_https, True),
             ("pgbench", bench_pgbench, True),
             ("sqlite", bench_sqlite, True),
             ("exporter", bench_exporter, False),
             ("memory", bench_memory, True),
             ("fork", bench_fork, True), ("exit", bench_exit, False),
             ("instr", bench_instr, True)]
    try:
        for name, fn, needs_sink in steps:
            if ONLY and name not in ONLY:
                continue
            t = time.monotonic()
            log("== bench %s" % name)
            try:
                fn(sink) if needs_sink else fn()
            except Exception as e:      # one workload failing is reported
                FAILED[name] = str(e)
                log("bench %s FAILED: %s" % (name, e))
            log("   %.0f s" % (time.monotonic() - t))
        sink_stats = sink.stats()
    finally:
        sink.stop()
    wall = time.monotonic() - t0
    out = dict(RESULTS)
    out["meta"] = {"rounds": ROUNDS, "seconds": SECONDS,
                   "wall_s": round(wall), "machine": machine(),
                   "sink": "bench/sink.c (discard-only OTLP/HTTP)",
                   "sink_received": sink_stats,
                   # Anything else running on the machine skews the rows.
                   "loadavg_before": load_before,
                   "loadavg_after": os.getloadavg(),
                   "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime())}
    out["rows"] = ROWS
    out["details"] = EXTRA
    out["failed"] = FAILED
    BIN.mkdir(parents=True, exist_ok=True)
    with open(BIN / "results.json", "w") as f:
        json.dump(out, f, indent=1)
    with open(BIN / "results.md", "w") as f:
        f.write(markdown())
    log("")
    log(table())
    log("")
    for name, err in FAILED.items():
        log("FAILED: %s: %s" % (name, err.splitlines()[0] if err else ""))
    log("rounds %d, wrk -d%ds / pgbench -T%d, %.0f s; results in %s"
        % (ROUNDS, SECONDS, SECONDS, wall, BIN / "results.json"))
    if FAILED:
        sys.exit(1)


if __name__ == "__main__":
    main()
