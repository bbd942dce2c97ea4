/**
 * Multi-part operations with one update longer than an agent request (1 MiB, docs/agent-rpc.md
 * "request-size limit"): the module sends such a C_DigestUpdate / C_SignUpdate / C_VerifyUpdate as
 * several requests. A C client (test/e2e/multipart.c, built here with gcc) passes 3 MiB + 17 bytes in
 * ONE call of each; node:crypto checks the digest and the signature over the same bytes, so a piece
 * dropped, repeated, reordered or cut short changes what is compared.
 */
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as nodeVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { EC_KEY, type KeySpec, PIN, RSA_KEY, cleanUp, exec, generateKeys, mechanisms, readPublicKey, show } from "./clients.js";
import { MODULE, ROOT, type RunResult, type SimToken, run, startSim, tempDir } from "./harness.js";

/** 3 MiB + 17: three full pieces and a short fourth, whatever the piece size just under 1 MiB. */
const LEN = 3 * 1024 * 1024 + 17;
const SEED = 0x5eed2024;

const CKR_OK = 0x0;
const CKR_DATA_LEN_RANGE = 0x21;
const CKR_SIGNATURE_INVALID = 0xc0;

/** The client's bytes: xorshift32 from SEED, one step per byte, its top 8 bits (as fill() in multipart.c). */
function data(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The client's `name=value` lines. */
function fields(r: RunResult): Map<string, string> {
  return new Map(r.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

const rv = (v: string | undefined) => (v === undefined ? undefined : Number.parseInt(v, 16));
const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

describe("multi-part updates longer than one agent request", function () {
  this.timeout(180_000);
  let sim: SimToken | undefined;
  const state = tempDir("multipart");
  const work = tempDir("multipart-work");
  const bytes = data(SEED, LEN);
  let key: KeySpec;
  let result: RunResult;
  let out: Map<string, string>;
  const field = (name: string) => {
    const v = out.get(name);
    assert.ok(v !== undefined, `the client printed no ${name}:\n${show(result)}`);
    return v;
  };

  before(async () => {
    const exe = path.join(work, "multipart");
    const [cc, started] = await Promise.all([
      exec("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", `-I${path.join(ROOT, "pc/pkcs11")}`, "-o", exe, path.join(ROOT, "test/e2e/multipart.c"), "-ldl"]),
      startSim(state),
    ]);
    sim = started;
    assert.equal(cc.code, 0, `gcc failed:\n${show(cc)}`);
    // A hash-and-sign mechanism the token lists: CKM_ECDSA_SHA256 on P-256, else CKM_SHA256_RSA_PKCS on RSA-2048.
    const mechs = await mechanisms(sim.socket);
    if (mechs.has("ECDSA-SHA256")) key = EC_KEY;
    else if (mechs.has("SHA256-RSA-PKCS")) key = RSA_KEY;
    else assert.fail(`the token lists neither ECDSA-SHA256 nor SHA256-RSA-PKCS:\n${[...mechs.values()].join("\n")}`);
    await generateKeys(sim.socket, key);
    result = await run(exe, [MODULE, String(SEED), String(LEN), PIN, key.id, key === EC_KEY ? "ec" : "rsa"], sim.socket);
    out = fields(result);
    assert.equal(result.code, 0, `the client failed:\n${show(result)}`);
  });
  after(() => cleanUp(sim, work));

  it("the TypeScript generator makes the client's bytes (spot check of the sequence)", () => {
    // xorshift32 from 1: 270369, 67634689, 2647435461 → top bytes 0x00, 0x04, 0x9d.
    assert.deepEqual([...data(1, 3)], [0x00, 0x04, 0x9d]);
    assert.equal(bytes.length, LEN);
  });

  it("one C_DigestUpdate of 3 MiB + 17 bytes gives node:crypto's SHA-256 of the same bytes", () => {
    assert.equal(field("digest"), createHash("sha256").update(bytes).digest("hex"));
  });

  it("one C_SignUpdate of 3 MiB + 17 bytes signs all of them (node:crypto verifies with the token's public key)", async () => {
    const der = path.join(work, "pub.der");
    await readPublicKey(sim!.socket, key.id, der);
    const pub = createPublicKey({ key: readFileSync(der), format: "der", type: "spki" });
    const sig = Buffer.from(field("signature"), "hex");
    const opts = key === EC_KEY ? { key: pub, dsaEncoding: "ieee-p1363" as const } : pub;
    assert.equal(sig.length, key === EC_KEY ? 64 : 256);
    assert.ok(nodeVerify("sha256", bytes, opts, sig), "the signature does not verify over the full data");
    // The same signature over the data without its last 17 bytes, or without its first MiB, does not.
    assert.ok(!nodeVerify("sha256", bytes.subarray(0, LEN - 17), opts, sig));
    assert.ok(!nodeVerify("sha256", bytes.subarray(1024 * 1024), opts, sig));
  });

  it("one C_VerifyUpdate of 3 MiB + 17 bytes: CKR_OK for the signature, CKR_SIGNATURE_INVALID with a byte flipped", () => {
    assert.equal(rv(field("verify_rv")), CKR_OK);
    assert.equal(rv(field("verify_flipped_rv")), CKR_SIGNATURE_INVALID, "a byte flipped in a middle piece");
    assert.equal(rv(field("verify_flipped_last_rv")), CKR_SIGNATURE_INVALID, "a byte flipped in the last piece");
  });

  it("a one-shot C_Digest of 3 MiB + 17 bytes is CKR_DATA_LEN_RANGE (docs/agent-rpc.md), and the connection still serves", () => {
    assert.equal(rv(field("oneshot_digest_rv")), CKR_DATA_LEN_RANGE);
    const abc = createHash("sha256").update("abc").digest("hex");
    assert.equal(rv(field("fresh_digest_init_rv")), CKR_OK, "C_DigestInit in a new session");
    assert.equal(rv(field("fresh_digest_rv")), CKR_OK, "C_Digest in a new session");
    assert.equal(field("fresh_digest"), abc);
  });

  it("a failed one-shot C_Digest ends the digest operation: C_DigestInit + C_Digest on the same session succeed", () => {
    // PKCS#11 (C_Digest): a call that returns other than CKR_OK or CKR_BUFFER_TOO_SMALL ends the operation.
    const init = rv(field("after_init_rv"))!;
    assert.equal(init, CKR_OK, `C_DigestInit after the refused C_Digest answered ${hex(init)} (0x00000090 = CKR_OPERATION_ACTIVE)`);
    assert.equal(rv(field("after_digest_rv")), CKR_OK);
    assert.equal(field("after_digest"), createHash("sha256").update("abc").digest("hex"));
  });
});
