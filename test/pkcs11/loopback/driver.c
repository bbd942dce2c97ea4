/*
 * driver.c — the C caller of the loopback test (test/pc/rpc-loopback.test.ts): loads the real module,
 * calls every PKCS#11 function it forwards once, and prints for each one line
 *
 *   <number> <the request items it passed> | <rv> <the reply items it sees>
 *
 * in the form the test prints the agent's decoded arguments and encoded reply in:
 *   u:5  b:6162 (b:NULL)  t:[0x3=01,0x11=NULL]  q:[0x3:1:16]  m:0x1:<parameter as sent>  o:1:256  h:0:0
 *   U:5  B:<the caller's whole field, hex>  O:<*pulLen>:<bytes>  Q:[<ulValueLen>:<bytes>,…]  H:<count>:[1,2]
 * Mechanism parameters holding pointers are printed as the module must flatten them (docs/agent-rpc.md).
 *
 * Usage: test-rpc-loopback path/to/libwim-pkcs11.so   (WIM_AGENT_SOCKET names the agent)
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wim_pkcs11.h"

static CK_FUNCTION_LIST *f;
static char line[1 << 16];

static void put(const char *fmt, ...)
{
  size_t n = strlen(line);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof(line) - n, fmt, ap);
  va_end(ap);
}

static void hex(const void *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    put("%02x", ((const unsigned char *)p)[i]);
}

static void le(unsigned char *out, unsigned long long v, int width)
{
  for (int i = 0; i < width; i++)
    out[i] = (unsigned char)(v >> (8 * i));
}

/* ── request items, as passed ────────────────────────────────────────────────────────── */

static void begin(int fn) { snprintf(line, sizeof(line), "%d", fn); }
static void u(CK_ULONG v) { put(" u:%lu", v); }
static void b(const void *p, CK_ULONG n)
{
  put(" b:");
  if (!p)
    put("NULL");
  else
    hex(p, n);
}
static void t(const CK_ATTRIBUTE *a, CK_ULONG n)
{
  put(" t:[");
  for (CK_ULONG i = 0; i < n; i++) {
    put("%s0x%lx=", i ? "," : "", a[i].type);
    if (a[i].pValue)
      hex(a[i].pValue, a[i].ulValueLen);
    else
      put("NULL");
  }
  put("]");
}
static void q(const CK_ATTRIBUTE *a, CK_ULONG n)
{
  put(" q:[");
  for (CK_ULONG i = 0; i < n; i++)
    put("%s0x%lx:%d:%lu", i ? "," : "", a[i].type, a[i].pValue != NULL, a[i].ulValueLen);
  put("]");
}
/* `flat`/`flat_n`: the parameter as the module sends it (NULL: the application's bytes). */
static void m(const CK_MECHANISM *mech, const void *flat, size_t flat_n)
{
  put(" m:0x%lx:", mech->mechanism);
  if (flat)
    hex(flat, flat_n);
  else if (mech->pParameter)
    hex(mech->pParameter, mech->ulParameterLen);
}
static void o(const void *p, CK_ULONG cap) { put(" o:%d:%lu", p != NULL, cap); }
static void h(const void *p, CK_ULONG cap) { put(" h:%d:%lu", p != NULL, cap); }

/* ── reply items, as the caller sees them ────────────────────────────────────────────── */

static void got(CK_RV rv) { put(" | %lu", rv); }
static void U(CK_ULONG v) { put(" U:%lu", v); }
static void B(const void *p, size_t n)
{
  put(" B:");
  hex(p, n);
}
static void O(CK_RV rv, const void *p, CK_ULONG len)
{
  put(" O:%lu:", len);
  if (rv == CKR_OK && p)
    hex(p, len);
}
static void Q(const CK_ATTRIBUTE *a, CK_ULONG n, const CK_ULONG *caps)
{
  put(" Q:[");
  for (CK_ULONG i = 0; i < n; i++) {
    put("%s%lu:", i ? "," : "", a[i].ulValueLen);
    if (a[i].pValue && a[i].ulValueLen <= caps[i])
      hex(a[i].pValue, a[i].ulValueLen);
  }
  put("]");
}
static void H(CK_RV rv, const CK_ULONG *list, CK_ULONG count, CK_ULONG cap)
{
  put(" H:%lu:[", count);
  for (CK_ULONG i = 0; rv == CKR_OK && list && i < count && i < cap; i++)
    put("%s%lu", i ? "," : "", list[i]);
  put("]");
}
static void end(void) { puts(line); }

/* ── arguments ───────────────────────────────────────────────────────────────────────── */

