/**
 * The walking skeleton end to end: OpenSC's pkcs11-tool → libwim-pkcs11.so → agent → AT over the
 * simulator's PTY → firmware on XS → C module; signatures verified by openssl.
 */
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as nodeVerify } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type SimToken, p11, run, startSim, tempDir } from "./harness.js";

const PIN = "123456";
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

describe("pkcs11-tool against the simulated token", function () {
  this.timeout(180_000);
  let sim: SimToken;
  const state = tempDir("e2e");
  const work = tempDir("e2e-work");
  const file = (n: string) => path.join(work, n);
  const message = Buffer.from("the patent's flow, step for step");
  const hash = createHash("sha256").update(message).digest();

  before(async () => {
    sim = await startSim(state);
    writeFileSync(file("hash"), hash);
    writeFileSync(file("digestinfo"), Buffer.concat([SHA256_DIGEST_INFO, hash]));
  });
  after(async () => sim && (await sim.stop()));

  it("provisions a new state directory and says so", () => {
    assert.ok(sim.output.some((l) => /provisioned token "WIM".*user PIN 123456, SO PIN 12345678/.test(l)), sim.output.join("\n"));
  });

  it("--list-slots shows the initialized token", async () => {
    const r = await p11(sim.socket, "--list-slots");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /token label\s*:\s*WIM\b/);
    assert.match(r.stdout, /token flags\s*:.*login required.*token initialized/);
  });

  it("a wrong PIN is refused with CKR_PIN_INCORRECT", async () => {
    const r = await p11(sim.socket, "--login", "--pin", "000000", "--list-objects");
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /CKR_PIN_INCORRECT/);
  });

  it("generates an RSA-2048 key pair on the device", async () => {
    const r = await p11(sim.socket, "--login", "--pin", PIN, "--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "rsa-key");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Public Key Object; RSA 2048 bits/);
  });

  it("generates an EC P-256 key pair on the device", async () => {
    const r = await p11(sim.socket, "--login", "--pin", PIN, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec-key");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Public Key Object; EC/);
  });

  it("reads both public keys back as SubjectPublicKeyInfo that openssl accepts", async () => {
    for (const [id, name] of [["01", "rsa"], ["02", "ec"]]) {
      const r = await p11(sim.socket, "--read-object", "--type", "pubkey", "--id", id, "-o", file(`${name}.der`));
      assert.equal(r.code, 0, r.stderr);
      const k = await run("openssl", ["pkey", "-pubin", "-inform", "DER", "-in", file(`${name}.der`), "-noout", "-text"], "");
      assert.equal(k.code, 0, k.stderr);
      assert.match(k.stdout, name === "rsa" ? /Public-Key: \(2048 bit\)/ : /ASN1 OID: prime256v1/);
    }
  });

  const signRsa = (out: string) =>
    p11(sim.socket, "--login", "--pin", PIN, "--sign", "--id", "01", "-m", "RSA-PKCS", "-i", file("digestinfo"), "-o", file(out));
  const signEc = (out: string) =>
    p11(sim.socket, "--login", "--pin", PIN, "--sign", "--id", "02", "-m", "ECDSA", "--signature-format", "openssl", "-i", file("hash"), "-o", file(out));
  const verifyRsa = (sig: string) =>
    run("openssl", ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", file("rsa.der"), "-pkeyopt", "digest:sha256", "-in", file("hash"), "-sigfile", file(sig)], "");
  const verifyEc = (sig: string) =>
    run("openssl", ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", file("ec.der"), "-in", file("hash"), "-sigfile", file(sig)], "");

  it("signs with CKM_RSA_PKCS and openssl verifies the signature", async () => {
    const r = await signRsa("rsa.sig");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(file("rsa.sig")).length, 256);
    const v = await verifyRsa("rsa.sig");
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /Signature Verified Successfully/);
  });

  it("signs with CKM_ECDSA and openssl verifies the signature", async () => {
    const r = await signEc("ec.sig");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const v = await verifyEc("ec.sig");
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /Signature Verified Successfully/);
  });

  it("openssl rejects a signature over other data (the check can fail)", async () => {
    writeFileSync(file("hash"), createHash("sha256").update("something else").digest());
    const v = await verifyRsa("rsa.sig");
    const w = await verifyEc("ec.sig");
    writeFileSync(file("hash"), hash);
    assert.notEqual(v.code, 0);
    assert.notEqual(w.code, 0);
  });

  it("hash-and-sign: the PC hashes, the device signs (SHA256-RSA-PKCS-PSS, ECDSA-SHA256), openssl verifies", async () => {
    writeFileSync(file("message"), message);
    const pss = await p11(sim.socket, "--login", "--pin", PIN, "--sign", "--id", "01", "-m", "SHA256-RSA-PKCS-PSS", "-i", file("message"), "-o", file("pss.sig"));
    assert.equal(pss.code, 0, pss.stdout + pss.stderr);
    const vp = await run("openssl", ["dgst", "-sha256", "-keyform", "DER", "-verify", file("rsa.der"), "-sigopt", "rsa_padding_mode:pss",
      "-sigopt", "rsa_pss_saltlen:auto", "-signature", file("pss.sig"), file("message")], "");
    assert.match(vp.stdout, /Verified OK/, vp.stdout + vp.stderr);
    const ec = await p11(sim.socket, "--login", "--pin", PIN, "--sign", "--id", "02", "-m", "ECDSA-SHA256", "--signature-format", "openssl", "-i", file("message"), "-o", file("ec256.sig"));
    assert.equal(ec.code, 0, ec.stdout + ec.stderr);
    const ve = await run("openssl", ["dgst", "-sha256", "-keyform", "DER", "-verify", file("ec.der"), "-signature", file("ec256.sig"), file("message")], "");
    assert.match(ve.stdout, /Verified OK/, ve.stdout + ve.stderr);
  });

  it("pkcs11-tool --test --login passes completely (digests, signatures, verification, decryption incl. OAEP)", async () => {
    const r = await p11(sim.socket, "--test", "--login", "--pin", PIN);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /No errors/);
    assert.match(r.stdout, /RSA-PKCS-OAEP: .*\n?.*OK/);
  });

  it("P-384 (ECDSA-SHA384) and Ed25519 (EDDSA) keys sign on the device; Node's crypto verifies", async () => {
    for (const [id, type] of [["03", "EC:secp384r1"], ["04", "EC:edwards25519"]]) {
      const g = await p11(sim.socket, "--login", "--pin", PIN, "--keypairgen", "--key-type", type, "--id", id, "--label", `k${id}`);
      assert.equal(g.code, 0, g.stdout + g.stderr);
    }
    const listing = (await p11(sim.socket, "--list-objects", "--type", "pubkey")).stdout;
    const point = (label: string) => {
      const block = listing.split("Public Key Object").find((b) => b.includes(`label:      ${label}`))!;
      const hex = /EC_POINT:\s+([0-9a-f]+)/.exec(block)![1];
      return Buffer.from(hex, "hex").subarray(2); // inside the DER OCTET STRING
    };
    const q384 = point("k03"), q25519 = point("k04");
    assert.equal(q384.length, 97);
    assert.equal(q25519.length, 32);
    const p384 = createPublicKey({ key: { kty: "EC", crv: "P-384", x: q384.subarray(1, 49).toString("base64url"), y: q384.subarray(49).toString("base64url") }, format: "jwk" });
    const ed = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: q25519.toString("base64url") }, format: "jwk" });
    writeFileSync(file("message"), message);
    const s1 = await p11(sim.socket, "--login", "--pin", PIN, "--sign", "--id", "03", "-m", "ECDSA-SHA384", "--signature-format", "openssl", "-i", file("message"), "-o", file("p384.sig"));
    assert.equal(s1.code, 0, s1.stdout + s1.stderr);
    assert.ok(nodeVerify("sha384", message, p384, readFileSync(file("p384.sig"))));
    const s2 = await p11(sim.socket, "--login", "--pin", PIN, "--sign", "--id", "04", "-m", "EDDSA", "-i", file("message"), "-o", file("ed.sig"));
    assert.equal(s2.code, 0, s2.stdout + s2.stderr);
    assert.ok(nodeVerify(null, message, ed, readFileSync(file("ed.sig"))));
    assert.ok(!nodeVerify(null, Buffer.from("other"), ed, readFileSync(file("ed.sig"))));
  });

  it("ECDH1-DERIVE on the device gives the secret openssl derives on the other side", async () => {
    assert.equal((await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file("peer.pem")], "")).code, 0);
    assert.equal((await run("openssl", ["pkey", "-in", file("peer.pem"), "-pubout", "-outform", "DER", "-out", file("peer.der")], "")).code, 0);
    const r = await p11(sim.socket, "--login", "--pin", PIN, "--derive", "-m", "ECDH1-DERIVE", "--id", "02", "-i", file("peer.der"), "-o", file("ours.bin"));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const o = await run("openssl", ["pkeyutl", "-derive", "-inkey", file("peer.pem"), "-peerkey", file("ec.der"), "-peerform", "DER", "-out", file("theirs.bin")], "");
    assert.equal(o.code, 0, o.stderr);
    assert.equal(readFileSync(file("ours.bin")).length, 32);
    assert.deepEqual(readFileSync(file("ours.bin")), readFileSync(file("theirs.bin")));
  });

  it("lists the private keys as sensitive and never extractable", async () => {
    const r = await p11(sim.socket, "--login", "--pin", PIN, "--list-objects", "--type", "privkey");
    assert.equal(r.code, 0, r.stderr);
    const keys = r.stdout.split("Private Key Object").slice(1);
    assert.equal(keys.length, 4);
    for (const k of keys) assert.match(k, /Access:\s*sensitive, always sensitive, never extractable, local/);
  });

  it("without login the private keys are invisible", async () => {
    const r = await p11(sim.socket, "--list-objects", "--type", "privkey");
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Private Key Object/);
  });

  it("keeps the keys across a restart of the simulator (persistence)", async () => {
    await sim.stop();
    sim = await startSim(state);
    assert.ok(!sim.output.some((l) => l.startsWith("provisioned")), "a used state directory is not provisioned again");
    const list = await p11(sim.socket, "--login", "--pin", PIN, "--list-objects", "--type", "privkey");
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /label:\s*rsa-key/);
    assert.match(list.stdout, /label:\s*ec-key/);
    assert.equal((await signRsa("rsa2.sig")).code, 0);
    assert.equal((await verifyRsa("rsa2.sig")).code, 0);
    assert.equal((await signEc("ec2.sig")).code, 0);
    assert.equal((await verifyEc("ec2.sig")).code, 0);
  });
});
