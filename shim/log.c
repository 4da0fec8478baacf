/*
 * Self-logging with write(2) from a stack buffer: see log.h.  The write is
 * a raw system call (common/sysio.h), so our own messages never pass
 * through our own hooks and this file needs nothing resolved first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "common/loader.h"
#include "common/sysio.h"
#include "log.h"

static enum config_log_level log_level = CONFIG_LOG_INFO;
static int log_runtime __attribute__((section(".data.startup")));

STARTUP_CODE void log_set_level(enum config_log_level lvl, int explicit)
{
	log_level = lvl;
	log_runtime = explicit;
}

void log_msg(enum config_log_level lvl, const char *fmt, ...)
{
	char buf[512];
	int saved = errno;
	va_list ap;
	int n;

	if (lvl > log_level || lvl == CONFIG_LOG_NONE)
		goto out;
	n = snprintf(buf, sizeof(buf), "otelshim: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	sys_write_all(STDERR_FILENO, buf, (size_t)n);
out:
	errno = saved;
}

void log_warn_line(const char *msg)
{
	log_msg(CONFIG_LOG_WARN, "%s", msg);
}

void log_line(enum config_log_level lvl, const char *msg)
{
	if (log_runtime)
		log_msg(lvl, "%s", msg);
}
