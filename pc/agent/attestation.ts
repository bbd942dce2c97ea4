/**
 * Attestation certificates as PKCS#11 objects, as YubiKey's ykcs11 shows its attestations: for every
 * private key the device generated (and the application may see), a read-only CKO_CERTIFICATE with
 * the key's CKA_ID, labelled "Attestation <key label>", whose value the device signs on request
 * (AT+PKCSATTEST; docs/security.md, "Attestation"). The objects exist only in the agent: their
 * handles are ATTESTATION_BASE + the key's handle (token objects are below 2^30, session objects
 * below 2^31), so pkcs11-tool -O lists them and --read-object reads them like any certificate.
 */
import { CKA, CKO, CKR, PkcsError } from "../../modules/at/pkcs11.js";
import type { Value } from "../../modules/at/codec.js";
import { ATTR_INVALID, type AttributeAnswer, boolValue, decodeTemplate, encodeTemplate, encodeTypes, readUlong, ulongValue } from "../../modules/at/template.js";
import { parseCertificate } from "../../modules/wim/x509.js";

/** The first attestation object handle. */
export const ATTESTATION_BASE = 0x80000000;
const END = 0x100000000;

/** Whether `handle` names an attestation object (of the key handle − ATTESTATION_BASE). */
export const isAttestation = (handle: number): boolean => handle >= ATTESTATION_BASE && handle < END;

/** CKC_X_509. */
const X509 = 0;

type Run = (name: string, values: Value[]) => Promise<Value[][]>;

/** One application's attestation objects; `run` runs a device command on its channel. */
export class Attestations {
  /** Certificates by key handle, kept until forget(): a listing reads the same value each time. */
  private readonly certs = new Map<number, Uint8Array>();

  constructor(private readonly run: Run) {}

  /** Drops the kept certificates (the device restarted, or keys changed). */
  forget(): void {
    this.certs.clear();
  }

  /** The handles of the attestation objects session `h` sees that match `template`. */
  async find(h: number, template: readonly { type: number; value: Uint8Array }[]): Promise<number[]> {
    const cls = template.find((a) => a.type === CKA.CLASS);
    if (cls && readUlong(cls.value) !== CKO.CERTIFICATE) return [];
    const keys = await this.run("+PKCSFIND", [h, encodeTemplate([
      { type: CKA.CLASS, value: ulongValue(CKO.PRIVATE_KEY) }, { type: CKA.LOCAL, value: boolValue(true) },
      { type: CKA.ALWAYS_SENSITIVE, value: boolValue(true) }, { type: CKA.NEVER_EXTRACTABLE, value: boolValue(true) },
    ])]);
    const out: number[] = [];
    for (const [key] of keys) {
      const attrs = await this.object(h, key as number).catch(() => undefined);
      if (attrs && template.every((t) => same(attrs.get(t.type), t.value))) out.push(ATTESTATION_BASE + (key as number));
    }
    return out;
  }

  /** Answers for the attribute `types` of attestation object `handle` (CKR_OBJECT_HANDLE_INVALID if its key is gone). */
  async attributes(h: number, handle: number, types: readonly number[]): Promise<AttributeAnswer[]> {
    const attrs = await this.object(h, handle - ATTESTATION_BASE);
    return types.map((type) => ({ type, value: attrs.get(type) ?? ATTR_INVALID }));
  }

  /** The attributes of the attestation object of private key `key`. */
  private async object(h: number, key: number): Promise<Map<number, Uint8Array>> {
    let values: Value;
    try {
      [[values]] = await this.run("+PKCSATTR", [h, key, encodeTypes([CKA.ID, CKA.LABEL])]);
    } catch (e) {
      if (e instanceof PkcsError && e.rv !== CKR.DEVICE_ERROR) throw new PkcsError(CKR.OBJECT_HANDLE_INVALID);
      throw e;
    }
    const [id, label] = (decodeTemplate(values as Uint8Array, true) ?? []).map((a) => (a.value instanceof Uint8Array ? a.value : new Uint8Array(0)));
    let der = this.certs.get(key);
    if (!der) {
      try {
        const [[value]] = await this.run("+PKCSATTEST", [h, key]);
        der = value as Uint8Array;
      } catch (e) {
        if (e instanceof PkcsError && e.rv !== CKR.DEVICE_ERROR) throw new PkcsError(CKR.OBJECT_HANDLE_INVALID);
        throw e;
      }
      this.certs.set(key, der!);
    }
    const cert = parseCertificate(der!);
    const text = (s: string) => new TextEncoder().encode(s);
    const keyName = label?.length ? new TextDecoder().decode(label) : Buffer.from(id ?? []).toString("hex");
    return new Map<number, Uint8Array>([
      [CKA.CLASS, ulongValue(CKO.CERTIFICATE)], [CKA.TOKEN, boolValue(true)], [CKA.PRIVATE, boolValue(false)],
      [CKA.MODIFIABLE, boolValue(false)], [CKA.COPYABLE, boolValue(false)], [CKA.DESTROYABLE, boolValue(false)],
      [CKA.LABEL, text(`Attestation ${keyName}`)], [CKA.ID, id ?? new Uint8Array(0)],
      [CKA.CERTIFICATE_TYPE, ulongValue(X509)], [CKA.TRUSTED, boolValue(false)], [CKA.CERTIFICATE_CATEGORY, ulongValue(0)],
      [CKA.SUBJECT, cert.subject], [CKA.ISSUER, cert.issuer], [CKA.SERIAL_NUMBER, serialInteger(cert.serialNumber)],
      [CKA.VALUE, der!],
    ]);
  }
}

/** CKA_SERIAL_NUMBER: the DER INTEGER of the serial number's contents. */
function serialInteger(contents: Uint8Array): Uint8Array {
  return Uint8Array.of(0x02, contents.length, ...contents);
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}
