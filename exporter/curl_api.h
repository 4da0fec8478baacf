/*
 * libcurl, loaded on first use (see curl_api.def): curl_api_load() returns
 * the table of its functions the exporter calls, once per process.  Runs
 * on the exporter thread only.
 */
#ifndef OTELSHIM_CURL_API_H
#define OTELSHIM_CURL_API_H

#include <stddef.h>

#include <curl/curl.h>

/* The library's name as the dynamic loader finds it: the system's, or the
 * one a relocatable bundle keeps in lib/ (the module's $ORIGIN/lib
 * RUNPATH applies, since the module itself calls dlopen()). */
#define CURL_API_SONAME "libcurl.so.4"

struct curl_api {
#define CURL_FN(ret, name, params) ret (*name) params;
#include "curl_api.def"
#undef CURL_FN
};

/*
 * Loads soname (CURL_API_SONAME outside tests) and every function of the
 * table, and runs curl_global_init once.  Returns the table, or NULL with
 * why (cap bytes) saying what failed; a failure is not cached, so a later
 * call tries again.
 */
const struct curl_api *curl_api_load(const char *soname, char *why,
				     size_t cap);

#endif
