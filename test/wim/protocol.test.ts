/**
 * The link features of AT+PKCS on the real firmware: logical channels, staging of long values,
 * version negotiation; and the agent's side of them (channel prefix, automatic staging, restart).
 */
import assert from "node:assert/strict";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { CKA, CKF, CKO, CKR, CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { encodeTemplate, ulongValue } from "../../modules/at/template.js";
import type { Value } from "../../modules/at/codec.js";
import { AtEngine } from "../../modules/at/engine.js";
import { Device } from "../../pc/agent/device.js";
import { AtLink, type ByteStream } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { type SimToken, startSim, tempDir } from "../e2e/harness.js";

describe("AT+PKCS link features on the simulator", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  const at = (name: string, values: Value[] = [], before: string[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values, before);
  const rv = async (p: Promise<unknown>) => {
    try {
      await p;
      return CKR.OK;
    } catch (e) {
      if (e instanceof PkcsError) return e.rv;
      return String((e as Error).message);
    }
  };

  before(async () => {
    sim = await startSim(tempDir("proto"), ["--no-agent"]);
    link = new AtLink(openSerial(sim.pty));
    await link.start();
  });
  after(async () => {
    link?.close();
    await sim?.stop();
  });

  it("negotiates the protocol version", async () => {
    assert.deepEqual(await at("+PKCSVER", [1]), [[1]]);
    assert.deepEqual(await at("+PKCSVER", [7]), [[1]]);
    assert.match(String(await rv(at("+PKCSVER", [0]))), /\+CME ERROR: 4/);
  });

  it("keeps sessions and login per channel", async () => {
    const [[ch]] = (await at("+PKCSCHO")) as number[][];
    assert.ok(ch >= 1);
    const [[s1]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION], [`+PKCSCH=${ch}`])) as number[][];
    await at("+PKCSLOGIN", [s1, CKU.USER, "123456"]); // still on channel ch
    await at("+PKCSGENKP", [s1, 0x1040, encodeTemplate([{ type: CKA.EC_PARAMS, value: Uint8Array.of(6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 3, 1, 7) }]), new Uint8Array(0)]);
    const privTpl = encodeTemplate([{ type: CKA.CLASS, value: ulongValue(CKO.PRIVATE_KEY) }]);
    assert.equal((await at("+PKCSFIND", [s1, privTpl])).length, 1, "the logged-in channel sees its private key");
    // channel 0: its own session, not logged in, cannot use channel ch's session
    const [[s0]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION], ["+PKCSCH=0"])) as number[][];
    assert.equal((await at("+PKCSFIND", [s0, privTpl])).length, 0, "another channel is not logged in");
    assert.equal(await rv(at("+PKCSFIND", [s1, privTpl])), CKR.SESSION_HANDLE_INVALID);
    // closing the channel ends its sessions
    await at("+PKCSCHC", [ch]);
    assert.match(String(await rv(at("+PKCSCH", [ch]))), /\+CME ERROR: 3/);
    assert.match(String(await rv(at("+PKCSCHC", [0]))), /\+CME ERROR: 3/);
    await at("+PKCSCLOSE", [s0]);
  });

  it("stages long values with +PKCSDATA and uses them once as \"@\"", async () => {
    const [[s]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION])) as number[][];
    const tpl = encodeTemplate([{ type: CKA.CLASS, value: ulongValue(CKO.PUBLIC_KEY) }]);
    const inline = await at("+PKCSFIND", [s, tpl]);
    assert.deepEqual(await at("+PKCSDATA", [0, tpl.subarray(0, 5)]), [[5]]);
    assert.match(String(await rv(at("+PKCSDATA", [3, tpl.subarray(5)]))), /\+CME ERROR: 50/, "a gap is refused");
    assert.deepEqual(await at("+PKCSDATA", [5, tpl.subarray(5)]), [[tpl.length]]);
    const line = await link.line(`AT+PKCSFIND=${s},"@"`);
    assert.equal(line.final, "OK");
    assert.equal(line.info.length, inline.length);
    assert.match((await link.line(`AT+PKCSFIND=${s},"@"`)).final, /\+CME ERROR: 50/, "staged data is used once");
    // the agent stages by itself when a line would be too long
    const device = new Device(link, 64);
    assert.deepEqual(await device.run("+PKCSFIND", [s, tpl]), inline);
    await at("+PKCSCLOSE", [s]);
  });
});

describe("the agent after a device restart", () => {
  it("drops every session and sets the link up again on +PKCSRDY", async () => {
    // a loopback transport between the agent's link and an AT engine on Node (a test double for the wire)
    let toDevice: (b: Uint8Array) => void = () => {};
    const listeners: ((b: Uint8Array) => void)[] = [];
    const stream: ByteStream = { write: (b) => toDevice(b), onData: (l) => void listeners.push(l), onClose: () => {}, close: () => {} };
    let lines = 0;
    const engine = new AtEngine({
      write: (b) => setImmediate(() => listeners.forEach((l) => l(b.slice()))),
      handlers: new Map([["+PKCSMECH", () => { lines++; return []; }]]),
      identity: { manufacturer: "M", model: "T", revision: "1.0", serial: "S" },
    });
    toDevice = (b) => engine.receive(b);
    const device = new Device(new AtLink(stream));
    await device.attach();
    assert.equal(device.epoch, 0);
    assert.equal(lines, 1);
    engine.unsolicited("+PKCSRDY: 1");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(device.epoch, 1);
    assert.equal(lines, 2, "the link was set up again");
  });
});

describe("a long key generation on the simulator", function () {
  this.timeout(120_000);
  it("reports progress with +PKCSKGP and is cancelled by a byte from the PC, storing nothing", async () => {
    const sim = await startSim(tempDir("cancel"), ["--no-agent"]);
    const link = new AtLink(openSerial(sim.pty));
    try {
      await link.start();
      const at = (name: string, values: Value[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values);
      const [[s]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
      await at("+PKCSLOGIN", [s, CKU.USER, "123456"]);
      const gen = encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(4096) }]);
      // uncancelled: progress lines, then the pair
      const whole = await link.line(`AT+PKCSGENKP=${s},0,"${Buffer.from(gen).toString("base64")}",""`);
      assert.equal(whole.final, "OK");
      const progress = whole.info.filter((l) => l.startsWith("+PKCSKGP: "));
      assert.ok(progress.length >= 2, `progress lines: ${progress.length}`);
      assert.ok(Number(progress[1].slice(10)) > Number(progress[0].slice(10)));
      const before = (await at("+PKCSFIND", [s, new Uint8Array(0)])).length;
      // cancelled shortly after it started
      const running = link.line(`AT+PKCSGENKP=${s},0,"${Buffer.from(gen).toString("base64")}",""`);
      setTimeout(() => link.interrupt(), 30);
      const r = await running;
      assert.equal(r.final, `+PKCS ERROR: ${CKR.FUNCTION_CANCELED}`);
      assert.equal((await link.line("AT")).final, "OK", "the device answers afterwards");
      assert.equal((await at("+PKCSFIND", [s, new Uint8Array(0)])).length, before, "a cancelled generation stores nothing");
    } finally {
      link.close();
      await sim.stop();
    }
  });
});
