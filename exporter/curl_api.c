/*
 * libcurl through dlopen() (see curl_api.h, curl_api.def).  Exporter
 * thread only; a forked child inherits the loaded, initialised library.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/loader.h"
#include "curl_api.h"

static struct curl_api api;
static int ready;

/*
 * OpenSSL 3 registers an atexit() cleanup the first time it initialises.
 * When that first time is ours (the program does not use OpenSSL itself),
 * the cleanup is registered after the library's final-flush handler and so
 * runs before it, pulling TLS from under the last export.  Initialising
 * OpenSSL first without that handler avoids it; when the program has
 * already initialised OpenSSL, this call changes nothing.  libcurl has
 * just loaded libcrypto, so RTLD_NOLOAD finds it.
 */
static void openssl_without_atexit(void)
{
	int (*init)(uint64_t opts, const void *settings);
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);

	if (!h)
		return;
	init = (int (*)(uint64_t, const void *))dlsym(h,
						      "OPENSSL_init_crypto");
	if (init)
		init(0x00080000ULL /* OPENSSL_INIT_NO_ATEXIT */, NULL);
	dlclose(h);
}

/*
 * curl_global_init is not thread-safe in libcurl before 7.84 (and in later
 * builds without CURL_VERSION_THREADSAFE): if the program itself uses
 * libcurl and initialises it on another thread at the same moment, the two
 * calls race.  We call it from the exporter thread, once, when the first
 * https export is due, which makes that window small; it is not closed.
 * curl_global_cleanup is never called: at exit the program may still be
 * using libcurl.
 */
static const struct curl_api *load(const char *soname, char *why,
				   size_t cap)
{
	struct curl_api t;
	void *h;
	CURLcode rc;

	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, cap, "%s", dlerror());
		return NULL;
	}
#define CURL_FN(ret, name, params)                                      \
	*(void **)&t.name = dlsym(h, "curl_" #name);                    \
	if (!t.name) {                                                  \
		snprintf(why, cap, "%s has no curl_%s", soname, #name); \
		dlclose(h);                                             \
		return NULL;                                            \
	}
#include "curl_api.def"
#undef CURL_FN
	openssl_without_atexit();
	rc = t.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(why, cap, "libcurl init failed: %s",
			 t.easy_strerror(rc));
		return NULL;    /* kept loaded: its state is half set up */
	}
	api = t;
	ready = 1;
	return &api;
}

/* Loading libcurl, and OpenSSL initialising (which may load its
 * configuration's modules), use the dynamic loader throughout. */
const struct curl_api *curl_api_load(const char *soname, char *why,
				     size_t cap)
{
	const struct curl_api *a;

	if (ready)
		return &api;
	loader_enter(1);
	a = load(soname, why, cap);
	loader_leave();
	return a;
}
