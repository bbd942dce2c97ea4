/**
 * The AT+PKCS command table: the protocol between the PC agent and the device, written once.
 * The firmware parses requests and formats responses with it; the agent formats requests and
 * parses responses with it; docs/at-pkcs.md describes it for people (a test keeps them in step).
 *
 * Binary values travel as base64 inside quoted strings (4/3 of the raw size; hex would be 2×).
 * CK_ULONG values travel as decimal numbers (they fit 32 bits on the wire).
 */

/** The kind of a parameter or response field. */
export type FieldType = "uint" | "string" | "bytes";

/** One parameter of a command, or one field of its information response. */
export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  /** For strings: most characters; for bytes: most decoded bytes. */
  readonly max?: number;
  /** An optional trailing parameter may be omitted. */
  readonly optional?: boolean;
}

/** One AT+PKCS command. */
export interface CommandSpec {
  /** The command name with its "+", e.g. "+PKCSOPEN". */
  readonly name: string;
  /** The PKCS#11 function(s) it carries. */
  readonly pkcs11: string;
  /** What it does, for docs/at-pkcs.md. */
  readonly summary: string;
  /** "set" commands take parameters (AT+X=...); "read" (AT+X?) and "exec" (AT+X) commands take none. */
  readonly form: "set" | "read" | "exec";
  readonly params: readonly FieldSpec[];
  /** The fields of each "+NAME: ..." information response line. */
  readonly response: readonly FieldSpec[];
  /** True when the response has zero or more lines (one per item) instead of exactly one. */
  readonly multiline?: boolean;
  /**
   * A "set" command that also has a read form (AT+X?, no parameters): the fields of its one response line.
   * readForm(spec) gives the read form as a command of its own, for encoding and decoding.
   */
  readonly readResponse?: readonly FieldSpec[];
}

const u = (name: string, optional?: boolean): FieldSpec => ({ name, type: "uint", optional });
const s = (name: string, max: number): FieldSpec => ({ name, type: "string", max });
const b = (name: string, max: number): FieldSpec => ({ name, type: "bytes", max });

/** Largest decoded binary parameter: a 4096-bit RSA block plus headroom, or a template. */
export const MAX_BYTES = 1536;

/** Protocol versions this table speaks (AT+PKCSVER negotiates one). */
export const PROTOCOL_VERSION = 1;
export const MIN_PROTOCOL_VERSION = 1;

/** Largest payload that may be staged with AT+PKCSDATA and used as "@". */
export const MAX_STAGED = 16384;

