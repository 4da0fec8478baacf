/*
 * A configuration warning is given once per process tree: the keys of the
 * warnings a process gave (or left out) go into cfg.warned_env for its
 * children, and a warning the inherited OTELSHIM_WARNED lists is left
 * out.  Another value or another variable still warns; a silenced log
 * level marks nothing; past CONFIG_WARNED_MAX keys the rest warn again.
 * links: pipeline/config.c pipeline/config_lists.c pipeline/config_scalars.c
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/config.h"
#include "unit.h"

static char warnings[64][512];
static int n_warn;

static void record_warn(const char *msg)
{
	if (n_warn < (int)NELEM(warnings))
		snprintf(warnings[n_warn], sizeof(warnings[0]), "%s", msg);
	n_warn++;
}

static struct config cfg;

static void load_env(char *const *envp)
{
	n_warn = 0;
	config_load(&cfg, envp, record_warn);
}

#define LOAD(...) do { \
	char *env_[] = { __VA_ARGS__, NULL }; \
	load_env(env_); \
} while (0)

static int keys_in(const char *env)
{
	const char *p = strchr(env, '=');
	int n = 0;

	ck_assert_ptr_nonnull(p);
	for (p++; *p; p += 16) {
		ck_assert_uint_eq(strspn(p, "0123456789abcdef"), 16);
		n++;
		if (p[16] == ',')
			p++;
		else
			ck_assert_int_eq(p[16], '\0');
	}
	return n;
}

START_TEST(no_warning_no_mark)
{
	LOAD("OTEL_BSP_SCHEDULE_DELAY=100", "OTELSHIM_WARNED=0123456789abcdef");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_str_eq(cfg.warned_env, "");
}
END_TEST

START_TEST(a_child_keeps_quiet)
{
	char mark[sizeof(cfg.warned_env)];

	LOAD("OTEL_BSP_SCHEDULE_DELAY=abc");
	ck_assert_int_eq(n_warn, 1);
	ck_assert(strncmp(cfg.warned_env, CONFIG_WARNED_VAR "=",
			  sizeof(CONFIG_WARNED_VAR)) == 0);
	ck_assert_int_eq(keys_in(cfg.warned_env), 1);
	strcpy(mark, cfg.warned_env);
	LOAD("OTEL_BSP_SCHEDULE_DELAY=abc", mark);
	ck_assert_int_eq(n_warn, 0);
	/* ...and tells its own children the same. */
	ck_assert_str_eq(cfg.warned_env, mark);
	ck_assert_uint_eq(cfg.bsp_schedule_delay_ms, 5000);
	/* Wherever in the environment the mark is. */
	LOAD(mark, "OTEL_BSP_SCHEDULE_DELAY=abc");
	ck_assert_int_eq(n_warn, 0);
}
END_TEST

START_TEST(another_value_or_variable_warns)
{
	char mark[sizeof(cfg.warned_env)];

	LOAD("OTEL_BSP_SCHEDULE_DELAY=abc");
	strcpy(mark, cfg.warned_env);
	LOAD("OTEL_BSP_SCHEDULE_DELAY=abd", mark);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(strstr(warnings[0], "\"abd\"") != NULL);
	LOAD("OTEL_BSP_EXPORT_TIMEOUT=abc", mark);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(strstr(warnings[0], "OTEL_BSP_EXPORT_TIMEOUT") != NULL);
	/* Both bad: only the new one is said; both are passed on. */
	LOAD("OTEL_BSP_SCHEDULE_DELAY=abc", "OTEL_BSP_EXPORT_TIMEOUT=abc",
	     mark);
	ck_assert_int_eq(n_warn, 1);
	ck_assert(strstr(warnings[0], "OTEL_BSP_EXPORT_TIMEOUT") != NULL);
	ck_assert_int_eq(keys_in(cfg.warned_env), 2);
	ck_assert(strncmp(cfg.warned_env, mark, strlen(mark)) == 0);
}
END_TEST

START_TEST(a_hidden_value_is_part_of_the_key)
{
	char mark[sizeof(cfg.warned_env)];

	/* Header values never appear in a warning, but still tell one
	 * bad setting from another. */
	LOAD("OTEL_EXPORTER_OTLP_HEADERS=a=%zz");
	ck_assert_int_eq(n_warn, 1);
	strcpy(mark, cfg.warned_env);
	LOAD("OTEL_EXPORTER_OTLP_HEADERS=a=%zz", mark);
	ck_assert_int_eq(n_warn, 0);
	LOAD("OTEL_EXPORTER_OTLP_HEADERS=a=%zy", mark);
	ck_assert_int_eq(n_warn, 1);
}
END_TEST

START_TEST(silenced_marks_nothing)
{
	LOAD("OTEL_LOG_LEVEL=none", "OTEL_BSP_SCHEDULE_DELAY=abc");
	ck_assert_int_eq(n_warn, 0);
	ck_assert_str_eq(cfg.warned_env, "");
}
END_TEST

START_TEST(keys_are_bounded)
{
	char mark[sizeof(cfg.warned_env)];
	int all;

#define BAD "OTEL_BSP_SCHEDULE_DELAY=x", "OTEL_BSP_EXPORT_TIMEOUT=x", \
	"OTEL_BSP_MAX_QUEUE_SIZE=x", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=x", \
	"OTEL_EXPORTER_OTLP_TIMEOUT=x", "OTEL_ATTRIBUTE_COUNT_LIMIT=x", \
	"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=x", "OTEL_SDK_DISABLED=x", \
	"OTELSHIM_STACK_THRESHOLD_MS=x", "OTELSHIM_CRASH_HANDLER=x", \
	"OTEL_TRACES_SAMPLER=x", "OTEL_TRACES_EXPORTER=x", \
	"OTEL_PROPAGATORS=x", "OTEL_EXPORTER_OTLP_COMPRESSION=x", \
	"OTEL_EXPORTER_OTLP_PROTOCOL=x", "OTEL_EXPORTER_OTLP_ENDPOINT=x", \
	"OTEL_CONFIG_FILE=x", "OTEL_LOG_LEVEL=x"
	LOAD(BAD);
	all = n_warn;
	ck_assert_int_gt(all, CONFIG_WARNED_MAX);
	ck_assert_int_eq(keys_in(cfg.warned_env), CONFIG_WARNED_MAX);
	strcpy(mark, cfg.warned_env);
	LOAD(BAD, mark);
	ck_assert_int_eq(n_warn, all - CONFIG_WARNED_MAX);
#undef BAD
}
END_TEST

UNIT_MAIN("config_once", no_warning_no_mark, a_child_keeps_quiet,
	  another_value_or_variable_warns, a_hidden_value_is_part_of_the_key,
	  silenced_marks_nothing, keys_are_bounded)
