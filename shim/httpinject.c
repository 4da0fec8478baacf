/*
 * Trace headers in outgoing requests (see httpinject.h), on the
 * application thread that writes them.  Byte counts stay exact by keeping,
 * per connection, where our bytes sit relative to the program's: the
 * program is told only about its own bytes, and header bytes the kernel
 * did not take go out first in the next write.  A head the write holds
 * whole (or up to a traceparent of the program's) gets the header after
 * its request line; a head written in pieces gets it just before its
 * empty line, once every header line has gone by: then whether the
 * program wrote a traceparent itself is known without holding back any
 * of its bytes.
 */
#include <string.h>

#include "http.h"
#include "httpinject.h"

/* Offset of the parent-id inside a version-00 traceparent. */
#define TP_ID_OFF 36

/* ------------------------------------------------------ finding the place */

/*
 * Walks the header lines of block from offset pos until an empty line:
 * counts the lines named name, first value in *value.  *complete says
 * whether the empty line was found.  A last line without LF is ignored:
 * it may still grow.
 */
static int scan_headers(const char *block, size_t len, size_t pos,
			const char *name, struct str *value, int *complete)
{
	struct str want = str_of(name);
	int count = 0;

	*complete = 0;
	while (pos < len) {
		const char *line = block + pos;
		const char *lf = memchr(line, '\n', len - pos);
		size_t n;

		if (lf == NULL)
			break;
		n = (size_t)(lf - line);
		pos += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0) {
			*complete = 1;
			break;
		}
		if (n <= want.n || line[want.n] != ':' ||
		    !str_eq_nocase((struct str){ line, want.n }, want))
			continue;
		if (count == 0 && value)
			*value = str_trim((struct str){ line + want.n + 1,
							n - want.n - 1 });
		count++;
	}
	return count;
}

int hi_find_header(const char *block, size_t len, const char *name,
		   struct str *value)
{
	int complete;

	value->p = NULL;
	value->n = 0;
	return scan_headers(block, len, 0, name, value, &complete);
}

/* Length of the request line at the start of buf, LF included; -1 if it is
 * not an HTTP/1.x request line, -2 if buf ends before it does. */
static long request_line(const char *buf, size_t len)
{
	static const char version[] = "HTTP/1.";
	size_t i = 0, t, k;

	if (len == 0)
		return -2;
	if (buf[0] < 'A' || buf[0] > 'Z')
		return -1;
	while (i < len && i < HTTP_METHOD_MAX &&
	       http_tchar((unsigned char)buf[i]))
		i++;
	if (i == len)
		return -2;
	if (buf[i] != ' ')
		return -1;
	t = ++i;
	while (i < len && (unsigned char)buf[i] > 0x20 && buf[i] != 0x7f)
		i++;
	if (i == len)
		return -2;
	if (buf[i] != ' ' || i == t)
		return -1;
	i++;
	for (k = 0; k < 8; k++, i++) {
		if (i == len)
			return -2;
		if (k < 7 ? buf[i] != version[k] : !ascii_is_digit(buf[i]))
			return -1;
	}
	if (i < len && buf[i] == '\r')
		i++;
	if (i == len)
		return -2;
	if (buf[i] != '\n')
		return -1;
	return (long)(i + 1);
}

int hi_find_point(const char *buf, size_t len, struct hi_point *out)
{
	long line = request_line(buf, len);
	int complete;

	if (line < 0)
		return (int)line;
	out->offset = (size_t)line;
	out->has_traceparent = scan_headers(buf, len, out->offset,
					    "traceparent", NULL,
					    &complete) > 0;
	out->has_tracestate = scan_headers(buf, len, out->offset,
					   "tracestate", NULL, &complete) > 0;
	out->head_complete = complete;
	return 0;
}

void hi_view(struct hi_view *v, const struct iovec *iov, int n)
{
	size_t got = 0;

	if (n == 1 || iov[0].iov_len >= sizeof(v->buf)) {
		v->p = iov[0].iov_base;
		v->len = iov[0].iov_len;
		return;
	}
	for (int i = 0; i < n && got < sizeof(v->buf); i++) {
		size_t k = iov[i].iov_len;

		if (k > sizeof(v->buf) - got)
			k = sizeof(v->buf) - got;
		memcpy(v->buf + got, iov[i].iov_base, k);
		got += k;
	}
	v->p = v->buf;
	v->len = got;
}

/* ---------------------------------------------------------- the edit */

static size_t append(char *out, size_t k, const char *s, size_t n)
{
	memcpy(out + k, s, n);
	return k + n;
}

void hi_plan_header(struct hi_edit *ed, uint64_t at, const struct span *s,
		    const char *tp, int has_tracestate)
{
	size_t k;

	k = append(ed->inj, 0, "traceparent: ", 13);
	k = append(ed->inj, k, tp, PROPAGATE_TRACEPARENT_LEN);
	k = append(ed->inj, k, "\r\n", 2);
	if (s->trace_state.len && !has_tracestate &&
	    s->trace_state.len <= PROPAGATE_TRACESTATE_MAX) {
		k = append(ed->inj, k, "tracestate: ", 12);
		k = append(ed->inj, k, span_str_ptr(s, s->trace_state),
			   s->trace_state.len);
		k = append(ed->inj, k, "\r\n", 2);
	}
	ed->inj_len = (uint16_t)k;
	ed->inj_off = 0;
	ed->inj_started = 0;
	ed->inj_at = at;
}

