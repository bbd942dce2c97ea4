/**
 * Pairing on the simulator (docs/channel.md, "Pairing" and "What works in clear"): the real firmware
 * on XS, its store on the NOR file flash, the BOOT button on the control socket, over the PTY.
 * - a pairing window that sees no press closes (state 2) and the LED blinked meanwhile; a press pairs
 *   (state 1 and the device's channel key; AT+PKCSHS? counts the host);
 * - two AT+PKCSPAIR in one window cancel both: a press then pairs nobody;
 * - the ninth host is refused while eight are paired; a paired host pairs again in place;
 * - once paired, every command outside the clear list answers +CME ERROR: 3 and does nothing (PINs,
 *   sign, find, channel selection, init, staging), identification still answers;
 * - the channel key and the table survive a restart and C_InitToken.
 * Run: npx mocha test/sim/pairing.test.ts (after `make build`).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKF, CKU } from "../../modules/at/pkcs11.js";
import { BUNDLE, SIM, SO_PIN, SimHost, line, newHostKey, provision, values } from "./channel-host.js";

const USER_PIN = "123456";

describe("pairing (simulator)", function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-pairing-"));
  let host: SimHost;
  const flash = path.join(dir, "flash.bin");
  const control = path.join(dir, "control.sock");

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    host = await SimHost.start(flash, { control });
    await provision(host);
  });
  after(async () => {
    await host?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an unpaired device runs everything in clear and has no paired host", async () => {
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[0]]);
    assert.match(await host.clear("AT+PKCSTOKEN?"), /\+PKCSTOKEN: "chan"/);
  });

  it("a window without a press closes after 30 s (state 2, nothing stored), the LED blinking meanwhile", async function () {
    this.timeout(60_000);
    const leds = host.ledChanges();
    const started = Date.now();
    const r = await host.pair(newHostKey(), "no press", false);
    assert.match(r.answer, /\+PKCSPAIR: 30\r\n\r\nOK\r\n$/);
    assert.equal(r.state, 2);
    assert.ok(Date.now() - started >= 29_000, `closed after ${Date.now() - started} ms`);
    assert.ok(host.ledChanges() - leds >= 20, `the LED changed ${host.ledChanges() - leds} times`);
    assert.equal(host.lastLed(), "led=0", "the LED is off once the window closed");
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[0]]);
  });

  it("a press inside the window pairs: state 1 with the device's channel key, one host counted", async () => {
    const r = await host.pair(newHostKey(), "laptop", true);
    assert.equal(r.state, 1);
    assert.equal(r.deviceKey?.length, 65);
    assert.equal(r.deviceKey?.[0], 4);
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[1]]);
  });

  it("a second AT+PKCSPAIR inside the window cancels both: the press then pairs nobody", async () => {
    const a = newHostKey(), b = newHostKey();
    assert.match(await host.clear(line("+PKCSPAIR", [a.publicKey, "a"])), /\+PKCSPAIR: 30/);
    assert.match(await host.clear(line("+PKCSPAIR", [b.publicKey, "b"])), /\+CME ERROR: 3\r\n$/);
    assert.deepEqual(values("+PKCSPAIRC", await host.clear("AT+PKCSPAIRC")), [[2, new Uint8Array(0)]]);
    await host.control("press");
    await host.control("release");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(values("+PKCSPAIRC", await host.clear("AT+PKCSPAIRC")), [[2, new Uint8Array(0)]]);
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[1]]);
  });

  it("refuses a key that is not a P-256 point", async () => {
    const bad = newHostKey().publicKey.slice();
    bad[64] ^= 1;
    assert.match(await host.clear(line("+PKCSPAIR", [bad, "bad"])), /\+CME ERROR: 50\r\n$/);
  });

  it("once paired, every command outside the clear list answers +CME ERROR: 3 and does nothing; identification answers", async () => {
    const refused = [
      line("+PKCSTOKEN?"), line("+PKCSOPEN", [CKF.SERIAL_SESSION]), line("+PKCSLOGIN", [1, CKU.USER, USER_PIN]),
      line("+PKCSSIGN", [1, 16, 0x1041, new Uint8Array(32)]), line("+PKCSFIND", [1, new Uint8Array(0)]),
      line("+PKCSCH", [1]), "AT+PKCSCH=1;+PKCSSIGN=1,16,4161,\"AAAA\"", line("+PKCSCHO"), line("+PKCSINIT", [SO_PIN, "evil"]),
      line("+PKCSDATA", [0, new Uint8Array(3)]), line("+PKCSUNPAIRALL", [1]), line("+PKCSUNPAIR"),
      line("+PKCSSETPIN", [1, USER_PIN, "999999"]), line("+PKCSRAND", [1, 8]),
      line("+PKCSSTAT?"),
    ];
    for (const l of refused) assert.match(await host.clear(l), /^\r\n\+CME ERROR: 3\r\n$/, l);
    for (const l of ["AT", "ATI", "AT+GMI", "AT+GMM", "AT+GMR", "AT+GSN", "AT+GCAP", "AT+PKCSVER=1", "AT+CMEE?", "ATS3?", "AT+PKCSHS?", "AT+PKCSPAIRC"]) {
      assert.match(await host.clear(l), /\r\nOK\r\n$/, l);
    }
  });

  it("the channel key and the table survive a restart and C_InitToken (run through the channel)", async () => {
    const [[, before]] = values("+PKCSPAIRC", await host.clear("AT+PKCSPAIRC")) as [[number, Uint8Array]];
    const first = await host.pair(newHostKey(), "again", true);
    await host.stop();
    host = await SimHost.start(flash, { control });
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[2]]);
    const key = newHostKey();
    const r = await host.pair(key, "after restart", true);
    assert.equal(r.state, 1);
    assert.deepEqual(r.deviceKey, first.deviceKey, "the channel key is the same after a restart");
    assert.equal(before.length, 0);
    // C_InitToken runs only inside the channel once paired
    assert.ok(await host.handshake(key, r.deviceKey!, await host.serial()), host.lastAnswer);
    assert.match(await host.secure(line("+PKCSTOKEN?")), /\+PKCSTOKEN: "chan"/, "the refused AT+PKCSINIT in clear did nothing");
    assert.match(await host.secure(line("+PKCSINIT", [SO_PIN, "fresh"])), /\r\nOK\r\n$/);
    assert.match(await host.secure(line("+PKCSTOKEN?")), /\+PKCSTOKEN: "fresh"/);
    assert.deepEqual(values("+PKCSHS?", await host.secure("AT+PKCSHS?")), [[3]]);
    await host.stop();
    host = await SimHost.start(flash, { control });
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[3]]);
    assert.ok(await host.handshake(key, r.deviceKey!, await host.serial()), "the same key after C_InitToken and a restart");
    assert.match(await host.secure(line("+PKCSTOKEN?")), /\+PKCSTOKEN: "fresh"/);
    host.raw("\r"); // ends the session
    assert.ok(await host.sessionEnd());
    await host.setup();
  });

  it("refuses the ninth host while eight are paired, and pairs a paired host again in place", async function () {
    this.timeout(120_000);
    let [[count]] = values("+PKCSHS?", await host.clear("AT+PKCSHS?")) as number[][];
    const keys = [];
    while (count < 8) {
      const k = newHostKey();
      keys.push(k);
      assert.equal((await host.pair(k, `host ${count}`, true)).state, 1);
      count++;
    }
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[8]]);
    assert.match(await host.clear(line("+PKCSPAIR", [newHostKey().publicKey, "ninth"])), /\+CME ERROR: 3\r\n$/);
    assert.equal((await host.pair(keys[0], "renamed", true)).state, 1, "a paired host pairs again when the table is full");
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[8]]);
  });
});
