/**
 * NSS (Debian libnss3-tools: certutil, modutil — the library Firefox and Thunderbird use) against the
 * simulated token. A fresh NSS database gets the module with modutil; certutil then lists the token's
 * keys, makes certificate requests signed by the RSA (PKCS#1 v1.5 and, with --pss, PSS), P-256 and P-384
 * token keys — openssl checks each self-signature — and creates self-signed certificates with the token
 * keys, stored on the token (C_CreateObject) and verified by openssl, their public keys those of the
 * token's keys.
 *
 * NSS names a certificate on a token "TOKEN:nickname"; certutil -R takes the key's CKA_ID in hex (-k), and
 * reads the PIN from a file (-f), so nothing waits on a terminal.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { EC_KEY, MODULE, PIN, RSA_KEY, cleanUp, exec, generateKeys, have, readPublicKey, show } from "./clients.js";
import { type SimToken, startSim, tempDir } from "./harness.js";

const KEYS = [
  { ...RSA_KEY, what: "RSA-2048" },
  { ...EC_KEY, what: "P-256" },
  { id: "03", type: "EC:secp384r1", label: "ec384-key", what: "P-384" },
];

describe("NSS certutil against the simulated token", function () {
  this.timeout(180_000);
  let sim: SimToken;
  const work = tempDir("nss");
  const file = (n: string) => path.join(work, n);
  const db = () => `sql:${file("db")}`;
  const nss = (cmd: string, ...args: string[]) =>
    exec(cmd, args, { env: { WIM_AGENT_SOCKET: sim.socket }, timeoutMs: 60_000 });
  const certutil = (...args: string[]) => nss("certutil", "-d", db(), ...args);
  const openssl = (...args: string[]) => exec("openssl", args, { env: { OPENSSL_CONF: "/dev/null" } });

  before(async function () {
    if (!(await have("certutil")) || !(await have("modutil"))) this.skip(); // the Makefile's install step brings libnss3-tools
    sim = await startSim(tempDir("nss-state"));
    await generateKeys(sim.socket, ...KEYS);
    writeFileSync(file("pin.txt"), `${PIN}\n`);
    writeFileSync(file("noise"), Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)));
    const init = await exec("mkdir", ["-p", file("db")]);
    assert.equal(init.code, 0, show(init));
    const created = await certutil("-N", "--empty-password");
    assert.equal(created.code, 0, show(created));
  });
  after(() => cleanUp(sim, work));

  it("modutil adds the module; its slot shows the WIM token", async () => {
    const add = await nss("modutil", "-dbdir", db(), "-add", "wim", "-libfile", MODULE, "-force");
    assert.equal(add.code, 0, show(add));
    const list = await nss("modutil", "-dbdir", db(), "-list", "wim", "-force");
    assert.equal(list.code, 0, show(list));
    assert.match(list.stdout, /Token Name: WIM\b/);
    assert.match(list.stdout, /Token Manufacturer: WIM project/);
  });

  it("certutil -K lists the token's private keys with their CKA_IDs after a login", async () => {
    const r = await certutil("-K", "-h", "WIM", "-f", file("pin.txt"));
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /rsa\s+01\s+rsa-key/);
    assert.match(r.stdout, /ec\s+02\s+ec-key/);
    assert.match(r.stdout, /ec\s+03\s+ec384-key/);
  });

  for (const key of KEYS) {
    it(`certutil -R: a certificate request signed by the ${key.what} token key verifies`, async () => {
      const csr = file(`req-${key.id}.pem`);
      const r = await certutil("-R", "-h", "WIM", "-k", key.id, "-s", `CN=nss ${key.what}`, "-Z", "SHA256", "-a", "-o", csr,
        "-f", file("pin.txt"));
      assert.equal(r.code, 0, show(r));
      const v = await openssl("req", "-verify", "-noout", "-in", csr);
      assert.equal(v.code, 0, show(v));
      assert.match(v.stdout + v.stderr, /verify OK/);
      // the request carries the token key's public key
      await readPublicKey(sim.socket, key.id, file(`pub-${key.id}.der`));
      const fromReq = await openssl("req", "-in", csr, "-noout", "-pubkey");
      const fromToken = await openssl("pkey", "-pubin", "-inform", "DER", "-in", file(`pub-${key.id}.der`));
      assert.match(fromToken.stdout, /BEGIN PUBLIC KEY/, show(fromToken));
      assert.equal(fromReq.stdout, fromToken.stdout);
    });
  }

  it("certutil -R --pss: an RSA-PSS request signed by the token verifies", async () => {
    const csr = file("req-pss.pem");
    const r = await certutil("-R", "-h", "WIM", "-k", "01", "-s", "CN=nss pss", "--pss", "-Z", "SHA256", "-a", "-o", csr,
      "-f", file("pin.txt"));
    assert.equal(r.code, 0, show(r));
    const v = await openssl("req", "-verify", "-noout", "-text", "-in", csr);
    assert.equal(v.code, 0, show(v));
    assert.match(v.stdout + v.stderr, /verify OK/);
    assert.match(v.stdout, /Signature Algorithm: rsassaPss/);
  });

  it("certutil -S -x: self-signed certificates made with the token keys are stored on the token and verify", async () => {
    for (const [i, key] of KEYS.entries()) {
      const nick = `nss-${key.id}`;
      const r = await certutil("-S", "-h", "WIM", "-k", key.id, "-n", nick, "-s", `CN=${nick}`, "-x", "-t", "CT,,", "-Z", "SHA256",
        "-m", String(100 + i), "-z", file("noise"), "-f", file("pin.txt"));
      assert.equal(r.code, 0, show(r));
    }
    const list = await certutil("-L", "-h", "WIM", "-f", file("pin.txt"));
    assert.equal(list.code, 0, show(list));
    for (const key of KEYS) {
      const nick = `WIM:nss-${key.id}`;
      assert.match(list.stdout, new RegExp(`${nick}\\s+CT,,`), list.stdout);
      const pem = file(`cert-${key.id}.pem`);
      const out = await certutil("-L", "-h", "WIM", "-n", nick, "-a", "-f", file("pin.txt"));
      assert.equal(out.code, 0, show(out));
      writeFileSync(pem, out.stdout);
      const v = await openssl("verify", "-check_ss_sig", "-CAfile", pem, pem);
      assert.equal(v.code, 0, `${key.what}: ${show(v)}`);
      const fromCert = await openssl("x509", "-in", pem, "-noout", "-pubkey");
      const fromToken = await openssl("pkey", "-pubin", "-inform", "DER", "-in", file(`pub-${key.id}.der`));
      assert.match(fromToken.stdout, /BEGIN PUBLIC KEY/, show(fromToken));
      assert.equal(fromCert.stdout, fromToken.stdout, `${key.what}: the certificate's key is the token key`);
      assert.ok(readFileSync(pem, "latin1").startsWith("-----BEGIN CERTIFICATE-----"));
    }
  });
});
