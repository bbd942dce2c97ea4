/**
 * The security manager on the real firmware: the simulator (XS + the C module) driven over its
 * PTY with AT+PKCS commands encoded by the shared table. Results are checked independently on
 * Node (node:crypto, @noble/curves), never against values the device computed itself.
 */
import assert from "node:assert/strict";
import { createPublicKey, randomBytes, verify as nodeVerify } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { CKA, CKF, CKK, CKM, CKO, CKR, CKU } from "../../modules/at/pkcs11.js";
import { ATTR_SENSITIVE, boolValue, decodeTemplate, encodeTemplate, encodeTypes, ulongValue } from "../../modules/at/template.js";
import type { Value } from "../../modules/at/codec.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { rvOf } from "../rv.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);

describe("WIM security manager on the simulator", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  const at = (name: string, values: Value[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values);
  const rv = rvOf;
  let session = 0;

  before(async () => {
    sim = await startSim(tempDir("wim"), ["--no-agent", "--user-pin", "2468", "--so-pin", "87654321", "--label", "unit"]);
    link = new AtLink(openSerial(sim.pty));
    await link.start();
  });
  after(async () => {
    link?.close();
    await sim?.stop();
  });

  it("reports the provisioned token", async () => {
    const [[label, flags, minPin, maxPin]] = await at("+PKCSTOKEN");
    assert.equal(label, "unit");
    assert.equal((flags as number) & (CKF.TOKEN_INITIALIZED | CKF.USER_PIN_INITIALIZED | CKF.LOGIN_REQUIRED),
      CKF.TOKEN_INITIALIZED | CKF.USER_PIN_INITIALIZED | CKF.LOGIN_REQUIRED);
    assert.ok((minPin as number) <= 4 && (maxPin as number) >= 8);
  });

  it("needs a serial session and rejects unknown session handles", async () => {
    assert.equal(await rv(at("+PKCSOPEN", [CKF.RW_SESSION])), CKR.SESSION_PARALLEL_NOT_SUPPORTED);
    assert.equal(await rv(at("+PKCSLOGIN", [999, CKU.USER, "2468"])), CKR.SESSION_HANDLE_INVALID);
    [[session]] = (await at("+PKCSOPEN", [CKF.RW_SESSION | CKF.SERIAL_SESSION])) as number[][];
    assert.ok(session > 0);
  });

  it("counts failed logins down and resets the counter on success (flags and AT+PKCSSTAT?)", async () => {
    const [[left0, max, soLeft, soMax]] = await at("+PKCSSTAT");
    assert.deepEqual([left0, max, soLeft, soMax], [3, 3, 15, 15]);
    assert.equal(await rv(at("+PKCSLOGIN", [session, CKU.USER, "1111"])), CKR.PIN_INCORRECT);
    const [[, flags]] = await at("+PKCSTOKEN");
    assert.ok((flags as number) & CKF.USER_PIN_COUNT_LOW);
    assert.deepEqual((await at("+PKCSSTAT"))[0].slice(0, 4), [2, 3, 15, 15]);
    assert.equal(await rv(at("+PKCSLOGIN", [session, CKU.USER, "2468"])), CKR.OK);
    const [[, after]] = await at("+PKCSTOKEN");
    assert.equal((after as number) & CKF.USER_PIN_COUNT_LOW, 0);
    assert.deepEqual((await at("+PKCSSTAT"))[0].slice(0, 4), [3, 3, 15, 15]);
  });

  it("reports the key store's room: a new object takes its record's cost", async () => {
    const [[, , , , free0, total]] = (await at("+PKCSSTAT")) as number[][];
    assert.ok(total > 0 && free0 > 0 && free0 <= total, `${free0} of ${total}`);
    const value = new Uint8Array(100).fill(7);
    const t = encodeTemplate([{ type: CKA.CLASS, value: ulongValue(CKO.DATA) }, { type: CKA.TOKEN, value: boolValue(true) },
      { type: CKA.VALUE, value }]);
    const [[h]] = (await at("+PKCSCREATE", [session, t])) as number[][];
    const [[, , , , free1, total1]] = (await at("+PKCSSTAT")) as number[][];
    assert.equal(total1, total);
    assert.ok(free1 < free0 - 100, `${free0} → ${free1}`);
    await at("+PKCSDESTROY", [session, h]);
    const free2 = (await at("+PKCSSTAT"))[0][4] as number;
    assert.ok(free2 > free1 + 100, `a destroyed object gives its room back: ${free1} → ${free2}`); // less the handle counter's record
  });

  it("generates a P-256 key whose ECDSA signatures verify on Node", async () => {
    const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }, { type: CKA.TOKEN, value: boolValue(true) }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
    const [[pubH, privH]] = (await at("+PKCSGENKP", [session, CKM.EC_KEY_PAIR_GEN, pub, priv])) as number[][];
    const [[values]] = await at("+PKCSATTR", [session, pubH, encodeTypes([CKA.EC_POINT, CKA.KEY_TYPE])]);
    const [point, keyType] = decodeTemplate(values as Uint8Array)!;
    assert.deepEqual(keyType.value, ulongValue(CKK.EC));
    const q = point.value.subarray(2); // DER OCTET STRING header
    for (let i = 0; i < 5; i++) {
      const digest = new Uint8Array(randomBytes(32));
      const [[sig]] = await at("+PKCSSIGN", [session, privH, CKM.ECDSA, digest]);
      assert.equal((sig as Uint8Array).length, 64);
      assert.ok(p256.verify(sig as Uint8Array, digest, q, { prehash: false, lowS: false }));
      digest[0] ^= 1;
      assert.ok(!p256.verify(sig as Uint8Array, digest, q, { prehash: false, lowS: false }));
    }
  });

  it("generates an RSA-2048 key whose PKCS#1 v1.5 signatures verify with node:crypto", async () => {
    const pub = encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }, { type: CKA.PUBLIC_EXPONENT, value: Uint8Array.of(1, 0, 1) }]);
    const [[pubH, privH]] = (await at("+PKCSGENKP", [session, CKM.RSA_PKCS_KEY_PAIR_GEN, pub, new Uint8Array(0)])) as number[][];
    const [[values]] = await at("+PKCSATTR", [session, pubH, encodeTypes([CKA.MODULUS])]);
    const n = Buffer.from(decodeTemplate(values as Uint8Array)![0].value);
    assert.equal(n.length, 256);
    const key = createPublicKey({ key: { kty: "RSA", n: n.toString("base64url"), e: "AQAB" }, format: "jwk" });
    const msg = randomBytes(100);
    const digestInfo = Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), (await import("node:crypto")).createHash("sha256").update(msg).digest()]);
    const [[sig]] = await at("+PKCSSIGN", [session, privH, CKM.RSA_PKCS, new Uint8Array(digestInfo)]);
    assert.ok(nodeVerify("sha256", msg, key, Buffer.from(sig as Uint8Array)));
    assert.ok(!nodeVerify("sha256", randomBytes(100), key, Buffer.from(sig as Uint8Array)));
    // too long for the modulus → CKR_DATA_LEN_RANGE; wrong mechanism for the key type → KEY_TYPE_INCONSISTENT
    assert.equal(await rv(at("+PKCSSIGN", [session, privH, CKM.RSA_PKCS, new Uint8Array(246)])), CKR.DATA_LEN_RANGE);
    assert.equal(await rv(at("+PKCSSIGN", [session, privH, CKM.ECDSA, new Uint8Array(32)])), CKR.KEY_TYPE_INCONSISTENT);
    // the private exponent is sensitive
    const [[secret]] = await at("+PKCSATTR", [session, privH, encodeTypes([CKA.PRIVATE_EXPONENT, CKA.CLASS])]);
    const [d, cls] = decodeTemplate(secret as Uint8Array, true)!;
    assert.equal(d.value, ATTR_SENSITIVE);
    assert.deepEqual(cls.value, ulongValue(CKO.PRIVATE_KEY));
  });

  it("hides private objects after logout", async () => {
    const all = encodeTemplate([]);
    const before = (await at("+PKCSFIND", [session, all])).length;
    await at("+PKCSLOGOUT", [session]);
    const after = (await at("+PKCSFIND", [session, all])).length;
    assert.equal(before, 4);
    assert.equal(after, 2);
  });

  it("gives random bytes that differ call to call", async () => {
    const [[a]] = await at("+PKCSRAND", [session, 64]);
    const [[b]] = await at("+PKCSRAND", [session, 64]);
    assert.equal((a as Uint8Array).length, 64);
    assert.notDeepEqual(a, b);
  });

  it("answers garbage with ERROR and keeps answering AT", async () => {
    for (const line of ["AT+PKCSOPEN=\"", "AT+NOPE", "\u0000\u0001AT+PKCSSIGN=1,2", "AT+PKCSSIGN=1,2,3,\"!!\",\"\"", "AT+PKCSOPEN=99999999999"]) {
      const r = await link.line(line);
      assert.notEqual(r.final, "OK", line);
    }
    assert.equal((await link.line("AT")).final, "OK");
  });
});
