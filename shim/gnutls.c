/*
 * GnuTLS hooks (libgnutls 3, table in gnutls.def): HTTP inside TLS for
 * programs such as wget, on the application thread that calls GnuTLS, the
 * same way tls.c does it for OpenSSL.  A session is tied to the socket its
 * handshake (or first record call) touches (tls.h).
 *
 * GnuTLS lets a program retry a write that returned GNUTLS_E_AGAIN or
 * GNUTLS_E_INTERRUPTED with no buffer at all (NULL, 0): the library sends
 * the record it kept.  The plaintext of such a retry is not in our hands,
 * so trace headers go only into requests written on blocking sockets,
 * where a write does not return GNUTLS_E_AGAIN, and a connection that
 * sees such a retry is no longer followed (its bytes pass unchanged).
 * Spans are made either way.
 */
#include <errno.h>
#include <fcntl.h>

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

/* 1 when a write on fd cannot return GNUTLS_E_AGAIN. */
static int blocking(int fd)
{
	int fl;

	KEEP_ERRNO(fl = fcntl(fd, F_GETFL));
	return fl >= 0 && !(fl & O_NONBLOCK);
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
	if (!data || !size) {
		/* A retry whose bytes we cannot see: stop following. */
		KEEP_ERRNO(hc_close(e));
		return p.send(session, data, size);
	}
	return tls_write(e, ws, data, size, TLS_W_RECORD, &io,
			 tls_propagating() && blocking((int)(e - fdtab_table)));
}
