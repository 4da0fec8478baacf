"""A backend that is down costs no exit time, and the spans wait on disk.

With the backend refusing or unresolvable a traced program exits about as
fast as untraced, with it hanging within OTELSHIM_EXIT_TIMEOUT; what could
not be sent goes to the spool (OTELSHIM_SPOOL_DIR), and once the backend
is back a later traced process, or `otelshim flush`, delivers every span
exactly once.  A process that execs, or re-execs itself, loses nothing:
the queue goes to the spool before the exec and the new image delivers
it.  The spool directory is 0700, its files 0600, a symlink or another
user's directory is refused, `off` turns it off, and its size bound
evicts the oldest file.  (The numbers themselves are `make bench` rows;
the margins here are generous for a loaded machine.)
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from harness import (BUILD, KIND_CLIENT, Background, Sink, find_spans,
                     free_port, need_programs, run_traced, traced_env,
                     wait_for_port)

TOOL = str(BUILD / "otelshim")

# A traced run may be this much slower than an untraced one with the
# backend refusing (the bound is 100 ms, `make bench` measures it;
# the old exit retried for 1.8-4.8 s).
MARGIN_S = 0.6

# One urllib request, then exec the rest of argv (a program that records
# spans and execs before its queue went out).
URLLIB_THEN_EXEC = (
    "import os, sys, urllib.request\n"
    "urllib.request.urlopen(sys.argv[1]).read()\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n")

# One urllib request per generation, then exec itself (its code is in
# $REEXEC) with one generation fewer.
REEXEC = (
    "import os, sys, urllib.request\n"
    "n = int(sys.argv[2])\n"
    "urllib.request.urlopen(sys.argv[1] + '?gen=%d' % n).read()\n"
    "if n > 1:\n"
    "    os.execv(sys.executable, [sys.executable, '-c',\n"
    "             os.environ['REEXEC'], sys.argv[1], str(n - 1)])\n")


class Target:
    """An untraced HTTP server the traced programs call: each call makes
    one client span."""

    def __enter__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="otelshim-target-")
        self.srv = Background([sys.executable, "-m", "http.server",
                               str(self.port), "--bind", "127.0.0.1"],
                              traced=False, cwd=self.dir).start()
        wait_for_port(self.port)
        self.url = "http://127.0.0.1:%d/" % self.port
        return self

    def __exit__(self, *exc):
        self.srv.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def spool_files(d):
    """The requests waiting in spool directory d."""
    if not os.path.isdir(d):
        return []
    return sorted(f for f in os.listdir(d) if f.endswith(".otlp"))


def timed(argv, env):
    t0 = time.monotonic()
    r = subprocess.run(argv, env=env, capture_output=True, text=True,
                       timeout=60)
    return time.monotonic() - t0, r


def best_of(n, argv, env):
    """The fastest of n runs: what the program costs without the noise of
    a loaded machine."""
    return min(timed(argv, env)[0] for _ in range(n))


def client_ids(spans):
    return [s["span_id"] for s in find_spans(spans, kind=KIND_CLIENT)]


def flush(d, **env):
    return subprocess.run([TOOL, "flush", d], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, **env))


def tmpdir(test):
    d = tempfile.mkdtemp(prefix="otelshim-spooltest-")
    test.addCleanup(shutil.rmtree, d, True)
    return d


class ExitTest(unittest.TestCase):
    """Exit with the backend down: bounded, and nothing lost."""

    def setUp(self):
        need_programs("curl")

    def test_refused_backend_costs_no_exit_time(self):
        """curl with the backend refusing exits within MARGIN_S of
        untraced curl; its spans wait in the spool, 0700 and 0600, and
        `otelshim flush` delivers each once when the backend is back."""
        port = free_port()
        spool = os.path.join(tmpdir(self), "spool")
        with Target() as t:
            argv = ["curl", "-s", "-o", "/dev/null", t.url]
            env = traced_env(None, OTELSHIM_SPOOL_DIR=spool,
                             OTEL_EXPORTER_OTLP_ENDPOINT=
                             "http://127.0.0.1:%d" % port)
            plain = best_of(3, argv, dict(os.environ))
            traced = best_of(3, argv, env)
        self.assertLess(traced - plain, MARGIN_S,
                        "traced %.3f s, plain %.3f s" % (traced, plain))
        files = spool_files(spool)
        self.assertEqual(len(files), 3, files)
        self.assertEqual(stat.S_IMODE(os.stat(spool).st_mode), 0o700)
        for f in files:
            st = os.lstat(os.path.join(spool, f))
            self.assertTrue(stat.S_ISREG(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        with Sink(port=port) as sink:
            r = flush(spool)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("3 requests delivered", r.stdout)
            ids = client_ids(sink.wait_for_spans(3))
            again = flush(spool)
        self.assertEqual(len(ids), 3)
        self.assertEqual(len(set(ids)), 3)
        self.assertIn("0 requests delivered", again.stdout)
        self.assertEqual(spool_files(spool), [])

    def test_unresolvable_backend_costs_no_exit_time(self):
        spool = os.path.join(tmpdir(self), "spool")
        with Target() as t:
            argv = ["curl", "-s", "-o", "/dev/null", t.url]
            env = traced_env(None, OTELSHIM_SPOOL_DIR=spool,
                             OTEL_EXPORTER_OTLP_ENDPOINT=
                             "http://otelshim-no-such-host.invalid:4318")
            plain = best_of(3, argv, dict(os.environ))
            traced = best_of(3, argv, env)
        self.assertLess(traced - plain, MARGIN_S,
                        "traced %.3f s, plain %.3f s" % (traced, plain))
        self.assertEqual(len(spool_files(spool)), 3)

    def test_hanging_backend_bounded_by_exit_timeout(self):
        """A backend that never answers holds exit for at most
        OTELSHIM_EXIT_TIMEOUT (the request's own timeout is 10 s), and
        the spans go to the spool."""
        spool = os.path.join(tmpdir(self), "spool")
        with Sink(hang=True) as sink, Target() as t:
            env = traced_env(sink, OTELSHIM_SPOOL_DIR=spool,
                             OTELSHIM_EXIT_TIMEOUT="700")
            took, r = timed(["curl", "-s", "-o", "/dev/null", t.url], env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreaterEqual(len(sink.wait_for_requests(1)), 1)
        self.assertLess(took, 0.7 + MARGIN_S)
        self.assertEqual(len(spool_files(spool)), 1)

    def test_spool_off(self):
        """OTELSHIM_SPOOL_DIR=off: exit is just as fast, nothing is
        written, not even the default directory."""
        runtime = tmpdir(self)
        port = free_port()
        with Target() as t:
            env = traced_env(None, OTELSHIM_SPOOL_DIR="off",
                             XDG_RUNTIME_DIR=runtime,
                             OTEL_LOG_LEVEL="info",
                             OTEL_EXPORTER_OTLP_ENDPOINT=
                             "http://127.0.0.1:%d" % port)
            took, r = timed(["curl", "-s", "-o", "/dev/null", t.url], env)
        self.assertLess(took, 2.0)
        self.assertEqual(os.listdir(runtime), [])
        self.assertRegex(r.stderr, r"dropped \(export failed\) 1, "
                         r"rejected 0, spooled 0")

    def test_default_dir_is_per_user_under_runtime_dir(self):
        runtime = tmpdir(self)
        port = free_port()
        with Target() as t:
            env = traced_env(None, OTELSHIM_SPOOL_DIR=None,
                             XDG_RUNTIME_DIR=runtime,
                             OTEL_EXPORTER_OTLP_ENDPOINT=
                             "http://127.0.0.1:%d" % port)
            subprocess.run(["curl", "-s", "-o", "/dev/null", t.url],
                           env=env, timeout=30)
        d = os.path.join(runtime, "otelshim-spool")
        self.assertEqual(len(spool_files(d)), 1)
        self.assertEqual(os.stat(d).st_uid, os.geteuid())


class OutageTest(unittest.TestCase):
    """Short-lived processes during an outage: every span arrives, once,
    after the backend returns."""

    N = 50

    def setUp(self):
        need_programs("curl")

    def outage(self, spool, port, t):
        env = traced_env(None, OTELSHIM_SPOOL_DIR=spool,
                         OTEL_EXPORTER_OTLP_ENDPOINT=
                         "http://127.0.0.1:%d" % port)
        for i in range(self.N):
            r = subprocess.run(["curl", "-s", "-o", "/dev/null",
                                t.url + "?i=%d" % i], env=env, timeout=30)
            self.assertEqual(r.returncode, 0)
        self.assertEqual(len(spool_files(spool)), self.N)

    def test_later_process_delivers_everything_once(self):
        port = free_port()
        spool = os.path.join(tmpdir(self), "spool")
        with Target() as t:
            self.outage(spool, port, t)
            with Sink(port=port) as sink:
                # The backend is back: the next traced process's export
                # succeeds and the spool goes with it.
                run_traced(["curl", "-s", "-o", "/dev/null", t.url + "?late"],
                           sink, OTELSHIM_SPOOL_DIR=spool)
                spans = sink.wait_for_spans(self.N + 1, timeout=30)
                self.assertEqual(spool_files(spool), [])
                # One more process: had anything been sent twice, the
                # count would pass N + 2.
                run_traced(["curl", "-s", "-o", "/dev/null", t.url + "?end"],
                           sink, OTELSHIM_SPOOL_DIR=spool)
                spans = sink.wait_for_spans(self.N + 2, timeout=30)
        ids = client_ids(spans)
        self.assertEqual(len(ids), self.N + 2)
        self.assertEqual(len(set(ids)), self.N + 2)

    def test_flush_delivers_everything_once(self):
        port = free_port()
        spool = os.path.join(tmpdir(self), "spool")
        with Target() as t:
            self.outage(spool, port, t)
        with Sink(port=port) as sink:
            r = flush(spool)
            self.assertIn("%d requests delivered" % self.N, r.stdout)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(self.N)
            self.assertIn("0 requests delivered", flush(spool).stdout)
            self.assertEqual(len(sink.requests()), self.N)
        ids = client_ids(spans)
        self.assertEqual(len(ids), self.N)
        self.assertEqual(len(set(ids)), self.N)

    def test_long_outage_spills_instead_of_dropping(self):
        """A running program records four times its queue while the
        backend is down: rather than drop spans, the queue spills to the
        spool; once the backend is back every span arrives, once."""
        n, queue = 400, 100
        prog = ("import socket, sys, time\n"
                "for _ in range(%d):\n"
                "    try: socket.create_connection(('127.0.0.1', 1))\n"
                "    except OSError: pass\n"
                "    time.sleep(0.004)\n"
                "print('recorded', flush=True)\n"
                "sys.stdin.read()\n" % n)
        port = free_port()
        spool = os.path.join(tmpdir(self), "spool")
        env = traced_env(None, OTELSHIM_SPOOL_DIR=spool,
                         OTEL_LOG_LEVEL="info",
                         OTEL_BSP_MAX_QUEUE_SIZE=str(queue),
                         OTEL_BSP_MAX_EXPORT_BATCH_SIZE="50",
                         OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d"
                         % port)
        p = subprocess.Popen([sys.executable, "-c", prog], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "recorded")
            self.assertGreater(len(spool_files(spool)), 0)
            with Sink(port=port) as sink:
                _, err = p.communicate("", timeout=60)
                spans = sink.wait_for_spans(n, timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        ids = [s["span_id"] for s in spans]
        self.assertEqual(len(ids), n)
        self.assertEqual(len(set(ids)), n)
        self.assertIn("dropped (queue full) 0", err)
        self.assertNotRegex(err, r"spooled 0,")

    def test_status_shows_the_spool(self):
        port = free_port()
        spool = os.path.join(tmpdir(self), "spool")
        with Target() as t:
            run_traced(["curl", "-s", "-o", "/dev/null", t.url], None,
                       OTELSHIM_SPOOL_DIR=spool,
                       OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d"
                       % port)
        r = subprocess.run([TOOL, "status", tmpdir(self)],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, OTELSHIM_SPOOL_DIR=spool))
        self.assertRegex(r.stdout, r"spool %s: 1 file, \d+ bytes waiting"
                         % spool)


class ExecTest(unittest.TestCase):
    """exec keeps its spans: the queue goes to the spool, the new image
    delivers it."""

    def test_exec_right_after_a_request(self):
        with Sink() as sink, Target() as t:
            # A schedule delay far longer than the program: only the
            # spool can carry the span across the exec.
            r = run_traced([sys.executable, "-c", URLLIB_THEN_EXEC, t.url,
                            "true"], sink, OTEL_BSP_SCHEDULE_DELAY="30000")
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(1)
        self.assertEqual(len(client_ids(spans)), 1)

    def test_reexec_thirty_times(self):
        n = 30
        with Sink() as sink, Target() as t:
            r = run_traced([sys.executable, "-c", REEXEC, t.url, str(n)],
                           sink, REEXEC=REEXEC,
                           OTEL_BSP_SCHEDULE_DELAY="30000")
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(n, timeout=30)
            ids = client_ids(spans)
        self.assertEqual(len(ids), n)
        self.assertEqual(len(set(ids)), n)


class SafetyTest(unittest.TestCase):
    """The spool directory is ours or nothing."""

    def setUp(self):
        need_programs("curl")

    def run_refused(self, spool, **env):
        port = free_port()
        with Target() as t:
            env.setdefault("OTEL_LOG_LEVEL", "warn")
            e = traced_env(None, OTELSHIM_SPOOL_DIR=spool,
                           OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d"
                           % port, **env)
            took, r = timed(["curl", "-s", "-o", "/dev/null", t.url], e)
        self.assertLess(took, 2.0)
        return r

    def test_symlink_refused(self):
        d = tmpdir(self)
        real = os.path.join(d, "real")
        os.mkdir(real, 0o700)
        link = os.path.join(d, "spool")
        os.symlink(real, link)
        r = self.run_refused(link)
        self.assertEqual(os.listdir(real), [])
        self.assertIn("refused", r.stderr)

    def test_other_owner_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a directory away")
        d = os.path.join(tmpdir(self), "spool")
        os.mkdir(d, 0o700)
        os.chown(d, 65534, 65534)
        r = self.run_refused(d)
        self.assertEqual(os.listdir(d), [])
        self.assertIn("refused", r.stderr)

    def test_writable_by_others_refused(self):
        d = os.path.join(tmpdir(self), "spool")
        os.mkdir(d)
        os.chmod(d, 0o777)
        r = self.run_refused(d)
        self.assertEqual(os.listdir(d), [])
        self.assertIn("refused", r.stderr)

    def test_max_mb_evicts_the_oldest(self):
        """A full spool drops its oldest file for a new one, counted in
        the exit summary."""
        d = os.path.join(tmpdir(self), "spool")
        os.mkdir(d, 0o700)
        url = "http://127.0.0.1:1/v1/traces"
        body = b"otelshim-spool 1\napplication/x-protobuf\n" + \
            url.encode() + b"\n" + b"\0" * (600 << 10)
        for i, name in enumerate(["0000000000000001-0-1-0.otlp",
                                  "0000000000000002-0-1-1.otlp"]):
            with open(os.path.join(d, name), "wb") as f:
                f.write(body)
            os.chmod(os.path.join(d, name), 0o600)
        r = self.run_refused(d, OTELSHIM_SPOOL_MAX_MB="1",
                             OTEL_LOG_LEVEL="info")
        left = spool_files(d)
        self.assertNotIn("0000000000000001-0-1-0.otlp", left)
        self.assertIn("0000000000000002-0-1-1.otlp", left)
        self.assertEqual(len(left), 2, left)
        self.assertRegex(r.stderr, r"spooled 1, spool files evicted 1;")


if __name__ == "__main__":
    unittest.main()
