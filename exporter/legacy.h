/*
 * Legacy attribute names (OTEL_SEMCONV_STABILITY_OPT_IN=http/dup,
 * database/dup): for a span's stable attributes, the names instrumentations
 * used before the HTTP and database conventions were declared stable
 * (docs/otel-reference.md §6), so that dashboards and backends still
 * reading http.method or db.statement keep working during a migration.
 * Records keep the stable names only; the exporter adds the old ones while
 * it encodes.  Pure: keys in, pairs out.  Runs on the exporter thread.
 */
#ifndef OTELSHIM_LEGACY_H
#define OTELSHIM_LEGACY_H

#include <stddef.h>

#define LEGACY_NONE ((size_t)-1)

/* One legacy attribute: key, with the value of keys[from] — and, for
 * http.target, "?" and the value of keys[query] after it (LEGACY_NONE:
 * no query). */
struct legacy_attr {
	const char *key;
	size_t from;
	size_t query;
};

/*
 * The legacy attributes of a span of the given kind (enum span_kind) whose
 * attribute keys are keys[0, n), for the categories dup asks for
 * (CONFIG_SEMCONV_*).  A span is an HTTP span when it has
 * http.request.method and a database span when it has db.system.name;
 * the peer names depend on that and on the kind.  Writes at most cap
 * entries to out, in the order of keys; returns how many.
 */
size_t legacy_attrs(int kind, int dup, const char *const *keys, size_t n,
		    struct legacy_attr *out, size_t cap);

#endif
