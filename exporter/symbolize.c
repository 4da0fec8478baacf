/*
 * Symbolisation of captured stacks (see symbolize.h), on the exporter
 * thread only.  Each module (executable or shared object) an address falls
 * in is found with dladdr1(); its ELF file is mapped once and its function
 * symbols sorted for binary search.  libdw, when present, adds file:line;
 * it is dlopen()ed so the module does not depend on it.  Every read from a
 * file is bounds-checked: a truncated or odd file gives fewer names, never
 * a crash.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "common/beside.h"
#include "symbolize.h"

#define MAX_MODULES 128
#define MAX_FILE_SIZE ((size_t)1 << 32)

/* ---------------------------------------------------------- ELF symbols */

struct fsym {
	uint64_t value;
	uint64_t size;
	const char *name;
};

struct elf_syms {
	struct fsym *v;
	size_t n;
};

static int cmp_fsym(const void *a, const void *b)
{
	const struct fsym *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	/* Among aliases, the larger size first: it covers more. */
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return 0;
}

static int read_shdr(const uint8_t *img, size_t len, const ElfW(Ehdr) *eh,
		     size_t i, ElfW(Shdr) *sh)
{
	size_t off = (size_t)eh->e_shoff + i * sizeof(*sh);

	if (i >= eh->e_shnum || off > len || len - off < sizeof(*sh))
		return -1;
	memcpy(sh, img + off, sizeof(*sh));
	return 0;
}

/* 1 if [off, off + size) lies inside the image. */
static int in_image(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

/*
 * Collects the function symbols of one symbol table section into es->v
 * (which has room).  With v == NULL only counts them.
 */
static size_t collect(const uint8_t *img, size_t len, const ElfW(Ehdr) *eh,
		      const ElfW(Shdr) *sec, struct fsym *v)
{
	ElfW(Shdr) str;
	size_t i, n = 0, count;

	if (sec->sh_entsize != sizeof(ElfW(Sym)) ||
	    !in_image(len, sec->sh_offset, sec->sh_size) ||
	    read_shdr(img, len, eh, sec->sh_link, &str) != 0 ||
	    str.sh_type != SHT_STRTAB ||
	    !in_image(len, str.sh_offset, str.sh_size))
		return 0;
	count = (size_t)(sec->sh_size / sizeof(ElfW(Sym)));
	for (i = 0; i < count; i++) {
		const char *strtab = (const char *)img + str.sh_offset;
		ElfW(Sym) sym;
		int type;

		memcpy(&sym, img + sec->sh_offset + i * sizeof(sym),
		       sizeof(sym));
		type = ELF64_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
		    sym.st_shndx == SHN_UNDEF || sym.st_value == 0 ||
		    sym.st_name == 0 || sym.st_name >= str.sh_size ||
		    !memchr(strtab + sym.st_name, '\0',
			    (size_t)(str.sh_size - sym.st_name)))
			continue;
		if (v) {
			v[n].value = sym.st_value;
			v[n].size = sym.st_size;
			v[n].name = strtab + sym.st_name;
		}
		n++;
	}
	return n;
}

/*
 * Reads the function symbols of an ELF image: .symtab when there is one
 * (it holds the static functions too), else .dynsym.  The names point into
 * the image.  Returns 0 (es->n may be 0), or -1 if the image is not an ELF
 * file of this machine's class.
 */
static int elf_load_syms(const uint8_t *img, size_t len, struct elf_syms *es)
{
	ElfW(Ehdr) eh;
	ElfW(Shdr) sh, pick;
	size_t i, n;
	int found = 0;

	es->v = NULL;
	es->n = 0;
	if (len < sizeof(eh))
		return -1;
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 :
				     ELFCLASS32) ||
	    eh.e_shentsize != sizeof(ElfW(Shdr)))
		return -1;
	memset(&pick, 0, sizeof(pick));
	for (i = 0; i < eh.e_shnum; i++) {
		if (read_shdr(img, len, &eh, i, &sh) != 0)
			break;
		if (sh.sh_type == SHT_SYMTAB ||
		    (sh.sh_type == SHT_DYNSYM && !found)) {
			pick = sh;
			found = sh.sh_type == SHT_SYMTAB ? 2 : 1;
			if (found == 2)
				break;
		}
	}
	if (!found)
		return 0;
	n = collect(img, len, &eh, &pick, NULL);
	if (n == 0)
		return 0;
	es->v = malloc(n * sizeof(*es->v));
	if (!es->v)
		return 0;
	es->n = collect(img, len, &eh, &pick, es->v);
	qsort(es->v, es->n, sizeof(*es->v), cmp_fsym);
	return 0;
}

