"""Trace context through system(), popen() and the execl family, which
glibc runs without our exec hooks (an internal posix_spawn, an internal
execve): a span active on the calling thread is the parent of the child's
spans, for C programs (a small server compiled here) and for os.system()
in a Python handler.  The calls behave exactly as glibc's do, with a span
active and without: statuses, signals, descriptors, modes.  And a bad
setting is warned about once per process tree, not once per process.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
import urllib.request
from pathlib import Path

from harness import (KIND_SERVER, Background, Sink, assert_child_of,
                     find_span, find_spans, free_port, need_programs,
                     run_traced, summarize, wait_for_port)

REFUSED = "curl -s http://127.0.0.1:1/"
WARNING = "OTEL_BSP_SCHEDULE_DELAY=\"abc\" is not a valid duration"

SHELLPROG = r"""
/* system(), popen() and the execl family as a program sees them.
 *   shellprog check OUT           what the calls did, written to OUT
 *   shellprog mix                 popen() streams open at once (stdout)
 *   shellprog serve PORT CMD OUT  HTTP requests one at a time: GET /check
 *                                 does the same inside the request, GET
 *                                 /mix-open then /mix open streams before,
 *                                 inside and after a request, GET /<how>
 *                                 runs CMD through <how>, GET /quit ends
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t chld_seen;

static void checks_to_stdout(void);

static void on_chld(int sig) { (void)sig; chld_seen++; }
static void on_int(int sig) { (void)sig; }

static void show_status(const char *what, int st)
{
	printf("%s: %d", what, st);
	if (st != -1 && WIFEXITED(st))
		printf(" exit %d", WEXITSTATUS(st));
	if (st != -1 && WIFSIGNALED(st))
		printf(" signal %d", WTERMSIG(st));
	printf("\n");
	fflush(stdout);
}

static void run(const char *cmd)
{
	fflush(stdout);
	show_status(cmd, system(cmd));
}

static void show_popen(const char *cmd, const char *mode)
{
	char line[512];
	FILE *fp;

	errno = 0;
	fp = popen(cmd, mode);
	if (!fp) {
		printf("popen(%s, \"%s\"): NULL %s\n", cmd, mode, strerror(errno));
		return;
	}
	printf("popen(%s, \"%s\"): cloexec %d\n", cmd, mode,
	       (fcntl(fileno(fp), F_GETFD) & FD_CLOEXEC) != 0);
	if (strchr(mode, 'r')) {
		while (fgets(line, sizeof(line), fp))
			printf("  | %s", line);
	} else {
		fputs("written through the pipe\n", fp);
	}
	show_status("  pclose", pclose(fp));
}

static void *thread_system(void *arg)
{
	int st = system((const char *)arg);

	return (void *)(long)st;
}

static void show_sigs(const char *when)
{
	struct sigaction sa;
	sigset_t m;

	sigaction(SIGINT, NULL, &sa);
	printf("%s: SIGINT %s", when, sa.sa_handler == on_int ? "handler" :
	       sa.sa_handler == SIG_IGN ? "ignored" : "default");
	sigaction(SIGQUIT, NULL, &sa);
	printf(", SIGQUIT %s", sa.sa_handler == SIG_IGN ? "ignored" :
	       sa.sa_handler == SIG_DFL ? "default" : "handler");
	sigprocmask(SIG_SETMASK, NULL, &m);
	printf(", SIGCHLD %s\n", sigismember(&m, SIGCHLD) ? "blocked" : "open");
}

static void checks(const char *out)
{
	int keep_out = fcntl(1, F_DUPFD_CLOEXEC, 0);
	int keep_err = fcntl(2, F_DUPFD_CLOEXEC, 0);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	/* Children write to the report too, in order; their complaints
	 * (sh -c -x) are not part of it. */
	fflush(stdout);
	dup2(fd, 1);
	dup2(null, 2);
	close(fd);
	close(null);
	checks_to_stdout();
	fflush(stdout);
	dup2(keep_out, 1);
	dup2(keep_err, 2);
	close(keep_out);
	close(keep_err);
}

