# WIM token — build, run, test, bench. Every target installs what it needs on a fresh Debian machine.
#   make run    build, start a simulated token and its agent in the background, print how to use it
#   make test   everything CI checks (unit, C, cross-compiled, end-to-end with real clients)
#   make bench  the figures

SHELL := /bin/bash
.DEFAULT_GOAL := build

# Debian packages: command → package. Installed only when a command is missing.
APT_NEEDS := pkcs11-tool:opensc openssl:openssl gcc:gcc make:make stty:coreutils \
             riscv64-unknown-elf-gcc:gcc-riscv64-unknown-elf qemu-system-riscv32:qemu-system-misc valgrind:valgrind \
             xtensa-lx106-elf-gcc:gcc-xtensa-lx106 \
             ssh:openssh-client p11tool:gnutls-bin certtool:gnutls-bin certutil:libnss3-tools modutil:libnss3-tools \
             dbus-daemon:dbus-daemon p11-kit:p11-kit
APT_EXTRA := picolibc-riscv64-unknown-elf

build/.apt:
	@mkdir -p build
	@missing=""; for pair in $(APT_NEEDS); do c=$${pair%%:*}; p=$${pair##*:}; command -v $$c >/dev/null || missing="$$missing $$p"; done; \
	[ -d /usr/lib/picolibc/riscv64-unknown-elf ] || missing="$$missing $(APT_EXTRA)"; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	[ -e /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so ] || missing="$$missing libengine-pkcs11-openssl"; \
	[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing="$$missing softhsm2"; \
	[ -e /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so ] || missing="$$missing p11-kit-modules"; \
	[ -e /usr/include/openssl/evp.h ] || missing="$$missing libssl-dev"; \
	[ -e /usr/include/mbedtls/rsa.h ] || missing="$$missing libmbedtls-dev"; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: build/.apt node_modules/.installed

include mk/native.mk
include mk/store.mk
include mk/sim.mk
include mk/pkcs11.mk
include mk/esp32.mk
include mk/moddable.mk
include mk/install.mk

# The firmware: one JS bundle for XS (es2020: XS 13.3 trips over native class fields in noble).
FIRMWARE_TS := $(shell find firmware modules sim hosts -name '*.ts' 2>/dev/null)
build/firmware.js: $(FIRMWARE_TS) node_modules/.installed
	@mkdir -p build
	npx esbuild firmware/main.ts --bundle --format=iife --target=es2020 --alias:wim-env=./sim/env.ts \
	  --outfile=$@ --log-level=warning

# The engine objects need node_modules (XS sources) first.
$(SIM_XS_SRCS): node_modules/.installed

# The artifacts are made by a second make so that the wildcards over node_modules (the XS
# sources) are read after `npm ci` on a fresh clone.
.PHONY: build artifacts
build: deps
	@$(MAKE) --no-print-directory artifacts
artifacts: build/firmware.js build/wim-sim build/libwim-pkcs11.so

.PHONY: run
run: build
	@pc/cli/run-demo.sh

.PHONY: typecheck unit e2e attack test
typecheck: deps
	npx tsc -p .
	npx tsc -p tsconfig.esp32.json

unit: build
	npx mocha 'test/at/**/*.test.ts' 'test/pc/**/*.test.ts'

e2e: build
	npx mocha --timeout 180000 'test/sim/**/*.test.ts' 'test/wim/**/*.test.ts' 'test/bluez/**/*.test.ts' 'test/e2e/**/*.test.ts'

# The client tests again with the agent on Bluetooth LE: wim sim --ble, the test BlueZ on a private bus,
# wim agent --ble (test/e2e/harness.ts, docs/ble-pc.md).
E2E_BLE_SPECS := test/e2e/pkcs11-tool.test.ts test/e2e/openssl.test.ts test/e2e/ssh.test.ts test/e2e/attestation.test.ts
.PHONY: e2e-ble
e2e-ble: build
	WIM_E2E_LINK=ble npx mocha --timeout 180000 $(E2E_BLE_SPECS)

# The attack suite (issue 10): each scenario an attacker tried, against the simulator, bounded in time.
attack: build
	npx mocha --timeout 180000 'test/attack/**/*.test.ts'

MOCHA_SPECS := 'test/at/**/*.test.ts' 'test/pc/**/*.test.ts' 'test/sim/**/*.test.ts' 'test/wim/**/*.test.ts' 'test/bluez/**/*.test.ts' 'test/e2e/**/*.test.ts' 'test/attack/**/*.test.ts'

test: build
	$(MAKE) --no-print-directory typecheck
	$(MAKE) --no-print-directory moddable-check
	$(MAKE) --no-print-directory native-test native-test-limb32 native-asan native-ct native-ct-riscv native-ct-xtensa native-riscv native-diff native-diff-ec native-diff-aead native-wycheproof-rsa store-test pkcs11-test esp32-host-check $(SIM_TEST_FLASH)
	@mkdir -p build/sim-test && $(SIM_TEST_FLASH) build/sim-test
	npx mocha --timeout 180000 $(MOCHA_SPECS)
	WIM_E2E_LINK=ble npx mocha --timeout 180000 $(E2E_BLE_SPECS)

# Benchmarks: figures printed as ratios against a reference measured in the same run.
build/bench-at.js: $(wildcard bench/at/*.ts) $(wildcard modules/at/*.ts) node_modules/.installed
	npx esbuild bench/at/xs-main.ts --bundle --format=iife --target=es2020 --outfile=$@ --log-level=warning

.PHONY: bench bench-at fuzz soak
bench-at: build/bench-at.js build/wim-sim
	@node --import tsx bench/at/run.ts

# C_Sign per second through module → agent → simulator, next to SoftHSMv2.
build/p11bench: bench/clients/p11bench.c pc/pkcs11/wim_pkcs11.h
	@mkdir -p $(@D)
	gcc -O2 -Wall -Wextra -Werror -Ipc/pkcs11 -o $@ bench/clients/p11bench.c -ldl
.PHONY: bench-clients
bench-clients: build/p11bench build/libwim-pkcs11.so build/wim-sim build/firmware.js
	@bench/clients/run.sh

# The XS heap per workload against the ESP32's creation block (bench/memory/run.ts; docs/simulator.md).
bench-memory: build/wim-sim build/firmware.js
	npx tsx bench/memory/run.ts

# One C_Sign's bytes, ATT packets and round trips over BLE (MTU 23, 247) and serial (bench/ble/run.ts).
.PHONY: bench-memory bench-ble
bench-ble: build/wim-sim build/firmware.js
	npx tsx bench/ble/run.ts

BENCH_TARGETS := bench-at bench-native bench-riscv bench-store bench-clients bench-memory bench-ble
bench: build
	@$(MAKE) --no-print-directory $(BENCH_TARGETS)

# The long power-cut run: at least 1,000,000 cut points of the key store (make test runs 20,000).
soak: deps
	@$(MAKE) --no-print-directory store-soak

# The long fuzz run (make test runs 1,000,000 lines on Node and 50,000 on the simulator).
fuzz: build
	FUZZ_LINES=20000000 FUZZ_SIM_LINES=1000000 npx mocha --timeout 0 test/at/fuzz.test.ts test/wim/fuzz-sim.test.ts

.PHONY: clean
clean:
	rm -rf build
