"""Connect-failure spans are for network peers: a program that tries a
Unix-domain socket that is not there (dbus, userdb, nscd — every `su` does)
gets no span for it, while a refused TCP connect still gets one."""

import textwrap
import unittest

from harness import Sink, find_spans, run_traced


class LocalSockets(unittest.TestCase):
    def test_unix_connect_failure_is_no_span(self):
        prog = textwrap.dedent("""
            import socket
            for path in ("/nonexistent/otelshim.sock", "\\0otelshim-none"):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                except OSError:
                    pass
                s.close()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.connect(("127.0.0.1", 1))
            except OSError:
                pass
        """)
        with Sink() as sink:
            r = run_traced(["python3", "-c", prog], sink)
            self.assertEqual(r.returncode, 0, r.stderr)
            spans = sink.wait_for_spans(lambda ss: find_spans(ss,
                                                              name="connect"))
        connects = find_spans(spans, name="connect")
        self.assertEqual(len(connects), 1, connects)
        self.assertEqual(connects[0]["attributes"].get("server.port"), 1)
        self.assertEqual(len(spans), 1, spans)


if __name__ == "__main__":
    unittest.main()
