/*
 * Inside config_load, which runs in the library constructor: the row of
 * the settings table (one per setting: its variable, its field, its kind
 * of value, its default and bounds), the value a row reads, and what the
 * loader offers every kind — warnings put together without stdio and the
 * one arena the kept strings live in.  Private to config.c (the table
 * and the loader), config_scalars.c and config_lists.c (the kinds).
 */
#ifndef OTELSHIM_CONFIG_ROW_H
#define OTELSHIM_CONFIG_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "common/text.h"
#include "config.h"

/* Where the value a row reads comes from. */
enum config_source {
	CONFIG_SRC_DEFAULT,     /* the row's default, a string literal */
	CONFIG_SRC_OWN,         /* the row's own variable */
	CONFIG_SRC_GENERIC,     /* its generic variable, the own one unset */
};

struct config_value {
	const char *name;       /* the variable, for warnings */
	const char *raw;        /* as the environment spells it */
	struct str s;           /* raw without blanks at either end */
	enum config_source src;
};

struct config_loader;
struct config_row;

/*
 * How one kind of value is read into a row's field: 0 when v was taken,
 * else -EINVAL (refused, and warned about) or -ENOMEM (no room to keep
 * it); then the row's default is read instead.
 */
struct config_kind {
	int (*read)(struct config_loader *ld, const struct config_row *row,
		    struct config_value v);
	unsigned flags;
};

#define CONFIG_KIND_KEEPS 1u    /* keeps (part of) the value in the arena */
#define CONFIG_KIND_RAW 2u      /* only an empty value is unset, blanks are
				   kept: file names and the service name */

/* One word an enumerated setting allows, and the value it stands for. */
struct config_word {
	const char *word;       /* lowercase, matched ignoring case */
	int value;              /* or CONFIG_UNSUPPORTED */
};

/* A word the specification knows that we do not implement. */
#define CONFIG_UNSUPPORTED (-1)

/*
 * One setting.  A per-signal variable (OTEL_EXPORTER_OTLP_TRACES_...,
 * OTEL_SPAN_...) names the generic one it wins over; the generic one is
 * read only when the own one is unset.
 */
struct config_row {
	const char *name;
	const char *generic;    /* or NULL */
	const struct config_kind *kind;
	size_t at;              /* offsetof the field in struct config */
	size_t count_at;        /* lists: offsetof their count */
	/* The default as the environment would spell it, read like a value
	 * from there; it also ends the warnings ("; using <def>").  NULL:
	 * none, the field stays zero. */
	const char *def;
	const char *what;       /* how a refused value is described */
	const struct config_word *words;        /* ends with a NULL word */
	uint32_t min, max;      /* numbers: bounds; lists: most members */
	const char *path;       /* URLs: appended to the generic variable's */
	/* Reads instead of kind->read, for the few rules of one setting;
	 * it calls kind->read itself. */
	int (*hook)(struct config_loader *ld, const struct config_row *row,
		    struct config_value v);
};

/* The arena, opened at the first string kept. */
enum config_arena {
	CONFIG_ARENA_UNOPENED,
	CONFIG_ARENA_OPEN,
	CONFIG_ARENA_FAILED,
};

/* One config_load call. */
struct config_loader {
	struct config *cfg;
	void (*warn)(const char *msg);
	int quiet;                      /* OTEL_LOG_LEVEL below warn */
	const char *(*val)[2];          /* per row: own, generic; from envp */
	enum config_arena arena_state;
	char *arena;
	size_t used, cap;               /* cap: what the kept values need */
	struct config_value cur;        /* the value being read, for keys */
	struct str warned;              /* CONFIG_WARNED_VAR from envp */
	unsigned n_warned;              /* keys in cfg->warned_env */
};

static inline void *config_field(struct config_loader *ld,
				 const struct config_row *row)
{
	return (char *)ld->cfg + row->at;
}

/* The word of words that s is (ignoring case), or NULL. */
const struct config_word *config_word(const struct config_word *words,
				      struct str s);

/* A warning line being put together; silently cut when full. */
struct config_msg {
	char buf[384];
	size_t n;
};

void config_msg_str(struct config_msg *m, const char *s);
void config_msg_u32(struct config_msg *m, uint32_t v);
/* A value from the environment in double quotes, cut at 64 bytes, with
 * anything unprintable replaced.  Never a header value: a credential. */
void config_msg_quoted(struct config_msg *m, struct str s);
void config_emit(struct config_loader *ld, const struct config_msg *m);

/* "<name>=\"<value>\" <what>; using <fallback>" */
void config_warn_value(struct config_loader *ld, const char *name,
		       struct str s, const char *what, const char *fallback);
/* "<name> <text>", for values that must not be shown. */
void config_warn_text(struct config_loader *ld, const char *name,
		      const char *text);
/* "<name>: member <n> <why>; <then>", for the key=value lists. */
void config_warn_member(struct config_loader *ld, const char *name,
			uint32_t member, const char *why, const char *then);

/* n bytes of the arena, or NULL (out of memory, warned about once). */
char *config_alloc(struct config_loader *ld, size_t n);
/* s copied into the arena, NUL-terminated; or NULL. */
const char *config_keep(struct config_loader *ld, struct str s);

/* The kinds of single values (config_scalars.c). */
extern const struct config_kind config_kind_word;
extern const struct config_kind config_kind_number;
extern const struct config_kind config_kind_ratio;
extern const struct config_kind config_kind_text;       /* file names */
extern const struct config_kind config_kind_utf8;
extern const struct config_kind config_kind_url;
extern const struct config_kind config_kind_unsupported;

/* The kinds of comma-separated lists (config_lists.c). */
extern const struct config_kind config_kind_attrs;      /* k=v, decoded */
extern const struct config_kind config_kind_headers;
extern const struct config_kind config_kind_exporters;  /* first wins */
extern const struct config_kind config_kind_propagators;
extern const struct config_kind config_kind_word_set;   /* OR of words */

#endif
