/*
 * The summariser (see sql_summary.h).  Runs on application threads: no
 * allocation, linear work.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sql_summary.h"
#include "utf8.h"

/* Appends " word" (or "word" first) if it fits; once a word does not,
 * nothing more is added so the summary stays in statement order. */
static int sum_put(struct sum *m, const char *s, size_t n)
{
	size_t need = n + (m->n > 0);

	if (m->full || m->buf == NULL)
		return 0;
	if (need > m->lim - m->n) {
		m->full = 1;
		return 0;
	}
	if (m->n > 0)
		m->buf[m->n++] = ' ';
	memcpy(m->buf + m->n, s, n);
	m->n += n;
	return 1;
}

static void op_begin(struct sum *m, const struct tok *t)
{
	struct sql_info *info = m->info;

	m->op_ok = sum_put(m, t->s, t->n);
	m->op_first = ++info->noperations == 1 &&
	              t->n < sizeof(info->operation);
	if (m->op_first) {
		memcpy(info->operation, t->s, t->n);
		info->operation[t->n] = 0;
	}
}

/* Adds an object word to the current operation: "CREATE" + "TABLE". */
static void op_more(struct sum *m, const struct tok *t)
{
	struct sql_info *info = m->info;
	size_t l;

	if (m->op_ok)
		m->op_ok = sum_put(m, t->s, t->n);
	if (!m->op_first)
		return;
	l = strlen(info->operation);
	if (l + 1 + t->n < sizeof(info->operation)) {
		info->operation[l] = ' ';
		memcpy(info->operation + l + 1, t->s, t->n);
		info->operation[l + 1 + t->n] = 0;
	} else {
		info->operation[0] = 0;         /* too long to report */
		m->op_first = 0;
	}
}

static int same_name(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++)
		if ((a[i] | 0x20) != (b[i] | 0x20))
			return 0;
	return 1;
}

static void tg_commit(struct sum *m)
{
	const char *s = m->tg_s, *name = s;
	size_t n = (size_t)(m->tg_e - m->tg_s);
	struct sql_info *info = m->info;
	size_t i;
	char tmp[256];
	size_t tn = 0;

	for (i = 0; i < (size_t)m->ncte; i++)
		if (same_name(s, n, m->cte_s[i], m->cte_n[i]))
			return;
	/* Quoted names may hold NULs and bytes that are not UTF-8: those
	 * are repaired into tmp; plain ASCII is used where it stands. */
	if (m->tg_plain && n <= sizeof(tmp) - 3) {
		tn = n;
	} else {
		name = tmp;
		for (i = 0; i < n && tn < sizeof(tmp) - 3; ) {
			int ok = s[i] != 0;
			size_t l = (uint8_t)s[i] < 0x80 ? 1
				   : utf8_next(s + i, n - i, &ok);

			if (!ok) {
				memcpy(tmp + tn, UTF8_REPLACEMENT, 3);
				tn += 3;
				i += l;
			} else if (tn + l <= sizeof(tmp) - 3) {
				memcpy(tmp + tn, s + i, l);
				tn += l;
				i += l;
			} else {
				break;
			}
		}
		if (i < n)
			tn = sizeof(tmp);       /* too long for any output */
	}
	if (tn <= SQL_SUMMARY_MAX)
		sum_put(m, name, tn);
	else if (m->buf != NULL)
		m->full = 1;
	if (m->tg != T_COLLECTION)
		return;
	info->ncollections++;
	if (info->ncollections == 1) {
		m->coll_ok = tn < sizeof(info->collection);
		if (m->coll_ok) {
			memcpy(info->collection, name, tn);
			info->collection[tn] = 0;
		}
	} else if (m->coll_ok) {
		m->coll_ok = strlen(info->collection) == tn &&
		             memcmp(info->collection, name, tn) == 0;
	}
}

static void tg_begin(struct sum *m, const struct tok *t, int kind, int fn)
{
	m->tg = kind;
	m->tg_fn = fn;
	m->tg_dot = 0;
	m->tg_plain = t->plain;
	m->tg_s = t->s;
	m->tg_e = t->s + t->n;
	if (t->kind == TK_STRING)       /* SQLite's 'quoted' table name */
		m->info->quoted_guesses++;
}

/* Feeds a token to a target being read.  Returns 1 if it was consumed
 * (part of a qualified name), 0 if the name is complete. */
