/**
 * The secure channel on the simulator (docs/channel.md): the real firmware on XS with its C core
 * (P-256 ECDH with the channel key and an ephemeral scalar in C, ChaCha20-Poly1305, SHA-256), a test
 * host of modules/wim/noise.ts and the PC's suite (test/sim/channel-host.ts) over the PTY.
 * - through the channel: open, login, key generation, sign, logout; a tap of every PTY byte in both
 *   directions never holds the PIN, the data signed, the signature or any other response text;
 * - each fault — a tampered header, ciphertext or tag, a replay, a reordered record — ends the session
 *   (+PKCSSEC: 0), the next records get no answer, a new handshake works, the logged-in channel is gone
 *   (its session handle invalid) and the user PIN's retry counter has not moved;
 * - the raw-link hijack: with host A logged in, an attacker's clear `AT+PKCSCH=…;+PKCSSIGN=…` or a
 *   garbage record is refused and A's login is gone: no signature without the PIN;
 * - an unpaired host's handshake is refused; AT+PKCSUNPAIR ends the session and the host's next
 *   handshake is refused; AT+PKCSUNPAIRALL needs the SO on its session; holding the button 10 s
 *   unpairs every host (a 2 s hold does not).
 * Run: npx mocha test/sim/channel.test.ts (after `make build`).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { toBase64 } from "../../modules/at/base64.js";
import type { Transport } from "../../modules/wim/noise.js";
import { CKA, CKF, CKM, CKR, CKU } from "../../modules/at/pkcs11.js";
import { boolValue, encodeTemplate } from "../../modules/at/template.js";
import { BUNDLE, type HostKey, SIM, SimHost, line, newHostKey, provision, seal, values } from "./channel-host.js";

const USER_PIN = "123456";
const SO_PIN = "12345678";
const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rv = (text: string): number => {
  const m = /\+PKCS ERROR: (\d+)\r\n$/.exec(text);
  return m ? Number(m[1]) : /\r\nOK\r\n$/.test(text) ? 0 : -1;
};

describe("the secure channel (simulator)", function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-channel-"));
  const flash = path.join(dir, "flash.bin");
  const control = path.join(dir, "control.sock");
  let host: SimHost;
  let a: HostKey;
  let deviceKey: Uint8Array;
  let serial: string;
  let keyHandle: number;

  /** Opens a R/W session in the channel; logs it in as `who` with `pin` unless who is undefined. */
  async function session(who?: number, pin = USER_PIN): Promise<number> {
    const [[h]] = values("+PKCSOPEN", await host.secure(line("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION]))) as number[][];
    if (who !== undefined) assert.equal(rv(await host.secure(line("+PKCSLOGIN", [h, who, pin]))), 0);
    return h;
  }

  async function open(key: HostKey = a): Promise<void> {
    await host.setup();
    assert.ok(await host.handshake(key, deviceKey, serial), host.lastAnswer);
  }

  async function flags(): Promise<number> {
    const [[, f]] = values("+PKCSTOKEN?", await host.secure("AT+PKCSTOKEN?")) as [[string, number]];
    return f;
  }

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    host = await SimHost.start(flash, { control });
    await provision(host);
    a = newHostKey();
    const r = await host.pair(a, "host A", true);
    assert.equal(r.state, 1);
    deviceKey = r.deviceKey!;
    serial = await host.serial();
    await open();
    const h = await session(CKU.USER);
    const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
    [[, keyHandle]] = values("+PKCSGENKP", await host.secure(line("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, pub, priv]))) as number[][];
    await host.secure(line("+PKCSCLOSE", [h]));
  });
  after(async () => {
    await host?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("open, login, sign, logout through the channel; the wire never carries the PIN, the data or a response", async () => {
    host.tapIn.length = host.tapOut.length = 0;
    const started = Date.now();
    await open();
    const handshakeMs = Date.now() - started;
    const h = await session(CKU.USER);
    const data = randomBytes(32);
    const signed = await host.secure(line("+PKCSSIGN", [h, keyHandle, CKM.ECDSA, data]));
    const [[signature]] = values("+PKCSSIGN", signed) as [[Uint8Array]];
    assert.equal(signature.length, 64);
    assert.equal(rv(await host.secure(line("+PKCSLOGOUT", [h]))), 0);
    assert.equal(rv(await host.secure(line("+PKCSSIGN", [h, keyHandle, CKM.ECDSA, data]))), CKR.KEY_HANDLE_INVALID);
    const wire = Buffer.concat([host.tapped("in"), host.tapped("out")]);
    for (const secret of [USER_PIN, toBase64(data), toBase64(signature), "+PKCSSIGN", "+PKCSOPEN", "+PKCSLOGIN"]) {
      assert.equal(wire.indexOf(Buffer.from(secret, "latin1")), -1, `the wire carried ${secret}`);
    }
    assert.equal(wire.indexOf(data), -1, "the wire carried the data's bytes");
    assert.equal(wire.indexOf(Buffer.from(signature)), -1, "the wire carried the signature's bytes");
    console.log(`      handshake on the simulator: ${handshakeMs} ms (host and device, over the PTY)`);
  });

  it("an open channel keeps under 150 slots and 2 KiB of chunks live, and a session's end gives them back", async () => {
    const mem = async () => {
      const m = /mem slots=(\d+) chunks=(\d+)/.exec(await host.control("mem?"))!;
      return { slots: Number(m[1]), chunks: Number(m[2]) };
    };
    await host.setup();
    const idle = await mem();
    await open(a);
    const channel = await mem();
    assert.ok(channel.slots - idle.slots < 150, `a channel keeps ${channel.slots - idle.slots} slots`);
    assert.ok(channel.chunks - idle.chunks < 2048, `a channel keeps ${channel.chunks - idle.chunks} chunk bytes`);
    host.raw("\r");
    assert.ok(await host.sessionEnd());
    await host.setup();
    const after = await mem();
    assert.ok(after.slots - idle.slots < 20, `after the session: ${after.slots - idle.slots} slots more than before`);
  });

  /** Each fault: the bad bytes to send, given the next good record. */
  const faults: [string, (good: Uint8Array) => Uint8Array[]][] = [
    ["a tampered header", (good) => {
      const bad = new Uint8Array(good.length + 1);
      bad.set(good);
      const len = ((good[1] << 8) | good[2]) + 1;
      bad[1] = len >> 8;
      bad[2] = len & 0xff;
      return [bad];
    }],
    ["a tampered ciphertext", (good) => [((good[3 + 2] ^= 0x20), good)]],
    ["a tampered tag", (good) => [((good[good.length - 3] ^= 1), good)]],
    ["a replayed record", (good) => [good, good.slice()]],
  ];
  for (const [name, make] of faults) {
    it(`${name} ends the session: the next records fail, the login is gone, the PIN counter unchanged`, async () => {
      await open();
      const before = await flags();
      const h = await session(CKU.USER);
      const old = host.transport!;
      const sent = make(seal(host.transport!, line("+PKCSTOKEN?") + "\r"));
      for (const bytes of sent) host.raw(bytes);
      assert.ok(await host.sessionEnd(), `${name}: no +PKCSSEC: 0`);
      await assertGone(h, before, old);
    });
  }

  it("a reordered record ends the session the same way", async () => {
    await open();
    const before = await flags();
    const h = await session(CKU.USER);
    const old = host.transport!;
    const first = seal(host.transport!, "AT+PKCSTOKEN?\r");
    const second = seal(host.transport!, "AT+PKCSTOKEN?\r");
    host.raw(second);
    host.raw(first);
    assert.ok(await host.sessionEnd());
    await assertGone(h, before, old);
  });

  /** After a session ended: a record under the old keys gets no record back, a new handshake works,
   * the old session handle is invalid, nothing signs without a login, the PIN counter did not move. */
  async function assertGone(h: number, flagsBefore: number, old: Transport): Promise<void> {
    const stale = host.tapIn.length;
    host.raw(seal(old, "AT+PKCSTOKEN?\r"));
    await sleep(150);
    // in clear again the device echoes what it got (E1 is back), records included: none of its bytes opens as a record
    const after = Buffer.concat(host.tapIn.slice(stale));
    for (let i = after.indexOf(2); i >= 0 && i + 3 <= after.length; i = after.indexOf(2, i + 1)) {
      const len = (after[i + 1] << 8) | after[i + 2];
      if (len < 16 || i + 3 + len > after.length) continue;
      assert.throws(() => old.receive.decrypt(after.subarray(i, i + 3), after.subarray(i + 3, i + 3 + len)), "a record from the device after the session ended");
    }
    await open();
    assert.equal(rv(await host.secure(line("+PKCSLOGOUT", [h]))), CKR.SESSION_HANDLE_INVALID);
    const h2 = await session();
    // not logged in: the private key is not even visible (CKR_KEY_HANDLE_INVALID)
    assert.equal(rv(await host.secure(line("+PKCSSIGN", [h2, keyHandle, CKM.ECDSA, new Uint8Array(32)]))), CKR.KEY_HANDLE_INVALID);
    assert.equal(await flags(), flagsBefore, "the PIN counter flags");
    await host.secure(line("+PKCSCLOSE", [h2]));
  }

  for (const [name, attack] of [
    ["a clear AT+PKCSCH;+PKCSSIGN line", (h: number) => Buffer.from(`AT+PKCSCH=1;+PKCSSIGN=${h},${keyHandle},${CKM.ECDSA},"${toBase64(new Uint8Array(32))}"\r`)],
    ["a garbage record", () => Buffer.concat([Buffer.of(2, 0, 40), randomBytes(40)])],
  ] as const) {
    it(`the raw-link hijack with ${name} is refused and host A's login is gone`, async () => {
      await open();
      const before = await flags();
      const h = await session(CKU.USER);
      const old = host.transport!;
      host.clearText = "";
      host.raw(attack(h));
      assert.ok(await host.sessionEnd(), "the session ended");
      await sleep(150);
      assert.doesNotMatch(host.clearText, /\+PKCSSIGN:/);
      if (name.startsWith("a clear")) assert.match(host.clearText, /\+PKCSSEC: 0\r\n[^]*\r\nERROR\r\n$/, "refused in clear");
      await assertGone(h, before, old);
    });
  }

  it("refuses the handshake of a host that is not paired", async () => {
    await host.setup();
    assert.equal(await host.handshake(newHostKey(), deviceKey, serial), false);
    assert.match(host.lastAnswer, /^\r\n\+CME ERROR: 3\r\n$/);
    assert.equal(await host.handshake(a, newHostKey().publicKey, serial), false, "a host that has the wrong device key");
    assert.equal(await host.handshake(a, deviceKey, serial + "X"), false, "another device's prologue");
  });

  it("AT+PKCSUNPAIRALL needs the SO on its session; AT+PKCSUNPAIR ends the session and refuses the host's next handshake", async () => {
    const b = newHostKey();
    await host.setup();
    assert.equal((await host.pair(b, "host B", true)).state, 1);
    await open(b);
    const user = await session(CKU.USER);
    assert.equal(rv(await host.secure(line("+PKCSUNPAIRALL", [user]))), CKR.USER_NOT_LOGGED_IN);
    const plain = await session();
    assert.equal(rv(await host.secure(line("+PKCSUNPAIRALL", [plain]))), CKR.USER_NOT_LOGGED_IN);
    assert.equal(rv(await host.secure(line("+PKCSUNPAIRALL", [9999]))), CKR.SESSION_HANDLE_INVALID);
    assert.deepEqual(values("+PKCSHS?", await host.secure("AT+PKCSHS?")), [[2]]);
    assert.match(await host.secure("AT+PKCSUNPAIR"), /^\r\nOK\r\n$/);
    assert.ok(await host.sessionEnd(), "the unpaired host's session ends");
    await host.setup();
    assert.equal(await host.handshake(b, deviceKey, serial), false);
    assert.match(host.lastAnswer, /\+CME ERROR: 3/);
    await open(a);
    assert.deepEqual(values("+PKCSHS?", await host.secure("AT+PKCSHS?")), [[1]]);
  });

  it("a 2 s hold of the button changes nothing; a 10 s hold unpairs every host and ends the sessions", async function () {
    this.timeout(60_000);
    await open(a);
    await host.control("press");
    await sleep(2000);
    await host.control("release");
    assert.deepEqual(values("+PKCSHS?", await host.secure("AT+PKCSHS?")), [[1]]);
    await host.control("press");
    await sleep(10_500);
    await host.control("release");
    assert.ok(await host.sessionEnd(), "the session ended");
    await host.setup();
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[0]]);
    assert.equal(await host.handshake(a, deviceKey, serial), false);
    assert.match(await host.clear("AT+PKCSTOKEN?"), /\+PKCSTOKEN: "chan"/, "unpaired: everything in clear again");
  });

  it("AT+PKCSUNPAIRALL with the SO logged in on its session unpairs every host", async () => {
    assert.equal((await host.pair(a, "host A", true)).state, 1);
    await open(a);
    const so = await session(CKU.SO, SO_PIN);
    assert.match(await host.secure(line("+PKCSUNPAIRALL", [so])), /^\r\nOK\r\n$/);
    assert.ok(await host.sessionEnd());
    await host.setup();
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[0]]);
  });
});
