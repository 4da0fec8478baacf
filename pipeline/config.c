/*
 * The OTEL_* and OTELSHIM_* environment turned into one struct config.  It
 * runs in the library constructor of every process, so it makes one pass
 * over envp picking out the few names it knows, allocates one arena for the
 * strings it keeps, and formats its warnings by hand instead of with stdio.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The variables we read; the order is the order of vars[] below. */
enum var {
	V_SDK_DISABLED,
	V_SERVICE_NAME,
	V_RESOURCE_ATTRIBUTES,
	V_TRACES_EXPORTER,
	V_TRACES_SAMPLER,
	V_TRACES_SAMPLER_ARG,
	V_PROPAGATORS,
	V_BSP_SCHEDULE_DELAY,
	V_BSP_EXPORT_TIMEOUT,
	V_BSP_MAX_QUEUE_SIZE,
	V_BSP_MAX_EXPORT_BATCH_SIZE,
	V_OTLP_ENDPOINT,
	V_OTLP_TRACES_ENDPOINT,
	V_OTLP_HEADERS,
	V_OTLP_TRACES_HEADERS,
	V_OTLP_TIMEOUT,
	V_OTLP_TRACES_TIMEOUT,
	V_OTLP_COMPRESSION,
	V_OTLP_TRACES_COMPRESSION,
	V_OTLP_PROTOCOL,
	V_OTLP_TRACES_PROTOCOL,
	V_OTLP_CERTIFICATE,
	V_OTLP_TRACES_CERTIFICATE,
	V_OTLP_CLIENT_KEY,
	V_OTLP_TRACES_CLIENT_KEY,
	V_OTLP_CLIENT_CERTIFICATE,
	V_OTLP_TRACES_CLIENT_CERTIFICATE,
	V_ATTRIBUTE_VALUE_LENGTH_LIMIT,
	V_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
	V_ATTRIBUTE_COUNT_LIMIT,
	V_SPAN_ATTRIBUTE_COUNT_LIMIT,
	V_LOG_LEVEL,
	V_CONFIG_FILE,
	V_SHIM_CONSOLE_FILE,
	V_SHIM_STATUS_DIR,
	V_SHIM_STACK_THRESHOLD_MS,
	V_SHIM_CRASH_HANDLER,
	V_COUNT
};

static const char *const var_names[V_COUNT] = {
	[V_SDK_DISABLED] = "OTEL_SDK_DISABLED",
	[V_SERVICE_NAME] = "OTEL_SERVICE_NAME",
	[V_RESOURCE_ATTRIBUTES] = "OTEL_RESOURCE_ATTRIBUTES",
	[V_TRACES_EXPORTER] = "OTEL_TRACES_EXPORTER",
	[V_TRACES_SAMPLER] = "OTEL_TRACES_SAMPLER",
	[V_TRACES_SAMPLER_ARG] = "OTEL_TRACES_SAMPLER_ARG",
	[V_PROPAGATORS] = "OTEL_PROPAGATORS",
	[V_BSP_SCHEDULE_DELAY] = "OTEL_BSP_SCHEDULE_DELAY",
	[V_BSP_EXPORT_TIMEOUT] = "OTEL_BSP_EXPORT_TIMEOUT",
	[V_BSP_MAX_QUEUE_SIZE] = "OTEL_BSP_MAX_QUEUE_SIZE",
	[V_BSP_MAX_EXPORT_BATCH_SIZE] = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	[V_OTLP_ENDPOINT] = "OTEL_EXPORTER_OTLP_ENDPOINT",
	[V_OTLP_TRACES_ENDPOINT] = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	[V_OTLP_HEADERS] = "OTEL_EXPORTER_OTLP_HEADERS",
	[V_OTLP_TRACES_HEADERS] = "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	[V_OTLP_TIMEOUT] = "OTEL_EXPORTER_OTLP_TIMEOUT",
	[V_OTLP_TRACES_TIMEOUT] = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	[V_OTLP_COMPRESSION] = "OTEL_EXPORTER_OTLP_COMPRESSION",
	[V_OTLP_TRACES_COMPRESSION] = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
	[V_OTLP_PROTOCOL] = "OTEL_EXPORTER_OTLP_PROTOCOL",
	[V_OTLP_TRACES_PROTOCOL] = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	[V_OTLP_CERTIFICATE] = "OTEL_EXPORTER_OTLP_CERTIFICATE",
	[V_OTLP_TRACES_CERTIFICATE] = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	[V_OTLP_CLIENT_KEY] = "OTEL_EXPORTER_OTLP_CLIENT_KEY",
	[V_OTLP_TRACES_CLIENT_KEY] = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
	[V_OTLP_CLIENT_CERTIFICATE] = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
	[V_OTLP_TRACES_CLIENT_CERTIFICATE] =
		"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
	[V_ATTRIBUTE_VALUE_LENGTH_LIMIT] = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	[V_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT] =
		"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	[V_ATTRIBUTE_COUNT_LIMIT] = "OTEL_ATTRIBUTE_COUNT_LIMIT",
	[V_SPAN_ATTRIBUTE_COUNT_LIMIT] = "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
	[V_LOG_LEVEL] = "OTEL_LOG_LEVEL",
	[V_CONFIG_FILE] = "OTEL_CONFIG_FILE",
	[V_SHIM_CONSOLE_FILE] = "OTELSHIM_CONSOLE_FILE",
	[V_SHIM_STATUS_DIR] = "OTELSHIM_STATUS_DIR",
	[V_SHIM_STACK_THRESHOLD_MS] = "OTELSHIM_STACK_THRESHOLD_MS",
	[V_SHIM_CRASH_HANDLER] = "OTELSHIM_CRASH_HANDLER",
};

