/**
 * `wim` — the PC side's command line.
 *   wim sim [--state DIR] [--no-agent] [--socket PATH] [--user-pin PIN] [--so-pin PIN] [--label L] [--ble] [--background]
 *       starts a simulated device (build/wim-sim) and an agent attached to it; prints
 *       "ready module=PATH socket=PATH pty=PATH"; provisions a new state directory's token.
 *       --ble: the simulator's radio model listens on STATE/ble.sock (WIM_SIM_BLE; docs/ble.md),
 *       and the ready line ends with "ble=PATH".
 *   wim agent [--device PATH | --watch GLOB[:GLOB…]] [--allow-unpaired] [--socket PATH] [--background]
 *       serves PKCS#11 modules for the device on a serial port, or (no --device) for every WIM found on
 *       the serial ports and on --watch / $WIM_WATCH (pc/agent/watch.ts; docs/agent.md).
 *   wim sim … --link PATH: PATH becomes a symlink to the simulator's PTY (for watch mode).
 *   wim agent --ble [ADDRESS] [--socket PATH] [--background]
 *       the same for a device over Bluetooth LE through BlueZ (pc/agent/ble.ts; docs/ble-pc.md):
 *       the device at ADDRESS, else the first one advertising the WIM service; reconnects.
 *   wim pair [--socket PATH | --port PATH]
 *       pairs this host with the device (docs/channel.md): through the running agent, or with --port
 *       on the serial port itself; the user presses the device's BOOT button within 30 s.
 *   wim unpair [--socket PATH | --port PATH]
 *       removes this host from the device's paired hosts (inside the channel) and forgets the device.
 * `wim sim --pair`: the simulator's agent pairs at start; the simulated user's hand presses the
 * simulated BOOT button through the simulator's control socket (STATE/control.sock).
 * The host's key and the paired devices' keys live in $WIM_STATE_DIR (hostkeys.ts).
 *   wim attest KEY [--ca FILE] [--out DIR]
 *       verifies and shows the attestation of a key generated on the device (attest.ts).
 *   wim provision --ca-cert FILE --ca-key FILE
 *       gives the device an identity certificate issued by a CA of the user's (attest.ts).
 * Agents refuse a socket that another agent serves or that sits in an unsafe directory (socket.ts),
 * and stop when their parent goes away unless --background (lifetime.ts).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { CKU, PkcsError } from "../../modules/at/pkcs11.js";
import net from "node:net";
import { CKR } from "../../modules/at/pkcs11.js";
import { Device } from "../agent/device.js";
import { HostKeys } from "../agent/hostkeys.js";
import { AgentClient } from "./agent-client.js";
import { defaultSocketPath } from "../agent/paths.js";
import { BleCentral } from "../agent/ble.js";
import { attachBle } from "../agent/ble-slot.js";
import { openSerial } from "../agent/serial.js";
import { listenAgent } from "../agent/server.js";
import { claimSocket } from "../agent/socket.js";
import { Registry } from "../agent/registry.js";
import { linkPty, watchPorts } from "../agent/watch.js";
import { stopWith } from "./lifetime.js";
import { attest, provision as provisionIdentity, reason } from "./attest.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BUILD = path.join(ROOT, "build");
const MODULE = path.join(BUILD, "libwim-pkcs11.so");

function usage(): never {
  console.error("usage: wim sim [--state DIR] [--no-agent] [--socket PATH] [--user-pin PIN] [--so-pin PIN] [--label LABEL] [--ble] [--pair] [--link PATH] [--background]\n" +
    "       wim agent [--device PATH | --watch GLOB[:GLOB...]] [--allow-unpaired] [--socket PATH] [--background]\n" +
    "       wim agent --ble [ADDRESS] [--socket PATH] [--background]\n" +
    "       wim pair [--socket PATH | --port PATH]\n" +
    "       wim unpair [--socket PATH | --port PATH]\n" +
    "       wim attest KEY-ID-HEX|LABEL [--ca FILE] [--out DIR]\n" +
    "       wim provision --ca-cert FILE --ca-key FILE");
  process.exit(2);
}

/** Parses flags, options with a value, and options whose value may be left out (`optional`). */
function options(args: string[], flags: string[], values: string[], optional: string[] = []): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (optional.includes(a)) out.set(a, i + 1 < args.length && !args[i + 1].startsWith("--") ? args[++i] : true);
    else if (flags.includes(a)) out.set(a, true);
    else if (values.includes(a) && i + 1 < args.length) out.set(a, args[++i]);
    else usage();
  }
  return out;
}

