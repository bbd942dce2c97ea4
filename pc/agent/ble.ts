/**
 * Bluetooth LE as the agent's ByteStream, through BlueZ's D-Bus API (docs/ble.md, docs/ble-pc.md).
 *
 * The central talks to org.bluez on the system bus (or on the bus DBUS_SYSTEM_BUS_ADDRESS names):
 * it mirrors BlueZ's objects (ObjectManager GetManagedObjects, then InterfacesAdded/Removed and
 * PropertiesChanged), finds the WIM serial service's device by service UUID (or by address),
 * discovers it when BlueZ does not know it yet (Adapter1 SetDiscoveryFilter + StartDiscovery),
 * connects (Device1 Connect, then ServicesResolved), subscribes to TX (GattCharacteristic1
 * StartNotify: each notification is a PropertiesChanged of Value) and writes RX with WriteValue
 * type "request" in pieces of at most MTU − 3 bytes (GattCharacteristic1's MTU property; 23 when
 * BlueZ does not report one). A write request is answered by the device, so the pieces go out one
 * at a time, in order.
 *
 * AcquireWrite/AcquireNotify are not used: they hand over a file descriptor, and dbus-next passes
 * descriptors only through its optional native socket module, which the project does not build
 * (npm ci --ignore-scripts). WriteValue and StartNotify are what BlueZ offers on every version.
 *
 * A disconnect (Connected false, the device or its characteristics removed, bluetoothd gone)
 * closes the stream, which fails the link's pending command as a serial port that goes away does;
 * {@link keepConnected} then connects again and hands a fresh stream to the agent.
 */
import dbus from "dbus-next";
import type { ByteStream } from "./link.js";

/** The WIM serial service and its characteristics (docs/ble.md). */
export const WIM_SERVICE_UUID = "57494d01-7a2e-4c55-8b1e-2f9d3c6a5b00";
export const WIM_RX_UUID = "57494d02-7a2e-4c55-8b1e-2f9d3c6a5b00";
export const WIM_TX_UUID = "57494d03-7a2e-4c55-8b1e-2f9d3c6a5b00";

/** The ATT MTU before an exchange (Bluetooth Core, Vol 3 Part F 3.2.8). */
export const ATT_DEFAULT_MTU = 23;

const BLUEZ = "org.bluez";
const OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager";
const PROPERTIES = "org.freedesktop.DBus.Properties";
const ADAPTER = "org.bluez.Adapter1";
const DEVICE = "org.bluez.Device1";
const GATT_SERVICE = "org.bluez.GattService1";
const GATT_CHARACTERISTIC = "org.bluez.GattCharacteristic1";

type Props = Record<string, unknown>;
type Variants = Record<string, dbus.Variant>;

/** Where and what to connect. */
export interface BleOptions {
  /** The device's Bluetooth address (AA:BB:CC:DD:EE:FF); else the first device offering the service. */
  address?: string;
  /** The D-Bus address of the bus BlueZ is on; else DBUS_SYSTEM_BUS_ADDRESS, else the system bus. */
  busAddress?: string;
  /** The adapter's object path (/org/bluez/hci0); else the first powered adapter. */
  adapter?: string;
  /** Longest time {@link BleCentral.connect} looks for, connects and resolves the device (default 30 s). */
  timeoutMs?: number;
  /** Progress messages (found, connected, disconnected). */
  log?: (text: string) => void;
}

/** Thrown when BlueZ or the device does not do what a connection needs. */
export class BleError extends Error {}

const unwrap = (dict: Variants): Props => Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, v.value]));
const sameAddress = (a: unknown, b: string) => typeof a === "string" && a.toUpperCase() === b.toUpperCase();
const hasUuid = (uuids: unknown, uuid: string) => Array.isArray(uuids) && uuids.some((u) => String(u).toLowerCase() === uuid);

/** One D-Bus connection to BlueZ, mirroring its objects; makes GATT connections to a WIM device. */
export class BleCentral {
  /** path → interface → properties, as BlueZ last reported them. */
  private readonly objects = new Map<string, Map<string, Props>>();
  /** Called after every change of the mirror. */
  private readonly watchers = new Set<() => void>();
  private closed = false;
  /** The device this central connects to: the option's, else the first one found (kept for reconnects). */
  address: string | undefined;
  /** This client holds a discovery session for the watcher ({@link startDiscovery}): connect() leaves it running. */
  private discovering = false;
  /** When each device object was last seen advertising (added, or its RSSI refreshed by discovery), by path. */
  private readonly seen = new Map<string, number>();

