/**
 * The BLE transport: the AT link over the GATT serial service of docs/ble.md, on any BLE stack that
 * offers the part of Moddable's BLEServer below. Pure: the ESP32 (hosts/esp32/ble.ts, on Moddable's
 * BLEServer) and the simulator (sim/ble.ts, on its radio model) forward their stack's callbacks to it
 * and give it notifyValue and a timer.
 *
 * - Writes to RX go to the receiver (the AT engine) as they come: the engine reassembles lines from
 *   any split.
 * - Bytes for the PC are queued and sent as TX notifications of at most MTU − 3 bytes (MTU 23 until
 *   the central exchanges it), one every NOTIFY_INTERVAL_MS: the stack's notifyValue reports no
 *   failure (Moddable ignores NimBLE's return code), so the transport never offers more than the
 *   stack's smallest buffer can take (see NOTIFY_INTERVAL_MS).
 * - Nothing is sent before the central enables notifications on TX; bytes written before that (or
 *   with no central connected) are dropped, as on a UART with nothing on the line.
 * - A disconnect ends the link: the queue is dropped and the reset callback runs (the firmware closes
 *   the link's logical channels and sessions and resets its AT engine).
 */
import type { Transport } from "./env.js";
import type { StartTimer } from "./presence.js";

/** ATT's default MTU (Bluetooth Core, Vol 3, Part F: the attribute protocol): in force until the central exchanges it. */
export const DEFAULT_MTU = 23;

/** ATT's notification header (opcode and handle): a notification carries at most MTU − 3 bytes. */
export const ATT_HEADER = 3;

/**
 * Milliseconds between two notifications. The device cannot see its stack's buffer (Moddable's
 * notifyValue drops the stack's return code, NimBLE drops a notification silently when it has no
 * mbuf), so it never has more than one notification in the stack: the simulator's radio model
 * (docs/ble.md) drains one packet per 2 ms connection event however small its buffer is set, and
 * 3 ms leaves 1 ms for a timer that fires early. At MTU 247 that is 244 bytes per 3 ms, about
 * 80 kB/s (Linux → ESP32 writes were measured at 60–83 kB/s); at MTU 23, 20 bytes per 3 ms.
 */
export const NOTIFY_INTERVAL_MS = 3;

/**
 * Bytes the queue may hold before further output is dropped (a central that keeps sending commands
 * without reading can make more output than the link carries). A response is always queued whole
 * when the queue is below this, so one response of the longest kind (a 3 KB attribute in base64,
 * about 4.2 KB) always goes out.
 */
export const MAX_QUEUED = 6 * 1024;

/** The part of Moddable's BLEServer the transport sends with (bound to the TX characteristic by the host). */
export interface BleNotifier {
  /** Sends one notification of TX; the stack may drop it silently. */
  notifyValue(bytes: Uint8Array): void;
  /** Deletes every bond the stack stored (Moddable's SM.deleteAllBondings); absent where the stack keeps none. */
  forgetBonds?(): void;
}

/** The callbacks of Moddable's BLEServer that the host forwards to the transport (one central at a time). */
export interface BleServerCallbacks {
  onConnected(): void;
  onDisconnected(): void;
  /** The central exchanged the MTU: `mtu` is the agreed one. */
  onMTUExchanged(mtu: number): void;
  /** The central wrote the CCCD of TX: notifications on. */
  onCharacteristicNotifyEnabled(): void;
  /** Notifications off. */
  onCharacteristicNotifyDisabled(): void;
  /** The central wrote `value` to RX. */
  onCharacteristicWritten(value: Uint8Array): void;
}

/** A Transport over a BLE GATT serial service. */
export class BleTransport implements Transport, BleServerCallbacks {
  /** The radio: pairing is refused on it (docs/channel.md). */
  get kind(): "ble" {
    return "ble";
  }

  /** Every host was unpaired: the stack forgets its bonds too (the next central bonds afresh). */
  forgetBonds(): void {
    this.server.forgetBonds?.();
  }
  private receiver: ((bytes: Uint8Array) => void) | undefined;
  private reset: (() => void) | undefined;
  private connected = false;
  private subscribed = false;
  private mtu = DEFAULT_MTU;
  /** Bytes waiting to be notified, oldest first; the first one's first `sent` bytes are gone. */
  private queue: Uint8Array[] = [];
  private sent = 0;
  private queued = 0;
  /** Cancels the pacing timer; undefined when none runs (the next notification may go at once). */
  private pacing: (() => void) | undefined;
  /** Notifications sent and output bytes dropped since start (tests, diagnostics). */
  notifications = 0;
  dropped = 0;

  constructor(
    private readonly server: BleNotifier,
    private readonly startTimer: StartTimer,
  ) {}

  write(bytes: Uint8Array): void {
    if (!this.connected || !this.subscribed || this.queued > MAX_QUEUED) {
      this.dropped += bytes.length;
      return;
    }
    if (bytes.length === 0) return;
    this.queue.push(new Uint8Array(bytes)); // a copy: the caller may reuse its buffer
    this.queued += bytes.length;
    if (!this.pacing) this.pump();
  }

  onReceive(receiver: (bytes: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  onReset(callback: () => void): void {
    this.reset = callback;
  }

  onConnected(): void {
    if (this.connected) this.end(); // a disconnect the stack did not report
    this.connected = true;
    this.mtu = DEFAULT_MTU;
  }

  onDisconnected(): void {
    if (this.connected) this.end();
  }

  onMTUExchanged(mtu: number): void {
    if (Number.isInteger(mtu) && mtu >= DEFAULT_MTU) this.mtu = mtu;
  }

  onCharacteristicNotifyEnabled(): void {
    this.subscribed = this.connected;
  }

  onCharacteristicNotifyDisabled(): void {
    this.subscribed = false;
    this.clear();
  }

  onCharacteristicWritten(value: Uint8Array): void {
    if (this.connected && value.length > 0) this.receiver?.(value);
  }

  /** Sends the next notification and, if it sent one, waits NOTIFY_INTERVAL_MS before the next. */
  private pump = (): void => {
    this.pacing = undefined;
    if (!this.subscribed || this.queued === 0) return;
    const size = Math.min(this.mtu - ATT_HEADER, this.queued);
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      const head = this.queue[0];
      const n = Math.min(size - filled, head.length - this.sent);
      out.set(head.subarray(this.sent, this.sent + n), filled);
      filled += n;
      this.sent += n;
      if (this.sent === head.length) {
        this.queue.shift();
        this.sent = 0;
      }
    }
    this.queued -= size;
    this.pacing = this.startTimer(this.pump, NOTIFY_INTERVAL_MS);
    this.notifications++;
    this.server.notifyValue(out);
  };

  /** Drops what is queued and stops the pacing. */
  private clear(): void {
    this.pacing?.();
    this.pacing = undefined;
    this.queue = [];
    this.sent = 0;
    this.queued = 0;
  }

  /** The link ended: back to the state before a connection, then the firmware's reset. */
  private end(): void {
    this.connected = false;
    this.subscribed = false;
    this.mtu = DEFAULT_MTU;
    this.clear();
    this.reset?.();
  }
}