/* The symbol covering vaddr: the last one starting at or below it whose
 * size reaches it (a size of 0 is taken to reach it). */
static const struct fsym *elf_find(const struct elf_syms *es, uint64_t vaddr)
{
	size_t lo = 0, hi = es->n, i, tries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (es->v[mid].value <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo is the first symbol above vaddr; look back a little for one
	 * that covers it (nested and aliased symbols). */
	for (i = lo, tries = 0; i > 0 && tries < 8; i--, tries++) {
		const struct fsym *f = &es->v[i - 1];

		if (f->size == 0 || vaddr - f->value < f->size)
			return f;
	}
	return NULL;
}

int symbolize_elf_lookup(const uint8_t *img, size_t len, uint64_t vaddr,
			 char *name, size_t cap, uint64_t *off)
{
	struct elf_syms es;
	const struct fsym *f;
	int rc = -1;

	if (elf_load_syms(img, len, &es) != 0)
		return -1;
	f = elf_find(&es, vaddr);
	if (f) {
		if (cap > 0)
			snprintf(name, cap, "%s", f->name);
		*off = vaddr - f->value;
		rc = 0;
	}
	free(es.v);
	return rc;
}

/* ----------------------------------------------------------------- libdw */

/* The libdw calls we make, found with dlsym() once. */
static struct {
	int tried;
	int ok;
	__typeof__(dwfl_begin) *begin;
	__typeof__(dwfl_end) *end;
	__typeof__(dwfl_report_offline) *report_offline;
	__typeof__(dwfl_report_end) *report_end;
	__typeof__(dwfl_module_getelf) *module_getelf;
	__typeof__(dwfl_module_getsrc) *module_getsrc;
	__typeof__(dwfl_lineinfo) *lineinfo;
	__typeof__(dwfl_line_comp_dir) *line_comp_dir;
	__typeof__(dwfl_module_addrinfo) *module_addrinfo;
	Dwfl_Callbacks cb;
} dw;

/* Opens name from lib/ beside this module (a bundle made by make dist),
 * else wherever the dynamic loader finds it. */
static void *open_lib(const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "lib/%s", name);
	return dlopen_beside(rel, name);
}

