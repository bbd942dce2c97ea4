/**
 * The `wim` command line's client of the agent's RPC (docs/agent-rpc.md): the calls the PKCS#11
 * module would make, plus the agent's own requests (functions.ts EXTENSIONS). Every request and reply
 * is checked against the call table (pc/rpc/calls.table) as the agent checks it: items that do not
 * match the call's codes throw before anything is sent, and a reply the module would refuse throws.
 * A PIN crosses the
 * socket, so the socket's directory is checked as the module checks it (paths.ts checkSocketDir;
 * Node has no SO_PEERCRED, so the socket's owner stands in for the peer's uid).
 */
import { lstatSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { decodeArgs, decodeReply } from "../agent/codec.js";
import { type CallName, callByName, EXTENSIONS, FUNCTIONS } from "../agent/functions.js";
import { checkSocketDir, defaultSocketPath, myUid } from "../agent/paths.js";
import { Reader, Writer } from "../agent/wire.js";

type Call = (typeof FUNCTIONS)[number] | keyof typeof EXTENSIONS;

/** One connection to the agent; calls run one at a time. */
export class AgentClient {
  private buf = Buffer.alloc(0);
  private waiting: ((body: Buffer) => void) | undefined;
  private failing: ((e: Error) => void) | undefined;

  private constructor(private readonly sock: net.Socket) {
    sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      if (this.buf.length < 4 || this.buf.length < 4 + this.buf.readUInt32LE(0)) return;
      const n = this.buf.readUInt32LE(0);
      const body = this.buf.subarray(4, 4 + n);
      this.buf = this.buf.subarray(4 + n);
      const w = this.waiting;
      this.waiting = undefined;
      w?.(body);
    });
    sock.on("close", () => this.failing?.(new Error("the agent closed the connection")));
  }

  /** Connects to the agent at `socket` (default: the module's path) after checking where it lives. */
  static async connect(socket = defaultSocketPath()): Promise<AgentClient> {
    checkSocketDir(path.dirname(socket));
    const st = lstatSync(socket);
    if (!st.isSocket() || st.uid !== myUid()) throw new Error(`${socket} is not a socket of uid ${myUid()}`);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socket, () => resolve(s));
      s.once("error", reject);
    });
    const client = new AgentClient(sock);
    await client.call("hello", new Writer());
    return client;
  }

  /** Sends one request (its items in `items`); resolves with a reader after the rv, or throws PkcsError. */
  async call(fn: Call | "hello", items: Writer): Promise<Reader> {
    const spec = callByName(fn as CallName);
    const bytes = items.finish();
    const args = decodeArgs(spec, new Reader(bytes)); // throws if the items are not the call's
    const body = Buffer.concat([Buffer.from(new Writer().u32(spec.number).finish()), Buffer.from(bytes)]);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      this.waiting = resolve;
      this.failing = reject;
      this.sock.write(Buffer.concat([head, body]));
    });
    const rv = Number(new Reader(reply.subarray(0, 8)).u64());
    decodeReply(spec, args, rv, reply.subarray(8)); // throws WireError if the module would refuse it
    if (rv !== CKR.OK) throw new PkcsError(rv);
    const r = new Reader(reply);
    r.u64();
    return r;
  }

  /** A session on the first slot with a token (slot IDs are the devices': docs/agent.md). */
  async openSession(rw: boolean): Promise<number> {
    const list = await this.call("C_GetSlotList", new Writer().u64(1).u8(1).u64(1));
    list.u64(); // total
    if (list.u32() < 1) throw new PkcsError(CKR.TOKEN_NOT_PRESENT);
    return (await this.call("C_OpenSession", new Writer().u64(list.u64()).u64(rw ? 6 : 4))).u64();
  }

  async login(h: number, userType: number, pin: string): Promise<void> {
    await this.call("C_Login", new Writer().u64(h).u64(userType).bytes(Buffer.from(pin, "latin1")));
  }

  /** The handles of the objects matching `template`. */
  async find(h: number, template: { type: number; value: Uint8Array }[]): Promise<number[]> {
    const t = new Writer().u64(h).u32(template.length);
    for (const a of template) t.u64(a.type).bytes(a.value);
    await this.call("C_FindObjectsInit", t);
    const r = await this.call("C_FindObjects", new Writer().u64(h).u64(1000));
    r.u64(); // total
    const n = r.u32();
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(r.u64());
    await this.call("C_FindObjectsFinal", new Writer().u64(h));
    return out;
  }

  /** One attribute's value, or undefined if the object has none. */
  async attribute(h: number, object: number, type: number): Promise<Uint8Array | undefined> {
    const ask = (capacity: number) => new Writer().u64(h).u64(object).u32(1).u64(type).u8(capacity ? 1 : 0).u64(capacity);
    let r: Reader;
    try {
      r = await this.call("C_GetAttributeValue", ask(0));
    } catch (e) {
      if (e instanceof PkcsError && e.rv === CKR.ATTRIBUTE_TYPE_INVALID) return undefined;
      throw e;
    }
    r.u32();
    const size = r.u64();
    const full = await this.call("C_GetAttributeValue", ask(size));
    full.u32();
    full.u64();
    return full.bytes() ?? undefined;
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

