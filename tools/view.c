/*
 * `otelshim view FILE`: the traces in an OTLP/JSON lines file (what the
 * console/file exporter writes) as a terminal waterfall — one tree per
 * trace, children under their parents, a bar per span scaled to the
 * trace's duration, and the attributes that say what happened.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "view.h"

struct vspan {
	char trace[33], id[17], parent[17];
	const char *service, *name, *detail;
	int kind, error;
	int no_time;            /* times missing or ending before the start */
	long status_code;
	uint64_t start, end;
	int depth;
	int printed;
};

struct view {
	struct vspan *spans;
	size_t n, cap;
	int color;
	int bar_width;
};

static const char *kind_name(int kind)
{
	static const char *names[] = { "?", "INTERNAL", "SERVER", "CLIENT",
				       "PRODUCER", "CONSUMER" };

	return kind >= 0 && kind <= 5 ? names[kind] : "?";
}

/* The value of an OTLP/JSON KeyValue list entry as text. */
static const char *attr_text(const struct json *attrs, const char *key)
{
	for (const struct json *kv = attrs ? attrs->child : NULL; kv;
	     kv = kv->next) {
		const struct json *v;

		if (strcmp(json_str(kv, "key", ""), key))
			continue;
		v = json_get(kv, "value");
		if (!v || !v->child)
			return NULL;
		if (v->child->type == JSON_BOOL)
			return v->child->boolean ? "true" : "false";
		return v->child->str;
	}
	return NULL;
}

