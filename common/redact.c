/*
 * The sensitive URL keys (see redact.h).
 */
#include <stddef.h>

#include "loader.h"
#include "redact.h"

/* The conventions' default keys (docs/otel-reference.md §6), then the
 * AWS SigV4 ones. */
static struct str keys[REDACT_KEYS_MAX] = {
	STR_LIT("AWSAccessKeyId"), STR_LIT("Signature"), STR_LIT("sig"),
	STR_LIT("X-Goog-Signature"), STR_LIT("X-Amz-Signature"),
	STR_LIT("X-Amz-Credential"), STR_LIT("X-Amz-Security-Token"),
};
static size_t nkeys = 7;

STARTUP_CODE void redact_set_url_keys(const char *list)
{
	struct str rest = str_of(list), key;
	int done = 0;

	if (!list)
		return;
	nkeys = 0;
	while (str_next_member(&rest, &key, &done) &&
	       nkeys < REDACT_KEYS_MAX) {
		key = str_trim(key);
		if (key.n)
			keys[nkeys++] = key;
	}
}

int redact_url_key(struct str key)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (str_eq_nocase(key, keys[i]))
			return 1;
	return 0;
}
