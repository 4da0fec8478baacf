/*
 * `otelshim flush [DIR]` and the spool line of `otelshim status`: the
 * spool (common/spool.h) seen from the command line.
 */
#ifndef OTELSHIM_TOOL_FLUSH_H
#define OTELSHIM_TOOL_FLUSH_H

/* Delivers every request in the spool; 0 when none is left behind. */
int flush_main(int argc, char **argv);

/* Prints "spool DIR: N files, B bytes" (or why not) on stdout. */
void flush_print_usage(void);

#endif
