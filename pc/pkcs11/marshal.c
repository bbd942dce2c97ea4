/*
 * marshal.c — the one generic marshaller. For a function number it looks up the row of the
 * call table, checks the argument vector against the row's items (NULL out-pointers, NULL
 * inputs with a nonzero length), encodes the request, exchanges it with the agent and
 * decodes the reply into the caller's buffers.
 */
#include <string.h>

#include "wim_internal.h"

#define WIM_NO_VALUE 0xFFFFFFFFu      /* b / t: a NULL pointer */
#define WIM_MAX_ITEMS 24              /* C_GetTokenInfo has 20 reply items */
/* Largest request body (after the u32 length) the agent reads: 1 MiB, as MAX_REQUEST in
 * pc/agent/wire.ts (test/attack/frames.test.ts reads both). A larger request is refused here with
 * a CK_RV and never sent, so the connection (and the application's sessions) stays. */
#define WIM_MAX_REQUEST (1024u * 1024u)

/* The argument each item uses: request items in order, then the reply items; O, Q and H
 * reuse the argument of the request's o, q and h. */
typedef struct wim_binding {
  wim_arg *req[WIM_MAX_ITEMS];
  wim_arg *rep[WIM_MAX_ITEMS];
  int rep_paired[WIM_MAX_ITEMS];
} wim_binding;

static int bind_args(const wim_call_desc *d, wim_arg *args, size_t nargs, wim_binding *bd)
{
  size_t next = 0;
  wim_arg *paired[128] = { 0 };
  size_t nreq = strlen(d->request), nrep = strlen(d->reply);
  if (nreq > WIM_MAX_ITEMS || nrep > WIM_MAX_ITEMS)
    return 0;
  for (size_t i = 0; i < nreq; i++) {
    if (next >= nargs)
      return 0;
    bd->req[i] = &args[next++];
    paired[(unsigned char)d->request[i] & 0x7F] = bd->req[i];
  }
  for (size_t i = 0; i < nrep; i++) {
    char c = d->reply[i];
    wim_arg *pair = (c == 'O' || c == 'Q' || c == 'H') ? paired[c - 'A' + 'a'] : NULL;
    bd->rep_paired[i] = pair != NULL;
    if (pair) {
      bd->rep[i] = pair;
    } else {
      if (next >= nargs)
        return 0;
      bd->rep[i] = &args[next++];
    }
  }
  return next == nargs;
}

/* ── checks: what only the module can check ─────────────────────────────────────────── */

/* A pointer and its length: NULL only with 0. (Lengths are bounded by WIM_MAX_REQUEST before
 * anything is encoded: see items_fit.) */
static int bytes_ok(const void *p, CK_ULONG n)
{
  return p != NULL || n == 0;
}

static CK_RV check_request_item(char code, const wim_arg *a)
{
  switch (code) {
  case 'u':
    return CKR_OK;
  case 'b':
    return bytes_ok(a->p, a->n) ? CKR_OK : CKR_ARGUMENTS_BAD;
  case 't':
  case 'q': {
    const CK_ATTRIBUTE *t = a->p;
    if (!bytes_ok(t, a->n))
      return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; code == 't' && i < a->n; i++)
      if (!bytes_ok(t[i].pValue, t[i].ulValueLen))
        return CKR_ARGUMENTS_BAD;
    return CKR_OK;
  }
  case 'm': {
    const CK_MECHANISM *m = a->p;
    if (!m || !bytes_ok(m->pParameter, m->ulParameterLen))
      return CKR_ARGUMENTS_BAD;
    return CKR_OK;
  }
  case 'o':
  case 'h':
    return a->pn ? CKR_OK : CKR_ARGUMENTS_BAD;
  }
  return CKR_GENERAL_ERROR;
}

