/*
 * The otelshim command: run a program with the library preloaded, look at
 * what a file export holds, and find out why a program shows no spans.
 *
 *   otelshim run [--service NAME] [--endpoint URL] [--file PATH] -- CMD...
 *   otelshim view FILE
 *   otelshim doctor [CMD]
 *   otelshim status [DIR]
 *   otelshim flush [DIR]
 *
 * The library is looked for next to this executable (the build tree and
 * the portable bundle keep them together), then in ../lib/otelshim.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "flush.h"
#include "json.h"
#include "view.h"

#define LIB_NAME "libotelshim.so"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: otelshim run [--service NAME] [--endpoint URL] "
		"[--file PATH] -- CMD [ARGS...]\n"
		"       otelshim view FILE\n"
		"       otelshim doctor [CMD]\n"
		"       otelshim status [DIR]   (default $OTELSHIM_STATUS_DIR; "
		"also the spool's size)\n"
		"       otelshim flush [DIR]    (send what waits in the spool, "
		"default $OTELSHIM_SPOOL_DIR\n"
		"                                or the per-user one, to the "
		"endpoints it was meant for)\n");
}

/* The library beside /proc/self/exe, or in ../lib/otelshim. */
static int find_library(char *out, size_t cap)
{
	char exe[PATH_MAX / 2];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(out, cap, "%s/%s", exe, LIB_NAME);
	if (access(out, R_OK) == 0)
		return 0;
	snprintf(out, cap, "%s/../lib/otelshim/%s", exe, LIB_NAME);
	return access(out, R_OK);
}

/* LD_PRELOAD with lib appended, unless it is already there. */
static int preload_with(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *val;
	int rc;

	if (old && strstr(old, lib))
		return 0;
	if (old && *old) {
		size_t n = strlen(old) + strlen(lib) + 2;

		val = malloc(n);
		if (!val)
			return -1;
		snprintf(val, n, "%s %s", old, lib);
	} else {
		val = strdup(lib);
	}
	rc = val ? setenv("LD_PRELOAD", val, 1) : -1;
	free(val);
	return rc;
}

static int run_main(int argc, char **argv)
{
	char lib[PATH_MAX];
	int i;

	for (i = 0; i < argc; i++) {
		const char *opt = argv[i];

		if (!strcmp(opt, "--")) {
			i++;
			break;
		}
		if (opt[0] != '-')
			break;
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(opt, "--service")) {
			setenv("OTEL_SERVICE_NAME", argv[++i], 1);
		} else if (!strcmp(opt, "--endpoint")) {
			setenv("OTEL_EXPORTER_OTLP_ENDPOINT", argv[++i], 1);
		} else if (!strcmp(opt, "--file")) {
			setenv("OTEL_TRACES_EXPORTER", "console", 1);
			setenv("OTELSHIM_CONSOLE_FILE", argv[++i], 1);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (find_library(lib, sizeof(lib)) != 0) {
		fprintf(stderr, "otelshim: %s not found next to this "
			"program\n", LIB_NAME);
		return 1;
	}
	if (preload_with(lib) != 0) {
		perror("otelshim: LD_PRELOAD");
		return 1;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "otelshim: %s: %s\n", argv[i], strerror(errno));
	return 127;
}

/* Finds cmd in PATH (or takes it as a path). */
static int which(const char *cmd, char *out, size_t cap)
{
	const char *path = getenv("PATH");

	if (strchr(cmd, '/')) {
		snprintf(out, cap, "%s", cmd);
		return access(out, X_OK);
	}
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);

		snprintf(out, cap, "%.*s/%s", (int)n, p, cmd);
		if (access(out, X_OK) == 0)
			return 0;
		p += n + (colon ? 1 : 0);
	}
	return -1;
}

/* Maps a virtual address to a file offset through the PT_LOAD headers. */
static off_t vaddr_to_offset(int fd, const Elf64_Ehdr *eh, Elf64_Addr va)
{
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh->e_phoff +
			  (Elf64_Off)i * eh->e_phentsize)) != sizeof(ph))
			break;
		if (ph.p_type == PT_LOAD && va >= ph.p_vaddr &&
		    va < ph.p_vaddr + ph.p_filesz)
			return (off_t)(ph.p_offset + (va - ph.p_vaddr));
	}
	return -1;
}

/* Says whether the program links libpq or libsqlite3 (DT_NEEDED): those
 * calls become database spans.  A program that loads them later with
 * dlopen (Python, for one) is traced all the same. */