  private constructor(private readonly bus: dbus.MessageBus, private readonly options: BleOptions) {
    this.address = options.address?.toUpperCase();
  }

  /** Connects to the bus and reads BlueZ's objects. */
  static async open(options: BleOptions = {}): Promise<BleCentral> {
    const bus = options.busAddress ? dbus.sessionBus({ busAddress: options.busAddress }) : dbus.systemBus();
    await new Promise<void>((resolve, reject) => {
      bus.once("connect", resolve);
      bus.once("error", (e: Error) => reject(new BleError(`cannot reach the D-Bus system bus: ${e.message ?? e}`)));
    });
    const central = new BleCentral(bus, options);
    bus.on("error", () => central.lost());
    bus.on("message", (m: dbus.Message) => central.signal(m));
    const conn = (bus as unknown as { _connection?: { stream?: NodeJS.EventEmitter } })._connection;
    conn?.stream?.on("close", () => central.lost());
    const match = (rule: string) => central.dbusCall("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s", [rule]);
    try {
      await match(`type='signal',sender='${BLUEZ}',interface='${OBJECT_MANAGER}'`);
      await match(`type='signal',sender='${BLUEZ}',interface='${PROPERTIES}',member='PropertiesChanged'`);
      await match(`type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${BLUEZ}'`);
      await central.reload();
    } catch (e) {
      central.close(); // no BlueZ there: the connection is not kept (a watcher tries again later)
      throw e;
    }
    return central;
  }

  /** Re-reads every object (at start and when bluetoothd comes back). */
  private async reload(): Promise<void> {
    const reply = await this.call("/", OBJECT_MANAGER, "GetManagedObjects").catch((e: Error) => {
      throw new BleError(`BlueZ (org.bluez) does not answer on this bus: ${e.message} — is bluetoothd running?`);
    });
    this.objects.clear();
    for (const [path, ifaces] of Object.entries(reply.body[0] as Record<string, Record<string, Variants>>)) this.added(path, ifaces);
    this.changed();
  }

  /** Calls a method of org.bluez; rejects with BlueZ's error (e.g. org.bluez.Error.Failed: …). */
  call(path: string, iface: string, member: string, signature?: string, body?: unknown[]): Promise<dbus.Message> {
    return this.dbusCall(BLUEZ, path, iface, member, signature, body);
  }

  private async dbusCall(destination: string, path: string, iface: string, member: string, signature?: string, body?: unknown[]): Promise<dbus.Message> {
    if (this.closed) throw new BleError("the D-Bus connection is closed");
    try {
      const reply = await this.bus.call(new dbus.Message({ destination, path, interface: iface, member, signature, body }));
      if (!reply) throw new BleError(`${member}: no reply`);
      return reply;
    } catch (e) {
      if (e instanceof dbus.DBusError) throw new BleError(`${member}: ${e.type}: ${e.text ?? ""}`.trim());
      throw e;
    }
  }

  /** The properties of one interface of one object, if BlueZ has it. */
  props(path: string, iface: string): Props | undefined {
    return this.objects.get(path)?.get(iface);
  }

  /** Paths of the objects that have `iface`. */
  private having(iface: string): string[] {
    return [...this.objects].filter(([, ifaces]) => ifaces.has(iface)).map(([p]) => p);
  }

