# mcp-autoscaler build. Everything is discovered from the tree, so a new module
# needs no edit here:
#   pkg/*/*.c                 -> build/<variant>/libmcp.a (one static archive)
#   worker/, controller/, hack/<tool>/  -> build/bin/<program> (see PROGS); the
#                             program's main() must be in main.c
#   tests/unit/test_*.c       -> one cmocka group per file, run by `make test`
#   tests/integration/*.sh    -> integration tests, run by `make test` after the units
#   tests/bench/bench_*.c     -> `make bench` (BENCH=NAME runs one)
#   tests/fuzz/fuzz_*.c       -> libFuzzer harnesses, `make fuzz` (FUZZ_SECONDS each)
#
# SANITIZER=address|undefined|thread builds a separate variant; binaries in
# build/bin are relinked from whichever variant was built last.

SHELL      := /bin/sh
CC         ?= cc
SANITIZER  ?=
VERSION    := 0.1.0

PKGS       := libmodbus libcurl libcjson libmicrohttpd yaml-0.1
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN       := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS_STD := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -Ipkg -DMCP_VERSION=\"$(VERSION)\"
HARDEN     := -fstack-protector-strong -fPIE
LDHARDEN   := -pie -Wl,-z,relro,-z,now

ifeq ($(SANITIZER),)
  VARIANT  := default
  HARDEN   += -D_FORTIFY_SOURCE=2
  SANFLAGS :=
else ifeq ($(SANITIZER),address)
  VARIANT  := address
  SANFLAGS := -fsanitize=address -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(SANITIZER),undefined)
  VARIANT  := undefined
  SANFLAGS := -fsanitize=undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(SANITIZER),thread)
  VARIANT  := thread
  SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer -fno-sanitize-recover=all
else
  $(error SANITIZER must be address, undefined or thread, not '$(SANITIZER)')
endif

CFLAGS  := $(CFLAGS_STD) $(HARDEN) $(SANFLAGS) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(LDHARDEN) $(SANFLAGS) -Wl,--as-needed
LDLIBS  := $(PKG_LIBS) -lcmocka -lpthread -lm

B       := build/$(VARIANT)
BIN     := build/bin
LIB     := $(B)/libmcp.a

