/**
 * Watch mode (docs/agent.md): the agent looks for WIM devices on serial ports — every second, and at
 * once when /dev or a watched directory changes — and attaches each one to the registry; a port whose
 * link dies is detached, and the same device on any port later gets its slot back.
 *
 * A candidate is opened and asked only the identification: AT+GCAP (a WIM answers "+GCAP: +PKCS"),
 * then AT+GSN (its serial). A port that answers anything else, or nothing within the probe timeout,
 * is closed and left alone until it changes (another device, inode or ctime); nothing more is ever
 * written to it. A WIM device is attached only if this host is paired with it (the secure link then
 * proves the device's key before anything else is sent), unless `allowUnpaired` (docs/security.md).
 */
import { type FSWatcher, lstatSync, readdirSync, realpathSync, statSync, symlinkSync, unlinkSync, watch } from "node:fs";
import path from "node:path";
import { Device, type SecureOptions } from "./device.js";
import type { ByteStream, LinkOptions } from "./link.js";
import type { Registry } from "./registry.js";
import { openSerial } from "./serial.js";

/** The serial ports a WIM may appear on (Linux: USB CDC ACM, USB-UART bridges, and their stable names). */
export const DEFAULT_WATCH = ["/dev/ttyACM*", "/dev/ttyUSB*", "/dev/serial/by-id/*"];
/** How often the ports are listed. */
export const SCAN_INTERVAL_MS = 1_000;
/** How long a candidate has to answer each identification command. */
export const PROBE_TIMEOUT_MS = 1_500;

export interface WatchOptions {
  /** Paths or globs (a `*` or `?` in the last component only). */
  globs: string[];
  /** The secure link's settings (host keys; the notices). */
  secure: SecureOptions;
  /** Attach devices this host is not paired with (they talk in clear). */
  allowUnpaired?: boolean;
  probeTimeoutMs?: number;
  intervalMs?: number;
  linkOptions?: LinkOptions;
  /** One line per attach, detach or port left alone. */
  log?: (text: string) => void;
  /** Opens a port (tests: a fake). */
  open?: (file: string) => ByteStream;
}

/** The globs of $WIM_WATCH (colon-separated). */
export function watchFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.WIM_WATCH ?? "").split(":").filter((s) => s.length > 0);
}