static void checks_to_stdout(void)
{
	struct sigaction sa;
	pthread_t th[2];
	void *ret[2];
	FILE *a, *b, *f;
	char line[256];
	int st;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_int;
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	show_sigs("before");
	run("exit 3");
	run("kill -9 $$");
	run("echo hello from system");
	run("grep -E '^Sig(Ign|Blk)' /proc/$PPID/status");
	run("grep -E '^Sig(Ign|Blk)' /proc/self/status");
	run("tr '\\0' ' ' < /proc/$$/cmdline; echo");
	run("-x");
	printf("system(NULL): %d\n", system(NULL));
	printf("SIGCHLD handled after system: %d\n", chld_seen > 0);
	show_sigs("after");
	signal(SIGQUIT, SIG_IGN);
	run("grep -E '^SigIgn' /proc/self/status");
	signal(SIGQUIT, SIG_DFL);
	pthread_create(&th[0], NULL, thread_system, "sleep 0.3; exit 1");
	pthread_create(&th[1], NULL, thread_system, "sleep 0.1; exit 2");
	pthread_join(th[0], &ret[0]);
	pthread_join(th[1], &ret[1]);
	show_status("thread 1", (int)(long)ret[0]);
	show_status("thread 2", (int)(long)ret[1]);
	show_sigs("after threads");
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);

	/* A writer whose reader is gone gets EPIPE, not killed. */
	signal(SIGPIPE, SIG_IGN);
	show_popen("echo out; echo err >&2", "r");
	show_popen("exit 5", "r");
	show_popen("tr '\\0' ' ' < /proc/$$/cmdline; echo", "r");
	show_popen("cat > /tmp/otelshim-popen-w-$PPID", "w");
	snprintf(line, sizeof(line), "/tmp/otelshim-popen-w-%d", getpid());
	f = fopen(line, "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			printf("  file: %s", line);
		fclose(f);
	}
	snprintf(line, sizeof(line), "/tmp/otelshim-popen-w-%d", getpid());
	unlink(line);
	show_popen("true", "re");
	show_popen("cat > /dev/null", "we");
	show_popen("true", "er");
	show_popen("true", "rw");
	show_popen("true", "x");
	show_popen("true", "xr");
	show_popen("true", "");
	show_popen("true", "r+");
	show_popen("-x", "r");
	/* Streams open in the parent are closed in later children. */
	a = popen("cat > /dev/null", "w");
	b = popen("cat > /dev/null", "we");
	show_popen("ls /proc/self/fd", "r");
	show_status("pclose a", pclose(a));
	show_status("pclose b", pclose(b));
	/* fclose() on a popen() stream waits as pclose() does. */
	a = popen("exit 7", "r");
	show_status("fclose", fclose(a));
	errno = 0;
	st = (int)waitpid(-1, NULL, WNOHANG);
	printf("left to wait for: %d %s\n", st, strerror(errno));
	/* pclose() on any other stream is fclose(). */
	f = fopen("/dev/null", "r");
	show_status("pclose(fopen)", pclose(f));
	/* A reader that quits early: the write fails, pclose says so. */
	a = popen("exit 0", "w");
	usleep(100000);
	for (int i = 0; i < 10000; i++)
		fputs("more than a pipe holds\n", a);
	show_status("pclose after EPIPE", pclose(a));
	signal(SIGPIPE, SIG_DFL);
	fflush(stdout);
}

/*
 * popen() streams from calls with a span and without, open at once: no
 * child inherits another stream's descriptor.  A is opened after a
 * request, B and C inside the next, D and E after it (D while B is
 * open).
 */
static FILE *mix_a, *mix_b;

static void mix_list(const char *what)
{
	char line[64];
	FILE *fp = popen("ls /proc/self/fd | tr '\\n' ' '", "r");

	printf("%s:", what);
	while (fp && fgets(line, sizeof(line), fp))
		printf(" %s", line);
	printf("\n");
	if (fp)
		pclose(fp);
}

static void mix_before(void)
{
	mix_a = popen("cat > /dev/null", "w");
}

static void mix_inside(void)
{
	mix_b = popen("cat > /dev/null", "w");
	mix_list("inside");
}

static void mix_after(void)
{
	mix_list("after, B open");
	show_status("pclose B", pclose(mix_b));
	mix_list("after, B closed");
	show_status("pclose A", pclose(mix_a));
	fflush(stdout);
}

/* Runs cmd through `how`; returns the child's status. */
static int through(const char *how, const char *cmd)
{
	char *envp[] = { NULL, NULL, NULL, NULL, NULL };
	int n = 0, st = -1;
	pid_t pid;

	fflush(stdout);
	if (!strcmp(how, "system"))
		return system(cmd);
	if (!strcmp(how, "popen")) {
		FILE *fp = popen(cmd, "r");
		char buf[256];

		while (fp && fgets(buf, sizeof(buf), fp))
			fputs(buf, stdout);
		return fp ? pclose(fp) : -1;
	}
	for (char **e = environ; *e && n < 3; e++) {
		if (!strncmp(*e, "LD_PRELOAD=", 11) ||
		    !strncmp(*e, "OTEL_", 5))
			envp[n++] = *e;
	}
	envp[n++] = "TRACEPARENT=00-11111111111111111111111111111111-2222222222222222-01";
	pid = strstr(how, "vfork") ? vfork() : fork();
	if (pid == 0) {
		if (strstr(how, "execlp"))
			execlp("sh", "sh", "-c", cmd, (char *)NULL);
		else if (strstr(how, "execle"))
			execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, envp);
		else
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return st;
}

