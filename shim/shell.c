/*
 * system() and popen(): glibc starts their shell through its internal
 * posix_spawn, which no hook of ours sees, so a span active on the calling
 * thread would not reach the command, nor the warning mark (exec.h).  When
 * a child of this call would get something from us, the call runs here:
 * glibc's own steps, in glibc's order, through the real posix_spawn with
 * the environment exec.c builds.  Otherwise it is glibc's.
 *
 * The two never run side by side, since each keeps process-wide state of
 * its own: system() saves the actions of SIGINT and SIGQUIT at the first
 * of concurrent calls and puts them back at the last, and every popen()
 * child closes the descriptors of the streams popen() made before it.  So
 * a call that would be ours while glibc's system() is running is glibc's
 * (the one case where a command misses the trace), a call that would be
 * glibc's while ours are running or open is ours, and the streams glibc's
 * popen() makes are listed too, for the children of ours to close.
 *
 * Application threads; neither is async-signal-safe (nor are glibc's).
 */
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <paths.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sysio.h"
#include "exec.h"
#include "preload.h"

extern char **environ;

/*
 * glibc 2.38 and later run `sh -c -- command` (a command starting with '-'
 * or '+' is not an option) and fail popen() with posix_spawn's error
 * rather than ENOMEM.  Worked out once; racing threads agree.
 */
static int glibc_2_38(void)
{
	static _Atomic int known = -1;
	int v = atomic_load_explicit(&known, memory_order_relaxed);
	char *end;
	unsigned long major, minor = 0;

	if (v >= 0)
		return v;
	major = strtoul(gnu_get_libc_version(), &end, 10);
	if (*end == '.')
		minor = strtoul(end + 1, NULL, 10);
	v = major > 2 || (major == 2 && minor >= 38);
	atomic_store_explicit(&known, v, memory_order_relaxed);
	return v;
}

/* The shell's arguments, as glibc passes them. */
static void shell_argv(char *argv[5], const char *command)
{
	int i = 0;

	argv[i++] = (char *)"sh";
	argv[i++] = (char *)"-c";
	if (glibc_2_38())
		argv[i++] = (char *)"--";
	argv[i++] = (char *)command;
	argv[i] = NULL;
}

/* ------------------------------------------------------------ state */

/* system(): the actions the first running call of ours saved, and how
 * many calls of each kind are running. */
static pthread_mutex_t sys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction sys_intr, sys_quit;
static int sys_ours, sys_glibc;

/* popen(): every stream open, ours and glibc's (newest first). */
struct stream {
	FILE *fp;
	int fd;                 /* closed in the children of ours */
	int writes;             /* a "w" stream */
	pid_t pid;              /* the shell of ours; 0: glibc's stream */
	struct stream *next;
};

static pthread_mutex_t popen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stream *streams;
static unsigned streams_ours;
/* How many are listed: fclose() looks only when some are. */
static _Atomic unsigned streams_n STARTUP_DATA;

/* A fork() while another thread holds a lock must not leave the child
 * with it held (or with a list changed half-way). */
static void locks_take(void)
{
	pthread_mutex_lock(&sys_lock);
	pthread_mutex_lock(&popen_lock);
}

/* Cold: beside the library's other fork handlers (preload.c), one page
 * of code for a child to fault in. */
__attribute__((cold)) static void locks_give(void)
{
	pthread_mutex_unlock(&popen_lock);
	pthread_mutex_unlock(&sys_lock);
}

static void at_fork_once(void)
{
	loader_atfork(locks_take, locks_give, locks_give);
}

static void state_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, at_fork_once);
}

/* ------------------------------------------------------------ system */

struct sys_child {
	pid_t pid;
};

/* The last running call puts back what the first saved. */
static void sys_leave(int quit_first)
{
	pthread_mutex_lock(&sys_lock);
	if (--sys_ours == 0) {
		if (quit_first)
			real_sigaction(SIGQUIT, &sys_quit, NULL);
		real_sigaction(SIGINT, &sys_intr, NULL);
		if (!quit_first)
			real_sigaction(SIGQUIT, &sys_quit, NULL);
	}
	pthread_mutex_unlock(&sys_lock);
}

/* The calling thread was cancelled while waiting: the shell is killed and
 * reaped, and the signals put back (not the mask: the thread is ending). */
static void sys_cancelled(void *arg)
{
	const struct sys_child *c = arg;
	int state;

	KEEP_ERRNO(kill(c->pid, SIGKILL));
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	TEMP_FAILURE_RETRY(waitpid(c->pid, NULL, 0));
	pthread_setcancelstate(state, NULL);
	sys_leave(1);
}

