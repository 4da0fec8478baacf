/*
 * The descriptor table (see fdtab.h): one array in .bss, never resized,
 * so lookups are an index and need no lock.  The library's own mapping
 * holds it: a start makes no call for it, and a page of it becomes
 * resident only when a descriptor number on that page is first used.
 * Beside it the gate bits, in .data with the hooks' real_* pointers.
 */
#include <stddef.h>
#include <string.h>

#include "fdtab.h"

struct fd_entry fdtab_entries[FDTAB_MAX];
uint64_t fdtab_gate[FDTAB_GATE_FDS / 64] __attribute__((section(".data")));

/* Sets or clears fd's gate bit; a word holds 64 descriptors that other
 * threads may be opening or closing at the same time. */
static void gate(int fd, int on)
{
	uint64_t bit;

	if ((unsigned)fd >= FDTAB_GATE_FDS)
		return;
	bit = (uint64_t)1 << ((unsigned)fd % 64);
	if (on)
		__atomic_fetch_or(&fdtab_gate[fd / 64], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&fdtab_gate[fd / 64], ~bit, __ATOMIC_RELAXED);
}

void fdtab_set_kind(struct fd_entry *e, enum fd_kind kind)
{
	int stream = fd_kind_is_stream(kind);

	if (stream != fd_kind_is_stream(e->kind))
		gate((int)(e - fdtab_entries), stream);
	e->kind = (uint8_t)kind;
}

void fdtab_forget(int fd)
{
	struct fd_entry *e = fdtab_get(fd);

	/* Untouched entries stay untouched: no page is dirtied for them. */
	if (e && (e->kind || e->state || e->proto || e->conn)) {
		fdtab_set_kind(e, FD_UNKNOWN);
		memset(e, 0, offsetof(struct fd_entry, peer));
	}
}

void fdtab_own(int fd, int owned)
{
	struct fd_entry *e = fdtab_get(fd);

	if (!e)
		return;
	fdtab_forget(fd);
	if (owned)
		fdtab_set_kind(e, FD_OWN);
}
