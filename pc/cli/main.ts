/**
 * `wim` — the PC side's command line.
 *   wim sim [--state DIR] [--no-agent] [--socket PATH] [--user-pin PIN] [--so-pin PIN] [--label L]
 *       starts a simulated device (build/wim-sim) and an agent attached to it; prints
 *       "ready module=PATH socket=PATH pty=PATH"; provisions a new state directory's token.
 *   wim agent --device PATH [--socket PATH]
 *       serves PKCS#11 modules for a real device on a serial port.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, unlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { Device } from "../agent/device.js";
import { AtLink } from "../agent/link.js";
import { defaultSocketPath } from "../agent/paths.js";
import { openSerial } from "../agent/serial.js";
import { serve } from "../agent/server.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BUILD = path.join(ROOT, "build");
const MODULE = path.join(BUILD, "libwim-pkcs11.so");

function usage(): never {
  console.error("usage: wim sim [--state DIR] [--no-agent] [--socket PATH] [--user-pin PIN] [--so-pin PIN] [--label LABEL]\n" +
    "       wim agent --device PATH [--socket PATH]");
  process.exit(2);
}

function options(args: string[], flags: string[], values: string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (flags.includes(a)) out.set(a, true);
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
  const o = options(args, ["--no-agent"], ["--state", "--socket", "--user-pin", "--so-pin", "--label"]);
  const stateDir = path.resolve((o.get("--state") as string) ?? path.join(process.env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local/state"), "wim-sim"));
  const exe = path.join(BUILD, "wim-sim");
  const bundle = path.join(BUILD, "firmware.js");
  for (const f of [exe, bundle]) if (!existsSync(f)) fail(`${f} is missing: run 'make build' first`);
  mkdirSync(stateDir, { recursive: true });
  const flash = path.join(stateDir, "flash.bin");
  const fresh = !existsSync(flash);
  const log = openSync(path.join(stateDir, "sim.log"), "a");
  const child = spawn(exe, ["--bundle", bundle, "--flash", flash], { stdio: ["ignore", "pipe", log] });
  const pty = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once("line", (line) => (line.startsWith("pty=") ? resolve(line.slice(4)) : reject(new Error(`unexpected: ${line}`))));
    child.once("exit", (code) => reject(new Error(`simulator exited (${code}); see ${stateDir}/sim.log`)));
  }).catch((e) => fail(String(e.message ?? e)));
  const stop = () => {
    child.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  child.on("exit", (code) => fail(`simulator exited (${code}); see ${stateDir}/sim.log`));

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
  let socket = "none";
  if (o.has("--no-agent")) {
    link.close();
  } else {
    socket = (o.get("--socket") as string) ?? defaultSocketPath();
    serve(device, socket);
    process.on("exit", () => {
      try { unlinkSync(socket); } catch { /* already gone */ }
    });
  }
  console.log(`ready module=${MODULE} socket=${socket} pty=${pty}`);
}

async function agent(args: string[]): Promise<void> {
  const o = options(args, [], ["--device", "--socket"]);
  const dev = o.get("--device");
  if (typeof dev !== "string") usage();
  const link = new AtLink(openSerial(dev));
  const device = new Device(link);
  await device.attach().catch((e) => fail(`device did not answer: ${e.message}`));
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  serve(device, socket);
  process.on("SIGINT", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
  process.on("exit", () => {
    try { unlinkSync(socket); } catch { /* already gone */ }
  });
  console.log(`ready module=${MODULE} socket=${socket} device=${dev}`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === "sim") await sim(rest);
else if (command === "agent") await agent(rest);
else usage();
