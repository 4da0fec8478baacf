/*
 * Process start timer: runs a command 2n times, alternating a run without
 * the shim and a run with it, each posix_spawn()ed and waited for, and
 * prints the median wall time of one run of each kind in microseconds:
 *
 *     plain_us 812.4
 *     shim_us 905.1
 *
 * Alternating run by run keeps slow drifts of the machine out of the
 * ratio.  The timer itself is never preloaded: the library path comes in
 * OTELSHIM_BENCH_PRELOAD and becomes the shim runs' LD_PRELOAD.  The
 * command's stdout goes to /dev/null.
 *
 *     spawn N CMD [ARG...]
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "median.h"

extern char **environ;

/* Copies of environ without LD_PRELOAD: *plain as is, *shim with
 * LD_PRELOAD set to OTELSHIM_BENCH_PRELOAD.  Returns 0, or -1. */
static int make_envs(char ***plain, char ***shim)
{
	const char *lib = getenv("OTELSHIM_BENCH_PRELOAD");
	size_t n = 0, j = 0;
	char *pre;

	if (!lib)
		return -1;
	while (environ[n])
		n++;
	*plain = calloc(n + 1, sizeof(char *));
	*shim = calloc(n + 2, sizeof(char *));
	pre = malloc(strlen(lib) + sizeof("LD_PRELOAD="));
	if (!*plain || !*shim || !pre)
		return -1;
	strcpy(pre, "LD_PRELOAD=");
	strcat(pre, lib);
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0)
			continue;
		(*plain)[j] = environ[i];
		(*shim)[j] = environ[i];
		j++;
	}
	(*shim)[j] = pre;
	return 0;
}

static double run_once(char **argv, char **env,
		       const posix_spawn_file_actions_t *fa)
{
	struct timespec t0, t1;
	pid_t pid;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (posix_spawn(&pid, argv[0], fa, NULL, argv, env) != 0) {
		perror("spawn: posix_spawn");
		exit(1);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "spawn: %s failed\n", argv[0]);
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) * 1e6 +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	char **plain_env, **shim_env;
	double *plain, *shim;
	long n;

	if (argc < 3 || make_envs(&plain_env, &shim_env) < 0) {
		fprintf(stderr, "usage: OTELSHIM_BENCH_PRELOAD=LIB "
			"spawn N CMD [ARG...]\n");
		return 2;
	}
	n = atol(argv[1]);
	plain = calloc((size_t)n, sizeof(double));
	shim = calloc((size_t)n, sizeof(double));
	if (n < 1 || !plain || !shim)
		return 2;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	for (long i = 0; i < n; i++) {
		plain[i] = run_once(argv + 2, plain_env, &fa);
		shim[i] = run_once(argv + 2, shim_env, &fa);
	}
	printf("plain_us %.2f\n", median(plain, (size_t)n));
	printf("shim_us %.2f\n", median(shim, (size_t)n));
	return 0;
}
