/**
 * The test BlueZ on its own, for trying `wim agent --ble` by hand against `wim sim --ble`:
 *   npx tsx test/bluez/main.ts STATE/ble.sock
 * prints "DBUS_SYSTEM_BUS_ADDRESS=…" and runs until interrupted (docs/ble-pc.md).
 */
import { startBluez } from "./harness.js";

const radio = process.argv[2];
if (!radio) {
  console.error("usage: npx tsx test/bluez/main.ts RADIO_SOCKET   (the ble=PATH of `wim sim --ble`)");
  process.exit(2);
}
const b = await startBluez(radio);
console.log(`DBUS_SYSTEM_BUS_ADDRESS=${b.busAddress}`);
const stop = () => void b.stop().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
