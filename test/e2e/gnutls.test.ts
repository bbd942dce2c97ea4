/**
 * GnuTLS's p11tool (Debian gnutls-bin) against the simulated token: it lists the token and its
 * private keys, and `--test-sign` signs with a token key and verifies the signature twice (against
 * the key's parameters and against the token's public key object) — RSA PKCS#1 v1.5, RSA-PSS
 * (`--sign-params rsa-pss`, which p11tool first probes with C_GetMechanismInfo) and EC P-256, plus
 * P-384 and Ed25519 when the token's mechanism list has them.
 *
 * The module is named with --provider; keys with PKCS#11 URLs; the PIN with --set-pin.
 */
import assert from "node:assert/strict";
import { EC_KEY, MODULE, cleanUp, PIN, RSA_KEY, exec, generateKeys, hasEcSize, hasEdDSA, have, mechanisms, readPublicKey, show } from "./clients.js";
import { type SimToken, startSim, tempDir } from "./harness.js";
import path from "node:path";
import { readFileSync, writeFileSync } from "node:fs";

const url = (id: string) => `pkcs11:token=WIM;id=%${id};type=private`;

describe("GnuTLS p11tool against the simulated token", function () {
  this.timeout(180_000);
  let sim: SimToken;
  let p384 = false;
  let ed25519 = false;
  const work = tempDir("gnutls");
  const file = (n: string) => path.join(work, n);

  /** p11tool with our module; stdin closed, so it can never wait for a PIN on a terminal. */
  const p11tool = (...args: string[]) =>
    exec("p11tool", ["--provider", MODULE, ...args], { env: { WIM_AGENT_SOCKET: sim.socket, GNUTLS_PIN: undefined }, timeoutMs: 60_000 });
  const testSign = (id: string, ...extra: string[]) => p11tool("--test-sign", "--login", "--set-pin", PIN, ...extra, url(id));

  before(async function () {
    if (!(await have("p11tool"))) this.skip(); // the Makefile's install step brings gnutls-bin
    sim = await startSim(tempDir("gnutls-state"));
    await generateKeys(sim.socket, RSA_KEY, EC_KEY);
    const mechs = await mechanisms(sim.socket);
    p384 = hasEcSize(mechs, 384);
    ed25519 = hasEdDSA(mechs);
    if (p384) await generateKeys(sim.socket, { id: "03", type: "EC:secp384r1", label: "ec384-key" });
    if (ed25519) await generateKeys(sim.socket, { id: "04", type: "EC:edwards25519", label: "ed25519-key" });
  });
  after(() => cleanUp(sim, work));

  it("--list-tokens shows the WIM token as a hardware token that needs a login", async () => {
    const r = await p11tool("--list-tokens");
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /URL: pkcs11:model=WIM%20token;[^\n]*token=WIM/);
    assert.match(r.stdout, /Type: Hardware token/);
    assert.match(r.stdout, /Flags:[^\n]*Requires login/);
  });

  it("--list-privkeys --login lists the token's private keys, sensitive and never extractable", async () => {
    const r = await p11tool("--list-privkeys", "--login", "--set-pin", PIN);
    assert.equal(r.code, 0, show(r));
    const objects = r.stdout.split(/^Object \d+:/m).slice(1);
    const expected: [string, RegExp][] = [["01", /Type: Private key \(RSA-2048\)/], ["02", /Type: Private key \(EC\/ECDSA-SECP256R1\)/]];
    if (p384) expected.push(["03", /Type: Private key \(EC\/ECDSA-SECP384R1\)/]);
    if (ed25519) expected.push(["04", /Type: Private key \(EdDSA \(Ed25519\)\)/]);
    assert.equal(objects.length, expected.length, r.stdout);
    for (const [id, type] of expected) {
      const o = objects.find((x) => x.includes(`;id=%${id};`));
      assert.ok(o, `no private key with id ${id}:\n${r.stdout}`);
      assert.match(o, type);
      assert.match(o, /Flags: CKA_PRIVATE; CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE;/);
    }
  });

  it("without --login no private key is listed", async () => {
    const r = await p11tool("--list-privkeys");
    assert.equal(r.code, 2, show(r)); // p11tool's exit code when nothing matches
    assert.match(r.stderr, /No matching objects found/);
    assert.doesNotMatch(r.stdout, /Private key/);
  });

  it("--export-pubkey gives the same public key as pkcs11-tool", async () => {
    await readPublicKey(sim.socket, "01", file("rsa.der"));
    const ref = await exec("openssl", ["pkey", "-pubin", "-inform", "DER", "-in", file("rsa.der")], { env: { OPENSSL_CONF: "/dev/null" } });
    assert.equal(ref.code, 0, show(ref));
    // With --outfile: on standard output p11tool first warns and waits three seconds.
    const r = await p11tool("--export-pubkey", "--login", "--set-pin", PIN, "--outfile", file("rsa-gnutls.pem"), url("01"));
    assert.equal(r.code, 0, show(r));
    assert.equal(readFileSync(file("rsa-gnutls.pem"), "latin1").trim(), ref.stdout.trim());
  });

  /** p11tool's three lines of a successful --test-sign with this algorithm. */
  const assertSigned = (r: Awaited<ReturnType<typeof testSign>>, algorithm: string) => {
    assert.equal(r.code, 0, show(r));
    const out = r.stdout + r.stderr;
    assert.match(out, new RegExp(`Signing using ${algorithm}\\.\\.\\. ok`), show(r));
    assert.match(out, /Verifying against private key parameters\.\.\. ok/, show(r));
    assert.match(out, /Verifying against public key in the token\.\.\. ok/, show(r));
  };

  it("--test-sign with the RSA-2048 key (CKM_RSA_PKCS): signed and verified", async () => {
    assertSigned(await testSign("01"), "RSA-SHA256");
  });

  it("--test-sign --sign-params rsa-pss with the RSA-2048 key (CKM_RSA_PKCS_PSS): signed and verified", async () => {
    assertSigned(await testSign("01", "--sign-params", "rsa-pss"), "RSA-PSS-SHA256");
  });

  it("--test-sign with the EC P-256 key (CKM_ECDSA): signed and verified", async () => {
    assertSigned(await testSign("02"), "ECDSA-SHA256");
  });

  it("--test-sign with an EC P-384 key (CKM_ECDSA) when the token generates P-384", async function () {
    if (!p384) this.skip(); // ECDSA-KEY-PAIR-GEN does not list 384 bits
    assertSigned(await testSign("03", "--hash", "SHA384"), "ECDSA-SHA384");
  });

  it("--test-sign with an Ed25519 key (CKM_EDDSA) when the token lists CKM_EDDSA", async function () {
    if (!ed25519) this.skip(); // no EDDSA in the token's mechanism list
    // GnuTLS pairs Ed25519 with SHA-512 only (with the default SHA-256 it finds no algorithm).
    assertSigned(await testSign("04", "--hash", "SHA512"), "EdDSA-Ed25519");
  });

  // certtool (gnutls-bin) takes the token key by URL and the PIN from GNUTLS_PIN.
  const certtool = (...args: string[]) =>
    exec("certtool", ["--provider", MODULE, ...args], { env: { WIM_AGENT_SOCKET: sim.socket, GNUTLS_PIN: PIN }, timeoutMs: 60_000 });
  const selfSigned: [string, string, string[], RegExp][] = [
    ["RSA-2048, PKCS#1 v1.5", "01", [], /Signature Algorithm: sha256WithRSAEncryption/],
    ["RSA-2048, PSS", "01", ["--sign-params", "rsa-pss"], /Signature Algorithm: rsassaPss/],
    ["EC P-256", "02", [], /Signature Algorithm: ecdsa-with-SHA256/],
  ];
  for (const [name, id, extra, algorithm] of selfSigned) {
    it(`certtool --generate-self-signed with the ${name} token key; certtool and openssl verify it`, async () => {
      const tag = name.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
      writeFileSync(file("template"), `cn = "WIM gnutls ${tag}"\nexpiration_days = 1\nca\ncert_signing_key\nsigning_key\n`);
      const g = await certtool("--generate-self-signed", "--load-privkey", url(id), "--template", file("template"), ...extra,
        "--outfile", file(`${tag}.pem`));
      assert.equal(g.code, 0, show(g));
      const v = await exec("certtool", ["--verify", "--load-ca-certificate", file(`${tag}.pem`), "--infile", file(`${tag}.pem`)]);
      assert.equal(v.code, 0, show(v));
      assert.match(v.stdout, /Chain verification output: Verified\./, show(v));
      const o = await exec("openssl", ["verify", "-check_ss_sig", "-CAfile", file(`${tag}.pem`), file(`${tag}.pem`)], { env: { OPENSSL_CONF: "/dev/null" } });
      assert.equal(o.code, 0, show(o));
      const text = await exec("openssl", ["x509", "-in", file(`${tag}.pem`), "-noout", "-text"], { env: { OPENSSL_CONF: "/dev/null" } });
      assert.match(text.stdout, algorithm);
    });
  }

  it("p11tool --write imports a certificate (C_CreateObject), --export gives it back, --delete removes it (C_DestroyObject)", async () => {
    const cert = file("ec-p-256.pem"); // made by the certtool test above
    const w = await p11tool("--login", "--set-pin", PIN, "--write", "--load-certificate", cert, "--label", "ec-cert", "--id", "02", "pkcs11:token=WIM");
    assert.equal(w.code, 0, show(w));
    const list = await p11tool("--list-all-certs");
    assert.equal(list.code, 0, show(list));
    assert.match(list.stdout, /token=WIM;id=%02;object=ec-cert;type=cert/);
    assert.match(list.stdout, /Type: X\.509 Certificate \(EC\/ECDSA-SECP256R1\)/);
    const e = await p11tool("--export", "pkcs11:token=WIM;id=%02;type=cert", "--outfile", file("exported.pem"));
    assert.equal(e.code, 0, show(e));
    assert.equal(readFileSync(file("exported.pem"), "latin1").trim(), readFileSync(cert, "latin1").trim());
    const d = await p11tool("--login", "--set-pin", PIN, "--batch", "--delete", "pkcs11:token=WIM;id=%02;type=cert");
    assert.equal(d.code, 0, show(d));
    assert.match(d.stdout + d.stderr, /1 objects deleted/);
    const after = await p11tool("--list-all-certs");
    assert.doesNotMatch(after.stdout, /object=ec-cert/);
    // The key pair stays.
    assertSigned(await testSign("02"), "ECDSA-SHA256");
  });

  it("a wrong PIN is refused and nothing is signed (the check can fail)", async () => {
    const r = await p11tool("--test-sign", "--login", "--set-pin", "000000", url("01"));
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stdout + r.stderr, /Wrong PIN/, show(r));
    assert.doesNotMatch(r.stdout + r.stderr, /Signing using/);
    // The right PIN works again afterwards (and resets the retry counter).
    assertSigned(await testSign("02"), "ECDSA-SHA256");
  });
});
