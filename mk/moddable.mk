# make moddable-check — the firmware through the real Moddable SDK (mcconfig, tsc, xsc, xsl, XS 17).
#
# Needs an installed SDK (MODDABLE set, its tools built, as its documentation says); where MODDABLE is
# unset it prints that it skipped and succeeds, so `make test` shows the skip by name. Nothing of the
# SDK is in this repository. Steps:
#  1. esp32 ($(MODDABLE_BOARD)): `mcconfig -m -p $(MODDABLE_BOARD) manifest.json`. With ESP-IDF (IDF_PATH
#     and its export.sh) that is the whole firmware build. Without it mcconfig stops with
#     "$IDF_PATH not set" after writing its makefile: that stop, and only that one, is accepted, and the
#     makefile's TypeScript, xsc and xsl steps (everything before ESP-IDF compiles C) are run on their
#     own (IDF_PATH pointed at an empty git repository so that the makefile parses).
#  2. x-cli-lin: the same manifest for Moddable's headless Linux target with the Env of hosts/lin, then
#     hosts/lin/smoke.sh: AT+GMM on its PTY, `wim agent`, pkcs11-tool init/keygen P-256/sign (openssl
#     verifies). First at the manifest's creation block (the ESP32 budget, no growth), then, if that
#     aborts for memory, with growth, so that the toolchain check and the budget are reported apart.
#     MODDABLE_STRICT_BUDGET=1 (the default, since every module is preloaded and the firmware fits the block
#     with room to spare) makes a budget failure fail the check; =0 only reports it. When the block holds,
#     the smoke test runs again at 80 % of it (MODDABLE_HEADROOM): issue 11's 20 % headroom, on the real XS.
# TypeScript: mcconfig runs the `tsc` on PATH; the project's own (node_modules/.bin, 5.9) is put
# first. The manifest sets target/lib es2022 (mcconfig's default es2025 needs TypeScript 6).
# MODDABLE_TSC_DIR=DIR puts another compiler's directory first instead.

MODDABLE_BOARD ?= esp32/c3_devkit_rust
MODDABLE_OUT := $(CURDIR)/build/moddable
MODDABLE_GROWTH ?= 78848,16384,4928,1024
MODDABLE_STRICT_BUDGET ?= 1
# 80 % of the manifest's creation block (chunk 78,848, heap 4,928 slots): the firmware must leave 20 % free
MODDABLE_HEADROOM ?= 63078,0,3942,0
MODDABLE_PATH = $(if $(MODDABLE_TSC_DIR),$(MODDABLE_TSC_DIR):)$(CURDIR)/node_modules/.bin:$(MODDABLE)/build/bin/lin/release:$(PATH)

.PHONY: moddable-check moddable-esp32 moddable-lin
ifeq ($(MODDABLE),)
moddable-check:
	@echo "moddable-check: skipped (MODDABLE is not set)"
else
moddable-check: deps build/libwim-pkcs11.so
	@$(MAKE) --no-print-directory moddable-esp32
	@$(MAKE) --no-print-directory moddable-lin
	@echo "moddable-check: passed"

moddable-esp32:
	@mkdir -p $(MODDABLE_OUT)
	@set -o pipefail; export PATH="$(MODDABLE_PATH)"; log=$(MODDABLE_OUT)/esp32.log; \
	echo "moddable-check: esp32: mcconfig -m -p $(MODDABLE_BOARD) manifest.json (tsc $$(tsc -v | sed 's/Version //'), log $$log)"; \
	if mcconfig -m -p $(MODDABLE_BOARD) -o $(MODDABLE_OUT) manifest.json >$$log 2>&1; then \
	  echo "moddable-check: esp32: the whole firmware built with ESP-IDF"; \
	elif [ -z "$$IDF_PATH" ] && grep -q 'IDF_PATH not set' $$log; then \
	  mk=$$(find $(MODDABLE_OUT)/tmp/esp32 -path "*/release/wim/makefile" -newer $(CURDIR)/manifest.json 2>/dev/null | head -1); \
	  [ -n "$$mk" ] || { echo "moddable-check: esp32: FAILED: mcconfig wrote no makefile"; cat $$log; exit 1; }; \
	  tmp=$$(dirname $$mk); stub=$(CURDIR)/$(MODDABLE_OUT)/idf-stub; \
	  echo "moddable-check: esp32: mcconfig stopped where ESP-IDF is needed (IDF_PATH not set): running its tsc/xsc/xsl steps"; \
	  [ -d $$stub/.git ] || { mkdir -p $$stub && git -C $$stub init -q && git -C $$stub -c user.name=x -c user.email=x@x commit -q --allow-empty -m stub && git -C $$stub tag v0-stub; }; \
	  $(MAKE) --no-print-directory -C $$tmp -f makefile IDF_PATH=$$stub SDKCONFIG_H= $$tmp/mc.xs.c >>$$log 2>&1 \
	    || { echo "moddable-check: esp32: FAILED (tsc/xsc/xsl)"; grep -v '^# \|not frozen' $$log | tail -30; exit 1; }; \
	  ! grep -q 'typescript compile failure' $$log || { echo "moddable-check: esp32: FAILED (tsc)"; exit 1; }; \
	  echo "moddable-check: esp32: tsc passed ($$(grep -c '^# tsc ' $$log) TypeScript modules)"; \
	  echo "moddable-check: esp32: xsc passed ($$(grep -c '^# xsc ' $$log) modules)"; \
	  echo "moddable-check: esp32: xsl passed: $$(grep '^### .*instances' $$log | sed 's/^### //'); $$(grep -c 'warning' $$log) warnings (not frozen)"; \
	else \
	  echo "moddable-check: esp32: FAILED"; grep -v '^# \|not frozen' $$log | tail -30; exit 1; \
	fi

moddable-lin:
	@mkdir -p $(MODDABLE_OUT)
	@set -o pipefail; export PATH="$(MODDABLE_PATH)"; log=$(MODDABLE_OUT)/lin.log; \
	mcconfig -m -p x-cli-lin -o $(MODDABLE_OUT) manifest.json >$$log 2>&1 \
	  || { echo "moddable-check: lin: FAILED to build"; grep -v '^# \|not frozen' $$log | tail -30; exit 1; }; \
	bin=$(MODDABLE_OUT)/bin/lin/release/wim; \
	echo "moddable-check: lin: mcconfig -m -p x-cli-lin built $$bin (tsc, xsc, xsl, C with XS 17's xsmc.h)"; \
	echo "moddable-check: lin: budget run at the manifest's creation block"; \
	if WIM_SMOKE_LABEL="lin (budget)" hosts/lin/smoke.sh $$bin; then budget=met; else budget=failed; fi; \
	if [ $$budget = met ]; then \
	  echo "moddable-check: lin: headroom run at 80 % of the creation block ($(MODDABLE_HEADROOM))"; \
	  WIM_SMOKE_LABEL="lin (80 %)" WIM_LIN_CREATION=$(MODDABLE_HEADROOM) hosts/lin/smoke.sh $$bin \
	    || { echo "moddable-check: lin: less than 20 % headroom"; [ "$(MODDABLE_STRICT_BUDGET)" = 1 ] && exit 1 || true; }; \
	fi; \
	if [ $$budget = failed ]; then \
	  echo "moddable-check: lin: budget NOT MET at the manifest's creation block; again with growth ($(MODDABLE_GROWTH))"; \
	  WIM_LIN_CREATION=$(MODDABLE_GROWTH) hosts/lin/smoke.sh $$bin || exit 1; \
	  [ "$(MODDABLE_STRICT_BUDGET)" = 1 ] && exit 1 || true; \
	fi
endif
