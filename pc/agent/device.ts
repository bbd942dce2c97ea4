/**
 * The device as the agent sees it: the AT link plus what it reported about itself (identity,
 * mechanisms). Shared by every client connection.
 */
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { MAX_LINE } from "../../modules/at/engine.js";
import { COMMAND_BY_NAME, type CommandSpec, MAX_STAGED, PROTOCOL_VERSION, readForm } from "../../modules/at/table.js";
import { STAGED, type Value, commandBody } from "../../modules/at/codec.js";
import { AtLink, type ByteStream, LinkError, type LinkOptions } from "./link.js";
import type { HostKeys } from "./hostkeys.js";
import { HandshakeError, SecureStream } from "./secure-stream.js";

/** What a line adds to a command's body: "AT", a channel selection ("+PKCSCH=n;"), S3, and margin. */
const LINE_OVERHEAD = 18;
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

/** The secure channel's settings for a device (docs/channel.md). */
export interface SecureOptions {
  /** The host's key and the keys of the devices it paired with. */
  keys: HostKeys;
  /** The kind of link ("serial" or "ble"): pairing is refused over BLE; recorded with a pairing. */
  linkKind?: "serial" | "ble";
  /** Where the agent's one-line notices go (a paired device this host has no key for). */
  log?: (text: string) => void;
}

/** Why the slot shows no token when the device is paired with other hosts only. */
export const NOT_PAIRED = "not paired with this host: run `wim pair`";
/** The device refused this host's key although this host has the device's: it was unpaired on the device. */
export const PAIRING_REMOVED = "pairing removed on the device: run `wim pair`";

/** How long `unpair` waits for the device to end the session after AT+PKCSUNPAIR. */
const UNPAIR_END_MS = 2_000;

/** The host name a pairing is recorded under on the device (at most 32 characters). */
const hostName = (name: string) => name.replace(/[^\x20-\x7e]/g, "?").slice(0, 32);

/** One attached device. */
export class Device {
  identity: DeviceIdentity = { manufacturer: "", model: "", revision: "", serial: "" };
  mechanisms: DeviceMechanism[] = [];
  /** Counts device starts seen: channels and sessions of an older epoch are gone. */
  epoch = 0;
  /** The channel the link has selected (-1: unknown). */
  private current = 0;
  private lock: Promise<unknown> = Promise.resolve();
  /** The link is prepared for the current epoch (settings, channel or clear mode, mechanisms). */
  private ready = false;
  /** The secure channel under the link (with SecureOptions). */
  secure: SecureStream | undefined;
  /**
   * Why the token cannot be used on this link, or undefined: the device is paired with other hosts
   * and refuses everything in clear, or refused this host's key (the slot shows no token; docs/channel.md).
   */
  refusal: string | undefined;
  private told: string | undefined;
  /** The link is gone for good (registry.ts detached the device): every command answers CKR_DEVICE_REMOVED. */
  gone = false;

  constructor(link: AtLink, private readonly lineLimit = MAX_LINE, secure?: SecureStream, private readonly options?: SecureOptions) {
    this.link = link;
    this.listen(link, secure);
  }

  /**
   * A device on `stream` with the secure channel: the link is wrapped in a SecureStream; the channel is
   * opened when this host has the device's key, the link stays in clear while the device has no paired host.
   */
  static over(stream: ByteStream, options: SecureOptions, linkOptions?: LinkOptions): Device {
    const secure = new SecureStream(stream);
    return new Device(new AtLink(secure, linkOptions), MAX_LINE, secure, options);
  }

  /** The link in use (a new one after a BLE reconnect). */
  link: AtLink;

  private listen(link: AtLink, secure: SecureStream | undefined): void {
    this.secure = secure;
    link.onUnsolicited = (text) => {
      if (text.startsWith("+PKCSRDY:")) this.lost();
    };
    secure?.onEnd((reason) => {
      if (this.link !== link) return;
      link.reset(`secure session ended: ${reason}`);
      this.lost();
    });
  }

  /** The device forgot the link's channels, sessions and logins (it restarted, or the secure session
   * ended): so does the agent, and the link is prepared again (a new handshake) before the next command. */
  private lost(): void {
    this.epoch++;
    this.current = 0;
    this.ready = false;
    void this.exclusive(async () => (this.ready ? undefined : this.prepare())).catch(() => undefined);
  }

  /**
   * Takes a new link to the same device after the old one closed (a BLE reconnect). A disconnect
   * closed the old link's channels and sessions on the device (docs/ble.md): they are forgotten as
   * after a restart, and the link is prepared again.
   */
  relink(link: AtLink, secure?: SecureStream): Promise<void> {
    this.link = link;
    this.listen(link, secure);
    this.epoch++;
    this.current = 0;
    this.ready = false;
    const prepared = this.exclusive(() => this.prepare());
    this.endWait(false); // the commands that waited queue behind the preparation
    return prepared;
  }

