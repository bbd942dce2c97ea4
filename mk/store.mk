# mk/store.mk — the key store's proofs and figures (issue 5). Included after mk/native.mk (uses
# WIM_NATIVE_DIR, NATIVE_CC, NATIVE_CFLAGS, NATIVE_SAN); every name here starts with STORE_ or store-.
#
#   store-test   the power-cut driver: a power cut at every flash write and erase of random operation
#                sequences (>= STORE_CUTS cut points, three tears each), also under ASan+UBSan; the store
#                API fuzzer for STORE_FUZZ_SECONDS; the PIN-under-power-cut test on the simulator runs
#                with the mocha specs (test/wim/power-cut.test.ts)
#   store-soak   the driver with >= 1,000,000 cut points (two seeds in parallel), a longer fuzz run
#   bench-store  the figures: flash erases per 1,000 signatures (the real firmware in the simulator,
#                WIM_SIM_STATS=1), erases and bytes written per object creation, wear spread, mount time
#   store-fuzz-libfuzzer  (optional, needs clang) the same fuzz entry point under libFuzzer
#
# The drivers link test/store/crc32_fast.c (a table CRC, checked against the core's at start) instead
# of wim_crc32.c: the core's bit-serial CRC is 95% of a driver's time. The bench links the core's own.

STORE_CUTS ?= 20000
STORE_SOAK_CUTS ?= 500000
STORE_FUZZ_SECONDS ?= 20
STORE_SEED ?= 1

STORE_CORE := $(WIM_NATIVE_DIR)/wim_store.c
STORE_HDRS := $(addprefix $(WIM_NATIVE_DIR)/,wim_store.h wim_env.h wim_crc32.h) test/store/model.h test/native/test_flash.h
STORE_TEST_SRCS := test/store/model.c test/store/crc32_fast.c test/native/test_flash.c
STORE_INC := -I$(WIM_NATIVE_DIR) -Itest/native -Itest/store
STORE_DEPS := $(STORE_CORE) $(STORE_HDRS) $(STORE_TEST_SRCS) $(WIM_NATIVE_DIR)/wim_crc32.c mk/store.mk
STORE_REFCRC := -Dwim_crc32_update=ref_crc32_update -Dwim_crc32=ref_crc32
# The previous store code (format WIS1), its API renamed, writes the legacy stores the cut driver migrates.
STORE_V1 := $(foreach f,format mount put get remove ids read_secret read_secret_at begin commit abort,\
	-Dwim_store_$(f)=v1_store_$(f))

build/store/v1.o: test/store/wim_store_v1.c $(STORE_HDRS) mk/store.mk
	@mkdir -p $(@D)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(STORE_V1) $(STORE_INC) -c $< -o $@

build/store/v1-asan.o: test/store/wim_store_v1.c $(STORE_HDRS) mk/store.mk
	@mkdir -p $(@D)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_SAN) $(STORE_V1) $(STORE_INC) -c $< -o $@

build/store/refcrc.o: $(WIM_NATIVE_DIR)/wim_crc32.c $(WIM_NATIVE_DIR)/wim_crc32.h mk/store.mk
	@mkdir -p $(@D)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(STORE_REFCRC) -I$(WIM_NATIVE_DIR) -c $< -o $@

build/store/refcrc-asan.o: $(WIM_NATIVE_DIR)/wim_crc32.c $(WIM_NATIVE_DIR)/wim_crc32.h mk/store.mk
	@mkdir -p $(@D)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_SAN) $(STORE_REFCRC) -I$(WIM_NATIVE_DIR) -c $< -o $@

build/store/store-cut: test/store/cut_driver.c build/store/refcrc.o build/store/v1.o $(STORE_DEPS)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(STORE_INC) $(STORE_CORE) $(STORE_TEST_SRCS) build/store/refcrc.o build/store/v1.o \
		$< -o $@

build/store/store-cut-asan: test/store/cut_driver.c build/store/refcrc-asan.o build/store/v1-asan.o $(STORE_DEPS)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_SAN) $(STORE_INC) $(STORE_CORE) $(STORE_TEST_SRCS) build/store/refcrc-asan.o \
		build/store/v1-asan.o $< -o $@

