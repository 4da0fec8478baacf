/*
 * Unit tests for config_load: defaults, every variable, the precedence of
 * the per-signal variables, endpoint URL building and the key=value lists,
 * that every invalid value costs exactly one warning and the default, and
 * that the README's configuration table lists every variable and default.
 * links: pipeline/config.c pipeline/config_lists.c pipeline/config_scalars.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/config.h"
#include "unit.h"

#define MAX_WARN 16

static char warnings[MAX_WARN][512];
static int n_warn;

static void record_warn(const char *msg)
{
	if (n_warn < MAX_WARN)
		snprintf(warnings[n_warn], sizeof(warnings[0]), "%s", msg);
	n_warn++;
}

static struct config cfg;

/* Loads a NULL-terminated list of "K=V" strings into cfg. */
static void load_env(char *const *envp)
{
	n_warn = 0;
	memset(warnings, 0, sizeof(warnings));
	config_load(&cfg, envp, record_warn);
}

#define LOAD(...) do { \
	char *env_[] = { __VA_ARGS__, NULL }; \
	load_env(env_); \
} while (0)

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_defaults(void)
{
	ck_assert_int_eq(cfg.sdk_disabled, 0);
	ck_assert_ptr_null(cfg.service_name);
	ck_assert_uint_eq(cfg.n_resource_attrs, 0);
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_OTLP);
	ck_assert_int_eq(cfg.sampler, CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON);
	ck_assert_double_eq(cfg.sampler_ratio, 1.0);
	ck_assert_int_eq(cfg.propagate_tracecontext, 1);
	ck_assert_int_eq(cfg.semconv_dup, 0);
	ck_assert_uint_eq(cfg.bsp_schedule_delay_ms, 5000);
	ck_assert_uint_eq(cfg.bsp_export_timeout_ms, 30000);
	ck_assert_uint_eq(cfg.bsp_max_queue_size, 2048);
	ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 512);
	ck_assert_str_eq(cfg.endpoint, "http://localhost:4318/v1/traces");
	ck_assert_uint_eq(cfg.n_headers, 0);
	ck_assert_uint_eq(cfg.otlp_timeout_ms, 10000);
	ck_assert_int_eq(cfg.gzip, 0);
	ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_HTTP_PROTOBUF);
	ck_assert_ptr_null(cfg.certificate);
	ck_assert_ptr_null(cfg.client_key);
	ck_assert_ptr_null(cfg.client_certificate);
	ck_assert_uint_eq(cfg.attr_value_length_limit, 0);
	ck_assert_uint_eq(cfg.span_attr_count_limit, 128);
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_INFO);
	ck_assert_ptr_null(cfg.console_file);
}

START_TEST(test_defaults_empty)
{
	char *env[] = { NULL };

	load_env(env);
	check_defaults();
	ck_assert_int_eq(n_warn, 0);
	load_env(NULL);
	check_defaults();
	ck_assert_int_eq(n_warn, 0);
}
END_TEST

START_TEST(test_defaults_unrelated_and_empty_values)
{
	/* Lookalike names, names without '=' and empty values change nothing;
	 * a value of blanks counts as empty for parsed settings. */
	LOAD("PATH=/bin", "OTEL", "OTELX=1", "OTEL_SERVICE_NAMEX=a",
	     "XOTEL_SERVICE_NAME=b", "OTEL_SERVICE_NAME=",
	     "OTEL_SDK_DISABLED=", "OTEL_BSP_SCHEDULE_DELAY=  ",
	     "OTEL_TRACES_SAMPLER=", "OTEL_EXPORTER_OTLP_ENDPOINT=",
	     "OTEL_RESOURCE_ATTRIBUTES=", "OTEL_EXPORTER_OTLP_HEADERS=",
	     "OTEL_LOG_LEVEL=", "OTELSHIM_CONSOLE_FILE=",
	     "OTEL_UNKNOWN_THING=zzz");
	check_defaults();
	ck_assert_int_eq(n_warn, 0);
}
END_TEST

START_TEST(test_first_occurrence_wins)
{
	/* As getenv() would see it. */
	LOAD("OTEL_SERVICE_NAME=first", "OTEL_SERVICE_NAME=second");
	ck_assert_str_eq(cfg.service_name, "first");
}
END_TEST

START_TEST(test_sdk_disabled)
{
	LOAD("OTEL_SDK_DISABLED=true");
	ck_assert_int_eq(cfg.sdk_disabled, 1);
	LOAD("OTEL_SDK_DISABLED=TrUe");
	ck_assert_int_eq(cfg.sdk_disabled, 1);
	ck_assert_int_eq(n_warn, 0);
	LOAD("OTEL_SDK_DISABLED=FALSE");
	ck_assert_int_eq(cfg.sdk_disabled, 0);
	ck_assert_int_eq(n_warn, 0);
	LOAD("OTEL_SDK_DISABLED=1");
	ck_assert_int_eq(cfg.sdk_disabled, 0);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_SDK_DISABLED=\"1\" is not true "
			 "or false; using false");
}
END_TEST

START_TEST(test_service_name)
{
	LOAD("OTEL_SERVICE_NAME=checkout api");
	ck_assert_str_eq(cfg.service_name, "checkout api");
	ck_assert_int_eq(n_warn, 0);
	LOAD("OTEL_SERVICE_NAME=caf\xc3\xa9");
	ck_assert_str_eq(cfg.service_name, "caf\xc3\xa9");
	LOAD("OTEL_SERVICE_NAME=bad\xff");
	ck_assert_ptr_null(cfg.service_name);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(starts_with(warnings[0], "OTEL_SERVICE_NAME "));
}
END_TEST

START_TEST(test_strings_are_copied)
{
	char name[] = "OTEL_SERVICE_NAME=orig";
	char ep[] = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://h:1/p";
	char hd[] = "OTEL_EXPORTER_OTLP_HEADERS=k=v";
	char cf[] = "OTELSHIM_CONSOLE_FILE=/tmp/x";
	char *env[] = { name, ep, hd, cf, NULL };

	load_env(env);
	memset(name + 18, 'X', strlen(name + 18));
	memset(ep + 35, 'X', strlen(ep + 35));
	memset(hd + 27, 'X', strlen(hd + 27));
	memset(cf + 22, 'X', strlen(cf + 22));
	ck_assert_str_eq(cfg.service_name, "orig");
	ck_assert_str_eq(cfg.endpoint, "http://h:1/p");
	ck_assert_str_eq(cfg.headers[0].key, "k");
	ck_assert_str_eq(cfg.headers[0].value, "v");
	ck_assert_str_eq(cfg.console_file, "/tmp/x");
}
END_TEST

