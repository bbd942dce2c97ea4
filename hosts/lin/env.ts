/**
 * The Env of the Moddable Linux check target (mcconfig -m -p x-cli-lin, `make moddable-check`):
 * a PTY as the serial port, a file as the flash, randomness from the OS (hosts/lin/lin_host.c).
 * It runs the same firmware archive that xsl links for the ESP32 — the same module names, preload
 * and C glue (modules/wim/native/wim_xs.c bound by hosts/esp32/native.js) — so the real XS 17 runs
 * what the device runs. Not a product: the simulator (sim/) is the desktop token.
 */
import type { Env, Transport } from "../../modules/wim/env.js";
import native, { deviceSerial, hardwareRandom } from "hosts/esp32/native";
import { open, pending, write } from "hosts/lin/serial";

function pty(): Transport {
  let receiver: (b: Uint8Array) => void = () => {};
  open((buffer) => receiver(new Uint8Array(buffer)));
  return {
    write: (bytes) => write(bytes),
    onReceive: (r) => void (receiver = r),
    pending: () => pending(),
  };
}

/** Builds the Linux check target's Env. */
export function createEnv(): Env {
  return {
    transports: [pty()],
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
