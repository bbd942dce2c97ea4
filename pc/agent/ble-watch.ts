/**
 * Watch mode over Bluetooth LE (`wim agent --ble-watch`, docs/agent.md and docs/ble-pc.md): the
 * agent keeps a BlueZ discovery session filtered on the WIM service, and every device that
 * advertises it is connected on its own GATT connection, identified as a serial port is (AT+GCAP,
 * AT+GSN: watch.ts's probe) and attached to the registry in its serial's slot.
 *
 * The pairing rule is serial watch mode's: only a device this host is paired with, once the secure
 * link's handshake proved its key, unless `allowUnpaired`. A device whose advertised name
 * (`WIM-<serial>`, docs/ble.md) names no paired serial is not even connected. A device that
 * disconnects keeps its slot for BLE_DETACH_MS (a reconnect within it gives the same Device a new
 * link, as `wim agent --ble` does), then is detached; it is attached again when it advertises again.
 * A device attached over a serial port is left to the port: the serial link decides, and takes the
 * slot from a BLE link (Slot.release).
 *
 * What a radio neighbour can make it do is bounded (docs/security.md): at most MAX_BLE_PROBES
 * connections being identified at once, MAX_BLE_LINKS BLE connections in all, a device that failed
 * its probe is tried again only after a pause that doubles up to 60 s, and only when it advertised again.
 */
import { BLE_DETACH_MS } from "./ble-slot.js";
import { BleCentral, type BleStream } from "./ble.js";
import { Device, type SecureOptions } from "./device.js";
import type { Registry } from "./registry.js";
import { PROBE_TIMEOUT_MS, ProbedStream, identify } from "./watch.js";

/** Connections being identified at once. */
export const MAX_BLE_PROBES = 2;
/** BLE connections the watcher holds in all (attached and being identified). */
export const MAX_BLE_LINKS = 8;
/** The first pause after a failed probe of an address; it doubles up to MAX_RETRY_MS. */
export const RETRY_MS = 2_000;
const MAX_RETRY_MS = 60_000;
/** How long a connection may take (find, connect, resolve the services, subscribe). */
const CONNECT_MS = 10_000;
/** How often the watcher looks again without a change from BlueZ (a pause ended). */
const TICK_MS = 1_000;
/** How often an advertiser whose name names no paired device is looked at again (pairing may have happened since). */
const NAME_RECHECK_MS = 5_000;
/** How often a missing BlueZ or adapter is looked for again (said once). */
const BLUEZ_RETRY_MS = 5_000;
/** Addresses remembered (failed probes, notices given); the oldest is forgotten beyond this. */
const MAX_REMEMBERED = 1_024;
/** Notices about devices left alone, at most per minute (an advertiser rotating addresses gets one line each). */
const MAX_NOTICES_PER_MINUTE = 32;
/** The name a WIM advertises: `WIM-` and its serial, cut at 29 bytes (docs/ble.md). */
const NAME_PREFIX = "WIM-";
const NAME_MAX = 29;

export interface BleWatchOptions {
  secure: SecureOptions;
  allowUnpaired?: boolean;
  /** The bus BlueZ is on (tests: the test BlueZ's); else DBUS_SYSTEM_BUS_ADDRESS or the system bus. */
  busAddress?: string;
  detachAfterMs?: number;
  log?: (text: string) => void;
}

/** Whether the advertised `name` can be the device with `serial` (the name may be cut). */
export function nameFits(name: string, serial: string): boolean {
  const full = NAME_PREFIX + serial;
  return name === full || (name.length >= NAME_MAX && full.startsWith(name));
}

/** One BLE device the watcher attached. */
interface Held {
  address: string;
  serial: string;
  device: Device;
  stream: BleStream;
  /** The detach timer while the device is away. */
  away?: ReturnType<typeof setTimeout>;
  /** The stream is closed and a reconnect is due (within the grace period). */
  lost: boolean;
}

