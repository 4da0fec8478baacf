/*
 * OTLP/gRPC's additions to an export: the message prefix, the response
 * message, which statuses are retried, RetryInfo's delay from
 * grpc-status-details-bin and grpc-message's percent-encoding.
 * links: exporter/grpc.c exporter/otlp_response.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
#include <string.h>

#include "exporter/grpc.h"
#include "unit.h"

START_TEST(framing)
{
	uint8_t p[GRPC_PREFIX], body[8] = { 0, 0, 0, 0, 3, 'a', 'b', 'c' };
	const uint8_t *m;
	size_t n;

	grpc_prefix(p, 1, 0x01020304);
	ck_assert_int_eq(memcmp(p, "\x01\x01\x02\x03\x04", 5), 0);
	grpc_prefix(p, 0, 7);
	ck_assert_int_eq(memcmp(p, "\x00\x00\x00\x00\x07", 5), 0);
	ck_assert_int_eq(grpc_message(body, 8, &m, &n), 0);
	ck_assert_ptr_eq(m, body + 5);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(grpc_message(body, 7, &m, &n), -1);    /* short */
	ck_assert_int_eq(grpc_message(body, 4, &m, &n), -1);
	body[0] = 1;                                            /* compressed */
	ck_assert_int_eq(grpc_message(body, 8, &m, &n), -1);
}
END_TEST

START_TEST(retryable)
{
	static const int yes[] = { 1, 4, 10, 11, 14, 15 };
	static const int no[] = { 0, 2, 3, 5, 6, 7, 9, 12, 13, 16, 99, -1 };
	size_t i;

	for (i = 0; i < NELEM(yes); i++)
		ck_assert(grpc_retryable(yes[i], 0));
	for (i = 0; i < NELEM(no); i++)
		ck_assert(!grpc_retryable(no[i], 1));
	ck_assert(!grpc_retryable(GRPC_RESOURCE_EXHAUSTED, 0));
	ck_assert(grpc_retryable(GRPC_RESOURCE_EXHAUSTED, 1));
	ck_assert_str_eq(grpc_code_name(14), "UNAVAILABLE");
	ck_assert_str_eq(grpc_code_name(16), "UNAUTHENTICATED");
	ck_assert_str_eq(grpc_code_name(17), "UNKNOWN");
	ck_assert_str_eq(grpc_code_name(-1), "UNKNOWN");
}
END_TEST

START_TEST(retry_delay)
{
	/* Status{code 8, "sink fault mode", details [Any{RetryInfo{1 s}}]},
	 * as @grpc/grpc-js sends it, with and without padding. */
	static const char b64[] =
		"CAgSD3NpbmsgZmF1bHQgbW9kZRowCih0eXBlLmdvb2dsZWFwaXMuY29tL2dv"
		"b2dsZS5ycGMuUmV0cnlJbmZvEgQKAggB";
	/* The same with RetryInfo{2.5 s}, URL-safe alphabet. */
	static const char nanos[] =
		"CAgaNgoodHlwZS5nb29nbGVhcGlzLmNvbS9nb29nbGUucnBjLlJldHJ5SW5m"
		"bxIKCggIAhCAyrXuAQ==";
	/* Status{code 8} with an Any of another type. */
	static const char other[] =
		"CAgaGgoWdHlwZS5leGFtcGxlLmNvbS9vdGhlchIA";
	uint64_t d = 0;

	ck_assert_int_eq(grpc_retry_delay(b64, strlen(b64), &d), 0);
	ck_assert_uint_eq(d, 1000000000ULL);
	ck_assert_int_eq(grpc_retry_delay(nanos, strlen(nanos), &d), 0);
	ck_assert_uint_eq(d, 2500000000ULL);
	ck_assert_int_eq(grpc_retry_delay(other, strlen(other), &d), -1);
	ck_assert_int_eq(grpc_retry_delay("", 0, &d), -1);
	ck_assert_int_eq(grpc_retry_delay("!!!!", 4, &d), -1);
	ck_assert_int_eq(grpc_retry_delay(b64, 20, &d), -1);    /* cut */
}
END_TEST

START_TEST(message_text)
{
	char out[64];

	grpc_message_text("sink%20fault%20mode", 19, out, sizeof(out));
	ck_assert_str_eq(out, "sink fault mode");
	grpc_message_text("100%", 4, out, sizeof(out));
	ck_assert_str_eq(out, "100%");
	grpc_message_text("a%0Ab%zz", 8, out, sizeof(out));
	ck_assert_str_eq(out, "a b%zz");
	ck_assert_uint_eq(grpc_message_text("abcdef", 6, out, 4), 3);
}
END_TEST

UNIT_MAIN("grpc", framing, retryable, retry_delay, message_text)
