/**
 * One application's view of one token (a module connection on one attached device): its logical
 * channel on the device (AT+PKCSCHO, opened on first use), the mirror of its sessions and login
 * state, and the object calls. The operations run in operations.ts, slot and token reporting in
 * slot-info.ts; connection.ts routes an application's calls to its views.
 */
import { CKA, CKF, CKR, CKS, PkcsError } from "../../modules/at/pkcs11.js";
import { ATTR_INVALID, ATTR_SENSITIVE, decodeTemplate, encodeTypes, isWireType } from "../../modules/at/template.js";
import type { Device, DeviceMechanism } from "./device.js";
import { Attestations, isAttestation } from "./attestation.js";
import { latin1, pinText, wireNumber, wireTemplate } from "./arguments.js";
import { KeyCache } from "./key-cache.js";
import { Operations, type Session } from "./operations.js";
import { MAX_RANDOM, UNAVAILABLE, type RpcAttribute, type RpcMechanism, type RpcQuery, Writer } from "./wire.js";

export class TokenView {
  private readonly sessions = new Map<number, Session>();
  /** This application's logical channel on the device, opened on first use. */
  private ch: number | undefined;
  private epoch: number;
  private loggedIn: "so" | "user" | undefined;
  /** Key attributes read by operation Inits (key-cache.ts). */
  readonly keys = new KeyCache((name, values) => this.run(name, values));
  /** The attestation certificate objects (attestation.ts). */
  private readonly attestations = new Attestations((name, values) => this.run(name, values));
  /** The sign, verify, decrypt, encrypt and digest state machines of these sessions. */
  readonly operations = new Operations(this);

  /** `slotId`: the device's slot (registry.ts), reported by C_GetSessionInfo. */
  constructor(readonly device: Device, readonly slotId: number) {
    this.epoch = device.epoch;
  }

  mechanisms(): DeviceMechanism[] {
    return this.device.mechanisms;
  }

  /** Whether the application has a session open here (C_InitToken refuses then). */
  get hasSessions(): boolean {
    this.sync();
    return this.sessions.size > 0;
  }

  /** Forgets everything the device forgot when it restarted. */
  private sync(): void {
    if (this.epoch === this.device.epoch) return;
    this.epoch = this.device.epoch;
    this.keys.clear();
    this.attestations.forget();
    this.sessions.clear();
    this.ch = undefined;
    this.loggedIn = undefined;
  }

