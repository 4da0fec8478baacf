/*
 * The TLS objects' table (see tls.h), on the application thread that uses
 * an object: a fixed lock-free table keyed by the object's pointer
 * (ptrtab.h) holding its socket and the state of a write cut short.  A TLS
 * object is used by one thread at a time (OpenSSL's and GnuTLS's rule),
 * so a slot is written without a lock.  Tying an object to its socket
 * marks the socket's descriptor entry TLS, so the socket hooks leave the
 * ciphertext alone; an object on one of the exporter's own sockets
 * (FD_OWN), or on one we did not see created, is never traced.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "httpconn.h"
#include "ptrtab.h"
#include "tls.h"

#define TLS_BITS 12
#define TLS_PROBES 16u
/* Real calls under capture that touch no socket before an object is
 * taken for one without any (memory BIOs, as asyncio's): from then on it
 * costs a lookup, not a capture. */
#define TLS_MISSES 8

enum { SLOT_NEW = 0, SLOT_TRACED, SLOT_UNTRACED };

struct tls_slot {
	_Atomic uintptr_t key;          /* first: ptrtab.h */
	uint8_t state;
	uint8_t misses;                 /* SLOT_NEW: captures that found none */
	int fd;                         /* SLOT_TRACED: the transport */
	struct tls_wstate ws;
};

static struct tls_slot slots[1u << TLS_BITS];
static const struct ptrtab table = PTRTAB(slots, TLS_BITS, TLS_PROBES);

PRELOAD_TLS int tls_capturing;
/* The transport noted during a capture, + 1; 0: none yet. */
static PRELOAD_TLS int captured;

void tls_capture_note(const struct fd_entry *e)
{
	if (!captured)
		captured = (int)(e - fdtab_entries) + 1;
}

/* Ties obj (slot sl, or none yet) to socket fd; the slot, or NULL when the
 * table is full. */
static struct tls_slot *tie(const void *obj, struct tls_slot *sl, int fd)
{
	struct fd_entry *e = fdtab_get(fd);

	if (!sl && !(sl = ptrtab_claim(&table, obj)))
		return NULL;
	sl->ws = (struct tls_wstate){ 0 };
	sl->misses = 0;
	sl->fd = fd;
	if (!e || !fd_kind_is_stream(e->kind)) {
		sl->state = SLOT_UNTRACED;
		return sl;
	}
	sl->state = SLOT_TRACED;
	if (!e->tls) {
		/* What the socket hooks made of the handshake is not ours. */
		if (e->conn)
			hc_close(e);
		e->tls = 1;
		e->proto = FD_PROTO_UNKNOWN;
	}
	return sl;
}

void tls_obj_tie(const void *obj, int fd)
{
	tie(obj, ptrtab_find(&table, obj), fd);
}

enum tls_obj_use tls_obj(const void *obj, int (*get_fd)(const void *obj),
			 struct fd_entry **e, struct tls_wstate **ws)
{
	struct tls_slot *sl = ptrtab_find(&table, obj);
	int fd;

	if (!sl || sl->state == SLOT_NEW) {
		fd = get_fd ? get_fd(obj) : -1;
		if (fd < 0 || !(sl = tie(obj, sl, fd)))
			return fd < 0 ? TLS_OBJ_UNKNOWN : TLS_OBJ_PLAIN;
	}
	if (sl->state != SLOT_TRACED)
		return TLS_OBJ_PLAIN;
	*e = fdtab_get(sl->fd);
	if (!*e || !(*e)->tls) {
		/* The socket was closed under the object, maybe reused:
		 * look again. */
		sl->state = SLOT_NEW;
		sl->misses = 0;
		return TLS_OBJ_UNKNOWN;
	}
	*ws = &sl->ws;
	return TLS_OBJ_TRACED;
}

void tls_obj_capture_begin(void)
{
	captured = 0;
	tls_capturing = 1;
}

void tls_obj_capture_end(const void *obj)
{
	struct tls_slot *sl = ptrtab_find(&table, obj);

	tls_capturing = 0;
	if (captured) {
		tie(obj, sl, captured - 1);
	} else {
		if (!sl && (sl = ptrtab_claim(&table, obj)) != NULL) {
			sl->state = SLOT_NEW;
			sl->misses = 0;
		}
		if (sl && sl->state == SLOT_NEW && ++sl->misses >= TLS_MISSES)
			sl->state = SLOT_UNTRACED;
	}
	captured = 0;
}

void tls_obj_forget(const void *obj)
{
	struct tls_slot *sl = ptrtab_find(&table, obj);

	if (sl) {
		sl->state = SLOT_NEW;
		ptrtab_free(sl);
	}
}

int tls_propagating(void)
{
	return preload_config()->propagate_tracecontext;
}
