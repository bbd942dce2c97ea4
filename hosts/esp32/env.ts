/**
 * The ESP32 Env (Moddable SDK): the UART as the serial link (ECMA-419 io Serial from
 * embedded:provider/builtin), the flash partition and hardware RNG through the C module
 * (hosts/esp32/wim_host.c), the serial number from the eFuse MAC, and the native host functions bound with Moddable's `@` syntax in
 * native.js. Type-checked against Moddable's typings (tsconfig.esp32.json); built only with the
 * Moddable SDK (mcconfig), which this repository's CI cannot run — docs/esp32.md gives the steps.
 * The BLE transport (a GATT serial service) is a later issue.
 */
import device from "embedded:provider/builtin";
import TextDecoder from "text/decoder";
import TextEncoder from "text/encoder";
import type { Env, Transport } from "../../modules/wim/env.js";
import native, { deviceSerial, hardwareRandom } from "hosts/esp32/native";

/** The security manager uses TextEncoder/TextDecoder as globals, as in the simulator. */
function installTextGlobals(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  g.TextEncoder ??= TextEncoder;
  g.TextDecoder ??= TextDecoder;
}

function uart(): Transport {
  let receiver: (b: Uint8Array) => void = () => {};
  const port = new device.io.Serial({
    ...device.Serial.default,
    baud: 115200,
    format: "buffer",
    onReadable() {
      const data = this.read();
      if (data instanceof ArrayBuffer) receiver(new Uint8Array(data));
    },
  });
  return {
    write: (bytes) => port.write(bytes),
    onReceive: (r) => void (receiver = r),
  };
}

/** Builds the ESP32 Env. */
export function createEnv(): Env {
  installTextGlobals();
  return {
    transports: [uart()],
    native,
    random: (bytes) => {
      const buf = new ArrayBuffer(bytes.length);
      hardwareRandom(buf);
      bytes.set(new Uint8Array(buf));
    },
    now: () => Date.now(),
    log: (m) => trace(m + "\n"),
    serial: deviceSerial(),
  };
}
