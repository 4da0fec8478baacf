/*
 * Remembered analyses of literal-free statements (see sql_memo.h): a
 * small direct-mapped table indexed by a hash of the text.  A hit costs a
 * hash and a compare, about 2 instructions per byte, where the analysis
 * costs 50 or more.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "sql_memo.h"

#define MEMO_BITS 6

struct memo {
	/*
	 * The hash of the text with the dialect, never 0; 0 while the entry
	 * is written.  Stored last with release, so that a forked child,
	 * whose copy may have caught an entry half written, finds it either
	 * empty or whole.
	 */
	_Atomic uint64_t key;
	uint16_t len;
	char text[SQL_MEMO_TEXT_MAX];
	char summary[SQL_SUMMARY_MAX + 1];
	struct sql_info info;
};

static struct memo memo[1u << MEMO_BITS];

/* A word at a time: statements are short and mostly ASCII, so this is
 * about as fast as reading them. */
static uint64_t text_hash(const char *p, size_t len, unsigned dialect)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL;
	uint64_t h = (len << 1 | dialect) * k, w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	return h | 1;   /* never the empty key */
}

static struct memo *slot_of(uint64_t key)
{
	return &memo[(key >> 32) & ((1u << MEMO_BITS) - 1)];
}

int sql_memo_find(const char *sql, size_t len, unsigned dialect,
		  struct sql_memo_entry *hit)
{
	uint64_t key;
	struct memo *m;

	if (len > SQL_MEMO_TEXT_MAX)
		return 0;
	key = text_hash(sql, len, dialect);
	m = slot_of(key);
	if (atomic_load_explicit(&m->key, memory_order_acquire) != key ||
	    m->len != len || memcmp(m->text, sql, len) != 0)
		return 0;
	hit->text = m->text;
	hit->len = len;
	hit->summary = m->summary;
	hit->info = &m->info;
	return 1;
}

void sql_memo_keep(const char *sql, size_t len, unsigned dialect,
		   const char *text, size_t tlen, const char *summary,
		   const struct sql_info *info)
{
	uint64_t key;
	struct memo *m;

	if (len > SQL_MEMO_TEXT_MAX || tlen != len ||
	    memcmp(text, sql, len) != 0 || info->truncated ||
	    info->summary_len > SQL_SUMMARY_MAX)
		return;
	key = text_hash(sql, len, dialect);
	m = slot_of(key);
	atomic_store_explicit(&m->key, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	m->len = (uint16_t)len;
	memcpy(m->text, sql, len);
	memcpy(m->summary, summary, info->summary_len);
	m->info = *info;
	atomic_store_explicit(&m->key, key, memory_order_release);
}
