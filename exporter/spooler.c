/*
 * The exporter's side of the spool (see spooler.h).  Exporter thread
 * only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "spooler.h"

/* A delivery round leaves the next export at least this long. */
#define DELIVER_MIN_LEFT_NS 50000000ull

/* After a listing found nothing for the endpoint, none for this long.
 * A listing costs a system call or two per file, the files other
 * processes left for other endpoints included, and an exporter under load
 * succeeds many times a second: with a thousand files in the directory,
 * listing after every export cut the exporter's throughput twentyfold. */
#define QUIET_NS 1000000000ull

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void slog(struct spooler *s, enum config_log_level lvl,
		 const char *msg)
{
	if (s->host->log)
		s->host->log(lvl, msg);
}

static void count(struct spooler *s, size_t off, uint64_t v)
{
	if (s->host->counters && v)
		__atomic_fetch_add((uint64_t *)((char *)s->host->counters +
						off), v, __ATOMIC_RELAXED);
}

#define COUNT(s, field, v) \
	count((s), offsetof(struct exporter_counters, field), (v))

void spooler_init(struct spooler *s, const struct exporter_host *host)
{
	const char *dir = host->cfg->spool_dir;

	memset(s, 0, sizeof(*s));
	s->host = host;
	s->sp.dirfd = -1;
	if (dir && !strcmp(dir, "off")) {
		s->off = 1;
		return;
	}
	if (dir && dir[0])
		snprintf(s->dir, sizeof(s->dir), "%s", dir);
	else
		spool_default_dir(s->dir, sizeof(s->dir));
}

void spooler_close(struct spooler *s)
{
	spool_close(&s->sp);
}

/* Opens the directory once; create: also when it does not exist yet. */
static int ready(struct spooler *s, int create)
{
	struct stat st;
	int err;

	if (s->off)
		return -ENOENT;
	if (s->sp.dirfd >= 0)
		return 0;
	if (!create && lstat(s->dir, &st) != 0)
		return -errno;          /* nothing was ever spooled there */
	err = spool_open(&s->sp, s->dir,
			 (uint64_t)s->host->cfg->spool_max_mb << 20);
	if (err) {
		char line[PATH_MAX + 80];

		/* Said once: the spool stays off for this process. */
		snprintf(line, sizeof(line), "spool %s refused: %s; spans "
			 "that cannot be sent are dropped", s->dir,
			 strerror(-err));
		slog(s, CONFIG_LOG_WARN, line);
		s->off = 1;
	}
	return err;
}

int spooler_put(struct spooler *s, const char *url, const char *ctype,
		const void *body, size_t len, size_t nspans)
{
	uint64_t evicted = 0;
	int err = ready(s, 1);

	if (err)
		return err;
	err = spool_put(&s->sp, url, ctype, body, len, &evicted);
	COUNT(s, spool_evicted, evicted);
	if (!err) {
		COUNT(s, spans_spooled, nspans);
		s->quiet_until = 0;     /* ours: delivered once we can */
	}
	return err;
}

void spooler_deliver(struct spooler *s, struct transport *tr,
		     const char *url, const char *ctype,
		     uint64_t deadline_ns, uint64_t round_ns)
{
	uint64_t now = mono_ns(), end = now + round_ns;
	struct spool_item it;

	if (end < deadline_ns)
		deadline_ns = end;
	if (now < s->quiet_until || ready(s, 0))
		return;
	while (deadline_ns > mono_ns() + DELIVER_MIN_LEFT_NS) {
		enum transport_result r = TRANSPORT_DEFERRED;
		int rc = spool_claim(&s->sp, url, &it);

		if (rc != 1) {
			if (rc == 0)
				s->quiet_until = mono_ns() + QUIET_NS;
			break;
		}

		/* Written by a process speaking the other protocol to the
		 * same URL: left for one that speaks it. */
		if (!strcmp(it.content_type, ctype))
			r = transport_send(tr, it.body, it.len, 0, deadline_ns,
					   TRANSPORT_ONCE);
		spool_finish(&s->sp, &it, r != TRANSPORT_DEFERRED);
		if (r == TRANSPORT_SENT)
			COUNT(s, spool_delivered, 1);
		if (r == TRANSPORT_DEFERRED)
			break;
	}
}
