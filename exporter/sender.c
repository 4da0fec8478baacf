/*
 * Which sender an endpoint gets (see sender.h).  Exporter thread only.
 */
#include <string.h>

#include "http1.h"
#include "sender.h"

const struct sender_ops *sender_pick(const char *url, int grpc,
				     char *(*getenv_fn)(const char *))
{
	/* The proxy variables libcurl reads for an http:// URL (it ignores
	 * HTTP_PROXY in capitals, which a CGI request can set); no_proxy is
	 * left for libcurl to weigh. */
	static const char *const proxies[] = {
		"http_proxy", "all_proxy", "ALL_PROXY",
	};
	struct endpoint u;
	size_t i;

	if (grpc || !url || endpoint_split(url, &u) != 0 || u.tls)
		return &sender_curl;
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++) {
		const char *v = getenv_fn(proxies[i]);

		if (v && *v)
			return &sender_curl;
	}
	return &sender_http1;
}
