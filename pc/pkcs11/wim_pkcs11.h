/*
 * wim_pkcs11.h — the WIM token project's PKCS#11 header.
 *
 * The Cryptoki v2.40 types, structures and function list (plus the v3.0 interface
 * additions) as far as the WIM module and its tests need them, written for this
 * project from the values the PKCS#11 specification assigns.
 *
 * Platform convention: Unix (LP64 Linux). CK_ULONG is `unsigned long`, structures use the
 * compiler's natural packing (no #pragma pack), CK_BBOOL is one byte.
 *
 * WIM_CK_API marks the C_* prototypes; the module defines it to export them, every other
 * user gets a plain declaration.
 */
#ifndef WIM_PKCS11_H
#define WIM_PKCS11_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef WIM_CK_API
#define WIM_CK_API
#endif

/* ── basic types ─────────────────────────────────────────────────────────────────────── */

typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_CHAR;
typedef CK_BYTE CK_UTF8CHAR;
typedef CK_BYTE CK_BBOOL;
typedef unsigned long CK_ULONG;
typedef long CK_LONG;
typedef CK_ULONG CK_FLAGS;

typedef CK_BYTE *CK_BYTE_PTR;
typedef CK_CHAR *CK_CHAR_PTR;
typedef CK_UTF8CHAR *CK_UTF8CHAR_PTR;
typedef CK_ULONG *CK_ULONG_PTR;
typedef void *CK_VOID_PTR;
typedef CK_VOID_PTR *CK_VOID_PTR_PTR;

typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_SLOT_ID *CK_SLOT_ID_PTR;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_SESSION_HANDLE *CK_SESSION_HANDLE_PTR;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_OBJECT_HANDLE *CK_OBJECT_HANDLE_PTR;
typedef CK_ULONG CK_OBJECT_CLASS;
typedef CK_ULONG CK_KEY_TYPE;
typedef CK_ULONG CK_CERTIFICATE_TYPE;
typedef CK_ULONG CK_ATTRIBUTE_TYPE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef CK_MECHANISM_TYPE *CK_MECHANISM_TYPE_PTR;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_STATE;
typedef CK_ULONG CK_NOTIFICATION;
typedef CK_ULONG CK_RSA_PKCS_MGF_TYPE;
typedef CK_ULONG CK_RSA_PKCS_OAEP_SOURCE_TYPE;
typedef CK_ULONG CK_EC_KDF_TYPE;

#ifndef NULL_PTR
#define NULL_PTR 0
#endif

#define CK_TRUE 1
#define CK_FALSE 0
#define CK_UNAVAILABLE_INFORMATION (~0UL)
#define CK_EFFECTIVELY_INFINITE 0UL
#define CK_INVALID_HANDLE 0UL

/* ── structures ──────────────────────────────────────────────────────────────────────── */

typedef struct CK_VERSION {
  CK_BYTE major;
  CK_BYTE minor;
} CK_VERSION;
typedef CK_VERSION *CK_VERSION_PTR;

typedef struct CK_INFO {
  CK_VERSION cryptokiVersion;
  CK_UTF8CHAR manufacturerID[32];
  CK_FLAGS flags;
  CK_UTF8CHAR libraryDescription[32];
  CK_VERSION libraryVersion;
} CK_INFO;
typedef CK_INFO *CK_INFO_PTR;

typedef struct CK_SLOT_INFO {
  CK_UTF8CHAR slotDescription[64];
  CK_UTF8CHAR manufacturerID[32];
  CK_FLAGS flags;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
} CK_SLOT_INFO;
typedef CK_SLOT_INFO *CK_SLOT_INFO_PTR;

typedef struct CK_TOKEN_INFO {
  CK_UTF8CHAR label[32];
  CK_UTF8CHAR manufacturerID[32];
  CK_UTF8CHAR model[16];
  CK_CHAR serialNumber[16];
  CK_FLAGS flags;
  CK_ULONG ulMaxSessionCount;
  CK_ULONG ulSessionCount;
  CK_ULONG ulMaxRwSessionCount;
  CK_ULONG ulRwSessionCount;
  CK_ULONG ulMaxPinLen;
  CK_ULONG ulMinPinLen;
  CK_ULONG ulTotalPublicMemory;
  CK_ULONG ulFreePublicMemory;
  CK_ULONG ulTotalPrivateMemory;
  CK_ULONG ulFreePrivateMemory;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
  CK_CHAR utcTime[16];
} CK_TOKEN_INFO;
typedef CK_TOKEN_INFO *CK_TOKEN_INFO_PTR;

typedef struct CK_SESSION_INFO {
  CK_SLOT_ID slotID;
  CK_STATE state;
  CK_FLAGS flags;
  CK_ULONG ulDeviceError;
} CK_SESSION_INFO;
typedef CK_SESSION_INFO *CK_SESSION_INFO_PTR;

typedef struct CK_ATTRIBUTE {
  CK_ATTRIBUTE_TYPE type;
  CK_VOID_PTR pValue;
  CK_ULONG ulValueLen;
} CK_ATTRIBUTE;
typedef CK_ATTRIBUTE *CK_ATTRIBUTE_PTR;

typedef struct CK_DATE {
  CK_CHAR year[4];
  CK_CHAR month[2];
  CK_CHAR day[2];
} CK_DATE;

typedef struct CK_MECHANISM {
  CK_MECHANISM_TYPE mechanism;
  CK_VOID_PTR pParameter;
  CK_ULONG ulParameterLen;
} CK_MECHANISM;
typedef CK_MECHANISM *CK_MECHANISM_PTR;

typedef struct CK_MECHANISM_INFO {
  CK_ULONG ulMinKeySize;
  CK_ULONG ulMaxKeySize;
  CK_FLAGS flags;
} CK_MECHANISM_INFO;
typedef CK_MECHANISM_INFO *CK_MECHANISM_INFO_PTR;

typedef struct CK_RSA_PKCS_PSS_PARAMS {
  CK_MECHANISM_TYPE hashAlg;
  CK_RSA_PKCS_MGF_TYPE mgf;
  CK_ULONG sLen;
} CK_RSA_PKCS_PSS_PARAMS;

