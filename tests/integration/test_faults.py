"""The program is never hurt by its backend: a dead, hanging, slow,
refusing or untrusted endpoint changes neither the program's results nor
its exit time beyond OTELSHIM_EXIT_TIMEOUT (test_spool.py: what was not
sent waits in the spool), memory stays bounded, and each process reports
its own health."""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer

from harness import (SLACK, Sink, free_port, run_traced, traced_env,
                     Background, tls_receiver)

REFUSE = ["curl", "-sS", "http://127.0.0.1:1/"]


def timed(cmd, sink=None, **env):
    t0 = time.monotonic()
    r = run_traced(cmd, sink, **env)
    return r, time.monotonic() - t0


class BackendFaults(unittest.TestCase):
    def test_unresolvable_endpoint(self):
        r, took = timed(REFUSE, None,
                        OTEL_EXPORTER_OTLP_ENDPOINT="http://no-such-host.invalid:4318",
                        OTEL_BSP_EXPORT_TIMEOUT=1500)
        self.assertEqual(r.returncode, 7)
        self.assertNotIn("otelshim", r.stderr)
        self.assertLess(took, 1.5 + SLACK)

    def test_slow_receiver_still_gets_spans(self):
        with Sink(delay_ms=700) as sink:
            r, took = timed(REFUSE, sink, OTEL_BSP_EXPORT_TIMEOUT=5000)
            self.assertEqual(r.returncode, 7)
            self.assertEqual(len(sink.wait_for_spans(1)), 1)

    def test_429_with_retry_after(self):
        """A running program's export waits out Retry-After and sends
        again (at exit there is one attempt only: test_spool.py)."""
        prog = ("import socket, time\n"
                "try: socket.create_connection(('127.0.0.1', 1))\n"
                "except OSError: pass\n"
                "time.sleep(3)\n")
        with Sink(fail_first=1, status=429, retry_after=1) as sink:
            timed([sys.executable, "-c", prog], sink,
                  OTEL_BSP_EXPORT_TIMEOUT=8000)
            sink.wait_for_spans(1)
            self.assertEqual([q["status_returned"] for q in sink.requests()],
                             [429, 200])

    def test_tls_endpoint_with_untrusted_certificate(self):
        """https verifies certificates by default: a self-signed server
        gets nothing, and the program neither notices nor waits."""
        with tempfile.TemporaryDirectory() as d, \
                tls_receiver(d) as (ep, cert, hits):
            r, took = timed(REFUSE, None, OTEL_EXPORTER_OTLP_ENDPOINT=ep,
                            OTEL_BSP_EXPORT_TIMEOUT=2000)
            self.assertEqual(r.returncode, 7)
            self.assertLess(took, 2.0 + SLACK)
            self.assertEqual(hits, [])
            # Trusting the certificate explicitly makes it work.
            r, took = timed(REFUSE, None, OTEL_EXPORTER_OTLP_ENDPOINT=ep,
                            OTEL_EXPORTER_OTLP_CERTIFICATE=cert,
                            OTEL_BSP_EXPORT_TIMEOUT=20000)
            self.assertEqual(hits, ["/v1/traces"])


