/*
 * Loading files beside our own binary (see beside.h).
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "beside.h"
#include "loader.h"

void *dlopen_beside(const char *rel, const char *fallback)
{
	char path[PATH_MAX];
	const char *slash = NULL;
	Dl_info info;
	void *h = NULL;
	int n;

	loader_enter(1);
	if (dladdr((void *)dlopen_beside, &info) && info.dli_fname)
		slash = strrchr(info.dli_fname, '/');
	if (slash) {
		n = snprintf(path, sizeof(path), "%.*s/%s",
			     (int)(slash - info.dli_fname), info.dli_fname,
			     rel);
		if (n > 0 && (size_t)n < sizeof(path))
			h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	}
	if (!h && fallback)
		h = dlopen(fallback, RTLD_NOW | RTLD_LOCAL);
	loader_leave();
	return h;
}
