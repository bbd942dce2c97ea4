/**
 * `wim agent [--device PATH | --watch GLOB[:GLOB…]] [--ble-watch] [--allow-unpaired] [--socket PATH] [--background]`:
 * serves PKCS#11 modules for the device on a serial port, or (no --device) for every WIM found on the
 * serial ports and on --watch / $WIM_WATCH (pc/agent/watch.ts; docs/agent.md), and with --ble-watch
 * for every WIM advertising over Bluetooth LE through BlueZ too (pc/agent/ble-watch.ts).
 * `wim agent --ble [ADDRESS] [--socket PATH] [--background]`: the same for a device over Bluetooth LE
 * through BlueZ (pc/agent/ble.ts; docs/ble-pc.md): the device at ADDRESS, else the first
 * one advertising the WIM service; reconnects. Agents refuse a socket that another agent serves or that
 * sits in an unsafe directory (socket.ts), and stop when their parent goes away unless --background
 * (lifetime.ts). The host's key and the paired devices' keys live in $WIM_STATE_DIR (hostkeys.ts).
 */
import { BleCentral } from "../agent/ble.js";
import { attachBle } from "../agent/ble-slot.js";
import { BleWatcher } from "../agent/ble-watch.js";
import { HostKeys } from "../agent/hostkeys.js";
import { defaultSocketPath } from "../agent/paths.js";
import { listenAgent } from "../agent/server.js";
import { Registry } from "../agent/registry.js";
import { claimSocket } from "../agent/socket.js";
import { watchPorts } from "../agent/watch.js";
import { MODULE, type Options, fail, usage } from "./common.js";
import { stopWith } from "./lifetime.js";

export async function agent(o: Options): Promise<void> {
  if (o.has("--ble")) return agentBle(o);
  const dev = o.get("--device") as string | undefined;
  const bleWatch = o.has("--ble-watch");
  if (dev && bleWatch) usage("wim agent: --device and --ble-watch exclude each other");
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  await claimSocket(socket).catch((e) => fail(e.message));
  const log = (t: string) => console.error(`wim: ${t}`), registry = new Registry(), keys = new HostKeys();
  // BLE watch mode: its devices are disconnected on the way out (they advertise again for the next agent)
  const ble = bleWatch ? new BleWatcher(registry, { secure: { keys, log }, allowUnpaired: o.has("--allow-unpaired"), log }) : undefined;
  stopWith(() => void (ble?.stop() ?? Promise.resolve()).catch(() => undefined).finally(() => process.exit(0)), o.has("--background"));
  await watchPorts(registry, { device: dev, watch: ((o.get("--watch") as string) ?? "").split(":").filter(Boolean), allowUnpaired: o.has("--allow-unpaired"),
    secure: { keys, log } }).catch((e) => fail(`device did not answer: ${e.message}`));
  ble?.start();
  await listenAgent(registry, socket).catch((e) => fail(e.message));
  console.log(`ready module=${MODULE} socket=${socket} ${dev ? `device=${dev}` : bleWatch ? "watch ble" : "watch"}`);
}

/**
 * `wim agent --ble [ADDRESS]`: the device through BlueZ (the system bus, or DBUS_SYSTEM_BUS_ADDRESS).
 * A disconnect fails the command in flight (CKR_DEVICE_ERROR); the agent connects again and the
 * device's channels and sessions start afresh, as after a restart.
 */
async function agentBle(o: Options): Promise<void> {
  if (o.has("--device")) usage("wim agent: --device and --ble exclude each other");
  if (o.has("--ble-watch")) usage("wim agent: --ble (one device) and --ble-watch (every device) exclude each other");
  const address = o.get("--ble");
  const socket = (o.get("--socket") as string) ?? defaultSocketPath();
  await claimSocket(socket).catch((e) => fail(e.message));
  const log = (text: string) => console.error(`wim: ${text}`);
  const central = await BleCentral.open({ address: typeof address === "string" ? address : undefined, log }).catch((e) => fail(e.message));
  stopWith(() => void central.shutdown().finally(() => process.exit(0)), o.has("--background"));
  const stream = await central.connect().catch((e) => fail(e.message));
  const registry = new Registry();
  await attachBle(registry, central, stream, { keys: new HostKeys(), log }, log).catch((e) => fail(`device did not answer: ${e.message}`));
  await listenAgent(registry, socket).catch((e) => fail(e.message));
  console.log(`ready module=${MODULE} socket=${socket} ble=${stream.address}`);
}
