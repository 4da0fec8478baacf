/*
 * The self-report (see status.h).  The status file is replaced with a
 * rename so that a reader never sees half of one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "common/sysio.h"
#include "status.h"

int status_lost_since(const struct status_report *now,
		      const struct status_report *before)
{
	return now->dropped_queue > before->dropped_queue ||
	       now->dropped_export > before->dropped_export ||
	       now->rejected > before->rejected;
}

enum status_health status_health(const struct status_report *now,
				 int lost_recently)
{
	if (now->breaker_state == 1)
		return STATUS_UNHEALTHY;
	if (lost_recently || now->breaker_state == 2)
		return STATUS_DEGRADED;
	return STATUS_HEALTHY;
}

const char *status_health_name(enum status_health h)
{
	switch (h) {
	case STATUS_HEALTHY:
		return "healthy";
	case STATUS_DEGRADED:
		return "degraded";
	default:
		return "unhealthy";
	}
}

const char *status_breaker_name(uint32_t state)
{
	switch (state) {
	case 0:
		return "closed";
	case 1:
		return "open";
	default:
		return "half-open";
	}
}

static size_t clamp(int n, size_t cap)
{
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t status_format_json(const struct status_report *r,
			  enum status_health h, uint64_t unix_ms, char *buf,
			  size_t cap)
{
	int n = snprintf(buf, cap,
		"{\"pid\":%d,\"health\":\"%s\",\"breaker\":\"%s\","
		"\"updated_unix_ms\":%llu,\"spans\":{\"recorded\":%llu,"
		"\"exported\":%llu,\"dropped_queue_full\":%llu,"
		"\"dropped_export_failed\":%llu,\"rejected\":%llu,"
		"\"queued\":%llu,\"spooled\":%llu},"
		"\"batches_retried\":%llu,\"breaker_opens\":%llu,"
		"\"spool_files_evicted\":%llu,"
		"\"spool_files_delivered\":%llu}\n",
		(int)r->pid, status_health_name(h),
		status_breaker_name(r->breaker_state),
		(unsigned long long)unix_ms,
		(unsigned long long)r->recorded,
		(unsigned long long)r->exported,
		(unsigned long long)r->dropped_queue,
		(unsigned long long)r->dropped_export,
		(unsigned long long)r->rejected,
		(unsigned long long)r->queued,
		(unsigned long long)r->spooled,
		(unsigned long long)r->batches_retried,
		(unsigned long long)r->breaker_opens,
		(unsigned long long)r->spool_evicted,
		(unsigned long long)r->spool_delivered);

	return clamp(n, cap);
}

size_t status_format_summary(const struct status_report *r, char *buf,
			     size_t cap)
{
	int n = snprintf(buf, cap,
		"pid %d: spans recorded %llu, exported %llu, dropped "
		"(queue full) %llu, dropped (export failed) %llu, rejected "
		"%llu, spooled %llu, spool files evicted %llu; batches "
		"retried %llu; breaker %s",
		(int)r->pid, (unsigned long long)r->recorded,
		(unsigned long long)r->exported,
		(unsigned long long)r->dropped_queue,
		(unsigned long long)r->dropped_export,
		(unsigned long long)r->rejected,
		(unsigned long long)r->spooled,
		(unsigned long long)r->spool_evicted,
		(unsigned long long)r->batches_retried,
		status_breaker_name(r->breaker_state));

	return clamp(n, cap);
}

int status_write_file(const char *dir, pid_t pid, const char *json,
		      size_t len)
{
	char tmp[4096], path[4096];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/otelshim-%d.json", dir, (int)pid);
	snprintf(tmp, sizeof(tmp), "%s/.otelshim-%d.json.tmp", dir, (int)pid);
	fd = sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fd;
	err = sys_write_all(fd, json, len);
	sys_close(fd);
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

void status_remove_file(const char *dir, pid_t pid)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/otelshim-%d.json", dir, (int)pid);
	unlink(path);
}
