/**
 * The Env: everything the security manager gets from its platform. Three exist: the ESP32
 * (hosts/esp32), the simulator (sim/) and the Node test Env (test/). modules/wim and modules/at
 * touch nothing else — no Moddable, Node or Linux API.
 */
import type { NativeCrypto } from "./native.js";

/** A byte link to the PC: UART, BLE, or the simulator's PTY. */
export interface Transport {
  write(bytes: Uint8Array): void;
  /** Registers the receiver of bytes from the PC (one receiver per transport). */
  onReceive(receiver: (bytes: Uint8Array) => void): void;
  /** Bytes received but not yet delivered (seen while a long command runs); absent where unknown. */
  pending?(): number;
}

/** What the device runs on. */
export interface Env {
  /** The links to the PC (the simulator has one, the ESP32 UART and BLE). */
  readonly transports: readonly Transport[];
  /** The C module: key store and RSA. */
  readonly native: NativeCrypto;
  /** Fills `bytes` from the hardware RNG or the OS (never Math.random). */
  random(bytes: Uint8Array): void;
  /** Milliseconds from an arbitrary origin. */
  now(): number;
  /** Diagnostics (never a PIN or key material). */
  log(message: string): void;
  /** Device identity for ATI / +GSN. */
  readonly serial: string;
}
