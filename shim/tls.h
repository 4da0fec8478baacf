/*
 * TLS objects (an OpenSSL SSL, a GnuTLS session) and the sockets under
 * them, for the TLS hooks (tls.c, gnutls.c) and the socket hooks (net.c),
 * on the application thread that uses the object; see tlsobj.c.
 *
 * An object whose transport is not a plain socket BIO (curl's own BIO, for
 * one) shows its descriptor only by the socket calls it makes, so while
 * such an object's real handshake, read or write runs, the first stream
 * socket the thread touches is noted as its transport (a capture).
 */
#ifndef OTELSHIM_TLS_H
#define OTELSHIM_TLS_H

#include "fdtab.h"
#include "preload.h"
#include "tlsconn.h"

/* Non-zero on a thread inside a real TLS call whose transport is not
 * known yet. */
extern PRELOAD_TLS int tls_capturing;

/* The socket calls of that TLS call touch e. */
void tls_capture_note(const struct fd_entry *e);

/* What a TLS hook does with an object's call. */
enum tls_obj_use {
	TLS_OBJ_TRACED,         /* *e is its socket's entry, traced */
	TLS_OBJ_PLAIN,          /* straight through: not traced */
	TLS_OBJ_UNKNOWN,        /* socket not known yet: capture the call */
};

/*
 * How to treat a call on obj.  get_fd (may be NULL) asks the object for
 * its socket, -1 if it has none.  TLS_OBJ_TRACED sets *e and *ws, the
 * object's write state.
 */
enum tls_obj_use tls_obj(const void *obj, int (*get_fd)(const void *obj),
			 struct fd_entry **e, struct tls_wstate **ws);

/* obj's transport is the socket fd (SSL_set_fd, gnutls_transport_set_int):
 * its bytes become plaintext, followed from the start. */
void tls_obj_tie(const void *obj, int fd);

/* Around a real call made while tls_obj() said TLS_OBJ_UNKNOWN. */
void tls_obj_capture_begin(void);
void tls_obj_capture_end(const void *obj);

/* obj is being freed. */
void tls_obj_forget(const void *obj);

/* Whether trace headers go into requests (the configuration). */
int tls_propagating(void);

#endif
