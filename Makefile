# lrc — one non-recursive Makefile.
#
#   make              build/lrc, build/liblrc.a, build/liblrc.so
#   make check        every test suite (Check), with its summary line
#   make run          the main job (see README)
#   make bench        JIT kernel against a hand-written C loop (BENCH_T, BENCH_REPEATS)
#   make fuzz         libFuzzer over the frontend (FUZZ_SECONDS=600)
#   make SAN=1 check  the same under ASan + UBSan, in build/san
#   make clean
#   V=1               show the commands
#
# Missing Debian packages are installed first when run as root (otherwise
# tools/deps.sh prints the command to run).

SAN ?= 0
ifeq ($(SAN),1)
B ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B ?= build
SANFLAGS :=
endif

CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CPPFLAGS_ALL := -I. -Ifrontend -I$(B)/gen -Iinclude -D_GNU_SOURCE
CFLAGS_ALL := -std=c17 $(WARN) $(CFLAGS) $(SANFLAGS) -fPIC -fvisibility=hidden -MMD -MP
GEN_CFLAGS := -Wno-sign-compare -Wno-unused-function -Wno-shadow -Wno-unused-but-set-variable
LLVM_CONFIG ?= llvm-config-19
LLVM_CFLAGS = $(shell $(LLVM_CONFIG) --cflags 2>/dev/null | sed 's/-D_GNU_SOURCE//')
LLVM_LIBS = $(shell $(LLVM_CONFIG) --ldflags 2>/dev/null) $(shell $(LLVM_CONFIG) --libs 2>/dev/null)
LDLIBS_ALL = $(LLVM_LIBS) -lffi -ldl -lpthread -lm $(SANFLAGS)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lpthread -lm)

ifeq ($(V),1)
Q :=
else
Q := @
endif

FRONTEND_SRC := frontend/ast.c frontend/sema.c
GEN_SRC := $(B)/gen/lexer.c $(B)/gen/parser.c
IR_SRC := ir/support.c ir/diag.c ir/graph.c ir/print.c ir/verify.c ir/kir.c
PASSES_SRC := passes/fold.c passes/cse.c passes/dce.c passes/factor.c passes/classify.c \
              passes/plan.c passes/recurrent.c passes/chunk.c passes/scan.c passes/kfuse.c \
              passes/phases.c passes/pipeline.c
BACKEND_SRC := backends/c/emit_common.c backends/c/emit_c.c backends/c/llvm.c backends/c/jit.c \
               backends/cuda/emit_cuda.c
RUNTIME_SRC := runtime/api.c runtime/error.c runtime/interp.c runtime/call.c runtime/tensor.c \
               runtime/npy.c runtime/cache.c runtime/kernel.c runtime/bench.c runtime/cuda.c
CLI_SRC := cli/main.c cli/common.c cli/check.c cli/emit.c cli/run.c cli/bench.c
TEST_SRC := tests/check_main.c tests/oracle.c $(wildcard tests/unit/check_*.c)

LIB_SRC := $(FRONTEND_SRC) $(IR_SRC) $(PASSES_SRC) $(BACKEND_SRC) $(RUNTIME_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/lexer.o $(B)/obj/gen/parser.o
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/obj/%.o)
DEPS_OK := build/.deps-ok

all: $(B)/lrc $(B)/liblrc.a $(B)/liblrc.so

$(DEPS_OK): tools/deps.sh
	$(Q)./tools/deps.sh
	$(Q)mkdir -p build && touch $@

$(B)/gen/lexer.c $(B)/gen/lexer.h &: frontend/lexer.l | $(DEPS_OK)
	@mkdir -p $(B)/gen
	@$(if $(Q),echo "  FLEX    $<")
	$(Q)flex --header-file=$(B)/gen/lexer.h -o $(B)/gen/lexer.c $<

$(B)/gen/parser.c $(B)/gen/parser.h &: frontend/parser.y | $(DEPS_OK)
	@mkdir -p $(B)/gen
	@$(if $(Q),echo "  BISON   $<")
	$(Q)bison -Wall -Werror --header=$(B)/gen/parser.h -o $(B)/gen/parser.c $<

