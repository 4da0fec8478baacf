/*
 * The self-report: health verdicts, the status file's JSON and its atomic
 * replacement, the exit summary.
 * links: pipeline/status.c
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/status.h"
#include "unit.h"

START_TEST(health)
{
	struct status_report before = { 0 }, now = { 0 };

	ck_assert_int_eq(status_health(&now, 0), STATUS_HEALTHY);
	now.dropped_export = 3;
	ck_assert(status_lost_since(&now, &before));
	ck_assert_int_eq(status_health(&now, 1), STATUS_DEGRADED);
	before = now;
	ck_assert(!status_lost_since(&now, &before));
	now.rejected = 1;
	ck_assert(status_lost_since(&now, &before));
	now.breaker_state = 2;
	ck_assert_int_eq(status_health(&now, 0), STATUS_DEGRADED);
	now.breaker_state = 1;
	ck_assert_int_eq(status_health(&now, 0), STATUS_UNHEALTHY);
}
END_TEST

START_TEST(json_and_file)
{
	struct status_report r = {
		.pid = 42, .recorded = 10, .exported = 7, .dropped_queue = 1,
		.dropped_export = 2, .batches_retried = 3, .queued = 0,
		.spooled = 4, .spool_evicted = 5, .spool_delivered = 6,
	};
	char json[768], path[256], dir[] = "/tmp/otelshim-status-XXXXXX";
	char back[768];
	size_t len = status_format_json(&r, STATUS_DEGRADED, 1234, json,
					sizeof(json));
	FILE *f;

	ck_assert_str_eq(json,
		"{\"pid\":42,\"health\":\"degraded\",\"breaker\":\"closed\","
		"\"updated_unix_ms\":1234,\"spans\":{\"recorded\":10,"
		"\"exported\":7,\"dropped_queue_full\":1,"
		"\"dropped_export_failed\":2,\"rejected\":0,\"queued\":0,"
		"\"spooled\":4},\"batches_retried\":3,\"breaker_opens\":0,"
		"\"spool_files_evicted\":5,\"spool_files_delivered\":6}\n");
	/* A short buffer cuts, terminated. */
	ck_assert_uint_eq(status_format_json(&r, STATUS_HEALTHY, 1, back, 8), 7);
	ck_assert_uint_eq(strlen(back), 7);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(status_write_file(dir, 42, json, len), 0);
	snprintf(path, sizeof(path), "%s/otelshim-42.json", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(back, 1, sizeof(back), f), len);
	fclose(f);
	status_remove_file(dir, 42);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(rmdir(dir), 0);   /* no temporary left behind */
	ck_assert_int_lt(status_write_file("/nonexistent-dir", 1, json, len),
			 0);
}
END_TEST

START_TEST(summary)
{
	struct status_report r = { .pid = 7, .recorded = 5, .exported = 5,
				   .breaker_state = 1, .spooled = 2 };
	char line[256];

	status_format_summary(&r, line, sizeof(line));
	ck_assert_str_eq(line, "pid 7: spans recorded 5, exported 5, dropped "
			 "(queue full) 0, dropped (export failed) 0, rejected "
			 "0, spooled 2, spool files evicted 0; batches retried "
			 "0; breaker open");
}
END_TEST

UNIT_MAIN("status", health, json_and_file, summary)
