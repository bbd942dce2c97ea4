/**
 * DER (ITU-T X.690) for the certificates of key attestation (x509.ts): an encoder of the few types an
 * X.509 certificate needs and a reader of definite-length elements. Pure, shared by the device and the
 * PC. Nothing at module level but functions and strings (the module is preloaded into flash).
 */

/** A tag-length-value element of the concatenated `parts`. */
export function tlv(tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const head = n < 0x80 ? 2 : n < 0x100 ? 3 : n < 0x10000 ? 4 : 5;
  const out = new Uint8Array(head + n);
  out[0] = tag;
  if (head === 2) out[1] = n;
  else {
    out[1] = 0x80 | (head - 2);
    for (let i = head - 1, v = n; i >= 2; i--, v >>>= 8) out[i] = v & 0xff;
  }
  let o = head;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const seq = (...parts: readonly Uint8Array[]) => tlv(0x30, ...parts);
export const set = (...parts: readonly Uint8Array[]) => tlv(0x31, ...parts);
/** [n] EXPLICIT (constructed context tag). */
export const explicit = (n: number, ...parts: readonly Uint8Array[]) => tlv(0xa0 | n, ...parts);
export const octets = (b: Uint8Array) => tlv(0x04, b);
export const bool = (v: boolean) => tlv(0x01, Uint8Array.of(v ? 0xff : 0));
export const nul = () => tlv(0x05);
export const utf8 = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
/** A PrintableString (the caller gives printable ASCII). */
export const printable = (s: string) => tlv(0x13, Uint8Array.from(s, (c) => c.charCodeAt(0) & 0x7f));
/** A BIT STRING of whole bytes. */
export const bits = (b: Uint8Array) => tlv(0x03, Uint8Array.of(0), b);

/** An INTEGER from an unsigned big-endian magnitude (leading zeros dropped, a zero byte added before a high bit). */
export function uint(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const m = b.subarray(i);
  return m.length && m[0] & 0x80 ? tlv(0x02, Uint8Array.of(0), m) : tlv(0x02, m.length ? m : Uint8Array.of(0));
}

/** A small non-negative INTEGER. */
export function int(n: number): Uint8Array {
  const b: number[] = [];
  do {
    b.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  return uint(Uint8Array.from(b));
}

/** A named-bit BIT STRING (bit 0 is the first bit): trailing zero bits dropped, as DER wants. */
export function namedBits(mask: number): Uint8Array {
  if (mask === 0) return tlv(0x03, Uint8Array.of(0));
  let last = 0;
  for (let i = 0; i < 16; i++) if (mask & (1 << i)) last = i;
  const bytes = new Uint8Array((last >> 3) + 1);
  for (let i = 0; i <= last; i++) if (mask & (1 << i)) bytes[i >> 3] |= 0x80 >> (i & 7);
  return tlv(0x03, Uint8Array.of(7 - (last & 7)), bytes);
}

/** An OBJECT IDENTIFIER from its dotted form (arcs of any size: 2.25.<UUID> has a 128-bit one). */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((a) => BigInt(a));
  const body: number[] = [];
  const values = [arcs[0] * 40n + arcs[1], ...arcs.slice(2)];
  for (let v of values) {
    const chunk = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    body.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(body));
}

/** A time: "YYMMDDHHMMSSZ" as UTCTime, "YYYYMMDDHHMMSSZ" as GeneralizedTime (RFC 5280 4.1.2.5). */
export function time(s: string): Uint8Array {
  return tlv(s.length === 13 ? 0x17 : 0x18, Uint8Array.from(s, (c) => c.charCodeAt(0)));
}

/** One element as read: its tag, where its header starts, where its contents start and end. */
export interface Element {
  readonly tag: number;
  readonly start: number;
  readonly body: number;
  readonly end: number;
}

/** The element at `at` of `b` (definite length, at most 4 length bytes); throws RangeError if malformed. */
export function read(b: Uint8Array, at = 0, limit = b.length): Element {
  if (at + 2 > limit) throw new RangeError("DER: truncated");
  const tag = b[at];
  let len = b[at + 1], body = at + 2;
  if (len & 0x80) {
    const k = len & 0x7f;
    if (k === 0 || k > 4 || body + k > limit) throw new RangeError("DER: bad length");
    len = 0;
    for (let i = 0; i < k; i++) len = len * 256 + b[body + i];
    body += k;
  }
  if (body + len > limit) throw new RangeError("DER: truncated");
  return { tag, start: at, body, end: body + len };
}

/** The elements inside a constructed element. */
export function children(b: Uint8Array, e: Element): Element[] {
  const out: Element[] = [];
  for (let o = e.body; o < e.end; ) {
    const c = read(b, o, e.end);
    out.push(c);
    o = c.end;
  }
  return out;
}

/** The bytes of an element, header included. */
export const whole = (b: Uint8Array, e: Element) => b.subarray(e.start, e.end);
/** The contents of an element. */
export const contents = (b: Uint8Array, e: Element) => b.subarray(e.body, e.end);

/** The dotted form of an OBJECT IDENTIFIER's contents. */
export function oidText(c: Uint8Array): string {
  const arcs: bigint[] = [];
  let v = 0n;
  for (const x of c) {
    v = (v << 7n) | BigInt(x & 0x7f);
    if (!(x & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  if (!arcs.length) return "";
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join(".");
}
