/**
 * `wim attest` and `wim provision`: key attestation from the command line (docs/security.md,
 * "Attestation"), through the agent (rpc.ts).
 *   wim attest KEY [--ca FILE] [--out DIR]
 *       KEY: the key's CKA_ID in hex, or its label. Reads the key's attestation certificate (the agent's
 *       attestation object) and the device identity certificate, verifies attestation ← identity
 *       (← the CA of --ca), prints what the attestation states; exit 1 if anything fails to verify.
 *       A private key is seen only after a login: the user PIN then comes from WIM_PIN (or --pin-env VAR),
 *       else a prompt without echo, else a line of standard input (secret.ts).
 *       --out DIR writes attestation.pem and identity.pem there.
 *   wim provision --ca-cert FILE --ca-key FILE
 *       issues the device a new identity certificate for its identity key, signed by the CA (the SO PIN
 *       from WIM_SO_PIN or --so-pin-env VAR, else a prompt, else stdin), and stores it (AT+PKCSIDSET).
 */
import crypto, { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CKA, CKO, CKU } from "../../modules/at/pkcs11.js";
import { ulongValue } from "../../modules/at/template.js";
import { oid, seq, time, tlv } from "../../modules/wim/der.js";
import {
  KU, NOT_AFTER, ORIGIN_GENERATED, basicConstraints, certificate, keyUsage, parseCertificate, readAttestation, tbsCertificate,
} from "../../modules/wim/x509.js";
import type { AgentClient } from "./rpc.js";
import { secret } from "./secret.js";
import { type Global, chooseToken, connect, listSlots } from "./token.js";

const pem = (der: Uint8Array) =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;

const yes = (b: boolean) => (b ? "yes" : "no");

/** The attestation objects of a key named by `key` (hex CKA_ID, or label) that session `h` sees. */
async function attestationObjects(agent: AgentClient, h: number, key: string): Promise<number[]> {
  const cert = { type: CKA.CLASS, value: ulongValue(CKO.CERTIFICATE) };
  if (/^([0-9a-f]{2})+$/i.test(key)) {
    const found = await agent.find(h, [cert, { type: CKA.ID, value: Buffer.from(key, "hex") }]);
    if (found.length) return found;
  }
  return agent.find(h, [cert, { type: CKA.LABEL, value: Buffer.from(`Attestation ${key}`) }]);
}

export async function attest(key: string, o: { ca?: string; out?: string; pinEnv?: string }, g: Global): Promise<void> {
  const caFile = o.ca, out = o.out;
  const agent = await connect(g);
  try {
    const h = await agent.openSession(false, chooseToken(await listSlots(agent), g).id);
    let objects = await attestationObjects(agent, h, key);
    if (!objects.length) {
      // a CKA_PRIVATE key is visible only to the user
      await agent.login(h, CKU.USER, await secret(o.pinEnv ?? "WIM_PIN", "user PIN"));
      objects = await attestationObjects(agent, h, key);
    }
    if (objects.length !== 1) throw new Error(objects.length ? `${objects.length} keys match ${key}: name one by its ID` : `no attestable key ${key}`);
    const der = await agent.attribute(h, objects[0], CKA.VALUE);
    const keyId = await agent.attribute(h, objects[0], CKA.ID);
    const identityDer = await agent.identityCertificate();
    if (!der) throw new Error("the attestation object has no value");
    if (out) {
      writeFileSync(path.join(out, "attestation.pem"), pem(der));
      writeFileSync(path.join(out, "identity.pem"), pem(identityDer));
    }
    const att = new X509Certificate(der), identity = new X509Certificate(identityDer);
    const problems: string[] = [];
    if (!att.checkIssued(identity) || !att.verify(identity.publicKey)) problems.push("the attestation is not signed by the device identity key");
    let anchor = "not anchored: the identity certificate is self-signed (give --ca)";
    if (caFile) {
      const ca = new X509Certificate(readFileSync(caFile));
      if (!identity.checkIssued(ca) || !identity.verify(ca.publicKey)) problems.push(`the identity certificate is not issued by ${ca.subject.replace(/\n/g, ", ")}`);
      else anchor = `issued by ${ca.subject.replace(/\n/g, ", ")}`;
    } else if (identity.checkIssued(identity) && !identity.verify(identity.publicKey)) {
      problems.push("the self-signed identity certificate does not verify");
    }
    const a = readAttestation(parseCertificate(der));
    if (!a) problems.push("the certificate has no WIM attestation extensions");
    else if (keyId && Buffer.compare(Buffer.from(a.keyId), Buffer.from(keyId)) !== 0) problems.push("the attested CKA_ID is not the key's");
    console.log(`key ${Buffer.from(keyId ?? []).toString("hex")}: ${att.publicKey.asymmetricKeyType} ${describeKey(att.publicKey)}`);
    if (a) {
      console.log(`  origin: ${a.origin === ORIGIN_GENERATED ? "generated on the device" : `unknown (${a.origin})`}`);
      console.log(`  sensitive: ${yes(a.sensitive)}, always sensitive: ${yes(a.alwaysSensitive)}, never extractable: ${yes(a.neverExtractable)}`);
      console.log(`  PIN policy: login required: ${yes(a.loginRequired)}, PIN for every use: ${yes(a.alwaysAuthenticate)}`);
      console.log(`  device: serial ${a.serial}, firmware ${a.firmware}`);
      console.log(`  key ID: ${Buffer.from(a.keyId).toString("hex")}`);
    }
    console.log(`  signed by: ${identity.subject.replace(/\n/g, ", ")}`);
    console.log(`  identity certificate: ${anchor}`);
    if (problems.length) {
      for (const p of problems) console.error(`wim: ${p}`);
      process.exitCode = 1;
    } else {
      console.log("verified");
    }
  } finally {
    agent.close();
  }
}

