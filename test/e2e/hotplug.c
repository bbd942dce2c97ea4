/*
 * hotplug.c — a long-lived PKCS#11 application for test/e2e/hotplug.test.ts: it loads the module
 * once and runs one command per line from stdin, answering one line each, so that the test can
 * unplug and replug a device under its open sessions. Commands:
 *   slots               every known slot: "slots ID:PRESENT ..." (C_GetSlotList(FALSE) + C_GetSlotInfo)
 *   token SLOT          "rv 0x.. serial S" (C_GetTokenInfo)
 *   open SLOT           "rv 0x.. session H"
 *   login H PIN         "rv 0x.."
 *   sign H              signs 32 bytes with the first private EC key (CKM_ECDSA): "rv 0x.. len N"
 *   close H             "rv 0x.."
 *   poll                C_WaitForSlotEvent(CKF_DONT_BLOCK): "rv 0x.. slot S"
 *   wait                C_WaitForSlotEvent(0): "rv 0x.. slot S"
 *   finalize-wait       a thread blocks in C_WaitForSlotEvent, C_Finalize runs: "rv 0x.." (the wait's)
 * Slot IDs and handles are decimal.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wim_pkcs11.h"

static CK_FUNCTION_LIST_PTR f;

static CK_RV sign(CK_SESSION_HANDLE s, CK_ULONG *len)
{
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_KEY_TYPE type = CKK_EC;
  CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &type, sizeof type } };
  CK_OBJECT_HANDLE key;
  CK_ULONG n = 0;
  CK_RV rv = f->C_FindObjectsInit(s, t, 2);
  if (rv != CKR_OK)
    return rv;
  rv = f->C_FindObjects(s, &key, 1, &n);
  f->C_FindObjectsFinal(s);
  if (rv != CKR_OK)
    return rv;
  if (n != 1)
    return CKR_KEY_HANDLE_INVALID;
  CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
  CK_BYTE data[32], sig[256];
  memset(data, 0x5a, sizeof data);
  *len = sizeof sig;
  rv = f->C_SignInit(s, &m, key);
  return rv != CKR_OK ? rv : f->C_Sign(s, data, sizeof data, sig, len);
}

static void *waiter(void *out)
{
  CK_SLOT_ID slot;
  *(CK_RV *)out = f->C_WaitForSlotEvent(0, &slot, NULL);
  return NULL;
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: hotplug MODULE\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  CK_C_GetFunctionList get = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
  if (!get || get(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
    fprintf(stderr, "hotplug: cannot load %s\n", argv[1]);
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[32] = "", arg[256] = "";
    unsigned long a = 0;
    if (sscanf(line, "%31s %lu %255s", cmd, &a, arg) < 1)
      continue;
    if (!strcmp(cmd, "slots")) {
      CK_SLOT_ID ids[16];
      CK_ULONG n = 16;
      CK_RV rv = f->C_GetSlotList(CK_FALSE, ids, &n);
      printf("slots");
      for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        CK_SLOT_INFO info;
        CK_RV r = f->C_GetSlotInfo(ids[i], &info);
        printf(" %lu:%d", (unsigned long)ids[i], r == CKR_OK && (info.flags & CKF_TOKEN_PRESENT) ? 1 : 0);
      }
      printf("\n");
    } else if (!strcmp(cmd, "token")) {
      CK_TOKEN_INFO info;
      CK_RV rv = f->C_GetTokenInfo(a, &info);
      printf("rv 0x%lx serial %.16s\n", (unsigned long)rv, rv == CKR_OK ? (char *)info.serialNumber : "-");
    } else if (!strcmp(cmd, "open")) {
      CK_SESSION_HANDLE h = 0;
      CK_RV rv = f->C_OpenSession(a, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
      printf("rv 0x%lx session %lu\n", (unsigned long)rv, (unsigned long)h);
    } else if (!strcmp(cmd, "login")) {
      printf("rv 0x%lx\n", (unsigned long)f->C_Login(a, CKU_USER, (CK_UTF8CHAR_PTR)arg, strlen(arg)));
    } else if (!strcmp(cmd, "sign")) {
      CK_ULONG len = 0;
      CK_RV rv = sign(a, &len);
      printf("rv 0x%lx len %lu\n", (unsigned long)rv, (unsigned long)len);
    } else if (!strcmp(cmd, "close")) {
      printf("rv 0x%lx\n", (unsigned long)f->C_CloseSession(a));
    } else if (!strcmp(cmd, "poll") || !strcmp(cmd, "wait")) {
      CK_SLOT_ID slot = 0;
      CK_RV rv = f->C_WaitForSlotEvent(!strcmp(cmd, "poll") ? CKF_DONT_BLOCK : 0, &slot, NULL);
      printf("rv 0x%lx slot %lu\n", (unsigned long)rv, (unsigned long)slot);
    } else if (!strcmp(cmd, "finalize-wait")) {
      CK_RV rv = CKR_GENERAL_ERROR;
      pthread_t t;
      pthread_create(&t, NULL, waiter, &rv);
      usleep(300 * 1000);
      f->C_Finalize(NULL);
      pthread_join(t, NULL);
      printf("rv 0x%lx\n", (unsigned long)rv);
      return 0;
    } else {
      printf("unknown %s\n", cmd);
    }
  }
  f->C_Finalize(NULL);
  return 0;
}
