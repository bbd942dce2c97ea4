/**
 * The elliptic curves of the token: what CKA_EC_PARAMS names them and where their private-key side runs.
 * Every private-key operation is in C: P-256 and P-384 sign, derive and generate in
 * modules/wim/native/wim_ec.c (NativeCrypto.ecSign / ecEcdh / ecGenerate), Ed25519 signs and generates
 * in wim_ed25519.c (NativeCrypto.edSign / edGenerate); no secret reaches JavaScript. The few lines of
 * BigInt below decode and check the PUBLIC points given to the device (SEC 1, compressed too: one modular
 * square root, p ≡ 3 mod 4) and the range of imported scalars; the C core checks peer points again.
 * Verification is the PC's part (pc/agent/publickey.ts, with @noble/curves for all three); @noble is not
 * imported on the device. Nothing here is written after load (the module is preloaded into flash).
 */
import { CKK, CKM } from "../at/pkcs11.js";
import { EC_CURVE } from "./native.js";

/** One curve of the token. */
export interface Curve {
  readonly name: string;
  readonly keyType: number;
  /** The key-pair generation mechanism. */
  readonly generator: number;
  /** Its size in bits, as C_GetMechanismInfo reports it. */
  readonly bits: number;
  /** The CKA_EC_PARAMS encodings accepted; the first is the one stored. */
  readonly params: readonly Uint8Array[];
  /** Signature size in bytes (r‖s, or R‖S for EdDSA). */
  readonly signatureSize: number;
  /** The C core's id (EC_CURVE) of the ECDSA/ECDH curves (wim_ec); undefined for Ed25519. */
  readonly native?: number;
  /** True for the EdDSA curve (Ed25519: wim_ed25519 in C, NativeCrypto.edSign / edGenerate). */
  readonly eddsa?: boolean;
  /**
   * A peer's public point (SEC 1: 04‖x‖y, or compressed 02/03‖x) as x‖y, for ECDH; throws unless it
   * is a point of the curve. Absent for EdDSA curves.
   */
  peerPoint?(encoded: Uint8Array): Uint8Array;
  /**
   * An imported private key's CKA_VALUE as the stored secret (the scalar at the curve's full size, or
   * the 32-byte Ed25519 seed); undefined if it is not a valid secret of this curve (0, at least the
   * order, or too long).
   */
  importSecret(value: Uint8Array): Uint8Array | undefined;
}

const oid = (...b: number[]) => Uint8Array.from(b);
const printable = (s: string) => Uint8Array.from([0x13, s.length, ...Array.from(s, (c) => c.charCodeAt(0))]);

/** A big-endian scalar (leading zeros optional) at `size` bytes, if `valid` (0 < d < n) says it is one. */
function scalar(value: Uint8Array, size: number, valid: (d: Uint8Array) => boolean): Uint8Array | undefined {
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  if (value.length - start > size) return undefined;
  const d = new Uint8Array(size);
  d.set(value.subarray(start), size - (value.length - start));
  return valid(d) ? d : undefined;
}

/** A short Weierstrass curve y² = x³ − 3x + b over GF(p), p ≡ 3 mod 4, of prime order n. */
interface Prime {
  readonly size: number;
  readonly p: bigint;
  readonly b: bigint;
  readonly n: bigint;
}

const P256: Prime = {
  size: 32,
  p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};
const P384: Prime = {
  size: 48,
  p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
  b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};