static CK_RV check_reply_item(char code, const wim_arg *a)
{
  switch (code) {
  case 'U':
  case 'B':
    return (a->p || a->n == 0) ? CKR_OK : CKR_ARGUMENTS_BAD;
  case 'H': /* unpaired (C_FindObjects): the buffer is required */
    return (a->pn && (a->p || a->n == 0)) ? CKR_OK : CKR_ARGUMENTS_BAD;
  }
  return CKR_GENERAL_ERROR;
}

static CK_RV check_args(const wim_call_desc *d, const wim_binding *bd)
{
  CK_RV rv = CKR_OK;
  for (size_t i = 0; rv == CKR_OK && d->request[i]; i++)
    rv = check_request_item(d->request[i], bd->req[i]);
  for (size_t i = 0; rv == CKR_OK && d->reply[i]; i++)
    if (!bd->rep_paired[i])
      rv = check_reply_item(d->reply[i], bd->rep[i]);
  return rv;
}

/* ── a request too long for one frame ────────────────────────────────────────────────── */

/* The CK_RV of a request over WIM_MAX_REQUEST, by what made it long: the PIN for the PIN
 * functions (CKR_PIN_LEN_RANGE), the input of an operation (its data, ciphertext or signature
 * length range), otherwise what the token cannot hold (CKR_DEVICE_MEMORY, e.g. a template). */
static CK_RV oversize_rv(enum wim_fn fn, const wim_binding *bd)
{
  switch (fn) {
  case WIM_FN_Login:
  case WIM_FN_InitToken:
  case WIM_FN_InitPIN:
  case WIM_FN_SetPIN:
    return CKR_PIN_LEN_RANGE;
  case WIM_FN_Decrypt:
  case WIM_FN_DecryptUpdate:
  case WIM_FN_DecryptDigestUpdate:
  case WIM_FN_DecryptVerifyUpdate:
    return CKR_ENCRYPTED_DATA_LEN_RANGE;
  case WIM_FN_VerifyFinal:
  case WIM_FN_VerifyRecover:
    return CKR_SIGNATURE_LEN_RANGE;
  case WIM_FN_Verify:
    return bd->req[2]->n > bd->req[1]->n ? CKR_SIGNATURE_LEN_RANGE : CKR_DATA_LEN_RANGE;
  case WIM_FN_Encrypt:
  case WIM_FN_EncryptUpdate:
  case WIM_FN_Digest:
  case WIM_FN_DigestUpdate:
  case WIM_FN_Sign:
  case WIM_FN_SignUpdate:
  case WIM_FN_SignRecover:
  case WIM_FN_VerifyUpdate:
  case WIM_FN_DigestEncryptUpdate:
  case WIM_FN_SignEncryptUpdate:
    return CKR_DATA_LEN_RANGE;
  default:
    return CKR_DEVICE_MEMORY;
  }
}

/* True when no single item can already exceed the limit (checked before anything is copied, so
 * a 4 GiB length never makes the module allocate 4 GiB); the exact size is checked after encoding. */
static int items_fit(const wim_call_desc *d, const wim_binding *bd)
{
  for (size_t i = 0; d->request[i]; i++) {
    const wim_arg *a = bd->req[i];
    const CK_ATTRIBUTE *t = a->p;
    switch (d->request[i]) {
    case 'b':
      if (a->n > WIM_MAX_REQUEST)
        return 0;
      break;
    case 't':
    case 'q':
      if (a->n > WIM_MAX_REQUEST / 12)
        return 0;
      for (CK_ULONG k = 0; d->request[i] == 't' && k < a->n; k++)
        if (t[k].pValue && t[k].ulValueLen > WIM_MAX_REQUEST)
          return 0;
      break;
    case 'm': {
      const CK_MECHANISM *m = a->p;
      if (m->pParameter && m->ulParameterLen > WIM_MAX_REQUEST)
        return 0;
      break;
    }
    }
  }
  return 1;
}

/* ── encoding ────────────────────────────────────────────────────────────────────────── */

static void put_bytes(wim_buf *b, const void *p, CK_ULONG n)
{
  if (!p) {
    wim_put_u32(b, WIM_NO_VALUE);
    return;
  }
  wim_put_u32(b, (uint32_t)n);
  wim_put_raw(b, p, n);
}

