/**
 * End-to-end harness: starts `wim sim` (the real simulator binary and the real agent) on a state
 * directory and runs real client programs against build/libwim-pkcs11.so.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startBluez } from "../bluez/harness.js";
import type { Device } from "../../pc/agent/device.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MODULE = path.join(ROOT, "build/libwim-pkcs11.so");

/** A running simulated token. */
export interface SimToken {
  readonly state: string;
  readonly socket: string;
  readonly pty: string;
  /** The radio model's socket (with `--ble`). */
  readonly ble?: string;
  readonly output: string[];
  /** Its standard error, line by line (the agent's notices: `wim: …`). */
  readonly log?: string[];
  stop(): Promise<void>;
}

/**
 * Presses and releases the BOOT button of the simulator on `state` through its control socket
 * (STATE/control.sock, sim/control.c): the simulated user's hand, for pairing.
 */
export async function pressButton(state: string): Promise<void> {
  const sock = net.connect(path.join(state, "control.sock"));
  await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
  sock.write("press\n");
  await new Promise((r) => setTimeout(r, 150));
  sock.write("release\n");
  await new Promise((r) => setTimeout(r, 50));
  sock.destroy();
}

/** Pairs an agent's Device in this process with the simulator on `state` (pressing its button). */
export async function pairDevice(device: Device, state: string): Promise<void> {
  await device.pairStart("test");
  await pressButton(state);
  for (let i = 0; i < 40; i++) {
    const s = await device.pairPoll();
    if (s === 1) return;
    if (s !== 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("pairing with the simulator failed");
}

/** A fresh temporary directory. */
export const tempDir = (tag: string) => mkdtempSync(path.join(os.tmpdir(), `wim-${tag}-`));

/**
 * Which link the client tests' agent uses: the simulator's PTY (`wim sim`'s own agent), or with
 * WIM_E2E_LINK=ble the radio model through the test BlueZ and `wim agent --ble` (make test runs the
 * client tests both ways; docs/ble-pc.md). Tests that start the simulator with --no-agent and drive
 * its PTY themselves are not affected.
 */
export const E2E_LINK: "pty" | "ble" = process.env.WIM_E2E_LINK === "ble" ? "ble" : "pty";

/** A harness option (not one of `wim sim`'s): the token's agent does not pair, the link stays in clear. */
export const NO_PAIR = "--no-pair";

/** The host-key directory of the agents of a simulator state directory (WIM_STATE_DIR; hostkeys.ts). */
export const hostStateDir = (state: string) => path.join(state, "host");

/**
 * Starts `wim sim` on `state` and resolves once it printed its ready line; with WIM_E2E_LINK=ble
 * (and without --no-agent), `socket` is a `wim agent --ble` reaching the simulator over BLE.
 * The token's agent pairs at start (`wim sim --pair`: the simulated hand presses the simulated BOOT
 * button) and talks to the device through the secure channel, unless NO_PAIR is among `extra` or
 * there is no agent (--no-agent: the test drives the PTY itself, in clear). Over BLE the device is
 * paired over the PTY and `wim agent --ble` uses the device key stored then.
 */
export async function startSim(state: string, extra: string[] = []): Promise<SimToken> {
  const pair = !extra.includes(NO_PAIR) && !extra.includes("--no-agent");
  extra = extra.filter((a) => a !== NO_PAIR);
  if (E2E_LINK === "ble" && !extra.includes("--no-agent")) return startSimOverBle(state, pair ? ["--pair", ...extra] : extra);
  return startSimPty(state, pair ? ["--pair", ...extra] : extra);
}

/** `wim sim --ble --no-agent`, the test BlueZ on its radio socket, and `wim agent --ble` as the token's agent. */
async function startSimOverBle(state: string, extra: string[]): Promise<SimToken> {
  const sim = await startSimPty(state, ["--ble", "--no-agent", ...extra]);
  const stops: (() => Promise<void>)[] = [sim.stop];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s();
  };
  try {
    const bluez = await startBluez(sim.ble!);
    stops.push(bluez.stop);
    const agent = await startBleAgent(bluez.busAddress, path.join(state, "agent.sock"), undefined, hostStateDir(state));
    stops.push(agent.stop);
    return { state, socket: agent.socket, pty: sim.pty, ble: sim.ble, output: sim.output, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Starts `wim sim` on `state` and resolves once it printed its ready line; `hostDir`: its agent's host keys (--pair). */
function startSimPty(state: string, extra: string[] = [], hostDir?: string): Promise<SimToken> {
  const socket = path.join(state, "agent.sock");
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), "sim", "--state", state, "--socket", socket, ...extra], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WIM_STATE_DIR: hostDir ?? process.env.WIM_STATE_DIR ?? hostStateDir(state) },
  });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    let stderr = "";
    const log: string[] = [];
    child.stderr!.on("data", (d) => (stderr += d));
    createInterface({ input: child.stderr! }).on("line", (l) => log.push(l));
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      output.push(line);
      const m = /^ready module=(\S+) socket=(\S+) pty=(\S+)(?: ble=(\S+))?$/.exec(line);
      if (!m) return;
      resolve({
        state, socket: m[2], pty: m[3], ble: m[4], output, log,
        stop: () => new Promise<void>((done) => {
          if (child.exitCode !== null) return done();
          child.once("exit", () => done());
          child.kill("SIGTERM");
        }),
      });
    });
    child.once("exit", (code) => reject(new Error(`wim sim exited with ${code}: ${stderr}`)));
  });
}

/** Result of a client program. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with WIM_AGENT_SOCKET set; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], socket: string, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { env: { ...process.env, WIM_AGENT_SOCKET: socket }, encoding: "latin1", maxBuffer: 1 << 24 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
    if (input !== undefined) p.stdin!.end(input);
  });
}

/** Runs pkcs11-tool with our module. */
export function p11(socket: string, ...args: string[]): Promise<RunResult> {
  return run("pkcs11-tool", ["--module", MODULE, ...args], socket);
}

/** A running `wim agent --ble`. */
export interface BleAgent {
  socket: string;
  address: string;
  /** Its standard error (progress: connected, disconnected, reconnecting). */
  log: string[];
  stop(): Promise<void>;
}

/** Starts `wim agent --ble [ADDRESS]` on the bus `busAddress` (host keys in `stateDir`); resolves at its ready line. */
export function startBleAgent(busAddress: string, socket: string, address?: string, stateDir?: string): Promise<BleAgent> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), "agent", "--ble", ...(address ? [address] : []), "--socket", socket], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: busAddress, WIM_STATE_DIR: process.env.WIM_STATE_DIR ?? stateDir ?? path.join(path.dirname(socket), "host") },
  });
  const log: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (l) => log.push(l));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = /^ready module=\S+ socket=(\S+) ble=(\S+)$/.exec(line);
      if (m) resolve({
        socket: m[1], address: m[2], log,
        stop: () => new Promise<void>((done) => {
          if (child.exitCode !== null) return done();
          child.once("exit", () => done());
          child.kill("SIGTERM");
        }),
      });
    });
    child.once("exit", (code) => reject(new Error(`wim agent --ble exited with ${code}:\n${log.join("\n")}`)));
  });
}

/**
 * Starts `wim sim --ble` (plus `extra`): the simulator with its radio model (a simulator without one
 * fails); with --pair, paired with the host keys in `hostDir` (default: the state's own).
 */
export async function startSimBle(state: string, extra: string[] = [], hostDir?: string): Promise<SimToken> {
  return startSimPty(state, ["--ble", ...extra], hostDir);
}
