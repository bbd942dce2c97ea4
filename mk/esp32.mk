# mk/esp32.mk — the native table's generated files and the ESP32 host check. Included by the Makefile.
#
#   natives            regenerates from modules/wim/native/natives.table (tools/gen-natives.mjs): the
#                      simulator's name table, the ESP32 `@` bindings and their declarations, and the names
#                      and signatures NativeCrypto is checked against. Also done by make whenever the table
#                      is newer than them; test/wim/native-table.test.ts fails if a committed copy is stale.
#   esp32-host-check   hosts/esp32/wim_host.c and the xsmc glue modules/wim/native/wim_xs.c compiled
#                      (-fsyntax-only, -Wall -Wextra -Werror) against the Moddable SDK's XS headers
#                      ($(MODDABLE)/xs/includes: xs.h, xsmc.h) and ESP-IDF declarations written for this check
#                      (test/esp32-idf/). Without MODDABLE it says it was skipped.

NATIVE_TABLE := modules/wim/native/natives.table
NATIVE_TABLE_OUT := sim/natives_table.h hosts/esp32/native.js hosts/esp32/native.d.ts modules/wim/native_table.ts

$(NATIVE_TABLE_OUT) &: $(NATIVE_TABLE) tools/gen-natives.mjs tools/table.mjs
	node tools/gen-natives.mjs

.PHONY: natives esp32-host-check
natives:
	node tools/gen-natives.mjs

# Whatever uses a generated file is rebuilt after the table changes.
build/firmware.js: $(NATIVE_TABLE_OUT)
$(SIM_OBJ_DIR)/obj/sim/natives.o: sim/natives_table.h

ESP32_HOST_CHECK_SRCS := hosts/esp32/wim_host.c modules/wim/native/wim_xs.c
esp32-host-check:
	@if [ -z "$(MODDABLE)" ]; then echo "esp32-host-check: skipped (MODDABLE is not set)"; exit 0; fi; \
	if [ ! -f "$(MODDABLE)/xs/includes/xsmc.h" ]; then echo "esp32-host-check: $(MODDABLE)/xs/includes/xsmc.h not found"; exit 1; fi; \
	for f in $(ESP32_HOST_CHECK_SRCS); do \
	  gcc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -I"$(MODDABLE)/xs/includes" -I"$(MODDABLE)/xs/platforms" \
	    -Itest/esp32-idf -Imodules/wim/native $$f || exit 1; \
	done; \
	echo "esp32-host-check: $(ESP32_HOST_CHECK_SRCS): no warnings against $(MODDABLE)/xs/includes (xs.h, xsmc.h) and test/esp32-idf"
