/**
 * The test BlueZ: a D-Bus service that owns org.bluez on a private bus and implements the part of
 * BlueZ's API the agent uses (docs/ble-pc.md says what it models and where it guesses), bridged to
 * the simulator's radio model (docs/ble.md):
 *
 *   Adapter1 StartDiscovery      → SCAN, repeated while discovering; each ADVERTISEMENT makes or
 *                                  refreshes a Device1 (filtered as SetDiscoveryFilter asked)
 *   Device1 Connect              → CONNECT, EXCHANGE_MTU 517 (BlueZ's default), then the GATT
 *                                  objects (GattService1, two GattCharacteristic1 with MTU) and
 *                                  ServicesResolved
 *   GattCharacteristic1 StartNotify / StopNotify → SUBSCRIBE 1 / 0 (first / last client), Notifying
 *   GattCharacteristic1 WriteValue → WRITE; ATT errors become BlueZ's D-Bus errors
 *   NOTIFY                       → TX Value PropertiesChanged
 *   DISCONNECTED, socket closed  → ServicesResolved and Connected false, GATT objects removed
 *   Device1 Disconnect           → DISCONNECT
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
}

/** The test BlueZ on one bus, with one adapter (hci0) and the radio model at `radioPath`. */
export class TestBluez {
  readonly adapter = "/org/bluez/hci0";
  readonly stats: BluezStats = { writes: [], notifications: 0, connects: 0, mtu: 0 };
  /** The MTU this central offers in the exchange at the next Connect (BlueZ's 517; tests vary it, ≥ 23). */
  centralMtu = BLUEZ_MTU;
  private readonly server: ObjectServer;
  private radio: RadioLink | undefined;
  private opening: Promise<RadioLink> | undefined;
  private scanTimer: ReturnType<typeof setInterval> | undefined;
  private scanning = false;
  private filter: { uuids: string[]; transport: string } = { uuids: [], transport: "auto" };
  /** The device object the radio's advertisement made, and its GATT objects when connected. */
  private device: string | undefined;
  private connected = false;
  private connecting = false;
  private notifyClients = new Set<string>();
  private stopped = false;

  private constructor(private readonly bus: dbus.MessageBus, private readonly radioPath: string) {
    this.server = new ObjectServer(bus);
    this.server.add("/org/bluez", { "org.bluez.AgentManager1": { props: {}, methods: {} } });
    this.server.add(this.adapter, { [ADAPTER]: this.adapterIface() });
  }

