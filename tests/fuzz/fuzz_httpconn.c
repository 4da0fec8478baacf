/*
 * libFuzzer target for shim/httpconn.c.  The input is what a program
 * writes on a connection (then reads back as if echoed), cut into writes
 * and socket acceptances chosen by its first bytes.  Whatever the bytes,
 * every count the program sees must add up to exactly what it wrote, and
 * the wire must carry the program's bytes plus nothing but whole
 * traceparent lines of ours.  With bit 2 of the first byte the writes
 * happen while a server span of a known trace is active, so a forwarded
 * traceparent of that trace gets its parent-id rewritten in place.
 * links: shim/httpconn.c shim/http.c shim/http_head.c shim/httpinject.c shim/httpspan.c shim/peer.c shim/context.c shim/reqtab.c pipeline/record.c pipeline/slab.c shim/propagate.c shim/stack.c shim/log.c
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pipeline/batch.h"
#include "shim/context.h"
#include "shim/httpconn.h"

void batch_submit(const struct span *s)
{
	(void)s;
}

void batch_note_dropped(void)
{
}

/* No exporter thread to start. */
void batch_warm(void)
{
}

#define TP_LINE 70      /* "traceparent: " + 55 + CRLF */

struct fake {
	char *wire;
	size_t len, cap;
	const uint8_t *steps;
	size_t call;
};

static ssize_t fake_write(void *arg, const struct iovec *iov, int n)
{
	struct fake *f = arg;
	size_t call = f->call++, take = f->steps[call % 8], got = 0;

	/* 0 is EAGAIN every other call, so that a writer always moves on. */
	if (take == 0 && call % 2 == 0) {
		errno = EAGAIN;
		return -1;
	}
	take = take * 3 + 1;
	for (int i = 0; i < n && got < take; i++) {
		size_t k = iov[i].iov_len;

		if (k > take - got)
			k = take - got;
		if (f->len + k > f->cap)
			abort();
		memcpy(f->wire + f->len, iov[i].iov_base, k);
		f->len += k;
		got += k;
	}
	return (ssize_t)got;
}

/* Removes every line that starts with "traceparent:" (any case), the
 * only lines we add or change; returns the new length. */
static size_t strip(char *s, size_t len)
{
	size_t w = 0;

	for (size_t i = 0; i < len;) {
		if (len - i >= 12 && (i == 0 || s[i - 1] == '\n') &&
		    strncasecmp(s + i, "traceparent:", 12) == 0) {
			const char *lf = memchr(s + i, '\n', len - i);

			i = lf ? (size_t)(lf - s) + 1 : len;
			continue;
		}
		s[w++] = s[i++];
	}
	return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static int ready;
	struct hc_writer w;
	struct ctx_remote rem;
	struct span *server = NULL;
	struct fd_entry e;
	struct fake f;
	const char *p;
	char *copy;
	size_t len, done = 0, piece, spins = 0, a, b;

	if (size < 10)
		return 0;
	if (!ready) {
		cfg.sampler = CONFIG_SAMPLER_ALWAYS_ON;
		cfg.propagate_tracecontext = 1;
		ctx_init(&cfg, NULL);
		ready = 1;
	}
	memset(&e, 0, sizeof(e));
	e.kind = FD_TCP;
	memset(&f, 0, sizeof(f));
	f.steps = data + 2;
	p = (const char *)data + 10;
	len = size - 10;
	f.cap = len + 64 * TP_LINE * (len / 16 + 1);
	f.wire = malloc(f.cap);
	w.put = fake_write;
	w.arg = &f;
	w.put_more = NULL;
	w.lead_ours = NULL;
	piece = data[1] ? data[1] : len;
	if (data[0] & 4) {
		memset(&rem, 0, sizeof(rem));
		memcpy(rem.trace_id, "\x0a\xf7\x65\x19\x16\xcd\x43\xdd"
		       "\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16);
		memcpy(rem.span_id, "\xb7\xad\x6b\x71\x69\x20\x33\x31", 8);
		rem.flags = 1;
		server = ctx_start(SPAN_KIND_SERVER, &rem);
	}
	ctx_set_active(server);
	while (done < len) {
		size_t want = len - done < piece ? len - done : piece;
		struct iovec v[2];
		int n = 1;
		ssize_t r;

		v[0].iov_base = (char *)p + done;
		v[0].iov_len = want;
		if (want > 1 && (data[0] & 2)) {
			v[0].iov_len = want / 2;
			v[1].iov_base = (char *)p + done + want / 2;
			v[1].iov_len = want - want / 2;
			n = 2;
		}
		r = hc_write(&e, v, n, &w, data[0] & 1);
		if (r < 0) {
			if (errno != EAGAIN || ++spins > 100000)
				abort();
			continue;
		}
		if (r == 0 || (size_t)r > want)
			abort();
		done += (size_t)r;
	}
	/* The same bytes read back: responses, or garbage. */
	{
		struct iovec v = { (void *)p, len };

		hc_after_read(&e, &v, 1, (ssize_t)len, 0, 1);
		hc_after_read(&e, &v, 1, 0, 0, 1);
	}
	hc_close(&e);
	if (server)
		ctx_end(server);
	ctx_set_active(NULL);
	if (hc_in_use() != 0)
		abort();
	if ((f.len - len) % TP_LINE != 0)
		abort();
	copy = malloc(len ? len : 1);
	memcpy(copy, p, len);
	a = strip(f.wire, f.len);
	b = strip(copy, len);
	if (a != b || memcmp(f.wire, copy, a) != 0)
		abort();
	free(copy);
	free(f.wire);
	return 0;
}
