/*
 * Remembered analyses by statement shape (see sql_memo.h): a small
 * direct-mapped table indexed by a hash of the shape.  A hit costs the
 * lexer's pass to find the shape, a hash and a compare, about a third of
 * the analysis; a statement whose shape is not remembered pays that on
 * top of its analysis.  The shapes hit last are first held against the
 * statement as it stands (sql_shape_match): a program that runs one
 * statement over and over with other values, the common case, then pays
 * a compare and the lexing of its literals, not the lexer's whole pass.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "sql_memo.h"

#define MEMO_BITS 6

/*
 * Misses in a row after which the shape is worked out for one statement
 * in SKIP_EVERY only: a program whose statements seldom repeat (IN lists
 * of ever other lengths, more shapes than the table holds) pays a share
 * of the shape's cost, not all of it, on top of every analysis.  A hit
 * ends the run.
 */
#define MISS_RUN 16
#define SKIP_EVERY 8

struct memo {
	/*
	 * The hash of the shape with the dialect, never 0; 0 while the
	 * entry is written.  Stored last with release, so that a forked
	 * child, whose copy may have caught an entry half written, finds
	 * it either empty or whole.
	 */
	_Atomic uint64_t key;
	uint16_t shape_len;
	uint16_t text_len;
	uint8_t bare;                   /* the shape has no marker */
	uint8_t dialect;                /* the key's: SQL_POSTGRES, SQL_SQLITE */
	char shape[SQL_MEMO_SHAPE_MAX];
	struct sql_shape_plan plan;     /* for recent_match() */
	char text[SQL_MEMO_TEXT_MAX];
	char summary[SQL_SUMMARY_MAX + 1];
	struct sql_info info;
};

static struct memo memo[1u << MEMO_BITS];
static unsigned misses, skipped;

/* The entries with a marker hit last, most recent first (indexes into
 * memo). */
#define RECENT 2
static uint8_t recent[RECENT];

/*
 * How many entries hold a bare shape (no marker) of each length.  The
 * text is looked up as it stands (sql_memo_find) only at a length some
 * entry has: a statement with a literal in it, nearly every other one,
 * is then not hashed twice, once only to miss.  A hint: a count gone
 * wrong (a child forked while an entry was being written) costs a probe
 * that misses, or a lex that finds the entry by its shape all the same.
 */
static uint8_t bare_lens[SQL_MEMO_SHAPE_MAX + 1];

