import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { fromBase64, toBase64 } from "../../modules/at/base64.js";

describe("base64", () => {
  it("matches Node's encoder for every length 0..300", () => {
    for (let n = 0; n <= 300; n++) {
      const b = new Uint8Array(randomBytes(n));
      const text = toBase64(b);
      assert.equal(text, Buffer.from(b).toString("base64"));
      assert.deepEqual(fromBase64(text), b);
    }
  });
  it("rejects non-canonical and malformed text", () => {
    for (const bad of ["A", "AB=", "A===", "AB=C", "@@@@", "QQ=\u0000", "QR==", "QUJ=", "QUJD\u00e9"]) assert.equal(fromBase64(bad), undefined, bad);
    assert.deepEqual(fromBase64(""), new Uint8Array(0));
  });
});
