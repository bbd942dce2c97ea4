/**
 * On-device key-pair generation: RSA, P-256, P-384 and Ed25519 in the C module (the secret is drawn and
 * stored there, in the caller's store transaction).
 * Builds the attribute sets of both objects from the application's templates over the token's defaults.
 */
import { CKA, CKK, CKM, CKO, CKR, PkcsError } from "../at/pkcs11.js";
import { type Attribute, boolValue, readBool, readUlong, ulongValue } from "../at/template.js";
import type { NativeCrypto } from "./native.js";
import type { AttributeMap } from "./objects.js";
import { checkValue, ruleFor } from "./attributes.js";
import { objectDefaults } from "./create.js";
import { curveByParams } from "./curves.js";

/** RSA sizes the C module generates. */
export const RSA_BITS = [2048, 3072, 4096];
const E65537 = Uint8Array.of(1, 0, 1);

/** Attributes the mechanism computes: a generation template may not give them. */
const COMPUTED = new Set<number>([CKA.MODULUS, CKA.EC_POINT, CKA.VALUE]);

/** The defaults of a generated key: those of a created one, but a token object, local, not copyable, and
 * (private) always sensitive and never extractable. */
function generatedDefaults(cls: number, keyType: number, mech: number): AttributeMap {
  const m = objectDefaults(cls, keyType);
  m.set(CKA.TOKEN, boolValue(true));
  m.set(CKA.COPYABLE, boolValue(false));
  m.set(CKA.LOCAL, boolValue(true));
  m.set(CKA.KEY_GEN_MECHANISM, ulongValue(mech));
  if (cls === CKO.PRIVATE_KEY) {
    m.set(CKA.ALWAYS_SENSITIVE, boolValue(true));
    m.set(CKA.NEVER_EXTRACTABLE, boolValue(true));
  }
  return m;
}

/**
 * Applies a generation template to defaults. `special` handles the mechanism's own attributes
 * (CKA_MODULUS_BITS, CKA_EC_PARAMS, …) and returns false for types it does not know.
 */
function applyTemplate(into: AttributeMap, template: readonly Attribute[], cls: number, keyType: number,
  special: (a: Attribute) => boolean): void {
  for (const a of template) {
    if (a.type === CKA.CLASS || a.type === CKA.KEY_TYPE) {
      const want = a.type === CKA.CLASS ? cls : keyType;
      if (readUlong(a.value) !== want) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT);
      continue;
    }
    if (special(a)) continue;
    const rule = ruleFor(a.type, cls);
    if (!rule) throw new PkcsError(CKR.ATTRIBUTE_TYPE_INVALID);
    if (rule.secret || COMPUTED.has(a.type)) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT);
    if (!rule.settable) throw new PkcsError(CKR.ATTRIBUTE_READ_ONLY);
    checkValue(rule, a.value);
    into.set(a.type, a.value);
  }
  if (cls === CKO.PRIVATE_KEY) {
    // a private key never leaves the device
    if (readBool(into.get(CKA.EXTRACTABLE)!) || !readBool(into.get(CKA.SENSITIVE)!)) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT);
  }
}

/** The two objects of a generated pair; the private key's secret is already in the store. */
export interface GeneratedPair {
  readonly publicKey: AttributeMap;
  readonly privateKey: AttributeMap;
}

/** Generates a pair with `mechanism` whose private part becomes SECRET record `privateHandle`. */
/** Following a long generation: progress reports, and the PC's request to stop. */
export interface GenerationHooks {
  progress(candidates: number): void;
  cancelled(): boolean;
}