static inline uint64_t load64(const char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

static inline uint64_t load32(const char *p)
{
	uint32_t w;

	memcpy(&w, p, 4);
	return w;
}

/*
 * Sixteen bytes a round, two multiplications side by side: statements are
 * short and mostly ASCII, so this is about as fast as reading them.  The
 * last bytes are read as the word that ends with them, its bytes already
 * hashed shifted out, so that nothing outside (p, len) is read and no
 * copy of a few bytes is made.  A function of the bytes alone: the text
 * and a shape equal to it hash the same.
 */
static uint64_t shape_hash(const char *p, size_t len, unsigned dialect)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL, k2 = 0xc2b2ae3d27d4eb4fULL;
	uint64_t h = (len << 1 | dialect) * k, w;
	size_t n = len;

	for (; n >= 16; p += 16, n -= 16) {
		h = ((h ^ load64(p)) * k) ^ (load64(p + 8) * k2);
		h ^= h >> 29;
	}
	if (n >= 8) {
		h = (h ^ load64(p)) * k;
		h ^= h >> 29;
		p += 8;
		n -= 8;
	}
	if (n) {
		if (len >= 8)
			w = load64(p + n - 8) >> (64 - 8 * n);
		else if (n >= 4)
			w = load32(p) | load32(p + n - 4) << 32;
		else
			w = (uint8_t)p[0] | (uint64_t)(uint8_t)p[n / 2] << 8 |
			    (uint64_t)(uint8_t)p[n - 1] << 16;
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	return h | 1;   /* never the empty key */
}

static struct memo *slot_of(uint64_t hash)
{
	return &memo[(hash >> 32) & ((1u << MEMO_BITS) - 1)];
}

/* The entry kept under hash for shape (len bytes), if any. */
static struct memo *lookup(uint64_t hash, const char *shape, size_t len)
{
	struct memo *m = slot_of(hash);

	if (atomic_load_explicit(&m->key, memory_order_acquire) != hash ||
	    m->shape_len != len || memcmp(m->shape, shape, len) != 0)
		return NULL;
	return m;
}

/* m, a hit: first of the recent ones, if it has a marker (a bare entry
 * is found as the statement stands, never by recent_match()). */
static void note_hit(const struct memo *m)
{
	uint8_t i = (uint8_t)(m - memo);

	if (!m->bare && recent[0] != i) {
		recent[1] = recent[0];
		recent[0] = i;
	}
}

/* A recent entry with a marker whose shape sql has, if any. */
static struct memo *recent_match(const char *sql, size_t len,
				 unsigned dialect)
{
	for (size_t i = 0; i < RECENT; i++) {
		struct memo *m = &memo[recent[i]];

		if (atomic_load_explicit(&m->key, memory_order_acquire) != 0 &&
		    !m->bare && m->dialect == dialect &&
		    sql_shape_match(sql, len, m->shape, m->shape_len,
				    &m->plan))
			return m;
	}
	return NULL;
}

int sql_memo_find(const char *sql, size_t len, unsigned dialect,
		  struct sql_memo_key *key, struct sql_memo_entry *hit)
{
	struct memo *m = NULL;
	uint64_t bare_hash = 0;

	key->hash = 0;
	key->dialect = dialect;
	if (misses >= MISS_RUN && ++skipped % SKIP_EVERY != 0)
		return 0;
	/* A statement without literals and comments (placeholders only) is
	 * its own shape: looked up as it stands, without lexing, when some
	 * entry is bare at its length.  A bare shape equal to it means the
	 * text has no marker byte either. */
	if (len <= SQL_MEMO_SHAPE_MAX && bare_lens[len]) {
		bare_hash = shape_hash(sql, len, dialect);
		m = lookup(bare_hash, sql, len);
		if (m != NULL && !m->bare)
			m = NULL;
	}
	if (m == NULL)
		m = recent_match(sql, len, dialect);
	if (m == NULL) {
		key->len = sql_shape(sql, len, key->shape, sizeof(key->shape));
		if (key->len > 0)
			key->hash = shape_hash(key->shape, key->len, dialect);
		/* The same hash: the same text, looked up above. */
		if (key->hash != 0 && key->hash != bare_hash)
			m = lookup(key->hash, key->shape, key->len);
	}
	if (m == NULL) {
		misses += misses < MISS_RUN;
		return 0;
	}
	misses = 0;
	note_hit(m);
	hit->text = m->text;
	hit->len = m->text_len;
	hit->summary = m->summary;
	hit->info = &m->info;
	return 1;
}

void sql_memo_keep(const struct sql_memo_key *key, const char *text,
		   size_t tlen, const char *summary,
		   const struct sql_info *info)
{
	struct memo *m;

	if (key->hash == 0 || tlen > SQL_MEMO_TEXT_MAX || info->truncated ||
	    info->summary_len > SQL_SUMMARY_MAX || info->quoted_guesses)
		return;
	m = slot_of(key->hash);
	if (atomic_load_explicit(&m->key, memory_order_relaxed) != 0 &&
	    m->bare && m->shape_len <= SQL_MEMO_SHAPE_MAX &&
	    bare_lens[m->shape_len] > 0)
		bare_lens[m->shape_len]--;
	atomic_store_explicit(&m->key, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	m->shape_len = (uint16_t)key->len;
	memcpy(m->shape, key->shape, key->len);
	m->bare = memchr(key->shape, SQL_SHAPE_MARK, key->len) == NULL;
	if (!m->bare)
		sql_shape_plan(key->shape, key->len, &m->plan);
	m->dialect = (uint8_t)key->dialect;
	if (m->bare)
		bare_lens[key->len]++;
	m->text_len = (uint16_t)tlen;
	memcpy(m->text, text, tlen);
	memcpy(m->summary, summary, info->summary_len);
	m->info = *info;
	atomic_store_explicit(&m->key, key->hash, memory_order_release);
}
