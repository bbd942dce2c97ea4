/**
 * C_CreateObject on the device: certificates, data objects, public keys, and EC private keys
 * (imported keys are marked as such: not CKA_LOCAL, never CKA_ALWAYS_SENSITIVE). The template is
 * checked against the rules table over each class's defaults.
 */
import { CKA, CKK, CKO, CKR, PkcsError } from "../at/pkcs11.js";
import { type Attribute, boolValue, readUlong, ulongValue } from "../at/template.js";
import { checkValue, ruleFor } from "./attributes.js";
import { curveByParams } from "./curves.js";
import type { AttributeMap } from "./objects.js";

const EMPTY = new Uint8Array(0);
/** CK_UNAVAILABLE_INFORMATION as a CK_ULONG value. */
const unavailable = () => new Uint8Array(8).fill(0xff); // a fresh one each time: module state stays read-only (preload)

/** The defaults of an object of class `cls` (and key type) made by C_CreateObject; generated keys start from them too. */
export function objectDefaults(cls: number, keyType: number | undefined): AttributeMap {
  const m = new Map<number, Uint8Array>([
    [CKA.CLASS, ulongValue(cls)], [CKA.TOKEN, boolValue(false)], [CKA.PRIVATE, boolValue(cls === CKO.PRIVATE_KEY)],
    [CKA.MODIFIABLE, boolValue(true)], [CKA.COPYABLE, boolValue(cls !== CKO.PRIVATE_KEY)], [CKA.DESTROYABLE, boolValue(true)],
    [CKA.LABEL, EMPTY],
  ]);
  const set = (entries: [number, Uint8Array][]) => entries.forEach(([t, v]) => m.set(t, v));
  if (cls === CKO.DATA) set([[CKA.APPLICATION, EMPTY], [CKA.OBJECT_ID, EMPTY], [CKA.VALUE, EMPTY]]);
  if (cls === CKO.CERTIFICATE) {
    set([[CKA.ID, EMPTY], [CKA.SUBJECT, EMPTY], [CKA.ISSUER, EMPTY], [CKA.SERIAL_NUMBER, EMPTY], [CKA.TRUSTED, boolValue(false)],
      [CKA.CERTIFICATE_CATEGORY, ulongValue(0)], [CKA.START_DATE, EMPTY], [CKA.END_DATE, EMPTY]]);
  }
  if (cls === CKO.PUBLIC_KEY || cls === CKO.PRIVATE_KEY) {
    set([[CKA.KEY_TYPE, ulongValue(keyType!)], [CKA.ID, EMPTY], [CKA.SUBJECT, EMPTY], [CKA.START_DATE, EMPTY], [CKA.END_DATE, EMPTY],
      [CKA.DERIVE, boolValue(false)], [CKA.LOCAL, boolValue(false)], [CKA.KEY_GEN_MECHANISM, unavailable()]]);
  }
  if (cls === CKO.PUBLIC_KEY) {
    set([[CKA.ENCRYPT, boolValue(keyType === CKK.RSA)], [CKA.VERIFY, boolValue(true)], [CKA.VERIFY_RECOVER, boolValue(false)],
      [CKA.WRAP, boolValue(false)], [CKA.TRUSTED, boolValue(false)]]);
  }
  if (cls === CKO.PRIVATE_KEY) {
    set([[CKA.SENSITIVE, boolValue(true)], [CKA.EXTRACTABLE, boolValue(false)], [CKA.ALWAYS_SENSITIVE, boolValue(false)],
      [CKA.NEVER_EXTRACTABLE, boolValue(false)], [CKA.SIGN, boolValue(true)], [CKA.SIGN_RECOVER, boolValue(false)],
      [CKA.DECRYPT, boolValue(keyType === CKK.RSA)], [CKA.UNWRAP, boolValue(false)], [CKA.ALWAYS_AUTHENTICATE, boolValue(false)]]);
  }
  return m;
}

