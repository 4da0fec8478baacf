/*
 * The libcurl sender (see sender.h): https:// endpoints, plain ones
 * behind a proxy, and OTLP/gRPC (HTTP/2: with prior knowledge for http://,
 * through ALPN for https://; the trailers' grpc-* fields go to the reply).
 * libcurl is loaded on first use (curl_api.c); one easy handle per
 * exporter, reused so the connection stays alive between batches.  Runs
 * on the exporter thread only.
 *
 * Sockets are opened and closed by callbacks here so the host can mark them
 * as the exporter's own: the hooks in libotelshim.so must never trace them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/text.h"
#include "curl_api.h"
#include "send_curl.h"
#include "sender.h"
#include "transport.h"

/* Used when no timeout bounds an attempt: connect within this, and give up
 * on a peer that sends nothing for LOW_SPEED_SECONDS. */
#define FALLBACK_CONNECT_MS 30000L
#define LOW_SPEED_SECONDS   30L

struct send_curl {
	const struct curl_api *cu;
	struct exporter_host host;
	char *url;
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];

	/* The current attempt's response: body (at most TRANSPORT_MAX_RESPONSE
	 * kept, the rest discarded) and its Retry-After header. */
	uint8_t *resp;
	size_t resp_len, resp_cap;
	int resp_truncated;
	char retry_after[64];
	int grpc_status;
	char grpc_message[256];
	char grpc_details[512];
};

/*
 * Transient: the name did not resolve (a collector container still
 * starting, a DNS hiccup), the connection could not be made or broke, the
 * peer closed without a response, or the attempt timed out.  Everything
 * else is a configuration or local problem (malformed URL, unsupported
 * scheme, TLS handshake or certificate failure, out of memory, a 3xx we do
 * not follow) that sending the same request again cannot fix; the next
 * batch tries again anyway, and the breaker stops the waste.
 */
int send_curl_retryable(int curl_code)
{
	switch (curl_code) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/*
 * libcurl creates every connection's socket here, on the exporter thread,
 * so the host can mark it as ours before it carries a byte.  SOCK_CLOEXEC:
 * a program that execs must not hand our connection to its child.
 */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
				 struct curl_sockaddr *addr)
{
	struct send_curl *s = arg;
	int fd;

	(void)purpose;
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
		    addr->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	if (s->host.own_fd)
		fd = s->host.own_fd(fd, 1);
	return fd;
}

/* Un-marks before closing: once closed, the number may at once belong to
 * a descriptor of the program's that must not look like ours. */
static int close_socket(void *arg, curl_socket_t fd)
{
	struct send_curl *s = arg;

	if (s->host.own_fd)
		s->host.own_fd(fd, 0);
	return close(fd);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct send_curl *s = arg;
	size_t n = size * nmemb, room;

	/* Always claim the bytes: refusing them would turn a 200 with a big
	 * body into a failed transfer.  Past the limit they are dropped. */
	if (s->resp_len + n > s->resp_cap &&
	    s->resp_cap < TRANSPORT_MAX_RESPONSE) {
		size_t want = s->resp_cap ? s->resp_cap : 4096;
		uint8_t *nb;

		while (want < s->resp_len + n && want < TRANSPORT_MAX_RESPONSE)
			want *= 2;
		if (want > TRANSPORT_MAX_RESPONSE)
			want = TRANSPORT_MAX_RESPONSE;
		nb = realloc(s->resp, want);
		if (nb) {
			s->resp = nb;
			s->resp_cap = want;
		}
	}
	room = s->resp_cap - s->resp_len;
	if (n > room) {
		s->resp_truncated = 1;
		n = room;
	}
	if (n)
		memcpy(s->resp + s->resp_len, data, n);
	s->resp_len += n;
	return size * nmemb;
}

/* The value of the header line if it is name's ("name:"), trimmed, into
 * (out, cap); 1 if it was. */
static int header_value(struct str line, struct str name, char *out,
			size_t cap)
{
	struct str v;

	if (!str_starts_nocase(line, name))
		return 0;
	v = str_trim((struct str){ line.p + name.n, line.n - name.n });
	snprintf(out, cap, "%.*s", (int)v.n, v.p);
	return 1;
}

