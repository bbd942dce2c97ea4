/*
 * forward.c — the forwarded C_* entry points. Each one only lists its arguments in the
 * order of its row in the call table (calls.c); marshal.c does the rest.
 */
#include "wim_internal.h"

#define CALL(fn, ...)                                   \
  do {                                                  \
    wim_arg args_[] = { __VA_ARGS__ };                  \
    return wim_call(WIM_FN_##fn, args_, WIM_NARGS(args_)); \
  } while (0)

/* A field of an output structure, or NULL when the structure pointer is NULL (the
 * marshaller then answers CKR_ARGUMENTS_BAD, after the initialization check). */
#define FIELD(s, f) ((s) ? (void *)&(s)->f : NULL)
#define TEXT(s, f) WIM_OUT_TEXT(FIELD(s, f), sizeof((s)->f))

/* ── slots and tokens ────────────────────────────────────────────────────────────────── */

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
  CALL(GetSlotList, WIM_U(tokenPresent), WIM_O(pSlotList, pulCount));
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
  CALL(GetSlotInfo, WIM_U(slotID), TEXT(pInfo, slotDescription), TEXT(pInfo, manufacturerID),
       WIM_OUT_U(FIELD(pInfo, flags)),
       WIM_OUT_BYTE(FIELD(pInfo, hardwareVersion.major)),
       WIM_OUT_BYTE(FIELD(pInfo, hardwareVersion.minor)),
       WIM_OUT_BYTE(FIELD(pInfo, firmwareVersion.major)),
       WIM_OUT_BYTE(FIELD(pInfo, firmwareVersion.minor)));
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
  CALL(GetTokenInfo, WIM_U(slotID), TEXT(pInfo, label), TEXT(pInfo, manufacturerID),
       TEXT(pInfo, model), TEXT(pInfo, serialNumber), WIM_OUT_U(FIELD(pInfo, flags)),
       WIM_OUT_U(FIELD(pInfo, ulMaxSessionCount)), WIM_OUT_U(FIELD(pInfo, ulSessionCount)),
       WIM_OUT_U(FIELD(pInfo, ulMaxRwSessionCount)), WIM_OUT_U(FIELD(pInfo, ulRwSessionCount)),
       WIM_OUT_U(FIELD(pInfo, ulMaxPinLen)), WIM_OUT_U(FIELD(pInfo, ulMinPinLen)),
       WIM_OUT_U(FIELD(pInfo, ulTotalPublicMemory)), WIM_OUT_U(FIELD(pInfo, ulFreePublicMemory)),
       WIM_OUT_U(FIELD(pInfo, ulTotalPrivateMemory)),
       WIM_OUT_U(FIELD(pInfo, ulFreePrivateMemory)),
       WIM_OUT_BYTE(FIELD(pInfo, hardwareVersion.major)),
       WIM_OUT_BYTE(FIELD(pInfo, hardwareVersion.minor)),
       WIM_OUT_BYTE(FIELD(pInfo, firmwareVersion.major)),
       WIM_OUT_BYTE(FIELD(pInfo, firmwareVersion.minor)), TEXT(pInfo, utcTime));
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                         CK_ULONG_PTR pulCount)
{
  CALL(GetMechanismList, WIM_U(slotID), WIM_O(pMechanismList, pulCount));
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
  CALL(GetMechanismInfo, WIM_U(slotID), WIM_U(type), WIM_OUT_U(FIELD(pInfo, ulMinKeySize)),
       WIM_OUT_U(FIELD(pInfo, ulMaxKeySize)), WIM_OUT_U(FIELD(pInfo, flags)));
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
  CALL(InitToken, WIM_U(slotID), WIM_B(pPin, ulPinLen), WIM_B(pLabel, 32));
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
  CALL(InitPIN, WIM_U(hSession), WIM_B(pPin, ulPinLen));
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
               CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
  CALL(SetPIN, WIM_U(hSession), WIM_B(pOldPin, ulOldLen), WIM_B(pNewPin, ulNewLen));
}

