/*
 * Resource detection: service, SDK, process, host, OS and container
 * attributes for the OTLP Resource, read from the configuration, uname(2)
 * and /proc on the exporter thread.  The parsers of /proc text are pure
 * functions (resource_parse.h) so the unit tests can feed them samples.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/redact.h"
#include "common/semconv.h"
#include "common/sql.h"
#include "common/text.h"
#include "resource.h"
#include "resource_parse.h"

#ifndef OTELSHIM_VERSION
#define OTELSHIM_VERSION "0.0.0"
#endif

#ifndef RESOURCE_CONTAINER_ID_LEN
#define RESOURCE_CONTAINER_ID_LEN 64
#endif

#define ARG_MAX_BYTES 1024      /* longer arguments are cut */
#define CMDLINE_MAX (64 * 1024)
#define MOUNTINFO_MAX (4 * 1024 * 1024)
#define STORE_CHUNK 4096

/* ------------------------------------------------------------ storage */

/*
 * The strings of a resource live as long as the process.  They come from
 * chunks reachable from this list, so leak checkers do not report them; a
 * forked child that builds its resource again just adds to the list.
 * Only the exporter thread builds resources, so no lock.
 */
struct store_chunk {
	struct store_chunk *next;
	size_t used, cap;
	alignas(max_align_t) char data[];
};

static struct store_chunk *store;

static void *store_alloc(size_t n)
{
	const size_t align = alignof(max_align_t);
	struct store_chunk *c = store;
	void *p;

	n = (n + align - 1) & ~(align - 1);
	if (!c || c->cap - c->used < n) {
		size_t cap = n > STORE_CHUNK ? n : STORE_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = store;
		store = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

/* A stored copy of (s, n); "" when out of memory. */
static const char *store_strn(const char *s, size_t n)
{
	char *p = store_alloc(n + 1);

	if (!p)
		return "";
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static const char *store_str(const char *s)
{
	return store_strn(s, strlen(s));
}

/* ------------------------------------------------------------ parsers */

static int is_hex_id(const char *s, size_t n)
{
	uint8_t id[RESOURCE_CONTAINER_ID_LEN / 2];

	return n == RESOURCE_CONTAINER_ID_LEN &&
	       hex_decode_lower(s, id, sizeof(id)) == 0;
}

/*
 * One cgroup path component, e.g. "docker-<id>.scope",
 * "cri-containerd-<id>.scope", "crio-<id>.scope", "libpod-<id>" or a bare
 * "<id>" (cgroup v1 "/docker/<id>", cgroupfs kubepods).  Stores the id and
 * returns 1 when the component names a container.
 */
static int component_id(const char *c, size_t n, char *id)
{
	static const char scope[] = ".scope";
	size_t i;

	if (n >= sizeof(scope) - 1 &&
	    memcmp(c + n - (sizeof(scope) - 1), scope, sizeof(scope) - 1) == 0)
		n -= sizeof(scope) - 1;
	/* The id follows the last '-' of a "<runtime>-<id>" name. */
	for (i = n; i > 0; i--) {
		if (c[i - 1] == '-')
			break;
	}
	if (!is_hex_id(c + i, n - i))
		return 0;
	memcpy(id, c + i, RESOURCE_CONTAINER_ID_LEN);
	id[RESOURCE_CONTAINER_ID_LEN] = '\0';
	return 1;
}

/*
 * Lines are "hierarchy:controllers:path" (v1) or "0::path" (v2).  The
 * innermost component of a path that names a container wins; the first
 * line with one decides.
 */
int resource_container_id_from_cgroup(const char *text, size_t len,
				      char *id)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *path, *c;
		int found = 0;

		if (!eol)
			eol = end;
		path = memchr(p, ':', (size_t)(eol - p));
		if (path)
			path = memchr(path + 1, ':', (size_t)(eol - path - 1));
		if (path) {
			path++;
			for (c = path; c < eol;) {
				const char *slash = memchr(c, '/',
							   (size_t)(eol - c));

				if (!slash)
					slash = eol;
				if (component_id(c, (size_t)(slash - c), id))
					found = 1;
				c = slash + 1;
			}
		}
		if (found)
			return 0;
		p = eol + 1;
	}
	return -1;
}

/* Field number idx (0-based, space-separated) of a line, as (ptr, len). */
static int field(const char *line, const char *eol, int idx,
		 const char **f, size_t *n)
{
	const char *p = line;
	int k;

	for (k = 0; k < idx; k++) {
		p = memchr(p, ' ', (size_t)(eol - p));
		if (!p)
			return -1;
		p++;
	}
	*f = p;
	p = memchr(p, ' ', (size_t)(eol - p));
	*n = (size_t)((p ? p : eol) - *f);
	return 0;
}

static int is_bind_target(const char *mp, size_t n)
{
	static const char *const targets[] = {
		"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", NULL
	};
	int i;

	for (i = 0; targets[i]; i++) {
		if (strlen(targets[i]) == n && memcmp(mp, targets[i], n) == 0)
			return 1;
	}
	return 0;
}

/* Finds "containers/<id>/" in a mount root, where "containers" starts a
 * path component or follows a '-' ("overlay-containers"). */
static int id_in_root(const char *root, size_t len, char *id)
{
	static const char key[] = "containers/";
	const size_t klen = sizeof(key) - 1, idlen = RESOURCE_CONTAINER_ID_LEN;
	const char *s, *end = root + len;

	for (s = root; s + klen + idlen < end; s++) {
		const char *h = s + klen;

		if (memcmp(s, key, klen) != 0)
			continue;
		if (s > root && s[-1] != '/' && s[-1] != '-')
			continue;
		if (h[idlen] == '/' && is_hex_id(h, idlen)) {
			memcpy(id, h, idlen);
			id[idlen] = '\0';
			return 1;
		}
	}
	return 0;
}

/*
 * Docker and Podman bind-mount /etc/hostname and friends from
 * ".../containers/<id>/..." (docker) or ".../overlay-containers/<id>/..."
 * (podman).  Only those mount points are looked at: on a host, mountinfo
 * also lists every running container's shm mount under
 * /var/lib/docker/containers/<id>/, which must not be taken as ours.
 */
int resource_container_id_from_mountinfo(const char *text, size_t len,
					 char *id)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *root, *mp;
		size_t root_len, mp_len;

		if (!eol)
			eol = end;
		if (field(p, eol, 3, &root, &root_len) == 0 &&
		    field(p, eol, 4, &mp, &mp_len) == 0 &&
		    is_bind_target(mp, mp_len) &&
		    id_in_root(root, root_len, id))
			return 0;
		p = eol + 1;
	}
	return -1;
}

