/**
 * Objects and their access rules on the real firmware (AT+PKCS over the simulator's PTY):
 * C_CreateObject, C_SetAttributeValue, C_DestroyObject, session objects, C_SetPIN, and the
 * signature PIN of CKA_ALWAYS_AUTHENTICATE keys.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { p256, p384 } from "@noble/curves/nist.js";
import { CKA, CKF, CKK, CKM, CKO, CKR, CKU } from "../../modules/at/pkcs11.js";
import { ATTR_SENSITIVE, boolValue, decodeTemplate, encodeTemplate, encodeTypes, ulongValue } from "../../modules/at/template.js";
import type { Value } from "../../modules/at/codec.js";
import { AtLink } from "../../pc/agent/link.js";
import { Device } from "../../pc/agent/device.js";
import { openSerial } from "../../pc/agent/serial.js";
import { type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { rvOf } from "../rv.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const P384 = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22);
/** Flattened CK_ECDH1_DERIVE_PARAMS as the agent sends them: u64 kdf (CKD_NULL), no shared data, the peer's point. */
const ecdhParams = (q: Uint8Array) => {
  const p = new Uint8Array(16 + q.length);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, 1, true);
  dv.setUint32(12, q.length, true);
  p.set(q, 16);
  return p;
};
const tpl = (...a: [number, Uint8Array][]) => encodeTemplate(a.map(([type, value]) => ({ type, value })));
const text = (s: string) => new TextEncoder().encode(s);

