# otelshim — one entry point: make, make test, make bench, make demo.
#
# Two shared objects come out of the build:
#   build/libotelshim.so          what LD_PRELOAD loads: the hooks, the ring
#                                 and the exporter thread; links libc only,
#                                 so every process start stays cheap.
#   build/otelshim-exporter.so    OTLP encoding and transport (protobuf-c,
#                                 zlib; libcurl dlopen()ed for https://
#                                 only); dlopen()ed by the exporter thread
#                                 when the first span is recorded.

CC       ?= cc
CLANG    ?= clang
BUILD    := build
VERSION  := 0.1.0

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 \
            -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -DOTELSHIM_VERSION=\"$(VERSION)\" \
            -I. -I$(BUILD)/proto
ALLFLAGS  = $(CPPFLAGS) $(WARN) $(CFLAGS) -std=gnu11 -fPIC \
            -fvisibility=hidden -pthread -MMD -MP

# Sources, by the binary they end up in (README, "Source code layout"):
#   shim/      application threads: hooks, recognisers, context   -> LIB
#   pipeline/  span records, ring, config, the exporter thread    -> LIB
#   exporter/  the dlopen()ed module: encoders, transport, ...    -> MODULE
#   common/    small pure helpers, an archive linked into both
CORE_SRCS     := $(wildcard shim/*.c pipeline/*.c)
MODULE_SRCS   := $(wildcard exporter/*.c)
COMMON_SRCS   := $(wildcard common/*.c)
COMMON_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(COMMON_SRCS))
COMMON_LIB    := $(BUILD)/libcommon.a
PROTOS        := $(wildcard proto/*.proto)
PROTO_C       := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTOS))
PROTO_H       := $(PROTO_C:.c=.h)

# Files that define interposed libc symbols: never linked into test programs.
HOOK_SRCS     := shim/preload.c shim/net.c shim/exec.c shim/shell.c shim/pq.c \
                 shim/sqlite.c shim/sig.c shim/ownfd.c shim/waits.c \
                 shim/handoff.c shim/tls.c shim/gnutls.c

LIB      := $(BUILD)/libotelshim.so
MODULE   := $(BUILD)/otelshim-exporter.so

.PHONY: all deps test unit integration fuzz fuzz-smoke fuzz-build unit-build bench demo clean \
        install dist examples startup-layout
all: $(LIB) $(MODULE) $(BUILD)/otelshim examples

# The otelshim command (tools/): run, view, doctor.
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TOOL_SRCS))
$(BUILD)/otelshim: $(TOOL_OBJS) $(COMMON_LIB)
	$(CC) -pthread -o $@ $^

# Small real programs the tests and the demo trace: examples/<name>.c is
# built into build/examples/<name>, linked with libpq and libsqlite3.
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)

$(BUILD)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $(WARN) -std=gnu11 \
	  -pthread -o $@ $< \
	  $$(pkg-config --cflags --libs libpq sqlite3)

# ---------------------------------------------------------------- build

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

# Files whose code runs at every process start and little else (the
# configuration): their whole .text goes to .text.startup, beside the
# functions marked STARTUP_CODE (common/loader.h).
STARTUP_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,pipeline/config.c \
                  pipeline/config_lists.c pipeline/config_scalars.c)

# Generated headers come first; every other dependency is recorded by -MMD.
$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c -o $@ $<
	$(if $(filter $@,$(STARTUP_OBJS)),objcopy \
	  --rename-section .text=.text.startup $@)

$(BUILD)/obj/proto/%.o: $(BUILD)/proto/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLFLAGS) -c -o $@ $<

# The version script exports exactly the interposed names: the HOOK rows
# of every hook table, libc's (hooks.def) and each library's (pq.def,
# sqlite.def); their CALL rows are functions we only call.
HOOK_TABLES := $(wildcard shim/*.def)
$(BUILD)/libotelshim.map: $(HOOK_TABLES)
	@mkdir -p $(BUILD)
	{ echo '{ global:'; \
	  sed -n 's/^HOOK([^,]*, *\([A-Za-z0-9_]*\),.*/  \1;/p' $(HOOK_TABLES); \
	  echo 'local: *; };'; } > $@

CORE_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRCS))
MODULE_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(MODULE_SRCS)) \
               $(patsubst $(BUILD)/proto/%.c,$(BUILD)/obj/proto/%.o,$(PROTO_C))

