/**
 * The patent's split, as a table: which mechanisms the PC completes itself (digests, public-key
 * verification and encryption) and which it prepares for one device operation (hash-and-sign:
 * the PC hashes, the device signs the digest with the key that never leaves it).
 */
import { CKF, CKK, CKM } from "../../modules/at/pkcs11.js";
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
const H = { SHA_1: CKM.SHA_1, SHA224: CKM.SHA224, SHA256: CKM.SHA256, SHA384: CKM.SHA384, SHA512: CKM.SHA512 };
const combos = (
  types: Record<keyof typeof H, number>, base: number, keyType: number, digestInfo: boolean,
): SignMechanism[] => (Object.keys(types) as (keyof typeof H)[]).map((k) => ({ type: types[k], base, keyType, hash: hash(H[k]), digestInfo }));

/** Every signature mechanism the token offers. */
export const SIGN_MECHANISMS: readonly SignMechanism[] = [
  { type: CKM.RSA_PKCS, base: CKM.RSA_PKCS, keyType: CKK.RSA },
  { type: CKM.RSA_X_509, base: CKM.RSA_X_509, keyType: CKK.RSA },
  { type: CKM.RSA_PKCS_PSS, base: CKM.RSA_PKCS_PSS, keyType: CKK.RSA },
  { type: CKM.ECDSA, base: CKM.ECDSA, keyType: CKK.EC },
  { type: CKM.EDDSA, base: CKM.EDDSA, keyType: CKK.EC_EDWARDS },
  ...combos({ SHA_1: 0x6, SHA224: 0x46, SHA256: 0x40, SHA384: 0x41, SHA512: 0x42 }, CKM.RSA_PKCS, CKK.RSA, true),
  ...combos({ SHA_1: 0xe, SHA224: 0x47, SHA256: 0x43, SHA384: 0x44, SHA512: 0x45 }, CKM.RSA_PKCS_PSS, CKK.RSA, false),
  ...combos({ SHA_1: 0x1042, SHA224: 0x1043, SHA256: 0x1044, SHA384: 0x1045, SHA512: 0x1046 }, CKM.ECDSA, CKK.EC, false),
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