static int dw_load(void)
{
	void *h;

	if (dw.tried)
		return dw.ok;
	dw.tried = 1;
	h = open_lib("libdw.so.1");
	if (!h)
		return 0;
#define DW_SYM(field, name) \
	*(void **)&dw.field = dlsym(h, #name); \
	if (!dw.field) \
		return 0;
	DW_SYM(begin, dwfl_begin)
	DW_SYM(end, dwfl_end)
	DW_SYM(report_offline, dwfl_report_offline)
	DW_SYM(report_end, dwfl_report_end)
	DW_SYM(module_getelf, dwfl_module_getelf)
	DW_SYM(module_getsrc, dwfl_module_getsrc)
	DW_SYM(lineinfo, dwfl_lineinfo)
	DW_SYM(line_comp_dir, dwfl_line_comp_dir)
	DW_SYM(module_addrinfo, dwfl_module_addrinfo)
	DW_SYM(cb.find_debuginfo, dwfl_standard_find_debuginfo)
	DW_SYM(cb.section_address, dwfl_offline_section_address)
#undef DW_SYM
	dw.ok = 1;
	return 1;
}

/* ---------------------------------------------------------------- modules */

struct module {
	char *path;
	uintptr_t bias;         /* load bias: run-time address - file vaddr */
	uint8_t *map;
	size_t maplen;
	struct elf_syms syms;
	Dwfl *dwfl;
	Dwfl_Module *dmod;
	GElf_Addr dbias;        /* file vaddr -> Dwfl address */
	int dwarf_tried;
};

static struct module *modules[MAX_MODULES];
static size_t nmodules;
static char exe_path[PATH_MAX];
/* The last file name looked up, made absolute with its CU's directory. */
static char file_buf[PATH_MAX];

static void module_free(struct module *m)
{
	if (!m)
		return;
	if (m->dwfl)
		dw.end(m->dwfl);
	free(m->syms.v);
	if (m->map)
		munmap(m->map, m->maplen);
	free(m->path);
	free(m);
}

void symbolize_reset(void)
{
	for (size_t i = 0; i < nmodules; i++)
		module_free(modules[i]);
	nmodules = 0;
	exe_path[0] = '\0';
}

/* Maps the module's file and reads its symbols; failures leave it empty. */
static void module_open(struct module *m)
{
	struct stat st;
	void *p;
	int fd = open(m->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size >= MAX_FILE_SIZE)
		goto out;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		goto out;
	m->map = p;
	m->maplen = (size_t)st.st_size;
	elf_load_syms(m->map, m->maplen, &m->syms);
out:
	close(fd);
}

static const char *main_program_path(void)
{
	ssize_t n;

	if (exe_path[0])
		return exe_path;
	n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	if (n <= 0)
		return NULL;
	exe_path[n] = '\0';
	return exe_path;
}

static struct module *module_get(const char *path, uintptr_t bias)
{
	struct module *m;
	size_t i;

	for (i = 0; i < nmodules; i++)
		if (modules[i]->bias == bias &&
		    strcmp(modules[i]->path, path) == 0)
			return modules[i];
	if (nmodules == MAX_MODULES)
		symbolize_reset();
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->path = strdup(path);
	if (!m->path) {
		free(m);
		return NULL;
	}
	m->bias = bias;
	module_open(m);
	modules[nmodules++] = m;
	return m;
}

/*
 * What the module's DWARF (or its separate debug file) adds, via libdw:
 * file:line of vaddr, and a function name when the file on disk had none
 * (a stripped library whose debug symbols are installed).  `back`: how far
 * vaddr lies before the frame's pc.
 */
static void module_dwarf(struct module *m, uint64_t vaddr, uintptr_t back,
			 struct symbolize_frame *f)
{
	Dwfl_Line *line;
	const char *file, *dir;
	int lineno = 0;

	if (!m->dwarf_tried) {
		m->dwarf_tried = 1;
		if (!m->map || !dw_load())
			return;
		m->dwfl = dw.begin(&dw.cb);
		if (!m->dwfl)
			return;
		m->dmod = dw.report_offline(m->dwfl, m->path, m->path, -1);
		dw.report_end(m->dwfl, NULL, NULL);
		if (m->dmod && !dw.module_getelf(m->dmod, &m->dbias))
			m->dmod = NULL;
	}
	if (!m->dmod)
		return;
	if (!f->function) {
		GElf_Off off = 0;
		GElf_Sym sym;
		const char *name = dw.module_addrinfo(m->dmod,
						      vaddr + m->dbias, &off,
						      &sym, NULL, NULL, NULL);

		if (name && name[0]) {
			f->function = name;
			f->function_off = (uintptr_t)off + back;
		}
	}
	line = dw.module_getsrc(m->dmod, vaddr + m->dbias);
	if (!line)
		return;
	file = dw.lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	if (!file || !file[0] || lineno <= 0)
		return;
	dir = file[0] == '/' ? NULL : dw.line_comp_dir(line);
	if (dir && dir[0]) {
		snprintf(file_buf, sizeof(file_buf), "%s/%s", dir, file);
		file = file_buf;
	}
	f->file = file;
	f->line = lineno;
}

void symbolize_addr(uintptr_t pc, int call_site, struct symbolize_frame *f)
{
	uintptr_t look = call_site && pc > 0 ? pc - 1 : pc;
	struct link_map *lm = NULL;
	const struct fsym *sym;
	struct module *m;
	const char *path;
	Dl_info info;

	memset(f, 0, sizeof(*f));
	f->pc = pc;
	if (!dladdr1((void *)look, &info, (void **)&lm, RTLD_DL_LINKMAP) ||
	    !lm)
		return;
	path = lm->l_name && lm->l_name[0] ? lm->l_name : main_program_path();
	if (!path)
		return;
	m = module_get(path, lm->l_addr);
	f->module = m ? m->path : NULL;
	f->module_off = pc - lm->l_addr;
	sym = m ? elf_find(&m->syms, look - lm->l_addr) : NULL;
	if (sym) {
		f->function = sym->name;
		f->function_off = pc - lm->l_addr - sym->value;
	}
	if (m)
		module_dwarf(m, look - lm->l_addr, pc - look, f);
	if (!f->function && info.dli_sname && info.dli_saddr &&
	    (uintptr_t)info.dli_saddr <= look) {
		/* Not in a file we could read (the vDSO, a deleted file):
		 * the loader's dynamic symbols still name exported ones. */
		f->function = info.dli_sname;
		f->function_off = pc - (uintptr_t)info.dli_saddr;
	}
}

size_t symbolize_format(const struct symbolize_frame *f, char *buf,
			size_t cap)
{
	int n;

	if (cap == 0)
		return 0;
	if (f->function && f->module)
		n = snprintf(buf, cap, "%s+0x%lx (%s)", f->function,
			     (unsigned long)f->function_off, f->module);
	else if (f->function)
		n = snprintf(buf, cap, "%s+0x%lx", f->function,
			     (unsigned long)f->function_off);
	else if (f->module)
		n = snprintf(buf, cap, "%s+0x%lx", f->module,
			     (unsigned long)f->module_off);
	else
		n = snprintf(buf, cap, "0x%lx", (unsigned long)f->pc);
	if (n < 0)
		n = 0;
	if ((size_t)n < cap && f->file && f->line > 0) {
		int k = snprintf(buf + n, cap - (size_t)n, " at %s:%d",
				 f->file, f->line);

		if (k > 0)
			n += k;
	}
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

/*
 * A captured stack's first entry is the return address into the code
 * that made the call, as is every other; a crash stack's first entry is
 * the faulting instruction itself (SPAN_ATTR_STACK on an event).  Looking
 * up pc - 1 is right for return addresses and, for a faulting instruction,
 * still inside the same function unless it is the function's first byte.
 */
size_t symbolize_render_stack(const struct span *s, char *buf, size_t cap)
{
	size_t depth = span_stack_depth(s), used = 0;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	for (size_t i = 0; i < depth; i++) {
		struct symbolize_frame f;
		char line[1024];
		size_t n;

		symbolize_addr(s->stack[i], 1, &f);
		n = symbolize_format(&f, line, sizeof(line));
		if (used + (used ? 1 : 0) + n >= cap)
			break;
		if (used)
			buf[used++] = '\n';
		memcpy(buf + used, line, n);
		used += n;
		buf[used] = '\0';
	}
	return used;
}

int symbolize_is_library(const char *path)
{
	static const char *const libs[] = {
		"libc.so", "libc-", "libpthread", "libdl.so", "ld-linux",
		"ld64.so", "libpq.so", "libsqlite3.so", "libssl.so",
		"libcrypto.so", "libcurl", "libotelshim.so", "linux-vdso",
	};
	const char *base;

	if (!path)
		return 0;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		if (strncmp(base, libs[i], strlen(libs[i])) == 0)
			return 1;
	return 0;
}

int symbolize_code_site(const struct span *s, struct otlp_code_site *site)
{
	size_t depth = span_stack_depth(s);

	for (size_t i = 0; i < depth; i++) {
		struct symbolize_frame f;

		symbolize_addr(s->stack[i], 1, &f);
		if (symbolize_is_library(f.module))
			continue;
		/* The program's innermost frame: name it if we can, but never
		 * skip to its caller, which did not make this call. */
		if (!f.function)
			return 0;
		snprintf(site->function, sizeof(site->function), "%s",
			 f.function);
		site->file[0] = '\0';
		site->line = 0;
		if (f.file) {
			snprintf(site->file, sizeof(site->file), "%s", f.file);
			site->line = f.line;
		}
		return 1;
	}
	return 0;
}
