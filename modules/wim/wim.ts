/**
 * The WIM security manager: one slot with one token; sessions, login state, objects, and the
 * dispatch of private-key operations to the crypto (C module for RSA, @noble/curves for EC).
 * Each public method is one AT+PKCS command; each failure is a PkcsError with the CK_RV the
 * PKCS#11 specification names.
 */
import { CKA, CKF, CKO, CKR, CKU, PkcsError } from "../at/pkcs11.js";
import { ATTR_INVALID, ATTR_SENSITIVE, type Attribute, type AttributeAnswer, readBool, readUlong } from "../at/template.js";
import type { Env } from "./env.js";
import { SENSITIVE_TYPES, generateKeyPair } from "./keys.js";
import { type AttributeMap, ObjectStore } from "./objects.js";
import { MECHANISMS, type MechanismInfo, checkSignMechanism, sign } from "./sign.js";
import { MAX_PIN, MIN_PIN, TokenInfo } from "./token.js";

/** Most sessions open at once. */
export const MAX_SESSIONS = 16;

interface Session {
  readonly rw: boolean;
}

/** What +PKCSTOKEN reports. */
export interface TokenSummary {
  label: string;
  flags: number;
  minPin: number;
  maxPin: number;
  sessions: number;
  rwSessions: number;
}

/** The security manager of one device. */
export class Wim {
  private readonly objects: ObjectStore;
  private token: TokenInfo;
  private readonly sessions = new Map<number, Session>();
  private nextSession = 1;
  private login: "so" | "user" | undefined;

  constructor(private readonly env: Env) {
    if (env.native.storeOpen()) env.log("key store: formatted a new partition");
    this.objects = new ObjectStore(env.native);
    this.token = new TokenInfo(env.native, (b) => env.random(b));
  }

  tokenInfo(): TokenSummary {
    let rw = 0;
    for (const s of this.sessions.values()) if (s.rw) rw++;
    return { label: this.token.label, flags: this.token.flags, minPin: MIN_PIN, maxPin: MAX_PIN, sessions: this.sessions.size, rwSessions: rw };
  }

  mechanisms(): readonly MechanismInfo[] {
    return MECHANISMS;
  }

  /** C_InitToken: needs no open session; erases every object. */
  initToken(soPin: string, label: string): void {
    if (this.sessions.size) throw new PkcsError(CKR.SESSION_EXISTS);
    this.token.initialize(soPin, label); // verifies the old SO PIN first
    for (const h of this.objects.handles()) this.objects.remove(h);
  }

  openSession(flags: number): number {
    if (!(flags & CKF.SERIAL_SESSION)) throw new PkcsError(CKR.SESSION_PARALLEL_NOT_SUPPORTED);
    if (!this.token.initialized) throw new PkcsError(CKR.TOKEN_NOT_RECOGNIZED);
    if (this.sessions.size >= MAX_SESSIONS) throw new PkcsError(CKR.SESSION_COUNT);
    const rw = (flags & CKF.RW_SESSION) !== 0;
    if (!rw && this.login === "so") throw new PkcsError(CKR.SESSION_READ_WRITE_SO_EXISTS);
    const h = this.nextSession++;
    this.sessions.set(h, { rw });
    return h;
  }

  closeSession(h: number): void {
    this.session(h);
    this.sessions.delete(h);
    if (this.sessions.size === 0) this.login = undefined;
  }

  logIn(h: number, userType: number, pin: string): void {
    this.session(h);
    if (userType === CKU.SO) {
      if (this.login === "so") throw new PkcsError(CKR.USER_ALREADY_LOGGED_IN);
      if (this.login === "user") throw new PkcsError(CKR.USER_ANOTHER_ALREADY_LOGGED_IN);
      for (const s of this.sessions.values()) if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY_EXISTS);
      this.token.verify("so", pin);
      this.login = "so";
    } else if (userType === CKU.USER) {
      if (this.login === "user") throw new PkcsError(CKR.USER_ALREADY_LOGGED_IN);
      if (this.login === "so") throw new PkcsError(CKR.USER_ANOTHER_ALREADY_LOGGED_IN);
      this.token.verify("user", pin);
      this.login = "user";
    } else if (userType === CKU.CONTEXT_SPECIFIC) {
      if (this.login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
      this.token.verify("user", pin);
    } else {
      throw new PkcsError(CKR.USER_TYPE_INVALID);
    }
  }

