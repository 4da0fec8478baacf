/*
 * The spool: OTLP export requests that could not be delivered (the backend
 * was down at exit, before an exec, or long enough for the queue to fill),
 * kept as files in a per-user directory until a later traced process of the
 * same user — or `otelshim flush` — delivers them.  Each file is one
 * request body exactly as it would have been POSTed, so the resource and
 * the ids stay as recorded and late spans land in their traces.
 *
 * Safety: the directory is created 0700 and refused when it is a symlink or
 * belongs to another user; files are 0600, written under a temporary name
 * and renamed into place, opened with O_NOFOLLOW; a process takes a file by
 * renaming it to a claim name, so each file is delivered once even when
 * several processes drain the spool together.  The directory holds at most
 * max_bytes: the oldest files go first, counted.
 *
 * Used by the exporter module (on the exporter thread) and the otelshim
 * command; nothing here runs on an application thread.
 */
#ifndef OTELSHIM_SPOOL_H
#define OTELSHIM_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_URL_MAX 2048
#define SPOOL_TYPE_MAX 64
#define SPOOL_NAME_MAX 96

struct spool {
	int dirfd;
	uint64_t max_bytes;
};

/* One request taken out of the spool by spool_claim(). */
struct spool_item {
	char name[SPOOL_NAME_MAX];      /* the file's name before the claim */
	char claim[SPOOL_NAME_MAX + 32]; /* its name while claimed */
	char url[SPOOL_URL_MAX];        /* where it was meant to go */
	char content_type[SPOOL_TYPE_MAX];
	void *body;                     /* malloc()ed, len bytes */
	size_t len;
};

/*
 * The default directory: $XDG_RUNTIME_DIR/otelshim-spool when that is set
 * and absolute, else /tmp/otelshim-spool-<uid>.  Returns buf.
 */
const char *spool_default_dir(char *buf, size_t cap);

/*
 * Opens dir as a spool, creating it (0700, one level) when missing.  0, or
 * -errno: -ELOOP for a symlink, -EPERM when it belongs to another user or
 * others can write to it, -ENOTDIR.
 */
int spool_open(struct spool *sp, const char *dir, uint64_t max_bytes);
void spool_close(struct spool *sp);

/*
 * Adds one request meant for url.  Older files are removed first when the
 * spool would grow past max_bytes; *evicted (may be NULL) is incremented
 * by the number of files removed.  0 or -errno (-EFBIG: larger than the
 * whole spool may hold).
 */
int spool_put(struct spool *sp, const char *url, const char *content_type,
	      const void *body, size_t len, uint64_t *evicted);

/*
 * Claims the oldest request for url (NULL: for any url).  Claims left by a
 * process that died (or by this process before an exec) are taken back
 * first; so a caller ends each claim before it makes the next.  Returns 1 with *it filled (free
 * it with spool_finish), 0 when there is none, or -errno.
 */
int spool_claim(struct spool *sp, const char *url, struct spool_item *it);

/* Ends a claim: delivered, the file goes; otherwise it returns to the
 * spool under its old name for a later try.  Frees it->body. */
void spool_finish(struct spool *sp, struct spool_item *it, int delivered);

/* Requests waiting (claimed ones included) and their size in bytes. */
int spool_usage(struct spool *sp, size_t *files, uint64_t *bytes);

#endif
