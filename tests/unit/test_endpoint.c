/*
 * Export URLs: built from the endpoint variables as the OTLP exporter
 * specification says, and split for a connection.
 */
#include <errno.h>
#include <string.h>

#include "common/endpoint.h"
#include "unit.h"

static const char *url_of(const char *s, int is_base)
{
	static char out[256];

	ck_assert_int_ge(endpoint_url(str_of(s), is_base, "v1/traces", out,
				      sizeof(out)), 0);
	return out;
}

START_TEST(urls)
{
	char small[8];

	/* The generic variable is a base: v1/traces after one "/". */
	ck_assert_str_eq(url_of("http://c:4318", 1), "http://c:4318/v1/traces");
	ck_assert_str_eq(url_of("http://c:4318/", 1),
			 "http://c:4318/v1/traces");
	ck_assert_str_eq(url_of("https://c/otlp", 1),
			 "https://c/otlp/v1/traces");
	/* The per-signal one is the URL: "/" only where there is no path. */
	ck_assert_str_eq(url_of("http://c:4318", 0), "http://c:4318/");
	ck_assert_str_eq(url_of("http://c:4318?x=1", 0), "http://c:4318/?x=1");
	ck_assert_str_eq(url_of("http://c/v1/logs", 0), "http://c/v1/logs");
	ck_assert_str_eq(url_of("HTTPS://c", 0), "HTTPS://c/");
	ck_assert_int_eq(endpoint_url(STR_LIT("ftp://c"), 1, "", NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(endpoint_url(STR_LIT("http://"), 1, "", NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(endpoint_url(STR_LIT("http://c d"), 1, "", NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(endpoint_url(STR_LIT("http://c"), 1, "v1/traces",
				      small, sizeof(small)), -ENOSPC);
}
END_TEST

static const char *const *env;

static const char *get(const char *name)
{
	size_t n = strlen(name);

	for (const char *const *e = env; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

START_TEST(from_env)
{
	static const char *const none[] = { NULL };
	static const char *const base[] = {
		"OTEL_EXPORTER_OTLP_ENDPOINT= http://b:1 ", NULL };
	static const char *const both[] = {
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://b:1",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://t:2/x", NULL };
	static const char *const blank[] = {
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=  ", NULL };
	static const char *const grpc_default[] = {
		"OTEL_EXPORTER_OTLP_PROTOCOL= gRPC", NULL };
	static const char *const grpc_both[] = {
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://b:1",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://t:2/x", NULL };
	static const char *const http_wins[] = {
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf", NULL };
	char out[128];
	const char *from;
	int grpc;

	env = none;
	ck_assert_int_gt(endpoint_from_env(get, out, sizeof(out), &from,
					   &grpc), 0);
	ck_assert_str_eq(out, ENDPOINT_DEFAULT);
	ck_assert_ptr_null(from);
	ck_assert(!grpc);
	env = base;
	endpoint_from_env(get, out, sizeof(out), &from, &grpc);
	ck_assert_str_eq(out, "http://b:1/v1/traces");
	ck_assert_str_eq(from, "OTEL_EXPORTER_OTLP_ENDPOINT");
	env = both;
	endpoint_from_env(get, out, sizeof(out), &from, &grpc);
	ck_assert_str_eq(out, "http://t:2/x");
	ck_assert_str_eq(from, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	env = blank;
	endpoint_from_env(get, out, sizeof(out), &from, &grpc);
	ck_assert_str_eq(out, ENDPOINT_DEFAULT);
	/* gRPC: scheme and authority, then the Export method. */
	env = grpc_default;
	endpoint_from_env(get, out, sizeof(out), &from, &grpc);
	ck_assert(grpc);
	ck_assert_str_eq(out, ENDPOINT_GRPC_DEFAULT ENDPOINT_GRPC_PATH);
	env = grpc_both;
	endpoint_from_env(get, out, sizeof(out), &from, &grpc);
	ck_assert_str_eq(out, "https://t:2" ENDPOINT_GRPC_PATH);
	env = http_wins;
	endpoint_from_env(get, out, sizeof(out), &from, &grpc);
	ck_assert(!grpc);
	ck_assert_str_eq(out, ENDPOINT_DEFAULT);
	ck_assert_int_eq(endpoint_grpc_url(STR_LIT("c:1"), out, sizeof(out)),
			 -EINVAL);
	ck_assert_int_eq(endpoint_grpc_url(STR_LIT("http://c:1"), out, 20),
			 -ENOSPC);
}
END_TEST

START_TEST(split)
{
	struct endpoint e;

	ck_assert_int_eq(endpoint_split("http://c/v1/traces", &e), 0);
	ck_assert(!e.tls);
	ck_assert_str_eq(e.host, "c");
	ck_assert_str_eq(e.port, "80");
	ck_assert_str_eq(e.target, "/v1/traces");
	ck_assert_int_eq(endpoint_split("https://[::1]:4318?a=b#f", &e), 0);
	ck_assert(e.tls);
	ck_assert_str_eq(e.host, "::1");
	ck_assert_str_eq(e.port, "4318");
	ck_assert_str_eq(e.target, "/?a=b");
	ck_assert_int_eq(endpoint_split("HTTPS://c", &e), 0);
	ck_assert_str_eq(e.port, "443");
	ck_assert_int_eq(endpoint_split("grpc://c", &e), -EPROTONOSUPPORT);
	ck_assert_int_eq(endpoint_split("c:4318", &e), -EINVAL);
	ck_assert_int_eq(endpoint_split("http://u:p@c/", &e), -EINVAL);
	ck_assert_int_eq(endpoint_split("http://c:43x/", &e), -EINVAL);
	ck_assert_int_eq(endpoint_split("http://c:/", &e), -EINVAL);
	ck_assert_int_eq(endpoint_split("http://[::1/", &e), -EINVAL);
	ck_assert_int_eq(endpoint_split("http:///x", &e), -EINVAL);
}
END_TEST

UNIT_MAIN("endpoint", urls, from_env, split)
