"""Tests of the test receiver itself (tests/sink) and of the harness around
it: requests are protobuf bytes encoded here by hand, field by field from
the OTLP .proto numbering, so the sink's decoding is checked against an
encoder that shares nothing with it or with the exporter.
"""

import gzip
import json
import os
import socket
import struct
import time
import unittest
import urllib.error
import urllib.request

import harness
from harness import Sink

# ------------------------------------------------ a tiny protobuf encoder

WT_VARINT, WT_I64, WT_LEN, WT_I32 = 0, 1, 2, 5


def varint(n):
    n &= (1 << 64) - 1          # negative int64 -> ten-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wt):
    return varint(field << 3 | wt)


def f_varint(field, n):
    return tag(field, WT_VARINT) + varint(n)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return tag(field, WT_LEN) + varint(len(b)) + b


def f_fixed64(field, n):
    return tag(field, WT_I64) + struct.pack("<Q", n)


def f_fixed32(field, n):
    return tag(field, WT_I32) + struct.pack("<I", n)


def f_double(field, x):
    return tag(field, WT_I64) + struct.pack("<d", x)


def any_value(v):
    """common.v1.AnyValue for a python value; bytes -> bytes_value."""
    if isinstance(v, bool):
        return f_varint(2, int(v))
    if isinstance(v, int):
        return f_varint(3, v)
    if isinstance(v, float):
        return f_double(4, v)
    if isinstance(v, str):
        return f_bytes(1, v)
    if isinstance(v, bytes):
        return f_bytes(7, v)
    if isinstance(v, list):
        return f_bytes(5, b"".join(f_bytes(1, any_value(x)) for x in v))
    if isinstance(v, dict):
        return f_bytes(6, b"".join(f_bytes(1, key_value(k, x))
                                   for k, x in v.items()))
    raise TypeError(v)


def key_value(k, v):
    return f_bytes(1, k) + f_bytes(2, any_value(v))


def attributes(field, d):
    return b"".join(f_bytes(field, key_value(k, v)) for k, v in d.items())


def span(trace_id, span_id, name, parent="", kind=0, start=0, end=0,
         attrs=None, events=(), status=None, flags=None, trace_state="",
         dropped_attrs=0):
    b = f_bytes(1, bytes.fromhex(trace_id)) + f_bytes(2, bytes.fromhex(span_id))
    if trace_state:
        b += f_bytes(3, trace_state)
    if parent:
        b += f_bytes(4, bytes.fromhex(parent))
    b += f_bytes(5, name)
    if kind:
        b += f_varint(6, kind)
    b += f_fixed64(7, start) + f_fixed64(8, end)
    b += attributes(9, attrs or {})
    if dropped_attrs:
        b += f_varint(10, dropped_attrs)
    for ev_name, ev_time, ev_attrs in events:
        b += f_bytes(11, f_fixed64(1, ev_time) + f_bytes(2, ev_name)
                     + attributes(3, ev_attrs))
    if status is not None:
        code, msg = status
        b += f_bytes(15, (f_bytes(2, msg) if msg else b"") + f_varint(3, code))
    if flags is not None:
        b += f_fixed32(16, flags)
    return b


def request(resource, scope_name, scope_version, spans):
    scope = f_bytes(1, scope_name) + f_bytes(2, scope_version)
    ss = f_bytes(1, scope) + b"".join(f_bytes(2, s) for s in spans)
    rs = f_bytes(1, attributes(1, resource)) + f_bytes(2, ss)
    return f_bytes(1, rs)