/** The paths a glob names now (a `*` or `?` in the last component; the directory as given). */
export function expandGlob(pattern: string): string[] {
  const dir = path.dirname(pattern), base = path.basename(pattern);
  if (!/[*?]/.test(base)) return [pattern];
  const re = new RegExp("^" + base.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
  try {
    return readdirSync(dir).filter((n) => re.test(n)).sort().map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

/** What a port is now: a port that changes is probed again. */
function signature(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}:${st.rdev}:${st.ctimeMs}`;
  } catch {
    return undefined;
  }
}

/**
 * A probe's view of a stream: the identification lines it reads, then the stream as it was for the
 * Device (the bytes after the probe go to the Device's listeners only).
 */
export class ProbedStream implements ByteStream {
  private listeners: ((b: Uint8Array) => void)[] = [];
  private lines: string[] = [];
  private partial = "";
  private wake: (() => void) | undefined;
  private probing = true;
  private closed = false;

  constructor(private readonly raw: ByteStream) {
    raw.onData((b) => {
      if (!this.probing) return this.listeners.forEach((l) => l(b));
      for (const c of b) this.partial += String.fromCharCode(c);
      const parts = this.partial.split(/\r\n|\r|\n/);
      this.partial = parts.pop()!;
      this.lines.push(...parts.filter((l) => l.length));
      this.wake?.();
    });
    raw.onClose(() => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** Sends one identification command; its information lines, or undefined (no OK in time). */
  async ask(command: string, timeoutMs: number): Promise<string[] | undefined> {
    this.lines = [];
    this.raw.write(new TextEncoder().encode(command + "\r"));
    const end = Date.now() + timeoutMs;
    for (;;) {
      const final = this.lines.findIndex((l) => l === "OK" || l === "ERROR" || l.startsWith("+CME ERROR"));
      if (final >= 0) return this.lines[final] === "OK" ? this.lines.slice(0, final).filter((l) => l !== command) : undefined;
      const left = end - Date.now();
      if (left <= 0 || this.closed) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => (clearTimeout(t), resolve());
      });
      this.wake = undefined;
    }
  }

  /** The probe is over: from now on the bytes are the Device's. */
  handOver(): void {
    this.probing = false;
  }

  write(bytes: Uint8Array): void {
    this.raw.write(bytes);
  }
  onData(listener: (bytes: Uint8Array) => void): void {
    this.listeners.push(listener);
  }
  onClose(listener: () => void): void {
    this.raw.onClose(listener);
  }
  close(): void {
    this.raw.close();
  }
}

/**
 * Asks a port the AT+PKCS identification: its serial if it is a WIM, else undefined. Only AT+GCAP is
 * written to a port that does not answer "+PKCS", and only AT+GCAP and AT+GSN to one that does.
 */
export async function identify(stream: ProbedStream, timeoutMs: number): Promise<string | undefined> {
  const cap = await stream.ask("AT+GCAP", timeoutMs);
  if (!cap?.some((l) => /^\+GCAP:.*\+PKCS\b/.test(l))) return undefined;
  const gsn = await stream.ask("AT+GSN", timeoutMs);
  const serial = gsn?.find((l) => l.length > 0);
  return serial && serial.length <= 64 ? serial : undefined;
}

/** Watches serial ports for WIM devices and keeps the registry's slots attached. */
export class Watcher {
  /** Attached devices by the port's real path. */
  private readonly attached = new Map<string, Device>();
  /** Ports left alone, until their signature changes. */
  private readonly ignored = new Map<string, string | undefined>();
  private readonly busy = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly fsWatchers: FSWatcher[] = [];
  private soon: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** The scans, one after the other. */
  private scanning: Promise<void> = Promise.resolve();

  constructor(private readonly registry: Registry, private readonly options: WatchOptions) {}

  /** Scans now, then every interval and on changes of the watched directories. */
  start(): void {
    this.rescan();
    this.timer = setInterval(() => this.rescan(), this.options.intervalMs ?? SCAN_INTERVAL_MS);
    this.timer.unref?.();
    const dirs = new Set(["/dev", ...this.options.globs.map((g) => path.dirname(g))]);
    for (const dir of dirs) {
      try {
        const w = watch(dir, () => this.rescanSoon());
        w.on("error", () => undefined);
        this.fsWatchers.push(w);
      } catch {
        // not watchable (missing, or no inotify): the interval still finds it
      }
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    for (const w of this.fsWatchers.splice(0)) w.close();
    for (const d of this.attached.values()) this.registry.detach(d);
    this.attached.clear();
  }

  private rescanSoon(): void {
    if (this.soon || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.rescan();
    }, 50);
  }

  private rescan(): void {
    if (this.stopped) return;
    this.scanning = this.scanning.then(() => this.scan());
  }

  /**
   * One pass: every candidate port not attached, not being probed and not left alone is probed. The
   * probes run on their own: a port that answers slowly holds up only itself.
   */
  private async scan(): Promise<void> {
    const seen = new Set<string>();
    for (const glob of this.options.globs) {
      for (const file of expandGlob(glob)) {
        let real: string;
        try {
          real = realpathSync(file);
        } catch {
          continue; // a dangling link (a simulator that went away)
        }
        if (seen.has(real)) continue;
        seen.add(real);
        if (this.attached.has(real) || this.busy.has(real)) continue;
        const sig = signature(real);
        if (this.ignored.has(real) && this.ignored.get(real) === sig) continue;
        this.ignored.delete(real);
        void this.attachPort(file, real).catch(() => undefined);
      }
    }
  }

  /**
   * Opens, identifies and attaches the port `file` (real path `real`); rejects with the reason it
   * was left alone. `wim agent --device PATH` calls it for its one port first.
   */
  async attachPort(file: string, real = realpathSync(file)): Promise<Device> {
    const log = this.options.log ?? (() => undefined);
    this.busy.add(real);
    const sig = signature(real);
    let raw: ByteStream | undefined;
    try {
      raw = (this.options.open ?? openSerial)(real);
      const probed = new ProbedStream(raw);
      const serial = await identify(probed, this.options.probeTimeoutMs ?? PROBE_TIMEOUT_MS);
      if (!serial) throw new Error(`${file}: not a WIM (no +PKCS in its identification)`);
      const paired = this.options.secure.keys.device(serial) !== undefined;
      if (!paired && !this.options.allowUnpaired) {
        throw new Error(`${file}: WIM ${serial} is not paired with this host: left alone (run \`wim pair --port ${file}\`, or start the agent with --allow-unpaired)`);
      }
      // the same device over BLE gives way to the serial port (docs/agent.md), once this port proved it
      const held = this.registry.bySerialNumber(serial);
      if (held?.device && !held.release) throw new Error(`${file}: a device with serial ${serial} is already attached`);
      probed.handOver();
      const device = Device.over(probed, { ...this.options.secure, linkKind: "serial" }, this.options.linkOptions);
      await device.attach();
      if (device.identity.serial !== serial) throw new Error(`${file}: the device changed its serial (${serial}, then ${device.identity.serial})`);
      // a paired device that refused this host's key is attached (its slot says why) only where unpaired
      // ones are: in watch mode an impostor could answer so too
      if (paired && !device.channelOpen && !(this.options.allowUnpaired && device.refusal)) throw new Error(`${file}: WIM ${serial} did not open the secure link${device.refusal ? `: ${device.refusal}` : ""}`);
      const over = this.registry.bySerialNumber(serial);
      if (over?.device && over.device !== device) {
        if (!over.release) throw new Error(`${file}: a device with serial ${serial} is already attached`);
        log(`${serial} is on ${file} too: the serial link takes its slot from ${over.link}`);
        over.release();
      }
      const slot = this.registry.attach(device, `serial ${file}`);
      this.attached.set(real, device);
      raw.onClose(() => {
        if (this.attached.get(real) !== device) return;
        this.attached.delete(real);
        this.registry.detach(device);
        log(`detached ${serial} (slot 0x${slot.id.toString(16)}): ${file} closed`);
        this.rescanSoon();
      });
      log(`attached ${serial} on ${file} as slot 0x${slot.id.toString(16)}${device.channelOpen ? " (secure link)" : " (clear)"}`);
      return device;
    } catch (e) {
      raw?.close();
      this.ignored.set(real, sig);
      const message = e instanceof Error ? e.message : String(e);
      log(message.startsWith(file) ? message : `${file}: ${message}`);
      throw e;
    } finally {
      this.busy.delete(real);
    }
  }
}

