/**
 * OpenSSL 3 with the libp11 engine (Debian libengine-pkcs11-openssl) against the simulated token:
 * `openssl req` makes CSRs and self-signed certificates with token keys — RSA with PKCS#1 v1.5,
 * RSA-PSS and EC P-256 (and P-384 once the token generates it) — and openssl verifies each one.
 *
 * The engine is configured the way a user would: an openssl config file with the pkcs11 engine
 * section and MODULE_PATH = build/libwim-pkcs11.so (without MODULE_PATH libp11 would load
 * p11-kit-proxy instead). The PIN comes in the key's PKCS#11 URI (pin-value) or, in one case,
 * from the engine's PIN control in the config file.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { EC_KEY, MODULE, cleanUp, PIN, RSA_KEY, exec, generateKeys, hasEcSize, hasEdDSA, mechanisms, readPublicKey, show } from "./clients.js";
import { type SimToken, startSim, tempDir } from "./harness.js";

const ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so";

/** The key's PKCS#11 URI as libp11 takes it (the token label selects our token). */
const keyUri = (id: string, pin?: string) => `pkcs11:token=WIM;id=%${id};type=private${pin ? `;pin-value=${pin}` : ""}`;

function opensslConfig(enginePin?: string): string {
  return [
    "openssl_conf = openssl_init",
    "[openssl_init]",
    "engines = engine_section",
    "[engine_section]",
    "pkcs11 = pkcs11_section",
    "[pkcs11_section]",
    "engine_id = pkcs11",
    `dynamic_path = ${ENGINE}`,
    `MODULE_PATH = ${MODULE}`,
    ...(enginePin ? [`PIN = ${enginePin}`] : []),
    "init = 0",
    "[req]",
    "distinguished_name = req_dn",
    "prompt = no",
    "[req_dn]",
    "CN = WIM token test",
    "",
  ].join("\n");
}