/** Every AT+PKCS command, in the order the specification lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "+PKCSVER", pkcs11: "—", form: "set",
    summary: "Version negotiation: the PC offers the highest protocol version it speaks; the device answers with the version both will use, or +CME ERROR: 4 if it speaks none that old.",
    params: [u("version")],
    response: [u("version")],
  },
  {
    name: "+PKCSDATA", pkcs11: "—", form: "set",
    summary: "Stages a long binary value in pieces (offset 0 starts afresh; each piece continues at the staged length); a later binary parameter written \"@\" uses it, once.",
    params: [u("offset"), b("chunk", 1536)],
    response: [u("staged")],
  },
  {
    name: "+PKCSCHO", pkcs11: "(one per application)", form: "exec",
    summary: "Opens a logical channel: its own sessions and login state, for one PC application. Channel 0 always exists.",
    params: [],
    response: [u("channel")],
  },
  {
    name: "+PKCSCHC", pkcs11: "(application ends)", form: "set",
    summary: "Closes a logical channel and every session on it (logging it out). Channel 0 cannot be closed.",
    params: [u("channel")],
    response: [],
  },
  {
    name: "+PKCSCH", pkcs11: "—", form: "set",
    summary: "Selects the channel the following commands of this link act on (sent in the same line as the next command when the channel changes).",
    params: [u("channel")],
    response: [],
  },
  {
    name: "+PKCSTOKEN", pkcs11: "C_GetTokenInfo", form: "read",
    summary: "Token information: label, flags (CKF_TOKEN_INITIALIZED, CKF_USER_PIN_LOCKED, …), PIN length limits, open session counts.",
    params: [],
    response: [s("label", 32), u("flags"), u("minPin"), u("maxPin"), u("sessions"), u("rwSessions")],
  },
  {
    name: "+PKCSSTAT", pkcs11: "— (wim info)", form: "read",
    summary: "The PIN retry counters (tries left and the maximum, user then SO; a user PIN not yet set has 0 tries left) and the key store's free and total bytes (each object record costs its length rounded up to 16, plus 32; a record never spans a 4 KiB sector). No session needed; once the device is paired, only inside the secure channel.",
    params: [],
    response: [u("userTriesLeft"), u("userTriesMax"), u("soTriesLeft"), u("soTriesMax"), u("storeFreeBytes"), u("storeTotalBytes")],
  },
  {
    name: "+PKCSMECH", pkcs11: "C_GetMechanismList, C_GetMechanismInfo", form: "read",
    summary: "The mechanisms the device performs itself, one line each.",
    params: [],
    response: [u("mechanism"), u("minKeySize"), u("maxKeySize"), u("flags")],
    multiline: true,
  },
  {
    name: "+PKCSINIT", pkcs11: "C_InitToken", form: "set",
    summary: "Initializes the token: erases every object, sets the SO PIN and the label. The user PIN is then uninitialized.",
    params: [s("soPin", 64), s("label", 32)],
    response: [],
  },
  {
    name: "+PKCSOPEN", pkcs11: "C_OpenSession", form: "set",
    summary: "Opens a session (flags: CKF_SERIAL_SESSION, CKF_RW_SESSION) and returns its handle.",
    params: [u("flags")],
    response: [u("session")],
  },
  {
    name: "+PKCSCLOSE", pkcs11: "C_CloseSession", form: "set",
    summary: "Closes a session; closing the channel's last session logs the channel out.",
    params: [u("session")],
    response: [],
  },
  {
    name: "+PKCSLOGIN", pkcs11: "C_Login", form: "set",
    summary: "Logs the channel in as the user (1) or the SO (0), or re-authenticates the user for one operation (2, context-specific).",
    params: [u("session"), u("userType"), s("pin", 64)],
    response: [],
  },
  {
    name: "+PKCSLOGOUT", pkcs11: "C_Logout", form: "set",
    summary: "Logs the channel out.",
    params: [u("session")],
    response: [],
  },
  {
    name: "+PKCSINITPIN", pkcs11: "C_InitPIN", form: "set",
    summary: "The logged-in SO sets the user PIN (and resets its retry counter).",
    params: [u("session"), s("pin", 64)],
    response: [],
  },
  {
    name: "+PKCSFIND", pkcs11: "C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal", form: "set",
    summary: "Every object visible to the session that matches the template; one handle a line.",
    params: [u("session"), b("template", MAX_BYTES)],
    response: [u("object")],
    multiline: true,
  },
  {
    name: "+PKCSATTR", pkcs11: "C_GetAttributeValue", form: "set",
    summary: "Values of the requested attribute types (a list of 32-bit types); per type the value, or its absence or sensitivity.",
    params: [u("session"), u("object"), b("types", 256)],
    response: [b("values", 4 * MAX_BYTES)],
  },
  {
    name: "+PKCSCREATE", pkcs11: "C_CreateObject", form: "set",
    summary: "Creates an object from a template: a certificate, a data object, a public key, or an imported EC private key.",
    params: [u("session"), b("template", MAX_STAGED)],
    response: [u("object")],
  },
  {
    name: "+PKCSCOPY", pkcs11: "C_CopyObject", form: "set",
    summary: "Copies a CKA_COPYABLE object (certificates, data objects, public keys) with a template's changes.",
    params: [u("session"), u("object"), b("template", MAX_BYTES)],
    response: [u("object")],
  },
  {
    name: "+PKCSDESTROY", pkcs11: "C_DestroyObject", form: "set",
    summary: "Destroys an object (a private key with its secret).",
    params: [u("session"), u("object")],
    response: [],
  },
  {
    name: "+PKCSSETATTR", pkcs11: "C_SetAttributeValue", form: "set",
    summary: "Changes modifiable attributes of an object, by the access rules of PKCS#11.",
    params: [u("session"), u("object"), b("template", MAX_BYTES)],
    response: [],
  },
  {
    name: "+PKCSSETPIN", pkcs11: "C_SetPIN", form: "set",
    summary: "Changes the user PIN (the SO's, when the channel is logged in as SO); the old PIN is checked with the retry counter.",
    params: [u("session"), s("oldPin", 64), s("newPin", 64)],
    response: [],
  },
  {
    name: "+PKCSGENKP", pkcs11: "C_GenerateKeyPair", form: "set",
    summary: "Generates a key pair on the device from the public and private templates; returns both handles.",
    params: [u("session"), u("mechanism"), b("publicTemplate", MAX_BYTES), b("privateTemplate", MAX_BYTES)],
    response: [u("publicKey"), u("privateKey")],
  },
  {
    name: "+PKCSSIGN", pkcs11: "C_SignInit + C_Sign", form: "set",
    summary: "Signs data (a digest or DigestInfo prepared on the PC) with a private key in one round trip; the mechanism parameter, if any, last.",
    params: [u("session"), u("key"), u("mechanism"), b("data", MAX_BYTES), { ...b("parameter", 64), optional: true }],
    response: [b("signature", 512)],
  },
  {
    name: "+PKCSDECRYPT", pkcs11: "C_DecryptInit + C_Decrypt", form: "set",
    summary: "Decrypts one RSA block with a private key in one round trip (CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP with its flattened parameters, CKM_RSA_X_509).",
    params: [u("session"), u("key"), u("mechanism"), b("data", 512), { ...b("parameter", 1024), optional: true }],
    response: [b("plaintext", 512)],
  },
  {
    name: "+PKCSDERIVE", pkcs11: "C_DeriveKey", form: "set",
    summary: "Derives a generic secret key with CKM_ECDH1_DERIVE (KDF CKD_NULL) from an EC private key and the peer's point in the flattened parameters.",
    params: [u("session"), u("key"), u("mechanism"), b("parameter", 300), b("template", MAX_BYTES)],
    response: [u("object")],
  },
  {
    name: "+PKCSRAND", pkcs11: "C_GenerateRandom", form: "set",
    summary: "Random bytes from the device's generator (at most 1024 a call).",
    params: [u("session"), u("length")],
    response: [b("random", 1024)],
  },
  {
    name: "+PKCSHS", pkcs11: "(secure channel)", form: "set",
    summary: "The secure channel's Noise IK handshake (docs/channel.md): message 1 in, message 2 out; after its OK the link carries only records. The read form AT+PKCSHS? answers +PKCSHS: <paired hosts>.",
    params: [b("message", 512)],
    response: [b("message", 512)],
    readResponse: [u("paired")],
  },
  {
    name: "+PKCSPAIR", pkcs11: "(pairing)", form: "set",
    summary: "Arms the pairing window for a host's channel public key (65 bytes, SEC 1 uncompressed) and name: the seconds left to press the button. Serial link only; a second request while a window is open cancels both.",
    params: [b("hostKey", 65), s("name", 32)],
    response: [u("seconds")],
  },
  {
    name: "+PKCSPAIRC", pkcs11: "(pairing)", form: "exec",
    summary: "The pairing window's state: 0 waiting, 1 paired (with the device's channel public key), 2 expired or cancelled.",
    params: [],
    response: [u("state"), b("deviceKey", 65)],
  },
  {
    name: "+PKCSUNPAIR", pkcs11: "(pairing)", form: "exec",
    summary: "Inside the secure channel: removes the host that opened it from the paired hosts.",
    params: [],
    response: [],
  },
  {
    name: "+PKCSUNPAIRALL", pkcs11: "(pairing)", form: "set",
    summary: "Inside the secure channel, with the SO logged in on the session: removes every paired host.",
    params: [u("session")],
    response: [],
  },
  {
    name: "+PKCSATTEST", pkcs11: "— (attestation)", form: "set",
    summary: "The attestation certificate (X.509, DER) of a private key generated on the device, signed by the device identity key; a key that was imported or ever extractable is refused with +PKCS ERROR: 104 (CKR_KEY_FUNCTION_NOT_PERMITTED). Needs a session, not a login (a CKA_PRIVATE key is visible only to the logged-in user).",
    params: [u("session"), u("key")],
    response: [b("certificate", 2048)],
  },
  {
    name: "+PKCSIDCERT", pkcs11: "— (attestation)", form: "read",
    summary: "The device identity certificate (X.509, DER): self-signed at the first start, or the one AT+PKCSIDSET stored.",
    params: [],
    response: [b("certificate", 2048)],
  },
  {
    name: "+PKCSIDSET", pkcs11: "— (attestation)", form: "set",
    summary: "Replaces the device identity certificate by one for the same identity key (a CA's): needs the SO logged in on a read/write session; a certificate of another key is +PKCS ERROR: 7 (CKR_ARGUMENTS_BAD). One store transaction.",
    params: [u("session"), b("certificate", 2048)],
    response: [],
  },
];

/** An unsolicited result code the device may send between commands. */
export interface UnsolicitedSpec {
  readonly name: string;
  readonly summary: string;
  readonly fields: readonly FieldSpec[];
}

