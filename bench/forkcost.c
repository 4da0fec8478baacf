/*
 * What fork() costs a process whose exporter thread runs: records one span
 * (a refused connect(), which starts the shim's exporter thread and loads
 * its module), waits for the first export, then forks N children that
 * _exit(0) at once, waiting for each, and prints the mean per fork+wait,
 * in wall time and in CPU time (this process, all its threads, and its
 * children: the page-table copy in fork() and its teardown at _exit() are
 * both kernel time; CPU time does not count waiting for a busy machine):
 *
 *     fork_us 180.5
 *     fork_cpu_us 150.2
 *
 * Without the shim the same program gives the floor; the difference is
 * what the page tables and mappings the shim adds cost each fork.
 *
 *     forkcost N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
			kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
			kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int n = argc > 1 ? atoi(argv[1]) : 1000, i, fd, st;
	double t0, c0;

	/* Port 1 on loopback: refused, one CLIENT span with the shim. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(1);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
	    errno != ECONNREFUSED) {
		fprintf(stderr, "forkcost: connect did not fail\n");
		return 1;
	}
	close(fd);
	/* Let the exporter thread start, load the module and export (the
	 * benchmark sets a short schedule delay). */
	usleep(600 * 1000);
	t0 = mono_s();
	c0 = cpu_s();
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("forkcost: fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &st, 0) != pid) {
			perror("forkcost: waitpid");
			return 1;
		}
	}
	printf("fork_us %.1f\n", (mono_s() - t0) / n * 1e6);
	printf("fork_cpu_us %.1f\n", (cpu_s() - c0) / n * 1e6);
	return 0;
}
