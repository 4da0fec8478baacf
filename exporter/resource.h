/*
 * Resource attributes: who produced the spans (service, process, host,
 * container).  Built once per process on the exporter thread — reading
 * /proc and /etc costs system calls the application thread must not pay —
 * and again in a forked child, whose pid differs.
 */
#ifndef OTELSHIM_RESOURCE_H
#define OTELSHIM_RESOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"

#define RESOURCE_MAX_ATTRS 64
#define RESOURCE_MAX_ARGS  64

enum resource_type {
	RESOURCE_STRING = 1,
	RESOURCE_INT,
	RESOURCE_STRING_ARRAY,
};

struct resource_attr {
	const char *key;
	enum resource_type type;
	const char *s;                  /* RESOURCE_STRING */
	int64_t i;                      /* RESOURCE_INT */
	const char *const *arr;         /* RESOURCE_STRING_ARRAY */
	size_t narr;
};

struct resource {
	struct resource_attr attrs[RESOURCE_MAX_ATTRS];
	size_t nattrs;
};

/*
 * Fills *res from the configuration and the running process: service.name
 * (OTEL_SERVICE_NAME, else the one in OTEL_RESOURCE_ATTRIBUTES, else
 * unknown_service:<executable>), service.instance.id, telemetry.sdk.*,
 * process.*, host.*, os.type, container.id, then the remaining
 * OTEL_RESOURCE_ATTRIBUTES entries (keys already set by us are not
 * repeated; a user-given key wins over a detected one).  argv may be NULL.
 * Strings are allocated and live as long as the process; returns 0.
 */
int resource_build(struct resource *res, const struct config *cfg,
		   char *const *argv);

/* Looks a key up; NULL if absent. */
const struct resource_attr *resource_find(const struct resource *res,
					  const char *key);

#endif
