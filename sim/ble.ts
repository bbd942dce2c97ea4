/**
 * The simulator's BLE stack, as the firmware sees it: the part of Moddable's BLEServer that the BLE
 * transport uses (modules/wim/ble.ts), on the radio model of sim/ble.c (WIM_SIM_BLE; docs/ble.md).
 * The model's events reach the transport's BLEServer callbacks; its notifyValue is the model's
 * notification, dropped silently when the stack's buffer is full (as on NimBLE under Moddable).
 * Runs on XS inside build/wim-sim — no Node API here.
 */
import { BleTransport } from "../modules/wim/ble.js";

type Lookup = (name: string) => (...args: unknown[]) => unknown;

/** Event kinds of sim_ble_on_event (sim/ble.c). */
const CONNECTED = 1;
const DISCONNECTED = 2;
const MTU_EXCHANGED = 3;
const NOTIFY = 4;
const WRITTEN = 5;

/** The BLE transport on the radio model, advertising `WIM-` + `serial`; undefined without WIM_SIM_BLE. */
export function simBleTransport(lookup: Lookup, serial: string): BleTransport | undefined {
  if (!lookup("sim_ble_available")()) return undefined;
  const notify = lookup("sim_ble_notify");
  const transport = new BleTransport({ notifyValue: (bytes) => void notify(bytes) }, (callback, ms) => {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  });
  lookup("sim_ble_on_event")((kind: number, value: unknown) => {
    if (kind === CONNECTED) transport.onConnected();
    else if (kind === DISCONNECTED) transport.onDisconnected();
    else if (kind === MTU_EXCHANGED) transport.onMTUExchanged(value as number);
    else if (kind === NOTIFY) value ? transport.onCharacteristicNotifyEnabled() : transport.onCharacteristicNotifyDisabled();
    else if (kind === WRITTEN) transport.onCharacteristicWritten(new Uint8Array(value as ArrayBuffer));
  });
  lookup("sim_ble_advertise")("WIM-" + serial);
  return transport;
}