build/store/store-fuzz: test/store/fuzz_store.c test/store/fuzz_main.c build/store/refcrc.o $(STORE_DEPS)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(STORE_INC) $(STORE_CORE) $(STORE_TEST_SRCS) build/store/refcrc.o \
		test/store/fuzz_store.c test/store/fuzz_main.c -o $@

build/store/store-fuzz-asan: test/store/fuzz_store.c test/store/fuzz_main.c build/store/refcrc-asan.o $(STORE_DEPS)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_SAN) $(STORE_INC) $(STORE_CORE) $(STORE_TEST_SRCS) \
		build/store/refcrc-asan.o test/store/fuzz_store.c test/store/fuzz_main.c -o $@

build/store/store-bench: bench/store/bench_store.c $(STORE_DEPS) $(WIM_NATIVE_SRCS) $(WIM_NATIVE_HDRS)
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(STORE_INC) $(WIM_NATIVE_SRCS) test/native/test_flash.c $< -o $@

STORE_SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1

.PHONY: store-test store-soak bench-store store-fuzz-libfuzzer

# ~45 s on 2 cores: the plain driver and the sanitized runs in parallel, then the fuzzer.
store-test: build/store/store-cut build/store/store-cut-asan build/store/store-fuzz build/store/store-fuzz-asan
	@set -e; \
	build/store/store-cut-asan --seed 3 --cuts 8000 > build/store/cut-asan.log 2>&1 & pa=$$!; \
	build/store/store-cut --seed $(STORE_SEED) --cuts $(STORE_CUTS); \
	wait $$pa || { cat build/store/cut-asan.log; exit 1; }; \
	sed 's/^/asan+ubsan: /' build/store/cut-asan.log
	@set -e; \
	$(STORE_SAN_ENV) build/store/store-fuzz-asan --seed 5 --seconds 8 > build/store/fuzz-asan.log 2>&1 & pa=$$!; \
	build/store/store-fuzz --seed $(STORE_SEED) --seconds $(STORE_FUZZ_SECONDS); \
	wait $$pa || { cat build/store/fuzz-asan.log; exit 1; }; \
	sed 's/^/asan+ubsan: /' build/store/fuzz-asan.log

# >= 1,000,000 cut points: two seeds of STORE_SOAK_CUTS each, in parallel (~6 min on 2 cores).
store-soak: build/store/store-cut build/store/store-fuzz
	@set -e; \
	build/store/store-cut --seed 101 --cuts $(STORE_SOAK_CUTS) > build/store/soak-a.log 2>&1 & pa=$$!; \
	build/store/store-cut --seed 202 --cuts $(STORE_SOAK_CUTS) > build/store/soak-b.log 2>&1 & pb=$$!; \
	ra=0; rb=0; wait $$pa || ra=$$?; wait $$pb || rb=$$?; cat build/store/soak-a.log build/store/soak-b.log; \
	test $$ra -eq 0 -a $$rb -eq 0; \
	awk '/cut points/ { n += $$4 } END { printf "store soak: %d cut points in all\n", n; exit !(n >= 1000000) }' \
		build/store/soak-a.log build/store/soak-b.log
	build/store/store-fuzz --seed 303 --seconds 120

bench-store: build/store/store-bench
	build/store/store-bench
	@if [ -x $(SIM_BIN) ] && [ -f build/firmware.js ]; then npx tsx bench/store/sim-flash.ts; \
	else echo "bench-store: build/wim-sim and build/firmware.js missing (make build): simulator figures skipped"; fi

# Optional: libFuzzer with clang (not installed by `make test`).
build/store/store-libfuzzer: test/store/fuzz_store.c $(STORE_DEPS)
	clang -O1 -g -fsanitize=fuzzer,address,undefined $(STORE_INC) $(STORE_CORE) test/store/model.c \
		$(WIM_NATIVE_DIR)/wim_crc32.c test/native/test_flash.c $< -o $@

store-fuzz-libfuzzer: build/store/store-libfuzzer
	build/store/store-libfuzzer -max_total_time=$(STORE_FUZZ_SECONDS) -seed=$(STORE_SEED)
