/*
 * multipart — multi-part operations whose single update is longer than one agent request.
 *
 * The module (pc/pkcs11/forward.c) sends C_DigestUpdate / C_SignUpdate / C_VerifyUpdate data over
 * 1 MiB as several requests; test/e2e/multipart.test.ts compiles this client and checks what it
 * prints. The data is LEN bytes of xorshift32 output (one step per byte, its top 8 bits), seeded
 * by SEED; the test builds the same bytes in TypeScript.
 *
 * Usage: multipart MODULE SEED LEN PIN KEY_ID_HEX ec|rsa
 *
 * Prints one `name=value` line per result (rv values in hex, byte strings in hex):
 *   digest=             C_DigestInit(CKM_SHA256) + one C_DigestUpdate(LEN) + C_DigestFinal
 *   signature=          C_SignInit(CKM_ECDSA_SHA256 | CKM_SHA256_RSA_PKCS) + one C_SignUpdate(LEN) + C_SignFinal
 *   verify_rv=          C_VerifyInit + one C_VerifyUpdate(LEN) + C_VerifyFinal on that signature
 *   verify_flipped_rv=  the same with byte LEN/2 + 1 flipped (a byte in the second request)
 *   verify_flipped_last_rv= the same with the last byte flipped (the last, short request)
 *   oneshot_digest_rv=  C_DigestInit + a one-shot C_Digest of LEN bytes
 *   after_init_rv=      C_DigestInit(CKM_SHA256) on the same session right after that
 *   after_digest_rv=    C_Digest of the 3 bytes "abc" (only when after_init_rv is 0)
 *   after_digest=       its output
 *   fresh_digest_rv= / fresh_digest=  the same in a new session (the connection still serves)
 * Exits 1 (with a message on stderr) only when a setup call or the multi-part digest/sign fails.
 *
 * Build: gcc -Wall -Wextra -Werror -Ipc/pkcs11 -o multipart test/e2e/multipart.c -ldl
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wim_pkcs11.h"

static CK_FUNCTION_LIST_PTR f;

static void check(CK_RV rv, const char *what)
{
  if (rv == CKR_OK)
    return;
  fprintf(stderr, "multipart: %s failed: rv=0x%08lx\n", what, (unsigned long)rv);
  exit(1);
}

static void print_hex(const char *name, const CK_BYTE *p, CK_ULONG n)
{
  printf("%s=", name);
  for (CK_ULONG i = 0; i < n; i++)
    printf("%02x", p[i]);
  printf("\n");
}

static void print_rv(const char *name, CK_RV rv)
{
  printf("%s=0x%08lx\n", name, (unsigned long)rv);
}

/* xorshift32, one step per byte, the top 8 bits of the state. */
static void fill(CK_BYTE *p, size_t n, uint32_t seed)
{
  uint32_t x = seed;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (CK_BYTE)(x >> 24);
  }
}

static size_t parse_hex(const char *s, CK_BYTE *out, size_t cap)
{
  size_t n = strlen(s) / 2;
  if (n > cap || strlen(s) % 2) {
    fprintf(stderr, "multipart: bad key id %s\n", s);
    exit(2);
  }
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) {
      fprintf(stderr, "multipart: bad key id %s\n", s);
      exit(2);
    }
    out[i] = (CK_BYTE)v;
  }
  return n;
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_BYTE *id, CK_ULONG id_len)
{
  CK_ATTRIBUTE t[] = {
    { CKA_CLASS, &cls, sizeof cls },
    { CKA_ID, id, id_len },
  };
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  CK_ULONG found = 0;
  check(f->C_FindObjectsInit(s, t, 2), "C_FindObjectsInit");
  check(f->C_FindObjects(s, &h, 1, &found), "C_FindObjects");
  check(f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
  if (found != 1) {
    fprintf(stderr, "multipart: no key of class %lu with the ID given\n", (unsigned long)cls);
    exit(1);
  }
  return h;
}

/* C_VerifyInit + one C_VerifyUpdate of all `data` + C_VerifyFinal; the first failing rv. */
static CK_RV verify_all(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE pub, CK_BYTE *data, CK_ULONG n,
                        CK_BYTE *sig, CK_ULONG sig_len)
{
  CK_RV rv = f->C_VerifyInit(s, m, pub);
  if (rv != CKR_OK)
    return rv;
  rv = f->C_VerifyUpdate(s, data, n);
  if (rv != CKR_OK)
    return rv;
  return f->C_VerifyFinal(s, sig, sig_len);
}

/* C_DigestInit(SHA-256) + C_Digest of "abc": prints NAME_rv and NAME. */
static void small_digest(CK_SESSION_HANDLE s, const char *name, int init)
{
  char label[64];
  CK_MECHANISM sha256 = { CKM_SHA256, NULL, 0 };
  CK_BYTE out[32];
  CK_ULONG out_len = sizeof out;
  CK_RV rv = CKR_OK;
  if (init) {
    rv = f->C_DigestInit(s, &sha256);
    snprintf(label, sizeof label, "%s_init_rv", name);
    print_rv(label, rv);
    if (rv != CKR_OK)
      return;
  }
  rv = f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &out_len);
  snprintf(label, sizeof label, "%s_rv", name);
  print_rv(label, rv);
  if (rv == CKR_OK)
    print_hex(name, out, out_len);
}

