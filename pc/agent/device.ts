/**
 * The device as the agent sees it: the AT link plus what it reported about itself (identity,
 * mechanisms). Shared by every client connection.
 */
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { MAX_LINE } from "../../modules/at/engine.js";
import { COMMAND_BY_NAME, type CommandSpec, MAX_STAGED, PROTOCOL_VERSION } from "../../modules/at/table.js";
import { STAGED, type Value, encodeCommand } from "../../modules/at/codec.js";
import { LinkError, type AtLink } from "./link.js";

/** Bytes per AT+PKCSDATA piece (1368 base64 characters). */
const STAGE_CHUNK = 1026;

/** A device mechanism as +PKCSMECH reports it. */
export interface DeviceMechanism {
  type: number;
  min: number;
  max: number;
  flags: number;
}

/** What ATI-style commands report. */
export interface DeviceIdentity {
  manufacturer: string;
  model: string;
  revision: string;
  serial: string;
}

/** The spec of an AT+PKCS command by name; throws on a typo. */
export function cmd(name: string): CommandSpec {
  const spec = COMMAND_BY_NAME.get(name);
  if (!spec) throw new Error(`no command ${name}`);
  return spec;
}

/** One attached device. */
export class Device {
  identity: DeviceIdentity = { manufacturer: "", model: "", revision: "", serial: "" };
  mechanisms: DeviceMechanism[] = [];
  /** Counts device starts seen: channels and sessions of an older epoch are gone. */
  epoch = 0;
  /** The channel the link has selected (-1: unknown). */
  private current = 0;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(link: AtLink, private readonly lineLimit = MAX_LINE) {
    this.link = link;
    this.listen(link);
  }

  /** The link in use (a new one after a BLE reconnect). */
  link: AtLink;

  private listen(link: AtLink): void {
    link.onUnsolicited = (text) => {
      if (!text.startsWith("+PKCSRDY:")) return;
      this.epoch++;
      this.current = 0;
      void this.exclusive(() => this.prepare()).catch(() => undefined);
    };
  }

  /**
   * Takes a new link to the same device after the old one closed (a BLE reconnect). A disconnect
   * closed the old link's channels and sessions on the device (docs/ble.md): they are forgotten as
   * after a restart, and the link is prepared again.
   */
  relink(link: AtLink): Promise<void> {
    this.link = link;
    this.listen(link);
    this.epoch++;
    this.current = 0;
    return this.exclusive(() => this.prepare());
  }

  /** Prepares the link and reads the identity and mechanisms. */
  async attach(): Promise<void> {
    await this.exclusive(() => this.prepare());
    const one = async (c: string) => (await this.link.line("AT" + c)).info[0] ?? "";
    this.identity = { manufacturer: await one("+GMI"), model: await one("+GMM"), revision: await one("+GMR"), serial: await one("+GSN") };
  }

  /** Link settings and protocol version: after attaching and after every device start. */
  private async prepare(): Promise<void> {
    await this.link.start();
    const [[version]] = await this.link.command(cmd("+PKCSVER"), [PROTOCOL_VERSION]);
    if (version !== PROTOCOL_VERSION) throw new LinkError(`the device speaks protocol ${version}, not ${PROTOCOL_VERSION}`);
    this.current = 0;
    this.mechanisms = (await this.link.command(cmd("+PKCSMECH"))).map(([type, min, max, flags]) => ({
      type: type as number, min: min as number, max: max as number, flags: flags as number,
    }));
  }

  /** The channel whose command is on the link now (undefined between commands). */
  private busyChannel: number | undefined;

  /** Cancels the command in flight if it belongs to `channel` (its application went away). */
  cancelFor(channel: number): void {
    if (this.busyChannel === channel) this.link.interrupt();
  }

  /**
   * Runs an AT+PKCS command on a channel: selects the channel in the same line when it changes,
   * and stages a binary value too long for one line with AT+PKCSDATA first. A broken link
   * becomes CKR_DEVICE_ERROR.
   */
  run(name: string, values: readonly Value[] = [], channel = 0): Promise<Value[][]> {
    return this.exclusive(async () => {
      const spec = cmd(name);
      try {
        const args = await this.stageLong(spec, values);
        const select = channel !== this.current ? [`+PKCSCH=${channel}`] : [];
        this.current = -1; // unknown until the line succeeds
        this.busyChannel = channel;
        try {
          return await this.link.command(spec, args, select);
        } finally {
          this.busyChannel = undefined;
          this.current = channel;
        }
      } catch (e) {
        if (e instanceof PkcsError) throw e;
        this.current = -1;
        throw new PkcsError(CKR.DEVICE_ERROR, String(e));
      }
    });
  }

  /** Runs `fn` with the link to itself (staging and channel selection span several lines). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn, fn);
    this.lock = p.catch(() => undefined);
    return p;
  }

  /** Replaces the largest binary value by "@" after staging it, if the line would be too long. */
  private async stageLong(spec: CommandSpec, values: readonly Value[]): Promise<readonly Value[]> {
    if (encodeCommand(spec, values).length + 16 <= this.lineLimit) return values;
    let big = -1;
    values.forEach((v, i) => {
      if (v instanceof Uint8Array && (big < 0 || v.length > (values[big] as Uint8Array).length)) big = i;
    });
    const data = values[big] as Uint8Array;
    if (big < 0 || data.length > MAX_STAGED) throw new PkcsError(CKR.DATA_LEN_RANGE);
    const chunk = Math.min(STAGE_CHUNK, Math.floor(((this.lineLimit - 40) * 3) / 4 / 3) * 3);
    for (let o = 0; o === 0 || o < data.length; o += chunk) {
      await this.link.command(cmd("+PKCSDATA"), [o, data.subarray(o, o + chunk)]);
    }
    const out = values.slice();
    out[big] = STAGED;
    if (encodeCommand(spec, out).length + 16 > this.lineLimit) throw new PkcsError(CKR.DATA_LEN_RANGE);
    return out;
  }

  /** Opens a logical channel for one application. */
  async openChannel(): Promise<number> {
    const [[ch]] = await this.run("+PKCSCHO", [], this.current < 0 ? 0 : this.current);
    return ch as number;
  }
}
