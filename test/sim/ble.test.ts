/**
 * The BLE link of the simulator (docs/ble.md): the firmware's BLE transport (modules/wim/ble.ts) on
 * the radio model of sim/ble.c, driven from Node through the model's socket (WIM_SIM_BLE) as the test
 * BlueZ drives it: scan, connect, MTU, subscribe, writes split anywhere, notifications paced through
 * a small stack buffer, faults, disconnects; and the PTY link working beside it.
 * Run: npx mocha test/sim/ble.test.ts (after `make build`).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { constants, mkdtempSync, openSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import tty from "node:tty";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SIM = path.join(ROOT, "build/wim-sim");
const BUNDLE = path.join(ROOT, "build/firmware.js");

import { Central, FAULT, T, sleep } from "./ble-central.js";


/** The PTY as a line-oriented AT port. */
class Pty {
  private received = "";
  constructor(private readonly port: tty.ReadStream) {
    port.on("data", (b: Buffer) => (this.received += b.toString("latin1")));
  }
  async command(line: string, ms = 10_000): Promise<string> {
    this.received = "";
    this.port.write(line + "\r");
    const until = Date.now() + ms;
    while (!/\r\n(OK|ERROR|\+CME ERROR: [^\r]*|\+PKCS ERROR: [^\r]*)\r\n$/.test(this.received)) {
      if (Date.now() > until) throw new Error(`PTY: no final result for ${line}: ${JSON.stringify(this.received)}`);
      await sleep(5);
    }
    return this.received;
  }
}

const value = (response: string, name: string) => {
  const m = new RegExp(`\\+${name}: ([^\\r]*)`).exec(response);
  assert.ok(m, `no +${name} in ${JSON.stringify(response)}`);
  return m[1];
};

