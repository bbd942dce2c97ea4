/**
 * The WIM security manager: one slot with one token; sessions, login state, objects, and the
 * dispatch of private-key operations to the crypto (the C module: RSA, P-256, P-384, Ed25519 and the
 * hashes of PSS/OAEP and PIN verifiers). Each public method is one AT+PKCS command; each failure is a
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
import { SessionObjects } from "./session-objects.js";
import { type Channel, type Session, Sessions } from "./sessions.js";
import { Identity } from "./attest.js";
import { MECHANISMS, type MechanismInfo, allowedMechanism, checkMechanism, decrypt, sign } from "./sign.js";
import { MAX_PIN, MIN_PIN, TokenInfo } from "./token.js";

/** Store payload bytes a C_CreateObject transaction may write besides the object's record and secret
 * (the handle counter). */
const CREATE_EXTRA = 64;

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
  private readonly sessionObjects: SessionObjects;
  private readonly sessions: Sessions;
  private readonly identity: Identity;

  /** `revision`: the firmware revision that attestation certificates state (firmware/firmware.ts passes REVISION). */
  constructor(private readonly env: Env, private readonly revision = "") {
    if (env.native.storeOpen()) env.log("key store: formatted a new partition");
    this.objects = new ObjectStore(env.native);
    this.sessionObjects = new SessionObjects((b) => env.random(b));
    this.sessions = new Sessions((h) => this.sessionObjects.dropSession(h));
    this.token = new TokenInfo(env.native, (b) => env.random(b));
    if (this.token.erasing) {
      env.log("token: finishing the erase of an interrupted C_InitToken");
      this.eraseObjects();
    }
    this.identity = new Identity(env.native, env.serial, (b) => env.random(b));
    const did = this.identity.ensure();
    if (did) env.log(did);
  }

  /** Removes every token object (each removal durable on its own), then clears the token's erase mark. */
  private eraseObjects(): void {
    for (const h of this.objects.handles()) this.objects.remove(h);
    this.token.erased();
  }

  /** Opens a logical channel for link `link` (reclaiming an idle one if all are taken: sessions.ts); returns its number. */
  openChannel(link = 0): number {
    return this.sessions.openChannel(link);
  }

  /** The channel the methods below take for channel `ch` as link `link` names it (each link has its own
   * channel 0; another link's channel is CKR_SESSION_HANDLE_INVALID). */
  linkChannel(link: number, ch: number): number {
    return this.sessions.resolve(link, ch);
  }

  /** A link ended (a BLE disconnect): the channels it opened close with their sessions, its channel 0 is emptied. */
  dropLink(link: number): void {
    this.sessions.dropLink(link);
  }

  /** Closes a channel with its sessions. Channel 0 cannot be closed, only emptied. */
  closeChannel(ch: number): void {
    this.sessions.closeChannel(ch);
  }

  /** True if the channel is open (or was reclaimed: it then comes back fresh on use) and, for ch > 0, link `link` opened it. */
  hasChannel(ch: number, link = 0): boolean {
    return this.sessions.hasChannel(ch, link);
  }

  tokenInfo(): TokenSummary {
    const { sessions, rw } = this.sessions.counts();
    return { label: this.token.label, flags: this.token.flags, minPin: MIN_PIN, maxPin: MAX_PIN, sessions, rwSessions: rw };
  }

  /** What +PKCSSTAT reports: the PIN retry counters and the key store's room (wim_store_space). */
  status(): number[] {
    const t = this.token.tries;
    const [free, total] = this.env.native.storeSpace();
    return [t.user, t.userMax, t.so, t.soMax, free, total];
  }

  mechanisms(): readonly MechanismInfo[] {
    return MECHANISMS;
  }

  /** C_InitToken: needs no open session; erases every object. */
  initToken(soPin: string, label: string): void {
    if (this.sessions.any) throw new PkcsError(CKR.SESSION_EXISTS);
    this.token.initialize(soPin, label); // verifies the old SO PIN first; marks the erase durable
    this.eraseObjects();
  }

  openSession(ch: number, flags: number): number {
    const channel = this.channel(ch);
    if (!(flags & CKF.SERIAL_SESSION)) throw new PkcsError(CKR.SESSION_PARALLEL_NOT_SUPPORTED);
    if (!this.token.initialized) throw new PkcsError(CKR.TOKEN_NOT_RECOGNIZED);
    const rw = (flags & CKF.RW_SESSION) !== 0;
    if (!rw && channel.login === "so") throw new PkcsError(CKR.SESSION_READ_WRITE_SO_EXISTS);
    return this.sessions.open(ch, rw);
  }

  /** Closes a session (with its session objects); the channel's last session logs the channel out. */
  closeSession(ch: number, h: number): void {
    this.sessions.close(ch, h);
  }

  logIn(ch: number, h: number, userType: number, pin: string): void {
    this.session(ch, h);
    const c = this.channel(ch);
    if (userType === CKU.SO) {
      if (c.login === "so") throw new PkcsError(CKR.USER_ALREADY_LOGGED_IN);
      if (c.login === "user") throw new PkcsError(CKR.USER_ANOTHER_ALREADY_LOGGED_IN);
      if (this.sessions.of(ch).some((s) => !s.rw)) throw new PkcsError(CKR.SESSION_READ_ONLY_EXISTS);
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

  /** Who channel `ch` is logged in as, checked through its session `h` (CKR_SESSION_HANDLE_INVALID if it is not one). */
  sessionLogin(ch: number, h: number): "so" | "user" | undefined {
    this.session(ch, h);
    return this.channel(ch).login;
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
    for (const handle of [...this.objects.handles(), ...this.sessionObjects.handles()]) {
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

  /**
   * Stores a new object: in RAM (session; within the budgets of limits.ts) or in the key store (token):
   * the secret, the object's record and the handle counter in one store transaction, so that a power
   * cut leaves the whole object or nothing — never a secret without its record or the reverse.
   */
  private addObject(ch: number, h: number, s: Session, { attrs, secret }: NewObject): number {
    const token = readBool(attrs.get(CKA.TOKEN)!) === true;
    this.checkWrite(ch, s, token, readBool(attrs.get(CKA.PRIVATE)!) === true);
    if (!token) return this.sessionObjects.add({ attrs, secret, session: h, channel: ch }, this.channel(ch).login !== undefined);
    const native = this.env.native;
    native.storeBegin(templateSize(attrs) + (secret?.length ?? 0) + CREATE_EXTRA);
    try {
      const handle = this.objects.allocate();
      if (secret) native.storePutSecret(handle, secret.slice().buffer as ArrayBuffer);
      this.objects.put(handle, attrs);
      this.objects.saveNext();
      native.storeCommit();
      return handle;
    } catch (e) {
      native.storeAbort();
      this.objects.reset(); // the cache and the counter may hold what was never committed
      throw e;
    }
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
    if (this.sessionObjects.get(handle)) {
      this.sessionObjects.update(handle, next, this.channel(ch).login !== undefined);
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

  /**
   * Who may write what (docs/policy.md): a token object is created, changed and destroyed only by a
   * logged-in channel in a R/W session — a private one by the user, a public one by the user or the
   * SO (PKCS#11's "R/W SO functions" reach public token objects); a private session object needs the
   * user; a public session object anyone with a session (within the budgets of limits.ts).
   */
  private checkWrite(ch: number, s: Session, token: boolean, isPrivate: boolean): void {
    const login = this.channel(ch).login;
    if (token && !login) throw new PkcsError(CKR.USER_NOT_LOGGED_IN, "token objects are written only after C_Login");
    if (token && !s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    if (isPrivate && login !== "user") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
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
    native.storeBegin((mechanism === CKM.RSA_PKCS_KEY_PAIR_GEN ? 7 + (3 * rsaBits) / 8 + (5 * rsaBits) / 16 + 1024 : 1024) + CREATE_EXTRA);
    try {
      const privHandle = this.objects.allocate();
      const pubHandle = this.objects.allocate();
      const pair = generateKeyPair(native, (b) => this.env.random(b), mechanism, pubT, privT, privHandle, hooks);
      this.objects.put(privHandle, pair.privateKey);
      this.objects.put(pubHandle, pair.publicKey);
      this.objects.saveNext();
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

  /**
   * The attestation certificate of a private key generated on the device. Needs a session, not a login:
   * what it states is public; a CKA_PRIVATE key is found only by a logged-in user, as in C_FindObjects.
   */
  attest(ch: number, h: number, handle: number): Uint8Array {
    this.session(ch, h);
    const attrs = this.visible(ch, handle);
    if (!attrs || !this.objects.get(handle)) throw new PkcsError(CKR.KEY_HANDLE_INVALID);
    return this.identity.attest(handle, attrs, this.revision);
  }

  /** The device identity certificate (DER): public, no session needed. */
  identityCertificate(): Uint8Array {
    return this.identity.certificate();
  }

  /** Replaces the identity certificate: the SO, in a read/write session, with a certificate of the identity key. */
  setIdentityCertificate(ch: number, h: number, der: Uint8Array): void {
    const s = this.session(ch, h);
    if (this.channel(ch).login !== "so") throw new PkcsError(CKR.USER_NOT_LOGGED_IN);
    if (!s.rw) throw new PkcsError(CKR.SESSION_READ_ONLY);
    this.identity.replace(der);
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
    return this.sessions.session(ch, h);
  }

  private channel(ch: number): Channel {
    return this.sessions.channel(ch);
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

/** The length of an object's record (its attributes in template encoding). */
function templateSize(attrs: AttributeMap): number {
  let n = 0;
  for (const v of attrs.values()) n += 8 + v.length;
  return n;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
