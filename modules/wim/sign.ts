/**
 * Private-key operations on the device: the mechanisms the device performs itself. Hashing (and
 * building a DigestInfo) is the PC's part of the work; the device gets the prepared input, encodes
 * it (modules/wim/rsa-pad.ts), and runs the private operation in C (RSA, P-256, P-384 and Ed25519: the
 * secret never leaves the C core).
 */
import { CKA, CKF, CKK, CKM, CKR, PkcsError } from "../at/pkcs11.js";
import { curveByParams } from "./curves.js";
import type { AttributeMap } from "./objects.js";
import type { NativeCrypto } from "./native.js";
import { type Digest, oaepDecrypt, oaepParams, pkcs1Decrypt, pkcs1Sign, pssEncode, pssParams } from "./rsa-pad.js";

/** The C core's hashes as rsa-pad's Digest (no @noble on the device). */
export function nativeDigest(native: NativeCrypto): Digest {
  return (alg, m) => new Uint8Array(native.hash(alg, m));
}

/** A mechanism the device performs, as C_GetMechanismInfo reports it. */
export interface MechanismInfo {
  readonly type: number;
  readonly minKeySize: number;
  readonly maxKeySize: number;
  readonly flags: number;
}

const EC_FLAGS = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS;
const RSA = { minKeySize: 2048, maxKeySize: 4096 };

/** The device's own mechanisms. */
export const MECHANISMS: readonly MechanismInfo[] = [
  { type: CKM.RSA_PKCS_KEY_PAIR_GEN, ...RSA, flags: CKF.HW | CKF.GENERATE_KEY_PAIR },
  { type: CKM.RSA_PKCS, ...RSA, flags: CKF.HW | CKF.SIGN | CKF.DECRYPT },
  { type: CKM.RSA_X_509, ...RSA, flags: CKF.HW | CKF.SIGN | CKF.DECRYPT },
  { type: CKM.RSA_PKCS_PSS, ...RSA, flags: CKF.HW | CKF.SIGN },
  { type: CKM.RSA_PKCS_OAEP, ...RSA, flags: CKF.HW | CKF.DECRYPT },
  { type: CKM.EC_KEY_PAIR_GEN, minKeySize: 256, maxKeySize: 384, flags: CKF.HW | CKF.GENERATE_KEY_PAIR | EC_FLAGS },
  { type: CKM.ECDSA, minKeySize: 256, maxKeySize: 384, flags: CKF.HW | CKF.SIGN | EC_FLAGS },
  { type: CKM.ECDH1_DERIVE, minKeySize: 256, maxKeySize: 384, flags: CKF.HW | CKF.DERIVE | EC_FLAGS },
  { type: CKM.EC_EDWARDS_KEY_PAIR_GEN, minKeySize: 255, maxKeySize: 255, flags: CKF.HW | CKF.GENERATE_KEY_PAIR },
  { type: CKM.EDDSA, minKeySize: 255, maxKeySize: 255, flags: CKF.HW | CKF.SIGN },
];

/** Hash-and-sign mechanisms: the PC hashes with `hash`, the device signs with `base`. */
export const HASH_AND_SIGN: readonly { type: number; base: number; hash: number }[] = [
  ...[[0x6, CKM.SHA_1], [0x46, CKM.SHA224], [0x40, CKM.SHA256], [0x41, CKM.SHA384], [0x42, CKM.SHA512]]
    .map(([type, hash]) => ({ type, base: CKM.RSA_PKCS, hash })),
  ...[[0xe, CKM.SHA_1], [0x47, CKM.SHA224], [0x43, CKM.SHA256], [0x44, CKM.SHA384], [0x45, CKM.SHA512]]
    .map(([type, hash]) => ({ type, base: CKM.RSA_PKCS_PSS, hash })),
  ...[[0x1042, CKM.SHA_1], [0x1043, CKM.SHA224], [0x1044, CKM.SHA256], [0x1045, CKM.SHA384], [0x1046, CKM.SHA512]]
    .map(([type, hash]) => ({ type, base: CKM.ECDSA, hash })),
];

/**
 * CKA_ALLOWED_MECHANISMS (a list of 8-byte CK_MECHANISM_TYPEs): does it let the device run `base`?
 * A listed hash-and-sign mechanism allows its base, since the PC does the hashing.
 */
export function allowedMechanism(allowed: Uint8Array | undefined, base: number, signing: boolean): boolean {
  if (!allowed || allowed.length === 0) return true;
  const dv = new DataView(allowed.buffer, allowed.byteOffset, allowed.byteLength);
  for (let o = 0; o + 8 <= allowed.length; o += 8) {
    const m = dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 0x100000000;
    if (m === base || (signing && HASH_AND_SIGN.some((x) => x.type === m && x.base === base))) return true;
  }
  return false;
}

/** The key type each mechanism needs, and whether it signs or decrypts. */
const KEY_TYPE = new Map<number, number>([
  [CKM.RSA_PKCS, CKK.RSA], [CKM.RSA_X_509, CKK.RSA], [CKM.RSA_PKCS_PSS, CKK.RSA], [CKM.RSA_PKCS_OAEP, CKK.RSA], [CKM.ECDSA, CKK.EC],
  [CKM.EDDSA, CKK.EC_EDWARDS], [CKM.ECDH1_DERIVE, CKK.EC],
]);

