/**
 * The elliptic curves of the token, from @noble/curves: what CKA_EC_PARAMS names them, how their
 * keys are made and how they sign. The secret scalar (or Ed25519 seed) is the SECRET record; it
 * reaches this code only through NativeCrypto.ecSecret and is wiped after use.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256, p384 } from "@noble/curves/nist.js";
import { CKK, CKM } from "../at/pkcs11.js";

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
  /** Random bytes a secret is derived from (for NIST curves, the order's size + 128 bits: unbiased). */
  readonly seedSize: number;
  /** A secret from `seedSize` uniformly random bytes. */
  secretFrom(seed: Uint8Array): Uint8Array;
  /** The public point as CKA_EC_POINT carries it (inside a DER OCTET STRING). */
  publicPoint(secret: Uint8Array): Uint8Array;
  /** ECDSA over a digest prepared by the PC, or EdDSA over the whole message. */
  sign(data: Uint8Array, secret: Uint8Array): Uint8Array;
  /** Verification with the public point (the PC's part: no secret involved). */
  verify(signature: Uint8Array, data: Uint8Array, point: Uint8Array): boolean;
  /** ECDH (CKM_ECDH1_DERIVE with CKD_NULL): the x-coordinate of secret × peer; absent for EdDSA curves. */
  sharedX?(secret: Uint8Array, peer: Uint8Array): Uint8Array;
}

const oid = (...b: number[]) => Uint8Array.from(b);
const printable = (s: string) => Uint8Array.from([0x13, s.length, ...Array.from(s, (c) => c.charCodeAt(0))]);

/** Every curve the device knows. */
export const CURVES: readonly Curve[] = [
  {
    name: "P-256", keyType: CKK.EC, generator: CKM.EC_KEY_PAIR_GEN, bits: 256, signatureSize: 64, seedSize: 48,
    params: [oid(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07)],
    secretFrom: (seed) => p256.utils.randomSecretKey(seed),
    publicPoint: (s) => p256.getPublicKey(s, false),
    sign: (d, s) => p256.sign(d, s, { prehash: false, lowS: false }),
    verify: (sig, d, q) => p256.verify(sig, d, q, { prehash: false, lowS: false }),
    sharedX: (s, q) => p256.getSharedSecret(s, q, true).slice(1),
  },
  {
    name: "P-384", keyType: CKK.EC, generator: CKM.EC_KEY_PAIR_GEN, bits: 384, signatureSize: 96, seedSize: 72,
    params: [oid(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22)],
    secretFrom: (seed) => p384.utils.randomSecretKey(seed),
    publicPoint: (s) => p384.getPublicKey(s, false),
    sign: (d, s) => p384.sign(d, s, { prehash: false, lowS: false }),
    verify: (sig, d, q) => p384.verify(sig, d, q, { prehash: false, lowS: false }),
    sharedX: (s, q) => p384.getSharedSecret(s, q, true).slice(1),
  },
  {
    name: "Ed25519", keyType: CKK.EC_EDWARDS, generator: CKM.EC_EDWARDS_KEY_PAIR_GEN, bits: 255, signatureSize: 64, seedSize: 32,
    params: [oid(0x06, 0x03, 0x2b, 0x65, 0x70), printable("edwards25519")],
    secretFrom: (seed) => seed.slice(),
    publicPoint: (s) => ed25519.getPublicKey(s),
    sign: (d, s) => ed25519.sign(d, s),
    verify: (sig, d, q) => ed25519.verify(sig, d, q),
  },
];

/** The curve named by a CKA_EC_PARAMS value, or undefined. */
export function curveByParams(params: Uint8Array): Curve | undefined {
  return CURVES.find((c) => c.params.some((p) => p.length === params.length && p.every((x, i) => x === params[i])));
}
