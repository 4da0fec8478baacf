/*
 * Exporter throughput on one core: loads the real exporter module
 * (build/otelshim-exporter.so) the way the library does, hands it batches
 * of synthetic HTTP server spans (the default batch size, 512, each with
 * the attributes a traced request carries) and lets it encode them as
 * OTLP protobuf and POST them to the endpoint in the environment, which
 * for the benchmark is the discard sink on another core.  It needs the
 * _GNU_SOURCE the build passes.  The process
 * pins itself to CPU 0 and prints "spans_per_s N" after `seconds`, or
 * after `batches` batches when that is given (for callgrind, whose counts
 * need a fixed amount of work, not a fixed time).
 *
 *     exptput MODULE SECONDS [BATCHES]
 * links: pipeline/config.c pipeline/config_lists.c pipeline/config_scalars.c
 */
#include <dlfcn.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/config.h"
#include "pipeline/exporter.h"
#include "pipeline/span.h"

#define BATCH 512

extern char **environ;

static struct exporter_counters counters;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void host_log(enum config_log_level level, const char *msg)
{
	fprintf(stderr, "exptput: %s\n", msg);
}

static void warn(const char *msg)
{
	fprintf(stderr, "exptput: %s\n", msg);
}

static struct span_str put(struct span *s, const char *v)
{
	struct span_str r = { s->pool_used, (uint16_t)strlen(v) };

	memcpy(s->pool + s->pool_used, v, r.len);
	s->pool_used += r.len;
	return r;
}

static void attr_s(struct span *s, const char *key, const char *v)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_STRING;
	a->v.s = put(s, v);
}

static void attr_i(struct span *s, const char *key, int64_t v)
{
	struct span_attr *a = &s->attrs[s->nattrs++];

	a->key = key;
	a->type = SPAN_ATTR_INT;
	a->v.i = v;
}

/* A server span like the one an HTTP GET on a traced service makes. */
static void make_span(struct span *s, uint64_t seq)
{
	uint64_t t = (uint64_t)time(NULL) * 1000000000u + seq * 1000u;

	memset(s, 0, offsetof(struct span, pool));
	memcpy(s->trace_id, &seq, sizeof(seq));
	s->trace_id[15] = 0x42;
	memcpy(s->span_id, &seq, sizeof(seq));
	s->span_id[7] = 0x17;
	s->trace_flags = SPAN_FLAG_SAMPLED;
	s->kind = SPAN_KIND_SERVER;
	s->start_ns = t;
	s->end_ns = t + 35000;
	s->name = put(s, "GET /api/items");
	attr_s(s, "http.request.method", "GET");
	attr_s(s, "url.path", "/api/items");
	attr_s(s, "url.scheme", "http");
	attr_s(s, "http.route", "/api/items");
	attr_i(s, "http.response.status_code", 200);
	attr_s(s, "network.protocol.version", "1.1");
	attr_s(s, "server.address", "localhost");
	attr_i(s, "server.port", 8080);
	attr_s(s, "network.peer.address", "127.0.0.1");
	attr_i(s, "network.peer.port", 40000 + (int64_t)(seq % 20000));
	attr_s(s, "user_agent.original", "wrk/4.2.0");
}

int main(int argc, char **argv)
{
	static struct span spans[BATCH];
	const struct exporter_ops *(*entry)(void);
	const struct exporter_ops *ops;
	struct exporter_host host = { 0 };
	struct config cfg;
	uint64_t seq = 1, sent = 0, t0, end, batches = 0, nbatch = 0;
	cpu_set_t cpus;
	void *dl, *exp;
	double secs;

	if (argc < 3) {
		fprintf(stderr, "usage: exptput MODULE SECONDS [BATCHES]\n");
		return 2;
	}
	secs = atof(argv[2]);
	if (argc > 3)
		batches = strtoull(argv[3], NULL, 10);
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	config_load(&cfg, environ, warn);
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "exptput: %s\n", dlerror());
		return 1;
	}
	*(void **)&entry = dlsym(dl, EXPORTER_ENTRY);
	if (!entry) {
		fprintf(stderr, "exptput: no %s\n", EXPORTER_ENTRY);
		return 1;
	}
	ops = entry();
	host.cfg = &cfg;
	host.counters = &counters;
	host.log = host_log;
	host.argv = argv;
	exp = ops->create(&host);
	if (!exp) {
		fprintf(stderr, "exptput: the module did not start\n");
		return 1;
	}
	/* One warm-up batch opens the connection. */
	for (size_t i = 0; i < BATCH; i++)
		make_span(&spans[i], seq++);
	ops->export_spans(exp, spans, BATCH, mono_ns() + 10000000000ull, 0);
	t0 = mono_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	/* Only the ids change from batch to batch: the spans are built once,
	 * so that what is timed is the module's work. */
	while (batches ? nbatch < batches : mono_ns() < end) {
		for (size_t i = 0; i < BATCH; i++) {
			memcpy(spans[i].span_id, &seq, sizeof(seq));
			memcpy(spans[i].trace_id, &seq, sizeof(seq));
			seq++;
		}
		if (ops->export_spans(exp, spans, BATCH,
				      mono_ns() + 10000000000ull, 0) !=
		    EXPORTER_OK) {
			fprintf(stderr, "exptput: export failed\n");
			return 1;
		}
		sent += BATCH;
		nbatch++;
	}
	printf("spans_per_s %.0f\n", (double)sent * 1e9 /
	       (double)(mono_ns() - t0));
	ops->destroy(exp);
	return 0;
}