  logOut(h: number): void {
    this.session(h);
    if (!this.login) throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    this.login = undefined;
  }

  /** C_InitPIN: the SO, in a read/write session, sets the user PIN. */
  initPin(h: number, pin: string): void {
    const s = this.session(h);
    if (this.login !== "so") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    this.token.setUserPin(pin);
  }

  /** Handles of the visible objects matching every attribute of the template. */
  find(h: number, template: readonly Attribute[]): number[] {
    this.session(h);
    const out: number[] = [];
    for (const handle of this.objects.handles()) {
      const attrs = this.visible(handle);
      if (attrs && template.every((t) => sameBytes(attrs.get(t.type), t.value))) out.push(handle);
    }
    return out;
  }

  /** Values of the requested attributes: a value, ATTR_INVALID or ATTR_SENSITIVE each. */
  attributes(h: number, handle: number, types: readonly number[]): AttributeAnswer[] {
    this.session(h);
    const attrs = this.visible(handle);
    if (!attrs) throw new PkcsError(CKR.OBJECT_HANDLE_INVALID);
    const isPrivateKey = readUlong(attrs.get(CKA.CLASS)!) === CKO.PRIVATE_KEY;
    return types.map((type) => {
      const v = attrs.get(type);
      if (v !== undefined) return { type, value: v };
      if (isPrivateKey && SENSITIVE_TYPES.has(type)) return { type, value: ATTR_SENSITIVE };
      return { type, value: ATTR_INVALID };
    });
  }

  generateKeyPair(h: number, mechanism: number, pubT: readonly Attribute[], privT: readonly Attribute[]): [number, number] {
    const s = this.session(h);
    const sessionOnly = (t: readonly Attribute[]) => t.some((a) => a.type === CKA.TOKEN && readBool(a.value) === false);
    if (sessionOnly(pubT) || sessionOnly(privT)) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "session keys are not supported yet");
    if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    if (this.login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    const privHandle = this.objects.nextHandle();
    const pair = generateKeyPair(this.env.native, (b) => this.env.random(b), mechanism, pubT, privT, privHandle);
    this.objects.put(privHandle, pair.privateKey);
    const pubHandle = this.objects.nextHandle();
    this.objects.put(pubHandle, pair.publicKey);
    return [pubHandle, privHandle];
  }

  /** C_SignInit + C_Sign in one: checks the key and mechanism, then signs. */
  sign(h: number, handle: number, mechanism: number, parameter: Uint8Array, data: Uint8Array): Uint8Array {
    this.session(h);
    const attrs = this.visible(handle);
    if (!attrs) throw new PkcsError(CKR.KEY_HANDLE_INVALID);
    if (readUlong(attrs.get(CKA.CLASS)!) !== CKO.PRIVATE_KEY) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readBool(attrs.get(CKA.SIGN) ?? new Uint8Array(1)) !== true) throw new PkcsError(CKR.KEY_FUNCTION_NOT_PERMITTED);
    if (parameter.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
    checkSignMechanism(mechanism, readUlong(attrs.get(CKA.KEY_TYPE)!)!);
    if (this.login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    return sign(this.env.native, handle, mechanism, data, attrs.get(CKA.MODULUS));
  }

  random(h: number, length: number): Uint8Array {
    this.session(h);
    if (length > 1024) throw new PkcsError(CKR.ARGUMENTS_BAD);
    const out = new Uint8Array(length);
    this.env.random(out);
    return out;
  }

  private session(h: number): Session {
    const s = this.sessions.get(h);
    if (!s) throw new PkcsError(CKR.SESSION_HANDLE_INVALID);
    return s;
  }

  /** The object's attributes if the current login may see it. */
  private visible(handle: number): AttributeMap | undefined {
    const attrs = this.objects.get(handle);
    if (!attrs) return undefined;
    if (readBool(attrs.get(CKA.PRIVATE) ?? new Uint8Array(1)) && this.login !== "user") return undefined;
    return attrs;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