static void doctor_needed(int fd, const Elf64_Ehdr *eh, const Elf64_Phdr *dyn)
{
	Elf64_Dyn d;
	Elf64_Addr strtab = 0;
	off_t stroff;
	int pq = 0, sq = 0;

	for (Elf64_Xword k = 0; k * sizeof(d) < dyn->p_filesz; k++) {
		if (pread(fd, &d, sizeof(d), (off_t)(dyn->p_offset +
			  k * sizeof(d))) != sizeof(d) || d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_STRTAB)
			strtab = d.d_un.d_ptr;
	}
	stroff = strtab ? vaddr_to_offset(fd, eh, strtab) : -1;
	for (Elf64_Xword k = 0; stroff >= 0 && k * sizeof(d) < dyn->p_filesz;
	     k++) {
		char name[64] = "";

		if (pread(fd, &d, sizeof(d), (off_t)(dyn->p_offset +
			  k * sizeof(d))) != sizeof(d) || d.d_tag == DT_NULL)
			break;
		if (d.d_tag != DT_NEEDED ||
		    pread(fd, name, sizeof(name) - 1,
			  stroff + (off_t)d.d_un.d_val) <= 0)
			continue;
		pq |= !strncmp(name, "libpq.so", 8);
		sq |= !strncmp(name, "libsqlite3.so", 13);
	}
	printf("[info] links libpq: %s; links libsqlite3: %s (HTTP is "
	       "traced either way)\n", pq ? "yes" : "no", sq ? "yes" : "no");
}

/* What the ELF file says about being preloadable. */
static void doctor_binary(const char *cmd)
{
	char path[PATH_MAX], interp[256] = "";
	Elf64_Ehdr eh;
	Elf64_Phdr dyn = { 0 };
	struct stat st;
	int fd, dynamic = 0;

	if (which(cmd, path, sizeof(path)) != 0) {
		printf("[FAIL] %s: not found\n", cmd);
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &eh, sizeof(eh)) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		printf("[FAIL] %s: not an ELF executable (a script? then "
		       "check the interpreter it runs)\n", path);
		if (fd >= 0)
			close(fd);
		return;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff +
			  (Elf64_Off)i * eh.e_phentsize)) != sizeof(ph))
			break;
		if (ph.p_type == PT_DYNAMIC) {
			dynamic = 1;
			dyn = ph;
		}
		if (ph.p_type == PT_INTERP && ph.p_filesz < sizeof(interp))
			pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset);
	}
	fstat(fd, &st);
	if (dynamic && interp[0] && eh.e_ident[EI_CLASS] == ELFCLASS64)
		doctor_needed(fd, &eh, &dyn);
	close(fd);
	if (!dynamic || !interp[0])
		printf("[FAIL] %s is statically linked: LD_PRELOAD cannot "
		       "reach it (Go binaries usually are)\n", path);
	else if (strstr(interp, "musl"))
		printf("[FAIL] %s uses musl (%s): the library is built for "
		       "glibc\n", path, interp);
	else
		printf("[ ok ] %s is dynamically linked against glibc (%s)\n",
		       path, interp);
	if (st.st_mode & (S_ISUID | S_ISGID))
		printf("[FAIL] %s is setuid/setgid: such programs are never "
		       "traced\n", path);
}

/* POSTs an empty ExportTraceServiceRequest (OTLP allows it; a receiver
 * answers 200) and reports the status line. */
static void doctor_probe_otlp(int fd, const char *ep, const char *host,
			      const char *port)
{
	const char *path = strchr(strstr(ep, "://") + 3, '/');
	const char *traces = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	char target[512], req[1024], resp[256] = "";
	struct timeval tv = { .tv_sec = 3 };
	int status = 0, n;

	/* As the library builds it: a full traces URL is used as is, a base
	 * gets v1/traces appended. */
	if (traces && *traces)
		snprintf(target, sizeof(target), "%s", path ? path : "/");
	else
		snprintf(target, sizeof(target), "%s%sv1/traces",
			 path ? path : "/",
			 path && path[strlen(path) - 1] == '/' ? "" : "/");
	n = snprintf(req, sizeof(req),
		     "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: "
		     "application/x-protobuf\r\nContent-Length: 0\r\n"
		     "Connection: close\r\n\r\n", target, host, port);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (n > 0 && n < (int)sizeof(req) && write(fd, req, (size_t)n) == n &&
	    read(fd, resp, sizeof(resp) - 1) > 0)
		sscanf(resp, "HTTP/%*s %d", &status);
	if (status == 200)
		printf("[ ok ] endpoint %s accepts OTLP/HTTP (an empty export "
		       "request got 200)\n", ep);
	else
		printf("[FAIL] endpoint %s accepts connections but answered an "
		       "empty OTLP export with %d (wrong path or not an OTLP "
		       "receiver?)\n", ep, status);
}