/** What the watcher remembers of an address it could not use. */
interface Tried {
  /** Not before this time… */
  retryAt: number;
  /** …and only once it advertised after this one. */
  after: number;
  pause: number;
  told?: string;
}

/** Watches BlueZ for WIM devices and keeps their slots in the registry. */
export class BleWatcher {
  private central: BleCentral | undefined;
  private readonly held = new Map<string, Held>(); // by serial
  private readonly probing = new Set<string>(); // addresses
  private readonly tried = new Map<string, Tried>();
  /** Probes under way (stop waits for them to let their connections go). */
  private readonly inflight = new Set<Promise<void>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private soon: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private said = "";

  constructor(private readonly registry: Registry, private readonly options: BleWatchOptions) {}

  private log(text: string): void {
    (this.options.log ?? (() => undefined))(text);
  }

  /** Connects to BlueZ (again every few seconds while it is missing, saying so once) and starts watching. */
  start(): void {
    void this.open();
    this.timer = setInterval(() => this.pass(), TICK_MS);
    this.timer.unref?.();
  }

  private async open(): Promise<void> {
    while (!this.stopped) {
      try {
        // the central's progress lines (connecting, connected) are not passed on: one per attempt, and an
        // advertiser decides how many attempts there are; the watcher says what came of each device
        const central = await BleCentral.open({ busAddress: this.options.busAddress, timeoutMs: CONNECT_MS });
        if (this.stopped) return central.close();
        await central.startDiscovery().catch((e) => {
          central.close();
          throw e;
        });
        this.central = central;
        central.onChange(() => this.passSoon());
        this.log("watching Bluetooth LE for WIM devices");
        this.said = "";
        this.pass();
        await new Promise<void>((resolve) => {
          const check = () => (central.isClosed ? resolve() : undefined);
          central.onChange(check);
        });
        this.central = undefined;
        if (!this.stopped) this.log("lost BlueZ; looking for it again");
      } catch (e) {
        const why = `Bluetooth LE: ${(e as Error).message}`;
        if (why !== this.said) this.log(`${why} (trying again every ${BLUEZ_RETRY_MS / 1000} s)`);
        this.said = why;
      }
      await new Promise((r) => setTimeout(r, BLUEZ_RETRY_MS));
    }
  }

  /**
   * Disconnects every device (waiting up to 2 s for probes under way, then for BlueZ's answers: a
   * device left connected would not advertise for the next agent) and leaves BlueZ.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, 2_000))]);
    await this.central?.shutdown();
    for (const h of this.held.values()) {
      if (h.away) clearTimeout(h.away);
      this.registry.detach(h.device);
    }
    this.held.clear();
  }

  private passSoon(): void {
    if (this.soon || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.pass();
    }, 20);
  }

  /** Looks at every device advertising the WIM service and probes those it may. */
  private pass(): void {
    const central = this.central;
    if (!central || central.isClosed || this.stopped) return;
    central.keepDiscovering();
    const now = Date.now();
    for (const d of central.wimDevices()) {
      if (this.probing.has(d.address)) continue;
      const mine = [...this.held.values()].find((h) => h.address === d.address);
      if (mine && !mine.lost) continue;
      const t = this.tried.get(d.address);
      if (t && (now < t.retryAt || d.seen <= t.after)) continue; // tried: again after the pause, once it advertised again
      // a cheap first filter: a name naming no paired serial is not connected at all
      const serial = this.pairedSerial(d.name);
      if (!serial && !this.options.allowUnpaired) {
        this.remember(d.address, `BLE ${d.address} (${d.name || "no name"}): not paired with this host: left alone (pair it over its cable with \`wim pair --port PATH\`, or start the agent with --allow-unpaired)`, NAME_RECHECK_MS);
        continue;
      }
      // in use by another BlueZ client (another agent, bluetoothctl's gatt menu): BlueZ would share the link
      // and both would write on it. A connection nobody listens on (left by an agent that died) is taken.
      if (d.inUse && !mine) {
        this.remember(d.address, `BLE ${d.address} (${d.name}): in use by another program: left alone (\`bluetoothctl disconnect ${d.address}\` to let this agent have it)`, NAME_RECHECK_MS);
        continue;
      }
      const slot = serial ? this.registry.bySerialNumber(serial) : undefined;
      if (slot?.device && !slot.link.startsWith("BLE ")) continue; // on a serial port: the port decides
      if (this.probing.size >= MAX_BLE_PROBES) return;
      if (this.probing.size + [...this.held.values()].filter((h) => !h.lost).length >= MAX_BLE_LINKS) {
        this.remember(d.address, `BLE ${d.address}: ${MAX_BLE_LINKS} BLE links already: left alone for now`, RETRY_MS);
        continue;
      }
      this.probing.add(d.address);
      const started = Date.now();
      const probe = this.probe(d.address, d.name);
      this.inflight.add(probe);
      void probe.then(() => {
        this.tried.delete(d.address);
      }, (e: Error) => {
        const prev = this.tried.get(d.address);
        const pause = Math.min(MAX_RETRY_MS, prev?.pause ? prev.pause * 2 : RETRY_MS);
        this.remember(d.address, e.message, pause, started);
      }).finally(() => {
        this.inflight.delete(probe);
        this.probing.delete(d.address);
        this.passSoon();
      });
    }
  }