const toBig = (b: Uint8Array) => b.reduce((a, x) => (a << 8n) | BigInt(x), 0n);
function toBytes(v: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = size - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 255n);
  return out;
}
function powMod(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  for (b %= m; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}
/** x³ − 3x + b mod p. */
const rhs = (c: Prime, x: bigint) => (((x * x % c.p) * x - 3n * x + c.b) % c.p + c.p) % c.p;

/** A public SEC 1 point (04‖x‖y or 02/03‖x) of `c` as x‖y; throws unless it is a point of the curve. */
function decodePoint(c: Prime, q: Uint8Array): Uint8Array {
  const s = c.size;
  const x = toBig(q.subarray(1, 1 + s));
  if (x >= c.p) throw new RangeError("not a point of the curve");
  let y: bigint;
  if (q.length === 1 + 2 * s && q[0] === 4) {
    y = toBig(q.subarray(1 + s));
    if (y >= c.p || (y * y) % c.p !== rhs(c, x)) throw new RangeError("not a point of the curve");
  } else if (q.length === 1 + s && (q[0] === 2 || q[0] === 3)) {
    const a = rhs(c, x);
    y = powMod(a, (c.p + 1n) / 4n, c.p);
    if ((y * y) % c.p !== a) throw new RangeError("not a point of the curve");
    if (Number(y & 1n) !== (q[0] & 1)) y = (c.p - y) % c.p;
    if (y === 0n && q[0] === 3) throw new RangeError("not a point of the curve");
  } else {
    throw new RangeError("not a SEC 1 point");
  }
  const out = new Uint8Array(2 * s);
  out.set(toBytes(x, s));
  out.set(toBytes(y, s), s);
  return out;
}

/** 0 < d < n, for a secret `d` of c.size bytes: every byte compared, no early exit. */
function validScalar(c: Prime, d: Uint8Array): boolean {
  const n = toBytes(c.n, c.size);
  let lt = 0;
  let gt = 0;
  let any = 0;
  for (let i = 0; i < c.size; i++) {
    const undecided = 1 - (lt | gt);
    lt |= undecided & (d[i] < n[i] ? 1 : 0);
    gt |= undecided & (d[i] > n[i] ? 1 : 0);
    any |= d[i];
  }
  return (lt & (any !== 0 ? 1 : 0)) === 1;
}

/** Every curve the device knows. */
export const CURVES: readonly Curve[] = [
  {
    name: "P-256", keyType: CKK.EC, generator: CKM.EC_KEY_PAIR_GEN, bits: 256, signatureSize: 64, native: EC_CURVE.P256,
    params: [oid(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07)],
    peerPoint: (q) => decodePoint(P256, q),
    importSecret: (v) => scalar(v, 32, (d) => validScalar(P256, d)),
  },
  {
    name: "P-384", keyType: CKK.EC, generator: CKM.EC_KEY_PAIR_GEN, bits: 384, signatureSize: 96, native: EC_CURVE.P384,
    params: [oid(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22)],
    peerPoint: (q) => decodePoint(P384, q),
    importSecret: (v) => scalar(v, 48, (d) => validScalar(P384, d)),
  },
  {
    name: "Ed25519", keyType: CKK.EC_EDWARDS, generator: CKM.EC_EDWARDS_KEY_PAIR_GEN, bits: 255, signatureSize: 64,
    params: [oid(0x06, 0x03, 0x2b, 0x65, 0x70), printable("edwards25519")],
    eddsa: true,
    importSecret: (v) => (v.length === 32 ? v.slice() : undefined),
  },
];

/**
 * A CKA_EC_POINT (or ECDH peer) value without its DER OCTET STRING, if it has one. A bare point may
 * begin with the same two bytes as a wrapped one (04, then its length minus 2), so the wrapper is
 * taken off only when what it wraps has the length of one of this curve's encodings (SEC 1
 * uncompressed or compressed; the 32-byte Ed25519 key).
 */
export function rawPoint(curve: Curve, q: Uint8Array): Uint8Array {
  const s = Math.ceil(curve.bits / 8);
  const sizes = curve.keyType === CKK.EC_EDWARDS ? [32] : [1 + 2 * s, 1 + s];
  const wrapped = q.length > 2 && q[0] === 0x04 && q[1] === q.length - 2;
  return wrapped && sizes.includes(q.length - 2) && !sizes.includes(q.length) ? q.subarray(2) : q;
}

/** The curve named by a CKA_EC_PARAMS value, or undefined. */
export function curveByParams(params: Uint8Array): Curve | undefined {
  return CURVES.find((c) => c.params.some((p) => p.length === params.length && p.every((x, i) => x === params[i])));
}
