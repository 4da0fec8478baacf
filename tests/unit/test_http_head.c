/*
 * Unit tests for shim/http_head.c: a request head's strings turned into
 * span attributes.  Inputs sit right before an unmapped page, so reading
 * past one crashes the test.
 * links: shim/http_head.c
 */
#include "common/redact.h"
#include "shim/http_head.h"
#include "unit.h"

START_TEST(method_known)
{
	static const char *const yes[] = {
		"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH",
		"POST", "PUT", "TRACE", "QUERY",
	};
	size_t i;

	for (i = 0; i < NELEM(yes); i++)
		ck_assert_int_eq(http_method_known(guarded(yes[i],
			strlen(yes[i])), strlen(yes[i])), 1);
	ck_assert_int_eq(http_method_known("get", 3), 0);
	ck_assert_int_eq(http_method_known("GETS", 4), 0);
	ck_assert_int_eq(http_method_known("GE", 2), 0);
	ck_assert_int_eq(http_method_known("PROPFIND", 8), 0);
	ck_assert_int_eq(http_method_known("", 0), 0);
}
END_TEST

static void split(const char *t, const char *path, const char *query)
{
	struct str p, q;
	size_t len = strlen(t);

	http_split_target(guarded(t, len), len, &p, &q);
	ck_assert_ptr_nonnull(p.p);
	ck_assert_msg(p.n == strlen(path) && memcmp(p.p, path, p.n) == 0,
		      "%s: path %.*s", t, (int)p.n, p.p);
	if (query == NULL) {
		ck_assert_ptr_null(q.p);
		return;
	}
	ck_assert_ptr_nonnull(q.p);
	ck_assert_msg(q.n == strlen(query) &&
		      memcmp(q.p, query, q.n) == 0,
		      "%s: query %.*s", t, (int)q.n, q.p);
}

START_TEST(split_target)
{
	split("/", "/", NULL);
	split("/a/b", "/a/b", NULL);
	split("/a?b=1&c", "/a", "b=1&c");
	split("/a?", "/a", "");
	split("/a#frag", "/a", NULL);
	split("/a?x#f?g", "/a", "x");
	split("http://h:80/p?q", "/p", "q");
	split("https://u:pw@h/p/q", "/p/q", NULL);
	split("http://h", "/", NULL);
	split("http://h?q=1", "/", "q=1");
	split("*", "*", NULL);
	split("example.com:443", "", NULL);
	split("", "", NULL);
}
END_TEST

static void redact(const char *q, const char *want, size_t cap)
{
	char out[256];
	size_t len = strlen(q), n;

	memset(out, '#', sizeof(out));
	n = http_redact_query(guarded(q, len), len, out, cap);
	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(n, strlen(want));
}

START_TEST(redact_query)
{
	redact("a=1&b=2", "a=1&b=2", 256);
	redact("sig=abc&a=1", "sig=REDACTED&a=1", 256);
	redact("a=1&X-Amz-Signature=abc&X-Amz-Credential=AK%2F1"
	       "&X-Amz-Security-Token=t&X-Goog-Signature=g&x-amz-signature=z",
	       "a=1&X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED"
	       "&X-Amz-Security-Token=REDACTED&X-Goog-Signature=REDACTED"
	       "&x-amz-signature=REDACTED", 256);
	redact("sig", "sig", 256);
	redact("sig=", "sig=REDACTED", 256);
	/* Whole keys only, in any ASCII case. */
	redact("sigs=1&asig=2", "sigs=1&asig=2", 256);
	redact("AWSAccessKeyId=AKIA1&Signature=s%2B1&Expires=9",
	       "AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=9", 256);
	redact("signature=1", "signature=REDACTED", 256);
	redact("&&sig=1&", "&&sig=REDACTED&", 256);
	redact("", "", 256);
	redact("a=1&sig=secretvalue", "a=1&sig=RED", 12);
	redact("abc", "", 1);
}
END_TEST

/* The conventions' full override: the list replaces the defaults. */
START_TEST(redact_override)
{
	redact_set_url_keys(" token , api_key,,");
	redact("token=1&api_key=2&sig=3", "token=REDACTED&api_key=REDACTED"
	       "&sig=3", 256);
	redact_set_url_keys(NULL);          /* keeps the list as is */
	redact("token=1&sig=3", "token=REDACTED&sig=3", 256);
}
END_TEST

