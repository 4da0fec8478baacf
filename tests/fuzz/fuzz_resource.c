/*
 * Fuzz target for the resource detector's parsers of process-controlled
 * text: /proc/self/cgroup and /proc/self/mountinfo (container.id) and the
 * redaction of command-line arguments.  A found id is always 64 lowercase
 * hex digits; a redacted argument always fits and is terminated.
 * links: exporter/resource.c
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/resource_parse.h"

static void check_id(const char *id)
{
	for (int i = 0; i < RESOURCE_CONTAINER_ID_LEN; i++)
		assert((id[i] >= '0' && id[i] <= '9') ||
		       (id[i] >= 'a' && id[i] <= 'f'));
	assert(id[RESOURCE_CONTAINER_ID_LEN] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[RESOURCE_CONTAINER_ID_LEN + 1];
	char out[256];
	char *arg;
	size_t n;

	if (resource_container_id_from_cgroup((const char *)data, size,
					      id) == 0)
		check_id(id);
	if (resource_container_id_from_mountinfo((const char *)data, size,
						 id) == 0)
		check_id(id);
	/* As an argument: NUL-terminated, the first line is the previous
	 * argument (some secrets follow a flag such as --password). */
	arg = malloc(size + 1);
	memcpy(arg, data, size);
	arg[size] = 0;
	char *nl = strchr(arg, '\n');
	const char *prev = NULL;
	const char *cur = arg;
	if (nl) {
		*nl = 0;
		prev = arg;
		cur = nl + 1;
	}
	n = resource_redact_arg(cur, prev, out, sizeof(out));
	assert(n < sizeof(out));
	assert(out[n] == 0);
	free(arg);
	return 0;
}