typedef struct CK_RSA_PKCS_OAEP_PARAMS {
  CK_MECHANISM_TYPE hashAlg;
  CK_RSA_PKCS_MGF_TYPE mgf;
  CK_RSA_PKCS_OAEP_SOURCE_TYPE source;
  CK_VOID_PTR pSourceData;
  CK_ULONG ulSourceDataLen;
} CK_RSA_PKCS_OAEP_PARAMS;

typedef struct CK_ECDH1_DERIVE_PARAMS {
  CK_EC_KDF_TYPE kdf;
  CK_ULONG ulSharedDataLen;
  CK_BYTE_PTR pSharedData;
  CK_ULONG ulPublicDataLen;
  CK_BYTE_PTR pPublicData;
} CK_ECDH1_DERIVE_PARAMS;

typedef struct CK_EDDSA_PARAMS {
  CK_BBOOL phFlag;
  CK_ULONG ulContextDataLen;
  CK_BYTE_PTR pContextData;
} CK_EDDSA_PARAMS;

/* Application callbacks. */
typedef CK_RV (*CK_NOTIFY)(CK_SESSION_HANDLE hSession, CK_NOTIFICATION event, CK_VOID_PTR pApplication);
typedef CK_RV (*CK_CREATEMUTEX)(CK_VOID_PTR_PTR ppMutex);
typedef CK_RV (*CK_DESTROYMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_LOCKMUTEX)(CK_VOID_PTR pMutex);
typedef CK_RV (*CK_UNLOCKMUTEX)(CK_VOID_PTR pMutex);

typedef struct CK_C_INITIALIZE_ARGS {
  CK_CREATEMUTEX CreateMutex;
  CK_DESTROYMUTEX DestroyMutex;
  CK_LOCKMUTEX LockMutex;
  CK_UNLOCKMUTEX UnlockMutex;
  CK_FLAGS flags;
  CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;
typedef CK_C_INITIALIZE_ARGS *CK_C_INITIALIZE_ARGS_PTR;

typedef struct CK_FUNCTION_LIST CK_FUNCTION_LIST;
typedef CK_FUNCTION_LIST *CK_FUNCTION_LIST_PTR;
typedef CK_FUNCTION_LIST_PTR *CK_FUNCTION_LIST_PTR_PTR;
typedef struct CK_FUNCTION_LIST_3_0 CK_FUNCTION_LIST_3_0;
typedef CK_FUNCTION_LIST_3_0 *CK_FUNCTION_LIST_3_0_PTR;

/* PKCS#11 3.0 interfaces: a named function list with flags. */
typedef struct CK_INTERFACE {
  CK_CHAR *pInterfaceName;
  CK_VOID_PTR pFunctionList;
  CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;

/* ── functions: one line each gives the pointer type CK_<name> and the prototype ─────── */

#define WIM_CK_FUNCTION(name, params) \
  typedef CK_RV (*CK_##name) params;  \
  WIM_CK_API CK_RV name params;

/* v2.40, in CK_FUNCTION_LIST order (the index is the RPC function number). */
WIM_CK_FUNCTION(C_Initialize, (CK_VOID_PTR pInitArgs))                                  /*  0 */
WIM_CK_FUNCTION(C_Finalize, (CK_VOID_PTR pReserved))                                    /*  1 */
WIM_CK_FUNCTION(C_GetInfo, (CK_INFO_PTR pInfo))                                         /*  2 */
WIM_CK_FUNCTION(C_GetFunctionList, (CK_FUNCTION_LIST_PTR_PTR ppFunctionList))           /*  3 */
WIM_CK_FUNCTION(C_GetSlotList, (CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
                                CK_ULONG_PTR pulCount))                                 /*  4 */
WIM_CK_FUNCTION(C_GetSlotInfo, (CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo))             /*  5 */
WIM_CK_FUNCTION(C_GetTokenInfo, (CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo))           /*  6 */
WIM_CK_FUNCTION(C_GetMechanismList, (CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                                     CK_ULONG_PTR pulCount))                            /*  7 */
WIM_CK_FUNCTION(C_GetMechanismInfo, (CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
                                     CK_MECHANISM_INFO_PTR pInfo))                      /*  8 */
WIM_CK_FUNCTION(C_InitToken, (CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                              CK_UTF8CHAR_PTR pLabel))                                  /*  9 */
WIM_CK_FUNCTION(C_InitPIN, (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin,
                            CK_ULONG ulPinLen))                                         /* 10 */
WIM_CK_FUNCTION(C_SetPIN, (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
                           CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen))                 /* 11 */
WIM_CK_FUNCTION(C_OpenSession, (CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                                CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession))     /* 12 */
WIM_CK_FUNCTION(C_CloseSession, (CK_SESSION_HANDLE hSession))                           /* 13 */
WIM_CK_FUNCTION(C_CloseAllSessions, (CK_SLOT_ID slotID))                                /* 14 */
WIM_CK_FUNCTION(C_GetSessionInfo, (CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)) /* 15 */
WIM_CK_FUNCTION(C_GetOperationState, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                      CK_ULONG_PTR pulOperationStateLen))               /* 16 */
WIM_CK_FUNCTION(C_SetOperationState, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                      CK_ULONG ulOperationStateLen,
                                      CK_OBJECT_HANDLE hEncryptionKey,
                                      CK_OBJECT_HANDLE hAuthenticationKey))             /* 17 */
WIM_CK_FUNCTION(C_Login, (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                          CK_ULONG ulPinLen))                                           /* 18 */
WIM_CK_FUNCTION(C_Logout, (CK_SESSION_HANDLE hSession))                                 /* 19 */
WIM_CK_FUNCTION(C_CreateObject, (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                 CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject))      /* 20 */
WIM_CK_FUNCTION(C_CopyObject, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                               CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                               CK_OBJECT_HANDLE_PTR phNewObject))                       /* 21 */
WIM_CK_FUNCTION(C_DestroyObject, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)) /* 22 */
WIM_CK_FUNCTION(C_GetObjectSize, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                  CK_ULONG_PTR pulSize))                                /* 23 */
WIM_CK_FUNCTION(C_GetAttributeValue, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                      CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount))    /* 24 */
WIM_CK_FUNCTION(C_SetAttributeValue, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                      CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount))    /* 25 */
WIM_CK_FUNCTION(C_FindObjectsInit, (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                    CK_ULONG ulCount))                                  /* 26 */
WIM_CK_FUNCTION(C_FindObjects, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                                CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)) /* 27 */
WIM_CK_FUNCTION(C_FindObjectsFinal, (CK_SESSION_HANDLE hSession))                       /* 28 */
WIM_CK_FUNCTION(C_EncryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                CK_OBJECT_HANDLE hKey))                                 /* 29 */
WIM_CK_FUNCTION(C_Encrypt, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                            CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen)) /* 30 */
WIM_CK_FUNCTION(C_EncryptUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                                  CK_BYTE_PTR pEncryptedPart,
                                  CK_ULONG_PTR pulEncryptedPartLen))                    /* 31 */
