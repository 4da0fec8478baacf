/*
 * The least a statement span can cost a program, for the sqlite3 row's
 * comparison: a library whose sqlite3_step() does only what any recorder
 * of statement spans must do on the program's thread -- read the clock
 * before and after the real call, take three random words for the ids,
 * copy the statement's text, times and ids into a ring that another
 * thread reads -- and none of what a tracer also does: no parent, no
 * sampler, no namespace, rows or status, no statement table, no analysis,
 * no export.  The reading thread wakes every millisecond and reads every
 * line of every record, so the records' lines travel between the cores as
 * a real exporter's do.  One producer: the sqlite3 CLI steps from one
 * thread (a recorder for any program needs a compare-and-swap more).
 *
 * Preloaded into the sqlite3 rounds, its ratio against plain is the floor
 * under the shim's: no recorder that takes statement spans off the
 * program's thread does less.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define API __attribute__((visibility("default")))

#define SQLITE_ROW 100
/* As the shim's ring at the default queue (2048 spans of 1 KiB). */
#define RING_BYTES (2u << 20)
#define TEXT_MAX 1024

typedef struct sqlite3_stmt sqlite3_stmt;

struct rec {
	uint32_t len;           /* bytes of the record, a multiple of 8 */
	uint32_t text_len;
	uint64_t id[3];         /* trace id, span id */
	uint64_t start_ns;
	uint64_t end_ns;
	char text[];
};

static _Alignas(4096) unsigned char ring[RING_BYTES];
static _Alignas(64) _Atomic uint64_t head;      /* the producer's */
static _Alignas(64) _Atomic uint64_t tail;      /* the reader's */
static _Alignas(64) uint64_t dropped;
static volatile uint64_t read_sum;

static int (*next_step)(sqlite3_stmt *);
static const char *(*next_sql)(sqlite3_stmt *);

static __thread sqlite3_stmt *running;  /* an execution past its first row */
static __thread uint64_t running_since;
static __thread uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t random_word(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void *reader(void *unused)
{
	const struct timespec ms = { 0, 1000000 };

	/* The ring's pages made resident here, as the shim's exporter does,
	 * rather than faulted in by the program on the first lap. */
	madvise(ring, RING_BYTES, MADV_POPULATE_WRITE);
	for (;;) {
		uint64_t t = atomic_load_explicit(&tail, memory_order_relaxed);
		uint64_t h = atomic_load_explicit(&head, memory_order_acquire);
		uint64_t sum = 0;

		if (t == h) {
			nanosleep(&ms, NULL);
			continue;
		}
		while (t != h) {
			const struct rec *r =
				(const struct rec *)(ring + t % RING_BYTES);

			for (uint32_t i = 0; i < r->len; i += 64)
				sum += ((const unsigned char *)r)[i];
			t += r->len;
		}
		read_sum += sum;
		atomic_store_explicit(&tail, t, memory_order_release);
	}
	return unused;
}

__attribute__((constructor)) static void start(void)
{
	pthread_t t;

	next_step = (int (*)(sqlite3_stmt *))dlsym(RTLD_NEXT, "sqlite3_step");
	next_sql = (const char *(*)(sqlite3_stmt *))
		dlsym(RTLD_NEXT, "sqlite3_sql");
	if (pthread_create(&t, NULL, reader, NULL) == 0)
		pthread_detach(t);
}

__attribute__((destructor)) static void report(void)
{
	if (dropped)
		fprintf(stderr, "sqlfloor: %llu records dropped\n",
			(unsigned long long)dropped);
}

static void record(sqlite3_stmt *st, uint64_t start_ns, uint64_t end_ns)
{
	const char *text = next_sql ? next_sql(st) : NULL;
	size_t n = text ? strnlen(text, TEXT_MAX) : 0;
	size_t len = (sizeof(struct rec) + n + 7) & ~(size_t)7;
	uint64_t h = atomic_load_explicit(&head, memory_order_relaxed);
	size_t off = h % RING_BYTES;
	size_t skip = off + len > RING_BYTES ? RING_BYTES - off : 0;
	struct rec *r;

	if (h + skip + len -
	    atomic_load_explicit(&tail, memory_order_acquire) > RING_BYTES) {
		dropped++;
		return;
	}
	if (skip) {             /* the ring's end: the reader steps over it */
		((struct rec *)(ring + off))->len = (uint32_t)skip;
		h += skip;
		off = 0;
	}
	r = (struct rec *)(ring + off);
	r->len = (uint32_t)len;
	r->text_len = (uint32_t)n;
	r->id[0] = random_word();
	r->id[1] = random_word();
	r->id[2] = random_word();
	r->start_ns = start_ns;
	r->end_ns = end_ns;
	if (n)
		memcpy(r->text, text, n);
	atomic_store_explicit(&head, h + len, memory_order_release);
}

API int sqlite3_step(sqlite3_stmt *st)
{
	uint64_t since = running == st ? running_since : now_ns();
	int rc = next_step(st);

	if (rc == SQLITE_ROW) {
		running = st;
		running_since = since;
		return rc;
	}
	running = NULL;
	record(st, since, now_ns());
	return rc;
}
