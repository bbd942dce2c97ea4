/**
 * Private-key signing on the device: the mechanisms the device performs itself. Hashing (and
 * building a DigestInfo) is the PC's part of the work; the device gets the prepared input.
 */
import { p256 } from "@noble/curves/nist.js";
import { CKF, CKK, CKM, CKR, PkcsError } from "../at/pkcs11.js";
import type { NativeCrypto } from "./native.js";

/** A mechanism the device performs, as C_GetMechanismInfo reports it. */
export interface MechanismInfo {
  readonly type: number;
  readonly minKeySize: number;
  readonly maxKeySize: number;
  readonly flags: number;
}

const EC_FLAGS = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS;

/** The device's own mechanisms. */
export const MECHANISMS: readonly MechanismInfo[] = [
  { type: CKM.RSA_PKCS_KEY_PAIR_GEN, minKeySize: 2048, maxKeySize: 4096, flags: CKF.HW | CKF.GENERATE_KEY_PAIR },
  { type: CKM.RSA_PKCS, minKeySize: 2048, maxKeySize: 4096, flags: CKF.HW | CKF.SIGN },
  { type: CKM.EC_KEY_PAIR_GEN, minKeySize: 256, maxKeySize: 256, flags: CKF.HW | CKF.GENERATE_KEY_PAIR | EC_FLAGS },
  { type: CKM.ECDSA, minKeySize: 256, maxKeySize: 256, flags: CKF.HW | CKF.SIGN | EC_FLAGS },
];

/** The key type each signing mechanism needs. */
const SIGN_KEY_TYPE = new Map<number, number>([[CKM.RSA_PKCS, CKK.RSA], [CKM.ECDSA, CKK.EC]]);

/** Checks that `mechanism` signs with keys of `keyType`. */
export function checkSignMechanism(mechanism: number, keyType: number): void {
  const want = SIGN_KEY_TYPE.get(mechanism);
  if (want === undefined) throw new PkcsError(CKR.MECHANISM_INVALID);
  if (want !== keyType) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
}

/** Signs `data` with the private key of `handle` (its public modulus given for RSA). */
export function sign(native: NativeCrypto, handle: number, mechanism: number, data: Uint8Array, modulus?: Uint8Array): Uint8Array {
  if (mechanism === CKM.RSA_PKCS) {
    const k = modulus!.length;
    if (data.length > k - 11) throw new PkcsError(CKR.DATA_LEN_RANGE);
    // EMSA-PKCS1-v1_5 block type 1: 00 01 FF…FF 00 data
    const em = new Uint8Array(k);
    em[1] = 1;
    em.fill(0xff, 2, k - data.length - 1);
    em.set(data, k - data.length);
    return new Uint8Array(native.rsaPrivate(handle, em.buffer as ArrayBuffer));
  }
  if (mechanism === CKM.ECDSA) {
    if (data.length === 0) throw new PkcsError(CKR.DATA_LEN_RANGE);
    const secret = new Uint8Array(native.ecSecret(handle));
    try {
      return p256.sign(data, secret, { prehash: false, lowS: false });
    } finally {
      secret.fill(0);
    }
  }
  throw new PkcsError(CKR.MECHANISM_INVALID);
}
