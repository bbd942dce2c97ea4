/**
 * The test BlueZ for end-to-end tests: a private dbus-daemon with the test BlueZ on it, bridged to
 * radio models' sockets (the simulators' WIM_SIM_BLE, or the radio stub): one per device in range.
 */
import { TestBluez } from "./bluez.js";
import { startBus } from "./daemon.js";

/** A running test BlueZ. */
export interface BluezHandle {
  /** The private bus's address: DBUS_SYSTEM_BUS_ADDRESS for `wim agent --ble`. */
  busAddress: string;
  /** The service (faults, counters). */
  bluez: TestBluez;
  stop(): Promise<void>;
}

/** Starts a private bus and the test BlueZ on it, bridged to the radio model(s) at `radioSocket` (one per device in range). */
export async function startBluez(radioSocket: string | string[]): Promise<BluezHandle> {
  const bus = await startBus();
  try {
    const bluez = await TestBluez.start(bus.address, radioSocket);
    return {
      busAddress: bus.address, bluez,
      stop: async () => {
        bluez.stop();
        await bus.stop();
      },
    };
  } catch (e) {
    await bus.stop();
    throw e;
  }
}
