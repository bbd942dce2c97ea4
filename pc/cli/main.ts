/**
 * `wim` — the PC side's command line.
 *   wim sim [--state DIR] [--no-agent] [--socket PATH] [--user-pin PIN] [--so-pin PIN] [--label L] [--ble] [--background]
 *       starts a simulated device (build/wim-sim) and an agent attached to it; prints
 *       "ready module=PATH socket=PATH pty=PATH"; provisions a new state directory's token.
 *       --ble: the simulator's radio model listens on STATE/ble.sock (WIM_SIM_BLE; docs/ble.md),
 *       and the ready line ends with "ble=PATH".
 *   wim agent --device PATH [--socket PATH] [--background]
 *       serves PKCS#11 modules for a real device on a serial port.
 *   wim agent --ble [ADDRESS] [--socket PATH] [--background]
 *       the same for a device over Bluetooth LE through BlueZ (pc/agent/ble.ts; docs/ble-pc.md):
 *       the device at ADDRESS, else the first one advertising the WIM service; reconnects.
 *   wim attest KEY [--ca FILE] [--out DIR]
 *       verifies and shows the attestation of a key generated on the device (attest.ts).
 *   wim provision --ca-cert FILE --ca-key FILE
 *       gives the device an identity certificate issued by a CA of the user's (attest.ts).
 * Both agents refuse a socket that another agent serves or that sits in an unsafe directory (socket.ts),
 * and stop when their parent goes away unless --background (lifetime.ts).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { Device } from "../agent/device.js";
import { AtLink } from "../agent/link.js";
import { defaultSocketPath } from "../agent/paths.js";
import { BleCentral, keepConnected } from "../agent/ble.js";
import { openSerial } from "../agent/serial.js";
import { listenAgent } from "../agent/server.js";
import { claimSocket } from "../agent/socket.js";
import { stopWith } from "./lifetime.js";
import { attest, provision as provisionIdentity, reason } from "./attest.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BUILD = path.join(ROOT, "build");
const MODULE = path.join(BUILD, "libwim-pkcs11.so");

function usage(): never {
  console.error("usage: wim sim [--state DIR] [--no-agent] [--socket PATH] [--user-pin PIN] [--so-pin PIN] [--label LABEL] [--ble] [--background]\n" +
    "       wim agent --device PATH [--socket PATH] [--background]\n" +
    "       wim agent --ble [ADDRESS] [--socket PATH] [--background]\n" +
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
  const o = options(args, ["--no-agent", "--background", "--ble"], ["--state", "--socket", "--user-pin", "--so-pin", "--label"]);
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
  const child = spawn(exe, ["--bundle", bundle, "--flash", flash], {
    stdio: ["ignore", "pipe", log],
    env: { ...process.env, WIM_SIM_PARENT: String(process.pid), ...(ble ? { WIM_SIM_BLE: ble } : {}) },
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

  const link = new AtLink(openSerial(pty));
  const device = new Device(link);
  await device.attach().catch((e) => fail(`device did not answer: ${e.message}`));
  if (fresh) {
    const label = (o.get("--label") as string) ?? "WIM";
    const soPin = (o.get("--so-pin") as string) ?? "12345678";
    const userPin = (o.get("--user-pin") as string) ?? "123456";
    await provision(device, label, soPin, userPin).catch((e) => fail(`provisioning failed: ${e instanceof PkcsError ? e.message : e}`));
    console.log(`provisioned token "${label}" in ${stateDir}: user PIN ${userPin}, SO PIN ${soPin}`);
  }
  if (!socket) link.close();
  else await listenAgent(device, socket).catch((e) => fail(e.message));
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
  const o = options(args, ["--background"], ["--device", "--socket"], ["--ble"]);
  if (o.has("--ble")) return agentBle(o);
  const dev = o.get("--device");
  if (typeof dev !== "string") usage();
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  await claimSocket(socket).catch((e) => fail(e.message));
  stopWith(() => process.exit(0), o.has("--background"));
  const link = new AtLink(openSerial(dev));
  const device = new Device(link);
  await device.attach().catch((e) => fail(`device did not answer: ${e.message}`));
  await listenAgent(device, socket).catch((e) => fail(e.message));
  console.log(`ready module=${MODULE} socket=${socket} device=${dev}`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === "sim") await sim(rest);
else if (command === "agent") await agent(rest);
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
  const device = new Device(new AtLink(stream));
  await device.attach().catch((e) => fail(`device did not answer: ${e.message}`));
  keepConnected(central, stream, (s) => device.relink(new AtLink(s)), log);
  await listenAgent(device, socket).catch((e) => fail(e.message));
  console.log(`ready module=${MODULE} socket=${socket} ble=${stream.address}`);
}
