/**
 * Key attestation on the device (docs/security.md, "Attestation"): the device identity key and its
 * certificate, and the attestation certificates of keys generated on the device.
 *
 * The identity key is a P-256 key drawn in C at the first start (SECRET record IDENTITY_KEY; its
 * PUBLIC record holds only what the C glue checks before it uses a scalar: class, key type, curve).
 * It is no object: object handles start at FIRST_OBJECT, so no search, attribute read, C_DestroyObject
 * or C_InitToken's erase reaches it, and no command returns a secret. It signs only certificates
 * whose contents the device builds itself. Its certificate (PUBLIC record IDENTITY_CERT) is
 * self-signed at first, and may be replaced by one a CA of the user's issued for the same key.
 */
import { CKA, CKK, CKO, CKR, PkcsError } from "../at/pkcs11.js";
import { boolValue, readBool, readUlong, ulongValue } from "../at/template.js";
import { curveByParams } from "./curves.js";
import { time } from "./der.js";
import { EC_CURVE, HASH, type NativeCrypto } from "./native.js";
import { type AttributeMap, encodeAttributes } from "./objects.js";
import {
  KU, NOT_AFTER, NOT_BEFORE, ORIGIN_GENERATED, attestationExtensions, basicConstraints, certificate, ecdsaSigValue, keyUsage,
  name, parseCertificate, spki, tbsCertificate,
} from "./x509.js";

/** Store id of the identity key (SECRET: the scalar; PUBLIC: its kind). */
export const IDENTITY_KEY = 3;
/** Store id of the identity certificate (PUBLIC: its DER). */
export const IDENTITY_CERT = 6;
/** The largest identity certificate the device stores. */
export const MAX_IDENTITY_CERT = 2048;

/** The longest subject an identity certificate may have (it is the issuer of every attestation). */
const MAX_NAME = 512;

/** DER of the P-256 curve OID, as CKA_EC_PARAMS holds it. */
const P256_PARAMS = "06082a8648ce3d030107";

const unhex = (s: string) => Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16));

/** The device's identity: its key, its certificate, and the certificates it signs. */
export class Identity {
  constructor(private readonly native: NativeCrypto, private readonly serial: string,
    private readonly random: (b: Uint8Array) => void) {}

  /**
   * At start: draws the identity key if the store has none (key and kind in one transaction), then
   * self-signs its certificate if there is none (a power cut between the two leaves the key, and the
   * next start writes the certificate). Returns what it did, for the log.
   */
  ensure(): string | undefined {
    const native = this.native;
    let did: string | undefined;
    if (native.storeGet(IDENTITY_KEY) === undefined) {
      const kind: AttributeMap = new Map([
        [CKA.CLASS, ulongValue(CKO.PRIVATE_KEY)], [CKA.KEY_TYPE, ulongValue(CKK.EC)], [CKA.EC_PARAMS, unhex(P256_PARAMS)],
        [CKA.SIGN, boolValue(true)], [CKA.LOCAL, boolValue(true)],
      ]);
      native.storeBegin(512);
      try {
        native.ecGenerate(IDENTITY_KEY, EC_CURVE.P256);
        native.storePut(IDENTITY_KEY, encodeAttributes(kind).buffer as ArrayBuffer);
        if (native.storeGet(IDENTITY_CERT) !== undefined) native.storeRemove(IDENTITY_CERT); // another key's
        native.storeCommit();
      } catch (e) {
        native.storeAbort();
        throw e;
      }
      did = "identity: drew the device key";
    }
    if (native.storeGet(IDENTITY_CERT) === undefined) {
      const subject = name(`WIM token ${this.serial}`, this.serial);
      const tbs = tbsCertificate({
        serialNumber: this.serialNumber(), issuer: subject, subject, notBefore: time(NOT_BEFORE), notAfter: time(NOT_AFTER),
        spki: this.publicKeyInfo(), extensions: [basicConstraints(true), keyUsage(KU.keyCertSign | KU.digitalSignature)],
      });
      this.write(this.sign(tbs));
      did = (did ? did + "; " : "identity: ") + "self-signed its certificate";
    }
    return did;
  }

  /** The identity certificate (DER). */
  certificate(): Uint8Array {
    const raw = this.native.storeGet(IDENTITY_CERT);
    if (!raw) throw new PkcsError(CKR.DEVICE_ERROR, "no identity certificate");
    return new Uint8Array(raw);
  }

  /** Replaces the identity certificate by one for the same key (CKR_ARGUMENTS_BAD otherwise). */
  replace(der: Uint8Array): void {
    let key: Uint8Array;
    try {
      if (der.length > MAX_IDENTITY_CERT) throw new RangeError("too long");
      const view = parseCertificate(der);
      // its subject and notBefore become every attestation's issuer and notBefore: keep those small
      if (view.subject.length > MAX_NAME || view.notBefore.length > 17) throw new RangeError("subject too long");
      key = view.spki;
    } catch {
      throw new PkcsError(CKR.ARGUMENTS_BAD, "not a certificate");
    }
    if (!same(key, this.publicKeyInfo())) throw new PkcsError(CKR.ARGUMENTS_BAD, "not a certificate of the identity key");
    this.write(der.slice());
  }