  /** Connects to the bus at `busAddress`, owns org.bluez and serves hci0 bridged to the radio at `radioPath`. */
  static async start(busAddress: string, radioPath: string): Promise<TestBluez> {
    const bus = dbus.sessionBus({ busAddress });
    await new Promise<void>((resolve, reject) => {
      bus.once("connect", resolve);
      bus.once("error", reject);
    });
    bus.on("error", () => undefined);
    const bluez = new TestBluez(bus, radioPath);
    // a client that leaves the bus loses its notify session, as in bluetoothd
    await bus.call(new dbus.Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
      member: "AddMatch", signature: "s", body: ["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"] }));
    bus.on("message", (m: dbus.Message) => {
      if (m.type === dbus.MessageType.SIGNAL && m.member === "NameOwnerChanged" && m.body[2] === "") bluez.clientLeft(m.body[0] as string);
    });
    const r = await bus.requestName("org.bluez", dbus.NameFlag.DO_NOT_QUEUE);
    if (r !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`org.bluez is taken on ${busAddress} (${r})`);
    return bluez;
  }

  /** Sets a fault of the radio model (docs/ble.md: 0 clears, 1 delays, 2 buffer, 3 cuts after n notifications). */
  async fault(kind: number, value: number): Promise<void> {
    const radio = await this.openRadio();
    const p = Buffer.alloc(5);
    p[0] = kind;
    p.writeUInt32LE(value, 1);
    await radio.request(RADIO.FAULT, p);
  }

  /** Ends the connection from the PC's side, as another client's Device1.Disconnect (or `bluetoothctl disconnect`) would. */
  async disconnectDevice(): Promise<void> {
    await this.disconnect();
  }

  /** Leaves the bus and the radio. */
  stop(): void {
    this.stopped = true;
    if (this.scanTimer) clearInterval(this.scanTimer);
    if (this.radio) this.radio.onClose = this.radio.onDisconnected = this.radio.onNotify = () => {};
    this.radio?.close();
    this.bus.disconnect();
  }

  private openRadio(): Promise<RadioLink> {
    if (this.radio && !this.radio.isClosed) return Promise.resolve(this.radio);
    if (this.stopped) return Promise.reject(new Error("stopped"));
    this.opening ??= RadioLink.open(this.radioPath).then((r) => {
      this.radio = r;
      r.onNotify = (b) => this.notified(b);
      r.onDisconnected = () => this.disconnected();
      r.onClose = () => this.disconnected();
      return r;
    }).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
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
        SetDiscoveryFilter: (m) => this.setFilter(m.body[0] as Record<string, dbus.Variant>),
        GetDiscoveryFilters: () => ({ signature: "as", body: [["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]] }),
        StartDiscovery: () => this.startDiscovery(),
        StopDiscovery: () => this.stopDiscovery(),
        RemoveDevice: (m) => this.removeDevice(m.body[0] as string),
      },
    };
  }

  private setFilter(f: Record<string, dbus.Variant>): void {
    const known = ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"];
    for (const k of Object.keys(f)) if (!known.includes(k)) throw fault("InvalidArguments", `unknown filter ${k}`);
    const transport = (f.Transport?.value as string | undefined) ?? "auto";
    if (!["auto", "bredr", "le"].includes(transport)) throw fault("InvalidArguments", `bad Transport ${transport}`);
    this.filter = { uuids: ((f.UUIDs?.value as string[] | undefined) ?? []).map((u) => u.toLowerCase()), transport };
  }

  private startDiscovery(): void {
    if (this.server.get(this.adapter, ADAPTER, "Powered") !== true) throw fault("NotReady", "Resource Not Ready");
    if (this.scanTimer) throw fault("InProgress", "Operation already in progress");
    this.server.set(this.adapter, ADAPTER, { Discovering: true });
    this.scanTimer = setInterval(() => void this.scan(), SCAN_INTERVAL_MS);
    void this.scan();
  }

  private stopDiscovery(): void {
    if (!this.scanTimer) throw fault("Failed", "No discovery started");
    clearInterval(this.scanTimer);
    this.scanTimer = undefined;
    this.server.set(this.adapter, ADAPTER, { Discovering: false });
  }

  /** One SCAN: the advertisement makes (or refreshes) the device object. */
  private async scan(): Promise<void> {
    if (this.scanning || this.stopped) return;
    this.scanning = true;
    try {
      const radio = await this.openRadio();
      const ad = await radio.request(RADIO.SCAN);
      if (ad.type !== RADIO.ADVERTISEMENT || !this.scanTimer) return;
      if (this.filter.transport === "bredr") return;
      if (this.filter.uuids.length && !this.filter.uuids.includes(WIM_SERVICE_UUID)) return;
      const name = ad.payload.subarray(1).toString("utf8");
      this.advertised(name);
    } catch {
      // no radio listening (the simulator is not running): nothing advertises
    } finally {
      this.scanning = false;
    }
  }

  private advertised(name: string): void {
    const address = addressFor(name);
    const path = `${this.adapter}/dev_${address.replace(/:/g, "_")}`;
    if (this.server.has(path)) {
      this.server.set(path, DEVICE, { RSSI: -50 - Math.floor(Math.random() * 8) });
      return;
    }
    this.device = path;
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
          Connect: () => this.connect(),
          Disconnect: () => this.disconnect(),
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

  private removeDevice(path: string): void {
    if (!this.server.has(path) || path !== this.device) throw fault("DoesNotExist", "Does Not Exist");
    if (this.connected) void this.disconnect().catch(() => undefined);
    this.server.remove(path);
    this.device = undefined;
  }

  /** GATT object paths under the device (BlueZ names them by attribute handle). */
  private gatt(): { service: string; rx: string; tx: string } {
    const service = `${this.device}/service0010`;
    return { service, rx: `${service}/char0011`, tx: `${service}/char0013` };
  }

  private async connect(): Promise<void> {
    if (this.connected) return;
    if (this.connecting) throw fault("InProgress", "In Progress");
    this.connecting = true;
    try {
      let radio: RadioLink;
      try {
        radio = await this.openRadio();
      } catch {
        throw fault("Failed", "le-connection-abort-by-local");
      }
      const c = await radio.request(RADIO.CONNECT);
      if (c.type !== RADIO.CONNECTED) throw fault("Failed", "le-connection-abort-by-local");
      this.connected = true;
      this.stats.connects++;
      this.server.set(this.device!, DEVICE, { Connected: true });
      const q = Buffer.alloc(2);
      q.writeUInt16LE(Math.max(23, this.centralMtu));
      const m = await radio.request(RADIO.EXCHANGE_MTU, q);
      if (m.type !== RADIO.MTU) throw fault("Failed", "MTU exchange failed");
      const mtu = m.payload.readUInt16LE(0);
      this.stats.mtu = mtu;
      if (!this.connected) throw fault("Failed", "le-connection-abort-by-remote");
      this.addGatt(mtu);
      this.server.set(this.device!, DEVICE, { ServicesResolved: true });
    } catch (e) {
      if (this.connected) this.disconnected();
      if (e instanceof DBusFault) throw e;
      throw fault("Failed", "le-connection-abort-by-remote");
    } finally {
      this.connecting = false;
    }
  }

  private async disconnect(): Promise<void> {
    if (!this.connected || !this.radio) throw fault("NotConnected", "Not Connected");
    await this.radio.request(RADIO.DISCONNECT).catch(() => undefined);
    this.disconnected();
  }

  /** The link is down: what BlueZ says when a connection ends. */
  private disconnected(): void {
    if (!this.connected || this.stopped) return;
    this.connected = false;
    this.notifyClients.clear();
    const device = this.device!;
    this.server.set(device, DEVICE, { ServicesResolved: false });
    this.server.set(device, DEVICE, { Connected: false });
    const g = this.gatt();
    for (const p of [g.tx, g.rx, g.service]) this.server.remove(p);
  }

  private addGatt(mtu: number): void {
    const g = this.gatt();
    this.server.add(g.service, {
      [GATT_SERVICE]: {
        props: {
          UUID: { sig: "s", value: WIM_SERVICE_UUID },
          Device: { sig: "o", value: this.device },
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
          WriteValue: (m) => this.write(m.body[0] as Buffer, m.body[1] as Record<string, dbus.Variant>),
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
          StartNotify: (m) => this.subscribe(m.sender, true),
          StopNotify: (m) => this.subscribe(m.sender, false),
        },
      },
    });
  }

  private async write(value: Buffer, options: Record<string, dbus.Variant>): Promise<void> {
    if (!this.connected || !this.radio) throw fault("Failed", "Not connected");
    const type = (options?.type?.value as string | undefined) ?? "request";
    if (!["request", "command", "reliable"].includes(type)) throw fault("InvalidArguments", `bad write type ${type}`);
    if (options?.offset?.value) throw fault("InvalidOffset", "the radio model writes at offset 0 only");
    this.stats.writes.push(value.length);
    const r = await this.radio.request(RADIO.WRITE, value).catch(() => undefined);
    if (!r) throw fault("Failed", "Not connected");
    const e = writeError(r.payload[0]);
    if (e) throw e;
  }

  private async subscribe(sender: string, on: boolean): Promise<void> {
    if (!this.connected || !this.radio) throw fault("Failed", "Not connected");
    if (on && this.notifyClients.has(sender)) throw fault("InProgress", "In Progress");
    if (!on && !this.notifyClients.has(sender)) throw fault("Failed", "No notify session started");
    const first = on && this.notifyClients.size === 0;
    if (on) this.notifyClients.add(sender);
    else this.notifyClients.delete(sender);
    const last = !on && this.notifyClients.size === 0;
    if (!first && !last) return;
    const r = await this.radio.request(RADIO.SUBSCRIBE, Buffer.from([on ? 1 : 0])).catch(() => undefined);
    if (!r || r.type !== RADIO.SUBSCRIBED) throw fault("Failed", "Not connected");
    if (this.connected) this.server.set(this.gatt().tx, GATT_CHARACTERISTIC, { Notifying: on });
  }

  /** A D-Bus client went away: its notify session ends (the last one unsubscribes). */
  private clientLeft(name: string): void {
    if (this.notifyClients.has(name) && this.connected) void this.subscribe(name, false).catch(() => undefined);
  }

  private notified(bytes: Buffer): void {
    if (!this.connected || this.notifyClients.size === 0) return;
    this.stats.notifications++;
    this.server.set(this.gatt().tx, GATT_CHARACTERISTIC, { Value: bytes });
  }
}
