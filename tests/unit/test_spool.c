/*
 * The spool directory: requests in and out oldest first, per endpoint,
 * bounded, safe against symlinks and foreign directories, and each request
 * claimed by exactly one of several processes draining it together.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/spool.h"
#include "unit.h"

#define A "http://a:4318/v1/traces"
#define B "http://b:4318/v1/traces"
#define PB "application/x-protobuf"

static char base[32], dir[64];
static pid_t base_owner;

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* The test's directory and all it holds; not from a child the test forked
 * (they _exit(), but the check is cheap). */
static void remove_base(void)
{
	if (base[0] && getpid() == base_owner)
		nftw(base, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	base[0] = '\0';
}

/* dir: a spool directory to be, in a temporary directory of its own that
 * is removed when the test ends (or when the next one is made, for tests
 * run in one process). */
static void make_dir(void)
{
	remove_base();
	strcpy(base, "/tmp/test-spool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	if (base_owner != getpid()) {
		base_owner = getpid();
		atexit(remove_base);
	}
	snprintf(dir, sizeof(dir), "%s/spool", base);
}

static void put(struct spool *sp, const char *url, const char *body)
{
	ck_assert_int_eq(spool_put(sp, url, PB, body, strlen(body), NULL), 0);
}

START_TEST(in_and_out_oldest_first)
{
	struct spool sp;
	struct spool_item it;
	struct stat st;
	size_t files;
	uint64_t bytes;

	make_dir();
	ck_assert_int_eq(spool_open(&sp, dir, 1 << 20), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	put(&sp, A, "one");
	put(&sp, B, "other");
	put(&sp, A, "two");
	ck_assert_int_eq(spool_usage(&sp, &files, &bytes), 0);
	ck_assert_uint_eq(files, 3);

	ck_assert_int_eq(spool_claim(&sp, A, &it), 1);
	ck_assert_uint_eq(it.len, 3);
	ck_assert(memcmp(it.body, "one", 3) == 0);
	ck_assert_str_eq(it.url, A);
	ck_assert_str_eq(it.content_type, PB);
	spool_finish(&sp, &it, 0);              /* not delivered: back */
	ck_assert_int_eq(spool_claim(&sp, A, &it), 1);
	ck_assert(memcmp(it.body, "one", 3) == 0);
	spool_finish(&sp, &it, 1);
	ck_assert_int_eq(spool_claim(&sp, A, &it), 1);
	ck_assert(memcmp(it.body, "two", 3) == 0);
	spool_finish(&sp, &it, 1);
	ck_assert_int_eq(spool_claim(&sp, A, &it), 0);
	ck_assert_int_eq(spool_claim(&sp, NULL, &it), 1);
	ck_assert_str_eq(it.url, B);
	ck_assert(memcmp(it.body, "other", 5) == 0);
	spool_finish(&sp, &it, 1);
	ck_assert_int_eq(spool_usage(&sp, &files, &bytes), 0);
	ck_assert_uint_eq(files, 0);
	spool_close(&sp);
}
END_TEST

START_TEST(bounded_oldest_evicted)
{
	char body[1000];
	struct spool sp;
	struct spool_item it;
	uint64_t evicted = 0, bytes;
	size_t files;
	int i;

	make_dir();
	memset(body, 'x', sizeof(body));
	ck_assert_int_eq(spool_open(&sp, dir, 5000), 0);
	for (i = 0; i < 10; i++) {
		body[0] = (char)('0' + i);
		ck_assert_int_eq(spool_put(&sp, A, PB, body, sizeof(body),
					   &evicted), 0);
	}
	ck_assert_int_eq(spool_usage(&sp, &files, &bytes), 0);
	ck_assert_uint_le(bytes, 5000);
	ck_assert_uint_eq(files + evicted, 10);
	ck_assert_uint_ge(files, 3);
	ck_assert_int_eq(spool_claim(&sp, A, &it), 1);
	ck_assert_int_eq(((char *)it.body)[0], (char)('0' + 10 - files));
	spool_finish(&sp, &it, 1);
	ck_assert_int_eq(spool_put(&sp, A, PB, body, 6000, NULL), -EFBIG);
	spool_close(&sp);
}
END_TEST

START_TEST(refuses_unsafe_directories)
{
	char link[80];
	struct spool sp;

	make_dir();
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(spool_open(&sp, dir, 1 << 20), -EPERM);
	snprintf(link, sizeof(link), "%s-link", dir);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(symlink(dir, link), 0);
	ck_assert_int_eq(spool_open(&sp, link, 1 << 20), -ELOOP);
	ck_assert_int_eq(spool_open(&sp, dir, 1 << 20), 0);
	spool_close(&sp);
}
END_TEST

START_TEST(orphaned_claims_return)
{
	struct spool sp;
	struct spool_item it;
	pid_t child;
	int status;

	make_dir();
	ck_assert_int_eq(spool_open(&sp, dir, 1 << 20), 0);
	put(&sp, A, "kept");
	child = fork();
	if (child == 0)
		_exit(spool_claim(&sp, A, &it) == 1 ? 0 : 1);  /* dies holding it */
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(spool_claim(&sp, A, &it), 1);
	ck_assert(memcmp(it.body, "kept", 4) == 0);
	spool_finish(&sp, &it, 1);
	spool_close(&sp);
}
END_TEST

/* A claim under our own pid that we no longer hold was left by the
 * program this process exec()ed from: taken back, not stuck until the
 * process ends. */
START_TEST(own_claim_from_before_an_exec_returns)
{
	struct spool sp;
	struct spool_item it, lost;

	make_dir();
	ck_assert_int_eq(spool_open(&sp, dir, 1 << 20), 0);
	put(&sp, A, "carried");
	ck_assert_int_eq(spool_claim(&sp, A, &lost), 1);
	free(lost.body);                /* the old image is gone */
	ck_assert_int_eq(spool_claim(&sp, A, &it), 1);
	ck_assert(memcmp(it.body, "carried", 7) == 0);
	spool_finish(&sp, &it, 1);
	ck_assert_int_eq(spool_claim(&sp, A, &it), 0);
	spool_close(&sp);
}
END_TEST

/* Four processes drain 200 requests together: each is delivered once. */
START_TEST(concurrent_claims_exactly_once)
{
	enum { N = 200, PROCS = 4 };
	struct spool sp;
	int pipes[PROCS][2], seen[N] = { 0 }, i, p;
	char body[16];

	make_dir();
	ck_assert_int_eq(spool_open(&sp, dir, 1 << 24), 0);
	for (i = 0; i < N; i++) {
		snprintf(body, sizeof(body), "%d", i);
		put(&sp, A, body);
	}
	for (p = 0; p < PROCS; p++) {
		ck_assert_int_eq(pipe(pipes[p]), 0);
		if (fork() == 0) {
			struct spool_item it;
			FILE *out = fdopen(pipes[p][1], "w");

			while (spool_claim(&sp, A, &it) == 1) {
				fprintf(out, "%.*s\n", (int)it.len,
					(char *)it.body);
				spool_finish(&sp, &it, 1);
			}
			fclose(out);
			_exit(0);
		}
		close(pipes[p][1]);
	}
	for (p = 0; p < PROCS; p++) {
		FILE *in = fdopen(pipes[p][0], "r");
		int v;

		while (fscanf(in, "%d", &v) == 1) {
			ck_assert(v >= 0 && v < N);
			seen[v]++;
		}
		fclose(in);
	}
	while (wait(NULL) > 0)
		;
	for (i = 0; i < N; i++)
		ck_assert_int_eq(seen[i], 1);
	spool_close(&sp);
}
END_TEST

UNIT_MAIN("spool", in_and_out_oldest_first, bounded_oldest_evicted,
	  refuses_unsafe_directories, orphaned_claims_return,
	  own_claim_from_before_an_exec_returns,
	  concurrent_claims_exactly_once)
