/**
 * An application's arguments turned into what the device takes: text (PINs, labels), templates,
 * handles and mechanism types, each refused with the CK_RV the PKCS#11 spec names when it cannot be sent.
 */
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { encodeTemplate, isWireType } from "../../modules/at/template.js";
import { MAX_PIN, MIN_PIN } from "../../modules/wim/token.js";
import type { RpcAttribute } from "./wire.js";

/** Bytes as an AT string, one character per byte; NULL is CKR_ARGUMENTS_BAD. */
export function latin1(b: Uint8Array | null): string {
  if (!b) throw new PkcsError(CKR.ARGUMENTS_BAD);
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

/**
 * A PIN as the AT line carries it (one character per byte; the quoting escapes any byte).
 * NULL is CKR_ARGUMENTS_BAD (no protected authentication path); a length outside the token's
 * limits (C_GetTokenInfo's ulMinPinLen…ulMaxPinLen, the device's own checks) is
 * CKR_PIN_LEN_RANGE, answered here for C_Login too so that a PIN that cannot be right costs no try.
 */
export function pinText(b: Uint8Array | null): string {
  const pin = latin1(b);
  if (pin.length < MIN_PIN || pin.length > MAX_PIN) throw new PkcsError(CKR.PIN_LEN_RANGE);
  return pin;
}

/** A request template for the device. A type over 32 bits is not one the token knows (it must not
 * wrap onto a real type such as CKA_CLASS): CKR_ATTRIBUTE_TYPE_INVALID. */
export function wireTemplate(t: readonly RpcAttribute[]): Uint8Array {
  return encodeTemplate(t.map((a) => {
    if (!a.value) throw new PkcsError(CKR.ARGUMENTS_BAD);
    if (!isWireType(a.type)) throw new PkcsError(CKR.ATTRIBUTE_TYPE_INVALID);
    return { type: a.type, value: a.value };
  }));
}

/** A handle or mechanism type from the application: over 32 bits it cannot name anything on the device. */
export function wireNumber(v: number, rv: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new PkcsError(rv);
  return v;
}
