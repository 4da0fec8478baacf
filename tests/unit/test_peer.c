/*
 * Peer address text: IPv4 and IPv6 with their ports, the same text as
 * inet_ntop(3) for every byte value, nothing for other families.
 * links: shim/peer.c
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "shim/peer.h"
#include "unit.h"

START_TEST(ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	char host[PEER_TEXT_MAX];

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(8080);
	inet_pton(AF_INET, "192.0.2.7", &in->sin_addr);
	ck_assert_int_eq(peer_ip(&ss, host, sizeof(host)), 8080);
	ck_assert_str_eq(host, "192.0.2.7");

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(443);
	inet_pton(AF_INET6, "::1", &in6->sin6_addr);
	ck_assert_int_eq(peer_ip(&ss, host, sizeof(host)), 443);
	ck_assert_str_eq(host, "::1");
	inet_pton(AF_INET6, "2001:db8::17", &in6->sin6_addr);
	ck_assert_int_eq(peer_ip(&ss, host, sizeof(host)), 443);
	ck_assert_str_eq(host, "2001:db8::17");
}
END_TEST

/* IPv4, plain and mapped into IPv6, written without inet_ntop: the same
 * text for addresses covering every byte value in every position. */
START_TEST(same_text_as_inet_ntop)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	char host[PEER_TEXT_MAX], want[PEER_TEXT_MAX];

	for (unsigned v = 0; v < 256; v++) {
		for (int pos = 0; pos < 4; pos++) {
			unsigned char b[4] = { 10, 0, 200, 99 };

			b[pos] = (unsigned char)v;
			memset(&ss, 0, sizeof(ss));
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, b, 4);
			inet_ntop(AF_INET, b, want, sizeof(want));
			peer_ip(&ss, host, sizeof(host));
			ck_assert_str_eq(host, want);

			memset(&ss, 0, sizeof(ss));
			in6->sin6_family = AF_INET6;
			in6->sin6_addr.s6_addr[10] = 0xff;
			in6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(in6->sin6_addr.s6_addr + 12, b, 4);
			inet_ntop(AF_INET6, &in6->sin6_addr, want,
				  sizeof(want));
			peer_ip(&ss, host, sizeof(host));
			ck_assert_str_eq(host, want);
		}
	}
}
END_TEST

START_TEST(other_families)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *un = (void *)&ss;
	char host[PEER_TEXT_MAX];

	memset(&ss, 0, sizeof(ss));
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, "/run/app.sock");
	ck_assert_int_eq(peer_ip(&ss, host, sizeof(host)), -1);
	ck_assert_str_eq(host, "");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_PACKET;
	ck_assert_int_eq(peer_ip(&ss, host, sizeof(host)), -1);
	ck_assert_str_eq(host, "");
}
END_TEST

UNIT_MAIN("peer", ip, same_text_as_inet_ntop, other_families)