  private signal(m: dbus.Message): void {
    if (m.type !== dbus.MessageType.SIGNAL) return;
    if (m.interface === OBJECT_MANAGER && m.member === "InterfacesAdded") {
      this.added(m.body[0] as string, m.body[1] as Record<string, Variants>);
    } else if (m.interface === OBJECT_MANAGER && m.member === "InterfacesRemoved") {
      const ifaces = this.objects.get(m.body[0] as string);
      for (const i of m.body[1] as string[]) ifaces?.delete(i);
      if (ifaces && ifaces.size === 0) this.objects.delete(m.body[0] as string);
    } else if (m.interface === PROPERTIES && m.member === "PropertiesChanged") {
      const props = this.props(m.path, m.body[0] as string);
      if (!props) return;
      const changed = unwrap(m.body[1] as Variants);
      if (m.body[0] === DEVICE && "RSSI" in changed) this.seen.set(m.path, Date.now());
      Object.assign(props, changed);
      for (const name of m.body[2] as string[]) delete props[name];
      if ("Value" in changed) for (const s of this.streams) s.valueChanged(m.path, changed.Value as Uint8Array);
      if (Object.keys(changed).every((k) => k === "Value") && (m.body[2] as string[]).length === 0) return this.changed(true);
    } else if (m.interface === "org.freedesktop.DBus" && m.member === "NameOwnerChanged" && m.body[0] === BLUEZ) {
      this.objects.clear(); // bluetoothd stopped (or restarted): every connection through it is gone
      if (m.body[2]) void this.reload().then(() => (this.discovering ? this.startDiscovery() : undefined)).catch(() => undefined);
    } else {
      return;
    }
    this.changed();
  }

  private added(path: string, ifaces: Record<string, Variants>): void {
    let o = this.objects.get(path);
    if (!o) this.objects.set(path, (o = new Map()));
    for (const [name, props] of Object.entries(ifaces)) o.set(name, unwrap(props));
    if (DEVICE in ifaces) this.seen.set(path, Date.now());
  }

  private changed(dataOnly = false): void {
    if (!dataOnly) for (const w of [...this.objectWatchers]) w();
    for (const w of [...this.watchers]) w();
  }

  /** The bus went away: every stream closes. */
  private lost(): void {
    if (this.closed) return;
    this.closed = true;
    this.objects.clear();
    this.changed();
  }

