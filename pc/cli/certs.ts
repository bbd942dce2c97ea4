/**
 * `wim certs list | import | export`: X.509 certificates on the token. An imported certificate takes the
 * CKA_ID of the token key whose public key it certifies, unless --id says otherwise.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { CKA, CKO, CKU } from "../../modules/at/pkcs11.js";
import { ulongValue } from "../../modules/at/template.js";
import { tlv } from "../../modules/wim/der.js";
import { parseCertificate } from "../../modules/wim/x509.js";
import { Failure, UsageError } from "./common.js";
import { publicKeys } from "./keys.js";
import { type PinSources, userPin } from "./pin.js";
import type { AgentClient } from "./rpc.js";
import { type Global, login, withToken } from "./token.js";

const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");
const oneLine = (dn: string) => dn.replace(/\n/g, ", ");

/** One certificate in `wim certs list --json`. */
export interface CertJson {
  id: string;
  label: string;
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** An attestation certificate the agent shows for a key generated on the device (not stored). */
  attestation: boolean;
}

const ATTESTATION_HANDLE = 0x80000000;

/** Every certificate session `h` sees: handle, attributes, parsed certificate. */
async function certificates(agent: AgentClient, h: number) {
  const out = [];
  for (const handle of await agent.find(h, [{ type: CKA.CLASS, value: ulongValue(CKO.CERTIFICATE) }])) {
    const a = await agent.attributes(h, handle, [CKA.ID, CKA.LABEL, CKA.VALUE]);
    const der = a.get(CKA.VALUE);
    if (!der) continue;
    const x = new X509Certificate(der);
    const json: CertJson = {
      id: hex(a.get(CKA.ID)), label: Buffer.from(a.get(CKA.LABEL) ?? []).toString("utf8"), subject: oneLine(x.subject),
      issuer: oneLine(x.issuer), serialNumber: x.serialNumber.toLowerCase(), notBefore: new Date(x.validFrom).toISOString(),
      notAfter: new Date(x.validTo).toISOString(), attestation: handle >= ATTESTATION_HANDLE,
    };
    out.push({ handle, der, json });
  }
  return out;
}

/** `wim certs list [--login] [--json]`. */
export async function list(g: Global, o: PinSources & { json?: boolean; login?: boolean }): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const h = await agent.openSession(false, slot.id);
    if (o.login) await login(agent, slot.id, h, CKU.USER, await userPin(o));
    const certs = (await certificates(agent, h)).map((c) => c.json);
    if (o.json) {
      console.log(JSON.stringify({ slot: slot.id, serial: slot.token.serial, certificates: certs }, null, 2));
      return;
    }
    if (!certs.length) console.log("no certificates");
    for (const c of certs) {
      console.log(`${c.id.padEnd(16)} ${c.label}${c.attestation ? " (attestation)" : ""}\n  subject: ${c.subject}\n  issuer:  ${c.issuer}\n  valid:   ${c.notBefore} to ${c.notAfter}`);
    }
  });
}

/** A certificate file, PEM or DER, as DER. */
function readCertificate(file: string): Buffer {
  const raw = readFileSync(file);
  const text = raw.toString("latin1");
  const m = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(text);
  const der = m ? Buffer.from(m[1].replace(/\s+/g, ""), "base64") : raw;
  try {
    new X509Certificate(der);
  } catch {
    throw new Failure(`${file} is not an X.509 certificate (PEM or DER)`);
  }
  return der;
}

/** `wim certs import FILE [--id HEX] [--label L]`. */
export async function importCert(g: Global, file: string, o: PinSources & { id?: string; label?: string }): Promise<void> {
  if (o.id !== undefined && !/^([0-9a-f]{2})+$/i.test(o.id)) throw new UsageError(`--id takes hex bytes, not "${o.id}"`);
  const der = readCertificate(file);
  const x = new X509Certificate(der);
  const spki = x.publicKey.export({ type: "spki", format: "der" });
  await withToken(g, async (agent, slot) => {
    const h = await agent.openSession(true, slot.id);
    await login(agent, slot.id, h, CKU.USER, await userPin(o));
    let id: Uint8Array | undefined = o.id ? Buffer.from(o.id, "hex") : undefined;
    let label = o.label;
    if (!id) {
      const key = (await publicKeys(agent, h)).find((k) => k.spki.equals(spki));
      if (!key) throw new Failure(`no key on ${slot.token.serial} matches the certificate's public key: give --id to store it anyway`);
      id = key.id;
      label ??= key.label;
    }
    const c = parseCertificate(der);
    await agent.createObject(h, [
      { type: CKA.CLASS, value: ulongValue(CKO.CERTIFICATE) }, { type: CKA.CERTIFICATE_TYPE, value: ulongValue(0) },
      { type: CKA.TOKEN, value: Uint8Array.of(1) }, { type: CKA.PRIVATE, value: Uint8Array.of(0) },
      { type: CKA.ID, value: id }, { type: CKA.LABEL, value: Buffer.from(label ?? oneLine(x.subject), "utf8") },
      { type: CKA.SUBJECT, value: c.subject }, { type: CKA.ISSUER, value: c.issuer },
      { type: CKA.SERIAL_NUMBER, value: tlv(0x02, c.serialNumber) }, { type: CKA.VALUE, value: der },
    ]);
    console.log(`imported the certificate for ${oneLine(x.subject)} as ${hex(id)} on ${slot.token.serial}`);
  });
}

/** `wim certs export CERT [--out FILE] [--der]`: by CKA_ID (hex) or label. */
export async function exportCert(g: Global, name: string, o: PinSources & { out?: string; der?: boolean; login?: boolean }): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const h = await agent.openSession(false, slot.id);
    if (o.login) await login(agent, slot.id, h, CKU.USER, await userPin(o));
    const all = await certificates(agent, h);
    let found = /^([0-9a-f]{2})+$/i.test(name) ? all.filter((c) => c.json.id === name.toLowerCase() && !c.json.attestation) : [];
    if (!found.length) found = all.filter((c) => c.json.label === name);
    if (found.length !== 1) throw new Failure(found.length ? `${found.length} certificates match ${name}: name one by its label` : `no certificate ${name} (\`wim certs list\`)`);
    const der = Buffer.from(found[0].der);
    const out = o.der ? der : `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
    if (o.out) writeFileSync(o.out, out);
    else process.stdout.write(out);
  });
}
