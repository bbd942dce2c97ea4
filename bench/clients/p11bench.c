/*
 * p11bench — C_Sign per second through any PKCS#11 module.
 *
 * Loads MODULE with dlopen, takes the first slot with a token (or the token labelled --token),
 * logs in as the user, finds the private key labelled --key-label of the requested type (or
 * generates it on the token), then times --count rounds of C_SignInit + C_Sign over a
 * 32-byte value (a SHA-256 DigestInfo for CKM_RSA_PKCS, the bare hash for CKM_ECDSA).
 * Prints one line:
 *
 *   result module=PATH kind=rsa2048|p256|rng count=N seconds=S per_second=X ms_per_op=Y
 *
 * Kind `rng` times C_GenerateRandom of 32 bytes instead: one round trip to the token that does
 * (almost) no work there, the cost of the path module → agent → link → device and back.
 *
 * Usage: p11bench MODULE rsa2048|p256|rng [--pin PIN] [--token LABEL] [--key-label LABEL]
 *                 [--count N] [--max-seconds S] [--warmup N]
 *
 * The measuring loop stops after --count signatures or --max-seconds, whichever comes first,
 * so a slow token cannot stretch the run. Build:
 *
 *   gcc -O2 -Wall -Wextra -Werror -Ipc/pkcs11 -o build/p11bench bench/clients/p11bench.c -ldl
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wim_pkcs11.h"

#define MAX_SLOTS 32

static CK_FUNCTION_LIST_PTR f;

/* Exits with a message naming the call that failed and its CK_RV. */
static void check(CK_RV rv, const char *what) {
  if (rv == CKR_OK) return;
  fprintf(stderr, "p11bench: %s failed: rv=0x%08lx\n", what, (unsigned long)rv);
  exit(1);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A blank-padded CK_UTF8CHAR[32] label equals `want`. */
static int label_is(const CK_UTF8CHAR *label, const char *want) {
  size_t n = strlen(want);
  if (n > 32 || memcmp(label, want, n) != 0) return 0;
  for (size_t i = n; i < 32; i++)
    if (label[i] != ' ') return 0;
  return 1;
}

static CK_SLOT_ID pick_slot(const char *token) {
  CK_SLOT_ID slots[MAX_SLOTS];
  CK_ULONG n = MAX_SLOTS;
  check(f->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
  for (CK_ULONG i = 0; i < n; i++) {
    CK_TOKEN_INFO info;
    if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    if (!token || label_is(info.label, token)) return slots[i];
  }
  fprintf(stderr, "p11bench: no slot with a token%s%s\n", token ? " labelled " : "", token ? token : "");
  exit(1);
}

/* The first private key with this label and key type, or CK_INVALID_HANDLE. */
static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, const char *label, CK_KEY_TYPE type) {
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE t[] = {
    {CKA_CLASS, &cls, sizeof cls},
    {CKA_KEY_TYPE, &type, sizeof type},
    {CKA_LABEL, (void *)label, strlen(label)},
  };
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  CK_ULONG found = 0;
  check(f->C_FindObjectsInit(s, t, 3), "C_FindObjectsInit");
  check(f->C_FindObjects(s, &h, 1, &found), "C_FindObjects");
  check(f->C_FindObjectsFinal(s), "C_FindObjectsFinal");
  return found ? h : CK_INVALID_HANDLE;
}

static CK_OBJECT_HANDLE generate_key(CK_SESSION_HANDLE s, const char *label, int ec) {
  static const CK_BYTE p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static const CK_BYTE f4[] = {0x01, 0x00, 0x01};
  static const CK_BYTE id[] = {0xbe};
  CK_BBOOL yes = CK_TRUE;
  CK_ULONG bits = 2048;
  CK_MECHANISM mech = {ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
  CK_ATTRIBUTE pub_ec[] = {
    {CKA_TOKEN, &yes, sizeof yes}, {CKA_VERIFY, &yes, sizeof yes},
    {CKA_LABEL, (void *)label, strlen(label)}, {CKA_ID, (void *)id, sizeof id},
    {CKA_EC_PARAMS, (void *)p256_oid, sizeof p256_oid},
  };
  CK_ATTRIBUTE pub_rsa[] = {
    {CKA_TOKEN, &yes, sizeof yes}, {CKA_VERIFY, &yes, sizeof yes},
    {CKA_LABEL, (void *)label, strlen(label)}, {CKA_ID, (void *)id, sizeof id},
    {CKA_MODULUS_BITS, &bits, sizeof bits}, {CKA_PUBLIC_EXPONENT, (void *)f4, sizeof f4},
  };
  CK_ATTRIBUTE priv[] = {
    {CKA_TOKEN, &yes, sizeof yes}, {CKA_PRIVATE, &yes, sizeof yes}, {CKA_SENSITIVE, &yes, sizeof yes},
    {CKA_SIGN, &yes, sizeof yes}, {CKA_LABEL, (void *)label, strlen(label)}, {CKA_ID, (void *)id, sizeof id},
  };
  CK_OBJECT_HANDLE hpub, hpriv;
  check(f->C_GenerateKeyPair(s, &mech, ec ? pub_ec : pub_rsa, ec ? 5 : 6, priv, 6, &hpub, &hpriv),
        "C_GenerateKeyPair");
  return hpriv;
}

static void usage(void) {
  fprintf(stderr, "usage: p11bench MODULE rsa2048|p256|rng [--pin PIN] [--token LABEL] [--key-label LABEL]\n"
                  "                [--count N] [--max-seconds S] [--warmup N]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 3) usage();
  const char *module = argv[1], *kind = argv[2];
  const char *pin = "123456", *token = NULL, *key_label = "p11bench";
  long count = 200, warmup = 3;
  double max_seconds = 10;
  for (int i = 3; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (!strcmp(argv[i], "--pin")) pin = argv[++i];
    else if (!strcmp(argv[i], "--token")) token = argv[++i];
    else if (!strcmp(argv[i], "--key-label")) key_label = argv[++i];
    else if (!strcmp(argv[i], "--count")) count = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--max-seconds")) max_seconds = strtod(argv[++i], NULL);
    else if (!strcmp(argv[i], "--warmup")) warmup = strtol(argv[++i], NULL, 10);
    else usage();
  }
  int ec = 0, rng = 0;
  if (!strcmp(kind, "rsa2048")) ec = 0;
  else if (!strcmp(kind, "p256")) ec = 1;
  else if (!strcmp(kind, "rng")) rng = 1;
  else usage();
  if (count < 1 || warmup < 0 || max_seconds <= 0) usage();

  void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "p11bench: %s\n", dlerror());
    return 1;
  }
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  if (!get) {
    fprintf(stderr, "p11bench: %s has no C_GetFunctionList\n", module);
    return 1;
  }
  check(get(&f), "C_GetFunctionList");
  check(f->C_Initialize(NULL), "C_Initialize");

  CK_SLOT_ID slot = pick_slot(token);
  CK_SESSION_HANDLE s;
  check(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), "C_OpenSession");
  CK_RV rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
  if (rv != CKR_USER_ALREADY_LOGGED_IN) check(rv, "C_Login");

  char label[64];
  snprintf(label, sizeof label, "%s-%s", key_label, kind);
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  if (!rng) key = find_key(s, label, ec ? CKK_EC : CKK_RSA);
  if (!rng && key == CK_INVALID_HANDLE) key = generate_key(s, label, ec);

  /* SHA-256 DigestInfo prefix + a fixed 32-byte "hash"; ECDSA signs the 32 bytes alone. */
  CK_BYTE input[19 + 32] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                            0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
  for (int i = 0; i < 32; i++) input[19 + i] = (CK_BYTE)(i * 7 + 1);
  CK_BYTE *data = ec ? input + 19 : input;
  CK_ULONG data_len = ec ? 32 : sizeof input;
  CK_MECHANISM mech = {ec ? CKM_ECDSA : CKM_RSA_PKCS, NULL, 0};
  CK_BYTE sig[1024];

  long done = 0;
  double start = 0, elapsed = 0;
  for (long i = 0; i < warmup + count; i++) {
    if (i == warmup) start = now_seconds();
    CK_ULONG sig_len = sizeof sig;
    if (rng) {
      check(f->C_GenerateRandom(s, sig, 32), "C_GenerateRandom");
    } else {
      check(f->C_SignInit(s, &mech, key), "C_SignInit");
      check(f->C_Sign(s, data, data_len, sig, &sig_len), "C_Sign");
    }
    if (!rng && sig_len != (ec ? 64u : 256u)) {
      fprintf(stderr, "p11bench: unexpected signature length %lu\n", (unsigned long)sig_len);
      return 1;
    }
    if (i >= warmup) {
      done++;
      elapsed = now_seconds() - start;
      if (elapsed >= max_seconds) break;
    }
  }
  printf("result module=%s kind=%s count=%ld seconds=%.3f per_second=%.1f ms_per_op=%.3f\n", module, kind, done,
         elapsed, done / elapsed, elapsed * 1000 / done);

  f->C_Logout(s);
  f->C_CloseSession(s);
  f->C_Finalize(NULL);
  return 0;
}