/** A new object's attributes, and for a private key its secret (which the caller stores). */
export interface NewObject {
  readonly attrs: AttributeMap;
  readonly secret?: Uint8Array;
}

/** Builds an object from a C_CreateObject template. */
export function createObject(template: readonly Attribute[]): NewObject {
  const get = (t: number) => template.find((a) => a.type === t)?.value;
  const cls = readUlong(get(CKA.CLASS) ?? EMPTY);
  if (cls === undefined) throw new PkcsError(CKR.TEMPLATE_INCOMPLETE);
  if (!([CKO.DATA, CKO.CERTIFICATE, CKO.PUBLIC_KEY, CKO.PRIVATE_KEY] as number[]).includes(cls)) throw new PkcsError(CKR.ATTRIBUTE_VALUE_INVALID);
  const keyType = cls === CKO.PUBLIC_KEY || cls === CKO.PRIVATE_KEY ? readUlong(get(CKA.KEY_TYPE) ?? EMPTY) : undefined;
  if ((cls === CKO.PUBLIC_KEY || cls === CKO.PRIVATE_KEY) && keyType === undefined) throw new PkcsError(CKR.TEMPLATE_INCOMPLETE);
  const attrs = objectDefaults(cls, keyType);
  let secret: Uint8Array | undefined;
  for (const a of template) {
    const rule = ruleFor(a.type, cls);
    if (!rule) throw new PkcsError(CKR.ATTRIBUTE_TYPE_INVALID);
    if (!rule.settable) throw new PkcsError(CKR.ATTRIBUTE_READ_ONLY);
    checkValue(rule, a.value);
    if (cls === CKO.PRIVATE_KEY && (rule.secret || a.type === CKA.VALUE)) {
      if (a.type !== CKA.VALUE) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "RSA private keys are generated on the device, not imported");
      secret = a.value;
    } else {
      attrs.set(a.type, a.value);
    }
  }
  const need = (...types: number[]) => types.forEach((t) => { if (!attrs.has(t)) throw new PkcsError(CKR.TEMPLATE_INCOMPLETE); });
  if (cls === CKO.CERTIFICATE) {
    need(CKA.CERTIFICATE_TYPE, CKA.VALUE);
    if (readUlong(attrs.get(CKA.CERTIFICATE_TYPE)!) !== 0) throw new PkcsError(CKR.ATTRIBUTE_VALUE_INVALID); // CKC_X_509
  }
  if (keyType === CKK.RSA) {
    if (cls === CKO.PRIVATE_KEY) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "RSA private keys are generated on the device, not imported");
    need(CKA.MODULUS, CKA.PUBLIC_EXPONENT);
    const n = attrs.get(CKA.MODULUS)!;
    let bits = n.length * 8;
    for (let i = 0; i < n.length && n[i] === 0; i++) bits -= 8;
    attrs.set(CKA.MODULUS_BITS, ulongValue(bits));
  } else if (keyType === CKK.EC || keyType === CKK.EC_EDWARDS) {
    need(CKA.EC_PARAMS);
    const curve = curveByParams(attrs.get(CKA.EC_PARAMS)!);
    if (!curve || curve.keyType !== keyType) throw new PkcsError(CKR.CURVE_NOT_SUPPORTED);
    if (cls === CKO.PUBLIC_KEY) need(CKA.EC_POINT);
    if (cls === CKO.PRIVATE_KEY) {
      if (!secret || secret.length === 0) throw new PkcsError(CKR.TEMPLATE_INCOMPLETE);
      secret = curve.importSecret(secret);
      if (!secret) throw new PkcsError(CKR.ATTRIBUTE_VALUE_INVALID, "not a private key of this curve");
    }
  } else if (keyType !== undefined) {
    throw new PkcsError(CKR.ATTRIBUTE_VALUE_INVALID);
  }
  if (cls === CKO.PRIVATE_KEY && attrs.get(CKA.EXTRACTABLE)![0]) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "keys never leave the device");
  return { attrs, secret };
}