static void copy_id(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* What a reader most wants to see next to the span's name. */
static const char *pick_detail(const struct json *attrs)
{
	static const char *keys[] = {
		"db.query.text", "url.full", "url.path", "server.address",
		"error.type", NULL,
	};

	for (int i = 0; keys[i]; i++) {
		const char *v = attr_text(attrs, keys[i]);

		if (v && *v)
			return v;
	}
	return "";
}

static int add_span(struct view *vw, const char *service,
		    const struct json *s)
{
	const struct json *attrs = json_get(s, "attributes");
	const struct json *st = json_get(s, "status");
	const char *code = attr_text(attrs, "http.response.status_code");
	struct vspan *v;

	if (vw->n == vw->cap) {
		size_t cap = vw->cap ? vw->cap * 2 : 256;
		struct vspan *p = realloc(vw->spans, cap * sizeof(*p));

		if (!p)
			return -1;
		vw->spans = p;
		vw->cap = cap;
	}
	v = &vw->spans[vw->n++];
	memset(v, 0, sizeof(*v));
	copy_id(v->trace, sizeof(v->trace), json_str(s, "traceId", ""));
	copy_id(v->id, sizeof(v->id), json_str(s, "spanId", ""));
	copy_id(v->parent, sizeof(v->parent), json_str(s, "parentSpanId", ""));
	v->service = service;
	v->name = json_str(s, "name", "");
	v->kind = atoi(json_str(s, "kind", "0"));
	v->start = strtoull(json_str(s, "startTimeUnixNano", "0"), NULL, 10);
	v->end = strtoull(json_str(s, "endTimeUnixNano", "0"), NULL, 10);
	if (v->start == 0 || v->end < v->start) {
		v->no_time = 1;
		v->end = v->start;
	}
	v->error = atoi(json_str(st, "code", "0")) == 2;
	v->status_code = code ? atol(code) : 0;
	v->detail = pick_detail(attrs);
	return 0;
}

static int add_line(struct view *vw, struct json_arena *a, const char *line,
		    size_t len)
{
	const struct json *req = json_parse(a, line, len);
	const struct json *rss = json_get(req, "resourceSpans");

	if (!req || !rss)
		return -1;
	for (const struct json *rs = rss ? rss->child : NULL; rs;
	     rs = rs->next) {
		const struct json *res = json_get(rs, "resource");
		const char *svc = attr_text(json_get(res, "attributes"),
					    "service.name");
		const struct json *sss = json_get(rs, "scopeSpans");

		for (const struct json *ss = sss ? sss->child : NULL; ss;
		     ss = ss->next) {
			const struct json *spans = json_get(ss, "spans");

			for (const struct json *s = spans ? spans->child :
			     NULL; s; s = s->next)
				if (add_span(vw, svc ? svc : "?", s))
					return -1;
		}
	}
	return 0;
}

static int by_trace_then_start(const void *a, const void *b)
{
	const struct vspan *x = a, *y = b;
	int c = strcmp(x->trace, y->trace);

	if (c)
		return c;
	return x->start < y->start ? -1 : x->start > y->start;
}

static const char *color_of(const struct vspan *s)
{
	if (s->error)
		return "\033[31m";
	if (s->kind == 2)
		return "\033[32m";
	if (s->kind == 3)
		return "\033[36m";
	return "\033[33m";
}

static void print_span(const struct view *vw, const struct vspan *s,
		       uint64_t t0, uint64_t total)
{
	char bar[128];
	int w = vw->bar_width;
	double ms = (double)(s->end - s->start) / 1e6;
	int from = total ? (int)((double)(s->start - t0) * w / total) : 0;
	int len = total ? (int)((double)(s->end - s->start) * w / total) : w;
	char label[64], status[16] = "", took[16] = "        ? ms";

	if (from > w - 1)
		from = w - 1;
	if (len < 1)
		len = 1;
	if (from + len > w)
		len = w - from;
	for (int i = 0; i < w; i++)
		bar[i] = s->no_time ? ' ' :
			 i >= from && i < from + len ? '#' : '.';
	bar[w] = 0;
	snprintf(label, sizeof(label), "%*s%s", s->depth * 2, "", s->name);
	if (!s->no_time)
		snprintf(took, sizeof(took), "%9.3f ms", ms);
	if (s->status_code)
		snprintf(status, sizeof(status), "%ld", s->status_code);
	else if (s->error)
		snprintf(status, sizeof(status), "ERROR");
	printf("%s%-14.14s %-6.6s %-30.30s %s %s %-5s%s %.60s\n",
	       vw->color ? color_of(s) : "", s->service, kind_name(s->kind),
	       label, bar, took, status, vw->color ? "\033[0m" : "",
	       s->detail);
}

/* Prints the children of parent (depth-first, in start order). */
static void print_tree(struct view *vw, size_t lo, size_t hi,
		       const char *parent, int depth, uint64_t t0,
		       uint64_t total)
{
	for (size_t i = lo; i < hi; i++) {
		struct vspan *s = &vw->spans[i];

		if (s->printed || strcmp(s->parent, parent))
			continue;
		s->printed = 1;
		s->depth = depth;
		print_span(vw, s, t0, total);
		print_tree(vw, lo, hi, s->id, depth + 1, t0, total);
	}
}

static int has_span(const struct view *vw, size_t lo, size_t hi,
		    const char *id)
{
	for (size_t i = lo; i < hi; i++)
		if (!strcmp(vw->spans[i].id, id))
			return 1;
	return 0;
}

static void print_trace(struct view *vw, size_t lo, size_t hi)
{
	uint64_t t0 = UINT64_MAX, t1 = 0;

	for (size_t i = lo; i < hi; i++) {
		if (vw->spans[i].no_time)
			continue;
		if (vw->spans[i].start < t0)
			t0 = vw->spans[i].start;
		if (vw->spans[i].end > t1)
			t1 = vw->spans[i].end;
	}
	if (t1 < t0)            /* no span with its times */
		t0 = t1 = 0;
	printf("%strace %s%s  %zu span%s, %.3f ms\n",
	       vw->color ? "\033[1m" : "", vw->spans[lo].trace,
	       vw->color ? "\033[0m" : "", hi - lo, hi - lo == 1 ? "" : "s",
	       (double)(t1 - t0) / 1e6);
	/* Roots: no parent, or a parent in another process we have not
	 * seen (a remote caller). */
	for (size_t i = lo; i < hi; i++) {
		struct vspan *s = &vw->spans[i];

		if (s->printed || (s->parent[0] &&
				   has_span(vw, lo, hi, s->parent)))
			continue;
		s->printed = 1;
		s->depth = 0;
		print_span(vw, s, t0, t1 - t0);
		print_tree(vw, lo, hi, s->id, 1, t0, t1 - t0);
	}
	putchar('\n');
}

struct group {
	size_t lo, hi;
	uint64_t t0;
};

static int by_start(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

/* Spans are sorted by trace; traces are printed oldest first. */
static void print_traces_in_time_order(struct view *vw)
{
	struct group *g = calloc(vw->n ? vw->n : 1, sizeof(*g));
	size_t ng = 0;

	if (!g)
		return;
	for (size_t lo = 0, hi; lo < vw->n; lo = hi) {
		uint64_t t0 = vw->spans[lo].start;

		for (hi = lo + 1; hi < vw->n &&
		     !strcmp(vw->spans[hi].trace, vw->spans[lo].trace); hi++)
			if (vw->spans[hi].start < t0)
				t0 = vw->spans[hi].start;
		g[ng++] = (struct group){ lo, hi, t0 };
	}
	qsort(g, ng, sizeof(*g), by_start);
	for (size_t i = 0; i < ng; i++)
		print_trace(vw, g[i].lo, g[i].hi);
	free(g);
}

int view_main(int argc, char **argv)
{
	struct view vw = { .bar_width = 30 };
	struct json_arena *a = json_arena_new();
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int bad = 0;

	if (argc != 1) {
		fprintf(stderr, "usage: otelshim view FILE   (- for standard "
			"input)\n");
		return 2;
	}
	f = strcmp(argv[0], "-") ? fopen(argv[0], "r") : stdin;
	if (!f) {
		fprintf(stderr, "otelshim view: %s: %s\n", argv[0],
			strerror(errno));
		return 1;
	}
	vw.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' ||
				   line[len - 1] == '\r'))
			len--;
		if (len && add_line(&vw, a, line, (size_t)len))
			bad++;
	}
	if (bad)
		fprintf(stderr, "otelshim view: %s: %d line%s not OTLP/JSON "
			"(truncated or not an otelshim file export), "
			"skipped\n", argv[0], bad, bad == 1 ? "" : "s");
	qsort(vw.spans, vw.n, sizeof(*vw.spans), by_trace_then_start);
	print_traces_in_time_order(&vw);
	if (!vw.n)
		printf("no spans in %s\n", argv[0]);
	free(line);
	free(vw.spans);
	json_arena_free(a);
	if (f != stdin)
		fclose(f);
	return bad ? 1 : 0;
}
