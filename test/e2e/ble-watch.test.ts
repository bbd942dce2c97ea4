/**
 * Watch mode over Bluetooth LE (docs/agent.md, docs/ble-pc.md): `wim agent --ble-watch` on the test
 * BlueZ with several simulators in range (`wim sim --ble`, one radio-model socket each):
 * - two devices paired with this host: two slots whose IDs are their serials' hashes, a signature on each;
 * - an unpaired device advertising is not connected and gets no slot;
 * - a link cut and made again within the grace period keeps the slot's token;
 * - the same device on a serial port (its PTY linked into a watched directory): the port takes its slot;
 * - one simulator killed: the other signs on; after the grace period its slot has no token;
 * - an impostor advertising that device's name and serial without its key: the handshake fails, no slot
 *   (docs/security.md);
 * - the device restarted: the same slot, its token back, a new pkcs11-tool signs;
 * - with --allow-unpaired the unpaired device is attached too;
 * - `--ble-watch` with no bus to reach: the agent serves anyway and says so once; with a bus but no
 *   BlueZ on it yet, the same, and it finds the devices once BlueZ starts.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { HostKeys } from "../../pc/agent/hostkeys.js";
import { addressFor } from "../bluez/bluez.js";
import { TestBluez } from "../bluez/bluez.js";
import { type PrivateBus, startBus } from "../bluez/daemon.js";
import { type BluezHandle, startBluez } from "../bluez/harness.js";
import { ROOT, type SimToken, p11, startSimBle, tempDir } from "./harness.js";
import { expectedSlot, serialOf, signInSlot, sleep, tokens, until } from "./slots.js";



/** The slots with a token (pkcs11-tool -T: C_GetSlotList(tokenPresent)), by ID. */
async function present(socket: string): Promise<number[]> {
  const r = await p11(socket, "-T");
  return [...r.stdout.matchAll(/^Slot \d+ \(0x([0-9a-f]+)\)/gm)].map((m) => parseInt(m[1], 16)).sort();
}

/** A running `wim agent --ble-watch`; its standard error with the time of each line. */
interface Agent {
  socket: string;
  log: { at: number; line: string }[];
  text(): string;
  stop(): Promise<void>;
}

function startAgent(socket: string, hostDir: string, busAddress: string, extra: string[] = []): Promise<Agent> {
  const env: NodeJS.ProcessEnv = { ...process.env, WIM_STATE_DIR: hostDir, DBUS_SYSTEM_BUS_ADDRESS: busAddress };
  delete env.WIM_WATCH;
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), "agent", "--ble-watch", "--socket", socket, ...extra], {
    stdio: ["ignore", "pipe", "pipe"], env,
  });
  const log: Agent["log"] = [];
  const text = () => log.map((l) => l.line).join("\n");
  createInterface({ input: child.stderr! }).on("line", (line) => log.push({ at: Date.now(), line }));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (/^ready module=\S+ socket=\S+ watch ble$/.test(line)) resolve({
        socket, log, text,
        stop: () => new Promise<void>((done) => {
          if (child.exitCode !== null) return done();
          child.once("exit", () => done());
          child.kill("SIGTERM");
        }),
      });
    });
    child.once("exit", (code) => reject(new Error(`wim agent --ble-watch exited with ${code}:\n${text()}`)));
  });
}