START_TEST(test_resource_attrs)
{
	LOAD("OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,"
	     "team=core");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.n_resource_attrs, 2);
	ck_assert_str_eq(cfg.resource_attrs[0].key, "deployment.environment");
	ck_assert_str_eq(cfg.resource_attrs[0].value, "prod");
	ck_assert_str_eq(cfg.resource_attrs[1].key, "team");
	ck_assert_str_eq(cfg.resource_attrs[1].value, "core");

	/* Blanks around members trimmed, %XX decoded in keys and values, '='
	 * inside a value kept, an empty value allowed, empty members and a
	 * trailing comma ignored, a repeated key keeps its last value. */
	LOAD("OTEL_RESOURCE_ATTRIBUTES= a%3Db = x%2Cy%20z ,, eq=1=2,"
	     "empty=,a%3Db=last,");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.n_resource_attrs, 3);
	ck_assert_str_eq(cfg.resource_attrs[0].key, "a=b");
	ck_assert_str_eq(cfg.resource_attrs[0].value, "last");
	ck_assert_str_eq(cfg.resource_attrs[1].key, "eq");
	ck_assert_str_eq(cfg.resource_attrs[1].value, "1=2");
	ck_assert_str_eq(cfg.resource_attrs[2].key, "empty");
	ck_assert_str_eq(cfg.resource_attrs[2].value, "");

	LOAD("OTEL_RESOURCE_ATTRIBUTES=service.name=from%2Dattrs",
	     "OTEL_SERVICE_NAME=svc");
	ck_assert_str_eq(cfg.service_name, "svc");
	ck_assert_str_eq(cfg.resource_attrs[0].value, "from-attrs");
}
END_TEST

/* Each of these drops the whole variable with exactly one warning. */
static const char *const bad_resource_attrs[] = {
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b,c=3",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,=2",
	"OTEL_RESOURCE_ATTRIBUTES=a=1, =2",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b=%zz",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b=x%4",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b=x%",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b%g1=x",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b=%00",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b=%ff",
	"OTEL_RESOURCE_ATTRIBUTES=a=1,b=\xc0\xaf",
	"OTEL_RESOURCE_ATTRIBUTES=noequals",
};

START_TEST(test_resource_attrs_error_drops_all)
{
	char *env[] = { (char *)bad_resource_attrs[_i], NULL };

	load_env(env);
	ck_assert_uint_eq(cfg.n_resource_attrs, 0);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(starts_with(warnings[0], "OTEL_RESOURCE_ATTRIBUTES: "
			      "member "));
	ck_assert_ptr_nonnull(strstr(warnings[0], "ignoring the whole"));
}
END_TEST

START_TEST(test_resource_attrs_error_message)
{
	LOAD("OTEL_RESOURCE_ATTRIBUTES=a=1,b,c=3");
	ck_assert_str_eq(warnings[0], "OTEL_RESOURCE_ATTRIBUTES: member 2 "
			 "has no '='; ignoring the whole variable");
}
END_TEST

START_TEST(test_resource_attrs_too_many)
{
	char buf[1024] = "OTEL_RESOURCE_ATTRIBUTES=";
	char *env[] = { buf, NULL };
	int i;

	for (i = 0; i < CONFIG_MAX_RESOURCE_ATTRS + 3; i++) {
		char one[32];

		snprintf(one, sizeof(one), "%sk%d=v%d", i ? "," : "", i, i);
		strcat(buf, one);
	}
	load_env(env);
	ck_assert_uint_eq(cfg.n_resource_attrs, CONFIG_MAX_RESOURCE_ATTRS);
	ck_assert_str_eq(cfg.resource_attrs[31].key, "k31");
	ck_assert_str_eq(cfg.resource_attrs[31].value, "v31");
	ck_assert_int_eq(n_warn, 1);
	ck_assert(starts_with(warnings[0], "OTEL_RESOURCE_ATTRIBUTES "));
}
END_TEST

START_TEST(test_exporter)
{
	LOAD("OTEL_TRACES_EXPORTER=console");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_CONSOLE);
	LOAD("OTEL_TRACES_EXPORTER=NONE");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_NONE);
	LOAD("OTEL_TRACES_EXPORTER= otlp ");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_OTLP);
	ck_assert_int_eq(n_warn, 0);

	LOAD("OTEL_TRACES_EXPORTER=zipkin");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_OTLP);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_TRACES_EXPORTER: ignoring "
			 "\"zipkin\" (not supported); using otlp");
	LOAD("OTEL_TRACES_EXPORTER=logging");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_OTLP);
	ck_assert_int_eq(n_warn, 1);

	/* Several: the first supported one, one warning for the rest. */
	LOAD("OTEL_TRACES_EXPORTER=zipkin,console,otlp");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_CONSOLE);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_TRACES_EXPORTER: ignoring "
			 "\"zipkin\" (not supported), \"otlp\" (only one "
			 "exporter is used)");
	LOAD("OTEL_TRACES_EXPORTER=none,otlp");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_NONE);
	ck_assert_int_eq(n_warn, 1);
	LOAD("OTEL_TRACES_EXPORTER=console,,");
	ck_assert_int_eq(cfg.exporter, CONFIG_EXPORTER_CONSOLE);
	ck_assert_int_eq(n_warn, 0);
}
END_TEST

