/*
 * The libcurl sender's own details (the sender itself: sender.h).
 * Exporter thread only.
 */
#ifndef OTELSHIM_SEND_CURL_H
#define OTELSHIM_SEND_CURL_H

/* 1 for a libcurl result (CURLcode) that means the request may not have
 * reached a healthy server and may succeed if sent again. */
int send_curl_retryable(int curl_code);

/* The library loaded: CURL_API_SONAME; tests point it at a name that does
 * not exist to see the failure. */
extern const char *send_curl_soname;

#endif