  /**
   * Resolves with `probe`'s first non-undefined answer, checked now and after every change;
   * rejects after `ms` (saying that `what` did not happen) or when the bus closes.
   */
  private waitFor<T>(probe: () => T | undefined, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        if (this.closed) return done(new BleError("the D-Bus connection closed"));
        let v: T | undefined;
        try {
          v = probe();
        } catch (e) {
          return done(e as Error);
        }
        if (v !== undefined) done(undefined, v);
      };
      const timer = setTimeout(() => done(new BleError(`${what} within ${ms} ms`)), ms);
      const done = (e?: Error, v?: T) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (e) reject(e);
        else resolve(v as T);
      };
      this.watchers.add(check);
      check();
    });
  }

  /** The adapter to use: the option's, else the first one BlueZ has. */
  private adapter(): string {
    const path = this.options.adapter ?? this.having(ADAPTER).sort()[0];
    const props = path && this.props(path, ADAPTER);
    if (!path || !props) throw new BleError(this.options.adapter ? `no adapter ${this.options.adapter}` : "BlueZ has no Bluetooth adapter");
    if (props.Powered !== true) throw new BleError(`the adapter ${path} is powered off (bluetoothctl power on)`);
    return path;
  }

  /** The device to connect: by address, else the first one on `adapter` that offers the WIM service. */
  private findDevice(adapter: string, address = this.address): string | undefined {
    const devices = this.having(DEVICE).filter((p) => this.props(p, DEVICE)!.Adapter === adapter);
    if (address) return devices.find((p) => sameAddress(this.props(p, DEVICE)!.Address, address));
    const offering = devices.filter((p) => hasUuid(this.props(p, DEVICE)!.UUIDs, WIM_SERVICE_UUID));
    return offering.find((p) => this.props(p, DEVICE)!.Connected === true) ?? offering.sort()[0];
  }

  /** Discovers until the device appears (LE only, filtered on the service UUID), then stops (unless the watcher discovers). */
  private async discover(adapter: string, ms: number, address = this.address): Promise<string> {
    const held = this.discovering;
    if (!held) await this.startSession(adapter);
    try {
      return await this.waitFor(() => this.findDevice(adapter, address), ms,
        address ? `no device ${address} advertised` : `no device advertised the WIM service ${WIM_SERVICE_UUID}`);
    } finally {
      if (!held) await this.call(adapter, ADAPTER, "StopDiscovery").catch(() => undefined);
    }
  }

  /** This client's discovery session: LE only, filtered on the WIM service UUID (BlueZ merges the clients' filters). */
  private async startSession(adapter: string): Promise<void> {
    const filter = { UUIDs: new dbus.Variant("as", [WIM_SERVICE_UUID]), Transport: new dbus.Variant("s", "le") };
    await this.call(adapter, ADAPTER, "SetDiscoveryFilter", "a{sv}", [filter]);
    await this.call(adapter, ADAPTER, "StartDiscovery").catch((e: Error) => {
      if (!/InProgress/.test(e.message)) throw e; // this client already discovers: fine
    });
  }

  /**
   * Watch mode (pc/agent/ble-watch.ts): discovers until the central closes, and again after
   * bluetoothd restarts. BlueZ keeps discovering while any client asks it to.
   */
  async startDiscovery(): Promise<void> {
    this.discovering = true;
    this.sessionAt = Date.now();
    await this.startSession(this.adapter());
  }

  private sessionAt = 0;

  /**
   * Starts the watcher's discovery session again if the adapter stopped discovering (powered off and
   * on, rfkill: bluetoothd drops the sessions), at most every 5 s; errors wait for the next try.
   */
  keepDiscovering(): void {
    if (!this.discovering || this.closed || Date.now() - this.sessionAt < 5_000) return;
    let adapter: string;
    try {
      adapter = this.adapter();
    } catch {
      return; // no powered adapter: nothing to discover with
    }
    if (this.props(adapter, ADAPTER)?.Discovering === true) return;
    this.sessionAt = Date.now();
    void this.startSession(adapter).catch(() => undefined);
  }

  /**
   * The devices on the adapter that advertise the WIM service (empty without a usable adapter);
   * `inUse`: connected with a client subscribed to TX (this one or another: BlueZ shares both).
   */
  wimDevices(): { address: string; name: string; connected: boolean; inUse: boolean; seen: number }[] {
    let adapter: string;
    try {
      adapter = this.adapter();
    } catch {
      return [];
    }
    return this.having(DEVICE).map((p) => ({ p, d: this.props(p, DEVICE)! }))
      .filter(({ d }) => d.Adapter === adapter && hasUuid(d.UUIDs, WIM_SERVICE_UUID) && typeof d.Address === "string")
      .map(({ p, d }) => {
        const tx = d.Connected === true ? this.characteristics(p)?.tx : undefined;
        const inUse = tx !== undefined && this.props(tx, GATT_CHARACTERISTIC)?.Notifying === true;
        return { address: String(d.Address).toUpperCase(), name: String(d.Name ?? d.Alias ?? ""), connected: d.Connected === true, inUse, seen: this.seen.get(p) ?? 0 };
      });
  }

  /** Called after a change of the mirror other than a characteristic's Value (a notification's data). */
  private readonly objectWatchers = new Set<() => void>();

  /**
   * Calls `fn` after every change of BlueZ's objects but notifications (which come by the hundred while
   * devices talk), and when the bus goes away; returns a function that stops it.
   */
  onChange(fn: () => void): () => void {
    this.objectWatchers.add(fn);
    return () => this.objectWatchers.delete(fn);
  }

  /** The WIM service's RX and TX characteristics under `device`, once BlueZ lists them. */
  private characteristics(device: string): { rx: string; tx: string } | undefined {
    const service = this.having(GATT_SERVICE).find((p) => {
      const s = this.props(p, GATT_SERVICE)!;
      return s.Device === device && String(s.UUID).toLowerCase() === WIM_SERVICE_UUID;
    });
    if (!service) return undefined;
    const chars = this.having(GATT_CHARACTERISTIC).filter((p) => this.props(p, GATT_CHARACTERISTIC)!.Service === service);
    const find = (uuid: string) => chars.find((p) => String(this.props(p, GATT_CHARACTERISTIC)!.UUID).toLowerCase() === uuid);
    const rx = find(WIM_RX_UUID), tx = find(WIM_TX_UUID);
    return rx && tx ? { rx, tx } : undefined;
  }

  /** Streams open now (for notifications and disconnects). */
  private readonly streams = new Set<GattStream>();

  /**
   * Finds the device (discovering it if BlueZ does not know it), connects, waits for its services
   * and subscribes to TX. The stream closes when the device disconnects.
   */
  async connect(to?: string): Promise<BleStream> {
    const ms = this.options.timeoutMs ?? 30_000;
    const adapter = this.adapter();
    const wanted = to?.toUpperCase() ?? this.address;
    const device = this.findDevice(adapter, wanted) ?? (await this.discover(adapter, ms, wanted));
    const info = this.props(device, DEVICE)!;
    const address = String(info.Address).toUpperCase();
    if (!to) this.address = address; // `--ble`: the first device found is kept for reconnects
    const name = String(info.Name ?? info.Alias ?? "");
    if (info.Connected !== true) {
      this.say(`connecting to ${name || "?"} (${address})`);
      await withTimeout(this.call(device, DEVICE, "Connect"), ms, `Connect to ${address}`).catch((e: Error) => {
        // another client (bluetoothctl) connected it first, or is connecting it: wait for it below
        if (!/\.(AlreadyConnected|InProgress):/.test(e.message)) throw e;
      });
    }
    await this.waitFor(() => {
      const d = this.props(device, DEVICE);
      if (!d) throw new BleError(`${address} went away while connecting`);
      return d.Connected === true && d.ServicesResolved === true ? true : undefined;
    }, ms, `${address}'s services were not resolved`);
    const chars = await this.waitFor(() => this.characteristics(device), 5_000, `${address} has no WIM serial service (${WIM_SERVICE_UUID}) with RX and TX`);
    const stream = new GattStream(this, device, chars.rx, chars.tx, address, name);
    this.streams.add(stream);
    const watch = () => stream.check();
    this.watchers.add(watch);
    stream.onClose(() => {
      this.watchers.delete(watch);
      this.streams.delete(stream);
    });
    try {
      await this.call(chars.tx, GATT_CHARACTERISTIC, "StartNotify");
    } catch (e) {
      stream.close();
      throw e;
    }
    stream.check();
    if (stream.isClosed) throw new BleError(`${address} disconnected while subscribing`);
    this.say(`connected to ${name || "?"} (${address}), MTU ${stream.mtu()}`);
    this.said = ""; // the next connection's messages are news again
    return stream;
  }

  private said = "";
  /** Logs progress, each message once while it repeats (a reconnect tries every second). */
  private say(text: string): void {
    if (text !== this.said) this.options.log?.(text);
    this.said = text;
  }

  /** Leaves the device as the agent found it: unsubscribes and disconnects (each waited for up to 1 s), then closes. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.streams].map((s) => s.release()));
    this.close();
  }

  /** Closes the D-Bus connection (open streams close with it). */
  close(): void {
    if (this.closed) return;
    this.lost();
    this.bus.disconnect();
  }

  /** Whether the central has been closed or lost its bus. */
  get isClosed(): boolean {
    return this.closed;
  }
}