START_TEST(test_sampler)
{
	static const struct {
		const char *env;
		enum config_sampler s;
	} cases[] = {
		{ "OTEL_TRACES_SAMPLER=always_on", CONFIG_SAMPLER_ALWAYS_ON },
		{ "OTEL_TRACES_SAMPLER=always_off",
		  CONFIG_SAMPLER_ALWAYS_OFF },
		{ "OTEL_TRACES_SAMPLER=traceidratio",
		  CONFIG_SAMPLER_TRACEIDRATIO },
		{ "OTEL_TRACES_SAMPLER=parentbased_always_on",
		  CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON },
		{ "OTEL_TRACES_SAMPLER=parentbased_always_off",
		  CONFIG_SAMPLER_PARENTBASED_ALWAYS_OFF },
		{ "OTEL_TRACES_SAMPLER=ParentBased_TraceIdRatio",
		  CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO },
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		LOAD((char *)cases[i].env);
		ck_assert_int_eq(cfg.sampler, cases[i].s);
		ck_assert_double_eq(cfg.sampler_ratio, 1.0);
		ck_assert_int_eq(n_warn, 0);
	}
	LOAD("OTEL_TRACES_SAMPLER=jaeger_remote");
	ck_assert_int_eq(cfg.sampler, CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_TRACES_SAMPLER=\"jaeger_remote\""
			 " is not supported; using parentbased_always_on");
	LOAD("OTEL_TRACES_SAMPLER=xray", "OTEL_TRACES_SAMPLER_ARG=0.5");
	ck_assert_int_eq(cfg.sampler, CONFIG_SAMPLER_PARENTBASED_ALWAYS_ON);
	ck_assert_double_eq(cfg.sampler_ratio, 1.0);
	ck_assert_int_eq(n_warn, 1);
}
END_TEST

START_TEST(test_sampler_arg)
{
	static const struct {
		const char *arg;
		double want;
	} ok[] = {
		{ "OTEL_TRACES_SAMPLER_ARG=0.25", 0.25 },
		{ "OTEL_TRACES_SAMPLER_ARG=0", 0.0 },
		{ "OTEL_TRACES_SAMPLER_ARG=1", 1.0 },
		{ "OTEL_TRACES_SAMPLER_ARG=1.000", 1.0 },
		{ "OTEL_TRACES_SAMPLER_ARG=.5", 0.5 },
		{ "OTEL_TRACES_SAMPLER_ARG=0.1", 0.1 },
		{ "OTEL_TRACES_SAMPLER_ARG=1e-3", 0.001 },
		{ "OTEL_TRACES_SAMPLER_ARG=25E-2", 0.25 },
		{ "OTEL_TRACES_SAMPLER_ARG= 0.75 ", 0.75 },
		{ "OTEL_TRACES_SAMPLER_ARG=0.00000000000000000000001", 1e-23 },
	};
	static const char *const bad[] = {
		"OTEL_TRACES_SAMPLER_ARG=abc",
		"OTEL_TRACES_SAMPLER_ARG=1.5",
		"OTEL_TRACES_SAMPLER_ARG=-0.1",
		"OTEL_TRACES_SAMPLER_ARG=nan",
		"OTEL_TRACES_SAMPLER_ARG=inf",
		"OTEL_TRACES_SAMPLER_ARG=0.5x",
		"OTEL_TRACES_SAMPLER_ARG=1e",
		"OTEL_TRACES_SAMPLER_ARG=.",
		"OTEL_TRACES_SAMPLER_ARG=1e400",
		"OTEL_TRACES_SAMPLER_ARG=50%",
	};
	size_t i;

	for (i = 0; i < NELEM(ok); i++) {
		LOAD("OTEL_TRACES_SAMPLER=traceidratio", (char *)ok[i].arg);
		ck_assert_msg(n_warn == 0, "%s", ok[i].arg);
		ck_assert_double_eq_tol(cfg.sampler_ratio, ok[i].want, 1e-30);
	}
	for (i = 0; i < NELEM(bad); i++) {
		LOAD("OTEL_TRACES_SAMPLER=parentbased_traceidratio",
		     (char *)bad[i]);
		ck_assert_msg(n_warn == 1, "%s", bad[i]);
		ck_assert(starts_with(warnings[0], "OTEL_TRACES_SAMPLER_ARG="));
		ck_assert_double_eq(cfg.sampler_ratio, 1.0);
		ck_assert_int_eq(cfg.sampler,
				 CONFIG_SAMPLER_PARENTBASED_TRACEIDRATIO);
	}
	LOAD("OTEL_TRACES_SAMPLER=traceidratio",
	     "OTEL_TRACES_SAMPLER_ARG=abc");
	ck_assert_str_eq(warnings[0], "OTEL_TRACES_SAMPLER_ARG=\"abc\" is "
			 "not a ratio between 0 and 1; using 1.0");

	/* Read only for the ratio samplers, and only if a sampler is set. */
	LOAD("OTEL_TRACES_SAMPLER=always_on", "OTEL_TRACES_SAMPLER_ARG=abc");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_double_eq(cfg.sampler_ratio, 1.0);
	LOAD("OTEL_TRACES_SAMPLER_ARG=0.5");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_double_eq(cfg.sampler_ratio, 1.0);
}
END_TEST

START_TEST(test_propagators)
{
	LOAD("OTEL_PROPAGATORS=tracecontext");
	ck_assert_int_eq(cfg.propagate_tracecontext, 1);
	LOAD("OTEL_PROPAGATORS= baggage , TraceContext ");
	ck_assert_int_eq(cfg.propagate_tracecontext, 1);
	LOAD("OTEL_PROPAGATORS=baggage");
	ck_assert_int_eq(cfg.propagate_tracecontext, 0);
	ck_assert_int_eq(n_warn, 0);
	LOAD("OTEL_PROPAGATORS=none");
	ck_assert_int_eq(cfg.propagate_tracecontext, 0);
	ck_assert_int_eq(n_warn, 0);

	LOAD("OTEL_PROPAGATORS=b3,jaeger");
	ck_assert_int_eq(cfg.propagate_tracecontext, 0);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_PROPAGATORS: \"b3\", \"jaeger\" "
			 "are not supported; ignored");
	LOAD("OTEL_PROPAGATORS=tracecontext,b3multi,baggage");
	ck_assert_int_eq(cfg.propagate_tracecontext, 1);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_PROPAGATORS: \"b3multi\" is not "
			 "supported; ignored");
	LOAD("OTEL_PROPAGATORS=none,tracecontext");
	ck_assert_int_eq(cfg.propagate_tracecontext, 1);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(starts_with(warnings[0], "OTEL_PROPAGATORS: \"none\""));
}
END_TEST

