/*
 * A small JSON reader for the otelshim command: parses one document into a
 * tree held in an arena, enough to read the OTLP/JSON lines the file
 * exporter writes.  Numbers are kept as their text, so 64-bit values (and
 * OTLP/JSON's quoted ones) lose nothing.
 */
#ifndef OTELSHIM_TOOLS_JSON_H
#define OTELSHIM_TOOLS_JSON_H

#include <stddef.h>

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json {
	enum json_type type;
	const char *str;        /* STRING: decoded text; NUMBER: its text */
	int boolean;
	const char *key;        /* set on members of an object */
	struct json *child;     /* first element or member */
	struct json *next;      /* next sibling */
};

struct json_arena;

struct json_arena *json_arena_new(void);
void json_arena_free(struct json_arena *a);

/* Parses text[0..len); NULL if it is not one valid JSON value. */
struct json *json_parse(struct json_arena *a, const char *text, size_t len);

/* Member of an object by key; NULL if absent or not an object. */
const struct json *json_get(const struct json *obj, const char *key);

/* The string (or number text) at obj.key, or def. */
const char *json_str(const struct json *obj, const char *key,
		     const char *def);

#endif
