/**
 * The test BlueZ on its own, for trying `wim agent --ble` by hand against `wim sim --ble`:
 *   npx tsx test/bluez/main.ts STATE/ble.sock [STATE2/ble.sock …]   (one radio per device in range)
 * prints "DBUS_SYSTEM_BUS_ADDRESS=…" and runs until interrupted (docs/ble-pc.md).
 */
import { startBluez } from "./harness.js";

const radios = process.argv.slice(2);
if (radios.length === 0) {
  console.error("usage: npx tsx test/bluez/main.ts RADIO_SOCKET…   (the ble=PATH of each `wim sim --ble`)");
  process.exit(2);
}
const b = await startBluez(radios);
console.log(`DBUS_SYSTEM_BUS_ADDRESS=${b.busAddress}`);
const stop = () => void b.stop().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
