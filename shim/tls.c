/*
 * OpenSSL hooks (libssl 1.1 and 3, table in ssl.def): HTTP inside TLS, on
 * the application thread that calls the TLS library.  The plaintext a
 * program reads and writes through an SSL object goes to the same
 * recogniser, spans and trace headers as a plain socket's (tlsconn.c,
 * httpconn.c), kept in the descriptor entry of the object's socket, which
 * tlsobj.c finds: SSL_set_fd names it (python, nginx); an object with a
 * BIO of its own (curl's) is tied to the first stream socket its real
 * handshake, read or write touches.  Calls on the exporter thread (its
 * libcurl speaks TLS through these very hooks) pass straight through, and
 * a TLS stream that is not HTTP costs a call one table lookup and a
 * branch.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fdtab.h"
#include "preload.h"
#include "tls.h"
#include "tlsconn.h"

typedef struct ssl_st SSL;

/* OpenSSL's values, the same in 1.1 and 3 (ssl.h). */
#define OSSL_CTRL_MODE                  33
#define OSSL_MODE_ENABLE_PARTIAL_WRITE  0x1L
#define OSSL_ERROR_ZERO_RETURN          6

#define CALL(ret, name, params, args) \
	LIB_CALL_ROW("libssl", ret, name, params)
#define HOOK(ret, name, params, args) \
	LIB_HOOK_ROW("libssl", ret, name, params)
#include "ssl.def"
#undef HOOK
#undef CALL

/* SSL_get_fd for tls_obj(): the socket under a socket BIO. */
static int ssl_fd(const void *obj)
{
	int (*get_fd)(const SSL *) = next_SSL_get_fd();

	return get_fd ? get_fd(obj) : -1;
}

/* 1 if the failure ret of a real call on ssl asks for the same call again
 * (SSL_ERROR_WANT_*); 0 otherwise.  *code gets the error. */
static int wants_retry(SSL *ssl, int ret, int *code)
{
	int (*get_error)(const SSL *, int) = next_SSL_get_error();
	int c;

	KEEP_ERRNO(c = get_error ? get_error(ssl, ret) : 1);
	*code = c;
	/* WANT_READ 2, WANT_WRITE 3, WANT_X509_LOOKUP 4, WANT_CONNECT 7,
	 * WANT_ACCEPT 8, WANT_ASYNC 9, WANT_ASYNC_JOB 10,
	 * WANT_CLIENT_HELLO_CB 11, WANT_RETRY_VERIFY 12. */
	return (c >= 2 && c <= 4) || (c >= 7 && c <= 12);
}

/* --------------------------------------------------------- handshakes */

HOOK_API int SSL_set_fd(SSL *ssl, int fd)
{
	int (*real)(SSL *, int) = next_SSL_set_fd();
	int ret;

	if (!real) {
		errno = ENOSYS;
		return 0;
	}
	ret = real(ssl, fd);
	if (ret == 1 && preload_enter())
		KEEP_ERRNO(tls_obj_tie(ssl, fd));
	return ret;
}

/* A handshake call: where an object with a BIO of its own shows its
 * socket first. */
#define HANDSHAKE_HOOK(name)                                              \
	HOOK_API int name(SSL *ssl)                                       \
	{                                                                 \
		int (*real)(SSL *) = next_##name();                       \
		int ret;                                                  \
									  \
		if (!real) {                                              \
			errno = ENOSYS;                                   \
			return -1;                                        \
		}                                                         \
		struct fd_entry *fe_;                                     \
		struct tls_wstate *ws_;                                   \
									  \
		if (!preload_enter() ||                                   \
		    tls_obj(ssl, ssl_fd, &fe_, &ws_) != TLS_OBJ_UNKNOWN)   \
			return real(ssl);                                 \
		tls_obj_capture_begin();                                  \
		ret = real(ssl);                                          \
		KEEP_ERRNO(tls_obj_capture_end(ssl));                     \
		return ret;                                               \
	}

HANDSHAKE_HOOK(SSL_connect)
HANDSHAKE_HOOK(SSL_accept)
HANDSHAKE_HOOK(SSL_do_handshake)

HOOK_API void SSL_free(SSL *ssl)
{
	void (*real)(SSL *) = next_SSL_free();

	if (preload_enter())
		tls_obj_forget(ssl);
	if (real)
		real(ssl);
}

/* -------------------------------------------------------------- reads */

/* After a real read on ssl (traced entry e) returned ret with n bytes. */
static void after_read(SSL *ssl, struct fd_entry *e, const void *buf,
		       size_t n, int ret)
{
	int code;

	if (ret > 0)
		tls_after_read(e, buf, n, TLS_READ_DATA, tls_propagating());
	else if (wants_retry(ssl, ret, &code))
		tls_after_read(e, buf, 0, TLS_READ_AGAIN, tls_propagating());
	else
		tls_after_read(e, buf, 0, code == OSSL_ERROR_ZERO_RETURN ?
			       TLS_READ_EOF : TLS_READ_ERROR,
			       tls_propagating());
}

/*
 * The read hooks: call stands for the real call, with ret its result and
 * got the plaintext bytes.  An object whose socket is unknown is captured;
 * one whose bytes are not HTTP passes straight through.
 */
