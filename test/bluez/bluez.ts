/**
 * The test BlueZ: a D-Bus service that owns org.bluez on a private bus and implements the part of
 * BlueZ's API the agent uses (docs/ble-pc.md says what it models and where it guesses), bridged to
 * the simulator's radio model (docs/ble.md):
 *
 *   Adapter1 StartDiscovery      → SCAN of every radio in range, repeated while any client
 *                                  discovers; each connectable ADVERTISEMENT makes or refreshes a
 *                                  Device1 (filtered by the clients' SetDiscoveryFilter, merged)
 *   Device1 Connect              → CONNECT, EXCHANGE_MTU 517 (BlueZ's default), then the GATT
 *                                  objects (GattService1, two GattCharacteristic1 with MTU) and
 *                                  ServicesResolved
 *   GattCharacteristic1 StartNotify / StopNotify → SUBSCRIBE 1 / 0 (first / last client), Notifying
 *   GattCharacteristic1 WriteValue → WRITE; ATT errors become BlueZ's D-Bus errors
 *   NOTIFY                       → TX Value PropertiesChanged
 *   DISCONNECTED, socket closed  → ServicesResolved and Connected false, GATT objects removed
 *   Device1 Disconnect           → DISCONNECT
 *
 * Several peripherals may be in range: one radio-model socket each (one simulator each), each
 * device its own Device1 and its own connection, as bluetoothd keeps one ACL link per LE device.
 */
import { createHash } from "node:crypto";
import dbus from "dbus-next";
import { ATT, RADIO, RadioLink } from "./radio.js";
import { DBusFault, type Iface, ObjectServer } from "./objects.js";

export const WIM_SERVICE_UUID = "57494d01-7a2e-4c55-8b1e-2f9d3c6a5b00";
export const WIM_RX_UUID = "57494d02-7a2e-4c55-8b1e-2f9d3c6a5b00";
export const WIM_TX_UUID = "57494d03-7a2e-4c55-8b1e-2f9d3c6a5b00";

/** The MTU BlueZ offers in its exchange (its default, the largest ATT MTU for LE). */
export const BLUEZ_MTU = 517;
/** How often a discovering adapter asks the radio for an advertisement. */
const SCAN_INTERVAL_MS = 200;

const ADAPTER = "org.bluez.Adapter1";
const DEVICE = "org.bluez.Device1";
const GATT_SERVICE = "org.bluez.GattService1";
const GATT_CHARACTERISTIC = "org.bluez.GattCharacteristic1";

const fault = (name: string, text: string) => new DBusFault(`org.bluez.Error.${name}`, text);

/** The D-Bus error bluetoothd answers a write with, for an ATT error (src/gatt-client.c's mapping; 0x0E is the model's "not connected"). */
export function writeError(att: number): DBusFault | undefined {
  switch (att) {
    case ATT.OK: return undefined;
    case ATT.INVALID_ATTRIBUTE_VALUE_LENGTH: return fault("InvalidValueLength", "Invalid value length");
    case ATT.NOT_CONNECTED: return fault("Failed", "Not connected");
    case ATT.INSUFFICIENT_ENCRYPTION: return fault("NotPermitted", "Not paired");
    default: return fault("Failed", `Operation failed with ATT error: 0x${att.toString(16).padStart(2, "0")}`);
  }
}