/* glibc's do_system() after the signals were set aside (sys_enter). */
static int sys_run(const char *line, char *const *env)
{
	posix_spawnattr_t attr;
	sigset_t chld, omask, reset;
	char *argv[5];
	int status = -1, ret;
	pid_t pid;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &omask);
	sigemptyset(&reset);
	if (sys_intr.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGINT);
	if (sys_quit.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGQUIT);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &omask);
	posix_spawnattr_setsigdefault(&attr, &reset);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETSIGMASK);
	shell_argv(argv, line);
	ret = real_posix_spawn(&pid, _PATH_BSHELL, NULL, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	if (ret == 0) {
		struct sys_child c = { pid };

		/* system() is a cancellation point through waitpid(). */
		pthread_cleanup_push(sys_cancelled, &c);
		if (TEMP_FAILURE_RETRY(waitpid(pid, &status, 0)) != pid)
			status = -1;
		pthread_cleanup_pop(0);
	} else {
		/* As if the shell had run and called _exit(127). */
		status = W_EXITCODE(127, 0);
	}
	sys_leave(0);
	sigprocmask(SIG_SETMASK, &omask, NULL);
	if (ret != 0)
		errno = ret;
	return status;
}

/* Decides whose call this is; ours sets SIGINT and SIGQUIT aside first
 * (the first of concurrent calls saving their actions).  1: ours. */
static int sys_enter(int want)
{
	struct sigaction ign;
	int ours;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	pthread_mutex_lock(&sys_lock);
	ours = sys_glibc == 0 && (want || sys_ours > 0);
	if (!ours) {
		sys_glibc++;
	} else if (sys_ours++ == 0) {
		real_sigaction(SIGINT, &ign, &sys_intr);
		real_sigaction(SIGQUIT, &ign, &sys_quit);
	}
	pthread_mutex_unlock(&sys_lock);
	return ours;
}

static void sys_glibc_done(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sys_lock);
	sys_glibc--;
	pthread_mutex_unlock(&sys_lock);
}

static int sys_glibc_run(const char *line)
{
	int status;

	pthread_cleanup_push(sys_glibc_done, NULL);
	status = real_system(line);
	pthread_cleanup_pop(0);
	KEEP_ERRNO(sys_glibc_done(NULL));
	return status;
}

HOOK_API int system(const char *line)
{
	struct exec_env buf;
	char *const *env;

	if (!exec_env_adds())
		return real_system(line);
	state_init();
	env = exec_env(environ, &buf);
	if (!sys_enter(env != environ))
		return sys_glibc_run(line);
	/* NULL asks whether there is a shell: glibc runs one to see. */
	if (!line)
		return sys_run("exit 0", env) == 0;
	return sys_run(line, env);
}

/* ------------------------------------------------------------ popen */

static void stream_add(struct stream *st)
{
	st->next = streams;
	streams = st;
	if (st->pid)
		streams_ours++;
	atomic_fetch_add_explicit(&streams_n, 1, memory_order_relaxed);
}

/* The listed stream fp is, or NULL. */
static struct stream *stream_find(FILE *fp)
{
	struct stream *st;

