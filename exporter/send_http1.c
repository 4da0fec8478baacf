/*
 * The built-in sender (see sender.h): plain http:// endpoints through
 * http1.c, so a traced process never loads libcurl and the TLS libraries
 * behind it unless its endpoint is https://.  Runs on the exporter thread
 * only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http1.h"
#include "sender.h"

/* An attempt no timeout bounds (OTEL_EXPORTER_OTLP_TIMEOUT=0 and no
 * deadline) still ends: as libcurl's connect and low-speed limits would
 * end a stalled one. */
#define FALLBACK_ATTEMPT_MS 30000L

struct send_http1 {
	struct http1_client c;
	const struct config *cfg;
	char *headers;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The failures sending again may cure: the backend is not there yet, went
 * away, or did not answer in time. */
static int errno_retryable(int err)
{
	switch (err) {
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case EADDRNOTAVAIL:
	case EAGAIN:
		return 1;
	default:
		return 0;
	}
}

static void *http1_create(const struct exporter_host *host, const char *url,
			  const char *headers, char *why, size_t cap)
{
	struct send_http1 *s;
	struct endpoint u;

	if (endpoint_split(url, &u) || u.tls) {
		snprintf(why, cap, "not a plain http:// URL: %s", url);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->headers = strdup(headers))) {
		free(s);
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	http1_init(&s->c, &u, host->own_fd);
	s->cfg = host->cfg;
	return s;
}

static void http1_send(void *arg, const void *body, size_t len,
		       long timeout_ms, struct sender_reply *r)
{
	struct send_http1 *s = arg;
	struct http1_response hr;
	uint64_t deadline = mono_ns() + (uint64_t)(timeout_ms ? timeout_ms :
					 FALLBACK_ATTEMPT_MS) * 1000000ull;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = http1_post(&s->c, s->headers, body, len, deadline, &hr);
	if (rc < 0) {
		/* Keys apart from libcurl's (-1 - CURLcode, above -200). */
		r->err = -1000 + rc;
		r->retryable = errno_retryable(-rc);
		snprintf(r->what, sizeof(r->what), "%s",
			 rc == -EHOSTUNREACH ? "host unreachable or not "
			 "resolved" : rc == -EPROTO ? "not an HTTP/1.x "
			 "response" : strerror(-rc));
		return;
	}
	r->status = hr.status;
	r->body = hr.body;
	r->len = hr.len;
	r->truncated = hr.truncated;
	r->json = hr.content_type[0] ?
		  strstr(hr.content_type, "json") != NULL :
		  s->cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON;
	memcpy(r->retry_after, hr.retry_after, sizeof(r->retry_after));
}

static void http1_idle(void *arg)
{
	struct send_http1 *s = arg;

	http1_disconnect(&s->c);
}

static void http1_destroy(void *arg)
{
	struct send_http1 *s = arg;

	if (!s)
		return;
	http1_free(&s->c);
	free(s->headers);
	free(s);
}

const struct sender_ops sender_http1 = {
	.name = "built-in HTTP/1.1",
	.create = http1_create,
	.post = http1_send,
	.idle = http1_idle,
	.destroy = http1_destroy,
};
