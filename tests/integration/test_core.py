"""The core pipeline on real programs: a failed connect from an unmodified
curl arrives at the independent receiver as one error span with the right
ids, times, kind, status, attributes and resource; configuration switches
it off; fork, exit and a hanging backend behave."""

import os
import re
import subprocess
import sys
import textwrap
import time
import unittest

from harness import (LIB, KIND_CLIENT, REFUSED_PY, SLACK, STATUS_ERROR,
                     Sink, find_spans, run_traced, traced_env, attr)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


def curl_refused(sink, **env):
    """curl to a closed port on loopback: exit status 7."""
    r = run_traced(["curl", "-sS", "http://127.0.0.1:1/"], sink, **env)
    assert r.returncode == 7, r.stderr
    return r


class ConnectFailureSpan(unittest.TestCase):
    def test_curl_refused_gives_one_error_span(self):
        with Sink() as sink:
            t0 = time.time_ns()
            r = curl_refused(sink, OTEL_SERVICE_NAME="curl-test",
                             OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=ci,team=a%2Cb")
            t1 = time.time_ns()
            spans = sink.wait_for_spans(1)
            time.sleep(0.3)
            spans = sink.spans()
        self.assertEqual(r.stderr.count("otelshim"), 0, r.stderr)
        self.assertEqual(len(spans), 1, spans)
        s = spans[0]
        self.assertEqual(s["name"], "connect")
        self.assertEqual(s["kind"], KIND_CLIENT)
        self.assertEqual(s["status"]["code"], STATUS_ERROR)
        self.assertTrue(s["status"]["message"])
        self.assertRegex(s["trace_id"], "^[0-9a-f]{32}$")
        self.assertNotEqual(s["trace_id"], "0" * 32)
        self.assertRegex(s["span_id"], "^[0-9a-f]{16}$")
        self.assertEqual(s["parent_span_id"], "")
        start, end = int(s["start_time_unix_nano"]), int(s["end_time_unix_nano"])
        self.assertLessEqual(t0, start)
        self.assertLessEqual(start, end)
        self.assertLessEqual(end, t1)
        a = s["attributes"]
        self.assertEqual(a["server.address"], "127.0.0.1")
        self.assertEqual(a["server.port"], 1)
        self.assertEqual(a["network.peer.address"], "127.0.0.1")
        self.assertEqual(a["network.transport"], "tcp")
        self.assertEqual(a["error.type"], "ECONNREFUSED")
        res = s["resource"]
        self.assertEqual(res["service.name"], "curl-test")
        self.assertEqual(res["telemetry.sdk.name"], "otelshim")
        self.assertIn("telemetry.sdk.version", res)
        self.assertIn("telemetry.sdk.language", res)
        self.assertEqual(res["process.executable.name"], "curl")
        self.assertTrue(res["process.executable.path"].endswith("/curl"))
        self.assertEqual(res["process.command_args"],
                         ["curl", "-sS", "http://127.0.0.1:1/"])
        self.assertIsInstance(res["process.pid"], int)
        self.assertEqual(res["os.type"], "linux")
        self.assertIn("host.name", res)
        self.assertIn("host.arch", res)
        self.assertRegex(res["service.instance.id"],
                         "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(res["deployment.environment.name"], "ci")
        self.assertEqual(res["team"], "a,b")
        self.assertEqual(s["scope"]["name"], "otelshim")
        self.assertEqual(s["request"]["content_type"], "application/x-protobuf")

    def test_default_service_name(self):
        with Sink() as sink:
            curl_refused(sink)
            s = sink.wait_for_spans(1)[0]
        self.assertEqual(s["resource"]["service.name"], "unknown_service:curl")

    def test_nonblocking_connect_failure_seen_through_so_error(self):
        """Python's non-blocking connect: EINPROGRESS, then poll, then
        getsockopt(SO_ERROR) reports the refusal."""
        prog = textwrap.dedent("""
            import select, socket
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", 1))
            except BlockingIOError:
                pass
            select.select([], [s], [], 5)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            print(err)
        """)
        with Sink() as sink:
            r = run_traced([sys.executable, "-c", prog], sink)
            self.assertEqual(r.stdout.strip(), "111", r.stderr)
            spans = sink.wait_for_spans(1)
        self.assertEqual(len(spans), 1)
        self.assertEqual(attr(spans[0], "error.type"), "ECONNREFUSED")

    def test_successful_connection_gives_no_span(self):
        with Sink() as sink:
            r = run_traced(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            sink.endpoint + "/v1/traces"], sink)
            self.assertRegex(r.stdout, "^[1-5][0-9][0-9]$")
            time.sleep(0.8)
            self.assertEqual(find_spans(sink.spans(), name="connect"), [])

    def test_traceparent_environment_is_the_parent(self):
        with Sink() as sink:
            curl_refused(sink, TRACEPARENT="00-%s-%s-01" % (TRACE_ID, PARENT_ID),
                         TRACESTATE="vendor=abc")
            s = sink.wait_for_spans(1)[0]
        self.assertEqual(s["trace_id"], TRACE_ID)
        self.assertEqual(s["parent_span_id"], PARENT_ID)
        self.assertEqual(s["trace_state"], "vendor=abc")
        # flags: sampled, plus "we know whether the parent is remote" and
        # "it is remote".
        self.assertEqual(s["flags"], 0x301)

    def test_unsampled_parent_exports_nothing(self):
        with Sink() as sink:
            curl_refused(sink, TRACEPARENT="00-%s-%s-00" % (TRACE_ID, PARENT_ID))
            time.sleep(0.8)
            self.assertEqual(sink.spans(), [])

    def test_exec_chain_keeps_the_trace(self):
        """A shell that execs curl: the environment carrier passes on."""
        with Sink() as sink:
            r = run_traced("sh -c 'curl -s http://127.0.0.1:1/'; true", sink,
                           TRACEPARENT="00-%s-%s-01" % (TRACE_ID, PARENT_ID))
            s = sink.wait_for_spans(1)[0]
        self.assertEqual(s["trace_id"], TRACE_ID)


class Configuration(unittest.TestCase):
    def test_sdk_disabled_gives_nothing(self):
        with Sink() as sink:
            curl_refused(sink, OTEL_SDK_DISABLED="true")
            curl_refused(sink, OTEL_TRACES_SAMPLER="always_off")
            curl_refused(sink, OTEL_TRACES_EXPORTER="none")
            time.sleep(0.8)
            self.assertEqual(sink.spans(), [])

    def test_invalid_value_warns_once_and_still_works(self):
        with Sink() as sink:
            r = curl_refused(sink, OTEL_BSP_MAX_QUEUE_SIZE="lots")
            sink.wait_for_spans(1)
        lines = [l for l in r.stderr.splitlines() if l.startswith("otelshim:")]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("OTEL_BSP_MAX_QUEUE_SIZE", lines[0])
        r = curl_refused(None, OTEL_BSP_MAX_QUEUE_SIZE="lots",
                         OTEL_LOG_LEVEL="none", OTEL_TRACES_EXPORTER="none")
        self.assertNotIn("otelshim", r.stderr)

    def test_gzip_and_plain_arrive_intact(self):
        for comp in ("gzip", "none"):
            with Sink() as sink:
                curl_refused(sink, OTEL_EXPORTER_OTLP_COMPRESSION=comp,
                             OTEL_SERVICE_NAME="c-" + comp)
                s = sink.wait_for_spans(1)[0]
                self.assertEqual(s["resource"]["service.name"], "c-" + comp)
                self.assertEqual(attr(s, "error.type"), "ECONNREFUSED")
                enc = s["request"].get("content_encoding") or ""
                self.assertEqual(enc, "gzip" if comp == "gzip" else "")

    def test_json_protocol(self):
        with Sink() as sink:
            curl_refused(sink, OTEL_EXPORTER_OTLP_PROTOCOL="http/json")
            s = sink.wait_for_spans(1)[0]
        self.assertEqual(s["request"]["content_type"], "application/json")
        self.assertEqual(attr(s, "server.port"), 1)

    def test_traces_endpoint_and_headers(self):
        with Sink() as sink:
            curl_refused(sink, OTEL_EXPORTER_OTLP_ENDPOINT=None,
                         OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=sink.endpoint + "/custom/path",
                         OTEL_EXPORTER_OTLP_HEADERS="x-scope-orgid=tenant1,authorization=Bearer%20s3cret")
            s = sink.wait_for_spans(1)[0]
        self.assertEqual(s["request"]["path"], "/custom/path")
        self.assertEqual(s["request"]["headers"]["x-scope-orgid"], "tenant1")
        self.assertEqual(s["request"]["headers"]["authorization"], "Bearer s3cret")
        self.assertTrue(s["request"]["user_agent"].startswith("OTel-OTLP-Exporter-"))

    def test_console_exporter_to_file(self):
        import json, tempfile
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "spans.jsonl")
            curl_refused(None, OTEL_TRACES_EXPORTER="console",
                         OTELSHIM_CONSOLE_FILE=out)
            curl_refused(None, OTEL_TRACES_EXPORTER="console",
                         OTELSHIM_CONSOLE_FILE=out)
            with open(out) as f:
                lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        for line in lines:
            req = json.loads(line)
            span = req["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
            self.assertEqual(span["name"], "connect")
            self.assertRegex(span["traceId"], "^[0-9a-f]{32}$")

    def test_console_exporter_to_stderr(self):
        r = curl_refused(None, OTEL_TRACES_EXPORTER="console")
        self.assertIn('"resourceSpans"', r.stderr)


class Lifecycle(unittest.TestCase):
    def test_idle_process_starts_no_thread_and_loads_nothing(self):
        prog = ("import os\n"
                "maps = open('/proc/self/maps').read()\n"
                "print(os.listdir('/proc/self/task').__len__(),"
                " 'otelshim-exporter' in maps, 'libcurl' in maps,"
                " 'libotelshim' in maps)\n")
        with Sink() as sink:
            r = run_traced([sys.executable, "-c", prog], sink)
        self.assertEqual(r.stdout.split(), ["1", "False", "False", "True"])

    def test_exporter_thread_never_preempts_the_program(self):
        """The exporter thread runs SCHED_BATCH (policy 3 in
        /proc/PID/task/TID/stat); the program's thread keeps its own."""
        prog = textwrap.dedent("""
            import os, socket, time
            try:
                socket.create_connection(("127.0.0.1", 1))
            except OSError:
                pass
            def policies():
                out = []
                for tid in sorted(os.listdir("/proc/self/task"), key=int):
                    stat = open("/proc/self/task/%s/stat" % tid).read()
                    out.append(stat.rsplit(")", 1)[1].split()[38])
                return out
            # The thread sets its policy as it starts.
            end = time.monotonic() + 10
            while policies() != ["0", "3"] and time.monotonic() < end:
                time.sleep(0.01)
            print(" ".join(policies()))
        """)
        with Sink() as sink:
            r = run_traced([sys.executable, "-c", prog], sink)
        self.assertEqual(r.stdout.split(), ["0", "3"])

    def test_exporter_thread_is_named_and_the_program_keeps_its_name(self):
        prog = REFUSED_PY + textwrap.dedent("""
            import os, time
            refused()
            def names():
                return [open("/proc/self/task/%s/comm" % tid).read().strip()
                        for tid in sorted(os.listdir("/proc/self/task"),
                                          key=int)]
            # The thread names itself as it starts.
            end = time.monotonic() + 10
            while ("otelshim-export" not in names() and
                   time.monotonic() < end):
                time.sleep(0.01)
            print(" ".join(names()))
        """)
        with Sink() as sink:
            r = run_traced([sys.executable, "-c", prog], sink)
        self.assertEqual(r.stdout.split(),
                         [os.path.basename(sys.executable)[:15],
                          "otelshim-export"])

    def test_late_exporter_is_hurried_then_settles(self):
        """Spans pile up behind a slow backend: the thread that finds the
        queue half full puts the exporter thread on the normal policy
        (0); a second after the queue has emptied it is back on
        SCHED_BATCH (3)."""
        prog = REFUSED_PY + textwrap.dedent("""
            import os, time
            def exporter_policy():
                tids = sorted(os.listdir("/proc/self/task"), key=int)[1:]
                stat = open("/proc/self/task/%s/stat" % tids[0]).read()
                return stat.rsplit(")", 1)[1].split()[38]
            def wait_for(policy, seconds):
                end = time.monotonic() + seconds
                while exporter_policy() != policy and \
                        time.monotonic() < end:
                    time.sleep(0.02)
                return exporter_policy()
            refused()                 # starts the exporter thread
            seen = [wait_for("3", 10)]
            time.sleep(0.3)           # its export is held by the sink
            for i in range(40):       # queue 64: more than half
                refused()
            seen.append(exporter_policy())
            seen.append(wait_for("3", 15))
            print(" ".join(seen))
        """)
        with Sink(delay_ms=1500) as sink:
            r = run_traced([sys.executable, "-c", prog], sink, timeout=60,
                           OTEL_BSP_MAX_QUEUE_SIZE="64",
                           OTEL_BSP_SCHEDULE_DELAY="100")
            sink.wait_for_spans(41)
        self.assertEqual(r.stdout.split(), ["3", "0", "3"], r.stderr)

    def test_exports_only_interposed_symbols(self):
        out = subprocess.run(["nm", "-D", "--defined-only", str(LIB)],
                             capture_output=True, text=True, check=True).stdout
        names = {l.split()[-1] for l in out.splitlines() if l.strip()}
        # Every HOOK row of every hook table (hooks.def, pq.def, ...);
        # CALL rows are functions the library only calls.
        import glob
        hooks = set()
        for table in glob.glob(os.path.join(os.path.dirname(__file__),
                                            "../../shim/*.def")):
            hooks |= set(re.findall(r"^HOOK\([^,]*, *(\w+),",
                                    open(table).read(), re.M))
        self.assertIn("PQexec", hooks)
        self.assertIn("sqlite3_step", hooks)
        self.assertEqual(names, hooks)

    def test_fork_children_export_their_own_spans_once(self):
        prog = REFUSED_PY + textwrap.dedent("""
            import os, sys
            refused()            # the parent's span, still queued at fork
            pids = []
            for i in range(20):
                pid = os.fork()
                if pid == 0:
                    refused()
                    sys.exit(0)
                pids.append(pid)
            for p in pids:
                os.waitpid(p, 0)
        """)
        with Sink() as sink:
            r = run_traced([sys.executable, "-c", prog], sink,
                           OTEL_BSP_SCHEDULE_DELAY=5000)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(21, timeout=60)
            time.sleep(0.5)
            spans = sink.spans()
        self.assertEqual(len(spans), 21)
        self.assertEqual(len({s["span_id"] for s in spans}), 21)
        self.assertEqual(len({s["trace_id"] for s in spans}), 21)
        self.assertEqual(len({s["resource"]["process.pid"] for s in spans}), 21)

    def test_fork_after_fork_each_generation_exports_its_own(self):
        """fork() hands a child the exporter's state zeroed and leaves the
        ring out: a child that started its own exporter and forks again
        hands its child the same clean start, and the parent's spans
        recorded after the forks still go out."""
        prog = REFUSED_PY + textwrap.dedent("""
            import os, sys
            refused()
            pid = os.fork()
            if pid == 0:
                refused()
                grand = os.fork()
                if grand == 0:
                    refused()
                    sys.exit(0)
                os.waitpid(grand, 0)
                refused()
                sys.exit(0)
            os.waitpid(pid, 0)
            refused()
        """)
        with Sink() as sink:
            r = run_traced([sys.executable, "-c", prog], sink,
                           OTEL_BSP_SCHEDULE_DELAY=100)
            self.assertEqual(r.returncode, 0, r.stderr)
            sink.wait_for_spans(5, timeout=60)
            time.sleep(0.5)
            spans = sink.spans()
        self.assertEqual(len(spans), 5)
        self.assertEqual(len({s["span_id"] for s in spans}), 5)
        by_pid = {}
        for s in spans:
            pid = s["resource"]["process.pid"]
            by_pid[pid] = by_pid.get(pid, 0) + 1
        self.assertEqual(sorted(by_pid.values()), [1, 2, 2])

    def test_hanging_backend_does_not_hold_exit(self):
        with Sink(hang=True) as sink:
            t0 = time.monotonic()
            curl_refused(sink, OTEL_BSP_EXPORT_TIMEOUT=1500,
                         OTEL_BSP_SCHEDULE_DELAY=5000)
            took = time.monotonic() - t0
        self.assertLess(took, 1.5 + SLACK)

    def test_dead_backend_does_not_hold_exit(self):
        with Sink() as sink:
            endpoint = sink.endpoint
        t0 = time.monotonic()
        r = run_traced(["curl", "-s", "http://127.0.0.1:1/"], None,
                       OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                       OTEL_BSP_EXPORT_TIMEOUT=1000)
        self.assertEqual(r.returncode, 7)
        self.assertLess(time.monotonic() - t0, 1.0 + SLACK)

    def test_503_is_retried_and_delivered_once(self):
        """A running program's export is retried after a 503 (at exit
        there is one attempt only, then the spool: test_spool.py)."""
        prog = ("import socket, time\n"
                "try: socket.create_connection(('127.0.0.1', 1))\n"
                "except OSError: pass\n"
                "time.sleep(4)\n")
        with Sink(fail_first=2, status=503, retry_after=0) as sink:
            run_traced([sys.executable, "-c", prog], sink,
                       OTEL_BSP_EXPORT_TIMEOUT=10000)
            spans = sink.wait_for_spans(1)
            time.sleep(0.3)
            self.assertEqual(len(sink.spans()), 1)
            statuses = [r["status_returned"] for r in sink.requests()]
        self.assertEqual(statuses, [503, 503, 200])

    def test_400_is_not_retried(self):
        with Sink(status=400) as sink:
            curl_refused(sink, OTEL_BSP_EXPORT_TIMEOUT=5000)
            sink.wait_for_requests(1)
            time.sleep(0.5)
            self.assertEqual(len(sink.requests()), 1)
            self.assertEqual(sink.spans(), [])

    def test_existing_ld_preload_is_kept(self):
        with Sink() as sink:
            env = traced_env(sink)
            env["LD_PRELOAD"] = "libm.so.6 " + env["LD_PRELOAD"]
            r = subprocess.run(["curl", "-s", "http://127.0.0.1:1/"], env=env,
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 7)
            sink.wait_for_spans(1)


if __name__ == "__main__":
    unittest.main()
