/**
 * The ESP32 Env (Moddable SDK): the UART as the serial link (ECMA-419 io Serial from
 * embedded:provider/builtin, with pending() so a byte from the PC cancels a long command, uart.ts),
 * the flash partition and hardware RNG through the C module (hosts/esp32/wim_host.c), the serial
 * number from the eFuse MAC, the board's BOOT button as the user-presence input and its status LED
 * (ECMA-419 Digital), and the native host functions bound with Moddable's `@` syntax in native.js
 * (generated from modules/wim/native/natives.table). Type-checked against Moddable's typings
 * (tsconfig.esp32.json); built only with the Moddable SDK (mcconfig), which this repository's CI
 * cannot run — docs/esp32.md gives the steps. The second link is BLE: the GATT serial service of
 * docs/ble.md on Moddable's BLEServer (ble.ts), beside the UART, each with its own AT engine and channels.
 *
 * Board pins: the button and LED come from, in order, mcconfig's config (`wimButton=N`, `wimLed=N` on
 * the mcconfig command line or in a manifest's "config"; -1 means the board has none), the builtin
 * provider's `device.pin.button` / `device.pin.led` (the SDK's c3_devkit_rust target: 9 and 7), and
 * the ESP32-DevKitC's BOOT button GPIO0 and LED GPIO2. docs/esp32.md lists the boards.
 */
import device from "embedded:provider/builtin";
import config from "mc/config";
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";
import Timer from "timer";
import type { Env, Presence } from "../../modules/wim/env.js";
import { buttonPresence } from "modules/wim/presence";
import native, { deviceSerial, hardwareRandom } from "hosts/esp32/native";
import { uartTransport } from "hosts/esp32/uart";
import { bleTransport } from "hosts/esp32/ble";

/** The ESP32-DevKitC's pins: BOOT is GPIO0 (active low, pulled up), the LED is on GPIO2. */
export const DEVKITC = { button: 0, led: 2 } as const;

/** The security manager uses TextEncoder/TextDecoder as globals, as in the simulator. */
function installTextGlobals(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  g.TextEncoder ??= TextEncoder;
  g.TextDecoder ??= TextDecoder;
}

/** A pin from the config (number or numeric string), else the provider's, else the fallback; -1: none. */
function boardPin(configured: unknown, provided: unknown, fallback: number): number | undefined {
  for (const value of [configured, provided]) {
    if (value === undefined || value === null || value === "") continue;
    const pin = Number(value);
    if (pin === -1) return undefined;
    if (Number.isInteger(pin) && pin >= 0 && pin < 64) return pin;
    throw new RangeError(`wim: invalid GPIO ${String(value)}`);
  }
  return fallback;
}

function uart() {
  const link = uartTransport({ read: () => port.read(), write: (bytes) => port.write(bytes) });
  const port = new device.io.Serial({
    ...device.Serial.default,
    baud: 115200,
    format: "buffer",
    onReadable() {
      link.readable();
    },
  });
  return link.transport;
}

/** The BOOT button (active low: the input reads 0 while it is held). */
function bootButton(pin: number): Presence {
  const Digital = device.io.Digital;
  let changed: (pressed: boolean) => void = () => {};
  const input = new Digital({
    pin,
    mode: Digital.InputPullUp,
    edge: Digital.Rising | Digital.Falling,
    onReadable() {
      changed(this.read() === 0);
    },
  });
  const button = buttonPresence(
    () => input.read() === 0,
    (callback, ms) => {
      const timer = Timer.set(() => callback(), ms);
      return () => Timer.clear(timer);
    },
  );
  changed = button.changed;
  return button.presence;
}

function statusLed(pin: number): (on: boolean) => void {
  const output = new device.io.Digital({ pin, mode: device.io.Digital.Output });
  output.write(0);
  return (on) => output.write(on ? 1 : 0);
}

/** Builds the ESP32 Env. */
export function createEnv(): Env {
  installTextGlobals();
  const pins = (device as { pin?: Record<string, unknown> }).pin ?? {};
  const buttonPin = boardPin(config.wimButton, pins.button, DEVKITC.button);
  const ledPin = boardPin(config.wimLed, pins.led, DEVKITC.led);
  const serial = deviceSerial();
  return {
    transports: [uart(), bleTransport(serial)],
    native,
    random: (bytes) => hardwareRandom(bytes),
    now: () => Date.now(),
    log: (m) => trace(m + "\n"),
    serial,
    presence: buttonPin === undefined ? undefined : bootButton(buttonPin),
    led: ledPin === undefined ? undefined : statusLed(ledPin),
  };
}
