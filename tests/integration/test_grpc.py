"""OTLP/gRPC export against a gRPC receiver (tests/sink/sink.js --grpc:
@grpc/grpc-js, decoding with the OpenTelemetry JS generated code): spans
of a preloaded curl and python server arrive as one trace over HTTP/2,
compressed when asked, with the user's headers as metadata; UNAVAILABLE is
retried, RESOURCE_EXHAUSTED only with RetryInfo and after its delay, a
permanent error is not; a hanging receiver costs the program no more than
the export timeout at exit."""

import os
import subprocess
import time
import unittest

from harness import (BUILD, KIND_CLIENT, KIND_SERVER, Background, Sink,
                     assert_child_of, find_span, free_port, need_programs,
                     run_traced, wait_for_port)

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GRPC = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}


def curl_refused(sink, **env):
    """A traced curl whose only span is its refused connect."""
    return run_traced(["curl", "-s", "http://127.0.0.1:1/"], sink,
                      **dict(GRPC, **env))


# A program that lives on after its span, so that the exporter retries as
# it does in a service (at exit there is one attempt, then the spool).
LIVING = ("import socket, time\n"
          "try:\n    socket.create_connection(('127.0.0.1', 1))\n"
          "except OSError:\n    pass\n"
          "time.sleep(60)\n")


def living(sink, **env):
    return Background(["python3", "-c", LIVING], sink, **dict(GRPC, **env))


def statuses(sink):
    return [r["status_returned"] for r in sink.requests()]


class GrpcExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need_programs("curl")

    def test_trace_over_grpc(self):
        port = free_port()
        env = dict(GRPC, OTEL_EXPORTER_OTLP_HEADERS="x-tenant=acme")
        with Sink(grpc=True) as sink:
            with Background(["python3", "-m", "http.server", "--bind",
                             "127.0.0.1", str(port)], sink, **env):
                wait_for_port(port)
                r = run_traced(["curl", "-sf", "-o", "/dev/null",
                                "http://127.0.0.1:%d/" % port], sink, **env)
                self.assertEqual(r.returncode, 0, r.stderr)
                spans = sink.wait_for_spans(2)
            reqs = sink.requests()
            self.assertEqual(set(statuses(sink)), {0})
        client = find_span(spans, "GET", KIND_CLIENT)
        server = find_span(spans, "GET", KIND_SERVER)
        assert_child_of(server, client)
        for req in reqs:
            self.assertEqual(req["path"], EXPORT)
            self.assertEqual(req["headers"].get("x-tenant"), "acme")
            self.assertTrue(req["headers"]["user-agent"].startswith(
                "OTel-OTLP-Exporter-C/"))

    def test_doctor_finds_the_grpc_endpoint(self):
        with Sink(grpc=True) as sink:
            r = subprocess.run(
                [str(BUILD / "otelshim"), "doctor"], capture_output=True,
                text=True, timeout=30,
                env=dict(os.environ, OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
                         OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint))
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("posted to %s%s" % (sink.endpoint, EXPORT), r.stdout)
        self.assertIn("accepts connections (OTLP/gRPC", r.stdout)

    def test_gzip(self):
        with Sink(grpc=True) as sink:
            r = curl_refused(sink, OTEL_EXPORTER_OTLP_COMPRESSION="gzip")
            self.assertEqual(r.returncode, 7)
            sink.wait_for_spans(1)
            req = sink.requests()[0]
        # What came over the wire (the length-prefixed message) is smaller
        # than the request the receiver decoded after undoing gzip.
        self.assertLess(int(req["headers"]["content-length"]) - 5,
                        req["bytes"])

    def test_unavailable_is_retried(self):
        with Sink(grpc=True, fail_first=2) as sink, living(sink):
            spans = sink.wait_for_spans(1, timeout=15)
            time.sleep(0.5)
            self.assertEqual(statuses(sink), [14, 14, 0])
            self.assertEqual(len(sink.spans()), 1, spans)

    def test_resource_exhausted_only_with_retry_info(self):
        with Sink(grpc=True, status=8) as sink, \
                living(sink, OTEL_LOG_LEVEL="warn") as prog:
            sink.wait_for_requests(1)
            # Longer than the first backoff: no second attempt came.
            time.sleep(2.0)
            self.assertEqual(statuses(sink), [8])
            self.assertIn("gRPC status 8 RESOURCE_EXHAUSTED", prog.output())
        with Sink(grpc=True, status=8, fail_first=1, retry_after=1) as sink, \
                living(sink):
            sink.wait_for_spans(1)
            self.assertEqual(statuses(sink), [8, 0])
            first, second = sink.requests()
        # The retry waited for the delay the server named.
        self.assertGreaterEqual(second["at_ms"] - first["at_ms"],
                                950)

    def test_permanent_error_not_retried(self):
        with Sink(grpc=True, status=3) as sink, \
                living(sink, OTEL_LOG_LEVEL="warn") as prog:
            sink.wait_for_requests(1)
            time.sleep(2.0)
            self.assertEqual(statuses(sink), [3])
            self.assertIn("gRPC status 3 INVALID_ARGUMENT: sink fault mode",
                          prog.output())

    def test_hanging_receiver_bounded_at_exit(self):
        with Sink(grpc=True, hang=True) as sink:
            t0 = time.monotonic()
            r = curl_refused(sink, OTEL_EXPORTER_OTLP_TIMEOUT="500",
                             OTEL_BSP_EXPORT_TIMEOUT="1500")
            took = time.monotonic() - t0
            self.assertEqual(r.returncode, 7)
            self.assertTrue(sink.requests()[0].get("hung"))
        self.assertLess(took, 6.0)


if __name__ == "__main__":
    unittest.main()
