/*
 * What the socket hooks (net.c) need from the TLS hooks (tls.c): a TLS
 * object whose transport is not a plain socket BIO (curl's own BIO, for
 * one) shows its descriptor only by the socket calls it makes, so while
 * such an object's real handshake, read or write runs, the first stream
 * socket the thread touches is noted as its transport.
 */
#ifndef OTELSHIM_TLS_H
#define OTELSHIM_TLS_H

#include "fdtab.h"
#include "preload.h"

/* Non-zero on a thread inside a real TLS call whose transport is not
 * known yet. */
extern PRELOAD_TLS int tls_capturing;

/* The socket calls of that TLS call touch e. */
void tls_capture_note(const struct fd_entry *e);

#endif
