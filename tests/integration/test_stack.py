"""Call-site stacks and fatal signals on a real program with a known call
chain (examples/callchain.c: main -> handle_request -> load_user -> the
SQLite or socket call).  A slow span's code.stacktrace names those
functions in order and code.function.name is load_user; a stripped copy
degrades to module+offset; a crash inside a request ends the request's
span with an exception event, and the process still dies of the same
signal, with a core dump, as it does without the shim."""

import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from harness import (BUILD, KIND_CLIENT, KIND_SERVER, SINK_WAIT_PY,
                     STATUS_ERROR, Sink, Background, attr, find_spans,
                     lib_built, run_traced, sink_wait_env, traced_env)

EXAMPLE = BUILD / "examples" / "callchain"


def setUpModule():
    if not lib_built() or not EXAMPLE.exists():
        raise unittest.SkipTest("run make all first")


def with_stack(spans):
    return [s for s in spans if "code.stacktrace" in s["attributes"]]


def frame_index(lines, func):
    """Index of the first frame line naming func ("func+0x..."), or -1."""
    for i, line in enumerate(lines):
        if line.startswith(func + "+0x"):
            return i
    return -1


class StackAssertions:
    def assert_chain(self, text):
        lines = text.split("\n")
        idx = [frame_index(lines, f)
               for f in ("load_user", "handle_request", "main")]
        self.assertTrue(all(i >= 0 for i in idx), text)
        self.assertEqual(idx, sorted(idx), text)
        # Innermost first: the program's frame that made the call leads,
        # the shim's own frames are gone.
        self.assertEqual(idx[0], 0, text)
        self.assertNotIn("libotelshim", text)
        self.assertRegex(lines[0], r"^load_user\+0x[0-9a-f]+ \(%s\) at "
                         r"\S*examples/callchain\.c:\d+$"
                         % re.escape(str(EXAMPLE)))


class SlowSpanStack(unittest.TestCase, StackAssertions):
    def run_example(self, mode, exe=EXAMPLE, **env):
        env.setdefault("OTELSHIM_STACK_THRESHOLD_MS", "0")
        with Sink() as sink:
            # Twice: a fast first span may end before the exporter
            # thread, which it starts, has loaded the unwinder.
            r = run_traced([exe, mode, "2"], sink, **env)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(2)
            time.sleep(0.3)
            return sink.spans()

    def check_site(self, s):
        a = s["attributes"]
        self.assertEqual(a.get("code.function.name"), "load_user", a)
        self.assertTrue(a["code.file.path"].endswith(
            "examples/callchain.c"), a)
        self.assertTrue(os.path.isabs(a["code.file.path"]), a)
        self.assertIsInstance(a["code.line.number"], int)
        self.assertGreater(a["code.line.number"], 0)

    def test_sqlite_step_span_names_its_callers(self):
        spans = self.run_example("sqlite")
        sel = find_spans(spans, kind=KIND_CLIENT,
                         attrs={"db.system.name": "sqlite"})
        self.assertTrue(sel, spans)
        stacked = with_stack(sel)
        self.assertTrue(stacked, sel)
        for s in stacked:
            self.assert_chain(s["attributes"]["code.stacktrace"])
            self.check_site(s)

    def test_first_and_only_span_when_slow(self):
        # A one-shot program whose only span is its slow query: the
        # unwinder is loaded while the query runs, so the stack is there.
        with Sink() as sink:
            r = run_traced([EXAMPLE, "slow"], sink,
                           OTELSHIM_STACK_THRESHOLD_MS="50")
            self.assertEqual(r.returncode, 0, r.stderr)
            sink.wait_for_spans(1)
            time.sleep(0.3)
            spans = sink.spans()
        self.assertEqual(len(spans), 1, spans)
        s = spans[0]
        self.assertTrue(attr(s, "db.query.text", "").startswith(
            "WITH RECURSIVE"), s)
        self.assertIn("code.stacktrace", s["attributes"], s)
        self.assert_chain(s["attributes"]["code.stacktrace"])
        self.check_site(s)

    def test_connect_span_names_its_callers(self):
        spans = self.run_example("connect")
        conn = find_spans(spans, name="connect", kind=KIND_CLIENT)
        self.assertEqual(len(conn), 2, spans)
        stacked = with_stack(conn)
        self.assertTrue(stacked, conn)
        for s in stacked:
            text = s["attributes"]["code.stacktrace"]
            self.assert_chain(text)
            self.check_site(s)
            # libc's frames stay in the stack, named.
            self.assertIn("__libc_start_main+0x", text)

    def test_stripped_copy_gives_module_and_offset(self):
        with tempfile.TemporaryDirectory() as d:
            exe = os.path.join(d, "callchain")
            subprocess.run(["strip", "-o", exe, str(EXAMPLE)], check=True)
            spans = self.run_example("connect", exe=exe)
        stacked = with_stack(find_spans(spans, name="connect"))
        self.assertTrue(stacked, spans)
        for s in stacked:
            a = s["attributes"]
            text = a["code.stacktrace"]
            lines = text.split("\n")
            self.assertRegex(lines[0], r"^%s\+0x[0-9a-f]+$"
                             % re.escape(exe))
            self.assertNotIn("load_user", text)
            # The program's innermost frame has no name: no code site
            # rather than a wrong one.
            self.assertNotIn("code.function.name", a)
            self.assertIn("__libc_start_main+0x", text)

    def test_fast_spans_carry_no_stack_by_default(self):
        spans = self.run_example(
            "connect", OTELSHIM_STACK_THRESHOLD_MS=None)
        conn = find_spans(spans, name="connect")
        self.assertEqual(len(conn), 2, spans)
        self.assertEqual(with_stack(conn), [])

    def test_off(self):
        spans = self.run_example("connect",
                                 OTELSHIM_STACK_THRESHOLD_MS="off")
        conn = find_spans(spans, name="connect")
        self.assertEqual(len(conn), 2, spans)
        self.assertEqual(with_stack(conn), [])
        for s in conn:
            self.assertNotIn("code.function.name", s["attributes"])


