/**
 * `wim sim [--state DIR] [--no-agent] [--socket PATH] [--user-pin PIN] [--so-pin PIN] [--label L] [--ble] [--pair] [--background]`:
 * starts a simulated device (build/wim-sim) and an agent attached to it; prints
 * "ready module=PATH socket=PATH pty=PATH"; provisions a new state directory's token.
 * --ble: the simulator's radio model listens on STATE/ble.sock (WIM_SIM_BLE; docs/ble.md),
 * and the ready line ends with "ble=PATH". --pair: the simulator's agent pairs at start; the simulated
 * user's hand presses the simulated BOOT button through the simulator's control socket
 * (STATE/control.sock). --link PATH: PATH becomes a symlink to the simulator's PTY (for `wim agent`'s
 * watch mode). The PINs given here are the simulator's test PINs (a throwaway token).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { Device } from "../agent/device.js";
import { HostKeys } from "../agent/hostkeys.js";
import { defaultSocketPath } from "../agent/paths.js";
import { openSerial } from "../agent/serial.js";
import { listenAgent } from "../agent/server.js";
import { claimSocket } from "../agent/socket.js";
import { linkPty } from "../agent/watch.js";
import { BUILD, MODULE, type Options, fail, sleep } from "./common.js";
import { stopWith } from "./lifetime.js";
import { pairWith } from "./pair.js";

/** Initializes a fresh token: SO PIN and label, then the user PIN. */
async function provision(device: Device, label: string, soPin: string, userPin: string): Promise<void> {
  await device.run("+PKCSINIT", [soPin, label]);
  const [[h]] = await device.run("+PKCSOPEN", [6]);
  await device.run("+PKCSLOGIN", [h, CKU.SO, soPin]);
  await device.run("+PKCSINITPIN", [h, userPin]);
  await device.run("+PKCSCLOSE", [h]);
}

export async function sim(o: Options): Promise<void> {
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