describe("wim-sim: AT+PKCS over BLE on the radio model (docs/ble.md)", function () {
  this.timeout(60_000);
  const work = mkdtempSync(path.join(os.tmpdir(), "wim-ble-"));
  const socketPath = path.join(work, "ble.sock");
  let child: ReturnType<typeof spawn>;
  let stderr = "";
  let pty: Pty;
  let port: tty.ReadStream;
  let central: Central;
  let serial: string;

  before(async () => {
    child = spawn(SIM, ["--bundle", BUNDLE, "--flash", path.join(work, "flash.bin")], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WIM_SIM_BLE: socketPath, WIM_SIM_STATS: "1" },
    });
    child.stderr!.on("data", (d) => (stderr += d));
    const ptyPath = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", (line) => resolve(line.replace(/^pty=/, "")));
      child.once("exit", (code) => reject(new Error(`wim-sim exited with ${code}: ${stderr}`)));
    });
    port = new tty.ReadStream(openSync(ptyPath, constants.O_RDWR | constants.O_NOCTTY));
    port.setRawMode(true);
    pty = new Pty(port);
    assert.match(await pty.command("ATE0V1Q0+CMEE=1"), /OK/);
    serial = (await pty.command("AT+GSN")).trim().split("\r\n")[0];
    assert.match(await pty.command('AT+PKCSINIT="12345678","WIM"'), /OK/);
    central = await Central.open(socketPath);
  });

  after(() => {
    central?.close();
    port?.destroy();
    child?.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  });

  it("advertises WIM-<serial>, accepts one central, answers AT+GMM over writes split anywhere", async () => {
    assert.match(serial, /^SIM[0-9A-F]{12}$/i);
    assert.deepEqual(await central.scan(), { connectable: true, name: `WIM-${serial}` });
    await central.connect();
    assert.deepEqual(await central.scan(), { connectable: false, name: `WIM-${serial}` }, "not connectable while connected");
    const other = await Central.open(socketPath);
    try {
      const f = await other.request(T.CONNECT);
      assert.deepEqual([f.type, f.payload[0]], [T.ERROR, 1], "a second central is refused");
      assert.equal(await other.write(Buffer.from("AT\r")), 0x0e, "a central that is not connected cannot write");
    } finally {
      other.close();
    }
    const first = await central.command("ATE0");
    assert.match(first, /OK\r\n$/);
    for (let i = 0; i < 10; i++) assert.equal(await central.command("AT+GMM"), "\r\nWIM token\r\n\r\nOK\r\n");
    assert.equal(await central.command("AT+GSN"), `\r\n${serial}\r\n\r\nOK\r\n`);
  });

  it("notifications carry at most MTU − 3 bytes: 20 at MTU 23, at most 244 after the exchange to 247", async () => {
    central.notifications.length = 0;
    const small = await central.command("AT+PKCSMECH?");
    assert.match(small, /\+PKCSMECH: /);
    assert.ok(central.notifications.length > 5);
    assert.ok(central.notifications.every((n) => n.length <= 20), `sizes ${central.notifications.map((n) => n.length)}`);
    assert.equal(await central.exchangeMtu(247), 247);
    central.notifications.length = 0;
    const big = await central.command("AT+PKCSMECH?");
    assert.equal(big, small, "the same answer at any MTU");
    assert.ok(central.notifications.every((n) => n.length <= 244));
    assert.ok(central.notifications.some((n) => n.length > 20), "the larger MTU is used");
    assert.equal(await central.exchangeMtu(512), 247, "the MTU is exchanged once per connection");
  });

  it("a write longer than MTU − 3 is refused with 0x0D and the device keeps answering", async () => {
    assert.equal(await central.write(Buffer.alloc(245, 0x41)), 0x0d);
    assert.equal(await central.write(Buffer.alloc(1000, 0x41)), 0x0d);
    assert.equal(await central.command("AT+GMM"), "\r\nWIM token\r\n\r\nOK\r\n");
  });

  it("a long reply arrives complete with a 1-packet stack buffer, and with notification delays", async () => {
    const h = value(await central.command("AT+PKCSOPEN=6"), "PKCSOPEN");
    for (const [mtu, buffer, delay] of [[247, 1, 0], [247, 1, 20], [247, 4, 7]] as const) {
      await central.fault(FAULT.BUFFER, buffer);
      await central.fault(FAULT.DELAY, delay);
      const r = await central.command(`AT+PKCSRAND=${h},1024`);
      const b64 = value(r, "PKCSRAND").replace(/"/g, "");
      assert.equal(Buffer.from(b64, "base64").length, 1024, `mtu ${mtu} buffer ${buffer} delay ${delay}`);
    }
    await central.fault(FAULT.CLEAR);
    assert.doesNotMatch(stderr, /over MTU|more than MTU/);
  });

  it("at MTU 23 with a 1-packet buffer and delays, +PKCSMECH? and 1024 random bytes arrive whole", async () => {
    assert.equal(await central.disconnect(), 0x13);
    await central.connect();
    assert.match(await central.command("ATE0"), /OK/);
    const reference = await pty.command("AT+PKCSMECH?");
    await central.fault(FAULT.BUFFER, 1);
    await central.fault(FAULT.DELAY, 15);
    assert.equal(await central.command("AT+PKCSMECH?"), reference);
    const h = value(await central.command("AT+PKCSOPEN=6"), "PKCSOPEN");
    const started = Date.now();
    central.notifications.length = 0;
    const r = await central.command(`AT+PKCSRAND=${h},1024`, 20_000);
    assert.equal(Buffer.from(value(r, "PKCSRAND").replace(/"/g, ""), "base64").length, 1024);
    assert.ok(central.notifications.every((n) => n.length <= 20));
    console.log(`      1024 random bytes at MTU 23: ${central.notifications.length} notifications in ${Date.now() - started} ms`);
    await central.fault(FAULT.CLEAR);
  });

  it("a disconnect mid-reply closes the BLE link's channels and sessions; the PTY link keeps its own", async () => {
    // the PTY's session on its own channel, and one on its channel 0
    const ptyCh = value(await pty.command("AT+PKCSCHO"), "PKCSCHO");
    const ptySession = value(await pty.command(`AT+PKCSCH=${ptyCh};+PKCSOPEN=4`), "PKCSOPEN");
    const ptyHome = value(await pty.command("AT+PKCSCH=0;+PKCSOPEN=4"), "PKCSOPEN");

    // BLE: another link's channel cannot be selected, its sessions are not valid here
    assert.match(await central.command(`AT+CMEE=1;+PKCSCH=${ptyCh}`), /\+CME ERROR: 3/);
    assert.match(await central.command(`AT+PKCSRAND=${ptyHome},16`), /\+PKCS ERROR: 179/);
    const bleCh = value(await central.command("AT+PKCSCHO"), "PKCSCHO");
    const bleSession = value(await central.command(`AT+PKCSCH=${bleCh};+PKCSOPEN=4`), "PKCSOPEN");
    const bleHome = value(await central.command("AT+PKCSCH=0;+PKCSOPEN=4"), "PKCSOPEN");
    assert.match(await pty.command(`AT+PKCSCH=${bleCh}`), /\+CME ERROR: 3/, "nor the other way round");
    assert.match(await pty.command(`AT+PKCSCH=0;+PKCSRAND=${bleHome},16`), /\+PKCS ERROR: 179/);
    const before = value(await pty.command("AT+PKCSTOKEN?"), "PKCSTOKEN").split(",")[4];

    // cut the link while a long reply is on its way
    await central.fault(FAULT.BUFFER, 1);
    await central.fault(FAULT.DELAY, 10);
    await central.fault(FAULT.CUT, 5);
    central.notifications.length = 0;
    const bytes = Buffer.from(`AT+PKCSCH=${bleCh};+PKCSRAND=${bleSession},1024\r`);
    for (let i = 0; i < bytes.length; i += 20) assert.equal(await central.write(bytes.subarray(i, i + 20)), 0);
    const until = Date.now() + 5000;
    while (central.disconnects.length === 0 && Date.now() < until) await sleep(5);
    assert.deepEqual(central.disconnects, [0x08], "the model cut the link (supervision timeout)");
    assert.equal(central.notifications.length, 5);
    assert.doesNotMatch(central.text(), /OK/);
    await central.fault(FAULT.CLEAR);

    // the BLE link's sessions and channel are gone; the PTY's are not
    const after = value(await pty.command("AT+PKCSTOKEN?"), "PKCSTOKEN").split(",")[4];
    assert.equal(before, "5", "the PTY's 2 sessions, BLE's 3");
    assert.equal(after, "2", "only the PTY's sessions are left");
    assert.match(await pty.command(`AT+PKCSCH=${ptyCh};+PKCSRAND=${ptySession},16`), /\+PKCSRAND: /);
    assert.match(await pty.command(`AT+PKCSCH=0;+PKCSRAND=${ptyHome},16`), /\+PKCSRAND: /);

    await central.connect();
    assert.match(await central.command("ATE0"), /OK/, "the new link starts with the defaults (echo on)");
    assert.match(await central.command(`AT+CMEE=1;+PKCSRAND=${bleHome},16`), /\+PKCS ERROR: 179/, "the old session is invalid");
    assert.match(await central.command(`AT+PKCSCH=${bleCh}`), /\+CME ERROR: 3/, "the old channel is gone");
    const fresh = value(await central.command("AT+PKCSOPEN=4"), "PKCSOPEN");
    assert.match(await central.command(`AT+PKCSRAND=${fresh},16`), /\+PKCSRAND: /);
    assert.equal(await pty.command("AT+GMM"), "\r\nWIM token\r\n\r\nOK\r\n");
  });

  it("random MTUs, write splits, buffer sizes and delays: the same answers as over the PTY", async () => {
    const mech = await pty.command("AT+PKCSMECH?");
    const gsn = await pty.command("AT+GSN");
    for (let round = 0; round < 6; round++) {
      assert.equal(await central.disconnect(), 0x13);
      await central.connect();
      const mtu = randomInt(23, 521);
      const buffer = randomInt(1, 6);
      const delay = randomInt(0, 13);
      const what = `round ${round}: MTU ${mtu}, buffer ${buffer}, delay ${delay} ms`;
      if (randomInt(0, 4) > 0) assert.equal(await central.exchangeMtu(mtu), Math.min(mtu, 256), what);
      await central.fault(FAULT.BUFFER, buffer);
      await central.fault(FAULT.DELAY, delay);
      assert.match(await central.command("ATE0"), /OK\r\n$/, what);
      central.notifications.length = 0;
      assert.equal(await central.command("AT+PKCSMECH?"), mech, what);
      assert.equal(await central.command("AT+GSN"), gsn, what);
      assert.ok(central.notifications.every((n) => n.length <= central.mtu - 3), what);
      await central.fault(FAULT.CLEAR);
    }
  });

  it("the socket answers malformed requests with ERROR and drops a central that sends a bad frame; the link goes on", async () => {
    const other = await Central.open(socketPath);
    try {
      const err = async (type: number, payload = Buffer.alloc(0)) => {
        const f = await other.request(type, payload);
        return [f.type, f.payload[0]];
      };
      assert.deepEqual(await err(0x42), [T.ERROR, 3], "unknown type");
      assert.deepEqual(await err(T.SUBSCRIBE, Buffer.from([1])), [T.ERROR, 5], "not connected");
      assert.deepEqual(await err(T.EXCHANGE_MTU, Buffer.from([0x00, 0x01])), [T.ERROR, 5], "not connected");
      assert.deepEqual(await err(T.FAULT, Buffer.from([1, 0])), [T.ERROR, 4], "a fault is 5 bytes");
      assert.deepEqual(await err(T.FAULT, Buffer.from([9, 0, 0, 0, 0])), [T.ERROR, 3], "unknown fault");
      const closed = new Promise<void>((resolve) => other.socket.once("close", () => resolve()));
      other.socket.write(Buffer.from([0, 0])); // a frame of length 0
      await closed;
    } finally {
      other.close();
    }
    assert.equal(await central.command("AT+GMM"), "\r\nWIM token\r\n\r\nOK\r\n");
    assert.match(stderr, /a message of 0 bytes from a central/);
  });

  it("the model's counters: nothing over MTU − 3 was ever sent", async () => {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    const m = /ble: (\d+) notifications delivered; dropped: (\d+) buffer full, (\d+) not subscribed, (\d+) over MTU - 3/.exec(stderr);
    assert.ok(m, stderr);
    console.log(`      model: ${m[0]}`);
    assert.ok(Number(m[1]) > 100);
    assert.equal(Number(m[4]), 0);
    assert.equal(Number(m[2]), 0, "the firmware's pacing never overflowed the stack's buffer");
  });
});
