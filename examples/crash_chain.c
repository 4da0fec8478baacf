/*
 * A program that installs its own SIGSEGV handler after the library's
 * crash handler is in place, then crashes: its handler must still run
 * (the library chains to it), it must see its own handler when it asks,
 * and the crash is still reported.  Used by tests/integration/test_stack.py.
 *
 *   crash_chain sigaction|signal
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_segv(int sig)
{
	static const char msg[] = "handled by the program\n";

	(void)sig;
	write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(42);
}

/* A failed connect: a span, so the exporter thread starts and installs
 * the crash handler. */
static void refused(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(1) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
}

int main(int argc, char **argv)
{
	struct sigaction sa, seen;
	volatile int *nowhere = NULL;

	refused();
	usleep(300000);
	if (argc > 1 && !strcmp(argv[1], "signal")) {
		signal(SIGSEGV, on_segv);
	} else {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_segv;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, NULL);
	}
	sigaction(SIGSEGV, NULL, &seen);
	printf("sees its own handler: %s\n",
	       seen.sa_handler == on_segv ? "yes" : "no");
	fflush(stdout);
	refused();
	*nowhere = 1;
	return 0;
}
