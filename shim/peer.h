/*
 * The text of a socket peer's address, for span attributes: numeric, so no
 * name lookup ever runs inside a hook.  Pure apart from inet_ntop(3) and
 * snprintf(3) into the caller's buffer: no allocation, no locks.
 */
#ifndef OTELSHIM_PEER_H
#define OTELSHIM_PEER_H

#include <stddef.h>
#include <sys/socket.h>

/* Room for any address peer_ip writes (an IPv6 one at most). */
#define PEER_TEXT_MAX 128

/*
 * An IPv4 or IPv6 address as text ("1.2.3.4", "::1") in host; returns its
 * port.  Any other family: host is "" and the return -1.
 */
int peer_ip(const struct sockaddr_storage *ss, char *host, size_t cap);

#endif
