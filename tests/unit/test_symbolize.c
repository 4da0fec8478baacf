/*
 * Unit tests for the stack symboliser: addresses of this very test program
 * and of libc resolve to function+offset, module and file:line; frames
 * render one per line; the code site skips library frames; the OTLP
 * encoder adds the code.* attributes; and the ELF reader survives stripped,
 * truncated and corrupted files.
 * links: exporter/symbolize.c exporter/otlp.c exporter/legacy.c exporter/otlp_json.c build/proto/common.pb-c.c build/proto/resource.pb-c.c build/proto/trace.pb-c.c build/proto/trace_service.pb-c.c
 */
#include <check.h>
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exporter/otlp.h"
#include "exporter/symbolize.h"
#include "unit.h"

/* Two functions with known names whose addresses the tests use. */
__attribute__((noinline)) int symtest_target(int x);
__attribute__((noinline)) int symtest_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

__attribute__((noinline)) static int symtest_static(int x)
{
	__asm__ volatile("" ::: "memory");
	return symtest_target(x) + 2;
}

static uintptr_t addr_of(int (*fn)(int))
{
	return (uintptr_t)fn;
}

static uintptr_t load_bias(uintptr_t addr)
{
	struct link_map *lm = NULL;
	Dl_info info;

	ck_assert(dladdr1((void *)addr, &info, (void **)&lm,
			  RTLD_DL_LINKMAP));
	return lm->l_addr;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	FILE *f = fopen(path, "rb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)st.st_size, f),
			  (size_t)st.st_size);
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

static char exe[4096];

static void setup(void)
{
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	symbolize_reset();
}

static void teardown(void)
{
	symbolize_reset();
}

/* ---------------------------------------------------------- addresses */

START_TEST(own_function)
{
	struct symbolize_frame f;

	symbolize_addr(addr_of(symtest_static) + 5, 0, &f);
	ck_assert_ptr_nonnull(f.function);
	ck_assert_str_eq(f.function, "symtest_static");
	ck_assert_uint_eq(f.function_off, 5);
	ck_assert_ptr_nonnull(f.module);
	ck_assert_str_eq(f.module, exe);
	ck_assert_uint_eq(f.module_off,
			  addr_of(symtest_static) + 5 -
			  load_bias(addr_of(symtest_static)));
	/* Built with -g: libdw (when installed) gives the source line. */
	if (dlopen("libdw.so.1", RTLD_NOW | RTLD_NOLOAD) || f.file) {
		ck_assert_ptr_nonnull(f.file);
		ck_assert_msg(strstr(f.file, "test_symbolize.c") != NULL,
			      "%s", f.file);
		ck_assert(f.file[0] == '/');
		ck_assert_int_gt(f.line, 20);
	}
}
END_TEST

START_TEST(call_site_looks_before_the_return_address)
{
	struct symbolize_frame f;
	uintptr_t end = addr_of(symtest_target);

	/* A return address just past a function's first byte still belongs
	 * to it; its offset is that of the return address itself. */
	symbolize_addr(end + 1, 1, &f);
	ck_assert_str_eq(f.function, "symtest_target");
	ck_assert_uint_eq(f.function_off, 1);
}
END_TEST

START_TEST(libc_function)
{
	struct symbolize_frame f;

	symbolize_addr((uintptr_t)&getppid + 2, 0, &f);
	ck_assert_ptr_nonnull(f.module);
	ck_assert_msg(strstr(f.module, "libc.so") != NULL, "%s", f.module);
	ck_assert_ptr_nonnull(f.function);
	ck_assert_msg(strstr(f.function, "getppid") != NULL, "%s",
		      f.function);
	ck_assert_uint_eq(f.function_off, 2);
	ck_assert(symbolize_is_library(f.module));
}
END_TEST

START_TEST(unknown_address)
{
	struct symbolize_frame f;
	char buf[64];

	symbolize_addr(0x10, 1, &f);
	ck_assert_ptr_null(f.module);
	ck_assert_ptr_null(f.function);
	ck_assert_ptr_null(f.file);
	symbolize_format(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0x10");
}
END_TEST

/* ----------------------------------------------------------- formatting */

START_TEST(format_forms)
{
	struct symbolize_frame f = {
		.pc = 0x7000, .module = "/bin/prog", .module_off = 0x11a9,
		.function = "load_user", .function_off = 0x1f,
		.file = "/src/prog.c", .line = 42,
	};
	char buf[128];
	size_t n;

	n = symbolize_format(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "load_user+0x1f (/bin/prog) at /src/prog.c:42");
	ck_assert_uint_eq(n, strlen(buf));
	f.file = NULL;
	symbolize_format(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "load_user+0x1f (/bin/prog)");
	f.function = NULL;
	symbolize_format(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "/bin/prog+0x11a9");
	f.function = "f";
	f.module = NULL;
	symbolize_format(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "f+0x1f");
	/* Truncated, always terminated. */
	f.module = "/bin/prog";
	f.file = "/src/prog.c";
	n = symbolize_format(&f, buf, 8);
	ck_assert_uint_eq(n, 7);
	ck_assert_str_eq(buf, "f+0x1f ");
	ck_assert_uint_eq(symbolize_format(&f, buf, 0), 0);
}
END_TEST

static void stack_span(struct span *s, const uintptr_t *pcs, size_t n)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		s->stack[i] = pcs[i];
	s->stack_depth = (uint8_t)n;
}

START_TEST(render_lines_in_order)
{
	uintptr_t pcs[] = { addr_of(symtest_target) + 4,
			    addr_of(symtest_static) + 6,
			    (uintptr_t)&getppid + 1 };
	struct span s;
	char buf[4096], small[40];
	char *nl;
	size_t n;

	stack_span(&s, pcs, 3);
	n = symbolize_render_stack(&s, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_msg(strncmp(buf, "symtest_target+0x4 (", 20) == 0, "%s",
		      buf);
	nl = strchr(buf, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_msg(strncmp(nl + 1, "symtest_static+0x6 (", 20) == 0, "%s",
		      buf);
	nl = strchr(nl + 1, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_ptr_nonnull(strstr(nl + 1, "getppid"));
	ck_assert_ptr_null(strchr(nl + 1, '\n'));
	/* Too small for even one line: nothing, not half a frame. */
	n = symbolize_render_stack(&s, small, sizeof(small));
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(small, "");
}
END_TEST

START_TEST(library_names)
{
	ck_assert(symbolize_is_library("/lib/x86_64-linux-gnu/libc.so.6"));
	ck_assert(symbolize_is_library("/usr/lib/libpq.so.5"));
	ck_assert(symbolize_is_library("/x/libsqlite3.so.0.8.6"));
	ck_assert(symbolize_is_library("/opt/otelshim/libotelshim.so"));
	ck_assert(symbolize_is_library("/lib64/ld-linux-x86-64.so.2"));
	ck_assert(!symbolize_is_library("/usr/bin/prog"));
	ck_assert(!symbolize_is_library("/usr/lib/libcustom.so"));
	ck_assert(!symbolize_is_library(NULL));
}
END_TEST

/* ------------------------------------------------------------ code site */

START_TEST(site_skips_library_frames)
{
	uintptr_t pcs[] = { (uintptr_t)&getppid + 1,
			    addr_of(symtest_static) + 6,
			    addr_of(symtest_target) + 4 };
	struct otlp_code_site site;
	struct span s;

	stack_span(&s, pcs, 3);
	memset(&site, 0, sizeof(site));
	ck_assert_int_eq(symbolize_code_site(&s, &site), 1);
	ck_assert_str_eq(site.function, "symtest_static");
	if (site.file[0]) {
		ck_assert_ptr_nonnull(strstr(site.file, "test_symbolize.c"));
		ck_assert_int_gt(site.line, 0);
	}
	/* Only library frames: no site. */
	stack_span(&s, pcs, 1);
	ck_assert_int_eq(symbolize_code_site(&s, &site), 0);
	/* An unnamed program frame is not skipped over to its caller. */
	pcs[1] = 0x10;
	stack_span(&s, pcs, 3);
	ck_assert_int_eq(symbolize_code_site(&s, &site), 0);
}
END_TEST

START_TEST(otlp_adds_code_attributes)
{
	struct config cfg;
	struct otlp_encoder enc;
	uintptr_t pcs[] = { addr_of(symtest_static) + 6,
			    addr_of(symtest_target) + 4 };
	struct span sp[2];
	char *json = NULL;
	size_t len = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.span_attr_count_limit = 128;
	memset(&enc, 0, sizeof(enc));
	enc.cfg = &cfg;
	enc.render_stack = symbolize_render_stack;
	enc.code_site = symbolize_code_site;
	stack_span(&sp[0], pcs, 2);
	sp[0].trace_id[0] = 1;
	sp[0].span_id[0] = 1;
	sp[0].kind = SPAN_KIND_CLIENT;
	sp[0].attrs[0].key = "code.stacktrace";
	sp[0].attrs[0].type = SPAN_ATTR_STACK;
	sp[0].nattrs = 1;
	/* A stack but no stack attribute: no code.* either. */
	sp[1] = sp[0];
	sp[1].nattrs = 0;
	sp[1].span_id[0] = 2;
	ck_assert_int_eq(otlp_encode_json(&enc, sp, 2, &json, &len), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"code.stacktrace\""));
	ck_assert_ptr_nonnull(strstr(json, "symtest_static+0x6 ("));
	ck_assert_ptr_nonnull(strstr(json,
		"{\"key\":\"code.function.name\",\"value\":"
		"{\"stringValue\":\"symtest_static\"}}"));
	/* Only the first span names a site. */
	ck_assert_ptr_null(strstr(strstr(json, "code.function.name") + 1,
				  "code.function.name"));
	free(json);

	/* The attribute count limit covers the derived attributes too. */
	cfg.span_attr_count_limit = 1;
	json = NULL;
	ck_assert_int_eq(otlp_encode_json(&enc, sp, 1, &json, &len), 0);
	ck_assert_ptr_null(strstr(json, "code.function.name"));
	ck_assert_ptr_nonnull(strstr(json, "\"droppedAttributesCount\":"));
	free(json);

	/* Without the callback, nothing is derived. */
	cfg.span_attr_count_limit = 128;
	enc.code_site = NULL;
	json = NULL;
	ck_assert_int_eq(otlp_encode_json(&enc, sp, 1, &json, &len), 0);
	ck_assert_ptr_null(strstr(json, "code.function.name"));
	ck_assert_ptr_nonnull(strstr(json, "code.stacktrace"));
	free(json);
	otlp_release(&enc);
}
END_TEST

/* ------------------------------------------------------------- ELF files */

START_TEST(elf_lookup_in_memory)
{
	uintptr_t bias = load_bias(addr_of(symtest_target));
	uint64_t vaddr = addr_of(symtest_target) - bias + 3, off = 0;
	size_t len;
	uint8_t *img = read_file(exe, &len);
	char name[64];

	ck_assert_int_eq(symbolize_elf_lookup(img, len, vaddr, name,
					      sizeof(name), &off), 0);
	ck_assert_str_eq(name, "symtest_target");
	ck_assert_uint_eq(off, 3);
	/* Name cut to the caller's buffer. */
	ck_assert_int_eq(symbolize_elf_lookup(img, len, vaddr, name, 5, &off),
			 0);
	ck_assert_str_eq(name, "symt");
	/* Far outside any function. */
	ck_assert_int_eq(symbolize_elf_lookup(img, len, 0x10, name,
					      sizeof(name), &off), -1);
	free(img);
}
END_TEST

START_TEST(elf_stripped_has_no_static_names)
{
	uintptr_t bias = load_bias(addr_of(symtest_target));
	uint64_t vaddr = addr_of(symtest_static) - bias, off;
	char tmp[] = "/tmp/symtest-XXXXXX", cmd[8300], name[64];
	int fd = mkstemp(tmp);
	uint8_t *img;
	size_t len;

	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "strip -o %s %s", tmp, exe);
	ck_assert_int_eq(system(cmd), 0);
	img = read_file(tmp, &len);
	unlink(tmp);
	ck_assert_int_eq(symbolize_elf_lookup(img, len, vaddr, name,
					      sizeof(name), &off), -1);
	free(img);
}
END_TEST

START_TEST(elf_garbage_is_harmless)
{
	uintptr_t bias = load_bias(addr_of(symtest_target));
	uint64_t vaddr = addr_of(symtest_target) - bias, off;
	size_t len, cut;
	uint8_t *img = read_file(exe, &len), *copy;
	unsigned seed = 12345;
	char name[64];

	ck_assert_int_eq(symbolize_elf_lookup(img, 0, vaddr, name,
					      sizeof(name), &off), -1);
	ck_assert_int_eq(symbolize_elf_lookup((const uint8_t *)"hello", 5,
					      vaddr, name, sizeof(name),
					      &off), -1);
	/* Truncated copies, each in a buffer of exactly its length, so the
	 * sanitizer sees any read past the end. */
	for (cut = 0; cut < len; cut += len / 97 + 1) {
		copy = malloc(cut ? cut : 1);
		memcpy(copy, img, cut);
		symbolize_elf_lookup(copy, cut, vaddr, name, sizeof(name),
				     &off);
		free(copy);
	}
	/* Bytes flipped in the headers and the section table. */
	copy = malloc(len);
	for (int round = 0; round < 300; round++) {
		memcpy(copy, img, len);
		for (int k = 0; k < 8; k++) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			at = (seed >> 8) % 64;
			if (k & 1) {
				uint64_t shoff;

				memcpy(&shoff, img + 0x28, 8);
				seed = seed * 1103515245u + 12345u;
				at = (size_t)(shoff + (seed >> 8) % 4096);
				if (at >= len)
					continue;
			}
			copy[at] ^= (uint8_t)(seed >> 20);
		}
		symbolize_elf_lookup(copy, len, vaddr, name, sizeof(name),
				     &off);
	}
	free(copy);
	free(img);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("symbolize");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, own_function);
	tcase_add_test(tc, call_site_looks_before_the_return_address);
	tcase_add_test(tc, libc_function);
	tcase_add_test(tc, unknown_address);
	tcase_add_test(tc, format_forms);
	tcase_add_test(tc, render_lines_in_order);
	tcase_add_test(tc, library_names);
	tcase_add_test(tc, site_skips_library_frames);
	tcase_add_test(tc, otlp_adds_code_attributes);
	tcase_add_test(tc, elf_lookup_in_memory);
	tcase_add_test(tc, elf_stripped_has_no_static_names);
	tcase_add_test(tc, elf_garbage_is_harmless);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(suite());
}
