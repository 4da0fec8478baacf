/*
 * Peer address text: IPv4 and IPv6 with their ports, nothing for other
 * families.
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

UNIT_MAIN("peer", ip, other_families)