/** A random static address (Core Vol 6 Part B 1.3.2.1: the two top bits set) derived from the advertised name. */
export function addressFor(name: string): string {
  const h = createHash("sha256").update(name).digest();
  h[0] |= 0xc0;
  return [...h.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** What the test BlueZ counted (for tests). */
export interface BluezStats {
  /** Lengths of the values written to RX, in order. */
  writes: number[];
  notifications: number;
  connects: number;
  /** The MTU agreed on the last connection. */
  mtu: number;
  /** The most peripherals connected or connecting at once. */
  maxConnected: number;
}

/** A client's discovery filter (SetDiscoveryFilter), as BlueZ keeps one per D-Bus client. */
interface Filter {
  uuids: string[];
  transport: string;
}

/**
 * One peripheral in range: the radio model at `path` (a simulator's STATE/ble.sock), the device
 * object its advertisements made, and its connection.
 */
class Peripheral {
  radio: RadioLink | undefined;
  opening: Promise<RadioLink> | undefined;
  scanning = false;
  /** Its Device1 path (from its advertised name), once it advertised. */
  device: string | undefined;
  connected = false;
  connecting = false;
  notifyClients = new Set<string>();
  /** Connections made to it (for tests). */
  connects = 0;
  constructor(readonly path: string) {}
}

/** The test BlueZ on one bus, with one adapter (hci0) and the radio models at `radioPaths` in range. */
export class TestBluez {
  readonly adapter = "/org/bluez/hci0";
  readonly stats: BluezStats = { writes: [], notifications: 0, connects: 0, mtu: 0, maxConnected: 0 };
  /** The MTU this central offers in the exchange at the next Connect (BlueZ's 517; tests vary it, ≥ 23). */
  centralMtu = BLUEZ_MTU;
  private readonly server: ObjectServer;
  private readonly peripherals: Peripheral[];
  /** Device1 path → the peripheral that last advertised its address. */
  private readonly owners = new Map<string, Peripheral>();
  private scanTimer: ReturnType<typeof setInterval> | undefined;
  /** Discovery sessions by D-Bus client (unique name), and the filters clients set. */
  private readonly sessions = new Set<string>();
  private readonly filters = new Map<string, Filter>();
  private stopped = false;

  private constructor(private readonly bus: dbus.MessageBus, radioPaths: string[]) {
    this.peripherals = radioPaths.map((p) => new Peripheral(p));
    this.server = new ObjectServer(bus);
    this.server.add("/org/bluez", { "org.bluez.AgentManager1": { props: {}, methods: {} } });
    this.server.add(this.adapter, { [ADAPTER]: this.adapterIface() });
  }

  /** Connects to the bus at `busAddress`, owns org.bluez and serves hci0 bridged to the radio(s) at `radioPaths`. */
  static async start(busAddress: string, radioPaths: string | string[]): Promise<TestBluez> {
    const bus = dbus.sessionBus({ busAddress });
    await new Promise<void>((resolve, reject) => {
      bus.once("connect", resolve);
      bus.once("error", reject);
    });
    bus.on("error", () => undefined);
    const bluez = new TestBluez(bus, typeof radioPaths === "string" ? [radioPaths] : radioPaths);
    // a client that leaves the bus loses its notify and discovery sessions, as in bluetoothd
    await bus.call(new dbus.Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
      member: "AddMatch", signature: "s", body: ["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"] }));
    bus.on("message", (m: dbus.Message) => {
      if (m.type === dbus.MessageType.SIGNAL && m.member === "NameOwnerChanged" && m.body[2] === "") bluez.clientLeft(m.body[0] as string);
    });
    const r = await bus.requestName("org.bluez", dbus.NameFlag.DO_NOT_QUEUE);
    if (r !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`org.bluez is taken on ${busAddress} (${r})`);
    return bluez;
  }

  /** The peripheral of a radio socket (the first one by default). */
  private peripheral(radioPath?: string): Peripheral {
    const p = radioPath === undefined ? this.peripherals[0] : this.peripherals.find((q) => q.path === radioPath);
    if (!p) throw new Error(`no radio ${radioPath} in range`);
    return p;
  }

  /** Connections made to the peripheral at `radioPath` so far. */
  connectsTo(radioPath: string): number {
    return this.peripheral(radioPath).connects;
  }

  /** Sets a fault of a radio model (docs/ble.md: 0 clears, 1 delays, 2 buffer, 3 cuts after n notifications). */
  async fault(kind: number, value: number, radioPath?: string): Promise<void> {
    const radio = await this.openRadio(this.peripheral(radioPath));
    const p = Buffer.alloc(5);
    p[0] = kind;
    p.writeUInt32LE(value, 1);
    await radio.request(RADIO.FAULT, p);
  }

  /** Ends a connection from the PC's side, as another client's Device1.Disconnect (or `bluetoothctl disconnect`) would. */
  async disconnectDevice(radioPath?: string): Promise<void> {
    await this.disconnect(this.peripheral(radioPath));
  }

  /** Leaves the bus and the radios. */
  stop(): void {
    this.stopped = true;
    if (this.scanTimer) clearInterval(this.scanTimer);
    for (const p of this.peripherals) {
      if (p.radio) p.radio.onClose = p.radio.onDisconnected = p.radio.onNotify = () => {};
      p.radio?.close();
    }
    this.bus.disconnect();
  }

  private openRadio(p: Peripheral): Promise<RadioLink> {
    if (p.radio && !p.radio.isClosed) return Promise.resolve(p.radio);
    if (this.stopped) return Promise.reject(new Error("stopped"));
    p.opening ??= RadioLink.open(p.path).then((r) => {
      p.radio = r;
      r.onNotify = (b) => this.notified(p, b);
      r.onDisconnected = () => this.disconnected(p);
      r.onClose = () => this.disconnected(p);
      return r;
    }).finally(() => {
      p.opening = undefined;
    });
    return p.opening;
  }

  private adapterIface(): Iface {
    return {
      props: {
        Address: { sig: "s", value: "02:00:00:00:00:01" },
        AddressType: { sig: "s", value: "public" },
        Name: { sig: "s", value: "wim-test-bluez" },
        Alias: { sig: "s", value: "wim-test-bluez" },
        Class: { sig: "u", value: 0 },
        Powered: { sig: "b", value: true, writable: true },
        Discoverable: { sig: "b", value: false },
        Pairable: { sig: "b", value: true },
        Discovering: { sig: "b", value: false },
        UUIDs: { sig: "as", value: [] },
        Roles: { sig: "as", value: ["central"] },
      },
      methods: {
        SetDiscoveryFilter: (m) => this.setFilter(m.sender, m.body[0] as Record<string, dbus.Variant>),
        GetDiscoveryFilters: () => ({ signature: "as", body: [["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]] }),
        StartDiscovery: (m) => this.startDiscovery(m.sender),
        StopDiscovery: (m) => this.stopDiscovery(m.sender),
        RemoveDevice: (m) => this.removeDevice(m.body[0] as string),
      },
    };
  }

  /** A client's filter (an empty dictionary clears it), as bluetoothd keeps one per client. */
  private setFilter(sender: string, f: Record<string, dbus.Variant>): void {
    const known = ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"];
    for (const k of Object.keys(f)) if (!known.includes(k)) throw fault("InvalidArguments", `unknown filter ${k}`);
    const transport = (f.Transport?.value as string | undefined) ?? "auto";
    if (!["auto", "bredr", "le"].includes(transport)) throw fault("InvalidArguments", `bad Transport ${transport}`);
    if (Object.keys(f).length === 0) this.filters.delete(sender);
    else this.filters.set(sender, { uuids: ((f.UUIDs?.value as string[] | undefined) ?? []).map((u) => u.toLowerCase()), transport });
  }

  /**
   * Whether the merged filter of the discovering clients lets an LE advertisement of `uuid` through
   * (bluetoothd merges them: a client without a UUID filter sees every device).
   */
  private passes(uuid: string): boolean {
    const fs = [...this.sessions].map((s) => this.filters.get(s) ?? { uuids: [], transport: "auto" });
    if (fs.every((f) => f.transport === "bredr")) return false;
    return fs.some((f) => f.transport !== "bredr" && (f.uuids.length === 0 || f.uuids.includes(uuid)));
  }

  /** A discovery session for the client; the adapter discovers while any client has one. */
  private startDiscovery(sender: string): void {
    if (this.server.get(this.adapter, ADAPTER, "Powered") !== true) throw fault("NotReady", "Resource Not Ready");
    if (this.sessions.has(sender)) throw fault("InProgress", "Operation already in progress");
    this.sessions.add(sender);
    if (this.scanTimer) return;
    this.server.set(this.adapter, ADAPTER, { Discovering: true });
    this.scanTimer = setInterval(() => this.scanAll(), SCAN_INTERVAL_MS);
    this.scanAll();
  }

  private stopDiscovery(sender: string): void {
    if (!this.sessions.delete(sender)) throw fault("Failed", "No discovery started");
    this.filters.delete(sender); // bluetoothd drops a client's filter with its session
    if (this.sessions.size > 0 || !this.scanTimer) return;
    clearInterval(this.scanTimer);
    this.scanTimer = undefined;
    this.server.set(this.adapter, ADAPTER, { Discovering: false });
  }

  private scanAll(): void {
    for (const p of this.peripherals) void this.scan(p);
  }

  /** One SCAN of one radio: a connectable advertisement makes (or refreshes) the device object. */
  private async scan(p: Peripheral): Promise<void> {
    if (p.scanning || this.stopped) return;
    p.scanning = true;
    try {
      const radio = await this.openRadio(p);
      const ad = await radio.request(RADIO.SCAN);
      if (ad.type !== RADIO.ADVERTISEMENT || !this.scanTimer) return;
      if (ad.payload[0] !== 1) return; // not advertising (connected to a central, or not started): nothing on the air
      if (!this.passes(WIM_SERVICE_UUID)) return;
      this.advertised(p, ad.payload.subarray(1).toString("utf8"));
    } catch {
      // no radio listening (the simulator is not running): nothing advertises
    } finally {
      p.scanning = false;
    }
  }

  private advertised(p: Peripheral, name: string): void {
    const address = addressFor(name);
    const path = `${this.adapter}/dev_${address.replace(/:/g, "_")}`;
    const owner = this.owners.get(path);
    if (owner && owner !== p) {
      // another radio advertising the same address (a device replaced, or an impostor): while the
      // first one is not connected, the address is this one's
      if (owner.connected || owner.connecting) return;
      owner.device = undefined;
    }
    this.owners.set(path, p);
    p.device = path;
    if (this.server.has(path)) {
      this.server.set(path, DEVICE, { RSSI: -50 - Math.floor(Math.random() * 8) });
      return;
    }
    this.server.add(path, {
      [DEVICE]: {
        props: {
          Address: { sig: "s", value: address },
          AddressType: { sig: "s", value: "random" },
          Name: { sig: "s", value: name },
          Alias: { sig: "s", value: name },
          Paired: { sig: "b", value: false },
          Bonded: { sig: "b", value: false },
          Trusted: { sig: "b", value: false, writable: true },
          Blocked: { sig: "b", value: false },
          LegacyPairing: { sig: "b", value: false },
          RSSI: { sig: "n", value: -52 },
          Connected: { sig: "b", value: false },
          UUIDs: { sig: "as", value: [WIM_SERVICE_UUID] },
          Adapter: { sig: "o", value: this.adapter },
          ServicesResolved: { sig: "b", value: false },
        },
        methods: {
          Connect: () => this.connect(this.ownerOf(path)),
          Disconnect: () => this.disconnect(this.ownerOf(path)),
          Pair: () => {
            throw fault("NotSupported", "the test BlueZ does not pair (issue 13)");
          },
          CancelPairing: () => {
            throw fault("DoesNotExist", "No pairing in progress");
          },
        },
      },
    });
  }

  private ownerOf(path: string): Peripheral {
    const p = this.owners.get(path);
    if (!p) throw fault("DoesNotExist", "Does Not Exist");
    return p;
  }

  private removeDevice(path: string): void {
    const p = this.owners.get(path);
    if (!this.server.has(path) || !p) throw fault("DoesNotExist", "Does Not Exist");
    if (p.connected) void this.disconnect(p).catch(() => undefined);
    this.server.remove(path);
    this.owners.delete(path);
    p.device = undefined;
  }

  /** GATT object paths under the device (BlueZ names them by attribute handle). */
  private gatt(p: Peripheral): { service: string; rx: string; tx: string } {
    const service = `${p.device}/service0010`;
    return { service, rx: `${service}/char0011`, tx: `${service}/char0013` };
  }

  private async connect(p: Peripheral): Promise<void> {
    if (p.connected) return;
    if (p.connecting) throw fault("InProgress", "In Progress");
    p.connecting = true;
    const busy = this.peripherals.filter((q) => q.connected || q.connecting).length;
    this.stats.maxConnected = Math.max(this.stats.maxConnected, busy);
    try {
      let radio: RadioLink;
      try {
        radio = await this.openRadio(p);
      } catch {
        throw fault("Failed", "le-connection-abort-by-local");
      }
      const c = await radio.request(RADIO.CONNECT);
      if (c.type !== RADIO.CONNECTED) throw fault("Failed", "le-connection-abort-by-local");
      p.connected = true;
      p.connects++;
      this.stats.connects++;
      this.server.set(p.device!, DEVICE, { Connected: true });
      const q = Buffer.alloc(2);
      q.writeUInt16LE(Math.max(23, this.centralMtu));
      const m = await radio.request(RADIO.EXCHANGE_MTU, q);
      if (m.type !== RADIO.MTU) throw fault("Failed", "MTU exchange failed");
      const mtu = m.payload.readUInt16LE(0);
      this.stats.mtu = mtu;
      if (!p.connected) throw fault("Failed", "le-connection-abort-by-remote");
      this.addGatt(p, mtu);
      this.server.set(p.device!, DEVICE, { ServicesResolved: true });
    } catch (e) {
      if (p.connected) this.disconnected(p);
      if (e instanceof DBusFault) throw e;
      throw fault("Failed", "le-connection-abort-by-remote");
    } finally {
      p.connecting = false;
    }
  }

  private async disconnect(p: Peripheral): Promise<void> {
    if (!p.connected || !p.radio) throw fault("NotConnected", "Not Connected");
    await p.radio.request(RADIO.DISCONNECT).catch(() => undefined);
    this.disconnected(p);
  }

  /** The link is down: what BlueZ says when a connection ends. */
  private disconnected(p: Peripheral): void {
    if (!p.connected || this.stopped) return;
    p.connected = false;
    p.notifyClients.clear();
    const device = p.device!;
    this.server.set(device, DEVICE, { ServicesResolved: false });
    this.server.set(device, DEVICE, { Connected: false });
    const g = this.gatt(p);
    for (const path of [g.tx, g.rx, g.service]) this.server.remove(path);
  }

  private addGatt(p: Peripheral, mtu: number): void {
    const g = this.gatt(p);
    this.server.add(g.service, {
      [GATT_SERVICE]: {
        props: {
          UUID: { sig: "s", value: WIM_SERVICE_UUID },
          Device: { sig: "o", value: p.device },
          Primary: { sig: "b", value: true },
          Includes: { sig: "ao", value: [] },
          Handle: { sig: "q", value: 0x10 },
        },
        methods: {},
      },
    });
    const readNotPermitted = () => {
      throw fault("NotPermitted", "Read not permitted");
    };
    this.server.add(g.rx, {
      [GATT_CHARACTERISTIC]: {
        props: {
          UUID: { sig: "s", value: WIM_RX_UUID },
          Service: { sig: "o", value: g.service },
          Value: { sig: "ay", value: Buffer.alloc(0) },
          Flags: { sig: "as", value: ["write-without-response", "write"] },
          MTU: { sig: "q", value: mtu },
          Handle: { sig: "q", value: 0x12 },
        },
        methods: {
          ReadValue: readNotPermitted,
          WriteValue: (m) => this.write(p, m.body[0] as Buffer, m.body[1] as Record<string, dbus.Variant>),
          StartNotify: () => {
            throw fault("NotSupported", "Operation is not supported");
          },
          StopNotify: () => {
            throw fault("NotSupported", "Operation is not supported");
          },
        },
      },
    });
    this.server.add(g.tx, {
      [GATT_CHARACTERISTIC]: {
        props: {
          UUID: { sig: "s", value: WIM_TX_UUID },
          Service: { sig: "o", value: g.service },
          Value: { sig: "ay", value: Buffer.alloc(0) },
          Notifying: { sig: "b", value: false },
          Flags: { sig: "as", value: ["notify"] },
          MTU: { sig: "q", value: mtu },
          Handle: { sig: "q", value: 0x14 },
        },
        methods: {
          ReadValue: readNotPermitted,
          WriteValue: () => {
            throw fault("NotPermitted", "Write not permitted");
          },
          StartNotify: (m) => this.subscribe(p, m.sender, true),
          StopNotify: (m) => this.subscribe(p, m.sender, false),
        },
      },
    });
  }

  private async write(p: Peripheral, value: Buffer, options: Record<string, dbus.Variant>): Promise<void> {
    if (!p.connected || !p.radio) throw fault("Failed", "Not connected");
    const type = (options?.type?.value as string | undefined) ?? "request";
    if (!["request", "command", "reliable"].includes(type)) throw fault("InvalidArguments", `bad write type ${type}`);
    if (options?.offset?.value) throw fault("InvalidOffset", "the radio model writes at offset 0 only");
    this.stats.writes.push(value.length);
    const r = await p.radio.request(RADIO.WRITE, value).catch(() => undefined);
    if (!r) throw fault("Failed", "Not connected");
    const e = writeError(r.payload[0]);
    if (e) throw e;
  }

  private async subscribe(p: Peripheral, sender: string, on: boolean): Promise<void> {
    if (!p.connected || !p.radio) throw fault("Failed", "Not connected");
    if (on && p.notifyClients.has(sender)) throw fault("InProgress", "In Progress");
    if (!on && !p.notifyClients.has(sender)) throw fault("Failed", "No notify session started");
    const first = on && p.notifyClients.size === 0;
    if (on) p.notifyClients.add(sender);
    else p.notifyClients.delete(sender);
    const last = !on && p.notifyClients.size === 0;
    if (!first && !last) return;
    const r = await p.radio.request(RADIO.SUBSCRIBE, Buffer.from([on ? 1 : 0])).catch(() => undefined);
    if (!r || r.type !== RADIO.SUBSCRIBED) throw fault("Failed", "Not connected");
    if (p.connected) this.server.set(this.gatt(p).tx, GATT_CHARACTERISTIC, { Notifying: on });
  }

  /** A D-Bus client went away: its notify sessions end (the last one unsubscribes), and its discovery session. */
  private clientLeft(name: string): void {
    for (const p of this.peripherals) {
      if (p.notifyClients.has(name) && p.connected) void this.subscribe(p, name, false).catch(() => undefined);
    }
    if (this.sessions.has(name)) this.stopDiscovery(name);
    this.filters.delete(name);
  }

  private notified(p: Peripheral, bytes: Buffer): void {
    if (!p.connected || p.notifyClients.size === 0) return;
    this.stats.notifications++;
    this.server.set(this.gatt(p).tx, GATT_CHARACTERISTIC, { Value: bytes });
  }
}
