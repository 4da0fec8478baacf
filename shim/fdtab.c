/*
 * The descriptor table (see fdtab.h): one mmap()ed array, reserved at
 * start-up and never resized, so lookups are an index and need no lock.
 */
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "common/loader.h"
#include "fdtab.h"

struct fd_entry *fdtab_table STARTUP_DATA;

STARTUP_CODE int fdtab_init(void)
{
	void *m = mmap(NULL, FDTAB_MAX * sizeof(struct fd_entry),
		       PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	fdtab_table = m;
	return 0;
}

void fdtab_forget(int fd)
{
	struct fd_entry *e = fdtab_get(fd);

	/* Untouched entries stay untouched: no page is dirtied for them. */
	if (e && (e->kind || e->state || e->proto || e->conn))
		memset(e, 0, offsetof(struct fd_entry, peer));
}

void fdtab_own(int fd, int owned)
{
	struct fd_entry *e = fdtab_get(fd);

	if (!e)
		return;
	fdtab_forget(fd);
	if (owned)
		e->kind = FD_OWN;
}
