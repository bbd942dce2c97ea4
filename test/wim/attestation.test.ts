/**
 * Key attestation on the simulator (docs/security.md, "Attestation"): the device identity key and its
 * certificate, AT+PKCSATTEST, AT+PKCSIDCERT? and AT+PKCSIDSET, over the simulator's PTY without an
 * agent. The certificates are checked with Node's X509Certificate and openssl, never against bytes of
 * the test's own making; the CA is made by openssl in a temporary directory.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto, { X509Certificate } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKA, CKF, CKK, CKM, CKO, CKR, CKU } from "../../modules/at/pkcs11.js";
import { boolValue, decodeTemplate, encodeTemplate, encodeTypes, ulongValue } from "../../modules/at/template.js";
import { NOT_AFTER, ORIGIN_GENERATED, certificate, name, parseCertificate, readAttestation, tbsCertificate } from "../../modules/wim/x509.js";
import { time } from "../../modules/wim/der.js";
import { issueIdentityCertificate } from "../../pc/cli/attest.js";
import { BUNDLE, SIM, type SimDevice, flashStats, provision, startDevice } from "../store/simdev.js";
import { rvOf } from "../rv.js";

const SO = "87654321", PIN = "135790";
const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const P384 = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22);
const ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
const RW = CKF.SERIAL_SESSION | CKF.RW_SESSION;
const tpl = (...a: [number, Uint8Array][]) => encodeTemplate(a.map(([type, value]) => ({ type, value })));
const pem = (der: Uint8Array) => new X509Certificate(der).toString();

/** The value of one attribute of an object. */
async function attr(dev: SimDevice, h: number, o: number, type: number): Promise<Uint8Array> {
  const [[v]] = await dev.at("+PKCSATTR", [h, o, encodeTypes([type])]);
  return decodeTemplate(v as Uint8Array, true)![0].value as Uint8Array;
}