/* Categories of other instrumentations share the variable: no warning. */
START_TEST(test_semconv_opt_in)
{
	LOAD("OTEL_SEMCONV_STABILITY_OPT_IN=http");
	ck_assert_int_eq(cfg.semconv_dup, 0);
	LOAD("OTEL_SEMCONV_STABILITY_OPT_IN=http/dup");
	ck_assert_int_eq(cfg.semconv_dup, CONFIG_SEMCONV_HTTP_DUP);
	LOAD("OTEL_SEMCONV_STABILITY_OPT_IN= Database/Dup ,messaging/dup");
	ck_assert_int_eq(cfg.semconv_dup, CONFIG_SEMCONV_DATABASE_DUP);
	ck_assert_int_eq(n_warn, 0);
	/* dup wins over the stable-only word of the same category. */
	LOAD("OTEL_SEMCONV_STABILITY_OPT_IN=http,http/dup,database/dup,"
	     "database,gen_ai_latest_experimental");
	ck_assert_int_eq(cfg.semconv_dup,
			 CONFIG_SEMCONV_HTTP_DUP | CONFIG_SEMCONV_DATABASE_DUP);
	ck_assert_int_eq(n_warn, 0);
}
END_TEST

START_TEST(test_bsp)
{
	LOAD("OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_BSP_EXPORT_TIMEOUT=0",
	     "OTEL_BSP_MAX_QUEUE_SIZE=+4096",
	     "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1024");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.bsp_schedule_delay_ms, 100);
	ck_assert_uint_eq(cfg.bsp_export_timeout_ms, 0);
	ck_assert_uint_eq(cfg.bsp_max_queue_size, 4096);
	ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 1024);

	LOAD("OTEL_BSP_SCHEDULE_DELAY=abc");
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_BSP_SCHEDULE_DELAY=\"abc\" is not "
			 "a valid duration in ms; using 5000");
	ck_assert_uint_eq(cfg.bsp_schedule_delay_ms, 5000);

	LOAD("OTEL_BSP_EXPORT_TIMEOUT=-5");
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_BSP_EXPORT_TIMEOUT=\"-5\" is "
			 "negative; using 30000");
	ck_assert_uint_eq(cfg.bsp_export_timeout_ms, 30000);

	LOAD("OTEL_BSP_SCHEDULE_DELAY=4294967295",
	     "OTEL_BSP_EXPORT_TIMEOUT=4294967296");
	ck_assert_uint_eq(cfg.bsp_schedule_delay_ms, 4294967295u);
	ck_assert_uint_eq(cfg.bsp_export_timeout_ms, 30000);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_BSP_EXPORT_TIMEOUT=\"4294967296\""
			 " is too large; using 30000");
}
END_TEST

START_TEST(test_bsp_batch_vs_queue)
{
	LOAD("OTEL_BSP_MAX_QUEUE_SIZE=100");
	ck_assert_uint_eq(cfg.bsp_max_queue_size, 100);
	ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 100);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_BSP_MAX_EXPORT_BATCH_SIZE is "
			 "larger than OTEL_BSP_MAX_QUEUE_SIZE; using 100");

	LOAD("OTEL_BSP_MAX_QUEUE_SIZE=0");
	ck_assert_uint_eq(cfg.bsp_max_queue_size, 2048);
	ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 512);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(starts_with(warnings[0], "OTEL_BSP_MAX_QUEUE_SIZE=\"0\""));

	LOAD("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=0");
	ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 512);
	ck_assert_int_eq(n_warn, 1);

	LOAD("OTEL_BSP_MAX_QUEUE_SIZE=99999999");
	ck_assert_uint_eq(cfg.bsp_max_queue_size, 2048);
	ck_assert_int_eq(n_warn, 1);

	LOAD("OTEL_BSP_MAX_QUEUE_SIZE=10",
	     "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=10");
	ck_assert_uint_eq(cfg.bsp_max_export_batch_size, 10);
	ck_assert_int_eq(n_warn, 0);
}
END_TEST

struct url_case {
	const char *env1, *env2;
	const char *want;
	int warns;
};

static const struct url_case url_cases[] = {
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318/x/", NULL,
	  "http://c:4318/x/v1/traces", 0 },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318/x", NULL,
	  "http://c:4318/x/v1/traces", 0 },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", NULL,
	  "http://c:4318/v1/traces", 0 },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=https://tempo.example:443/", NULL,
	  "https://tempo.example:443/v1/traces", 0 },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://c:4318", NULL,
	  "http://c:4318/", 0 },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://c:4318/", NULL,
	  "http://c:4318/", 0 },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://c:4318/custom/path",
	  NULL, "http://c:4318/custom/path", 0 },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://c:4318?tenant=a", NULL,
	  "http://c:4318/?tenant=a", 0 },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=HTTPS://C", NULL,
	  "HTTPS://C/", 0 },
	/* The per-signal variable beats the generic one. */
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=http://generic:4318",
	  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://traces:4318/v1/traces",
	  "http://traces:4318/v1/traces", 0 },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://traces:1/t",
	  "OTEL_EXPORTER_OTLP_ENDPOINT=ftp://generic", "http://traces:1/t",
	  0 },
	/* Invalid: a warning and the default. */
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4318", NULL,
	  "http://localhost:4318/v1/traces", 1 },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=ftp://c:21/", NULL,
	  "http://localhost:4318/v1/traces", 1 },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=http://", NULL,
	  "http://localhost:4318/v1/traces", 1 },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=http:///path", NULL,
	  "http://localhost:4318/v1/traces", 1 },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT=http://a b/", NULL,
	  "http://localhost:4318/v1/traces", 1 },
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=grpc://c:4317",
	  "OTEL_EXPORTER_OTLP_ENDPOINT=http://generic:4318",
	  "http://localhost:4318/v1/traces", 1 },
};

START_TEST(test_endpoint)
{
	const struct url_case *c = &url_cases[_i];
	char *env[] = { (char *)c->env1, (char *)c->env2, NULL };

	load_env(env);
	ck_assert_str_eq(cfg.endpoint, c->want);
	ck_assert_int_eq(n_warn, c->warns);
	if (c->warns)
		ck_assert(starts_with(warnings[0], "OTEL_EXPORTER_OTLP_"));
}
END_TEST

