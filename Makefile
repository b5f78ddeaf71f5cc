# shrink: the only build file.
#   make            build ./shrink
#   make test       build and run every test (twice for the model: fast and SHRINK_KERNELS=ref kernels)
#   make lib        build/libshrink.a and .so (include/shrink.h); make man: build/shrink.1 and shrink.bash
#   make install    PREFIX=/usr/local DESTDIR=: binary, libraries, header, shrink.pc, man page, completion
#   make demo       build, compress the bundled default model three ways, write a report on them (demo-report/)
#   make asan       build and test with AddressSanitizer + UBSan
#   make bench      speed figures (and llama.cpp beside them) into bench/results.md
#   make quality    compression quality against llama.cpp's own files into bench/quality.md
#   make pruning    one-shot structured pruning (cuts x scores x compensations) into bench/pruning.md
#   make lowrank    low-rank compression layers, one-shot and distilled, into bench/lowrank.md
#   make debug      -O0 -g build
#   make mutants    apply each dev/mutants/*.mut to a scratch copy, run the tests that must kill it
#   make test-mpi   build-mpi/shrink (MPI=1, Open MPI) and its tests (data-parallel train, shared sweeps)
#   make fuzz       build the libFuzzer harnesses (clang) and run each for FUZZ_TIME seconds
#   make fuzz-cov   line coverage of the parsers by the fuzz corpora (llvm-cov)
# Options: NO_OMP=1 builds without OpenMP; WERROR=1 adds -Werror (CI); MPI=1 builds
# build-mpi/shrink with Open MPI (mpicc): `mpirun -np N build-mpi/shrink train ...` trains data
# parallel (docs/distributed.md). ./shrink stays the plain build's, with no MPI dependency.
CC ?= cc
ifneq ($(MPI),)
  CC := mpicc
  BUILD ?= build-mpi
endif
# CFLAGS/LDFLAGS are the user's (make asan overrides them); the project's own flags
# live in ALL_CFLAGS so they always apply.
CFLAGS ?= -O2 -g
# -fPIC: one set of objects serves ./shrink and libshrink.so; hidden visibility: the
# library exports only include/shrink.h's functions (SHRINK_API), and calls inside it
# stay direct.
ALL_CFLAGS = $(CFLAGS) -std=c11 -Wall -Wextra -Wshadow -Wpointer-arith -D_GNU_SOURCE -Isrc -Iinclude -pthread -fPIC -fvisibility=hidden
ALL_LDFLAGS = $(LDFLAGS) -pthread
LDLIBS = -lm
BUILD ?= build

ifneq ($(WERROR),)
  ALL_CFLAGS += -Werror
endif
ifneq ($(MPI),)
  ALL_CFLAGS += -DSHRINK_MPI
endif
ifeq ($(NO_OMP),)
  OMP_OK := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1)
endif
ifeq ($(OMP_OK),1)
  ALL_CFLAGS += -fopenmp
  ALL_LDFLAGS += -fopenmp
else
  # serial build: the OpenMP pragmas are simply not used
  ALL_CFLAGS += -Wno-unknown-pragmas
endif

LIB_SRC := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/%)

.PHONY: test-mpi bench-mpi all lib man install uninstall test demo clean asan debug bench quality pruning recovery lowrank seed prune-speed bench-busy bench-scale llamacpp mutants fuzz fuzz-build fuzz-cov fuzz-seeds
ifeq ($(MPI),)
all: shrink
else
all: $(BUILD)/shrink
endif

# Only *_avx2.c files get AVX2/FMA code generation; the rest targets the baseline so one
# binary runs on any x86-64 (kernels are chosen at run time).
$(BUILD)/src/kernels/%_avx2.o: ALL_CFLAGS += -mavx2 -mfma -mf16c -O3
$(BUILD)/src/kernels/%_avx512.o: ALL_CFLAGS += -mavx512f -mavx2 -mfma -mf16c -O3

