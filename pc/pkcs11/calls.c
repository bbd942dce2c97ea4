/*
 * calls.c — the call table: for every function of CK_FUNCTION_LIST v2.40, the items of its
 * request and of its reply, expanded from calls.h (generated from pc/rpc/calls.table, the one
 * table the agent, the fake agent and docs/agent-rpc.md are made from too). marshal.c is driven
 * by it; forward.c only lists each function's arguments in the same order.
 *
 * Request: u CK_ULONG · b bytes · t template · q attribute query · m mechanism ·
 *          o output buffer · h handle-list output
 * Reply:   U CK_ULONG · B bytes · O output buffer · Q attribute query · H handle list
 */
#include "wim_internal.h"

#define ROW(number, fn, request, reply) [number] = { "C_" #fn, request, reply },

const wim_call_desc wim_calls[WIM_FN_COUNT] = {
  WIM_PKCS11_CALLS(ROW)
};
