# mk/native.mk — the C core of modules/wim/native (bignum, RSA, key store) and its tests.
# Included by the top-level Makefile; paths are relative to the repository root.
#
#   native-test          build/native-test (gcc, 64-bit limbs where the compiler has __int128), run it,
#                        then check every key it generated with OpenSSL: `pkey -check`, and the raw
#                        private-key operation (`pkeyutl -decrypt`, no padding) byte for byte against ours
#   native-test-limb32   the same with -DWIM_LIMB_BITS=32; its keys and results must equal the 64-bit ones
#   native-asan          the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   native-ct            the secret-dependence check: a build with -DWIM_CT_CHECK (the core marks its secrets
#                        for Valgrind's memcheck) runs a private operation, a key generation and the
#                        exponentiation at every RSA modulus size under valgrind, 64- and 32-bit limbs; any
#                        branch or memory index on a secret fails it
#   native-ct-riscv      constant time on rv32imc, the device's ISA: (a) the instructions each private operation
#                        retires under QEMU -icount (RSA-2048/3072/4096 private with 3 fixed keys x 3 inputs,
#                        the key store's secret read, P-256/P-384 d*G, ECDSA, ECDH with 3 keys x 3 inputs,
#                        Ed25519 public key, generation and signing with 3 seeds x 3 messages of 100 bytes)
#                        must be identical within a size (test/native/ct_count_rv32.c); (b) the disassembly of
#                        the secret-path functions must hold exactly the branches test/native/ct_branches.txt
#                        allows (test/native/ct_scan.py); then a build with a planted secret branch must fail
#                        both. About 8 s.
#   native-ct-xtensa     constant time on Xtensa (the ESP32's LX6, the ESP32-S3's LX7), by proxy: the core's
#                        secret-path objects compiled with Debian's xtensa-lx106-elf-gcc (the ESP8266's core:
#                        same base ISA and branches, another configuration: libgcc's __umulsidi3 for the
#                        32x32->64 product where the LX6/LX7 have MULL/MULUH) at -O2; their disassembly must
#                        hold exactly the branches test/native/ct_branches_xtensa.txt allows (ct_scan.py --isa
#                        xtensa); then a build with the planted secret branch must fail it. About 3 s.
#   native-riscv         the core + tests for rv32imc (picolibc), run under qemu-system-riscv32, and the
#                        core's code size: bignum and RSA (wim_bn.o + wim_rsa.o) within NATIVE_TEXT_BUDGET bytes,
#                        the key store (wim_store.o + wim_crc32.o) within NATIVE_STORE_TEXT_BUDGET (its own line
#                        since format WIS2, which works under flash encryption and still reads WIS1: docs/store.md),
#                        the EC core (wim_ec.o, wim_sha256.o) within its own NATIVE_EC_TEXT_BUDGET
#                        (docs/design-notes.md says why it is separate),
#                        Ed25519 (wim_ed25519.o, wim_sha512.o) within NATIVE_ED_TEXT_BUDGET, SHA-1 (wim_sha1.o)
#                        within NATIVE_SHA1_TEXT_BUDGET, ChaCha20-Poly1305 (wim_aead.o) within NATIVE_AEAD_TEXT_BUDGET
#   native-diff          the differential test against OpenSSL's libcrypto (test/native/diff_openssl.c):
#                        our keys (seeded keygen) pass OpenSSL's key check, and our raw private operation
#                        equals OpenSSL's (RSA_NO_PADDING) byte for byte on NATIVE_DIFF_INPUTS random inputs
#                        per key size (2048, 3072, 4096) plus edge inputs, on NATIVE_DIFF_JOBS cores
#   native-diff-ec       test/native/diff_ec.c: the EC core (P-256, P-384) against OpenSSL — public keys, ECDSA
#                        signatures verified by OpenSSL, ECDH, key generation, edges — with 64- and 32-bit
#                        limbs, and Wycheproof's ECDH vectors from ../shared/vectors/wycheproof (skipped, with a
#                        message, where that folder is absent); then the ECDSA nonces (RFC 6979, deterministic
#                        and hedged) against @noble/curves' (test/native/rfc6979_noble.ts), byte for byte
#   native-diff-ed25519  test/native/diff_ed25519.c: Ed25519 and SHA-512 against OpenSSL (EVP_PKEY_ED25519): SHA-512
#                        of 0..300 bytes, public keys and signatures of NATIVE_DIFF_ED_COUNT random seeds and
#                        messages of random length byte for byte, generated keys; Wycheproof's Ed25519 vectors
#                        (ed25519_test.json, read in place; skipped with a message where absent): the valid
#                        vectors of the keys whose seed is known signed to exactly their signature; 64- and
#                        32-bit limbs
#   native-diff-aead     test/native/diff_aead.c: ChaCha20-Poly1305 (wim_aead) against OpenSSL's EVP_chacha20_poly1305:
#                        NATIVE_DIFF_AEAD_COUNT random cases (every length 0..300, then up to 1100 bytes; associated
#                        data 0..80 bytes) sealed byte for byte alike, OpenSSL's ciphertexts opened, one flipped bit
#                        refused by both; ChaCha20 (EVP_chacha20) and Poly1305 (EVP_MAC POLY1305) alone
#   native-wycheproof-rsa  test/native/wycheproof_rsa.c: Wycheproof's RSA decryption vectors (PKCS#1 v1.5 and
#                        OAEP, 2048) through the raw private operation, 64- and 32-bit limbs: each result equals
#                        ct^d mod n (Python's integers, test/native/wycheproof_rsa.py), ct >= n is refused; read
#                        in place from ../shared/vectors/wycheproof (skipped, with a message, where absent)
#   bench-riscv          bench/native/bench_rv32.c under QEMU with -icount: instructions each core operation
#                        retires on rv32imc (RSA-2048 private, P-256/P-384 sign and ECDH, keygen, SHA-256, a
#                        store put) and the lower-bound time at the ESP32-C3's 160 MHz
#   bench-native         bench/native/bench_rsa.c: private operation and key generation, ours vs OpenSSL's
#                        libcrypto vs mbedTLS, printed as a table with ratios (about two minutes); then
#                        bench/native/bench_ec.c: ECDSA signing and ECDH on P-256/P-384, the same three
#
# Needs: gcc, openssl; for native-riscv: gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
# qemu-system-misc; for native-ct-xtensa: gcc-xtensa-lx106; for native-ct: valgrind; for native-diff: libssl-dev; for bench-native: libssl-dev
# libmbedtls-dev (Debian package names).

