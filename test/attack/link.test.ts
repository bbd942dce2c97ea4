/**
 * Issue 10, finding 5: a late reply must never reach the wrong caller. A command that times out
 * may still be answered by the device; the link must resynchronise before it sends the next one.
 * Against the simulator (a real RSA-4096 generation provokes the timeout) and against a scripted
 * device on a loopback stream (a restart under a command, lines nobody asked for).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { p256 } from "@noble/curves/nist.js";
import { CKA, CKF, CKM, CKR, CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { boolValue, decodeTemplate, encodeTemplate, encodeTypes, ulongValue } from "../../modules/at/template.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { Device } from "../../pc/agent/device.js";
import { AtLink, type ByteStream, LinkError } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { rvOf } from "../rv.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const LONG = 10_000;
/** Lets queued promise callbacks run (the command is on the wire after this). */
const settle = () => new Promise((r) => setImmediate(r));
/** Keeps the agent's event loop busy for ms milliseconds (a loaded PC). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe("attack: a timed-out command's late reply (link resynchronisation)", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  let device: Device;
  /** One application: its channel, session and P-256 signing key. */
  interface App { ch: number; session: number; key: number; point: Uint8Array }
  const apps: App[] = [];

  before(async () => {
    sim = await startSim(tempDir("attack-link"), ["--no-agent"]);
    link = new AtLink(openSerial(sim.pty), { commandTimeoutMs: LONG, resyncTimeoutMs: LONG });
    device = new Device(link);
    await device.attach();
    for (let i = 0; i < 3; i++) {
      const ch = await device.openChannel();
      const [[session]] = (await device.run("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION], ch)) as number[][];
      await device.run("+PKCSLOGIN", [session, CKU.USER, "123456"], ch);
      const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]);
      const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
      const [[pubH, key]] = (await device.run("+PKCSGENKP", [session, CKM.EC_KEY_PAIR_GEN, pub, priv], ch)) as number[][];
      const [[values]] = await device.run("+PKCSATTR", [session, pubH, encodeTypes([CKA.EC_POINT])], ch);
      apps.push({ ch, session, key, point: decodeTemplate(values as Uint8Array)![0].value.subarray(2) });
    }
  });
  after(async () => {
    link?.close();
    await sim?.stop();
  });

  const sign = (app: App, digest: Uint8Array) => device.run("+PKCSSIGN", [app.session, app.key, CKM.ECDSA, digest], app.ch);
  const verifies = (app: App, sig: Uint8Array, digest: Uint8Array) => p256.verify(sig, digest, app.point, { prehash: false, lowS: false });

  it("two queued +PKCSSIGN behind a timed-out key generation each get their own signature", async () => {
    const [a, b, c] = apps;
    const resyncs = link.resyncs;
    const gen = encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(4096) }]);
    link.commandTimeoutMs = 20; // in force for the generation only
    const slow = device.run("+PKCSGENKP", [a.session, CKM.RSA_PKCS_KEY_PAIR_GEN, gen, new Uint8Array(0)], a.ch);
    const db = new Uint8Array(randomBytes(32)), dc = new Uint8Array(randomBytes(32));
    const sb = sign(b, db), sc = sign(c, dc);
    await settle();
    link.commandTimeoutMs = LONG;
    assert.equal(await rvOf(slow), CKR.DEVICE_ERROR, "the generation timed out");
    const [[sigB]] = (await sb) as Uint8Array[][]; // before the fix: B got the generation's +PKCS ERROR: 80
    const [[sigC]] = (await sc) as Uint8Array[][]; // before the fix: C got B's signature
    assert.ok(verifies(b, sigB, db), "B's signature is B's: its key, its data");
    assert.ok(verifies(c, sigC, dc), "C's signature is C's: its key, its data");
    assert.ok(!verifies(c, sigB, db) && !verifies(b, sigC, dc));
    assert.ok(link.resyncs > resyncs, "the link resynchronised");
    // the link keeps working, for every application
    for (const app of apps) {
      const d = new Uint8Array(randomBytes(32));
      const [[sig]] = (await sign(app, d)) as Uint8Array[][];
      assert.ok(verifies(app, sig, d));
    }
  });

  it("a late answer to a command that cannot be interrupted is discarded, never delivered to the next", async () => {
    // +PKCSRAND's answer length names its request: a misdelivered answer has the wrong length
    const [a, b] = apps;
    let timedOut = 0;
    for (let i = 1; i <= 30; i++) {
      // odd rounds: the first command goes out with a 1 ms timeout and the agent is then busy for 3 ms
      // (a loaded PC): in the next turn of the event loop the timer phase comes before the poll phase
      // that would read the answer, so it times out whatever the machine's speed. The second command
      // is sent only after the resynchronisation, with the long timeout. Even rounds: no timeout.
      const odd = i % 2 === 1;
      const sent = link.commands;
      if (odd) link.commandTimeoutMs = 1;
      const first = device.run("+PKCSRAND", [a.session, 100 + i], a.ch);
      const second = device.run("+PKCSRAND", [b.session, 500 + i], b.ch);
      if (odd) {
        for (let spin = 0; link.commands === sent && spin < 10_000; spin++) await Promise.resolve();
        assert.equal(link.commands, sent + 1, "the first command is on the wire, the second waits");
        busy(3);
        link.commandTimeoutMs = LONG;
      }
      try {
        const [[r]] = (await first) as Uint8Array[][];
        assert.equal(r.length, 100 + i);
      } catch (e) {
        assert.ok(e instanceof PkcsError && e.rv === CKR.DEVICE_ERROR, String(e));
        timedOut++;
      }
      const [[r2]] = (await second) as Uint8Array[][];
      assert.equal(r2.length, 500 + i, `iteration ${i}: the second caller got its own answer`);
    }
    assert.equal(timedOut, 15, "every busy round timed out, no other did");
    const [[r]] = (await device.run("+PKCSRAND", [a.session, 7], a.ch)) as Uint8Array[][];
    assert.equal(r.length, 7);
  });
});

