/*
 * test_pkcs11.c — tests build/libwim-pkcs11.so without the real agent: the module is loaded
 * with dlopen and talks to the fake agent of fake_agent.c, which decodes every request per
 * docs/agent-rpc.md; the fake's replies exercise the module's decoding.
 *
 * Usage: test-pkcs11 path/to/libwim-pkcs11.so      Last line: "N passed, M failed".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_agent.h"
#include "calls.h"

/* The agent requests' numbers, from the call table (AGENT_WIM_WaitForSlotEvent, …). */
#define AGENT_ENUM(number, name, request, reply) AGENT_##name = number,
enum { WIM_AGENT_REQUESTS(AGENT_ENUM) };
#include "wim_pkcs11.h"

static int passed, failed;

#define CHECK(cond, ...)                                      \
  do {                                                        \
    if (cond) {                                               \
      passed++;                                               \
    } else {                                                  \
      failed++;                                               \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
      fprintf(stderr, __VA_ARGS__);                           \
      fputc('\n', stderr);                                    \
    }                                                         \
  } while (0)

#define RV(call, want)                                                                   \
  do {                                                                                   \
    CK_RV got_ = (call);                                                                 \
    CHECK(got_ == (CK_RV)(want), "%s = 0x%lx, want 0x%lx", #call, got_, (CK_RV)(want)); \
  } while (0)

/* The module answers `call` with `want` after sending exactly the request `decoded`. */
#define EXPECT(fn, decoded, reply_rv, items, call, want)                  \
  do {                                                                    \
    fake_expect((fn), (decoded), (reply_rv), (items));                   \
    RV(call, want);                                                       \
    CHECK(fake_served_ok(), "request of %s (see above)", #call);          \
  } while (0)

/* The module answers `call` with `want` without sending anything. */
#define LOCAL(call, want)                                                 \
  do {                                                                    \
    int before_ = fake_requests();                                        \
    RV(call, want);                                                       \
    CHECK(fake_requests() == before_, "%s sent a request", #call);        \
  } while (0)

/* The module answers `call` with `want` without sending its input; it sends one request that ends
 * the operation (the same function, inputs NULL), which the agent answers CKR_ARGUMENTS_BAD. */
#define ENDS(fn, decoded, call, want)                                     \
  do {                                                                    \
    fake_expect((fn), (decoded), CKR_ARGUMENTS_BAD, NULL);               \
    RV(call, want);                                                       \
    CHECK(fake_served_ok(), "%s ended its operation (see above)", #call); \
  } while (0)

static void *lib;
static CK_FUNCTION_LIST *f;
static char tmpdir[] = "/tmp/wim-pkcs11-test-XXXXXX";
static char agent_path[256], missing_path[256];

/* Hex of a buffer, in one of 8 rotating static strings. */
static const char *hx(const void *p, size_t n)
{
  static char bufs[8][2048];
  static int next;
  char *s = bufs[next++ % 8];
  for (size_t i = 0; i < n && i < 1000; i++)
    sprintf(s + 2 * i, "%02x", ((const unsigned char *)p)[i]);
  s[2 * (n < 1000 ? n : 1000)] = 0;
  return s;
}

static int blank_padded(const CK_UTF8CHAR *field, size_t size, const char *text)
{
  size_t n = strlen(text);
  if (memcmp(field, text, n) != 0)
    return 0;
  for (size_t i = n; i < size; i++)
    if (field[i] != ' ')
      return 0;
  return 1;
}

static CK_RV dummy_mutex_create(CK_VOID_PTR_PTR m) { *m = NULL; return CKR_OK; }
static CK_RV dummy_mutex(CK_VOID_PTR m) { (void)m; return CKR_OK; }

static void wait_for(int (*counter)(void), int value)
{
  for (int i = 0; i < 200 && counter() < value; i++)
    usleep(10000);
}

/* ── the library's shape ─────────────────────────────────────────────────────────────── */

static const char *const v240_names[68] = {
  "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList",
  "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo", "C_InitToken",
  "C_InitPIN", "C_SetPIN", "C_OpenSession", "C_CloseSession", "C_CloseAllSessions",
  "C_GetSessionInfo", "C_GetOperationState", "C_SetOperationState", "C_Login", "C_Logout",
  "C_CreateObject", "C_CopyObject", "C_DestroyObject", "C_GetObjectSize", "C_GetAttributeValue",
  "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal",
  "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal", "C_DecryptInit",
  "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal", "C_DigestInit", "C_Digest",
  "C_DigestUpdate", "C_DigestKey", "C_DigestFinal", "C_SignInit", "C_Sign", "C_SignUpdate",
  "C_SignFinal", "C_SignRecoverInit", "C_SignRecover", "C_VerifyInit", "C_Verify",
  "C_VerifyUpdate", "C_VerifyFinal", "C_VerifyRecoverInit", "C_VerifyRecover",
  "C_DigestEncryptUpdate", "C_DecryptDigestUpdate", "C_SignEncryptUpdate",
  "C_DecryptVerifyUpdate", "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey",
  "C_DeriveKey", "C_SeedRandom", "C_GenerateRandom", "C_GetFunctionStatus", "C_CancelFunction",
  "C_WaitForSlotEvent",
};

static const char *const v30_names[24] = {
  "C_GetInterfaceList", "C_GetInterface", "C_LoginUser", "C_SessionCancel",
  "C_MessageEncryptInit", "C_EncryptMessage", "C_EncryptMessageBegin", "C_EncryptMessageNext",
  "C_MessageEncryptFinal", "C_MessageDecryptInit", "C_DecryptMessage", "C_DecryptMessageBegin",
  "C_DecryptMessageNext", "C_MessageDecryptFinal", "C_MessageSignInit", "C_SignMessage",
  "C_SignMessageBegin", "C_SignMessageNext", "C_MessageSignFinal", "C_MessageVerifyInit",
  "C_VerifyMessage", "C_VerifyMessageBegin", "C_VerifyMessageNext", "C_MessageVerifyFinal",
};

typedef void (*any_fn)(void);

static any_fn slot_of(const void *list, size_t i)
{
  any_fn fn;
  memcpy(&fn, (const char *)list + offsetof(CK_FUNCTION_LIST, C_Initialize) + i * sizeof(fn),
         sizeof(fn));
  return fn;
}

static void test_layout(void)
{
  CHECK(sizeof(CK_ULONG) == 8, "CK_ULONG is 8 bytes");
  CHECK(sizeof(CK_INFO) == 88 && sizeof(CK_SLOT_INFO) == 112 && sizeof(CK_TOKEN_INFO) == 208,
        "info structure sizes %zu %zu %zu", sizeof(CK_INFO), sizeof(CK_SLOT_INFO),
        sizeof(CK_TOKEN_INFO));
  CHECK(sizeof(CK_ATTRIBUTE) == 24 && sizeof(CK_MECHANISM) == 24 && sizeof(CK_SESSION_INFO) == 32 &&
        sizeof(CK_MECHANISM_INFO) == 24 && sizeof(CK_C_INITIALIZE_ARGS) == 48 &&
        sizeof(CK_INTERFACE) == 24, "structure sizes");
  CHECK(sizeof(CK_RSA_PKCS_PSS_PARAMS) == 24 && sizeof(CK_RSA_PKCS_OAEP_PARAMS) == 40 &&
        sizeof(CK_ECDH1_DERIVE_PARAMS) == 40 && sizeof(CK_EDDSA_PARAMS) == 24, "parameter sizes");
  CHECK(offsetof(CK_FUNCTION_LIST, C_WaitForSlotEvent) == 8 + 67 * 8 &&
        sizeof(CK_FUNCTION_LIST) == 8 + 68 * 8, "CK_FUNCTION_LIST layout");
  CHECK(offsetof(CK_FUNCTION_LIST_3_0, C_GetInterfaceList) == 8 + 68 * 8 &&
        sizeof(CK_FUNCTION_LIST_3_0) == 8 + 92 * 8, "CK_FUNCTION_LIST_3_0 layout");
}

static void test_function_tables(void)
{
  CK_FUNCTION_LIST_PTR list = NULL;
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  CHECK(get != NULL, "C_GetFunctionList exported");
  if (!get)
    exit(1);
  RV(get(NULL), CKR_ARGUMENTS_BAD);
  RV(get(&list), CKR_OK);
  f = list;
  CHECK(f->version.major == 2 && f->version.minor == 40, "v2.40 list version");
  int same = 1;
  for (size_t i = 0; i < 68; i++) {
    any_fn sym = (any_fn)dlsym(lib, v240_names[i]);
    if (!sym || slot_of(f, i) != sym) {
      same = 0;
      fprintf(stderr, "  slot %zu is not %s\n", i, v240_names[i]);
    }
  }
  CHECK(same, "the v2.40 list holds the 68 functions in order");

  CK_C_GetInterface get_interface = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
  CK_INTERFACE_PTR iface = NULL;
  CHECK(get_interface != NULL, "C_GetInterface exported");
  if (!get_interface)
    exit(1);
  RV(get_interface(NULL, NULL, &iface, 0), CKR_OK); /* works before C_Initialize */
  CK_FUNCTION_LIST_3_0 *l30 = iface ? iface->pFunctionList : NULL;
  CHECK(l30 && l30->version.major == 3 && l30->version.minor == 0, "default interface is 3.0");
  CHECK(iface && strcmp((char *)iface->pInterfaceName, "PKCS 11") == 0, "interface name");
  same = l30 != NULL;
  for (size_t i = 0; same && i < 68 + 24; i++) {
    const char *name = i < 68 ? v240_names[i] : v30_names[i - 68];
    if (slot_of(l30, i) != (any_fn)dlsym(lib, name)) {
      same = 0;
      fprintf(stderr, "  3.0 slot %zu is not %s\n", i, name);
    }
  }
  CHECK(same, "the 3.0 list holds the 92 functions in order");
  if (l30) {
    RV(l30->C_LoginUser(1, CKU_USER, (CK_UTF8CHAR_PTR)"1", 1, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    RV(l30->C_SessionCancel(1, 0), CKR_FUNCTION_NOT_SUPPORTED);
    RV(l30->C_MessageSignInit(1, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    RV(l30->C_SignMessage(1, NULL, 0, NULL, 0, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    RV(l30->C_MessageVerifyFinal(1), CKR_FUNCTION_NOT_SUPPORTED);
  }

  CK_VERSION v240 = { 2, 40 }, v30 = { 3, 0 }, v31 = { 3, 1 };
  RV(get_interface((CK_UTF8CHAR_PTR)"PKCS 11", &v240, &iface, 0), CKR_OK);
  CHECK(iface && iface->pFunctionList == (void *)f, "interface 2.40 is C_GetFunctionList's list");
  RV(get_interface((CK_UTF8CHAR_PTR)"PKCS 11", &v30, &iface, 0), CKR_OK);
  CHECK(iface && iface->pFunctionList == (void *)l30, "interface 3.0");
  RV(get_interface((CK_UTF8CHAR_PTR)"PKCS 11", &v31, &iface, 0), CKR_ARGUMENTS_BAD);
  RV(get_interface((CK_UTF8CHAR_PTR)"Vendor X", NULL, &iface, 0), CKR_ARGUMENTS_BAD);
  RV(get_interface(NULL, NULL, &iface, CKF_INTERFACE_FORK_SAFE), CKR_ARGUMENTS_BAD);
  RV(get_interface(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);

  CK_C_GetInterfaceList get_list = (CK_C_GetInterfaceList)dlsym(lib, "C_GetInterfaceList");
  CK_INTERFACE ifaces[3];
  CK_ULONG n = 0;
  RV(get_list(NULL, NULL), CKR_ARGUMENTS_BAD);
  RV(get_list(NULL, &n), CKR_OK);
  CHECK(n == 2, "two interfaces, got %lu", n);
  n = 1;
  RV(get_list(ifaces, &n), CKR_BUFFER_TOO_SMALL);
  CHECK(n == 2, "count after BUFFER_TOO_SMALL");
  n = 3;
  RV(get_list(ifaces, &n), CKR_OK);
  CHECK(n == 2 && ifaces[0].pFunctionList == (void *)l30 && ifaces[1].pFunctionList == (void *)f,
        "interface list contents");
}

/* nm -D --defined-only: C_GetFunctionList and C_GetInterface exported, nothing but C_*. */
static void test_exports(const char *module)
{
  char cmd[1024], line[512];
  snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", module);
  FILE *p = popen(cmd, "r");
  int total = 0, foreign = 0, gfl = 0, gi = 0;
  while (p && fgets(line, sizeof(line), p)) {
    char addr[64], type[8], name[256];
    if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
      continue;
    total++;
    if (strncmp(name, "C_", 2) != 0) {
      foreign++;
      fprintf(stderr, "  exported: %s\n", name);
    }
    gfl |= strcmp(name, "C_GetFunctionList") == 0;
    gi |= strcmp(name, "C_GetInterface") == 0;
  }
  CHECK(p && pclose(p) == 0, "nm ran");
  CHECK(gfl && gi, "C_GetFunctionList and C_GetInterface are exported");
  CHECK(foreign == 0, "only C_* symbols exported (%d others)", foreign);
  CHECK(total == 92, "92 C_* symbols exported, got %d", total);
}

/* ── local functions ─────────────────────────────────────────────────────────────────── */

static void test_before_initialize(void)
{
  CK_INFO info;
  CK_ULONG n = 5;
  CK_SESSION_HANDLE h;
  CK_SLOT_ID slot;
  LOCAL(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_GetTokenInfo(1, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_Sign(1, NULL, 5, NULL, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_GetFunctionStatus(1), CKR_CRYPTOKI_NOT_INITIALIZED);
  LOCAL(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
  CHECK(n == 5, "count untouched");
  CHECK(fake_hellos() == 0, "nothing connected before C_Initialize");
}

static void test_initialize(void)
{
  CK_C_INITIALIZE_ARGS args;
  memset(&args, 0, sizeof(args));
  args.pReserved = &args;
  RV(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
  memset(&args, 0, sizeof(args));
  args.CreateMutex = dummy_mutex_create;
  RV(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
  args.DestroyMutex = dummy_mutex;
  args.LockMutex = dummy_mutex;
  RV(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
  args.UnlockMutex = dummy_mutex;
  args.flags = CKF_OS_LOCKING_OK;
  RV(f->C_Initialize(&args), CKR_OK);
  RV(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
  RV(f->C_Finalize(&args), CKR_ARGUMENTS_BAD);
  RV(f->C_Finalize(NULL), CKR_OK);
  RV(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
  memset(&args, 0, sizeof(args));
  args.flags = CKF_OS_LOCKING_OK;
  RV(f->C_Initialize(&args), CKR_OK);
  RV(f->C_Initialize(&args), CKR_CRYPTOKI_ALREADY_INITIALIZED);
  RV(f->C_Finalize(NULL), CKR_OK);
  RV(f->C_Initialize(NULL), CKR_OK);
  RV(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
  CHECK(fake_hellos() == 0, "C_Initialize does not connect");

  CK_INFO info;
  RV(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
  RV(f->C_GetInfo(&info), CKR_OK);
  CHECK(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40, "cryptokiVersion");
  CHECK(info.libraryVersion.major == 0 && info.libraryVersion.minor == 1, "libraryVersion");
  CHECK(blank_padded(info.manufacturerID, 32, "WIM project"), "manufacturerID blank-padded");
  CHECK(blank_padded(info.libraryDescription, 32, "WIM token PKCS#11 module"),
        "libraryDescription blank-padded");
  CHECK(info.flags == 0, "flags");

  CK_SLOT_ID slot;
  LOCAL(f->C_GetFunctionStatus(1), CKR_FUNCTION_NOT_PARALLEL);
  LOCAL(f->C_CancelFunction(1), CKR_FUNCTION_NOT_PARALLEL);
  LOCAL(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
  LOCAL(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, (void *)&slot), CKR_ARGUMENTS_BAD);
}

/* ── no agent ────────────────────────────────────────────────────────────────────────── */

#define NO_AGENT_SLOT 0x7FFFFFFFUL /* WIM_NO_AGENT_SLOT in pc/pkcs11/wim_internal.h */

/* The no-agent slot: the only one listed, without a token, its description `why`. */
static void check_offline_slot(const char *why)
{
  CK_SLOT_ID slots[4] = { 0 };
  CK_SLOT_INFO info;
  CK_ULONG n = 0;
  LOCAL(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
  CHECK(n == 1, "one slot without an agent (%lu)", n);
  n = 0;
  LOCAL(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_BUFFER_TOO_SMALL);
  CHECK(n == 1, "the count with a buffer too small (%lu)", n);
  n = 4;
  LOCAL(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
  CHECK(n == 1 && slots[0] == NO_AGENT_SLOT, "the no-agent slot (%lu: 0x%lx)", n, slots[0]);
  n = 4;
  LOCAL(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
  CHECK(n == 0, "no slot with a token (%lu)", n);
  memset(&info, 0, sizeof(info));
  LOCAL(f->C_GetSlotInfo(NO_AGENT_SLOT, &info), CKR_OK);
  CHECK(blank_padded(info.slotDescription, sizeof(info.slotDescription), why),
        "the slot says why: '%.64s' (want '%s')", info.slotDescription, why);
  CHECK(blank_padded(info.manufacturerID, sizeof(info.manufacturerID), "WIM project"), "slot manufacturer");
  CHECK(info.flags == (CKF_REMOVABLE_DEVICE | CKF_HW_SLOT), "removable, no token (flags 0x%lx)", info.flags);
  CHECK(info.hardwareVersion.major == 0 && info.firmwareVersion.major == 0, "no versions without the device");
}

/* Runs `fn` with stderr captured into `text`. */
static void capture_stderr(void (*fn)(void), char *text, size_t size)
{
  char path[300];
  snprintf(path, sizeof(path), "%s/stderr-offline.txt", tmpdir);
  fflush(stderr);
  int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
  dup2(fd, 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  lseek(fd, 0, SEEK_SET);
  ssize_t got = read(fd, text, size - 1);
  close(fd);
  unlink(path);
  text[got > 0 ? got : 0] = 0;
}

static void list_twice(void)
{
  CK_ULONG n = 0;
  RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
  RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
}

static void list_twice_debug(void)
{
  setenv("WIM_PKCS11_DEBUG", "1", 1);
  list_twice();
  unsetenv("WIM_PKCS11_DEBUG");
}

static void test_unreachable(void)
{
  CK_SLOT_ID slots[4];
  CK_ULONG n = 7;
  CK_SESSION_HANDLE h;
  CK_TOKEN_INFO token;
  CK_SLOT_INFO info;
  CK_MECHANISM_INFO mech;
  char text[4096];
  setenv("WIM_AGENT_SOCKET", missing_path, 1);
  check_offline_slot("WIM: no agent (systemctl --user start wim-agent.socket)");
  RV(f->C_GetSlotList(CK_TRUE, slots, NULL), CKR_ARGUMENTS_BAD);
  LOCAL(f->C_GetTokenInfo(NO_AGENT_SLOT, &token), CKR_TOKEN_NOT_PRESENT);
  LOCAL(f->C_OpenSession(NO_AGENT_SLOT, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_TOKEN_NOT_PRESENT);
  LOCAL(f->C_GetMechanismList(NO_AGENT_SLOT, NULL, &n), CKR_TOKEN_NOT_PRESENT);
  LOCAL(f->C_GetMechanismInfo(NO_AGENT_SLOT, CKM_SHA256, &mech), CKR_TOKEN_NOT_PRESENT);
  LOCAL(f->C_InitToken(NO_AGENT_SLOT, (CK_UTF8CHAR_PTR)"12345678", 8, (CK_UTF8CHAR_PTR)"WIM                             "), CKR_TOKEN_NOT_PRESENT);
  LOCAL(f->C_CloseAllSessions(NO_AGENT_SLOT), CKR_OK);
  /* another slot (the agent's, before it went away) and sessions: the device is gone */
  RV(f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_DEVICE_REMOVED);
  RV(f->C_GetTokenInfo(1, &token), CKR_DEVICE_REMOVED);
  RV(f->C_GetSlotInfo(0, &info), CKR_DEVICE_REMOVED);
  RV(f->C_Login(1, CKU_USER, (CK_UTF8CHAR_PTR)"123456", 6), CKR_DEVICE_REMOVED);
  RV(f->C_GenerateRandom(1, (CK_BYTE_PTR)slots, 8), CKR_DEVICE_REMOVED);
  RV(f->C_GetTokenInfo(1, NULL), CKR_ARGUMENTS_BAD); /* checks come before connecting */
  RV(f->C_GetSlotInfo(NO_AGENT_SLOT, NULL), CKR_ARGUMENTS_BAD);

  /* Quiet without WIM_PKCS11_DEBUG; with it, one line per attempt naming the path. */
  capture_stderr(list_twice, text, sizeof(text));
  CHECK(text[0] == 0, "no agent is not reported without debugging: '%s'", text);
  capture_stderr(list_twice_debug, text, sizeof(text));
  char want[1024];
  snprintf(want, sizeof(want), "wim-pkcs11: no agent at %s: no such socket\n", missing_path);
  CHECK(strstr(text, want) != NULL, "the debug line: '%s'", text);

  /* A stale socket (bound, nobody listening): connection refused. */
  char stale[100];
  snprintf(stale, sizeof(stale), "%s/stale.sock", tmpdir);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", stale);
  CHECK(s >= 0 && bind(s, (struct sockaddr *)&addr, sizeof(addr)) == 0, "a stale socket");
  close(s);
  setenv("WIM_AGENT_SOCKET", stale, 1);
  check_offline_slot("WIM: no agent listening (stale socket; start wim agent)");
  unlink(stale);

  /* A socket in a directory others may write: refused, said once on stderr, the slot says so. */
  char open_dir[300], open_sock[340];
  snprintf(open_dir, sizeof(open_dir), "%s/open", tmpdir);
  snprintf(open_sock, sizeof(open_sock), "%s/agent.sock", open_dir);
  mkdir(open_dir, 0700);
  chmod(open_dir, 0777);
  setenv("WIM_AGENT_SOCKET", open_sock, 1);
  capture_stderr(list_twice, text, sizeof(text));
  snprintf(want, sizeof(want), "wim-pkcs11: refusing agent socket %s: directory %s is writable by other users (mode 0777)\n",
           open_sock, open_dir);
  CHECK(strcmp(text, want) == 0, "the refusal, once: '%s'", text);
  check_offline_slot("WIM: agent socket refused (the reason is on stderr)");
  rmdir(open_dir);
  setenv("WIM_AGENT_SOCKET", missing_path, 1);

  /* The last fallback: /tmp/wim-<uid>/agent.sock (only checked when nothing is there). */
  char fallback[128];
  struct stat st;
  snprintf(fallback, sizeof(fallback), "/tmp/wim-%lu/agent.sock", (unsigned long)getuid());
  if (stat(fallback, &st) != 0) {
    unsetenv("WIM_AGENT_SOCKET");
    unsetenv("XDG_RUNTIME_DIR");
    n = 3;
    RV(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    CHECK(n == 0, "no agent at the fallback path");
  }
  CHECK(fake_requests() == 0 && fake_hellos() == 0, "nothing reached the fake agent");

  /* An agent of another protocol version: greeted, never asked anything, and the slot says so. */
  fake_set_hello_version(2);
  setenv("WIM_AGENT_SOCKET", agent_path, 1);
  check_offline_slot("WIM: agent speaks another protocol (update wim)");
  CHECK(fake_hellos() > 0 && fake_requests() == 0, "hello only (%d hellos, %d requests)", fake_hellos(), fake_requests());
  fake_set_hello_version(0);
  setenv("WIM_AGENT_SOCKET", missing_path, 1);
}

/* $XDG_RUNTIME_DIR/wim-agent.sock (the fake listens there). */
static void test_xdg_path(void)
{
  reply_items r = { .n = 0 };
  CK_ULONG n = 0;
  int hellos = fake_hellos();
  unsetenv("WIM_AGENT_SOCKET");
  setenv("XDG_RUNTIME_DIR", tmpdir, 1);
  ri_u64(&r, 2);
  ri_u32(&r, 0);
  EXPECT(4, "u:1 h:0:0", CKR_OK, &r, f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
  CHECK(n == 2, "slot count from the agent: %lu", n);
  CHECK(fake_hellos() == hellos + 1, "hello first, once (%d)", fake_hellos() - hellos);
  CHECK(fake_protocol_errors() == 0, "well-formed requests");
  setenv("WIM_AGENT_SOCKET", agent_path, 1);
  unsetenv("XDG_RUNTIME_DIR");
}

/* C_WaitForSlotEvent: the agent's answers to WIM_WaitForSlotEvent (after, since C_Initialize in ms, block):
 * none, then slot 5's event 1 through a blocking wait (on a connection of its own). */
static void test_slot_events(void)
{
  CK_SLOT_ID slot;
  int asked = fake_requests();
  EXPECT(AGENT_WIM_WaitForSlotEvent, "u:0 u:* u:0", 8 /* CKR_NO_EVENT */, NULL,
         f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_NO_EVENT);
  reply_items ev = { .n = 0 };
  ri_u64(&ev, 5);
  ri_u64(&ev, 1);
  slot = 0;
  EXPECT(AGENT_WIM_WaitForSlotEvent, "u:0 u:* u:1", CKR_OK, &ev, f->C_WaitForSlotEvent(0, &slot, NULL), CKR_OK);
  CHECK(slot == 5, "the event's slot, got %lu", (unsigned long)slot);
  /* the next wait asks for events after the one reported */
  EXPECT(AGENT_WIM_WaitForSlotEvent, "u:1 u:* u:0", 8, NULL, f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_NO_EVENT);
  CHECK(fake_requests() == asked + 3, "one request per C_WaitForSlotEvent");
  CHECK(fake_protocol_errors() == 0, "well-formed requests");
}

/* ── decoding the agent's replies ────────────────────────────────────────────────────── */

static void test_slots_and_tokens(void)
{
  reply_items r;
  CK_SLOT_ID slots[4] = { 99, 99, 99, 99 };
  CK_ULONG n = 4;

  r.n = 0;
  ri_u64(&r, 2);
  ri_u32(&r, 2);
  ri_u64(&r, 1);
  ri_u64(&r, 7);
  EXPECT(4, "u:0 h:1:4", CKR_OK, &r, f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
  CHECK(n == 2 && slots[0] == 1 && slots[1] == 7 && slots[2] == 99, "slot list copied");

  n = 1;
  r.n = 0;
  ri_u64(&r, 2);
  ri_u32(&r, 0);
  EXPECT(4, "u:0 h:1:1", CKR_BUFFER_TOO_SMALL, &r, f->C_GetSlotList(CK_FALSE, slots, &n),
         CKR_BUFFER_TOO_SMALL);
  CHECK(n == 2 && slots[0] == 1, "BUFFER_TOO_SMALL: count set, nothing copied");
  n = 1;
  EXPECT(4, "u:0 h:1:1", CKR_BUFFER_TOO_SMALL, NULL, f->C_GetSlotList(CK_FALSE, slots, &n),
         CKR_BUFFER_TOO_SMALL);
  CHECK(n == 1, "BUFFER_TOO_SMALL without items leaves the count");

  CK_SLOT_INFO si;
  memset(&si, 0, sizeof(si));
  r.n = 0;
  ri_text(&r, "WIM simulator slot");
  ri_text(&r, "WIM project");
  ri_u64(&r, CKF_TOKEN_PRESENT | CKF_HW_SLOT);
  ri_u64(&r, 1);
  ri_u64(&r, 2);
  ri_u64(&r, 3);
  ri_u64(&r, 4);
  EXPECT(5, "u:7", CKR_OK, &r, f->C_GetSlotInfo(7, &si), CKR_OK);
  CHECK(blank_padded(si.slotDescription, 64, "WIM simulator slot"), "slotDescription padded");
  CHECK(blank_padded(si.manufacturerID, 32, "WIM project"), "slot manufacturerID padded");
  CHECK(si.flags == (CKF_TOKEN_PRESENT | CKF_HW_SLOT), "slot flags");
  CHECK(si.hardwareVersion.major == 1 && si.hardwareVersion.minor == 2 &&
        si.firmwareVersion.major == 3 && si.firmwareVersion.minor == 4, "slot versions");
  LOCAL(f->C_GetSlotInfo(7, NULL), CKR_ARGUMENTS_BAD);

  CK_TOKEN_INFO ti;
  memset(&ti, 0, sizeof(ti));
  r.n = 0;
  ri_text(&r, "WIM");
  ri_text(&r, "WIM project");
  ri_text(&r, "WIM-ESP32");
  ri_text(&r, "0123456789ABCDEFXYZ"); /* longer than the field: cut to 16 */
  ri_u64(&r, CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED);
  for (uint64_t v = 10; v < 20; v++)
    ri_u64(&r, v);
  ri_u64(&r, 5);
  ri_u64(&r, 6);
  ri_u64(&r, 0);
  ri_u64(&r, 255);
  ri_text(&r, "2026112404000000");
  EXPECT(6, "u:1", CKR_OK, &r, f->C_GetTokenInfo(1, &ti), CKR_OK);
  CHECK(blank_padded(ti.label, 32, "WIM"), "label blank-padded: '%.32s'", ti.label);
  CHECK(blank_padded(ti.manufacturerID, 32, "WIM project"), "token manufacturerID");
  CHECK(blank_padded(ti.model, 16, "WIM-ESP32"), "model");
  CHECK(memcmp(ti.serialNumber, "0123456789ABCDEF", 16) == 0, "serial cut to 16");
  CHECK(ti.flags == (CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED),
        "token flags");
  CHECK(ti.ulMaxSessionCount == 10 && ti.ulSessionCount == 11 && ti.ulMaxRwSessionCount == 12 &&
        ti.ulRwSessionCount == 13 && ti.ulMaxPinLen == 14 && ti.ulMinPinLen == 15 &&
        ti.ulTotalPublicMemory == 16 && ti.ulFreePublicMemory == 17 &&
        ti.ulTotalPrivateMemory == 18 && ti.ulFreePrivateMemory == 19, "token counters");
  CHECK(ti.hardwareVersion.major == 5 && ti.hardwareVersion.minor == 6 &&
        ti.firmwareVersion.major == 0 && ti.firmwareVersion.minor == 255, "token versions");
  CHECK(memcmp(ti.utcTime, "2026112404000000", 16) == 0, "utcTime");

  /* A version byte out of range is a protocol error: CKR_DEVICE_ERROR, then a new connection. */
  int hellos = fake_hellos();
  r.n = 0;
  ri_text(&r, "WIM");
  ri_text(&r, "");
  ri_text(&r, "");
  ri_text(&r, "");
  for (int i = 0; i < 11; i++)
    ri_u64(&r, 0);
  ri_u64(&r, 256);
  ri_u64(&r, 0);
  ri_u64(&r, 0);
  ri_u64(&r, 0);
  ri_text(&r, "");
  EXPECT(6, "u:1", CKR_OK, &r, f->C_GetTokenInfo(1, &ti), CKR_DEVICE_ERROR);
  r.n = 0;
  ri_u64(&r, 1);
  ri_u32(&r, 0);
  n = 0;
  EXPECT(4, "u:1 h:0:0", CKR_OK, &r, f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
  CHECK(fake_hellos() == hellos + 1, "reconnected after a protocol error");

  CK_MECHANISM_TYPE mechs[3] = { 0 };
  r.n = 0;
  ri_u64(&r, 3);
  ri_u32(&r, 0);
  n = 0;
  EXPECT(7, "u:1 h:0:0", CKR_OK, &r, f->C_GetMechanismList(1, NULL, &n), CKR_OK);
  CHECK(n == 3, "mechanism count");
  r.n = 0;
  ri_u64(&r, 3);
  ri_u32(&r, 3);
  ri_u64(&r, CKM_RSA_PKCS);
  ri_u64(&r, CKM_ECDSA);
  ri_u64(&r, CKM_EDDSA);
  EXPECT(7, "u:1 h:1:3", CKR_OK, &r, f->C_GetMechanismList(1, mechs, &n), CKR_OK);
  CHECK(n == 3 && mechs[0] == CKM_RSA_PKCS && mechs[1] == CKM_ECDSA && mechs[2] == CKM_EDDSA,
        "mechanism list");
  r.n = 0;
  ri_u64(&r, 3);
  ri_u32(&r, 4); /* more handles than the buffer holds: a protocol error */
  for (int i = 0; i < 4; i++)
    ri_u64(&r, 1);
  EXPECT(7, "u:1 h:1:3", CKR_OK, &r, f->C_GetMechanismList(1, mechs, &n), CKR_DEVICE_ERROR);

  CK_MECHANISM_INFO mi;
  r.n = 0;
  ri_u64(&r, 2048);
  ri_u64(&r, 4096);
  ri_u64(&r, CKF_HW | CKF_SIGN | CKF_DECRYPT);
  EXPECT(8, "u:1 u:13", CKR_OK, &r, f->C_GetMechanismInfo(1, CKM_RSA_PKCS_PSS, &mi), CKR_OK);
  CHECK(mi.ulMinKeySize == 2048 && mi.ulMaxKeySize == 4096 &&
        mi.flags == (CKF_HW | CKF_SIGN | CKF_DECRYPT), "mechanism info");
  EXPECT(8, "u:1 u:4660", CKR_MECHANISM_INVALID, NULL, f->C_GetMechanismInfo(1, 0x1234, &mi),
         CKR_MECHANISM_INVALID);

  CK_UTF8CHAR label[32];
  char want[512];
  memset(label, ' ', 32);
  memcpy(label, "WIM", 3);
  snprintf(want, sizeof(want), "u:1 b:3132333435363738 b:%s", hx(label, 32));
  EXPECT(9, want, CKR_OK, NULL, f->C_InitToken(1, (CK_UTF8CHAR_PTR)"12345678", 8, label), CKR_OK);
  LOCAL(f->C_InitToken(1, (CK_UTF8CHAR_PTR)"12345678", 8, NULL), CKR_ARGUMENTS_BAD);
}

static void test_sessions_and_login(void)
{
  reply_items r = { .n = 0 };
  CK_SESSION_HANDLE h = 0;
  ri_u64(&r, 7);
  EXPECT(12, "u:1 u:6", CKR_OK, &r,
         f->C_OpenSession(1, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h), CKR_OK);
  CHECK(h == 7, "session handle");
  LOCAL(f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);

  CK_SESSION_INFO si;
  r.n = 0;
  ri_u64(&r, 1);
  ri_u64(&r, CKS_RW_USER_FUNCTIONS);
  ri_u64(&r, CKF_SERIAL_SESSION | CKF_RW_SESSION);
  ri_u64(&r, 0);
  EXPECT(15, "u:7", CKR_OK, &r, f->C_GetSessionInfo(7, &si), CKR_OK);
  CHECK(si.slotID == 1 && si.state == CKS_RW_USER_FUNCTIONS &&
        si.flags == (CKF_SERIAL_SESSION | CKF_RW_SESSION) && si.ulDeviceError == 0, "session info");
  LOCAL(f->C_GetSessionInfo(7, NULL), CKR_ARGUMENTS_BAD);

  EXPECT(18, "u:7 u:1 b:313233343536", CKR_OK, NULL,
         f->C_Login(7, CKU_USER, (CK_UTF8CHAR_PTR)"123456", 6), CKR_OK);
  EXPECT(18, "u:7 u:2 b:NULL", CKR_OK, NULL, f->C_Login(7, CKU_CONTEXT_SPECIFIC, NULL, 0), CKR_OK);
  EXPECT(18, "u:7 u:0 b:", CKR_PIN_INCORRECT, NULL,
         f->C_Login(7, CKU_SO, (CK_UTF8CHAR_PTR)"", 0), CKR_PIN_INCORRECT);
  LOCAL(f->C_Login(7, CKU_USER, NULL, 6), CKR_ARGUMENTS_BAD);

  /* An rv without items must come without items. */
  r.n = 0;
  ri_u64(&r, 1);
  EXPECT(19, "u:7", CKR_OK, &r, f->C_Logout(7), CKR_DEVICE_ERROR);
}

static void test_objects(void)
{
  reply_items r;
  char want[1024];
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_BYTE id[] = { 1, 2 };
  CK_ATTRIBUTE tpl[] = {
    { CKA_CLASS, &cls, sizeof(cls) },
    { CKA_ID, id, sizeof(id) },
    { CKA_LABEL, NULL, 0 },
  };
  EXPECT(26, "u:7 t[0x0=0300000000000000,0x102=0102,0x3=NULL]", CKR_OK, NULL,
         f->C_FindObjectsInit(7, tpl, 3), CKR_OK);
  EXPECT(26, "u:7 t[]", CKR_OK, NULL, f->C_FindObjectsInit(7, NULL, 0), CKR_OK);
  LOCAL(f->C_FindObjectsInit(7, NULL, 1), CKR_ARGUMENTS_BAD);
  tpl[2].ulValueLen = 4; /* NULL value with a length */
  LOCAL(f->C_FindObjectsInit(7, tpl, 3), CKR_ARGUMENTS_BAD);

  CK_OBJECT_HANDLE objs[10] = { 0 };
  CK_ULONG count = 99;
  r.n = 0;
  ri_u64(&r, 2);
  ri_u32(&r, 2);
  ri_u64(&r, 0x11);
  ri_u64(&r, 0x22);
  EXPECT(27, "u:7 u:10", CKR_OK, &r, f->C_FindObjects(7, objs, 10, &count), CKR_OK);
  CHECK(count == 2 && objs[0] == 0x11 && objs[1] == 0x22 && objs[2] == 0, "found objects");
  LOCAL(f->C_FindObjects(7, NULL, 10, &count), CKR_ARGUMENTS_BAD);
  LOCAL(f->C_FindObjects(7, objs, 10, NULL), CKR_ARGUMENTS_BAD);
  EXPECT(28, "u:7", CKR_OK, NULL, f->C_FindObjectsFinal(7), CKR_OK);

  /* Attribute query: a size query, a sensitive attribute, values that fit. */
  CK_BYTE exponent[256], label[64];
  CK_KEY_TYPE kt = 77;
  CK_ATTRIBUTE q[] = {
    { CKA_MODULUS, NULL, 0 },
    { CKA_PRIVATE_EXPONENT, exponent, sizeof(exponent) },
    { CKA_LABEL, label, sizeof(label) },
    { CKA_KEY_TYPE, &kt, sizeof(kt) },
  };
  r.n = 0;
  ri_u32(&r, 4);
  ri_u64(&r, 256);
  ri_u32(&r, 0);
  ri_u64(&r, CK_UNAVAILABLE_INFORMATION);
  ri_u32(&r, 0);
  ri_u64(&r, 4);
  ri_bytes(&r, "key1", 4);
  ri_u64(&r, 8);
  ri_bytes(&r, "\0\0\0\0\0\0\0\0", 8);
  EXPECT(24, "u:7 u:17 q[0x120:0:0,0x123:1:256,0x3:1:64,0x100:1:8]", CKR_ATTRIBUTE_SENSITIVE, &r,
         f->C_GetAttributeValue(7, 17, q, 4), CKR_ATTRIBUTE_SENSITIVE);
  CHECK(q[0].ulValueLen == 256 && q[1].ulValueLen == CK_UNAVAILABLE_INFORMATION &&
        q[2].ulValueLen == 4 && q[3].ulValueLen == 8, "attribute lengths");
  CHECK(memcmp(label, "key1", 4) == 0 && kt == CKK_RSA, "attribute values copied");

  q[0].ulValueLen = 0;
  r.n = 0;
  ri_u32(&r, 1);
  ri_u64(&r, CK_UNAVAILABLE_INFORMATION);
  ri_u32(&r, 0);
  EXPECT(24, "u:7 u:17 q[0x120:0:0]", CKR_ATTRIBUTE_TYPE_INVALID, &r,
         f->C_GetAttributeValue(7, 17, q, 1), CKR_ATTRIBUTE_TYPE_INVALID);
  CHECK(q[0].ulValueLen == CK_UNAVAILABLE_INFORMATION, "unavailable information");

  q[2].ulValueLen = 2; /* the agent sends more than fits: a protocol error */
  r.n = 0;
  ri_u32(&r, 1);
  ri_u64(&r, 4);
  ri_bytes(&r, "key1", 4);
  EXPECT(24, "u:7 u:17 q[0x3:1:2]", CKR_OK, &r, f->C_GetAttributeValue(7, 17, &q[2], 1),
         CKR_DEVICE_ERROR);
  LOCAL(f->C_GetAttributeValue(7, 17, NULL, 2), CKR_ARGUMENTS_BAD);

  CK_OBJECT_HANDLE obj = 0;
  r.n = 0;
  ri_u64(&r, 33);
  snprintf(want, sizeof(want), "u:7 t[0x0=0300000000000000,0x102=0102]");
  EXPECT(20, want, CKR_OK, &r, f->C_CreateObject(7, tpl, 2, &obj), CKR_OK);
  CHECK(obj == 33, "created object");
  LOCAL(f->C_CreateObject(7, tpl, 2, NULL), CKR_ARGUMENTS_BAD);
}

static void test_crypto(void)
{
  reply_items r;
  char want[2048];
  CK_BYTE data[32], buf[256];
  CK_ULONG len;
  for (int i = 0; i < 32; i++)
    data[i] = (CK_BYTE)i;

  CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
  CK_MECHANISM m = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
  EXPECT(42, "u:7 m:0xd:500200000000000002000000000000002000000000000000 u:17", CKR_OK, NULL,
         f->C_SignInit(7, &m, 17), CKR_OK);
  LOCAL(f->C_SignInit(7, NULL, 17), CKR_ARGUMENTS_BAD);
  m.pParameter = NULL; /* NULL parameter with a length */
  LOCAL(f->C_SignInit(7, &m, 17), CKR_ARGUMENTS_BAD);
  m.ulParameterLen = 0;
  EXPECT(42, "u:7 m:0xd: u:17", CKR_OK, NULL, f->C_SignInit(7, &m, 17), CKR_OK);

  /* The size-query convention. */
  len = 0;
  r.n = 0;
  ri_u64(&r, 256);
  ri_u32(&r, 0);
  snprintf(want, sizeof(want), "u:7 b:%s o:0:0", hx(data, 32));
  EXPECT(43, want, CKR_OK, &r, f->C_Sign(7, data, 32, NULL, &len), CKR_OK);
  CHECK(len == 256, "size query: %lu", len);
  len = 10;
  snprintf(want, sizeof(want), "u:7 b:%s o:1:10", hx(data, 32));
  EXPECT(43, want, CKR_BUFFER_TOO_SMALL, &r, f->C_Sign(7, data, 32, buf, &len),
         CKR_BUFFER_TOO_SMALL);
  CHECK(len == 256, "BUFFER_TOO_SMALL gives the size: %lu", len);
  len = 256;
  r.n = 0;
  ri_u64(&r, 4);
  ri_bytes(&r, "sig!", 4);
  snprintf(want, sizeof(want), "u:7 b:%s o:1:256", hx(data, 32));
  EXPECT(43, want, CKR_OK, &r, f->C_Sign(7, data, 32, buf, &len), CKR_OK);
  CHECK(len == 4 && memcmp(buf, "sig!", 4) == 0, "signature copied");
  len = 3; /* more bytes than the buffer holds: a protocol error */
  snprintf(want, sizeof(want), "u:7 b:%s o:1:3", hx(data, 32));
  EXPECT(43, want, CKR_OK, &r, f->C_Sign(7, data, 32, buf, &len), CKR_DEVICE_ERROR);
  LOCAL(f->C_Sign(7, data, 32, buf, NULL), CKR_ARGUMENTS_BAD);
  LOCAL(f->C_Sign(7, NULL, 5, buf, &len), CKR_ARGUMENTS_BAD);
  len = 8;
  EXPECT(43, "u:7 b:NULL o:1:8", CKR_OPERATION_NOT_INITIALIZED, NULL,
         f->C_Sign(7, NULL, 0, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
  CHECK(len == 8, "no items, length untouched");

  /* Flattened parameters: OAEP, ECDH1, EdDSA. */
  CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, "label", 5 };
  m = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
  EXPECT(33,
         "u:7 m:0x9:50020000000000000200000000000000010000000000000005000000"
         "6c6162656c u:18",
         CKR_OK, NULL, f->C_DecryptInit(7, &m, 18), CKR_OK);
  oaep.pSourceData = NULL;
  oaep.ulSourceDataLen = 0;
  EXPECT(33, "u:7 m:0x9:50020000000000000200000000000000010000000000000000000000 u:18", CKR_OK,
         NULL, f->C_DecryptInit(7, &m, 18), CKR_OK);
  oaep.ulSourceDataLen = 3;
  LOCAL(f->C_DecryptInit(7, &m, 18), CKR_MECHANISM_PARAM_INVALID);
  m.ulParameterLen = 24;
  LOCAL(f->C_DecryptInit(7, &m, 18), CKR_MECHANISM_PARAM_INVALID);

  CK_BYTE pub[65];
  memset(pub, 0x04, sizeof(pub));
  CK_ECDH1_DERIVE_PARAMS ecdh = { CKD_NULL, 0, NULL, sizeof(pub), pub };
  CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
  CK_ATTRIBUTE dtpl[] = { { CKA_KEY_TYPE, &kt, sizeof(kt) } };
  CK_OBJECT_HANDLE key = 0;
  m = (CK_MECHANISM){ CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh) };
  r.n = 0;
  ri_u64(&r, 99);
  snprintf(want, sizeof(want), "u:7 m:0x1050:01000000000000000000000041000000%s u:19 "
           "t[0x100=1000000000000000]", hx(pub, 65));
  EXPECT(62, want, CKR_OK, &r, f->C_DeriveKey(7, &m, 19, dtpl, 1, &key), CKR_OK);
  CHECK(key == 99, "derived key handle");

  CK_EDDSA_PARAMS eddsa = { 1, 3, (CK_BYTE_PTR)"ctx" };
  m = (CK_MECHANISM){ CKM_EDDSA, &eddsa, sizeof(eddsa) };
  EXPECT(42, "u:7 m:0x1057:0103000000637478 u:20", CKR_OK, NULL, f->C_SignInit(7, &m, 20), CKR_OK);
  m = (CK_MECHANISM){ CKM_EDDSA, NULL, 0 };
  EXPECT(42, "u:7 m:0x1057: u:20", CKR_OK, NULL, f->C_SignInit(7, &m, 20), CKR_OK);

  /* Key pair generation: two templates, two handles. */
  CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
  CK_BBOOL yes = CK_TRUE;
  CK_ATTRIBUTE pubt[] = { { CKA_EC_PARAMS, p256, sizeof(p256) }, { CKA_TOKEN, &yes, 1 } };
  CK_ATTRIBUTE privt[] = { { CKA_SIGN, &yes, 1 }, { CKA_ID, "\x01", 1 } };
  CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
  m = (CK_MECHANISM){ CKM_EC_KEY_PAIR_GEN, NULL, 0 };
  r.n = 0;
  ri_u64(&r, 21);
  ri_u64(&r, 22);
  EXPECT(59, "u:7 m:0x1040: t[0x180=06082a8648ce3d030107,0x1=01] t[0x108=01,0x102=01]", CKR_OK,
         &r, f->C_GenerateKeyPair(7, &m, pubt, 2, privt, 2, &hpub, &hpriv), CKR_OK);
  CHECK(hpub == 21 && hpriv == 22, "key pair handles");
  LOCAL(f->C_GenerateKeyPair(7, &m, pubt, 2, privt, 2, &hpub, NULL), CKR_ARGUMENTS_BAD);

  /* Random: exactly the length asked for. */
  CK_BYTE rnd[16] = { 0 };
  r.n = 0;
  ri_bytes(&r, "0123456789abcdef", 16);
  EXPECT(64, "u:7 u:16", CKR_OK, &r, f->C_GenerateRandom(7, rnd, 16), CKR_OK);
  CHECK(memcmp(rnd, "0123456789abcdef", 16) == 0, "random bytes");
  r.n = 0;
  ri_bytes(&r, "0123456789abcde", 15);
  EXPECT(64, "u:7 u:16", CKR_OK, &r, f->C_GenerateRandom(7, rnd, 16), CKR_DEVICE_ERROR);
  LOCAL(f->C_GenerateRandom(7, NULL, 16), CKR_ARGUMENTS_BAD);

  EXPECT(49, "u:7 b:6162 b:7369", CKR_SIGNATURE_INVALID, NULL,
         f->C_Verify(7, (CK_BYTE_PTR)"ab", 2, (CK_BYTE_PTR)"si", 2), CKR_SIGNATURE_INVALID);
}

/* Every other forwarded function once: its request line and the rv passed through. */
static void test_every_function(void)
{
  CK_BYTE b[8];
  CK_ULONG len = 8, size = 0;
  CK_OBJECT_HANDLE h = 0;
  CK_BBOOL yes = CK_TRUE;
  CK_ATTRIBUTE t[] = { { CKA_TOKEN, &yes, 1 } };
  CK_MECHANISM sha = { CKM_SHA256, NULL, 0 };
  CK_RV no = CKR_FUNCTION_FAILED;
  CK_UTF8CHAR pin[] = "1234";
#define ONE(fn, line, call) EXPECT(fn, line, no, NULL, call, no)
  ONE(10, "u:7 b:31323334", f->C_InitPIN(7, pin, 4));
  ONE(11, "u:7 b:31323334 b:3132", f->C_SetPIN(7, pin, 4, pin, 2));
  ONE(13, "u:7", f->C_CloseSession(7));
  ONE(14, "u:1", f->C_CloseAllSessions(1));
  ONE(16, "u:7 o:1:8", f->C_GetOperationState(7, b, &len));
  ONE(17, "u:7 b:3132 u:3 u:4", f->C_SetOperationState(7, pin, 2, 3, 4));
  ONE(19, "u:7", f->C_Logout(7));
  ONE(21, "u:7 u:5 t[0x1=01]", f->C_CopyObject(7, 5, t, 1, &h));
  ONE(22, "u:7 u:5", f->C_DestroyObject(7, 5));
  ONE(23, "u:7 u:5", f->C_GetObjectSize(7, 5, &size));
  ONE(25, "u:7 u:5 t[0x1=01]", f->C_SetAttributeValue(7, 5, t, 1));
  ONE(29, "u:7 m:0x250: u:5", f->C_EncryptInit(7, &sha, 5));
  ONE(30, "u:7 b:3132 o:0:8", f->C_Encrypt(7, pin, 2, NULL, &len));
  ONE(31, "u:7 b:3132 o:1:8", f->C_EncryptUpdate(7, pin, 2, b, &len));
  ONE(32, "u:7 o:1:8", f->C_EncryptFinal(7, b, &len));
  ONE(34, "u:7 b:3132 o:1:8", f->C_Decrypt(7, pin, 2, b, &len));
  ONE(35, "u:7 b:3132 o:1:8", f->C_DecryptUpdate(7, pin, 2, b, &len));
  ONE(36, "u:7 o:1:8", f->C_DecryptFinal(7, b, &len));
  ONE(37, "u:7 m:0x250:", f->C_DigestInit(7, &sha));
  ONE(38, "u:7 b:3132 o:1:8", f->C_Digest(7, pin, 2, b, &len));
  ONE(39, "u:7 b:3132", f->C_DigestUpdate(7, pin, 2));
  ONE(40, "u:7 u:5", f->C_DigestKey(7, 5));
  ONE(41, "u:7 o:1:8", f->C_DigestFinal(7, b, &len));
  ONE(44, "u:7 b:3132", f->C_SignUpdate(7, pin, 2));
  ONE(45, "u:7 o:1:8", f->C_SignFinal(7, b, &len));
  ONE(46, "u:7 m:0x250: u:5", f->C_SignRecoverInit(7, &sha, 5));
  ONE(47, "u:7 b:3132 o:1:8", f->C_SignRecover(7, pin, 2, b, &len));
  ONE(48, "u:7 m:0x250: u:5", f->C_VerifyInit(7, &sha, 5));
  ONE(50, "u:7 b:3132", f->C_VerifyUpdate(7, pin, 2));
  ONE(51, "u:7 b:3132", f->C_VerifyFinal(7, pin, 2));
  ONE(52, "u:7 m:0x250: u:5", f->C_VerifyRecoverInit(7, &sha, 5));
  ONE(53, "u:7 b:3132 o:1:8", f->C_VerifyRecover(7, pin, 2, b, &len));
  ONE(54, "u:7 b:3132 o:1:8", f->C_DigestEncryptUpdate(7, pin, 2, b, &len));
  ONE(55, "u:7 b:3132 o:1:8", f->C_DecryptDigestUpdate(7, pin, 2, b, &len));
  ONE(56, "u:7 b:3132 o:1:8", f->C_SignEncryptUpdate(7, pin, 2, b, &len));
  ONE(57, "u:7 b:3132 o:1:8", f->C_DecryptVerifyUpdate(7, pin, 2, b, &len));
  ONE(58, "u:7 m:0x250: t[0x1=01]", f->C_GenerateKey(7, &sha, t, 1, &h));
  ONE(60, "u:7 m:0x250: u:5 u:6 o:1:8", f->C_WrapKey(7, &sha, 5, 6, b, &len));
  ONE(61, "u:7 m:0x250: u:5 b:3132 t[0x1=01]", f->C_UnwrapKey(7, &sha, 5, pin, 2, t, 1, &h));
  ONE(63, "u:7 b:31323334", f->C_SeedRandom(7, pin, 4));
#undef ONE
  CHECK(len == 8 && h == 0 && size == 0, "outputs untouched on failure");
}

/* ── connection life ─────────────────────────────────────────────────────────────────── */

/* Issue 10, finding 7: a request over the agent's 1 MiB frame limit (MAX_REQUEST in
 * pc/agent/wire.ts, WIM_MAX_REQUEST in marshal.c) is refused with a CK_RV and never sent, so the
 * connection and the application's sessions stay; C_GenerateRandom has a 1 MiB per-call maximum. */
static void test_limits(void)
{
  reply_items r = { .n = 0 };
  CK_ULONG n = 0, big = 1024 * 1024 + 1;
  uint8_t *data = calloc(1, big);
  CK_BYTE out[16];
  CK_ULONG out_len = sizeof(out);
  CK_ATTRIBUTE tpl[] = { { CKA_VALUE, data, big } };
  ri_u64(&r, 1);
  ri_u32(&r, 0);
  int hellos = fake_hellos();
  /* an operation's over-long input is never sent; the call failed, so the module ends the operation
   * at the agent with the same call and no input (PKCS#11: a failed call ends its operation) */
  ENDS(43, "u:1 b:NULL o:1:1048576", f->C_Sign(1, data, big, out, &out_len), CKR_DATA_LEN_RANGE);
  ENDS(30, "u:1 b:NULL o:1:1048576", f->C_Encrypt(1, data, big, out, &out_len), CKR_DATA_LEN_RANGE);
  ENDS(34, "u:1 b:NULL o:1:1048576", f->C_Decrypt(1, data, big, out, &out_len), CKR_ENCRYPTED_DATA_LEN_RANGE);
  ENDS(49, "u:1 b:NULL b:NULL", f->C_Verify(1, data, 4, data, big), CKR_SIGNATURE_LEN_RANGE);
  LOCAL(f->C_Login(1, CKU_USER, data, big), CKR_PIN_LEN_RANGE);
  LOCAL(f->C_SetPIN(1, data, 4, data, big), CKR_PIN_LEN_RANGE);
  LOCAL(f->C_CreateObject(1, tpl, 1, &n), CKR_DEVICE_MEMORY);
  LOCAL(f->C_FindObjectsInit(1, tpl, 1), CKR_DEVICE_MEMORY);
  LOCAL(f->C_DigestInit(1, &(CK_MECHANISM){ CKM_SHA256, data, big }), CKR_DEVICE_MEMORY);
  ENDS(43, "u:1 b:NULL o:1:1048576", f->C_Sign(1, data, (CK_ULONG)1 << 40, out, &out_len), CKR_DATA_LEN_RANGE);
  LOCAL(f->C_GenerateRandom(1, data, big), CKR_ARGUMENTS_BAD);
  LOCAL(f->C_GenerateRandom(1, data, (CK_ULONG)1 << 63), CKR_ARGUMENTS_BAD);
  /* one byte over: a C_Sign body is u32 fn + u64 + u32 n + n + u8 + u64 = n + 25 bytes */
  ENDS(43, "u:1 b:NULL o:1:1048576", f->C_Sign(1, data, 1024 * 1024 - 24, out, &out_len), CKR_DATA_LEN_RANGE);
  EXPECT(4, "u:0 h:0:0", CKR_OK, &r, f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
  CHECK(n == 1 && fake_hellos() == hellos, "the connection stayed (%d reconnects)", fake_hellos() - hellos);
  free(data);
}

static void test_connection(void)
{
  reply_items r = { .n = 0 };
  CK_ULONG n = 0;
  ri_u64(&r, 1);
  ri_u32(&r, 0);

  /* Lost connection: this call fails, the next reconnects. */
  int hellos = fake_hellos();
  fake_expect_drop(13, "u:7");
  RV(f->C_CloseSession(7), CKR_DEVICE_REMOVED);
  CHECK(fake_served_ok(), "request before the drop");
  EXPECT(4, "u:0 h:0:0", CKR_OK, &r, f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
  CHECK(n == 1 && fake_hellos() == hellos + 1, "reconnected after a lost connection");

  /* Lost, and the agent is gone: no token, the device is removed; then it is back. */
  fake_expect_drop(13, "u:7");
  RV(f->C_CloseSession(7), CKR_DEVICE_REMOVED);
  setenv("WIM_AGENT_SOCKET", missing_path, 1);
  n = 5;
  LOCAL(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
  CHECK(n == 0, "no token while the agent is gone");
  LOCAL(f->C_CloseSession(7), CKR_DEVICE_REMOVED);
  setenv("WIM_AGENT_SOCKET", agent_path, 1);
  EXPECT(4, "u:0 h:0:0", CKR_OK, &r, f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
  CHECK(n == 1, "agent back");

  /* fork: the child opens its own connection; the parent keeps its own. */
  hellos = fake_hellos();
  fake_expect(4, "u:1 h:0:0", CKR_OK, &r);
  pid_t pid = fork();
  if (pid == 0) {
    CK_ULONG c = 0;
    CK_RV rv = f->C_GetSlotList(CK_TRUE, NULL, &c);
    _exit(rv == CKR_OK && c == 1 ? 0 : 1);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child's call");
  CHECK(fake_served_ok(), "child's request");
  CHECK(fake_hellos() == hellos + 1, "the child said hello on its own connection");
  n = 0;
  EXPECT(4, "u:0 h:0:0", CKR_OK, &r, f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
  CHECK(fake_hellos() == hellos + 1, "the parent's connection is still up");
  CHECK(fake_protocol_errors() == 0, "no malformed requests so far");
}

#define THREADS 8
#define CALLS 200

static void *thread_main(void *arg)
{
  long t = (long)arg, errors = 0;
  for (long i = 0; i < CALLS; i++) {
    CK_SESSION_INFO si;
    CK_SESSION_HANDLE h = (CK_SESSION_HANDLE)(t * 1000 + i + 1);
    if (f->C_GetSessionInfo(h, &si) != CKR_OK || si.slotID != h || si.state != h + 1)
      errors++;
  }
  return (void *)errors;
}

static void test_threads(void)
{
  pthread_t th[THREADS];
  long errors = 0;
  fake_set_echo(1);
  for (long t = 0; t < THREADS; t++)
    pthread_create(&th[t], NULL, thread_main, (void *)t);
  for (long t = 0; t < THREADS; t++) {
    void *e;
    pthread_join(th[t], &e);
    errors += (long)e;
  }
  fake_set_echo(0);
  CHECK(errors == 0 && fake_echo_errors() == 0, "%d threads x %d calls: %ld errors", THREADS,
        CALLS, errors);
}

/* WIM_PKCS11_DEBUG=1 names functions and rv, never a PIN. */
static void test_debug_output(void)
{
  char path[300], text[4096] = "";
  snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
  fflush(stderr);
  int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
  dup2(fd, 2);
  setenv("WIM_PKCS11_DEBUG", "1", 1);
  fake_expect(18, "u:7 u:1 b:7365637265742d70696e2d34373131", CKR_OK, NULL);
  CK_RV rv = f->C_Login(7, CKU_USER, (CK_UTF8CHAR_PTR)"secret-pin-4711", 15);
  unsetenv("WIM_PKCS11_DEBUG");
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  lseek(fd, 0, SEEK_SET);
  ssize_t got = read(fd, text, sizeof(text) - 1);
  close(fd);
  text[got > 0 ? got : 0] = 0;
  CHECK(rv == CKR_OK && fake_served_ok(), "login with debugging on");
  CHECK(strstr(text, "C_Login") != NULL, "debug names the function: '%s'", text);
  CHECK(strstr(text, "secret") == NULL && strstr(text, "736563726574") == NULL,
        "debug output holds no PIN");
}

static void test_finalize(void)
{
  int eofs = fake_eofs(), hellos = fake_hellos();
  CK_ULONG n = 0;
  RV(f->C_Finalize(NULL), CKR_OK);
  wait_for(fake_eofs, eofs + 1);
  CHECK(fake_eofs() == eofs + 1, "C_Finalize closes the connection");
  LOCAL(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
  RV(f->C_Initialize(NULL), CKR_OK);
  reply_items r = { .n = 0 };
  ri_u64(&r, 1);
  ri_u32(&r, 0);
  n = 0;
  EXPECT(4, "u:0 h:0:0", CKR_OK, &r, f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
  CHECK(fake_hellos() == hellos + 1, "a new connection after C_Initialize");
  RV(f->C_Finalize(NULL), CKR_OK);
}

int main(int argc, char **argv)
{
  const char *module = argc > 1 ? argv[1] : "build/libwim-pkcs11.so";
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(agent_path, sizeof(agent_path), "%s/wim-agent.sock", tmpdir);
  snprintf(missing_path, sizeof(missing_path), "%s/missing.sock", tmpdir);
  unsetenv("WIM_PKCS11_DEBUG");
  setenv("WIM_AGENT_SOCKET", agent_path, 1);
  if (!fake_start(agent_path)) {
    perror("fake agent");
    return 1;
  }
  lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen %s: %s\n", module, dlerror());
    return 1;
  }

  test_layout();
  test_function_tables();
  test_exports(module);
  test_before_initialize();
  test_initialize();
  test_unreachable();
  test_xdg_path();
  test_slot_events();
  test_slots_and_tokens();
  test_sessions_and_login();
  test_objects();
  test_crypto();
  test_every_function();
  test_limits();
  test_connection();
  test_threads();
  test_debug_output();
  test_finalize();
  CHECK(fake_protocol_errors() == 0, "every request was well-formed (%d not)",
        fake_protocol_errors());

  fake_stop();
  unlink(agent_path);
  char path[300];
  snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
  unlink(path);
  rmdir(tmpdir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