/* Header lines, and with HTTP/2 the trailers after the body. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct send_curl *s = arg;
	size_t n = size * nmemb;
	struct str line = { data, n };
	char status[16];

	while (line.n > 0 && (line.p[line.n - 1] == '\n' ||
			      line.p[line.n - 1] == '\r'))
		line.n--;
	/* A new status line: forget what an interim response said. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		s->retry_after[0] = '\0';
		s->grpc_status = -1;
		s->grpc_message[0] = '\0';
		s->grpc_details[0] = '\0';
		return n;
	}
	if (header_value(line, STR_LIT("retry-after:"), s->retry_after,
			 sizeof(s->retry_after)) ||
	    header_value(line, STR_LIT("grpc-message:"), s->grpc_message,
			 sizeof(s->grpc_message)) ||
	    header_value(line, STR_LIT("grpc-status-details-bin:"),
			 s->grpc_details, sizeof(s->grpc_details)))
		return n;
	if (header_value(line, STR_LIT("grpc-status:"), status,
			 sizeof(status)))
		s->grpc_status = atoi(status);
	return n;
}

/* The header block as curl's list: "Name:" alone would make curl drop the
 * header, "Name;" is its way to send one with no value. */
static int build_headers(struct send_curl *s, const char *block)
{
	const char *p = block;

	while (*p) {
		const char *eol = strstr(p, "\r\n");
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char line[1100];
		struct curl_slist *nl;

		if (n >= sizeof(line))
			return -EINVAL;
		memcpy(line, p, n);
		line[n] = '\0';
		if (n > 0 && line[n - 1] == ':')
			line[n - 1] = ';';
		nl = s->cu->slist_append(s->headers, line);
		if (!nl)
			return -ENOMEM;
		s->headers = nl;
		p += n + (eol ? 2 : 0);
	}
	/* No "Expect: 100-continue": the round trip costs more than the
	 * body, and some proxies answer it badly. */
	if (!(s->headers = s->cu->slist_append(s->headers, "Expect:")))
		return -ENOMEM;
	return 0;
}

/* The options that never change between requests. */
static int setup_handle(struct send_curl *s)
{
	const struct config *cfg = s->host.cfg;
	const struct curl_api *cu = s->cu;
	CURL *c = s->curl;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) \
		rc = cu->easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_URL, s->url);
	SET(CURLOPT_ERRORBUFFER, s->errbuf);
	SET(CURLOPT_HTTPHEADER, s->headers);
	SET(CURLOPT_POST, 1L);
	/* Redirects are not followed: OTLP defines none; following would
	 * send the configured headers (API keys, tenant ids) to whatever
	 * host the redirect names, and curl would turn the POST into a GET
	 * on 301/302.  A 3xx is a misconfigured endpoint: fail and log. */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (cfg->protocol == CONFIG_PROTOCOL_GRPC)
		SET(CURLOPT_HTTP_VERSION, str_starts_nocase(str_of(s->url),
			STR_LIT("https:")) ? (long)CURL_HTTP_VERSION_2TLS :
			(long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->certificate)
		SET(CURLOPT_CAINFO, cfg->certificate);
	if (cfg->client_certificate)
		SET(CURLOPT_SSLCERT, cfg->client_certificate);
	if (cfg->client_key)
		SET(CURLOPT_SSLKEY, cfg->client_key);
	/* A peer that accepts and then sends nothing is dropped even when no
	 * timeout applies. */
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, s);
	SET(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	SET(CURLOPT_CLOSESOCKETDATA, s);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, s);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, s);
#undef SET
	return rc == CURLE_OK ? 0 : -(int)rc;
}

static void curl_destroy(void *arg)
{
	struct send_curl *s = arg;

	if (!s)
		return;
	if (s->curl)
		s->cu->easy_cleanup(s->curl);
	if (s->headers)
		s->cu->slist_free_all(s->headers);
	free(s->resp);
	free(s->url);
	free(s);
}