WIM_CK_FUNCTION(C_EncryptFinal, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                                 CK_ULONG_PTR pulLastEncryptedPartLen))                 /* 32 */
WIM_CK_FUNCTION(C_DecryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                CK_OBJECT_HANDLE hKey))                                 /* 33 */
WIM_CK_FUNCTION(C_Decrypt, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData,
                            CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData,
                            CK_ULONG_PTR pulDataLen))                                   /* 34 */
WIM_CK_FUNCTION(C_DecryptUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                                  CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                                  CK_ULONG_PTR pulPartLen))                             /* 35 */
WIM_CK_FUNCTION(C_DecryptFinal, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart,
                                 CK_ULONG_PTR pulLastPartLen))                          /* 36 */
WIM_CK_FUNCTION(C_DigestInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)) /* 37 */
WIM_CK_FUNCTION(C_Digest, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                           CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen))             /* 38 */
WIM_CK_FUNCTION(C_DigestUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
                                 CK_ULONG ulPartLen))                                   /* 39 */
WIM_CK_FUNCTION(C_DigestKey, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey))       /* 40 */
WIM_CK_FUNCTION(C_DigestFinal, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
                                CK_ULONG_PTR pulDigestLen))                             /* 41 */
WIM_CK_FUNCTION(C_SignInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                             CK_OBJECT_HANDLE hKey))                                    /* 42 */
WIM_CK_FUNCTION(C_Sign, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                         CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen))         /* 43 */
WIM_CK_FUNCTION(C_SignUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
                               CK_ULONG ulPartLen))                                     /* 44 */
WIM_CK_FUNCTION(C_SignFinal, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                              CK_ULONG_PTR pulSignatureLen))                            /* 45 */
WIM_CK_FUNCTION(C_SignRecoverInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                    CK_OBJECT_HANDLE hKey))                             /* 46 */
WIM_CK_FUNCTION(C_SignRecover, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                                CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen))  /* 47 */
WIM_CK_FUNCTION(C_VerifyInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                               CK_OBJECT_HANDLE hKey))                                  /* 48 */
WIM_CK_FUNCTION(C_Verify, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                           CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen))            /* 49 */
WIM_CK_FUNCTION(C_VerifyUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
                                 CK_ULONG ulPartLen))                                   /* 50 */
WIM_CK_FUNCTION(C_VerifyFinal, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                                CK_ULONG ulSignatureLen))                               /* 51 */
WIM_CK_FUNCTION(C_VerifyRecoverInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                      CK_OBJECT_HANDLE hKey))                           /* 52 */
WIM_CK_FUNCTION(C_VerifyRecover, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                                  CK_ULONG ulSignatureLen, CK_BYTE_PTR pData,
                                  CK_ULONG_PTR pulDataLen))                             /* 53 */
WIM_CK_FUNCTION(C_DigestEncryptUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
                                        CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
                                        CK_ULONG_PTR pulEncryptedPartLen))              /* 54 */
WIM_CK_FUNCTION(C_DecryptDigestUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                                        CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                                        CK_ULONG_PTR pulPartLen))                       /* 55 */
WIM_CK_FUNCTION(C_SignEncryptUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart,
                                      CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
                                      CK_ULONG_PTR pulEncryptedPartLen))                /* 56 */
WIM_CK_FUNCTION(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                                        CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                                        CK_ULONG_PTR pulPartLen))                       /* 57 */
WIM_CK_FUNCTION(C_GenerateKey, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                                CK_OBJECT_HANDLE_PTR phKey))                            /* 58 */
WIM_CK_FUNCTION(C_GenerateKeyPair, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                    CK_ATTRIBUTE_PTR pPublicKeyTemplate,
                                    CK_ULONG ulPublicKeyAttributeCount,
                                    CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
                                    CK_ULONG ulPrivateKeyAttributeCount,
                                    CK_OBJECT_HANDLE_PTR phPublicKey,
                                    CK_OBJECT_HANDLE_PTR phPrivateKey))                 /* 59 */
WIM_CK_FUNCTION(C_WrapKey, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                            CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
                            CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen))    /* 60 */
WIM_CK_FUNCTION(C_UnwrapKey, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                              CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                              CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey))   /* 61 */
WIM_CK_FUNCTION(C_DeriveKey, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                              CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey))   /* 62 */
WIM_CK_FUNCTION(C_SeedRandom, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed,
                               CK_ULONG ulSeedLen))                                     /* 63 */
WIM_CK_FUNCTION(C_GenerateRandom, (CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData,
                                   CK_ULONG ulRandomLen))                               /* 64 */
WIM_CK_FUNCTION(C_GetFunctionStatus, (CK_SESSION_HANDLE hSession))                      /* 65 */
WIM_CK_FUNCTION(C_CancelFunction, (CK_SESSION_HANDLE hSession))                         /* 66 */
WIM_CK_FUNCTION(C_WaitForSlotEvent, (CK_FLAGS flags, CK_SLOT_ID_PTR pSlot,
                                     CK_VOID_PTR pReserved))                            /* 67 */

/* v3.0 additions, in CK_FUNCTION_LIST_3_0 order after the 68 above. */
WIM_CK_FUNCTION(C_GetInterfaceList, (CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount))
WIM_CK_FUNCTION(C_GetInterface, (CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                 CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags))
WIM_CK_FUNCTION(C_LoginUser, (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType,
                              CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                              CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen))
