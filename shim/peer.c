/*
 * Peer address text (see peer.h), for the connect and HTTP spans built on
 * application threads.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

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