#define DEFAULT_ENDPOINT "http://localhost:4318/v1/traces"
#define DEFAULT_SCHEDULE_DELAY_MS 5000
#define DEFAULT_EXPORT_TIMEOUT_MS 30000
#define DEFAULT_MAX_QUEUE_SIZE 2048
#define DEFAULT_MAX_EXPORT_BATCH 512
#define DEFAULT_OTLP_TIMEOUT_MS 10000
#define DEFAULT_ATTR_COUNT_LIMIT 128
/* Slow enough to be worth a look, rare enough that capturing the stack
 * (a few microseconds) is noise: see README, OTELSHIM_STACK_THRESHOLD_MS. */
#define DEFAULT_STACK_THRESHOLD_MS 100
/* A span record is about 2 KiB; a larger queue is a typo, not a wish. */
#define MAX_QUEUE_SIZE (1u << 20)

/* A value as a slice of the environment string: not NUL-terminated. */
struct slice {
	const char *p;
	size_t n;
};

/* Everything one config_load call works with. */
struct loader {
	struct config *cfg;
	const char *val[V_COUNT];       /* first occurrence in envp, or NULL */
	void (*warn)(const char *msg);
	int quiet;                      /* OTEL_LOG_LEVEL below warn */
	char *arena;
	size_t used, cap;
};

/* The arena of the last load: reachable, so leak checkers stay quiet. */
static char *config_arena;

/* ------------------------------------------------------------ messages */

/* A warning line being put together; silently truncated when full. */
struct msg {
	char buf[384];
	size_t n;
};

static void msg_mem(struct msg *m, const char *s, size_t n)
{
	size_t room = sizeof(m->buf) - 1 - m->n;

	if (n > room)
		n = room;
	memcpy(m->buf + m->n, s, n);
	m->n += n;
	m->buf[m->n] = '\0';
}

static void msg_str(struct msg *m, const char *s)
{
	msg_mem(m, s, strlen(s));
}

static void msg_u32(struct msg *m, uint32_t v)
{
	char tmp[12];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	msg_mem(m, tmp + i, sizeof(tmp) - i);
}

/*
 * Appends a user-supplied value in double quotes, cut at 64 bytes and with
 * anything unprintable replaced, so a warning stays one harmless line.
 * Never use it for header values: those are credentials.
 */
static void msg_quoted(struct msg *m, struct slice s)
{
	size_t i, n = s.n > 64 ? 64 : s.n;

	msg_str(m, "\"");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		char ch = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';

		msg_mem(m, &ch, 1);
	}
	msg_str(m, n < s.n ? "...\"" : "\"");
}

static void emit(struct loader *ld, struct msg *m)
{
	if (!ld->quiet && ld->warn)
		ld->warn(m->buf);
}

/* "<VAR>=\"<value>\" <what>; using <fallback>" */
static void warn_value(struct loader *ld, enum var v, struct slice s,
		       const char *what, const char *fallback)
{
	struct msg m = { .n = 0 };

	msg_str(&m, var_names[v]);
	msg_str(&m, "=");
	msg_quoted(&m, s);
	msg_str(&m, " ");
	msg_str(&m, what);
	msg_str(&m, "; using ");
	msg_str(&m, fallback);
	emit(ld, &m);
}

/* "<VAR> <text>" for messages that must not quote the value. */
static void warn_text(struct loader *ld, enum var v, const char *text)
{
	struct msg m = { .n = 0 };

	msg_str(&m, var_names[v]);
	msg_str(&m, " ");
	msg_str(&m, text);
	emit(ld, &m);
}

/* "<VAR>: member <n> <text>" for the key=value lists. */
static void warn_member(struct loader *ld, enum var v, uint32_t member,
			const char *text)
{
	struct msg m = { .n = 0 };

	msg_str(&m, var_names[v]);
	msg_str(&m, ": member ");
	msg_u32(&m, member);
	msg_str(&m, " ");
	msg_str(&m, text);
	emit(ld, &m);
}

