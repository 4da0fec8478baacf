/*
 * The OTEL_* and OTELSHIM_* environment turned into one struct config, from
 * one table: a row per setting names its variable, its field, its kind of
 * value, its default (spelled as the environment would spell it, and read
 * the same way) and its bounds; one reader per kind (config_scalars.c,
 * config_lists.c) does the rest, and the few rules of a single setting are
 * named hooks in its row.  It runs in the library constructor of every
 * process: one pass over envp, one arena for the strings kept, warnings
 * put together by hand instead of with stdio.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/endpoint.h"
#include "common/text.h"
#include "config.h"
#include "config_row.h"

/* The arena of the last load: reachable, so leak checkers stay quiet. */
static char *config_arena;

/* ------------------------------------------------------------ messages */

static void msg_mem(struct config_msg *m, const char *s, size_t n)
{
	size_t room = sizeof(m->buf) - 1 - m->n;

	if (n > room)
		n = room;
	memcpy(m->buf + m->n, s, n);
	m->n += n;
	m->buf[m->n] = '\0';
}

void config_msg_str(struct config_msg *m, const char *s)
{
	msg_mem(m, s, strlen(s));
}

void config_msg_u32(struct config_msg *m, uint32_t v)
{
	char tmp[12];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	msg_mem(m, tmp + i, sizeof(tmp) - i);
}

/* So that a warning stays one harmless line. */
void config_msg_quoted(struct config_msg *m, struct str s)
{
	size_t i, n = s.n > 64 ? 64 : s.n;

	config_msg_str(m, "\"");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		char ch = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';

		msg_mem(m, &ch, 1);
	}
	config_msg_str(m, n < s.n ? "...\"" : "\"");
}

/* ------------------------------------------------ once per process tree */

