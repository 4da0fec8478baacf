/*
 * A program with a known call chain, main -> handle_request -> load_user,
 * where load_user issues the database or network call.  The call-site
 * stack tests check that these names arrive, in this order, on the span of
 * that call, and that a crash inside a request ends the request's span.
 *
 *   callchain sqlite [n]      load_user runs a query with sqlite3_step
 *   callchain connect [n]     load_user connects to 127.0.0.1:1 (refused)
 *   callchain slow            load_user runs one slow query (a few hundred
 *                             ms of SQLite counting), the process's only
 *                             span
 *   callchain crash           one connect request, then one in which
 *                             load_user dereferences NULL (SIGSEGV)
 *
 * With n, the request runs n times, 100 ms apart.  The exporter thread,
 * started by the first span, loads the unwinder while that span runs: a
 * fast first span (with OTELSHIM_STACK_THRESHOLD_MS=0) may come without
 * a stack, a slow one has it.
 *   callchain serve           HTTP/1.1 on 127.0.0.1, a free port printed as
 *                             "listening <port>"; one request per
 *                             connection: GET /user/<n> runs the sqlite
 *                             and connect calls, GET /crash crashes
 *                             in load_user
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Keeps a call from being turned into a jump (which would take the
 * caller's frame off the stack) or merged into its caller. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")
#define NOINLINE __attribute__((noinline))

enum what { DO_SQLITE = 1, DO_CONNECT = 2, DO_CRASH = 4, DO_SLOW = 8 };

/* Counts to two million, one row at a time. */
static const char slow_query[] =
	"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
	"WHERE x < 2000000) SELECT count(*) FROM c";

NOINLINE static int load_user(int what)
{
	int ret = 0;

	if (what & (DO_SQLITE | DO_SLOW)) {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		const char *sql = what & DO_SLOW ? slow_query :
				  "SELECT 1 AS id, 'ada' AS name";

		if (sqlite3_open(":memory:", &db) == SQLITE_OK &&
		    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW)
				ret++;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	if (what & DO_CONNECT) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(1) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa,
				       sizeof(sa)) != 0)
			ret++;
		if (fd >= 0)
			close(fd);
	}
	if (what & DO_CRASH) {
		volatile int *nowhere = NULL;

		*nowhere = 42;
	}
	KEEP_FRAME();
	return ret;
}

NOINLINE static int handle_request(int what)
{
	int ret = load_user(what);

	KEEP_FRAME();
	return ret;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One request per connection, read up to the end of its header. */
static void serve_one(int c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
				 "Connection: close\r\n\r\nok\n";
	char req[4096];
	size_t used = 0;

	while (used < sizeof(req) - 1) {
		ssize_t n = read(c, req + used, sizeof(req) - 1 - used);

		if (n <= 0)
			return;
		used += (size_t)n;
		req[used] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (strncmp(req, "GET /crash ", 11) == 0)
		handle_request(DO_CRASH);
	else
		handle_request(DO_SQLITE | DO_CONNECT);
	write_all(c, ok, sizeof(ok) - 1);
}

static int serve(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one,
				sizeof(one)) != 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s, 16) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) != 0) {
		perror("callchain: listen");
		return 1;
	}
	printf("listening %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "sqlite";
	int times = argc > 2 ? atoi(argv[2]) : 1;
	int what, ret = 0;

	if (strcmp(mode, "serve") == 0)
		return serve();
	if (strcmp(mode, "sqlite") == 0) {
		what = DO_SQLITE;
	} else if (strcmp(mode, "connect") == 0) {
		what = DO_CONNECT;
	} else if (strcmp(mode, "slow") == 0) {
		what = DO_SLOW;
	} else if (strcmp(mode, "crash") == 0) {
		/* A span first, so the shim is fully up when it crashes. */
		handle_request(DO_CONNECT);
		usleep(100 * 1000);
		what = DO_CRASH;
	} else {
		fprintf(stderr, "usage: callchain sqlite|connect|slow [n] | "
			"crash | serve\n");
		return 2;
	}
	for (int i = 0; i < times || i == 0; i++) {
		if (i > 0)
			usleep(100 * 1000);
		ret = handle_request(what);
	}
	KEEP_FRAME();
	printf("%d\n", ret);
	return 0;
}