	if (!atomic_load_explicit(&streams_n, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&popen_lock);
	for (st = streams; st && st->fp != fp; st = st->next)
		;
	pthread_mutex_unlock(&popen_lock);
	return st;
}

static void stream_unlink(struct stream *st)
{
	struct stream **p;

	pthread_mutex_lock(&popen_lock);
	for (p = &streams; *p && *p != st; p = &(*p)->next)
		;
	if (*p) {
		*p = st->next;
		if (st->pid)
			streams_ours--;
		atomic_fetch_sub_explicit(&streams_n, 1,
					  memory_order_relaxed);
	}
	pthread_mutex_unlock(&popen_lock);
}

/*
 * The shell of a stream of ours, the pipe's child end already set up as
 * its descriptor child_fd; with popen_lock held, so that no stream is
 * added meanwhile.  0, a positive errno (posix_spawn's, or its file
 * actions'), or -1 with errno set.
 */
static int popen_spawn(posix_spawn_file_actions_t *fa, int *child_end,
		       int child_fd, const char *command, char *const *env,
		       pid_t *pid)
{
	char *argv[5];
	int err;

	/* Already the number the child needs: moved, or there would be no
	 * race-free way to clear its close-on-exec flag in the child. */
	if (*child_end == child_fd) {
		int tmp = fcntl(child_fd, F_DUPFD_CLOEXEC, 0);

		if (tmp < 0)
			return -1;
		sys_close(*child_end);
		*child_end = tmp;
	}
	err = posix_spawn_file_actions_adddup2(fa, *child_end, child_fd);
	for (struct stream *st = streams; st && !err; st = st->next) {
		/* One at child_fd is gone already: dup2 replaced it. */
		if (st->fd != child_fd)
			err = posix_spawn_file_actions_addclose(fa, st->fd);
	}
	if (err)
		return err;
	shell_argv(argv, command);
	return real_posix_spawn(pid, _PATH_BSHELL, fa, NULL, argv, env);
}

/* glibc's popen(), as ours: st is the caller's, listed on success. */
static FILE *popen_run(struct stream *st, const char *command,
		       const char *mode, char *const *env)
{
	posix_spawn_file_actions_t fa;
	int do_read = 0, do_write = 0, do_cloexec = 0;
	int fds[2], parent, child, err;
	FILE *fp;

	for (const char *m = mode; *m; m++) {
		if (*m == 'r') {
			do_read = 1;
		} else if (*m == 'w') {
			do_write = 1;
		} else if (*m == 'e') {
			do_cloexec = 1;
		} else {
			errno = EINVAL;
			return NULL;
		}
	}
	if ((do_read ^ do_write) == 0) {
		errno = EINVAL;
		return NULL;
	}
	/* Both ends close-on-exec until the child has its own: a fork() on
	 * another thread meanwhile must not inherit them. */
	if (real_pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	parent = do_read ? 0 : 1;
	child = 1 - parent;
	fp = fdopen(fds[parent], do_read ? "r" : "w");
	if (!fp) {
		KEEP_ERRNO(sys_close(fds[0]); sys_close(fds[1]));
		return NULL;
	}
	posix_spawn_file_actions_init(&fa);
	err = popen_spawn(&fa, &fds[child], do_read ? 1 : 0, command, env,
			  &st->pid);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		KEEP_ERRNO(sys_close(fds[child]); real_fclose(fp));
		if (!glibc_2_38())
			errno = ENOMEM;
		else if (err > 0)
			errno = err;
		return NULL;
	}
	sys_close(fds[child]);
	if (!do_cloexec)
		fcntl(fds[parent], F_SETFD, 0);
	st->fp = fp;
	st->fd = fds[parent];
	st->writes = do_write;
	stream_add(st);
	return fp;
}

/* glibc's popen(), its stream listed for the children of ours to close. */
static FILE *popen_glibc(struct stream *st, const char *command,
			 const char *mode)
{
	FILE *fp = real_popen(command, mode);

	if (!fp)
		return NULL;
	st->fp = fp;
	st->fd = fileno(fp);
	st->writes = strchr(mode, 'w') != NULL;
	st->pid = 0;
	stream_add(st);
	return fp;
}

HOOK_API FILE *popen(const char *command, const char *mode)
{
	struct exec_env buf;
	struct stream *st;
	char *const *env;
	FILE *fp;

	if (!exec_env_adds())
		return real_popen(command, mode);
	state_init();
	env = exec_env(environ, &buf);
	/* Where glibc allocates its stream, and fails the same way. */
	st = malloc(sizeof(*st));
	if (!st)
		return NULL;
	pthread_mutex_lock(&popen_lock);
	if (env != environ || streams_ours > 0)
		fp = popen_run(st, command, mode, env);
	else
		fp = popen_glibc(st, command, mode);
	pthread_mutex_unlock(&popen_lock);
	if (!fp)
		KEEP_ERRNO(free(st));
	return fp;
}

/*
 * pclose(), and fclose() on a stream popen() made (glibc closes those
 * alike).  As glibc does: what is buffered is written, the stream leaves
 * the list, its descriptor is closed, then the shell is waited for.  The
 * status is the shell's, else -1 if the last write failed; -1 if closing
 * or waiting failed.  glibc's streams close through close_fn (the
 * function the program called), after the same write.
 */
static int stream_close(struct stream *st, int (*close_fn)(FILE *))
{
	FILE *fp = st->fp;
	pid_t pid = st->pid, w;
	int wrote = 0, status, state;

	if (st->writes) {
		wrote = fflush(fp);
		/* Dropped, as glibc drops what it failed to write. */
		if (wrote == EOF)
			__fpurge(fp);
	}
	stream_unlink(st);
	free(st);
	if (!pid) {
		status = close_fn(fp);
		return status ? status : wrote == EOF ? -1 : 0;
	}
	if (real_fclose(fp) == EOF)
		return -1;
	do {
		/* Not a cancellation point, as in glibc. */
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
		w = waitpid(pid, &status, 0);
		pthread_setcancelstate(state, NULL);
	} while (w == -1 && errno == EINTR);
	if (w == -1)
		return -1;
	return status ? status : wrote == EOF ? -1 : 0;
}

HOOK_API int pclose(FILE *fp)
{
	struct stream *st = stream_find(fp);

	return st ? stream_close(st, real_pclose) : real_pclose(fp);
}

HOOK_API int fclose(FILE *fp)
{
	struct stream *st = stream_find(fp);

	return st ? stream_close(st, real_fclose) : real_fclose(fp);
}
