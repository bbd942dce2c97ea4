/**
 * Byte-level reader and writer of the module ↔ agent RPC (docs/agent-rpc.md): little-endian
 * integers, length-prefixed byte strings, and the composite items (templates, queries, outputs).
 */

/**
 * Largest request body (the bytes after the u32 length) the agent reads: 1 MiB. The module
 * (pc/pkcs11/marshal.c, WIM_MAX_REQUEST) refuses to send a larger one with a CK_RV; a client
 * that sends one anyway is a misbehaving one and only its connection is closed.
 * test/attack/frames.test.ts checks that both sides say the same number.
 */
export const MAX_REQUEST = 1 << 20;

/** Most bytes one C_GenerateRandom returns (1 MiB: 1,024 device commands); above it the module
 * and the agent answer CKR_ARGUMENTS_BAD (pc/pkcs11/forward.c, WIM_MAX_RANDOM). */
export const MAX_RANDOM = 1 << 20;

/** CK_UNAVAILABLE_INFORMATION / CK_EFFECTIVELY_INFINITE as the wire's u64. */
export const UNAVAILABLE = 0xffffffffffffffffn;
const NULL_LEN = 0xffffffff;

/** One attribute of a request template; value null when the application passed a NULL pointer. */
export interface RpcAttribute {
  type: number;
  value: Uint8Array | null;
}

/** One entry of an attribute query. */
export interface RpcQuery {
  type: number;
  hasBuffer: boolean;
  capacity: number;
}

/** A caller's output buffer (size-query convention). */
export interface RpcOutput {
  hasBuffer: boolean;
  capacity: number;
}

/** A mechanism and its (flattened) parameter bytes. */
export interface RpcMechanism {
  type: number;
  parameter: Uint8Array;
}

/** A malformed request. */
export class WireError extends Error {}

/** Reads request items. */
export class Reader {
  private o = 0;
  private readonly dv: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number) {
    if (this.o + n > this.buf.length) throw new WireError("truncated request");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.o++];
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.o, true);
    this.o += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.dv.getBigUint64(this.o, true);
    this.o += 8;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  bytes(): Uint8Array | null {
    const v = this.bytesView();
    return v && v.slice();
  }
  /** As bytes, without a copy: a view into the buffer read. */
  bytesView(): Uint8Array | null {
    const n = this.u32();
    if (n === NULL_LEN) return null;
    this.need(n);
    const v = this.buf.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
  template(): RpcAttribute[] {
    const count = this.u32();
    if (count > 4096) throw new WireError("template too long");
    const out: RpcAttribute[] = [];
    for (let i = 0; i < count; i++) out.push({ type: this.u64(), value: this.bytes() });
    return out;
  }
  query(): RpcQuery[] {
    const count = this.u32();
    if (count > 4096) throw new WireError("query too long");
    const out: RpcQuery[] = [];
    for (let i = 0; i < count; i++) out.push({ type: this.u64(), hasBuffer: this.u8() !== 0, capacity: this.u64() });
    return out;
  }
  output(): RpcOutput {
    return { hasBuffer: this.u8() !== 0, capacity: this.u64() };
  }
  mechanism(): RpcMechanism {
    const type = this.u64();
    return { type, parameter: this.bytes() ?? new Uint8Array(0) };
  }
  end(): void {
    if (this.o !== this.buf.length) throw new WireError("trailing bytes in request");
  }
}

/** Writes reply items. */
export class Writer {
  private chunks: Uint8Array[] = [];
  u8(v: number): this {
    this.chunks.push(Uint8Array.of(v));
    return this;
  }
  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.chunks.push(b);
    return this;
  }
  u64(v: number | bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, typeof v === "bigint" ? v : BigInt(v), true);
    this.chunks.push(b);
    return this;
  }
  bytes(v: Uint8Array): this {
    this.u32(v.length);
    this.chunks.push(v);
    return this;
  }
  /** Bytes as they are (items encoded elsewhere). */
  raw(v: Uint8Array): this {
    this.chunks.push(v);
    return this;
  }
  /** An `O` item: the needed size and the bytes actually delivered. */
  output(needed: number, data: Uint8Array): this {
    return this.u64(needed).bytes(data);
  }
  /** An `H` item: the total count and the handles delivered. */
  handles(total: number, list: readonly number[]): this {
    this.u64(total).u32(list.length);
    for (const h of list) this.u64(h);
    return this;
  }
  finish(): Uint8Array {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}
