"""One integration run under valgrind's memcheck: the shim inside curl,
recording HTTP and failed-connect spans and exporting them (gzip OTLP to
the receiver, and the file exporter), with no invalid memory access
reported.  libunwind's deliberate probing of addresses is suppressed
(valgrind.supp says why)."""

import os
import shutil
import tempfile
import unittest

from harness import Sink, run_traced

SUPP = os.path.join(os.path.dirname(__file__), "valgrind.supp")


def valgrind(argv):
    return ["valgrind", "--error-exitcode=99", "--errors-for-leak-kinds=none",
            "--suppressions=" + SUPP, "-q"] + argv


class UnderValgrind(unittest.TestCase):
    def setUp(self):
        if not shutil.which("valgrind"):
            raise unittest.SkipTest("valgrind is not installed")

    def test_otlp_export_is_clean(self):
        with Sink() as sink:
            r = run_traced(valgrind(["curl", "-s", "-o", "/dev/null",
                                     sink.endpoint + "/",
                                     "http://127.0.0.1:1/"]), sink,
                           timeout=120, OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
                           OTELSHIM_STACK_THRESHOLD_MS=0)
            self.assertNotEqual(r.returncode, 99, r.stderr)
            self.assertEqual(r.returncode, 7, r.stderr)
            spans = sink.wait_for_spans(2, timeout=30)
        self.assertEqual({s["name"] for s in spans} >= {"GET", "connect"},
                         True, [s["name"] for s in spans])

    def test_file_export_is_clean(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "spans.jsonl")
            r = run_traced(valgrind(["curl", "-s", "http://127.0.0.1:1/"]),
                           None, timeout=120, OTEL_TRACES_EXPORTER="console",
                           OTELSHIM_CONSOLE_FILE=out)
            self.assertEqual(r.returncode, 7, r.stderr)
            with open(out) as f:
                self.assertIn('"connect"', f.read())


if __name__ == "__main__":
    unittest.main()
