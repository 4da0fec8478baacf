/*
 * Entry point of otelshim-exporter.so: the exporter_ops the batch loop in
 * libotelshim.so finds with dlsym() after dlopen()ing this module on the
 * exporter thread.  It picks the exporter OTEL_TRACES_EXPORTER names: OTLP
 * over HTTP (protobuf or JSON) through the transport, or the console
 * exporter, which writes one OTLP/JSON object per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/iov.h"
#include "common/loader.h"
#include "common/redact.h"
#include "pipeline/exporter.h"
#include "otlp.h"
#include "otlp_response.h"
#include "resource.h"
#include "spooler.h"
#include "symbolize.h"
#include "transport.h"

#define EXPORT __attribute__((visibility("default")))

struct module_exporter {
	struct exporter_host host;
	struct resource res;
	struct otlp_encoder enc;
	enum config_exporter kind;
	struct transport *tr;           /* OTLP */
	struct spooler spool;           /* OTLP */
	int console_fd;                 /* CONSOLE: 2 or our own file */
	int console_owned;
};

static void mlog(const struct exporter_host *host, enum config_log_level lvl,
		 const char *msg)
{
	if (host->log)
		host->log(lvl, msg);
}

static int open_console(struct module_exporter *m)
{
	const char *path = m->host.cfg->console_file;
	int fd;

	if (!path) {
		m->console_fd = STDERR_FILENO;
		return 0;
	}
	/* O_APPEND: each line goes in with one write(2), so processes that
	 * share the file never interleave inside a line. */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = errno;
		char line[512];

		snprintf(line, sizeof(line),
			 "console exporter: cannot open %s: %s", path,
			 strerror(err));
		mlog(&m->host, CONFIG_LOG_ERROR, line);
		return -err;
	}
	if (m->host.own_fd)
		fd = m->host.own_fd(fd, 1);
	m->console_fd = fd;
	m->console_owned = 1;
	return 0;
}

/* Un-owns and closes the console file, if it is ours (not stderr). */
static void close_console(struct module_exporter *m)
{
	if (!m->console_owned)
		return;
	if (m->host.own_fd)
		m->host.own_fd(m->console_fd, 0);
	close(m->console_fd);
	m->console_fd = -1;
	m->console_owned = 0;
}

/* Between exports the module holds no descriptor: see exporter_ops.idle.
 * The console file is opened again for the next batch. */
static void module_idle(void *exp)
{
	struct module_exporter *m = exp;

	if (!m)
		return;
	if (m->tr)
		transport_idle(m->tr);
	otlp_release(&m->enc);
	close_console(m);
}

static void module_destroy(void *exp)
{
	struct module_exporter *m = exp;

	if (!m)
		return;
	transport_destroy(m->tr);
	spooler_close(&m->spool);
	otlp_release(&m->enc);
	close_console(m);
	free(m);
}

static void *module_create(const struct exporter_host *host)
{
	struct module_exporter *m;
	const struct config *cfg;

	if (!host || !host->cfg)
		return NULL;
	cfg = host->cfg;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->host = *host;
	m->kind = cfg->exporter;
	m->console_fd = -1;
	m->spool.sp.dirfd = -1;
	/* This module's copy of the list: command-line URLs are redacted
	 * with the keys the hooks use. */
	redact_set_url_keys(cfg->url_sensitive_keys);
	/* And of the loader guard: libcurl and libdw are loaded later. */
	if (host->loader_enter && host->loader_leave)
		loader_set_guard(host->loader_enter, host->loader_leave);
	if (resource_build(&m->res, cfg, host->argv) != 0) {
		mlog(host, CONFIG_LOG_ERROR, "cannot build the resource");
		goto fail;
	}
	m->enc.cfg = cfg;
	m->enc.res = &m->res;
	/* Captured stacks are symbolised here, off the hot path. */
	m->enc.render_stack = symbolize_render_stack;
	m->enc.code_site = symbolize_code_site;

	switch (m->kind) {
	case CONFIG_EXPORTER_OTLP:
		/* The transport gets our copy of the host, which lives as
		 * long as it does. */
		m->tr = transport_create(&m->host,
					 cfg->protocol ==
					 CONFIG_PROTOCOL_HTTP_JSON ?
					 otlp_response_json :
					 otlp_response_protobuf);
		if (!m->tr)
			goto fail;
		spooler_init(&m->spool, &m->host);
		break;
	case CONFIG_EXPORTER_CONSOLE:
		if (open_console(m))
			goto fail;
		break;
	case CONFIG_EXPORTER_NONE:
		break;
	}
	return m;
fail:
	module_destroy(m);
	return NULL;
}

static void count_result(struct module_exporter *m, int ok, size_t n)
{
	struct exporter_counters *c = m->host.counters;

	if (!c)
		return;
	if (ok) {
		__atomic_fetch_add(&c->batches_sent, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->spans_exported, n, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&c->batches_failed, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->spans_failed, n, __ATOMIC_RELAXED);
	}
}

/* One line, one writev(2): a short write only happens on a full disk or
 * a pipe, and then the rest follows as well as it can. */
