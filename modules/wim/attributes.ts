/**
 * PKCS#11 attribute rules as one table (the SoftHSMv2 lesson): for each attribute, its value kind,
 * the object classes that have it, whether an application may give it at creation and change it
 * afterwards, and whether it is a private key's secret. Templates are checked against it.
 */
import { CKA, CKO, CKR, PkcsError } from "../at/pkcs11.js";
import { type Attribute, readBool, readUlong } from "../at/template.js";
import type { AttributeMap } from "./objects.js";

type Kind = "bool" | "ulong" | "bytes";
const ALL = [CKO.DATA, CKO.CERTIFICATE, CKO.PUBLIC_KEY, CKO.PRIVATE_KEY, CKO.SECRET_KEY];
const KEYS = [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY, CKO.SECRET_KEY];
const PRIV = [CKO.PRIVATE_KEY, CKO.SECRET_KEY];
const PUB = [CKO.PUBLIC_KEY, CKO.SECRET_KEY];

/** How one attribute may be used. */
export interface AttributeRule {
  readonly kind: Kind;
  readonly classes: readonly number[];
  /** May an application set it in C_CreateObject / C_GenerateKeyPair? */
  readonly settable: boolean;
  /** May C_SetAttributeValue change it (on a CKA_MODIFIABLE object)? */
  readonly modifiable: boolean;
  /** A private key's secret: never stored readable, always CKR_ATTRIBUTE_SENSITIVE. */
  readonly secret?: boolean;
}

const r = (kind: Kind, classes: readonly number[], settable: boolean, modifiable: boolean, secret = false): AttributeRule =>
  ({ kind, classes, settable, modifiable, secret });

/** The rules, by attribute type. */
export const RULES: ReadonlyMap<number, AttributeRule> = new Map<number, AttributeRule>([
  [CKA.CLASS, r("ulong", ALL, true, false)],
  [CKA.TOKEN, r("bool", ALL, true, false)],
  [CKA.PRIVATE, r("bool", ALL, true, false)],
  [CKA.MODIFIABLE, r("bool", ALL, true, false)],
  [CKA.COPYABLE, r("bool", ALL, true, false)],
  [CKA.DESTROYABLE, r("bool", ALL, true, false)],
  [CKA.LABEL, r("bytes", ALL, true, true)],
  [CKA.APPLICATION, r("bytes", [CKO.DATA], true, true)],
  [CKA.OBJECT_ID, r("bytes", [CKO.DATA], true, true)],
  [CKA.VALUE, r("bytes", [CKO.DATA, CKO.CERTIFICATE, CKO.PRIVATE_KEY, CKO.SECRET_KEY], true, false)],
  [CKA.VALUE_LEN, r("ulong", [CKO.SECRET_KEY], true, false)],
  [CKA.CERTIFICATE_TYPE, r("ulong", [CKO.CERTIFICATE], true, false)],
  [CKA.ISSUER, r("bytes", [CKO.CERTIFICATE], true, true)],
  [CKA.SERIAL_NUMBER, r("bytes", [CKO.CERTIFICATE], true, true)],
  [CKA.TRUSTED, r("bool", [CKO.CERTIFICATE, CKO.PUBLIC_KEY], false, false)],
  [CKA.WRAP_WITH_TRUSTED, r("bool", PRIV, true, false)],
  [CKA.CERTIFICATE_CATEGORY, r("ulong", [CKO.CERTIFICATE], true, false)],
  [CKA.KEY_TYPE, r("ulong", KEYS, true, false)],
  [CKA.SUBJECT, r("bytes", [CKO.CERTIFICATE, ...KEYS], true, true)],
  [CKA.ID, r("bytes", [CKO.CERTIFICATE, ...KEYS], true, true)],
  [CKA.START_DATE, r("bytes", [CKO.CERTIFICATE, ...KEYS], true, true)],
  [CKA.END_DATE, r("bytes", [CKO.CERTIFICATE, ...KEYS], true, true)],
  [CKA.SENSITIVE, r("bool", PRIV, true, true)],
  [CKA.EXTRACTABLE, r("bool", PRIV, true, true)],
  [CKA.ENCRYPT, r("bool", PUB, true, true)],
  [CKA.DECRYPT, r("bool", PRIV, true, true)],
  [CKA.WRAP, r("bool", PUB, true, true)],
  [CKA.UNWRAP, r("bool", PRIV, true, true)],
  [CKA.SIGN, r("bool", PRIV, true, true)],
  [CKA.SIGN_RECOVER, r("bool", PRIV, true, true)],
  [CKA.VERIFY, r("bool", PUB, true, true)],
  [CKA.VERIFY_RECOVER, r("bool", PUB, true, true)],
  [CKA.DERIVE, r("bool", KEYS, true, true)],
  [CKA.LOCAL, r("bool", KEYS, false, false)],
  [CKA.KEY_GEN_MECHANISM, r("ulong", KEYS, false, false)],
  [CKA.ALWAYS_SENSITIVE, r("bool", PRIV, false, false)],
  [CKA.NEVER_EXTRACTABLE, r("bool", PRIV, false, false)],
  [CKA.ALWAYS_AUTHENTICATE, r("bool", [CKO.PRIVATE_KEY], true, false)],
  [CKA.ALLOWED_MECHANISMS, r("bytes", KEYS, true, false)],
  [CKA.MODULUS, r("bytes", [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY], true, false)],
  [CKA.MODULUS_BITS, r("ulong", [CKO.PUBLIC_KEY], true, false)],
  [CKA.PUBLIC_EXPONENT, r("bytes", [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY], true, false)],
  [CKA.PRIVATE_EXPONENT, r("bytes", PRIV, true, false, true)],
  [CKA.PRIME_1, r("bytes", PRIV, true, false, true)],
  [CKA.PRIME_2, r("bytes", PRIV, true, false, true)],
  [CKA.EXPONENT_1, r("bytes", PRIV, true, false, true)],
  [CKA.EXPONENT_2, r("bytes", PRIV, true, false, true)],
  [CKA.COEFFICIENT, r("bytes", PRIV, true, false, true)],
  [CKA.EC_PARAMS, r("bytes", [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY], true, false)],
  [CKA.EC_POINT, r("bytes", [CKO.PUBLIC_KEY], true, false)],
]);