/** `wim agent` on serial ports: the one `device` (kept attached across replugs), or watch mode. */
export interface AgentPorts {
  /** `--device PATH`: that port only, attached at start (rejects if it does not answer). */
  device?: string;
  /** `--watch GLOB[:GLOB…]` and $WIM_WATCH, besides DEFAULT_WATCH. */
  watch?: string[];
  allowUnpaired?: boolean;
  secure: SecureOptions;
  log?: (text: string) => void;
}

/** Starts the registry and its watcher for `wim agent` (pc/cli/main.ts). */
export async function watchPorts(registry: Registry, o: AgentPorts): Promise<Watcher> {
  const log = o.log ?? o.secure.log;
  if (o.device) {
    // the port the user named: a device there needs no pairing (as before watch mode existed)
    const watcher = new Watcher(registry, { globs: [o.device], secure: o.secure, allowUnpaired: true, log });
    await watcher.attachPort(o.device);
    watcher.start();
    return watcher;
  }
  const globs = [...DEFAULT_WATCH, ...(o.watch ?? []), ...watchFromEnv()];
  const watcher = new Watcher(registry, { globs, secure: o.secure, allowUnpaired: o.allowUnpaired, log });
  watcher.start();
  return watcher;
}

/**
 * `wim sim --link PATH`: PATH becomes a symlink to the simulator's PTY, replacing a link left by an
 * earlier run (never anything else), so that a watching agent finds the restarted simulator there.
 */
export function linkPty(link: string, pty: string): void {
  try {
    if (!lstatSync(link).isSymbolicLink()) throw new Error(`${link} exists and is not a symbolic link`);
    unlinkSync(link);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  symlinkSync(pty, link);
}