const char *resource_arch_name(const char *m)
{
	static const struct {
		const char *machine, *arch;
	} map[] = {
		{ "x86_64", "amd64" }, { "amd64", "amd64" },
		{ "i386", "x86" }, { "i486", "x86" }, { "i586", "x86" },
		{ "i686", "x86" },
		{ "aarch64", "arm64" }, { "aarch64_be", "arm64" },
		{ "arm64", "arm64" },
		{ "ppc64", "ppc64" }, { "ppc64le", "ppc64" },
		{ "ppc", "ppc32" }, { "ppcle", "ppc32" },
		{ "s390x", "s390x" }, { "ia64", "ia64" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(m, map[i].machine) == 0)
			return map[i].arch;
	}
	if (strncmp(m, "arm", 3) == 0)
		return "arm32";         /* armv7l, armv6l, armv8l, arm */
	return m;
}

/* ------------------------------------------------------------ redaction */

/*
 * process.command_args may carry secrets (`psql postgres://u:pw@h/db`,
 * `--password=x`, `curl -u user:pw`).  The attribute is sent to a tracing
 * backend, so those parts are replaced, as url.full does for credentials.
 */
static int secret_name(const char *s, size_t n)
{
	static const char *const words[] = {
		"password", "passwd", "pwd", "secret", "token", "apikey",
		"api_key", "api-key", "credential", "auth", "signature",
		"cookie", "session", NULL
	};
	size_t i, k;

	/* The signed-URL parameters (url.full hides the same ones). */
	if (redact_url_key((struct str){ s, n }))
		return 1;
	for (k = 0; words[k]; k++) {
		size_t wl = strlen(words[k]);

		for (i = 0; i + wl <= n; i++) {
			if (strncasecmp(s + i, words[k], wl) == 0)
				return 1;
		}
	}
	return 0;
}

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	size_t room = o->cap > o->len ? o->cap - o->len - 1 : 0;

	if (o->cap == 0)
		return;
	if (n > room)
		n = room;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static int is_sep(char c)
{
	return c == ' ' || c == '&' || c == '?' || c == ';' || c == ',' ||
	       c == '\t';
}

