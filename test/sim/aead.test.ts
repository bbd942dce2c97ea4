/**
 * The secure channel's natives in the simulator (modules/wim/native/wim_xs.c over wim_aead and wim_ec), against
 * the PC side's references: aeadSeal/aeadOpen equal @noble/ciphers' chacha20poly1305 with Noise's nonce (4 zero
 * bytes, the counter as 64 bits little-endian) on random keys, counters, associated data and lengths 0..300,
 * ArrayBuffer and Uint8Array arguments; a tampered message or another counter opens to undefined. ecEphemeral and
 * ecEphemeralEcdh agree with @noble/curves both ways (the device's e·B equals the PC's b·E, P-256 and P-384), a
 * second ecEphemeral replaces the first, ecEphemeralClear wipes it, a point off the curve is refused.
 * Run: npx mocha test/sim/aead.test.ts (needs build/wim-sim: make build).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { p256, p384 } from "@noble/curves/nist.js";
import { buildSimBundle, runSimBundle } from "./bundle.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));

/** Noise's ChaChaPoly nonce: 4 zero bytes, then the counter as 64 bits little-endian. */
function noiseNonce(counter: number): Uint8Array {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(BigInt(counter), 4);
  return n;
}

async function runBundle(inputs: unknown): Promise<Map<string, string>> {
  const work = mkdtempSync(path.join(os.tmpdir(), "wim-aead-"));
  const bundle = buildSimBundle("test/sim/aead-bundle.ts", path.join(work, "aead.js"), { __AEAD_INPUTS__: JSON.stringify(inputs) });
  const out = await runSimBundle(bundle, work, "aead", 20_000);
  const results = new Map<string, string>();
  for (const m of out.matchAll(/^aead: (\S+(?: \d+)?) (.*)$/gm)) results.set(m[1], m[2]);
  return results;
}

describe("wim-sim: the secure channel's natives (AEAD, ephemeral ECDH)", function () {
  this.timeout(60_000);

  const lengths = [0, 1, 15, 16, 17, 63, 64, 65, 100, 255, 256, 300];
  const counters = [0, 1, 2, 255, 65536, 2 ** 31, 2 ** 32 - 1];
  const cases = lengths.flatMap((len, i) =>
    [0, 1].map((j) => ({
      key: hex(randomBytes(32)),
      counter: counters[(2 * i + j) % counters.length],
      ad: hex(randomBytes((len * 3 + j * 7) % 41)),
      pt: hex(randomBytes(len)),
      view: j === 1,
    })),
  );
  const b256 = p256.utils.randomSecretKey(), b384 = p384.utils.randomSecretKey();
  const B256 = p256.getPublicKey(b256, false).subarray(1), B384 = p384.getPublicKey(b384, false).subarray(1);
  const offCurve = Uint8Array.from(B256);
  offCurve[63] ^= 1;
  let r: Map<string, string>;

  before(async () => {
    r = await runBundle({ cases, peer256: hex(B256), peer384: hex(B384), offCurve: hex(offCurve) });
  });

  it("aeadSeal equals @noble/ciphers' chacha20poly1305 with Noise's nonce; aeadOpen gives the plaintext back", () => {
    cases.forEach((c, i) => {
      const want = chacha20poly1305(unhex(c.key), noiseNonce(c.counter), unhex(c.ad)).encrypt(unhex(c.pt));
      assert.equal(r.get(`seal ${i}`), hex(want), `seal ${i} (${c.pt.length / 2} bytes, counter ${c.counter})`);
      assert.equal(r.get(`open ${i}`), c.pt.length ? c.pt : "", `open ${i}`);
    });
  });

  it("aeadOpen gives undefined for a flipped bit, another counter, or under 16 bytes", () => {
    cases.forEach((_, i) => {
      assert.equal(r.get(`tamper ${i}`), "undefined", `tamper ${i}`);
      assert.equal(r.get(`counter ${i}`), "undefined", `counter ${i}`);
    });
    assert.equal(r.get("short"), "undefined");
  });

  it("refuses a key that is not 32 bytes and a counter that is not a u32", () => {
    assert.match(r.get("key31")!, /^error RangeError /);
    assert.match(r.get("counter-range")!, /^error RangeError /);
    assert.match(r.get("counter-fraction")!, /^error RangeError /);
  });

  it("ecEphemeral/ecEphemeralEcdh agree with @noble/curves both ways; a second ecEphemeral replaces the first", () => {
    const e1 = r.get("eph1")!, e2 = r.get("eph2")!;
    assert.match(e1, /^[0-9a-f]{128}$/);
    assert.match(e2, /^[0-9a-f]{128}$/);
    assert.notEqual(e1, e2);
    // the PC's side: b·E, the x-coordinate of the shared point
    const pc = (E: string) => hex(p256.getSharedSecret(b256, unhex("04" + E)).subarray(1));
    assert.equal(r.get("dh1"), pc(e1));
    assert.equal(r.get("dh1-again"), pc(e1), "the ephemeral key stays until replaced or cleared");
    assert.equal(r.get("dh2"), pc(e2), "the second ecEphemeral replaced the first");
    assert.notEqual(r.get("dh2"), r.get("dh1"));
    const e384 = r.get("eph384")!;
    assert.match(e384, /^[0-9a-f]{192}$/);
    assert.equal(r.get("dh384"), hex(p384.getSharedSecret(b384, unhex("04" + e384)).subarray(1)));
  });

  it("refuses a point off the curve, a peer of the wrong size, no ephemeral key, an unknown curve", () => {
    assert.equal(r.get("off-curve"), "error Error WIM_E_ARG");
    assert.match(r.get("peer-length")!, /^error RangeError /);
    assert.equal(r.get("clear"), "undefined");
    assert.equal(r.get("no-ephemeral"), "error Error WIM_E_NOTFOUND");
    assert.equal(r.get("after-clear"), "error Error WIM_E_NOTFOUND", "ecEphemeralClear wiped the key");
    assert.match(r.get("bad-curve")!, /^error RangeError /);
  });
});
