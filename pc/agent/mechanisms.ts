/**
 * The patent's split, as a table: which mechanisms the PC completes itself (digests, public-key
 * verification and encryption) and which it prepares for one device operation (hash-and-sign:
 * the PC hashes, the device signs the digest with the key that never leaves it).
 */
import { CKF, CKK, CKM } from "../../modules/at/pkcs11.js";
import { HASH_AND_SIGN } from "../../modules/wim/sign.js";
import type { DeviceMechanism } from "./device.js";

/** A hash the PC computes: its Node name, output size and DigestInfo prefix (RFC 8017 §9.2). */
export interface PcHash {
  readonly mechanism: number;
  readonly node: string;
  readonly size: number;
  readonly digestInfo: Buffer;
}

export const HASHES: readonly PcHash[] = [
  { mechanism: CKM.SHA_1, node: "sha1", size: 20, digestInfo: Buffer.from("3021300906052b0e03021a05000414", "hex") },
  { mechanism: CKM.SHA224, node: "sha224", size: 28, digestInfo: Buffer.from("302d300d06096086480165030402040500041c", "hex") },
  { mechanism: CKM.SHA256, node: "sha256", size: 32, digestInfo: Buffer.from("3031300d060960864801650304020105000420", "hex") },
  { mechanism: CKM.SHA384, node: "sha384", size: 48, digestInfo: Buffer.from("3041300d060960864801650304020205000430", "hex") },
  { mechanism: CKM.SHA512, node: "sha512", size: 64, digestInfo: Buffer.from("3051300d060960864801650304020305000440", "hex") },
];

/** A signature mechanism as the PC sees it: the device mechanism it rests on, and the PC's hash. */
export interface SignMechanism {
  readonly type: number;
  readonly base: number;
  readonly keyType: number;
  readonly hash?: PcHash;
  /** The digest travels inside a DigestInfo (PKCS#1 v1.5). */
  readonly digestInfo?: boolean;
}

const hash = (m: number) => HASHES.find((h) => h.mechanism === m)!;

/** Every signature mechanism the token offers. */
export const SIGN_MECHANISMS: readonly SignMechanism[] = [
  { type: CKM.RSA_PKCS, base: CKM.RSA_PKCS, keyType: CKK.RSA },
  { type: CKM.RSA_X_509, base: CKM.RSA_X_509, keyType: CKK.RSA },
  { type: CKM.RSA_PKCS_PSS, base: CKM.RSA_PKCS_PSS, keyType: CKK.RSA },
  { type: CKM.ECDSA, base: CKM.ECDSA, keyType: CKK.EC },
  { type: CKM.EDDSA, base: CKM.EDDSA, keyType: CKK.EC_EDWARDS },
  ...HASH_AND_SIGN.map((x) => ({
    type: x.type, base: x.base, keyType: x.base === CKM.ECDSA ? CKK.EC : CKK.RSA, hash: hash(x.hash), digestInfo: x.base === CKM.RSA_PKCS,
  })),
];

/** Encryption mechanisms done on the PC with the public key; decryption goes to the device. */
export const CIPHER_MECHANISMS: readonly number[] = [CKM.RSA_PKCS, CKM.RSA_PKCS_OAEP, CKM.RSA_X_509];

/** The token's mechanism list: the device's plus what the PC adds, with the flags of the whole. */
export function tokenMechanisms(device: readonly DeviceMechanism[]): DeviceMechanism[] {
  const out = new Map<number, DeviceMechanism>();
  const has = (t: number) => device.find((m) => m.type === t);
  for (const m of device) {
    let flags = m.flags;
    if (flags & CKF.SIGN) flags |= CKF.VERIFY;
    if (flags & CKF.DECRYPT) flags |= CKF.ENCRYPT;
    out.set(m.type, { ...m, flags });
  }
  for (const s of SIGN_MECHANISMS) {
    const base = has(s.base);
    if (base && !out.has(s.type)) out.set(s.type, { type: s.type, min: base.min, max: base.max, flags: CKF.HW | CKF.SIGN | CKF.VERIFY | (base.flags & 0x3f00000) });
  }
  for (const h of HASHES) out.set(h.mechanism, { type: h.mechanism, min: 0, max: 0, flags: CKF.DIGEST });
  return [...out.values()];
}