def decode_fields(buf):
    """Flat decode of one message level: {field: [raw values]}."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == WT_VARINT:
            v, i = _read_varint(buf, i)
        elif wt == WT_LEN:
            n, i = _read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == WT_I64:
            v, i = buf[i:i + 8], i + 8
        elif wt == WT_I32:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(field, []).append(v)
    return out


def _read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


# ------------------------------------------------------------ fixtures

TRACE = "5b8efff798038103d269b633813fc60c"
ROOT_ID = "eee19b7ec3c1b174"
CHILD_ID = "00f067aa0ba902b7"
T0 = 1700000000123456789            # > 2^53: must survive exactly
T1 = 1700000000987654321
BIG = 2 ** 60 + 3                   # int64 not exact as a JS number
ATTRS = {
    "http.request.method": "GET",
    "server.port": 8080,
    "error": False,
    "ok": True,
    "big": BIG,
    "negative": -42,
    "ratio": 0.25,
    "list": ["a", "b", 7],
    "map": {"k": "v", "n": 1},
    "raw": b"\x01\xab",
}


def sample_request():
    root = span(TRACE, ROOT_ID, "GET /items", kind=harness.KIND_SERVER,
                start=T0, end=T1, attrs=ATTRS, flags=0x301,
                trace_state="vendor=a1",
                events=[("exception", T0 + 5, {"exception.type": "E"})],
                status=(harness.STATUS_ERROR, "boom"), dropped_attrs=2)
    child = span(TRACE, CHILD_ID, "SELECT shop.items", parent=ROOT_ID,
                 kind=harness.KIND_CLIENT, start=T0 + 10, end=T0 + 20,
                 attrs={"db.system.name": "postgresql"})
    return request({"service.name": "shop", "process.pid": 1234},
                   "otelshim", "0.1.0", [root, child])


def post(url, body, ctype="application/x-protobuf", encoding=None,
         headers=None, timeout=10):
    """POST body; returns (status, headers, response body) whatever the
    status."""
    h = {"Content-Type": ctype}
    if encoding:
        h["Content-Encoding"] = encoding
    h.update(headers or {})
    req = urllib.request.Request(url, data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        e.close()
        return e.code, e.headers, body


# ------------------------------------------------------------ decoding

class SinkDecodeTest(unittest.TestCase):

    def setUp(self):
        self.sink = Sink().start()
        self.addCleanup(self.sink.stop)

    def check_sample(self, spans):
        self.assertEqual(len(spans), 2, harness.summarize(spans))
        root = harness.find_span(spans, name="GET /items")
        child = harness.find_span(spans, kind=harness.KIND_CLIENT)
        self.assertEqual(root["trace_id"], TRACE)
        self.assertEqual(root["span_id"], ROOT_ID)
        self.assertEqual(root["parent_span_id"], "")
        self.assertEqual(root["kind"], harness.KIND_SERVER)
        self.assertEqual(root["start_time_unix_nano"], str(T0))
        self.assertEqual(root["end_time_unix_nano"], str(T1))
        self.assertEqual(harness.duration_ns(root), T1 - T0)
        self.assertEqual(root["status"], {"code": 2, "message": "boom"})
        self.assertEqual(root["flags"], 0x301)
        self.assertEqual(root["trace_state"], "vendor=a1")
        self.assertEqual(root["dropped_attributes_count"], 2)
        a = root["attributes"]
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["server.port"], 8080)
        self.assertIs(a["error"], False)
        self.assertIs(a["ok"], True)
        self.assertEqual(a["big"], str(BIG))
        self.assertEqual(a["negative"], -42)
        self.assertEqual(a["ratio"], 0.25)
        self.assertEqual(a["list"], ["a", "b", 7])
        self.assertEqual(a["map"], {"k": "v", "n": 1})
        self.assertEqual(a["raw"], "01ab")
        self.assertEqual(root["events"], [{
            "name": "exception", "time_unix_nano": str(T0 + 5),
            "attributes": {"exception.type": "E"}}])
        self.assertEqual(root["resource"],
                         {"service.name": "shop", "process.pid": 1234})
        self.assertEqual(root["scope"],
                         {"name": "otelshim", "version": "0.1.0"})

        harness.assert_child_of(child, root)
        self.assertTrue(harness.is_root(root))
        self.assertTrue(harness.same_trace(root, child))
        self.assertFalse(harness.is_child_of(root, child))
        self.assertEqual(child["status"], {"code": 0, "message": ""})
        self.assertEqual(child["flags"], 0)
        self.assertEqual(harness.attr(child, "db.system.name"),
                         "postgresql")
        self.assertIsNone(harness.attr(child, "nope"))
        self.assertEqual(root["request_seq"], child["request_seq"])

    def test_protobuf(self):
        body = sample_request()
        status, headers, resp = post(self.sink.traces_url, body,
                                     headers={"User-Agent": "t/1",
                                              "X-Api-Key": "k1"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/x-protobuf")
        self.assertEqual(resp, b"")     # empty ExportTraceServiceResponse
        spans = self.sink.wait_for_spans(2)
        self.check_sample(spans)
        req = spans[0]["request"]
        self.assertEqual(req["path"], "/v1/traces")
        self.assertEqual(req["content_type"], "application/x-protobuf")
        self.assertEqual(req["content_encoding"], "")
        self.assertEqual(req["user_agent"], "t/1")
        self.assertEqual(req["headers"]["x-api-key"], "k1")
        reqs = self.sink.requests()
        self.assertEqual(len(reqs), 1)
        self.assertEqual(reqs[0]["bytes"], len(body))
        self.assertEqual(reqs[0]["spans"], 2)
        self.assertEqual(reqs[0]["status_returned"], 200)
        self.assertEqual(reqs[0]["seq"], spans[0]["request_seq"])

    def test_gzip(self):
        body = gzip.compress(sample_request())
        status, _, _ = post(self.sink.endpoint + "/any/path", body,
                            encoding="gzip")
        self.assertEqual(status, 200)
        spans = self.sink.wait_for_spans(2)
        self.check_sample(spans)
        self.assertEqual(spans[0]["request"]["content_encoding"], "gzip")
        self.assertEqual(spans[0]["request"]["path"], "/any/path")

    def test_json(self):
        root = {
            "traceId": TRACE, "spanId": ROOT_ID, "parentSpanId": "",
            "name": "GET /items", "kind": 2,
            "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T1),
            "traceState": "vendor=a1", "flags": 0x301,
            "droppedAttributesCount": 2,
            "attributes": [
                {"key": "http.request.method",
                 "value": {"stringValue": "GET"}},
                {"key": "server.port", "value": {"intValue": "8080"}},
                {"key": "error", "value": {"boolValue": False}},
                {"key": "ok", "value": {"boolValue": True}},
                {"key": "big", "value": {"intValue": str(BIG)}},
                {"key": "negative", "value": {"intValue": -42}},
                {"key": "ratio", "value": {"doubleValue": 0.25}},
                {"key": "list", "value": {"arrayValue": {"values": [
                    {"stringValue": "a"}, {"stringValue": "b"},
                    {"intValue": "7"}]}}},
                {"key": "map", "value": {"kvlistValue": {"values": [
                    {"key": "k", "value": {"stringValue": "v"}},
                    {"key": "n", "value": {"intValue": "1"}}]}}},
                {"key": "raw", "value": {"bytesValue": "Aas="}},
            ],
            "events": [{"timeUnixNano": str(T0 + 5), "name": "exception",
                        "attributes": [{"key": "exception.type",
                                        "value": {"stringValue": "E"}}]}],
            "status": {"code": 2, "message": "boom"},
        }
        child = {
            "traceId": TRACE, "spanId": CHILD_ID, "parentSpanId": ROOT_ID,
            "name": "SELECT shop.items", "kind": 3,
            "startTimeUnixNano": str(T0 + 10),
            "endTimeUnixNano": str(T0 + 20),
            "attributes": [{"key": "db.system.name",
                            "value": {"stringValue": "postgresql"}}],
        }
        doc = {"resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "shop"}},
                {"key": "process.pid", "value": {"intValue": "1234"}}]},
            "scopeSpans": [{"scope": {"name": "otelshim",
                                      "version": "0.1.0"},
                            "spans": [root, child]}]}]}
        status, headers, resp = post(self.sink.traces_url,
                                     json.dumps(doc).encode(),
                                     ctype="application/json")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(resp), {})
        self.check_sample(self.sink.wait_for_spans(2))

    def test_empty_request(self):
        status, _, _ = post(self.sink.traces_url, b"")
        self.assertEqual(status, 200)
        reqs = self.sink.wait_for_requests(1)
        self.assertEqual(reqs[0]["spans"], 0)
        self.assertEqual(self.sink.spans(), [])

    def test_requests_append_in_order(self):
        for i in range(3):
            body = request({}, "s", "1", [span(TRACE, "%016x" % (i + 1),
                                               "n%d" % i, start=1, end=2)])
            self.assertEqual(post(self.sink.traces_url, body)[0], 200)
        spans = self.sink.wait_for_spans(3)
        self.assertEqual([s["name"] for s in spans], ["n0", "n1", "n2"])
        self.assertEqual([s["request_seq"] for s in spans], [1, 2, 3])

    def test_invalid_bodies(self):
        bad = [
            (b"\x0f\xff\xff", "application/x-protobuf", None),
            (b"\x0a\x05\x01", "application/x-protobuf", None),  # truncated
            (b"not gzip", "application/x-protobuf", "gzip"),
            (b"{not json", "application/json", None),
            (b'{"resourceSpans":[{"scopeSpans":[{"spans":'
             b'[{"traceId":"zz"}]}]}]}', "application/json", None),
        ]
        for body, ctype, enc in bad:
            status, _, _ = post(self.sink.traces_url, body, ctype=ctype,
                                encoding=enc)
            self.assertEqual(status, 400, body)
        status, _, _ = post(self.sink.traces_url, b"x", ctype="text/plain")
        self.assertEqual(status, 415)
        reqs = self.sink.wait_for_requests(len(bad) + 1)
        self.assertEqual([r["status_returned"] for r in reqs],
                         [400] * len(bad) + [415])
        self.assertEqual(self.sink.spans(), [])
        self.assertIn("undecodable body", self.sink.stderr())
        self.assertIn("bad gzip", self.sink.stderr())
        # Rejections carry a google.rpc.Status too.
        status, _, body = post(self.sink.traces_url, b"\xff")
        self.assertEqual(status, 400)
        self.assertEqual(rpc_status(body)[0], 3)    # INVALID_ARGUMENT


# ------------------------------------------------------------ fault modes

def one_span_body(name="s"):
    return request({}, "t", "1", [span(TRACE, ROOT_ID, name, start=1, end=2)])


def rpc_status(body):
    f = decode_fields(body)
    return f[1][0], f[2][0].decode()


class SinkFaultTest(unittest.TestCase):

    def test_status(self):
        with Sink(status=503, retry_after=2) as sink:
            for _ in range(2):
                status, headers, body = post(sink.traces_url,
                                             one_span_body())
                self.assertEqual(status, 503)
                self.assertEqual(headers["Retry-After"], "2")
                code, _ = rpc_status(body)
                self.assertEqual(code, 14)       # UNAVAILABLE
            reqs = sink.wait_for_requests(2)
            self.assertEqual([r["status_returned"] for r in reqs],
                             [503, 503])
            self.assertEqual([r["spans"] for r in reqs], [1, 1])
            self.assertEqual(sink.spans(), [])

    def test_status_json_body(self):
        with Sink(status=400) as sink:
            doc = {"resourceSpans": []}
            status, headers, body = post(sink.traces_url,
                                         json.dumps(doc).encode(),
                                         ctype="application/json")
            self.assertEqual(status, 400)
            self.assertIsNone(headers["Retry-After"])
            self.assertEqual(json.loads(body)["code"], 3)

    def test_fail_first(self):
        with Sink(fail_first=2) as sink:
            got = [post(sink.traces_url, one_span_body("n%d" % i))[0]
                   for i in range(4)]
            self.assertEqual(got, [503, 503, 200, 200])
            spans = sink.wait_for_spans(2)
            self.assertEqual([s["name"] for s in spans], ["n2", "n3"])
            self.assertEqual([s["request_seq"] for s in spans], [3, 4])
            self.assertEqual([r["status_returned"]
                              for r in sink.requests()],
                             [503, 503, 200, 200])

    def test_fail_first_with_status(self):
        with Sink(fail_first=1, status=429, retry_after=1) as sink:
            status, headers, body = post(sink.traces_url, one_span_body())
            self.assertEqual(status, 429)
            self.assertEqual(headers["Retry-After"], "1")
            self.assertEqual(rpc_status(body)[0], 8)   # RESOURCE_EXHAUSTED
            status, headers, _ = post(sink.traces_url, one_span_body())
            self.assertEqual(status, 200)
            self.assertIsNone(headers["Retry-After"])
            self.assertEqual(len(sink.wait_for_spans(1)), 1)

    def test_hang(self):
        with Sink(hang=True) as sink:
            t0 = time.monotonic()
            with self.assertRaises((socket.timeout, TimeoutError,
                                    urllib.error.URLError)):
                post(sink.traces_url, one_span_body(), timeout=1)
            self.assertGreaterEqual(time.monotonic() - t0, 0.9)
            reqs = sink.wait_for_requests(1)
            self.assertIsNone(reqs[0]["status_returned"])
            self.assertEqual(reqs[0]["spans"], 1)
            self.assertEqual(sink.spans(), [])

    def test_delay(self):
        with Sink(delay_ms=400) as sink:
            t0 = time.monotonic()
            status, _, _ = post(sink.traces_url, one_span_body())
            self.assertEqual(status, 200)
            self.assertGreaterEqual(time.monotonic() - t0, 0.38)
            self.assertEqual(len(sink.wait_for_spans(1)), 1)

    def test_delay_client_gone(self):
        with Sink(delay_ms=800) as sink:
            with self.assertRaises((socket.timeout, TimeoutError,
                                    urllib.error.URLError)):
                post(sink.traces_url, one_span_body(), timeout=0.2)
            time.sleep(1.0)
            reqs = sink.wait_for_requests(1)
            self.assertTrue(reqs[0].get("client_gone"))
            self.assertEqual(sink.spans(), [])


# ------------------------------------------------------------ harness

class HarnessTest(unittest.TestCase):

    def test_traced_env(self):
        old = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(old)))
        os.environ["LD_PRELOAD"] = "/lib/other.so"
        os.environ["OTEL_SERVICE_NAME"] = "inherited"
        os.environ["TRACEPARENT"] = "00-" + TRACE + "-" + ROOT_ID + "-01"
        os.environ["KEEP_ME"] = "1"
        with Sink() as sink:
            env = harness.traced_env(sink, OTEL_SERVICE_NAME="svc",
                                     KEEP_ME=None, OTEL_BSP_MAX_QUEUE_SIZE=5)
            self.assertEqual(env["LD_PRELOAD"],
                             "/lib/other.so " + str(harness.LIB))
            self.assertEqual(env["OTEL_EXPORTER_OTLP_ENDPOINT"],
                             sink.endpoint)
        self.assertEqual(env["OTEL_BSP_SCHEDULE_DELAY"], "200")
        self.assertEqual(env["OTEL_SERVICE_NAME"], "svc")
        self.assertEqual(env["OTEL_BSP_MAX_QUEUE_SIZE"], "5")
        self.assertNotIn("KEEP_ME", env)
        self.assertNotIn("TRACEPARENT", env)
        del os.environ["LD_PRELOAD"]
        env = harness.traced_env(None, OTEL_BSP_SCHEDULE_DELAY=None)
        self.assertEqual(env["LD_PRELOAD"], str(harness.LIB))
        self.assertNotIn("OTEL_EXPORTER_OTLP_ENDPOINT", env)
        self.assertNotIn("OTEL_BSP_SCHEDULE_DELAY", env)

    def test_wait_for_spans_predicates(self):
        with Sink() as sink:
            post(sink.traces_url, request({}, "t", "1", [
                span(TRACE, ROOT_ID, "a", start=1, end=2),
                span(TRACE, CHILD_ID, "b", parent=ROOT_ID, kind=3,
                     start=1, end=2, attrs={"k": "v"})]))
            by_span = sink.wait_for_spans(lambda s: s["name"] == "b")
            by_list = sink.wait_for_spans(lambda ss: len(ss) == 2)
            self.assertEqual(by_span, by_list)
            self.assertEqual(len(harness.find_spans(
                by_span, attrs={"k": harness.ANY})), 1)
            self.assertEqual(harness.find_spans(by_span, attrs={"k": "w"}),
                             [])
            self.assertEqual(len(harness.find_spans(
                by_span, pred=lambda s: s["kind"] == 3)), 1)
            with self.assertRaises(AssertionError):
                harness.find_span(by_span)          # two match
            with self.assertRaises(AssertionError):
                sink.wait_for_spans(3, timeout=0.3)
            with self.assertRaises(AssertionError):
                harness.assert_child_of(by_span[0], by_span[1])

    def test_free_port_and_run_traced_without_lib(self):
        port = harness.free_port()
        self.assertGreater(port, 0)
        # LD_PRELOAD of a missing object only warns; the program still
        # runs, which is all this checks about run_traced itself.
        r = harness.run_traced(["sh", "-c", "echo $OTEL_BSP_SCHEDULE_DELAY"],
                               None, LD_PRELOAD="")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout.strip(), "200")


if __name__ == "__main__":
    unittest.main()