#define TLS_READ(call, ret, got)                                         \
	do {                                                             \
		struct tls_wstate *ws;                                   \
		struct fd_entry *e;                                      \
		int use;                                                 \
									 \
		if (!preload_enter())                                    \
			return call;                                     \
		use = tls_obj(ssl, ssl_fd, &e, &ws);                     \
		if (use == TLS_OBJ_UNKNOWN) {                            \
			tls_obj_capture_begin();                         \
			ret = call;                                      \
			KEEP_ERRNO(tls_obj_capture_end(ssl));            \
			return ret;                                      \
		}                                                        \
		if (use != TLS_OBJ_TRACED || e->proto == FD_PROTO_NONE)  \
			return call;                                     \
		ret = call;                                              \
		KEEP_ERRNO(after_read(ssl, e, buf, (got), ret));         \
		return ret;                                              \
	} while (0)

HOOK_API int SSL_read(SSL *ssl, void *buf, int num)
{
	int (*real)(SSL *, void *, int) = next_SSL_read();
	int ret;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	TLS_READ(real(ssl, buf, num), ret, ret > 0 ? (size_t)ret : 0);
}

HOOK_API int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
	int (*real)(SSL *, void *, size_t, size_t *) = next_SSL_read_ex();
	int ret;

	if (!real) {
		errno = ENOSYS;
		return 0;
	}
	TLS_READ(real(ssl, buf, num, readbytes), ret,
		 ret > 0 && readbytes ? *readbytes : 0);
}

/* ------------------------------------------------------------- writes */

/* One real write for tlsconn.c: SSL_write or SSL_write_ex, as the
 * program called. */
struct put {
	SSL *ssl;
	int (*write)(SSL *, const void *, int);
	int (*write_ex)(SSL *, const void *, size_t, size_t *);
};

static long put_one(void *arg, const void *buf, size_t len, int *retry)
{
	struct put *p = arg;
	size_t w = 0;
	int r, code;

	if (p->write_ex) {
		r = p->write_ex(p->ssl, buf, len, &w);
		if (r > 0)
			return (long)w;
	} else {
		r = p->write(p->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
		if (r > 0)
			return r;
	}
	*retry = wants_retry(p->ssl, r, &code);
	return r;
}

/* How a write hook goes on. */
enum { W_TRACED, W_PLAIN, W_CAPTURE };

/* The write of buf[0..len) (len > 0) on ssl: W_TRACED with *out what the
 * program must see, else how to call the real function. */
static int traced_write(SSL *ssl, const void *buf, size_t len,
			struct put *p, long *out)
{
	long (*ctrl)(SSL *, int, long, void *) = next_SSL_ctrl();
	struct tls_io io = { put_one, p };
	struct tls_wstate *ws;
	struct fd_entry *e;
	int use;
	enum tls_wmode mode;

	if (!preload_enter())
		return W_PLAIN;
	use = tls_obj(ssl, ssl_fd, &e, &ws);
	if (use == TLS_OBJ_UNKNOWN)
		return W_CAPTURE;
	if (use != TLS_OBJ_TRACED || e->proto == FD_PROTO_NONE || !ctrl)
		return W_PLAIN;
	mode = ctrl(ssl, OSSL_CTRL_MODE, 0, NULL) &
	       OSSL_MODE_ENABLE_PARTIAL_WRITE ? TLS_W_PARTIAL : TLS_W_WHOLE;
	*out = tls_write(e, ws, buf, len, mode, &io, tls_propagating());
	return W_TRACED;
}

HOOK_API int SSL_write(SSL *ssl, const void *buf, int num)
{
	struct put p = { ssl, next_SSL_write(), NULL };
	long r = 0;
	int ret;

	if (!p.write) {
		errno = ENOSYS;
		return -1;
	}
	if (num <= 0 || !buf)
		return p.write(ssl, buf, num);
	switch (traced_write(ssl, buf, (size_t)num, &p, &r)) {
	case W_TRACED:
		return (int)r;
	case W_CAPTURE:
		tls_obj_capture_begin();
		ret = p.write(ssl, buf, num);
		KEEP_ERRNO(tls_obj_capture_end(ssl));
		return ret;
	default:
		return p.write(ssl, buf, num);
	}
}

HOOK_API int SSL_write_ex(SSL *ssl, const void *buf, size_t num,
			  size_t *written)
{
	struct put p = { ssl, NULL, next_SSL_write_ex() };
	long r = 0;
	int ret;

	if (!p.write_ex) {
		errno = ENOSYS;
		return 0;
	}
	if (num == 0 || !buf || !written)
		return p.write_ex(ssl, buf, num, written);
	switch (traced_write(ssl, buf, num, &p, &r)) {
	case W_TRACED:
		if (r <= 0)
			return (int)r;
		*written = (size_t)r;
		return 1;
	case W_CAPTURE:
		tls_obj_capture_begin();
		ret = p.write_ex(ssl, buf, num, written);
		KEEP_ERRNO(tls_obj_capture_end(ssl));
		return ret;
	default:
		return p.write_ex(ssl, buf, num, written);
	}
}