  /** A new stream to the same device (a BLE reconnect), wrapped as the first one was. */
  relinkStream(stream: ByteStream): Promise<void> {
    if (!this.options) return this.relink(new AtLink(stream));
    const secure = new SecureStream(stream);
    return this.relink(new AtLink(secure), secure);
  }

  /** The device went away: nothing more is sent; commands answer CKR_DEVICE_REMOVED. */
  detach(): void {
    this.gone = true;
    this.link.close();
    this.endWait(true);
  }

  /** Set while a lost link is expected back (a BLE reconnect): commands wait for it instead of failing. */
  private comeback: { promise: Promise<void>; settle: (gone: boolean) => void } | undefined;

  /**
   * The link dropped and the device is expected back on a new one (relinkStream), or else detached:
   * until then commands wait rather than answer CKR_DEVICE_ERROR (an application calling right after
   * a BLE reconnect began). The command that was in flight has already failed.
   */
  awaitRelink(): void {
    if (this.comeback || this.gone) return;
    let settle!: (gone: boolean) => void;
    const promise = new Promise<void>((resolve, reject) => {
      settle = (gone) => (gone ? reject(new PkcsError(CKR.DEVICE_REMOVED)) : resolve());
    });
    promise.catch(() => undefined);
    this.comeback = { promise, settle };
  }

  /** Resolves once no relink is awaited (at once when none is); rejects if the device was detached instead. */
  settled(): Promise<void> {
    return this.comeback?.promise ?? Promise.resolve();
  }

  private endWait(gone: boolean): void {
    const c = this.comeback;
    this.comeback = undefined;
    c?.settle(gone);
  }

  /** Prepares the link and reads the identity and mechanisms. */
  async attach(): Promise<void> {
    await this.exclusive(() => this.prepare());
  }

  /**
   * Link settings, protocol version, identity, the secure channel or clear mode, and the mechanisms:
   * after attaching, after every device start and after a secure session ended.
   */
  private async prepare(): Promise<void> {
    this.ready = false;
    this.refusal = undefined;
    const s = this.secure;
    let key = s && this.identity.serial ? this.options!.keys.device(this.identity.serial) : undefined;
    // a session ended: open the next one before anything is sent (nothing goes out in clear meanwhile)
    if (s && s.state !== "clear") {
      if (!key) s.useClear();
      else if (!(await this.openSecure(key.publicKey))) return;
    }
    // in clear, a device paired with other hosts refuses the resynchronisation marker: startClear
    if (s?.state === "clear") await this.link.startClear();
    else await this.link.start();
    const [[version]] = await this.link.command(cmd("+PKCSVER"), [PROTOCOL_VERSION]);
    if (version !== PROTOCOL_VERSION) throw new LinkError(`the device speaks protocol ${version}, not ${PROTOCOL_VERSION}`);
    this.current = 0;
    if (!this.identity.serial) {
      const one = async (c: string) => (await this.link.line("AT" + c)).info[0] ?? "";
      this.identity = { manufacturer: await one("+GMI"), model: await one("+GMM"), revision: await one("+GMR"), serial: await one("+GSN") };
      key = s ? this.options!.keys.device(this.identity.serial) : undefined;
    }
    if (s && s.state === "clear") {
      if (key) {
        if (!(await this.openSecure(key.publicKey))) return;
        await this.link.start(); // inside the channel now
      } else if (await this.pairedHosts() > 0) {
        this.refuse(NOT_PAIRED, `the device ${this.identity.serial} is paired with other hosts and refuses this one in clear: run \`wim pair\` and press its button`);
        return;
      }
    }
    this.told = undefined;
    this.mechanisms = (await this.link.command(cmd("+PKCSMECH"))).map(([type, min, max, flags]) => ({
      type: type as number, min: min as number, max: max as number, flags: flags as number,
    }));
    this.ready = true;
  }

  /**
   * Opens the secure channel with the device's key; false (the slot then says why) if the device refused
   * this host's key or answered with another key. Never back to clear for a device this host paired
   * with: it might be an impostor — only pairing (in clear, nothing secret) is then sent in clear.
   */
  private async openSecure(deviceKey: Uint8Array): Promise<boolean> {
    try {
      await this.secure!.handshake(this.options!.keys.hostKey(), deviceKey, this.identity.serial);
      return true;
    } catch (e) {
      if (!(e instanceof HandshakeError) || !e.refused) throw e;
      this.secure!.useClear();
      this.refuse(PAIRING_REMOVED, `the device ${this.identity.serial}: ${e.message}; run \`wim pair\``);
      return false;
    }
  }

