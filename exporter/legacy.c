/*
 * The stable attribute names and the legacy names they replaced, as the
 * conventions' migration guides list them (docs/otel-reference.md §6).
 * What a peer name meant depended on the side: net.peer.* named the
 * server on a client span, net.host.* the server on a server span.
 */
#include <string.h>

#include "common/semconv.h"
#include "legacy.h"
#include "pipeline/config.h"
#include "pipeline/span.h"

struct rename {
	const char *stable;
	const char *legacy;
};

/* Lists end with a NULL stable name. */
static const struct rename http_both[] = {
	{ ATTR_HTTP_REQUEST_METHOD, "http.method" },
	{ ATTR_HTTP_RESPONSE_STATUS_CODE, "http.status_code" },
	{ ATTR_URL_SCHEME, "http.scheme" },
	{ ATTR_NETWORK_PROTOCOL_VERSION, "http.flavor" },
	{ ATTR_USER_AGENT_ORIGINAL, "http.user_agent" },
	{ ATTR_NETWORK_PEER_ADDRESS, "net.sock.peer.addr" },
	{ ATTR_NETWORK_PEER_PORT, "net.sock.peer.port" },
	{ NULL, NULL },
};

static const struct rename http_client[] = {
	{ ATTR_URL_FULL, "http.url" },
	{ ATTR_SERVER_ADDRESS, "net.peer.name" },
	{ ATTR_SERVER_PORT, "net.peer.port" },
	{ NULL, NULL },
};

/* http.target is url.path and url.query together (legacy_attrs). */
static const struct rename http_server[] = {
	{ ATTR_URL_PATH, "http.target" },
	{ ATTR_SERVER_ADDRESS, "net.host.name" },
	{ ATTR_SERVER_PORT, "net.host.port" },
	{ ATTR_CLIENT_ADDRESS, "http.client_ip" },
	{ NULL, NULL },
};

static const struct rename database[] = {
	{ ATTR_DB_SYSTEM_NAME, "db.system" },
	{ ATTR_DB_QUERY_TEXT, "db.statement" },
	{ ATTR_DB_OPERATION_NAME, "db.operation" },
	{ ATTR_DB_NAMESPACE, "db.name" },
	{ ATTR_DB_COLLECTION_NAME, "db.sql.table" },
	{ ATTR_SERVER_ADDRESS, "net.peer.name" },
	{ ATTR_SERVER_PORT, "net.peer.port" },
	{ ATTR_NETWORK_PEER_ADDRESS, "net.sock.peer.addr" },
	{ ATTR_NETWORK_PEER_PORT, "net.sock.peer.port" },
	{ NULL, NULL },
};

static size_t find(const char *const *keys, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (keys[i] != NULL && strcmp(keys[i], key) == 0)
			return i;
	return LEGACY_NONE;
}

static const char *legacy_of(const struct rename *const *lists,
			     const char *key)
{
	const struct rename *r;

	for (; *lists != NULL; lists++)
		for (r = *lists; r->stable != NULL; r++)
			if (strcmp(r->stable, key) == 0)
				return r->legacy;
	return NULL;
}

size_t legacy_attrs(int kind, int dup, const char *const *keys, size_t n,
		    struct legacy_attr *out, size_t cap)
{
	const struct rename *lists[3] = { NULL, NULL, NULL };
	size_t i, k = 0;

	if ((dup & CONFIG_SEMCONV_HTTP_DUP) &&
	    find(keys, n, ATTR_HTTP_REQUEST_METHOD) != LEGACY_NONE) {
		lists[0] = http_both;
		lists[1] = kind == SPAN_KIND_SERVER ? http_server : http_client;
	} else if ((dup & CONFIG_SEMCONV_DATABASE_DUP) &&
		   find(keys, n, ATTR_DB_SYSTEM_NAME) != LEGACY_NONE) {
		lists[0] = database;
	}
	if (lists[0] == NULL)
		return 0;
	for (i = 0; i < n && k < cap; i++) {
		const char *legacy;

		if (keys[i] == NULL)
			continue;
		legacy = legacy_of(lists, keys[i]);
		if (legacy == NULL)
			continue;
		out[k].key = legacy;
		out[k].from = i;
		out[k].query = strcmp(keys[i], ATTR_URL_PATH) == 0 ?
			       find(keys, n, ATTR_URL_QUERY) : LEGACY_NONE;
		k++;
	}
	return k;
}