$(BUILD)/%.o: %.c $(wildcard src/*/*.h) include/shrink.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libshrink.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# `shrink --version` names the commit: main.o is rebuilt when the commit changes (commit.txt is
# rewritten only then).
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
$(BUILD)/commit.txt: FORCE
	@mkdir -p $(@D); echo '$(GIT_COMMIT)' | cmp -s - $@ || echo '$(GIT_COMMIT)' > $@
$(BUILD)/src/cli/main.o $(BUILD)/src/api/shrink_api.o: $(BUILD)/commit.txt
$(BUILD)/src/cli/main.o $(BUILD)/src/api/shrink_api.o: ALL_CFLAGS += -DSHRINK_COMMIT='"$(GIT_COMMIT)"'
.PHONY: FORCE
FORCE:

# The shared library: soname libshrink.so.N with N = SHRINK_API_VERSION (include/shrink.h), so a
# program built against another version's header does not load this one; the libshrink.so link for -lshrink.
SOVERSION := $(shell sed -n 's/^\#define SHRINK_API_VERSION \([0-9]*\).*/\1/p' include/shrink.h)
$(BUILD)/libshrink.so: $(LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libshrink.so.$(SOVERSION) $^ -o $@.$(SOVERSION) $(LDLIBS)
	ln -sf libshrink.so.$(SOVERSION) $@
lib: $(BUILD)/libshrink.a $(BUILD)/libshrink.so

$(BUILD)/shrink: $(CLI_OBJ) $(BUILD)/libshrink.a
	$(CC) $(ALL_LDFLAGS) $^ -o $@ $(LDLIBS)

# ./shrink is the default build's binary (other BUILD dirs keep theirs inside).
shrink: $(BUILD)/shrink
	cp $< $@.tmp && mv $@.tmp $@  # a new inode: a running ./shrink keeps its own

$(BUILD)/test_%: tests/test_%.c $(wildcard tests/*.h) $(BUILD)/libshrink.a
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< $(BUILD)/libshrink.a -o $@ $(LDLIBS)

test: $(BUILD)/shrink $(TEST_BIN) $(BUILD)/libshrink.so
	@sh tests/run_all.sh $(BUILD)

# The MPI build lives in build-mpi (its own objects); the plain build and make test need no MPI.
test-mpi:
	$(MAKE) MPI=1 BUILD=build-mpi build-mpi/shrink
	sh tests/mpi.sh build-mpi/shrink

# make install PREFIX=/usr/local DESTDIR=: the binary, libshrink.so (soname) and .a, the
# header, the pkg-config file, the docs, and the bundled data and model (share/shrink, where
# the installed binary looks for its defaults). make uninstall removes exactly those.
PREFIX ?= /usr/local
INSTALL_FILES = bin/shrink include/shrink.h lib/libshrink.a lib/libshrink.so lib/libshrink.so.$(SOVERSION) \
                lib/pkgconfig/shrink.pc share/doc/shrink/README.md share/man/man1/shrink.1 \
                share/bash-completion/completions/shrink
# The man page and the bash completion, made from the binary's --help (its options tables).
$(BUILD)/shrink.1: $(BUILD)/shrink tools/gen_man.sh
	sh tools/gen_man.sh $(BUILD)/shrink > $@.tmp && mv $@.tmp $@
$(BUILD)/shrink.bash: $(BUILD)/shrink tools/gen_completion.sh
	sh tools/gen_completion.sh $(BUILD)/shrink > $@.tmp && mv $@.tmp $@
man: $(BUILD)/shrink.1 $(BUILD)/shrink.bash
$(BUILD)/shrink.pc: src/core/version.h Makefile
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: shrink\nDescription: %s\nVersion: %s\nLibs: -L$${libdir} -lshrink\nLibs.private: -lm -pthread%s\nCflags: -I$${includedir}\n' \
	  '$(PREFIX)' 'make GPT-2 models smaller and faster, and measure what it costs' \
	  "$$(sed -n 's/^#define SHRINK_VERSION "\(.*\)"/\1/p' src/core/version.h)" '$(if $(filter 1,$(OMP_OK)), -fopenmp)' > $@
install: $(BUILD)/shrink $(BUILD)/libshrink.a $(BUILD)/libshrink.so $(BUILD)/shrink.pc $(BUILD)/shrink.1 $(BUILD)/shrink.bash
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/doc/shrink \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 $(BUILD)/shrink.1 $(DESTDIR)$(PREFIX)/share/man/man1/shrink.1
	install -m 644 $(BUILD)/shrink.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/shrink
	install -m 755 $(BUILD)/shrink $(DESTDIR)$(PREFIX)/bin/shrink
	install -m 644 include/shrink.h $(DESTDIR)$(PREFIX)/include/shrink.h
	install -m 644 $(BUILD)/libshrink.a $(DESTDIR)$(PREFIX)/lib/libshrink.a
	install -m 755 $(BUILD)/libshrink.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libshrink.so.$(SOVERSION)
	ln -sf libshrink.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libshrink.so
	install -m 644 $(BUILD)/shrink.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/shrink.pc
	install -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/shrink/README.md
	install -d $(DESTDIR)$(PREFIX)/share/shrink/data/gpt2-tokenizer $(DESTDIR)$(PREFIX)/share/shrink/models/mini
	install -m 644 data/calib.txt data/heldout.txt $(DESTDIR)$(PREFIX)/share/shrink/data/
	install -m 644 data/gpt2-tokenizer/* $(DESTDIR)$(PREFIX)/share/shrink/data/gpt2-tokenizer/
	install -m 644 models/mini/* $(DESTDIR)$(PREFIX)/share/shrink/models/mini/
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALL_FILES))
	rm -rf $(DESTDIR)$(PREFIX)/share/shrink
	-rmdir $(DESTDIR)$(PREFIX)/share/doc/shrink 2>/dev/null || true

# The README's first command: the bundled default model compressed four ways into
# $(BUILD)/demo/ (Q8_0 by rounding; Q4_K_M by GPTQ; the size of llama.cpp's Q2_K two ways:
# its recipe by plain rounding, and GPTQ with the bits placed by measured sensitivity), then
# `shrink report` on the original and the four (size, speed, memory, quality, generations,
# plots, conclusions) into demo-report/. DEMO_BIN runs another build's binary
# (make BUILD=build-x DEMO_BIN=build-x/shrink demo).
DEMO_MODEL ?= models/mini
DEMO_BIN ?= shrink
DEMO_DIR ?= $(BUILD)/demo
DEMO_REPORT ?= demo-report
DEMO_CALIB ?= --calib-tokens 8192
DEMO_NAME := $(notdir $(patsubst %/,%,$(DEMO_MODEL)))
demo: $(DEMO_BIN)
	@mkdir -p $(DEMO_DIR)
	./$(DEMO_BIN) compress -m $(DEMO_MODEL) -o $(DEMO_DIR)/$(DEMO_NAME)-Q8_0.gguf --type Q8_0
	./$(DEMO_BIN) compress -m $(DEMO_MODEL) -o $(DEMO_DIR)/$(DEMO_NAME)-Q4_K_M-gptq.gguf --type Q4_K_M --method gptq $(DEMO_CALIB)
	./$(DEMO_BIN) compress -m $(DEMO_MODEL) -o $(DEMO_DIR)/$(DEMO_NAME)-Q2_K.gguf --type Q2_K
	./$(DEMO_BIN) compress -m $(DEMO_MODEL) -o $(DEMO_DIR)/$(DEMO_NAME)-Q2_K-size-gptq.gguf --target-bpw Q2_K --method gptq $(DEMO_CALIB)
	@echo
	./$(DEMO_BIN) report -m $(DEMO_MODEL) -c $(DEMO_DIR)/$(DEMO_NAME)-Q8_0.gguf -c $(DEMO_DIR)/$(DEMO_NAME)-Q4_K_M-gptq.gguf \
	    -c $(DEMO_DIR)/$(DEMO_NAME)-Q2_K.gguf -c $(DEMO_DIR)/$(DEMO_NAME)-Q2_K-size-gptq.gguf -o $(DEMO_REPORT)

# Speed figures (never asserted in tests): writes bench/results.md. LLAMA_CPP_BIN=dir
# with llama-bench adds llama.cpp side by side (bench/README.md says how to build it).
bench: shrink
	sh bench/run.sh

# The busy-machine section of make bench alone, written to bench/busy.md.
bench-busy: shrink
	sh bench/busy.sh > bench/busy.md.tmp && mv bench/busy.md.tmp bench/busy.md

# Wall time and peak memory at the GPT-2-medium/large/XL shapes (SHAPES, STEPS: see the
# script; the XL rows take over an hour on 2 cores): writes bench/scale.md.
bench-scale: shrink
	sh bench/scale.sh > bench/scale.md.tmp && mv bench/scale.md.tmp bench/scale.md

# Data-parallel training: 1 process x 2 threads vs 2 x 1, and the loss curves (needs Open MPI).
bench-mpi:
	$(MAKE) MPI=1 BUILD=build-mpi build-mpi/shrink
	sh bench/distributed.sh > bench/distributed.md.tmp && mv bench/distributed.md.tmp bench/distributed.md

# Compression quality against llama.cpp's own files of the reference model (needs ../shared):
# writes bench/quality.md; results cached under build/quality/<hash of ./shrink>.
quality: shrink
	sh bench/quality.sh

# One-shot structured pruning at several cuts, scores and compensations: writes bench/pruning.md.
pruning: shrink
	sh bench/pruning.sh

# llama.cpp on pruned files (needs a llama.cpp build: LLAMA_CPP_BIN, default ../llama.cpp/build/bin)
llamacpp: shrink
	sh bench/llamacpp.sh > bench/llamacpp.md.tmp && mv bench/llamacpp.md.tmp bench/llamacpp.md

# Pruning to a budget, then recovery by distillation from the original, against a DistilGPT2-
# style and a from-scratch baseline (needs ../shared's corpus; about an hour on 2 cores):
# writes bench/recovery.md.
recovery: shrink
	sh bench/recovery.sh

# Low-rank compression layers on the bundled model: one-shot (uniform MLP ranks against ranks and
# methods chosen per matrix by measured KL) and recovered by distillation, beside pruning at the
# same cuts: writes bench/lowrank.md (each of the three distillations takes about 11 minutes on 2 cores).
lowrank: shrink
	sh bench/lowrank.sh

# The experiment this project started from (compression layers at a 4.7% cut, trained to adapt),
# run again on the bundled model beside shrink's answers, in one report: writes seed-report/
# (docs/seed.md; about 5 minutes on 2 cores; bundled files only).
seed: shrink
	sh bench/seed.sh

# Pruned and factorized models' pp/tg speed beside their originals against their FLOP ratio, and the cost of
# pruning GPT-2-124M's shape: writes bench/prune_speed.md. Run on a quiet machine.
prune-speed: shrink
	sh bench/prune_speed.sh

# Mutation checks (dev/mutants/run.sh): every mutant must be killed by the tests it names.
# MUTANTS="dev/mutants/a.mut ..." runs a few.
mutants: $(BUILD)/libshrink.a
	sh dev/mutants/run.sh $(MUTANTS)

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer" \
	        LDFLAGS="-fsanitize=address,undefined,float-cast-overflow" test

debug:
	$(MAKE) BUILD=build-debug CFLAGS="-O0 -g" shrink

# --- fuzzing (docs/reliability.md): libFuzzer harnesses fuzz/fuzz_*.c, built with clang and
# -fsanitize=fuzzer,address,undefined. The kernels are compiled by $(CC) without sanitizers:
# they parse nothing, and clang refuses some of their target attributes. `make fuzz` runs
# each harness for FUZZ_TIME seconds (one process at a time) from its committed seeds
# (fuzz/corpus/NAME) and what earlier runs kept (FUZZ_BUILD/corpus/NAME); a finding stops
# that harness and leaves the input in FUZZ_BUILD/crash-NAME-*. FUZZ=name1,name2 picks some.
FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 60
FUZZ ?=
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -O1 -g -std=c11 -Wall -Wextra -Wshadow -D_GNU_SOURCE -Isrc -Iinclude -Wno-unknown-pragmas
FUZZ_NAMES := $(sort $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c)))
FUZZ_KERNEL_CFLAGS = -O2 -g -std=c11 -D_GNU_SOURCE -Isrc -Iinclude -Wno-unknown-pragmas
ifneq ($(WERROR),)
  FUZZ_CFLAGS += -Werror
endif

define fuzz_lib_rules
$(1)/src/kernels/%_avx2.o: FUZZ_KFLAGS = -mavx2 -mfma -mf16c -O3
$(1)/src/kernels/%_avx512.o: FUZZ_KFLAGS = -mavx512f -mavx2 -mfma -mf16c -O3
$(1)/src/kernels/%.o: src/kernels/%.c $(wildcard src/*/*.h)
	@mkdir -p $$(dir $$@)
	$(CC) $(FUZZ_KERNEL_CFLAGS) $$(FUZZ_KFLAGS) -c $$< -o $$@
$(1)/src/%.o: src/%.c $(wildcard src/*/*.h include/*.h)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(2) -c $$< -o $$@
$(1)/libshrink.a: $(LIB_SRC:%.c=$(1)/%.o)
	@rm -f $$@
	ar rcs $$@ $$^
$(1)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(1)/libshrink.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(3) -Ifuzz $$< $(1)/libshrink.a -o $$@ -lm
endef
$(eval $(call fuzz_lib_rules,$(FUZZ_BUILD),$(FUZZ_SAN) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -fsanitize=fuzzer))
$(eval $(call fuzz_lib_rules,$(FUZZ_BUILD)-cov,-fprofile-instr-generate -fcoverage-mapping,-fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer))

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)

fuzz: fuzz-build
	@sh fuzz/run.sh run $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ)

fuzz-cov: $(FUZZ_NAMES:%=$(FUZZ_BUILD)-cov/%)
	@sh fuzz/run.sh cov $(FUZZ_BUILD) 0 $(FUZZ)

# Regenerates the committed seed corpora from shrink's own writers (fuzz/make_seeds.c).
fuzz-seeds: $(BUILD)/libshrink.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) fuzz/make_seeds.c $(BUILD)/libshrink.a -o $(BUILD)/make_seeds $(LDLIBS)
	./$(BUILD)/make_seeds fuzz/corpus

clean:
	rm -rf build build-asan build-debug build-fuzz build-fuzz-cov build-mpi shrink
