/**
 * The Env: everything the security manager gets from its platform. Three exist: the ESP32
 * (hosts/esp32), the simulator (sim/) and the Node test Env (test/). modules/wim and modules/at
 * touch nothing else — no Moddable, Node or Linux API.
 */
import type { NativeCrypto } from "./native.js";

/** A byte link to the PC: UART, BLE, or the simulator's PTY. */
export interface Transport {
  /**
   * What carries the link: "serial" (a cable: the UART, the simulator's PTY) or "ble" (the radio).
   * Pairing is accepted only on a serial link (docs/channel.md); absent counts as neither.
   */
  readonly kind?: "serial" | "ble";
  /**
   * Forgets the link layer's bonds (the ESP32's BLE stack: every LE Secure Connections key it stored),
   * called when every host is unpaired; absent on links without bonds (the UART, the simulator's radio
   * model). The bond is a second layer under the secure channel (docs/channel.md), never the only one.
   */
  forgetBonds?(): void;
  write(bytes: Uint8Array): void;
  /** Registers the receiver of bytes from the PC (one receiver per transport). */
  onReceive(receiver: (bytes: Uint8Array) => void): void;
  /** Bytes received but not yet delivered (seen while a long command runs); absent where unknown. */
  pending?(): number;
  /**
   * Registers what runs when the link ends and a new one may begin (a BLE disconnect): the firmware
   * then closes the link's logical channels and sessions and resets its AT engine. Absent on links
   * that never end this way (the UART: a PC that goes away leaves its channels to the agent).
   */
  onReset?(callback: () => void): void;
}

/**
 * A user-presence input: the board's button (the ESP32 dev boards' BOOT button), for pairing and
 * touch-to-sign policies. The simulator's is driven through its control socket (docs/simulator.md).
 */
export interface Presence {
  /** Whether the button is held down now. */
  pressed(): boolean;
  /**
   * Resolves true at the next press (at once if it is held down now), false after `ms` milliseconds
   * without one. Several waits may be pending; a press resolves them all.
   */
  wait(ms: number): Promise<boolean>;
  /**
   * Resolves true if the button, held down now, stays down for `ms` milliseconds; false at once if it
   * is up, or at its release.
   */
  held(ms: number): Promise<boolean>;
  /** Registers a listener of the button's changes (true: pressed); several may be registered. */
  onChange(listener: (pressed: boolean) => void): void;
}

/** What the device runs on. */
export interface Env {
  /** The links to the PC (the simulator: its PTY, and BLE with WIM_SIM_BLE; the ESP32: UART and BLE). */
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
  /** The user-presence button, where the board has one (optional capability). */
  readonly presence?: Presence;
  /** Turns the status LED on or off, where the board has one (optional capability). */
  led?(on: boolean): void;
}
