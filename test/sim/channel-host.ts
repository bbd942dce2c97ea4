/**
 * A test host for the secure channel (docs/channel.md) on the simulator: starts build/wim-sim on a
 * flash file with its control socket (the BOOT button), talks raw bytes to its PTY and keeps a tap of
 * every byte in both directions, and plays the PC's part with modules/wim/noise.ts and the PC's suite
 * (pc/agent/noise-p256.ts): pairing, the handshake, sealing command lines and opening the answers.
 * The agent's own version lives in pc/agent/; this one is the tests' and stays small on purpose.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants, openSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import tty from "node:tty";
import { fileURLToPath } from "node:url";
import { type Value, decodeResponse, encodeCommand } from "../../modules/at/codec.js";
import { CKF, CKU } from "../../modules/at/pkcs11.js";
import { COMMAND_BY_NAME, readForm } from "../../modules/at/table.js";
import { IkInitiator, type Transport } from "../../modules/wim/noise.js";
import { p256Key, p256Suite } from "../../pc/agent/noise-p256.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SIM = path.join(ROOT, "build/wim-sim");
export const BUNDLE = path.join(ROOT, "build/firmware.js");
export const PROLOGUE = "WIM AT+PKCS channel 1";
/** A final result code at the end of a response (V1). */
const FINAL = /\r\n(OK|ERROR|\+CME ERROR: [^\r]*|\+PKCS ERROR: [^\r]*)\r\n$/;

export type HostKey = ReturnType<typeof p256Key>;
export const newHostKey = (): HostKey => p256Key();

