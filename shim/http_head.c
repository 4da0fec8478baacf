/*
 * What a request head says, as span attributes: the method, the target's
 * path and query (sensitive values redacted), url.full, the Host value
 * split into name and port, and the client a proxy reports (see
 * http_head.h).  Pure functions over the caller's strings, run by the
 * socket hooks on application threads.
 */
#include <string.h>

#include "common/redact.h"
#include "http_head.h"

int http_method_known(const char *m, size_t len)
{
	/* By length, then the few of that length (memcmp of a constant
	 * length compiles to a load and a compare). */
	switch (len) {
	case 3:
		return !memcmp(m, "GET", 3) || !memcmp(m, "PUT", 3);
	case 4:
		return !memcmp(m, "POST", 4) || !memcmp(m, "HEAD", 4);
	case 5:
		return !memcmp(m, "PATCH", 5) || !memcmp(m, "TRACE", 5) ||
		       !memcmp(m, "QUERY", 5);
	case 6:
		return !memcmp(m, "DELETE", 6);
	case 7:
		return !memcmp(m, "OPTIONS", 7) || !memcmp(m, "CONNECT", 7);
	default:
		return 0;
	}
}

/* Length of "scheme" if t starts with "scheme://", else 0. */
static size_t scheme_len(const char *t, size_t len)
{
	size_t i;

	if (len == 0 || !ascii_is_alpha(t[0]))
		return 0;
	for (i = 1; i < len; i++) {
		char c = t[i];

		if (!ascii_is_alpha(c) && !ascii_is_digit(c) && c != '+' &&
		    c != '-' && c != '.')
			break;
	}
	if (len - i >= 3 && memcmp(t + i, "://", 3) == 0)
		return i;
	return 0;
}

/* Index of the first of the characters in set at or after i, else len.
 * A NUL byte counts as one of them (strchr finds the terminator). */
static size_t find_any(const char *s, size_t i, size_t len, const char *set)
{
	while (i < len && strchr(set, s[i]) == NULL)
		i++;
	return i;
}

/* find_any with a set of one character c, without a call per byte. */
static size_t find_char(const char *s, size_t i, size_t len, char c)
{
	while (i < len && s[i] != c && s[i] != '\0')
		i++;
	return i;
}

void http_split_target(const char *t, size_t len, struct str *path,
		       struct str *query)
{
	size_t sl = scheme_len(t, len), start, qpos, hash;

	query->p = NULL;
	query->n = 0;
	if (sl) {
		start = find_any(t, sl + 3, len, "/?#");
	} else if (len > 0 && t[0] == '/') {
		start = 0;
	} else if (len == 1 && t[0] == '*') {
		path->p = t;
		path->n = 1;
		return;
	} else {
		path->p = t;
		path->n = 0;
		return;
	}
	hash = find_char(t, start, len, '#');
	qpos = find_char(t, start, hash, '?');
	path->p = t + start;
	path->n = qpos - start;
	if (sl && path->n == 0) {
		path->p = "/";
		path->n = 1;
	}
	if (qpos < hash) {
		query->p = t + qpos + 1;
		query->n = hash - qpos - 1;
	}
}

/* Output with truncation: keeps the first cap - 1 bytes, and a NUL. */
struct wr {
	char *out;
	size_t cap;
	size_t len;
};

static void put(struct wr *w, const char *s, size_t n)
{
	size_t room = w->cap > w->len + 1 ? w->cap - w->len - 1 : 0;

	if (n > room)
		n = room;
	memcpy(w->out + w->len, s, n);
	w->len += n;
}

static size_t finish(struct wr *w)
{
	if (w->cap > 0)
		w->out[w->len] = '\0';
	return w->len;
}

static void put_redacted_query(struct wr *w, const char *q, size_t len)
{
	size_t i = 0;

	while (i <= len) {
		size_t j = find_char(q, i, len, '&');
		size_t eq = find_char(q, i, j, '=');

		if (i > 0)
			put(w, "&", 1);
		if (eq < j && redact_url_key((struct str){ q + i, eq - i })) {
			put(w, q + i, eq - i + 1);
			put(w, "REDACTED", 8);
		} else {
			put(w, q + i, j - i);
		}
		i = j + 1;
	}
}

size_t http_redact_query(const char *q, size_t len, char *out, size_t cap)
{
	struct wr w = { out, cap, 0 };

	put_redacted_query(&w, q, len);
	return finish(&w);
}

