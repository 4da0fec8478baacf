/*
 * Hook floor: the time one libc call takes on a descriptor the shim does
 * not trace, and what a hook adds to it.  Times write()s of one byte to
 * /dev/null, send()+recv() pairs of one byte over an AF_UNIX socketpair
 * and uncontended sem_post()+sem_wait() pairs, each two ways in the same
 * process: through the program's own binding (the shim's hook when it is
 * preloaded) and straight to libc's function.  The two alternate slice by
 * slice, so that the machine's drift, tens of nanoseconds per call between
 * runs on a busy guest, lands on both alike; per call:
 *
 *     write_ns 1041.2          through the program's binding, median slice
 *     write_libc_ns 1038.0     libc's own function, median slice
 *     write_added_ns 3.1       median over slices of the difference
 *     sendrecv_ns ...          (a pair counts as two calls)
 *     sem_ns ...
 *
 * Without the shim both ways reach libc and the added figures show what
 * the method itself cannot resolve.
 *
 *     floor [N]                (calls per way, default 2000000)
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "median.h"

#define SLICES 40

struct calls {
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*recv)(int, void *, size_t, int);
	int (*sem_post)(sem_t *);
	int (*sem_wait)(sem_t *);
};

static void *need(void *handle, const char *name)
{
	void *f = dlsym(handle, name);

	if (!f) {
		fprintf(stderr, "floor: %s: %s\n", name, dlerror());
		exit(1);
	}
	return f;
}

static void resolve(struct calls *c, void *handle)
{
	c->write = need(handle, "write");
	c->send = need(handle, "send");
	c->recv = need(handle, "recv");
	c->sem_post = need(handle, "sem_post");
	c->sem_wait = need(handle, "sem_wait");
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct target {
	int fd;
	int sv[2];
	sem_t sem;
};

/* Nanoseconds per call of n calls of one kind made through c. */
static double time_calls(const struct calls *c, struct target *t,
			 int kind, long n)
{
	char b = 'x';
	double t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int ok;

		if (kind == 0)
			ok = c->write(t->fd, &b, 1) == 1;
		else if (kind == 1)
			ok = c->send(t->sv[0], &b, 1, 0) == 1 &&
			     c->recv(t->sv[1], &b, 1, 0) == 1;
		else
			ok = c->sem_post(&t->sem) == 0 &&
			     c->sem_wait(&t->sem) == 0;
		if (!ok) {
			perror("floor");
			exit(1);
		}
	}
	return (now_ns() - t0) / (double)(kind == 0 ? n : 2 * n);
}

static void measure(const char *name, const struct calls *linked,
		    const struct calls *libc, struct target *t, int kind,
		    long n)
{
	double via[SLICES], own[SLICES], added[SLICES];
	long per = n / SLICES;

	time_calls(linked, t, kind, per);	/* warm both ways up */
	time_calls(libc, t, kind, per);
	for (int i = 0; i < SLICES; i++) {
		if (i % 2) {
			own[i] = time_calls(libc, t, kind, per);
			via[i] = time_calls(linked, t, kind, per);
		} else {
			via[i] = time_calls(linked, t, kind, per);
			own[i] = time_calls(libc, t, kind, per);
		}
		added[i] = via[i] - own[i];
	}
	printf("%s_ns %.2f\n", name, median(via, SLICES));
	printf("%s_libc_ns %.2f\n", name, median(own, SLICES));
	printf("%s_added_ns %.2f\n", name, median(added, SLICES));
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	struct calls linked, direct;
	struct target t;

	t.fd = open("/dev/null", O_WRONLY);
	if (!libc || t.fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, t.sv) < 0 ||
	    sem_init(&t.sem, 0, 0) != 0) {
		perror("floor");
		return 1;
	}
	resolve(&linked, RTLD_DEFAULT);
	resolve(&direct, libc);
	measure("write", &linked, &direct, &t, 0, n);
	measure("sendrecv", &linked, &direct, &t, 1, n / 2);
	measure("sem", &linked, &direct, &t, 2, n);
	return 0;
}