START_TEST(test_endpoint_warning_hides_url)
{
	LOAD("OTEL_EXPORTER_OTLP_ENDPOINT=ftp://user:s3cret@host/");
	ck_assert_int_eq(n_warn, 1);
	ck_assert_ptr_null(strstr(warnings[0], "s3cret"));
	ck_assert_str_eq(warnings[0], "OTEL_EXPORTER_OTLP_ENDPOINT is not a "
			 "valid http:// or https:// URL; using "
			 "http://localhost:4318/v1/traces");
}
END_TEST

START_TEST(test_headers)
{
	LOAD("OTEL_EXPORTER_OTLP_HEADERS=api-key=abc,X-Scope-OrgID=tenant1");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.n_headers, 2);
	ck_assert_str_eq(cfg.headers[0].key, "api-key");
	ck_assert_str_eq(cfg.headers[0].value, "abc");
	ck_assert_str_eq(cfg.headers[1].key, "X-Scope-OrgID");
	ck_assert_str_eq(cfg.headers[1].value, "tenant1");

	/* OWS trimmed around keys and values, values percent-decoded,
	 * '=' inside a value kept, empty values and members allowed. */
	LOAD("OTEL_EXPORTER_OTLP_HEADERS= Authorization = Basic%20dXNlcg%3D%3D"
	     " ,\tx-a\t=\t1=2\t,, x-empty= ,");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.n_headers, 3);
	ck_assert_str_eq(cfg.headers[0].key, "Authorization");
	ck_assert_str_eq(cfg.headers[0].value, "Basic dXNlcg==");
	ck_assert_str_eq(cfg.headers[1].key, "x-a");
	ck_assert_str_eq(cfg.headers[1].value, "1=2");
	ck_assert_str_eq(cfg.headers[2].key, "x-empty");
	ck_assert_str_eq(cfg.headers[2].value, "");
}
END_TEST

START_TEST(test_headers_traces_beat_generic)
{
	LOAD("OTEL_EXPORTER_OTLP_HEADERS=a=1,b=2",
	     "OTEL_EXPORTER_OTLP_TRACES_HEADERS=c=3");
	ck_assert_uint_eq(cfg.n_headers, 1);
	ck_assert_str_eq(cfg.headers[0].key, "c");
	ck_assert_str_eq(cfg.headers[0].value, "3");
}
END_TEST

/* Each skips one member with one warning that never shows its content. */
static const char *const bad_headers[] = {
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1,SECRETnoequals,ok2=2",
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1,=SECRET,ok2=2",
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1, \t=SECRET,ok2=2",
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1,k=SECRET%zz,ok2=2",
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1,k=SECRET%0d%0aX: y,ok2=2",
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1,k=SECRET%00,ok2=2",
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1,bad key=SECRET,ok2=2",
	"OTEL_EXPORTER_OTLP_HEADERS=ok=1,k:x=SECRET,ok2=2",
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS=ok=1,k=SECRET%4,ok2=2",
};

START_TEST(test_headers_bad_member)
{
	char *env[] = { (char *)bad_headers[_i], NULL };

	load_env(env);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(starts_with(warnings[0], "OTEL_EXPORTER_OTLP_"));
	ck_assert_ptr_nonnull(strstr(warnings[0], "member 2 "));
	ck_assert_ptr_null(strstr(warnings[0], "SECRET"));
	ck_assert_uint_eq(cfg.n_headers, 2);
	ck_assert_str_eq(cfg.headers[0].key, "ok");
	ck_assert_str_eq(cfg.headers[0].value, "1");
	ck_assert_str_eq(cfg.headers[1].key, "ok2");
	ck_assert_str_eq(cfg.headers[1].value, "2");
}
END_TEST

START_TEST(test_headers_too_many)
{
	char buf[1024] = "OTEL_EXPORTER_OTLP_HEADERS=";
	char *env[] = { buf, NULL };
	int i;

	for (i = 0; i < CONFIG_MAX_HEADERS + 2; i++) {
		char one[32];

		snprintf(one, sizeof(one), "%sh%d=SECRET%d", i ? "," : "",
			 i, i);
		strcat(buf, one);
	}
	load_env(env);
	ck_assert_uint_eq(cfg.n_headers, CONFIG_MAX_HEADERS);
	ck_assert_str_eq(cfg.headers[15].key, "h15");
	ck_assert_int_eq(n_warn, 1);
	ck_assert_ptr_null(strstr(warnings[0], "SECRET"));
}
END_TEST

START_TEST(test_otlp_scalars)
{
	LOAD("OTEL_EXPORTER_OTLP_TIMEOUT=2000",
	     "OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
	     "OTEL_EXPORTER_OTLP_PROTOCOL=http/json",
	     "OTEL_EXPORTER_OTLP_CERTIFICATE=/ca.pem",
	     "OTEL_EXPORTER_OTLP_CLIENT_KEY=/key.pem",
	     "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/cert.pem");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.otlp_timeout_ms, 2000);
	ck_assert_int_eq(cfg.gzip, 1);
	ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_HTTP_JSON);
	ck_assert_str_eq(cfg.certificate, "/ca.pem");
	ck_assert_str_eq(cfg.client_key, "/key.pem");
	ck_assert_str_eq(cfg.client_certificate, "/cert.pem");

	/* Every per-signal variable beats its generic one. */
	LOAD("OTEL_EXPORTER_OTLP_TIMEOUT=2000",
	     "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=0",
	     "OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
	     "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=NONE",
	     "OTEL_EXPORTER_OTLP_PROTOCOL=http/json",
	     "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=HTTP/Protobuf",
	     "OTEL_EXPORTER_OTLP_CERTIFICATE=/ca.pem",
	     "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=/t-ca.pem",
	     "OTEL_EXPORTER_OTLP_CLIENT_KEY=/key.pem",
	     "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY=/t-key.pem",
	     "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/cert.pem",
	     "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE=/t-cert.pem");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.otlp_timeout_ms, 0);
	ck_assert_int_eq(cfg.gzip, 0);
	ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_HTTP_PROTOBUF);
	ck_assert_str_eq(cfg.certificate, "/t-ca.pem");
	ck_assert_str_eq(cfg.client_key, "/t-key.pem");
	ck_assert_str_eq(cfg.client_certificate, "/t-cert.pem");

	/* An empty per-signal variable is unset: the generic one applies. */
	LOAD("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=",
	     "OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
	     "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=",
	     "OTEL_EXPORTER_OTLP_CERTIFICATE=/ca.pem");
	ck_assert_int_eq(cfg.gzip, 1);
	ck_assert_str_eq(cfg.certificate, "/ca.pem");
}
END_TEST