int main(int argc, char **argv)
{
  if (argc != 7) {
    fprintf(stderr, "usage: multipart MODULE SEED LEN PIN KEY_ID_HEX ec|rsa\n");
    return 2;
  }
  const char *module = argv[1];
  uint32_t seed = (uint32_t)strtoul(argv[2], NULL, 0);
  CK_ULONG len = (CK_ULONG)strtoul(argv[3], NULL, 0);
  const char *pin = argv[4];
  CK_BYTE id[64];
  CK_ULONG id_len = (CK_ULONG)parse_hex(argv[5], id, sizeof id);
  int ec = strcmp(argv[6], "ec") == 0;
  if (seed == 0 || len < 4) {
    fprintf(stderr, "multipart: SEED must be non-zero and LEN at least 4\n");
    return 2;
  }

  CK_BYTE *data = malloc(len);
  if (!data) {
    fprintf(stderr, "multipart: out of memory\n");
    return 1;
  }
  fill(data, len, seed);

  void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "multipart: dlopen %s: %s\n", module, dlerror());
    return 1;
  }
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  if (!get) {
    fprintf(stderr, "multipart: %s has no C_GetFunctionList\n", module);
    return 1;
  }
  check(get(&f), "C_GetFunctionList");
  check(f->C_Initialize(NULL), "C_Initialize");
  CK_SLOT_ID slot;
  CK_ULONG nslots = 1;
  check(f->C_GetSlotList(CK_TRUE, &slot, &nslots), "C_GetSlotList");
  if (nslots < 1) {
    fprintf(stderr, "multipart: no token\n");
    return 1;
  }
  CK_SESSION_HANDLE s;
  check(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), "C_OpenSession");

  /* 1. Digest: one C_DigestUpdate of all the data. */
  CK_MECHANISM sha256 = { CKM_SHA256, NULL, 0 };
  CK_BYTE digest[32];
  CK_ULONG digest_len = sizeof digest;
  check(f->C_DigestInit(s, &sha256), "C_DigestInit");
  check(f->C_DigestUpdate(s, data, len), "C_DigestUpdate");
  check(f->C_DigestFinal(s, digest, &digest_len), "C_DigestFinal");
  print_hex("digest", digest, digest_len);

  /* 2. Sign: one C_SignUpdate of all the data. */
  CK_RV rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
  if (rv != CKR_USER_ALREADY_LOGGED_IN)
    check(rv, "C_Login");
  CK_OBJECT_HANDLE priv = find_key(s, CKO_PRIVATE_KEY, id, id_len);
  CK_OBJECT_HANDLE pub = find_key(s, CKO_PUBLIC_KEY, id, id_len);
  CK_MECHANISM mech = { ec ? CKM_ECDSA_SHA256 : CKM_SHA256_RSA_PKCS, NULL, 0 };
  CK_BYTE sig[512];
  CK_ULONG sig_len = sizeof sig;
  check(f->C_SignInit(s, &mech, priv), "C_SignInit");
  check(f->C_SignUpdate(s, data, len), "C_SignUpdate");
  check(f->C_SignFinal(s, sig, &sig_len), "C_SignFinal");
  print_hex("signature", sig, sig_len);

  /* 3. Verify: the signature over all the data, then over data with one byte flipped. */
  print_rv("verify_rv", verify_all(s, &mech, pub, data, len, sig, sig_len));
  CK_ULONG mid = len / 2 + 1;
  data[mid] ^= 0x01;
  print_rv("verify_flipped_rv", verify_all(s, &mech, pub, data, len, sig, sig_len));
  data[mid] ^= 0x01;
  data[len - 1] ^= 0x80;
  print_rv("verify_flipped_last_rv", verify_all(s, &mech, pub, data, len, sig, sig_len));
  data[len - 1] ^= 0x80;

  /* 4. A one-shot C_Digest of all the data, then a small digest on the same session and a new one. */
  check(f->C_DigestInit(s, &sha256), "C_DigestInit (one-shot)");
  digest_len = sizeof digest;
  print_rv("oneshot_digest_rv", f->C_Digest(s, data, len, digest, &digest_len));
  rv = f->C_DigestInit(s, &sha256);
  print_rv("after_init_rv", rv);
  if (rv == CKR_OK)
    small_digest(s, "after_digest", 0);
  CK_SESSION_HANDLE s2;
  check(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), "C_OpenSession (second)");
  small_digest(s2, "fresh_digest", 1);

  f->C_CloseAllSessions(slot);
  f->C_Finalize(NULL);
  free(data);
  return 0;
}
