/*
 * module.c — what the module answers itself: C_Initialize, C_Finalize, C_GetInfo,
 * C_GetFunctionList, the PKCS#11 3.0 interfaces, the legacy parallel functions, and the v3.0
 * functions the token does not offer. C_WaitForSlotEvent is in events.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wim_internal.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;

int wim_is_initialized(void)
{
  return __atomic_load_n(&initialized, __ATOMIC_ACQUIRE);
}

/* WIM_PKCS11_DEBUG=1: one line per call with the function's name and rv, never arguments. */
CK_RV wim_debug_rv(const char *name, CK_RV rv)
{
  const char *debug = getenv("WIM_PKCS11_DEBUG");
  if (debug && *debug && strcmp(debug, "0") != 0)
    fprintf(stderr, "wim-pkcs11: %s -> 0x%08lx\n", name, (unsigned long)rv);
  return rv;
}

/* Blank-padded, not NUL-terminated (PKCS#11 text fields). */
static void blank_pad(CK_UTF8CHAR *field, size_t size, const char *text)
{
  size_t n = strlen(text);
  if (n > size)
    n = size;
  memcpy(field, text, n);
  memset(field + n, ' ', size - n);
}

/* ── initialization ──────────────────────────────────────────────────────────────────── */

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
  CK_RV rv = CKR_OK;
  if (pInitArgs) {
    const CK_C_INITIALIZE_ARGS *args = pInitArgs;
    int given = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL) +
                (args->LockMutex != NULL) + (args->UnlockMutex != NULL);
    if (args->pReserved || (given != 0 && given != 4))
      rv = CKR_ARGUMENTS_BAD;
    /* Application mutex functions, if any, are not needed: the module locks with pthreads. */
  }
  if (rv == CKR_OK) {
    pthread_mutex_lock(&init_lock);
    if (initialized) {
      rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
    } else {
      wim_conn_setup_fork_handlers();
      wim_events_initialize();
      __atomic_store_n(&initialized, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&init_lock);
  }
  return wim_debug_rv("C_Initialize", rv);
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
  CK_RV rv = CKR_OK;
  pthread_mutex_lock(&init_lock);
  if (!initialized)
    rv = CKR_CRYPTOKI_NOT_INITIALIZED;
  else if (pReserved)
    rv = CKR_ARGUMENTS_BAD;
  else {
    __atomic_store_n(&initialized, 0, __ATOMIC_RELEASE);
    wim_events_finalize(); /* blocked C_WaitForSlotEvent calls return */
    wim_conn_close(); /* the agent drops this application's sessions */
  }
  pthread_mutex_unlock(&init_lock);
  return wim_debug_rv("C_Finalize", rv);
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
  CK_RV rv = CKR_OK;
  if (!wim_is_initialized())
    rv = CKR_CRYPTOKI_NOT_INITIALIZED;
  else if (!pInfo)
    rv = CKR_ARGUMENTS_BAD;
  else {
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->cryptokiVersion.major = 2;
    pInfo->cryptokiVersion.minor = 40;
    blank_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "WIM project");
    pInfo->flags = 0;
    blank_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
              "WIM token PKCS#11 module");
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
  }
  return wim_debug_rv("C_GetInfo", rv);
}

/* ── legacy functions ──────────────────────────────────────────────────────── */

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
  (void)hSession;
  return wim_debug_rv("C_GetFunctionStatus", wim_is_initialized() ? CKR_FUNCTION_NOT_PARALLEL
                                                                  : CKR_CRYPTOKI_NOT_INITIALIZED);
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
  (void)hSession;
  return wim_debug_rv("C_CancelFunction", wim_is_initialized() ? CKR_FUNCTION_NOT_PARALLEL
                                                               : CKR_CRYPTOKI_NOT_INITIALIZED);
}

/* ── v3.0 functions the token does not offer ─────────────────────────────────────────── */

