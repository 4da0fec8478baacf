"""The otelshim command as a user runs it: run (alone and with an
existing LD_PRELOAD), view (a tree per trace, plain when piped), doctor
(finds static and setuid programs, probes the endpoint with OTLP) and
status; and make demo's script end to end."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from harness import BUILD, ROOT, Sink, free_port

TOOL = str(BUILD / "otelshim")


def tool(*args, env=None, **kw):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("OTEL") and k != "LD_PRELOAD"}
    e.update(env or {})
    return subprocess.run([TOOL, *map(str, args)], env=e,
                          capture_output=True, text=True, timeout=60, **kw)


class Tool(unittest.TestCase):
    def test_run_file_and_view(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "spans.jsonl")
            r = tool("run", "--service", "probe", "--file", out, "--",
                     "curl", "-s", "http://127.0.0.1:1/")
            self.assertEqual(r.returncode, 7)
            # An existing LD_PRELOAD is kept, ours appended.
            r = tool("run", "--file", out, "--", "sh", "-c",
                     'echo "$LD_PRELOAD"; curl -s http://127.0.0.1:1/',
                     env={"LD_PRELOAD": "libm.so.6"})
            self.assertEqual(r.stdout.split()[0], "libm.so.6")
            self.assertTrue(r.stdout.split()[1].endswith("libotelshim.so"))
            v = tool("view", out)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertNotIn("\033[", v.stdout)            # piped: no colour
        self.assertEqual(v.stdout.count("trace "), 2)
        self.assertIn("probe", v.stdout)
        self.assertRegex(v.stdout, r"CLIENT connect .*ERROR")

    def test_doctor(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "s.c")
            with open(src, "w") as f:
                f.write("int main(void) { return 0; }\n")
            static = os.path.join(d, "static")
            subprocess.run(["cc", "-static", "-o", static, src], check=True)
            suid = os.path.join(d, "suid")
            shutil.copy("/bin/true", suid)
            os.chmod(suid, 0o4755)
            with Sink() as sink:
                ok = tool("doctor", "sqlite3",
                          env={"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint})
                st = tool("doctor", static)
                su = tool("doctor", suid)
        self.assertIn("accepts OTLP/HTTP", ok.stdout)
        self.assertIn("links libsqlite3: yes", ok.stdout)
        self.assertIn("dynamically linked against glibc", ok.stdout)
        self.assertIn("statically linked", st.stdout)
        self.assertIn("setuid", su.stdout)

    def test_doctor_posts_where_the_library_does(self):
        # A receiver with one route, at an endpoint given without a path
        # (as the default is): doctor passes, and a traced program's
        # spans arrive on the same path.
        with Sink(path="/v1/traces") as sink:
            base = "http://127.0.0.1:%d" % sink.port
            for env in ({"OTEL_EXPORTER_OTLP_ENDPOINT": base},
                        {"OTEL_EXPORTER_OTLP_ENDPOINT": base + "/"},
                        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
                         base + "/v1/traces"}):
                r = tool("doctor", env=env)
                self.assertEqual(r.returncode, 0, r.stdout)
                self.assertIn("posted to %s/v1/traces" % base, r.stdout)
                self.assertIn("accepts OTLP/HTTP", r.stdout)
            r = tool("run", "--endpoint", base, "--", "curl", "-s",
                     "http://127.0.0.1:1/")
            self.assertEqual(r.returncode, 7)
            sink.wait_for_spans(1)
            # A per-signal URL is used as it is: the wrong path fails.
            r = tool("doctor", env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
                                    base + "/v1/logs"})
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("answered an empty OTLP export with 404", r.stdout)
        self.assertIn("1 check failed", r.stdout)

    def test_doctor_at_the_default_endpoint(self):
        # No endpoint set: doctor and the library both use
        # http://localhost:4318/v1/traces, where a receiver with that one
        # route (as Tempo's) listens.
        try:
            sink = Sink(port=4318, path="/v1/traces").start()
        except Exception as e:      # the port is taken on this machine
            self.skipTest("port 4318 is not free: %s" % e)
        try:
            r = tool("doctor")
        finally:
            sink.stop()
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("posted to http://localhost:4318/v1/traces (the "
                      "default endpoint)", r.stdout)
        self.assertIn("accepts OTLP/HTTP", r.stdout)

    def test_doctor_exit_status(self):
        port = free_port()
        r = tool("doctor", env={"OTEL_EXPORTER_OTLP_ENDPOINT":
                                "http://127.0.0.1:%d" % port})
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("accepts no connection", r.stdout)
        r = tool("doctor", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://x"})
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("not an http:// or https:// URL", r.stdout)
        with Sink() as sink:
            env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
            self.assertEqual(tool("doctor", "true", env=env).returncode, 0)
            env["OTEL_SDK_DISABLED"] = "true"
            r = tool("doctor", env=env)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(tool("doctor", "a", "b").returncode, 2)

    def test_help_and_version(self):
        r = tool("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^otelshim \d+\.\d+\.\d+\n$")
        r = tool("help")
        self.assertEqual(r.returncode, 0)
        for name in ("run", "view", "doctor", "status"):
            self.assertIn("otelshim %s " % name, r.stdout)
            for form in (("help", name), (name, "--help"), (name, "-h")):
                h = tool(*form)
                self.assertEqual(h.returncode, 0, form)
                self.assertTrue(h.stdout.startswith(
                    "usage: otelshim %s" % name), h.stdout)
        # After "--" the words are the program's.
        r = tool("run", "--", "sh", "-c", 'echo "$1"', "sh", "--help")
        self.assertEqual(r.stdout, "--help\n")
        for bad in (("frob",), ("help", "frob"), ()):
            r = tool(*bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("usage: otelshim", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_run_refuses_bad_arguments_before_running(self):
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, "ran")
            cmd = ["--", "touch", marker]
            cases = [
                (["--endpoint"] + cmd, "--endpoint needs a value"),
                (["--endpoint", "ftp://x"] + cmd, "not an http://"),
                (["--service"], "--service needs a value"),
                (["--file", "/nonexistent/dir/x.jsonl"] + cmd,
                 "/nonexistent/dir/x.jsonl: No such file or directory"),
                (["--colour", "x"] + cmd, "unknown option --colour"),
                (["--service", "x"], "no program to run"),
            ]
            for args, said in cases:
                r = tool("run", *args)
                self.assertEqual(r.returncode, 2, args)
                self.assertIn(said, r.stderr, args)
                self.assertFalse(os.path.exists(marker), args)

    def test_view_bad_input(self):
        span = ('{"traceId":"%s","spanId":"%s","name":"%s",'
                '"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}')
        good = ('{"resourceSpans":[{"scopeSpans":[{"spans":[%s,%s]}]}]}' %
                (span % ("a" * 32, "1" * 16, "ok", 10**18, 10**18 + 2500000),
                 span % ("a" * 32, "2" * 16, "backwards", 10**18 + 9,
                         10**18)))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "spans.jsonl")
            with open(path, "w") as f:
                f.write(good + "\n" + good[:40])      # truncated last line
            r = tool("view", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("1 line not OTLP/JSON", r.stderr)
            self.assertIn("2.500 ms", r.stdout)
            line = [l for l in r.stdout.splitlines() if "backwards" in l][0]
            self.assertIn("? ms", line)
            self.assertNotRegex(r.stdout, r"\d{7,}\.\d+ ms")
            r = tool("view", "-", input=good + "\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("trace " + "a" * 32, r.stdout)
            r = tool("view", os.path.join(d, "missing"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("No such file", r.stderr)
            r = tool("view", "-", input="not json\n")
            self.assertEqual(r.returncode, 1)

    def test_status(self):
        with tempfile.TemporaryDirectory() as d, Sink() as sink:
            env = dict(os.environ, OTELSHIM_STATUS_DIR=d,
                       OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
                       OTEL_BSP_SCHEDULE_DELAY="100")
            # The program runs until the test closes its stdin.
            p = subprocess.Popen([TOOL, "run", "--", sys.executable, "-c",
                                  "import socket, sys\n"
                                  "try: socket.create_connection(('127.0.0.1', 1))\n"
                                  "except OSError: pass\n"
                                  "sys.stdin.read()\n"], env=env,
                                 stdin=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 30
                while True:
                    r = tool("status", d)
                    if "healthy" in r.stdout or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            finally:
                p.stdin.close()
                p.wait(timeout=30)
        self.assertIn(str(p.pid), r.stdout)
        self.assertIn("healthy", r.stdout)

    def test_demo_script(self):
        r = subprocess.run([str(ROOT / "tools" / "demo.sh")],
                           capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items()
                                if not k.startswith("OTEL")})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"curl +CLIENT POST")
        self.assertRegex(r.stdout, r"notes +SERVER +POST")
        self.assertRegex(r.stdout, r"notes +CLIENT +INSERT notes")


if __name__ == "__main__":
    unittest.main()