export function generateKeyPair(native: NativeCrypto, random: (b: Uint8Array) => void, mechanism: number, pubT: readonly Attribute[],
  privT: readonly Attribute[], privateHandle: number, hooks?: GenerationHooks): GeneratedPair {
  if (mechanism === CKM.RSA_PKCS_KEY_PAIR_GEN) {
    const pub = generatedDefaults(CKO.PUBLIC_KEY, CKK.RSA, mechanism);
    const priv = generatedDefaults(CKO.PRIVATE_KEY, CKK.RSA, mechanism);
    let bits: number | undefined;
    applyTemplate(pub, pubT, CKO.PUBLIC_KEY, CKK.RSA, (a) => {
      if (a.type === CKA.MODULUS_BITS) bits = readUlong(a.value);
      else if (a.type === CKA.PUBLIC_EXPONENT) {
        if (!sameInteger(a.value, E65537)) throw new PkcsError(CKR.TEMPLATE_INCONSISTENT, "public exponent must be 65537");
      } else return false;
      return true;
    });
    applyTemplate(priv, privT, CKO.PRIVATE_KEY, CKK.RSA, () => false);
    if (bits === undefined) throw new PkcsError(CKR.TEMPLATE_INCOMPLETE);
    if (!RSA_BITS.includes(bits)) throw new PkcsError(CKR.KEY_SIZE_RANGE);
    const onCandidate = hooks && ((n: number) => (hooks.progress(n), hooks.cancelled()));
    const modulus = new Uint8Array(native.rsaGenerate(privateHandle, bits, onCandidate));
    for (const m of [pub, priv]) {
      m.set(CKA.MODULUS, modulus);
      m.set(CKA.PUBLIC_EXPONENT, E65537);
    }
    pub.set(CKA.MODULUS_BITS, ulongValue(bits));
    return { publicKey: pub, privateKey: priv };
  }
  if (mechanism === CKM.EC_KEY_PAIR_GEN || mechanism === CKM.EC_EDWARDS_KEY_PAIR_GEN) {
    const keyType = mechanism === CKM.EC_KEY_PAIR_GEN ? CKK.EC : CKK.EC_EDWARDS;
    const pub = generatedDefaults(CKO.PUBLIC_KEY, keyType, mechanism);
    const priv = generatedDefaults(CKO.PRIVATE_KEY, keyType, mechanism);
    let params: Uint8Array | undefined;
    applyTemplate(pub, pubT, CKO.PUBLIC_KEY, keyType, (a) => {
      if (a.type !== CKA.EC_PARAMS) return false;
      params = a.value;
      return true;
    });
    applyTemplate(priv, privT, CKO.PRIVATE_KEY, keyType, () => false);
    if (!params) throw new PkcsError(CKR.TEMPLATE_INCOMPLETE);
    const curve = curveByParams(params);
    if (!curve || curve.generator !== mechanism) throw new PkcsError(CKR.CURVE_NOT_SUPPORTED);
    let point: Uint8Array;
    if (curve.native !== undefined) {
      // P-256 / P-384: the scalar is drawn and stored in C (staged in the caller's transaction)
      const xy = new Uint8Array(native.ecGenerate(privateHandle, curve.native));
      point = new Uint8Array(1 + xy.length);
      point[0] = 0x04; // uncompressed
      point.set(xy, 1);
    } else {
      // Ed25519: the seed is drawn and stored in C; the 32-byte public key comes back
      point = new Uint8Array(native.edGenerate(privateHandle));
    }
    for (const m of [pub, priv]) m.set(CKA.EC_PARAMS, params);
    pub.set(CKA.EC_POINT, derOctetString(point));
    return { publicKey: pub, privateKey: priv };
  }
  throw new PkcsError(CKR.MECHANISM_INVALID);
}


function derOctetString(v: Uint8Array): Uint8Array {
  if (v.length > 127) throw new RangeError("long octet string");
  const out = new Uint8Array(2 + v.length);
  out[0] = 0x04;
  out[1] = v.length;
  out.set(v, 2);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameInteger(a: Uint8Array, b: Uint8Array): boolean {
  let i = 0;
  while (i < a.length - 1 && a[i] === 0) i++;
  return sameBytes(a.subarray(i), b);
}