WIM_CK_FUNCTION(C_SessionCancel, (CK_SESSION_HANDLE hSession, CK_FLAGS flags))
WIM_CK_FUNCTION(C_MessageEncryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                       CK_OBJECT_HANDLE hKey))
WIM_CK_FUNCTION(C_EncryptMessage, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                   CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                   CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext,
                                   CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext,
                                   CK_ULONG_PTR pulCiphertextLen))
WIM_CK_FUNCTION(C_EncryptMessageBegin, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                        CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                        CK_ULONG ulAssociatedDataLen))
WIM_CK_FUNCTION(C_EncryptMessageNext, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                       CK_ULONG ulParameterLen, CK_BYTE_PTR pPlaintextPart,
                                       CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart,
                                       CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags))
WIM_CK_FUNCTION(C_MessageEncryptFinal, (CK_SESSION_HANDLE hSession))
WIM_CK_FUNCTION(C_MessageDecryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                       CK_OBJECT_HANDLE hKey))
WIM_CK_FUNCTION(C_DecryptMessage, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                   CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                   CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext,
                                   CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext,
                                   CK_ULONG_PTR pulPlaintextLen))
WIM_CK_FUNCTION(C_DecryptMessageBegin, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                        CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData,
                                        CK_ULONG ulAssociatedDataLen))
WIM_CK_FUNCTION(C_DecryptMessageNext, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                       CK_ULONG ulParameterLen, CK_BYTE_PTR pCiphertextPart,
                                       CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart,
                                       CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags))
WIM_CK_FUNCTION(C_MessageDecryptFinal, (CK_SESSION_HANDLE hSession))
WIM_CK_FUNCTION(C_MessageSignInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                    CK_OBJECT_HANDLE hKey))
WIM_CK_FUNCTION(C_SignMessage, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                                CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen))
WIM_CK_FUNCTION(C_SignMessageBegin, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                     CK_ULONG ulParameterLen))
WIM_CK_FUNCTION(C_SignMessageNext, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                    CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                                    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen))
WIM_CK_FUNCTION(C_MessageSignFinal, (CK_SESSION_HANDLE hSession))
WIM_CK_FUNCTION(C_MessageVerifyInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                      CK_OBJECT_HANDLE hKey))
WIM_CK_FUNCTION(C_VerifyMessage, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                  CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                                  CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen))
WIM_CK_FUNCTION(C_VerifyMessageBegin, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                       CK_ULONG ulParameterLen))
WIM_CK_FUNCTION(C_VerifyMessageNext, (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter,
                                      CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
                                      CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                                      CK_ULONG ulSignatureLen))
WIM_CK_FUNCTION(C_MessageVerifyFinal, (CK_SESSION_HANDLE hSession))

#undef WIM_CK_FUNCTION

/* The v2.40 function list: version, then the 68 functions in the order above. */
#define WIM_CK_V240_MEMBERS                                                                   \
  CK_VERSION version;                                                                        \
  CK_C_Initialize C_Initialize;                                                              \
  CK_C_Finalize C_Finalize;                                                                  \
  CK_C_GetInfo C_GetInfo;                                                                    \
  CK_C_GetFunctionList C_GetFunctionList;                                                    \
  CK_C_GetSlotList C_GetSlotList;                                                            \
  CK_C_GetSlotInfo C_GetSlotInfo;                                                            \
  CK_C_GetTokenInfo C_GetTokenInfo;                                                          \
  CK_C_GetMechanismList C_GetMechanismList;                                                  \
  CK_C_GetMechanismInfo C_GetMechanismInfo;                                                  \
  CK_C_InitToken C_InitToken;                                                                \
  CK_C_InitPIN C_InitPIN;                                                                    \
  CK_C_SetPIN C_SetPIN;                                                                      \
  CK_C_OpenSession C_OpenSession;                                                            \
  CK_C_CloseSession C_CloseSession;                                                          \
  CK_C_CloseAllSessions C_CloseAllSessions;                                                  \
  CK_C_GetSessionInfo C_GetSessionInfo;                                                      \
  CK_C_GetOperationState C_GetOperationState;                                                \
  CK_C_SetOperationState C_SetOperationState;                                                \
  CK_C_Login C_Login;                                                                        \
  CK_C_Logout C_Logout;                                                                      \
  CK_C_CreateObject C_CreateObject;                                                          \
  CK_C_CopyObject C_CopyObject;                                                              \
  CK_C_DestroyObject C_DestroyObject;                                                        \
  CK_C_GetObjectSize C_GetObjectSize;                                                        \
  CK_C_GetAttributeValue C_GetAttributeValue;                                                \
  CK_C_SetAttributeValue C_SetAttributeValue;                                                \
  CK_C_FindObjectsInit C_FindObjectsInit;                                                    \
  CK_C_FindObjects C_FindObjects;                                                            \
  CK_C_FindObjectsFinal C_FindObjectsFinal;                                                  \
  CK_C_EncryptInit C_EncryptInit;                                                            \
  CK_C_Encrypt C_Encrypt;                                                                    \
  CK_C_EncryptUpdate C_EncryptUpdate;                                                        \
  CK_C_EncryptFinal C_EncryptFinal;                                                          \
  CK_C_DecryptInit C_DecryptInit;                                                            \
  CK_C_Decrypt C_Decrypt;                                                                    \
  CK_C_DecryptUpdate C_DecryptUpdate;                                                        \
  CK_C_DecryptFinal C_DecryptFinal;                                                          \
  CK_C_DigestInit C_DigestInit;                                                              \
  CK_C_Digest C_Digest;                                                                      \
  CK_C_DigestUpdate C_DigestUpdate;                                                          \
  CK_C_DigestKey C_DigestKey;                                                                \
  CK_C_DigestFinal C_DigestFinal;                                                            \
  CK_C_SignInit C_SignInit;                                                                  \
  CK_C_Sign C_Sign;                                                                          \
  CK_C_SignUpdate C_SignUpdate;                                                              \
  CK_C_SignFinal C_SignFinal;                                                                \
  CK_C_SignRecoverInit C_SignRecoverInit;                                                    \
  CK_C_SignRecover C_SignRecover;                                                            \
  CK_C_VerifyInit C_VerifyInit;                                                              \
  CK_C_Verify C_Verify;                                                                      \
  CK_C_VerifyUpdate C_VerifyUpdate;                                                          \
  CK_C_VerifyFinal C_VerifyFinal;                                                            \
  CK_C_VerifyRecoverInit C_VerifyRecoverInit;                                                \
  CK_C_VerifyRecover C_VerifyRecover;                                                        \
  CK_C_DigestEncryptUpdate C_DigestEncryptUpdate;                                            \
  CK_C_DecryptDigestUpdate C_DecryptDigestUpdate;                                            \
  CK_C_SignEncryptUpdate C_SignEncryptUpdate;                                                \
  CK_C_DecryptVerifyUpdate C_DecryptVerifyUpdate;                                            \
  CK_C_GenerateKey C_GenerateKey;                                                            \
  CK_C_GenerateKeyPair C_GenerateKeyPair;                                                    \
  CK_C_WrapKey C_WrapKey;                                                                    \
  CK_C_UnwrapKey C_UnwrapKey;                                                                \
  CK_C_DeriveKey C_DeriveKey;                                                                \
  CK_C_SeedRandom C_SeedRandom;                                                              \
  CK_C_GenerateRandom C_GenerateRandom;                                                      \
  CK_C_GetFunctionStatus C_GetFunctionStatus;                                                \
  CK_C_CancelFunction C_CancelFunction;                                                      \
  CK_C_WaitForSlotEvent C_WaitForSlotEvent;

