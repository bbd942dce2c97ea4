/**
 * modules/wim/curves.ts decodes ECDH peer points and checks imported scalars with a few lines of BigInt
 * (no @noble on the device): here against @noble/curves, the reference — uncompressed and compressed
 * points of random keys, off-curve and out-of-range encodings, and the scalar range edges.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { p256, p384 } from "@noble/curves/nist.js";
import { CURVES } from "../../modules/wim/curves.js";

const CASES = [
  { curve: CURVES.find((c) => c.name === "P-256")!, noble: p256, size: 32 },
  { curve: CURVES.find((c) => c.name === "P-384")!, noble: p384, size: 48 },
];

describe("curves.ts point decoding and scalar checks (no @noble on the device)", () => {
  for (const { curve, noble, size } of CASES) {
    it(`${curve.name}: uncompressed and compressed points equal @noble's`, () => {
      for (let i = 0; i < 40; i++) {
        const pub = noble.getPublicKey(noble.utils.randomSecretKey(), false);
        const want = pub.subarray(1);
        assert.deepEqual(curve.peerPoint!(pub), want);
        assert.deepEqual(curve.peerPoint!(noble.Point.fromBytes(pub).toBytes(true)), want);
      }
    });
    it(`${curve.name}: refuses points off the curve, out of range and of the wrong shape`, () => {
      const pub = noble.getPublicKey(noble.utils.randomSecretKey(), false);
      const bad = pub.slice();
      bad[bad.length - 1] ^= 1;
      assert.throws(() => curve.peerPoint!(bad));
      const big = new Uint8Array(1 + size).fill(0xff);
      big[0] = 2;
      assert.throws(() => curve.peerPoint!(big));
      assert.throws(() => curve.peerPoint!(pub.subarray(0, size)));
      assert.throws(() => curve.peerPoint!(Uint8Array.of(0)));
      // compressed x with no square root: about half of all x; find one
      let found = 0;
      for (let i = 0; i < 64 && !found; i++) {
        const c = Uint8Array.from([2, ...crypto.randomBytes(size)]);
        c[1] = 0;
        let ok: boolean;
        try { noble.Point.fromBytes(c); ok = true; } catch { ok = false; }
        if (!ok) { assert.throws(() => curve.peerPoint!(c)); found = 1; }
        else assert.deepEqual(curve.peerPoint!(c), noble.Point.fromBytes(c).toBytes(false).subarray(1));
      }
      assert.equal(found, 1);
    });
    it(`${curve.name}: imported scalars 0 < d < n, as @noble says`, () => {
      const n = noble.Point.CURVE().n;
      const be = (v: bigint) => Uint8Array.from(Buffer.from(v.toString(16).padStart(2 * size, "0"), "hex"));
      for (const d of [0n, 1n, 2n, n - 1n, n, n + 1n, (1n << BigInt(8 * size)) - 1n]) {
        const bytes = be(d);
        assert.equal(curve.importSecret(bytes) !== undefined, noble.utils.isValidSecretKey(bytes), `d=${d}`);
      }
      for (let i = 0; i < 40; i++) {
        const bytes = crypto.randomBytes(size);
        if (i % 2) bytes.fill(0xff, 0, 8);
        assert.equal(curve.importSecret(bytes) !== undefined, noble.utils.isValidSecretKey(bytes));
      }
      assert.deepEqual(curve.importSecret(Uint8Array.of(0, 0, 5)), be(5n));
    });
  }
});
