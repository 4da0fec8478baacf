/*
 * Export URLs (endpoint.h): built from the environment as the OTLP
 * exporter specification says, and split for a connection.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "endpoint.h"

/* Whether s is an http(s) URL with a host and nothing that would need
 * escaping (blanks, control bytes, non-ASCII); *authority_end: where the
 * path, query or fragment starts. */
static int url_ok(struct str s, size_t *authority_end)
{
	size_t i, start;

	if (str_starts_nocase(s, STR_LIT("http://")))
		start = 7;
	else if (str_starts_nocase(s, STR_LIT("https://")))
		start = 8;
	else
		return 0;
	for (i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c <= 0x20 || c >= 0x7f)
			return 0;
	}
	for (i = start; i < s.n; i++) {
		if (s.p[i] == '/' || s.p[i] == '?' || s.p[i] == '#')
			break;
	}
	if (i == start)
		return 0;
	*authority_end = i;
	return 1;
}

int endpoint_url(struct str s, int is_base, const char *path, char *out,
		 size_t cap)
{
	size_t end, n = 0, np = strlen(path);

	if (!url_ok(s, &end))
		return -EINVAL;
	if (cap < s.n + np + 2)
		return -ENOSPC;
	if (!is_base) {
		memcpy(out, s.p, end);
		n = end;
		if (end == s.n || s.p[end] != '/')
			out[n++] = '/';
		memcpy(out + n, s.p + end, s.n - end);
		n += s.n - end;
	} else {
		memcpy(out, s.p, s.n);
		n = s.n;
		if (out[n - 1] != '/')
			out[n++] = '/';
		memcpy(out + n, path, np);
		n += np;
	}
	out[n] = '\0';
	return (int)n;
}

int endpoint_grpc_url(struct str s, char *out, size_t cap)
{
	size_t end, np = sizeof(ENDPOINT_GRPC_PATH) - 1;

	if (!url_ok(s, &end))
		return -EINVAL;
	if (cap < end + np + 1)
		return -ENOSPC;
	memcpy(out, s.p, end);
	memcpy(out + end, ENDPOINT_GRPC_PATH, np + 1);
	return (int)(end + np);
}

/* The first of the variables that is set, trimmed; empty if none. */
static struct str first_set(const char *(*get)(const char *name),
			    const char *const vars[2], const char **name)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		struct str s = str_trim(str_of(get(vars[i])));

		if (s.n) {
			*name = vars[i];
			return s;
		}
	}
	*name = NULL;
	return str_of(NULL);
}

int endpoint_from_env(const char *(*get)(const char *name), char *out,
		      size_t cap, const char **name, int *grpc)
{
	static const char *const urls[2] = {
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_ENDPOINT",
	};
	static const char *const protocols[2] = {
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_PROTOCOL",
	};
	const char *pname;
	struct str s;

	*grpc = str_is(first_set(get, protocols, &pname), "grpc");
	s = first_set(get, urls, name);
	if (*grpc)
		return endpoint_grpc_url(s.n ? s : STR_LIT(ENDPOINT_GRPC_DEFAULT),
					 out, cap);
	if (s.n)
		return endpoint_url(s, *name == urls[1], "v1/traces", out, cap);
	return endpoint_url(STR_LIT(ENDPOINT_DEFAULT), 0, "", out, cap);
}

int endpoint_split(const char *url, struct endpoint *e)
{
	const char *p, *host, *hend, *slash;
	size_t n;

	memset(e, 0, sizeof(*e));
	if (strncasecmp(url, "https://", 8) == 0) {
		e->tls = 1;
		host = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		host = url + 7;
	} else {
		return strstr(url, "://") ? -EPROTONOSUPPORT : -EINVAL;
	}
	slash = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(slash - host)))
		return -EINVAL;         /* credentials: never in an endpoint */
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(slash - host));
		if (!hend)
			return -EINVAL;
		p = hend + 1;
		host++;
	} else {
		hend = memchr(host, ':', (size_t)(slash - host));
		if (!hend)
			hend = slash;
		p = hend;
	}
	n = (size_t)(hend - host);
	if (n == 0 || n >= sizeof(e->host))
		return -EINVAL;
	memcpy(e->host, host, n);
	if (p < slash && *p == ':') {
		n = (size_t)(slash - p - 1);
		if (n == 0 || n >= sizeof(e->port) ||
		    strspn(p + 1, "0123456789") < n)
			return -EINVAL;
		memcpy(e->port, p + 1, n);
	} else if (p == slash) {
		strcpy(e->port, e->tls ? "443" : "80");
	} else {
		return -EINVAL;
	}
	n = strcspn(slash, "#");
	if (n + 2 > sizeof(e->target))
		return -EINVAL;
	if (*slash != '/')
		e->target[0] = '/';
	memcpy(e->target + strlen(e->target), slash, n);
	return 0;
}