/* A counted byte string inside a flattened parameter: NULL is simply empty. */
static int put_param_bytes(wim_buf *b, const void *p, CK_ULONG n)
{
  if (!bytes_ok(p, n) || n > WIM_MAX_REQUEST)
    return 0;
  wim_put_u32(b, (uint32_t)n);
  wim_put_raw(b, p, n);
  return 1;
}

/* Mechanism: u64 type, u32 length + parameter. Parameters that hold pointers are flattened
 * (docs/agent-rpc.md); the others travel as the application laid them out. */
static CK_RV put_mechanism(wim_buf *b, const CK_MECHANISM *m)
{
  wim_put_u64(b, m->mechanism);
  if (!m->pParameter) {
    wim_put_u32(b, 0);
    return CKR_OK;
  }
  size_t at = wim_put_u32_later(b);
  int ok = 1;
  switch (m->mechanism) {
  case CKM_RSA_PKCS_OAEP: {
    const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;
    if (m->ulParameterLen != sizeof(*p))
      return CKR_MECHANISM_PARAM_INVALID;
    wim_put_u64(b, p->hashAlg);
    wim_put_u64(b, p->mgf);
    wim_put_u64(b, p->source);
    ok = put_param_bytes(b, p->pSourceData, p->ulSourceDataLen);
    break;
  }
  case CKM_ECDH1_DERIVE:
  case CKM_ECDH1_COFACTOR_DERIVE: {
    const CK_ECDH1_DERIVE_PARAMS *p = m->pParameter;
    if (m->ulParameterLen != sizeof(*p))
      return CKR_MECHANISM_PARAM_INVALID;
    wim_put_u64(b, p->kdf);
    ok = put_param_bytes(b, p->pSharedData, p->ulSharedDataLen) &&
         put_param_bytes(b, p->pPublicData, p->ulPublicDataLen);
    break;
  }
  case CKM_EDDSA: {
    const CK_EDDSA_PARAMS *p = m->pParameter;
    if (m->ulParameterLen != sizeof(*p))
      return CKR_MECHANISM_PARAM_INVALID;
    wim_put_u8(b, p->phFlag);
    ok = put_param_bytes(b, p->pContextData, p->ulContextDataLen);
    break;
  }
  default:
    wim_put_raw(b, m->pParameter, m->ulParameterLen);
    break;
  }
  if (!ok)
    return CKR_MECHANISM_PARAM_INVALID;
  wim_patch_u32(b, at, (uint32_t)(b->len - at - 4));
  return CKR_OK;
}

static CK_RV put_request_item(wim_buf *b, char code, const wim_arg *a)
{
  const CK_ATTRIBUTE *t = a->p;
  switch (code) {
  case 'u':
    wim_put_u64(b, a->n);
    return CKR_OK;
  case 'b':
    put_bytes(b, a->p, a->n);
    return CKR_OK;
  case 't':
    wim_put_u32(b, (uint32_t)a->n);
    for (CK_ULONG i = 0; i < a->n; i++) {
      wim_put_u64(b, t[i].type);
      put_bytes(b, t[i].pValue, t[i].ulValueLen);
    }
    return CKR_OK;
  case 'q':
    wim_put_u32(b, (uint32_t)a->n);
    for (CK_ULONG i = 0; i < a->n; i++) {
      wim_put_u64(b, t[i].type);
      wim_put_u8(b, t[i].pValue != NULL);
      wim_put_u64(b, t[i].ulValueLen);
    }
    return CKR_OK;
  case 'm':
    return put_mechanism(b, a->p);
  case 'o':
  case 'h':
    wim_put_u8(b, a->p != NULL);
    wim_put_u64(b, a->n);
    return CKR_OK;
  }
  return CKR_GENERAL_ERROR;
}