struct CK_FUNCTION_LIST {
  WIM_CK_V240_MEMBERS
};

/* The v3.0 function list: the v2.40 members, then the 24 v3.0 functions. */
struct CK_FUNCTION_LIST_3_0 {
  WIM_CK_V240_MEMBERS
  CK_C_GetInterfaceList C_GetInterfaceList;
  CK_C_GetInterface C_GetInterface;
  CK_C_LoginUser C_LoginUser;
  CK_C_SessionCancel C_SessionCancel;
  CK_C_MessageEncryptInit C_MessageEncryptInit;
  CK_C_EncryptMessage C_EncryptMessage;
  CK_C_EncryptMessageBegin C_EncryptMessageBegin;
  CK_C_EncryptMessageNext C_EncryptMessageNext;
  CK_C_MessageEncryptFinal C_MessageEncryptFinal;
  CK_C_MessageDecryptInit C_MessageDecryptInit;
  CK_C_DecryptMessage C_DecryptMessage;
  CK_C_DecryptMessageBegin C_DecryptMessageBegin;
  CK_C_DecryptMessageNext C_DecryptMessageNext;
  CK_C_MessageDecryptFinal C_MessageDecryptFinal;
  CK_C_MessageSignInit C_MessageSignInit;
  CK_C_SignMessage C_SignMessage;
  CK_C_SignMessageBegin C_SignMessageBegin;
  CK_C_SignMessageNext C_SignMessageNext;
  CK_C_MessageSignFinal C_MessageSignFinal;
  CK_C_MessageVerifyInit C_MessageVerifyInit;
  CK_C_VerifyMessage C_VerifyMessage;
  CK_C_VerifyMessageBegin C_VerifyMessageBegin;
  CK_C_VerifyMessageNext C_VerifyMessageNext;
  CK_C_MessageVerifyFinal C_MessageVerifyFinal;
};

/* ── return values (CKR_), all of v2.40 ──────────────────────────────────────────────── */

