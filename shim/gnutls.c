/*
 * GnuTLS hooks (libgnutls 3, table in gnutls.def): HTTP inside TLS for
 * programs such as wget, on the application thread that calls GnuTLS, the
 * same way tls.c does it for OpenSSL.  A session is tied to the socket its
 * handshake (or first record call) touches (tls.h).
 *
 * A write that returned GNUTLS_E_AGAIN or GNUTLS_E_INTERRUPTED is retried
 * with the same arguments or with none (NULL, 0); either way GnuTLS sends
 * the record it kept and answers with that record's length, whatever it
 * is given.  A retry with the same arguments is our real calls again
 * (tlsconn.c).  A retry without a buffer gives us no plaintext to follow:
 * the kept record is sent, the program is told how many of its own bytes
 * were in it (tlsconn.c puts some in every record that holds our header),
 * and the connection is no longer followed (its span ends unfinished).
 */
#include <errno.h>

#include "httpconn.h"
#include "preload.h"
#include "tls.h"
#include "tlsconn.h"

typedef struct gnutls_session_int *gnutls_session_t;

/* GnuTLS's values (gnutls.h). */
#define GT_E_AGAIN              (-28)
#define GT_E_INTERRUPTED        (-52)
#define GT_E_REHANDSHAKE        (-37)
#define GT_E_WARNING_ALERT      (-16)

#define HOOK(ret, name, params, args) \
	LIB_HOOK_ROW("libgnutls", ret, name, params)
#include "gnutls.def"
#undef HOOK

/* A failure the same call (or a NULL retry) may get past. */
static int retryable(long r)
{
	return r == GT_E_AGAIN || r == GT_E_INTERRUPTED ||
	       r == GT_E_REHANDSHAKE || r == GT_E_WARNING_ALERT;
}

HOOK_API int gnutls_handshake(gnutls_session_t session)
{
	int (*real)(gnutls_session_t) = next_gnutls_handshake();
	struct tls_wstate *ws;
	struct fd_entry *e;
	int ret;

	if (!real)
		return -1;  /* GNUTLS_E_UNEXPECTED_PACKET_LENGTH: never here */
	if (!preload_enter() ||
	    tls_obj(session, NULL, &e, &ws) != TLS_OBJ_UNKNOWN)
		return real(session);
	tls_obj_capture_begin();
	ret = real(session);
	KEEP_ERRNO(tls_obj_capture_end(session));
	return ret;
}

HOOK_API void gnutls_deinit(gnutls_session_t session)
{
	void (*real)(gnutls_session_t) = next_gnutls_deinit();

	if (preload_enter())
		tls_obj_forget(session);
	if (real)
		real(session);
}

HOOK_API ssize_t gnutls_record_recv(gnutls_session_t session, void *data,
				    size_t size)
{
	ssize_t (*real)(gnutls_session_t, void *, size_t) =
		next_gnutls_record_recv();
	struct tls_wstate *ws;
	struct fd_entry *e;
	enum tls_obj_use use;
	ssize_t ret;

	if (!real)
		return -1;
	if (!preload_enter())
		return real(session, data, size);
	use = tls_obj(session, NULL, &e, &ws);
	if (use == TLS_OBJ_UNKNOWN) {
		tls_obj_capture_begin();
		ret = real(session, data, size);
		KEEP_ERRNO(tls_obj_capture_end(session));
		return ret;
	}
	ret = real(session, data, size);
	if (use != TLS_OBJ_TRACED || e->proto == FD_PROTO_NONE)
		return ret;
	KEEP_ERRNO(tls_after_read(e, data, ret > 0 ? (size_t)ret : 0,
				  ret > 0 ? TLS_READ_DATA :
				  ret == 0 ? TLS_READ_EOF :
				  retryable(ret) ? TLS_READ_AGAIN :
				  TLS_READ_ERROR, tls_propagating()));
	return ret;
}

struct put {
	gnutls_session_t session;
	ssize_t (*send)(gnutls_session_t, const void *, size_t);
};

static long put_one(void *arg, const void *buf, size_t len, int *retry)
{
	struct put *p = arg;
	ssize_t r = p->send(p->session, buf, len);

	if (r <= 0)
		*retry = retryable(r);
	return (long)r;
}

/* GnuTLS's value for a state it cannot be in. */
#define GT_E_INTERNAL_ERROR     (-59)

/*
 * A write without bytes: the retry of one that failed.  If GnuTLS keeps a
 * record of our real calls (ws->kept), it is sent, and the program's bytes
 * in it are what the program's failed write took; the connection is then
 * no longer followed, as we did not see those bytes.  Else it is the
 * program's business alone.
 */
static ssize_t retry_without_buffer(struct put *p, struct fd_entry *e,
				    struct tls_wstate *ws, const void *data,
				    size_t size)
{
	ssize_t r = p->send(p->session, data, size);

	if (!ws->kept || r == GT_E_AGAIN || r == GT_E_INTERRUPTED)
		return r;
	ws->kept = 0;
	KEEP_ERRNO(hc_close(e));
	e->proto = FD_PROTO_NONE;
	if (r < 0)
		return r;
	/* Only a peer that limits records to fewer bytes than our header
	 * leaves none of the program's bytes in the record. */
	if ((size_t)r <= ws->kept_ours)
		return GT_E_INTERNAL_ERROR;
	return r - (ssize_t)ws->kept_ours;
}

HOOK_API ssize_t gnutls_record_send(gnutls_session_t session,
				    const void *data, size_t size)
{
	struct put p = { session, next_gnutls_record_send() };
	struct tls_io io = { put_one, &p };
	struct tls_wstate *ws;
	struct fd_entry *e;
	enum tls_obj_use use;
	ssize_t ret;

	if (!p.send)
		return -1;
	if (!preload_enter())
		return p.send(session, data, size);
	use = tls_obj(session, NULL, &e, &ws);
	if (use == TLS_OBJ_UNKNOWN) {
		tls_obj_capture_begin();
		ret = p.send(session, data, size);
		KEEP_ERRNO(tls_obj_capture_end(session));
		return ret;
	}
	if (use != TLS_OBJ_TRACED || e->proto == FD_PROTO_NONE)
		return p.send(session, data, size);
	if (!data || !size)
		return retry_without_buffer(&p, e, ws, data, size);
	return tls_write(e, ws, data, size, TLS_W_RECORD, &io,
			 tls_propagating());
}