  /** The token is not usable from this host; the agent says so once per cause. */
  private refuse(why: string, notice: string): void {
    this.refusal = why;
    this.mechanisms = [];
    this.ready = true;
    if (this.told !== why) this.options?.log?.(notice);
    this.told = why;
  }

  /** AT+PKCSHS?: the device's paired hosts (0 from a device without the secure channel). */
  private async pairedHosts(): Promise<number> {
    try {
      const [[n]] = await this.link.command(readForm(cmd("+PKCSHS"))!);
      return n as number;
    } catch (e) {
      if (e instanceof LinkError && /: (ERROR|\+CME ERROR: 4)$/.test(e.message)) return 0; // no such command
      throw e;
    }
  }

  /** Whether the link runs through the secure channel. */
  get channelOpen(): boolean {
    return this.secure?.state === "secure";
  }

  /**
   * Pairing, step 1 (docs/channel.md): AT+PKCSPAIR with this host's key and name; the seconds the
   * user has to press the device's button.
   */
  pairStart(name: string): Promise<number> {
    return this.exclusive(async () => {
      if (!this.options) throw new LinkError("this agent has no host keys");
      if (!this.ready) await this.prepare();
      if (!this.channelOpen) await this.link.startClear(); // the engine may have been reset with a session
      const [[seconds]] = await this.link.command(cmd("+PKCSPAIR"), [this.options.keys.hostKey().publicKey, hostName(name)]);
      return seconds as number;
    });
  }

  /**
   * Pairing, step 2: one AT+PKCSPAIRC. 0 waiting, 1 paired (the device's key is saved, and the channel
   * opened at once), 2 the window closed without a press.
   */
  pairPoll(): Promise<number> {
    return this.exclusive(async () => {
      const [[state, key]] = await this.link.command(cmd("+PKCSPAIRC"));
      if (state !== 1) return state as number;
      this.options!.keys.saveDevice(this.identity.serial, key as Uint8Array, this.options!.linkKind ?? "serial");
      // the device opens nothing of the clear link's into the session: as after a restart
      this.epoch++;
      this.current = 0;
      if (this.secure!.state === "secure") this.secure!.end("paired again");
      else this.secure!.useClear();
      await this.prepare();
      return 1;
    });
  }

  /**
   * AT+PKCSUNPAIR inside the channel, then this host forgets the device. The device ends the session
   * (+PKCSSEC: 0); the link goes on in clear if no host is paired any more, else the slot shows why not.
   */
  unpair(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.ready) await this.prepare();
      if (!this.channelOpen) throw new LinkError("no secure channel to this device: nothing to unpair");
      const secure = this.secure!;
      const ended = new Promise<void>((resolve) => {
        secure.onEnd(() => resolve());
        setTimeout(resolve, UNPAIR_END_MS).unref();
      });
      await this.link.command(cmd("+PKCSUNPAIR"));
      this.options!.keys.forgetDevice(this.identity.serial);
      await ended; // the device ends the session once it answered (+PKCSSEC: 0 in clear)
      secure.end("unpaired");
      await this.prepare();
    });
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
    const back = this.comeback?.promise;
    if (back) return back.then(() => this.run(name, values, channel));
    return this.exclusive(async () => {
      const spec = cmd(name);
      try {
        if (this.gone) throw new PkcsError(CKR.DEVICE_REMOVED);
        if (!this.ready) await this.prepare();
        if (this.refusal) throw new PkcsError(CKR.TOKEN_NOT_PRESENT, this.refusal);
        const body = await this.encode(spec, values);
        const select = channel !== this.current ? [`+PKCSCH=${channel}`] : [];
        this.current = -1; // unknown until the line succeeds
        this.busyChannel = channel;
        try {
          return await this.link.commandLine(spec, body, select);
        } finally {
          this.busyChannel = undefined;
          this.current = channel;
        }
      } catch (e) {
        if (e instanceof PkcsError) throw e;
        if (this.gone) throw new PkcsError(CKR.DEVICE_REMOVED);
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

  /**
   * The command's body, encoded once (link.ts sends it as is): if the line would be too long, the
   * largest binary value is staged with AT+PKCSDATA first and replaced by "@".
   */
  private async encode(spec: CommandSpec, values: readonly Value[]): Promise<string> {
    const body = commandBody(spec, values);
    if (LINE_OVERHEAD + body.length <= this.lineLimit) return body;
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
    const staged = commandBody(spec, out);
    if (LINE_OVERHEAD + staged.length > this.lineLimit) throw new PkcsError(CKR.DATA_LEN_RANGE);
    return staged;
  }

  /** Opens a logical channel for one application. */
  async openChannel(): Promise<number> {
    const [[ch]] = await this.run("+PKCSCHO", [], this.current < 0 ? 0 : this.current);
    return ch as number;
  }
}