/** Checks that the device performs `mechanism` for `flag` (CKF_SIGN / CKF_DECRYPT) with keys of `keyType`. */
export function checkMechanism(mechanism: number, flag: number, keyType: number): void {
  const info = MECHANISMS.find((m) => m.type === mechanism);
  if (!info || !(info.flags & flag)) throw new PkcsError(CKR.MECHANISM_INVALID);
  if (KEY_TYPE.get(mechanism) !== keyType) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
}

/** A raw RSA private operation on a k-byte block (the input must be below the modulus). */
function rsaRaw(native: NativeCrypto, handle: number, block: Uint8Array, modulus: Uint8Array,
  notBelow: number = CKR.DATA_INVALID): Uint8Array {
  if (block.length !== modulus.length) throw new PkcsError(CKR.DATA_LEN_RANGE);
  let below = 0, decided = 0; // block < modulus, compared without an early exit
  for (let i = 0; i < block.length; i++) {
    const lt = block[i] < modulus[i] ? 1 : 0, gt = block[i] > modulus[i] ? 1 : 0;
    below |= lt & (decided ^ 1);
    decided |= lt | gt;
  }
  if (!below) throw new PkcsError(notBelow);
  return new Uint8Array(native.rsaPrivate(handle, block.slice().buffer as ArrayBuffer));
}

function modBits(modulus: Uint8Array): number {
  let bits = modulus.length * 8;
  for (let b = modulus[0]; b < 0x80 && bits > 0; b <<= 1) bits--;
  return bits;
}

/** CK_EDDSA_PARAMS as the module flattens them (u8 phFlag, u32 length + context): only plain Ed25519. */
function checkEddsaParams(p: Uint8Array): void {
  if (p.length === 0) return;
  const plain = p.length === 5 && p.every((b) => b === 0);
  if (!plain) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID, "Ed25519ph and Ed25519ctx are not supported");
}

/** The longest hash NativeCrypto.ecSign takes; a longer one is cut, as ECDSA would cut it anyway. */
const ECDSA_HASH_MAX = 64;

/** Signs `data` with the private key of `handle`, described by its attributes `key`. */
export function sign(native: NativeCrypto, random: (b: Uint8Array) => void, handle: number, mechanism: number,
  parameter: Uint8Array, data: Uint8Array, key: AttributeMap): Uint8Array {
  const modulus = key.get(CKA.MODULUS);
  if (mechanism === CKM.EDDSA) checkEddsaParams(parameter);
  else if (mechanism !== CKM.RSA_PKCS_PSS && parameter.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  switch (mechanism) {
    case CKM.RSA_PKCS:
      return rsaRaw(native, handle, pkcs1Sign(data, modulus!.length), modulus!);
    case CKM.RSA_X_509: {
      if (data.length > modulus!.length) throw new PkcsError(CKR.DATA_LEN_RANGE);
      const block = new Uint8Array(modulus!.length);
      block.set(data, block.length - data.length);
      return rsaRaw(native, handle, block, modulus!);
    }
    case CKM.RSA_PKCS_PSS: {
      const { hash, saltLength } = pssParams(parameter);
      const salt = new Uint8Array(saltLength);
      random(salt);
      return rsaRaw(native, handle, pssEncode(data, modBits(modulus!), hash, salt, nativeDigest(native)), modulus!);
    }
    case CKM.ECDSA: {
      if (data.length === 0) throw new PkcsError(CKR.DATA_LEN_RANGE);
      const curve = curveByParams(key.get(CKA.EC_PARAMS) ?? new Uint8Array(0));
      if (curve?.native === undefined) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
      // in C, the scalar read there; only the hash's leftmost bits count (48 bytes at most here)
      return new Uint8Array(native.ecSign(handle, curve.native, data.slice(0, ECDSA_HASH_MAX).buffer as ArrayBuffer));
    }
    case CKM.EDDSA: {
      const curve = curveByParams(key.get(CKA.EC_PARAMS) ?? new Uint8Array(0));
      if (!curve?.eddsa) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
      // in C (wim_ed25519), the seed read there: RFC 8032's Ed25519 over the whole message
      return new Uint8Array(native.edSign(handle, data.slice().buffer as ArrayBuffer));
    }
  }
  throw new PkcsError(CKR.MECHANISM_INVALID);
}

/** Decrypts `data` (a k-byte RSA block) with the private key of `handle`. */
export function decrypt(native: NativeCrypto, handle: number, mechanism: number, parameter: Uint8Array,
  data: Uint8Array, modulus: Uint8Array): Uint8Array {
  if (data.length !== modulus.length) throw new PkcsError(CKR.ENCRYPTED_DATA_LEN_RANGE);
  if (mechanism !== CKM.RSA_PKCS_OAEP && parameter.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  const block = rsaRaw(native, handle, data, modulus, CKR.ENCRYPTED_DATA_INVALID); // a ciphertext >= n
  switch (mechanism) {
    case CKM.RSA_X_509:
      return block;
    case CKM.RSA_PKCS:
      return pkcs1Decrypt(block);
    case CKM.RSA_PKCS_OAEP: {
      const { hash, label } = oaepParams(parameter);
      return oaepDecrypt(block, hash, label, nativeDigest(native));
    }
  }
  throw new PkcsError(CKR.MECHANISM_INVALID);
}
