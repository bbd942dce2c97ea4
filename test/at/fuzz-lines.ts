/**
 * Deterministic generator of AT command lines for the fuzz tests: valid requests built from the
 * command table, then mutated (bytes flipped, quotes unbalanced, control bytes, truncation,
 * overlong runs), plus pure noise. The same seed gives the same lines on every run.
 */
import { toBase64 } from "../../modules/at/base64.js";
import { encodeCommand, type Value } from "../../modules/at/codec.js";
import { COMMANDS } from "../../modules/at/table.js";

/** xorshift128+ — a small seeded generator (a test double for randomness, never for a result). */
export class Rng {
  private a: bigint;
  private b: bigint;
  constructor(seed: number) {
    this.a = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
    this.b = (BigInt(seed) ^ 0xdeadbeefn) * 0xbf58476d1ce4e5b9n + 7n;
    for (let i = 0; i < 8; i++) this.next();
  }
  private next(): bigint {
    const M = (1n << 64n) - 1n;
    let s1 = this.a;
    const s0 = this.b;
    this.a = s0;
    s1 ^= (s1 << 23n) & M;
    this.b = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
    return (this.b + s0) & M;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Number(this.next() % BigInt(n));
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const BASIC = ["AT", "ATE0", "ATE1", "ATV0", "ATV1", "ATQ0", "ATZ", "ATI", "AT&F", "ATS3?", "ATS3=13", "AT+GMI", "AT+GMM",
  "AT+GMR", "AT+GSN", "AT+GCAP", "AT+CMEE=2", "AT+CMEE?", "AT+CMEE=?", "AT+PKCSTOKEN?", "AT+PKCSMECH?", "AT+PKCSOPEN=?",
  "AT+PKCSHS?", "AT+PKCSHS=?", "AT+PKCSPAIRC", "AT+PKCSUNPAIR"];

/** A syntactically valid request with random (often out-of-range or meaningless) values. */
export function validLine(rng: Rng): string {
  if (rng.int(4) === 0) return rng.pick(BASIC);
  const spec = rng.pick(COMMANDS);
  const values: Value[] = spec.params.map((p) => {
    if (p.type === "uint") return rng.pick([0, 1, 2, 6, 16, 17, 0xffffffff, rng.int(1 << 30)]);
    if (p.type === "string") return String.fromCharCode(...rng.bytes(rng.int(Math.min(p.max ?? 8, 12))).map((b) => 32 + (b % 95)));
    return rng.bytes(rng.int(40));
  });
  return encodeCommand(spec, values);
}

/** A valid line, mutated, or noise; never contains the terminator (the caller adds CR). */
export function fuzzLine(rng: Rng): string {
  const kind = rng.int(10);
  let s = validLine(rng);
  if (kind < 3) return s; // valid
  if (kind === 9) return String.fromCharCode(...rng.bytes(rng.int(60))).replace(/\r/g, ""); // noise
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(8)) {
      case 0: s = s.slice(0, at) + String.fromCharCode(rng.int(256)) + s.slice(at + 1); break; // flip a byte
      case 1: s = s.slice(0, at) + '"' + s.slice(at); break; // unbalanced quote
      case 2: s = s.slice(0, at) + String.fromCharCode(rng.pick([0, 1, 8, 10, 27, 127])) + s.slice(at); break; // control
      case 3: s = s.slice(0, at); break; // truncate
      case 4: s = s.slice(0, at) + "9".repeat(1 + rng.int(15)) + s.slice(at); break; // out-of-range number
      case 5: s = s.slice(0, at) + "," + s.slice(at); break; // wrong arity
      case 6: s = s.slice(0, at) + '"' + toBase64(rng.bytes(rng.int(30))).slice(1) + '"' + s.slice(at); break; // bad base64
      case 7: s = s + (rng.int(20) === 0 ? "A".repeat(4090 + rng.int(200)) : ";" + validLine(rng).slice(2)); break; // overlong / chained
    }
  }
  return s.replace(/\r/g, "");
}

/** Splits bytes at random boundaries, as a serial link may deliver them. */
export function* chunks(rng: Rng, bytes: Uint8Array): Generator<Uint8Array> {
  let o = 0;
  while (o < bytes.length) {
    const n = 1 + rng.int(rng.int(3) === 0 ? 8 : 200);
    yield bytes.subarray(o, o + n);
    o += n;
  }
}

/** Latin-1 bytes of a string. */
export function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