#define WIM_NOT_SUPPORTED(name, params, uses)                  \
  CK_RV name params                                            \
  {                                                            \
    uses;                                                      \
    return wim_debug_rv(#name, CKR_FUNCTION_NOT_SUPPORTED);    \
  }

WIM_NOT_SUPPORTED(C_LoginUser, (CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR p,
                                CK_ULONG n, CK_UTF8CHAR_PTR name, CK_ULONG nn),
                  (void)s; (void)u; (void)p; (void)n; (void)name; (void)nn)
WIM_NOT_SUPPORTED(C_SessionCancel, (CK_SESSION_HANDLE s, CK_FLAGS f), (void)s; (void)f)
WIM_NOT_SUPPORTED(C_MessageEncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),
                  (void)s; (void)m; (void)k)
WIM_NOT_SUPPORTED(C_EncryptMessage, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a,
                                     CK_ULONG al, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o,
                                     CK_ULONG_PTR ol),
                  (void)s; (void)p; (void)pl; (void)a; (void)al; (void)i; (void)il; (void)o; (void)ol)
WIM_NOT_SUPPORTED(C_EncryptMessageBegin, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl,
                                          CK_BYTE_PTR a, CK_ULONG al),
                  (void)s; (void)p; (void)pl; (void)a; (void)al)
WIM_NOT_SUPPORTED(C_EncryptMessageNext, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl,
                                         CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o,
                                         CK_ULONG_PTR ol, CK_FLAGS f),
                  (void)s; (void)p; (void)pl; (void)i; (void)il; (void)o; (void)ol; (void)f)
WIM_NOT_SUPPORTED(C_MessageEncryptFinal, (CK_SESSION_HANDLE s), (void)s)
WIM_NOT_SUPPORTED(C_MessageDecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),
                  (void)s; (void)m; (void)k)
WIM_NOT_SUPPORTED(C_DecryptMessage, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a,
                                     CK_ULONG al, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o,
                                     CK_ULONG_PTR ol),
                  (void)s; (void)p; (void)pl; (void)a; (void)al; (void)i; (void)il; (void)o; (void)ol)
WIM_NOT_SUPPORTED(C_DecryptMessageBegin, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl,
                                          CK_BYTE_PTR a, CK_ULONG al),
                  (void)s; (void)p; (void)pl; (void)a; (void)al)
WIM_NOT_SUPPORTED(C_DecryptMessageNext, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl,
                                         CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o,
                                         CK_ULONG_PTR ol, CK_FLAGS f),
                  (void)s; (void)p; (void)pl; (void)i; (void)il; (void)o; (void)ol; (void)f)
WIM_NOT_SUPPORTED(C_MessageDecryptFinal, (CK_SESSION_HANDLE s), (void)s)
WIM_NOT_SUPPORTED(C_MessageSignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),
                  (void)s; (void)m; (void)k)
WIM_NOT_SUPPORTED(C_SignMessage, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
                                  CK_ULONG dl, CK_BYTE_PTR g, CK_ULONG_PTR gl),
                  (void)s; (void)p; (void)pl; (void)d; (void)dl; (void)g; (void)gl)
WIM_NOT_SUPPORTED(C_SignMessageBegin, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl),
                  (void)s; (void)p; (void)pl)
WIM_NOT_SUPPORTED(C_SignMessageNext, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
                                      CK_ULONG dl, CK_BYTE_PTR g, CK_ULONG_PTR gl),
                  (void)s; (void)p; (void)pl; (void)d; (void)dl; (void)g; (void)gl)
WIM_NOT_SUPPORTED(C_MessageSignFinal, (CK_SESSION_HANDLE s), (void)s)
WIM_NOT_SUPPORTED(C_MessageVerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k),
                  (void)s; (void)m; (void)k)
WIM_NOT_SUPPORTED(C_VerifyMessage, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
                                    CK_ULONG dl, CK_BYTE_PTR g, CK_ULONG gl),
                  (void)s; (void)p; (void)pl; (void)d; (void)dl; (void)g; (void)gl)