describe("objects and access rules on the simulator", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  let device: Device;
  let s = 0;
  const at = (name: string, values: Value[] = []) => device.run(name, values);
  const rv = rvOf;
  const attr = async (o: number, type: number) => {
    const [[v]] = await at("+PKCSATTR", [s, o, encodeTypes([type])]);
    return decodeTemplate(v as Uint8Array, true)![0].value;
  };

  before(async () => {
    sim = await startSim(tempDir("objects"), ["--no-agent"]);
    link = new AtLink(openSerial(sim.pty));
    device = new Device(link);
    await device.attach();
    [[s]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
  });
  after(async () => {
    link?.close();
    await sim?.stop();
  });

  it("creates a token certificate and reads it back; refuses one larger than a store record", async () => {
    await at("+PKCSLOGIN", [s, CKU.USER, "123456"]); // token objects are written only after C_Login (docs/policy.md)
    const der = new Uint8Array(randomBytes(2800));
    const [[o]] = (await at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.CERTIFICATE)], [CKA.CERTIFICATE_TYPE, ulongValue(0)],
      [CKA.TOKEN, boolValue(true)], [CKA.VALUE, der], [CKA.LABEL, text("cert")])])) as number[][];
    assert.deepEqual(await attr(o, CKA.VALUE), der);
    assert.equal(await rv(at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.CERTIFICATE)], [CKA.VALUE, der])])), CKR.TEMPLATE_INCOMPLETE);
    // larger than a store record: the device says so, and keeps answering
    assert.equal(await rv(at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.CERTIFICATE)], [CKA.CERTIFICATE_TYPE, ulongValue(0)],
      [CKA.TOKEN, boolValue(true)], [CKA.VALUE, new Uint8Array(5000)])])), CKR.DEVICE_MEMORY);
    assert.equal(await rv(at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.MODULUS, der])])), CKR.ATTRIBUTE_TYPE_INVALID);
    assert.equal(await rv(at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.TOKEN, Uint8Array.of(1, 1)])])), CKR.ATTRIBUTE_VALUE_INVALID);
  });

  it("applies the access rules of C_SetAttributeValue", async () => {
    const [[o]] = (await at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.TOKEN, boolValue(true)], [CKA.LABEL, text("a")])])) as number[][];
    await at("+PKCSSETATTR", [s, o, tpl([CKA.LABEL, text("renamed")])]);
    assert.deepEqual(await attr(o, CKA.LABEL), text("renamed"));
    assert.equal(await rv(at("+PKCSSETATTR", [s, o, tpl([CKA.CLASS, ulongValue(CKO.CERTIFICATE)])])), CKR.ATTRIBUTE_READ_ONLY);
    assert.equal(await rv(at("+PKCSSETATTR", [s, o, tpl([CKA.MODULUS, text("x")])])), CKR.ATTRIBUTE_TYPE_INVALID);
    const [[ro]] = (await at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.TOKEN, boolValue(true)], [CKA.MODIFIABLE, boolValue(false)])])) as number[][];
    assert.equal(await rv(at("+PKCSSETATTR", [s, ro, tpl([CKA.LABEL, text("no")])])), CKR.ACTION_PROHIBITED);
    const [[copy]] = (await at("+PKCSCOPY", [s, o, tpl([CKA.TOKEN, boolValue(false)], [CKA.LABEL, text("copy")])])) as number[][];
    assert.deepEqual(await attr(copy, CKA.LABEL), text("copy"));
    assert.deepEqual(await attr(copy, CKA.TOKEN), boolValue(false));
    await at("+PKCSDESTROY", [s, o]);
    assert.equal(await rv(attr(o, CKA.LABEL)), CKR.OBJECT_HANDLE_INVALID);
    assert.deepEqual(await attr(copy, CKA.LABEL), text("copy"), "the copy outlives the original");
  });

  it("keeps session objects to their session and channel", async () => {
    await at("+PKCSLOGOUT", [s]);
    const [[o]] = (await at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.VALUE, text("ephemeral")])])) as number[][];
    assert.ok(o >= 0x40000000);
    assert.deepEqual(await attr(o, CKA.VALUE), text("ephemeral"));
    const [[s2]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION])) as number[][];
    await at("+PKCSCLOSE", [s2]);
    assert.deepEqual(await attr(o, CKA.VALUE), text("ephemeral"), "another session's close keeps it");
    const ch = await device.openChannel();
    const [[other]] = (await device.run("+PKCSOPEN", [CKF.SERIAL_SESSION], ch)) as number[][];
    assert.equal((await device.run("+PKCSFIND", [other, tpl([CKA.VALUE, text("ephemeral")])], ch)).length, 0, "another channel cannot see it");
    await device.run("+PKCSCHC", [ch], 0);
  });

  it("imports an EC private key whose secret is sensitive, and signs with it", async () => {
    assert.equal(await rv(at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.PRIVATE_KEY)], [CKA.KEY_TYPE, ulongValue(CKK.EC)],
      [CKA.TOKEN, boolValue(true)], [CKA.EC_PARAMS, P256], [CKA.VALUE, new Uint8Array(32).fill(7)])])), CKR.USER_NOT_LOGGED_IN);
    await at("+PKCSLOGIN", [s, CKU.USER, "123456"]);
    const [[k]] = (await at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.PRIVATE_KEY)], [CKA.KEY_TYPE, ulongValue(CKK.EC)],
      [CKA.TOKEN, boolValue(true)], [CKA.EC_PARAMS, P256], [CKA.VALUE, new Uint8Array(32).fill(7)])])) as number[][];
    assert.equal(await attr(k, CKA.VALUE), ATTR_SENSITIVE);
    assert.deepEqual(await attr(k, CKA.LOCAL), boolValue(false));
    assert.deepEqual(await attr(k, CKA.ALWAYS_SENSITIVE), boolValue(false));
    const [[sig]] = await at("+PKCSSIGN", [s, k, CKM.ECDSA, new Uint8Array(32)]);
    assert.equal((sig as Uint8Array).length, 64);
    assert.equal(await rv(at("+PKCSSETATTR", [s, k, tpl([CKA.SENSITIVE, boolValue(false)])])), CKR.ATTRIBUTE_READ_ONLY);
    assert.equal(await rv(at("+PKCSSETATTR", [s, k, tpl([CKA.EXTRACTABLE, boolValue(true)])])), CKR.ATTRIBUTE_READ_ONLY);
  });

  it("imports P-256/P-384 scalars only if valid; the C core signs and derives with them as noble does", async () => {
    await at("+PKCSLOGIN", [s, CKU.USER, "123456"]).catch(() => undefined);
    for (const [params, curve, size] of [[P256, p256, 32], [P384, p384, 48]] as const) {
      const n = curve.Point.Fn.ORDER;
      const be = (v: bigint) => Uint8Array.from(Buffer.from(v.toString(16).padStart(2 * size, "0"), "hex"));
      const importKey = (value: Uint8Array) => at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.PRIVATE_KEY)],
        [CKA.KEY_TYPE, ulongValue(CKK.EC)], [CKA.TOKEN, boolValue(true)], [CKA.EC_PARAMS, params], [CKA.DERIVE, boolValue(true)],
        [CKA.VALUE, value])]);
      for (const bad of [new Uint8Array(size), be(n), be(n + 1n), Uint8Array.of(1, ...new Uint8Array(size))]) {
        assert.equal(await rv(importKey(bad)), CKR.ATTRIBUTE_VALUE_INVALID, `${bad.length}-byte value refused`);
      }
      // a scalar with its leading zero bytes left out (as some tools write CKA_VALUE) is the same key
      const d = curve.utils.randomSecretKey();
      d[0] = 0;
      const [[k]] = (await importKey(d.subarray(1))) as number[][];
      const hash = randomBytes(size);
      const [[sig]] = await at("+PKCSSIGN", [s, k, CKM.ECDSA, hash]);
      assert.ok(curve.verify(sig as Uint8Array, hash, curve.getPublicKey(d), { prehash: false, lowS: false }), "noble verifies");
      // ECDH with the peer's point uncompressed, compressed and inside a DER OCTET STRING
      const peer = curve.utils.randomSecretKey();
      const want = curve.getSharedSecret(peer, curve.getPublicKey(d)).subarray(1);
      for (const q of [curve.getPublicKey(peer, false), curve.getPublicKey(peer, true)]) {
        for (const enc of [q, Uint8Array.of(0x04, q.length, ...q)]) {
          const [[o]] = (await at("+PKCSDERIVE", [s, k, CKM.ECDH1_DERIVE, ecdhParams(enc),
            tpl([CKA.SENSITIVE, boolValue(false)], [CKA.EXTRACTABLE, boolValue(true)])])) as number[][];
          assert.deepEqual(await attr(o, CKA.VALUE), want, `shared secret (${enc.length}-byte peer)`);
          await at("+PKCSDESTROY", [s, o]); // session objects are budgeted (modules/wim/limits.ts)
        }
      }
      const off = curve.getPublicKey(peer, false);
      off[off.length - 1] ^= 1;
      assert.equal(await rv(at("+PKCSDERIVE", [s, k, CKM.ECDH1_DERIVE, ecdhParams(off), tpl()])), CKR.MECHANISM_PARAM_INVALID);
      await at("+PKCSDESTROY", [s, k]);
    }
  });

  it("asks for the signature PIN before every use of a CKA_ALWAYS_AUTHENTICATE key", async () => {
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), tpl([CKA.ALWAYS_AUTHENTICATE, boolValue(true)])])) as number[][];
    const sign = () => at("+PKCSSIGN", [s, k, CKM.ECDSA, new Uint8Array(32)]);
    assert.equal(await rv(sign()), CKR.USER_NOT_LOGGED_IN);
    await at("+PKCSLOGIN", [s, CKU.CONTEXT_SPECIFIC, "123456"]);
    assert.equal(await rv(sign()), CKR.OK);
    assert.equal(await rv(sign()), CKR.USER_NOT_LOGGED_IN, "one login, one signature");
  });

  it("enforces CKA_ALLOWED_MECHANISMS (a hash-and-sign entry allows its base mechanism)", async () => {
    const allowed = ulongValue(0x40); // CKM_SHA256_RSA_PKCS
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, tpl([CKA.MODULUS_BITS, ulongValue(2048)]),
      tpl([CKA.ALLOWED_MECHANISMS, allowed])])) as number[][];
    assert.deepEqual(await attr(k, CKA.ALLOWED_MECHANISMS), allowed);
    assert.equal(await rv(at("+PKCSSIGN", [s, k, CKM.RSA_PKCS, new Uint8Array(51)])), CKR.OK);
    assert.equal(await rv(at("+PKCSSIGN", [s, k, CKM.RSA_X_509, new Uint8Array(256)])), CKR.MECHANISM_INVALID);
    assert.equal(await rv(at("+PKCSDECRYPT", [s, k, CKM.RSA_PKCS, new Uint8Array(256)])), CKR.MECHANISM_INVALID);
  });

  it("changes the user PIN with C_SetPIN", async () => {
    assert.equal(await rv(at("+PKCSSETPIN", [s, "000000", "24682468"])), CKR.PIN_INCORRECT);
    await at("+PKCSSETPIN", [s, "123456", "24682468"]);
    await at("+PKCSLOGOUT", [s]);
    assert.equal(await rv(at("+PKCSLOGIN", [s, CKU.USER, "123456"])), CKR.PIN_INCORRECT);
    assert.equal(await rv(at("+PKCSLOGIN", [s, CKU.USER, "24682468"])), CKR.OK);
  });
});
