/**
 * The host's side of pairing (docs/channel.md, "Keys"): the state directory, the host's static P-256
 * key and the channel public keys of the devices it paired with.
 *
 *   $WIM_STATE_DIR, else $XDG_STATE_HOME/wim, else ~/.local/state/wim    mode 0700
 *     host-key.json          {"secret": hex, "public": hex}              mode 0600, made on first need
 *     devices/<serial>.json  {"serial", "publicKey": hex, "paired": ISO date, "link"}   mode 0600
 *
 * The directory is refused if another user owns it or others can write to it; the host key is refused if
 * others can read it (the same checks as the agent's socket directory, paths.ts). Files are written to a
 * temporary name with mode 0600 (umask 077 around the open: no window) and renamed into place.
 */
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { myUid } from "./paths.js";
import { p256Key } from "./noise-p256.js";
import type { DhKey } from "../../modules/wim/noise.js";
import { P256_PUBLIC } from "../../modules/wim/noise.js";

/** The state directory or one of its files must not be used; the message says why. */
export class UnsafeStateError extends Error {}

/** $WIM_STATE_DIR, else $XDG_STATE_HOME/wim, else ~/.local/state/wim. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WIM_STATE_DIR) return path.resolve(env.WIM_STATE_DIR);
  if (env.XDG_STATE_HOME) return path.join(path.resolve(env.XDG_STATE_HOME), "wim");
  return path.join(os.homedir(), ".local/state/wim");
}

/** What the host knows of a paired device. */
export interface KnownDevice {
  serial: string;
  /** The device's channel public key (65 bytes, SEC 1 uncompressed). */
  publicKey: Uint8Array;
  /** When it was paired (ISO 8601). */
  paired: string;
  /** The link it was paired over ("serial"; pairing over BLE is refused). */
  link: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: unknown, length: number, what: string): Uint8Array => {
  if (typeof s !== "string" || !/^[0-9a-f]*$/i.test(s) || s.length !== 2 * length) throw new UnsafeStateError(`${what}: not ${length} bytes of hex`);
  return new Uint8Array(Buffer.from(s, "hex"));
};

/** A serial as a file name: only letters, digits, '-', '_' and '.' (not leading). */
function fileName(serial: string): string {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/.test(serial)) throw new UnsafeStateError(`device serial ${JSON.stringify(serial)} cannot name a file`);
  return `${serial}.json`;
}

/** The host's keys in one state directory. */
export class HostKeys {
  readonly dir: string;
  private host: (DhKey & { secret: Uint8Array }) | undefined;

  constructor(dir: string = defaultStateDir()) {
    this.dir = path.resolve(dir);
  }

  /** Makes (mode 0700) or checks a private directory of this user. */
  private privateDir(dir: string, create: boolean): boolean {
    if (create) {
      const umask = process.umask(0o077);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
      } finally {
        process.umask(umask);
      }
    }
    let st;
    try {
      st = lstatSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
    if (!st.isDirectory()) throw new UnsafeStateError(`${dir} is not a directory`);
    if (st.uid !== myUid()) throw new UnsafeStateError(`${dir} is owned by uid ${st.uid}, not ${myUid()}`);
    if (st.mode & 0o022) throw new UnsafeStateError(`${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)})`);
    return true;
  }

  /** Reads a file of this user's that no one else can read; undefined if it does not exist. */
  private readPrivate(file: string): unknown {
    let st;
    try {
      st = lstatSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    if (!st.isFile()) throw new UnsafeStateError(`${file} is not a regular file`);
    if (st.uid !== myUid()) throw new UnsafeStateError(`${file} is owned by uid ${st.uid}, not ${myUid()}`);
    if (st.mode & 0o077) throw new UnsafeStateError(`${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}: other users may read or change it (it must be 0600)`);
    try {
      return JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new UnsafeStateError(`${file}: ${(e as Error).message}`);
    }
  }

  /** Writes `value` as JSON to `file`, mode 0600, through a temporary file renamed into place. */
  private writePrivate(file: string, value: unknown): void {
    const tmp = `${file}.${process.pid}.tmp`;
    const umask = process.umask(0o077);
    let fd: number;
    try {
      fd = openSync(tmp, "wx", 0o600);
    } finally {
      process.umask(umask);
    }
    try {
      writeSync(fd, JSON.stringify(value, null, 2) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }

  /** The host's static key: read, or made and saved on first need. */
  hostKey(): DhKey & { secret: Uint8Array } {
    if (this.host) return this.host;
    this.privateDir(this.dir, true);
    const file = path.join(this.dir, "host-key.json");
    const saved = this.readPrivate(file) as { secret?: unknown; public?: unknown } | undefined;
    if (saved) {
      const key = p256Key(unhex(saved.secret, 32, file));
      if (saved.public !== undefined && hex(unhex(saved.public, P256_PUBLIC, file)) !== hex(key.publicKey)) {
        throw new UnsafeStateError(`${file}: the public key does not belong to the secret`);
      }
      return (this.host = key);
    }
    const key = p256Key();
    this.writePrivate(file, { secret: hex(key.secret), public: hex(key.publicKey) });
    return (this.host = key);
  }

  /** A paired device by serial; undefined if this host has not paired with it. */
  device(serial: string): KnownDevice | undefined {
    const dir = path.join(this.dir, "devices");
    if (!this.privateDir(this.dir, false) || !this.privateDir(dir, false)) return undefined;
    const file = path.join(dir, fileName(serial));
    const saved = this.readPrivate(file) as Partial<Record<keyof KnownDevice, unknown>> | undefined;
    if (!saved) return undefined;
    return {
      serial,
      publicKey: unhex(saved.publicKey, P256_PUBLIC, file),
      paired: String(saved.paired ?? ""),
      link: String(saved.link ?? ""),
    };
  }

  /** The serials of the paired devices (the BLE watcher matches advertised names against them). */
  pairedSerials(): string[] {
    const dir = path.join(this.dir, "devices");
    if (!this.privateDir(this.dir, false) || !this.privateDir(dir, false)) return [];
    return readdirSync(dir).filter((f) => f.endsWith(".json")).flatMap((f) => {
      const saved = this.readPrivate(path.join(dir, f)) as { serial?: unknown } | undefined;
      return typeof saved?.serial === "string" ? [saved.serial] : [];
    });
  }

  /** Saves a device's channel key (after pairing). */
  saveDevice(serial: string, publicKey: Uint8Array, link = "serial"): KnownDevice {
    if (publicKey.length !== P256_PUBLIC || publicKey[0] !== 0x04) throw new UnsafeStateError("the device's channel key is not a P-256 public key");
    const dir = path.join(this.dir, "devices");
    this.privateDir(this.dir, true);
    this.privateDir(dir, true);
    const known = { serial, publicKey, paired: new Date().toISOString(), link };
    this.writePrivate(path.join(dir, fileName(serial)), { ...known, publicKey: hex(publicKey) });
    return known;
  }

  /** Forgets a device (after unpairing); true if it was known. */
  forgetDevice(serial: string): boolean {
    const file = path.join(this.dir, "devices", fileName(serial));
    try {
      lstatSync(file);
    } catch {
      return false;
    }
    rmSync(file, { force: true });
    return true;
  }
}
