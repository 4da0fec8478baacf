/*
 * The descriptor table (see fdtab.h): one array in .bss, never resized,
 * so lookups are an index and need no lock.  The library's own mapping
 * holds it: a start makes no call for it, and a page of it becomes
 * resident only when a descriptor number on that page is first used.
 */
#include <stddef.h>
#include <string.h>

#include "fdtab.h"

struct fd_entry fdtab_entries[FDTAB_MAX];

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