/* Whether an argument is SQL: psql -c "...", sqlite3 db "...", or text
 * starting with a statement keyword.  Its literals are then sanitised as
 * in db.query.text, since a command line is no less private. */
static int looks_like_sql(const char *arg, const char *prev)
{
	static const char *const kw[] = {
		"select", "insert", "update", "delete", "with", "create",
		"drop", "alter", "copy", "merge", "values", "call", "do",
		"grant", "set", "truncate", "explain", NULL,
	};

	if (prev && (!strcmp(prev, "-c") || !strcmp(prev, "--command") ||
		     !strcmp(prev, "-cmd")))
		return 1;
	while (*arg == ' ' || *arg == '\t' || *arg == '\n' || *arg == '(')
		arg++;
	for (int i = 0; kw[i]; i++) {
		size_t n = strlen(kw[i]);

		if (!strncasecmp(arg, kw[i], n) &&
		    (arg[n] == ' ' || arg[n] == '\t' || arg[n] == '\n'))
			return 1;
	}
	return 0;
}

size_t resource_redact_arg(const char *arg, const char *prev, char *out,
			   size_t cap)
{
	static const char red[] = "REDACTED";
	struct out o = { out, 0, cap };
	size_t n = strlen(arg), i = 0, tok = 0;
	const char *colon;

	if (cap)
		out[0] = '\0';
	if (cap && looks_like_sql(arg, prev))
		return sql_sanitize(arg, n, out, cap);
	/* "--password secret": the value is the next argument. */
	if (prev && prev[0] == '-' && !strchr(prev, '=') &&
	    secret_name(prev, strlen(prev))) {
		put(&o, red, sizeof(red) - 1);
		return o.len;
	}
	/* curl -u / --user "name:password" */
	colon = strchr(arg, ':');
	if (prev && colon && (strcmp(prev, "-u") == 0 ||
			      strcmp(prev, "--user") == 0)) {
		put(&o, arg, (size_t)(colon - arg) + 1);
		put(&o, red, sizeof(red) - 1);
		return o.len;
	}
	/* A header given on the command line: "Authorization: Bearer x". */
	if (colon && colon > arg && colon[1] == ' ' &&
	    strcspn(arg, " \t") > (size_t)(colon - arg) &&
	    secret_name(arg, (size_t)(colon - arg))) {
		put(&o, arg, (size_t)(colon - arg) + 2);
		put(&o, red, sizeof(red) - 1);
		return o.len;
	}
	while (i < n) {
		if (strncmp(arg + i, "://", 3) == 0) {
			size_t a = i + 3, at = 0, k;

			for (k = a; k < n && arg[k] != '/' && arg[k] != '?' &&
			     arg[k] != '#' && arg[k] != ' '; k++) {
				if (arg[k] == '@')
					at = k;
			}
			put(&o, "://", 3);
			i = a;
			if (at) {
				put(&o, "REDACTED:REDACTED@", 18);
				i = at + 1;
			}
			tok = i;
			continue;
		}
		if (arg[i] == '=') {
			size_t k = tok;

			while (k < i && arg[k] == '-')
				k++;
			put(&o, "=", 1);
			i++;
			if (secret_name(arg + k, i - 1 - k)) {
				put(&o, red, sizeof(red) - 1);
				/* "--password=a b" is all value. */
				if (tok == 0 && arg[0] == '-')
					i = n;
				while (i < n && !is_sep(arg[i]))
					i++;
			}
			continue;
		}
		if (is_sep(arg[i]))
			tok = i + 1;
		put(&o, arg + i, 1);
		i++;
	}
	return o.len;
}

/* ------------------------------------------------------------ detection */

