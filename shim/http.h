/*
 * HTTP/1.0 and 1.1 recognition in a byte stream (the framer).  One struct
 * http_stream follows one direction of a connection; it is fed the bytes as
 * the program reads or writes them, in pieces of any size, and reports
 * message heads and ends.  http_head.h turns a head into span attributes.
 * Nothing here allocates, locks, calls the system or keeps a pointer to the
 * caller's bytes: the parts of a head we report are copied into the
 * stream's own bounded buffer, and credentials are never copied at all.
 */
#ifndef OTELSHIM_HTTP_H
#define OTELSHIM_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/text.h"

/* Bytes a stream keeps of one head: the method and target, then the values
 * of the headers we report (see struct http_head). */
#define HTTP_BUF_SIZE    3072
/* Method plus target kept; a longer target is truncated (HTTP_H_TRUNCATED). */
#define HTTP_TARGET_MAX  2048
/* A longer method is not HTTP: nobody sends one. */
#define HTTP_METHOD_MAX  32
/* A head (start line + headers) or a trailer section longer than this is
 * an error: nobody sends that much, a desynchronised stream might. */
#define HTTP_HEAD_LIMIT  65536

enum http_dir {
	HTTP_DIR_REQUEST = 1,   /* the stream carries requests */
	HTTP_DIR_RESPONSE = 2,  /* the stream carries responses */
};

/* Event bits reported in http_event.type. */
#define HTTP_EV_HEAD     0x01  /* a head is complete: ev->head is valid */
#define HTTP_EV_END      0x02  /* the message (head and body) is complete */
#define HTTP_EV_NOT_HTTP 0x04  /* these bytes do not start an HTTP/1.x
				  message: the stream stops for good */
#define HTTP_EV_ERROR    0x08  /* a message went wrong (malformed, too big,
				  cut off by EOF): the stream stops for good */

/* Flags of a head (http_head.flags). */
#define HTTP_H_CHUNKED    0x01  /* Transfer-Encoding ends with chunked */
#define HTTP_H_CLOSE      0x02  /* the connection ends after this message */
#define HTTP_H_UPGRADE    0x04  /* Connection: upgrade */
#define HTTP_H_TRUNCATED  0x08  /* a reported string was cut to fit */
#define HTTP_H_TP_INVALID 0x10  /* traceparent repeated or cut: it and
				   tracestate are reported absent */
#define HTTP_H_TS_DROPPED 0x20  /* tracestate lines did not fit: absent */

/* A message head.  Requests fill method, target and the header values;
 * responses fill status only (their headers are not kept).  The strings
 * lie in the stream's buffer; p is NULL when absent. */
struct http_head {
	struct str method;
	struct str target;
	struct str host;
	struct str user_agent;
	struct str traceparent;         /* not validated: see propagate.h */
	struct str tracestate;          /* all tracestate lines joined by ',' */
	struct str forwarded;           /* first Forwarded line */
	struct str x_forwarded_for;     /* first X-Forwarded-For line */
	struct str x_forwarded_host;
	int64_t content_length;         /* -1: no Content-Length */
	uint32_t head_bytes;            /* start line + headers on the wire */
	uint16_t status;                /* responses: 100..999 */
	uint8_t version_minor;          /* HTTP/1.x: x */
	uint8_t flags;                  /* HTTP_H_* */
};

struct http_event {
	unsigned type;          /* HTTP_EV_* bits; 0: nothing happened */
	struct http_head head;  /* with HTTP_EV_HEAD; strings point into the
				   stream and stay valid until its next
				   http_feed() or http_eof() */
	uint64_t body_bytes;    /* with HTTP_EV_END: body bytes on the wire,
				   chunk framing and trailers included */
};

/* Internal: a string as an offset into the stream's buffer. */
struct http_ref {
	uint16_t off;
	uint16_t len;
};

#define HTTP_NSTR     9
#define HTTP_TS_FRAGS 4

/* The state of one direction.  Plain memory: copy it, zero it, keep it in
 * a table; initialise with http_stream_init().  Fields are private. */
