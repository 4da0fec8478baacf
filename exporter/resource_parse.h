/*
 * The pure parsers behind resource.c, visible to the unit tests only: the
 * container id from /proc/self/cgroup or /proc/self/mountinfo text, the
 * host.arch name of a uname machine string and the redaction of secrets in
 * command-line arguments.  Private to the exporter module.
 */
#ifndef OTELSHIM_RESOURCE_PARSE_H
#define OTELSHIM_RESOURCE_PARSE_H

#ifdef UNITTEST
#include <stddef.h>

#define RESOURCE_CONTAINER_ID_LEN 64

/* Container id (64 lowercase hex digits) from /proc/self/cgroup text into
 * id[RESOURCE_CONTAINER_ID_LEN + 1]; 0 if found, -1 if not. */
int resource_container_id_from_cgroup(const char *text, size_t len,
				      char *id);

/* The same from /proc/self/mountinfo text (the bind mounts of
 * /etc/hostname, /etc/hosts, /etc/resolv.conf); 0 or -1. */
int resource_container_id_from_mountinfo(const char *text, size_t len,
					 char *id);

/* host.arch value for a uname(2) machine name ("x86_64" -> "amd64");
 * unknown names are returned as they are. */
const char *resource_arch_name(const char *machine);

/* Writes arg into (out, cap) with secrets replaced by "REDACTED"; prev is
 * the argument before it (NULL for the first).  Returns the length. */
size_t resource_redact_arg(const char *arg, const char *prev, char *out,
			   size_t cap);
#endif

#endif