function fail(message: string): never {
  console.error(`wim: ${message}`);
  process.exit(1);
}

/** Initializes a fresh token: SO PIN and label, then the user PIN. */
async function provision(device: Device, label: string, soPin: string, userPin: string): Promise<void> {
  await device.run("+PKCSINIT", [soPin, label]);
  const [[h]] = await device.run("+PKCSOPEN", [6]);
  await device.run("+PKCSLOGIN", [h, CKU.SO, soPin]);
  await device.run("+PKCSINITPIN", [h, userPin]);
  await device.run("+PKCSCLOSE", [h]);
}

async function sim(args: string[]): Promise<void> {
  const o = options(args, ["--no-agent", "--background", "--ble", "--pair"], ["--state", "--socket", "--user-pin", "--so-pin", "--label", "--link"]);
  const stateDir = path.resolve((o.get("--state") as string) ?? path.join(process.env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local/state"), "wim-sim"));
  const exe = path.join(BUILD, "wim-sim");
  const bundle = path.join(BUILD, "firmware.js");
  for (const f of [exe, bundle]) if (!existsSync(f)) fail(`${f} is missing: run 'make build' first`);
  const socket = o.has("--no-agent") ? undefined : ((o.get("--socket") as string) ?? defaultSocketPath());
  if (socket) await claimSocket(socket).catch((e) => fail(e.message)); // before the simulator starts: fail fast
  mkdirSync(stateDir, { recursive: true });
  const flash = path.join(stateDir, "flash.bin");
  const fresh = !existsSync(flash);
  const log = openSync(path.join(stateDir, "sim.log"), "a");
  const ble = o.has("--ble") ? path.join(stateDir, "ble.sock") : undefined;
  if (ble) rmSync(ble, { force: true }); // a stale socket would look like a listening radio
  // WIM_SIM_PARENT: the simulator exits if this process is gone before it could ask to die with it.
  const control = process.env.WIM_SIM_CONTROL ?? path.join(stateDir, "control.sock"); // the simulated hand (--pair)
  const child = spawn(exe, ["--bundle", bundle, "--flash", flash], {
    stdio: ["ignore", "pipe", log],
    env: { ...process.env, WIM_SIM_PARENT: String(process.pid), WIM_SIM_CONTROL: control, ...(ble ? { WIM_SIM_BLE: ble } : {}) },
  });
  process.on("exit", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  });
  stopWith((reason) => {
    if (reason !== "SIGINT" && reason !== "SIGTERM") console.error(`wim: stopping: ${reason}`);
    process.exit(0);
  }, o.has("--background"));
  const pty = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", (line) => (line.startsWith("pty=") ? resolve(line.slice(4)) : reject(new Error(`unexpected: ${line}`))));
    child.once("exit", (code) => reject(new Error(`simulator exited (${code}); see ${stateDir}/sim.log`)));
  }).catch((e) => fail(String(e.message ?? e)));
  child.on("exit", (code) => fail(`simulator exited (${code}); see ${stateDir}/sim.log`));
  if (ble && !(await appears(ble, BLE_SOCKET_WAIT_MS))) {
    fail(`the simulator opened no BLE socket at ${ble} within ${BLE_SOCKET_WAIT_MS} ms (a build/wim-sim without the radio model?)`);
  }

  const device = Device.over(openSerial(pty), { keys: new HostKeys(), linkKind: "serial", log: (t) => console.error(`wim: ${t}`) });
  const link = device.link;
  await device.attach().catch((e) => fail(`device did not answer: ${e.message}`));
  if (o.has("--pair") && !device.channelOpen) {
    await pairWith(device, () => pressButton(control)).catch((e) => fail(`pairing failed: ${e.message}`));
  }
  if (fresh) {
    const label = (o.get("--label") as string) ?? "WIM";
    const soPin = (o.get("--so-pin") as string) ?? "12345678";
    const userPin = (o.get("--user-pin") as string) ?? "123456";
    await provision(device, label, soPin, userPin).catch((e) => fail(`provisioning failed: ${e instanceof PkcsError ? e.message : e}`));
    console.log(`provisioned token "${label}" in ${stateDir}: user PIN ${userPin}, SO PIN ${soPin}`);
  }
  if (!socket) link.close();
  else await listenAgent(device, socket).catch((e) => fail(e.message));
  if (o.has("--link")) linkPty(o.get("--link") as string, pty); // once its own link is closed
  console.log(`ready module=${MODULE} socket=${socket ?? "none"} pty=${pty}${ble ? ` ble=${ble}` : ""}`);
}

