# flightrec build.  `make` builds build/flightrec and build/flightrec-record;
# `make test` and `make demo` are the README's commands; V=1 shows commands.

BUILD ?= build
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

# The builds the test and demo targets make first use every core (unless
# make already runs with -j).
NPROC := $(shell nproc)
SUBJ = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC))

ifeq ($(V),1)
Q :=
else
Q := @
endif

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-missing-field-initializers -MMD -MP -I$(BUILD)
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIBS_FORMAT := -lzstd -lz -ljansson -lcurl
LIBS_ANALYZE := -lsqlite3 -lpcap -ljansson -lcrypto -lpthread -lm
LIBS_RECORD := -lbpf -lelf -ljansson -lcapstone

# Sources.  Every .c file in a folder belongs to its program; the mains are
# named here.  Adding a protocol or a command needs no edit below.
MAIN_ANALYZE := analyze/flightrec.c
MAIN_RECORD := capture/main.c
FORMAT_SRCS := $(wildcard formats/*.c)
ANALYZE_SRCS := $(filter-out $(MAIN_ANALYZE),$(wildcard analyze/*.c analyze/*/*.c reports/*.c))
RECORD_SRCS := $(filter-out $(MAIN_RECORD),$(wildcard capture/*.c))
# Pure functions of the recorder (no libbpf) that the unit tests link.
RECORD_PURE_SRCS := $(wildcard capture/redact.c capture/redact_wire.c capture/redact_sql.c capture/cgroup.c capture/kevents.c)
BPF_SRCS := $(wildcard bpf/*.bpf.c)
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))
UNIT_SRCS := $(wildcard tests/unit/*.c)
FUZZ_SRCS := $(filter-out tests/fuzz/driver.c,$(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRCS := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# The named queries and default alert rules, compiled into flightrec
# (reports/embed.sh): the installed tool reads no file of the source tree.
EMBED_SRC := $(BUILD)/gen/embedded.c
EMBED_INPUTS := reports/rules.conf $(sort $(wildcard reports/queries/*.sql))

FORMAT_OBJS := $(call obj,$(FORMAT_SRCS))
ANALYZE_OBJS := $(call obj,$(ANALYZE_SRCS)) $(BUILD)/obj/gen/embedded.o
RECORD_OBJS := $(call obj,$(RECORD_SRCS))

PROGRAMS := $(BUILD)/flightrec
ifneq ($(wildcard $(MAIN_RECORD)),)
PROGRAMS += $(BUILD)/flightrec-record
endif
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz-replay/%,$(FUZZ_SRCS))
BENCHES := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

.PHONY: all deps test test-hooks test-deploy demo unit fuzz-replay fuzz bench clean check-deps qemu-test kill-trials overflow-soak patho-full
all: $(PROGRAMS) $(BENCHES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(EMBED_SRC): reports/embed.sh $(EMBED_INPUTS)
	@mkdir -p $(dir $@)
	$(Q)sh reports/embed.sh $(EMBED_INPUTS) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/embedded.o: $(EMBED_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -Ireports -c $< -o $@

# Objects of the recorder include the BPF skeletons.
$(RECORD_OBJS) $(call obj,$(MAIN_RECORD)): $(SKELS)

# The HTML report's page is compiled in (.incbin: the compiler does not list it).
$(BUILD)/obj/reports/html_asset.o: reports/report_template.html

$(BUILD)/flightrec: $(call obj,$(MAIN_ANALYZE)) $(ANALYZE_OBJS) $(FORMAT_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ANALYZE) $(LIBS_FORMAT)

$(BUILD)/flightrec-record: $(call obj,$(MAIN_RECORD)) $(RECORD_OBJS) $(FORMAT_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_RECORD) $(LIBS_FORMAT)

# BPF: compile against the vmlinux.h kept in the tree (CO-RE: the running
# kernel plays no part in the build), then generate the skeleton.
$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Ibpf -Ibpf/$(ARCH) -c $< -o $@

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# Tests: one unit test binary, fuzz harnesses replayed without libFuzzer.
$(BUILD)/test-unit: $(call obj,$(UNIT_SRCS)) $(ANALYZE_OBJS) $(FORMAT_OBJS) $(call obj,$(RECORD_PURE_SRCS))
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ANALYZE) $(LIBS_FORMAT)

$(BUILD)/fuzz-replay/%: $(call obj,tests/fuzz/%.c tests/fuzz/driver.c) $(ANALYZE_OBJS) $(FORMAT_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ANALYZE) $(LIBS_FORMAT)

# The recorder's redaction alone (tests/bench/redactbench.c).
$(BUILD)/bench/redactbench: $(call obj,tests/bench/redactbench.c capture/redact.c capture/redact_wire.c capture/redact_sql.c)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/bench/%: $(call obj,tests/bench/%.c) $(ANALYZE_OBJS) $(FORMAT_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ANALYZE) $(LIBS_FORMAT)

# The HPACK oracle (tests/unit/hpack_oracle.sh, the HTTP/2 e2e test): our
# decoder against libnghttp2's.  Only this test program links libnghttp2.
$(BUILD)/hpack-oracle: $(call obj,tests/unit/oracle/hpack_oracle.c) $(ANALYZE_OBJS) $(FORMAT_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ANALYZE) $(LIBS_FORMAT) -lnghttp2

# The mutation run (tests/fuzz/mutate.sh): mutants of real inputs through
# cmd_analyze in forked children.
$(BUILD)/mutate: $(call obj,tests/fuzz/mutate.c) $(ANALYZE_OBJS) $(FORMAT_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ANALYZE) $(LIBS_FORMAT)

# The pathological inputs of issue 11 (tests/unit/pathological.sh).
$(BUILD)/patho_gen: $(call obj,tests/tools/patho_gen.c) $(FORMAT_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_FORMAT)

unit: $(BUILD)/test-unit $(BUILD)/hpack-oracle $(BUILD)/patho_gen
fuzz-replay: $(FUZZ_REPLAY) $(BUILD)/mutate

# libFuzzer builds (clang) in build/fuzz/<harness>, each then run for
# FUZZ_SECONDS (default 600) on its saved corpus (tests/fuzz/run.sh).
fuzz: $(EMBED_SRC)
	$(Q)mkdir -p $(BUILD)/fuzz
	$(Q)for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  echo "  FUZZ    $$n"; \
	  $(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -I$(BUILD) $$f \
	    $(ANALYZE_SRCS) $(EMBED_SRC) -Ireports $(FORMAT_SRCS) -o $(BUILD)/fuzz/$$n \
	    $(LIBS_ANALYZE) $(LIBS_FORMAT) || exit 1; done
	$(Q)bash tests/fuzz/run.sh $(BUILD)/fuzz

deps:
	$(Q)bash tests/deps.sh

check-deps:
	$(Q)bash tests/deps.sh --check

test: deps
	$(Q)$(MAKE) --no-print-directory $(SUBJ) all
	$(Q)bash tests/run.sh

# The e2e tests marked "# hooks: one" with the recorder's other hook sets
# (make test runs them with the first; tests/run.sh says why).
test-hooks: deps
	$(Q)$(MAKE) --no-print-directory $(SUBJ) all
	$(Q)bash tests/run.sh --other-hooks

# The manifests validated offline and the image run under podman
# (tests/deploy/run.sh); apart from `make test` for its time.
test-deploy: deps
	$(Q)$(MAKE) --no-print-directory $(SUBJ) all
	$(Q)bash tests/deploy/run.sh

# The recorder on Debian 12's own 6.1 kernel under qemu (issue 16): the
# kernel package is fetched once into $(BUILD)/qemu (tests/qemu/run.sh).
qemu-test: deps
	$(Q)$(MAKE) --no-print-directory $(SUBJ) all
	$(Q)bash tests/qemu/run.sh

# The long runs of the recorder's fault tests (issue 11), as root: kill -9
# at random moments during a flood, KILL_TRIALS times; the kernel ring
# buffer overflowing for OVERFLOW_SECONDS.  `make test` runs both short.
KILL_TRIALS ?= 50
OVERFLOW_SECONDS ?= 180
kill-trials: deps
	$(Q)$(MAKE) --no-print-directory $(SUBJ) all
	$(Q)FR_FAULTS=kill FR_KILL_TRIALS=$(KILL_TRIALS) bash tests/e2e/test_record_faults.sh
overflow-soak: deps
	$(Q)$(MAKE) --no-print-directory $(SUBJ) all
	$(Q)FR_OVERFLOW_SECONDS=$(OVERFLOW_SECONDS) bash tests/e2e/test_record_overflow.sh

# The pathological inputs at the issue's sizes (512 MiB of junk on one
# connection, a million connections), with the release build; `make test`
# runs them at 128 MiB and 20,000 under ASan.
patho-full: all
	$(Q)FR_PATHO_BIN=$(BUILD)/flightrec FR_PATHO_JUNK_MB=512 FR_PATHO_CONNS=1000000 bash tests/unit/pathological.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory $(SUBJ) all
	$(Q)bash tests/e2e/demo.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
