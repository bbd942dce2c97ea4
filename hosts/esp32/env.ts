/**
 * The ESP32 Env (Moddable SDK): the UART as the serial link (ECMA-419 io Serial), the flash
 * partition and hardware RNG through the C module (hosts/esp32/wim_host.c), and the native
 * host functions bound with Moddable's `@` syntax in native.js.
 *
 * It is built only with the Moddable SDK (mcconfig), which this repository's CI cannot run;
 * docs/esp32.md gives the steps. The BLE transport (a GATT serial service) is a later issue.
 */
import type { Env, Transport } from "../../modules/wim/env.js";
import native, { hardwareRandom } from "./native.js";

declare const device: {
  io: { Serial: new (options: Record<string, unknown>) => { read(): ArrayBuffer | undefined; write(b: ArrayBuffer): number } };
  serial?: { transmit: number; receive: number; port: number };
};
declare const trace: (s: string) => void;

function uart(): Transport {
  let receiver: (b: Uint8Array) => void = () => {};
  const port = new device.io.Serial({
    ...device.serial,
    baud: 115200,
    format: "buffer",
    onReadable(this: { read(): ArrayBuffer | undefined }) {
      const data = this.read();
      if (data) receiver(new Uint8Array(data));
    },
  });
  return {
    write: (bytes) => void port.write(bytes.slice().buffer as ArrayBuffer),
    onReceive: (r) => void (receiver = r),
  };
}

/** Builds the ESP32 Env. */
export function createEnv(): Env {
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
    serial: "ESP32",
  };
}