static CK_RV encode(wim_buf *b, enum wim_fn fn, const wim_call_desc *d, const wim_binding *bd)
{
  CK_RV rv = CKR_OK;
  if (!items_fit(d, bd))
    return oversize_rv(fn, bd);
  wim_put_u32_later(b);
  wim_put_u32(b, (uint32_t)fn);
  for (size_t i = 0; rv == CKR_OK && d->request[i]; i++)
    rv = put_request_item(b, d->request[i], bd->req[i]);
  if (rv != CKR_OK)
    return rv;
  if (b->failed)
    return CKR_HOST_MEMORY;
  if (b->len - 4 > WIM_MAX_REQUEST)
    return oversize_rv(fn, bd);
  return CKR_OK;
}

/* ── decoding ────────────────────────────────────────────────────────────────────────── */

/* Returns 0 when the reply does not fit the request (a protocol error). */
static int get_reply_item(wim_reader *r, char code, wim_arg *a, CK_RV rv)
{
  switch (code) {
  case 'U': {
    uint64_t v = wim_get_u64(r);
    if (a->n == 1) {
      if (v > 0xFF)
        return 0;
      *(CK_BYTE *)a->p = (CK_BYTE)v;
    } else {
      *(CK_ULONG *)a->p = (CK_ULONG)v;
    }
    return 1;
  }
  case 'B': {
    uint32_t n = wim_get_u32(r);
    const uint8_t *bytes = wim_get_raw(r, n);
    if (!bytes || (a->exact && n != a->n))
      return 0;
    size_t copy = n < a->n ? n : a->n;
    if (a->n > 0) {
      memcpy((void *)a->p, bytes, copy);
      memset((uint8_t *)a->p + copy, ' ', a->n - copy); /* blank padding, no NUL */
    }
    return 1;
  }
  case 'O': {
    uint64_t needed = wim_get_u64(r);
    uint32_t n = wim_get_u32(r);
    const uint8_t *bytes = wim_get_raw(r, n);
    if (!bytes)
      return 0;
    if (rv == CKR_OK && a->p) {
      if (n > a->n)
        return 0;
      memcpy((void *)a->p, bytes, n);
      *a->pn = n;
    } else {
      *a->pn = (CK_ULONG)needed;
    }
    return 1;
  }
  case 'Q': {
    CK_ATTRIBUTE *t = (CK_ATTRIBUTE *)a->p;
    if (wim_get_u32(r) != a->n)
      return 0;
    for (CK_ULONG i = 0; i < a->n; i++) {
      uint64_t len = wim_get_u64(r);
      uint32_t n = wim_get_u32(r);
      const uint8_t *bytes = wim_get_raw(r, n);
      if (!bytes)
        return 0;
      if (n > 0) {
        if (!t[i].pValue || n > t[i].ulValueLen)
          return 0;
        memcpy(t[i].pValue, bytes, n);
      }
      t[i].ulValueLen = (CK_ULONG)len;
    }
    return 1;
  }
  case 'H': {
    uint64_t total = wim_get_u64(r);
    uint32_t n = wim_get_u32(r);
    const uint8_t *bytes = wim_get_raw(r, (size_t)n * 8);
    if (!bytes)
      return 0;
    if (rv == CKR_OK && a->p) {
      if (n > a->n)
        return 0;
      wim_reader handles = { bytes, (size_t)n * 8, 0 };
      for (uint32_t i = 0; i < n; i++)
        ((CK_ULONG *)a->p)[i] = (CK_ULONG)wim_get_u64(&handles);
    }
    *a->pn = (CK_ULONG)total;
    return 1;
  }
  }
  return 0;
}

/* Reply items follow CKR_OK; CKR_BUFFER_TOO_SMALL may carry O, Q and H sizes; a Q reply
 * also comes with CKR_ATTRIBUTE_SENSITIVE and CKR_ATTRIBUTE_TYPE_INVALID. */
static int may_carry_items(const char *reply, CK_RV rv)
{
  int sized = strpbrk(reply, "OQH") != NULL, query = strchr(reply, 'Q') != NULL;
  return (sized && rv == CKR_BUFFER_TOO_SMALL) ||
         (query && (rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID));
}

