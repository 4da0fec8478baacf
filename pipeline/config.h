/*
 * Configuration: the OTEL_* and OTELSHIM_* environment, read once when the
 * library loads into one struct that never changes afterwards.  Parsing
 * follows the OpenTelemetry environment-variable rules: an empty variable is
 * unset, an invalid value is warned about once (prefix "otelshim:") and the
 * default is used instead.
 */
#ifndef OTELSHIM_CONFIG_H
#define OTELSHIM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum config_exporter {
	CONFIG_EXPORTER_OTLP = 0,
	CONFIG_EXPORTER_CONSOLE,
	CONFIG_EXPORTER_NONE,
};

enum config_sampler {
	CONFIG_SAMPLER_ALWAYS_ON = 0,
	CONFIG_SAMPLER_ALWAYS_OFF,
	CONFIG_SAMPLER_TRACEIDRATIO,
	CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON,
	CONFIG_SAMPLER_PARENTBASED_ALWAYS_OFF,
	CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO,
};

enum config_protocol {
	CONFIG_PROTOCOL_HTTP_PROTOBUF = 0,
	CONFIG_PROTOCOL_HTTP_JSON,
	CONFIG_PROTOCOL_GRPC,
};

enum config_log_level {
	CONFIG_LOG_NONE = 0,    /* OTEL_LOG_LEVEL=none/off */
	CONFIG_LOG_ERROR,
	CONFIG_LOG_WARN,
	CONFIG_LOG_INFO,        /* the spec default */
	CONFIG_LOG_DEBUG,
};

/* OTEL_SEMCONV_STABILITY_OPT_IN: which legacy attribute names are sent
 * beside the stable ones (docs/otel-reference.md §6). */
#define CONFIG_SEMCONV_HTTP_DUP     1
#define CONFIG_SEMCONV_DATABASE_DUP 2

#define CONFIG_MAX_HEADERS 16
/*
 * The variable that tells a process which configuration warnings an
 * ancestor already gave: keys of the warnings (a hash of the variable's
 * name, its value and the message), comma-separated.  A process
 * suppresses a warning whose key is listed and puts the keys of every
 * warning it gave or suppressed into its children's environment, so that
 * a bad setting is reported once per process tree, and a different bad
 * value still is.
 */
#define CONFIG_WARNED_VAR "OTELSHIM_WARNED"
#define CONFIG_WARNED_MAX 16    /* keys a process passes on */
#define CONFIG_MAX_RESOURCE_ATTRS 32

struct config_kv {
	const char *key;
	const char *value;
};

/*
 * Every string points into storage owned by the config (config_load copies
 * what it keeps), so the struct stays valid after the environment changes.
 */
struct config {
	int sdk_disabled;                       /* OTEL_SDK_DISABLED */
	const char *service_name;               /* NULL: unset */
	struct config_kv resource_attrs[CONFIG_MAX_RESOURCE_ATTRS];
	size_t n_resource_attrs;                /* OTEL_RESOURCE_ATTRIBUTES */

	enum config_exporter exporter;          /* OTEL_TRACES_EXPORTER */
	enum config_sampler sampler;            /* OTEL_TRACES_SAMPLER */
	double sampler_ratio;                   /* OTEL_TRACES_SAMPLER_ARG */
	int propagate_tracecontext;             /* OTEL_PROPAGATORS */
	int semconv_dup;        /* OTEL_SEMCONV_STABILITY_OPT_IN, CONFIG_SEMCONV_* */

	uint32_t bsp_schedule_delay_ms;         /* OTEL_BSP_SCHEDULE_DELAY */
	uint32_t bsp_export_timeout_ms;         /* 0 = no limit */
	uint32_t bsp_max_queue_size;
	uint32_t bsp_max_export_batch_size;     /* <= queue size */

	/* OTEL_EXPORTER_OTLP[_TRACES]_*; the TRACES form wins. */
	const char *endpoint;                   /* full URL incl. /v1/traces */
	struct config_kv headers[CONFIG_MAX_HEADERS];
	size_t n_headers;
	uint32_t otlp_timeout_ms;               /* 0 = no limit */
	int gzip;                               /* COMPRESSION=gzip */
	enum config_protocol protocol;
	const char *certificate;                /* PEM file paths or NULL */
	const char *client_key;
	const char *client_certificate;

	uint32_t attr_value_length_limit;       /* 0 = no limit */
	uint32_t span_attr_count_limit;         /* default 128 */
	enum config_log_level log_level;
	/* OTEL_LOG_LEVEL was set (validly).  Unless it was, only warnings
	 * about the configuration itself are printed: a library preloaded
	 * into every process must not talk on their stderr by default. */
	int log_level_explicit;

	/* OTELSHIM_* */
	const char *console_file;   /* OTELSHIM_CONSOLE_FILE: console/file
				       exporter output, NULL = stderr */
	const char *status_dir;     /* OTELSHIM_STATUS_DIR: where each process
				       keeps otelshim-<pid>.json, or NULL */
	/* OTELSHIM_STACK_THRESHOLD_MS: client spans lasting at least this
	 * long carry their call stack; 0 = every one, -1 ("off") = none. */
	int32_t stack_threshold_ms;
	int crash_handler;          /* OTELSHIM_CRASH_HANDLER, default true */
	/* OTELSHIM_REWRITE_TRACEPARENT, default true: a traceparent the
	 * program sends itself gets our client span as its parent. */
	int rewrite_traceparent;
	/* OTELSHIM_EXIT_TIMEOUT: the most exit (or an exec) waits for the
	 * queue to go out or to the spool; never more than
	 * bsp_export_timeout_ms. */
	uint32_t exit_timeout_ms;
	/* OTELSHIM_SPOOL_DIR: NULL = the per-user default
	 * (spool_default_dir), "off" = no spool. */
	const char *spool_dir;
	uint32_t spool_max_mb;      /* OTELSHIM_SPOOL_MAX_MB, default 64 */
	/* OTELSHIM_URL_SENSITIVE_KEYS: query keys whose values are
	 * redacted, replacing the default list; NULL = the default. */
	const char *url_sensitive_keys;

	/* CONFIG_WARNED_VAR "=<keys>", the entry children's environments
	 * get; "" when this process had no warning to give. */
	char warned_env[sizeof(CONFIG_WARNED_VAR) +
			CONFIG_WARNED_MAX * 17];
};

/*
 * Reads the configuration from envp (a NULL-terminated "K=V" array, so
 * tests need not touch the real environment) into *cfg.  Warnings go through
 * warn(msg) — one call per problem, each message a complete line without
 * the trailing newline.  Never fails: every problem falls back to the
 * default.  OTEL_LOG_LEVEL is read first: below "warn", warn() is never
 * called.  A warning that envp's CONFIG_WARNED_VAR lists is not given
 * again; cfg->warned_env lists every one given or so left out.  The
 * strings cfg keeps are allocated once and never freed (unit test builds
 * free them on the next call, so tests do not leak).
 */
void config_load(struct config *cfg, char *const *envp,
		 void (*warn)(const char *msg));

/* Name of a log level for messages; "info" etc. */
const char *config_log_level_name(enum config_log_level lvl);

#ifdef UNITTEST
/*
 * The i-th variable config_load reads (i = 0, 1, ...) and its default as
 * the environment would spell it (NULL: none): 0, or -ENOENT past the
 * last.  For the test that the README documents each one.
 */
int config_variable(size_t i, const char **name, const char **def);
#endif

#endif
