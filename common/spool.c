/*
 * The spool directory (see spool.h).  A file's name starts with the time
 * it was written, so names sort oldest first:
 *   <ns, 16 hex>-<url key, 16 hex>-<pid>-<seq>.otlp
 * and while a process delivers it, <that name>.claim-<pid>.  A file holds
 * a three-line header ("otelshim-spool 1", the content type, the URL) and
 * then the request body.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

#define MAGIC "otelshim-spool 1\n"
#define SUFFIX ".otlp"
#define CLAIM ".claim-"
#define MAX_FILES 4096          /* looked at per scan */

static atomic_uint seq;

const char *spool_default_dir(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (xdg && xdg[0] == '/')
		snprintf(buf, cap, "%s/otelshim-spool", xdg);
	else
		snprintf(buf, cap, "/tmp/otelshim-spool-%u",
			 (unsigned)geteuid());
	return buf;
}

/* FNV-1a: which endpoint a file is for, readable from its name. */
static uint64_t url_key(const char *url)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *url; url++)
		h = (h ^ (unsigned char)*url) * 0x100000001b3ULL;
	return h;
}

int spool_open(struct spool *sp, const char *dir, uint64_t max_bytes)
{
	struct stat st;
	int fd;

	sp->dirfd = -1;
	sp->max_bytes = max_bytes;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR && lstat(dir, &st) == 0 &&
		       S_ISLNK(st.st_mode) ? -ELOOP : -errno;
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() ||
	    (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	sp->dirfd = fd;
	return 0;
}

void spool_close(struct spool *sp)
{
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	sp->dirfd = -1;
}

static int is_request(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > sizeof(SUFFIX) - 1 &&
	       strcmp(name + n - (sizeof(SUFFIX) - 1), SUFFIX) == 0;
}

/* The pid of a claim name, or 0 when name is not one. */
static pid_t claim_pid(const char *name)
{
	const char *c = strstr(name, SUFFIX CLAIM);

	return c ? (pid_t)atoi(c + sizeof(SUFFIX CLAIM) - 1) : 0;
}

struct entry {
	char name[SPOOL_NAME_MAX];
	uint64_t size;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
		      ((const struct entry *)b)->name);
}

/*
 * The requests in the spool, oldest first, into a malloc()ed array
 * (*out; free it); with claims when with_claims.  Returns the count or
 * -errno.
 */
