/*
 * The otelshim command: run a program with the library preloaded, look at
 * what a file export holds, and find out why a program shows no spans.
 *
 *   otelshim run [--service NAME] [--endpoint URL] [--file PATH] -- CMD...
 *   otelshim view FILE
 *   otelshim doctor [CMD]
 *   otelshim status [DIR]
 *   otelshim flush [DIR]
 *   otelshim help [COMMAND], otelshim --version
 *
 * Exit status: 0 when everything asked for worked, 1 when a check or the
 * work failed, 2 for a usage error (said on stderr); `run` exits as the
 * program it runs.
 * The library is looked for next to this executable (the build tree and
 * the portable bundle keep them together), then in ../lib/otelshim.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/endpoint.h"
#include "common/text.h"
#include "flush.h"
#include "post.h"
#include "json.h"
#include "view.h"

#define LIB_NAME "libotelshim.so"

struct command {
	const char *name;
	const char *args;
	const char *help;
	int (*main)(int argc, char **argv);
};

static const struct command *commands(void);

/* text, each of its lines indented. */
static void print_indented(FILE *f, const char *text, int indent)
{
	while (*text) {
		size_t n = strcspn(text, "\n");

		fprintf(f, "%*s%.*s\n", indent, "", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

static void usage(FILE *f)
{
	const struct command *c;

	fprintf(f, "usage: otelshim COMMAND [ARGS...]\n\n");
	for (c = commands(); c->name; c++) {
		fprintf(f, "  otelshim %s %s\n", c->name, c->args);
		print_indented(f, c->help, 6);
	}
	fprintf(f, "  otelshim help [COMMAND]\n  otelshim --version\n");
}

static void command_usage(FILE *f, const struct command *c)
{
	fprintf(f, "usage: otelshim %s %s\n\n", c->name, c->args);
	print_indented(f, c->help, 2);
}

static int usage_error(const char *cmd, const char *what)
{
	fprintf(stderr, "otelshim %s: %s (otelshim help %s)\n", cmd, what,
		cmd);
	return 2;
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

/* The file the console exporter will append to, created now so that a
 * path that cannot be written is said before the program runs, not
 * discovered as missing spans afterwards. */
static int check_output_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "otelshim run: --file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int run_main(int argc, char **argv)
{
	char lib[PATH_MAX], url[4096];
	int i;

	for (i = 0; i < argc; i++) {
		const char *opt = argv[i], *val;

		if (!strcmp(opt, "--")) {
			i++;
			break;
		}
		if (opt[0] != '-')
			break;
		if (strcmp(opt, "--service") && strcmp(opt, "--endpoint") &&
		    strcmp(opt, "--file")) {
			fprintf(stderr, "otelshim run: unknown option %s "
				"(otelshim help run)\n", opt);
			return 2;
		}
		val = i + 1 < argc ? argv[++i] : NULL;
		if (!val || !*val || !strcmp(val, "--")) {
			fprintf(stderr, "otelshim run: %s needs a value "
				"(otelshim help run)\n", opt);
			return 2;
		}
		if (!strcmp(opt, "--service")) {
			setenv("OTEL_SERVICE_NAME", val, 1);
		} else if (!strcmp(opt, "--endpoint")) {
			if (endpoint_url(str_of(val), 1, "v1/traces", url,
					 sizeof(url)) < 0) {
				fprintf(stderr, "otelshim run: --endpoint %s: "
					"not an http:// or https:// URL\n",
					val);
				return 2;
			}
			setenv("OTEL_EXPORTER_OTLP_ENDPOINT", val, 1);
		} else {
			if (check_output_file(val) != 0)
				return 2;
			setenv("OTEL_TRACES_EXPORTER", "console", 1);
			setenv("OTELSHIM_CONSOLE_FILE", val, 1);
		}
	}
	if (i >= argc)
		return usage_error("run", "no program to run");
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

/* What the ELF file says about being preloadable; returns the number of
 * failed checks. */
static int doctor_binary(const char *cmd)
{
	char path[PATH_MAX], interp[256] = "";
	Elf64_Ehdr eh;
	Elf64_Phdr dyn = { 0 };
	struct stat st;
	int fd, dynamic = 0, failed = 0;

	if (which(cmd, path, sizeof(path)) != 0) {
		printf("[FAIL] %s: not found\n", cmd);
		return 1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &eh, sizeof(eh)) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		printf("[FAIL] %s: not an ELF executable (a script? then "
		       "check the interpreter it runs)\n", path);
		if (fd >= 0)
			close(fd);
		return 1;
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
	if (!dynamic || !interp[0]) {
		printf("[FAIL] %s is statically linked: LD_PRELOAD cannot "
		       "reach it (Go binaries usually are)\n", path);
		failed++;
	} else if (strstr(interp, "musl")) {
		printf("[FAIL] %s uses musl (%s): the library is built for "
		       "glibc\n", path, interp);
		failed++;
	} else {
		printf("[ ok ] %s is dynamically linked against glibc (%s)\n",
		       path, interp);
	}
	if (st.st_mode & (S_ISUID | S_ISGID)) {
		printf("[FAIL] %s is setuid/setgid: such programs are never "
		       "traced\n", path);
		failed++;
	}
	return failed;
}

/* POSTs an empty ExportTraceServiceRequest (OTLP allows it; a receiver
 * answers 200) to the URL the library posts to; 0 when it was taken. */
static int doctor_probe_otlp(int fd, const char *url, const struct endpoint *e)
{
	int status = post_send(fd, e, "application/x-protobuf", "", "", 0);

	if (status == 200) {
		printf("[ ok ] %s accepts OTLP/HTTP (an empty export request "
		       "got 200)\n", url);
		return 0;
	}
	printf("[FAIL] %s accepts connections but answered an empty OTLP "
	       "export with %d (wrong path or not an OTLP receiver?)\n", url,
	       status);
	return 1;
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* The endpoint the library would export to, as it builds it; returns the
 * number of failed checks. */
static int doctor_endpoint(void)
{
	char url[4096];
	const char *from, *why;
	struct endpoint e;
	int fd, grpc;

	if (endpoint_from_env(env_get, url, sizeof(url), &from, &grpc) < 0 ||
	    endpoint_split(url, &e) != 0) {
		printf("[FAIL] %s is not an http:// or https:// URL\n",
		       from ? from : "the endpoint");
		return 1;
	}
	printf("[info] spans are posted to %s (%s)\n", url,
	       from ? from : "the default endpoint");
	fd = post_connect(&e, &why);
	if (fd < 0) {
		printf("[FAIL] %s: %s port %s %s\n", url, e.host, e.port, why);
		return 1;
	}
	if (e.tls || grpc) {
		printf("[ ok ] %s accepts connections (%s)\n", url,
		       grpc ? "OTLP/gRPC: the export itself is not tried by "
			      "doctor" : "TLS: the certificate is not checked "
			      "by doctor");
		close(fd);
		return 0;
	}
	return doctor_probe_otlp(fd, url, &e);
}

static int doctor_main(int argc, char **argv)
{
	char lib[PATH_MAX];
	const char *v;
	int failed = 0;

	if (argc > 1)
		return usage_error("doctor", "at most one program to check");
	if (find_library(lib, sizeof(lib)) == 0) {
		printf("[ ok ] library: %s\n", lib);
	} else {
		printf("[FAIL] %s not found next to this program\n", LIB_NAME);
		failed++;
	}
	v = getenv("OTEL_SDK_DISABLED");
	if (v && !strcasecmp(v, "true")) {
		printf("[FAIL] OTEL_SDK_DISABLED=true: nothing is traced\n");
		failed++;
	}
	v = getenv("OTEL_TRACES_EXPORTER");
	if (v && !strcasecmp(v, "none")) {
		printf("[FAIL] OTEL_TRACES_EXPORTER=none: nothing is sent\n");
		failed++;
	}
	failed += doctor_endpoint();
	if (argc > 0)
		failed += doctor_binary(argv[0]);
	if (failed)
		printf("%d check%s failed\n", failed, failed == 1 ? "" : "s");
	return failed ? 1 : 0;
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

static const struct command command_list[] = {
	{ "run", "[--service NAME] [--endpoint URL] [--file PATH] -- CMD "
	  "[ARGS...]",
	  "Run CMD with the library preloaded. --endpoint sets\n"
	  "OTEL_EXPORTER_OTLP_ENDPOINT; --file writes the spans to PATH as\n"
	  "OTLP/JSON lines instead of exporting them. Exits as CMD does.",
	  run_main },
	{ "view", "FILE",
	  "Show the traces in an OTLP/JSON lines file (- for standard\n"
	  "input) as trees. Exits 1 when a line could not be read.",
	  view_main },
	{ "doctor", "[CMD]",
	  "Check the library, the configuration and the endpoint (an empty\n"
	  "export is posted where the library would post it), and whether\n"
	  "CMD can be traced. Exits 1 when a check fails.", doctor_main },
	{ "status", "[DIR]",
	  "One line per traced process reporting in DIR (default\n"
	  "$OTELSHIM_STATUS_DIR), and the spool's size.", status_main },
	{ "flush", "[DIR]",
	  "Send what waits in the spool (default $OTELSHIM_SPOOL_DIR or the\n"
	  "per-user one) to the endpoints it was meant for; plain http://\n"
	  "only, https:// files are left for a traced process.", flush_main },
	{ NULL, NULL, NULL, NULL },
};

static const struct command *commands(void)
{
	return command_list;
}

static const struct command *command_named(const char *name)
{
	const struct command *c;

	for (c = commands(); c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("otelshim %s\n", OTELSHIM_VERSION);
		return 0;
	}
	if (is_help(argv[1]) || !strcmp(argv[1], "help")) {
		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		c = command_named(argv[2]);
		if (!c) {
			fprintf(stderr, "otelshim help: no command %s\n\n",
				argv[2]);
			usage(stderr);
			return 2;
		}
		command_usage(stdout, c);
		return 0;
	}
	c = command_named(argv[1]);
	if (!c) {
		fprintf(stderr, "otelshim: no command %s\n\n", argv[1]);
		usage(stderr);
		return 2;
	}
	/* "run -- CMD --help" is CMD's, not ours. */
	if (argc > 2 && is_help(argv[2])) {
		command_usage(stdout, c);
		return 0;
	}
	return c->main(argc - 2, argv + 2);
}
