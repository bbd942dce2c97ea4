/**
 * Key attestation end to end: pkcs11-tool lists and reads the agent's attestation certificate objects;
 * `wim provision` gives the device an identity certificate from a CA made here by openssl; `wim attest`
 * verifies attestation ← identity ← CA, and openssl verify agrees (and rejects a flipped byte).
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { X509Certificate, createPublicKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseCertificate, readAttestation } from "../../modules/wim/x509.js";
import { ROOT, type RunResult, type SimToken, p11, startSim, tempDir } from "./harness.js";

const PIN = "123456", SO_PIN = "12345678";

describe("key attestation through the agent, pkcs11-tool and the wim command line", function () {
  this.timeout(180_000);
  let sim: SimToken;
  const state = tempDir("attest");
  const work = tempDir("attest-work");
  const file = (n: string) => path.join(work, n);

  /** `wim ARGS` with the agent's socket and `env`. */
  const wim = (args: string[], env: Record<string, string> = {}) =>
    new Promise<RunResult>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), ...args], { env: { ...process.env, WIM_AGENT_SOCKET: sim.socket, ...env } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
    });
  const verify = (...args: string[]) => {
    try {
      execFileSync("openssl", ["verify", ...args], { stdio: "pipe" });
      return true;
    } catch {
      return false;
    }
  };

  before(async () => {
    sim = await startSim(state);
    for (const [type, id, label] of [["EC:prime256v1", "0a", "ec-key"], ["rsa:2048", "0b", "rsa-key"]]) {
      const r = await p11(sim.socket, "--login", "--pin", PIN, "--keypairgen", "--key-type", type, "--id", id, "--label", label);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", file("ca.key"), "-out", file("ca.pem"),
      "-subj", "/CN=WIM e2e CA", "-days", "2"], { stdio: "pipe" });
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("other.key"),
      "-out", file("other.pem"), "-subj", "/CN=another CA", "-days", "2"], { stdio: "pipe" });
  });
  after(async () => sim && (await sim.stop()));

  it("pkcs11-tool lists an attestation certificate per generated key, with the key's ID, after the login", async () => {
    const anon = await p11(sim.socket, "--list-objects", "--type", "cert");
    assert.equal(anon.code, 0, anon.stderr);
    assert.doesNotMatch(anon.stdout, /Attestation/, "private keys (and so their attestations) are the user's to see");
    const r = await p11(sim.socket, "--login", "--pin", PIN, "--list-objects", "--type", "cert");
    assert.equal(r.code, 0, r.stderr);
    for (const [id, label] of [["0a", "ec-key"], ["0b", "rsa-key"]]) {
      assert.match(r.stdout, new RegExp(`Certificate Object; type = X.509 cert\\s+label:\\s+Attestation ${label}\\s[\\s\\S]*?ID:\\s+${id}\\b`));
    }
  });

  it("pkcs11-tool reads the attestation of the EC key: a certificate of that key with its ID", async () => {
    const r = await p11(sim.socket, "--login", "--pin", PIN, "--read-object", "--type", "cert", "--id", "0a", "--output-file", file("att.der"));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const pub = await p11(sim.socket, "--read-object", "--type", "pubkey", "--id", "0a", "--output-file", file("pub.der"));
    assert.equal(pub.code, 0, pub.stderr);
    const der = readFileSync(file("att.der"));
    const cert = new X509Certificate(der);
    assert.ok(cert.publicKey.equals(createPublicKey({ key: readFileSync(file("pub.der")), format: "der", type: "spki" })), "the key's public key");
    assert.deepEqual(Buffer.from(readAttestation(parseCertificate(der))!.keyId), Buffer.from("0a", "hex"));
    const destroy = await p11(sim.socket, "--login", "--pin", PIN, "--delete-object", "--type", "cert", "--id", "0a");
    assert.notEqual(destroy.code, 0, "an attestation object cannot be destroyed");
  });

  it("wim attest refuses a CA that did not issue the identity certificate", async () => {
    const r = await wim(["attest", "0a", "--ca", file("ca.pem")], { WIM_PIN: PIN });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /not issued by/);
  });

  it("wim provision stores a CA-issued identity certificate; wim attest and openssl verify accept the chain, not a flipped byte", async () => {
    const p = await wim(["provision", "--ca-cert", file("ca.pem"), "--ca-key", file("ca.key")], { WIM_SO_PIN: SO_PIN });
    assert.equal(p.code, 0, p.stdout + p.stderr);
    for (const key of ["0a", "rsa-key"]) {
      const r = await wim(["attest", key, "--ca", file("ca.pem"), "--out", work], { WIM_PIN: PIN });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /origin: generated on the device/);
      assert.match(r.stdout, /never extractable: yes/);
      assert.match(r.stdout, /issued by CN=WIM e2e CA/);
      assert.match(r.stdout, /^verified$/m);
      assert.ok(verify("-CAfile", file("ca.pem"), "-untrusted", file("identity.pem"), file("attestation.pem")), `openssl: ${key}`);
      assert.ok(!verify("-CAfile", file("other.pem"), "-untrusted", file("identity.pem"), file("attestation.pem")), "another CA");
      const der = new X509Certificate(readFileSync(file("attestation.pem"))).raw;
      const tbs = parseCertificate(der).tbs;
      const flipped = Buffer.from(der);
      flipped[tbs.byteOffset - der.byteOffset + Math.floor(tbs.length / 2)] ^= 0x80;
      writeFileSync(file("flipped.der"), flipped);
      let parsed = true;
      try {
        execFileSync("openssl", ["x509", "-inform", "der", "-in", file("flipped.der"), "-out", file("flipped.pem")], { stdio: "pipe" });
      } catch {
        parsed = false; // not even a certificate any more: rejected as well
      }
      if (parsed) assert.ok(!verify("-CAfile", file("ca.pem"), "-untrusted", file("identity.pem"), file("flipped.pem")), "a flipped TBS byte");
    }
    const wrong = await wim(["attest", "0a", "--ca", file("other.pem")], { WIM_PIN: PIN });
    assert.equal(wrong.code, 1, "a CA that is not the issuer");
    const noSo = await wim(["provision", "--ca-cert", file("other.pem"), "--ca-key", file("other.key")], { WIM_SO_PIN: "00000000" });
    assert.notEqual(noSo.code, 0, "a wrong SO PIN");
    const still = await wim(["attest", "0a", "--ca", file("ca.pem")], { WIM_PIN: PIN });
    assert.equal(still.code, 0, "the identity certificate is still the CA's");
  });
});