/** How long `wim sim --ble` waits for the simulator's radio socket. */
const BLE_SOCKET_WAIT_MS = 5_000;

/** Whether a socket appears at `file` within `ms`. */
async function appears(file: string, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (existsSync(file)) return true;
  }
  return existsSync(file);
}

async function agent(args: string[]): Promise<void> {
  const o = options(args, ["--background", "--allow-unpaired"], ["--device", "--socket", "--watch"], ["--ble"]);
  if (o.has("--ble")) return agentBle(o);
  const dev = o.get("--device") as string | undefined;
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  await claimSocket(socket).catch((e) => fail(e.message));
  stopWith(() => process.exit(0), o.has("--background"));
  const log = (t: string) => console.error(`wim: ${t}`), registry = new Registry();
  await watchPorts(registry, { device: dev, watch: ((o.get("--watch") as string) ?? "").split(":").filter(Boolean), allowUnpaired: o.has("--allow-unpaired"),
    secure: { keys: new HostKeys(), log } }).catch((e) => fail(`device did not answer: ${e.message}`));
  await listenAgent(registry, socket).catch((e) => fail(e.message));
  console.log(`ready module=${MODULE} socket=${socket} ${dev ? `device=${dev}` : "watch"}`);
}

/** How often `wim pair` asks whether the button was pressed (docs/channel.md). */
const PAIR_POLL_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PRESS_PROMPT = (s: number) => `Press the BOOT button on the device within ${s} s`;
const NO_PRESS = "the button was not pressed in time (or another host asked at the same moment): nothing was paired; run `wim pair` again";

/** Pairs a device the agent holds in this process; `press` stands in for the user (wim sim --pair). */
async function pairWith(device: Device, press?: () => Promise<void>): Promise<void> {
  const seconds = await device.pairStart(os.hostname());
  console.error(PRESS_PROMPT(seconds));
  if (press) await press();
  for (;;) {
    await sleep(PAIR_POLL_MS);
    const state = await device.pairPoll();
    if (state === 1) break;
    if (state !== 0) throw new Error(NO_PRESS);
  }
  console.error(`paired with ${device.identity.serial}; the secure channel is ${device.channelOpen ? "open" : "NOT open"}`);
}

/**
 * The simulated user's hand: presses and releases the simulator's BOOT button through its control
 * socket (sim/control.c) — the simulator's stand-in for the person at the device.
 */