WIM_NATIVE_DIR := modules/wim/native
# The core only: the xsmc glue (wim_xs.c) is built with the XS hosts, not here.
WIM_NATIVE_SRCS := $(WIM_NATIVE_DIR)/wim_bn.c $(WIM_NATIVE_DIR)/wim_rsa.c $(WIM_NATIVE_DIR)/wim_store.c \
	$(WIM_NATIVE_DIR)/wim_crc32.c $(WIM_NATIVE_DIR)/wim_ec.c \
	$(WIM_NATIVE_DIR)/wim_sha256.c $(WIM_NATIVE_DIR)/wim_ed25519.c $(WIM_NATIVE_DIR)/wim_sha512.c \
	$(WIM_NATIVE_DIR)/wim_sha1.c $(WIM_NATIVE_DIR)/wim_aead.c
WIM_NATIVE_HDRS := $(addprefix $(WIM_NATIVE_DIR)/,wim_env.h wim_store.h wim_rsa.h wim_rsa_key.h wim_bn.h \
	wim_crc32.h wim_ct.h wim_ec.h wim_sha256.h wim_ed25519.h wim_sha512.h wim_sha1.h wim_aead.h)
NATIVE_TEST_SRCS := $(addprefix test/native/,test_native.c test_bn.c test_rsa.c test_store.c test_flash.c \
	test_ec.c test_ed25519.c test_hash.c test_aead.c)
NATIVE_TEST_HDRS := $(addprefix test/native/,test_util.h test_flash.h vectors.h)
NATIVE_DEPS := $(WIM_NATIVE_SRCS) $(WIM_NATIVE_HDRS) $(NATIVE_TEST_SRCS) $(NATIVE_TEST_HDRS) mk/native.mk

NATIVE_CC ?= gcc
NATIVE_CFLAGS ?= -O2 -std=c11 -Wall -Wextra -Werror
NATIVE_INC := -I$(WIM_NATIVE_DIR) -Itest/native
NATIVE_SAN := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

build/native-test: $(NATIVE_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_INC) $(WIM_NATIVE_SRCS) $(NATIVE_TEST_SRCS) -o $@