/** A GATT connection to the WIM serial service, as the agent's ByteStream. */
export interface BleStream extends ByteStream {
  /** The device's Bluetooth address and advertised name. */
  readonly address: string;
  readonly name: string;
  /** True once the stream closed because the link went down (not because it was closed here). */
  readonly lost: boolean;
  /** Closes the stream; resolves when BlueZ answered StopNotify and Disconnect (or after 1 s). */
  release(): Promise<void>;
}

/** Rejects after `ms` if `p` has not settled. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new BleError(`${what}: no answer within ${ms} ms`)), ms);
    p.then((v) => (clearTimeout(t), resolve(v)), (e) => (clearTimeout(t), reject(e)));
  });
}

/** One GATT connection to the WIM serial service as a ByteStream. */
class GattStream implements BleStream {
  lost = false;
  private readonly dataListeners: ((b: Uint8Array) => void)[] = [];
  private readonly closeListeners: (() => void)[] = [];
  /** Notifications that arrived before anyone listened. */
  private early: Uint8Array[] = [];
  private readonly queue: Uint8Array[] = [];
  private writing = false;
  private closed = false;

  constructor(private readonly central: BleCentral, private readonly device: string, private readonly rx: string,
    private readonly tx: string, readonly address: string, readonly name: string) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** The ATT MTU BlueZ reports for RX (23 when it reports none). */
  mtu(): number {
    const m = this.central.props(this.rx, GATT_CHARACTERISTIC)?.MTU;
    return typeof m === "number" && m >= ATT_DEFAULT_MTU ? m : ATT_DEFAULT_MTU;
  }