WIM_NOT_SUPPORTED(C_VerifyMessageBegin, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl),
                  (void)s; (void)p; (void)pl)
WIM_NOT_SUPPORTED(C_VerifyMessageNext, (CK_SESSION_HANDLE s, CK_VOID_PTR p, CK_ULONG pl,
                                        CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR g, CK_ULONG gl),
                  (void)s; (void)p; (void)pl; (void)d; (void)dl; (void)g; (void)gl)
WIM_NOT_SUPPORTED(C_MessageVerifyFinal, (CK_SESSION_HANDLE s), (void)s)

/* ── function lists and interfaces ───────────────────────────────────────────────────── */

#define WIM_V240_FUNCTIONS                                                                   \
  C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo,      \
  C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN,  \
  C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo, C_GetOperationState,  \
  C_SetOperationState, C_Login, C_Logout, C_CreateObject, C_CopyObject, C_DestroyObject,     \
  C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue, C_FindObjectsInit,              \
  C_FindObjects, C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate,              \
  C_EncryptFinal, C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal, C_DigestInit,   \
  C_Digest, C_DigestUpdate, C_DigestKey, C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate,    \
  C_SignFinal, C_SignRecoverInit, C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate,     \
  C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate,                \
  C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate, C_GenerateKey,          \
  C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom,    \
  C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent

static CK_FUNCTION_LIST function_list_2_40 = { { 2, 40 }, WIM_V240_FUNCTIONS };

static CK_FUNCTION_LIST_3_0 function_list_3_0 = {
  { 3, 0 }, WIM_V240_FUNCTIONS,
  C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
  C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext,
  C_MessageEncryptFinal, C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin,
  C_DecryptMessageNext, C_MessageDecryptFinal, C_MessageSignInit, C_SignMessage,
  C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal, C_MessageVerifyInit,
  C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal,
};

static CK_CHAR interface_name[] = "PKCS 11";

/* The first is the default interface (C_GetInterface with no name). */
static CK_INTERFACE interfaces[] = {
  { interface_name, &function_list_3_0, 0 },
  { interface_name, &function_list_2_40, 0 },
};
#define WIM_NINTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
  CK_RV rv = CKR_ARGUMENTS_BAD;
  if (ppFunctionList) {
    *ppFunctionList = &function_list_2_40;
    rv = CKR_OK;
  }
  return wim_debug_rv("C_GetFunctionList", rv);
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
  CK_RV rv = CKR_OK;
  if (!pulCount) {
    rv = CKR_ARGUMENTS_BAD;
  } else if (!pInterfacesList) {
    *pulCount = WIM_NINTERFACES;
  } else if (*pulCount < WIM_NINTERFACES) {
    *pulCount = WIM_NINTERFACES;
    rv = CKR_BUFFER_TOO_SMALL;
  } else {
    memcpy(pInterfacesList, interfaces, sizeof(interfaces));
    *pulCount = WIM_NINTERFACES;
  }
  return wim_debug_rv("C_GetInterfaceList", rv);
}

static const CK_VERSION *interface_version(const CK_INTERFACE *iface)
{
  return (const CK_VERSION *)iface->pFunctionList; /* every function list starts with it */
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
  CK_RV rv = CKR_ARGUMENTS_BAD; /* also: no interface matches */
  for (size_t i = 0; ppInterface && i < WIM_NINTERFACES; i++) {
    CK_INTERFACE *iface = &interfaces[i];
    const CK_VERSION *v = interface_version(iface);
    if (pInterfaceName && strcmp((const char *)pInterfaceName, (const char *)iface->pInterfaceName))
      continue;
    if (pVersion && (pVersion->major != v->major || pVersion->minor != v->minor))
      continue;
    if ((iface->flags & flags) != flags)
      continue;
    *ppInterface = iface;
    rv = CKR_OK;
    break;
  }
  return wim_debug_rv("C_GetInterface", rv);
}
