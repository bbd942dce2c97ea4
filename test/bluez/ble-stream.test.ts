/**
 * The agent's BLE stream (pc/agent/ble.ts) against the test BlueZ on a private bus, bridged to the
 * radio stub (a test double of the simulator's radio model): discovery by service UUID and by
 * address, MTU from BlueZ, writes split at MTU − 3, notifications reassembled, a disconnect
 * failing the command in flight, and the reconnect after it.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { AtLink, LinkError } from "../../pc/agent/link.js";
import { BleCentral, type BleStream, keepConnected, WIM_SERVICE_UUID } from "../../pc/agent/ble.js";
import { tempDir } from "../e2e/harness.js";
import { addressFor } from "./bluez.js";
import { type BluezHandle, startBluez } from "./harness.js";
import { FAULT } from "./radio.js";
import { RadioStub } from "./radio-stub.js";

describe("BLE stream through the test BlueZ (radio stub)", function () {
  this.timeout(30_000);
  const radioPath = path.join(tempDir("ble-unit"), "radio.sock");
  let stub: RadioStub;
  let bz: BluezHandle;
  const centrals: BleCentral[] = [];
  const open = async (address?: string, timeoutMs = 10_000) => {
    const c = await BleCentral.open({ busAddress: bz.busAddress, address, timeoutMs });
    centrals.push(c);
    return c;
  };

  before(async () => {
    stub = await RadioStub.start(radioPath);
    bz = await startBluez(radioPath);
  });
  afterEach(() => {
    for (const c of centrals.splice(0)) c.close();
  });
  after(async () => {
    await bz?.stop();
    await stub?.stop();
  });

  it("lists the adapter through ObjectManager and discovers the device by the service UUID", async () => {
    const c = await open();
    assert.equal(c.props("/org/bluez/hci0", "org.bluez.Adapter1")?.Powered, true);
    const s = await c.connect();
    assert.equal(s.address, addressFor(stub.name));
    assert.equal(s.name, stub.name);
    const dev = `/org/bluez/hci0/dev_${s.address.replace(/:/g, "_")}`;
    assert.deepEqual(c.props(dev, "org.bluez.Device1")?.UUIDs, [WIM_SERVICE_UUID]);
    assert.equal(bz.bluez.stats.mtu, 256, "min(BlueZ's 517, the device's 256)");
    const link = new AtLink(s);
    assert.deepEqual(await link.line("AT"), { info: [], final: "OK" });
    link.close();
  });

  it("splits a long line into writes of at most MTU − 3 bytes and reassembles the notified answer", async () => {
    const c = await open();
    const link = new AtLink(await c.connect());
    const text = "x".repeat(700);
    bz.bluez.stats.writes.length = 0;
    const r = await link.line(`AT+ECHO=${text}`);
    assert.deepEqual(r, { info: [`+ECHO: ${text}`], final: "OK" });
    assert.deepEqual(bz.bluez.stats.writes, [253, 253, 203], "709 bytes in pieces of MTU − 3 = 253");
    link.close();
  });

  it("follows the MTU BlueZ reports: 23 (nothing gained by the exchange) means writes of 20 bytes", async () => {
    bz.bluez.centralMtu = 23;
    await bz.bluez.disconnectDevice().catch(() => undefined); // a connection left by an earlier test keeps its MTU
    try {
      const c = await open();
      const link = new AtLink(await c.connect());
      bz.bluez.stats.writes.length = 0;
      const r = await link.line("AT+ECHO=" + "y".repeat(50));
      assert.equal(r.info[0], "+ECHO: " + "y".repeat(50));
      assert.equal(bz.bluez.stats.mtu, 23);
      assert.deepEqual(bz.bluez.stats.writes, [20, 20, 19]);
      link.close();
    } finally {
      bz.bluez.centralMtu = 517;
    }
  });

  it("finds the device by address when given one, and fails clearly for an address nobody has", async () => {
    const c = await open(addressFor(stub.name).toLowerCase());
    const s = await c.connect();
    assert.equal(s.address, addressFor(stub.name));
    s.close();
    const d = await open("C0:00:00:00:00:01", 1_500);
    await assert.rejects(d.connect(), /no device C0:00:00:00:00:01 advertised within 1500 ms/);
  });

  it("maps a write longer than MTU − 3 to org.bluez.Error.InvalidValueLength, as bluetoothd does", async () => {
    const c = await open();
    const s = await c.connect();
    const dev = `/org/bluez/hci0/dev_${s.address.replace(/:/g, "_")}`;
    const dbus = (await import("dbus-next")).default;
    await assert.rejects(c.call(`${dev}/service0010/char0011`, "org.bluez.GattCharacteristic1", "WriteValue", "aya{sv}",
      [Buffer.alloc(254), { type: new dbus.Variant("s", "request") }]), /org\.bluez\.Error\.InvalidValueLength/);
    s.close();
  });

  it("a client that leaves the bus without StopNotify loses its notify session; another one subscribes afresh", async () => {
    const a = await open();
    const sa = await a.connect();
    const tx = `/org/bluez/hci0/dev_${sa.address.replace(/:/g, "_")}/service0010/char0013`;
    const b = await open();
    assert.equal(b.props(tx, "org.bluez.GattCharacteristic1")?.Notifying, true);
    a.close(); // no StopNotify, no Disconnect: the bus connection just ends
    for (let i = 0; i < 100 && b.props(tx, "org.bluez.GattCharacteristic1")?.Notifying !== false; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(b.props(tx, "org.bluez.GattCharacteristic1")?.Notifying, false);
    const link = new AtLink(await b.connect());
    assert.equal((await link.line("AT")).final, "OK");
    link.close();
  });

  it("a disconnect mid-command fails that command; the next one works after the reconnect", async () => {
    const c = await open();
    const { back, link } = await kept(c);
    assert.equal((await link().line("AT")).final, "OK");
    await bz.bluez.fault(FAULT.CUT_AFTER_NOTIFICATIONS, 0);
    await assert.rejects(link().line("AT+ECHO=cut"), (e: Error) => e instanceof LinkError && /link closed/.test(e.message));
    await back;
    assert.deepEqual(await link().line("AT+ECHO=again"), { info: ["+ECHO: again"], final: "OK" });
    assert.ok(bz.bluez.stats.connects >= 2);
    link().close();
  });

  it("the device going away (the simulator stops) closes the stream; it reconnects when the device is back", async () => {
    const c = await open();
    const { first, back, link } = await kept(c);
    const closed = new Promise<void>((r) => first.onClose(r));
    await stub.stop();
    await closed;
    await assert.rejects(link().line("AT"), /link closed/);
    stub = await RadioStub.start(radioPath);
    await back;
    assert.equal((await link().line("AT")).final, "OK");
    link().close();
  });
});

/** Connects `c` and keeps it connected (the agent's keepConnected): `link()` is the AtLink of the latest
 * connection, `back` resolves at the first reconnect. */
async function kept(c: BleCentral): Promise<{ first: BleStream; back: Promise<void>; link: () => AtLink }> {
  const first = await c.connect();
  let current = new AtLink(first);
  let relinked!: () => void;
  const back = new Promise<void>((r) => (relinked = r));
  keepConnected(c, first, async (s) => {
    current = new AtLink(s);
    relinked();
  });
  return { first, back, link: () => current };
}