/* --------------------------------------------------------------- slices */

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static struct slice trim(struct slice s)
{
	while (s.n > 0 && is_ows(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_ows(s.p[s.n - 1]))
		s.n--;
	return s;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive comparison of a slice with a lowercase literal. */
static int slice_is(struct slice s, const char *lit)
{
	size_t i;

	for (i = 0; i < s.n; i++) {
		if (lit[i] == '\0' || lower(s.p[i]) != lit[i])
			return 0;
	}
	return lit[i] == '\0';
}

/*
 * Splits off the next comma-separated member of *rest into *out; returns 0
 * when the list is used up.  Empty members come out as empty slices.
 */
static int next_member(struct slice *rest, struct slice *out, int *done)
{
	const char *comma;

	if (*done)
		return 0;
	comma = memchr(rest->p, ',', rest->n);
	out->p = rest->p;
	if (comma == NULL) {
		out->n = rest->n;
		*done = 1;
		return 1;
	}
	out->n = (size_t)(comma - rest->p);
	rest->n -= out->n + 1;
	rest->p = comma + 1;
	return 1;
}

/* The trimmed value of a variable; NULL slice if unset or blank. */
static struct slice get(struct loader *ld, enum var v)
{
	struct slice s = { NULL, 0 };

	if (ld->val[v] == NULL)
		return s;
	s.p = ld->val[v];
	s.n = strlen(s.p);
	s = trim(s);
	if (s.n == 0)
		s.p = NULL;
	return s;
}

/* The per-signal variable when it is set, else the generic one. */
static enum var pick(struct loader *ld, enum var traces, enum var generic)
{
	return get(ld, traces).p != NULL ? traces : generic;
}

/* ---------------------------------------------------------------- arena */

static char *arena_alloc(struct loader *ld, size_t n)
{
	char *p;

	if (ld->arena == NULL || ld->cap - ld->used < n)
		return NULL;
	p = ld->arena + ld->used;
	ld->used += n;
	return p;
}

static const char *arena_strdup(struct loader *ld, struct slice s)
{
	char *p = arena_alloc(ld, s.n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s.p, s.n);
	p[s.n] = '\0';
	return p;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

enum decode_err { DECODE_OK, DECODE_BAD, DECODE_NOMEM };

/*
 * Percent-decodes s into a NUL-terminated arena string.  DECODE_BAD for a
 * malformed escape or one that decodes to NUL (it would cut the string).
 */
static enum decode_err arena_decode(struct loader *ld, struct slice s,
				    const char **res)
{
	char *out = arena_alloc(ld, s.n + 1);
	size_t i, o = 0;

	if (out == NULL)
		return DECODE_NOMEM;
	for (i = 0; i < s.n; i++) {
		int hi, lo;

		if (s.p[i] != '%') {
			out[o++] = s.p[i];
			continue;
		}
		if (s.n - i < 3)
			return DECODE_BAD;
		hi = hexval(s.p[i + 1]);
		lo = hexval(s.p[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return DECODE_BAD;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	/* Give back what decoding saved. */
	ld->used -= s.n - o;
	*res = out;
	return DECODE_OK;
}

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static int utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		unsigned c = *s;
		size_t len, i;
		uint32_t cp;

		if (c < 0x80) {
			s++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		for (i = 1; i < len; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		s += len;
	}
	return 1;
}

/* -------------------------------------------------------------- numbers */

enum num_err { NUM_OK, NUM_INVALID, NUM_NEGATIVE, NUM_RANGE };

/* A decimal integer in [0, max]; a leading '+' is allowed. */
static enum num_err parse_u32(struct slice s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int neg = 0;

	if (s.n > 0 && (s.p[0] == '+' || s.p[0] == '-')) {
		neg = s.p[0] == '-';
		i = 1;
	}
	if (i == s.n)
		return NUM_INVALID;
	for (; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return NUM_INVALID;
		if (v <= UINT32_MAX)
			v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (neg && v != 0)
		return NUM_NEGATIVE;
	if (v > max)
		return NUM_RANGE;
	*out = (uint32_t)v;
	return NUM_OK;
}

/*
 * Reads an unsigned integer variable: unset leaves *out alone, anything
 * invalid is warned about and leaves the default.  Returns 1 if a value was
 * taken from the environment.
 */
static int read_u32(struct loader *ld, enum var v, const char *kind,
		    uint32_t max, uint32_t *out)
{
	struct slice s = get(ld, v);
	struct msg fallback = { .n = 0 };
	const char *what;
	uint32_t val = 0;
	enum num_err e;

	if (s.p == NULL)
		return 0;
	e = parse_u32(s, max, &val);
	if (e == NUM_OK) {
		*out = val;
		return 1;
	}
	msg_u32(&fallback, *out);
	if (e == NUM_NEGATIVE)
		what = "is negative";
	else if (e == NUM_RANGE)
		what = "is too large";
	else
		what = kind;
	warn_value(ld, v, s, what, fallback.buf);
	return 0;
}

/*
 * A decimal fraction: digits, optional point and digits, optional
 * exponent.  Written out rather than strtod() so the result never depends
 * on the program's locale.  Returns 0 on success.
 */
static int parse_double(struct slice s, double *out)
{
	uint64_t mant = 0;
	int exp10 = 0, digits = 0, eneg = 0, e = 0;
	size_t i = 0;
	double v;

	if (i < s.n && s.p[i] == '+')
		i++;
	for (; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++, digits++) {
		if (mant < 100000000000000000ull)
			mant = mant * 10 + (uint64_t)(s.p[i] - '0');
		else
			exp10++;
	}
	if (i < s.n && s.p[i] == '.') {
		for (i++; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
			digits++;
			if (mant < 100000000000000000ull) {
				mant = mant * 10 + (uint64_t)(s.p[i] - '0');
				exp10--;
			}
		}
	}
	if (digits == 0)
		return -1;
	if (i < s.n && (s.p[i] == 'e' || s.p[i] == 'E')) {
		size_t start;

		i++;
		if (i < s.n && (s.p[i] == '+' || s.p[i] == '-')) {
			eneg = s.p[i] == '-';
			i++;
		}
		start = i;
		for (; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
			if (e < 10000)
				e = e * 10 + (s.p[i] - '0');
		}
		if (i == start)
			return -1;
	}
	if (i != s.n)
		return -1;
	exp10 += eneg ? -e : e;
	v = (double)mant;
	if (mant == 0)
		exp10 = 0;
	for (; exp10 > 0 && v < 1e300; exp10--)
		v *= 10.0;
	for (; exp10 < 0 && v > 0.0; exp10++)
		v /= 10.0;
	*out = v;
	return 0;
}

/* ---------------------------------------------------------- the settings */

static void load_log_level(struct loader *ld)
{
	struct slice s = get(ld, V_LOG_LEVEL);
	enum config_log_level *lvl = &ld->cfg->log_level;

	*lvl = CONFIG_LOG_INFO;
	ld->cfg->log_level_explicit = 0;
	if (s.p == NULL)
		return;
	ld->cfg->log_level_explicit = 1;
	if (slice_is(s, "none") || slice_is(s, "off"))
		*lvl = CONFIG_LOG_NONE;
	else if (slice_is(s, "error"))
		*lvl = CONFIG_LOG_ERROR;
	else if (slice_is(s, "warn") || slice_is(s, "warning"))
		*lvl = CONFIG_LOG_WARN;
	else if (slice_is(s, "info"))
		*lvl = CONFIG_LOG_INFO;
	else if (slice_is(s, "debug"))
		*lvl = CONFIG_LOG_DEBUG;
	else {
		ld->cfg->log_level_explicit = 0;
		warn_value(ld, V_LOG_LEVEL, s, "is not a known log level",
			   "info");
	}
}

static void load_bool(struct loader *ld, enum var v, int *out)
{
	struct slice s = get(ld, v);

	*out = 0;
	if (s.p == NULL)
		return;
	if (slice_is(s, "true"))
		*out = 1;
	else if (!slice_is(s, "false"))
		warn_value(ld, v, s, "is not true or false", "false");
}

/* A plain string kept as it is; empty means unset. */
static const char *load_string(struct loader *ld, enum var v)
{
	struct slice s;

	if (ld->val[v] == NULL || ld->val[v][0] == '\0')
		return NULL;
	s.p = ld->val[v];
	s.n = strlen(s.p);
	return arena_strdup(ld, s);
}

static void load_service_name(struct loader *ld)
{
	const char *name = load_string(ld, V_SERVICE_NAME);

	if (name != NULL && !utf8_valid(name)) {
		warn_text(ld, V_SERVICE_NAME,
			  "is not valid UTF-8; ignoring it");
		name = NULL;
	}
	ld->cfg->service_name = name;
}

/*
 * OTELSHIM_STACK_THRESHOLD_MS: milliseconds, or "off" / "-1" for never.
 * OTELSHIM_CRASH_HANDLER: a boolean that defaults to true.
 */
static void load_stacks(struct loader *ld)
{
	struct slice s = get(ld, V_SHIM_STACK_THRESHOLD_MS);
	uint32_t ms = DEFAULT_STACK_THRESHOLD_MS;

	ld->cfg->stack_threshold_ms = DEFAULT_STACK_THRESHOLD_MS;
	if (s.p != NULL && (slice_is(s, "off") || slice_is(s, "-1")))
		ld->cfg->stack_threshold_ms = -1;
	else if (read_u32(ld, V_SHIM_STACK_THRESHOLD_MS,
			  "is not a number of milliseconds or off",
			  INT32_MAX, &ms))
		ld->cfg->stack_threshold_ms = (int32_t)ms;

	ld->cfg->crash_handler = 1;
	s = get(ld, V_SHIM_CRASH_HANDLER);
	if (s.p == NULL || slice_is(s, "true"))
		return;
	if (slice_is(s, "false"))
		ld->cfg->crash_handler = 0;
	else
		warn_value(ld, V_SHIM_CRASH_HANDLER, s, "is not true or false",
			   "true");
}

/*
 * OTEL_TRACES_EXPORTER: a list, of which we can honour one entry.  The
 * first one we support wins; everything else is named in one warning.
 */
static void load_exporter(struct loader *ld)
{
	struct slice s = get(ld, V_TRACES_EXPORTER), rest = s, mem;
	struct msg m = { .n = 0 };
	int done = 0, found = 0, ignored = 0;

	ld->cfg->exporter = CONFIG_EXPORTER_OTLP;
	if (s.p == NULL)
		return;
	msg_str(&m, var_names[V_TRACES_EXPORTER]);
	msg_str(&m, ": ignoring");
	while (next_member(&rest, &mem, &done)) {
		enum config_exporter e;

		mem = trim(mem);
		if (mem.n == 0)
			continue;
		if (slice_is(mem, "otlp")) {
			e = CONFIG_EXPORTER_OTLP;
		} else if (slice_is(mem, "console")) {
			e = CONFIG_EXPORTER_CONSOLE;
		} else if (slice_is(mem, "none")) {
			e = CONFIG_EXPORTER_NONE;
		} else {
			msg_str(&m, ignored++ ? ", " : " ");
			msg_quoted(&m, mem);
			msg_str(&m, " (not supported)");
			continue;
		}
		if (found) {
			msg_str(&m, ignored++ ? ", " : " ");
			msg_quoted(&m, mem);
			msg_str(&m, " (only one exporter is used)");
			continue;
		}
		ld->cfg->exporter = e;
		found = 1;
	}
	if (!ignored)
		return;
	msg_str(&m, found ? "" : "; using otlp");
	emit(ld, &m);
}

static int is_ratio_sampler(enum config_sampler s)
{
	return s == CONFIG_SAMPLER_TRACEIDRATIO ||
	       s == CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO;
}

static void load_sampler(struct loader *ld)
{
	static const struct {
		const char *name;
		enum config_sampler s;
	} known[] = {
		{ "always_on", CONFIG_SAMPLER_ALWAYS_ON },
		{ "always_off", CONFIG_SAMPLER_ALWAYS_OFF },
		{ "traceidratio", CONFIG_SAMPLER_TRACEIDRATIO },
		{ "parentbased_always_on",
		  CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON },
		{ "parentbased_always_off",
		  CONFIG_SAMPLER_PARENTBASED_ALWAYS_OFF },
		{ "parentbased_traceidratio",
		  CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO },
	};
	struct config *cfg = ld->cfg;
	struct slice s = get(ld, V_TRACES_SAMPLER), arg;
	size_t i;
	double r;

	cfg->sampler = CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON;
	cfg->sampler_ratio = 1.0;
	if (s.p == NULL)
		return;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (slice_is(s, known[i].name))
			break;
	}
	if (i == sizeof(known) / sizeof(known[0])) {
		int other = slice_is(s, "jaeger_remote") ||
			    slice_is(s, "parentbased_jaeger_remote") ||
			    slice_is(s, "xray");

		warn_value(ld, V_TRACES_SAMPLER, s,
			   other ? "is not supported"
				 : "is not a known sampler",
			   "parentbased_always_on");
		return;
	}
	cfg->sampler = known[i].s;
	arg = get(ld, V_TRACES_SAMPLER_ARG);
	if (!is_ratio_sampler(cfg->sampler) || arg.p == NULL)
		return;
	if (parse_double(arg, &r) != 0 || !(r >= 0.0 && r <= 1.0)) {
		warn_value(ld, V_TRACES_SAMPLER_ARG, arg,
			   "is not a ratio between 0 and 1", "1.0");
		return;
	}
	cfg->sampler_ratio = r;
}

/*
 * OTEL_PROPAGATORS: we implement tracecontext only.  baggage is accepted
 * without a word (it is in the default list); every other name is reported
 * in one warning.
 */
static void load_propagators(struct loader *ld)
{
	struct slice s = get(ld, V_PROPAGATORS), rest = s, mem;
	struct msg m = { .n = 0 };
	int done = 0, tc = 0, none = 0, others = 0, bad = 0;

	ld->cfg->propagate_tracecontext = 1;
	if (s.p == NULL)
		return;
	msg_str(&m, var_names[V_PROPAGATORS]);
	msg_str(&m, ":");
	while (next_member(&rest, &mem, &done)) {
		mem = trim(mem);
		if (mem.n == 0)
			continue;
		if (slice_is(mem, "tracecontext")) {
			tc = 1;
			others++;
		} else if (slice_is(mem, "baggage")) {
			others++;
		} else if (slice_is(mem, "none")) {
			none = 1;
		} else {
			msg_str(&m, bad++ ? ", " : " ");
			msg_quoted(&m, mem);
			others++;
		}
	}
	ld->cfg->propagate_tracecontext = tc;
	if (bad) {
		msg_str(&m, bad > 1 ? " are" : " is");
		msg_str(&m, " not supported; ignored");
		emit(ld, &m);
	}
	if (none && others) {
		struct msg n = { .n = 0 };

		msg_str(&n, var_names[V_PROPAGATORS]);
		msg_str(&n, ": \"none\" is combined with other "
			"propagators; ignoring \"none\"");
		emit(ld, &n);
	}
}

static void load_bsp(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	struct slice s;

	cfg->bsp_schedule_delay_ms = DEFAULT_SCHEDULE_DELAY_MS;
	cfg->bsp_export_timeout_ms = DEFAULT_EXPORT_TIMEOUT_MS;
	cfg->bsp_max_queue_size = DEFAULT_MAX_QUEUE_SIZE;
	cfg->bsp_max_export_batch_size = DEFAULT_MAX_EXPORT_BATCH;

	read_u32(ld, V_BSP_SCHEDULE_DELAY, "is not a valid duration in ms",
		 UINT32_MAX, &cfg->bsp_schedule_delay_ms);
	read_u32(ld, V_BSP_EXPORT_TIMEOUT, "is not a valid timeout in ms",
		 UINT32_MAX, &cfg->bsp_export_timeout_ms);
	if (read_u32(ld, V_BSP_MAX_QUEUE_SIZE, "is not a valid number",
		     MAX_QUEUE_SIZE, &cfg->bsp_max_queue_size) &&
	    cfg->bsp_max_queue_size == 0) {
		s = get(ld, V_BSP_MAX_QUEUE_SIZE);
		warn_value(ld, V_BSP_MAX_QUEUE_SIZE, s, "must be at least 1",
			   "2048");
		cfg->bsp_max_queue_size = DEFAULT_MAX_QUEUE_SIZE;
	}
	if (read_u32(ld, V_BSP_MAX_EXPORT_BATCH_SIZE, "is not a valid number",
		     UINT32_MAX, &cfg->bsp_max_export_batch_size) &&
	    cfg->bsp_max_export_batch_size == 0) {
		s = get(ld, V_BSP_MAX_EXPORT_BATCH_SIZE);
		warn_value(ld, V_BSP_MAX_EXPORT_BATCH_SIZE, s,
			   "must be at least 1", "512");
		cfg->bsp_max_export_batch_size = DEFAULT_MAX_EXPORT_BATCH;
	}
	if (cfg->bsp_max_export_batch_size > cfg->bsp_max_queue_size) {
		struct msg q = { .n = 0 };

		cfg->bsp_max_export_batch_size = cfg->bsp_max_queue_size;
		msg_str(&q, "is larger than OTEL_BSP_MAX_QUEUE_SIZE; using ");
		msg_u32(&q, cfg->bsp_max_queue_size);
		warn_text(ld, V_BSP_MAX_EXPORT_BATCH_SIZE, q.buf);
	}
}

/*
 * Whether s can be handed to the transport as a URL: an http:// or
 * https:// scheme, a non-empty host, and nothing that would need escaping
 * (blanks, control bytes, non-ASCII).
 */
static int url_ok(struct slice s, size_t *authority_end)
{
	size_t i, start;

	if (s.n >= 7 && slice_is((struct slice){ s.p, 7 }, "http://"))
		start = 7;
	else if (s.n >= 8 && slice_is((struct slice){ s.p, 8 }, "https://"))
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

/*
 * The URL we POST to (reference/otel.md §2).  The per-signal variable is a
 * full URL used as it is, with "/" inserted if it has no path; the generic
 * one is a base to which "v1/traces" is appended.
 */
static void load_endpoint(struct loader *ld)
{
	enum var v = pick(ld, V_OTLP_TRACES_ENDPOINT, V_OTLP_ENDPOINT);
	struct slice s = get(ld, v);
	size_t auth_end, n;
	char *url;

	ld->cfg->endpoint = DEFAULT_ENDPOINT;
	if (s.p == NULL)
		return;
	if (!url_ok(s, &auth_end)) {
		warn_text(ld, v, "is not a valid http:// or https:// URL; "
			  "using " DEFAULT_ENDPOINT);
		return;
	}
	url = arena_alloc(ld, s.n + sizeof("/v1/traces"));
	if (url == NULL)
		return;
	if (v == V_OTLP_TRACES_ENDPOINT) {
		memcpy(url, s.p, auth_end);
		n = auth_end;
		if (auth_end == s.n || s.p[auth_end] != '/')
			url[n++] = '/';
		memcpy(url + n, s.p + auth_end, s.n - auth_end);
		n += s.n - auth_end;
	} else {
		memcpy(url, s.p, s.n);
		n = s.n;
		if (url[n - 1] != '/')
			url[n++] = '/';
		memcpy(url + n, "v1/traces", sizeof("v1/traces") - 1);
		n += sizeof("v1/traces") - 1;
	}
	url[n] = '\0';
	ld->cfg->endpoint = url;
}

/* RFC 9110 tchar: what a header field name may be made of. */
static int is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int header_value_ok(const char *v)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * OTEL_EXPORTER_OTLP[_TRACES]_HEADERS: "k=v,k2=v2" with values
 * percent-decoded.  A bad member is skipped with a warning that names its
 * position only: header values (and a member without '=') are credentials.
 */
static void load_headers(struct loader *ld)
{
	enum var v = pick(ld, V_OTLP_TRACES_HEADERS, V_OTLP_HEADERS);
	struct slice rest = get(ld, v), mem, key, val;
	struct config *cfg = ld->cfg;
	uint32_t pos = 0;
	int done = 0;

	if (rest.p == NULL)
		return;
	while (next_member(&rest, &mem, &done)) {
		const char *eq, *k, *dv = NULL;
		enum decode_err e;
		size_t mark, i;

		pos++;
		mem = trim(mem);
		if (mem.n == 0)
			continue;
		eq = memchr(mem.p, '=', mem.n);
		if (eq == NULL) {
			warn_member(ld, v, pos, "has no '='; skipped");
			continue;
		}
		key = trim((struct slice){ mem.p, (size_t)(eq - mem.p) });
		val = trim((struct slice){ eq + 1,
					   mem.n - (size_t)(eq - mem.p) - 1 });
		if (key.n == 0) {
			warn_member(ld, v, pos, "has an empty key; skipped");
			continue;
		}
		for (i = 0; i < key.n && is_tchar(key.p[i]); i++)
			;
		if (i < key.n) {
			warn_member(ld, v, pos, "has a key that is not a "
				    "valid header name; skipped");
			continue;
		}
		if (cfg->n_headers == CONFIG_MAX_HEADERS) {
			struct msg m = { .n = 0 };

			msg_str(&m, "has more than ");
			msg_u32(&m, CONFIG_MAX_HEADERS);
			msg_str(&m, " headers; ignoring the rest");
			warn_text(ld, v, m.buf);
			return;
		}
		mark = ld->used;
		k = arena_strdup(ld, key);
		if (k == NULL)
			return;
		e = arena_decode(ld, val, &dv);
		if (e == DECODE_NOMEM)
			return;
		if (e == DECODE_BAD) {
			ld->used = mark;
			warn_member(ld, v, pos, "has an invalid "
				    "percent-encoding; skipped");
			continue;
		}
		if (!header_value_ok(dv)) {
			ld->used = mark;
			warn_member(ld, v, pos, "has control characters in "
				    "its value; skipped");
			continue;
		}
		cfg->headers[cfg->n_headers].key = k;
		cfg->headers[cfg->n_headers].value = dv;
		cfg->n_headers++;
	}
}

/*
 * OTEL_RESOURCE_ATTRIBUTES: "k1=v1,k2=v2", keys and values percent-decoded.
 * Any error drops the whole variable (the spec says so): one warning, no
 * attributes.  A repeated key keeps its last value.
 */
static void load_resource_attrs(struct loader *ld)
{
	struct slice rest = get(ld, V_RESOURCE_ATTRIBUTES), mem;
	struct config *cfg = ld->cfg;
	size_t mark = ld->used, n = 0, i;
	const char *err = NULL;
	uint32_t pos = 0, err_pos = 0;
	int done = 0, too_many = 0;

	if (rest.p == NULL)
		return;
	while (err == NULL && next_member(&rest, &mem, &done)) {
		const char *eq, *k = NULL, *val = NULL;
		enum decode_err e;
		struct slice ks, vs;

		pos++;
		err_pos = pos;
		mem = trim(mem);
		if (mem.n == 0)
			continue;
		eq = memchr(mem.p, '=', mem.n);
		if (eq == NULL) {
			err = "has no '='";
			break;
		}
		ks = trim((struct slice){ mem.p, (size_t)(eq - mem.p) });
		vs = trim((struct slice){ eq + 1,
					  mem.n - (size_t)(eq - mem.p) - 1 });
		if (ks.n == 0) {
			err = "has an empty key";
			break;
		}
		e = arena_decode(ld, ks, &k);
		if (e == DECODE_OK)
			e = arena_decode(ld, vs, &val);
		if (e == DECODE_NOMEM)
			return;
		if (e == DECODE_BAD) {
			err = "has an invalid percent-encoding";
			break;
		}
		if (!utf8_valid(k) || !utf8_valid(val)) {
			err = "is not valid UTF-8";
			break;
		}
		for (i = 0; i < n; i++) {
			if (strcmp(cfg->resource_attrs[i].key, k) == 0)
				break;
		}
		if (i < n) {
			cfg->resource_attrs[i].value = val;
		} else if (n < CONFIG_MAX_RESOURCE_ATTRS) {
			cfg->resource_attrs[n].key = k;
			cfg->resource_attrs[n].value = val;
			n++;
		} else {
			too_many = 1;
		}
	}
	if (err != NULL) {
		struct msg m = { .n = 0 };

		ld->used = mark;
		msg_str(&m, err);
		msg_str(&m, "; ignoring the whole variable");
		warn_member(ld, V_RESOURCE_ATTRIBUTES, err_pos, m.buf);
		return;
	}
	cfg->n_resource_attrs = n;
	if (too_many) {
		struct msg m = { .n = 0 };

		msg_str(&m, "has more than ");
		msg_u32(&m, CONFIG_MAX_RESOURCE_ATTRS);
		msg_str(&m, " attributes; ignoring the rest");
		warn_text(ld, V_RESOURCE_ATTRIBUTES, m.buf);
	}
}

static void load_otlp(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	enum var v;
	struct slice s;

	load_endpoint(ld);
	load_headers(ld);

	cfg->otlp_timeout_ms = DEFAULT_OTLP_TIMEOUT_MS;
	read_u32(ld, pick(ld, V_OTLP_TRACES_TIMEOUT, V_OTLP_TIMEOUT),
		 "is not a valid timeout in ms", UINT32_MAX,
		 &cfg->otlp_timeout_ms);

	v = pick(ld, V_OTLP_TRACES_COMPRESSION, V_OTLP_COMPRESSION);
	s = get(ld, v);
	cfg->gzip = 0;
	if (s.p != NULL && slice_is(s, "gzip"))
		cfg->gzip = 1;
	else if (s.p != NULL && !slice_is(s, "none"))
		warn_value(ld, v, s, "is not gzip or none", "none");

	v = pick(ld, V_OTLP_TRACES_PROTOCOL, V_OTLP_PROTOCOL);
	s = get(ld, v);
	cfg->protocol = CONFIG_PROTOCOL_HTTP_PROTOBUF;
	if (s.p != NULL && slice_is(s, "http/json"))
		cfg->protocol = CONFIG_PROTOCOL_HTTP_JSON;
	else if (s.p == NULL || slice_is(s, "http/protobuf"))
		cfg->protocol = CONFIG_PROTOCOL_HTTP_PROTOBUF;
	else if (slice_is(s, "grpc"))
		warn_value(ld, v, s, "is not supported", "http/protobuf");
	else
		warn_value(ld, v, s, "is not a known protocol",
			   "http/protobuf");

	cfg->certificate = load_string(ld,
		pick(ld, V_OTLP_TRACES_CERTIFICATE, V_OTLP_CERTIFICATE));
	cfg->client_key = load_string(ld,
		pick(ld, V_OTLP_TRACES_CLIENT_KEY, V_OTLP_CLIENT_KEY));
	cfg->client_certificate = load_string(ld,
		pick(ld, V_OTLP_TRACES_CLIENT_CERTIFICATE,
		     V_OTLP_CLIENT_CERTIFICATE));
}

static void load_limits(struct loader *ld)
{
	struct config *cfg = ld->cfg;

	cfg->attr_value_length_limit = 0;
	read_u32(ld, pick(ld, V_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
			  V_ATTRIBUTE_VALUE_LENGTH_LIMIT),
		 "is not a valid number", UINT32_MAX,
		 &cfg->attr_value_length_limit);
	cfg->span_attr_count_limit = DEFAULT_ATTR_COUNT_LIMIT;
	read_u32(ld, pick(ld, V_SPAN_ATTRIBUTE_COUNT_LIMIT,
			  V_ATTRIBUTE_COUNT_LIMIT),
		 "is not a valid number", UINT32_MAX,
		 &cfg->span_attr_count_limit);
}

/* ----------------------------------------------------------------- load */

/*
 * Remembers the first occurrence of every name we know, as getenv() would
 * find it.  Names that do not start with "OTEL" cost one comparison.
 */
static void scan_env(struct loader *ld, char *const *envp)
{
	size_t i, v;

	for (i = 0; envp != NULL && envp[i] != NULL; i++) {
		const char *e = envp[i], *eq;
		size_t len;

		if (strncmp(e, "OTEL", 4) != 0)
			continue;
		eq = strchr(e + 4, '=');
		if (eq == NULL)
			continue;
		len = (size_t)(eq - e);
		for (v = 0; v < V_COUNT; v++) {
			const char *name = var_names[v];

			if (strncmp(name, e, len) == 0 && name[len] == '\0')
				break;
		}
		if (v < V_COUNT && ld->val[v] == NULL)
			ld->val[v] = eq + 1;
	}
}

/* An upper bound on the arena bytes the kept strings can take. */
static size_t arena_need(const struct loader *ld)
{
	static const enum var kept[] = {
		V_SERVICE_NAME, V_RESOURCE_ATTRIBUTES,
		V_OTLP_ENDPOINT, V_OTLP_TRACES_ENDPOINT,
		V_OTLP_HEADERS, V_OTLP_TRACES_HEADERS,
		V_OTLP_CERTIFICATE, V_OTLP_TRACES_CERTIFICATE,
		V_OTLP_CLIENT_KEY, V_OTLP_TRACES_CLIENT_KEY,
		V_OTLP_CLIENT_CERTIFICATE, V_OTLP_TRACES_CLIENT_CERTIFICATE,
		V_SHIM_CONSOLE_FILE, V_SHIM_STATUS_DIR,
	};
	size_t i, need = 0;

	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		size_t n;

		if (ld->val[kept[i]] == NULL)
			continue;
		n = strlen(ld->val[kept[i]]);
		/* key=value lists: every member can add two NULs. */
		need += 2 * n + sizeof("/v1/traces") + 2;
	}
	return need;
}

void config_load(struct config *cfg, char *const *envp,
		 void (*warn)(const char *msg))
{
	struct loader ld;
	size_t need;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.warn = warn;
	scan_env(&ld, envp);

	/* First, so that OTEL_LOG_LEVEL=error silences the rest. */
	load_log_level(&ld);
	ld.quiet = cfg->log_level < CONFIG_LOG_WARN;

#ifdef UNITTEST
	/* Tests load many times in one process; production loads once. */
	free(config_arena);
	config_arena = NULL;
#endif
	need = arena_need(&ld);
	if (need > 0) {
		ld.arena = malloc(need);
		if (ld.arena == NULL) {
			struct msg m = { .n = 0 };

			msg_str(&m, "out of memory reading OTEL_* variables; "
				"using defaults for strings");
			emit(&ld, &m);
		}
		ld.cap = ld.arena != NULL ? need : 0;
		config_arena = ld.arena;
	}

	if (get(&ld, V_CONFIG_FILE).p != NULL)
		warn_text(&ld, V_CONFIG_FILE, "is not supported; using the "
			  "OTEL_* environment variables");
	load_bool(&ld, V_SDK_DISABLED, &cfg->sdk_disabled);
	load_service_name(&ld);
	load_resource_attrs(&ld);
	load_exporter(&ld);
	load_sampler(&ld);
	load_propagators(&ld);
	load_bsp(&ld);
	load_otlp(&ld);
	load_limits(&ld);
	cfg->console_file = load_string(&ld, V_SHIM_CONSOLE_FILE);
	cfg->status_dir = load_string(&ld, V_SHIM_STATUS_DIR);
	load_stacks(&ld);
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