  /** The paired serial the advertised name can be, or undefined. */
  private pairedSerial(name: string): string | undefined {
    if (!name.startsWith(NAME_PREFIX)) return undefined;
    try {
      const keys = this.options.secure.keys, serial = name.slice(NAME_PREFIX.length);
      return keys.device(serial) ? serial : keys.pairedSerials().find((s) => nameFits(name, s));
    } catch (e) {
      this.remember(name, `the host's paired devices cannot be read: ${(e as Error).message}`, MAX_RETRY_MS);
      return undefined;
    }
  }

  /** Notes a failure (said once per address and reason) and when to try the address again. */
  private remember(address: string, why: string, pause: number, after = Date.now()): void {
    const t = this.tried.get(address);
    if (t?.told !== why) this.notice(why);
    this.tried.delete(address);
    this.tried.set(address, { retryAt: Date.now() + pause, after, pause, told: why });
    if (this.tried.size > MAX_REMEMBERED) this.tried.delete(this.tried.keys().next().value!);
  }

  /**
   * Connects to `address`, identifies it and attaches it (or gives its held Device the new link);
   * rejects with the reason it was left alone (its connection closed).
   */
  private async probe(address: string, name: string): Promise<void> {
    const central = this.central!;
    const stream = await central.connect(address);
    try {
      if (this.stopped) throw new Error(`BLE ${address}: the agent is stopping`);
      const probed = new ProbedStream(stream);
      const serial = await identify(probed, PROBE_TIMEOUT_MS);
      if (!serial) throw new Error(`BLE ${address} (${name}): not a WIM (no +PKCS in its identification)`);
      const paired = this.options.secure.keys.device(serial) !== undefined;
      if (!paired && !this.options.allowUnpaired) {
        throw new Error(`BLE ${address}: WIM ${serial} is not paired with this host: left alone (pair it over its cable with \`wim pair --port PATH\`, or start the agent with --allow-unpaired)`);
      }
      const slot = this.registry.bySerialNumber(serial);
      const held = this.held.get(serial);
      if (slot?.device && slot.device !== held?.device) throw new Error(`BLE ${address}: ${serial} is attached on ${slot.link}: left to it`);
      if (held && !held.lost) throw new Error(`BLE ${address}: ${serial} is attached on BLE ${held.address} already`);
      probed.handOver();
      // proved by the handshake when paired; an impostor fails it and the slot shows no token
      const proved = (d: Device) => !paired || d.channelOpen || (this.options.allowUnpaired && d.refusal !== undefined);
      if (held && !held.device.gone) {
        try {
          await held.device.relinkStream(probed);
          if (!proved(held.device)) throw new Error(`BLE ${address}: WIM ${serial} did not open the secure link${held.device.refusal ? `: ${held.device.refusal}` : ""}`);
        } catch (e) {
          this.drop(held, `BLE ${address}: ${serial} came back but failed to prove itself: its slot shows no token`);
          throw e;
        }
        if (held.away) clearTimeout(held.away);
        Object.assign(held, { address, stream, away: undefined, lost: false });
        this.follow(held);
        this.log(`${serial} reconnected on BLE ${address}${held.device.channelOpen ? " (secure link)" : " (clear)"}`);
        return;
      }
      const device = Device.over(probed, { ...this.options.secure, linkKind: "ble" });
      await device.attach();
      if (device.identity.serial !== serial) throw new Error(`BLE ${address}: the device changed its serial (${serial}, then ${device.identity.serial})`);
      if (!proved(device)) throw new Error(`BLE ${address}: WIM ${serial} did not open the secure link${device.refusal ? `: ${device.refusal}` : ""}`);
      if (this.registry.bySerialNumber(serial)?.device) throw new Error(`BLE ${address}: ${serial} was attached meanwhile`);
      const h: Held = { address, serial, device, stream, lost: false };
      const s = this.registry.attach(device, `BLE ${address}`, () => this.drop(h, `${serial}: the serial link takes its slot; BLE ${h.address} let go`));
      this.held.set(serial, h);
      this.follow(h);
      this.log(`attached ${serial} on BLE ${address} as slot 0x${s.id.toString(16)}${device.channelOpen ? " (secure link)" : " (clear)"}`);
    } catch (e) {
      await stream.release(); // disconnected before the next probe may start: the bound holds on the air too
      throw e;
    }
  }

