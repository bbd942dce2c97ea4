/**
 * The `wim` command line's one client of the agent's RPC (docs/agent-rpc.md): the PKCS#11 calls the
 * module would make, the agent's pairing requests (AGENT_REQUESTS) and its own requests for the command
 * line. Every request and reply is checked against the call table (pc/rpc/calls.table) as the agent
 * checks it: items that are not the call's throw before anything is sent, and a reply the module would
 * refuse throws. A PIN crosses the socket, so the socket's directory is checked as the module checks
 * it (paths.ts checkSocketDir; Node has no SO_PEERCRED, so the socket's owner stands in for the peer's uid).
 */
import { lstatSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { decodeArgs, decodeReply } from "../agent/codec.js";
import { type AgentRequest, type CallName, callByName } from "../agent/functions.js";
import { checkSocketDir, defaultSocketPath, myUid } from "../agent/paths.js";
import { Reader, Writer } from "../agent/wire.js";

/** No agent answers at the socket (missing, refused, or not a socket of this user): what to do next. */
export class NoAgentError extends Error {
  constructor(readonly socket: string, why: string) {
    super(`no agent at ${socket} (${why}): start one with \`wim agent\` or \`systemctl --user start wim-agent.socket\``);
  }
}

/** A reply to one of the agent's pairing requests: its CK_RV and, when CKR_OK, its one u64 item (if any). */
export interface AgentReply {
  rv: number;
  value?: number;
}

/** An attribute of a template. */
export interface Attr {
  type: number;
  value: Uint8Array;
}

/** What C_GetSlotInfo reports. */
export interface SlotInfo {
  description: string;
  manufacturer: string;
  flags: number;
  hardware: string;
  firmware: string;
}

/** What C_GetTokenInfo reports (the fields the command line uses). */
export interface TokenInfo {
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  flags: number;
  sessions: number;
  maxPin: number;
  minPin: number;
  hardware: string;
  firmware: string;
}

/** The agent request WIM_GetTokenStatus (pc/agent/status.ts). */
export interface TokenStatus {
  userTriesLeft: number;
  userTriesMax: number;
  soTriesLeft: number;
  soTriesMax: number;
  storeFreeBytes: number;
  storeTotalBytes: number;
  protocolVersion: number;
  secureChannel: boolean;
  firmwareRevision: string;
  /** The link the slot's device is on: "serial /dev/ttyACM0", "BLE AA:BB:…". */
  link: string;
}

const text = (b: Uint8Array | null) => Buffer.from(b ?? []).toString("utf8").replace(/[ \0]+$/, "");

/** One connection to the agent; calls run one at a time. */
export class AgentClient {
  private buf = Buffer.alloc(0);
  private waiting: ((body: Buffer) => void) | undefined;
  private failing: ((e: Error) => void) | undefined;
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      if (this.buf.length < 4 || this.buf.length < 4 + this.buf.readUInt32LE(0) || !this.waiting) return;
      const n = this.buf.readUInt32LE(0);
      const body = this.buf.subarray(4, 4 + n);
      this.buf = this.buf.subarray(4 + n);
      const w = this.waiting;
      this.waiting = undefined;
      w(body);
    });
    sock.on("close", () => {
      this.closed = true;
      this.failing?.(new Error("the agent closed the connection"));
    });
  }

  /**
   * Connects to the agent at `socket` (default: the module's path) after checking where it lives, and
   * greets it. NoAgentError when nothing answers there.
   */
  static async connect(socket = defaultSocketPath()): Promise<AgentClient> {
    try {
      checkSocketDir(path.dirname(path.resolve(socket)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new NoAgentError(socket, "no such directory");
      throw e;
    }
    let st;
    try {
      st = lstatSync(socket);
    } catch {
      throw new NoAgentError(socket, "no socket there");
    }
    if (!st.isSocket() || st.uid !== myUid()) throw new Error(`${socket} is not a socket of uid ${myUid()}`);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socket, () => resolve(s));
      s.once("error", (e: NodeJS.ErrnoException) => reject(new NoAgentError(socket, e.code === "ECONNREFUSED" ? "nothing listens on it" : e.message)));
    });
    const client = new AgentClient(sock);
    await client.call("hello", new Writer());
    return client;
  }

  private raw(fn: number, items: Uint8Array): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error("the agent closed the connection"));
    const body = Buffer.concat([Buffer.from(new Writer().u32(fn).finish()), Buffer.from(items)]);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting = resolve;
      this.failing = reject;
      this.sock.write(Buffer.concat([head, body]));
    });
  }

  /** One call, checked by the call table both ways: its rv and a reader at the reply items. */
  private async exchange(name: CallName, items: Writer): Promise<{ rv: number; r: Reader }> {
    const spec = callByName(name);
    const bytes = items.finish();
    const args = decodeArgs(spec, new Reader(bytes)); // throws if the items are not the call's
    const reply = await this.raw(spec.number, bytes);
    const rv = Number(new Reader(reply.subarray(0, 8)).u64());
    decodeReply(spec, args, rv, reply.subarray(8)); // throws WireError if the module would refuse it
    const r = new Reader(reply);
    r.u64();
    return { rv, r };
  }

  /** Sends one request (its items in `items`); resolves with a reader after the rv, or throws PkcsError. */
  async call(name: CallName, items: Writer): Promise<Reader> {
    const { rv, r } = await this.exchange(name, items);
    if (rv !== CKR.OK) throw new PkcsError(rv);
    return r;
  }

  /** One of the agent's pairing requests (`wim pair`, `wim unpair`); `name` is the `b` item of `pair`. */
  async request(request: AgentRequest, name?: string): Promise<AgentReply> {
    const { rv, r } = await this.exchange(request, name === undefined ? new Writer() : new Writer().bytes(Buffer.from(name, "latin1")));
    return { rv, value: rv === CKR.OK && callByName(request).reply.length ? r.u64() : undefined };
  }

  /** C_GetSlotList: every slot's ID. */
  async slots(): Promise<number[]> {
    const ask = (n: number) => new Writer().u64(0).u8(n ? 1 : 0).u64(n);
    const total = (await this.call("C_GetSlotList", ask(0))).u64();
    const r = await this.call("C_GetSlotList", ask(total));
    r.u64();
    const n = r.u32();
    return Array.from({ length: n }, () => r.u64());
  }

  async slotInfo(slot: number): Promise<SlotInfo> {
    const r = await this.call("C_GetSlotInfo", new Writer().u64(slot));
    const description = text(r.bytes()), manufacturer = text(r.bytes()), flags = r.u64();
    return { description, manufacturer, flags, hardware: `${r.u64()}.${r.u64()}`, firmware: `${r.u64()}.${r.u64()}` };
  }

  async tokenInfo(slot: number): Promise<TokenInfo> {
    const r = await this.call("C_GetTokenInfo", new Writer().u64(slot));
    const label = text(r.bytes()), manufacturer = text(r.bytes()), model = text(r.bytes()), serial = text(r.bytes());
    const flags = r.u64();
    r.u64();
    const sessions = r.u64();
    r.u64();
    r.u64();
    const maxPin = r.u64(), minPin = r.u64();
    for (let i = 0; i < 4; i++) r.u64();
    return { label, manufacturer, model, serial, flags, sessions, maxPin, minPin, hardware: `${r.u64()}.${r.u64()}`, firmware: `${r.u64()}.${r.u64()}` };
  }

  /** C_GetMechanismList + C_GetMechanismInfo: each mechanism with its key sizes and flags. */
  async mechanisms(slot: number): Promise<{ type: number; min: number; max: number; flags: number }[]> {
    const ask = (n: number) => new Writer().u64(slot).u8(n ? 1 : 0).u64(n);
    const total = (await this.call("C_GetMechanismList", ask(0))).u64();
    const r = await this.call("C_GetMechanismList", ask(total));
    r.u64();
    const types = Array.from({ length: r.u32() }, () => r.u64());
    const out = [];
    for (const type of types) {
      const i = await this.call("C_GetMechanismInfo", new Writer().u64(slot).u64(type));
      out.push({ type, min: i.u64(), max: i.u64(), flags: i.u64() });
    }
    return out;
  }

  /** WIM_GetTokenStatus: PIN retry counters, store room, protocol, secure channel, firmware revision, link. */
  async status(slot: number): Promise<TokenStatus> {
    const r = await this.call("WIM_GetTokenStatus", new Writer().u64(slot));
    return {
      userTriesLeft: r.u64(), userTriesMax: r.u64(), soTriesLeft: r.u64(), soTriesMax: r.u64(),
      storeFreeBytes: r.u64(), storeTotalBytes: r.u64(), protocolVersion: r.u64(), secureChannel: r.u64() === 1,
      firmwareRevision: text(r.bytes()), link: text(r.bytes()),
    };
  }

  /** A session on `slot`, else on the first slot with a token (slot IDs are the devices': docs/agent.md). */
  async openSession(rw: boolean, slot?: number): Promise<number> {
    if (slot === undefined) {
      const list = await this.call("C_GetSlotList", new Writer().u64(1).u8(1).u64(1));
      list.u64(); // total
      if (list.u32() < 1) throw new PkcsError(CKR.TOKEN_NOT_PRESENT);
      slot = list.u64();
    }
    return (await this.call("C_OpenSession", new Writer().u64(slot).u64(rw ? 6 : 4))).u64();
  }

  async closeSession(h: number): Promise<void> {
    await this.call("C_CloseSession", new Writer().u64(h));
  }

  async login(h: number, userType: number, pin: string): Promise<void> {
    await this.call("C_Login", new Writer().u64(h).u64(userType).bytes(Buffer.from(pin, "latin1")));
  }

  async setPin(h: number, oldPin: string, newPin: string): Promise<void> {
    await this.call("C_SetPIN", new Writer().u64(h).bytes(Buffer.from(oldPin, "latin1")).bytes(Buffer.from(newPin, "latin1")));
  }

  async initPin(h: number, pin: string): Promise<void> {
    await this.call("C_InitPIN", new Writer().u64(h).bytes(Buffer.from(pin, "latin1")));
  }

  /** C_InitToken: the label padded to 32 bytes as PKCS#11 wants it. */
  async initToken(slot: number, soPin: string, label: string): Promise<void> {
    const padded = Buffer.alloc(32, 0x20);
    Buffer.from(label, "utf8").copy(padded, 0, 0, 32);
    await this.call("C_InitToken", new Writer().u64(slot).bytes(Buffer.from(soPin, "latin1")).bytes(padded));
  }

  /** The handles of the objects matching `template`. */
  async find(h: number, template: Attr[]): Promise<number[]> {
    await this.call("C_FindObjectsInit", template.reduce((t, a) => t.u64(a.type).bytes(a.value), new Writer().u64(h).u32(template.length)));
    const r = await this.call("C_FindObjects", new Writer().u64(h).u64(1000));
    r.u64(); // total
    const n = r.u32();
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(r.u64());
    await this.call("C_FindObjectsFinal", new Writer().u64(h));
    return out;
  }

  /** One attribute's value, or undefined if the object has none (or it is sensitive). */
  async attribute(h: number, object: number, type: number): Promise<Uint8Array | undefined> {
    return (await this.attributes(h, object, [type])).get(type);
  }

  /** The values of `types` an object has (absent and sensitive ones left out): two round trips. */
  async attributes(h: number, object: number, types: number[]): Promise<Map<number, Uint8Array>> {
    const UNAVAILABLE = Number.MAX_SAFE_INTEGER; // CK_UNAVAILABLE_INFORMATION as Reader.u64 gives it
    const ask = async (sizes?: number[]) => {
      const w = new Writer().u64(h).u64(object).u32(types.length);
      types.forEach((t, i) => w.u64(t).u8(sizes ? 1 : 0).u64(sizes ? sizes[i] : 0));
      // CKR_ATTRIBUTE_SENSITIVE / _TYPE_INVALID still carry the other values (docs/agent-rpc.md, Framing)
      const { rv, r } = await this.exchange("C_GetAttributeValue", w);
      if (rv !== CKR.OK && rv !== CKR.ATTRIBUTE_SENSITIVE && rv !== CKR.ATTRIBUTE_TYPE_INVALID) throw new PkcsError(rv);
      return Array.from({ length: r.u32() }, () => ({ size: r.u64(), value: r.bytes() }));
    };
    const sizes = (await ask()).map((a) => a.size);
    const values = await ask(sizes.map((s) => (s === UNAVAILABLE ? 0 : s)));
    const out = new Map<number, Uint8Array>();
    values.forEach((v, i) => {
      if (sizes[i] !== UNAVAILABLE && v.size !== UNAVAILABLE && v.value) out.set(types[i], v.value);
    });
    return out;
  }

  /** C_GenerateKeyPair: [public, private] handles. */
  async generateKeyPair(h: number, mechanism: number, pub: Attr[], priv: Attr[]): Promise<[number, number]> {
    const w = new Writer().u64(h).u64(mechanism).bytes(new Uint8Array(0));
    for (const t of [pub, priv]) {
      w.u32(t.length);
      for (const a of t) w.u64(a.type).bytes(a.value);
    }
    const r = await this.call("C_GenerateKeyPair", w);
    return [r.u64(), r.u64()];
  }

  async createObject(h: number, template: Attr[]): Promise<number> {
    const w = new Writer().u64(h).u32(template.length);
    for (const a of template) w.u64(a.type).bytes(a.value);
    return (await this.call("C_CreateObject", w)).u64();
  }

  async destroyObject(h: number, object: number): Promise<void> {
    await this.call("C_DestroyObject", new Writer().u64(h).u64(object));
  }

  /** The device identity certificate (DER). */
  async identityCertificate(): Promise<Uint8Array> {
    return (await this.call("WIM_GetIdentityCertificate", new Writer())).bytes() ?? new Uint8Array(0);
  }

  /** Stores a new identity certificate (the SO logged in on session `h`). */
  async setIdentityCertificate(h: number, der: Uint8Array): Promise<void> {
    await this.call("WIM_SetIdentityCertificate", new Writer().u64(h).bytes(der));
  }

  close(): void {
    this.sock.destroy();
  }
}
