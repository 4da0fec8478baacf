/*
 * The least a preloaded hook can be, for the hook floor's comparison: a
 * library whose write, send, recv, sem_post and sem_wait do nothing but
 * call the next definition, found once at load.  Preloaded into
 * bench/floor, it shows what interposing on a call costs by itself on this
 * machine (a page of the hook's code and a page holding the pointer it
 * calls through), the part of the shim's hook floor no hook can avoid.
 */
#include <dlfcn.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))

static ssize_t (*next_write)(int, const void *, size_t);
static ssize_t (*next_send)(int, const void *, size_t, int);
static ssize_t (*next_recv)(int, void *, size_t, int);
static int (*next_sem_post)(sem_t *);
static int (*next_sem_wait)(sem_t *);

__attribute__((constructor)) static void find_next(void)
{
	next_write = (ssize_t (*)(int, const void *, size_t))
		dlsym(RTLD_NEXT, "write");
	next_send = (ssize_t (*)(int, const void *, size_t, int))
		dlsym(RTLD_NEXT, "send");
	next_recv = (ssize_t (*)(int, void *, size_t, int))
		dlsym(RTLD_NEXT, "recv");
	next_sem_post = (int (*)(sem_t *))dlsym(RTLD_NEXT, "sem_post");
	next_sem_wait = (int (*)(sem_t *))dlsym(RTLD_NEXT, "sem_wait");
}

API ssize_t write(int fd, const void *buf, size_t n)
{
	return next_write(fd, buf, n);
}

API ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	return next_send(fd, buf, n, flags);
}

API ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	return next_recv(fd, buf, n, flags);
}

API int sem_post(sem_t *sem)
{
	return next_sem_post(sem);
}

API int sem_wait(sem_t *sem)
{
	return next_sem_wait(sem);
}