/** The rule of `type` for an object of class `cls`, or undefined if such objects lack it. */
export function ruleFor(type: number, cls: number): AttributeRule | undefined {
  const rule = RULES.get(type);
  return rule && rule.classes.includes(cls) ? rule : undefined;
}

/** Checks a value against its kind: CKR_ATTRIBUTE_VALUE_INVALID if malformed. */
export function checkValue(rule: AttributeRule, value: Uint8Array): void {
  const ok = rule.kind === "bool" ? readBool(value) !== undefined : rule.kind === "ulong" ? readUlong(value) !== undefined : true;
  if (!ok) throw new PkcsError(CKR.ATTRIBUTE_VALUE_INVALID);
}

/** The class a template names (CKR_TEMPLATE_INCOMPLETE without one). */
export function templateClass(template: readonly Attribute[]): number {
  const a = template.find((x) => x.type === CKA.CLASS);
  const cls = a && readUlong(a.value);
  if (cls === undefined) throw new PkcsError(CKR.TEMPLATE_INCOMPLETE);
  return cls;
}

/**
 * Applies C_SetAttributeValue's template to an object: every attribute must exist for the class,
 * be modifiable, and keep the one-way rules (SENSITIVE only to true, EXTRACTABLE only to false).
 */
export function applyChanges(attrs: AttributeMap, template: readonly Attribute[]): AttributeMap {
  const cls = readUlong(attrs.get(CKA.CLASS)!)!;
  if (readBool(attrs.get(CKA.MODIFIABLE) ?? Uint8Array.of(1)) === false) throw new PkcsError(CKR.ACTION_PROHIBITED);
  const next = new Map(attrs);
  for (const a of template) {
    const rule = ruleFor(a.type, cls);
    if (!rule) throw new PkcsError(CKR.ATTRIBUTE_TYPE_INVALID);
    if (!rule.modifiable) throw new PkcsError(CKR.ATTRIBUTE_READ_ONLY);
    checkValue(rule, a.value);
    if (a.type === CKA.SENSITIVE && readBool(a.value) === false && readBool(attrs.get(CKA.SENSITIVE)!)) throw new PkcsError(CKR.ATTRIBUTE_READ_ONLY);
    if (a.type === CKA.EXTRACTABLE && readBool(a.value) === true && !readBool(attrs.get(CKA.EXTRACTABLE)!)) throw new PkcsError(CKR.ATTRIBUTE_READ_ONLY);
    next.set(a.type, a.value);
  }
  return next;
}
