# ds4 build. `make` builds build/ds4; `make test` runs every suite; `make demo`
# runs the embedded demo model. See docs/DEVELOPING.md for the layout.
#
# SIMD: the library is compiled with ARCH_FLAGS (default -march=native) so the
# AVX2/AVX-512/NEON kernels the build machine supports are compiled in; the
# scalar reference kernels are always compiled, and the dispatcher also
# checks the running CPU. For a portable binary: make ARCH_FLAGS=-march=x86-64-v2

CC       ?= cc
SHARED   ?= ../shared
BUILD    ?= build
# One spelling per build directory: the .d files name objects the way BUILD
# was spelled when they were made, so "make BUILD=$PWD/build" (the
# integration scripts) must not bypass the header dependencies of "build/".
override BUILD := $(patsubst $(CURDIR)/%,%,$(BUILD))
ARCH_FLAGS ?= -march=native
OPT      ?= -O2 -g $(VECTORIZE)
# GCC's -O2 vectorizes only loops whose trip count needs no scalar remainder;
# the engine's elementwise loops (norms, RoPE, gates, mixes) have run-time
# lengths. The dynamic cost model vectorizes them too: same operations, same
# results (no reassociation without -ffast-math), ~6% faster prefill on the
# Flash-shaped benchmark. Clang vectorizes those at -O2 already.
VECTORIZE := $(if $(findstring Free Software Foundation,$(shell $(CC) --version 2>/dev/null)),-fvect-cost-model=dynamic)
PKGS     := libpcre2-8 libmicrohttpd jansson libedit
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(OPT) $(ARCH_FLAGS) -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LIBS     := $(PKG_LIBS) -lcrypto -lm -lpthread
ASAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  := $(shell find src -name '*.c' ! -path 'src/cli/*' ! -path 'src/fuzz/*' | sort)
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(shell find tests -name 'test_*.c' | sort)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
ALIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/asan/%.o)
ATEST_OBJ:= $(TEST_SRC:%.c=$(BUILD)/asan/%.o)
ACLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/asan/%.o)

.PHONY: all deps test unit unit-asan integration fuzz fuzz-smoke demo clean asan-bin cross-check port-check
all: $(BUILD)/ds4

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(ASAN) -O1 -MMD -MP -c $< -o $@

# The quant module must be bit-exact with ggml (formats.md B.0): no FMA
# contraction of a*b+c, whatever the compiler's default (its tests hold
# scalar transcriptions that must evaluate the same way).
$(BUILD)/obj/src/quant/%.o $(BUILD)/asan/src/quant/%.o: CFLAGS_ALL += -ffp-contract=off
$(BUILD)/obj/tests/quant/%.o $(BUILD)/asan/tests/quant/%.o: CFLAGS_ALL += -ffp-contract=off

$(BUILD)/libds4.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libds4-asan.a: $(ALIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ds4: $(CLI_OBJ) $(BUILD)/libds4.a
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(BUILD)/libds4.a $(LIBS)

# ds4 built with sanitizers (used by the server soak test).
$(BUILD)/ds4-asan: $(ACLI_OBJ) $(BUILD)/libds4-asan.a
	$(CC) $(CFLAGS_ALL) $(ASAN) -o $@ $(ACLI_OBJ) $(BUILD)/libds4-asan.a $(LIBS)

# All Criterion unit tests link into one runner (one summary line).
$(BUILD)/unit-tests: $(TEST_OBJ) $(BUILD)/libds4.a
	$(CC) $(CFLAGS_ALL) -o $@ $(TEST_OBJ) $(BUILD)/libds4.a -lcriterion $(LIBS)

$(BUILD)/unit-tests-asan: $(ATEST_OBJ) $(BUILD)/libds4-asan.a
	$(CC) $(CFLAGS_ALL) $(ASAN) -o $@ $(ATEST_OBJ) $(BUILD)/libds4-asan.a -lcriterion $(LIBS)

# The CLI also looks for the embedded demo model in the source tree.
$(BUILD)/obj/src/cli/cli_common.o $(BUILD)/asan/src/cli/cli_common.o: EXTRA_CFLAGS += -DDS4_SOURCE_DIR='"$(CURDIR)"'

deps:
	@sh tools/deps.sh

# Tests find the reference data through DS4_SHARED and the binary through DS4_BIN.
export DS4_SHARED := $(abspath $(SHARED))
export DS4_BIN := $(abspath $(BUILD)/ds4)
export DS4_BUILD := $(abspath $(BUILD))

# (a time limit far above its ~1 minute, so a hang fails instead of stalling)
unit: $(BUILD)/unit-tests
	timeout -k 10 900 $(BUILD)/unit-tests --jobs 2

# (with a time limit and one retry: tools/unit_asan.sh says why)
unit-asan: $(BUILD)/unit-tests-asan
	@sh tools/unit_asan.sh $(BUILD)

# The sanitizer build of the binary, by a name that does not depend on how
# BUILD is spelled (the integration scripts that run it build it this way).
asan-bin: $(BUILD)/ds4-asan

integration: $(BUILD)/ds4
	@sh tests/run_integration.sh

FUZZ_SECONDS ?= 60
fuzz:
	@sh tools/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke:
	@FUZZ_RUNS=40000 sh tools/fuzz.sh 20

# The NEON kernels, cross-compiled and run under qemu-aarch64 on x86-64.
cross-check:
	@sh tools/cross_check.sh $(BUILD)

# The builds a user's machine may do beyond this one's (tools/port_check.sh):
# x86-64-v2 and haswell (AVX2 without AVX-512, its unit tests run too), and
# clang, all with -Werror.
port-check:
	@sh tools/port_check.sh $(BUILD)

# Each stage's start is stamped, so that a slow or stalled CI run says where.
STAGE = @echo "== $(1) ($$(date -u +%T))"
test: deps
	$(call STAGE,build)
	$(MAKE) all $(BUILD)/unit-tests $(BUILD)/unit-tests-asan
	$(call STAGE,unit)
	$(MAKE) unit
	$(call STAGE,unit-asan)
	$(MAKE) unit-asan
	$(call STAGE,fuzz-smoke)
	$(MAKE) fuzz-smoke
	$(call STAGE,cross-check)
	$(MAKE) cross-check
	$(call STAGE,port-check)
	$(MAKE) port-check
	$(call STAGE,integration)
	$(MAKE) integration
	$(call STAGE,done)

# Installs the build dependencies first (a no-op when present), so that
# `make demo` works on a fresh Debian/Ubuntu machine.
demo:
	@sh tools/deps.sh --build
	$(MAKE) all
	@sh tools/demo.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