/* An authority with any userinfo replaced by REDACTED:REDACTED. */
static void put_authority(struct wr *w, const char *a, size_t n)
{
	size_t i = n;

	while (i > 0 && a[i - 1] != '@')
		i--;
	if (i > 0)
		put(w, "REDACTED:REDACTED@", 18);
	put(w, a + i, n - i);
}

size_t http_url_full(const char *scheme, const char *host, size_t host_len,
		     const char *target, size_t target_len, char *out,
		     size_t cap)
{
	struct wr w = { out, cap, 0 };
	size_t sl = scheme_len(target, target_len), rest = target_len;
	size_t hash, qpos, aend;

	if (sl) {
		aend = find_any(target, sl + 3, target_len, "/?#");
		put(&w, target, sl + 3);
		put_authority(&w, target + sl + 3, aend - sl - 3);
		rest = aend;
	} else {
		put(&w, scheme, strlen(scheme));
		put(&w, "://", 3);
		if (target_len > 0 && target[0] == '/') {
			put_authority(&w, host, host_len);
			rest = 0;
		} else if (target_len == 1 && target[0] == '*') {
			put_authority(&w, host, host_len);
		} else {
			put_authority(&w, target, target_len);
		}
	}
	hash = find_char(target, rest, target_len, '#');
	qpos = find_char(target, rest, hash, '?');
	put(&w, target + rest, qpos - rest);
	if (qpos < hash) {
		put(&w, "?", 1);
		put_redacted_query(&w, target + qpos + 1, hash - qpos - 1);
	}
	return finish(&w);
}

static int parse_port(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (!ascii_is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

int http_split_host(const char *h, size_t len, struct str *name, int *port)
{
	struct str v = str_trim((struct str){ h, len });
	const char *colon = NULL;
	size_t i, ncolons = 0, after;

	h = v.p;
	len = v.n;
	*port = -1;
	if (len == 0)
		return -1;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', len);

		if (rb == NULL || rb == h + 1)
			return -1;
		name->p = h + 1;
		name->n = (size_t)(rb - h - 1);
		after = (size_t)(rb + 1 - h);
		if (after == len)
			return 0;
		if (h[after] != ':')
			return -1;
		colon = h + after;
	} else {
		/* The first colon and whether there is another one. */
		colon = memchr(h, ':', len);
		if (colon) {
			i = (size_t)(colon + 1 - h);
			ncolons = memchr(colon + 1, ':', len - i) ? 2 : 1;
		}
		name->p = h;
		name->n = len;
		/* A bare IPv6 address: all colons belong to it. */
		if (ncolons != 1)
			return 0;
		name->n = (size_t)(colon - h);
		if (name->n == 0)
			return -1;
	}
	after = (size_t)(colon + 1 - h);
	if (after == len)
		return 0;
	*port = parse_port(colon + 1, len - after);
	return *port < 0 ? -1 : 0;
}

/* Strips quotes, brackets and a port from a node identifier in place. */
static void clean_node(struct str *a)
{
	const char *s = a->p;
	size_t n = a->n, i, colons = 0, last = 0;

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		n = rb ? (size_t)(rb - s - 1) : n - 1;
		s++;
	} else {
		for (i = 0; i < n; i++) {
			if (s[i] == ':') {
				colons++;
				last = i;
			}
		}
		if (colons == 1)
			n = last;
	}
	a->p = s;
	a->n = n;
}

/* The "for" parameter of the first Forwarded element. */
static int forwarded_for(const struct str *f, struct str *addr)
{
	size_t end = find_char(f->p, 0, f->n, ','), i = 0;

	while (i < end) {
		size_t j = find_char(f->p, i, end, ';');
		struct str pair = str_trim((struct str){ f->p + i, j - i });

		i = j + 1;
		if (!str_starts_nocase(pair, STR_LIT("for=")))
			continue;
		addr->p = pair.p + 4;
		addr->n = pair.n - 4;
		clean_node(addr);
		if (addr->n == 0 || addr->p[0] == '_' ||
		    str_is(*addr, "unknown"))
			return -1;
		return 0;
	}
	return -1;
}

int http_client_address(const struct http_head *h, struct str *addr)
{
	const struct str *xff = &h->x_forwarded_for;

	if (h->forwarded.p && forwarded_for(&h->forwarded, addr) == 0)
		return 0;
	if (xff->p == NULL)
		return -1;
	*addr = str_trim((struct str){ xff->p, find_char(xff->p, 0, xff->n,
							 ',') });
	clean_node(addr);
	return addr->n > 0 ? 0 : -1;
}
