/*
 * The loader guard (shim/forkguard.c, common/loader.c): a child forked
 * while another thread walks the loader's list of objects with
 * dl_iterate_phdr() can still load a library and exit.  glibc leaves the
 * lock that walk holds taken in such a child, so without the guard the
 * child's dlopen() of a library not yet loaded waits forever (the parent
 * gives it two seconds).  Also: enters nest, and one that may not wait
 * fails while a fork holds the guard.
 * links: shim/forkguard.c
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "common/loader.h"
#include "shim/forkguard.h"
#include "unit.h"

static _Atomic int walking;

/* Holds the loader's iteration lock for a while, as a slow walk does. */
static int slow_walk(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };

	(void)info;
	(void)size;
	(void)arg;
	walking = 1;
	nanosleep(&t, NULL);
	return 0;
}

static void *walker(void *arg)
{
	(void)arg;
	loader_enter(1);
	dl_iterate_phdr(slow_walk, NULL);
	loader_leave();
	return NULL;
}

/* Exit status of a child that loads a library: 0, 1 if it could not, or
 * -1 if it did not finish within two seconds (killed). */
static int child_loads_library(void)
{
	pid_t pid = fork();
	int st, i;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		void *h = dlopen("libresolv.so.2", RTLD_NOW | RTLD_LOCAL);

		_exit(h ? 0 : 1);
	}
	for (i = 0; i < 200; i++) {
		struct timespec t = { 0, 10 * 1000 * 1000 };

		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
		nanosleep(&t, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

START_TEST(fork_during_walk_child_can_load)
{
	pthread_t t;

	forkguard_install();
	walking = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, walker, NULL), 0);
	while (!walking)
		sched_yield();
	ck_assert_int_eq(child_loads_library(), 0);
	pthread_join(t, NULL);
}
END_TEST

static int entered_in_fork = -1;

/* Registered before the guard, so it runs while the guard is held. */
static void prepare_probe(void)
{
	entered_in_fork = loader_enter(0);
	if (entered_in_fork)
		loader_leave();
}

START_TEST(enter_without_waiting_fails_only_while_forking)
{
	pthread_atfork(prepare_probe, NULL, NULL);
	forkguard_install();
	ck_assert_int_eq(loader_enter(0), 1);
	ck_assert_int_eq(loader_enter(0), 1);   /* nested */
	loader_leave();
	loader_leave();
	ck_assert_int_eq(child_loads_library(), 0);
	ck_assert_int_eq(entered_in_fork, 0);
	ck_assert_int_eq(loader_enter(0), 1);
	loader_leave();
}
END_TEST

UNIT_MAIN("forkguard", fork_during_walk_child_can_load,
	  enter_without_waiting_fails_only_while_forking)
