/**
 * The RPC call table: for every PKCS#11 v2.40 function, its number on the wire (its index in
 * CK_FUNCTION_LIST) and its request items (docs/agent-rpc.md). The module's C table has the same
 * order, which is the standard's.
 */

/** Function names in CK_FUNCTION_LIST order; the index is the wire number. */
export const FUNCTIONS = [
  "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList", "C_GetSlotInfo",
  "C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo", "C_InitToken", "C_InitPIN", "C_SetPIN",
  "C_OpenSession", "C_CloseSession", "C_CloseAllSessions", "C_GetSessionInfo", "C_GetOperationState",
  "C_SetOperationState", "C_Login", "C_Logout", "C_CreateObject", "C_CopyObject", "C_DestroyObject",
  "C_GetObjectSize", "C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects",
  "C_FindObjectsFinal", "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal", "C_DecryptInit",
  "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal", "C_DigestInit", "C_Digest", "C_DigestUpdate", "C_DigestKey",
  "C_DigestFinal", "C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal", "C_SignRecoverInit", "C_SignRecover",
  "C_VerifyInit", "C_Verify", "C_VerifyUpdate", "C_VerifyFinal", "C_VerifyRecoverInit", "C_VerifyRecover",
  "C_DigestEncryptUpdate", "C_DecryptDigestUpdate", "C_SignEncryptUpdate", "C_DecryptVerifyUpdate",
  "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey", "C_SeedRandom",
  "C_GenerateRandom", "C_GetFunctionStatus", "C_CancelFunction", "C_WaitForSlotEvent",
] as const;

export type FunctionName = (typeof FUNCTIONS)[number];

/** The hello request that opens a connection. */
export const HELLO = 0xffff;
/** The agent's own requests (not PKCS#11 functions), numbered down from HELLO: `wim pair` and `wim unpair`. */
export const AGENT_REQUESTS = { pair: 0xfffe, "pair-status": 0xfffd, unpair: 0xfffc } as const;
export type AgentRequest = keyof typeof AGENT_REQUESTS;
/** Their request items (the same codes as REQUEST's). */
export const AGENT_REQUEST_ITEMS: Record<AgentRequest, string> = { pair: "b", "pair-status": "", unpair: "" };
/**
 * The agent's own requests beyond PKCS#11 (the `wim` command line's; docs/agent-rpc.md), numbered down
 * from below the pairing requests: request items as in REQUEST.
 */
export const EXTENSIONS = {
  /** No items; reply B: the device identity certificate (DER). */
  WIM_GetIdentityCertificate: { number: 0xfffb, items: "" },
  /** u session, b certificate; no reply items: replaces it (the SO logged in on that session). */
  WIM_SetIdentityCertificate: { number: 0xfffa, items: "ub" },
  /** u slot; reply U×8, B: PIN retry counters, store room, protocol, secure channel, firmware (status.ts). */
  WIM_GetTokenStatus: { number: 0xfff9, items: "u" },
} as const;

/** RPC protocol version the agent speaks. */
export const RPC_VERSION = 1;

/** Request items per function: u ulong, b bytes, t template, q query, m mechanism, o output, h handle list. */
export const REQUEST: Partial<Record<FunctionName, string>> = {
  C_GetSlotList: "uh", C_GetSlotInfo: "u", C_GetTokenInfo: "u", C_GetMechanismList: "uh", C_GetMechanismInfo: "uu",
  C_InitToken: "ubb", C_InitPIN: "ub", C_SetPIN: "ubb", C_OpenSession: "uu", C_CloseSession: "u",
  C_CloseAllSessions: "u", C_GetSessionInfo: "u", C_GetOperationState: "uo", C_SetOperationState: "ubuu",
  C_Login: "uub", C_Logout: "u", C_CreateObject: "ut", C_CopyObject: "uut", C_DestroyObject: "uu",
  C_GetObjectSize: "uu", C_GetAttributeValue: "uuq", C_SetAttributeValue: "uut", C_FindObjectsInit: "ut",
  C_FindObjects: "uu", C_FindObjectsFinal: "u",
  C_EncryptInit: "umu", C_Encrypt: "ubo", C_EncryptUpdate: "ubo", C_EncryptFinal: "uo",
  C_DecryptInit: "umu", C_Decrypt: "ubo", C_DecryptUpdate: "ubo", C_DecryptFinal: "uo",
  C_DigestInit: "um", C_Digest: "ubo", C_DigestUpdate: "ub", C_DigestKey: "uu", C_DigestFinal: "uo",
  C_SignInit: "umu", C_Sign: "ubo", C_SignUpdate: "ub", C_SignFinal: "uo", C_SignRecoverInit: "umu", C_SignRecover: "ubo",
  C_VerifyInit: "umu", C_Verify: "ubb", C_VerifyUpdate: "ub", C_VerifyFinal: "ub", C_VerifyRecoverInit: "umu",
  C_VerifyRecover: "ubo", C_DigestEncryptUpdate: "ubo", C_DecryptDigestUpdate: "ubo", C_SignEncryptUpdate: "ubo",
  C_DecryptVerifyUpdate: "ubo", C_GenerateKey: "umt", C_GenerateKeyPair: "umtt", C_WrapKey: "umuuo",
  C_UnwrapKey: "umubt", C_DeriveKey: "umut", C_SeedRandom: "ub", C_GenerateRandom: "uu",
};
