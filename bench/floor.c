/*
 * Hook floor: the time one libc call takes on a descriptor the shim does
 * not trace, so that running it with and without the shim preloaded gives
 * the cost a hook adds.  Times write()s of one byte to /dev/null and
 * send()+recv() pairs of one byte over an AF_UNIX socketpair, after a
 * warm-up, in five slices of n/5 calls each, and prints the nanoseconds per
 * call of the fastest slice (the one least disturbed by the machine):
 *
 *     write_ns 41.2
 *     sendrecv_ns 612.0        (per call: a pair counts as two)
 *     sem_ns 9.1               sem_post+sem_wait, uncontended (per call)
 *
 *     floor [N]                (default 2000000)
 */
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double time_write(int fd, long n)
{
	char c = 'x';
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (write(fd, &c, 1) != 1) {
			perror("floor: write");
			exit(1);
		}
	}
	return (now_ns() - t0) / (double)n;
}

static double time_sendrecv(const int sv[2], long n)
{
	char c = 'x';
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (send(sv[0], &c, 1, 0) != 1 || recv(sv[1], &c, 1, 0) != 1) {
			perror("floor: send/recv");
			exit(1);
		}
	}
	return (now_ns() - t0) / (double)(2 * n);
}

static double time_sem(sem_t *sem, long n)
{
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (sem_post(sem) != 0 || sem_wait(sem) != 0) {
			perror("floor: sem");
			exit(1);
		}
	}
	return (now_ns() - t0) / (double)(2 * n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	int fd = open("/dev/null", O_WRONLY);
	int sv[2];

	if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("floor");
		return 1;
	}
	double w = 1e30, sr = 1e30, sm = 1e30;
	sem_t sem;

	sem_init(&sem, 0, 0);
	time_sem(&sem, n / 10);

	time_write(fd, n / 10);
	time_sendrecv(sv, n / 20);
	for (int i = 0; i < 5; i++) {
		double t = time_write(fd, n / 5);

		w = t < w ? t : w;
		t = time_sendrecv(sv, n / 10);
		sr = t < sr ? t : sr;
		t = time_sem(&sem, n / 5);
		sm = t < sm ? t : sm;
	}
	printf("write_ns %.2f\n", w);
	printf("sendrecv_ns %.2f\n", sr);
	printf("sem_ns %.2f\n", sm);
	return 0;
}
