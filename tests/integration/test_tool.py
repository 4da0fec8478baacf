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

from harness import BUILD, ROOT, Sink

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