/* Values the agent must see as passed: a session handle above 2^32, bytes that are not text. */
#define S(fn) (0x100000000ul + (fn))
static unsigned char data[] = { 0x00, 0x01, 0xfe, 0xff, 'w', 'i', 'm' };
static unsigned char sig[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02 };
static CK_BBOOL yes = CK_TRUE;
static CK_ULONG key_type = CKK_EC;
static CK_ATTRIBUTE tpl[] = {
  { CKA_TOKEN, &yes, sizeof(yes) },
  { CKA_KEY_TYPE, &key_type, sizeof(key_type) },
  { CKA_LABEL, "loop", 4 },
  { CKA_ID, NULL, 0 },
};
#define TPL tpl, 4
static CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
static CK_MECHANISM mech_pss = { CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss) };
static CK_MECHANISM mech_sha = { CKM_SHA256, NULL, 0 };

/* ── the calls ───────────────────────────────────────────────────────────────────────── */

#define INIT_FN(fn, name)                                  \
  static void call_##name(void)                          \
  {                                                      \
    begin(fn);                                           \
    u(S(fn)), m(&mech_pss, NULL, 0), u(700 + fn);        \
    got(f->C_##name(S(fn), &mech_pss, 700 + fn));        \
    end();                                               \
  }
/* (session, data, output): with a buffer of 64 */
#define DATA_OUT_FN(fn, name)                            \
  static void call_##name(void)                          \
  {                                                      \
    unsigned char out[64];                               \
    CK_ULONG n = sizeof(out);                            \
    begin(fn);                                           \
    u(S(fn)), b(data, sizeof(data)), o(out, n);          \
    CK_RV rv = f->C_##name(S(fn), data, sizeof(data), out, &n); \
    got(rv), O(rv, out, n);                              \
    end();                                               \
  }
/* (session, output): a size query (NULL buffer) */
#define OUT_FN(fn, name)                                 \
  static void call_##name(void)                          \
  {                                                      \
    CK_ULONG n = 9;                                      \
    begin(fn);                                           \
    u(S(fn)), o(NULL, n);                                \
    CK_RV rv = f->C_##name(S(fn), NULL, &n);             \
    got(rv), O(rv, NULL, n);                             \
    end();                                               \
  }
#define DATA_FN(fn, name)                                \
  static void call_##name(void)                          \
  {                                                      \
    begin(fn);                                           \
    u(S(fn)), b(data, sizeof(data));                     \
    got(f->C_##name(S(fn), data, sizeof(data)));         \
    end();                                               \
  }
#define SESSION_FN(fn, name)                             \
  static void call_##name(void)                          \
  {                                                      \
    begin(fn);                                           \
    u(S(fn));                                            \
    got(f->C_##name(S(fn)));                             \
    end();                                               \
  }

static void call_GetSlotList(void)
{
  CK_SLOT_ID list[4];
  CK_ULONG n = 4;
  begin(4);
  u(CK_TRUE), h(list, n);
  CK_RV rv = f->C_GetSlotList(CK_TRUE, list, &n);
  got(rv), H(rv, list, n, 4);
  end();
}

static void call_GetSlotInfo(void)
{
  CK_SLOT_INFO i;
  memset(&i, 0, sizeof(i));
  begin(5);
  u(3);
  got(f->C_GetSlotInfo(3, &i));
  B(i.slotDescription, sizeof(i.slotDescription)), B(i.manufacturerID, sizeof(i.manufacturerID));
  U(i.flags), U(i.hardwareVersion.major), U(i.hardwareVersion.minor);
  U(i.firmwareVersion.major), U(i.firmwareVersion.minor);
  end();
}

static void call_GetTokenInfo(void)
{
  CK_TOKEN_INFO i;
  memset(&i, 0, sizeof(i));
  begin(6);
  u(0x7fffffffffffffful);
  got(f->C_GetTokenInfo(0x7fffffffffffffful, &i));
  B(i.label, sizeof(i.label)), B(i.manufacturerID, sizeof(i.manufacturerID));
  B(i.model, sizeof(i.model)), B(i.serialNumber, sizeof(i.serialNumber));
  U(i.flags), U(i.ulMaxSessionCount), U(i.ulSessionCount), U(i.ulMaxRwSessionCount);
  U(i.ulRwSessionCount), U(i.ulMaxPinLen), U(i.ulMinPinLen), U(i.ulTotalPublicMemory);
  U(i.ulFreePublicMemory), U(i.ulTotalPrivateMemory), U(i.ulFreePrivateMemory);
  U(i.hardwareVersion.major), U(i.hardwareVersion.minor), U(i.firmwareVersion.major);
  U(i.firmwareVersion.minor), B(i.utcTime, sizeof(i.utcTime));
  end();
}

static void call_GetMechanismList(void)
{
  CK_ULONG n = 0;
  begin(7);
  u(1), h(NULL, n);
  CK_RV rv = f->C_GetMechanismList(1, NULL, &n);
  got(rv), H(rv, NULL, n, 0);
  end();
}

static void call_GetMechanismInfo(void)
{
  CK_MECHANISM_INFO i;
  begin(8);
  u(1), u(CKM_ECDSA_SHA256);
  got(f->C_GetMechanismInfo(1, CKM_ECDSA_SHA256, &i));
  U(i.ulMinKeySize), U(i.ulMaxKeySize), U(i.flags);
  end();
}

static void call_InitToken(void)
{
  CK_UTF8CHAR label[32];
  memset(label, ' ', sizeof(label));
  memcpy(label, "loopback token", 14);
  begin(9);
  u(2), b("123456", 6), b(label, 32);
  got(f->C_InitToken(2, (CK_UTF8CHAR_PTR)"123456", 6, label));
  end();
}

static void call_InitPIN(void)
{
  begin(10);
  u(S(10)), b("\x01\x02pin\xff", 6);
  got(f->C_InitPIN(S(10), (CK_UTF8CHAR_PTR)"\x01\x02pin\xff", 6));
  end();
}

static void call_SetPIN(void)
{
  begin(11);
  u(S(11)), b("1234", 4), b("98765", 5);
  got(f->C_SetPIN(S(11), (CK_UTF8CHAR_PTR)"1234", 4, (CK_UTF8CHAR_PTR)"98765", 5));
  end();
}

static void call_OpenSession(void)
{
  CK_SESSION_HANDLE s = 0;
  begin(12);
  u(1), u(CKF_SERIAL_SESSION | CKF_RW_SESSION);
  got(f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
  U(s);
  end();
}

SESSION_FN(13, CloseSession)

static void call_CloseAllSessions(void)
{
  begin(14);
  u(5);
  got(f->C_CloseAllSessions(5));
  end();
}

static void call_GetSessionInfo(void)
{
  CK_SESSION_INFO i;
  begin(15);
  u(S(15));
  got(f->C_GetSessionInfo(S(15), &i));
  U(i.slotID), U(i.state), U(i.flags), U(i.ulDeviceError);
  end();
}

OUT_FN(16, GetOperationState)

static void call_SetOperationState(void)
{
  begin(17);
  u(S(17)), b(data, sizeof(data)), u(0), u(31);
  got(f->C_SetOperationState(S(17), data, sizeof(data), 0, 31));
  end();
}

static void call_Login(void)
{
  begin(18);
  u(S(18)), u(CKU_SO), b("so-pin", 6);
  got(f->C_Login(S(18), CKU_SO, (CK_UTF8CHAR_PTR)"so-pin", 6));
  end();
}

SESSION_FN(19, Logout)

static void call_CreateObject(void)
{
  CK_OBJECT_HANDLE obj = 0;
  begin(20);
  u(S(20)), t(TPL);
  got(f->C_CreateObject(S(20), TPL, &obj));
  U(obj);
  end();
}

static void call_CopyObject(void)
{
  CK_OBJECT_HANDLE obj = 0;
  begin(21);
  u(S(21)), u(42), t(tpl, 1);
  got(f->C_CopyObject(S(21), 42, tpl, 1, &obj));
  U(obj);
  end();
}

static void call_DestroyObject(void)
{
  begin(22);
  u(S(22)), u(43);
  got(f->C_DestroyObject(S(22), 43));
  end();
}

static void call_GetObjectSize(void)
{
  CK_ULONG size = 0;
  begin(23);
  u(S(23)), u(44);
  got(f->C_GetObjectSize(S(23), 44, &size));
  U(size);
  end();
}

static void call_GetAttributeValue(void)
{
  unsigned char v1[16], v2[2];
  CK_ATTRIBUTE a[] = { { CKA_LABEL, v1, sizeof(v1) }, { CKA_VALUE, NULL, 0 }, { CKA_ID, v2, sizeof(v2) } };
  CK_ULONG caps[] = { sizeof(v1), 0, sizeof(v2) };
  begin(24);
  u(S(24)), u(45), q(a, 3);
  CK_RV rv = f->C_GetAttributeValue(S(24), 45, a, 3);
  got(rv), Q(a, 3, caps);
  end();
}

static void call_SetAttributeValue(void)
{
  begin(25);
  u(S(25)), u(46), t(tpl + 2, 2);
  got(f->C_SetAttributeValue(S(25), 46, tpl + 2, 2));
  end();
}

static void call_FindObjectsInit(void)
{
  begin(26);
  u(S(26)), t(NULL, 0);
  got(f->C_FindObjectsInit(S(26), NULL, 0));
  end();
}

static void call_FindObjects(void)
{
  CK_OBJECT_HANDLE list[5];
  CK_ULONG n = 0;
  begin(27);
  u(S(27)), u(5);
  CK_RV rv = f->C_FindObjects(S(27), list, 5, &n);
  got(rv), H(rv, list, n, 5);
  end();
}

SESSION_FN(28, FindObjectsFinal)

/* C_EncryptInit with RSA-OAEP: the module flattens CK_RSA_PKCS_OAEP_PARAMS (u64 hashAlg, u64 mgf,
 * u64 source, u32 n + source data). */
static void call_EncryptInit(void)
{
  unsigned char label[] = "oaep label";
  CK_RSA_PKCS_OAEP_PARAMS p = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, 10 };
  CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };
  unsigned char flat[8 * 3 + 4 + 10];
  le(flat, CKM_SHA256, 8), le(flat + 8, CKG_MGF1_SHA256, 8), le(flat + 16, CKZ_DATA_SPECIFIED, 8);
  le(flat + 24, 10, 4), memcpy(flat + 28, label, 10);
  begin(29);
  u(S(29)), m(&mech, flat, sizeof(flat)), u(729);
  got(f->C_EncryptInit(S(29), &mech, 729));
  end();
}
DATA_OUT_FN(30, Encrypt)
DATA_OUT_FN(31, EncryptUpdate)
OUT_FN(32, EncryptFinal)
INIT_FN(33, DecryptInit)
DATA_OUT_FN(34, Decrypt)
DATA_OUT_FN(35, DecryptUpdate)
OUT_FN(36, DecryptFinal)

static void call_DigestInit(void)
{
  begin(37);
  u(S(37)), m(&mech_sha, NULL, 0);
  got(f->C_DigestInit(S(37), &mech_sha));
  end();
}
DATA_OUT_FN(38, Digest)
DATA_FN(39, DigestUpdate)

static void call_DigestKey(void)
{
  begin(40);
  u(S(40)), u(47);
  got(f->C_DigestKey(S(40), 47));
  end();
}
OUT_FN(41, DigestFinal)

/* C_SignInit with EdDSA: the module flattens CK_EDDSA_PARAMS (u8 phFlag, u32 n + context). */
static void call_SignInit(void)
{
  unsigned char ctx[] = { 'c', 't', 'x' };
  CK_EDDSA_PARAMS p = { CK_TRUE, 3, ctx };
  CK_MECHANISM mech = { CKM_EDDSA, &p, sizeof(p) };
  unsigned char flat[1 + 4 + 3] = { 1 };
  le(flat + 1, 3, 4), memcpy(flat + 5, ctx, 3);
  begin(42);
  u(S(42)), m(&mech, flat, sizeof(flat)), u(742);
  got(f->C_SignInit(S(42), &mech, 742));
  end();
}
DATA_OUT_FN(43, Sign)
DATA_FN(44, SignUpdate)
OUT_FN(45, SignFinal)
INIT_FN(46, SignRecoverInit)
DATA_OUT_FN(47, SignRecover)
INIT_FN(48, VerifyInit)

static void call_Verify(void)
{
  begin(49);
  u(S(49)), b(data, sizeof(data)), b(sig, sizeof(sig));
  got(f->C_Verify(S(49), data, sizeof(data), sig, sizeof(sig)));
  end();
}
DATA_FN(50, VerifyUpdate)

static void call_VerifyFinal(void)
{
  begin(51);
  u(S(51)), b(sig, sizeof(sig));
  got(f->C_VerifyFinal(S(51), sig, sizeof(sig)));
  end();
}
INIT_FN(52, VerifyRecoverInit)
DATA_OUT_FN(53, VerifyRecover)
DATA_OUT_FN(54, DigestEncryptUpdate)
DATA_OUT_FN(55, DecryptDigestUpdate)
DATA_OUT_FN(56, SignEncryptUpdate)
DATA_OUT_FN(57, DecryptVerifyUpdate)

static void call_GenerateKey(void)
{
  CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
  CK_OBJECT_HANDLE k = 0;
  begin(58);
  u(S(58)), m(&mech, NULL, 0), t(TPL);
  got(f->C_GenerateKey(S(58), &mech, TPL, &k));
  U(k);
  end();
}

static void call_GenerateKeyPair(void)
{
  unsigned char bits[] = { 0x01, 0x00, 0x01 };
  CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, bits, sizeof(bits) };
  CK_OBJECT_HANDLE pub = 0, priv = 0;
  begin(59);
  u(S(59)), m(&mech, NULL, 0), t(tpl, 2), t(tpl + 1, 3);
  got(f->C_GenerateKeyPair(S(59), &mech, tpl, 2, tpl + 1, 3, &pub, &priv));
  U(pub), U(priv);
  end();
}

static void call_WrapKey(void)
{
  unsigned char out[3];
  CK_ULONG n = sizeof(out);
  begin(60);
  u(S(60)), m(&mech_pss, NULL, 0), u(760), u(761), o(out, n);
  CK_RV rv = f->C_WrapKey(S(60), &mech_pss, 760, 761, out, &n);
  got(rv), O(rv, out, n);
  end();
}

static void call_UnwrapKey(void)
{
  CK_OBJECT_HANDLE k = 0;
  begin(61);
  u(S(61)), m(&mech_pss, NULL, 0), u(762), b(NULL, 0), t(tpl + 3, 1);
  got(f->C_UnwrapKey(S(61), &mech_pss, 762, NULL, 0, tpl + 3, 1, &k));
  U(k);
  end();
}

/* C_DeriveKey with ECDH: the module flattens CK_ECDH1_DERIVE_PARAMS (u64 kdf, u32 n + shared data,
 * u32 n + public data). */
static void call_DeriveKey(void)
{
  unsigned char point[] = { 0x04, 0xaa, 0xbb };
  CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, sizeof(point), point };
  CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
  unsigned char flat[8 + 4 + 4 + 3];
  le(flat, CKD_NULL, 8), le(flat + 8, 0, 4), le(flat + 12, 3, 4), memcpy(flat + 16, point, 3);
  CK_OBJECT_HANDLE k = 0;
  begin(62);
  u(S(62)), m(&mech, flat, sizeof(flat)), u(763), t(tpl, 3);
  got(f->C_DeriveKey(S(62), &mech, 763, tpl, 3, &k));
  U(k);
  end();
}
DATA_FN(63, SeedRandom)

