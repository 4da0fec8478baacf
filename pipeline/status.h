/*
 * The process's self-report: counters of what happened to its spans, a
 * health verdict, and the small JSON status file each process keeps in
 * OTELSHIM_STATUS_DIR (the library's equivalent of a /health endpoint:
 * `otelshim status` reads them).  Everything here runs on the exporter
 * thread, or at exit.
 */
#ifndef OTELSHIM_STATUS_H
#define OTELSHIM_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum status_health {
	STATUS_HEALTHY = 0,     /* spans flow, nothing lost lately */
	STATUS_DEGRADED,        /* spans were dropped or failed lately */
	STATUS_UNHEALTHY,       /* the backend is cut off (breaker open) */
};

struct status_report {
	pid_t pid;
	uint64_t recorded;              /* spans finished and sampled */
	uint64_t exported;
	uint64_t dropped_queue;         /* ring or record pool full */
	uint64_t dropped_export;        /* export failed */
	uint64_t rejected;              /* refused by the backend */
	uint64_t batches_retried;
	uint64_t breaker_opens;
	uint32_t breaker_state;         /* 0 closed, 1 open, 2 half-open */
	uint64_t queued;
	uint64_t spooled;               /* written to the spool */
	uint64_t spool_evicted;         /* spool files removed for room */
	uint64_t spool_delivered;       /* spool files sent */
};

/* Spans lost in this window keep a process "degraded". */
#define STATUS_DEGRADED_NS (60ULL * 1000000000ULL)

/* Whether `now` counts losses (dropped, failed, rejected) that `before`
 * did not. */
int status_lost_since(const struct status_report *now,
		      const struct status_report *before);

/* The verdict: an open breaker is unhealthy; losses within the last
 * STATUS_DEGRADED_NS (lost_recently) or a breaker on trial degraded. */
enum status_health status_health(const struct status_report *now,
				 int lost_recently);

const char *status_health_name(enum status_health h);
const char *status_breaker_name(uint32_t state);

/* The status file's JSON, one object with a trailing newline, into
 * (buf, cap); returns its length (cut at cap - 1). */
size_t status_format_json(const struct status_report *r,
			  enum status_health h, uint64_t unix_ms, char *buf,
			  size_t cap);

/* The one-line summary printed at exit. */
size_t status_format_summary(const struct status_report *r, char *buf,
			     size_t cap);

/* Replaces <dir>/otelshim-<pid>.json atomically (temporary + rename);
 * 0 or -errno. */
int status_write_file(const char *dir, pid_t pid, const char *json,
		      size_t len);

/* Removes <dir>/otelshim-<pid>.json. */
void status_remove_file(const char *dir, pid_t pid);

#endif
