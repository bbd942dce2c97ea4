/**
 * X.509 (RFC 5280) for key attestation: the pieces of a certificate the device makes (its identity
 * certificate, attestation certificates) and the PC makes (`wim provision`), and a reader of the parts
 * both check. The attestation extensions live under the arc 2.25.<UUID> (X.667), drawn once for this
 * project; their meaning is in docs/security.md, "Attestation". Pure, shared by the device and the PC.
 */
import { CKK } from "../at/pkcs11.js";
import { type Curve } from "./curves.js";
import {
  type Element, bits, bool, children, contents, explicit, int, namedBits, octets, oid, oidText, printable, read, seq, set,
  tlv, uint, utf8, whole,
} from "./der.js";

/** The project's OID arc: 2.25 and the UUID 41344813-3aa1-449d-957a-5ecd024cbc42 as an integer. */
export const WIM_ARC = "2.25.86671281019634985121150632891618475074";

/** The attestation extensions (all non-critical), by the last arc under WIM_ARC. */
export const EXT = {
  /** INTEGER: where the key comes from (ORIGIN_GENERATED). */
  origin: 1,
  /** SEQUENCE { sensitive BOOLEAN, alwaysSensitive BOOLEAN }: CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE. */
  sensitive: 2,
  /** BOOLEAN: CKA_NEVER_EXTRACTABLE (and, with it, CKA_EXTRACTABLE false). */
  neverExtractable: 3,
  /** SEQUENCE { loginRequired BOOLEAN, alwaysAuthenticate BOOLEAN }: CKA_PRIVATE, CKA_ALWAYS_AUTHENTICATE. */
  pinPolicy: 4,
  /** UTF8String: the firmware revision (+GMR). */
  firmware: 5,
  /** PrintableString: the device serial (+GSN). */
  serial: 6,
  /** OCTET STRING: the key's CKA_ID. */
  keyId: 7,
} as const;

/** EXT.origin's value for a key generated on the device (the only kind the device attests). */
export const ORIGIN_GENERATED = 1;

export const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
} as const;

/** The named curves' OIDs, by Curve.name. */
const CURVE_OID: { readonly [name: string]: string } = { "P-256": "1.2.840.10045.3.1.7", "P-384": "1.3.132.0.34" };

/** KeyUsage bits (RFC 5280 4.2.1.3) as a mask for namedBits. */
export const KU = { digitalSignature: 1, keyEncipherment: 4, keyAgreement: 16, keyCertSign: 32 } as const;

/** The device has no clock: every certificate it makes starts here (unless its identity certificate says otherwise). */
export const NOT_BEFORE = "260101000000Z";
/** RFC 5280 4.1.2.5: no well-defined expiration date. */
export const NOT_AFTER = "99991231235959Z";

/** A public key as the token's attributes give it. */
export interface KeyMaterial {
  readonly keyType: number;
  /** RSA: CKA_MODULUS and CKA_PUBLIC_EXPONENT (big-endian). */
  readonly modulus?: Uint8Array;
  readonly exponent?: Uint8Array;
  /** EC / Ed25519: the curve and the point (04‖x‖y, or the 32-byte Ed25519 key). */
  readonly curve?: Curve;
  readonly point?: Uint8Array;
}

/** The SubjectPublicKeyInfo of a key (RFC 3279, RFC 5480, RFC 8410). */
export function spki(k: KeyMaterial): Uint8Array {
  if (k.keyType === CKK.RSA && k.modulus && k.exponent) {
    return seq(seq(oid(OID.rsaEncryption), tlv(0x05)), bits(seq(uint(k.modulus), uint(k.exponent))));
  }
  if (k.curve && k.point && k.curve.eddsa) return seq(seq(oid(OID.ed25519)), bits(k.point));
  if (k.curve && k.point && CURVE_OID[k.curve.name]) return seq(seq(oid(OID.ecPublicKey), oid(CURVE_OID[k.curve.name])), bits(k.point));
  throw new RangeError("no public key info for this key");
}

/** A Name of a common name and a serialNumber attribute (the device serial). */
export function name(commonName: string, serialNumber: string): Uint8Array {
  return seq(set(seq(oid(OID.commonName), utf8(commonName))), set(seq(oid(OID.serialNumber), printable(serialNumber))));
}

/** One extension; the value is the DER its extnValue OCTET STRING wraps. */
export function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** BasicConstraints (critical): a CA that issues only end-entity certificates (pathLen 0), or an end entity. */
export const basicConstraints = (ca: boolean) =>
  extension(OID.basicConstraints, true, ca ? seq(bool(true), int(0)) : seq());
/** KeyUsage (critical) of a KU mask. */
export const keyUsage = (mask: number) => extension(OID.keyUsage, true, namedBits(mask));

/** The fields of a TBSCertificate (v3). Times are DER Time elements (der.time, or copied). */
export interface TbsFields {
  /** The serial number's magnitude (positive: the caller clears the top bit). */
  readonly serialNumber: Uint8Array;
  readonly issuer: Uint8Array;
  readonly notBefore: Uint8Array;
  readonly notAfter: Uint8Array;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  readonly extensions: readonly Uint8Array[];
}

/** The AlgorithmIdentifier ecdsa-with-SHA256 (no parameters, RFC 5758). */
export const ecdsaSha256 = () => seq(oid(OID.ecdsaWithSha256));

/** A TBSCertificate signed with ecdsa-with-SHA256 (the device's only signature algorithm here). */
export function tbsCertificate(f: TbsFields, algorithm = ecdsaSha256()): Uint8Array {
  return seq(explicit(0, int(2)), uint(f.serialNumber), algorithm, f.issuer, seq(f.notBefore, f.notAfter), f.subject, f.spki,
    explicit(3, seq(...f.extensions)));
}