class Outage(unittest.TestCase):
    def test_outage_the_ring_can_hold_loses_nothing(self):
        """The backend is down while the program records 40 spans and
        the exporter fails to send them, then comes back: every span
        arrives while the program still runs, exactly once."""
        prog = textwrap.dedent("""
            import json, os, socket, sys, time
            for _ in range(40):
                try:
                    socket.create_connection(("127.0.0.1", 1))
                except OSError:
                    pass
                time.sleep(0.03)
            # Wait until a batch has failed and is kept for a retry (the
            # status file counts them), tell the test, wait for it.
            path = os.path.join(os.environ["OTELSHIM_STATUS_DIR"],
                                "otelshim-%d.json" % os.getpid())
            end = time.monotonic() + 60
            st = {}
            while time.monotonic() < end:
                try:
                    st = json.load(open(path))
                except (OSError, ValueError):
                    pass
                if (st.get("batches_retried", 0) > 0
                        and st["spans"]["recorded"] == 40):
                    break
                time.sleep(0.05)
            print(json.dumps(st), flush=True)
            sys.stdin.read()
        """)
        port = free_port()
        with tempfile.TemporaryDirectory() as d:
            env = traced_env(None, OTELSHIM_STATUS_DIR=d,
                             OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d"
                             % port, OTEL_BSP_EXPORT_TIMEOUT=1000)
            proc = subprocess.Popen([sys.executable, "-c", prog], env=env,
                                    stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
            try:
                st = json.loads(proc.stdout.readline())
                self.assertGreater(st.get("batches_retried", 0), 0, st)
                self.assertEqual(st["spans"]["recorded"], 40, st)
                with Sink(port=port) as sink:
                    sink.wait_for_spans(40, timeout=30)
                    self.assertIsNone(proc.poll())   # delivered while alive
                    proc.stdin.close()
                    self.assertEqual(proc.wait(timeout=30), 0)
                    spans = sink.spans()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
        self.assertEqual(len(spans), 40)
        self.assertEqual(len({s["span_id"] for s in spans}), 40)


class Breaker(unittest.TestCase):
    def test_backs_off_after_repeated_failures_and_recovers(self):
        """Five failed exports in a row open the circuit breaker: the
        receiver hears nothing for the cool-down (5 s) instead of a retry
        every second, then one trial succeeds and every span arrives."""
        prog = textwrap.dedent("""
            import socket, time
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", 1))
                except OSError:
                    pass
                time.sleep(0.1)
            time.sleep(5)
        """)
        # Retry-After (1 s) longer than what is left of the export timeout
        # (300 ms): each failed batch is one request, never retried inside.
        with Sink(fail_first=5, status=503, retry_after=1) as sink:
            p = subprocess.Popen([sys.executable, "-c", prog],
                                 env=traced_env(sink,
                                                OTEL_BSP_SCHEDULE_DELAY=100,
                                                OTEL_BSP_EXPORT_TIMEOUT=300))
            try:
                p.wait(timeout=120)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            spans = sink.wait_for_spans(100, timeout=60)
            reqs = sink.requests()
        statuses = [q["status_returned"] for q in reqs]
        # When the receiver got each request, on its own clock.
        arrivals = [q["at_ms"] / 1000.0 for q in reqs]
        self.assertEqual(statuses[:5], [503] * 5)
        self.assertEqual(statuses[5], 200)
        # The pause after the fifth failure: the breaker's cool-down.
        self.assertGreater(arrivals[5] - arrivals[4], 4.0, arrivals)
        self.assertEqual(len({s["span_id"] for s in spans}), 100)


class SelfReport(unittest.TestCase):
    # Records N failed-connect spans, waits until the status file
    # accounts for every one of them (exported, or dropped after a failed
    # export), then prints it.
    PROG = textwrap.dedent("""
        import json, os, socket, sys, time
        n = int(sys.argv[1])
        for _ in range(n):
            try:
                socket.create_connection(("127.0.0.1", 1))
            except OSError:
                pass
        path = os.path.join(os.environ["OTELSHIM_STATUS_DIR"],
                            "otelshim-%d.json" % os.getpid())
        end = time.monotonic() + 60
        while True:
            try:
                text = open(path).read()
                sp = json.loads(text)["spans"]
                if sp["exported"] + sp["dropped_export_failed"] >= n:
                    break
            except (OSError, ValueError, KeyError):
                pass
            if time.monotonic() > end:
                break
            time.sleep(0.05)
        print(text)
    """)

    def test_status_file_while_running_gone_after(self):
        with Sink() as sink, tempfile.TemporaryDirectory() as d:
            r = run_traced([sys.executable, "-c", self.PROG, "3"],
                           sink, OTELSHIM_STATUS_DIR=d)
            st = json.loads(r.stdout)
            self.assertEqual(st["health"], "healthy")
            self.assertEqual(st["breaker"], "closed")
            self.assertEqual(st["spans"]["recorded"], 3)
            self.assertEqual(st["spans"]["exported"], 3)
            self.assertEqual(glob.glob(os.path.join(d, "*")), [])

    def test_status_degraded_when_exports_fail(self):
        with Sink(status=400) as sink, tempfile.TemporaryDirectory() as d:
            r = run_traced([sys.executable, "-c", self.PROG, "2"],
                           sink, OTELSHIM_STATUS_DIR=d)
            st = json.loads(r.stdout)
        self.assertEqual(st["health"], "degraded")
        self.assertEqual(st["spans"]["dropped_export_failed"], 2)

    def test_status_file_rewritten_at_most_once_a_second(self):
        """Spans flowing for two seconds, a batch every few tens of
        milliseconds: the file changes about once a second, not once a
        batch, and still ends up counting them all."""
        prog = textwrap.dedent("""
            import json, os, socket, time
            path = os.path.join(os.environ["OTELSHIM_STATUS_DIR"],
                                "otelshim-%d.json" % os.getpid())
            versions, n, end = set(), 0, time.monotonic() + 2
            while time.monotonic() < end:
                for _ in range(20):
                    try:
                        socket.create_connection(("127.0.0.1", 1))
                    except OSError:
                        pass
                n += 20
                try:
                    st = os.stat(path)
                    versions.add((st.st_ino, st.st_mtime_ns))
                except OSError:
                    pass
                time.sleep(0.005)
            deadline, sp = time.monotonic() + 10, {}
            while time.monotonic() < deadline:
                try:
                    sp = json.load(open(path))["spans"]
                except (OSError, ValueError):
                    pass
                if sp.get("exported") == n:
                    break
                time.sleep(0.05)
            print(json.dumps({"n": n, "rewrites": len(versions),
                              "spans": sp}))
        """)
        with Sink() as sink, tempfile.TemporaryDirectory() as d:
            r = run_traced([sys.executable, "-c", prog], sink,
                           OTELSHIM_STATUS_DIR=d,
                           OTEL_BSP_MAX_EXPORT_BATCH_SIZE="64")
            out = json.loads(r.stdout)
        self.assertGreater(out["n"] // 64, 20)         # batches
        self.assertLessEqual(out["rewrites"], 5, out)
        self.assertEqual(out["spans"]["recorded"], out["n"], out)
        self.assertEqual(out["spans"]["exported"], out["n"], out)

    def test_summary_at_exit_only_when_asked(self):
        with Sink() as sink:
            r = run_traced(REFUSE, sink)
            self.assertNotIn("otelshim", r.stderr)
            r = run_traced(REFUSE, sink, OTEL_LOG_LEVEL="info")
        self.assertRegex(r.stderr, r"otelshim: pid \d+: spans recorded 1, "
                                   r"exported 1, dropped \(queue full\) 0")

    def test_spans_dropped_by_a_full_queue_are_warned_of(self):
        """Spans a full queue turns away are named at OTEL_LOG_LEVEL=warn
        and above, counted, as they happen and at exit, not only in the
        info summary; at the default level nothing is printed."""
        script = "".join("SELECT %d;\n" % i for i in range(300))
        # Nobody listens there: every export is refused, and with no
        # spool and a queue of 8 the statements after the first few
        # find it full.
        env = dict(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" %
                   free_port(), OTELSHIM_SPOOL_DIR="off",
                   OTEL_BSP_MAX_QUEUE_SIZE=8,
                   OTEL_BSP_MAX_EXPORT_BATCH_SIZE=8)
        r = run_traced(["sqlite3", ":memory:"], None, input=script, **env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("otelshim", r.stderr)
        r = run_traced(["sqlite3", ":memory:"], None, input=script,
                       OTEL_LOG_LEVEL="info", **env)
        self.assertEqual(r.returncode, 0, r.stderr)
        warned = re.findall(r"otelshim: (\d+) (?:more )?spans dropped: "
                            r"the queue was full \(OTEL_BSP_MAX_QUEUE_SIZE"
                            r"=8; ", r.stderr)
        summary = re.search(r"dropped \(queue full\) (\d+)", r.stderr)
        self.assertTrue(warned and summary, r.stderr)
        self.assertGreater(int(summary.group(1)), 0)
        self.assertEqual(sum(map(int, warned)), int(summary.group(1)),
                         r.stderr)


class HostileInput(unittest.TestCase):
    SERVER = textwrap.dedent("""
        import sys
        from http.server import BaseHTTPRequestHandler, HTTPServer
        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *a):
                pass
        HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """)

    def test_invalid_utf8_is_repaired_and_limits_cut(self):
        """Raw bytes that are not UTF-8 in a request path come out as
        valid UTF-8 (Tempo rejects anything else), and
        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT cuts long values."""
        import socket
        port = free_port()
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "spans.jsonl")
            env = dict(OTEL_TRACES_EXPORTER="console",
                       OTELSHIM_CONSOLE_FILE=out,
                       OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=12)
            with Background([sys.executable, "-c", self.SERVER, port], None,
                            **env) as srv:
                from harness import wait_for_port
                wait_for_port(port)
                with socket.create_connection(("127.0.0.1", port)) as c:
                    c.sendall(b"GET /caf\xe9-\xff\xfe-longer-than-twelve"
                              b" HTTP/1.1\r\nHost: x\r\n\r\n")
                    c.recv(1000)
                for _ in range(50):          # one schedule delay or so
                    if os.path.exists(out) and open(out, "rb").read(
                            ).endswith(b"\n"):
                        break
                    time.sleep(0.1)
            with open(out, "rb") as f:
                raw = f.read()
        text = raw.decode("utf-8")          # strict: must be valid
        req = json.loads(text.splitlines()[0])
        span = req["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        attrs = {a["key"]: a["value"] for a in span["attributes"]}
        path = attrs["url.path"]["stringValue"]
        self.assertTrue(path.startswith("/caf\ufffd-\ufffd"), path)
        self.assertLessEqual(len(path), 12)


class Memory(unittest.TestCase):
    def test_rss_plateaus_under_a_dead_backend(self):
        prog = textwrap.dedent("""
            import socket, sys, time
            samples = []
            for _ in range(60):          # 18000 spans: the ring wraps
                for _ in range(300):
                    try:
                        socket.create_connection(("127.0.0.1", 1))
                    except OSError:
                        pass
                rss = [l for l in open("/proc/self/status")
                       if l.startswith("VmRSS")][0].split()[1]
                samples.append(int(rss))
                time.sleep(0.05)
            print(" ".join(map(str, samples)))
        """)
        r = run_traced([sys.executable, "-c", prog], None,
                       OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
                       OTEL_BSP_EXPORT_TIMEOUT=300, OTEL_BSP_SCHEDULE_DELAY=100,
                       timeout=300)
        kb = [int(x) for x in r.stdout.split()]
        self.assertGreater(len(kb), 20)
        half = len(kb) // 2
        # Once the ring has wrapped, memory stops growing: the second half
        # of the run adds well under a ring's worth (2048 x ~2.2 KiB).
        self.assertLess(max(kb[half:]) - max(kb[:half]), 1024, kb)


if __name__ == "__main__":
    unittest.main()
