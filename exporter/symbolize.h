/*
 * Symbolisation of captured stacks, on the exporter thread: each return
 * address becomes function+offset and the module it lies in, with file and
 * line where the module has DWARF debug info.  Symbols come from the ELF
 * file on disk (.symtab, else .dynsym), read once per module; file:line
 * from libdw, which is dlopen()ed when first needed and simply missing
 * when not installed.  A stripped module degrades to module+offset.
 */
#ifndef OTELSHIM_SYMBOLIZE_H
#define OTELSHIM_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/span.h"
#include "otlp.h"

struct symbolize_frame {
	uintptr_t pc;
	const char *module;     /* path of the object, NULL if unknown */
	uintptr_t module_off;   /* pc in the file's address space */
	const char *function;   /* NULL if no symbol covers pc */
	uintptr_t function_off; /* pc - start of function */
	const char *file;       /* source file, NULL if unknown */
	int line;               /* 0 if unknown */
};

/*
 * Resolves one address of this process.  `call_site`: pc is a return
 * address (every frame but a crash's first), so the call instruction
 * before it is what is looked up.  The strings stay valid until the next
 * symbolize_* call.  Never fails: what is unknown is left NULL/0.
 */
void symbolize_addr(uintptr_t pc, int call_site, struct symbolize_frame *f);

/*
 * Formats one frame as "handle_request+0x1f (/path/to/binary)", with
 * " at file.c:42" when known; "/path/to/binary+0x11a9" without a symbol;
 * "0x7f..." without a module.  Returns the length (truncated to cap - 1,
 * always NUL-terminated when cap > 0).
 */
size_t symbolize_format(const struct symbolize_frame *f, char *buf,
			size_t cap);

/* otlp_stack_fn: s's stack, one frame per line, innermost first. */
size_t symbolize_render_stack(const struct span *s, char *buf, size_t cap);

/*
 * otlp_site_fn: the innermost frame of s's stack outside libc, the
 * database and HTTP client libraries and the shim, if it has a symbol.
 */
int symbolize_code_site(const struct span *s, struct otlp_code_site *site);

/* 1 if the module at path is one whose frames are not the program's own
 * code (libc, libpq, libsqlite3, TLS and HTTP client libraries, us). */
int symbolize_is_library(const char *path);

/*
 * The function symbol covering vaddr in an ELF image (img, len) held in
 * memory: copies its name into (name, cap) and sets *off; returns 0, or
 * -1 when none does or the image is not a usable ELF file.  Any bytes are
 * safe to pass.
 */
int symbolize_elf_lookup(const uint8_t *img, size_t len, uint64_t vaddr,
			 char *name, size_t cap, uint64_t *off);

/* Forgets every cached module (for tests; the exporter keeps them). */
void symbolize_reset(void);

#endif
