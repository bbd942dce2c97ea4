/*
 * calls.c — the call table: for every function of CK_FUNCTION_LIST v2.40, the items of its
 * request and of its reply, as in the table of docs/agent-rpc.md. marshal.c is driven by it;
 * forward.c only lists each function's arguments in the same order.
 *
 * Request: u CK_ULONG · b bytes · t template · q attribute query · m mechanism ·
 *          o output buffer · h handle-list output
 * Reply:   U CK_ULONG · B bytes · O output buffer · Q attribute query · H handle list
 */
#include "wim_internal.h"

#define LOCAL(fn) [WIM_FN_##fn] = { "C_" #fn, NULL, NULL }
#define CALL(fn, req, rep) [WIM_FN_##fn] = { "C_" #fn, req, rep }

const wim_call_desc wim_calls[WIM_FN_COUNT] = {
  LOCAL(Initialize),
  LOCAL(Finalize),
  LOCAL(GetInfo),
  LOCAL(GetFunctionList),
  CALL(GetSlotList,          "uh",    "H"),
  CALL(GetSlotInfo,          "u",     "BBUUUUU"),
  CALL(GetTokenInfo,         "u",     "BBBBUUUUUUUUUUUUUUUB"),
  CALL(GetMechanismList,     "uh",    "H"),
  CALL(GetMechanismInfo,     "uu",    "UUU"),
  CALL(InitToken,            "ubb",   ""),
  CALL(InitPIN,              "ub",    ""),
  CALL(SetPIN,               "ubb",   ""),
  CALL(OpenSession,          "uu",    "U"),
  CALL(CloseSession,         "u",     ""),
  CALL(CloseAllSessions,     "u",     ""),
  CALL(GetSessionInfo,       "u",     "UUUU"),
  CALL(GetOperationState,    "uo",    "O"),
  CALL(SetOperationState,    "ubuu",  ""),
  CALL(Login,                "uub",   ""),
  CALL(Logout,               "u",     ""),
  CALL(CreateObject,         "ut",    "U"),
  CALL(CopyObject,           "uut",   "U"),
  CALL(DestroyObject,        "uu",    ""),
  CALL(GetObjectSize,        "uu",    "U"),
  CALL(GetAttributeValue,    "uuq",   "Q"),
  CALL(SetAttributeValue,    "uut",   ""),
  CALL(FindObjectsInit,      "ut",    ""),
  CALL(FindObjects,          "uu",    "H"),
  CALL(FindObjectsFinal,     "u",     ""),
  CALL(EncryptInit,          "umu",   ""),
  CALL(Encrypt,              "ubo",   "O"),
  CALL(EncryptUpdate,        "ubo",   "O"),
  CALL(EncryptFinal,         "uo",    "O"),
  CALL(DecryptInit,          "umu",   ""),
  CALL(Decrypt,              "ubo",   "O"),
  CALL(DecryptUpdate,        "ubo",   "O"),
  CALL(DecryptFinal,         "uo",    "O"),
  CALL(DigestInit,           "um",    ""),
  CALL(Digest,               "ubo",   "O"),
  CALL(DigestUpdate,         "ub",    ""),
  CALL(DigestKey,            "uu",    ""),
  CALL(DigestFinal,          "uo",    "O"),
  CALL(SignInit,             "umu",   ""),
  CALL(Sign,                 "ubo",   "O"),
  CALL(SignUpdate,           "ub",    ""),
  CALL(SignFinal,            "uo",    "O"),
  CALL(SignRecoverInit,      "umu",   ""),
  CALL(SignRecover,          "ubo",   "O"),
  CALL(VerifyInit,           "umu",   ""),
  CALL(Verify,               "ubb",   ""),
  CALL(VerifyUpdate,         "ub",    ""),
  CALL(VerifyFinal,          "ub",    ""),
  CALL(VerifyRecoverInit,    "umu",   ""),
  CALL(VerifyRecover,        "ubo",   "O"),
  CALL(DigestEncryptUpdate,  "ubo",   "O"),
  CALL(DecryptDigestUpdate,  "ubo",   "O"),
  CALL(SignEncryptUpdate,    "ubo",   "O"),
  CALL(DecryptVerifyUpdate,  "ubo",   "O"),
  CALL(GenerateKey,          "umt",   "U"),
  CALL(GenerateKeyPair,      "umtt",  "UU"),
  CALL(WrapKey,              "umuuo", "O"),
  CALL(UnwrapKey,            "umubt", "U"),
  CALL(DeriveKey,            "umut",  "U"),
  CALL(SeedRandom,           "ub",    ""),
  CALL(GenerateRandom,       "uu",    "B"),
  LOCAL(GetFunctionStatus),
  LOCAL(CancelFunction),
  LOCAL(WaitForSlotEvent),
};