static int tg_feed(struct sum *m, const struct tok *t)
{
	int adjacent = !m->gap;

	if (adjacent && !m->tg_dot && t->kind == TK_PUNCT && t->n == 1 &&
	    t->s[0] == '.') {
		m->tg_dot = 1;
		return 1;
	}
	if (adjacent && m->tg_dot &&
	    (t->kind == TK_WORD || t->kind == TK_QIDENT)) {
		m->tg_e = t->s + t->n;
		m->tg_dot = 0;
		m->tg_plain &= t->plain;
		return 1;
	}
	if (!(m->tg_fn && t->c == '('))
		tg_commit(m);
	m->tg = 0;
	return 0;
}

static int is_name(const struct sum *m, const struct tok *t)
{
	if (t->kind == TK_QIDENT)
		return 1;
	if (t->kind == TK_STRING && t->sq && (m->flags & SQL_SQLITE) &&
	    m->kind != ST_COPY)
		return 1;
	return t->kind == TK_WORD;
}

static void stmt_reset(struct sum *m)
{
	m->at_start = 1;
	m->kind = ST_NONE;
	m->ops = 0;
	m->explain = 0;
	m->prepare = 0;
	m->ddl = 0;
	m->ddl_index = 0;
	m->ddl_note = 0;
	m->skip_paren = 0;
	m->depth = 0;
	m->query[0] = 0;
	m->from[0] = F_NONE;
	m->single = 0;
	m->skip_word = 0;
	m->tg = 0;
	m->cte = CTE_NONE;
	m->ncte = 0;
	m->pkind = 0;
	m->pkw = 0;
	m->pc = 0;
}

/* The first word of a statement decides what kind it is. */
static void sum_verb(struct sum *m, const struct tok *t)
{
	m->at_start = 0;
	switch (t->kw) {
	case KW_SELECT:
	case KW_INSERT:
	case KW_UPDATE:
	case KW_DELETE:
	case KW_MERGE:
	case KW_REPLACE:
		m->kind = ST_DML;
		m->ops = 1;
		op_begin(m, t);
		m->query[m->depth < SUM_DEPTH ? m->depth : 0] = 1;
		if (t->kw == KW_UPDATE) {
			m->single = T_COLLECTION;
			m->single_fn = 0;
		}
		return;
	case KW_WITH:
		m->kind = ST_DML;
		m->ops = 1;
		m->cte = CTE_NAME;
		m->cte_depth = m->depth;
		return;
	case KW_VALUES:
	case KW_DECLARE:
		m->kind = ST_DML;
		m->ops = 1;
		if (t->kw == KW_DECLARE)
			op_begin(m, t);
		return;
	case KW_CREATE:
	case KW_ALTER:
	case KW_REINDEX:
	case KW_REFRESH:
	case KW_COMMENT:
		m->kind = ST_DDL;
		break;
	case KW_DROP:
	case KW_TRUNCATE:
	case KW_VACUUM:
	case KW_ANALYZE:
	case KW_ANALYSE:
	case KW_CLUSTER:
	case KW_LOCK:
		m->kind = ST_LIST;
		break;
	case KW_COPY:
		m->kind = ST_COPY;
		m->ops = 1;
		m->single = T_COLLECTION;
		m->single_fn = 0;
		op_begin(m, t);
		return;
	case KW_EXPLAIN:
		m->explain = 1;
		m->at_start = 1;
		op_begin(m, t);
		return;
	case KW_PREPARE:
		m->kind = ST_OTHER;
		m->prepare = 1;
		op_begin(m, t);
		return;
	case KW_CALL:
	case KW_PRAGMA:
		m->kind = ST_OTHER;
		m->single = T_NOTE;
		m->single_fn = 0;
		op_begin(m, t);
		return;
	default:
		m->kind = ST_OTHER;
		/* A word holding bytes that are not UTF-8 names no
		 * operation. */
		if (t->kind == TK_WORD && t->n < 32 &&
		    (t->plain || utf8_clean(t->s, t->n)))
			op_begin(m, t);
		return;
	}
	op_begin(m, t);
	m->ddl = 1;
}

/* Words between CREATE/DROP/... and the object's name.  Returns 0 if the
 * token ends that part without being the name. */