# common/ is an archive, so each binary takes only the members it calls.
$(COMMON_LIB): $(COMMON_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB): $(CORE_OBJS) $(COMMON_LIB) $(BUILD)/libotelshim.map
	$(CC) -shared -pthread -Wl,--version-script=$(BUILD)/libotelshim.map \
	  -Wl,-z,now -Wl,-z,relro -Wl,-fini=preload_fini \
	  -Wl,-Map=$(BUILD)/libotelshim.ldmap \
	  -o $@ $(CORE_OBJS) $(COMMON_LIB) -ldl

# What every process start touches of our writable data (STARTUP_DATA,
# common/loader.h) is in .data, and .data has to stay within one page:
# the one the dynamic loader writes anyway while it loads us, which also
# holds the real_* pointers and the descriptor gate bits that every I/O
# hook reads (shim/fdtab.h).  Its code
# (STARTUP_CODE, STARTUP_OBJS: .text.startup) has to stay within one
# 64 KiB window, the unit the kernel maps code in around a fault, with
# no pthread_atfork stub of libc_nonshared's (linked last) beside it.
startup-layout: $(LIB)
	@set -- $$(readelf -SW $(LIB) | sed -n \
	  's/.*\] \.data  *PROGBITS  *\([0-9a-f]*\) [0-9a-f]* \([0-9a-f]*\).*/\1 \2/p'); \
	a=$$((0x$$1)); n=$$((0x$$2)); \
	echo "startup-layout: .data $$n bytes at $$(printf %#x $$a)"; \
	if [ $$((a / 4096)) -ne $$(((a + n - 1) / 4096)) ]; then \
	  echo "startup-layout: .data spans more than one page: each more" \
	    "costs every process start a page fault" >&2; exit 1; fi
	@tools/startup-text.sh $(LIB) $(BUILD)/libotelshim.ldmap

$(MODULE): $(MODULE_OBJS) $(COMMON_LIB)
	$(CC) -shared -pthread -Wl,-z,relro -Wl,--exclude-libs,ALL \
	  -Wl,--version-script=exporter/module.map -o $@ $(MODULE_OBJS) \
	  $(COMMON_LIB) $$(pkg-config --libs libprotobuf-c zlib) -ldl

# ---------------------------------------------------------------- tests

# make test: install what is missing (tools/install-deps.sh), build, then
# unit tests (also under ASan+UBSan; ring, batch loop, transport, the
# pointer table, the request table and the descriptor gate under TSan),
# short fuzz runs and the integration tests on real programs.
# Builds and fuzz smoke runs use every CPU (BUILD_JOBS); the unit and
# integration tests run one at a time.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test: deps
	$(MAKE) -j$(BUILD_JOBS) all
	$(MAKE) startup-layout
	$(MAKE) -j$(BUILD_JOBS) unit-build
	$(MAKE) unit
	$(MAKE) -j$(BUILD_JOBS) unit-build SANITIZE=address,undefined
	$(MAKE) unit SANITIZE=address,undefined
	$(MAKE) unit SANITIZE=thread UNIT_ONLY="test_ring test_batch test_transport \
	  test_ptrtab test_handoff test_fdtab"
	$(MAKE) -j$(BUILD_JOBS) fuzz-build
	$(MAKE) fuzz-smoke
	$(MAKE) integration

deps:
	tools/install-deps.sh

# Unit tests (Check) and fuzz targets name the sources they link in a line
# of their top comment, " * links: shim/http.c shim/log.c", so each builds
# on its own; common/ comes with every one of them, as an archive.  Files that define interposed symbols are never linked into
# them, so the test programs themselves are not traced.
SANITIZE  ?=
comma     := ,
UNITDIR   := $(BUILD)/unit$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))
UNIT_CFLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
               -fno-sanitize-recover=all)
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_ONLY ?= $(UNIT_TESTS)
UNIT_LIBS := $$(pkg-config --libs check libprotobuf-c zlib) \
             -lpg_query -lm -ldl
links_of   = $(filter-out $(HOOK_SRCS),$(shell sed -n 's|^ \* links: ||p' $(1)))
unit_objs  = $(patsubst %.c,$(UNITDIR)/obj/%.o,$(call links_of,$(1)))