/* A handle set up for s; 0 or -errno (why says it). */
static int open_handle(struct send_curl *s, char *why, size_t cap)
{
	int rc;

	s->curl = s->cu->easy_init();
	if (!s->curl) {
		snprintf(why, cap, "libcurl: cannot create a handle");
		return -ENOMEM;
	}
	rc = setup_handle(s);
	if (rc) {
		snprintf(why, cap, "libcurl setup failed: %s",
			 s->cu->easy_strerror((CURLcode)-rc));
		s->cu->easy_cleanup(s->curl);
		s->curl = NULL;
		return -EINVAL;
	}
	return 0;
}

const char *send_curl_soname = CURL_API_SONAME;

static void *curl_create(const struct exporter_host *host, const char *url,
			 const char *headers, char *why, size_t cap)
{
	const struct curl_api *cu;
	const curl_version_info_data *vi;
	struct send_curl *s;
	char err[200];

	cu = curl_api_load(send_curl_soname, err, sizeof(err));
	if (!cu) {
		snprintf(why, cap, "%s needs libcurl, which cannot be loaded "
			 "(%s): no span is exported", url, err);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->url = strdup(url))) {
		free(s);
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	s->cu = cu;
	s->host = *host;
	if (build_headers(s, headers)) {
		snprintf(why, cap, "libcurl: cannot set the headers");
		goto fail;
	}
	if (open_handle(s, why, cap))
		goto fail;
	/* Without an asynchronous resolver, CURLOPT_NOSIGNAL means a name
	 * lookup ignores the timeout: the deadline is then only as good as
	 * the system resolver's own. */
	vi = cu->version_info(CURLVERSION_NOW);
	if (vi && !(vi->features & CURL_VERSION_ASYNCHDNS) && host->log)
		host->log(CONFIG_LOG_DEBUG,
			  "libcurl has no asynchronous resolver: name lookups "
			  "are not bounded by the export timeout");
	return s;
fail:
	curl_destroy(s);
	return NULL;
}

static void curl_post(void *arg, const void *body, size_t len,
		      long timeout_ms, struct sender_reply *r)
{
	struct send_curl *s = arg;
	const struct curl_api *cu = s->cu;
	char *ctype = NULL;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	if (!s->curl && open_handle(s, r->what, sizeof(r->what))) {
		r->err = -1 - CURLE_FAILED_INIT;
		return;
	}
	s->resp_len = 0;
	s->resp_truncated = 0;
	s->retry_after[0] = '\0';
	s->grpc_status = -1;
	s->grpc_message[0] = '\0';
	s->grpc_details[0] = '\0';
	s->errbuf[0] = '\0';
	cu->easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
	cu->easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	cu->easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	cu->easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
			timeout_ms ? timeout_ms : FALLBACK_CONNECT_MS);
	rc = cu->easy_perform(s->curl);
	if (rc != CURLE_OK) {
		/* Keys apart from every errno the built-in client gives. */
		r->err = -1 - (int)rc;
		r->retryable = send_curl_retryable((int)rc);
		snprintf(r->what, sizeof(r->what), "%.100s%s%.150s",
			 cu->easy_strerror(rc), s->errbuf[0] ? ": " : "",
			 s->errbuf);
		return;
	}
	cu->easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &r->status);
	r->json = s->host.cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON;
	if (cu->easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &ctype) ==
	    CURLE_OK && ctype)
		r->json = strstr(ctype, "json") != NULL;
	r->body = s->resp;
	r->len = s->resp_len;
	r->truncated = s->resp_truncated;
	memcpy(r->retry_after, s->retry_after, sizeof(r->retry_after));
	r->grpc_status = s->grpc_status;
	memcpy(r->grpc_message, s->grpc_message, sizeof(r->grpc_message));
	memcpy(r->grpc_details, s->grpc_details, sizeof(r->grpc_details));
}

static void curl_idle(void *arg)
{
	struct send_curl *s = arg;

	/* Cleaning the handle up closes its connections (through our
	 * close-socket callback); the next post sets up a new one. */
	if (s->curl) {
		s->cu->easy_cleanup(s->curl);
		s->curl = NULL;
	}
}

const struct sender_ops sender_curl = {
	.name = "libcurl",
	.create = curl_create,
	.post = curl_post,
	.idle = curl_idle,
	.destroy = curl_destroy,
};