async function pressButton(control: string): Promise<void> {
  const sock = net.connect(control);
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  const answers: string[] = [];
  const rl = createInterface({ input: sock });
  rl.on("line", (l) => answers.push(l));
  const say = async (line: string) => {
    const before = answers.filter((a) => a === "ok").length;
    sock.write(line + "\n");
    for (let i = 0; i < 100 && answers.filter((a) => a === "ok").length === before; i++) await sleep(10);
  };
  await say("press");
  await sleep(100);
  await say("release");
  sock.destroy();
}

/** `wim pair` / `wim unpair`: through the running agent, or with --port on the serial port itself. */
async function pairing(args: string[], unpair: boolean): Promise<void> {
  const o = options(args, [], ["--socket", "--port"]);
  const port = o.get("--port") as string | undefined;
  if (port) {
    const device = Device.over(openSerial(port), { keys: new HostKeys(), linkKind: "serial", log: (t) => console.error(`wim: ${t}`) });
    try {
      await device.attach();
      if (unpair) {
        await device.unpair();
        console.error(`unpaired from ${device.identity.serial}`);
      } else await pairWith(device);
    } catch (e) {
      fail((e as Error).message);
    } finally {
      device.link.close();
    }
    process.exit(0);
  }
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  const agent = await AgentClient.connect(socket).catch((e) => fail(`no agent at ${socket} (${e.message}): start one, or give --port PATH`));
  const why = (rv: number) => rv === CKR.FUNCTION_FAILED ? "the device refused (pairing works over the cable only; at most 8 hosts; see the agent's log)" : `CK_RV 0x${rv.toString(16)} (see the agent's log)`;
  try {
    if (unpair) {
      const r = await agent.call("unpair");
      if (r.rv !== CKR.OK) fail(`unpairing failed: ${why(r.rv)}`);
      console.error("unpaired: the device no longer knows this host, and this host forgot the device");
      return;
    }
    const r = await agent.call("pair", os.hostname());
    if (r.rv !== CKR.OK) fail(`pairing failed: ${why(r.rv)}`);
    console.error(PRESS_PROMPT(r.value!));
    for (;;) {
      await sleep(PAIR_POLL_MS);
      const p = await agent.call("pair-status");
      if (p.rv !== CKR.OK) fail(`pairing failed: ${why(p.rv)}`);
      if (p.value === 1) break;
      if (p.value !== 0) fail(NO_PRESS);
    }
    console.error("paired: the agent now talks to the device through the secure channel");
  } finally {
    agent.close();
  }
}

const [command, ...rest] = process.argv.slice(2);
if (command === "sim") await sim(rest);
else if (command === "agent") await agent(rest);
else if (command === "pair") await pairing(rest, false);
else if (command === "unpair") await pairing(rest, true);
else if (command === "attest") await attest(rest, usage).catch((e) => fail(reason(e)));
else if (command === "provision") await provisionIdentity(rest, usage).catch((e) => fail(reason(e)));
else usage();

/**
 * `wim agent --ble [ADDRESS]`: the device through BlueZ (the system bus, or DBUS_SYSTEM_BUS_ADDRESS).
 * A disconnect fails the command in flight (CKR_DEVICE_ERROR); the agent connects again and the
 * device's channels and sessions start afresh, as after a restart.
 */
async function agentBle(o: Map<string, string | true>): Promise<void> {
  if (o.has("--device")) usage();
  const address = o.get("--ble");
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  await claimSocket(socket).catch((e) => fail(e.message));
  const log = (text: string) => console.error(`wim: ${text}`);
  const central = await BleCentral.open({ address: typeof address === "string" ? address : undefined, log }).catch((e) => fail(e.message));
  stopWith(() => void central.shutdown().finally(() => process.exit(0)), o.has("--background"));
  const stream = await central.connect().catch((e) => fail(e.message));
  const registry = new Registry();
  await attachBle(registry, central, stream, { keys: new HostKeys(), log }, log).catch((e) => fail(`device did not answer: ${e.message}`));
  await listenAgent(registry, socket).catch((e) => fail(e.message));
  console.log(`ready module=${MODULE} socket=${socket} ble=${stream.address}`);
}