$(UNITDIR)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DUNITTEST -Itests/unit $(WARN) -O1 -g -std=gnu11 \
	  -pthread -MMD -MP $(UNIT_CFLAGS) -c -o $@ $<

$(UNITDIR)/libcommon.a: $(patsubst %.c,$(UNITDIR)/obj/%.o,$(COMMON_SRCS))
	rm -f $@
	$(AR) rcs $@ $^

.SECONDEXPANSION:
$(UNITDIR)/test_%: $(UNITDIR)/obj/tests/unit/test_%.o \
    $$(call unit_objs,tests/unit/test_$$*.c) $(UNITDIR)/libcommon.a
	$(CC) -pthread $(UNIT_CFLAGS) -o $@ $^ $(UNIT_LIBS)

unit-build: $(addprefix $(UNITDIR)/,$(UNIT_ONLY))

# Seconds one check may take before Check calls it an error: its default
# of 4 is reached by a sanitised build on a loaded machine.
UNIT_TIMEOUT ?= 60

unit: $(addprefix $(UNITDIR)/,$(UNIT_ONLY))
	@set -e; for t in $(UNIT_ONLY); do \
	  echo "== unit $$t$(if $(SANITIZE), [$(SANITIZE)])"; \
	  CK_FORK=yes CK_DEFAULT_TIMEOUT=$(UNIT_TIMEOUT) $(UNITDIR)/$$t; done

# Fuzz targets: tests/fuzz/fuzz_<name>.c, a libFuzzer entry point over one
# parser, with a seed corpus in tests/fuzz/corpus/<name>/.
FUZZDIR      := $(BUILD)/fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 10

$(FUZZDIR)/fuzz_%: tests/fuzz/fuzz_%.c $$(call links_of,tests/fuzz/fuzz_$$*.c) \
    $(COMMON_SRCS) \
    $(wildcard shim/*.h shim/*.def pipeline/*.h exporter/*.h common/*.h) \
    $(PROTO_H)
	@mkdir -p $(FUZZDIR)
	$(CLANG) $(CPPFLAGS) -DUNITTEST -g -O1 \
	  -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$^) \
	  -pthread -ldl -lm $$(pkg-config --libs zlib libprotobuf-c)

fuzz-build: $(addprefix $(FUZZDIR)/,$(FUZZ_TARGETS))

# Each target is one process on one CPU: BUILD_JOBS of them run at once,
# each for the whole FUZZ_SECONDS, and a run's output is printed together.
fuzz-smoke: $(addprefix $(FUZZDIR)/,$(FUZZ_TARGETS))
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) --output-sync=target \
	  $(addprefix fuzz-run-,$(FUZZ_TARGETS))

fuzz-run-%: $(FUZZDIR)/%
	@name=$*; name=$${name#fuzz_}; mkdir -p $(FUZZDIR)/corpus-$$name; \
	echo "== fuzz $* ($(FUZZ_SECONDS)s)"; \
	$(FUZZDIR)/$* -max_total_time=$(FUZZ_SECONDS) \
	  $(FUZZDIR)/corpus-$$name tests/fuzz/corpus/$$name > \
	  $(FUZZDIR)/$*.log 2>&1 || { tail -n 40 $(FUZZDIR)/$*.log; exit 1; }; \
	tail -n 1 $(FUZZDIR)/$*.log

fuzz:
	$(MAKE) fuzz-smoke FUZZ_SECONDS=300

integration: all
	python3 tests/integration/run.py

# Benchmarks: shim-on against shim-off, same run (bench/run.sh).
bench: deps
	$(MAKE) all
	bench/run.sh

# dist/otelshim/: the library, the module, the command and every non-glibc
# library they need, found through $$ORIGIN (tools/dist.sh).
dist: all
	tools/dist.sh

PREFIX ?= /usr/local
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/otelshim
	install -m 755 $(LIB) $(MODULE) $(DESTDIR)$(PREFIX)/lib/otelshim/
	install -m 755 $(BUILD)/otelshim $(DESTDIR)$(PREFIX)/bin/

# The main job: trace the example service end to end and show the traces.
demo: deps
	$(MAKE) all
	tools/demo.sh

clean:
	rm -rf $(BUILD)

# What -MMD recorded of each object's headers.
-include $(shell find $(BUILD)/obj $(BUILD)/unit* -name '*.d' -type f \
           2>/dev/null)

SHELL := /bin/bash
.SECONDARY:
