/**
 * The elliptic curves of the token: what CKA_EC_PARAMS names them and where their private-key side runs.
 * Every private-key operation is in C: P-256 and P-384 sign, derive and generate in
 * modules/wim/native/wim_ec.c (NativeCrypto.ecSign / ecEcdh / ecGenerate), Ed25519 signs and generates
 * in wim_ed25519.c (NativeCrypto.edSign / edGenerate); no secret reaches JavaScript. @noble/curves'
 * NIST curves decode and check the public points and scalars given to the device; verification is the
 * PC's part (pc/agent/publickey.ts, with @noble/curves for all three).
 */
import { p256, p384 } from "@noble/curves/nist.js";
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

/** Every curve the device knows. */
export const CURVES: readonly Curve[] = [
  {
    name: "P-256", keyType: CKK.EC, generator: CKM.EC_KEY_PAIR_GEN, bits: 256, signatureSize: 64, native: EC_CURVE.P256,
    params: [oid(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07)],
    peerPoint: (q) => p256.Point.fromBytes(q).toBytes(false).subarray(1),
    importSecret: (v) => scalar(v, 32, p256.utils.isValidSecretKey),
  },
  {
    name: "P-384", keyType: CKK.EC, generator: CKM.EC_KEY_PAIR_GEN, bits: 384, signatureSize: 96, native: EC_CURVE.P384,
    params: [oid(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22)],
    peerPoint: (q) => p384.Point.fromBytes(q).toBytes(false).subarray(1),
    importSecret: (v) => scalar(v, 48, p384.utils.isValidSecretKey),
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
