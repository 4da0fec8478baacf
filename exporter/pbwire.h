/*
 * Walking protobuf wire format by hand, for the few small messages read
 * back from a server that need no generated code (google.rpc.Status and
 * what it carries).  Bounded by the caller's end; a server is not trusted.
 * Any thread.
 */
#ifndef OTELSHIM_PBWIRE_H
#define OTELSHIM_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

/* A base-128 varint at *p (before end) into *v; 0, or -1 when cut short
 * or longer than 64 bits. */
static inline int pbwire_varint(const uint8_t **p, const uint8_t *end,
				uint64_t *v)
{
	int shift = 0;

	*v = 0;
	do {
		if (*p >= end || shift > 63)
			return -1;
		*v |= (uint64_t)(**p & 0x7f) << shift;
		shift += 7;
	} while (*(*p)++ & 0x80);
	return 0;
}

/* One field of a message. */
struct pbwire_field {
	uint64_t number;
	unsigned wire;          /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
	uint64_t value;         /* varint and fixed: the value */
	const uint8_t *bytes;   /* wire 2: the bytes, value of them */
};

/* Reads the field at *p into *f and moves past it: 1, 0 at end, -1 when
 * the bytes are not a message. */
static inline int pbwire_next(const uint8_t **p, const uint8_t *end,
			      struct pbwire_field *f)
{
	uint64_t tag;

	if (*p >= end)
		return 0;
	if (pbwire_varint(p, end, &tag))
		return -1;
	f->number = tag >> 3;
	f->wire = (unsigned)(tag & 7);
	f->bytes = NULL;
	switch (f->wire) {
	case 0:
		return pbwire_varint(p, end, &f->value) ? -1 : 1;
	case 1:
	case 5: {
		size_t n = f->wire == 1 ? 8 : 4;

		if ((size_t)(end - *p) < n)
			return -1;
		f->value = 0;
		for (size_t i = n; i-- > 0;)
			f->value = (f->value << 8) | (*p)[i];
		*p += n;
		return 1;
	}
	case 2:
		if (pbwire_varint(p, end, &f->value) ||
		    f->value > (uint64_t)(end - *p))
			return -1;
		f->bytes = *p;
		*p += f->value;
		return 1;
	default:
		return -1;
	}
}

#endif