void hi_plan(struct hi_edit *ed, uint64_t at, const struct hi_view *v,
	     const struct hi_point *pt, const struct span *s, const char *tp)
{
	struct propagate_ctx pc;
	struct str val;

	if (pt->has_traceparent) {
		/* A proxy forwarding its caller's header: same trace, so
		 * make the next hop our child by rewriting the parent-id. */
		if (hi_find_header(v->p, v->len, "traceparent", &val) != 1 ||
		    val.n != PROPAGATE_TRACEPARENT_LEN ||
		    memcmp(val.p, "00-", 3) != 0 ||
		    propagate_parse_traceparent(val.p, val.n, &pc) != 0 ||
		    memcmp(pc.trace_id, s->trace_id, 16) != 0)
			return;
		memcpy(ed->rp, tp + TP_ID_OFF, HI_PARENT_ID_LEN);
		ed->rp_at = at + (uint64_t)(val.p - v->p) + TP_ID_OFF;
		ed->rp_off = 0;
		ed->rp_active = 1;
		return;
	}
	hi_plan_header(ed, at + pt->offset, s, tp, pt->has_tracestate);
}

int hi_pending(const struct hi_edit *ed)
{
	return ed->inj_len || ed->rp_active;
}

int hi_unfinished(const struct hi_edit *ed)
{
	return (ed->inj_len && ed->inj_started) || ed->rp_active;
}

void hi_drop(struct hi_edit *ed)
{
	ed->inj_len = 0;
	ed->rp_active = 0;
}

/* ------------------------------------------------------------ writes */

static void add(struct hi_write *w, const void *p, size_t len)
{
	if (len == 0 || w->n >= (int)(sizeof(w->v) / sizeof(w->v[0])))
		return;
	w->v[w->n].iov_base = (void *)p;
	w->v[w->n].iov_len = len;
	w->n++;
}

/* Appends program bytes [from, to) of iov[0..n). */
static void add_prog(struct hi_write *w, const struct iovec *iov, int n,
		     size_t from, size_t to)
{
	size_t pos = 0;

	for (int i = 0; i < n && pos < to; i++) {
		size_t base = pos, a = pos, z = pos + iov[i].iov_len;

		pos = z;
		if (z <= from)
			continue;
		if (a < from)
			a = from;
		if (z > to)
			z = to;
		add(w, (const char *)iov[i].iov_base + (a - base), z - a);
	}
}

void hi_layout(const struct hi_edit *ed, const struct iovec *iov, int n,
	       size_t total, struct hi_write *w)
{
	size_t at, rest;

	w->n = 0;
	w->hdr = 0;
	w->lead = 0;
	if (ed->inj_len) {
		at = ed->inj_at < total ? (size_t)ed->inj_at : total;
		if (at < total || ed->inj_at == 0) {
			w->hdr = ed->inj_len - ed->inj_off;
			if (at == 0)
				w->lead = w->hdr;
			add_prog(w, iov, n, 0, at);
			add(w, ed->inj + ed->inj_off, w->hdr);
			add_prog(w, iov, n, at, total);
		} else {
			add_prog(w, iov, n, 0, total);
		}
	} else if (ed->rp_active) {
		at = ed->rp_at < total ? (size_t)ed->rp_at : total;
		rest = HI_PARENT_ID_LEN - ed->rp_off;
		if (rest > total - at)
			rest = total - at;
		add_prog(w, iov, n, 0, at);
		add(w, ed->rp + ed->rp_off, rest);
		add_prog(w, iov, n, at + rest, total);
	} else {
		add_prog(w, iov, n, 0, total);
	}
}

ssize_t hi_took(struct hi_edit *ed, const struct hi_write *w, size_t r,
		int *again)
{
	size_t at, rest;

	*again = 0;
	if (ed->inj_len && w->hdr) {
		/* Wire order: prefix, header, rest. */
		at = (size_t)ed->inj_at;
		if (r <= at) {
			ed->inj_at -= r;
			return (ssize_t)r;
		}
		ed->inj_started = 1;
		if (r - at < w->hdr) {
			ed->inj_off += (uint16_t)(r - at);
			ed->inj_at = 0;
			*again = at == 0;
			return (ssize_t)at;
		}
		ed->inj_len = 0;
		ed->inj_started = 0;
		*again = r == at + w->hdr && at == 0;
		return (ssize_t)(r - w->hdr);
	}
	if (ed->inj_len) {
		ed->inj_at -= r;
	} else if (ed->rp_active) {
		if (r <= ed->rp_at) {
			ed->rp_at -= r;
		} else {
			rest = r - (size_t)ed->rp_at;
			if (rest >= (size_t)(HI_PARENT_ID_LEN - ed->rp_off))
				ed->rp_active = 0;
			else
				ed->rp_off += (uint8_t)rest;
			ed->rp_at = 0;
		}
	}
	return (ssize_t)r;
}

void hi_file_next(struct hi_edit *ed)
{
	ed->rp_active = 0;  /* a file never holds the header we look for */
	if (ed->inj_len && !ed->inj_started)
		ed->inj_len = 0;  /* request line from a file: give up */
}

int hi_rest(const struct hi_edit *ed, struct iovec *v)
{
	if (!ed->inj_len || ed->inj_off >= ed->inj_len)
		return 0;
	v->iov_base = (void *)(ed->inj + ed->inj_off);
	v->iov_len = ed->inj_len - ed->inj_off;
	return 1;
}

void hi_sent(struct hi_edit *ed, size_t k)
{
	ed->inj_off += (uint16_t)k;
	if (ed->inj_off >= ed->inj_len) {
		ed->inj_len = 0;
		ed->inj_started = 0;
	}
}
