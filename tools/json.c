/*
 * The JSON reader (see json.h): recursive descent over the text, nodes
 * and decoded strings allocated from an arena freed in one go.  Nesting is
 * limited so hostile input cannot exhaust the stack.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "common/utf8.h"
#include "json.h"

#define MAX_DEPTH 64

struct block {
	struct block *next;
	size_t used, cap;
	char data[];
};

struct json_arena {
	struct block *head;
};

struct parser {
	struct json_arena *a;
	const char *p, *end;
	int depth;
};

struct json_arena *json_arena_new(void)
{
	return calloc(1, sizeof(struct json_arena));
}

void json_arena_free(struct json_arena *a)
{
	if (!a)
		return;
	while (a->head) {
		struct block *b = a->head;

		a->head = b->next;
		free(b);
	}
	free(a);
}

static void *arena_alloc(struct json_arena *a, size_t n)
{
	struct block *b = a->head;

	n = (n + 15) & ~(size_t)15;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static struct json *node(struct parser *ps, enum json_type t)
{
	struct json *j = arena_alloc(ps->a, sizeof(*j));

	if (j) {
		memset(j, 0, sizeof(*j));
		j->type = t;
	}
	return j;
}

/* Four hex digits of a \u escape. */
static int hex4(const char *p, unsigned *out)
{
	uint8_t b[2];

	if (hex_decode(p, b, 2) < 0)
		return -1;
	*out = (unsigned)b[0] << 8 | b[1];
	return 0;
}

/* Parses a string literal at ps->p (the opening quote). */
static const char *parse_string(struct parser *ps)
{
	const char *start = ++ps->p;
	char *out, *o;

	while (ps->p < ps->end && *ps->p != '"') {
		if (*ps->p == '\\')
			ps->p++;
		ps->p++;
	}
	if (ps->p >= ps->end)
		return NULL;
	/* Decoding never makes the text longer. */
	out = arena_alloc(ps->a, (size_t)(ps->p - start) + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *s = start; s < ps->p; s++) {
		unsigned cp, lo;

		if (*s != '\\') {
			*o++ = *s;
			continue;
		}
		s++;
		switch (*s) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u':
			if (ps->p - s < 5 || hex4(s + 1, &cp))
				return NULL;
			s += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && ps->p - s >= 7 &&
			    s[1] == '\\' && s[2] == 'u' && !hex4(s + 3, &lo) &&
			    lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) +
				     (lo - 0xDC00);
				s += 6;
			}
			o += utf8_encode(cp, o);
			break;
		default:
			*o++ = *s;
		}
	}
	*o = 0;
	ps->p++;
	return out;
}

static struct json *parse_value(struct parser *ps);

static struct json *parse_container(struct parser *ps, int object)
{
	struct json *j = node(ps, object ? JSON_OBJECT : JSON_ARRAY);
	struct json **tail;
	char close = object ? '}' : ']';

	if (!j || ++ps->depth > MAX_DEPTH)
		return NULL;
	tail = &j->child;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return j;
	}
	for (;;) {
		const char *key = NULL;
		struct json *v;

		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"')
				return NULL;
			key = parse_string(ps);
			skip_ws(ps);
			if (!key || ps->p >= ps->end || *ps->p != ':')
				return NULL;
			ps->p++;
		}
		v = parse_value(ps);
		if (!v)
			return NULL;
		v->key = key;
		*tail = v;
		tail = &v->next;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return j;
		}
		return NULL;
	}
}

static int match(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return 0;
	ps->p += n;
	return 1;
}

static struct json *parse_value(struct parser *ps)
{
	struct json *j;
	const char *start;
	char *num;

	skip_ws(ps);
	if (ps->p >= ps->end)
		return NULL;
	switch (*ps->p) {
	case '{':
		return parse_container(ps, 1);
	case '[':
		return parse_container(ps, 0);
	case '"':
		j = node(ps, JSON_STRING);
		if (j && !(j->str = parse_string(ps)))
			return NULL;
		return j;
	case 't':
	case 'f':
		j = node(ps, JSON_BOOL);
		if (!j)
			return NULL;
		j->boolean = *ps->p == 't';
		return match(ps, j->boolean ? "true" : "false") ? j : NULL;
	case 'n':
		j = node(ps, JSON_NULL);
		return j && match(ps, "null") ? j : NULL;
	}
	start = ps->p;
	while (ps->p < ps->end && strchr("+-0123456789.eE", *ps->p))
		ps->p++;
	if (ps->p == start)
		return NULL;
	j = node(ps, JSON_NUMBER);
	num = arena_alloc(ps->a, (size_t)(ps->p - start) + 1);
	if (!j || !num)
		return NULL;
	memcpy(num, start, (size_t)(ps->p - start));
	num[ps->p - start] = 0;
	j->str = num;
	return j;
}

struct json *json_parse(struct json_arena *a, const char *text, size_t len)
{
	struct parser ps = { .a = a, .p = text, .end = text + len };
	struct json *j = parse_value(&ps);

	skip_ws(&ps);
	return j && ps.p == ps.end ? j : NULL;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json *m = obj->child; m; m = m->next)
		if (!strcmp(m->key, key))
			return m;
	return NULL;
}

const char *json_str(const struct json *obj, const char *key,
		     const char *def)
{
	const struct json *v = json_get(obj, key);

	if (v && (v->type == JSON_STRING || v->type == JSON_NUMBER))
		return v->str;
	return def;
}