  /**
   * The attestation certificate of the private key `handle` with attributes `attrs`, which must have
   * been generated on the device (CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE): else
   * CKR_KEY_FUNCTION_NOT_PERMITTED.
   */
  attest(handle: number, attrs: AttributeMap, firmware: string): Uint8Array {
    const flag = (t: number) => readBool(attrs.get(t) ?? new Uint8Array(1)) === true;
    if (readUlong(attrs.get(CKA.CLASS)!) !== CKO.PRIVATE_KEY) throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    if (!flag(CKA.LOCAL) || !flag(CKA.ALWAYS_SENSITIVE) || !flag(CKA.NEVER_EXTRACTABLE) || flag(CKA.EXTRACTABLE)) {
      throw new PkcsError(CKR.KEY_FUNCTION_NOT_PERMITTED, "only keys generated on the device are attested");
    }
    const issuer = parseCertificate(this.certificate());
    const keyType = readUlong(attrs.get(CKA.KEY_TYPE)!)!;
    const curve = attrs.get(CKA.EC_PARAMS) && curveByParams(attrs.get(CKA.EC_PARAMS)!);
    let key: Uint8Array, usage = 0;
    if (keyType === CKK.RSA) {
      key = spki({ keyType, modulus: attrs.get(CKA.MODULUS), exponent: attrs.get(CKA.PUBLIC_EXPONENT) });
      if (flag(CKA.DECRYPT)) usage |= KU.keyEncipherment;
    } else if (curve && curve.native !== undefined) {
      key = spki({ keyType, curve, point: uncompressed(this.native.ecPublic(handle, curve.native)) });
      if (flag(CKA.DERIVE)) usage |= KU.keyAgreement;
    } else if (curve) {
      key = spki({ keyType, curve, point: new Uint8Array(this.native.edPublic(handle)) });
    } else {
      throw new PkcsError(CKR.KEY_TYPE_INCONSISTENT);
    }
    if (flag(CKA.SIGN)) usage |= KU.digitalSignature;
    const tbs = tbsCertificate({
      serialNumber: this.serialNumber(), issuer: issuer.subject, subject: name("WIM attested key", this.serial),
      notBefore: issuer.notBefore, notAfter: time(NOT_AFTER), spki: key,
      extensions: [basicConstraints(false), keyUsage(usage), ...attestationExtensions({
        origin: ORIGIN_GENERATED, sensitive: flag(CKA.SENSITIVE), alwaysSensitive: true, neverExtractable: true,
        loginRequired: flag(CKA.PRIVATE), alwaysAuthenticate: flag(CKA.ALWAYS_AUTHENTICATE), firmware, serial: this.serial,
        keyId: attrs.get(CKA.ID) ?? new Uint8Array(0),
      })],
    });
    return this.sign(tbs);
  }

  /** The identity key's SubjectPublicKeyInfo, from its scalar (derived in C). */
  private publicKeyInfo(): Uint8Array {
    return spki({ keyType: CKK.EC, curve: curveByParams(unhex(P256_PARAMS)), point: uncompressed(this.native.ecPublic(IDENTITY_KEY, EC_CURVE.P256)) });
  }

  /** A certificate of `tbs` signed by the identity key: ecdsa-with-SHA256, the hash and the signature in C. */
  private sign(tbs: Uint8Array): Uint8Array {
    const digest = this.native.hash(HASH.SHA256, tbs);
    return certificate(tbs, ecdsaSigValue(new Uint8Array(this.native.ecSign(IDENTITY_KEY, EC_CURVE.P256, digest))));
  }

  /** A random positive 16-byte serial number (RFC 5280: at most 20 octets, positive, unique). */
  private serialNumber(): Uint8Array {
    const b = new Uint8Array(16);
    this.random(b);
    b[0] = (b[0] & 0x7f) | 0x40; // positive, and 16 bytes long
    return b;
  }

  /** Writes the identity certificate in one store transaction (a power cut leaves the old or the new). */
  private write(der: Uint8Array): void {
    const native = this.native;
    native.storeBegin(der.length + 64);
    try {
      native.storePut(IDENTITY_CERT, der.buffer as ArrayBuffer);
      native.storeCommit();
    } catch (e) {
      native.storeAbort();
      throw e;
    }
  }
}

/** x‖y as the uncompressed point 04‖x‖y. */
function uncompressed(xy: ArrayBuffer): Uint8Array {
  const out = new Uint8Array(1 + xy.byteLength);
  out[0] = 0x04;
  out.set(new Uint8Array(xy), 1);
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
