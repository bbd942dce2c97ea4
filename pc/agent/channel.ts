/**
 * One client application's view of the token (one module connection): its sessions, their
 * active operations (find, sign), and the PKCS#11 rules the agent enforces before the device is
 * asked. The split of the patent: the agent keeps operation state and prepares data; the device
 * holds the keys and does the private-key work in one round trip per operation.
 */
import { CKA, CKF, CKK, CKM, CKO, CKR, CKS, PkcsError } from "../../modules/at/pkcs11.js";
import { ATTR_INVALID, ATTR_SENSITIVE, decodeTemplate, encodeTemplate, encodeTypes, isWireType, readBool, readUlong } from "../../modules/at/template.js";
import { MAX_PIN, MIN_PIN } from "../../modules/wim/token.js";
import crypto from "node:crypto";
import type { Device } from "./device.js";
import { CIPHER_MECHANISMS, HASHES, SIGN_MECHANISMS, type SignMechanism, tokenMechanisms } from "./mechanisms.js";
import { type PublicKey, encrypt, publicKey, verify } from "./publickey.js";
import { Attestations, isAttestation } from "./attestation.js";
import { curveByParams } from "../../modules/wim/curves.js";
import { MAX_RANDOM, UNAVAILABLE, type RpcAttribute, type RpcMechanism, type RpcOutput, type RpcQuery, Writer } from "./wire.js";

/** The one slot of the agent. */
export const SLOT_ID = 0;
const MAX_SESSIONS = 16;

/** C_SignInit / C_VerifyInit state: the mechanism, key, and the data or running hash so far. */
interface SignOperation {
  m: SignMechanism;
  key: number;
  parameter: Uint8Array;
  size: number;
  hash?: crypto.Hash;
  parts: Buffer[];
  publicKey?: PublicKey;
}

/** C_DecryptInit / C_EncryptInit state; a decryption's result is kept for a too-small buffer's retry. */
interface CipherOperation {
  mechanism: number;
  key: number;
  parameter: Uint8Array;
  size: number;
  result?: Uint8Array;
  publicKey?: PublicKey;
}

interface Session {
  flags: number;
  find?: number[];
  sign?: SignOperation;
  verify?: SignOperation;
  decrypt?: CipherOperation;
  encrypt?: CipherOperation;
  digest?: crypto.Hash & { size?: number };
}