static int sum_ddl_word(struct sum *m, const struct tok *t)
{
	uint8_t f = sql_kwtab[t->kw].flags;

	if (t->kw == KW_ON && m->ddl_index) {
		/* CREATE INDEX [name] ON table */
		m->ddl = 0;
		m->ddl_index = 0;
		m->single = T_COLLECTION;
		m->single_fn = 0;
		return 1;
	}
	if (f & KF_OBJ) {
		op_more(m, t);
		switch (t->kw) {
		case KW_INDEX:
			m->ddl_index = m->kind == ST_DDL;
			break;
		case KW_TABLE:
		case KW_VIEW:
		case KW_SEQUENCE:
		case KW_MATERIALIZED:
		case KW_FOREIGN:
		case KW_VIRTUAL:
			break;
		default:
			/* Functions, schemas, roles ...: named in the
			 * summary, but they are not collections. */
			m->ddl_note = 1;
			break;
		}
		return 1;
	}
	if (f & (KF_MOD | KF_SKIP))
		return 1;
	if (m->ddl_index)
		return 1;       /* the index's own name */
	m->ddl = 0;
	if (!is_name(m, t))
		return 0;
	tg_begin(m, t, m->ddl_note ? T_NOTE : T_COLLECTION, 0);
	if (m->kind == ST_LIST)
		m->from[0] = F_AFTER;   /* DROP TABLE a, b */
	return 1;
}

static void sum_word(struct sum *m, const struct tok *t)
{
	int d = m->depth < SUM_DEPTH ? m->depth : -1;
	uint8_t kw = t->kw;
	int q = d >= 0 && m->query[d];

	if (m->ddl && sum_ddl_word(m, t))
		return;
	if (m->single) {
		if (m->skip_word) {
			m->skip_word = 0;
			return;
		}
		if (kw == KW_OR) {
			m->skip_word = 1;
			return;
		}
		if (sql_kwtab[kw].flags & KF_SKIP)
			return;
		if (is_name(m, t)) {
			tg_begin(m, t, m->single, m->single_fn);
			m->single = 0;
			return;
		}
		m->single = 0;
	}
	if (d >= 0 && m->from[d] == F_EXPECT) {
		if (kw == KW_ONLY || kw == KW_LATERAL)
			return;
		m->from[d] = F_AFTER;
		if (is_name(m, t) && !(sql_kwtab[kw].flags & KF_CLAUSE)) {
			tg_begin(m, t, T_COLLECTION, 1);
			return;
		}
	}
	if (m->cte == CTE_NAME && m->depth == m->cte_depth) {
		if (kw == KW_RECURSIVE || !is_name(m, t))
			return;
		if (m->ncte < SUM_CTES) {
			m->cte_s[m->ncte] = t->s;
			m->cte_n[m->ncte] = t->n;
			m->ncte++;
		}
		m->cte = CTE_COLS;
		return;
	}
	if (m->cte == CTE_COLS && m->depth == m->cte_depth && kw == KW_AS) {
		m->cte = CTE_AS;
		return;
	}
	if (m->cte == CTE_NEXT && m->depth == m->cte_depth)
		m->cte = CTE_NONE;
	if (t->kind != TK_WORD)
		return;
	if (d >= 0 && (sql_kwtab[kw].flags & KF_CLAUSE) && m->from[d] != F_NONE)
		m->from[d] = F_NONE;

	switch (kw) {
	case KW_SELECT:
		if (!m->ops || m->pkw == KW_ON)
			return;
		op_begin(m, t);
		if (d >= 0)
			m->query[d] = 1;
		return;
	case KW_INSERT:
	case KW_UPDATE:
	case KW_DELETE:
	case KW_MERGE:
		if (!m->ops || m->pkind != TK_PUNCT ||
		    (m->pc != '(' && m->pc != ')'))
			return;
		op_begin(m, t);
		if (d >= 0)
			m->query[d] = 1;
		if (kw == KW_UPDATE) {
			m->single = T_COLLECTION;
			m->single_fn = 0;
		}
		return;
	case KW_FROM:
		if (q && m->pkw != KW_DISTINCT)
			m->from[d] = F_EXPECT;
		return;
	case KW_JOIN:
		if (q)
			m->from[d] = F_EXPECT;
		return;
	case KW_INTO:
		if (q) {
			m->single = T_COLLECTION;
			m->single_fn = 0;
		}
		return;
	case KW_USING:
		if (q) {
			m->single = T_COLLECTION;
			m->single_fn = 1;
		}
		return;
	case KW_WITH:
		if (m->ops) {
			m->cte = CTE_NAME;
			m->cte_depth = m->depth;
		}
		return;
	case KW_AS:
		if (m->prepare && m->depth == 0) {
			m->prepare = 0;
			m->at_start = 1;
		} else if (m->kind == ST_DDL && m->depth == 0) {
			m->ops = 1;
		}
		return;
	default:
		return;
	}
}

