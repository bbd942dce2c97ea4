/**
 * A minimal client of the agent's RPC (docs/agent-rpc.md) for tests that must isolate single
 * PKCS#11 calls (the byte and round-trip counts of one C_Sign): it speaks what the module speaks.
 */
import net from "node:net";
import { FUNCTIONS, HELLO } from "../../pc/agent/functions.js";

/** Builds request items. */
export class Req {
  private parts: Buffer[] = [];
  constructor(fn: (typeof FUNCTIONS)[number] | "hello") {
    this.u32(fn === "hello" ? HELLO : FUNCTIONS.indexOf(fn));
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  u8(v: number) {
    this.parts.push(Buffer.of(v));
    return this;
  }
  bytes(v: Uint8Array) {
    this.u32(v.length);
    this.parts.push(Buffer.from(v));
    return this;
  }
  template(attrs: { type: number; value: Uint8Array }[]) {
    this.u32(attrs.length);
    for (const a of attrs) this.u64(a.type).bytes(a.value);
    return this;
  }
  mechanism(type: number, param = new Uint8Array(0)) {
    return this.u64(type).bytes(param);
  }
  output(capacity: number) {
    return this.u8(capacity > 0 ? 1 : 0).u64(capacity);
  }
  frame(): Buffer {
    const body = Buffer.concat(this.parts);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    return Buffer.concat([head, body]);
  }
}

/** Reads reply items. */
export class Rep {
  private o = 8;
  readonly rv: number;
  constructor(private readonly b: Buffer) {
    this.rv = Number(b.readBigUInt64LE(0));
  }
  u32() {
    const v = this.b.readUInt32LE(this.o);
    this.o += 4;
    return v;
  }
  u64() {
    const v = Number(this.b.readBigUInt64LE(this.o));
    this.o += 8;
    return v;
  }
  bytes() {
    const n = this.b.readUInt32LE(this.o);
    this.o += 4;
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
}

/** One connection to the agent. */
export class RpcClient {
  private buf = Buffer.alloc(0);
  private waiting: ((b: Buffer) => void) | undefined;
  private constructor(private readonly sock: net.Socket) {
    sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      if (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readUInt32LE(0) && this.waiting) {
        const n = this.buf.readUInt32LE(0);
        const body = this.buf.subarray(4, 4 + n);
        this.buf = this.buf.subarray(4 + n);
        const w = this.waiting;
        this.waiting = undefined;
        w(body);
      }
    });
  }
  static connect(path: string): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RpcClient(s)));
      s.once("error", reject);
    });
  }
  call(req: Req): Promise<Rep> {
    return new Promise((resolve) => {
      this.waiting = (b) => resolve(new Rep(b));
      this.sock.write(req.frame());
    });
  }
  close() {
    this.sock.destroy();
  }
}

/** The first slot with a token (C_GetSlotList(tokenPresent)): slot IDs are the devices' (docs/agent.md). */
export async function firstSlot(client: RpcClient): Promise<number> {
  const r = await client.call(new Req("C_GetSlotList").u64(1).output(8));
  if (r.rv !== 0) throw new Error(`C_GetSlotList: rv 0x${r.rv.toString(16)}`);
  const total = r.u64();
  if (r.u32() < 1 || total < 1) throw new Error("no slot with a token");
  return r.u64();
}