/* gRPC: the endpoint's scheme and authority and the Export method,
 * whichever variable names it; 4317 by default. */
START_TEST(test_otlp_protocol_grpc)
{
	LOAD("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc");
	ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_GRPC);
	ck_assert_int_eq(n_warn, 0);
	ck_assert_str_eq(cfg.endpoint, "http://localhost:4317/opentelemetry."
			 "proto.collector.trace.v1.TraceService/Export");
	LOAD("OTEL_EXPORTER_OTLP_PROTOCOL=GRPC",
	     "OTEL_EXPORTER_OTLP_ENDPOINT=https://c:443/ignored/");
	ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_GRPC);
	ck_assert_str_eq(cfg.endpoint, "https://c:443/opentelemetry."
			 "proto.collector.trace.v1.TraceService/Export");
	LOAD("OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
	     "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf",
	     "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318");
	ck_assert_int_eq(cfg.protocol, CONFIG_PROTOCOL_HTTP_PROTOBUF);
	ck_assert_str_eq(cfg.endpoint, "http://c:4318/v1/traces");
	LOAD("OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
	     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=c:4317");
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(cfg.endpoint, "http://localhost:4317/opentelemetry."
			 "proto.collector.trace.v1.TraceService/Export");
}
END_TEST

START_TEST(test_limits)
{
	LOAD("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=100",
	     "OTEL_ATTRIBUTE_COUNT_LIMIT=10");
	ck_assert_uint_eq(cfg.attr_value_length_limit, 100);
	ck_assert_uint_eq(cfg.span_attr_count_limit, 10);
	LOAD("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=100",
	     "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT=50",
	     "OTEL_ATTRIBUTE_COUNT_LIMIT=10",
	     "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=20");
	ck_assert_uint_eq(cfg.attr_value_length_limit, 50);
	ck_assert_uint_eq(cfg.span_attr_count_limit, 20);
	ck_assert_int_eq(n_warn, 0);
}
END_TEST

START_TEST(test_log_level)
{
	static const struct {
		const char *env;
		enum config_log_level lvl;
	} cases[] = {
		{ "OTEL_LOG_LEVEL=none", CONFIG_LOG_NONE },
		{ "OTEL_LOG_LEVEL=OFF", CONFIG_LOG_NONE },
		{ "OTEL_LOG_LEVEL=error", CONFIG_LOG_ERROR },
		{ "OTEL_LOG_LEVEL=Warn", CONFIG_LOG_WARN },
		{ "OTEL_LOG_LEVEL=warning", CONFIG_LOG_WARN },
		{ "OTEL_LOG_LEVEL=info", CONFIG_LOG_INFO },
		{ "OTEL_LOG_LEVEL=DEBUG", CONFIG_LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		LOAD((char *)cases[i].env);
		ck_assert_int_eq(cfg.log_level, cases[i].lvl);
		ck_assert_int_eq(n_warn, 0);
	}
	LOAD("OTEL_LOG_LEVEL=verbose");
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_INFO);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_str_eq(warnings[0], "OTEL_LOG_LEVEL=\"verbose\" is not a "
			 "known log level; using info");
}
END_TEST

START_TEST(test_log_level_silences_warnings)
{
	LOAD("OTEL_LOG_LEVEL=error", "OTEL_BSP_SCHEDULE_DELAY=abc",
	     "OTEL_TRACES_SAMPLER=xray");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_uint_eq(cfg.bsp_schedule_delay_ms, 5000);
	LOAD("OTEL_LOG_LEVEL=warn", "OTEL_BSP_SCHEDULE_DELAY=abc",
	     "OTEL_TRACES_SAMPLER=xray");
	ck_assert_int_eq(n_warn, 2);
}
END_TEST

START_TEST(test_console_file_and_config_file)
{
	LOAD("OTELSHIM_CONSOLE_FILE=/tmp/spans.txt");
	ck_assert_str_eq(cfg.console_file, "/tmp/spans.txt");
	ck_assert_int_eq(n_warn, 0);
	/* Alone, too: every kept string needs its room in the arena. */
	LOAD("OTELSHIM_STATUS_DIR=/run/otelshim");
	ck_assert_str_eq(cfg.status_dir, "/run/otelshim");
	ck_assert_ptr_null(cfg.console_file);
	LOAD("OTEL_CONFIG_FILE=/etc/otel.yaml");
	ck_assert_int_eq(n_warn, 1);
	ck_assert(starts_with(warnings[0], "OTEL_CONFIG_FILE "));
	check_defaults();
}
END_TEST

/* Every invalid value: exactly one warning naming the variable first, and
 * the default in place (checked by comparing against an empty load). */
static const char *const invalid_single[] = {
	"OTEL_SDK_DISABLED=yes",
	"OTEL_TRACES_EXPORTER=zipkin",
	"OTEL_TRACES_SAMPLER=bogus",
	"OTEL_PROPAGATORS=tracecontext,xray",
	"OTEL_BSP_SCHEDULE_DELAY=5s",
	"OTEL_BSP_SCHEDULE_DELAY=-1",
	"OTEL_BSP_EXPORT_TIMEOUT=1.5",
	"OTEL_BSP_MAX_QUEUE_SIZE=0x10",
	"OTEL_BSP_MAX_QUEUE_SIZE=0",
	"OTEL_BSP_MAX_EXPORT_BATCH_SIZE=-",
	"OTEL_EXPORTER_OTLP_ENDPOINT=tcp://x",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=/v1/traces",
	"OTEL_EXPORTER_OTLP_TIMEOUT=ten",
	"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=99999999999999999999999",
	"OTEL_EXPORTER_OTLP_COMPRESSION=zstd",
	"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=deflate",
	"OTEL_EXPORTER_OTLP_PROTOCOL=http/thrift",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=thrift",
	"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=big",
	"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT=-3",
	"OTEL_ATTRIBUTE_COUNT_LIMIT=1k",
	"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=+",
	"OTEL_LOG_LEVEL=trace",
	"OTEL_RESOURCE_ATTRIBUTES=a",
	"OTEL_EXPORTER_OTLP_HEADERS=a",
	"OTEL_SERVICE_NAME=\x80",
};