  /** Runs a command on this application's channel. */
  async run(name: string, values: Parameters<Device["run"]>[1] = []) {
    await this.device.settled(); // a reconnect under way: what this view knows is checked after it
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

  session(h: number): Session {
    this.sync();
    const s = this.sessions.get(h);
    if (!s) throw new PkcsError(CKR.SESSION_HANDLE_INVALID);
    return s;
  }

  async initToken(pin: Uint8Array | null, label: Uint8Array | null): Promise<number> {
    this.keys.clear();
    this.attestations.forget();
    if (this.sessions.size) return CKR.SESSION_EXISTS;
    await this.run("+PKCSINIT", [pinText(pin), latin1(label).replace(/ +$/, "")]);
    return CKR.OK;
  }

  async initPin(h: number, pin: Uint8Array | null): Promise<number> {
    this.session(h);
    await this.run("+PKCSINITPIN", [h, pinText(pin)]);
    return CKR.OK;
  }

  /** Opens a session on the device; its device handle. */
  async openSession(flags: number): Promise<number> {
    const [[h]] = await this.run("+PKCSOPEN", [flags & (CKF.RW_SESSION | CKF.SERIAL_SESSION)]);
    this.sessions.set(h as number, { flags });
    return h as number;
  }

  async closeSession(h: number): Promise<number> {
    this.keys.clear();
    this.session(h);
    this.sessions.delete(h);
    await this.run("+PKCSCLOSE", [h]);
    if (this.sessions.size === 0) this.loggedIn = undefined; // as the device does for the channel
    return CKR.OK;
  }

  async closeAllSessions(): Promise<number> {
    for (const h of [...this.sessions.keys()]) await this.closeSession(h);
    return CKR.OK;
  }

  async getSessionInfo(h: number, w: Writer): Promise<number> {
    const s = this.session(h);
    const rw = (s.flags & CKF.RW_SESSION) !== 0;
    const login = this.loggedIn;
    const state = login === "so" ? CKS.RW_SO : login === "user" ? (rw ? CKS.RW_USER : CKS.RO_USER) : rw ? CKS.RW_PUBLIC : CKS.RO_PUBLIC;
    w.u64(this.slotId).u64(state).u64(s.flags & (CKF.RW_SESSION | CKF.SERIAL_SESSION)).u64(0);
    return CKR.OK;
  }

  async login(h: number, userType: number, pin: Uint8Array | null): Promise<number> {
    this.keys.clear();
    this.session(h);
    await this.run("+PKCSLOGIN", [h, wireNumber(userType, CKR.USER_TYPE_INVALID), pinText(pin)]);
    if (userType === 0) this.loggedIn = "so";
    else if (userType === 1) this.loggedIn = "user";
    return CKR.OK;
  }

  async logout(h: number): Promise<number> {
    this.keys.clear();
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
    this.keys.clear();
    this.session(h);
    const [[o]] = await this.run("+PKCSCREATE", [h, wireTemplate(template)]);
    w.u64(o as number);
    return CKR.OK;
  }

  async copyObject(h: number, object: number, template: RpcAttribute[], w: Writer): Promise<number> {
    this.keys.clear();
    this.session(h);
    if (isAttestation(object)) return CKR.ACTION_PROHIBITED;
    const [[o]] = await this.run("+PKCSCOPY", [h, wireNumber(object, CKR.OBJECT_HANDLE_INVALID), wireTemplate(template)]);
    w.u64(o as number);
    return CKR.OK;
  }

  async destroyObject(h: number, object: number): Promise<number> {
    this.keys.clear();
    this.attestations.forget();
    this.session(h);
    if (isAttestation(object)) return CKR.ACTION_PROHIBITED;
    await this.run("+PKCSDESTROY", [h, wireNumber(object, CKR.OBJECT_HANDLE_INVALID)]);
    return CKR.OK;
  }

  async setAttributeValue(h: number, object: number, template: RpcAttribute[]): Promise<number> {
    this.keys.clear();
    this.attestations.forget(); // a key's CKA_ID is in its attestation
    this.session(h);
    if (isAttestation(object)) return CKR.ACTION_PROHIBITED;
    await this.run("+PKCSSETATTR", [h, wireNumber(object, CKR.OBJECT_HANDLE_INVALID), wireTemplate(template)]);
    return CKR.OK;
  }

  /** C_GetObjectSize: the device does not account memory per object, which the spec allows to say. */
  async getObjectSize(h: number, object: number, w: Writer): Promise<number> {
    if (isAttestation(object)) await this.attestations.attributes(h, object, [CKA.CLASS]);
    else await this.keys.get(h, object, [CKA.CLASS]).catch((e) => {
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
    this.keys.clear();
    this.session(h);
    if (!this.operations.offered(m.type, CKF.DERIVE)) return CKR.MECHANISM_INVALID;
    const [[o]] = await this.run("+PKCSDERIVE", [h, wireNumber(base, CKR.KEY_HANDLE_INVALID), m.type, m.parameter, wireTemplate(template)]);
    w.u64(o as number);
    return CKR.OK;
  }

  async generateKeyPair(h: number, m: RpcMechanism, pub: RpcAttribute[], priv: RpcAttribute[], w: Writer): Promise<number> {
    this.keys.clear();
    this.session(h);
    const [[pubH, privH]] = await this.run("+PKCSGENKP", [h, wireNumber(m.type, CKR.MECHANISM_INVALID), wireTemplate(pub), wireTemplate(priv)]);
    w.u64(pubH as number).u64(privH as number);
    return CKR.OK;
  }

  /** The handle of a session object (sessions are keyed by their device handle). */
  handleOf(s: Session): number {
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

}