static int list_requests(struct spool *sp, int with_claims, struct entry **out)
{
	struct entry *e = NULL;
	struct dirent *d;
	int n = 0, fd;
	DIR *dir;

	*out = NULL;
	fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((d = readdir(dir)) != NULL && n < MAX_FILES) {
		struct stat st;
		struct entry *grown;

		if (!is_request(d->d_name) &&
		    !(with_claims && claim_pid(d->d_name)))
			continue;
		if (strlen(d->d_name) >= SPOOL_NAME_MAX ||
		    fstatat(sp->dirfd, d->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n % 64 == 0) {
			grown = realloc(e, (size_t)(n + 64) * sizeof(*e));
			if (!grown)
				break;
			e = grown;
		}
		strcpy(e[n].name, d->d_name);
		e[n].size = (uint64_t)st.st_size;
		n++;
	}
	closedir(dir);
	if (n > 1)
		qsort(e, (size_t)n, sizeof(*e), by_name);
	*out = e;
	return n;
}

/* Removes the oldest requests until need more bytes fit. */
static void make_room(struct spool *sp, uint64_t need, uint64_t *evicted)
{
	struct entry *e;
	uint64_t total = 0;
	int n = list_requests(sp, 1, &e), i;

	for (i = 0; i < n; i++)
		total += e[i].size;
	for (i = 0; i < n && total + need > sp->max_bytes; i++) {
		if (claim_pid(e[i].name))
			continue;       /* being delivered right now */
		if (unlinkat(sp->dirfd, e[i].name, 0) == 0) {
			total -= e[i].size;
			if (evicted)
				(*evicted)++;
		}
	}
	free(e);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int spool_put(struct spool *sp, const char *url, const char *content_type,
	      const void *body, size_t len, uint64_t *evicted)
{
	char head[SPOOL_URL_MAX + SPOOL_TYPE_MAX + 32];
	char tmp[64], name[SPOOL_NAME_MAX];
	unsigned s = atomic_fetch_add(&seq, 1);
	struct timespec ts;
	int hn, fd, err;

	if (strlen(url) >= SPOOL_URL_MAX ||
	    strlen(content_type) >= SPOOL_TYPE_MAX ||
	    strchr(url, '\n') || strchr(content_type, '\n'))
		return -EINVAL;
	hn = snprintf(head, sizeof(head), MAGIC "%s\n%s\n", content_type,
		      url);
	if ((uint64_t)hn + len > sp->max_bytes)
		return -EFBIG;
	make_room(sp, (uint64_t)hn + len, evicted);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(tmp, sizeof(tmp), ".tmp-%d-%u", (int)getpid(), s);
	snprintf(name, sizeof(name), "%016llx-%016llx-%d-%u" SUFFIX,
		 (unsigned long long)ts.tv_sec * 1000000000ULL +
		 (unsigned long long)ts.tv_nsec,
		 (unsigned long long)url_key(url), (int)getpid(), s);
	fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, head, (size_t)hn);
	if (!err)
		err = write_all(fd, body, len);
	if (close(fd) != 0 && !err)
		err = -errno;
	if (!err && renameat(sp->dirfd, tmp, sp->dirfd, name) != 0)
		err = -errno;
	if (err)
		unlinkat(sp->dirfd, tmp, 0);
	return err;
}

/*
 * Gives claims of processes that are gone back to the spool.  A process
 * holds one claim at a time and ends it before it claims again, so a
 * claim under its own pid found here was left by an earlier program this
 * process exec()ed from: an orphan too.
 */
static void reclaim_orphans(struct spool *sp, const struct entry *e, int n)
{
	pid_t self = getpid();
	int i;

	for (i = 0; i < n; i++) {
		pid_t pid = claim_pid(e[i].name);
		char orig[SPOOL_NAME_MAX];

		if (!pid || (pid != self && (kill(pid, 0) == 0 ||
					     errno != ESRCH)))
			continue;
		snprintf(orig, sizeof(orig), "%.*s",
			 (int)(strstr(e[i].name, CLAIM) - e[i].name),
			 e[i].name);
		renameat(sp->dirfd, e[i].name, sp->dirfd, orig);
	}
}

/* Reads a claimed file into it; 0 or -errno (-EBADMSG: not ours). */
static int read_item(struct spool *sp, struct spool_item *it)
{
	struct stat st;
	char *buf = NULL, *type, *url, *body;
	int fd, err = 0;
	ssize_t got;

	fd = openat(sp->dirfd, it->claim, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		err = -errno;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	got = pread(fd, buf, (size_t)st.st_size, 0);
	if (got != (ssize_t)st.st_size) {
		err = got < 0 ? -errno : -EIO;
		goto out;
	}
	buf[got] = '\0';
	type = buf + sizeof(MAGIC) - 1;
	url = (size_t)got >= sizeof(MAGIC) - 1 &&
	      memcmp(buf, MAGIC, sizeof(MAGIC) - 1) == 0 ?
	      memchr(type, '\n', (size_t)(buf + got - type)) : NULL;
	body = url ? memchr(url + 1, '\n', (size_t)(buf + got - url - 1))
		   : NULL;
	if (!body || url - type >= SPOOL_TYPE_MAX ||
	    body - url - 1 >= SPOOL_URL_MAX) {
		err = -EBADMSG;
		goto out;
	}
	memcpy(it->content_type, type, (size_t)(url - type));
	it->content_type[url - type] = '\0';
	memcpy(it->url, url + 1, (size_t)(body - url - 1));
	it->url[body - url - 1] = '\0';
	body++;
	it->len = (size_t)(buf + got - body);
	memmove(buf, body, it->len);
	it->body = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

int spool_claim(struct spool *sp, const char *url, struct spool_item *it)
{
	char key[20];
	struct entry *e;
	int n, i, found = 0;

	snprintf(key, sizeof(key), "-%016llx-",
		 url ? (unsigned long long)url_key(url) : 0ULL);
	n = list_requests(sp, 1, &e);
	if (n < 0)
		return n;
	reclaim_orphans(sp, e, n);
	free(e);
	n = list_requests(sp, 0, &e);
	for (i = 0; i < n && !found; i++) {
		if (url && strncmp(e[i].name + 16, key, 18) != 0)
			continue;
		memset(it, 0, sizeof(*it));
		strcpy(it->name, e[i].name);
		snprintf(it->claim, sizeof(it->claim), "%s" CLAIM "%d",
			 e[i].name, (int)getpid());
		if (renameat(sp->dirfd, it->name, sp->dirfd, it->claim) != 0)
			continue;       /* another process took it */
		if (read_item(sp, it) == 0) {
			found = 1;
		} else {
			/* Unreadable or not ours: never offered again. */
			unlinkat(sp->dirfd, it->claim, 0);
		}
	}
	free(e);
	return n < 0 ? n : found;
}

void spool_finish(struct spool *sp, struct spool_item *it, int delivered)
{
	if (delivered)
		unlinkat(sp->dirfd, it->claim, 0);
	else
		renameat(sp->dirfd, it->claim, sp->dirfd, it->name);
	free(it->body);
	it->body = NULL;
}

int spool_usage(struct spool *sp, size_t *files, uint64_t *bytes)
{
	struct entry *e;
	int n = list_requests(sp, 1, &e), i;

	if (n < 0)
		return n;
	*files = (size_t)n;
	*bytes = 0;
	for (i = 0; i < n; i++)
		*bytes += e[i].size;
	free(e);
	return 0;
}