/** The Certificate: the TBS, its algorithm, and the signature value. */
export function certificate(tbs: Uint8Array, signature: Uint8Array, algorithm = ecdsaSha256()): Uint8Array {
  return seq(tbs, algorithm, bits(signature));
}

/** An ECDSA r‖s (two halves of equal size) as the DER ECDSA-Sig-Value. */
export function ecdsaSigValue(rs: Uint8Array): Uint8Array {
  const half = rs.length / 2;
  return seq(uint(rs.subarray(0, half)), uint(rs.subarray(half)));
}

/** What a key's attestation states (its extensions). */
export interface Attestation {
  readonly origin: number;
  readonly sensitive: boolean;
  readonly alwaysSensitive: boolean;
  readonly neverExtractable: boolean;
  readonly loginRequired: boolean;
  readonly alwaysAuthenticate: boolean;
  readonly firmware: string;
  readonly serial: string;
  readonly keyId: Uint8Array;
}

/** The attestation extensions of `a`. */
export function attestationExtensions(a: Attestation): Uint8Array[] {
  const ext = (n: number, v: Uint8Array) => extension(`${WIM_ARC}.${n}`, false, v);
  return [
    ext(EXT.origin, int(a.origin)),
    ext(EXT.sensitive, seq(bool(a.sensitive), bool(a.alwaysSensitive))),
    ext(EXT.neverExtractable, bool(a.neverExtractable)),
    ext(EXT.pinPolicy, seq(bool(a.loginRequired), bool(a.alwaysAuthenticate))),
    ext(EXT.firmware, utf8(a.firmware)),
    ext(EXT.serial, printable(a.serial)),
    ext(EXT.keyId, octets(a.keyId)),
  ];
}

/** A certificate's parts, as views of its DER. */
export interface CertificateView {
  readonly tbs: Uint8Array;
  readonly serialNumber: Uint8Array;
  readonly issuer: Uint8Array;
  readonly notBefore: Uint8Array;
  readonly notAfter: Uint8Array;
  readonly subject: Uint8Array;
  readonly spki: Uint8Array;
  /** extnValue contents by dotted OID. */
  readonly extensions: ReadonlyMap<string, Uint8Array>;
  readonly signatureAlgorithm: Uint8Array;
  readonly signature: Uint8Array;
}

/** Reads a certificate's structure (not its signature); throws RangeError if it is not one. */
export function parseCertificate(der: Uint8Array): CertificateView {
  const top = read(der);
  if (top.tag !== 0x30 || top.end !== der.length) throw new RangeError("not a certificate");
  const [tbsEl, algEl, sigEl] = expect(der, top, 3);
  if (sigEl.tag !== 0x03) throw new RangeError("no signature");
  const f = children(der, tbsEl);
  let i = f[0]?.tag === 0xa0 ? 1 : 0;
  if (f.length < i + 6) throw new RangeError("short TBSCertificate");
  const [serial, , issuer, validity, subject, key] = f.slice(i, i + 6);
  i += 6;
  const [notBefore, notAfter] = expect(der, validity, 2);
  const extensions = new Map<string, Uint8Array>();
  const extsEl = f.slice(i).find((e) => e.tag === 0xa3);
  if (extsEl) {
    for (const ext of children(der, expect(der, extsEl, 1)[0])) {
      const parts = children(der, ext);
      if (parts.length < 2 || parts[0].tag !== 0x06) throw new RangeError("bad extension");
      extensions.set(oidText(contents(der, parts[0])), contents(der, parts[parts.length - 1]));
    }
  }
  return {
    tbs: whole(der, tbsEl), serialNumber: contents(der, serial), issuer: whole(der, issuer), notBefore: whole(der, notBefore),
    notAfter: whole(der, notAfter), subject: whole(der, subject), spki: whole(der, key), extensions,
    signatureAlgorithm: whole(der, algEl), signature: contents(der, sigEl).subarray(1),
  };
}

function expect(b: Uint8Array, e: Element, n: number): Element[] {
  const c = children(b, e);
  if (c.length !== n) throw new RangeError("unexpected structure");
  return c;
}

/** The attestation a certificate states, or undefined if it has no (complete) attestation extensions. */
export function readAttestation(view: CertificateView): Attestation | undefined {
  const get = (n: number) => view.extensions.get(`${WIM_ARC}.${n}`);
  const parts = [EXT.origin, EXT.sensitive, EXT.neverExtractable, EXT.pinPolicy, EXT.firmware, EXT.serial, EXT.keyId].map(get);
  if (parts.some((p) => p === undefined)) return undefined;
  const [origin, sensitive, never, pin, firmware, serial, keyId] = parts as Uint8Array[];
  const boolOf = (b: Uint8Array, e: Element) => {
    if (e.tag !== 0x01) throw new RangeError("not a BOOLEAN");
    return b[e.body] !== 0;
  };
  const pair = (b: Uint8Array) => {
    const [x, y] = expect(b, read(b), 2);
    return [boolOf(b, x), boolOf(b, y)];
  };
  const text = (b: Uint8Array) => new TextDecoder().decode(contents(b, read(b)));
  const originEl = read(origin);
  const [s, as] = pair(sensitive), [login, always] = pair(pin);
  return {
    origin: contents(origin, originEl).reduce((a, x) => a * 256 + x, 0),
    sensitive: s, alwaysSensitive: as, neverExtractable: boolOf(never, read(never)), loginRequired: login, alwaysAuthenticate: always,
    firmware: text(firmware), serial: text(serial), keyId: contents(keyId, read(keyId)).slice(),
  };
}