static void url(const char *host, const char *target, const char *want)
{
	char out[512];
	size_t tlen = strlen(target);
	size_t n = http_url_full("http", host, strlen(host),
				 guarded(target, tlen), tlen, out,
				 sizeof(out));

	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(n, strlen(want));
}

START_TEST(url_full)
{
	char out[16];

	url("example.com", "/a?b=1", "http://example.com/a?b=1");
	url("example.com:8080", "/", "http://example.com:8080/");
	url("h", "/p?sig=s&x=1#frag", "http://h/p?sig=REDACTED&x=1");
	url("ignored", "https://user:pw@h.example/p?X-Amz-Signature=z",
	    "https://REDACTED:REDACTED@h.example/p?X-Amz-Signature=REDACTED");
	url("ignored", "http://a@b@h/", "http://REDACTED:REDACTED@h/");
	url("", "http://h", "http://h");
	url("h", "*", "http://h");
	url("x", "proxy.example:443", "http://proxy.example:443");
	url("u:p@h", "/", "http://REDACTED:REDACTED@h/");
	ck_assert_uint_eq(http_url_full("https", "example.com", 11, "/abc",
					4, out, sizeof(out)), 15);
	ck_assert_str_eq(out, "https://example");
}
END_TEST

static void host(const char *h, int rc, const char *name, int port)
{
	struct str n;
	size_t len = strlen(h);
	int p;

	ck_assert_int_eq(http_split_host(guarded(h, len), len, &n, &p), rc);
	if (rc < 0)
		return;
	ck_assert_int_eq(p, port);
	ck_assert_msg(n.n == strlen(name) && memcmp(n.p, name, n.n) == 0,
		      "%s: %.*s", h, (int)n.n, n.p);
}

START_TEST(split_host)
{
	host("example.com", 0, "example.com", -1);
	host("example.com:8080", 0, "example.com", 8080);
	host(" h:1 ", 0, "h", 1);
	host("h:", 0, "h", -1);
	host("[::1]:443", 0, "::1", 443);
	host("[::1]", 0, "::1", -1);
	host("::1", 0, "::1", -1);
	host("h:65535", 0, "h", 65535);
	host("h:65536", -1, NULL, 0);
	host("h:8x", -1, NULL, 0);
	host(":80", -1, NULL, 0);
	host("[]:80", -1, NULL, 0);
	host("[::1]x", -1, NULL, 0);
	host("[::1", -1, NULL, 0);
	host("", -1, NULL, 0);
}
END_TEST

static void client(const char *fwd, const char *xff, const char *want)
{
	struct http_head h;
	struct str a;

	memset(&h, 0, sizeof(h));
	if (fwd) {
		h.forwarded.p = guarded(fwd, strlen(fwd));
		h.forwarded.n = strlen(fwd);
	}
	if (xff) {
		h.x_forwarded_for.p = xff;
		h.x_forwarded_for.n = strlen(xff);
	}
	if (want == NULL) {
		ck_assert_int_eq(http_client_address(&h, &a), -1);
		return;
	}
	ck_assert_int_eq(http_client_address(&h, &a), 0);
	ck_assert_msg(a.n == strlen(want) && memcmp(a.p, want, a.n) == 0,
		      "got %.*s", (int)a.n, a.p);
}

START_TEST(client_address)
{
	client("for=192.0.2.60;proto=http;by=203.0.113.43", NULL,
	       "192.0.2.60");
	client("proto=http; For=\"[2001:db8:cafe::17]:4711\"", NULL,
	       "2001:db8:cafe::17");
	client("for=\"192.0.2.43:47011\", for=198.51.100.17", NULL,
	       "192.0.2.43");
	client("for=unknown", "1.2.3.4", "1.2.3.4");
	client("for=_hidden", NULL, NULL);
	client("by=x", " 10.0.0.1 , 10.0.0.2", "10.0.0.1");
	client(NULL, "203.0.113.195:41237", "203.0.113.195");
	client(NULL, "2001:db8::1, 1.1.1.1", "2001:db8::1");
	client(NULL, " , x", NULL);
	client(NULL, NULL, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http_head");
	TCase *tc = tcase_create("http_head");

	tcase_add_checked_fixture(tc, guard_setup, NULL);
	tcase_add_test(tc, method_known);
	tcase_add_test(tc, split_target);
	tcase_add_test(tc, redact_query);
	tcase_add_test(tc, redact_override);
	tcase_add_test(tc, url_full);
	tcase_add_test(tc, split_host);
	tcase_add_test(tc, client_address);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