static void call_GenerateRandom(void)
{
  unsigned char r[24];
  memset(r, 0, sizeof(r));
  begin(64);
  u(S(64)), u(sizeof(r));
  got(f->C_GenerateRandom(S(64), r, sizeof(r)));
  B(r, sizeof(r));
  end();
}

/* Every forwarded function, by number (the test checks this is the table's list). */
static void (*const calls[])(void) = {
  call_GetSlotList, call_GetSlotInfo, call_GetTokenInfo, call_GetMechanismList,
  call_GetMechanismInfo, call_InitToken, call_InitPIN, call_SetPIN, call_OpenSession,
  call_CloseSession, call_CloseAllSessions, call_GetSessionInfo, call_GetOperationState,
  call_SetOperationState, call_Login, call_Logout, call_CreateObject, call_CopyObject,
  call_DestroyObject, call_GetObjectSize, call_GetAttributeValue, call_SetAttributeValue,
  call_FindObjectsInit, call_FindObjects, call_FindObjectsFinal, call_EncryptInit, call_Encrypt,
  call_EncryptUpdate, call_EncryptFinal, call_DecryptInit, call_Decrypt, call_DecryptUpdate,
  call_DecryptFinal, call_DigestInit, call_Digest, call_DigestUpdate, call_DigestKey,
  call_DigestFinal, call_SignInit, call_Sign, call_SignUpdate, call_SignFinal, call_SignRecoverInit,
  call_SignRecover, call_VerifyInit, call_Verify, call_VerifyUpdate, call_VerifyFinal,
  call_VerifyRecoverInit, call_VerifyRecover, call_DigestEncryptUpdate, call_DecryptDigestUpdate,
  call_SignEncryptUpdate, call_DecryptVerifyUpdate, call_GenerateKey, call_GenerateKeyPair,
  call_WrapKey, call_UnwrapKey, call_DeriveKey, call_SeedRandom, call_GenerateRandom,
};

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s libwim-pkcs11.so\n", argv[0]);
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW);
  CK_C_GetFunctionList get = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
  if (!get || get(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
    calls[i]();
  f->C_Finalize(NULL);
  return 0;
}