# Generated headers must exist before anything that includes them compiles.
$(LIB_OBJ) $(CLI_OBJ) $(TEST_OBJ): | $(B)/gen/parser.h $(B)/gen/lexer.h

$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(GEN_CFLAGS) -c $< -o $@

$(B)/obj/tests/oracle.o: CPPFLAGS_ALL += $(LLVM_CFLAGS)
$(B)/obj/backends/c/%.o: backends/c/%.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) $(LLVM_CFLAGS) $(CFLAGS_ALL) -c $< -o $@

$(B)/obj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(B)/liblrc.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/liblrc.so: $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $^ $(LDLIBS_ALL)

$(B)/lrc: $(CLI_OBJ) $(B)/liblrc.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $(CLI_OBJ) $(B)/liblrc.a $(LDLIBS_ALL)

$(B)/check_lrc: $(TEST_OBJ) $(B)/liblrc.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $(TEST_OBJ) $(B)/liblrc.a $(CHECK_LIBS) $(LDLIBS_ALL)

# Host programs: one JIT-compiles a DSL string through liblrc, one links a
# kernel emitted as standalone C (no lrc header or library).
$(B)/host/jit_host: examples/host/jit_host.c $(B)/liblrc.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c17 $(WARN) $(CFLAGS) $(SANFLAGS) -Iinclude -o $@ $< $(B)/liblrc.a $(LDLIBS_ALL)

$(B)/host/ema.c $(B)/host/ema.h &: examples/host/ema.lr $(B)/lrc
	@mkdir -p $(B)/host
	$(Q)./$(B)/lrc emit examples/host/ema.lr --emit=c -o $(B)/host/ema

$(B)/host/standalone_host: examples/host/standalone_host.c $(B)/host/ema.c
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c99 -O2 -Wall -Wextra -Werror $(SANFLAGS) -I$(B)/host -o $@ $< $(B)/host/ema.c -lm

hosts: $(B)/host/jit_host $(B)/host/standalone_host

# The test runner finds the lrc binary and the repository through these.
# Then (not under the sanitizers) the CUDA tests that need a device, on
# the emulated one (tests/emu).
check: all $(B)/check_lrc hosts $(if $(filter 1,$(SAN)),,emu)
	$(Q)./$(B)/host/jit_host
	$(Q)./$(B)/host/standalone_host
	$(Q)LRC_BIN=$(B)/lrc LRC_SAN=$(SAN) LRC_CACHE_DIR=$(CURDIR)/$(B)/test-cache \
	  LRC_TEST_JOBS=$$(nproc 2>/dev/null || echo 1) \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ./$(B)/check_lrc
	$(Q)$(if $(filter 1,$(SAN)),true,B=$(B) sh tests/emu/run.sh)
	$(Q)$(if $(filter 1,$(SAN)),true,LRC=$(B)/lrc CHECK=$(B)/check_lrc OUT=$(B)/cuda-compile sh tests/gpu/compile.sh)

# The emulated CUDA device (tests/emu/driver.c): the driver API and NVRTC
# in one library, under the names runtime/cuda.c loads.
$(B)/emu/libcuda.so.1: tests/emu/driver.c tests/emu/include/lrc_emu_abi.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c17 $(WARN) -O2 -g -D_GNU_SOURCE -fPIC -shared -fvisibility=hidden -o $@ $< -ldl

$(B)/emu/libnvrtc.so.13: $(B)/emu/libcuda.so.1
	$(Q)cp $< $@

emu: $(B)/emu/libcuda.so.1 $(B)/emu/libnvrtc.so.13

# The main job: JIT-compile Gated DeltaNet from examples/ for this CPU, run
# it at a realistic size, check it against the float64 reference, time it.
RUN_SHAPE ?= B=2,T=2048,H=4
run: all
	$(Q)./$(B)/lrc run examples/gated_deltanet.lr --dim K=128,V=128 --shape $(RUN_SHAPE) --repeat 5