struct http_stream {
	uint8_t dir;            /* enum http_dir */
	uint8_t state;
	uint8_t kind;           /* header line being read */
	uint8_t version_minor;
	uint8_t namelen;
	uint8_t ntp;            /* traceparent lines seen */
	uint8_t nts;            /* tracestate lines kept */
	uint8_t npending;       /* requests queued on a response stream */
	uint16_t flags;         /* HTTP_H_* and parse-private bits */
	uint16_t status;
	uint16_t used;          /* bytes of buf in use */
	uint16_t val_off;       /* start of the header value being read */
	uint16_t have;          /* bit i: str[i] is set */
	uint16_t method_len;
	uint32_t pending;       /* 2 bits per queued request kind */
	uint32_t head_bytes;
	uint32_t aux;           /* per-state counter */
	int64_t content_length;
	uint64_t remaining;     /* body or chunk bytes still to come */
	uint64_t body_bytes;
	struct http_ref str[HTTP_NSTR];
	struct http_ref ts[HTTP_TS_FRAGS];
	char name[24];          /* lowercased header name being read */
	char buf[HTTP_BUF_SIZE];
};

/* Prepares st to follow one direction from its first byte. */
void http_stream_init(struct http_stream *st, enum http_dir dir);

/*
 * Consumes bytes of the stream until one event happens or data runs out;
 * returns the bytes consumed (<= len).  ev->type says what happened (0:
 * need more).  Call again with the rest: one read may hold several
 * pipelined messages.  A head and the end of its message come together
 * (HTTP_EV_HEAD | HTTP_EV_END) when the message has no body, and on a
 * response stream when a body of known length came whole with its head
 * (one callback for a typical response).
 */
size_t http_feed(struct http_stream *st, const char *data, size_t len,
		 struct http_event *ev);

/*
 * The direction has ended (EOF, shutdown, close).  Reports HTTP_EV_END for
 * a body delimited by the close, HTTP_EV_ERROR for a message cut short, 0
 * otherwise; the stream then stops.
 */
unsigned http_eof(struct http_stream *st, struct http_event *ev);

/*
 * Tells a response stream that a request was sent, so it knows which
 * response has no body (HEAD) or ends the HTTP part of the connection
 * (CONNECT).  Call once per request head, in order; up to 16 may wait.
 */
void http_push_request(struct http_stream *resp, const struct http_head *req);

/*
 * A request stream stopped in a request's head, or by an error in it (a
 * server may answer before it has read the whole head, or reject a head
 * that is malformed): fills h with what is known of that request — the
 * method once the space after it was read, the target once the space after
 * it, the header values kept so far — and returns 1.  0 when no method is
 * known, the head was complete, or st carries responses.  h's strings are
 * valid until the next http_feed() or http_eof().
 */
int http_unfinished_request(const struct http_stream *st,
			    struct http_head *h);

/*
 * 1 if the next byte fed starts a new message: nothing of a message but
 * empty lines has been seen since the stream began or the last message
 * ended.  Lets a caller time a message from its first byte and know where
 * a request starts (to add trace headers to it).
 */
int http_stream_idle(const struct http_stream *st);

/* Bits of http_head_seen(). */
#define HTTP_SEEN_ENDING      0x01  /* the last byte fed was the CR that
					 begins the empty line ending a
					 request head: its LF comes next */
#define HTTP_SEEN_TRACEPARENT 0x02  /* the head has a traceparent line */
#define HTTP_SEEN_TRACESTATE  0x04  /* the head has a tracestate line */

/*
 * What a request stream has seen of the head it is in, or of the last
 * head until the next message begins: HTTP_SEEN_* bits.  Lets a writer
 * add a header before the empty line of a head written in pieces, where
 * only the bytes already fed are known.
 */
unsigned http_head_seen(const struct http_stream *st);

/*
 * Accounts for n bytes that went by without the caller seeing them
 * (sendfile(2): the body comes from a file).  Only body bytes whose
 * framing is already known can be skipped: Content-Length and chunk data
 * up to the end of the current chunk, a close-delimited body, or a
 * stopped stream.  Returns the bytes accounted for (<= n; 0 when the
 * stream expects framing or a head next: the caller should then stop the
 * stream, its position is lost).  ev reports HTTP_EV_END as http_feed()
 * would.
 */
uint64_t http_skip(struct http_stream *st, uint64_t n, struct http_event *ev);

/* Stops a stream for good (the connection became a tunnel or another
 * protocol, e.g. after a 101 seen on the other direction). */
void http_stop(struct http_stream *st);

/* 1 if st will never report anything again: not HTTP, an error, a tunnel
 * or a protocol switch; callers can forget the connection then. */
int http_stream_done(const struct http_stream *st);

/* RFC 9110's tchar, the bytes of a token (a method, a header name), as a
 * table of 0 and 1: the parser asks for every byte of every header name. */
static inline const uint8_t *http_tchars(void)
{
	static const uint8_t tchar[256] = {
		['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
		['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1,
		['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,
		['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	};

	return tchar;
}

/* 1 if c may appear in a token. */
static inline int http_tchar(unsigned char c)
{
	return http_tchars()[c];
}

#endif