LIB_SRC := $(sort $(wildcard pkg/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)

# program name : source directory. A program is built when its directory has .c files.
PROGS := mcp-worker:worker mcp-autoscaler:controller mcp-devsim:hack/devsim \
         mcp-loadgen:hack/loadgen kubesim:hack/kubesim
prog_dir  = $(word 2,$(subst :, ,$1))
prog_name = $(word 1,$(subst :, ,$1))
PROG_BINS := $(foreach p,$(PROGS),$(if $(wildcard $(call prog_dir,$p)/*.c),$(BIN)/$(call prog_name,$p)))

UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
INTEG      := $(sort $(wildcard tests/integration/*.sh))
BENCH_SRC  := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
TESTLIB_SRC := $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(B)/obj/%.o)

.PHONY: all deps test unit integration bench fuzz lint format run clean e2e-long FORCE
.DEFAULT_GOAL := all

all: $(PROG_BINS) $(UNIT_BINS) $(BENCH_BINS)

deps:
	@sh mk/deps.sh

# The variant stamp makes build/bin relink when SANITIZER changes.
$(B)/.variant: FORCE
	@mkdir -p $(B) $(BIN)
	@if [ "$$(cat $(BIN)/.variant 2>/dev/null)" != "$(VARIANT)" ]; then \
		echo $(VARIANT) > $(BIN)/.variant; touch $@; fi
	@[ -f $@ ] || touch $@

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

# Each program is its main.c plus the other .c files of its directory; those
# others also go into build/<variant>/prog-<name>.a, which unit tests and
# benchmarks link, so a program's internals are testable without its main().
prog_objs = $(patsubst %.c,$(B)/obj/%.o,$(filter-out %/main.c,$(wildcard $(call prog_dir,$1)/*.c)))
PROG_ARS := $(foreach p,$(PROGS),$(if $(wildcard $(call prog_dir,$p)/*.c),$(B)/prog-$(call prog_name,$p).a))

define PROG_RULE
$(B)/prog-$(call prog_name,$1).a: $(call prog_objs,$1)
	@mkdir -p $(B)
	@rm -f $$@
	ar rcs $$@ $$^

$(BIN)/$(call prog_name,$1): $(B)/obj/$(call prog_dir,$1)/main.o $(B)/prog-$(call prog_name,$1).a $(LIB) $(B)/.variant
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $$@ $$< $(B)/prog-$(call prog_name,$1).a $(LIB) $(LDLIBS)
endef
$(foreach p,$(PROGS),$(if $(wildcard $(call prog_dir,$p)/*.c),$(eval $(call PROG_RULE,$p))))

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(TESTLIB_OBJ) $(PROG_ARS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(PROG_ARS) $(LIB) $(LDLIBS)

$(B)/bench/%: $(B)/obj/tests/bench/%.o $(TESTLIB_OBJ) $(PROG_ARS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(PROG_ARS) $(LIB) $(LDLIBS)

# ---- tests -----------------------------------------------------------------
# `make test` = deps, build, every cmocka group, then every integration script.
# Integration scripts get MCP_BIN and MCP_BUILD in the environment.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit integration

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; \
		if ! $$t; then echo "FAIL: $$t"; fail=1; fi; \
	done; exit $$fail

integration: $(PROG_BINS)
	@fail=0; for t in $(INTEG); do \
		echo "== $$t"; \
		if ! MCP_BIN=$(CURDIR)/$(BIN) MCP_BUILD=$(CURDIR)/$(B) MCP_VARIANT=$(VARIANT) sh $$t; then \
			echo "FAIL: $$t"; fail=1; fi; \
	done; exit $$fail

# ---- benchmarks --------------------------------------------------------------
bench: deps
	@$(MAKE) --no-print-directory all
	@for b in $(if $(BENCH),$(B)/bench/bench_$(BENCH),$(BENCH_BINS)); do \
		[ -x $$b ] || { echo "no benchmark $$b"; exit 2; }; \
		MCP_BIN=$(CURDIR)/$(BIN) $$b || exit 1; \
	done

# ---- fuzzing (clang + libFuzzer; library rebuilt with clang under build/fuzz) -----
FUZZ_SECONDS ?= 20
FZ          := build/fuzz
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Ipkg $(PKG_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIBOBJ := $(LIB_SRC:%.c=$(FZ)/obj/%.o)
FUZZ_BINS   := $(FUZZ_SRC:tests/fuzz/%.c=$(FZ)/%)

$(FZ)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FZ)/%: tests/fuzz/%.c $(FUZZ_LIBOBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBOBJ) $(PKG_LIBS) -lpthread -lm

fuzz: deps $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		n=$$(basename $$f); mkdir -p $(FZ)/corpus/$$n; \
		seeds=; [ -d tests/fuzz/corpus/$$n ] && seeds=tests/fuzz/corpus/$$n; \
		echo "== $$n ($(FUZZ_SECONDS)s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FZ)/corpus/$$n $$seeds 2>&1 | tail -4 || exit 1; \
	done

# ---- lint --------------------------------------------------------------------
ALL_C := $(shell find pkg worker controller hack tests -name '*.[ch]' 2>/dev/null)
# cppcheck does not read system headers: cJSON's iteration macro is spelled out
# for it in mk/cppcheck.cfg, and a NULL sentinel for our variadic loggers is fine where C's NULL is
# ((void *)0), as on every platform we build for.
lint:
	clang-format --dry-run -Werror $(ALL_C)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem --suppress=varFuncNullUB \
		--library=mk/cppcheck.cfg \
		-Ipkg $(ALL_C)

format:
	clang-format -i $(ALL_C)

# ---- run ---------------------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all
	@sh hack/run.sh

e2e-long: deps
	@$(MAKE) --no-print-directory all
	@for t in $(sort $(wildcard tests/e2e-long/*.sh)); do MCP_BIN=$(CURDIR)/$(BIN) sh $$t || exit 1; done

clean:
	rm -rf build

FORCE:

# Keep objects that pattern rules build as intermediates.
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
