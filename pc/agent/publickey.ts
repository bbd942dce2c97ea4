/**
 * Public-key operations the PC does itself (no secret is involved): signature verification and
 * RSA encryption, with keys rebuilt from the token's public attributes.
 */
import crypto from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256, p384 } from "@noble/curves/nist.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { sha224, sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { CKA, CKK, CKM, CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { readUlong } from "../../modules/at/template.js";
import { type Curve, curveByParams, rawPoint } from "../../modules/wim/curves.js";
import { type Digest, HASHES as PAD_HASHES, pssParams, pssVerify } from "../../modules/wim/rsa-pad.js";
import type { SignMechanism } from "./mechanisms.js";

/** rsa-pad's Digest on the PC: @noble/hashes (the device uses the C core's, NativeCrypto.hash). */
export const nobleDigest: Digest = (alg, m) => [sha1, sha224, sha256, sha384, sha512][alg - 1](m);

/** A public key of the token, ready for Node's crypto or @noble/curves. */
export interface PublicKey {
  readonly keyType: number;
  /** RSA: modulus bytes; EC: the uncompressed point. */
  readonly material: Uint8Array;
  readonly rsa?: crypto.KeyObject;
  readonly curve?: Curve;
  readonly bits: number;
}

/** Rebuilds a public key from CKA_KEY_TYPE, CKA_MODULUS/CKA_PUBLIC_EXPONENT or CKA_EC_PARAMS/CKA_EC_POINT. */
export function publicKey(attrs: Map<number, Uint8Array>): PublicKey {
  const keyType = readUlong(attrs.get(CKA.KEY_TYPE) ?? new Uint8Array(0));
  if (keyType === CKK.RSA) {
    const n = attrs.get(CKA.MODULUS), e = attrs.get(CKA.PUBLIC_EXPONENT);
    if (!n || !e) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    const rsa = crypto.createPublicKey({ key: { kty: "RSA", n: Buffer.from(n).toString("base64url"), e: Buffer.from(e).toString("base64url") }, format: "jwk" });
    return { keyType, material: n, rsa, bits: rsa.asymmetricKeyDetails!.modulusLength! };
  }
  if (keyType === CKK.EC || keyType === CKK.EC_EDWARDS) {
    const params = attrs.get(CKA.EC_PARAMS), point = attrs.get(CKA.EC_POINT);
    const curve = params && curveByParams(params);
    if (!curve || !point) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    const q = rawPoint(curve, point);
    return { keyType, material: q, curve, bits: curve.bits };
  }
  throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
}

/** Signature verification of each curve (by Curve.name) with the public point: @noble/curves. */
const CURVE_VERIFY: { readonly [name: string]: (sig: Uint8Array, data: Uint8Array, q: Uint8Array) => boolean } = {
  "P-256": (sig, d, q) => p256.verify(sig, d, q, { prehash: false, lowS: false }),
  "P-384": (sig, d, q) => p384.verify(sig, d, q, { prehash: false, lowS: false }),
  "Ed25519": (sig, d, q) => ed25519.verify(sig, d, q, { zip215: false }), // RFC 8032 §5.1.7, not ZIP 215
};

/** Verifies `sig` over `data` (a message, or a digest for the raw mechanisms); throws CKR_SIGNATURE_*. */
export function verify(m: SignMechanism, key: PublicKey, parameter: Uint8Array, data: Uint8Array, sig: Uint8Array): void {
  if (m.keyType !== key.keyType) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
  const digest = m.hash ? crypto.createHash(m.hash.node).update(data).digest() : Buffer.from(data);
  let ok: boolean;
  if (key.curve) {
    if (sig.length !== key.curve.signatureSize) throw new PkcsError(CKR.SIGNATURE_LEN_RANGE);
    ok = CURVE_VERIFY[key.curve.name](sig, digest, key.material);
  } else {
    const k = key.material.length;
    if (sig.length !== k) throw new PkcsError(CKR.SIGNATURE_LEN_RANGE);
    let em: Buffer;
    try {
      em = crypto.publicDecrypt({ key: key.rsa!, padding: crypto.constants.RSA_NO_PADDING }, sig);
    } catch {
      throw new PkcsError(CKR.SIGNATURE_INVALID);
    }
    if (m.base === CKM.RSA_X_509) {
      const want = Buffer.alloc(k);
      Buffer.from(data).copy(want, k - Math.min(k, data.length));
      ok = data.length <= k && em.equals(want);
    } else if (m.base === CKM.RSA_PKCS) {
      const payload = m.digestInfo ? Buffer.concat([m.hash!.digestInfo, digest]) : digest;
      ok = payload.length <= k - 11 && em.equals(Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - payload.length - 3, 0xff), Buffer.from([0]), payload]));
    } else {
      const { hash, saltLength } = pssParams(parameter);
      if (m.hash && hash.mechanism !== m.hash.mechanism) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
      ok = pssVerify(em, digest, key.bits, hash, saltLength, nobleDigest);
    }
  }
  if (!ok) throw new PkcsError(CKR.SIGNATURE_INVALID);
}

/** RSA encryption with the public key: CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP (flattened parameters), CKM_RSA_X_509. */
export function encrypt(mechanism: number, key: PublicKey, parameter: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.keyType !== CKK.RSA) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
  const k = key.material.length;
  try {
    if (mechanism === CKM.RSA_PKCS) {
      if (data.length > k - 11) throw new PkcsError(CKR.DATA_LEN_RANGE);
      return crypto.publicEncrypt({ key: key.rsa!, padding: crypto.constants.RSA_PKCS1_PADDING }, data);
    }
    if (mechanism === CKM.RSA_X_509) {
      if (data.length > k) throw new PkcsError(CKR.DATA_LEN_RANGE);
      const block = Buffer.alloc(k);
      Buffer.from(data).copy(block, k - data.length);
      return crypto.publicEncrypt({ key: key.rsa!, padding: crypto.constants.RSA_NO_PADDING }, block);
    }
    if (mechanism === CKM.RSA_PKCS_OAEP) {
      if (parameter.length < 28) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
      const dv = new DataView(parameter.buffer, parameter.byteOffset, parameter.byteLength);
      const h = PAD_HASHES.find((x) => x.mechanism === dv.getUint32(0, true) && x.mgf === dv.getUint32(8, true));
      if (!h) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
      const name = ["sha1", "sha224", "sha256", "sha384", "sha512"][PAD_HASHES.indexOf(h)];
      const label = parameter.subarray(28, 28 + dv.getUint32(24, true));
      if (data.length > k - 2 * h.size - 2) throw new PkcsError(CKR.DATA_LEN_RANGE);
      return crypto.publicEncrypt({ key: key.rsa!, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: name, oaepLabel: label }, data);
    }
  } catch (e) {
    if (e instanceof PkcsError) throw e;
    throw new PkcsError(CKR.FUNCTION_FAILED, String(e));
  }
  throw new PkcsError(CKR.MECHANISM_INVALID);
}