static int decode(wim_reader *r, const wim_call_desc *d, wim_binding *bd, CK_RV rv)
{
  if (rv == CKR_OK || (may_carry_items(d->reply, rv) && r->left > 0)) {
    for (size_t i = 0; d->reply[i]; i++)
      if (!get_reply_item(r, d->reply[i], bd->rep[i], rv))
        return 0;
  }
  return !r->failed && r->left == 0;
}

/* ── one call ────────────────────────────────────────────────────────────────────────── */

/* True for the CK_RVs oversize_rv gives an operation's input: the call has failed, and a failed
 * C_Encrypt/Decrypt/Digest/Sign/Verify (and their Update and Final) ends its operation (PKCS#11 5.x). */
static int ends_operation(CK_RV rv)
{
  return rv == CKR_DATA_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_SIGNATURE_LEN_RANGE;
}

/* The module refused to send an over-long input, so the agent still holds the operation open: the
 * same call with every input NULL ends it there (the agent answers CKR_ARGUMENTS_BAD and forgets the
 * operation). An output is declared as a large buffer so that the call is not taken for a size query
 * (which leaves an operation active); the answer is discarded, nothing is written to the caller's
 * buffers. If the agent is gone there is nothing left to end. */
static void end_operation(enum wim_fn fn, const wim_call_desc *d, const wim_binding *bd)
{
  wim_binding none = *bd;
  wim_arg empty[WIM_MAX_ITEMS];
  static const uint8_t nowhere;
  for (size_t i = 0; d->request[i]; i++) {
    if (d->request[i] != 'b' && d->request[i] != 'o')
      continue;
    empty[i] = *bd->req[i];
    empty[i].p = d->request[i] == 'o' ? &nowhere : NULL;
    empty[i].n = d->request[i] == 'o' ? WIM_MAX_REQUEST : 0;
    none.req[i] = &empty[i];
  }
  wim_buf request = { 0 }, reply = { 0 };
  if (encode(&request, fn, d, &none) == CKR_OK)
    (void)wim_conn_transact(&request, &reply);
  wim_buf_free(&request);
  wim_buf_free(&reply);
}

static CK_RV exchange(enum wim_fn fn, const wim_call_desc *d, wim_binding *bd)
{
  wim_buf request = { 0 }, reply = { 0 };
  CK_RV rv = encode(&request, fn, d, bd);
  if (rv != CKR_OK) {
    wim_buf_free(&request);
    if (ends_operation(rv))
      end_operation(fn, d, bd);
    return rv;
  }
  enum wim_io io = wim_conn_transact(&request, &reply);
  wim_buf_free(&request);
  if (io == WIM_IO_OK) {
    wim_reader r = { reply.data, reply.len, 0 };
    rv = (CK_RV)wim_get_u64(&r);
    if (r.failed || !decode(&r, d, bd, rv))
      io = WIM_IO_PROTOCOL;
  }
  wim_buf_free(&reply);
  if (io == WIM_IO_PROTOCOL) {
    wim_conn_close();
    return CKR_DEVICE_ERROR;
  }
  if (io == WIM_IO_OFFLINE)
    return wim_offline_answer(fn, bd->req, bd->rep); /* one slot saying why, no token */
  return rv;
}

CK_RV wim_call(enum wim_fn fn, wim_arg *args, size_t nargs)
{
  const wim_call_desc *d = &wim_calls[fn];
  wim_binding bd;
  CK_RV rv;
  if (!d->request || !bind_args(d, args, nargs, &bd))
    rv = CKR_GENERAL_ERROR; /* a module bug: the argument list does not match the table */
  else if (!wim_is_initialized())
    rv = CKR_CRYPTOKI_NOT_INITIALIZED;
  else if ((rv = check_args(d, &bd)) == CKR_OK)
    rv = exchange(fn, d, &bd);
  return wim_debug_rv(d->name, rv);
}