/** A scripted device: the test answers each line it receives by hand; markers are answered as the firmware does. */
class ScriptedDevice {
  readonly lines: string[] = [];
  private listener: (b: Uint8Array) => void = () => {};
  private partial = "";
  answerMarkers = true;
  readonly stream: ByteStream = {
    write: (b) => this.received(b),
    onData: (l) => void (this.listener = l),
    onClose: () => {},
    close: () => {},
  };
  /** Sends text to the agent as lines. */
  say(...lines: string[]): void {
    const text = lines.map((l) => `\r\n${l}\r\n`).join("");
    setImmediate(() => this.listener(new TextEncoder().encode(text)));
  }
  private received(b: Uint8Array): void {
    for (const c of b) {
      if (c === 0x18) continue;
      if (c !== 13) {
        this.partial += String.fromCharCode(c);
        continue;
      }
      const line = this.partial;
      this.partial = "";
      this.lines.push(line);
      const m = /^AT\+PKCSDATA=0,"([^"]*)"$/.exec(line);
      if (m && this.answerMarkers) this.say(`+PKCSDATA: ${Buffer.from(m[1], "base64").length}`, "OK");
    }
  }
}

describe("attack: replies that could be misattributed on the link (scripted device)", () => {
  const RAND = COMMAND_BY_NAME.get("+PKCSRAND")!;
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(cond());
  };

  it("a command in flight when the device restarts fails, and its late answer does not reach the next", async () => {
    const dev = new ScriptedDevice();
    const link = new AtLink(dev.stream, { commandTimeoutMs: LONG, resyncTimeoutMs: LONG });
    const first = link.command(RAND, [1, 4]);
    await until(() => dev.lines.length === 1);
    dev.say("+PKCSRDY: 1");
    await assert.rejects(first, LinkError);
    const second = link.command(RAND, [1, 8]);
    // the first line reached the new start and is answered late; then the marker; then the second
    dev.say('+PKCSRAND: "AAAAAA=="', "OK");
    await until(() => dev.lines.length === 3);
    assert.match(dev.lines[1], /^AT\+PKCSDATA=0,/, "a marker before the next command");
    dev.say('+PKCSRAND: "AAAAAAAAAAA="', "OK");
    const [[r]] = (await second) as Uint8Array[][];
    assert.equal(r.length, 8);
  });

  it("lines nobody asked for put the link out of step until a marker is answered", async () => {
    const dev = new ScriptedDevice();
    const link = new AtLink(dev.stream, { commandTimeoutMs: LONG, resyncTimeoutMs: LONG });
    dev.say('+PKCSRAND: "AAAAAA=="', "OK"); // a stray answer between commands
    await new Promise((r) => setTimeout(r, 20));
    const next = link.command(RAND, [1, 8]);
    await until(() => dev.lines.length === 2);
    assert.match(dev.lines[0], /^AT\+PKCSDATA=0,/);
    dev.say('+PKCSRAND: "AAAAAAAAAAA="', "OK");
    assert.equal(((await next) as Uint8Array[][])[0][0].length, 8);
  });

  it("a device that never answers the marker gets no command; the link tries again on the next call", async () => {
    const dev = new ScriptedDevice();
    dev.answerMarkers = false;
    const link = new AtLink(dev.stream, { commandTimeoutMs: 30, resyncTimeoutMs: 30 });
    await assert.rejects(link.command(RAND, [1, 4]), /did not answer/);
    await assert.rejects(link.command(RAND, [1, 8]), /out of step/);
    assert.equal(dev.lines.filter((l) => l.startsWith("AT+PKCSRAND")).length, 1, "no command sent while out of step");
    dev.answerMarkers = true;
    const third = link.command(RAND, [1, 8]);
    await until(() => dev.lines.filter((l) => l.startsWith("AT+PKCSRAND")).length === 2);
    dev.say('+PKCSRAND: "AAAAAAAAAAA="', "OK");
    assert.equal(((await third) as Uint8Array[][])[0][0].length, 8);
    link.close();
    await assert.rejects(link.command(RAND, [1, 8]), /closed/);
  });
});
