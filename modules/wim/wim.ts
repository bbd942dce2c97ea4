/**
 * The WIM security manager: one slot with one token; sessions, login state, objects, and the
 * dispatch of private-key operations to the crypto (the C module for RSA, P-256 and P-384;
 * @noble/curves for Ed25519). Each public method is one AT+PKCS command; each failure is a
 * PkcsError with the CK_RV the PKCS#11 specification names.
 */
import { CKA, CKF, CKM, CKO, CKR, CKU, PkcsError } from "../at/pkcs11.js";
import { ATTR_INVALID, ATTR_SENSITIVE, type Attribute, type AttributeAnswer, readBool, readUlong } from "../at/template.js";
import type { Env } from "./env.js";
import { RULES, applyChanges } from "./attributes.js";
import { type NewObject, createObject } from "./create.js";
import { curveByParams } from "./curves.js";
import { deriveEcdh } from "./derive.js";
import { type GenerationHooks, generateKeyPair } from "./keys.js";
import { type AttributeMap, ObjectStore } from "./objects.js";
import { MECHANISMS, type MechanismInfo, allowedMechanism, checkMechanism, decrypt, sign } from "./sign.js";
import { MAX_PIN, MIN_PIN, TokenInfo } from "./token.js";

/** Most sessions open at once, over all channels. */
export const MAX_SESSIONS = 16;
/** Most logical channels open at once besides channel 0. */
export const MAX_CHANNELS = 8;

interface Session {
  readonly rw: boolean;
  readonly channel: number;
}

/** One logical channel: one PC application's login state (its sessions carry the channel). */
interface Channel {
  login: "so" | "user" | undefined;
  /** A CKU_CONTEXT_SPECIFIC login that the next private-key operation may use. */
  contextLogin: boolean;
}

/** A session object (CKA_TOKEN false): lives in RAM until its session closes. */
interface SessionObject {
  readonly attrs: AttributeMap;
  /** A session secret key's sensitive value (token objects keep theirs in a SECRET record). */
  readonly secret?: Uint8Array;
  readonly session: number;
  readonly channel: number;
}

