/**
 * The simulator as a bare device for the store's tests and figures: runs build/wim-sim on a flash
 * file (optionally with --cut-after N and WIM_SIM_STATS=1) and talks AT+PKCS to it over its PTY with
 * the agent's link (pc/agent/link.ts), without an agent or the CLI in between.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Value } from "../../modules/at/codec.js";
import { CKU } from "../../modules/at/pkcs11.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { rvOf } from "../rv.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SIM = path.join(ROOT, "build/wim-sim");
export const BUNDLE = path.join(ROOT, "build/firmware.js");

/** Flash-statistics line of wim-sim (WIM_SIM_STATS=1). */
export interface FlashStats {
  writes: number;
  erases: number;
  bytes: number;
  perSector: number[];
}

/** How many starts saw the boot's +PKCSRDY line (the others waited 60 ms for it). */
export let readyLines = 0;

/** A running simulator and its AT link. */
export interface SimDevice {
  /** Runs one AT+PKCS command by table name. */
  at(name: string, values?: Value[]): Promise<Value[][]>;
  /** Runs a command and gives its CK_RV (0 on success) instead of throwing. */
  rv(name: string, values?: Value[]): Promise<number>;
  /** Resolves with the exit status once the process ended (99: power cut). */
  readonly exited: Promise<number>;
  /** Everything the simulator wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit status. */
  stop(): Promise<number>;
}

/** Starts wim-sim on `flash`; resolves once its PTY is open and the link is set up. */
export async function startDevice(flash: string, opts: { cutAfter?: number; stats?: boolean; flashSize?: number } = {}): Promise<SimDevice> {
  const args = ["--bundle", BUNDLE, "--flash", flash];
  if (opts.flashSize !== undefined) args.push("--flash-size", String(opts.flashSize));
  if (opts.cutAfter !== undefined) args.push("--cut-after", String(opts.cutAfter));
  const env = { ...process.env, WIM_SIM_STATS: opts.stats ? "1" : "0" };
  const child: ChildProcess = spawn(SIM, args, { stdio: ["ignore", "pipe", "pipe"], env });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  const pty = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (line) => {
      const m = /^pty=(\S+)$/.exec(line);
      if (m) resolve(m[1]);
    });
    exited.then((code) => reject(new Error(`wim-sim exited with ${code} before its pty line: ${err}`)));
  });
  const link = new AtLink(openSerial(pty));
  // a power cut closes the PTY: pending commands then fail with a LinkError
  exited.then(() => link.close());
  // the boot's +PKCSRDY was written before the pty= line: let it arrive before the first command (else
  // the link takes it for a restart under that command); it may also be gone: then wait only briefly
  let sawReady = false;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 60);
    link.onUnsolicited = (text) => {
      if (!text.startsWith("+PKCSRDY")) return;
      sawReady = true;
      clearTimeout(timer);
      resolve();
    };
  });
  readyLines += sawReady ? 1 : 0;
  await Promise.race([link.start(), exited.then((code) => { throw new Error(`wim-sim exited with ${code} during link setup`); })]);
  const at = (name: string, values: Value[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values);
  return {
    at,
    rv: async (name, values = []) => {
      return rvOf(at(name, values));
    },
    exited,
    stderr: () => err,
    stop: async () => {
      link.close();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** Parses the WIM_SIM_STATS=1 lines of a finished simulator's stderr. */
export function flashStats(stderr: string): FlashStats {
  const m = /flash stats: (\d+) writes, (\d+) erases, \d+ sectors, max erases of a sector \d+, (\d+) bytes written/.exec(stderr);
  const c = /flash erase counts:((?: \d+)+)/.exec(stderr);
  if (!m || !c) throw new Error(`no flash statistics in: ${stderr}`);
  return { writes: +m[1], erases: +m[2], bytes: +m[3], perSector: c[1].trim().split(" ").map(Number) };
}

/** Provisions a fresh flash file: token label, SO PIN, user PIN (as `wim sim` does). */
export async function provision(flash: string, label: string, soPin: string, userPin: string, flashSize?: number): Promise<void> {
  const dev = await startDevice(flash, { flashSize });
  await dev.at("+PKCSINIT", [soPin, label]);
  const [[h]] = (await dev.at("+PKCSOPEN", [6])) as number[][];
  await dev.at("+PKCSLOGIN", [h, CKU.SO, soPin]);
  await dev.at("+PKCSINITPIN", [h, userPin]);
  await dev.at("+PKCSCLOSE", [h]);
  await dev.stop();
}
