/*
 * Fuzz target for config_load: the input is an environment, one "K=V"
 * entry per line (NUL or newline separated).  Besides the sanitizers it
 * checks what the rest of the library relies on: the invariants of the
 * struct and that every warning is one line starting with a variable name.
 * links: pipeline/config.c pipeline/config_lists.c pipeline/config_scalars.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/config.h"

#define MAX_ENV 64

static void check(int ok)
{
	if (!ok)
		abort();
}

static void on_warn(const char *msg)
{
	size_t n = strlen(msg);

	check(n > 0 && n < 512);
	check(strncmp(msg, "OTEL", 4) == 0 || strncmp(msg, "out of", 6) == 0);
	check(strchr(msg, '\n') == NULL);
}

static int url_prefix_ok(const char *u)
{
	return strncasecmp(u, "http://", 7) == 0 ||
	       strncasecmp(u, "https://", 8) == 0;
}

static void check_config(const struct config *cfg)
{
	size_t i;

	check(cfg->endpoint != NULL && url_prefix_ok(cfg->endpoint));
	check(strchr(cfg->endpoint, ' ') == NULL);
	check(cfg->sampler_ratio >= 0.0 && cfg->sampler_ratio <= 1.0);
	check(cfg->bsp_max_queue_size >= 1);
	check(cfg->bsp_max_export_batch_size >= 1);
	check(cfg->bsp_max_export_batch_size <= cfg->bsp_max_queue_size);
	check(cfg->n_headers <= CONFIG_MAX_HEADERS);
	for (i = 0; i < cfg->n_headers; i++) {
		const char *k = cfg->headers[i].key;
		const char *v = cfg->headers[i].value;

		check(k[0] != '\0' && strpbrk(k, " \t\r\n:=,") == NULL);
		check(strpbrk(v, "\r\n") == NULL);
	}
	check(cfg->n_resource_attrs <= CONFIG_MAX_RESOURCE_ATTRS);
	for (i = 0; i < cfg->n_resource_attrs; i++) {
		check(cfg->resource_attrs[i].key[0] != '\0');
		check(strlen(cfg->resource_attrs[i].value) < 65536);
	}
	check(cfg->log_level <= CONFIG_LOG_DEBUG);
	check(config_log_level_name(cfg->log_level)[0] != 'u');
	if (cfg->service_name != NULL)
		check(strlen(cfg->service_name) < 65536);
	if (cfg->console_file != NULL)
		check(cfg->console_file[0] != '\0');
	if (cfg->status_dir != NULL)
		check(cfg->status_dir[0] != '\0');
	check(cfg->stack_threshold_ms >= -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *envp[MAX_ENV + 1];
	struct config cfg;
	size_t i, n = 0, start = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (i = 0; i <= size && n < MAX_ENV; i++) {
		if (i < size && buf[i] != '\0' && buf[i] != '\n')
			continue;
		buf[i] = '\0';
		envp[n++] = buf + start;
		start = i + 1;
	}
	envp[n] = NULL;
	config_load(&cfg, envp, on_warn);
	/* The config must not point into the environment it was read from. */
	memset(buf, 'Z', size);
	check_config(&cfg);
	free(buf);
	return 0;
}
