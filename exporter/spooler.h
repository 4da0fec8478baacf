/*
 * The exporter's side of the spool (common/spool.h): requests that could
 * not be delivered (at exit, before an exec, during an outage that would
 * otherwise make the queue drop spans) become spool files, and files
 * waiting for this endpoint go out after an export to it succeeded.  The
 * directory is OTELSHIM_SPOOL_DIR (default spool_default_dir(); "off": no
 * spool).  Runs on the exporter thread only.
 */
#ifndef OTELSHIM_SPOOLER_H
#define OTELSHIM_SPOOLER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/spool.h"
#include "pipeline/exporter.h"
#include "transport.h"

struct spooler {
	const struct exporter_host *host;
	struct spool sp;
	int off;                        /* "off", or the directory refused */
	uint64_t quiet_until;           /* CLOCK_MONOTONIC ns: no listing
					   before (spooler_deliver) */
	char dir[PATH_MAX];
};

/* Reads the settings; opens nothing yet (a process that never fails to
 * export never creates the directory). */
void spooler_init(struct spooler *s, const struct exporter_host *host);

/* Closes the directory. */
void spooler_close(struct spooler *s);

/*
 * Writes one encoded request carrying nspans spans meant for url.
 * Counts spans_spooled (and spool_evicted).  0, or -errno (the spool is
 * off, refused, full of a larger request...): the caller still has them.
 */
int spooler_put(struct spooler *s, const char *url, const char *ctype,
		const void *body, size_t len, size_t nspans);

/*
 * Sends files waiting for url (content type ctype) through tr, one
 * attempt each, oldest first, until none is left, one is not taken, or
 * deadline_ns comes, for round_ns at most.  A file the server refuses for its content is
 * removed (it would be refused again).  Counts spool_delivered.  After a
 * listing that found nothing for url, the spool is not listed again for a
 * second unless this process spools a request meanwhile.
 */
void spooler_deliver(struct spooler *s, struct transport *tr,
		     const char *url, const char *ctype,
		     uint64_t deadline_ns, uint64_t round_ns);

#endif