describe("OpenSSL 3 + libp11 engine against the simulated token", function () {
  this.timeout(180_000);
  let sim: SimToken;
  let p384 = false;
  let ed25519 = false;
  const work = tempDir("openssl");
  const file = (n: string) => path.join(work, n);
  const conf = file("openssl.cnf");
  const confWithPin = file("openssl-pin.cnf");

  /** openssl with our config and the agent socket; the PIN never comes from a terminal. */
  const openssl = (args: string[], config = conf) =>
    exec("openssl", args, { env: { OPENSSL_CONF: config, WIM_AGENT_SOCKET: sim.socket }, timeoutMs: 60_000 });
  /** openssl without the engine config, for checks that must not touch the token. */
  const plain = (args: string[]) => exec("openssl", args, { env: { OPENSSL_CONF: "/dev/null" }, timeoutMs: 30_000 });

  /** The token's public key with this CKA_ID, as PEM. */
  const tokenPublicKey = (id: string) => readFileSync(file(`pub-${id}.pem`), "latin1");

  before(async function () {
    if (!existsSync(ENGINE)) this.skip(); // the Makefile's install step brings libengine-pkcs11-openssl
    sim = await startSim(tempDir("openssl-state"));
    await generateKeys(sim.socket, RSA_KEY, EC_KEY);
    const mechs = await mechanisms(sim.socket);
    p384 = hasEcSize(mechs, 384);
    ed25519 = hasEdDSA(mechs);
    if (p384) await generateKeys(sim.socket, { id: "03", type: "EC:secp384r1", label: "ec384-key" });
    for (const id of p384 ? ["01", "02", "03"] : ["01", "02"]) {
      await readPublicKey(sim.socket, id, file(`pub-${id}.der`));
      const r = await plain(["pkey", "-pubin", "-inform", "DER", "-in", file(`pub-${id}.der`), "-out", file(`pub-${id}.pem`)]);
      assert.equal(r.code, 0, show(r));
    }
    writeFileSync(conf, opensslConfig());
    writeFileSync(confWithPin, opensslConfig(PIN));
  });
  after(() => cleanUp(sim, work));

  it("the engine loads build/libwim-pkcs11.so from MODULE_PATH and reads the token's public key", async () => {
    const r = await openssl(["pkey", "-engine", "pkcs11", "-inform", "engine", "-pubin", "-in", "pkcs11:token=WIM;id=%01;type=public", "-pubout"]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, tokenPublicKey("01"));
  });

  /** One kind of signature: how `openssl req` is asked for it and what the result must say. */
  interface Case {
    name: string;
    id: string;
    digest: string;
    sigopts: string[];
    algorithm: RegExp;
  }
  const cases: Case[] = [
    { name: "RSA-2048, PKCS#1 v1.5", id: "01", digest: "-sha256", sigopts: [], algorithm: /Signature Algorithm: sha256WithRSAEncryption/ },
    {
      name: "RSA-2048, PSS", id: "01", digest: "-sha256",
      sigopts: ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-sigopt", "rsa_mgf1_md:sha256"],
      algorithm: /Signature Algorithm: rsassaPss[\s\S]*Hash Algorithm: sha256[\s\S]*Salt Length: 0x20/,
    },
    { name: "EC P-256", id: "02", digest: "-sha256", sigopts: [], algorithm: /Signature Algorithm: ecdsa-with-SHA256/ },
    { name: "EC P-384", id: "03", digest: "-sha384", sigopts: [], algorithm: /Signature Algorithm: ecdsa-with-SHA384/ },
  ];

  for (const c of cases) {
    const tag = c.name.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase();
    const needsP384 = c.id === "03";

    it(`${c.name}: openssl req makes a CSR with the token key and openssl req -verify accepts it`, async function () {
      if (needsP384 && !p384) this.skip(); // P-384 not in the token's mechanism list yet
      const r = await openssl(["req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", keyUri(c.id, PIN), c.digest,
        ...c.sigopts, "-subj", `/CN=${tag}`, "-out", file(`${tag}.csr`)]);
      assert.equal(r.code, 0, show(r));
      // OpenSSL 3.0's `req -verify` exits 0 even when the signature is bad: check its message.
      const v = await plain(["req", "-in", file(`${tag}.csr`), "-verify", "-noout"]);
      assert.equal(v.code, 0, show(v));
      assert.match(v.stdout + v.stderr, /self-signature verify OK/, show(v));
      const text = await plain(["req", "-in", file(`${tag}.csr`), "-noout", "-text"]);
      assert.match(text.stdout, c.algorithm, text.stdout);
      const pub = await plain(["req", "-in", file(`${tag}.csr`), "-noout", "-pubkey"]);
      assert.equal(pub.stdout, tokenPublicKey(c.id), "the CSR carries the token's public key");
    });

    it(`${c.name}: openssl req -x509 makes a self-signed certificate that openssl verify accepts`, async function () {
      if (needsP384 && !p384) this.skip();
      const r = await openssl(["req", "-new", "-x509", "-days", "1", "-engine", "pkcs11", "-keyform", "engine", "-key", keyUri(c.id, PIN),
        c.digest, ...c.sigopts, "-subj", `/CN=${tag}`, "-out", file(`${tag}.crt`)]);
      assert.equal(r.code, 0, show(r));
      // -check_ss_sig: without it openssl trusts a self-signed anchor without checking its signature.
      const v = await plain(["verify", "-check_ss_sig", "-CAfile", file(`${tag}.crt`), file(`${tag}.crt`)]);
      assert.equal(v.code, 0, show(v));
      assert.match(v.stdout, /: OK$/m);
      const text = await plain(["x509", "-in", file(`${tag}.crt`), "-noout", "-text"]);
      assert.match(text.stdout, c.algorithm, text.stdout);
      const pub = await plain(["x509", "-in", file(`${tag}.crt`), "-noout", "-pubkey"]);
      assert.equal(pub.stdout, tokenPublicKey(c.id), "the certificate carries the token's public key");
    });
  }

  it("the PIN can come from the engine's PIN control in the config file instead of the URI", async () => {
    const r = await openssl(["req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", keyUri("02"), "-subj", "/CN=engine-pin",
      "-out", file("engine-pin.csr")], confWithPin);
    assert.equal(r.code, 0, show(r));
    const v = await plain(["req", "-in", file("engine-pin.csr"), "-verify", "-noout"]);
    assert.match(v.stdout + v.stderr, /self-signature verify OK/, show(v));
  });

  it("the checks can fail: a token CSR against another key, a certificate with one signature bit flipped", async () => {
    // Another RSA key (software): the RSA CSR's signature must not verify with it.
    const g = await plain(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", file("other.pem")]);
    assert.equal(g.code, 0, show(g));
    const v = await plain(["req", "-in", file("rsa-2048-pkcs-1-v1-5.csr"), "-verify", "-noout", "-key", file("other.pem")]);
    assert.match(v.stdout + v.stderr, /self-signature verify failure/, show(v));
    assert.doesNotMatch(v.stdout + v.stderr, /verify OK/);
    // The P-256 CSR against the P-256 key of a software key pair.
    const ge = await plain(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file("other-ec.pem")]);
    assert.equal(ge.code, 0, show(ge));
    const ve = await plain(["req", "-in", file("ec-p-256.csr"), "-verify", "-noout", "-key", file("other-ec.pem")]);
    assert.match(ve.stdout + ve.stderr, /self-signature verify failure/, show(ve));
    // The RSA and EC certificates with one bit of the signature flipped.
    for (const tag of ["rsa-2048-pkcs-1-v1-5", "ec-p-256"]) {
      const d = await plain(["x509", "-in", file(`${tag}.crt`), "-outform", "DER", "-out", file(`${tag}.der`)]);
      assert.equal(d.code, 0, show(d));
      const der = readFileSync(file(`${tag}.der`));
      der[der.length - 5] ^= 0x01; // inside the signature (the last element of the certificate)
      writeFileSync(file(`${tag}-bad.der`), der);
      const p = await plain(["x509", "-inform", "DER", "-in", file(`${tag}-bad.der`), "-out", file(`${tag}-bad.crt`)]);
      assert.equal(p.code, 0, show(p));
      const bad = await plain(["verify", "-check_ss_sig", "-CAfile", file(`${tag}-bad.crt`), file(`${tag}-bad.crt`)]);
      assert.notEqual(bad.code, 0, show(bad));
      assert.match(bad.stdout + bad.stderr, /certificate signature failure/, show(bad));
    }
  });
  // Last: the Ed25519 key stays on the token. libp11 0.4.12 (inside the Debian engine) drops its
  // whole key list at an unknown key type; the module leaves EdDSA keys out of C_FindObjects for a
  // process that has libp11 loaded (pc/pkcs11/compat.c, docs/clients.md).
  it("with an Ed25519 key on the token the engine still signs with the other keys; WIM_HIDE_EDDSA=0 shows the failure it avoids", async function () {
    if (!ed25519) this.skip(); // no EDDSA in the token's mechanism list
    await generateKeys(sim.socket, { id: "04", type: "EC:edwards25519", label: "ed25519-key" });
    const req = (env: Record<string, string>) => exec("openssl", ["req", "-new", "-engine", "pkcs11", "-keyform", "engine",
      "-key", keyUri("02", PIN), "-subj", "/CN=beside-ed25519", "-out", file("beside-ed25519.csr")],
    { env: { OPENSSL_CONF: conf, WIM_AGENT_SOCKET: sim.socket, ...env }, timeoutMs: 60_000 });
    const shown = await req({ WIM_HIDE_EDDSA: "0" });
    assert.notEqual(shown.code, 0, show(shown));
    assert.match(shown.stdout + shown.stderr, /Unable to enumerate private keys|private key was not found/i, show(shown));
    const r = await req({});
    assert.equal(r.code, 0, show(r));
    const v = await plain(["req", "-in", file("beside-ed25519.csr"), "-verify", "-noout"]);
    assert.match(v.stdout + v.stderr, /self-signature verify OK/, show(v));
    const pub = await plain(["req", "-in", file("beside-ed25519.csr"), "-noout", "-pubkey"]);
    assert.equal(pub.stdout, tokenPublicKey("02"));
    // Other clients still see the key; WIM_HIDE_EDDSA=1 hides it from them too, and nothing else.
    const list = (env: Record<string, string>) => exec("pkcs11-tool", ["--module", MODULE, "--login", "--pin", PIN, "--list-objects", "--type", "privkey"],
      { env: { WIM_AGENT_SOCKET: sim.socket, ...env } });
    const all = await list({});
    assert.equal(all.code, 0, show(all));
    assert.match(all.stdout, /label:\s+ed25519-key/, show(all));
    const hidden = await list({ WIM_HIDE_EDDSA: "1" });
    assert.equal(hidden.code, 0, show(hidden));
    assert.doesNotMatch(hidden.stdout, /ed25519-key/, show(hidden));
    assert.equal((hidden.stdout.match(/Private Key Object/g) ?? []).length, (all.stdout.match(/Private Key Object/g) ?? []).length - 1, show(hidden));
  });
});