/* Reads up to cap bytes of a file into buf; returns the length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len < cap) {
		ssize_t r = read(fd, buf + len, cap - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	return (ssize_t)len;
}

/* Reads a whole file (up to max bytes) into a malloc()ed buffer. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	size_t cap = 16384;
	char *buf = NULL;
	ssize_t n;

	for (;;) {
		char *p = realloc(buf, cap);

		if (!p)
			goto fail;
		buf = p;
		n = read_file(path, buf, cap);
		if (n < 0)
			goto fail;
		if ((size_t)n < cap || cap >= max)
			break;
		cap *= 2;
	}
	*len = (size_t)n;
	return buf;
fail:
	free(buf);
	return NULL;
}

static void container_id(char *id)
{
	size_t len;
	char *text;

	id[0] = '\0';
	text = slurp("/proc/self/cgroup", 1024 * 1024, &len);
	if (text && resource_container_id_from_cgroup(text, len, id) == 0) {
		free(text);
		return;
	}
	free(text);
	/* cgroup v2 with a private cgroup namespace shows just "0::/". */
	text = slurp("/proc/self/mountinfo", MOUNTINFO_MAX, &len);
	if (!text || resource_container_id_from_mountinfo(text, len, id) < 0)
		id[0] = '\0';
	free(text);
}

static void random_bytes(uint8_t *b, size_t n)
{
	size_t got = 0;
	uint64_t x;
	struct timespec ts;

	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, GRND_NONBLOCK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got == n)
		return;
	/* No entropy yet (early boot) or no getrandom: the id only has to
	 * be unique, not secret, so time and pid through splitmix64 do. */
	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 32;
	for (; got < n; got++) {
		uint64_t z;

		x += 0x9e3779b97f4a7c15u;
		z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		b[got] = (uint8_t)(z ^ (z >> 31));
	}
}

