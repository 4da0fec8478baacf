/*
 * Memory under load: records spans as fast as one thread can — each
 * connect() to a closed loopback port fails with ECONNREFUSED, which the
 * shim turns into a CLIENT span — for `seconds`, and prints its resident
 * set size once a second and its peak at the end (KiB, from
 * /proc/self/status):
 *
 *     rss_kib 1 5120
 *     ...
 *     connects 250000
 *     hwm_kib 6144
 *     private_kib 2048      (anonymous or privately dirtied, /proc/self/smaps)
 *     vmas 40               (lines of /proc/self/maps)
 *
 * Without the shim the same loop shows the program's own footprint, so the
 * difference is what tracing adds: the ring at its configured size, the
 * exporter thread and the exporter module.
 *
 *     spanload SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long status_kib(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = atol(line + n + 1);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * Memory only this process holds: for each mapping, its anonymous pages or
 * its privately dirtied ones (relocated data of a library), whichever is
 * more; shared library text is not counted.  KiB.
 */
static long private_kib(void)
{
	char line[256];
	long anon = 0, dirty = 0, sum = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long v;

		if (sscanf(line, "Anonymous: %ld", &v) == 1)
			anon = v;
		else if (sscanf(line, "Private_Dirty: %ld", &v) == 1)
			dirty = v;
		else if (strncmp(line, "VmFlags:", 8) == 0) {
			/* The last field of a mapping's block. */
			sum += anon > dirty ? anon : dirty;
			anon = dirty = 0;
		}
	}
	fclose(f);
	return sum;
}

static long vmas(void)
{
	char line[512];
	long n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strchr(line, '\n') != NULL;
	fclose(f);
	return n;
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
	socklen_t slen = sizeof(sa);
	double secs = argc > 1 ? atof(argv[1]) : 5, t0, next;
	long connects = 0;
	int fd, tick = 0;

	/* A port that nobody listens on: bound, never listened to. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &slen) < 0) {
		perror("spanload");
		return 1;
	}
	t0 = mono_s();
	next = t0 + 1;
	for (;;) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		double now;

		if (c < 0) {
			perror("spanload: socket");
			return 1;
		}
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		    errno != ECONNREFUSED) {
			fprintf(stderr, "spanload: connect did not fail\n");
			return 1;
		}
		close(c);
		connects++;
		if ((connects & 255) != 0)
			continue;
		now = mono_s();
		if (now >= next) {
			printf("rss_kib %d %ld\n", ++tick, status_kib("VmRSS"));
			next += 1;
		}
		if (now - t0 >= secs)
			break;
	}
	printf("connects %ld\n", connects);
	printf("hwm_kib %ld\n", status_kib("VmHWM"));
	printf("private_kib %ld\n", private_kib());
	printf("vmas %ld\n", vmas());
	close(fd);
	return 0;
}
