/*
 * libFuzzer target for shim/http_head.c on raw strings, beyond what the
 * framer lets through to it (fuzz_http): the input is cut by its first two
 * bytes into a request target, a Host value and a Forwarded and an
 * X-Forwarded-For value, each copied to a block of its own size so that
 * reading past one is an overflow the sanitizer sees.  Results must lie
 * inside their input, written strings be NUL-terminated within their
 * buffer, and ports be ports.
 * links: shim/http_head.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/http_head.h"

static char *copy(const uint8_t *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c == NULL)
		abort();
	memcpy(c, p, n);
	return c;
}

/* s must lie inside [base, base + n), or be the literal "/" of an
 * absolute-form target without a path. */
static void within(struct str s, const char *base, size_t n)
{
	if (s.p && !(s.p >= base && s.p + s.n <= base + n) &&
	    !(s.n == 1 && s.p[0] == '/'))
		abort();
}

/* n bytes written to out[cap] and a NUL after them (values may hold NUL
 * bytes of their own). */
static void written(const char *out, size_t n, size_t cap)
{
	if (cap > 0 && (n >= cap || out[n] != '\0'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_head h;
	struct str path, query, name, addr;
	char out[512];
	size_t a, b, c, n, cap;
	char *t, *host, *fwd, *xff;
	int port;

	if (size < 2)
		return 0;
	cap = data[0] % 64 + 1;
	a = 2 + (size - 2) * data[0] / 255;
	b = a + (size - a) * data[1] / 255;
	c = b + (size - b) / 2;
	t = copy(data + 2, a - 2);
	host = copy(data + a, b - a);
	fwd = copy(data + b, c - b);
	xff = copy(data + c, size - c);

	http_method_known(t, a - 2);
	http_split_target(t, a - 2, &path, &query);
	if (path.p == NULL)
		abort();
	within(path, t, a - 2);
	within(query, t, a - 2);
	if (query.p) {
		n = http_redact_query(query.p, query.n, out, cap);
		written(out, n, cap);
	}
	n = http_url_full("http", host, b - a, t, a - 2, out, cap);
	written(out, n, cap);
	n = http_url_full("https", host, b - a, t, a - 2, out, sizeof(out));
	written(out, n, sizeof(out));
	if (http_split_host(host, b - a, &name, &port) == 0) {
		within(name, host, b - a);
		if (port < -1 || port > 65535)
			abort();
	}
	memset(&h, 0, sizeof(h));
	h.forwarded = (struct str){ fwd, c - b };
	h.x_forwarded_for = (struct str){ xff, size - c };
	if (http_client_address(&h, &addr) == 0 &&
	    !((addr.p >= fwd && addr.p + addr.n <= fwd + (c - b)) ||
	      (addr.p >= xff && addr.p + addr.n <= xff + (size - c))))
		abort();
	free(t);
	free(host);
	free(fwd);
	free(xff);
	return 0;
}
