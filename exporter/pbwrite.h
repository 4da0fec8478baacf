/*
 * A protobuf writer that fills its buffer from the end towards the start:
 * a message's fields are all written by the time its length prefix is
 * due, so nothing is measured twice and nested messages cost no more than
 * flat ones.  Fields are written in the reverse of their wire order: each
 * helper writes the value, then what precedes it on the wire.  Proto3
 * rules: a scalar, string or bytes field at its default is left out
 * (field_*), a oneof member is always written (*_field).  A run of
 * fields that fits a known bound can instead be written at a pointer,
 * room made once (room(), set_front()).  Exporter thread only.
 */
#ifndef OTELSHIM_PBWRITE_H
#define OTELSHIM_PBWRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The buffer fills from its end towards its start. */
struct writer {
	uint8_t *buf;
	size_t cap;
	size_t used;            /* bytes written, at buf + cap - used */
	int oom;
};

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* Replaces the buffer with one that has room for n more bytes. */
static __attribute__((noinline, unused)) int grow(struct writer *w, size_t n)
{
	size_t cap;
	uint8_t *nb;

	if (w->oom)
		return 0;
	cap = w->cap ? w->cap * 2 : 4096;
	while (cap - w->used < n)
		cap *= 2;
	nb = malloc(cap);
	if (!nb) {
		w->oom = 1;
		return 0;
	}
	if (w->used)
		memcpy(nb + cap - w->used, w->buf + w->cap - w->used,
		       w->used);
	free(w->buf);
	w->buf = nb;
	w->cap = cap;
	return 1;
}

/* The n bytes in front of what is written, now counted as written; NULL
 * when out of memory (w->oom then says so, and the output is void). */
static inline uint8_t *reserve(struct writer *w, size_t n)
{
	if (__builtin_expect(w->cap - w->used < n, 0) && !grow(w, n))
		return NULL;
	w->used += n;
	return w->buf + w->cap - w->used;
}

/*
 * The front of what is written, with room for n more bytes in front of
 * it, nothing counted: for a run of fields written back to front at a
 * pointer, without a check each, whose end set_front() then records.
 * NULL when out of memory.
 */
static inline uint8_t *room(struct writer *w, size_t n)
{
	if (__builtin_expect(w->cap - w->used < n, 0) && !grow(w, n))
		return NULL;
	return w->buf + w->cap - w->used;
}

/* What is written now starts at p (from room(), moved towards the start
 * of the buffer by what was written in front of it). */
static inline void set_front(struct writer *w, const uint8_t *p)
{
	w->used = (size_t)(w->buf + w->cap - p);
}

static inline void put(struct writer *w, const void *p, size_t n)
{
	uint8_t *d;

	if (n && (d = reserve(w, n)))
		memcpy(d, p, n);
}

/* Bytes the varint of v takes. */
static inline size_t varint_len(uint64_t v)
{
	/* Seven bits a byte, of the bits up to the highest set one. */
	return (size_t)(64 - __builtin_clzll(v | 1) + 6) / 7;
}

/* Writes the varint of v at d, front to back; returns the byte after it
 * (for fields written at a pointer, room() and otlp.c). */
static inline uint8_t *varint_at(uint8_t *d, uint64_t v)
{
	while (v >= 0x80) {
		*d++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*d++ = (uint8_t)v;
	return d;
}

/* The n low bytes of v, least significant first, at d; returns the byte
 * after them. */
static inline uint8_t *le_at(uint8_t *d, uint64_t v, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(d, &v, n);
#else
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)(v >> (8 * i));
#endif
	return d + n;
}

static inline void put_varint(struct writer *w, uint64_t v)
{
	uint8_t *d;

	if (v < 0x80) {         /* tags, small counts and lengths */
		if ((d = reserve(w, 1)))
			*d = (uint8_t)v;
		return;
	}
	if ((d = reserve(w, varint_len(v))))
		varint_at(d, v);
}

static inline void put_tag(struct writer *w, unsigned field, unsigned wire)
{
	put_varint(w, (uint64_t)field << 3 | wire);
}

/* The n low bytes of v, least significant first (fixed64). */
static inline void put_le(struct writer *w, uint64_t v, size_t n)
{
	uint8_t *d = reserve(w, n);

	if (d)
		le_at(d, v, n);
}

/*
 * Since the writer goes backwards, each helper writes the value, then
 * what precedes it on the wire.  The *_field helpers always write (a
 * oneof member is sent even at its default); the field_* ones leave a
 * field at its default out, as proto3 does.
 */
static inline void varint_field(struct writer *w, unsigned field, uint64_t v)
{
	put_varint(w, v);
	put_tag(w, field, WIRE_VARINT);
}

static inline void fixed64_field(struct writer *w, unsigned field, uint64_t v)
{
	put_le(w, v, 8);
	put_tag(w, field, WIRE_I64);
}

static inline void field_varint(struct writer *w, unsigned field, uint64_t v)
{
	if (v)
		varint_field(w, field, v);
}

/* int32 and enums: negative values go out sign-extended to 64 bits. */
static inline void field_int32(struct writer *w, unsigned field, int32_t v)
{
	field_varint(w, field, (uint64_t)(int64_t)v);
}

static inline void field_fixed64(struct writer *w, unsigned field, uint64_t v)
{
	if (v)
		fixed64_field(w, field, v);
}

/* The tag and length of a length-delimited field when both fit a byte
 * (fields 1-15, up to 127 bytes: nearly every one we write), in one
 * reservation with the n bytes after them; NULL otherwise, or when out of
 * memory (w->oom says which). */
static inline uint8_t *short_len(struct writer *w, unsigned field, size_t n)
{
	uint8_t *d;

	if (n >= 0x80 || field >= 16 || !(d = reserve(w, n + 2)))
		return NULL;
	d[0] = (uint8_t)(field << 3 | WIRE_LEN);
	d[1] = (uint8_t)n;
	return d + 2;
}

/* A length-delimited field, written even when empty. */
static inline void field_len(struct writer *w, unsigned field, const void *p,
		      size_t n)
{
	uint8_t *d = short_len(w, field, n);

	if (d) {
		memcpy(d, p, n);
		return;
	}
	if (w->oom)
		return;
	put(w, p, n);
	put_varint(w, n);
	put_tag(w, field, WIRE_LEN);
}

static inline void field_string(struct writer *w, unsigned field, const char *s)
{
	if (s && *s)
		field_len(w, field, s, strlen(s));
}

/* Closes a sub-message whose fields were written since `mark`: its tag
 * and length in one reservation (fields 1-15, all but the span flags). */
static inline void end_message(struct writer *w, unsigned field, size_t mark)
{
	size_t n = w->used - mark;
	uint8_t *d;

	if (field >= 16) {
		put_varint(w, n);
		put_tag(w, field, WIRE_LEN);
		return;
	}
	if (n < 0x80) {
		if ((d = reserve(w, 2))) {
			d[0] = (uint8_t)(field << 3 | WIRE_LEN);
			d[1] = (uint8_t)n;
		}
		return;
	}
	if ((d = reserve(w, 1 + varint_len(n)))) {
		d[0] = (uint8_t)(field << 3 | WIRE_LEN);
		varint_at(d + 1, n);
	}
}

#endif
