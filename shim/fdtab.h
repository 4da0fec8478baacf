/*
 * Per-file-descriptor state, indexed by descriptor number.  The table is an
 * array whose pages become resident as they are touched, so a process pays
 * in memory only for the pages its descriptor numbers touch.  Descriptors
 * at or above FDTAB_MAX are never traced.  Entries are written by the
 * thread that is using the descriptor; a descriptor used by several
 * threads at once gets best-effort tracing.
 */
#ifndef OTELSHIM_FDTAB_H
#define OTELSHIM_FDTAB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FDTAB_MAX 65536

enum fd_kind {
	FD_UNKNOWN = 0,         /* never seen: not created through our hooks */
	FD_OTHER,               /* not a stream socket: never look again */
	FD_OWN,                 /* the exporter's own socket */
	FD_TCP,                 /* AF_INET/AF_INET6 stream socket */
	FD_UNIX,                /* AF_UNIX stream socket */
};

/* A stream socket of ours: the only kind whose I/O a hook looks at. */
static inline int fd_kind_is_stream(unsigned kind)
{
	return kind >= FD_TCP;
}

enum fd_state {
	FD_IDLE = 0,
	FD_CONNECTING,          /* non-blocking connect() under way */
};

/* What the bytes of a stream socket turned out to be. */
enum fd_proto {
	FD_PROTO_UNKNOWN = 0,   /* no byte seen yet (or being recognised) */
	FD_PROTO_HTTP,          /* followed by httpconn.c, conn is set */
	FD_PROTO_NONE,          /* not traced: never look at its bytes again */
};

struct fd_entry {
	uint8_t kind;           /* enum fd_kind */
	uint8_t state;          /* enum fd_state */
	uint8_t proto;          /* enum fd_proto */
	uint8_t accepted : 1;   /* 1: came from accept(): we are the server */
	uint8_t tls : 1;        /* 1: a TLS library's transport (tls.c): the
				   socket carries ciphertext, the HTTP is
				   followed in the plaintext instead */
	uint16_t peer_len;      /* bytes of peer in use */
	uint16_t conn;          /* connection state index + 1, 0 = none */
	uint64_t connect_start_ns;
	uint64_t owner;         /* connect() while serving this request
				   (reqtab ref): its first request is
				   that request's; 0 none */
	struct sockaddr_storage peer;   /* connect() target, accept() peer */
};

/*
 * Every entry is there from the start, all zero (FD_UNKNOWN: not ours to
 * follow) until a hook that has initialised the library writes it; an
 * inert process never does.  Addressed directly, so that a hook's test
 * reads the entry and nothing else of ours (the hook floor in
 * BENCHMARKS.md).
 */
extern struct fd_entry fdtab_entries[FDTAB_MAX];

/* The entry for fd, or NULL if fd is out of range. */
static inline struct fd_entry *fdtab_get(int fd)
{
	if ((unsigned)fd >= FDTAB_MAX)
		return NULL;
	return &fdtab_entries[fd];
}

/*
 * A bit for each descriptor below FDTAB_GATE_FDS, set while its entry is
 * a stream socket of ours (fd_kind_is_stream()).  It lives in .data, the
 * page that also holds the real_* pointers (preload.c; `make
 * startup-layout` keeps .data one page), so a hook passing a call
 * through reads one page of ours besides its code, not that page and the
 * descriptor's entry: a few nanoseconds a call on a guest whose system
 * calls leave the caches cold (BENCHMARKS.md, the hook floor).  1 KiB of
 * bits, all that page has room for; descriptors above it are answered by
 * their entries.
 */
#define FDTAB_GATE_FDS 8192
extern uint64_t fdtab_gate[FDTAB_GATE_FDS / 64];

/* 0 if fd is certainly not a stream socket of ours.  Inline: it is the
 * whole cost of most hooks. */
static inline int fdtab_is_stream(int fd)
{
	if ((unsigned)fd < FDTAB_GATE_FDS)
		return (int)(__atomic_load_n(&fdtab_gate[(unsigned)fd / 64],
					     __ATOMIC_RELAXED) >>
			     ((unsigned)fd % 64) & 1);
	return (unsigned)fd < FDTAB_MAX &&
	       fd_kind_is_stream(fdtab_entries[fd].kind);
}

/* Sets the kind of e, keeping its gate bit in step: every write of a kind
 * goes through here. */
void fdtab_set_kind(struct fd_entry *e, enum fd_kind kind);

/* Forgets everything about fd (close, or a new object under its number). */
void fdtab_forget(int fd);

/* Marks fd as the exporter's own (owned=1) or forgets it (owned=0). */
void fdtab_own(int fd, int owned);

#endif
