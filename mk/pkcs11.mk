# mk/pkcs11.mk — the PKCS#11 module (pc/pkcs11) and its C test (test/pkcs11).
# Included by the top-level Makefile; every name here starts with PKCS11_ or pkcs11-.

PKCS11_CC      ?= gcc
PKCS11_CFLAGS  := -O2 -fPIC -Wall -Wextra -Werror -fvisibility=hidden
PKCS11_SRC     := $(wildcard pc/pkcs11/*.c)
PKCS11_HDR     := $(wildcard pc/pkcs11/*.h)
PKCS11_MODULE  := build/libwim-pkcs11.so
PKCS11_TEST    := build/test-pkcs11
PKCS11_LOOPBACK := build/test-rpc-loopback

# The call table's generated files (tools/gen-rpc.mjs; the doc's tables too): made again whenever
# pc/rpc/calls.table changes; test/pc/rpc-schema.test.ts fails if a committed copy is stale.
RPC_TABLE      := pc/rpc/calls.table
RPC_TABLE_OUT  := pc/pkcs11/calls.h pc/agent/calls.ts
$(RPC_TABLE_OUT) &: $(RPC_TABLE) tools/gen-rpc.mjs tools/table.mjs
	node tools/gen-rpc.mjs
.PHONY: rpc-table
rpc-table:
	node tools/gen-rpc.mjs

$(PKCS11_MODULE): $(PKCS11_SRC) $(PKCS11_HDR) pc/pkcs11/calls.h mk/pkcs11.mk
	@mkdir -p $(@D)
	$(PKCS11_CC) $(PKCS11_CFLAGS) -shared -Wl,-z,defs -o $@ $(PKCS11_SRC) -lpthread

$(PKCS11_TEST): $(wildcard test/pkcs11/*.c test/pkcs11/*.h) pc/pkcs11/wim_pkcs11.h pc/pkcs11/calls.h mk/pkcs11.mk
	@mkdir -p $(@D)
	$(PKCS11_CC) -O2 -g -Wall -Wextra -Werror -Ipc/pkcs11 -o $@ $(filter %.c,$^) -ldl -lpthread

# With OpenSC's pkcs11-tool installed: the module loads (-I) and, with no agent, lists one slot without
# a token whose description says what to do (-L; pc/pkcs11/offline.c), and finds no token to use (-O).
PKCS11_NO_AGENT := WIM_AGENT_SOCKET=/nonexistent/wim-agent.sock
define PKCS11_TOOL_CHECK
	@if command -v pkcs11-tool >/dev/null 2>&1; then \
	  $(PKCS11_NO_AGENT) pkcs11-tool --module $(PKCS11_MODULE) -I 2>&1 | grep -q 'WIM token PKCS#11 module' && \
	  $(PKCS11_NO_AGENT) pkcs11-tool --module $(PKCS11_MODULE) -L 2>&1 | grep -A1 -x 'Slot 0 (0x7fffffff): WIM: no agent (systemctl --user start wim-agent.socket)' | grep -qx '  (empty)' && \
	  ! $(PKCS11_NO_AGENT) pkcs11-tool --module $(PKCS11_MODULE) -O >/dev/null 2>&1 && \
	  echo "pkcs11-tool: module loads, one empty slot saying 'no agent' without an agent"; \
	else echo "pkcs11-tool not installed: check skipped"; fi
endef

# The pkcs11-tool check, then the module against the fake agent inside the test program
# (it also checks the exported symbols with nm); last line "N passed, 0 failed".
.PHONY: pkcs11-test
pkcs11-test: $(PKCS11_MODULE) $(PKCS11_TEST) $(PKCS11_LOOPBACK)
	$(PKCS11_TOOL_CHECK)
	$(PKCS11_TEST) $(PKCS11_MODULE)

# The loopback test's C caller (test/pc/rpc-loopback.test.ts runs it against the agent's real server).
$(PKCS11_LOOPBACK): test/pkcs11/loopback/driver.c pc/pkcs11/wim_pkcs11.h mk/pkcs11.mk
	@mkdir -p $(@D)
	$(PKCS11_CC) -O2 -g -Wall -Wextra -Werror -Ipc/pkcs11 -o $@ $< -ldl
