/*
 * Self-logging: one line per message on stderr, prefixed "otelshim: ",
 * filtered by OTEL_LOG_LEVEL.  Formats into a stack buffer and writes with
 * one write(2) straight to the kernel, so it takes no lock, allocates
 * nothing and never touches the program's stdio buffers.
 */
#ifndef OTELSHIM_LOG_H
#define OTELSHIM_LOG_H

#include "pipeline/config.h"

/*
 * The level messages must reach to be printed, set once from the config.
 * Unless `explicit` (OTEL_LOG_LEVEL was set), log_line — the messages of
 * the running exporter — stays silent.
 */
void log_set_level(enum config_log_level lvl, int explicit);

/* Prints "otelshim: <formatted>\n" if lvl is enabled; errno is preserved. */
void log_msg(enum config_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* log_msg(CONFIG_LOG_WARN, "%s", msg): the callback config_load wants. */
void log_warn_line(const char *msg);

/* A runtime message (export failures and the like): printed only when
 * OTEL_LOG_LEVEL was set and lets it through. */
void log_line(enum config_log_level lvl, const char *msg);

#endif
