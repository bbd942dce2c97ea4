/*
 * wim_internal.h — what the module's files share: the exported-symbol marker, the RPC
 * function numbers, the call table, the argument vector the generic marshaller walks,
 * the wire buffer and the connection.
 */
#ifndef WIM_INTERNAL_H
#define WIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Built with -fvisibility=hidden: only the C_* entry points are exported. */
#define WIM_CK_API __attribute__((visibility("default")))
#include "wim_pkcs11.h"

/* ── RPC function numbers: the index in CK_FUNCTION_LIST v2.40 (docs/agent-rpc.md) ────── */

#include "calls.h" /* generated from pc/rpc/calls.table by tools/gen-rpc.mjs */

#define WIM_FN_ENUM(number, fn, request, reply) WIM_FN_##fn = number,
#define WIM_AGENT_ENUM(number, name, request, reply) WIM_AGENT_##name = number,
enum wim_agent_request { WIM_AGENT_REQUESTS(WIM_AGENT_ENUM) };
enum wim_fn {
  WIM_PKCS11_CALLS(WIM_FN_ENUM)
  WIM_FN_COUNT, /* 68: the table lists them 0 … 67 in order (gen-rpc.mjs checks) */
  WIM_FN_HELLO = WIM_AGENT_hello
};
#undef WIM_FN_ENUM
#undef WIM_AGENT_ENUM

/* ── the call table (calls.c) ─────────────────────────────────────────────────────────── */

/* One row per function: its name and the item codes of its request and reply (calls.c expands
 * calls.h into it). `request` is NULL for functions handled locally. */
typedef struct wim_call_desc {
  const char *name;
  const char *request; /* u b t q m o h */
  const char *reply;   /* U B O Q H */
} wim_call_desc;

extern const wim_call_desc wim_calls[WIM_FN_COUNT];

/* ── the argument vector (forward.c builds it, marshal.c walks it) ───────────────────── */

/*
 * One entry per request item, then one per reply item that is not paired with a request
 * item (U, B, and H when the request has no h). O pairs with o, Q with q, H with h.
 *   u: n = value                 b: p = bytes, n = length      t, q: p = template, n = count
 *   m: p = CK_MECHANISM          o, h: p = buffer (may be NULL), n = capacity, pn = length/count
 *   H (unpaired): as h           U: p = destination, n = its width (1 or sizeof(CK_ULONG))
 *   B: p = destination, n = its size; blank-padded unless `exact`
 */
typedef struct wim_arg {
  const void *p;
  CK_ULONG n;
  CK_ULONG *pn;
  int exact;
} wim_arg;

#define WIM_U(v)          { NULL, (CK_ULONG)(v), NULL, 0 }
#define WIM_B(ptr, len)   { (ptr), (len), NULL, 0 }
#define WIM_T(tpl, count) { (tpl), (count), NULL, 0 }
#define WIM_Q(tpl, count) { (tpl), (count), NULL, 0 }
#define WIM_M(mech)       { (mech), 0, NULL, 0 }
#define WIM_O(buf, plen)  { (buf), (plen) ? *(plen) : 0, (plen), 0 }
#define WIM_H(buf, cap, pcount) { (buf), (cap), (pcount), 0 }
#define WIM_OUT_U(ptr)    { (ptr), sizeof(CK_ULONG), NULL, 0 }
#define WIM_OUT_BYTE(ptr) { (ptr), 1, NULL, 0 }
#define WIM_OUT_TEXT(ptr, size) { (ptr), (size), NULL, 0 }
#define WIM_OUT_EXACT(ptr, size) { (ptr), (size), NULL, 1 }
#define WIM_NARGS(a) (sizeof(a) / sizeof((a)[0]))

/* marshal.c: checks, encodes, sends, decodes one call; returns its CK_RV. */
CK_RV wim_call(enum wim_fn fn, wim_arg *args, size_t nargs);

/* compat.c: C_FindObjects without the keys a client cannot take (libp11 and EdDSA keys). */
int wim_hides_eddsa(void);
CK_RV wim_find_objects(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE_PTR objects, CK_ULONG max,
                       CK_ULONG_PTR count);
/* forward.c: C_FindObjects as the agent answers it. */
CK_RV wim_forward_find_objects(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE_PTR objects, CK_ULONG max,
                               CK_ULONG_PTR count);

/* ── the wire buffer (wire.c) ────────────────────────────────────────────────────────── */

typedef struct wim_buf {
  uint8_t *data;
  size_t len, cap;
  int failed; /* out of memory */
} wim_buf;

void wim_buf_free(wim_buf *b);
int wim_buf_resize(wim_buf *b, size_t n); /* makes len == n (contents unspecified) */
void wim_put_u8(wim_buf *b, uint8_t v);
void wim_put_u32(wim_buf *b, uint32_t v);
void wim_put_u64(wim_buf *b, uint64_t v);
void wim_put_raw(wim_buf *b, const void *p, size_t n);
size_t wim_put_u32_later(wim_buf *b);                /* reserves a u32, returns its offset */
void wim_patch_u32(wim_buf *b, size_t at, uint32_t v);

typedef struct wim_reader {
  const uint8_t *p;
  size_t left;
  int failed; /* read past the end */
} wim_reader;

uint8_t wim_get_u8(wim_reader *r);
uint32_t wim_get_u32(wim_reader *r);
uint64_t wim_get_u64(wim_reader *r);
const uint8_t *wim_get_raw(wim_reader *r, size_t n);

/* ── the connection (conn.c) ─────────────────────────────────────────────────────────── */

enum wim_io { WIM_IO_OK, WIM_IO_OFFLINE, WIM_IO_PROTOCOL };

/* Sends one framed request (its first 4 bytes are patched with the length) and returns the
 * reply body (after the length). One request at a time; connects lazily, reconnects after a
 * fork or a lost connection. */
enum wim_io wim_conn_transact(wim_buf *request, wim_buf *reply);
void wim_conn_close(void);
void wim_conn_setup_fork_handlers(void);
/* A connection of the caller's own (a blocking C_WaitForSlotEvent): trusted and greeted as the
 * shared one; -1 without an agent. wim_conn_exchange sends one request on it. */
int wim_conn_open(void);
enum wim_io wim_conn_exchange(int fd, wim_buf *request, wim_buf *reply);

/* ── slot events (events.c) ──────────────────────────────────────────────────────────── */

void wim_events_initialize(void); /* C_Initialize: events from now on */
void wim_events_finalize(void);   /* C_Finalize: blocked waits return */

/* ── module state (module.c) ─────────────────────────────────────────────────────────── */

int wim_is_initialized(void);
CK_RV wim_debug_rv(const char *name, CK_RV rv); /* WIM_PKCS11_DEBUG=1: name and rv only */

#endif /* WIM_INTERNAL_H */