START_TEST(test_invalid_single)
{
	const char *e = invalid_single[_i];
	char *env[] = { (char *)e, NULL };
	char name[64];
	size_t n = strcspn(e, "=");

	memcpy(name, e, n);
	name[n] = '\0';
	load_env(env);
	ck_assert_msg(n_warn == 1, "%s: %d warnings", e, n_warn);
	ck_assert_msg(starts_with(warnings[0], name), "%s: %s", e,
		      warnings[0]);
	if (strcmp(name, "OTEL_PROPAGATORS") == 0)
		return;
	check_defaults();
}
END_TEST

START_TEST(test_long_value_truncated_in_warning)
{
	char buf[600] = "OTEL_BSP_SCHEDULE_DELAY=";
	char *env[] = { buf, NULL };

	memset(buf + strlen(buf), 'x', 500);
	buf[strlen(buf) - 1] = '\n';
	load_env(env);
	ck_assert_int_eq(n_warn, 1);
	ck_assert_ptr_null(strchr(warnings[0], '\n'));
	ck_assert(strlen(warnings[0]) < 200);
	ck_assert_ptr_nonnull(strstr(warnings[0], "...\""));
}
END_TEST

START_TEST(test_log_level_name)
{
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_NONE), "none");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_ERROR), "error");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_WARN), "warn");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_INFO), "info");
	ck_assert_str_eq(config_log_level_name(CONFIG_LOG_DEBUG), "debug");
	ck_assert_str_eq(config_log_level_name((enum config_log_level)42),
			 "unknown");
}
END_TEST

START_TEST(test_stack_threshold_and_crash_handler)
{
	LOAD("OTELSHIM_STACK_THRESHOLD_MS=0");
	ck_assert_int_eq(cfg.stack_threshold_ms, 0);
	ck_assert_int_eq(cfg.crash_handler, 1);
	LOAD("OTELSHIM_STACK_THRESHOLD_MS= Off ",
	     "OTELSHIM_CRASH_HANDLER=FALSE");
	ck_assert_int_eq(cfg.stack_threshold_ms, -1);
	ck_assert_int_eq(cfg.crash_handler, 0);
	LOAD("OTELSHIM_STACK_THRESHOLD_MS=-1");
	ck_assert_int_eq(cfg.stack_threshold_ms, -1);
	ck_assert_int_eq(n_warn, 0);
	LOAD("OTELSHIM_STACK_THRESHOLD_MS=2147483648");
	ck_assert_int_eq(cfg.stack_threshold_ms, 100);
	ck_assert_str_eq(warnings[0], "OTELSHIM_STACK_THRESHOLD_MS="
			 "\"2147483648\" is too large; using 100");
	LOAD("OTELSHIM_STACK_THRESHOLD_MS=-2", "OTELSHIM_CRASH_HANDLER=no");
	ck_assert_int_eq(cfg.stack_threshold_ms, 100);
	ck_assert_int_eq(cfg.crash_handler, 1);
	ck_assert_int_eq(n_warn, 2);
	ck_assert_str_eq(warnings[0], "OTELSHIM_STACK_THRESHOLD_MS=\"-2\" is "
			 "negative; using 100");
	ck_assert_str_eq(warnings[1], "OTELSHIM_CRASH_HANDLER=\"no\" is not "
			 "true or false; using true");
}
END_TEST

START_TEST(test_log_level_explicit)
{
	LOAD("OTEL_LOG_LEVEL=");
	ck_assert_int_eq(cfg.log_level_explicit, 0);
	LOAD("OTEL_LOG_LEVEL=info");
	ck_assert_int_eq(cfg.log_level_explicit, 1);
	LOAD("OTEL_LOG_LEVEL=loud");
	ck_assert_int_eq(cfg.log_level_explicit, 0);
	ck_assert_int_eq(cfg.log_level, CONFIG_LOG_INFO);
}
END_TEST

START_TEST(test_blank_values)
{
	/* File names keep blanks; a blank per-signal variable is unset. */
	LOAD("OTELSHIM_CONSOLE_FILE= ", "OTEL_SERVICE_NAME=  ",
	     "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT= ",
	     "OTEL_EXPORTER_OTLP_TIMEOUT=7",
	     "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY=\t",
	     "OTEL_EXPORTER_OTLP_CLIENT_KEY=/k");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_str_eq(cfg.console_file, " ");
	ck_assert_str_eq(cfg.service_name, "  ");
	ck_assert_uint_eq(cfg.otlp_timeout_ms, 7);
	ck_assert_str_eq(cfg.client_key, "/k");
}
END_TEST

/*
 * The README's "## Configuration" table: rows of "| `NAME` | default |
 * meaning |", where the first cell may name several variables ("`A`,
 * `B`", or "`X[_TRACES]_Y`" for both forms).  A default in backticks is
 * the value as the environment spells it; anything else is prose for a
 * variable that has none in the table.  Variables outside the OTEL*
 * namespace (TRACEPARENT) are read elsewhere and not checked.
 */
struct doc_var {
	char name[64];
	char def[64];           /* "" when the README gives prose */
	int seen;
};

static struct doc_var docs[64];
static size_t n_docs;

static void doc_add(const char *name, size_t len, const char *def)
{
	ck_assert_msg(len < sizeof(docs[0].name), "README: long name");
	ck_assert_uint_lt(n_docs, NELEM(docs));
	if (len < 4 || strncmp(name, "OTEL", 4) != 0)
		return;
	memcpy(docs[n_docs].name, name, len);
	docs[n_docs].name[len] = '\0';
	snprintf(docs[n_docs].def, sizeof(docs[0].def), "%s", def);
	n_docs++;
}