build/native-test-limb32: $(NATIVE_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -DWIM_LIMB_BITS=32 $(NATIVE_INC) $(WIM_NATIVE_SRCS) $(NATIVE_TEST_SRCS) -o $@

build/native-test-asan: $(NATIVE_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_SAN) $(NATIVE_INC) $(WIM_NATIVE_SRCS) $(NATIVE_TEST_SRCS) -o $@

build/native-test-ct: $(NATIVE_DEPS) $(WIM_NATIVE_DIR)/wim_ct.h
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -g -DWIM_CT_CHECK $(NATIVE_INC) $(WIM_NATIVE_SRCS) $(NATIVE_TEST_SRCS) -o $@

build/native-test-ct32: $(NATIVE_DEPS) $(WIM_NATIVE_DIR)/wim_ct.h
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -g -DWIM_CT_CHECK -DWIM_LIMB_BITS=32 $(NATIVE_INC) $(WIM_NATIVE_SRCS) \
		$(NATIVE_TEST_SRCS) -o $@

# $(call native_run,BINARY,KEYDIR): run the tests, writing keys to KEYDIR, then the OpenSSL cross-check.
define native_run
	@rm -rf $(2) && mkdir -p $(2)
	$(1) --emit $(2)
	@set -e; n=0; for k in $(2)/key*.der; do i=$${k##*/key}; i=$${i%.der}; \
	  openssl pkey -inform DER -in $$k -check -noout >/dev/null || { echo "openssl: key$$i rejected"; exit 1; }; \
	  openssl pkeyutl -decrypt -keyform DER -inkey $$k -pkeyopt rsa_padding_mode:none \
	    -in $(2)/in$$i.bin -out $(2)/openssl$$i.bin; \
	  cmp -s $(2)/openssl$$i.bin $(2)/out$$i.bin || { echo "openssl: key$$i gives a different result"; exit 1; }; \
	  n=$$((n + 1)); done; \
	test $$n -gt 0 || { echo "openssl: no keys were written"; exit 1; }; \
	echo "openssl cross-check: $$n keys pass pkey -check, raw private op identical to OpenSSL's"
endef

.PHONY: native-test native-test-limb32 native-asan native-ct native-ct-riscv native-ct-xtensa native-riscv bench-riscv native-diff native-diff-ec native-diff-ed25519 native-diff-aead native-wycheproof-rsa \
	bench-native

native-test: build/native-test
	$(call native_run,build/native-test,build/native-keys)

native-test-limb32: build/native-test-limb32 build/native-test
	$(call native_run,build/native-test-limb32,build/native-keys-limb32)
	@rm -rf build/native-keys-ref && mkdir -p build/native-keys-ref
	@build/native-test --emit build/native-keys-ref >/dev/null
	@set -e; for f in build/native-keys-ref/key*.der build/native-keys-ref/out*.bin; do \
	  cmp -s $$f build/native-keys-limb32/$${f##*/} || { echo "limb32: $${f##*/} differs from 64-bit"; exit 1; }; \
	done; echo "limb32: keys and results identical to the 64-bit build"

native-asan: build/native-test-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/native-test-asan

native-ct: build/native-test-ct build/native-test-ct32
	valgrind -q --error-exitcode=3 build/native-test-ct --ct
	valgrind -q --error-exitcode=3 build/native-test-ct32 --ct

# ---- rv32imc under QEMU ----
NATIVE_RV_CC ?= riscv64-unknown-elf-gcc
NATIVE_RV_SIZE ?= riscv64-unknown-elf-size
NATIVE_RV_QEMU ?= qemu-system-riscv32
NATIVE_TEXT_BUDGET ?= 10240
# The key store's line was 7,168 until issue 14 added wim_store_space (AT+PKCSSTAT?, the free space that
# `wim info` shows): 7,192 bytes with wim_crc32.o; 64 bytes more of budget, documented in docs/store.md.
NATIVE_STORE_TEXT_BUDGET ?= 7232
NATIVE_EC_TEXT_BUDGET ?= 7168
NATIVE_ED_TEXT_BUDGET ?= 8192
NATIVE_SHA1_TEXT_BUDGET ?= 1024
NATIVE_AEAD_TEXT_BUDGET ?= 4096
NATIVE_RV_CFLAGS := -march=rv32imc -mabi=ilp32 -O2 -std=c11 -Wall -Wextra -Werror --specs=picolibc.specs
NATIVE_RV_LDFLAGS := --oslib=semihost -Wl,--defsym=__flash=0x80000000 -Wl,--defsym=__flash_size=0x00200000 \
	-Wl,--defsym=__ram=0x80200000 -Wl,--defsym=__ram_size=0x00200000 -Wl,--defsym=__stack_size=0x10000
NATIVE_RV_OBJS := $(patsubst $(WIM_NATIVE_DIR)/%.c,build/rv32/%.o,$(WIM_NATIVE_SRCS))
NATIVE_RV_CORE_OBJS := build/rv32/wim_bn.o build/rv32/wim_rsa.o
NATIVE_RV_EC_OBJS := build/rv32/wim_ec.o build/rv32/wim_sha256.o
NATIVE_RV_ED_OBJS := build/rv32/wim_ed25519.o build/rv32/wim_sha512.o
NATIVE_RV_SHA1_OBJS := build/rv32/wim_sha1.o
NATIVE_RV_AEAD_OBJS := build/rv32/wim_aead.o
NATIVE_RV_BUDGET_OBJS := $(filter-out $(NATIVE_RV_EC_OBJS) $(NATIVE_RV_ED_OBJS) $(NATIVE_RV_SHA1_OBJS) $(NATIVE_RV_AEAD_OBJS),$(NATIVE_RV_OBJS))

build/rv32/%.o: $(WIM_NATIVE_DIR)/%.c $(WIM_NATIVE_HDRS)
	@mkdir -p build/rv32
	$(NATIVE_RV_CC) $(NATIVE_RV_CFLAGS) -I$(WIM_NATIVE_DIR) -c $< -o $@

build/rv32/native-test.elf: $(NATIVE_RV_OBJS) $(NATIVE_DEPS)
	$(NATIVE_RV_CC) $(NATIVE_RV_CFLAGS) -DWIM_TEST_EMBEDDED $(NATIVE_INC) $(NATIVE_RV_LDFLAGS) \
		$(NATIVE_RV_OBJS) $(NATIVE_TEST_SRCS) -o $@

native-riscv: build/rv32/native-test.elf
	timeout 120 $(NATIVE_RV_QEMU) -M virt -display none -serial none -monitor none -bios none \
		-kernel build/rv32/native-test.elf -semihosting-config enable=on,target=native
	@$(NATIVE_RV_SIZE) $(NATIVE_RV_OBJS)
	@t=$$($(NATIVE_RV_SIZE) $(NATIVE_RV_BUDGET_OBJS) | awk 'NR > 1 { s += $$1 } END { print s }'); \
	c=$$($(NATIVE_RV_SIZE) $(NATIVE_RV_CORE_OBJS) | awk 'NR > 1 { s += $$1 } END { print s }'); \
	e=$$($(NATIVE_RV_SIZE) $(NATIVE_RV_EC_OBJS) | awk 'NR > 1 { s += $$1 } END { print s }'); \
	d=$$($(NATIVE_RV_SIZE) $(NATIVE_RV_ED_OBJS) | awk 'NR > 1 { s += $$1 } END { print s }'); \
	h=$$($(NATIVE_RV_SIZE) $(NATIVE_RV_SHA1_OBJS) | awk 'NR > 1 { s += $$1 } END { print s }'); \
	a=$$($(NATIVE_RV_SIZE) $(NATIVE_RV_AEAD_OBJS) | awk 'NR > 1 { s += $$1 } END { print s }'); \
	echo "core .text (rv32imc -O2, incl. read-only data): $$t bytes: RSA/bignum $$c, budget $(NATIVE_TEXT_BUDGET);" \
		"key store $$((t - c)), budget $(NATIVE_STORE_TEXT_BUDGET)"; \
	echo "EC core .text (P-256/P-384, SHA-256 for its nonces): $$e bytes, budget $(NATIVE_EC_TEXT_BUDGET)"; \
	echo "Ed25519 .text (wim_ed25519.o, wim_sha512.o, incl. SHA-384's IV): $$d bytes, budget $(NATIVE_ED_TEXT_BUDGET)"; \
	echo "SHA-1 .text (wim_sha1.o, for OAEP/PSS with SHA-1): $$h bytes, budget $(NATIVE_SHA1_TEXT_BUDGET)"; \
	echo "ChaCha20-Poly1305 .text (wim_aead.o, the secure channel's AEAD): $$a bytes, budget $(NATIVE_AEAD_TEXT_BUDGET)"; \
	test $$c -le $(NATIVE_TEXT_BUDGET) && test $$((t - c)) -le $(NATIVE_STORE_TEXT_BUDGET) && \
		test $$e -le $(NATIVE_EC_TEXT_BUDGET) && test $$d -le $(NATIVE_ED_TEXT_BUDGET) && \
		test $$h -le $(NATIVE_SHA1_TEXT_BUDGET) && test $$a -le $(NATIVE_AEAD_TEXT_BUDGET)

# Instructions per operation on rv32imc (QEMU with -icount: rdinstret counts exactly), for `make bench`.
build/rv32/bench-rv32.elf: bench/native/bench_rv32.c $(NATIVE_RV_OBJS) test/native/test_flash.c test/native/test_tools.h test/native/rv32_tools.h \
		test/native/vectors.h mk/native.mk
	$(NATIVE_RV_CC) $(NATIVE_RV_CFLAGS) $(NATIVE_INC) $(NATIVE_RV_LDFLAGS) $(NATIVE_RV_OBJS) test/native/test_flash.c \
		bench/native/bench_rv32.c -o $@

bench-riscv: build/rv32/bench-rv32.elf
	timeout 300 $(NATIVE_RV_QEMU) -M virt -display none -serial none -monitor none -bios none -icount shift=0 \
		-kernel build/rv32/bench-rv32.elf -semihosting-config enable=on,target=native

# ---- constant time on rv32imc, proven on the device's ISA (test/native/ct_count_rv32.c, ct_scan.py) ----
# (a) instructions retired (QEMU -icount) by each private operation: equal for every key and input of a
#     size; (b) the disassembly of the core's secret-path functions: conditional branches exactly as audited
#     in test/native/ct_branches.txt. Then the self-test: a build with -DWIM_PLANT_SECRET_BRANCH (wim_bn.c
#     skips the product for a zero exponent window) must fail both.
NATIVE_RV_CT_OBJS := build/rv32/wim_bn.o build/rv32/wim_rsa.o build/rv32/wim_ec.o build/rv32/wim_sha256.o \
	build/rv32/wim_ed25519.o build/rv32/wim_sha512.o build/rv32/wim_aead.o
NATIVE_RV_CT_DEPS := test/native/ct_count_rv32.c test/native/rv32_tools.h test/native/ct_keys.h test/native/test_flash.c \
	test/native/test_flash.h test/native/test_tools.h mk/native.mk
NATIVE_RV_QEMU_RUN := $(NATIVE_RV_QEMU) -M virt -display none -serial none -monitor none -bios none -icount shift=0 \
	-semihosting-config enable=on,target=native -kernel
NATIVE_RV_PLANT_OBJS := $(patsubst $(WIM_NATIVE_DIR)/%.c,build/rv32-plant/%.o,$(WIM_NATIVE_SRCS))

build/rv32/ct-count.elf: $(NATIVE_RV_OBJS) $(NATIVE_RV_CT_DEPS)
	$(NATIVE_RV_CC) $(NATIVE_RV_CFLAGS) $(NATIVE_INC) $(NATIVE_RV_LDFLAGS) -Wl,--wrap=wim_bn_mod_inv_vartime \
		$(NATIVE_RV_OBJS) test/native/test_flash.c test/native/ct_count_rv32.c -o $@

build/rv32-plant/%.o: $(WIM_NATIVE_DIR)/%.c $(WIM_NATIVE_HDRS)
	@mkdir -p build/rv32-plant
	$(NATIVE_RV_CC) $(NATIVE_RV_CFLAGS) -DWIM_PLANT_SECRET_BRANCH -I$(WIM_NATIVE_DIR) -c $< -o $@

build/rv32-plant/ct-count-quick.elf: $(NATIVE_RV_PLANT_OBJS) $(NATIVE_RV_CT_DEPS)
	$(NATIVE_RV_CC) $(NATIVE_RV_CFLAGS) -DCT_QUICK $(NATIVE_INC) $(NATIVE_RV_LDFLAGS) -Wl,--wrap=wim_bn_mod_inv_vartime \
		$(NATIVE_RV_PLANT_OBJS) test/native/test_flash.c test/native/ct_count_rv32.c -o $@

native-ct-riscv: build/rv32/ct-count.elf build/rv32/ct-scan.ok build/rv32-plant/ct-count-quick.elf
	timeout 300 $(NATIVE_RV_QEMU_RUN) build/rv32/ct-count.elf
	@echo "native-ct-riscv: self-test: the planted secret branch (-DWIM_PLANT_SECRET_BRANCH) must fail both checks"
	@set -e; if python3 test/native/ct_scan.py test/native/ct_branches.txt \
	    $(patsubst build/rv32/%,build/rv32-plant/%,$(NATIVE_RV_CT_OBJS)) > build/rv32-plant/scan.txt; then \
	  cat build/rv32-plant/scan.txt; echo "native-ct-riscv: the scan did NOT catch the planted branch"; exit 1; fi; \
	grep -E "FAILED|wim_bn_mod_exp" build/rv32-plant/scan.txt | head -3; \
	if timeout 120 $(NATIVE_RV_QEMU_RUN) build/rv32-plant/ct-count-quick.elf > build/rv32-plant/count.txt 2>&1; then \
	  cat build/rv32-plant/count.txt; echo "native-ct-riscv: the count did NOT catch the planted branch"; exit 1; fi; \
	grep "FAIL" build/rv32-plant/count.txt; \
	echo "native-ct-riscv: the planted branch is caught by both checks"

build/rv32/ct-scan.ok: $(NATIVE_RV_CT_OBJS) test/native/ct_scan.py test/native/ct_branches.txt
	python3 test/native/ct_scan.py test/native/ct_branches.txt $(NATIVE_RV_CT_OBJS)
	@touch $@

# ---- constant time on Xtensa (ESP32, ESP32-S3), by the lx106 proxy: the disassembly scan ----
# Compiled, never linked or run (Debian's gcc-xtensa-lx106 has no C library: test/native/xtensa-include
# declares the four string.h functions the core uses). -mlongcalls as ESP-IDF builds.
NATIVE_XT_CC ?= xtensa-lx106-elf-gcc
NATIVE_XT_SIZE ?= xtensa-lx106-elf-size
NATIVE_XT_CFLAGS := -O2 -std=c11 -ffreestanding -mlongcalls -Wall -Wextra -Werror -Itest/native/xtensa-include
NATIVE_XT_CT_OBJS := build/xtensa/wim_bn.o build/xtensa/wim_rsa.o build/xtensa/wim_ec.o build/xtensa/wim_sha256.o \
	build/xtensa/wim_ed25519.o build/xtensa/wim_sha512.o build/xtensa/wim_aead.o
NATIVE_XT_PLANT_OBJS := $(patsubst build/xtensa/%,build/xtensa-plant/%,$(NATIVE_XT_CT_OBJS))
NATIVE_XT_DEPS := $(WIM_NATIVE_HDRS) test/native/xtensa-include/string.h mk/native.mk

build/xtensa/%.o: $(WIM_NATIVE_DIR)/%.c $(NATIVE_XT_DEPS)
	@mkdir -p build/xtensa
	$(NATIVE_XT_CC) $(NATIVE_XT_CFLAGS) -I$(WIM_NATIVE_DIR) -c $< -o $@

build/xtensa-plant/%.o: $(WIM_NATIVE_DIR)/%.c $(NATIVE_XT_DEPS)
	@mkdir -p build/xtensa-plant
	$(NATIVE_XT_CC) $(NATIVE_XT_CFLAGS) -DWIM_PLANT_SECRET_BRANCH -I$(WIM_NATIVE_DIR) -c $< -o $@

native-ct-xtensa: $(NATIVE_XT_CT_OBJS) $(NATIVE_XT_PLANT_OBJS) test/native/ct_scan.py test/native/ct_branches_xtensa.txt
	python3 test/native/ct_scan.py --isa xtensa test/native/ct_branches_xtensa.txt $(NATIVE_XT_CT_OBJS)
	@$(NATIVE_XT_SIZE) $(NATIVE_XT_CT_OBJS) | awk 'NR > 1 { s += $$1 } END { print "native-ct-xtensa:" \
		" .text of the scanned objects (lx106 -O2 -mlongcalls): " s " bytes" }'
	@echo "native-ct-xtensa: self-test: the planted secret branch (-DWIM_PLANT_SECRET_BRANCH) must fail the scan"
	@set -e; if python3 test/native/ct_scan.py --isa xtensa test/native/ct_branches_xtensa.txt \
	    $(NATIVE_XT_PLANT_OBJS) > build/xtensa-plant/scan.txt; then \
	  cat build/xtensa-plant/scan.txt; echo "native-ct-xtensa: the scan did NOT catch the planted branch"; exit 1; fi; \
	grep "^ct-scan:" build/xtensa-plant/scan.txt; \
	echo "native-ct-xtensa: the planted branch is caught"

# ---- differential test against OpenSSL's libcrypto, and the benchmark ----
NATIVE_DIFF_INPUTS ?= 10000
NATIVE_DIFF_JOBS ?= 2
NATIVE_OSSL_SRCS := test/native/ossl_rsa.c
NATIVE_OSSL_DEPS := $(NATIVE_OSSL_SRCS) test/native/ossl_rsa.h $(WIM_NATIVE_SRCS) $(WIM_NATIVE_HDRS) mk/native.mk

build/native-diff: test/native/diff_openssl.c $(NATIVE_OSSL_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_INC) $< $(NATIVE_OSSL_SRCS) $(WIM_NATIVE_SRCS) -lcrypto -o $@

native-diff: build/native-diff
	build/native-diff --inputs $(NATIVE_DIFF_INPUTS) --jobs $(NATIVE_DIFF_JOBS)

# The EC differential test; Wycheproof's ECDH vectors are read in place from ../shared (never copied).
NATIVE_DIFF_EC_COUNT ?= 500
WYCHEPROOF_DIR ?= ../shared/vectors/wycheproof
NATIVE_EC_SRCS := $(WIM_NATIVE_SRCS) test/native/test_flash.c
NATIVE_EC_DEPS := test/native/diff_ec.c test/native/rfc6979_noble.ts $(NATIVE_EC_SRCS) $(WIM_NATIVE_HDRS) test/native/test_flash.h test/native/test_tools.h mk/native.mk

build/native-diff-ec: $(NATIVE_EC_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -Wno-deprecated-declarations $(NATIVE_INC) test/native/diff_ec.c $(NATIVE_EC_SRCS) \
		-lcrypto -o $@

build/native-diff-ec-limb32: $(NATIVE_EC_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -Wno-deprecated-declarations -DWIM_LIMB_BITS=32 $(NATIVE_INC) test/native/diff_ec.c \
		$(NATIVE_EC_SRCS) -lcrypto -o $@

native-diff-ec: build/native-diff-ec build/native-diff-ec-limb32
	@set -e; args=; \
	if [ -f $(WYCHEPROOF_DIR)/ecdh_secp256r1_ecpoint_test.json ]; then \
	  python3 test/native/wycheproof_ecdh.py $(WYCHEPROOF_DIR)/ecdh_secp256r1_ecpoint_test.json \
	    $(WYCHEPROOF_DIR)/ecdh_secp384r1_ecpoint_test.json > build/wycheproof-ecdh.txt; \
	  args="--wycheproof build/wycheproof-ecdh.txt"; \
	else echo "native-diff-ec: $(WYCHEPROOF_DIR) is absent: Wycheproof ECDH vectors skipped"; fi; \
	build/native-diff-ec --count $(NATIVE_DIFF_EC_COUNT) $$args --emit-rfc6979 build/rfc6979-sigs.txt; \
	npx tsx test/native/rfc6979_noble.ts build/rfc6979-sigs.txt; \
	build/native-diff-ec-limb32 --count $$(( $(NATIVE_DIFF_EC_COUNT) / 5 )) $$args

# Ed25519 and SHA-512 against OpenSSL (EVP_PKEY_ED25519), 64- and 32-bit limbs, and Wycheproof's Ed25519
# vectors (read in place, converted to build/).
NATIVE_DIFF_ED_COUNT ?= 200
NATIVE_ED_DEPS := test/native/diff_ed25519.c test/native/wycheproof_ed25519.py $(NATIVE_EC_SRCS) $(WIM_NATIVE_HDRS) \
	test/native/test_flash.h test/native/test_tools.h mk/native.mk

build/native-diff-ed25519: $(NATIVE_ED_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_INC) test/native/diff_ed25519.c $(NATIVE_EC_SRCS) -lcrypto -o $@

build/native-diff-ed25519-limb32: $(NATIVE_ED_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -DWIM_LIMB_BITS=32 $(NATIVE_INC) test/native/diff_ed25519.c $(NATIVE_EC_SRCS) \
		-lcrypto -o $@

native-diff-ed25519: build/native-diff-ed25519 build/native-diff-ed25519-limb32
	@set -e; args=; \
	if [ -f $(WYCHEPROOF_DIR)/ed25519_test.json ]; then \
	  python3 test/native/wycheproof_ed25519.py $(WYCHEPROOF_DIR)/ed25519_test.json > build/wycheproof-ed25519.txt; \
	  args="--wycheproof build/wycheproof-ed25519.txt"; \
	else echo "native-diff-ed25519: $(WYCHEPROOF_DIR) is absent: Wycheproof Ed25519 vectors skipped"; fi; \
	build/native-diff-ed25519 --count $(NATIVE_DIFF_ED_COUNT) $$args; \
	build/native-diff-ed25519-limb32 --count $(NATIVE_DIFF_ED_COUNT) --seed 7 $$args

# ChaCha20-Poly1305 against OpenSSL (EVP_chacha20_poly1305, EVP_chacha20, EVP_MAC POLY1305).
NATIVE_DIFF_AEAD_COUNT ?= 20000

build/native-diff-aead: test/native/diff_aead.c $(WIM_NATIVE_DIR)/wim_aead.c $(WIM_NATIVE_HDRS) mk/native.mk
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_INC) test/native/diff_aead.c $(WIM_NATIVE_DIR)/wim_aead.c -lcrypto -o $@

native-diff-aead: build/native-diff-aead
	build/native-diff-aead --count $(NATIVE_DIFF_AEAD_COUNT)

# Wycheproof's RSA decryption vectors through wim_rsa_private (read in place, converted to build/).
NATIVE_WP_RSA_FILES := rsa_pkcs1_2048_test.json rsa_oaep_2048_sha256_mgf1sha256_test.json
NATIVE_WP_RSA_DEPS := test/native/wycheproof_rsa.c $(WIM_NATIVE_SRCS) test/native/test_flash.c $(WIM_NATIVE_HDRS) \
	test/native/test_flash.h test/native/test_tools.h mk/native.mk

build/native-wycheproof-rsa: $(NATIVE_WP_RSA_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_INC) test/native/wycheproof_rsa.c $(WIM_NATIVE_SRCS) test/native/test_flash.c \
		-o $@

build/native-wycheproof-rsa-limb32: $(NATIVE_WP_RSA_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -DWIM_LIMB_BITS=32 $(NATIVE_INC) test/native/wycheproof_rsa.c $(WIM_NATIVE_SRCS) \
		test/native/test_flash.c -o $@

native-wycheproof-rsa: build/native-wycheproof-rsa build/native-wycheproof-rsa-limb32
	@set -e; if [ -d $(WYCHEPROOF_DIR) ]; then \
	  python3 test/native/wycheproof_rsa.py $(addprefix $(WYCHEPROOF_DIR)/,$(NATIVE_WP_RSA_FILES)) \
	    > build/wycheproof-rsa.txt; \
	  build/native-wycheproof-rsa build/wycheproof-rsa.txt; \
	  build/native-wycheproof-rsa-limb32 build/wycheproof-rsa.txt; \
	else echo "native-wycheproof-rsa: $(WYCHEPROOF_DIR) is absent: Wycheproof RSA vectors skipped"; fi

build/bench-rsa: bench/native/bench_rsa.c $(NATIVE_OSSL_DEPS)
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_INC) $< $(NATIVE_OSSL_SRCS) $(WIM_NATIVE_SRCS) -lcrypto -lmbedcrypto -o $@

build/bench-ec: bench/native/bench_ec.c $(WIM_NATIVE_SRCS) $(WIM_NATIVE_HDRS) test/native/test_tools.h mk/native.mk
	@mkdir -p build
	$(NATIVE_CC) $(NATIVE_CFLAGS) -Wno-deprecated-declarations $(NATIVE_INC) $< $(WIM_NATIVE_SRCS) -lcrypto -lmbedcrypto -o $@

bench-native: build/bench-rsa build/bench-ec
	build/bench-rsa
	build/bench-ec