/* FNV-1a over s[0, n) and a NUL, continuing from h. */
static uint64_t key_mix(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i <= n; i++) {
		h ^= i < n ? (unsigned char)s[i] : 0;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A warning's key: the variable being read, its value and the message,
 * so that another value, or another problem, is a warning of its own. */
static void warn_key(const struct config_loader *ld, const char *msg,
		     char hex[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *name = ld->cur.name ? ld->cur.name : "";
	const char *raw = ld->cur.raw ? ld->cur.raw : "";
	uint8_t b[8];

	h = key_mix(h, name, strlen(name));
	h = key_mix(h, raw, strlen(raw));
	h = key_mix(h, msg, strlen(msg));
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(h >> (56 - 8 * i));
	hex_encode(hex, b, sizeof(b));
	hex[16] = '\0';
}

/* Whether an ancestor's CONFIG_WARNED_VAR lists key. */
static int warned_before(const struct config_loader *ld, const char *key)
{
	struct str rest = ld->warned, member;
	int done = 0;

	while (rest.n && str_next_member(&rest, &member, &done)) {
		if (str_is(member, key))
			return 1;
	}
	return 0;
}

/* Adds key to what children are told; a key past CONFIG_WARNED_MAX is
 * left out (the child then warns again). */
static void remember_warned(struct config_loader *ld, const char *key)
{
	char *env = ld->cfg->warned_env;
	size_t n;

	if (ld->n_warned == CONFIG_WARNED_MAX)
		return;
	if (ld->n_warned++ == 0)
		memcpy(env, CONFIG_WARNED_VAR "=", sizeof(CONFIG_WARNED_VAR));
	else
		strcat(env, ",");
	n = strlen(env);
	memcpy(env + n, key, 17);
}

void config_emit(struct config_loader *ld, const struct config_msg *m)
{
	char key[17];

	if (ld->quiet || !ld->warn)
		return;
	warn_key(ld, m->buf, key);
	remember_warned(ld, key);
	if (!warned_before(ld, key))
		ld->warn(m->buf);
}

void config_warn_value(struct config_loader *ld, const char *name,
		       struct str s, const char *what, const char *fallback)
{
	struct config_msg m = { .n = 0 };

	config_msg_str(&m, name);
	config_msg_str(&m, "=");
	config_msg_quoted(&m, s);
	config_msg_str(&m, " ");
	config_msg_str(&m, what);
	config_msg_str(&m, "; using ");
	config_msg_str(&m, fallback);
	config_emit(ld, &m);
}

void config_warn_text(struct config_loader *ld, const char *name,
		      const char *text)
{
	struct config_msg m = { .n = 0 };

	config_msg_str(&m, name);
	config_msg_str(&m, " ");
	config_msg_str(&m, text);
	config_emit(ld, &m);
}

void config_warn_member(struct config_loader *ld, const char *name,
			uint32_t member, const char *why, const char *then)
{
	struct config_msg m = { .n = 0 };

	config_msg_str(&m, name);
	config_msg_str(&m, ": member ");
	config_msg_u32(&m, member);
	config_msg_str(&m, " ");
	config_msg_str(&m, why);
	config_msg_str(&m, "; ");
	config_msg_str(&m, then);
	config_emit(ld, &m);
}

/* ---------------------------------------------------------------- arena */

char *config_alloc(struct config_loader *ld, size_t n)
{
	char *p;

	if (ld->arena_state == CONFIG_ARENA_UNOPENED && ld->cap > 0) {
		ld->arena = malloc(ld->cap);
		ld->arena_state = ld->arena ? CONFIG_ARENA_OPEN
					    : CONFIG_ARENA_FAILED;
		config_arena = ld->arena;
		if (ld->arena == NULL) {
			struct config_msg m = { .n = 0 };

			config_msg_str(&m, "out of memory reading OTEL_* "
				       "variables; using defaults for "
				       "strings");
			config_emit(ld, &m);
		}
	}
	if (ld->arena == NULL || ld->cap - ld->used < n)
		return NULL;
	p = ld->arena + ld->used;
	ld->used += n;
	return p;
}

const char *config_keep(struct config_loader *ld, struct str s)
{
	char *p = config_alloc(ld, s.n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s.p, s.n);
	p[s.n] = '\0';
	return p;
}

/* ---------------------------------------------------------- the hooks */

/* The default of a row, as a value to read. */
static struct config_value default_of(const struct config_row *row)
{
	struct config_value v = {
		row->name, row->def, str_of(row->def), CONFIG_SRC_DEFAULT
	};

	return v;
}

/*
 * OTEL_LOG_LEVEL: unless it is set (validly), the library prints only
 * warnings about its configuration — preloaded into every process, it
 * must not talk on their stderr by default; below warn, not even those.
 */
static int log_level_read(struct config_loader *ld,
			  const struct config_row *row, struct config_value v)
{
	int err = row->kind->read(ld, row, v);

	if (err == 0) {
		ld->cfg->log_level_explicit = v.src != CONFIG_SRC_DEFAULT;
		ld->quiet = ld->cfg->log_level < CONFIG_LOG_WARN;
	}
	return err;
}

/* OTEL_TRACES_SAMPLER_ARG means something to the ratio samplers only. */
static int sampler_arg_read(struct config_loader *ld,
			    const struct config_row *row,
			    struct config_value v)
{
	enum config_sampler s = ld->cfg->sampler;

	if (s != CONFIG_SAMPLER_TRACEIDRATIO &&
	    s != CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO)
		v = default_of(row);
	return row->kind->read(ld, row, v);
}

/* A batch larger than the queue could never fill. */
static int batch_read(struct config_loader *ld, const struct config_row *row,
		      struct config_value v)
{
	struct config *cfg = ld->cfg;
	struct config_msg m = { .n = 0 };
	int err = row->kind->read(ld, row, v);

	if (err != 0 ||
	    cfg->bsp_max_export_batch_size <= cfg->bsp_max_queue_size)
		return err;
	cfg->bsp_max_export_batch_size = cfg->bsp_max_queue_size;
	config_msg_str(&m, "is larger than OTEL_BSP_MAX_QUEUE_SIZE; using ");
	config_msg_u32(&m, cfg->bsp_max_queue_size);
	config_warn_text(ld, v.name, m.buf);
	return 0;
}

/* OTELSHIM_STACK_THRESHOLD_MS: "off" or "-1" for never. */
static int stack_threshold_read(struct config_loader *ld,
				const struct config_row *row,
				struct config_value v)
{
	if (str_is(v.s, "off") || str_is(v.s, "-1")) {
		*(int32_t *)config_field(ld, row) = -1;
		return 0;
	}
	return row->kind->read(ld, row, v);
}

/* ------------------------------------------------------------ the table */

static const struct config_word booleans[] = {
	{ "false", 0 }, { "true", 1 }, { NULL, 0 },
};

static const struct config_word log_levels[] = {
	{ "none", CONFIG_LOG_NONE }, { "off", CONFIG_LOG_NONE },
	{ "error", CONFIG_LOG_ERROR },
	{ "warn", CONFIG_LOG_WARN }, { "warning", CONFIG_LOG_WARN },
	{ "info", CONFIG_LOG_INFO }, { "debug", CONFIG_LOG_DEBUG },
	{ NULL, 0 },
};

static const struct config_word exporters[] = {
	{ "otlp", CONFIG_EXPORTER_OTLP },
	{ "console", CONFIG_EXPORTER_CONSOLE },
	{ "none", CONFIG_EXPORTER_NONE },
	{ NULL, 0 },
};

static const struct config_word samplers[] = {
	{ "always_on", CONFIG_SAMPLER_ALWAYS_ON },
	{ "always_off", CONFIG_SAMPLER_ALWAYS_OFF },
	{ "traceidratio", CONFIG_SAMPLER_TRACEIDRATIO },
	{ "parentbased_always_on", CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON },
	{ "parentbased_always_off", CONFIG_SAMPLER_PARENTBASED_ALWAYS_OFF },
	{ "parentbased_traceidratio",
	  CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO },
	{ "jaeger_remote", CONFIG_UNSUPPORTED },
	{ "parentbased_jaeger_remote", CONFIG_UNSUPPORTED },
	{ "xray", CONFIG_UNSUPPORTED },
	{ NULL, 0 },
};

/* Whether each turns the tracecontext propagator on; "none" is known to
 * the list itself. */
static const struct config_word propagators[] = {
	{ "tracecontext", 1 }, { "baggage", 0 }, { NULL, 0 },
};

/* Stable names are always sent; "/dup" adds the legacy ones. */
static const struct config_word semconv_opt_ins[] = {
	{ "http", 0 }, { "http/dup", CONFIG_SEMCONV_HTTP_DUP },
	{ "database", 0 }, { "database/dup", CONFIG_SEMCONV_DATABASE_DUP },
	{ NULL, 0 },
};

static const struct config_word compressions[] = {
	{ "none", 0 }, { "gzip", 1 }, { NULL, 0 },
};

static const struct config_word protocols[] = {
	{ "http/protobuf", CONFIG_PROTOCOL_HTTP_PROTOBUF },
	{ "http/json", CONFIG_PROTOCOL_HTTP_JSON },
	{ "grpc", CONFIG_PROTOCOL_GRPC },
	{ NULL, 0 },
};

/* offsetof a field, refusing to compile unless the field is as wide as
 * the type its kind writes. */
#define AT(field, type)                                                  \
	(offsetof(struct config, field) +                                \
	 0 * sizeof(char[sizeof(((struct config *)0)->field) ==          \
			 sizeof(type) ? 1 : -1]))

/* A row's kind and field, for the kinds most rows have. */
#define WORDS(f, w)                                                      \
	.kind = &config_kind_word, .at = AT(f, int), .words = (w)
#define NUMBER(f, lo, hi)                                                \
	.kind = &config_kind_number, .at = AT(f, uint32_t), .min = (lo), \
	.max = (hi)
#define TEXT(f) .kind = &config_kind_text, .at = AT(f, const char *)
#define LIST(kind_, f, count, most)                                      \
	.kind = &(kind_), .at = AT(f, struct config_kv[most]),           \
	.count_at = AT(count, size_t), .max = (most)

/* In the order they are read. */
static const struct config_row rows[] = {
	/* First: below warn it silences the warnings about the rest. */
	{ "OTEL_LOG_LEVEL", WORDS(log_level, log_levels), .def = "info",
	  .what = "is not a known log level", .hook = log_level_read },
	{ "OTEL_CONFIG_FILE", .kind = &config_kind_unsupported,
	  .what = "is not supported; using the OTEL_* environment "
		  "variables" },
	{ "OTEL_SDK_DISABLED", WORDS(sdk_disabled, booleans),
	  .def = "false", .what = "is not true or false" },
	{ "OTEL_SERVICE_NAME", .kind = &config_kind_utf8,
	  .at = AT(service_name, const char *),
	  .what = "is not valid UTF-8" },
	{ "OTEL_RESOURCE_ATTRIBUTES",
	  LIST(config_kind_attrs, resource_attrs, n_resource_attrs,
	       CONFIG_MAX_RESOURCE_ATTRS) },
	{ "OTEL_TRACES_EXPORTER", .kind = &config_kind_exporters,
	  .at = AT(exporter, int), .words = exporters, .def = "otlp" },
	{ "OTEL_TRACES_SAMPLER", WORDS(sampler, samplers),
	  .def = "parentbased_always_on", .what = "is not a known sampler" },
	/* After the sampler, which says whether it means anything. */
	{ "OTEL_TRACES_SAMPLER_ARG", .kind = &config_kind_ratio,
	  .at = AT(sampler_ratio, double), .def = "1.0",
	  .what = "is not a ratio between 0 and 1", .hook = sampler_arg_read },
	{ "OTEL_PROPAGATORS", .kind = &config_kind_propagators,
	  .at = AT(propagate_tracecontext, int), .words = propagators,
	  .def = "tracecontext,baggage" },
	{ "OTEL_SEMCONV_STABILITY_OPT_IN", .kind = &config_kind_word_set,
	  .at = AT(semconv_dup, int), .words = semconv_opt_ins },
	{ "OTEL_BSP_SCHEDULE_DELAY",
	  NUMBER(bsp_schedule_delay_ms, 0, UINT32_MAX), .def = "5000",
	  .what = "is not a valid duration in ms" },
	{ "OTEL_BSP_EXPORT_TIMEOUT",
	  NUMBER(bsp_export_timeout_ms, 0, UINT32_MAX), .def = "30000",
	  .what = "is not a valid timeout in ms" },
	/* The queue takes 1 KiB per span: a larger one is a typo, not a
	 * wish. */
	{ "OTEL_BSP_MAX_QUEUE_SIZE",
	  NUMBER(bsp_max_queue_size, 1, 1u << 20), .def = "2048",
	  .what = "is not a valid number" },
	/* After the queue, which bounds it. */
	{ "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	  NUMBER(bsp_max_export_batch_size, 1, UINT32_MAX), .def = "512",
	  .what = "is not a valid number", .hook = batch_read },
	/* Before the endpoint, whose URL it decides. */
	{ "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	  "OTEL_EXPORTER_OTLP_PROTOCOL",
	  WORDS(protocol, protocols), .def = "http/protobuf",
	  .what = "is not a known protocol" },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	  "OTEL_EXPORTER_OTLP_ENDPOINT", .kind = &config_kind_url,
	  .at = AT(endpoint, const char *), .path = "v1/traces",
	  .def = ENDPOINT_DEFAULT,
	  .what = "is not a valid http:// or https:// URL" },
	{ "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	  "OTEL_EXPORTER_OTLP_HEADERS",
	  LIST(config_kind_headers, headers, n_headers,
	       CONFIG_MAX_HEADERS) },
	{ "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	  "OTEL_EXPORTER_OTLP_TIMEOUT",
	  NUMBER(otlp_timeout_ms, 0, UINT32_MAX), .def = "10000",
	  .what = "is not a valid timeout in ms" },
	{ "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
	  "OTEL_EXPORTER_OTLP_COMPRESSION",
	  WORDS(gzip, compressions), .def = "none",
	  .what = "is not gzip or none" },
	{ "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	  "OTEL_EXPORTER_OTLP_CERTIFICATE",
	  TEXT(certificate) },
	{ "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
	  "OTEL_EXPORTER_OTLP_CLIENT_KEY",
	  TEXT(client_key) },
	{ "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
	  "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
	  TEXT(client_certificate) },
	{ "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	  "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	  NUMBER(attr_value_length_limit, 0, UINT32_MAX), .def = "0",
	  .what = "is not a valid number" },
	{ "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT",
	  NUMBER(span_attr_count_limit, 0, UINT32_MAX), .def = "128",
	  .what = "is not a valid number" },
	{ "OTELSHIM_CONSOLE_FILE", TEXT(console_file) },
	{ "OTELSHIM_STATUS_DIR", TEXT(status_dir) },
	{ "OTELSHIM_URL_SENSITIVE_KEYS", TEXT(url_sensitive_keys) },
	/* 100 ms: slow enough to be worth a look, rare enough that capturing
	 * the stack (a few microseconds) is noise (README). */
	{ "OTELSHIM_STACK_THRESHOLD_MS",
	  NUMBER(stack_threshold_ms, 0, INT32_MAX), .def = "100",
	  .what = "is not a number of milliseconds or off",
	  .hook = stack_threshold_read },
	{ "OTELSHIM_CRASH_HANDLER", WORDS(crash_handler, booleans),
	  .def = "true", .what = "is not true or false" },
	{ "OTELSHIM_REWRITE_TRACEPARENT",
	  WORDS(rewrite_traceparent, booleans), .def = "true",
	  .what = "is not true or false" },
	{ "OTELSHIM_EXIT_TIMEOUT", NUMBER(exit_timeout_ms, 0, UINT32_MAX),
	  .def = "1000", .what = "is not a valid timeout in ms" },
	{ "OTELSHIM_SPOOL_DIR", TEXT(spool_dir) },
	{ "OTELSHIM_SPOOL_MAX_MB", NUMBER(spool_max_mb, 1, 1u << 20),
	  .def = "64", .what = "is not a valid number of MiB" },
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* ----------------------------------------------------------------- load */

/* The slot of the variable named by e[0, len), or NULL if we do not read
 * it. */
static const char **slot_of(struct config_loader *ld, const char *e,
			    size_t len)
{
	size_t r, k;

	for (r = 0; r < N_ROWS; r++) {
		for (k = 0; k < 2; k++) {
			const char *name = k ? rows[r].generic : rows[r].name;

			if (name != NULL && strncmp(name, e, len) == 0 &&
			    name[len] == '\0')
				return &ld->val[r][k];
		}
	}
	return NULL;
}

/*
 * Remembers the first occurrence of every name we know, as getenv() would
 * find it, and what the arena must hold.  Names that do not start with
 * "OTEL" cost one comparison.
 */
static void scan_env(struct config_loader *ld, char *const *envp)
{
	size_t i, r, k;

	for (i = 0; envp != NULL && envp[i] != NULL; i++) {
		const char *e = envp[i], *eq, **slot;

		if (strncmp(e, "OTEL", 4) != 0)
			continue;
		eq = strchr(e + 4, '=');
		if (eq == NULL)
			continue;
		if (ld->warned.p == NULL &&
		    (size_t)(eq - e) == sizeof(CONFIG_WARNED_VAR) - 1 &&
		    strncmp(e, CONFIG_WARNED_VAR, (size_t)(eq - e)) == 0)
			ld->warned = str_of(eq + 1);
		slot = slot_of(ld, e, (size_t)(eq - e));
		if (slot != NULL && *slot == NULL)
			*slot = eq + 1;
	}
	for (r = 0; r < N_ROWS; r++) {
		const struct config_row *row = &rows[r];

		if (!(row->kind->flags & CONFIG_KIND_KEEPS))
			continue;
		for (k = 0; k < 2; k++) {
			/* Lists: each member can add two NULs; URLs their
			 * path, or gRPC's method. */
			if (ld->val[r][k] != NULL)
				ld->cap += 2 * strlen(ld->val[r][k]) + 2 +
					   (row->path ? strlen(row->path) +
					    sizeof(ENDPOINT_GRPC_PATH) : 0);
		}
	}
}

static int blank(const char *raw)
{
	return raw == NULL || str_trim(str_of(raw)).n == 0;
}

/*
 * What a row reads: its own variable, unless that is blank and the row
 * has a generic one; then the default if the one picked is unset (empty,
 * or for the kinds that keep blanks, blank).
 */
static struct config_value pick(const struct config_loader *ld, size_t r)
{
	const struct config_row *row = &rows[r];
	struct config_value v = {
		row->name, ld->val[r][0], { NULL, 0 }, CONFIG_SRC_OWN
	};
	int unset;

	if (blank(v.raw) && row->generic != NULL) {
		v.name = row->generic;
		v.raw = ld->val[r][1];
		v.src = CONFIG_SRC_GENERIC;
	}
	if (row->kind->flags & CONFIG_KIND_RAW)
		unset = v.raw == NULL || v.raw[0] == '\0';
	else
		unset = blank(v.raw);
	if (unset)
		return default_of(row);
	v.s = str_trim(str_of(v.raw));
	return v;
}

static int read_row(struct config_loader *ld, const struct config_row *row,
		    struct config_value v)
{
	return row->hook ? row->hook(ld, row, v) : row->kind->read(ld, row, v);
}

void config_load(struct config *cfg, char *const *envp,
		 void (*warn)(const char *msg))
{
	const char *val[N_ROWS][2];
	struct config_loader ld = { .cfg = cfg, .warn = warn, .val = val };
	size_t r;

	memset(cfg, 0, sizeof(*cfg));
	memset(val, 0, sizeof(val));
#ifdef UNITTEST
	/* Tests load many times in one process; production loads once. */
	free(config_arena);
	config_arena = NULL;
#endif
	scan_env(&ld, envp);
	for (r = 0; r < N_ROWS; r++) {
		const struct config_row *row = &rows[r];
		struct config_value v = pick(&ld, r);

		ld.cur = v;
		if (v.src != CONFIG_SRC_DEFAULT && read_row(&ld, row, v) == 0)
			continue;
		if (row->def != NULL)
			read_row(&ld, row, default_of(row));
	}
}

const char *config_log_level_name(enum config_log_level lvl)
{
	switch (lvl) {
	case CONFIG_LOG_NONE:
		return "none";
	case CONFIG_LOG_ERROR:
		return "error";
	case CONFIG_LOG_WARN:
		return "warn";
	case CONFIG_LOG_INFO:
		return "info";
	case CONFIG_LOG_DEBUG:
		return "debug";
	}
	return "unknown";
}

#ifdef UNITTEST
int config_variable(size_t i, const char **name, const char **def)
{
	size_t r;

	for (r = 0; r < N_ROWS; r++) {
		size_t names = rows[r].generic ? 2 : 1;

		if (i < names) {
			*name = i ? rows[r].generic : rows[r].name;
			*def = rows[r].def;
			return 0;
		}
		i -= names;
	}
	return -ENOENT;
}
#endif
