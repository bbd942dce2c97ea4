/**
 * The simulator's Env: the PTY as the serial link, the C module through the host's name table,
 * randomness from the OS (the host installs crypto.getRandomValues from getrandom()), the
 * device's serial number, drawn on its first start and kept beside its flash (sim/identity.c), and
 * the BOOT button and status LED of a dev board, driven and watched through the simulator's control
 * socket (sim/control.c, WIM_SIM_CONTROL; docs/simulator.md), and, with WIM_SIM_BLE, a second link: BLE on
 * the simulator's radio model (sim/ble.ts, sim/ble.c; docs/ble.md), beside the PTY.
 * Runs on XS inside build/wim-sim — no Node API here.
 */
import type { Env, Transport } from "../modules/wim/env.js";
import { NATIVE_NAMES, type NativeCrypto } from "../modules/wim/native.js";
import { buttonPresence } from "../modules/wim/presence.js";
import { simBleTransport } from "./ble.js";

declare const __native: (name: string) => (...args: unknown[]) => unknown;
declare const crypto: { getRandomValues(b: Uint8Array): Uint8Array };

/** The NativeCrypto of the simulator: the glue's host functions, looked up by name. */
export function bindNative(lookup: (name: string) => (...args: unknown[]) => unknown): NativeCrypto {
  const native = {} as Record<string, unknown>;
  for (const [method, name] of Object.entries(NATIVE_NAMES)) native[method] = lookup(name);
  return native as unknown as NativeCrypto;
}

/** Builds the simulator Env. */
export function createEnv(): Env {
  // The firmware's modules are loaded and its main body starts: the simulator takes its memory baseline here.
  (globalThis as { __simMemoryMark?: () => void }).__simMemoryMark?.();
  const write = __native("sim_serial_write");
  const onReceive = __native("sim_serial_on_receive");
  const pending = __native("sim_serial_pending");
  const serial: Transport = {
    pending: () => pending() as number,
    kind: "serial",
    write: (bytes) => void write(bytes),
    onReceive: (receiver) => void onReceive((buf: ArrayBuffer) => receiver(new Uint8Array(buf))),
  };
  const buttonPressed = __native("sim_button_pressed");
  const button = buttonPresence(
    () => buttonPressed() as boolean,
    (callback, ms) => {
      const timer = setTimeout(callback, ms);
      return () => clearTimeout(timer);
    },
  );
  __native("sim_button_on_change")((pressed: boolean) => button.changed(pressed));
  const led = __native("sim_led");
  const deviceSerial = __native("sim_device_serial")() as string;
  const ble = simBleTransport(__native, deviceSerial);
  return {
    transports: ble ? [serial, ble] : [serial],
    native: bindNative(__native),
    random: (bytes) => void crypto.getRandomValues(bytes),
    now: () => Date.now(),
    log: (message) => console.log(message),
    serial: deviceSerial,
    presence: button.presence,
    led: (on) => void led(on),
  };
}
