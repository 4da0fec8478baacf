/*
 * What fork() costs a traced process.  Records a span (a refused
 * connect(), which starts the shim's exporter thread and loads its
 * module), waits for the first export, then forks N children that
 * _exit(0) at once, waiting for each, and prints the mean per fork+wait,
 * in wall time and in CPU time (this process, all its threads, and its
 * children: the page-table copy in fork() and its teardown at _exit() are
 * both kernel time; CPU time does not count waiting for a busy machine),
 * and the page faults per fork in the parent and in the child (on a
 * paravirtual guest each costs about 10 us; unlike time, the count does
 * not move with the load on the machine):
 *
 *     fork_us 180.5
 *     fork_cpu_us 150.2
 *     fork_faults_parent 2.0
 *     fork_faults_child 15.0
 *
 *     forkcost N [busy][,thread]
 *
 * busy: a span (another refused connect) before every fork, so the
 * exporter has work while the program forks.  thread: the program starts
 * one thread of its own first (blocked in pause()), so that a run without
 * the shim shows what any second thread costs fork() in glibc, and a
 * traced run against it only what the library adds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void faults(long *self, long *kids)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*self = ru.ru_minflt + ru.ru_majflt;
	getrusage(RUSAGE_CHILDREN, &ru);
	*kids = ru.ru_minflt + ru.ru_majflt;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Port 1 on loopback: refused, one CLIENT span with the shim. */
static int refused_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(1);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	     errno == ECONNREFUSED;
	if (fd >= 0)
		close(fd);
	if (!ok)
		fprintf(stderr, "forkcost: connect did not fail\n");
	return ok ? 0 : -1;
}

static void *idle_thread(void *arg)
{
	for (;;)
		pause();
	return arg;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, i, st;
	const char *mode = argc > 2 ? argv[2] : "";
	int busy = strstr(mode, "busy") != NULL;
	long s0, k0, s1, k1;
	double t0, c0;
	pthread_t th;

	if (strstr(mode, "thread") &&
	    pthread_create(&th, NULL, idle_thread, NULL) != 0) {
		fprintf(stderr, "forkcost: no thread\n");
		return 1;
	}
	if (refused_connect() != 0)
		return 1;
	/* Let the exporter thread start, load the module and export (the
	 * benchmark sets a short schedule delay). */
	usleep(600 * 1000);
	t0 = mono_s();
	c0 = cpu_s();
	faults(&s0, &k0);
	for (i = 0; i < n; i++) {
		pid_t pid;

		if (busy && refused_connect() != 0)
			return 1;
		pid = fork();
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
	faults(&s1, &k1);
	printf("fork_us %.1f\n", (mono_s() - t0) / n * 1e6);
	printf("fork_cpu_us %.1f\n", (cpu_s() - c0) / n * 1e6);
	printf("fork_faults_parent %.2f\n", (double)(s1 - s0) / n);
	printf("fork_faults_child %.2f\n", (double)(k1 - k0) / n);
	return 0;
}
