/*
 * Which query keys carry secrets in a URL: their values are recorded as
 * REDACTED wherever a URL is recorded (url.full, url.query, URLs among
 * process.command_args).  Both binaries link their own copy; each sets the
 * list from OTELSHIM_URL_SENSITIVE_KEYS once, before it is read.
 */
#ifndef OTELSHIM_REDACT_H
#define OTELSHIM_REDACT_H

#include "text.h"

#define REDACT_KEYS_MAX 32

/*
 * Replaces the keys with the comma-separated ones in list (at most
 * REDACT_KEYS_MAX; list must stay valid); NULL keeps the default: the
 * semantic conventions' AWSAccessKeyId, Signature, sig and
 * X-Goog-Signature, and the AWS SigV4 ones.  Not thread-safe: call
 * before any reader runs.
 */
void redact_set_url_keys(const char *list);

/* 1 if key (compared without regard to ASCII case) is one of them. */
int redact_url_key(struct str key);

#endif