  private notices: number[] = [];

  /** Logs a notice about a device left alone, at most MAX_NOTICES_PER_MINUTE (then says they pause). */
  private notice(text: string): void {
    const now = Date.now();
    this.notices = this.notices.filter((t) => now - t < 60_000);
    if (this.notices.length < MAX_NOTICES_PER_MINUTE) this.log(text);
    else if (this.notices.length === MAX_NOTICES_PER_MINUTE) this.log(`more BLE devices left alone: notices paused for a minute`);
    else return;
    this.notices.push(now);
  }

  /** Watches a held device's stream: lost → the grace period, then detached. */
  private follow(h: Held): void {
    const stream = h.stream;
    stream.onClose(() => {
      if (h.stream !== stream || !this.held.has(h.serial) || this.stopped) return;
      if (!stream.lost) return this.drop(h); // closed here
      h.lost = true;
      h.device.awaitRelink(); // calls meanwhile wait for the reconnect (or the detach), as with --ble
      this.log(`${h.serial} (BLE ${h.address}) disconnected; its slot waits ${this.detachAfter()} ms for it`);
      this.tried.set(h.address, { retryAt: Date.now(), after: Date.now(), pause: 0 }); // again once it advertises
      h.away = setTimeout(() => {
        if (!h.lost) return;
        this.drop(h, `${h.serial} (BLE ${h.address}) away for ${this.detachAfter()} ms: its slot shows no token until it is back`);
      }, this.detachAfter());
    });
  }

  private detachAfter(): number {
    return this.options.detachAfterMs ?? BLE_DETACH_MS;
  }

  /** Forgets a held device: detached (its sessions answer CKR_DEVICE_REMOVED) and its link let go. */
  private drop(h: Held, why?: string): void {
    if (this.held.get(h.serial) !== h) return;
    this.held.delete(h.serial);
    if (h.away) clearTimeout(h.away);
    this.registry.detach(h.device);
    h.stream.close();
    if (why) this.log(why);
  }
}