/* Adds each name of the first cell, both forms of "[_TRACES]". */
static void doc_names(const char *cell, size_t len, const char *def)
{
	const char *end = cell + len, *p = cell, *q, *opt;
	char both[128];

	for (;;) {
		p = memchr(p, '`', (size_t)(end - p));
		if (p == NULL)
			break;
		q = memchr(p + 1, '`', (size_t)(end - p - 1));
		ck_assert_msg(q != NULL, "README: unbalanced ` in %.*s",
			      (int)len, cell);
		p++;
		opt = memchr(p, '[', (size_t)(q - p));
		if (opt == NULL) {
			doc_add(p, (size_t)(q - p), def);
		} else {
			const char *close = memchr(opt, ']', (size_t)(q - opt));
			int n;

			ck_assert_ptr_nonnull(close);
			n = snprintf(both, sizeof(both), "%.*s%.*s",
				     (int)(opt - p), p, (int)(q - close - 1),
				     close + 1);
			doc_add(both, (size_t)n, def);
			n = snprintf(both, sizeof(both), "%.*s%.*s%.*s",
				     (int)(opt - p), p,
				     (int)(close - opt - 1), opt + 1,
				     (int)(q - close - 1), close + 1);
			doc_add(both, (size_t)n, def);
		}
		p = q + 1;
	}
}

/* README.md, found from this file's own path in the source tree. */
static FILE *open_readme(void)
{
	static const char self[] = "tests/unit/test_config.c";
	const char *file = __FILE__;
	size_t dir = strlen(file) - (sizeof(self) - 1);
	char path[4096];

	ck_assert(strlen(file) >= sizeof(self) - 1 &&
		  strcmp(file + dir, self) == 0);
	snprintf(path, sizeof(path), "%.*sREADME.md", (int)dir, file);
	return fopen(path, "r");
}

static void read_readme_table(void)
{
	FILE *f = open_readme();
	char *line = NULL;
	size_t cap = 0;
	int in_section = 0;

	ck_assert_msg(f != NULL, "README.md not found");
	n_docs = 0;
	while (getline(&line, &cap, f) > 0) {
		char *c1, *c2, *c3, def[64] = "";
		size_t n;

		if (strncmp(line, "## ", 3) == 0)
			in_section = strcmp(line, "## Configuration\n") == 0;
		if (!in_section || strncmp(line, "| `", 3) != 0)
			continue;
		c1 = line + 1;
		c2 = strchr(c1, '|');
		ck_assert_ptr_nonnull(c2);
		c3 = strchr(c2 + 1, '|');
		ck_assert_ptr_nonnull(c3);
		/* The default cell, without its blanks. */
		for (c2++; *c2 == ' '; c2++)
			;
		for (n = (size_t)(c3 - c2); n > 0 && c2[n - 1] == ' '; n--)
			;
		if (n >= 2 && c2[0] == '`' && c2[n - 1] == '`' &&
		    memchr(c2 + 1, '`', n - 2) == NULL) {
			ck_assert_uint_lt(n - 2, sizeof(def));
			memcpy(def, c2 + 1, n - 2);
			def[n - 2] = '\0';
		}
		doc_names(c1, (size_t)(c2 - c1), def);
	}
	free(line);
	fclose(f);
}

START_TEST(test_readme_lists_every_variable)
{
	const char *name, *def;
	size_t i, d;

	read_readme_table();
	ck_assert_uint_gt(n_docs, 0);
	for (i = 0; config_variable(i, &name, &def) == 0; i++) {
		for (d = 0; d < n_docs && strcmp(docs[d].name, name); d++)
			;
		ck_assert_msg(d < n_docs, "README: %s is missing", name);
		ck_assert_msg(!docs[d].seen, "README: %s twice", name);
		docs[d].seen = 1;
		ck_assert_msg(strcmp(docs[d].def, def ? def : "") == 0,
			      "README: %s defaults to \"%s\", not \"%s\"",
			      name, docs[d].def, def ? def : "");
	}
	ck_assert_int_eq(config_variable(i, &name, &def), -ENOENT);
	for (d = 0; d < n_docs; d++)
		ck_assert_msg(docs[d].seen, "README: %s is not read",
			      docs[d].name);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_defaults_empty);
	tcase_add_test(tc, test_defaults_unrelated_and_empty_values);
	tcase_add_test(tc, test_first_occurrence_wins);
	tcase_add_test(tc, test_sdk_disabled);
	tcase_add_test(tc, test_service_name);
	tcase_add_test(tc, test_strings_are_copied);
	tcase_add_test(tc, test_resource_attrs);
	tcase_add_loop_test(tc, test_resource_attrs_error_drops_all, 0,
			    (int)NELEM(bad_resource_attrs));
	tcase_add_test(tc, test_resource_attrs_error_message);
	tcase_add_test(tc, test_resource_attrs_too_many);
	tcase_add_test(tc, test_exporter);
	tcase_add_test(tc, test_sampler);
	tcase_add_test(tc, test_sampler_arg);
	tcase_add_test(tc, test_propagators);
	tcase_add_test(tc, test_semconv_opt_in);
	tcase_add_test(tc, test_bsp);
	tcase_add_test(tc, test_bsp_batch_vs_queue);
	tcase_add_loop_test(tc, test_endpoint, 0, (int)NELEM(url_cases));
	tcase_add_test(tc, test_endpoint_warning_hides_url);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_headers_traces_beat_generic);
	tcase_add_loop_test(tc, test_headers_bad_member, 0,
			    (int)NELEM(bad_headers));
	tcase_add_test(tc, test_headers_too_many);
	tcase_add_test(tc, test_otlp_scalars);
	tcase_add_test(tc, test_otlp_protocol_grpc);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_log_level);
	tcase_add_test(tc, test_log_level_silences_warnings);
	tcase_add_test(tc, test_console_file_and_config_file);
	tcase_add_loop_test(tc, test_invalid_single, 0,
			    (int)NELEM(invalid_single));
	tcase_add_test(tc, test_long_value_truncated_in_warning);
	tcase_add_test(tc, test_log_level_name);
	tcase_add_test(tc, test_stack_threshold_and_crash_handler);
	tcase_add_test(tc, test_log_level_explicit);
	tcase_add_test(tc, test_blank_values);
	tcase_add_test(tc, test_readme_lists_every_variable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(config_suite());
}
