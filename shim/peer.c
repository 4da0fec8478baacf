/*
 * Peer address text (see peer.h), for the connect and HTTP spans built on
 * application threads.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "peer.h"

int peer_ip(const struct sockaddr_storage *ss, char *host, size_t cap)
{
	host[0] = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)cap);
		return ntohs(in->sin_port);
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)cap);
		return ntohs(in6->sin6_port);
	}
	return -1;
}

int peer_text(const struct sockaddr_storage *ss, socklen_t len, char *host,
	      size_t cap)
{
	const struct sockaddr_un *un = (const void *)ss;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	size_t n = len > off ? len - off : 0;

	if (ss->ss_family != AF_UNIX)
		return peer_ip(ss, host, cap);
	if (n > 0 && un->sun_path[0] == 0) {
		/* Abstract socket: shown with a leading '@'. */
		snprintf(host, cap, "@%.*s", (int)(n - 1), un->sun_path + 1);
	} else {
		snprintf(host, cap, "%.*s", (int)strnlen(un->sun_path,
			 n < sizeof(un->sun_path) ? n :
			 sizeof(un->sun_path)), un->sun_path);
	}
	return -1;
}