  write(bytes: Uint8Array): void {
    if (this.closed) return;
    const piece = this.mtu() - 3;
    for (let o = 0; o < bytes.length; o += piece) this.queue.push(bytes.slice(o, o + piece));
    void this.pump();
  }

  /** Writes the queued pieces one at a time (each a write request the device answers). */
  private async pump(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queue.length && !this.closed) {
        const piece = this.queue.shift()!;
        const options = { type: new dbus.Variant("s", "request") };
        await this.central.call(this.rx, GATT_CHARACTERISTIC, "WriteValue", "aya{sv}", [Buffer.from(piece), options]);
      }
    } catch {
      // the write failed (disconnected, or refused): the link's command cannot complete
      this.gone(true);
    } finally {
      this.writing = false;
    }
  }

  onData(listener: (bytes: Uint8Array) => void): void {
    this.dataListeners.push(listener);
    const early = this.early;
    this.early = [];
    for (const b of early) listener(b);
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** A Value change of some characteristic: TX's are the device's bytes. */
  valueChanged(path: string, value: Uint8Array): void {
    if (path !== this.tx || this.closed) return;
    const b = new Uint8Array(value);
    if (this.dataListeners.length) for (const l of this.dataListeners) l(b);
    else this.early.push(b);
  }

  /** Closes the stream if the device disconnected or its characteristics went away. */
  check(): void {
    if (this.closed) return;
    const d = this.central.props(this.device, DEVICE);
    if (this.central.isClosed || !d || d.Connected !== true || !this.central.props(this.rx, GATT_CHARACTERISTIC) || !this.central.props(this.tx, GATT_CHARACTERISTIC)) this.gone(true);
  }

  /** Closes the stream: unsubscribes and disconnects the device (the agent is done with it). */
  close(): void {
    void this.release();
  }

  private releasing: Promise<void> | undefined;

  /** Closes the stream; resolves when BlueZ answered StopNotify and Disconnect (or after 1 s each). */
  release(): Promise<void> {
    if (this.releasing) return this.releasing; // under way (close() started it): the same wait
    if (this.closed) return Promise.resolve(); // the link went down by itself: nothing to let go
    this.gone();
    if (this.central.isClosed) return Promise.resolve();
    const quiet = (p: Promise<unknown>) => withTimeout(p, 1_000, "release").catch(() => undefined);
    return (this.releasing = (async () => {
      await quiet(this.central.call(this.tx, GATT_CHARACTERISTIC, "StopNotify"));
      await quiet(this.central.call(this.device, DEVICE, "Disconnect"));
    })());
  }

  private gone(lost = false): void {
    if (this.closed) return;
    this.closed = true;
    this.lost = lost;
    this.queue.length = 0;
    for (const l of this.closeListeners.splice(0)) l();
  }
}

/** Pause between reconnection attempts. */
export const RECONNECT_PAUSE_MS = 1_000;

/**
 * Keeps a device connected: whenever `stream` closes (and the central is still open), connects
 * again, trying every {@link RECONNECT_PAUSE_MS}, and hands each new stream to `use` (which builds
 * a new AtLink on it). Returns a function that stops it.
 */
export function keepConnected(central: BleCentral, stream: BleStream, use: (s: BleStream) => Promise<void>, log?: (text: string) => void): () => void {
  let stopped = false;
  const again = async (closed: BleStream) => {
    if (stopped || central.isClosed || !closed.lost) return; // closed here, not lost: no reconnect
    log?.(`${central.address ?? "the device"} disconnected; reconnecting`);
    let lastWhy = "";
    while (!stopped && !central.isClosed) {
      let s: BleStream | undefined;
      try {
        s = await central.connect();
        if (stopped) return s.close();
        await use(s);
        const current = s;
        current.onClose(() => void again(current)); // at once if it closed meanwhile
        return;
      } catch (e) {
        s?.close();
        const why = (e as Error).message;
        if (why !== lastWhy) log?.(`reconnect: ${why} (trying again every ${RECONNECT_PAUSE_MS} ms)`);
        lastWhy = why;
        await new Promise((r) => setTimeout(r, RECONNECT_PAUSE_MS));
      }
    }
  };
  stream.onClose(() => void again(stream));
  return () => {
    stopped = true;
  };
}
