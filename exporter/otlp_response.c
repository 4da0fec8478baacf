/*
 * Reading OTLP/HTTP responses (see otlp_response.h).  Protobuf responses
 * go through the generated protobuf-c code; google.rpc.Status, which we
 * have no generated code for, through a wire walk of a few lines; JSON
 * through a minimal reader that looks for a few keys and skips the rest
 * within a nesting limit.
 */
#include <errno.h>
#include <string.h>

#include "common/text.h"
#include "common/utf8.h"
#include "otlp_pb.h"
#include "otlp_response.h"
#include "pbwire.h"
#include "scan.h"

/* The generated name exceeds any line. */
#define RESPONSE_DESCRIPTOR \
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__descriptor

#define JSON_MAX_DEPTH    32
#define ERROR_PREFIX_MAX  160   /* of a body that is no Status */

size_t otlp_response_printable(const uint8_t *s, size_t len, char *out,
			       size_t cap)
{
	size_t i, n = 0;

	if (cap == 0)
		return 0;
	for (i = 0; i < len && n + 1 < cap; i++) {
		uint8_t c = s[i];

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n;
}

/* ------------------------------------------------------------ protobuf */

int otlp_response_protobuf(const uint8_t *body, size_t len,
			   int64_t *rejected, char *msg, size_t cap)
{
	static const uint8_t empty[1];
	pb_response *resp;
	size_t i;

	*rejected = 0;
	if (cap)
		msg[0] = '\0';
	resp = (pb_response *)protobuf_c_message_unpack(&RESPONSE_DESCRIPTOR,
							NULL, len,
							body ? body : empty);
	if (!resp)
		return -EINVAL;
	if (resp->partial_success) {
		const char *m = resp->partial_success->error_message;

		*rejected = resp->partial_success->rejected_spans;
		/* Whole UTF-8 characters only, and the message ends up in
		 * one log line: control bytes become spaces. */
		if (cap && m) {
			utf8_repair(m, strlen(m), 0, msg, cap);
			for (i = 0; msg[i]; i++) {
				if ((unsigned char)msg[i] < 0x20 ||
				    msg[i] == 0x7f)
					msg[i] = ' ';
			}
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/* google.rpc.Status: field 2, message, length-delimited. */
static int pb_status_message(const uint8_t *p, size_t len, char *msg,
			     size_t cap)
{
	const uint8_t *end = p + len;
	struct pbwire_field f;
	int rc;

	while ((rc = pbwire_next(&p, end, &f)) > 0) {
		if (f.number == 2 && f.wire == 2) {
			otlp_response_printable(f.bytes, (size_t)f.value, msg,
						cap);
			return 0;
		}
	}
	return -1;
}

/* ---------------------------------------------------------------- JSON */

static int j_is_ws(char ch)
{
	return ascii_is_ows(ch) || ch == '\r' || ch == '\n';
}

static void j_ws(struct scan *c)
{
	while (c->p < c->end && j_is_ws(*c->p))
		c->p++;
}

/* \uXXXX after the backslash and 'u': the character, or '?' outside
 * printable ASCII (the text only ever ends up in a log line). */
static int j_unicode(struct scan *c, char *ch)
{
	int i, cp = 0;

	if (c->end - c->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		int h = hex_value(c->p[i]);

		if (h < 0)
			return -1;
		cp = cp * 16 + h;
	}
	c->p += 4;
	*ch = (cp >= 0x20 && cp < 0x7f) ? (char)cp : '?';
	return 0;
}

/* Reads a string at c->p into (out, cap) (out may be NULL), NUL-terminated
 * and cut to fit. */
static int j_string(struct scan *c, char *out, size_t cap)
{
	size_t n = 0;

	if (scan_char(c, '"'))
		return -1;
	while (c->p < c->end && *c->p != '"') {
		char ch = *c->p++;

		if (ch == '\\') {
			if (c->p >= c->end)
				return -1;
			ch = *c->p++;
			switch (ch) {
			case 'n': case 'r': case 't': case 'b': case 'f':
				ch = ' ';
				break;
			case 'u':
				if (j_unicode(c, &ch))
					return -1;
				break;
			case '"': case '\\': case '/':
				break;
			default:
				return -1;
			}
		}
		if (out && n + 1 < cap)
			out[n++] = ch;
	}
	if (scan_char(c, '"'))
		return -1;
	if (out && cap)
		out[n] = '\0';
	return 0;
}

static int j_skip(struct scan *c, int depth);

/* The members or elements of an object or array, after its '{' or '['. */
static int j_skip_container(struct scan *c, int depth, int obj)
{
	char close = obj ? '}' : ']';

	j_ws(c);
	if (scan_char(c, close) == 0)
		return 0;
	for (;;) {
		if (obj) {
			j_ws(c);
			if (j_string(c, NULL, 0))
				return -1;
			j_ws(c);
			if (scan_char(c, ':'))
				return -1;
		}
		if (j_skip(c, depth + 1))
			return -1;
		j_ws(c);
		if (scan_char(c, ',') == 0)
			continue;
		return scan_char(c, close);
	}
}

static int j_skip(struct scan *c, int depth)
{
	j_ws(c);
	if (c->p >= c->end || depth > JSON_MAX_DEPTH)
		return -1;
	if (*c->p == '"')
		return j_string(c, NULL, 0);
	if (*c->p == '{' || *c->p == '[')
		return j_skip_container(c, depth, *c->p++ == '{');
	/* number, true, false, null */
	if (!(ascii_is_digit(*c->p) || *c->p == '-' ||
	      (*c->p >= 'a' && *c->p <= 'z')))
		return -1;
	while (c->p < c->end && *c->p != ',' && *c->p != '}' &&
	       *c->p != ']' && !j_is_ws(*c->p))
		c->p++;
	return 0;
}

/* An int64 written as a JSON number or, as OTLP/JSON does, a string. */
static int j_int(struct scan *c, int64_t *v)
{
	int quoted, neg = 0;
	int64_t x;

	j_ws(c);
	quoted = scan_char(c, '"') == 0;
	if (scan_char(c, '-') == 0)
		neg = 1;
	if (scan_digits(c, 1, 18, &x))
		return -1;
	if (quoted && scan_char(c, '"'))
		return -1;
	*v = neg ? -x : x;
	return 0;
}

/*
 * Walks the members of the object at c->p, calling fn for each key; fn
 * consumes the value (or returns 1 to have it skipped).
 */
static int j_object(struct scan *c,
		    int (*fn)(struct scan *c, const char *key, void *arg),
		    void *arg)
{
	char key[64];

	j_ws(c);
	if (scan_char(c, '{'))
		return -1;
	j_ws(c);
	if (scan_char(c, '}') == 0)
		return 0;
	for (;;) {
		int rc;

		j_ws(c);
		if (j_string(c, key, sizeof(key)))
			return -1;
		j_ws(c);
		if (scan_char(c, ':'))
			return -1;
		j_ws(c);
		rc = fn(c, key, arg);
		if (rc < 0)
			return -1;
		if (rc > 0 && j_skip(c, 1))
			return -1;
		j_ws(c);
		if (scan_char(c, ',') == 0)
			continue;
		return scan_char(c, '}');
	}
}

/* The proto3 JSON mapping accepts both spellings of a field name. */
static int j_key_is(const char *key, const char *camel, const char *snake)
{
	return strcmp(key, camel) == 0 || strcmp(key, snake) == 0;
}

struct j_partial {
	int64_t rejected;
	char *msg;
	size_t cap;
	int in_partial;
};

static int j_partial_member(struct scan *c, const char *key, void *arg)
{
	struct j_partial *ps = arg;

	if (!ps->in_partial) {
		if (!j_key_is(key, "partialSuccess", "partial_success"))
			return 1;
		ps->in_partial = 1;
		return j_object(c, j_partial_member, ps);
	}
	if (j_key_is(key, "rejectedSpans", "rejected_spans"))
		return j_int(c, &ps->rejected);
	if (j_key_is(key, "errorMessage", "error_message") && ps->cap)
		return j_string(c, ps->msg, ps->cap);
	return 1;
}

int otlp_response_json(const uint8_t *body, size_t len, int64_t *rejected,
		       char *msg, size_t cap)
{
	struct scan c = { (const char *)body, (const char *)body + len };
	struct j_partial ps = { 0, msg, cap, 0 };

	if (cap)
		msg[0] = '\0';
	*rejected = 0;
	if (j_object(&c, j_partial_member, &ps))
		return -EINVAL;
	j_ws(&c);
	if (c.p != c.end)
		return -EINVAL;
	*rejected = ps.rejected;
	return 0;
}

struct j_message {
	char *msg;
	size_t cap;
	int found;
};

static int j_message_member(struct scan *c, const char *key, void *arg)
{
	struct j_message *jm = arg;

	if (strcmp(key, "message") != 0 || jm->found)
		return 1;
	jm->found = 1;
	return j_string(c, jm->msg, jm->cap);
}

/* ------------------------------------------------------- error bodies */

size_t otlp_response_error(const uint8_t *body, size_t len, int json,
			   char *msg, size_t cap)
{
	if (cap == 0)
		return 0;
	msg[0] = '\0';
	if (len == 0)
		return 0;
	if (json) {
		struct scan c = { (const char *)body,
				  (const char *)body + len };
		struct j_message jm = { msg, cap, 0 };

		if (j_object(&c, j_message_member, &jm) == 0 && jm.found)
			return otlp_response_printable((const uint8_t *)msg,
						       strlen(msg), msg, cap);
	} else if (pb_status_message(body, len, msg, cap) == 0) {
		return strlen(msg);
	}
	/* Not what OTLP says (a proxy's HTML page, plain text): the start
	 * of it is still the best hint for whoever reads the log. */
	return otlp_response_printable(body, len < ERROR_PREFIX_MAX ? len :
				       ERROR_PREFIX_MAX, msg, cap);
}