# --- a portable build for GPU machines that lack LLVM, libffi or Check ---------
# lrc and the test runner with those linked statically (glibc, libstdc++,
# zlib and zstd stay shared), packed for tests/gpu/jit.sh.
PORTABLE_LIBS = $(shell $(LLVM_CONFIG) --ldflags 2>/dev/null) \
  $(shell $(LLVM_CONFIG) --link-static --libs orcjit native passes 2>/dev/null) \
  -Wl,-Bstatic -lffi -lcheck -lsubunit -Wl,-Bdynamic -l:libzstd.so.1 -lz -lstdc++ -lrt -ldl \
  -lpthread -lm
$(B)/portable.tar.xz: $(CLI_OBJ) $(TEST_OBJ) $(B)/liblrc.a
	@mkdir -p $(B)/portable
	@$(if $(Q),echo "  LD      $(B)/portable/lrc $(B)/portable/check_lrc")
	$(Q)$(CC) -s -o $(B)/portable/lrc $(CLI_OBJ) $(B)/liblrc.a $(PORTABLE_LIBS)
	$(Q)$(CC) -s -o $(B)/portable/check_lrc $(TEST_OBJ) $(B)/liblrc.a $(PORTABLE_LIBS)
	$(Q)tar -C $(B) -cJf $@ portable/lrc portable/check_lrc
portable: $(B)/portable.tar.xz

# --- benchmark: lrc's JIT kernel against a hand-written C loop -------------
$(B)/bench/gdn_baseline.o: bench/gdn_baseline.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (-O3 -march=native)")
	$(Q)gcc -std=c17 -O3 -march=native -Wall -Wextra -Werror -c $< -o $@

$(B)/bench/bench_gdn: bench/bench_gdn.c $(B)/bench/gdn_baseline.o $(B)/liblrc.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude -o $@ bench/bench_gdn.c \
	  $(B)/bench/gdn_baseline.o $(B)/liblrc.a $(LDLIBS_ALL)

BENCH_SHAPE ?= B=2,T=8192,H=4
bench: all $(B)/bench/bench_gdn
	$(Q)./$(B)/bench/bench_gdn $(BENCH_T) $(BENCH_REPEATS)
	$(Q)for f in examples/gated_deltanet.lr examples/gla.lr examples/mamba2.lr; do echo; \
	  ./$(B)/lrc bench $$f --dim K=128,V=128 --shape $(BENCH_SHAPE) --repeat 5 2>/dev/null || \
	  ./$(B)/lrc bench $$f --shape $(BENCH_SHAPE) --repeat 5; done

# --- fuzzing (clang + libFuzzer) -------------------------------------------
FUZZ_CC ?= clang-19
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
              -D_GNU_SOURCE -I. -Ifrontend -Ibuild/fuzz/gen -Iinclude -Wno-unused-function \
              $(LLVM_CFLAGS)
FUZZ_SRC := $(LIB_SRC) tests/fuzz/fuzz_frontend.c

build/fuzz/gen/lexer.c: frontend/lexer.l | $(DEPS_OK)
	@mkdir -p build/fuzz/gen
	$(Q)flex --header-file=build/fuzz/gen/lexer.h -o $@ $<
build/fuzz/gen/parser.c: frontend/parser.y | $(DEPS_OK)
	@mkdir -p build/fuzz/gen
	$(Q)bison --header=build/fuzz/gen/parser.h -o $@ $<

build/fuzz/fuzz_frontend: $(FUZZ_SRC) build/fuzz/gen/lexer.c build/fuzz/gen/parser.c
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_SRC) build/fuzz/gen/lexer.c build/fuzz/gen/parser.c \
	  $(LLVM_LIBS) -lffi -ldl -lpthread -lm

fuzz: build/fuzz/fuzz_frontend
	@mkdir -p build/fuzz/corpus
	$(Q)for f in examples/*.lr tests/bad/*.lr; do printf '\003\007' | cat - "$$f" > "build/fuzz/corpus/$$(basename $$f)"; done
	$(Q)./build/fuzz/fuzz_frontend -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048 \
	  -max_len=65536 -dict=tests/fuzz/dict.txt -print_final_stats=1 build/fuzz/corpus

clean:
	rm -rf build

.PHONY: all check run bench fuzz clean hosts portable emu

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