def wait_listening(bg, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"listening (\d+)", bg.output())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError("callchain serve did not start: %s" % bg.output())


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=30) as r:
            return r.status
    except Exception as e:  # the crash closes the connection
        return e


class Crash(unittest.TestCase, StackAssertions):
    def serve_and_crash(self, sink, **env):
        with Background([EXAMPLE, "serve"], sink, **env) as bg:
            port = wait_listening(bg)
            self.assertEqual(get(port, "/user/1"), 200)
            # The first request's spans started the exporter thread.
            sink.wait_for_spans(lambda s: s["name"] == "GET")
            get(port, "/crash")
            bg.proc.wait(timeout=10)
            return bg.proc.returncode, bg.output()

    def test_crash_in_request_ends_its_span(self):
        with Sink() as sink:
            rc, out = self.serve_and_crash(sink)
            spans = sink.wait_for_spans(
                lambda s: attr(s, "url.path") == "/crash", timeout=30)
        self.assertEqual(rc, -signal.SIGSEGV, out)
        s = find_spans(spans, name="GET", kind=KIND_SERVER,
                       attrs={"url.path": "/crash"})[0]
        self.assertEqual(s["status"]["code"], STATUS_ERROR)
        self.assertIn("Segmentation fault", s["status"]["message"])
        self.assertEqual(s["attributes"]["error.type"], "SIGSEGV")
        ev = [e for e in s["events"] if e["name"] == "exception"]
        self.assertEqual(len(ev), 1, s["events"])
        a = ev[0]["attributes"]
        self.assertEqual(a["exception.type"], "SIGSEGV")
        self.assertIn("address 0x0", a["exception.message"])
        text = a["exception.stacktrace"]
        self.assert_chain(text)
        # The handler's frames and the signal trampoline are cut off.
        self.assertNotIn("__restore_rt", text)
        # The span that was not active (the first request) is untouched.
        first = find_spans(spans, name="GET",
                           attrs={"url.path": "/user/1"})[0]
        self.assertNotEqual(first["status"]["code"], STATUS_ERROR)

    def test_handler_off(self):
        with Sink() as sink:
            rc, out = self.serve_and_crash(sink,
                                           OTELSHIM_CRASH_HANDLER="false")
            time.sleep(1.0)
            spans = sink.spans()
        self.assertEqual(rc, -signal.SIGSEGV, out)
        self.assertEqual(find_spans(spans, attrs={"url.path": "/crash"}), [])

    def run_crash(self, traced, sink, cwd):
        """callchain crash: one refused connect (a span), then SIGSEGV in
        load_user.  Returns the raw wait status."""
        env = traced_env(sink) if traced else dict(os.environ)

        def core_on():
            # As large as this process may make it (raising the hard
            # limit needs a privilege a container may not grant).
            hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        p = subprocess.Popen([str(EXAMPLE), "crash"], env=env, cwd=cwd,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=core_on)
        _, status = os.waitpid(p.pid, 0)
        p.returncode = 0  # reaped above
        return status

    def test_same_exit_status_and_core_dump_as_without_shim(self):
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
        with Sink() as sink, tempfile.TemporaryDirectory() as d1, \
                tempfile.TemporaryDirectory() as d2:
            plain = self.run_crash(False, sink, d1)
            traced = self.run_crash(True, sink, d2)
            spans = sink.wait_for_spans(1)
            cores = (os.listdir(d1), os.listdir(d2))
        self.assertTrue(os.WIFSIGNALED(plain))
        self.assertEqual(os.WTERMSIG(plain), signal.SIGSEGV)
        self.assertEqual(traced, plain)
        self.assertEqual(os.WCOREDUMP(traced), os.WCOREDUMP(plain))
        if not pattern.startswith("|") and os.WCOREDUMP(plain):
            self.assertTrue(cores[0], "no core without the shim")
            self.assertTrue(cores[1], "no core with the shim")
        self.assertTrue(find_spans(spans, name="connect"), spans)

    def test_program_handler_is_left_alone(self):
        """Python's faulthandler installs a SIGSEGV handler before the
        first span: ours must not replace it."""
        # The span reaching the receiver shows that the exporter thread,
        # which installs the crash handler, has started.
        prog = (SINK_WAIT_PY +
                "import faulthandler, socket, time, ctypes\n"
                "faulthandler.enable()\n"
                "s = socket.socket()\n"
                "try:\n"
                "    s.connect(('127.0.0.1', 1))\n"
                "except OSError:\n"
                "    pass\n"
                "wait_sink(1)\n"
                "ctypes.string_at(0)\n")
        with Sink() as sink:
            r = run_traced([sys.executable, "-c", prog], sink,
                           **sink_wait_env(sink))
        self.assertEqual(r.returncode, -signal.SIGSEGV, r.stderr)
        self.assertIn("Fatal Python error: Segmentation fault", r.stderr)


if __name__ == "__main__":
    unittest.main()


class ChainedHandler(unittest.TestCase):
    """A program that sets its own SIGSEGV handler after ours is in
    place: its handler runs (and sees itself installed), its exit status
    is its own, and the crash still flushes the queued spans — which only
    our handler can have done, since the program leaves with _exit and
    the schedule delay is long."""

    def test_program_handler_installed_later_is_chained(self):
        from harness import BUILD, Sink, run_traced
        prog = BUILD / "examples" / "crash_chain"
        for how in ("sigaction", "signal"):
            with Sink() as sink:
                r = run_traced([prog, how], sink,
                               OTEL_BSP_SCHEDULE_DELAY=30000)
                self.assertEqual(r.returncode, 42, r.stderr)
                self.assertIn("sees its own handler: yes", r.stdout)
                self.assertIn("handled by the program", r.stdout)
                spans = sink.wait_for_spans(2)
            self.assertEqual([s["name"] for s in spans], ["connect"] * 2)