function latin1(b: Uint8Array | null): string {
  if (!b) throw new PkcsError(CKR.ARGUMENTS_BAD);
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

/**
 * A PIN as the AT line carries it (one character per byte; the quoting escapes any byte).
 * NULL is CKR_ARGUMENTS_BAD (no protected authentication path); a length outside the token's
 * limits (C_GetTokenInfo's ulMinPinLen…ulMaxPinLen, the device's own checks) is
 * CKR_PIN_LEN_RANGE, answered here for C_Login too so that a PIN that cannot be right costs no try.
 */
function pinText(b: Uint8Array | null): string {
  const pin = latin1(b);
  if (pin.length < MIN_PIN || pin.length > MAX_PIN) throw new PkcsError(CKR.PIN_LEN_RANGE);
  return pin;
}

/** A request template for the device. A type over 32 bits is not one the token knows (it must not
 * wrap onto a real type such as CKA_CLASS): CKR_ATTRIBUTE_TYPE_INVALID. */
function wireTemplate(t: readonly RpcAttribute[]): Uint8Array {
  return encodeTemplate(t.map((a) => {
    if (!a.value) throw new PkcsError(CKR.ARGUMENTS_BAD);
    if (!isWireType(a.type)) throw new PkcsError(CKR.ATTRIBUTE_TYPE_INVALID);
    return { type: a.type, value: a.value };
  }));
}

/** A handle or mechanism type from the application: over 32 bits it cannot name anything on the device. */
function wireNumber(v: number, rv: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new PkcsError(rv);
  return v;
}

/** CKA_ALLOWED_MECHANISMS (8-byte types) permits exactly `type`; no list permits all. */
function allowed(list: Uint8Array | undefined, type: number): boolean {
  if (!list || list.length === 0) return true;
  for (let o = 0; o + 8 <= list.length; o += 8) if (Number(Buffer.from(list).readBigUInt64LE(o)) === type) return true;
  return false;
}

/**
 * A pairing request's failure as a CK_RV: the device refused it (+CME ERROR: pairing over BLE, the
 * table full, no channel to unpair in) CKR_FUNCTION_FAILED; a link that failed CKR_DEVICE_ERROR.
 */
function rpcError(e: unknown): never {
  if (e instanceof PkcsError) throw e;
  const message = e instanceof Error ? e.message : String(e);
  console.error(`agent: ${message}`);
  throw new PkcsError(/CME ERROR|no secure channel/.test(message) ? CKR.FUNCTION_FAILED : CKR.DEVICE_ERROR, message);
}

function checkSlot(slot: number): void {
  if (slot !== SLOT_ID) throw new PkcsError(CKR.SLOT_ID_INVALID);
}

/**
 * The size-query convention before an operation runs: with no buffer, or one shorter than `size`,
 * the call only reports the size (CKR_OK or CKR_BUFFER_TOO_SMALL) and the operation stays active.
 * Undefined when the buffer is big enough and the operation should run.
 */
function sizeOnly(w: Writer, out: RpcOutput, size: number): number | undefined {
  if (out.hasBuffer && out.capacity >= size) return undefined;
  w.output(size, new Uint8Array(0));
  return out.hasBuffer ? CKR.BUFFER_TOO_SMALL : CKR.OK;
}

/** Delivers `data` to an output buffer per the size-query convention; returns the CK_RV. */
function deliver(w: Writer, out: RpcOutput, data: Uint8Array): number {
  if (!out.hasBuffer) {
    w.output(data.length, new Uint8Array(0));
    return CKR.OK;
  }
  if (out.capacity < data.length) {
    w.output(data.length, new Uint8Array(0));
    return CKR.BUFFER_TOO_SMALL;
  }
  w.output(data.length, data);
  return CKR.OK;
}

/** One client connection. */
export class Channel {
  private readonly sessions = new Map<number, Session>();
  /** This application's logical channel on the device, opened on first use. */
  private ch: number | undefined;
  private epoch: number;
  private loggedIn: "so" | "user" | undefined;
  /** Key attributes read by operation Inits (see keyAttributes). */
  private readonly keyCache = new Map<string, Map<number, Uint8Array>>();
  /** The attestation certificate objects (attestation.ts). */
  private readonly attestations = new Attestations((name, values) => this.run(name, values));

  constructor(private readonly device: Device) {
    this.epoch = device.epoch;
  }

  /** Forgets everything the device forgot when it restarted. */
  private sync(): void {
    if (this.epoch === this.device.epoch) return;
    this.epoch = this.device.epoch;
    this.keyCache.clear();
    this.attestations.forget();
    this.sessions.clear();
    this.ch = undefined;
    this.loggedIn = undefined;
  }

  /** Runs a command on this application's channel. */
  private async run(name: string, values: Parameters<Device["run"]>[1] = []) {
    this.sync();
    if (this.ch === undefined) this.ch = await this.device.openChannel();
    return this.device.run(name, values, this.ch);
  }

  /** The application went away: a long command of its own (a key generation) is cancelled at once. */
  abandon(): void {
    if (this.ch !== undefined) this.device.cancelFor(this.ch);
  }

  /** Closes the channel and with it every session (the client went away). */
  async closeAll(): Promise<void> {
    this.sync();
    this.sessions.clear();
    this.loggedIn = undefined;
    const ch = this.ch;
    this.ch = undefined;
    if (ch !== undefined) await this.device.run("+PKCSCHC", [ch], 0).catch(() => undefined);
  }

  private session(h: number): Session {
    this.sync();
    const s = this.sessions.get(h);
    if (!s) throw new PkcsError(CKR.SESSION_HANDLE_INVALID);
    return s;
  }

  /** `wim pair`, step 1 (agent request `pair`): arms the device's pairing window; its seconds. */
  async pair(name: Uint8Array | null, w: Writer): Promise<number> {
    w.u64(await this.device.pairStart(latin1(name)).catch(rpcError));
    return CKR.OK;
  }

  /** `wim pair`, step 2 (agent request `pair-status`, every 250 ms): 0 waiting, 1 paired, 2 expired. */
  async pairStatus(w: Writer): Promise<number> {
    w.u64(await this.device.pairPoll().catch(rpcError));
    return CKR.OK;
  }

  /** `wim unpair` (agent request `unpair`). */
  async unpair(): Promise<number> {
    await this.device.unpair().catch(rpcError);
    return CKR.OK;
  }

  async getSlotList(_present: number, out: RpcOutput, w: Writer): Promise<number> {
    const slots = [SLOT_ID];
    if (out.hasBuffer && out.capacity < slots.length) {
      w.handles(slots.length, []);
      return CKR.BUFFER_TOO_SMALL;
    }
    w.handles(slots.length, out.hasBuffer ? slots : []);
    return CKR.OK;
  }

  async getSlotInfo(slot: number, w: Writer): Promise<number> {
    checkSlot(slot);
    const id = this.device.identity;
    const [major, minor] = version(id.revision);
    // a device that refuses this host (paired with others only): the slot says why, and has no token
    const refusal = this.device.refusal;
    w.bytes(text(refusal ?? `${id.model} ${id.serial}`)).bytes(text(id.manufacturer));
    w.u64((refusal ? 0 : 0x1) | 0x4 /* CKF_TOKEN_PRESENT | CKF_HW_SLOT */).u64(major).u64(minor).u64(major).u64(minor);
    return CKR.OK;
  }

  async getTokenInfo(slot: number, w: Writer): Promise<number> {
    checkSlot(slot);
    if (this.device.refusal) return CKR.TOKEN_NOT_PRESENT;
    const [[label, flags, minPin, maxPin, sessions, rwSessions]] = await this.device.run("+PKCSTOKEN");
    const id = this.device.identity;
    const [major, minor] = version(id.revision);
    w.bytes(text(label as string)).bytes(text(id.manufacturer)).bytes(text(id.model)).bytes(text(id.serial));
    w.u64(flags as number).u64(MAX_SESSIONS).u64(sessions as number).u64(MAX_SESSIONS).u64(rwSessions as number);
    w.u64(maxPin as number).u64(minPin as number);
    for (let i = 0; i < 4; i++) w.u64(UNAVAILABLE); // public/private memory totals and free
    w.u64(major).u64(minor).u64(major).u64(minor).bytes(new Uint8Array(0));
    return CKR.OK;
  }

  async getMechanismList(slot: number, out: RpcOutput, w: Writer): Promise<number> {
    checkSlot(slot);
    if (this.device.refusal) return CKR.TOKEN_NOT_PRESENT;
    const list = tokenMechanisms(this.device.mechanisms).map((m) => m.type);
    if (out.hasBuffer && out.capacity < list.length) {
      w.handles(list.length, []);
      return CKR.BUFFER_TOO_SMALL;
    }
    w.handles(list.length, out.hasBuffer ? list : []);
    return CKR.OK;
  }

  async getMechanismInfo(slot: number, type: number, w: Writer): Promise<number> {
    checkSlot(slot);
    if (this.device.refusal) return CKR.TOKEN_NOT_PRESENT;
    const m = tokenMechanisms(this.device.mechanisms).find((x) => x.type === type);
    if (!m) return CKR.MECHANISM_INVALID;
    w.u64(m.min).u64(m.max).u64(m.flags);
    return CKR.OK;
  }

  async initToken(slot: number, pin: Uint8Array | null, label: Uint8Array | null): Promise<number> {
    this.keyCache.clear();
    this.attestations.forget();
    checkSlot(slot);
    if (this.sessions.size) return CKR.SESSION_EXISTS;
    await this.run("+PKCSINIT", [pinText(pin), latin1(label).replace(/ +$/, "")]);
    return CKR.OK;
  }

  async initPin(h: number, pin: Uint8Array | null): Promise<number> {
    this.session(h);
    await this.run("+PKCSINITPIN", [h, pinText(pin)]);
    return CKR.OK;
  }

  async openSession(slot: number, flags: number, w: Writer): Promise<number> {
    checkSlot(slot);
    const [[h]] = await this.run("+PKCSOPEN", [flags & (CKF.RW_SESSION | CKF.SERIAL_SESSION)]);
    this.sessions.set(h as number, { flags });
    w.u64(h as number);
    return CKR.OK;
  }

  async closeSession(h: number): Promise<number> {
    this.keyCache.clear();
    this.session(h);
    this.sessions.delete(h);
    await this.run("+PKCSCLOSE", [h]);
    if (this.sessions.size === 0) this.loggedIn = undefined; // as the device does for the channel
    return CKR.OK;
  }

  async closeAllSessions(slot: number): Promise<number> {
    checkSlot(slot);
    for (const h of [...this.sessions.keys()]) await this.closeSession(h);
    return CKR.OK;
  }

  async getSessionInfo(h: number, w: Writer): Promise<number> {
    const s = this.session(h);
    const rw = (s.flags & CKF.RW_SESSION) !== 0;
    const login = this.loggedIn;
    const state = login === "so" ? CKS.RW_SO : login === "user" ? (rw ? CKS.RW_USER : CKS.RO_USER) : rw ? CKS.RW_PUBLIC : CKS.RO_PUBLIC;
    w.u64(SLOT_ID).u64(state).u64(s.flags & (CKF.RW_SESSION | CKF.SERIAL_SESSION)).u64(0);
    return CKR.OK;
  }

  async login(h: number, userType: number, pin: Uint8Array | null): Promise<number> {
    this.keyCache.clear();
    this.session(h);
    await this.run("+PKCSLOGIN", [h, wireNumber(userType, CKR.USER_TYPE_INVALID), pinText(pin)]);
    if (userType === 0) this.loggedIn = "so";
    else if (userType === 1) this.loggedIn = "user";
    return CKR.OK;
  }

  async logout(h: number): Promise<number> {
    this.keyCache.clear();
    this.session(h);
    await this.run("+PKCSLOGOUT", [h]);
    this.loggedIn = undefined;
    return CKR.OK;
  }

  async getAttributeValue(h: number, object: number, query: RpcQuery[], w: Writer): Promise<number> {
    this.session(h);
    // a type over 32 bits is not asked (it would alias a real one): it answers as one the object lacks
    const asked = query.filter((q) => isWireType(q.type));
    let answers;
    try {
      if (isAttestation(object)) answers = await this.attestations.attributes(h, object, asked.map((q) => q.type));
      else {
        const [[values]] = await this.run("+PKCSATTR", [h, wireNumber(object, CKR.OBJECT_HANDLE_INVALID), encodeTypes(asked.map((q) => q.type))]);
        answers = decodeTemplate(values as Uint8Array, true);
      }
    } catch (e) {
      if (e instanceof PkcsError && e.rv === CKR.SESSION_HANDLE_INVALID) throw e;
      if (e instanceof PkcsError) return e.rv;
      throw e;
    }
    if (!answers || answers.length !== asked.length) return CKR.DEVICE_ERROR;
    let rv: number = CKR.OK;
    let next = 0;
    w.u32(query.length);
    query.forEach((q) => {
      const v = isWireType(q.type) ? answers[next++].value : ATTR_INVALID;
      if (v === ATTR_SENSITIVE || v === ATTR_INVALID) {
        if (rv !== CKR.ATTRIBUTE_SENSITIVE) rv = v === ATTR_SENSITIVE ? CKR.ATTRIBUTE_SENSITIVE : CKR.ATTRIBUTE_TYPE_INVALID;
        w.u64(UNAVAILABLE).bytes(new Uint8Array(0));
      } else if (!q.hasBuffer) {
        w.u64(v.length).bytes(new Uint8Array(0));
      } else if (q.capacity < v.length) {
        if (rv === CKR.OK) rv = CKR.BUFFER_TOO_SMALL;
        w.u64(UNAVAILABLE).bytes(new Uint8Array(0));
      } else {
        w.u64(v.length).bytes(v);
      }
    });
    return rv;
  }

  async findObjectsInit(h: number, template: RpcAttribute[]): Promise<number> {
    const s = this.session(h);
    if (s.find) return CKR.OPERATION_ACTIVE;
    if (template.some((a) => !isWireType(a.type))) {
      // no object has an attribute of a type over 32 bits: nothing matches (as SoftHSMv2 answers)
      s.find = [];
      return CKR.OK;
    }
    const rows = await this.run("+PKCSFIND", [h, wireTemplate(template)]);
    const attested = await this.attestations.find(h, template as { type: number; value: Uint8Array }[]);
    s.find = [...rows.map(([o]) => o as number), ...attested];
    return CKR.OK;
  }

  async findObjects(h: number, max: number, w: Writer): Promise<number> {
    const s = this.session(h);
    if (!s.find) return CKR.OPERATION_NOT_INITIALIZED;
    const batch = s.find.splice(0, max);
    w.handles(batch.length, batch);
    return CKR.OK;
  }

  async findObjectsFinal(h: number): Promise<number> {
    const s = this.session(h);
    if (!s.find) return CKR.OPERATION_NOT_INITIALIZED;
    s.find = undefined;
    return CKR.OK;
  }

  async createObject(h: number, template: RpcAttribute[], w: Writer): Promise<number> {
    this.keyCache.clear();
    this.session(h);
    const [[o]] = await this.run("+PKCSCREATE", [h, wireTemplate(template)]);
    w.u64(o as number);
    return CKR.OK;
  }

  async copyObject(h: number, object: number, template: RpcAttribute[], w: Writer): Promise<number> {
    this.keyCache.clear();
    this.session(h);
    if (isAttestation(object)) return CKR.ACTION_PROHIBITED;
    const [[o]] = await this.run("+PKCSCOPY", [h, wireNumber(object, CKR.OBJECT_HANDLE_INVALID), wireTemplate(template)]);
    w.u64(o as number);
    return CKR.OK;
  }

  async destroyObject(h: number, object: number): Promise<number> {
    this.keyCache.clear();
    this.attestations.forget();
    this.session(h);
    if (isAttestation(object)) return CKR.ACTION_PROHIBITED;
    await this.run("+PKCSDESTROY", [h, wireNumber(object, CKR.OBJECT_HANDLE_INVALID)]);
    return CKR.OK;
  }

  async setAttributeValue(h: number, object: number, template: RpcAttribute[]): Promise<number> {
    this.keyCache.clear();
    this.attestations.forget(); // a key's CKA_ID is in its attestation
    this.session(h);
    if (isAttestation(object)) return CKR.ACTION_PROHIBITED;
    await this.run("+PKCSSETATTR", [h, wireNumber(object, CKR.OBJECT_HANDLE_INVALID), wireTemplate(template)]);
    return CKR.OK;
  }

  /** C_GetObjectSize: the device does not account memory per object, which the spec allows to say. */
  async getObjectSize(h: number, object: number, w: Writer): Promise<number> {
    if (isAttestation(object)) await this.attestations.attributes(h, object, [CKA.CLASS]);
    else await this.keyAttributes(h, object, [CKA.CLASS]).catch((e) => {
      throw e instanceof PkcsError && e.rv === CKR.KEY_HANDLE_INVALID ? new PkcsError(CKR.OBJECT_HANDLE_INVALID) : e;
    });
    w.u64(UNAVAILABLE);
    return CKR.OK;
  }

  async setPin(h: number, oldPin: Uint8Array | null, newPin: Uint8Array | null): Promise<number> {
    this.session(h);
    await this.run("+PKCSSETPIN", [h, pinText(oldPin), pinText(newPin)]);
    return CKR.OK;
  }

  async deriveKey(h: number, m: RpcMechanism, base: number, template: RpcAttribute[], w: Writer): Promise<number> {
    this.keyCache.clear();
    this.session(h);
    if (!this.offered(m.type, CKF.DERIVE)) return CKR.MECHANISM_INVALID;
    const [[o]] = await this.run("+PKCSDERIVE", [h, wireNumber(base, CKR.KEY_HANDLE_INVALID), m.type, m.parameter, wireTemplate(template)]);
    w.u64(o as number);
    return CKR.OK;
  }

  async generateKeyPair(h: number, m: RpcMechanism, pub: RpcAttribute[], priv: RpcAttribute[], w: Writer): Promise<number> {
    this.keyCache.clear();
    this.session(h);
    const [[pubH, privH]] = await this.run("+PKCSGENKP", [h, wireNumber(m.type, CKR.MECHANISM_INVALID), wireTemplate(pub), wireTemplate(priv)]);
    w.u64(pubH as number).u64(privH as number);
    return CKR.OK;
  }

  /** The mechanism `type` if the token offers it with `flag`. */
  private offered(type: number, flag: number): boolean {
    return tokenMechanisms(this.device.mechanisms).some((x) => x.type === type && (x.flags & flag) !== 0);
  }

  /** Starts a sign or verify operation: the checks of SoftHSM's order, the key read once. */
  private async startSign(h: number, m: RpcMechanism, key: number, verifying: boolean): Promise<SignOperation> {
    const mech = SIGN_MECHANISMS.find((x) => x.type === m.type);
    if (!mech || !this.offered(m.type, verifying ? CKF.VERIFY : CKF.SIGN)) throw new PkcsError(CKR.MECHANISM_INVALID);
    if (mech.base !== CKM.RSA_PKCS_PSS && mech.base !== CKM.EDDSA && m.parameter.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    if (mech.base === CKM.RSA_PKCS_PSS && m.parameter.length !== 24) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    if (mech.base === CKM.RSA_PKCS_PSS && mech.hash && Number(Buffer.from(m.parameter).readBigUInt64LE(0)) !== mech.hash.mechanism) {
      throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    }
    const attrs = await this.keyAttributes(h, key, [CKA.CLASS, CKA.KEY_TYPE, verifying ? CKA.VERIFY : CKA.SIGN, CKA.MODULUS,
      CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS, CKA.EC_POINT, CKA.ALLOWED_MECHANISMS]);
    if (!allowed(attrs.get(CKA.ALLOWED_MECHANISMS), m.type)) throw new PkcsError(CKR.MECHANISM_INVALID);
    const cls = readUlong(attrs.get(CKA.CLASS)!);
    if (verifying ? cls !== CKO.PUBLIC_KEY : cls !== CKO.PRIVATE_KEY) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readUlong(attrs.get(CKA.KEY_TYPE)!) !== mech.keyType) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readBool(attrs.get(verifying ? CKA.VERIFY : CKA.SIGN) ?? new Uint8Array(0)) !== true) throw new PkcsError(CKR.KEY_FUNCTION_NOT_PERMITTED);
    const curve = attrs.get(CKA.EC_PARAMS) && curveByParams(attrs.get(CKA.EC_PARAMS)!);
    if (mech.keyType !== CKK.RSA && !curve) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    const size = mech.keyType === CKK.RSA ? attrs.get(CKA.MODULUS)!.length : curve!.signatureSize;
    return {
      m: mech, key, parameter: m.parameter, size, parts: [],
      hash: mech.hash && crypto.createHash(mech.hash.node),
      publicKey: verifying ? publicKey(attrs) : undefined,
    };
  }

  /** Starts an operation of `kind` on a session that has none running (CKR_OPERATION_ACTIVE otherwise). */
  private async begin<K extends "sign" | "verify" | "decrypt" | "encrypt">(h: number, kind: K,
    start: () => Promise<NonNullable<Session[K]>>): Promise<number> {
    const s = this.session(h);
    if (s[kind]) return CKR.OPERATION_ACTIVE;
    s[kind] = await start();
    return CKR.OK;
  }

  /**
   * The session and its running operation of `kind` (CKR_OPERATION_NOT_INITIALIZED if there is none).
   * An `input` given as null ends the operation with CKR_ARGUMENTS_BAD: a failed call ends it, as the spec says.
   * The third element is the input (empty when none was given).
   */
  private operation<K extends "sign" | "verify" | "decrypt" | "encrypt" | "digest">(h: number, kind: K,
    input?: Uint8Array | null): [Session, NonNullable<Session[K]>, Uint8Array] {
    const s = this.session(h);
    const op = s[kind];
    if (!op) throw new PkcsError(CKR.OPERATION_NOT_INITIALIZED);
    if (input === null) {
      s[kind] = undefined;
      throw new PkcsError(CKR.ARGUMENTS_BAD);
    }
    return [s, op as NonNullable<Session[K]>, input ?? new Uint8Array(0)];
  }

  /** The input of the device operation: the digest (in a DigestInfo for PKCS#1 v1.5), or the data. */
  private static prepared(op: SignOperation): Uint8Array {
    if (!op.hash) return Buffer.concat(op.parts);
    const digest = op.hash.digest();
    return op.m.digestInfo ? Buffer.concat([op.m.hash!.digestInfo, digest]) : digest;
  }

  signInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "sign", () => this.startSign(h, m, key, false));
  }

  async sign(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op, input] = this.operation(h, "sign", data);
    const early = sizeOnly(w, out, op.size); // the operation stays active
    if (early !== undefined) return early;
    return this.finishSign(s, op, input, w, out);
  }

  async signUpdate(h: number, data: Uint8Array | null): Promise<number> {
    const [, op, input] = this.operation(h, "sign", data);
    if (op.hash) op.hash.update(input);
    else op.parts.push(Buffer.from(input));
    return CKR.OK;
  }

  async signFinal(h: number, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op] = this.operation(h, "sign");
    const early = sizeOnly(w, out, op.size);
    if (early !== undefined) return early;
    return this.finishSign(s, op, null, w, out);
  }

  /** One device round trip: +PKCSSIGN with the prepared input; the operation ends whatever happens. */
  private async finishSign(s: Session, op: SignOperation, data: Uint8Array | null, w: Writer, out: RpcOutput): Promise<number> {
    s.sign = undefined;
    if (data) {
      if (op.hash) op.hash.update(data);
      else op.parts.push(Buffer.from(data));
    }
    const input = Channel.prepared(op);
    const param = op.parameter.length ? [op.parameter] : [];
    const [[sig]] = await this.run("+PKCSSIGN", [this.handleOf(s), op.key, op.m.base, input, ...param]);
    return deliver(w, out, sig as Uint8Array);
  }

  verifyInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "verify", () => this.startSign(h, m, key, true));
  }

  async verify(h: number, data: Uint8Array | null, sig: Uint8Array | null): Promise<number> {
    const [s, op] = this.operation(h, "verify");
    s.verify = undefined;
    if (!data || !sig) return CKR.ARGUMENTS_BAD;
    verify(op.m, op.publicKey!, op.parameter, data, sig);
    return CKR.OK;
  }

  async verifyUpdate(h: number, data: Uint8Array | null): Promise<number> {
    const [, op, input] = this.operation(h, "verify", data);
    op.parts.push(Buffer.from(input));
    return CKR.OK;
  }

  async verifyFinal(h: number, sig: Uint8Array | null): Promise<number> {
    const [s, op] = this.operation(h, "verify");
    s.verify = undefined;
    if (!sig) return CKR.ARGUMENTS_BAD;
    verify(op.m, op.publicKey!, op.parameter, Buffer.concat(op.parts), sig);
    return CKR.OK;
  }

  async digestInit(h: number, m: RpcMechanism): Promise<number> {
    const s = this.session(h);
    if (s.digest) return CKR.OPERATION_ACTIVE;
    const hash = HASHES.find((x) => x.mechanism === m.type);
    if (!hash) return CKR.MECHANISM_INVALID;
    if (m.parameter.length) return CKR.MECHANISM_PARAM_INVALID;
    s.digest = Object.assign(crypto.createHash(hash.node), { size: hash.size });
    return CKR.OK;
  }

  async digest(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, d] = this.operation(h, "digest");
    const early = sizeOnly(w, out, d.size!);
    if (early !== undefined) return early;
    s.digest = undefined;
    if (!data) return CKR.ARGUMENTS_BAD;
    return deliver(w, out, d.update(data).digest());
  }

  async digestUpdate(h: number, data: Uint8Array | null): Promise<number> {
    const [, d, input] = this.operation(h, "digest", data);
    d.update(input);
    return CKR.OK;
  }

  async digestFinal(h: number, out: RpcOutput, w: Writer): Promise<number> {
    const [s, d] = this.operation(h, "digest");
    const early = sizeOnly(w, out, d.size!);
    if (early !== undefined) return early;
    s.digest = undefined;
    return deliver(w, out, d.digest());
  }

  /** Starts an RSA decryption (device) or encryption (PC) operation. */
  private async startCipher(h: number, m: RpcMechanism, key: number, decrypting: boolean): Promise<CipherOperation> {
    if (!CIPHER_MECHANISMS.includes(m.type) || !this.offered(m.type, decrypting ? CKF.DECRYPT : CKF.ENCRYPT)) throw new PkcsError(CKR.MECHANISM_INVALID);
    if (m.type !== CKM.RSA_PKCS_OAEP && m.parameter.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    const attrs = await this.keyAttributes(h, key, [CKA.CLASS, CKA.KEY_TYPE, decrypting ? CKA.DECRYPT : CKA.ENCRYPT, CKA.MODULUS,
      CKA.PUBLIC_EXPONENT, CKA.ALLOWED_MECHANISMS]);
    if (!allowed(attrs.get(CKA.ALLOWED_MECHANISMS), m.type)) throw new PkcsError(CKR.MECHANISM_INVALID);
    const cls = readUlong(attrs.get(CKA.CLASS)!);
    if (decrypting ? cls !== CKO.PRIVATE_KEY : cls !== CKO.PUBLIC_KEY) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readUlong(attrs.get(CKA.KEY_TYPE)!) !== CKK.RSA) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readBool(attrs.get(decrypting ? CKA.DECRYPT : CKA.ENCRYPT) ?? new Uint8Array(0)) !== true) throw new PkcsError(CKR.KEY_FUNCTION_NOT_PERMITTED);
    const size = attrs.get(CKA.MODULUS)!.length;
    return { mechanism: m.type, key, parameter: m.parameter, size, publicKey: decrypting ? undefined : publicKey(attrs) };
  }

  decryptInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "decrypt", () => this.startCipher(h, m, key, true));
  }

  /** C_Decrypt: the size query answers the modulus size (an upper bound); the result is kept for a retry. */
  async decrypt(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op, input] = this.operation(h, "decrypt", data);
    if (!out.hasBuffer && !op.result) {
      w.output(op.size, new Uint8Array(0));
      return CKR.OK;
    }
    if (!op.result) {
      try {
        const param = op.mechanism === CKM.RSA_PKCS_OAEP ? [op.parameter] : [];
        const [[plain]] = await this.run("+PKCSDECRYPT", [this.handleOf(s), op.key, op.mechanism, input, ...param]);
        op.result = plain as Uint8Array;
      } catch (e) {
        s.decrypt = undefined;
        throw e;
      }
    }
    const result = op.result!;
    if (!out.hasBuffer || out.capacity < result.length) {
      w.output(result.length, new Uint8Array(0));
      return out.hasBuffer ? CKR.BUFFER_TOO_SMALL : CKR.OK;
    }
    s.decrypt = undefined;
    return deliver(w, out, result);
  }

  encryptInit(h: number, m: RpcMechanism, key: number): Promise<number> {
    return this.begin(h, "encrypt", () => this.startCipher(h, m, key, false));
  }

  async encrypt(h: number, data: Uint8Array | null, out: RpcOutput, w: Writer): Promise<number> {
    const [s, op] = this.operation(h, "encrypt");
    const early = sizeOnly(w, out, op.size);
    if (early !== undefined) return early;
    s.encrypt = undefined;
    if (!data) return CKR.ARGUMENTS_BAD;
    return deliver(w, out, encrypt(op.mechanism, op.publicKey!, op.parameter, data));
  }

  /** The handle of a session object (sessions are keyed by their device handle). */
  private handleOf(s: Session): number {
    for (const [h, x] of this.sessions) if (x === s) return h;
    throw new PkcsError(CKR.SESSION_HANDLE_INVALID);
  }

  /** C_GenerateRandom: at most MAX_RANDOM bytes a call (CKR_ARGUMENTS_BAD above, as the module answers). */
  async generateRandom(h: number, length: number, w: Writer): Promise<number> {
    this.session(h);
    if (length > MAX_RANDOM) return CKR.ARGUMENTS_BAD;
    const out = new Uint8Array(length);
    for (let o = 0; o < length; o += 1024) {
      const n = Math.min(1024, length - o);
      const [[r]] = await this.run("+PKCSRAND", [h, n]);
      out.set(r as Uint8Array, o);
    }
    w.bytes(out);
    return CKR.OK;
  }

  /** The device identity certificate (DER): the agent's request WIM_GetIdentityCertificate. */
  async identityCertificate(w: Writer): Promise<number> {
    const [[der]] = await this.run("+PKCSIDCERT");
    w.bytes(der as Uint8Array);
    return CKR.OK;
  }

  /** Replaces the identity certificate (WIM_SetIdentityCertificate): the SO logged in on session `h`. */
  async setIdentityCertificate(h: number, der: Uint8Array | null): Promise<number> {
    this.session(h);
    if (!der) return CKR.ARGUMENTS_BAD;
    await this.run("+PKCSIDSET", [h, der]);
    this.attestations.forget(); // the issuer of every attestation changed
    return CKR.OK;
  }

  /** The given attributes of a key; CKR_KEY_HANDLE_INVALID if the object is not visible. */
  private async keyAttributes(h: number, key: number, types: number[]): Promise<Map<number, Uint8Array>> {
    // the attributes an operation's Init reads are kept per key until this application changes
    // something (login state, objects): C_SignInit then costs no round trip. The device checks
    // every operation again, so a key changed meanwhile by another application fails at C_Sign.
    this.sync();
    const cacheKey = `${key}:${types.join(",")}`;
    const hit = this.keyCache.get(cacheKey);
    if (hit) return hit;
    const map = await this.fetchAttributes(h, key, types);
    this.keyCache.set(cacheKey, map);
    return map;
  }

  private async fetchAttributes(h: number, key: number, types: number[]): Promise<Map<number, Uint8Array>> {
    let values;
    try {
      [[values]] = await this.run("+PKCSATTR", [h, wireNumber(key, CKR.KEY_HANDLE_INVALID), encodeTypes(types)]);
    } catch (e) {
      if (e instanceof PkcsError && e.rv === CKR.OBJECT_HANDLE_INVALID) throw new PkcsError(CKR.KEY_HANDLE_INVALID);
      throw e;
    }
    const map = new Map<number, Uint8Array>();
    for (const a of decodeTemplate(values as Uint8Array, true) ?? []) if (a.value instanceof Uint8Array) map.set(a.type, a.value);
    if (!map.has(CKA.CLASS) || (types.includes(CKA.KEY_TYPE) && !map.has(CKA.KEY_TYPE))) throw new PkcsError(CKR.KEY_HANDLE_INVALID);
    return map;
  }
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function version(revision: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(revision);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