/** A logged-in user's R/W session. */
async function userSession(dev: SimDevice): Promise<number> {
  const [[h]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
  await dev.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
  return h;
}

async function identity(dev: SimDevice): Promise<Uint8Array> {
  const [[der]] = await dev.at("+PKCSIDCERT");
  return der as Uint8Array;
}

/** openssl verify's verdict on `leaf` with the trust anchor `ca` and the untrusted intermediate `mid`. */
function opensslVerify(dir: string, ca: Uint8Array | string, leaf: Uint8Array, mid?: Uint8Array): boolean {
  const file = (name: string, v: Uint8Array | string) => {
    const f = path.join(dir, name);
    writeFileSync(f, typeof v === "string" ? v : pem(v));
    return f;
  };
  const args = ["verify", "-CAfile", file("ca.pem", ca), ...(mid ? ["-untrusted", file("mid.pem", mid)] : []), file("leaf.pem", leaf)];
  try {
    execFileSync("openssl", args, { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

describe("key attestation (simulator)", function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-attest-"));
  const base = path.join(dir, "base.bin");
  let dev: SimDevice;
  let caCert: X509Certificate, caKey: crypto.KeyObject;

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
      path.join(dir, "ca.key"), "-out", path.join(dir, "ca.crt"), "-subj", "/CN=WIM test CA", "-days", "2"], { stdio: "pipe" });
    caCert = new X509Certificate(readFileSync(path.join(dir, "ca.crt")));
    caKey = crypto.createPrivateKey(readFileSync(path.join(dir, "ca.key")));
    await provision(base, "attest", SO, PIN);
    dev = await startDevice(base);
  });
  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("has a self-signed P-256 identity certificate naming the device, which is no object", async () => {
    const cert = new X509Certificate(await identity(dev));
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.ok(cert.verify(cert.publicKey), "self-signed");
    assert.ok(cert.ca, "it issues the attestations");
    const serial = /serialNumber=(\S+)/.exec(cert.subject)?.[1] ?? "";
    assert.match(serial, /^SIM[0-9A-F]{12}$/, "the simulator's serial");
    assert.match(cert.subject, new RegExp(`CN=WIM token ${serial}`));
    const h = await userSession(dev);
    const all = (await dev.at("+PKCSFIND", [h, encodeTemplate([])])).map(([o]) => o as number);
    assert.ok(!all.includes(3) && !all.includes(6), `the identity records are not objects: ${all}`);
    assert.equal(await rvOf(dev.at("+PKCSATTR", [h, 3, encodeTypes([CKA.CLASS])])), CKR.OBJECT_HANDLE_INVALID);
    assert.equal(await rvOf(dev.at("+PKCSDESTROY", [h, 3])), CKR.OBJECT_HANDLE_INVALID);
    assert.equal(await rvOf(dev.at("+PKCSSIGN", [h, 3, CKM.ECDSA, new Uint8Array(32)])), CKR.KEY_HANDLE_INVALID);
    await dev.at("+PKCSCLOSE", [h]);
  });

  it("attests P-256, P-384, Ed25519 and RSA-2048 keys generated on the device, with their real properties", async () => {
    const h = await userSession(dev);
    const idCert = new X509Certificate(await identity(dev));
    const cases: [string, number, Uint8Array, [number, Uint8Array][]][] = [
      ["P-256", CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), [[CKA.ID, Uint8Array.of(0xa1)], [CKA.DERIVE, boolValue(true)]]],
      ["P-384", CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P384]), [[CKA.ID, Uint8Array.of(0xa2, 0x02)], [CKA.ALWAYS_AUTHENTICATE, boolValue(true)]]],
      ["Ed25519", CKM.EC_EDWARDS_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, ED25519]), [[CKA.ID, Uint8Array.of(0xa3)], [CKA.PRIVATE, boolValue(false)]]],
      ["RSA-2048", CKM.RSA_PKCS_KEY_PAIR_GEN, tpl([CKA.MODULUS_BITS, ulongValue(2048)]), [[CKA.ID, Uint8Array.of(0xa4)]]],
    ];
    for (const [label, mech, pub, priv] of cases) {
      const [[pubH, privH]] = (await dev.at("+PKCSGENKP", [h, mech, pub, tpl(...priv)])) as number[][];
      const [[der]] = await dev.at("+PKCSATTEST", [h, privH]);
      const cert = new X509Certificate(der as Uint8Array);
      assert.ok(cert.verify(idCert.publicKey) && cert.checkIssued(idCert), `${label}: signed by the identity key`);
      assert.ok(!cert.ca, `${label}: an end entity`);
      // the certified key is the generated one: the public key object's value
      const jwk = cert.publicKey.export({ format: "jwk" });
      if (mech === CKM.RSA_PKCS_KEY_PAIR_GEN) {
        assert.equal(jwk.n, Buffer.from(await attr(dev, h, pubH, CKA.MODULUS)).toString("base64url"), `${label}: modulus`);
      } else {
        const point = (await attr(dev, h, pubH, CKA.EC_POINT)).subarray(2); // the DER OCTET STRING's contents
        const raw = mech === CKM.EC_EDWARDS_KEY_PAIR_GEN ? Buffer.from(jwk.x!, "base64url")
          : Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
        assert.deepEqual(raw, Buffer.from(point), `${label}: public point`);
      }
      const a = readAttestation(parseCertificate(der as Uint8Array));
      assert.ok(a, `${label}: attestation extensions`);
      const flag = async (t: number) => (await attr(dev, h, privH, t))[0] === 1;
      assert.equal(a.origin, ORIGIN_GENERATED);
      assert.equal(a.sensitive, await flag(CKA.SENSITIVE));
      assert.equal(a.alwaysSensitive, await flag(CKA.ALWAYS_SENSITIVE));
      assert.equal(a.neverExtractable, await flag(CKA.NEVER_EXTRACTABLE));
      assert.equal(a.loginRequired, await flag(CKA.PRIVATE), `${label}: login required`);
      assert.equal(a.alwaysAuthenticate, await flag(CKA.ALWAYS_AUTHENTICATE).catch(() => false), `${label}: always authenticate`);
      assert.deepEqual(Buffer.from(a.keyId), Buffer.from(await attr(dev, h, privH, CKA.ID)), `${label}: CKA_ID`);
      assert.match(cert.subject, new RegExp(`serialNumber=${a.serial}`));
      assert.equal(a.serial, /serialNumber=(\S+)/.exec(idCert.subject)![1]);
      assert.match(a.firmware, /^\d+\.\d+\.\d+$/);
      // a key attested twice gets two certificates with different serial numbers
      const [[again]] = await dev.at("+PKCSATTEST", [h, privH]);
      assert.notEqual(new X509Certificate(again as Uint8Array).serialNumber, cert.serialNumber, `${label}: random serial`);
      if (label === "Ed25519") {
        // a key that is not CKA_PRIVATE is attested without a login; a private one is then invisible
        const [[anon]] = (await dev.at("+PKCSOPEN", [CKF.SERIAL_SESSION])) as number[][];
        await dev.at("+PKCSLOGOUT", [h]);
        assert.equal(await rvOf(dev.at("+PKCSATTEST", [anon, privH])), CKR.OK, "public key object: no login needed");
        await dev.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
        await dev.at("+PKCSCLOSE", [anon]);
      }
    }
    await dev.at("+PKCSCLOSE", [h]);
  });

  it("refuses imported keys, public keys, and private keys the session cannot see", async () => {
    const h = await userSession(dev);
    const [[imported]] = (await dev.at("+PKCSCREATE", [h, tpl([CKA.CLASS, ulongValue(CKO.PRIVATE_KEY)], [CKA.KEY_TYPE, ulongValue(CKK.EC)],
      [CKA.TOKEN, boolValue(true)], [CKA.EC_PARAMS, P256], [CKA.VALUE, crypto.randomBytes(32)])])) as number[][];
    assert.equal(await rvOf(dev.at("+PKCSATTEST", [h, imported])), CKR.KEY_FUNCTION_NOT_PERMITTED, "an imported key");
    for (const claim of [CKA.LOCAL, CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE]) {
      // an import cannot claim to be a generated key
      assert.notEqual(await rvOf(dev.at("+PKCSCREATE", [h, tpl([CKA.CLASS, ulongValue(CKO.PRIVATE_KEY)], [CKA.KEY_TYPE, ulongValue(CKK.EC)],
        [CKA.TOKEN, boolValue(true)], [CKA.EC_PARAMS, P256], [CKA.VALUE, crypto.randomBytes(32)], [claim, boolValue(true)])])), CKR.OK);
      assert.notEqual(await rvOf(dev.at("+PKCSSETATTR", [h, imported, tpl([claim, boolValue(true)])])), CKR.OK);
    }
    assert.equal(await rvOf(dev.at("+PKCSATTEST", [h, imported])), CKR.KEY_FUNCTION_NOT_PERMITTED, "still refused");
    const [[pubH, privH]] = (await dev.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), tpl()])) as number[][];
    assert.equal(await rvOf(dev.at("+PKCSATTEST", [h, pubH])), CKR.KEY_TYPE_INCONSISTENT, "a public key");
    assert.equal(await rvOf(dev.at("+PKCSATTEST", [h, 0x7fff])), CKR.KEY_HANDLE_INVALID, "no such key");
    assert.equal(await rvOf(dev.at("+PKCSATTEST", [h + 1000, privH])), CKR.SESSION_HANDLE_INVALID, "no session");
    await dev.at("+PKCSLOGOUT", [h]);
    assert.equal(await rvOf(dev.at("+PKCSATTEST", [h, privH])), CKR.KEY_HANDLE_INVALID, "a CKA_PRIVATE key before the login");
    await dev.at("+PKCSCLOSE", [h]);
  });

  it("stores a CA-issued identity certificate only from the SO, only for the identity key; openssl accepts the chain", async () => {
    const before = await identity(dev);
    const issued = issueIdentityCertificate(before, caCert, caKey);
    // a certificate of another key: a valid CA-issued certificate, but of a key the device does not hold
    const other = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(path.join(dir, "other.key"), other.privateKey.export({ format: "pem", type: "pkcs8" }));
    const otherSelf = execFileSync("openssl", ["req", "-x509", "-key", path.join(dir, "other.key"), "-subj", "/CN=other", "-days", "1",
      "-outform", "DER"], { stdio: ["ignore", "pipe", "pipe"] });
    const h = await userSession(dev);
    assert.equal(await rvOf(dev.at("+PKCSIDSET", [h, issued])), CKR.USER_NOT_LOGGED_IN, "the user may not");
    await dev.at("+PKCSLOGOUT", [h]);
    assert.equal(await rvOf(dev.at("+PKCSIDSET", [h, issued])), CKR.USER_NOT_LOGGED_IN, "nobody logged in");
    await dev.at("+PKCSLOGIN", [h, CKU.SO, SO]);
    assert.equal(await rvOf(dev.at("+PKCSIDSET", [h, new Uint8Array(otherSelf)])), CKR.ARGUMENTS_BAD, "another key's certificate");
    assert.equal(await rvOf(dev.at("+PKCSIDSET", [h, issued.subarray(0, 100)])), CKR.ARGUMENTS_BAD, "not a certificate");
    // the identity key's own key, but a subject too long to be every attestation's issuer
    const tbs = tbsCertificate({ serialNumber: Uint8Array.of(1), issuer: parseCertificate(new Uint8Array(caCert.raw)).subject,
      subject: name("x".repeat(600), "1"), notBefore: time(NOT_AFTER), notAfter: time(NOT_AFTER), spki: parseCertificate(before).spki, extensions: [] });
    const longName = certificate(tbs, crypto.sign("sha256", tbs, caKey));
    assert.equal(await rvOf(dev.at("+PKCSIDSET", [h, longName])), CKR.ARGUMENTS_BAD, "a subject over 512 bytes");
    assert.deepEqual(await identity(dev), before, "nothing changed");
    await dev.at("+PKCSIDSET", [h, issued]);
    assert.deepEqual(await identity(dev), issued);
    await dev.at("+PKCSLOGOUT", [h]);
    await dev.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
    const [, privH] = ((await dev.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), tpl()])) as number[][])[0];
    const [, rsaH] = ((await dev.at("+PKCSGENKP", [h, CKM.RSA_PKCS_KEY_PAIR_GEN, tpl([CKA.MODULUS_BITS, ulongValue(2048)]), tpl()])) as number[][])[0];
    const caPem = caCert.toString();
    for (const key of [privH, rsaH]) {
      const [[der]] = await dev.at("+PKCSATTEST", [h, key]);
      const att = der as Uint8Array;
      assert.ok(opensslVerify(dir, caPem, att, issued), "openssl verify accepts attestation ← identity ← CA");
      assert.ok(!opensslVerify(dir, caPem, att), "not without the identity certificate");
      assert.ok(!opensslVerify(dir, caPem, att, before), "not with the old, self-signed identity certificate");
      const view = parseCertificate(att);
      const tampered = att.slice();
      tampered[view.tbs.byteOffset - att.byteOffset + view.tbs.length - 40] ^= 0x01; // a byte of the attested key's extensions
      assert.ok(!opensslVerify(dir, caPem, tampered, issued), "a flipped TBS byte is rejected");
    }
    await dev.at("+PKCSCLOSE", [h]);
  });

  it("keeps the identity key and certificate through C_InitToken", async () => {
    const before = await identity(dev);
    await dev.at("+PKCSINIT", [SO, "again"]);
    assert.deepEqual(await identity(dev), before);
    await dev.stop();
    dev = await startDevice(base);
    const after = await identity(dev);
    assert.deepEqual(parseCertificate(after).spki, parseCertificate(before).spki, "the same public key after a restart");
    const [[h]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
    await dev.at("+PKCSLOGIN", [h, CKU.SO, SO]);
    await dev.at("+PKCSINITPIN", [h, PIN]);
    await dev.at("+PKCSLOGOUT", [h]);
    await dev.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
    const [, privH] = ((await dev.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), tpl()])) as number[][])[0];
    const [[der]] = await dev.at("+PKCSATTEST", [h, privH]);
    assert.ok(new X509Certificate(der as Uint8Array).verify(new X509Certificate(after).publicKey), "still signs with the same key");
    // timing and size: the figures of docs/security.md
    const n = 20, t0 = performance.now();
    for (let i = 0; i < n; i++) await dev.at("+PKCSATTEST", [h, privH]);
    console.log(`      P-256 attestation: ${(der as Uint8Array).length} bytes, ${((performance.now() - t0) / n).toFixed(1)} ms a command ` +
      `(simulator, round trip included); identity certificate ${after.length} bytes`);
    await dev.at("+PKCSCLOSE", [h]);
  });

  it("a power cut at any flash write of the first start leaves no identity or one whose certificate is its key's", async () => {
    const fresh = path.join(dir, "fresh.bin");
    rmSync(fresh, { force: true });
    const first = await startDevice(fresh, { stats: true });
    const made = await identity(first);
    await first.stop();
    const stats = flashStats(first.stderr());
    const ops = stats.writes + stats.erases;
    assert.ok(ops >= 3, `format, key and certificate: ${ops}`);
    let outcomes = 0;
    for (let n = 0; n < ops; n++) {
      rmSync(fresh, { force: true });
      const cut = await startDevice(fresh, { cutAfter: n }).catch(() => undefined);
      assert.equal(await (cut ? cut.exited : Promise.resolve(99)), 99, `cut ${n}: the power should have gone`);
      const again = await startDevice(fresh);
      try {
        const cert = new X509Certificate(await identity(again));
        assert.ok(cert.verify(cert.publicKey), `cut ${n}: the certificate is signed by its own key: the identity key's`);
        // and that key is the one that signs: an attestation verifies with it
        await again.at("+PKCSINIT", [SO, "cut"]);
        const [[h]] = (await again.at("+PKCSOPEN", [RW])) as number[][];
        await again.at("+PKCSLOGIN", [h, CKU.SO, SO]);
        await again.at("+PKCSINITPIN", [h, PIN]);
        await again.at("+PKCSLOGOUT", [h]);
        await again.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
        const [, key] = ((await again.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), tpl()])) as number[][])[0];
        const [[der]] = await again.at("+PKCSATTEST", [h, key]);
        assert.ok(new X509Certificate(der as Uint8Array).verify(cert.publicKey), `cut ${n}: attestations verify`);
        outcomes++;
      } finally {
        await again.stop();
      }
    }
    assert.equal(outcomes, ops);
    assert.ok(made.length > 0);
    console.log(`      ${ops} cut points of a first start (format, identity key, certificate): each next start had a whole identity`);
  });

  it("leaves the old or the new identity certificate, whatever flash write the power is cut at", async () => {
    await dev.stop();
    const flash = path.join(dir, "cut.bin");
    copyFileSync(base, flash);
    const old = await (async () => {
      const d = await startDevice(flash);
      try {
        return await identity(d);
      } finally {
        await d.stop();
      }
    })();
    const issued = issueIdentityCertificate(old, caCert, caKey);
    const snapshot = path.join(dir, "snapshot.bin");
    copyFileSync(flash, snapshot);
    const replace = async (d: SimDevice) => {
      const [[h]] = (await d.at("+PKCSOPEN", [RW])) as number[][];
      await d.at("+PKCSLOGIN", [h, CKU.SO, SO]);
      await d.at("+PKCSIDSET", [h, issued]);
    };
    // the flash operations of the whole sequence, then a cut at each of them
    const counted = await startDevice(flash, { stats: true });
    await replace(counted);
    await counted.stop();
    const ops = flashStats(counted.stderr()).writes + flashStats(counted.stderr()).erases;
    assert.ok(ops >= 2, `the login and the certificate write: ${ops}`);
    let kept = 0, replaced = 0;
    for (let n = 0; n <= ops; n++) {
      copyFileSync(snapshot, flash);
      const d = await startDevice(flash, { cutAfter: n });
      const done = await replace(d).then(() => true, () => false);
      if (n === ops) {
        assert.ok(done, "without a cut the replacement completes");
        await d.stop();
      } else {
        assert.equal(await d.exited, 99, `cut ${n}: the power should have gone: ${d.stderr()}`);
      }
      const again = await startDevice(flash);
      try {
        const now = await identity(again);
        if (Buffer.compare(Buffer.from(now), Buffer.from(old)) === 0) kept++;
        else {
          assert.deepEqual(now, issued, `cut ${n}: the old or the new certificate`);
          replaced++;
        }
      } finally {
        await again.stop();
      }
    }
    assert.ok(kept > 0 && replaced > 0, `both outcomes occur (old ${kept}, new ${replaced})`);
    console.log(`      ${ops} cut points of an SO login and AT+PKCSIDSET (and one run without a cut): ${kept} kept the old ` +
      `certificate, ${replaced} the new one`);
  });
});