static int write_line(int fd, const char *s, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)s, .iov_len = len },
		{ .iov_base = "\n", .iov_len = 1 },
	};
	struct iovec *v = iov;
	int nv = 2;

	while (nv > 0) {
		ssize_t w = writev(fd, v, nv);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		iov_advance(&v, &nv, (size_t)w);
	}
	return 0;
}

static enum exporter_result export_console(struct module_exporter *m,
					   const struct span *spans,
					   size_t n)
{
	char *json = NULL;
	size_t len = 0;
	int rc;

	if (otlp_encode_json(&m->enc, spans, n, &json, &len) != 0) {
		mlog(&m->host, CONFIG_LOG_WARN,
		     "console exporter: out of memory encoding spans");
		count_result(m, 0, n);
		return EXPORTER_FAILED;
	}
	if (m->console_fd < 0 && open_console(m) != 0) {
		free(json);
		count_result(m, 0, n);
		return EXPORTER_FAILED;
	}
	rc = write_line(m->console_fd, json, len);
	free(json);
	count_result(m, rc == 0, n);
	return rc == 0 ? EXPORTER_OK : EXPORTER_FAILED;
}

/* A round of spool delivery after a successful export takes at most
 * this long (the queue keeps filling meanwhile); the rest waits for the
 * next export. */
#define DELIVER_ROUND_NS 2000000000ull

static const char *otlp_content_type(const struct config *cfg)
{
	return cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON ?
	       "application/json" : "application/x-protobuf";
}

/* The request could not be sent now: to the spool.  EXPORTER_SPOOLED, or
 * EXPORTER_RETRY_LATER when the spool cannot take it (the caller keeps
 * the spans, or counts them lost at exit). */
static enum exporter_result to_spool(struct module_exporter *m,
				     const void *body, size_t len, size_t n)
{
	const struct config *cfg = m->host.cfg;

	if (spooler_put(&m->spool, cfg->endpoint, otlp_content_type(cfg),
			body, len, n) != 0)
		return EXPORTER_RETRY_LATER;
	return EXPORTER_SPOOLED;
}

static enum exporter_result export_otlp(struct module_exporter *m,
					const struct span *spans, size_t n,
					uint64_t deadline_ns, unsigned flags)
{
	const struct config *cfg = m->host.cfg;
	enum exporter_result out = EXPORTER_RETRY_LATER;
	enum transport_result res;
	const void *body = NULL;
	char *json = NULL;
	size_t len = 0;
	int rc;

	if (n == 0) {
		/* EXPORTER_DELIVER: the first file is the probe. */
		spooler_deliver(&m->spool, m->tr, cfg->endpoint,
				otlp_content_type(cfg), deadline_ns,
				DELIVER_ROUND_NS);
		return EXPORTER_OK;
	}
	if (cfg->protocol == CONFIG_PROTOCOL_HTTP_JSON) {
		rc = otlp_encode_json(&m->enc, spans, n, &json, &len);
		body = json;
	} else {
		const uint8_t *pb = NULL;

		rc = otlp_encode_protobuf(&m->enc, spans, n, &pb, &len);
		body = pb;
	}
	if (rc != 0) {
		mlog(&m->host, CONFIG_LOG_WARN,
		     "OTLP exporter: out of memory encoding spans");
		count_result(m, 0, n);
		return EXPORTER_FAILED;
	}
	if (flags & EXPORTER_TO_SPOOL) {
		out = to_spool(m, body, len, n);
		free(json);
		return out;
	}
	res = transport_send(m->tr, body, len, n, deadline_ns,
			     (flags & EXPORTER_FINAL) ? TRANSPORT_ONCE : 0);
	switch (res) {
	case TRANSPORT_SENT:
		out = EXPORTER_OK;
		break;
	case TRANSPORT_DROPPED:
		out = EXPORTER_FAILED;
		break;
	case TRANSPORT_DEFERRED:
		if (flags & EXPORTER_FINAL)
			out = to_spool(m, body, len, n);
		break;
	}
	free(json);
	if (out == EXPORTER_OK) {
		/* The endpoint takes requests: what waited for it goes now. */
		spooler_deliver(&m->spool, m->tr, cfg->endpoint,
				otlp_content_type(cfg), deadline_ns,
				DELIVER_ROUND_NS);
	}
	return out;
}

static enum exporter_result module_export(void *exp, const struct span *spans,
					  size_t n, uint64_t deadline_ns,
					  unsigned flags)
{
	struct module_exporter *m = exp;

	/* OTLP: never send a ResourceSpans without spans. */
	if (!m || (n == 0 && !(flags & EXPORTER_DELIVER)))
		return EXPORTER_OK;
	switch (m->kind) {
	case CONFIG_EXPORTER_OTLP:
		return export_otlp(m, spans, n, deadline_ns, flags);
	case CONFIG_EXPORTER_CONSOLE:
		return n ? export_console(m, spans, n) : EXPORTER_OK;
	case CONFIG_EXPORTER_NONE:
		break;
	}
	return EXPORTER_OK;
}

static const struct exporter_ops ops = {
	.abi = EXPORTER_ABI_THIS_BUILD,
	.create = module_create,
	.export_spans = module_export,
	.destroy = module_destroy,
	.idle = module_idle,
};

EXPORT const struct exporter_ops *otelshim_exporter_ops(void)
{
	return &ops;
}
