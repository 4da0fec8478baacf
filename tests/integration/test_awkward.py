"""Programs that do awkward things to the processes and threads we live
in: _exit, SIGTERM, many threads, daemonising double forks, vfork and
posix_spawn children, shell pipelines.  Each keeps working unchanged, and
its spans arrive as far as the promise goes (see README, Reliability)."""

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
import unittest

from harness import (REFUSED_PY, SINK_WAIT_PY, Sink, run_traced,
                     sink_wait_env, traced_env)


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def py(body):
    """python3 -c with refused() (one failed-connect span), sink_has(n)
    and wait_sink(n) (harness.SINK_WAIT_PY) defined."""
    return [sys.executable, "-c",
            REFUSED_PY + SINK_WAIT_PY + textwrap.dedent(body)]


class Awkward(unittest.TestCase):
    def test_underscore_exit_after_the_schedule_delay(self):
        """_exit skips every exit handler: what the exporter sent before
        (after one schedule delay) is all that arrives, and the span
        recorded after it is lost without harm."""
        with Sink() as sink:
            r = run_traced(py("""
                import os
                refused()
                wait_sink(1)
                refused()
                os._exit(3)
            """), sink, **sink_wait_env(sink))
            self.assertEqual(r.returncode, 3)
            self.assertEqual(len(sink.wait_for_spans(1)), 1)

    def test_sigterm_keeps_what_was_exported(self):
        with Sink() as sink:
            p = subprocess.Popen(py("""
                import time
                refused()
                time.sleep(60)
            """), env=traced_env(sink))
            try:
                sink.wait_for_spans(1, timeout=30)
            finally:
                p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), -signal.SIGTERM)
            self.assertEqual(len(sink.spans()), 1)

    def test_64_threads_at_once(self):
        with Sink() as sink:
            r = run_traced(py("""
                import threading
                def work():
                    for _ in range(10):
                        refused()
                ts = [threading.Thread(target=work) for _ in range(64)]
                for t in ts: t.start()
                for t in ts: t.join()
            """), sink)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(640, timeout=60)
        self.assertEqual(len({s["span_id"] for s in spans}), 640)

    def test_daemonising_double_fork(self):
        with Sink() as sink:
            r = run_traced(py("""
                import os, sys, time
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        refused()      # the daemon
                        sys.exit(0)
                    os._exit(0)
                time.sleep(0.1)
            """), sink)
            self.assertEqual(r.returncode, 0)
            spans = sink.wait_for_spans(1)
        self.assertEqual(len(spans), 1)

    def test_vfork_and_posix_spawn_children(self):
        """Python starts children with vfork or posix_spawn; both paths go
        through our exec hooks inside a child sharing our memory."""
        with Sink() as sink:
            r = run_traced(py("""
                import os, subprocess
                refused()
                subprocess.run(["curl", "-s", "http://127.0.0.1:1/"])
                pid = os.posix_spawnp("curl", ["curl", "-s",
                                      "http://127.0.0.1:1/"], os.environ)
                os.waitpid(pid, 0)
                refused()
            """), sink)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(4)
        pids = {s["resource"]["process.pid"] for s in spans}
        self.assertEqual(len(pids), 3)

    def test_shell_pipeline_shares_one_trace(self):
        with Sink() as sink:
            r = run_traced("curl -s http://127.0.0.1:1/ | cat; "
                           "curl -s http://127.0.0.1:1/ 2>&1 | "
                           "sh -c 'cat; curl -s http://127.0.0.1:1/'",
                           sink,
                           TRACEPARENT="00-%s-00f067aa0ba902b7-01" % TRACE_ID)
            spans = sink.wait_for_spans(3)
        self.assertEqual({s["trace_id"] for s in spans}, {TRACE_ID})
        self.assertEqual({s["parent_span_id"] for s in spans},
                         {"00f067aa0ba902b7"})

    def test_programs_that_close_every_descriptor(self):
        """A close loop and close_range (os.closerange) between spans: the
        exporter keeps its socket, later spans still arrive, and files the
        program opens afterwards receive only what it writes."""
        with Sink() as sink:
            r = run_traced(py("""
                import os
                refused()
                wait_sink(1)             # the exporter is connected now
                for fd in range(3, 1024):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                refused()
                wait_sink(2)
                os.closerange(3, 65536)
                files = [os.open("/dev/null", os.O_WRONLY) for _ in range(8)]
                path = "/tmp/otelshim-closeall-%d" % os.getpid()
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
                refused()
                wait_sink(3)             # one more export
                os.write(fd, b"mine")
                print(open(path, "rb").read().decode("latin-1"))
                os.unlink(path)
            """), sink, **sink_wait_env(sink))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "mine")
            spans = sink.wait_for_spans(3)
        self.assertEqual(len(spans), 3)

    # Opens files until EMFILE; prints how many it got and the limit it
    # sees afterwards.  Spans before (so the exporter, the crash handler
    # and libunwind are all up: with "sink", once the receiver has the
    # span; with a number, that many seconds after the exporter thread
    # started) and after (they still go out).
    EXHAUST = """
        import os, resource, sys, time
        soft, hard = int(sys.argv[1]), int(sys.argv[2])
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        def below_limit():
            return {int(f) for f in os.listdir("/proc/self/fd")
                    if int(f) < soft}
        before = below_limit()
        refused()
        if sys.argv[3] == "sink":
            if "OTELSHIM_TEST_SPANS" in os.environ:
                wait_sink(1)
                # The receiver wrote the span before it answered: the
                # export may still hold its connection (the README says
                # it does, at the hard limit), so wait until it is over.
                end = time.monotonic() + 60
                while below_limit() != before and time.monotonic() < end:
                    time.sleep(0.02)
        elif "LD_PRELOAD" in os.environ:
            end = time.monotonic() + 60
            while (len(os.listdir("/proc/self/task")) < 2
                   and time.monotonic() < end):
                time.sleep(0.02)
            time.sleep(float(sys.argv[3]))
        fds = []
        try:
            while True:
                fds.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
        print(len(fds), *resource.getrlimit(resource.RLIMIT_NOFILE))
        for fd in fds:
            os.close(fd)
        refused()
    """

    def exhaust(self, soft, hard, nap, sink, **env):
        # Lowering the hard limit is always allowed; no higher than it is.
        hard = min(hard, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        soft = min(soft, hard)
        prog = py(self.EXHAUST) + [str(soft), str(hard), str(nap)]
        plain = subprocess.run(prog, capture_output=True, text=True)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        if nap == "sink":
            env.update(sink_wait_env(sink))
        r = run_traced(prog, sink, **env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), plain.stdout.split())
        self.assertEqual(r.stdout.split()[1:], [str(soft), str(hard)])

    def test_descriptor_exhaustion_comes_no_sooner(self):
        """Everything the shim keeps open (libunwind's pipe, the backend
        connection, libcurl's socket pair) is numbered above the soft
        limit: a program that opens files until EMFILE gets exactly as
        many with the shim as without, and sees its limit unchanged."""
        with Sink() as sink:
            self.exhaust(64, 4096, "sink", sink)
            self.assertEqual(len(sink.wait_for_spans(2)), 2)

    def test_descriptor_exhaustion_during_an_outage(self):
        """With the backend down the exporter keeps retrying; still not
        one descriptor sooner."""
        with Sink() as sink:
            pass
        self.exhaust(64, 4096, 1.5, sink, OTEL_BSP_EXPORT_TIMEOUT=2000)

    def test_descriptor_exhaustion_at_the_hard_limit(self):
        """A soft limit equal to the hard one leaves no number above it.
        Between exports the exporter holds no descriptor; libunwind's pipe
        (call-site stacks, crash handler) is the one exception, so they
        are off here, as the README says."""
        with Sink() as sink:
            self.exhaust(64, 64, "sink", sink, OTELSHIM_STACK_THRESHOLD_MS="off",
                         OTELSHIM_CRASH_HANDLER="false")
            self.assertEqual(len(sink.wait_for_spans(2)), 2)

    def test_program_blocking_every_signal(self):
        with Sink() as sink:
            r = run_traced(py("""
                import signal
                signal.pthread_sigmask(signal.SIG_BLOCK,
                                       range(1, signal.NSIG))
                refused()
            """), sink)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(sink.wait_for_spans(1)), 1)

    def test_signal_handler_doing_io(self):
        """A signal handler that connects (and so records spans) every
        2 ms while the main thread keeps connecting too."""
        with Sink() as sink:
            r = run_traced(py("""
                import signal, time
                "x".encode("idna")      # no codec import inside a handler
                signal.signal(signal.SIGALRM, lambda *a: refused())
                signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
                end = time.monotonic() + 1.0
                n = 0
                while time.monotonic() < end:
                    refused()
                    n += 1
                signal.signal(signal.SIGALRM, signal.SIG_IGN)
                signal.setitimer(signal.ITIMER_REAL, 0)
                print(n)
            """), sink, OTEL_BSP_MAX_QUEUE_SIZE=100000,
                OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2048)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreater(int(r.stdout), 10)


if __name__ == "__main__":
    unittest.main()