static void serve(int port, const char *cmd, const char *out)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 8)) {
		perror("listen");
		exit(1);
	}
	for (;;) {
		char req[1024], path[256];
		const char *resp = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		ssize_t n = read(c, req, sizeof(req) - 1);

		if (n <= 0 || sscanf(req, "GET /%255s", path) != 1) {
			close(c);
			continue;
		}
		req[n] = 0;
		if (!strcmp(path, "check"))
			checks(out);
		else if (!strcmp(path, "mix"))
			mix_inside();
		else if (strcmp(path, "quit") && strcmp(path, "mix-open"))
			show_status(path, through(path, cmd));
		write(c, resp, strlen(resp));
		close(c);
		/* After the response: the request's span is over. */
		if (!strcmp(path, "mix-open"))
			mix_before();
		if (!strcmp(path, "mix"))
			mix_after();
		if (!strcmp(path, "quit"))
			break;
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2 && !strcmp(argv[1], "check")) {
		checks(argv[2]);
	} else if (argc > 1 && !strcmp(argv[1], "mix")) {
		mix_before();
		mix_inside();
		mix_after();
	}
	else if (argc > 4 && !strcmp(argv[1], "serve"))
		serve(atoi(argv[2]), argv[3], argv[4]);
	else
		return 2;
	return 0;
}
"""

# How the server starts CMD: through system(), popen(), or a fork() or
# vfork() child calling execl(), execle() (whose envp carries a stale
# TRACEPARENT) or execlp().
HOWS = ["system", "popen", "execl", "execle", "execlp", "vfork-execl",
        "vfork-execle", "vfork-execlp"]


def get(port, path):
    """An untraced request to the server."""
    with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (port, path),
                                timeout=30) as r:
        return r.status


class ShellProg(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need_programs("cc", "curl")
        cls.dir = Path(tempfile.mkdtemp(prefix="otelshim-exec-"))
        src = cls.dir / "shellprog.c"
        src.write_text(SHELLPROG)
        cls.prog = cls.dir / "shellprog"
        subprocess.run(["cc", "-D_GNU_SOURCE", "-O1", "-pthread",
                        "-Wno-mismatched-dealloc", "-o", str(cls.prog),
                        str(src)], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def serve(self, sink, out, **env):
        port = free_port()
        srv = Background([self.prog, "serve", port, REFUSED, out], sink,
                         **env)
        return port, srv

    def test_children_continue_the_request_trace(self):
        with Sink() as sink:
            port, srv = self.serve(sink, self.dir / "unused")
            with srv:
                wait_for_port(port)
                for how in HOWS:
                    self.assertEqual(get(port, how), 204)
                get(port, "quit")
                self.assertEqual(srv.proc.wait(timeout=10), 0,
                                 srv.output())
                spans = sink.wait_for_spans(
                    lambda ss: len(find_spans(ss, name="connect")) ==
                    len(HOWS) and len(find_spans(ss, kind=KIND_SERVER))
                    == len(HOWS) + 1)
        servers = {s["span_id"]: s for s in
                   find_spans(spans, kind=KIND_SERVER)}
        children = {}
        for c in find_spans(spans, name="connect"):
            self.assertEqual(c["resource"]["process.executable.name"],
                             "curl")
            self.assertTrue(c["parent_span_id"] in servers, summarize(spans))
            parent = servers[c["parent_span_id"]]
            assert_child_of(c, parent)
            children[parent["attributes"]["url.path"]] = c
        self.assertEqual(sorted(children), sorted("/" + h for h in HOWS))
        self.assertNotIn("11111111111111111111111111111111",
                         [s["trace_id"] for s in spans])

    def test_calls_behave_as_glibcs(self):
        """The same checks untraced, traced (glibc's calls, listed by the
        shim), traced with a warning to mark (every call then runs through
        the shim), and inside a request whose span is active: the reports
        must be identical."""
        plain = self.dir / "plain.txt"
        r = subprocess.run([self.prog, "check", plain], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        traced = self.dir / "traced.txt"
        r = run_traced([self.prog, "check", traced], None,
                       OTEL_TRACES_EXPORTER="none")
        self.assertEqual(r.returncode, 0, r.stderr)
        marked = self.dir / "marked.txt"
        r = run_traced([self.prog, "check", marked], None,
                       OTEL_TRACES_EXPORTER="none",
                       OTEL_BSP_SCHEDULE_DELAY="abc")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count(WARNING), 1, r.stderr)
        active = self.dir / "active.txt"
        with Sink() as sink:
            port, srv = self.serve(sink, active)
            with srv:
                wait_for_port(port)
                self.assertEqual(get(port, "check"), 204)
                get(port, "quit")
                self.assertEqual(srv.proc.wait(timeout=30), 0,
                                 srv.output())
            server = find_span(sink.wait_for_spans(
                lambda s: s["attributes"].get("url.path") == "/check"),
                attrs={"url.path": "/check"})
        self.assertEqual(server["kind"], KIND_SERVER)
        want = plain.read_text()
        self.assertIn("pclose after EPIPE: -1", want)
        self.assertEqual(traced.read_text(), want)
        self.assertEqual(marked.read_text(), want)
        self.assertEqual(active.read_text(), want)


    def test_streams_with_and_without_a_span(self):
        """Streams glibc's popen() made and streams the shim's made, open
        at once: every child closes all of them, whichever made it."""
        plain = subprocess.run([self.prog, "mix"], capture_output=True,
                               text=True)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertIn("after, B closed: 0 1 2 3", plain.stdout)
        with Sink() as sink:
            port, srv = self.serve(sink, self.dir / "unused")
            with srv:
                wait_for_port(port)
                self.assertEqual(get(port, "mix-open"), 204)
                self.assertEqual(get(port, "mix"), 204)
                get(port, "quit")
                self.assertEqual(srv.proc.wait(timeout=30), 0,
                                 srv.output())
                out = srv.output()
        self.assertEqual(out, plain.stdout)


class PythonHandler(unittest.TestCase):
    def test_os_system_joins_the_request_trace(self):
        """os.system() in a handler: the command's spans are children of
        the request span, as they are with subprocess."""
        service = textwrap.dedent("""
            import os, sys
            from http.server import BaseHTTPRequestHandler, HTTPServer
            class H(BaseHTTPRequestHandler):
                def do_GET(self):
                    os.system("%s")
                    self.send_response(204)
                    self.end_headers()
                def log_message(self, *a):
                    pass
            HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """ % REFUSED)
        need_programs("curl")
        port = free_port()
        with Sink() as sink:
            with Background([sys.executable, "-c", service, port], sink):
                wait_for_port(port)
                self.assertEqual(get(port, "x"), 204)
                spans = sink.wait_for_spans(
                    lambda ss: find_spans(ss, name="connect") and
                    find_spans(ss, kind=KIND_SERVER))
        server = find_span(spans, kind=KIND_SERVER, name="GET")
        connect = find_span(spans, name="connect")
        assert_child_of(connect, server)


class WarningOnce(unittest.TestCase):
    """An invalid OTEL_* value is reported by the first process of a tree;
    its descendants, started through exec, posix_spawn, system() or
    popen(), keep quiet about the same value, not about a different one."""

    def warnings(self, cmd, **env):
        env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "abc")
        r = run_traced(cmd, None, OTEL_TRACES_EXPORTER="none", **env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [l for l in r.stderr.splitlines() if l.startswith("otelshim:")]

    def test_a_shell_script_warns_once(self):
        for script in ("true; true; true",
                       "/bin/true; /bin/true; /bin/true",
                       "/bin/true | cat; sh -c '/bin/true; /bin/true'"):
            lines = self.warnings(["sh", "-c", script])
            self.assertEqual(len(lines), 1, (script, lines))
            self.assertIn(WARNING, lines[0])

    def test_python_children_warn_not(self):
        prog = textwrap.dedent("""
            import os, subprocess
            os.system("/bin/true")
            subprocess.run(["/bin/true"])
            os.popen("/bin/true").read()
            pid = os.posix_spawn("/bin/true", ["true"], os.environ)
            os.waitpid(pid, 0)
        """)
        lines = self.warnings([sys.executable, "-c", prog])
        self.assertEqual(len(lines), 1, lines)

    def test_another_value_warns_again(self):
        lines = self.warnings(
            ["sh", "-c", "/bin/true; OTEL_BSP_SCHEDULE_DELAY=xyz /bin/true;"
             " OTEL_BSP_EXPORT_TIMEOUT=x /bin/true"])
        self.assertEqual(len(lines), 3, lines)
        self.assertIn(WARNING, lines[0])
        self.assertIn('"xyz"', lines[1])
        self.assertIn("OTEL_BSP_EXPORT_TIMEOUT", lines[2])
        # The child that warned about the timeout knew the delay's.
        self.assertNotIn("OTEL_BSP_SCHEDULE_DELAY", lines[2])


if __name__ == "__main__":
    unittest.main()