static inline void sum_punct(struct sum *m, const struct tok *t)
{
	char c = t->c;
	int d = m->depth < SUM_DEPTH ? m->depth : -1;

	if (c == '(') {
		if (d >= 0 && m->from[d] == F_EXPECT)
			m->from[d] = F_AFTER;
		if (m->cte == CTE_AS && m->depth == m->cte_depth)
			m->cte = CTE_BODY;
		m->single = 0;
		m->ddl = 0;
		m->depth++;
		if (m->depth < SUM_DEPTH) {
			m->query[m->depth] = 0;
			m->from[m->depth] = F_NONE;
		}
	} else if (c == ')') {
		if (m->depth > 0)
			m->depth--;
		if (m->cte == CTE_BODY && m->depth == m->cte_depth)
			m->cte = CTE_NEXT;
	} else if (c == ',') {
		if (d >= 0 && m->from[d] == F_AFTER)
			m->from[d] = F_EXPECT;
		if (m->cte == CTE_NEXT && m->depth == m->cte_depth)
			m->cte = CTE_NAME;
		m->single = 0;
	} else {
		m->single = 0;
	}
}

/*
 * The common case: no name is being read, nothing special is expected,
 * and the token is punctuation, a literal or a name that is no keyword.
 * Returns 0 for a token it does not handle.
 */
static int sum_quiet(struct sum *m, const struct tok *t)
{
	if (t->kind == TK_PUNCT) {
		sum_punct(m, t);
		return 1;
	}
	if (m->depth < SUM_DEPTH && m->from[m->depth] == F_EXPECT)
		return 0;
	return t->kind != TK_WORD || t->kw == KW_NONE;
}

static void sum_token(struct sum *m, const struct tok *t)
{
	struct sql_info *info = m->info;

	if (t->kind == TK_SPACE || t->kind == TK_COMMENT) {
		m->gap = 1;
		return;
	}
	if (t->gap)
		m->gap = 1;
	if (t->c == ';') {
		if (m->tg)
			tg_feed(m, t);
		stmt_reset(m);
		m->gap = 0;
		return;
	}
	if (m->pkind == 0)
		info->nstatements++;
	if (!(m->tg | m->skip_paren | m->at_start | m->ddl | m->single |
	      m->cte) && sum_quiet(m, t))
		goto prev;
	if (m->tg && tg_feed(m, t))
		goto prev;
	if (m->skip_paren) {
		if (t->c == '(')
			m->skip_paren++;
		else if (t->c == ')')
			m->skip_paren--;
		goto prev;
	}
	if (m->at_start) {
		if (t->kind == TK_WORD && m->explain &&
		    (sql_kwtab[t->kw].flags & KF_MOD))
			goto prev;
		if (t->c == '(' && m->explain) {
			m->skip_paren = 1;
			goto prev;
		}
		if (t->kind == TK_WORD) {
			sum_verb(m, t);
			goto prev;
		}
		m->at_start = 0;
		m->kind = ST_DML;
		m->ops = 1;
	}
	if (m->ddl && t->c == '(' &&
	    m->kind == ST_LIST) {
		m->skip_paren = 1;      /* VACUUM (options) */
		goto prev;
	}
	if (t->kind == TK_PUNCT)
		sum_punct(m, t);
	else
		sum_word(m, t);
prev:
	m->gap = 0;
	m->pkind = t->kind;
	m->pkw = t->kw;
	m->pc = t->c;
}

void sql_sum_tokens(struct sum *m, const struct tok *t, size_t k)
{
	size_t i;

	for (i = 0; i < k; i++)
		sum_token(m, &t[i]);
}

void sql_sum_init(struct sum *m, char *buf, size_t cap, unsigned flags,
		  struct sql_info *info)
{
	memset(m, 0, offsetof(struct sum, query));
	m->info = info;
	m->flags = flags;
	if (buf != NULL && cap > 0) {
		m->buf = buf;
		m->lim = cap - 1 < SQL_SUMMARY_MAX ? cap - 1 : SQL_SUMMARY_MAX;
	}
	stmt_reset(m);
}

void sql_sum_finish(struct sum *m)
{
	struct sql_info *info = m->info;

	if (m->tg)
		tg_commit(m);
	if (m->buf != NULL)
		m->buf[m->n] = 0;
	info->summary_len = (unsigned)m->n;
	if (m->full)
		info->truncated |= SQL_TRUNC_SUMMARY;
	if (info->noperations != 1)
		info->operation[0] = 0;
	if (!m->coll_ok)
		info->collection[0] = 0;
	info->operation_len = (unsigned)strlen(info->operation);
	info->collection_len = (unsigned)strlen(info->collection);
}
