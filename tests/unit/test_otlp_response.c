/*
 * What a server sends back, read: partial success in protobuf (built with
 * the generated code) and in OTLP/JSON, and the messages of error bodies
 * (google.rpc.Status as protobuf or JSON, or any text).
 * links: exporter/otlp_response.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
#include <errno.h>
#include <string.h>

#include "exporter/otlp_pb.h"
#include "exporter/otlp_response.h"
#include "unit.h"

#define RESP_DESC \
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__descriptor
#define PS_DESC \
	opentelemetry__proto__collector__trace__v1__export_trace_partial_success__descriptor

START_TEST(test_decode_response)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
		resp;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess
		ps;
	static const uint8_t garbage[] = { 0x0a, 0x05, 0x08 };
	uint8_t buf[256];
	size_t len;
	int64_t rejected = -1;
	char msg[16];

	protobuf_c_message_init(&RESP_DESC, &resp);
	protobuf_c_message_init(&PS_DESC, &ps);
	ps.rejected_spans = 7;
	ps.error_message = (char *)"bad\nspan ids, \xc3\xa4\xc3\xa4\xc3\xa4";
	resp.partial_success = &ps;
	len = protobuf_c_message_pack(&resp.base, buf);

	ck_assert_int_eq(otlp_response_protobuf(buf, len, &rejected, msg,
						sizeof(msg)), 0);
	ck_assert_int_eq(rejected, 7);
	/* One log line, cut at a character boundary. */
	ck_assert_str_eq(msg, "bad span ids, ");

	/* Empty body and unset partial_success: full success. */
	rejected = -1;
	ck_assert_int_eq(otlp_response_protobuf(NULL, 0, &rejected, msg,
						sizeof(msg)), 0);
	ck_assert_int_eq(rejected, 0);
	ck_assert_str_eq(msg, "");

	ck_assert_int_eq(otlp_response_protobuf(garbage, sizeof(garbage),
						&rejected, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_int_eq(otlp_response_protobuf(buf, len, &rejected, NULL, 0),
			 0);
	ck_assert_int_eq(rejected, 7);
}
END_TEST

static int jdec(const char *s, int64_t *rej, char *msg, size_t cap)
{
	return otlp_response_json((const uint8_t *)s, strlen(s), rej, msg,
				  cap);
}

START_TEST(json_responses)
{
	int64_t rej = -1;
	char msg[32];

	ck_assert_int_eq(jdec("{}", &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 0);
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(jdec(" { \"partialSuccess\" : {} } \n", &rej, msg,
			      sizeof(msg)), 0);
	ck_assert_int_eq(rej, 0);
	ck_assert_int_eq(jdec("{\"partialSuccess\":{\"rejectedSpans\":\"3\","
			      "\"errorMessage\":\"too \\\"old\\\" \\u00e9\"}}",
			      &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 3);
	ck_assert_str_eq(msg, "too \"old\" ?");
	ck_assert_int_eq(jdec("{\"x\":[1,{\"a\":null},\"}\"],"
			      "\"partialSuccess\":{\"other\":{\"r\":[]},"
			      "\"rejectedSpans\":12},\"y\":true}",
			      &rej, msg, sizeof(msg)), 0);
	ck_assert_int_eq(rej, 12);
	ck_assert_str_eq(msg, "");
	/* A long message is cut to the buffer. */
	ck_assert_int_eq(jdec("{\"partialSuccess\":{\"errorMessage\":"
			      "\"0123456789012345678901234567890123456789\"}}",
			      &rej, msg, 8), 0);
	ck_assert_str_eq(msg, "0123456");
	ck_assert_int_eq(jdec("", &rej, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_eq(jdec("{", &rej, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_eq(jdec("{\"partialSuccess\":{\"rejectedSpans\":x}}",
			      &rej, msg, sizeof(msg)), -EINVAL);
	ck_assert_int_eq(jdec("{} trailing", &rej, msg, sizeof(msg)),
			 -EINVAL);
	ck_assert_int_eq(jdec("<html>", &rej, msg, sizeof(msg)), -EINVAL);
}
END_TEST

START_TEST(error_messages)
{
	/* google.rpc.Status { code: 3, message: "bad id\n" } */
	static const uint8_t pb[] = { 0x08, 0x03, 0x12, 0x07, 'b', 'a', 'd',
				      ' ', 'i', 'd', '\n' };
	static const uint8_t pb_bad[] = { 0x08, 0x03, 0x12, 0x70, 'b' };
	const char *js = "{\"code\":3,\"message\":\"invalid \\u0041\","
			 "\"details\":[]}";
	const char *html = "<html>\r\n<body>Bad Gateway</body>\x01";
	char msg[64];

	ck_assert_uint_eq(otlp_response_error(pb, sizeof(pb), 0, msg,
					      sizeof(msg)), 6);
	ck_assert_str_eq(msg, "bad id");
	ck_assert_uint_gt(otlp_response_error((const uint8_t *)js,
					      strlen(js), 1, msg,
					      sizeof(msg)), 0);
	ck_assert_str_eq(msg, "invalid A");
	otlp_response_error((const uint8_t *)html, strlen(html), 0, msg,
			    sizeof(msg));
	ck_assert_str_eq(msg, "<html>  <body>Bad Gateway</body>?");
	/* A truncated protobuf falls back to the printable text. */
	otlp_response_error(pb_bad, sizeof(pb_bad), 0, msg, sizeof(msg));
	ck_assert_str_eq(msg, "???pb");
	ck_assert_uint_eq(otlp_response_error(pb, 0, 0, msg, sizeof(msg)),
			  0);
	ck_assert_str_eq(msg, "");
	otlp_response_error(pb, sizeof(pb), 0, msg, 4);
	ck_assert_str_eq(msg, "bad");
}
END_TEST

START_TEST(printable_log_line)
{
	static const uint8_t in[] = { 'a', '\t', 'b', '\r', '\n', 0xc3, 0xa9,
				      0x7f, 0, 'c', ' ', ' ' };
	char out[16];
	char same[] = "x\ny  ";

	ck_assert_uint_eq(otlp_response_printable(in, sizeof(in), out,
						  sizeof(out)), 10);
	ck_assert_str_eq(out, "a b  ????c");
	ck_assert_uint_eq(otlp_response_printable(in, sizeof(in), out, 4), 3);
	ck_assert_str_eq(out, "a b");
	ck_assert_uint_eq(otlp_response_printable(in, sizeof(in), out, 0), 0);
	/* In place, as the transport uses it. */
	ck_assert_uint_eq(otlp_response_printable((const uint8_t *)same,
						  strlen(same), same,
						  sizeof(same)), 3);
	ck_assert_str_eq(same, "x y");
}
END_TEST

UNIT_MAIN("otlp_response", test_decode_response, json_responses,
	  error_messages, printable_log_line)