#define CKR_OK                               0x00000000UL
#define CKR_CANCEL                           0x00000001UL
#define CKR_HOST_MEMORY                      0x00000002UL
#define CKR_SLOT_ID_INVALID                  0x00000003UL
#define CKR_GENERAL_ERROR                    0x00000005UL
#define CKR_FUNCTION_FAILED                  0x00000006UL
#define CKR_ARGUMENTS_BAD                    0x00000007UL
#define CKR_NO_EVENT                         0x00000008UL
#define CKR_NEED_TO_CREATE_THREADS           0x00000009UL
#define CKR_CANT_LOCK                        0x0000000AUL
#define CKR_ATTRIBUTE_READ_ONLY              0x00000010UL
#define CKR_ATTRIBUTE_SENSITIVE              0x00000011UL
#define CKR_ATTRIBUTE_TYPE_INVALID           0x00000012UL
#define CKR_ATTRIBUTE_VALUE_INVALID          0x00000013UL
#define CKR_ACTION_PROHIBITED                0x0000001BUL
#define CKR_DATA_INVALID                     0x00000020UL
#define CKR_DATA_LEN_RANGE                   0x00000021UL
#define CKR_DEVICE_ERROR                     0x00000030UL
#define CKR_DEVICE_MEMORY                    0x00000031UL
#define CKR_DEVICE_REMOVED                   0x00000032UL
#define CKR_ENCRYPTED_DATA_INVALID           0x00000040UL
#define CKR_ENCRYPTED_DATA_LEN_RANGE         0x00000041UL
#define CKR_FUNCTION_CANCELED                0x00000050UL
#define CKR_FUNCTION_NOT_PARALLEL            0x00000051UL
#define CKR_FUNCTION_NOT_SUPPORTED           0x00000054UL
#define CKR_KEY_HANDLE_INVALID               0x00000060UL
#define CKR_KEY_SIZE_RANGE                   0x00000062UL
#define CKR_KEY_TYPE_INCONSISTENT            0x00000063UL
#define CKR_KEY_NOT_NEEDED                   0x00000064UL
#define CKR_KEY_CHANGED                      0x00000065UL
#define CKR_KEY_NEEDED                       0x00000066UL
#define CKR_KEY_INDIGESTIBLE                 0x00000067UL
#define CKR_KEY_FUNCTION_NOT_PERMITTED       0x00000068UL
#define CKR_KEY_NOT_WRAPPABLE                0x00000069UL
#define CKR_KEY_UNEXTRACTABLE                0x0000006AUL
#define CKR_MECHANISM_INVALID                0x00000070UL
#define CKR_MECHANISM_PARAM_INVALID          0x00000071UL
#define CKR_OBJECT_HANDLE_INVALID            0x00000082UL
#define CKR_OPERATION_ACTIVE                 0x00000090UL
#define CKR_OPERATION_NOT_INITIALIZED        0x00000091UL
#define CKR_PIN_INCORRECT                    0x000000A0UL
#define CKR_PIN_INVALID                      0x000000A1UL
#define CKR_PIN_LEN_RANGE                    0x000000A2UL
#define CKR_PIN_EXPIRED                      0x000000A3UL
#define CKR_PIN_LOCKED                       0x000000A4UL
#define CKR_SESSION_CLOSED                   0x000000B0UL
#define CKR_SESSION_COUNT                    0x000000B1UL
#define CKR_SESSION_HANDLE_INVALID           0x000000B3UL
#define CKR_SESSION_PARALLEL_NOT_SUPPORTED   0x000000B4UL
#define CKR_SESSION_READ_ONLY                0x000000B5UL
#define CKR_SESSION_EXISTS                   0x000000B6UL
#define CKR_SESSION_READ_ONLY_EXISTS         0x000000B7UL
#define CKR_SESSION_READ_WRITE_SO_EXISTS     0x000000B8UL
#define CKR_SIGNATURE_INVALID                0x000000C0UL
#define CKR_SIGNATURE_LEN_RANGE              0x000000C1UL
#define CKR_TEMPLATE_INCOMPLETE              0x000000D0UL
#define CKR_TEMPLATE_INCONSISTENT            0x000000D1UL
#define CKR_TOKEN_NOT_PRESENT                0x000000E0UL
#define CKR_TOKEN_NOT_RECOGNIZED             0x000000E1UL
#define CKR_TOKEN_WRITE_PROTECTED            0x000000E2UL
#define CKR_UNWRAPPING_KEY_HANDLE_INVALID    0x000000F0UL
#define CKR_UNWRAPPING_KEY_SIZE_RANGE        0x000000F1UL
#define CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT 0x000000F2UL
#define CKR_USER_ALREADY_LOGGED_IN           0x00000100UL
#define CKR_USER_NOT_LOGGED_IN               0x00000101UL
#define CKR_USER_PIN_NOT_INITIALIZED         0x00000102UL
#define CKR_USER_TYPE_INVALID                0x00000103UL
#define CKR_USER_ANOTHER_ALREADY_LOGGED_IN   0x00000104UL
#define CKR_USER_TOO_MANY_TYPES              0x00000105UL
#define CKR_WRAPPED_KEY_INVALID              0x00000110UL
#define CKR_WRAPPED_KEY_LEN_RANGE            0x00000112UL
#define CKR_WRAPPING_KEY_HANDLE_INVALID      0x00000113UL
#define CKR_WRAPPING_KEY_SIZE_RANGE          0x00000114UL
#define CKR_WRAPPING_KEY_TYPE_INCONSISTENT   0x00000115UL
#define CKR_RANDOM_SEED_NOT_SUPPORTED        0x00000120UL
#define CKR_RANDOM_NO_RNG                    0x00000121UL
#define CKR_DOMAIN_PARAMS_INVALID            0x00000130UL
#define CKR_CURVE_NOT_SUPPORTED              0x00000140UL
#define CKR_BUFFER_TOO_SMALL                 0x00000150UL
#define CKR_SAVED_STATE_INVALID              0x00000160UL
#define CKR_INFORMATION_SENSITIVE            0x00000170UL
#define CKR_STATE_UNSAVEABLE                 0x00000180UL
#define CKR_CRYPTOKI_NOT_INITIALIZED         0x00000190UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED     0x00000191UL
#define CKR_MUTEX_BAD                        0x000001A0UL
#define CKR_MUTEX_NOT_LOCKED                 0x000001A1UL
#define CKR_NEW_PIN_MODE                     0x000001B0UL
#define CKR_NEXT_OTP                         0x000001B1UL
#define CKR_EXCEEDED_MAX_ITERATIONS          0x000001B5UL
#define CKR_FIPS_SELF_TEST_FAILED            0x000001B6UL
#define CKR_LIBRARY_LOAD_FAILED              0x000001B7UL
#define CKR_PIN_TOO_WEAK                     0x000001B8UL
#define CKR_PUBLIC_KEY_INVALID               0x000001B9UL
#define CKR_FUNCTION_REJECTED                0x00000200UL
#define CKR_VENDOR_DEFINED                   0x80000000UL

/* ── flags (CKF_) ────────────────────────────────────────────────────────────────────── */

/* CK_C_INITIALIZE_ARGS.flags */
#define CKF_LIBRARY_CANT_CREATE_OS_THREADS   0x00000001UL
#define CKF_OS_LOCKING_OK                    0x00000002UL

/* CK_SLOT_INFO.flags */
#define CKF_TOKEN_PRESENT                    0x00000001UL
#define CKF_REMOVABLE_DEVICE                 0x00000002UL
#define CKF_HW_SLOT                          0x00000004UL

/* CK_TOKEN_INFO.flags */
#define CKF_RNG                              0x00000001UL
#define CKF_WRITE_PROTECTED                  0x00000002UL
#define CKF_LOGIN_REQUIRED                   0x00000004UL
#define CKF_USER_PIN_INITIALIZED             0x00000008UL
#define CKF_RESTORE_KEY_NOT_NEEDED           0x00000020UL
#define CKF_CLOCK_ON_TOKEN                   0x00000040UL
#define CKF_PROTECTED_AUTHENTICATION_PATH    0x00000100UL
#define CKF_DUAL_CRYPTO_OPERATIONS           0x00000200UL
#define CKF_TOKEN_INITIALIZED                0x00000400UL
#define CKF_SECONDARY_AUTHENTICATION         0x00000800UL
#define CKF_USER_PIN_COUNT_LOW               0x00010000UL
#define CKF_USER_PIN_FINAL_TRY               0x00020000UL
#define CKF_USER_PIN_LOCKED                  0x00040000UL
#define CKF_USER_PIN_TO_BE_CHANGED           0x00080000UL
#define CKF_SO_PIN_COUNT_LOW                 0x00100000UL
#define CKF_SO_PIN_FINAL_TRY                 0x00200000UL
#define CKF_SO_PIN_LOCKED                    0x00400000UL
#define CKF_SO_PIN_TO_BE_CHANGED             0x00800000UL
#define CKF_ERROR_STATE                      0x01000000UL

/* CK_SESSION_INFO.flags and C_OpenSession */
#define CKF_RW_SESSION                       0x00000002UL
#define CKF_SERIAL_SESSION                   0x00000004UL