static void doctor_endpoint(void)
{
	const char *ep = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	char host[256] = "localhost", port[16] = "4318";
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	const char *p;
	int fd, ok = 0;

	if (!ep || !*ep)
		ep = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	if (!ep || !*ep)
		ep = "http://localhost:4318";
	p = strstr(ep, "://");
	p = p ? p + 3 : ep;
	if (sscanf(p, "%255[^:/]:%15[0-9]", host, port) < 1) {
		printf("[FAIL] endpoint %s: cannot read a host in it\n", ep);
		return;
	}
	if (!strncmp(ep, "https", 5) && !strchr(p, ':'))
		snprintf(port, sizeof(port), "443");
	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		printf("[FAIL] endpoint %s: %s does not resolve\n", ep, host);
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		ok = 1;
	freeaddrinfo(ai);
	if (!ok) {
		printf("[FAIL] endpoint %s: nothing accepts connections at "
		       "%s:%s\n", ep, host, port);
	} else if (strncmp(ep, "http://", 7)) {
		printf("[ ok ] endpoint %s accepts connections (TLS: not "
		       "probed further)\n", ep);
	} else {
		doctor_probe_otlp(fd, ep, host, port);
	}
	if (fd >= 0)
		close(fd);
}

static int doctor_main(int argc, char **argv)
{
	char lib[PATH_MAX];

	if (find_library(lib, sizeof(lib)) == 0)
		printf("[ ok ] library: %s\n", lib);
	else
		printf("[FAIL] %s not found next to this program\n", LIB_NAME);
	if (getenv("OTEL_SDK_DISABLED") &&
	    !strcasecmp(getenv("OTEL_SDK_DISABLED"), "true"))
		printf("[FAIL] OTEL_SDK_DISABLED=true: nothing is traced\n");
	if (getenv("OTEL_TRACES_EXPORTER") &&
	    !strcasecmp(getenv("OTEL_TRACES_EXPORTER"), "none"))
		printf("[FAIL] OTEL_TRACES_EXPORTER=none: nothing is sent\n");
	doctor_endpoint();
	if (argc > 0)
		doctor_binary(argv[0]);
	return 0;
}

/* One line per traced process from its status file in dir. */
static int status_main(int argc, char **argv)
{
	const char *dir = argc > 0 ? argv[0] : getenv("OTELSHIM_STATUS_DIR");
	struct json_arena *a;
	struct dirent *de;
	DIR *d;
	int n = 0;

	flush_print_usage();
	if (!dir || !*dir) {
		fprintf(stderr, "otelshim status: no DIR given and "
			"OTELSHIM_STATUS_DIR is not set\n");
		return 2;
	}
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "otelshim status: %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	a = json_arena_new();
	printf("%-8s %-10s %-9s %9s %9s %9s %9s %7s\n", "PID", "HEALTH",
	       "BREAKER", "RECORDED", "EXPORTED", "DROPPED", "FAILED",
	       "QUEUED");
	while ((de = readdir(d))) {
		char path[PATH_MAX], buf[2048];
		const struct json *j, *sp;
		ssize_t len;
		int fd;

		if (strncmp(de->d_name, "otelshim-", 9) ||
		    !strstr(de->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		j = json_parse(a, buf, (size_t)len);
		sp = json_get(j, "spans");
		if (!j || !sp)
			continue;
		printf("%-8s %-10s %-9s %9s %9s %9s %9s %7s\n",
		       json_str(j, "pid", "?"), json_str(j, "health", "?"),
		       json_str(j, "breaker", "?"),
		       json_str(sp, "recorded", "?"),
		       json_str(sp, "exported", "?"),
		       json_str(sp, "dropped_queue_full", "?"),
		       json_str(sp, "dropped_export_failed", "?"),
		       json_str(sp, "queued", "?"));
		n++;
	}
	closedir(d);
	json_arena_free(a);
	if (!n)
		printf("(no traced process is reporting in %s)\n", dir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return run_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "view"))
		return view_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "doctor"))
		return doctor_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "status"))
		return status_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "flush"))
		return flush_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