/* ── sessions ────────────────────────────────────────────────────────────────────────── */

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession)
{
  (void)pApplication; /* the token sends no notifications */
  (void)Notify;
  CALL(OpenSession, WIM_U(slotID), WIM_U(flags), WIM_OUT_U(phSession));
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
  CALL(CloseSession, WIM_U(hSession));
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
  CALL(CloseAllSessions, WIM_U(slotID));
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
  CALL(GetSessionInfo, WIM_U(hSession), WIM_OUT_U(FIELD(pInfo, slotID)),
       WIM_OUT_U(FIELD(pInfo, state)), WIM_OUT_U(FIELD(pInfo, flags)),
       WIM_OUT_U(FIELD(pInfo, ulDeviceError)));
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG_PTR pulOperationStateLen)
{
  CALL(GetOperationState, WIM_U(hSession), WIM_O(pOperationState, pulOperationStateLen));
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                          CK_OBJECT_HANDLE hAuthenticationKey)
{
  CALL(SetOperationState, WIM_U(hSession), WIM_B(pOperationState, ulOperationStateLen),
       WIM_U(hEncryptionKey), WIM_U(hAuthenticationKey));
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen)
{
  CALL(Login, WIM_U(hSession), WIM_U(userType), WIM_B(pPin, ulPinLen));
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
  CALL(Logout, WIM_U(hSession));
}

/* ── objects ─────────────────────────────────────────────────────────────────────────── */

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject)
{
  CALL(CreateObject, WIM_U(hSession), WIM_T(pTemplate, ulCount), WIM_OUT_U(phObject));
}

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                   CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
  CALL(CopyObject, WIM_U(hSession), WIM_U(hObject), WIM_T(pTemplate, ulCount),
       WIM_OUT_U(phNewObject));
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
  CALL(DestroyObject, WIM_U(hSession), WIM_U(hObject));
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
  CALL(GetObjectSize, WIM_U(hSession), WIM_U(hObject), WIM_OUT_U(pulSize));
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
  CALL(GetAttributeValue, WIM_U(hSession), WIM_U(hObject), WIM_Q(pTemplate, ulCount));
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
  CALL(SetAttributeValue, WIM_U(hSession), WIM_U(hObject), WIM_T(pTemplate, ulCount));
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
  CALL(FindObjectsInit, WIM_U(hSession), WIM_T(pTemplate, ulCount));
}

CK_RV wim_forward_find_objects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                               CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
  CALL(FindObjects, WIM_U(hSession), WIM_U(ulMaxObjectCount),
       WIM_H(phObject, ulMaxObjectCount, pulObjectCount));
}

/* Through compat.c, which may leave keys out for a client that cannot take them. */
CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
  return wim_find_objects(hSession, phObject, ulMaxObjectCount, pulObjectCount);
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
  CALL(FindObjectsFinal, WIM_U(hSession));
}

/* ── cryptographic operations ────────────────────────────────────────────────────────── */

/* The shapes shared by many functions: (session, mechanism, key) initializers,
 * (session, data, output) one-shot and update calls, (session, output) finals,
 * (session, data) updates. */
#define INIT_FN(fn)                                                                         \
  CK_RV C_##fn(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) \
  {                                                                                         \
    CALL(fn, WIM_U(hSession), WIM_M(pMechanism), WIM_U(hKey));                              \
  }
#define DATA_OUT_FN(fn)                                                                     \
  CK_RV C_##fn(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pIn, CK_ULONG ulInLen, CK_BYTE_PTR pOut, \
               CK_ULONG_PTR pulOutLen)                                                      \
  {                                                                                         \
    CALL(fn, WIM_U(hSession), WIM_B(pIn, ulInLen), WIM_O(pOut, pulOutLen));                 \
  }
#define OUT_FN(fn)                                                                          \
  CK_RV C_##fn(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen)        \
  {                                                                                         \
    CALL(fn, WIM_U(hSession), WIM_O(pOut, pulOutLen));                                      \
  }
#define DATA_FN(fn)                                                                         \
  CK_RV C_##fn(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pIn, CK_ULONG ulInLen)               \
  {                                                                                         \
    CALL(fn, WIM_U(hSession), WIM_B(pIn, ulInLen));                                         \
  }
/* A part longer than one request (1 MiB, marshal.c) goes as several updates: the agent hashes
 * or collects them in order, so a multi-part operation takes any length, as the standard lets it. */