/* A random (version 4) UUID in its 36-character text form. */
static const char *uuid_v4(void)
{
	uint8_t b[16];
	char s[37];

	random_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(s, sizeof(s),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return store_str(s);
}

/* process.command_args: argv, or /proc/self/cmdline without argv. */
static void command_args(char *const *argv, const char ***arr, size_t *narr)
{
	const char *raw[RESOURCE_MAX_ARGS];
	const char **out;
	char *cmdline = NULL, red[ARG_MAX_BYTES + 1];
	size_t n = 0, i;

	*arr = NULL;
	*narr = 0;
	if (argv) {
		while (n < RESOURCE_MAX_ARGS && argv[n]) {
			raw[n] = argv[n];
			n++;
		}
	} else {
		ssize_t len;
		size_t off = 0;

		cmdline = malloc(CMDLINE_MAX + 1);
		if (!cmdline)
			return;
		len = read_file("/proc/self/cmdline", cmdline, CMDLINE_MAX);
		if (len <= 0)
			goto out;
		cmdline[len] = '\0';
		while (off < (size_t)len && n < RESOURCE_MAX_ARGS) {
			raw[n++] = cmdline + off;
			off += strlen(cmdline + off) + 1;
		}
	}
	if (n == 0)
		goto out;
	out = store_alloc(n * sizeof(*out));
	if (!out)
		goto out;
	for (i = 0; i < n; i++) {
		size_t l = resource_redact_arg(raw[i], i ? raw[i - 1] : NULL,
					       red, sizeof(red));

		out[i] = store_strn(red, l);
	}
	*arr = out;
	*narr = n;
out:
	free(cmdline);
}

/* ------------------------------------------------------------ assembly */

static struct resource_attr *slot(struct resource *res, const char *key)
{
	size_t i;

	for (i = 0; i < res->nattrs; i++) {
		if (strcmp(res->attrs[i].key, key) == 0)
			break;
	}
	if (i == res->nattrs) {
		if (res->nattrs == RESOURCE_MAX_ATTRS)
			return NULL;
		res->nattrs++;
	}
	memset(&res->attrs[i], 0, sizeof(res->attrs[i]));
	res->attrs[i].key = key;
	return &res->attrs[i];
}

/* Sets (or replaces) a string attribute; NULL values are skipped. */
static void set_str(struct resource *res, const char *key, const char *v)
{
	struct resource_attr *a;

	if (!v)
		return;
	a = slot(res, key);
	if (!a)
		return;
	a->type = RESOURCE_STRING;
	a->s = v;
}

static void set_int(struct resource *res, const char *key, int64_t v)
{
	struct resource_attr *a = slot(res, key);

	if (!a)
		return;
	a->type = RESOURCE_INT;
	a->i = v;
}

static const char *user_attr(const struct config *cfg, const char *key)
{
	const char *v = NULL;
	size_t i;

	/* The last of repeated keys wins, as with the other entries. */
	for (i = 0; i < cfg->n_resource_attrs; i++) {
		if (cfg->resource_attrs[i].key &&
		    strcmp(cfg->resource_attrs[i].key, key) == 0)
			v = cfg->resource_attrs[i].value;
	}
	return v;
}

int resource_build(struct resource *res, const struct config *cfg,
		   char *const *argv)
{
	char path[PATH_MAX], id[RESOURCE_CONTAINER_ID_LEN + 1];
	const char *exe_path = NULL, *exe_name = NULL, *service;
	const char **args;
	struct utsname u;
	ssize_t n;
	size_t i, nargs;

	memset(res, 0, sizeof(*res));
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n > 0) {
		const char *slash;

		path[n] = '\0';
		exe_path = store_str(path);
		slash = strrchr(exe_path, '/');
		exe_name = slash ? slash + 1 : exe_path;
	}

	/* OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES,
	 * which beats the spec's default. */
	service = cfg->service_name;
	if (!service || !service[0])
		service = user_attr(cfg, ATTR_SERVICE_NAME);
	if (!service || !service[0]) {
		char def[PATH_MAX + 32];

		if (exe_name && exe_name[0])
			snprintf(def, sizeof(def), "unknown_service:%s",
				 exe_name);
		else
			snprintf(def, sizeof(def), "unknown_service");
		service = store_str(def);
	}
	set_str(res, ATTR_SERVICE_NAME, service);
	set_str(res, ATTR_SERVICE_INSTANCE_ID, uuid_v4());

	/* "opentelemetry" is reserved for the official SDKs.  The language
	 * list of the semantic conventions has no entry for C; custom values
	 * are allowed, and "c" says what a backend needs to know. */
	set_str(res, ATTR_TELEMETRY_SDK_NAME, "otelshim");
	set_str(res, ATTR_TELEMETRY_SDK_LANGUAGE, "c");
	set_str(res, ATTR_TELEMETRY_SDK_VERSION, OTELSHIM_VERSION);

	set_int(res, ATTR_PROCESS_PID, (int64_t)getpid());
	set_str(res, ATTR_PROCESS_EXECUTABLE_NAME, exe_name);
	set_str(res, ATTR_PROCESS_EXECUTABLE_PATH, exe_path);
	command_args(argv, &args, &nargs);
	if (nargs) {
		struct resource_attr *a = slot(res, ATTR_PROCESS_COMMAND_ARGS);

		if (a) {
			a->type = RESOURCE_STRING_ARRAY;
			a->arr = args;
			a->narr = nargs;
		}
	}

	if (uname(&u) == 0) {
		set_str(res, ATTR_HOST_NAME, store_str(u.nodename));
		set_str(res, ATTR_HOST_ARCH,
			store_str(resource_arch_name(u.machine)));
	}
	set_str(res, ATTR_OS_TYPE, "linux");

	container_id(id);
	if (id[0])
		set_str(res, ATTR_CONTAINER_ID, store_str(id));

	/* OTEL_RESOURCE_ATTRIBUTES: a user key replaces a detected one;
	 * service.name was settled above. */
	for (i = 0; i < cfg->n_resource_attrs; i++) {
		const struct config_kv *kv = &cfg->resource_attrs[i];

		if (!kv->key || !kv->key[0] || !kv->value ||
		    strcmp(kv->key, ATTR_SERVICE_NAME) == 0)
			continue;
		set_str(res, kv->key, kv->value);
	}
	return 0;
}

const struct resource_attr *resource_find(const struct resource *res,
					  const char *key)
{
	size_t i;

	for (i = 0; i < res->nattrs; i++) {
		if (strcmp(res->attrs[i].key, key) == 0)
			return &res->attrs[i];
	}
	return NULL;
}