/* CK_MECHANISM_INFO.flags */
#define CKF_HW                               0x00000001UL
#define CKF_ENCRYPT                          0x00000100UL
#define CKF_DECRYPT                          0x00000200UL
#define CKF_DIGEST                           0x00000400UL
#define CKF_SIGN                             0x00000800UL
#define CKF_SIGN_RECOVER                     0x00001000UL
#define CKF_VERIFY                           0x00002000UL
#define CKF_VERIFY_RECOVER                   0x00004000UL
#define CKF_GENERATE                         0x00008000UL
#define CKF_GENERATE_KEY_PAIR                0x00010000UL
#define CKF_WRAP                             0x00020000UL
#define CKF_UNWRAP                           0x00040000UL
#define CKF_DERIVE                           0x00080000UL
#define CKF_EC_F_P                           0x00100000UL
#define CKF_EC_F_2M                          0x00200000UL
#define CKF_EC_ECPARAMETERS                  0x00400000UL
#define CKF_EC_NAMEDCURVE                    0x00800000UL
#define CKF_EC_OID                           CKF_EC_NAMEDCURVE
#define CKF_EC_UNCOMPRESS                    0x01000000UL
#define CKF_EC_COMPRESS                      0x02000000UL
#define CKF_EXTENSION                        0x80000000UL

/* C_WaitForSlotEvent */
#define CKF_DONT_BLOCK                       0x00000001UL

/* CK_INTERFACE.flags */
#define CKF_INTERFACE_FORK_SAFE              0x00000001UL

/* Attribute types whose value is an array of attributes. */
#define CKF_ARRAY_ATTRIBUTE                  0x40000000UL

/* Session notifications (CK_NOTIFY). */
#define CKN_SURRENDER                        0UL

/* ── users (CKU_) and session states (CKS_) ─────────────────────────────────────────── */

#define CKU_SO                               0UL
#define CKU_USER                             1UL
#define CKU_CONTEXT_SPECIFIC                 2UL

#define CKS_RO_PUBLIC_SESSION                0UL
#define CKS_RO_USER_FUNCTIONS                1UL
#define CKS_RW_PUBLIC_SESSION                2UL
#define CKS_RW_USER_FUNCTIONS                3UL
#define CKS_RW_SO_FUNCTIONS                  4UL

/* ── object classes (CKO_), key types (CKK_), certificate types (CKC_) ──────────────── */

#define CKO_DATA                             0x00000000UL
#define CKO_CERTIFICATE                      0x00000001UL
#define CKO_PUBLIC_KEY                       0x00000002UL
#define CKO_PRIVATE_KEY                      0x00000003UL
#define CKO_SECRET_KEY                       0x00000004UL
#define CKO_HW_FEATURE                       0x00000005UL
#define CKO_DOMAIN_PARAMETERS                0x00000006UL
#define CKO_MECHANISM                        0x00000007UL
#define CKO_OTP_KEY                          0x00000008UL
#define CKO_VENDOR_DEFINED                   0x80000000UL

#define CKK_RSA                              0x00000000UL
#define CKK_DSA                              0x00000001UL
#define CKK_DH                               0x00000002UL
#define CKK_EC                               0x00000003UL
#define CKK_ECDSA                            CKK_EC
#define CKK_GENERIC_SECRET                   0x00000010UL
#define CKK_DES3                             0x00000015UL
#define CKK_AES                              0x0000001FUL
#define CKK_EC_EDWARDS                       0x00000040UL
#define CKK_EC_MONTGOMERY                    0x00000041UL
#define CKK_VENDOR_DEFINED                   0x80000000UL

#define CKC_X_509                            0x00000000UL
#define CKC_X_509_ATTR_CERT                  0x00000001UL
#define CKC_WTLS                             0x00000002UL

/* ── attribute types (CKA_) ──────────────────────────────────────────────────────────── */

#define CKA_CLASS                            0x00000000UL
#define CKA_TOKEN                            0x00000001UL
#define CKA_PRIVATE                          0x00000002UL
#define CKA_LABEL                            0x00000003UL
#define CKA_APPLICATION                      0x00000010UL
#define CKA_VALUE                            0x00000011UL
#define CKA_OBJECT_ID                        0x00000012UL
#define CKA_CERTIFICATE_TYPE                 0x00000080UL
#define CKA_ISSUER                           0x00000081UL
#define CKA_SERIAL_NUMBER                    0x00000082UL
#define CKA_AC_ISSUER                        0x00000083UL
#define CKA_OWNER                            0x00000084UL
#define CKA_ATTR_TYPES                       0x00000085UL
#define CKA_TRUSTED                          0x00000086UL
#define CKA_CERTIFICATE_CATEGORY             0x00000087UL
#define CKA_JAVA_MIDP_SECURITY_DOMAIN        0x00000088UL
#define CKA_URL                              0x00000089UL
#define CKA_HASH_OF_SUBJECT_PUBLIC_KEY       0x0000008AUL
#define CKA_HASH_OF_ISSUER_PUBLIC_KEY        0x0000008BUL
#define CKA_NAME_HASH_ALGORITHM              0x0000008CUL
#define CKA_CHECK_VALUE                      0x00000090UL
#define CKA_KEY_TYPE                         0x00000100UL
#define CKA_SUBJECT                          0x00000101UL
#define CKA_ID                               0x00000102UL
#define CKA_SENSITIVE                        0x00000103UL
#define CKA_ENCRYPT                          0x00000104UL
#define CKA_DECRYPT                          0x00000105UL
#define CKA_WRAP                             0x00000106UL
#define CKA_UNWRAP                           0x00000107UL
#define CKA_SIGN                             0x00000108UL
#define CKA_SIGN_RECOVER                     0x00000109UL
#define CKA_VERIFY                           0x0000010AUL
#define CKA_VERIFY_RECOVER                   0x0000010BUL
#define CKA_DERIVE                           0x0000010CUL
#define CKA_START_DATE                       0x00000110UL
#define CKA_END_DATE                         0x00000111UL
#define CKA_MODULUS                          0x00000120UL
#define CKA_MODULUS_BITS                     0x00000121UL
#define CKA_PUBLIC_EXPONENT                  0x00000122UL
#define CKA_PRIVATE_EXPONENT                 0x00000123UL
#define CKA_PRIME_1                          0x00000124UL
#define CKA_PRIME_2                          0x00000125UL
#define CKA_EXPONENT_1                       0x00000126UL
#define CKA_EXPONENT_2                       0x00000127UL
#define CKA_COEFFICIENT                      0x00000128UL
#define CKA_PUBLIC_KEY_INFO                  0x00000129UL
#define CKA_PRIME                            0x00000130UL
#define CKA_SUBPRIME                         0x00000131UL
#define CKA_BASE                             0x00000132UL
#define CKA_VALUE_BITS                       0x00000160UL
#define CKA_VALUE_LEN                        0x00000161UL
#define CKA_EXTRACTABLE                      0x00000162UL
#define CKA_LOCAL                            0x00000163UL
#define CKA_NEVER_EXTRACTABLE                0x00000164UL
#define CKA_ALWAYS_SENSITIVE                 0x00000165UL
#define CKA_KEY_GEN_MECHANISM                0x00000166UL
#define CKA_MODIFIABLE                       0x00000170UL
#define CKA_COPYABLE                         0x00000171UL
#define CKA_DESTROYABLE                      0x00000172UL
#define CKA_EC_PARAMS                        0x00000180UL
#define CKA_ECDSA_PARAMS                     CKA_EC_PARAMS
#define CKA_EC_POINT                         0x00000181UL
#define CKA_ALWAYS_AUTHENTICATE              0x00000202UL
#define CKA_WRAP_WITH_TRUSTED                0x00000210UL
#define CKA_WRAP_TEMPLATE                    (CKF_ARRAY_ATTRIBUTE | 0x00000211UL)
#define CKA_UNWRAP_TEMPLATE                  (CKF_ARRAY_ATTRIBUTE | 0x00000212UL)
#define CKA_DERIVE_TEMPLATE                  (CKF_ARRAY_ATTRIBUTE | 0x00000213UL)
#define CKA_ALLOWED_MECHANISMS               (CKF_ARRAY_ATTRIBUTE | 0x00000600UL)
#define CKA_VENDOR_DEFINED                   0x80000000UL