function describeKey(k: crypto.KeyObject): string {
  const d = k.asymmetricKeyDetails ?? {};
  return d.modulusLength ? `${d.modulusLength} bits` : d.namedCurve ?? "";
}

/** The signature algorithm and signer of a CA key (EC P-256/P-384, RSA, Ed25519). */
function signerOf(key: crypto.KeyObject): { algorithm: Uint8Array; sign: (tbs: Uint8Array) => Uint8Array } {
  const type = key.asymmetricKeyType;
  if (type === "ec") {
    const p384 = key.asymmetricKeyDetails?.namedCurve === "secp384r1";
    return {
      algorithm: seq(oid(p384 ? "1.2.840.10045.4.3.3" : "1.2.840.10045.4.3.2")),
      sign: (tbs) => crypto.sign(p384 ? "sha384" : "sha256", tbs, key),
    };
  }
  if (type === "rsa") return { algorithm: seq(oid("1.2.840.113549.1.1.11"), tlv(0x05)), sign: (tbs) => crypto.sign("sha256", tbs, key) };
  if (type === "ed25519") return { algorithm: seq(oid("1.3.101.112")), sign: (tbs) => crypto.sign(null, tbs, key) };
  throw new Error(`a CA key of type ${type} is not supported`);
}

/** The current time as a DER Time (UTCTime until 2049, as RFC 5280 wants). */
function now(): Uint8Array {
  const iso = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
  return time(iso.startsWith("20") && Number(iso.slice(0, 4)) < 2050 ? iso.slice(2) : iso);
}

export async function provision(o: { caCert: string; caKey: string; soPinEnv?: string }, g: Global): Promise<void> {
  const caCert = o.caCert, caKey = o.caKey;
  const ca = new X509Certificate(readFileSync(caCert));
  const key = crypto.createPrivateKey(readFileSync(caKey));
  if (!ca.checkPrivateKey(key)) throw new Error(`${caKey} is not the key of ${caCert}`);
  const agent = await connect(g);
  try {
    const slot = chooseToken(await listSlots(agent), g).id;
    const der = issueIdentityCertificate(await agent.identityCertificate(), ca, key);
    const issued = new X509Certificate(der);
    const h = await agent.openSession(true, slot);
    await agent.login(h, CKU.SO, await secret(o.soPinEnv ?? "WIM_SO_PIN", "SO PIN"));
    await agent.setIdentityCertificate(h, der);
    console.log(`stored a new identity certificate: ${issued.subject.replace(/\n/g, ", ")}, issued by ${issued.issuer.replace(/\n/g, ", ")} (${der.length} bytes)`);
  } finally {
    agent.close();
  }
}

/**
 * A new identity certificate for the key and subject of `old`, issued by the CA `ca` with its private
 * key `key`: a CA certificate (pathLen 0: it issues only attestations), valid from now on, without end.
 */
export function issueIdentityCertificate(old: Uint8Array, ca: X509Certificate, key: crypto.KeyObject): Uint8Array {
  const signer = signerOf(key);
  const current = parseCertificate(old);
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40;
  const tbs = tbsCertificate({
    serialNumber: serial, issuer: parseCertificate(ca.raw).subject, subject: current.subject, notBefore: now(), notAfter: time(NOT_AFTER),
    spki: current.spki, extensions: [basicConstraints(true), keyUsage(KU.keyCertSign | KU.digitalSignature)],
  }, signer.algorithm);
  const der = certificate(tbs, signer.sign(tbs), signer.algorithm);
  if (!new X509Certificate(der).verify(ca.publicKey)) throw new Error("the issued certificate does not verify");
  return der;
}
