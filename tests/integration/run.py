#!/usr/bin/env python3
"""Runs the integration tests: every tests/integration/test_*.py module,
with unittest.  Arguments filter what runs: a module name (test_sink), a
class or test name, or a dotted part of a test id
(test_sink.SinkDecodeTest.test_gzip).
The skipped tests are listed with their reasons before the last line,
"N passed, N failed" (", N skipped" when any);
the exit status is 1 when a test failed or errored, or none ran.
"""

import sys
import time
import unittest
from pathlib import Path

# Test modules are imported from the source tree: keep it free of caches.
sys.dont_write_bytecode = True

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def test_name(test):
    """module.Class.test for a test; module.Class for a class whose
    setUpClass skipped (unittest reports it as an _ErrorHolder named
    "setUpClass (module.Class)")."""
    tid = test.id()
    if tid.startswith("setUpClass (") and tid.endswith(")"):
        return tid[len("setUpClass ("):-1] + " (whole class)"
    return tid


def selected(test, filters):
    """A test runs when no filter is given, or when a filter names its
    module, its class or its method, or is a dotted prefix or suffix of its
    id (test_sink.SinkFaultTest, SinkFaultTest.test_hang)."""
    if not filters:
        return True
    tid = test.id()
    parts = tid.split(".")
    for f in filters:
        f = f[:-3] if f.endswith(".py") else f
        f = Path(f).name if "/" in f else f
        if (f in parts or tid.startswith(f + ".")
                or tid.endswith("." + f) or tid == f):
            return True
    return False


class TimedResult(unittest.TextTestResult):
    """Also keeps how long each test took, for the slowest-tests list that
    shows where the suite's time goes."""

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.durations.append((time.monotonic() - self._started,
                               test_name(test)))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.durations = []


def main(argv):
    filters = argv[1:]
    loader = unittest.TestLoader()
    suite = loader.discover(str(HERE), pattern="test_*.py",
                            top_level_dir=str(HERE))
    tests = [t for t in iter_tests(suite) if selected(t, filters)]
    if not tests:
        print("no test matches %s" % " ".join(filters) if filters
              else "no tests found")
        print("0 passed, 0 failed")
        return 1

    try:
        harness.ensure_sink_deps(out=sys.stdout)
    except RuntimeError as e:
        print("run.py: %s" % e)
        print("0 passed, %d failed" % len(tests))
        return 1

    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=TimedResult)
    start = time.monotonic()
    result = runner.run(unittest.TestSuite(tests))
    sys.stdout.flush()

    failed = (len(result.failures) + len(result.errors)
              + len(result.unexpectedSuccesses))
    # A class whose setUpClass skipped is one entry in result.skipped and
    # none of its tests ran (nor count in testsRun): count them here.
    skipped = 0
    for test, _ in result.skipped:
        if isinstance(test, unittest.TestCase):
            skipped += 1
        else:
            cls = test_name(test).split(" ")[0]
            skipped += sum(1 for t in tests
                           if t.id().startswith(cls + "."))
    run_skipped = sum(1 for t, _ in result.skipped
                      if isinstance(t, unittest.TestCase))
    passed = result.testsRun - failed - run_skipped
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    if result.skipped:
        # What did not run here and why (no root, no mount namespace, a
        # program missing), so a green line does not hide it.
        print("skipped:")
        for test, reason in result.skipped:
            first = (reason.strip().splitlines() or [""])[0]
            print("  %s: %s" % (test_name(test), first))
    if len(result.durations) > 10:
        print("slowest:")
        for took, name in sorted(result.durations, reverse=True)[:10]:
            print("  %5.1fs %s" % (took, name))
    print("integration: %.1fs" % (time.monotonic() - start))
    print(line)
    return 1 if failed or (result.testsRun == 0 and not skipped) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