/* ── mechanisms (CKM_) ───────────────────────────────────────────────────────────────── */

#define CKM_RSA_PKCS_KEY_PAIR_GEN            0x00000000UL
#define CKM_RSA_PKCS                         0x00000001UL
#define CKM_RSA_9796                         0x00000002UL
#define CKM_RSA_X_509                        0x00000003UL
#define CKM_MD5_RSA_PKCS                     0x00000005UL
#define CKM_SHA1_RSA_PKCS                    0x00000006UL
#define CKM_RIPEMD160_RSA_PKCS               0x00000008UL
#define CKM_RSA_PKCS_OAEP                    0x00000009UL
#define CKM_RSA_X9_31_KEY_PAIR_GEN           0x0000000AUL
#define CKM_RSA_PKCS_PSS                     0x0000000DUL
#define CKM_SHA1_RSA_PKCS_PSS                0x0000000EUL
#define CKM_SHA256_RSA_PKCS                  0x00000040UL
#define CKM_SHA384_RSA_PKCS                  0x00000041UL
#define CKM_SHA512_RSA_PKCS                  0x00000042UL
#define CKM_SHA256_RSA_PKCS_PSS              0x00000043UL
#define CKM_SHA384_RSA_PKCS_PSS              0x00000044UL
#define CKM_SHA512_RSA_PKCS_PSS              0x00000045UL
#define CKM_SHA224_RSA_PKCS                  0x00000046UL
#define CKM_SHA224_RSA_PKCS_PSS              0x00000047UL
#define CKM_MD5                              0x00000210UL
#define CKM_SHA_1                            0x00000220UL
#define CKM_RIPEMD160                        0x00000240UL
#define CKM_SHA256                           0x00000250UL
#define CKM_SHA224                           0x00000255UL
#define CKM_SHA384                           0x00000260UL
#define CKM_SHA512                           0x00000270UL
#define CKM_GENERIC_SECRET_KEY_GEN           0x00000350UL
#define CKM_EC_KEY_PAIR_GEN                  0x00001040UL
#define CKM_ECDSA_KEY_PAIR_GEN               CKM_EC_KEY_PAIR_GEN
#define CKM_ECDSA                            0x00001041UL
#define CKM_ECDSA_SHA1                       0x00001042UL
#define CKM_ECDSA_SHA224                     0x00001043UL
#define CKM_ECDSA_SHA256                     0x00001044UL
#define CKM_ECDSA_SHA384                     0x00001045UL
#define CKM_ECDSA_SHA512                     0x00001046UL
#define CKM_ECDH1_DERIVE                     0x00001050UL
#define CKM_ECDH1_COFACTOR_DERIVE            0x00001051UL
#define CKM_EC_EDWARDS_KEY_PAIR_GEN          0x00001055UL
#define CKM_EC_MONTGOMERY_KEY_PAIR_GEN       0x00001056UL
#define CKM_EDDSA                            0x00001057UL
#define CKM_AES_KEY_GEN                      0x00001080UL
#define CKM_AES_ECB                          0x00001081UL
#define CKM_AES_CBC                          0x00001082UL
#define CKM_AES_CBC_PAD                      0x00001085UL
#define CKM_AES_GCM                          0x00001087UL
#define CKM_VENDOR_DEFINED                   0x80000000UL

/* Mask generation functions (CKG_), OAEP sources (CKZ_), key derivation functions (CKD_). */
#define CKG_MGF1_SHA1                        0x00000001UL
#define CKG_MGF1_SHA256                      0x00000002UL
#define CKG_MGF1_SHA384                      0x00000003UL
#define CKG_MGF1_SHA512                      0x00000004UL
#define CKG_MGF1_SHA224                      0x00000005UL

#define CKZ_DATA_SPECIFIED                   0x00000001UL

#define CKD_NULL                             0x00000001UL
#define CKD_SHA1_KDF                         0x00000002UL
#define CKD_SHA224_KDF                       0x00000005UL
#define CKD_SHA256_KDF                       0x00000006UL
#define CKD_SHA384_KDF                       0x00000007UL
#define CKD_SHA512_KDF                       0x00000008UL

#ifdef __cplusplus
}
#endif

#endif /* WIM_PKCS11_H */