#define WIM_MAX_PIECE (1024u * 1024u - 1024u)
static CK_RV update_in_pieces(enum wim_fn fn, CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n)
{
  for (;;) {
    CK_ULONG k = n < WIM_MAX_PIECE ? n : WIM_MAX_PIECE;
    wim_arg args[] = { WIM_U(h), WIM_B(p, k) };
    CK_RV rv = wim_call(fn, args, WIM_NARGS(args));
    if (rv != CKR_OK || k == n)
      return rv;
    p += k;
    n -= k;
  }
}
#define PIECES_FN(fn)                                                                       \
  CK_RV C_##fn(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pIn, CK_ULONG ulInLen)               \
  {                                                                                         \
    return update_in_pieces(WIM_FN_##fn, hSession, pIn, ulInLen);                           \
  }

INIT_FN(EncryptInit)
DATA_OUT_FN(Encrypt)
DATA_OUT_FN(EncryptUpdate)
OUT_FN(EncryptFinal)

INIT_FN(DecryptInit)
DATA_OUT_FN(Decrypt)
DATA_OUT_FN(DecryptUpdate)
OUT_FN(DecryptFinal)

CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
  CALL(DigestInit, WIM_U(hSession), WIM_M(pMechanism));
}
DATA_OUT_FN(Digest)
PIECES_FN(DigestUpdate)
CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
  CALL(DigestKey, WIM_U(hSession), WIM_U(hKey));
}
OUT_FN(DigestFinal)

INIT_FN(SignInit)
DATA_OUT_FN(Sign)
PIECES_FN(SignUpdate)
OUT_FN(SignFinal)
INIT_FN(SignRecoverInit)
DATA_OUT_FN(SignRecover)

INIT_FN(VerifyInit)
CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
  CALL(Verify, WIM_U(hSession), WIM_B(pData, ulDataLen), WIM_B(pSignature, ulSignatureLen));
}
PIECES_FN(VerifyUpdate)
DATA_FN(VerifyFinal)
INIT_FN(VerifyRecoverInit)
DATA_OUT_FN(VerifyRecover)

DATA_OUT_FN(DigestEncryptUpdate)
DATA_OUT_FN(DecryptDigestUpdate)
DATA_OUT_FN(SignEncryptUpdate)
DATA_OUT_FN(DecryptVerifyUpdate)

/* ── keys and randomness ─────────────────────────────────────────────────────────────── */

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
  CALL(GenerateKey, WIM_U(hSession), WIM_M(pMechanism), WIM_T(pTemplate, ulCount),
       WIM_OUT_U(phKey));
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                        CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                        CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
  CALL(GenerateKeyPair, WIM_U(hSession), WIM_M(pMechanism),
       WIM_T(pPublicKeyTemplate, ulPublicKeyAttributeCount),
       WIM_T(pPrivateKeyTemplate, ulPrivateKeyAttributeCount), WIM_OUT_U(phPublicKey),
       WIM_OUT_U(phPrivateKey));
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
                CK_ULONG_PTR pulWrappedKeyLen)
{
  CALL(WrapKey, WIM_U(hSession), WIM_M(pMechanism), WIM_U(hWrappingKey), WIM_U(hKey),
       WIM_O(pWrappedKey, pulWrappedKeyLen));
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                  CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                  CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
  CALL(UnwrapKey, WIM_U(hSession), WIM_M(pMechanism), WIM_U(hUnwrappingKey),
       WIM_B(pWrappedKey, ulWrappedKeyLen), WIM_T(pTemplate, ulAttributeCount),
       WIM_OUT_U(phKey));
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                  CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
  CALL(DeriveKey, WIM_U(hSession), WIM_M(pMechanism), WIM_U(hBaseKey),
       WIM_T(pTemplate, ulAttributeCount), WIM_OUT_U(phKey));
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
  CALL(SeedRandom, WIM_U(hSession), WIM_B(pSeed, ulSeedLen));
}

/* Most bytes one C_GenerateRandom returns: 1 MiB, as MAX_RANDOM in pc/agent/wire.ts. A token
 * has a per-call maximum; above it the call is CKR_ARGUMENTS_BAD (nothing is sent). */
#define WIM_MAX_RANDOM (1024u * 1024u)

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen)
{
  if (ulRandomLen > WIM_MAX_RANDOM && wim_is_initialized())
    return wim_debug_rv("C_GenerateRandom", CKR_ARGUMENTS_BAD);
  CALL(GenerateRandom, WIM_U(hSession), WIM_U(ulRandomLen),
       WIM_OUT_EXACT(RandomData, ulRandomLen));
}