/** Session object handles are above every store id. */
const FIRST_SESSION_OBJECT = 0x40000000;

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
  private readonly channels = new Map<number, Channel>([[0, { login: undefined, contextLogin: false }]]);
  private readonly sessionObjects = new Map<number, SessionObject>();
  private nextSession = 1;
  private nextSessionObject = FIRST_SESSION_OBJECT;

  constructor(private readonly env: Env) {
    if (env.native.storeOpen()) env.log("key store: formatted a new partition");
    this.objects = new ObjectStore(env.native);
    this.token = new TokenInfo(env.native, (b) => env.random(b));
    if (this.token.erasing) {
      env.log("token: finishing the erase of an interrupted C_InitToken");
      this.eraseObjects();
    }
  }

  /** Removes every token object (each removal durable on its own), then clears the token's erase mark. */
  private eraseObjects(): void {
    for (const h of this.objects.handles()) this.objects.remove(h);
    this.token.erased();
  }

  /** Opens a logical channel; returns its number. */
  openChannel(): number {
    if (this.channels.size > MAX_CHANNELS) throw new PkcsError(CKR.SESSION_COUNT, "no free channel");
    let ch = 1;
    while (this.channels.has(ch)) ch++;
    this.channels.set(ch, { login: undefined, contextLogin: false });
    return ch;
  }

  /** Closes a channel with its sessions. Channel 0 cannot be closed, only emptied. */
  closeChannel(ch: number): void {
    this.channel(ch);
    for (const [h, s] of this.sessions) if (s.channel === ch) this.dropSession(h);
    if (ch === 0) this.channels.get(0)!.login = undefined;
    else this.channels.delete(ch);
  }

  /** True if the channel is open. */
  hasChannel(ch: number): boolean {
    return this.channels.has(ch);
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
    this.token.initialize(soPin, label); // verifies the old SO PIN first; marks the erase durable
    this.eraseObjects();
  }

  openSession(ch: number, flags: number): number {
    const channel = this.channel(ch);
    if (!(flags & CKF.SERIAL_SESSION)) throw new PkcsError(CKR.SESSION_PARALLEL_NOT_SUPPORTED);
    if (!this.token.initialized) throw new PkcsError(CKR.TOKEN_NOT_RECOGNIZED);
    if (this.sessions.size >= MAX_SESSIONS) throw new PkcsError(CKR.SESSION_COUNT);
    const rw = (flags & CKF.RW_SESSION) !== 0;
    if (!rw && channel.login === "so") throw new PkcsError(CKR.SESSION_READ_WRITE_SO_EXISTS);
    const h = this.nextSession++;
    this.sessions.set(h, { rw, channel: ch });
    return h;
  }

  /** Closes a session; the channel's last session logs the channel out. */
  closeSession(ch: number, h: number): void {
    this.session(ch, h);
    this.dropSession(h);
    if (![...this.sessions.values()].some((s) => s.channel === ch)) this.channel(ch).login = undefined;
  }

  /** Forgets a session and its session objects. */
  private dropSession(h: number): void {
    this.sessions.delete(h);
    for (const [o, x] of this.sessionObjects) if (x.session === h) this.sessionObjects.delete(o);
  }

  logIn(ch: number, h: number, userType: number, pin: string): void {
    this.session(ch, h);
    const c = this.channel(ch);
    if (userType === CKU.SO) {
      if (c.login === "so") throw new PkcsError(CKR.USER_ALREADY_LOGGED_IN);
      if (c.login === "user") throw new PkcsError(CKR.USER_ANOTHER_ALREADY_LOGGED_IN);
      for (const s of this.sessions.values()) if (s.channel === ch && !s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY_EXISTS);
      this.token.verify("so", pin);
      c.login = "so";
    } else if (userType === CKU.USER) {
      if (c.login === "user") throw new PkcsError(CKR.USER_ALREADY_LOGGED_IN);
      if (c.login === "so") throw new PkcsError(CKR.USER_ANOTHER_ALREADY_LOGGED_IN);
      this.token.verify("user", pin);
      c.login = "user";
    } else if (userType === CKU.CONTEXT_SPECIFIC) {
      if (c.login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
      this.token.verify("user", pin);
      c.contextLogin = true;
    } else {
      throw new PkcsError(CKR.USER_TYPE_INVALID);
    }
  }

  logOut(ch: number, h: number): void {
    this.session(ch, h);
    const c = this.channel(ch);
    if (!c.login) throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    c.login = undefined;
  }

  /** C_InitPIN: the SO, in a read/write session, sets the user PIN. */
  initPin(ch: number, h: number, pin: string): void {
    const s = this.session(ch, h);
    if (this.channel(ch).login !== "so") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    this.token.setUserPin(pin);
  }

  /** Handles of the visible objects matching every attribute of the template. */
  find(ch: number, h: number, template: readonly Attribute[]): number[] {
    this.session(ch, h);
    const out: number[] = [];
    for (const handle of [...this.objects.handles(), ...this.sessionObjects.keys()]) {
      const attrs = this.visible(ch, handle);
      if (attrs && template.every((t) => sameBytes(attrs.get(t.type), t.value))) out.push(handle);
    }
    return out;
  }

  /** Values of the requested attributes: a value, ATTR_INVALID or ATTR_SENSITIVE each. */
  attributes(ch: number, h: number, handle: number, types: readonly number[]): AttributeAnswer[] {
    this.session(ch, h);
    const attrs = this.visible(ch, handle);
    if (!attrs) throw new PkcsError(CKR.OBJECT_HANDLE_INVALID);
    const cls = readUlong(attrs.get(CKA.CLASS)!);
    const isPrivateKey = cls === CKO.PRIVATE_KEY || cls === CKO.SECRET_KEY;
    return types.map((type) => {
      const v = attrs.get(type);
      if (v !== undefined) return { type, value: v };
      if (isPrivateKey && (RULES.get(type)?.secret || type === CKA.VALUE)) return { type, value: ATTR_SENSITIVE };
      return { type, value: ATTR_INVALID };
    });
  }

  /** C_CreateObject: token objects go to the store, session objects stay in RAM. */
  createObject(ch: number, h: number, template: readonly Attribute[]): number {
    const s = this.session(ch, h);
    const created = createObject(template);
    if (created.secret && readBool(created.attrs.get(CKA.TOKEN)!) !== true) {
      throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "private keys are token objects");
    }
    return this.addObject(ch, h, s, created);
  }

  /** C_DeriveKey with CKM_ECDH1_DERIVE: a generic secret from an EC private key and a peer's point. */
  deriveKey(ch: number, h: number, base: number, mechanism: number, parameter: Uint8Array, template: readonly Attribute[]): number {
    const s = this.session(ch, h);
    const attrs = this.privateKey(ch, h, base, CKA.DERIVE, mechanism, CKF.DERIVE);
    const curve = curveByParams(attrs.get(CKA.EC_PARAMS) ?? new Uint8Array(0));
    if (!curve) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    return this.addObject(ch, h, s, deriveEcdh(this.env.native, base, curve, parameter, template));
  }

  /** Stores a new object: in the key store (token) or in RAM (session), its secret beside it. */
  private addObject(ch: number, h: number, s: Session, { attrs, secret }: NewObject): number {
    const token = readBool(attrs.get(CKA.TOKEN)!) === true;
    this.checkWrite(ch, s, token, readBool(attrs.get(CKA.PRIVATE)!) === true);
    if (!token) {
      const handle = this.nextSessionObject++;
      this.sessionObjects.set(handle, { attrs, secret, session: h, channel: ch });
      return handle;
    }
    const handle = this.objects.nextHandle();
    if (secret) this.env.native.storePutSecret(handle, secret.slice().buffer as ArrayBuffer);
    this.objects.put(handle, attrs);
    return handle;
  }

  /** C_CopyObject: a copy of a CKA_COPYABLE object with the template's changes (never a private key). */
  copyObject(ch: number, h: number, handle: number, template: readonly Attribute[]): number {
    const s = this.session(ch, h);
    const attrs = this.visible(ch, handle);
    if (!attrs) throw new PkcsError(CKR.OBJECT_HANDLE_INVALID);
    if (readBool(attrs.get(CKA.COPYABLE) ?? new Uint8Array(1)) !== true) throw new PkcsError(CKR.ACTION_PROHIBITED);
    const copy = new Map(attrs);
    for (const a of template) {
      // TOKEN, PRIVATE and MODIFIABLE may change in a copy; the rest by the rules of C_SetAttributeValue
      if (a.type === CKA.TOKEN || a.type === CKA.PRIVATE || a.type === CKA.MODIFIABLE) {
        if (readBool(a.value) === undefined) throw new PkcsError(CKR.ATTRIBUTE_VALUE_INVALID);
        copy.set(a.type, a.value);
      } else {
        const changed = applyChanges(copy, [a]);
        changed.forEach((v, k) => copy.set(k, v));
      }
    }
    const so = this.sessionObjects.get(handle);
    return this.addObject(ch, h, s, { attrs: copy, secret: so?.secret });
  }

  /** C_DestroyObject. */
  destroyObject(ch: number, h: number, handle: number): void {
    const s = this.session(ch, h);
    const attrs = this.visible(ch, handle);
    if (!attrs) throw new PkcsError(CKR.OBJECT_HANDLE_INVALID);
    if (readBool(attrs.get(CKA.DESTROYABLE) ?? Uint8Array.of(1)) === false) throw new PkcsError(CKR.ACTION_PROHIBITED);
    if (this.sessionObjects.delete(handle)) return;
    this.checkWrite(ch, s, true, readBool(attrs.get(CKA.PRIVATE)!) === true);
    this.objects.remove(handle);
  }

  /** C_SetAttributeValue, with the rules table's access rules. */
  setAttributes(ch: number, h: number, handle: number, template: readonly Attribute[]): void {
    const s = this.session(ch, h);
    const attrs = this.visible(ch, handle);
    if (!attrs) throw new PkcsError(CKR.OBJECT_HANDLE_INVALID);
    const next = applyChanges(attrs, template);
    const so = this.sessionObjects.get(handle);
    if (so) {
      this.sessionObjects.set(handle, { ...so, attrs: next });
      return;
    }
    this.checkWrite(ch, s, true, readBool(attrs.get(CKA.PRIVATE)!) === true);
    this.objects.put(handle, next);
  }

  /** C_SetPIN: the logged-in SO changes the SO PIN, anyone else the user PIN. */
  setPin(ch: number, h: number, oldPin: string, newPin: string): void {
    const s = this.session(ch, h);
    if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    this.token.changePin(this.channel(ch).login === "so" ? "so" : "user", oldPin, newPin);
  }

  /** Writing a token object needs a R/W session; a private object needs the user. */
  private checkWrite(ch: number, s: Session, token: boolean, isPrivate: boolean): void {
    if (token && !s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    if (isPrivate && this.channel(ch).login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
  }

  generateKeyPair(ch: number, h: number, mechanism: number, pubT: readonly Attribute[], privT: readonly Attribute[],
    hooks?: GenerationHooks): [number, number] {
    const s = this.session(ch, h);
    const sessionOnly = (t: readonly Attribute[]) => t.some((a) => a.type === CKA.TOKEN && readBool(a.value) === false);
    if (sessionOnly(pubT) || sessionOnly(privT)) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "session keys are not supported yet");
    if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    if (this.channel(ch).login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    const bits = pubT.find((a) => a.type === CKA.MODULUS_BITS);
    const rsaBits = (bits && readUlong(bits.value)) || 0;
    // the secret and both objects are one transaction: a power cut leaves all three or none
    const native = this.env.native;
    native.storeBegin(mechanism === CKM.RSA_PKCS_KEY_PAIR_GEN ? 7 + (3 * rsaBits) / 8 + (5 * rsaBits) / 16 + 1024 : 1024);
    try {
      const privHandle = this.objects.nextHandle();
      const pair = generateKeyPair(native, (b) => this.env.random(b), mechanism, pubT, privT, privHandle, hooks);
      this.objects.put(privHandle, pair.privateKey);
      const pubHandle = this.objects.nextHandle();
      this.objects.put(pubHandle, pair.publicKey);
      native.storeCommit();
      return [pubHandle, privHandle];
    } catch (e) {
      native.storeAbort();
      this.objects.reset(); // the cache may hold what was never committed
      throw e;
    }
  }

  /** C_SignInit + C_Sign in one: checks the key and mechanism, then signs. */
  sign(ch: number, h: number, handle: number, mechanism: number, parameter: Uint8Array, data: Uint8Array): Uint8Array {
    const attrs = this.privateKey(ch, h, handle, CKA.SIGN, mechanism, CKF.SIGN);
    return sign(this.env.native, (b) => this.env.random(b), handle, mechanism, parameter, data, attrs);
  }

  /** C_DecryptInit + C_Decrypt in one. */
  decrypt(ch: number, h: number, handle: number, mechanism: number, parameter: Uint8Array, data: Uint8Array): Uint8Array {
    const attrs = this.privateKey(ch, h, handle, CKA.DECRYPT, mechanism, CKF.DECRYPT);
    return decrypt(this.env.native, handle, mechanism, parameter, data, attrs.get(CKA.MODULUS)!);
  }

  /** The checks of C_SignInit / C_DecryptInit, in SoftHSM's order: session, key, usage, mechanism, login. */
  private privateKey(ch: number, h: number, handle: number, usage: number, mechanism: number, flag: number): AttributeMap {
    this.session(ch, h);
    const attrs = this.visible(ch, handle);
    if (!attrs) throw new PkcsError(CKR.KEY_HANDLE_INVALID);
    if (readUlong(attrs.get(CKA.CLASS)!) !== CKO.PRIVATE_KEY) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (readBool(attrs.get(usage) ?? new Uint8Array(1)) !== true) throw new PkcsError(CKR.KEY_FUNCTION_NOT_PERMITTED);
    checkMechanism(mechanism, flag, readUlong(attrs.get(CKA.KEY_TYPE)!)!);
    if (!allowedMechanism(attrs.get(CKA.ALLOWED_MECHANISMS), mechanism, flag === CKF.SIGN)) throw new PkcsError(CKR.MECHANISM_INVALID);
    const c = this.channel(ch);
    if (c.login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    if (readBool(attrs.get(CKA.ALWAYS_AUTHENTICATE) ?? new Uint8Array(1))) {
      // the WIM's signature PIN: one CKU_CONTEXT_SPECIFIC login buys one operation
      if (!c.contextLogin) throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
      c.contextLogin = false;
    }
    return attrs;
  }

  random(ch: number, h: number, length: number): Uint8Array {
    this.session(ch, h);
    if (length > 1024) throw new PkcsError(CKR.ARGUMENTS_BAD);
    const out = new Uint8Array(length);
    this.env.random(out);
    return out;
  }

  /** A session of channel `ch`; another channel's session is as invalid as a closed one. */
  private session(ch: number, h: number): Session {
    const s = this.sessions.get(h);
    if (!s || s.channel !== ch) throw new PkcsError(CKR.SESSION_HANDLE_INVALID);
    return s;
  }

  private channel(ch: number): Channel {
    const c = this.channels.get(ch);
    if (!c) throw new PkcsError(CKR.SESSION_HANDLE_INVALID, "no such channel");
    return c;
  }

  /** The object's attributes if the channel's login may see it. */
  private visible(ch: number, handle: number): AttributeMap | undefined {
    const so = this.sessionObjects.get(handle);
    if (so && so.channel !== ch) return undefined;
    const attrs = so ? so.attrs : this.objects.get(handle);
    if (!attrs) return undefined;
    if (readBool(attrs.get(CKA.PRIVATE) ?? new Uint8Array(1)) && this.channel(ch).login !== "user") return undefined;
    return attrs;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
