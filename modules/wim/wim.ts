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
import { MECHANISMS, type MechanismInfo, checkMechanism, decrypt, sign } from "./sign.js";
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
  private readonly channels = new Map<number, Channel>([[0, { login: undefined }]]);
  private nextSession = 1;

  constructor(private readonly env: Env) {
    if (env.native.storeOpen()) env.log("key store: formatted a new partition");
    this.objects = new ObjectStore(env.native);
    this.token = new TokenInfo(env.native, (b) => env.random(b));
  }

  /** Opens a logical channel; returns its number. */
  openChannel(): number {
    if (this.channels.size > MAX_CHANNELS) throw new PkcsError(CKR.SESSION_COUNT, "no free channel");
    let ch = 1;
    while (this.channels.has(ch)) ch++;
    this.channels.set(ch, { login: undefined });
    return ch;
  }

  /** Closes a channel with its sessions. Channel 0 cannot be closed, only emptied. */
  closeChannel(ch: number): void {
    this.channel(ch);
    for (const [h, s] of this.sessions) if (s.channel === ch) this.sessions.delete(h);
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
    this.token.initialize(soPin, label); // verifies the old SO PIN first
    for (const h of this.objects.handles()) this.objects.remove(h);
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
    this.sessions.delete(h);
    if (![...this.sessions.values()].some((s) => s.channel === ch)) this.channel(ch).login = undefined;
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
    for (const handle of this.objects.handles()) {
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
    const isPrivateKey = readUlong(attrs.get(CKA.CLASS)!) === CKO.PRIVATE_KEY;
    return types.map((type) => {
      const v = attrs.get(type);
      if (v !== undefined) return { type, value: v };
      if (isPrivateKey && SENSITIVE_TYPES.has(type)) return { type, value: ATTR_SENSITIVE };
      return { type, value: ATTR_INVALID };
    });
  }

  generateKeyPair(ch: number, h: number, mechanism: number, pubT: readonly Attribute[], privT: readonly Attribute[]): [number, number] {
    const s = this.session(ch, h);
    const sessionOnly = (t: readonly Attribute[]) => t.some((a) => a.type === CKA.TOKEN && readBool(a.value) === false);
    if (sessionOnly(pubT) || sessionOnly(privT)) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "session keys are not supported yet");
    if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    if (this.channel(ch).login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    const privHandle = this.objects.nextHandle();
    const pair = generateKeyPair(this.env.native, (b) => this.env.random(b), mechanism, pubT, privT, privHandle);
    this.objects.put(privHandle, pair.privateKey);
    const pubHandle = this.objects.nextHandle();
    this.objects.put(pubHandle, pair.publicKey);
    return [pubHandle, privHandle];
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
    if (this.channel(ch).login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
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
    const attrs = this.objects.get(handle);
    if (!attrs) return undefined;
    if (readBool(attrs.get(CKA.PRIVATE) ?? new Uint8Array(1)) && this.channel(ch).login !== "user") return undefined;
    return attrs;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