/** The PINs provision() sets. */
export const SO_PIN = "12345678";
export const USER_PIN = "123456";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ready()` or `ms` passed; true if ready. */
async function until(ready: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/** The response lines of `name` (set form, or "+NAME?" for a read form) in a response text. */
export function values(name: string, text: string): Value[][] {
  const read = name.endsWith("?");
  const base = COMMAND_BY_NAME.get(read ? name.slice(0, -1) : name)!;
  const spec = read ? readForm(base) ?? base : base;
  const out: Value[][] = [];
  for (const line of text.split("\r\n")) {
    const v = decodeResponse(spec, line);
    if (v && !("fault" in v)) out.push(v);
  }
  return out;
}

/** A command line from the table: "+PKCSOPEN" and its values → "AT+PKCSOPEN=6". */
export function line(name: string, args: Value[] = []): string {
  if (name.endsWith("?")) return "AT" + name;
  return encodeCommand(COMMAND_BY_NAME.get(name)!, args);
}

/** A running simulator seen from a host. */
export class SimHost {
  /** Every byte the host wrote to the PTY, and every byte the device wrote. */
  readonly tapOut: Buffer[] = [];
  readonly tapIn: Buffer[] = [];
  /** Device output not parsed yet. */
  private pending = Buffer.alloc(0);
  /** Clear text and opened record text since the last command. */
  clearText = "";
  recordText = "";
  /** Records that failed to open on the host. */
  badRecords = 0;
  /** The running session's cipher states, undefined in clear. */
  transport: Transport | undefined;
  /** Sessions the device ended (+PKCSSEC: 0 seen). */
  sessionsEnded = 0;
  private ctlLines: string[] = [];
  /** True once the simulator exited (a power cut: exit 99). */
  dead = false;

  private constructor(readonly child: ChildProcess, readonly port: tty.ReadStream, readonly ctl: net.Socket | undefined,
    readonly exited: Promise<number>, private readonly err: () => string) {
    port.on("data", (d: Buffer) => {
      this.tapIn.push(Buffer.from(d));
      this.pending = Buffer.concat([this.pending, d]);
      this.parse();
    });
    port.on("error", () => {});
    void exited.then(() => (this.dead = true));
    if (ctl) createInterface({ input: ctl }).on("line", (l) => this.ctlLines.push(l));
  }

  /** Starts wim-sim on `flash` with a control socket at `control` (and the given extra environment). */
  static async start(flash: string, opts: { control?: string; cutAfter?: number; env?: Record<string, string> } = {}): Promise<SimHost> {
    const args = ["--bundle", BUNDLE, "--flash", flash];
    if (opts.cutAfter !== undefined) args.push("--cut-after", String(opts.cutAfter));
    const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
    if (opts.control) env.WIM_SIM_CONTROL = opts.control;
    const child = spawn(SIM, args, { stdio: ["ignore", "pipe", "pipe"], env });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    const exited = new Promise<number>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))));
    const pty = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (l) => {
        const m = /^pty=(\S+)$/.exec(l);
        if (m) resolve(m[1]);
      });
      exited.then((code) => reject(new Error(`wim-sim exited with ${code}: ${err}`)));
    });
    const port = new tty.ReadStream(openSync(pty, constants.O_RDWR | constants.O_NOCTTY));
    port.setRawMode(true);
    let ctl: net.Socket | undefined;
    if (opts.control) {
      ctl = net.createConnection(opts.control);
      await new Promise<void>((resolve, reject) => ctl!.once("connect", resolve).once("error", reject));
    }
    const host = new SimHost(child, port, ctl, exited, () => err);
    await sleep(50); // the boot's +PKCSRDY
    await host.setup();
    return host;
  }

  stderr(): string {
    return this.err();
  }

  /** Everything tapped in one direction, as latin1 text. */
  tapped(direction: "in" | "out"): Buffer {
    return Buffer.concat(direction === "in" ? this.tapIn : this.tapOut);
  }

  async stop(): Promise<number> {
    this.port.destroy();
    this.ctl?.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }

  /** Writes raw bytes to the PTY (an attacker on the line does the same). */
  raw(bytes: Uint8Array | string): void {
    const b = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : Buffer.from(bytes);
    this.tapOut.push(b);
    this.port.write(b);
  }

  /** A control-socket command ("press", "release", "mem?"): its answer line. */
  async control(command: string): Promise<string> {
    const before = this.ctlLines.length;
    this.ctl!.write(command + "\n");
    // the LED's changes arrive on the same socket: the answer is the first line that is not one
    const isAnswer = (l: string) => !/^led=/.test(l);
    await until(() => this.ctlLines.slice(before).some(isAnswer) || this.dead, 3000);
    const i = this.ctlLines.findIndex((l, k) => k >= before && isAnswer(l));
    const answer = i < 0 ? "(no answer)" : this.ctlLines[i];
    if (i >= 0) this.ctlLines.splice(i, 1);
    return answer;
  }

  /** The LED's last state sent on the control socket ("led=0" / "led=1"), or undefined. */
  lastLed(): string | undefined {
    return this.ctlLines.filter((l) => /^led=/.test(l)).pop();
  }

  /** LED changes seen on the control socket so far. */
  ledChanges(): number {
    return this.ctlLines.filter((l) => /^led=/.test(l)).length;
  }

  private parse(): void {
    while (this.pending.length) {
      if (this.transport && this.pending[0] === 2) {
        if (this.pending.length < 3) return;
        const len = (this.pending[1] << 8) | this.pending[2];
        if (this.pending.length < 3 + len) return;
        const header = new Uint8Array(this.pending.subarray(0, 3));
        const body = new Uint8Array(this.pending.subarray(3, 3 + len));
        this.pending = this.pending.subarray(3 + len);
        try {
          this.recordText += Buffer.from(this.transport.receive.decrypt(header, body)).toString("latin1");
        } catch {
          this.badRecords++;
        }
      } else {
        let i = this.transport ? this.pending.indexOf(2) : -1;
        if (i < 0) i = this.pending.length;
        this.clearText += this.pending.subarray(0, i).toString("latin1");
        this.pending = this.pending.subarray(i);
        if (this.clearText.includes("\r\n+PKCSSEC: 0\r\n") && this.transport) {
          this.transport = undefined;
          this.sessionsEnded++;
        }
      }
    }
  }

  /** Ends any partial line, then echo off and numeric errors (the defaults return after a session ends). */
  async setup(): Promise<void> {
    this.raw("\r");
    await sleep(30);
    await this.clear("ATE0+CMEE=1");
  }

  /** Sends a command line in clear; its whole response text (up to the final result code). */
  async clear(text: string, ms = 5000): Promise<string> {
    this.clearText = "";
    this.raw(text + "\r");
    if (!(await until(() => FINAL.test(this.clearText) || this.dead, ms)) || !FINAL.test(this.clearText)) {
      return `(no answer: ${JSON.stringify(this.clearText)})`;
    }
    return this.clearText;
  }

  /** Sends a command line as a record; its whole response text (opened), or "(no answer…)". */
  async secure(text: string, ms = 5000): Promise<string> {
    const transport = this.transport;
    if (!transport) throw new Error("no session");
    this.recordText = "";
    this.raw(seal(transport, text + "\r"));
    if (!(await until(() => FINAL.test(this.recordText) || this.dead, ms)) || !FINAL.test(this.recordText)) {
      return `(no answer: ${JSON.stringify(this.recordText)})`;
    }
    return this.recordText;
  }

  /** AT+PKCSPAIR with `key`; presses (and releases) the button if `press`; polls AT+PKCSPAIRC to the end. */
  async pair(key: HostKey, name: string, press: boolean): Promise<{ answer: string; state: number; deviceKey?: Uint8Array }> {
    const answer = await this.clear(line("+PKCSPAIR", [key.publicKey, name]));
    if (!/\+PKCSPAIR: 30\r\n/.test(answer)) return { answer, state: -1 };
    if (press) {
      await sleep(100);
      await this.control("press");
      await sleep(50);
      if (!this.dead) await this.control("release");
    }
    return { answer, ...(await this.pairState(35_000)) };
  }

  /** Polls AT+PKCSPAIRC every 250 ms until the window is no longer waiting. */
  async pairState(ms: number): Promise<{ state: number; deviceKey?: Uint8Array }> {
    const end = Date.now() + ms;
    for (;;) {
      const got = values("+PKCSPAIRC", await this.clear(line("+PKCSPAIRC"))) as [number, Uint8Array][];
      if (!got.length) return { state: -1 };
      const [[state, deviceKey]] = got;
      if (state !== 0 || Date.now() > end) return { state, deviceKey: state === 1 ? deviceKey : undefined };
      await sleep(250);
    }
  }

  /** The device's serial (+GSN). */
  async serial(): Promise<string> {
    const text = await this.clear("AT+GSN");
    return text.split("\r\n").filter((l) => l && l !== "OK")[0];
  }

  /**
   * The handshake as `key` with the device's channel key `deviceKey`: true once the session runs;
   * false (with the device's answer in `lastAnswer`) if the device refused.
   */
  async handshake(key: HostKey, deviceKey: Uint8Array, serial: string): Promise<boolean> {
    const init = new IkInitiator(p256Suite, key, deviceKey, Buffer.from(PROLOGUE + serial, "latin1"));
    const answer = await this.clear(line("+PKCSHS", [init.writeMessage1()]));
    this.lastAnswer = answer;
    if (!answer.endsWith("\r\nOK\r\n")) return false;
    const [[m2]] = values("+PKCSHS", answer) as [[Uint8Array]];
    this.transport = init.readMessage2(m2).transport;
    return true;
  }

  lastAnswer = "";

  /** Waits for the device's +PKCSSEC: 0 (the session ended); true if it came. */
  async sessionEnd(ms = 3000): Promise<boolean> {
    return until(() => this.transport === undefined, ms);
  }
}

/** One record of `text` sealed with the session's send state. */
export function seal(transport: Transport, text: string): Uint8Array {
  const pt = Buffer.from(text, "latin1");
  const len = pt.length + 16;
  const header = Uint8Array.of(2, len >> 8, len & 0xff);
  const ct = transport.send.encrypt(header, pt);
  const out = new Uint8Array(3 + ct.length);
  out.set(header);
  out.set(ct, 3);
  return out;
}

function expectOk(text: string): void {
  if (!/\r\nOK\r\n$/.test(text)) throw new Error("provisioning failed: " + JSON.stringify(text));
}

/** Provisions the token in clear (before any pairing): label "chan", SO_PIN, USER_PIN. */
export async function provision(host: SimHost): Promise<void> {
  expectOk(await host.clear(line("+PKCSINIT", [SO_PIN, "chan"])));
  const [[h]] = values("+PKCSOPEN", await host.clear(line("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION]))) as number[][];
  expectOk(await host.clear(line("+PKCSLOGIN", [h, CKU.SO, SO_PIN])));
  expectOk(await host.clear(line("+PKCSINITPIN", [h, USER_PIN])));
  expectOk(await host.clear(line("+PKCSCLOSE", [h])));
}
