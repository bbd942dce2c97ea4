/**
 * CKM_ECDH1_DERIVE on the device: the shared secret of an EC private key and a peer's public point
 * becomes a generic secret key object (KDF: CKD_NULL). The secret's value is kept readable only if
 * the template makes the new key non-sensitive and extractable.
 */
import { CKA, CKK, CKO, CKR, PkcsError } from "../at/pkcs11.js";
import { type Attribute, boolValue, readBool, readUlong, ulongValue } from "../at/template.js";
import { checkValue, ruleFor } from "./attributes.js";
import type { NewObject } from "./create.js";
import { type Curve, rawPoint } from "./curves.js";
import type { NativeCrypto } from "./native.js";
import type { AttributeMap } from "./objects.js";

const CKD_NULL = 1;
const EMPTY = new Uint8Array(0);

/** Flattened CK_ECDH1_DERIVE_PARAMS: u64 kdf, u32 n + shared data, u32 n + public data. */
function ecdhParams(p: Uint8Array): { kdf: number; shared: Uint8Array; peer: Uint8Array } {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const bad = () => new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  if (p.length < 16) throw bad();
  const kdf = dv.getUint32(0, true) + dv.getUint32(4, true) * 0x100000000;
  const n1 = dv.getUint32(8, true);
  if (12 + n1 + 4 > p.length) throw bad();
  const n2 = dv.getUint32(12 + n1, true);
  if (16 + n1 + n2 !== p.length) throw bad();
  return { kdf, shared: p.subarray(12, 12 + n1), peer: p.subarray(16 + n1) };
}

/**
 * Derives the secret key object from the base key `handle` (its scalar stays in C: NativeCrypto.ecEcdh).
 * The peer's point is decoded and checked here; the C core checks it again.
 */
export function deriveEcdh(native: NativeCrypto, handle: number, curve: Curve, parameter: Uint8Array,
  template: readonly Attribute[]): NewObject {
  const { kdf, shared, peer } = ecdhParams(parameter);
  if (kdf !== CKD_NULL || shared.length) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID, "only CKD_NULL");
  if (curve.native === undefined || !curve.peerPoint) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
  const notOnCurve = () => new PkcsError(CKR.MECHANISM_PARAM_INVALID, "not a point of the curve");
  let xy: Uint8Array;
  try {
    xy = curve.peerPoint(rawPoint(curve, peer));
  } catch {
    throw notOnCurve();
  }
  let x: Uint8Array;
  try {
    x = new Uint8Array(native.ecEcdh(handle, curve.native, xy.slice().buffer as ArrayBuffer));
  } catch (e) {
    if (e instanceof Error && e.message === "WIM_E_ARG") throw notOnCurve();
    throw e;
  }
  const attrs: AttributeMap = new Map<number, Uint8Array>([
    [CKA.CLASS, ulongValue(CKO.SECRET_KEY)], [CKA.KEY_TYPE, ulongValue(CKK.GENERIC_SECRET)], [CKA.TOKEN, boolValue(false)],
    [CKA.PRIVATE, boolValue(true)], [CKA.MODIFIABLE, boolValue(true)], [CKA.COPYABLE, boolValue(false)], [CKA.DESTROYABLE, boolValue(true)],
    [CKA.LABEL, EMPTY], [CKA.ID, EMPTY], [CKA.START_DATE, EMPTY], [CKA.END_DATE, EMPTY], [CKA.DERIVE, boolValue(false)],
    [CKA.SENSITIVE, boolValue(true)], [CKA.EXTRACTABLE, boolValue(false)], [CKA.ENCRYPT, boolValue(false)], [CKA.DECRYPT, boolValue(false)],
    [CKA.SIGN, boolValue(false)], [CKA.VERIFY, boolValue(false)], [CKA.WRAP, boolValue(false)], [CKA.UNWRAP, boolValue(false)],
    [CKA.LOCAL, boolValue(false)], [CKA.KEY_GEN_MECHANISM, new Uint8Array(8).fill(0xff)],
  ]);
  for (const a of template) {
    if (a.type === CKA.CLASS || a.type === CKA.KEY_TYPE) {
      const want = a.type === CKA.CLASS ? CKO.SECRET_KEY : CKK.GENERIC_SECRET;
      if (readUlong(a.value) !== want) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT);
      continue;
    }
    const rule = ruleFor(a.type, CKO.SECRET_KEY);
    if (!rule || a.type === CKA.VALUE) throw new PkcsError(rule ? CKR.TEMPLATE_INCONSISTENT : CKR.ATTRIBUTE_TYPE_INVALID);
    if (!rule.settable) throw new PkcsError(CKR.ATTRIBUTE_READ_ONLY);
    checkValue(rule, a.value);
    attrs.set(a.type, a.value);
  }
  const len = attrs.has(CKA.VALUE_LEN) ? readUlong(attrs.get(CKA.VALUE_LEN)!)! : x.length;
  if (len < 1 || len > x.length) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT);
  const value = x.slice(0, len);
  x.fill(0);
  attrs.set(CKA.VALUE_LEN, ulongValue(len));
  const sensitive = readBool(attrs.get(CKA.SENSITIVE)!) === true;
  const extractable = readBool(attrs.get(CKA.EXTRACTABLE)!) === true;
  attrs.set(CKA.ALWAYS_SENSITIVE, boolValue(sensitive));
  attrs.set(CKA.NEVER_EXTRACTABLE, boolValue(!extractable));
  if (!sensitive && extractable) {
    attrs.set(CKA.VALUE, value);
    return { attrs };
  }
  return { attrs, secret: value };
}
