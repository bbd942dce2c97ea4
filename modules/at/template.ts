/**
 * Attribute templates on the wire: a sequence of (u32 type, u32 length, value bytes), little-endian.
 * CK_ULONG values are 8 bytes little-endian (the LP64 layout PKCS#11 applications use), CK_BBOOL
 * is one byte. Attribute-query answers use the same framing with two reserved lengths.
 */

/** One attribute: its type and raw value. */
export interface Attribute {
  readonly type: number;
  readonly value: Uint8Array;
}

/** Length marking an attribute the object does not have (CKR_ATTRIBUTE_TYPE_INVALID). */
export const ATTR_INVALID = 0xffffffff;
/** Length marking an attribute whose value may not be revealed (CKR_ATTRIBUTE_SENSITIVE). */
export const ATTR_SENSITIVE = 0xfffffffe;

/** A query answer item: a value, or one of the two markers. */
export interface AttributeAnswer {
  readonly type: number;
  readonly value: Uint8Array | typeof ATTR_INVALID | typeof ATTR_SENSITIVE;
}

/** Largest attribute type the wire carries: types are 32-bit here, and every type PKCS#11 defines
 * (vendor types included) fits. A CK_ATTRIBUTE_TYPE above it is never valid on this token. */
export const MAX_ATTRIBUTE_TYPE = 0xffffffff;

/** True when `type` is a CK_ATTRIBUTE_TYPE the wire can carry (never wrapped: 2^32 is not CKA_CLASS). */
export const isWireType = (type: number): boolean => Number.isInteger(type) && type >= 0 && type <= MAX_ATTRIBUTE_TYPE;

function checkType(type: number): void {
  if (!isWireType(type)) throw new RangeError(`attribute type ${type} does not fit the wire's 32 bits`);
}

/** Encodes attributes (a template, or a query answer with markers); a type over 32 bits is a RangeError. */
export function encodeTemplate(attrs: readonly (Attribute | AttributeAnswer)[]): Uint8Array {
  let size = 0;
  for (const a of attrs) {
    checkType(a.type);
    size += 8 + (a.value instanceof Uint8Array ? a.value.length : 0);
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const a of attrs) {
    dv.setUint32(o, a.type, true);
    if (a.value instanceof Uint8Array) {
      dv.setUint32(o + 4, a.value.length, true);
      out.set(a.value, o + 8);
      o += 8 + a.value.length;
    } else {
      dv.setUint32(o + 4, a.value, true);
      o += 8;
    }
  }
  return out;
}

/** Decodes a template; undefined if it is malformed. Markers are only accepted when `answers` is set. */
export function decodeTemplate(bytes: Uint8Array): Attribute[] | undefined;
export function decodeTemplate(bytes: Uint8Array, answers: true): AttributeAnswer[] | undefined;
export function decodeTemplate(bytes: Uint8Array, answers = false): AttributeAnswer[] | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: AttributeAnswer[] = [];
  let o = 0;
  while (o < bytes.length) {
    if (o + 8 > bytes.length) return undefined;
    const type = dv.getUint32(o, true);
    const len = dv.getUint32(o + 4, true);
    o += 8;
    if (len === ATTR_INVALID || len === ATTR_SENSITIVE) {
      if (!answers) return undefined;
      out.push({ type, value: len });
      continue;
    }
    if (len > bytes.length - o) return undefined;
    out.push({ type, value: bytes.slice(o, o + len) });
    o += len;
  }
  return out;
}

/** A CK_ULONG attribute value (8 bytes, little-endian). */
export function ulongValue(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setUint32(0, n >>> 0, true);
  new DataView(out.buffer).setUint32(4, Math.floor(n / 0x100000000), true);
  return out;
}

/** Reads a CK_ULONG attribute value; undefined unless it is exactly 8 bytes and below 2^53. */
export function readUlong(value: Uint8Array): number | undefined {
  if (value.length !== 8) return undefined;
  const dv = new DataView(value.buffer, value.byteOffset, 8);
  const hi = dv.getUint32(4, true);
  if (hi >= 0x200000) return undefined;
  return hi * 0x100000000 + dv.getUint32(0, true);
}

/** A CK_BBOOL attribute value. */
export const boolValue = (b: boolean): Uint8Array => Uint8Array.of(b ? 1 : 0);

/** Reads a CK_BBOOL; undefined unless it is one byte. */
export function readBool(value: Uint8Array): boolean | undefined {
  return value.length === 1 ? value[0] !== 0 : undefined;
}

/** A list of 32-bit attribute types, as +PKCSATTR takes it; a type over 32 bits is a RangeError. */
export function encodeTypes(types: readonly number[]): Uint8Array {
  types.forEach(checkType);
  const out = new Uint8Array(types.length * 4);
  const dv = new DataView(out.buffer);
  types.forEach((t, i) => dv.setUint32(i * 4, t, true));
  return out;
}

/** Decodes a list of 32-bit types; undefined if its length is not a multiple of 4. */
export function decodeTypes(bytes: Uint8Array): number[] | undefined {
  if (bytes.length % 4 !== 0) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) out.push(dv.getUint32(i, true));
  return out;
}
