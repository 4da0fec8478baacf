/*
 * `otelshim flush [DIR]`: sends each request waiting in the spool (DIR,
 * else OTELSHIM_SPOOL_DIR, else the per-user default) to the URL it was
 * recorded for, as the library would have: one POST each, over plain
 * HTTP/1.1 (https:// requests are left for a traced process, whose
 * exporter speaks TLS).  Headers from OTEL_EXPORTER_OTLP[_TRACES]_HEADERS
 * go along.  Each request is claimed first, so a traced process draining
 * the spool at the same time never sends it too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/endpoint.h"
#include "common/spool.h"
#include "flush.h"
#include "post.h"

#define HEADERS_MAX 4096

/* The directory to use: argv's, the variable's, or the default. */
static const char *spool_dir(int argc, char **argv, char *buf, size_t cap)
{
	const char *env = getenv("OTELSHIM_SPOOL_DIR");

	if (argc > 0)
		return argv[0];
	if (env && *env)
		return env;
	return spool_default_dir(buf, cap);
}

/* OTEL_EXPORTER_OTLP[_TRACES]_HEADERS ("k=v,k2=v2", percent-decoding
 * left out) as header lines. */
static void extra_headers(char *out, size_t cap)
{
	const char *h = getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
	size_t n = 0;

	out[0] = '\0';
	if (!h || !*h)
		h = getenv("OTEL_EXPORTER_OTLP_HEADERS");
	while (h && *h) {
		size_t len = strcspn(h, ","), eq = strcspn(h, "=");
		int w;

		if (eq < len && eq > 0) {
			w = snprintf(out + n, cap - n, "%.*s: %.*s\r\n",
				     (int)eq, h, (int)(len - eq - 1),
				     h + eq + 1);
			if (w < 0 || (size_t)w >= cap - n) {
				out[n] = '\0';
				return;
			}
			n += (size_t)w;
		}
		h += len + (h[len] == ',');
	}
}

/*
 * POSTs it to its URL.  Returns the HTTP status, 0 when no answer came,
 * -1 when the URL is not plain http:// or nothing accepts connections.
 */
static int post(const struct spool_item *it, const char *headers)
{
	struct endpoint e;
	const char *why;
	int fd;

	if (endpoint_split(it->url, &e) != 0 || e.tls)
		return -1;
	fd = post_connect(&e, &why);
	if (fd < 0)
		return -1;
	return post_send(fd, &e, it->content_type, headers, it->body,
			 it->len);
}

int flush_main(int argc, char **argv)
{
	char buf[4096], headers[HEADERS_MAX];
	const char *dir = spool_dir(argc, argv, buf, sizeof(buf));
	size_t sent = 0, refused = 0, left = 0;
	struct spool_item it;
	struct spool sp;
	uint64_t bytes;
	int err;

	err = spool_open(&sp, dir, UINT64_MAX);
	if (err) {
		fprintf(stderr, "otelshim flush: %s: %s\n", dir,
			strerror(-err));
		return 1;
	}
	extra_headers(headers, sizeof(headers));
	while (spool_claim(&sp, NULL, &it) == 1) {
		int status = post(&it, headers);

		if (status >= 200 && status < 300) {
			sent++;
			spool_finish(&sp, &it, 1);
			continue;
		}
		if (status == 400 || status == 413) {
			/* Refused for what it is: it would be again. */
			fprintf(stderr, "otelshim flush: %s refused a request "
				"(HTTP %d); removed\n", it.url, status);
			refused++;
			spool_finish(&sp, &it, 1);
			continue;
		}
		fprintf(stderr, "otelshim flush: %s: %s\n", it.url,
			status < 0 ? "not reachable over plain http" :
			"no 2xx answer");
		spool_finish(&sp, &it, 0);
		break;
	}
	spool_usage(&sp, &left, &bytes);
	spool_close(&sp);
	printf("otelshim flush: %zu request%s delivered, %zu refused, %zu "
	       "left in %s\n", sent, sent == 1 ? "" : "s", refused, left, dir);
	return left ? 1 : 0;
}

void flush_print_usage(void)
{
	char buf[4096];
	const char *dir = spool_dir(0, NULL, buf, sizeof(buf));
	struct spool sp;
	size_t files = 0;
	uint64_t bytes = 0;

	if (!strcmp(dir, "off")) {
		printf("spool: off\n");
		return;
	}
	if (access(dir, F_OK) != 0) {
		printf("spool %s: empty (not created yet)\n", dir);
		return;
	}
	if (spool_open(&sp, dir, UINT64_MAX) != 0 ||
	    spool_usage(&sp, &files, &bytes) != 0) {
		printf("spool %s: cannot be read (%s)\n", dir,
		       strerror(errno));
		spool_close(&sp);
		return;
	}
	spool_close(&sp);
	printf("spool %s: %zu file%s, %llu bytes waiting\n", dir, files,
	       files == 1 ? "" : "s", (unsigned long long)bytes);
}
