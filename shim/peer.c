/*
 * Peer address text (see peer.h), for the connect and HTTP spans built on
 * application threads.  IPv4 addresses, plain or mapped into IPv6 (what a
 * dual-stack server sees), are written here: inet_ntop(3) formats them
 * with sprintf, which was most of the cost of a server span's peer
 * attributes.  Other IPv6 addresses, rarer, go through inet_ntop.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "peer.h"

/* "a.b.c.d" of the 4 bytes at b, NUL-terminated, into host (cap >= 16). */
static void ipv4_text(const unsigned char *b, char *host)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			*host++ = (char)('0' + v / 100);
		if (v >= 10)
			*host++ = (char)('0' + v / 10 % 10);
		*host++ = (char)('0' + v % 10);
		*host++ = i < 3 ? '.' : '\0';
	}
}

static const unsigned char v4_mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

int peer_ip(const struct sockaddr_storage *ss, char *host, size_t cap)
{
	host[0] = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		if (cap >= INET_ADDRSTRLEN)
			ipv4_text((const unsigned char *)&in->sin_addr, host);
		return ntohs(in->sin_port);
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		const unsigned char *a = in6->sin6_addr.s6_addr;

		if (cap >= INET6_ADDRSTRLEN &&
		    !memcmp(a, v4_mapped, sizeof(v4_mapped))) {
			memcpy(host, "::ffff:", 7);
			ipv4_text(a + 12, host + 7);
		} else {
			inet_ntop(AF_INET6, a, host, (socklen_t)cap);
		}
		return ntohs(in6->sin6_port);
	}
	return -1;
}
