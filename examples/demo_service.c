/*
 * A small HTTP service that keeps notes in SQLite: the program `make demo`
 * traces.  It knows nothing about tracing — every span comes from the
 * preloaded library watching its sockets and its sqlite3 calls.
 *
 *   GET  /notes          list the notes (JSON)
 *   GET  /notes/<id>     one note, 404 if there is none
 *   POST /notes          body = note text; 201 with the new id
 *   GET  /health         200 "ok"
 *
 * Usage: demo_service PORT DBFILE.  One request per connection, served in
 * order on one thread: simple to read, and enough for a demo.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 8192

static sqlite3 *db;
static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void respond(int fd, int status, const char *reason,
		    const char *type, const char *body)
{
	char head[256];
	size_t blen = strlen(body);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason, type, blen);

	if (write_all(fd, head, (size_t)n) == 0)
		write_all(fd, body, blen);
}

/* Appends s to the JSON buffer as a string literal. */
static size_t json_str(char *out, size_t cap, size_t at, const char *s)
{
	if (at < cap)
		out[at++] = '"';
	for (; *s && at + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[at++] = '\\';
			out[at++] = (char)c;
		} else if (c < 0x20) {
			at += (size_t)snprintf(out + at, cap - at, "\\u%04x", c);
		} else {
			out[at++] = (char)c;
		}
	}
	if (at < cap)
		out[at++] = '"';
	return at;
}

static void list_notes(int fd)
{
	static char out[65536];
	sqlite3_stmt *st;
	size_t at = 0;
	int first = 1;

	if (sqlite3_prepare_v2(db, "SELECT id, body FROM notes ORDER BY id "
			       "LIMIT 100", -1, &st, NULL) != SQLITE_OK) {
		respond(fd, 500, "Internal Server Error", "text/plain",
			sqlite3_errmsg(db));
		return;
	}
	out[at++] = '[';
	while (sqlite3_step(st) == SQLITE_ROW && at + 64 < sizeof(out)) {
		at += (size_t)snprintf(out + at, sizeof(out) - at,
				       "%s{\"id\":%lld,\"body\":",
				       first ? "" : ",",
				       (long long)sqlite3_column_int64(st, 0));
		at = json_str(out, sizeof(out) - 2, at,
			      (const char *)sqlite3_column_text(st, 1));
		out[at++] = '}';
		first = 0;
	}
	sqlite3_finalize(st);
	out[at++] = ']';
	out[at] = 0;
	respond(fd, 200, "OK", "application/json", out);
}

static void get_note(int fd, long long id)
{
	char out[4096];
	sqlite3_stmt *st;
	size_t at;

	if (sqlite3_prepare_v2(db, "SELECT body FROM notes WHERE id = ?", -1,
			       &st, NULL) != SQLITE_OK) {
		respond(fd, 500, "Internal Server Error", "text/plain",
			sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		respond(fd, 404, "Not Found", "text/plain", "no such note\n");
		return;
	}
	at = (size_t)snprintf(out, sizeof(out), "{\"id\":%lld,\"body\":", id);
	at = json_str(out, sizeof(out) - 2, at,
		      (const char *)sqlite3_column_text(st, 0));
	out[at++] = '}';
	out[at] = 0;
	sqlite3_finalize(st);
	respond(fd, 200, "OK", "application/json", out);
}

static void add_note(int fd, const char *body, size_t len)
{
	char out[64];
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "INSERT INTO notes (body) VALUES (?)", -1,
			       &st, NULL) != SQLITE_OK) {
		respond(fd, 500, "Internal Server Error", "text/plain",
			sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_text(st, 1, body, (int)len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		respond(fd, 500, "Internal Server Error", "text/plain",
			sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return;
	}
	sqlite3_finalize(st);
	snprintf(out, sizeof(out), "{\"id\":%lld}",
		 (long long)sqlite3_last_insert_rowid(db));
	respond(fd, 201, "Created", "application/json", out);
}

/* Reads one request: head, then Content-Length bytes of body. */
static int read_request(int fd, char *buf, size_t cap, size_t *head_len,
			size_t *body_len)
{
	size_t have = 0;
	char *end = NULL, *cl;
	size_t want;

	while (!end) {
		ssize_t r = read(fd, buf + have, cap - 1 - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
		if (!end && have == cap - 1)
			return -1;
	}
	*head_len = (size_t)(end - buf) + 4;
	cl = strcasestr(buf, "\r\ncontent-length:");
	want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	if (want > cap - 1 - *head_len)
		return -1;
	while (have < *head_len + want) {
		ssize_t r = read(fd, buf + have, *head_len + want - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	*body_len = want;
	return 0;
}

static void serve(int fd)
{
	static char buf[REQ_MAX];
	size_t head_len, body_len;
	char method[8], path[256];

	if (read_request(fd, buf, sizeof(buf), &head_len, &body_len) != 0)
		return;
	if (sscanf(buf, "%7s %255s", method, path) != 2) {
		respond(fd, 400, "Bad Request", "text/plain", "bad request\n");
		return;
	}
	if (!strcmp(path, "/health"))
		respond(fd, 200, "OK", "text/plain", "ok\n");
	else if (!strcmp(path, "/notes") && !strcmp(method, "GET"))
		list_notes(fd);
	else if (!strcmp(path, "/notes") && !strcmp(method, "POST"))
		add_note(fd, buf + head_len, body_len);
	else if (!strncmp(path, "/notes/", 7) && !strcmp(method, "GET"))
		get_note(fd, atoll(path + 7));
	else
		respond(fd, 404, "Not Found", "text/plain", "not found\n");
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct sigaction sa = { .sa_handler = on_term };
	int one = 1, lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT DBFILE\n", argv[0]);
		return 2;
	}
	if (sqlite3_open(argv[2], &db) != SQLITE_OK ||
	    sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS notes ("
			 "id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
			 NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "demo_service: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_port = htons((uint16_t)atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(lfd, 64) != 0) {
		perror("demo_service: listen");
		return 1;
	}
	fprintf(stderr, "demo_service: listening on 127.0.0.1:%s\n", argv[1]);
	while (!stopping) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		serve(fd);
		close(fd);
	}
	close(lfd);
	sqlite3_close(db);
	/* A normal exit: the library flushes what is queued. */
	return 0;
}