describe("BLE watch mode: wim agent --ble-watch, several devices in radio range of the test BlueZ", function () {
  this.timeout(180_000);
  const dir = tempDir("blewatch");
  const host = path.join(dir, "host"); // this host's keys: both paired devices are paired with it
  const [a, b, u, imp] = ["a", "b", "u", "imp"].map((n) => tempDir(`blewatch-${n}`));
  const radio = (state: string) => path.join(state, "ble.sock"); // `wim sim --ble`'s radio socket
  const sims = new Map<string, SimToken>();
  let bz: BluezHandle | undefined;
  let agent: Agent | undefined;
  let nobus: Agent | undefined;
  let nobusStarted = 0;
  let bus2: PrivateBus | undefined; // a bus on which BlueZ starts late
  let late: Agent | undefined;
  let lateBluez: TestBluez | undefined;
  let agentReady = 0;

  before(async () => {
    new HostKeys(host).hostKey(); // made once, before two simulators pair with it at the same time
    await Promise.all([
      ...[a, b].map(async (s) => sims.set(s, await startSimBle(s, ["--no-agent", "--pair"], host))),
      (async () => sims.set(u, await startSimBle(u, ["--no-agent"], path.join(dir, "other-host"))))(),
    ]);
    // the test BlueZ hears every radio: the impostor's comes later (nothing listens there yet)
    bz = await startBluez([a, b, u, imp].map(radio));
    // serial ports too: a directory of PTY links, empty until the test links one
    agent = await startAgent(path.join(dir, "agent.sock"), host, bz.busAddress, ["--watch", path.join(dir, "wim-*")]);
    agentReady = Date.now();
    nobusStarted = Date.now();
    nobus = await startAgent(path.join(dir, "nobus.sock"), host, `unix:path=${path.join(dir, "no-such-bus")}`);
    bus2 = await startBus();
    late = await startAgent(path.join(dir, "late.sock"), host, bus2.address);
  });
  after(async () => {
    if (process.env.DEBUG_BLEWATCH) console.log(agent?.log.map((l) => `${l.at} ${l.line}`).join("\n"));
    await agent?.stop();
    await nobus?.stop();
    await late?.stop();
    lateBluez?.stop();
    await bus2?.stop();
    await bz?.stop();
    for (const s of sims.values()) await s.stop();
  });

  it("attaches both paired devices, each in its serial's slot, and signs on each", async () => {
    const found = await until("two tokens", async () => {
      const t = await tokens(agent!.socket);
      return t.size === 2 ? t : undefined;
    }, 30_000, () => agent!.text());
    assert.deepEqual([...found.values()].sort(), [serialOf(a), serialOf(b)].sort());
    for (const [id, serial] of found) assert.equal(id, expectedSlot(serial), `slot ID of ${serial}`);
    const attached = agent!.log.filter((l) => /^wim: attached \S+ on BLE [0-9A-F:]{17} as slot 0x[0-9a-f]+ \(secure link\)$/.test(l.line));
    assert.equal(attached.length, 2, agent!.text());
    console.log(`      both slots ${Math.max(...attached.map((l) => l.at)) - agentReady} ms after the agent was ready`);
    for (const s of [a, b]) await signInSlot(agent!.socket, expectedSlot(serialOf(s)), dir, "blewatch");
  });

  it("an unpaired device advertising is not connected and gets no slot", async () => {
    const name = `WIM-${serialOf(u)}`;
    assert.match(agent!.text(), new RegExp(`BLE ${addressFor(name)} \\(${name}\\): not paired with this host: left alone`));
    assert.equal(bz!.bluez.connectsTo(radio(u)), 0, "never connected");
    assert.equal([...(await tokens(agent!.socket)).values()].includes(serialOf(u)), false);
  });

  it("a link cut and made again within the grace period: the slot keeps its token, and signs on", async () => {
    const slotA = expectedSlot(serialOf(a));
    const seen = agent!.log.length, events = agent!.log.filter((l) => /attached|away/.test(l.line)).length;
    const connects = bz!.bluez.connectsTo(radio(a));
    await bz!.bluez.disconnectDevice(radio(a)); // as `bluetoothctl disconnect` would
    await until("the reconnect", () => agent!.log.slice(seen).some((l) => l.line.startsWith(`wim: ${serialOf(a)} reconnected on BLE`)) || undefined, 15_000, () => agent!.text());
    assert.equal(bz!.bluez.connectsTo(radio(a)), connects + 1);
    assert.ok((await present(agent!.socket)).includes(slotA));
    await signInSlot(agent!.socket, slotA, dir);
    assert.equal(agent!.log.filter((l) => /attached|away/.test(l.line)).length, events, "neither detached nor attached again");
  });

  it("the same device on a serial port and over BLE: one slot, and the serial link takes it", async () => {
    const serial = serialOf(a), slotA = expectedSlot(serial);
    const connects = bz!.bluez.connectsTo(radio(a));
    symlinkSync(sims.get(a)!.pty, path.join(dir, "wim-a")); // plugged in: its PTY appears among the watched ports
    await until("the serial link", () => agent!.log.some((l) => l.line.includes(`${serial} is on ${path.join(dir, "wim-a")} too: the serial link takes its slot from BLE`)) || undefined,
      15_000, () => agent!.text());
    const listed = await until("slot a on the serial port", async () => {
      const r = await p11(agent!.socket, "-L");
      // the description (64 characters at most) names the link: "(serial /tmp/…"
      return new RegExp(`\\(0x${slotA.toString(16)}\\): [^\\n]*\\(serial /`).test(r.stdout) ? r : undefined;
    }, 15_000, () => agent!.text());
    assert.equal((await tokens(agent!.socket)).get(slotA), serial, listed.stdout);
    await signInSlot(agent!.socket, slotA, dir);
    await sleep(1_500); // it advertises again once let go over BLE: the agent leaves it to the port
    assert.equal(bz!.bluez.connectsTo(radio(a)), connects, "not connected over BLE again while on the port");
  });

  it("a device that goes away: the other signs on; after the grace period its slot has no token", async () => {
    const slotB = expectedSlot(serialOf(b)), slotA = expectedSlot(serialOf(a));
    const gone = Date.now();
    await sims.get(b)!.stop();
    sims.delete(b);
    await signInSlot(agent!.socket, slotA, dir);
    assert.ok((await present(agent!.socket)).includes(slotB), "within the grace period the slot keeps its token");
    await until("b's slot without its token", async () => ((await present(agent!.socket)).includes(slotB) ? undefined : true), 30_000, () => agent!.text());
    const waited = Date.now() - gone;
    assert.ok(waited >= 9_500, `detached after ${waited} ms: before the grace period`);
    assert.match(agent!.text(), /away for 10000 ms: its slot shows no token/);
    const listed = await p11(agent!.socket, "-L");
    assert.match(listed.stdout, new RegExp(`\\(0x${slotB.toString(16)}\\)`), "the slot stays listed");
    assert.deepEqual([...(await tokens(agent!.socket)).keys()], [slotA]);
    await signInSlot(agent!.socket, slotA, dir);
  });

  it("an impostor advertising the paired device's name and serial without its key fails the handshake: no slot", async () => {
    const serial = serialOf(b);
    mkdirSync(imp, { recursive: true });
    copyFileSync(path.join(b, "flash.bin.id"), path.join(imp, "flash.bin.id")); // its serial, a fresh device key
    const seen = agent!.log.length;
    sims.set(imp, await startSimBle(imp, ["--no-agent"], path.join(dir, "impostor-host")));
    await until("the agent's refusal", () => agent!.log.slice(seen).some((l) => l.line.includes(serial) && /secure link|handshake/.test(l.line)) || undefined,
      30_000, () => agent!.text());
    assert.ok(bz!.bluez.connectsTo(radio(imp)) >= 1, "the agent connected to it");
    assert.equal((await tokens(agent!.socket)).has(expectedSlot(serial)), false, "no token in the device's slot");
    await sims.get(imp)!.stop();
    sims.delete(imp);
  });

  it("the device back: the same slot has its token again and a new pkcs11-tool signs", async () => {
    const serial = serialOf(b), slotB = expectedSlot(serial);
    const seen = agent!.log.length;
    const sim = await startSimBle(b, ["--no-agent"], host);
    const advertising = Date.now(); // its radio socket is up: it advertises from now
    sims.set(b, sim);
    const line = await until("b attached again", () => agent!.log.slice(seen).find((l) => l.line.startsWith(`wim: attached ${serial} on BLE`)), 30_000, () => agent!.text());
    assert.match(line.line, new RegExp(`as slot 0x${slotB.toString(16)} \\(secure link\\)$`));
    console.log(`      back in its slot ${line.at - advertising} ms after it advertised again`);
    assert.equal((await tokens(agent!.socket)).get(slotB), serial);
    await signInSlot(agent!.socket, slotB, dir);
  });

  it("with --allow-unpaired the unpaired device is attached too (in clear)", async () => {
    await agent!.stop();
    agent = await startAgent(path.join(dir, "agent2.sock"), host, bz!.busAddress, ["--allow-unpaired"]);
    const t = await until("three tokens", async () => {
      const t = await tokens(agent!.socket);
      return t.size === 3 ? t : undefined;
    }, 30_000, () => agent!.text());
    assert.equal(t.get(expectedSlot(serialOf(u))), serialOf(u));
    assert.match(agent!.text(), new RegExp(`attached ${serialOf(u)} on BLE \\S+ as slot 0x[0-9a-f]+ \\(clear\\)`));
  });

  it("--ble-watch with no bus to reach: the agent serves, and says so once", async () => {
    const wait = 6_000 - (Date.now() - nobusStarted); // past the first retry
    if (wait > 0) await sleep(wait);
    const said = nobus!.log.filter((l) => /Bluetooth LE: /.test(l.line));
    assert.equal(said.length, 1, nobus!.text());
    assert.match(said[0].line, /trying again every 5 s/);
    const r = await p11(nobus!.socket, "-L"); // the agent answers: no device (not the module's no-agent slot)
    assert.match(r.stdout + r.stderr, /No slots/, r.stdout + r.stderr);
  });

  it("with a bus but no BlueZ yet: the agent serves and says so once; once BlueZ starts it finds the devices", async () => {
    const said = late!.log.filter((l) => /Bluetooth LE: /.test(l.line));
    assert.equal(said.length, 1, late!.text());
    assert.match(said[0].line, /BlueZ \(org\.bluez\) does not answer on this bus/);
    await agent!.stop(); // the devices advertise again for the other agent
    lateBluez = await TestBluez.start(bus2!.address, [a, b].map(radio));
    const started = Date.now();
    const t = await until("both tokens through the late BlueZ", async () => {
      const t = await tokens(late!.socket);
      return t.size === 2 ? t : undefined;
    }, 15_000, () => late!.text());
    assert.deepEqual([...t.values()].sort(), [serialOf(a), serialOf(b)].sort());
    console.log(`      found ${Date.now() - started} ms after BlueZ started (it looks every 5 s)`);
  });
});