/** Every unsolicited result code. */
export const UNSOLICITED: readonly UnsolicitedSpec[] = [
  {
    name: "+PKCSRDY",
    summary: "The device has (re)started: every channel, session and login is gone, and the link settings are the defaults. Sent once on each link at start-up.",
    fields: [u("version")],
  },
  {
    name: "+PKCSKGP",
    summary: "Intermediate result of AT+PKCSGENKP: random draws so far of an RSA key generation (prime candidates and Miller-Rabin bases; every 16). Any byte the PC sends meanwhile (the agent sends CAN, 0x18) cancels it: +PKCS ERROR: 80 (CKR_FUNCTION_CANCELED), nothing stored.",
    fields: [u("candidates")],
  },
  {
    name: "+PKCSSEC",
    summary: "The link's secure session ended (a bad record, a clear byte, a new handshake, the link ended): sent in clear; every logical channel and login of that session is gone. The host handshakes again.",
    fields: [u("state")],
  },
];

/** The read form of a "set" command that has one (CommandSpec.readResponse), as a command of its own. */
export function readForm(spec: CommandSpec): CommandSpec | undefined {
  return spec.readResponse && { ...spec, form: "read", params: [], response: spec.readResponse, readResponse: undefined };
}

/** The command table by name. */
export const COMMAND_BY_NAME: ReadonlyMap<string, CommandSpec> = new Map(COMMANDS.map((c) => [c.name, c]));
