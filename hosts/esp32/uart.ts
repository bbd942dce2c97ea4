/**
 * The UART transport's receive side, kept free of Moddable APIs so that Node tests can drive it
 * (test/wim/esp32-uart.test.ts) with a stand-in for the ECMA-419 Serial.
 *
 * On the ESP32, ECMA-419 Serial's `read()` takes bytes straight from the UART's receive FIFO and works
 * at any time, but `onReadable(count)` only runs from the event loop, never while a long command
 * (a key generation) runs. So `pending()` reads the FIFO itself: bytes it finds are queued (they
 * are not lost, and the 128-byte FIFO cannot overflow while the command polls) and delivered, in
 * order, once the command returns — as the simulator's PTY keeps them (sim/serial.c).
 */
import type { Transport } from "../../modules/wim/env.js";

/** What this needs of an ECMA-419 Serial in "buffer" format. */
export interface SerialPort {
  read(): number | ArrayBuffer | undefined;
  write(bytes: Uint8Array): unknown;
}

/** A Transport over `port`; call the returned `readable` from the Serial's onReadable. */
export function uartTransport(
  port: SerialPort,
  defer: (job: () => void) => void = (job) => void Promise.resolve().then(job),
): { transport: Transport; readable(): void } {
  let receiver: (bytes: Uint8Array) => void = () => {};
  const queue: Uint8Array[] = [];
  let queued = 0;
  let delivering = false;
  let scheduled = false;

  /** Moves what the FIFO holds into the queue. */
  const pull = (): void => {
    for (;;) {
      const data = port.read();
      if (!(data instanceof ArrayBuffer) || data.byteLength === 0) return;
      queue.push(new Uint8Array(data));
      queued += data.byteLength;
    }
  };
  /** Hands the queue to the receiver, oldest first (a receiver that calls pending() may add to it). */
  const deliver = (): void => {
    if (delivering) return;
    delivering = true;
    try {
      while (queue.length > 0) {
        const bytes = queue.shift()!;
        queued -= bytes.length;
        receiver(bytes);
      }
    } finally {
      delivering = false;
    }
  };
  const readable = (): void => {
    pull();
    deliver();
  };
  const transport: Transport = {
    kind: "serial",
    write: (bytes) => void port.write(bytes),
    onReceive: (r) => void (receiver = r),
    pending: () => {
      pull();
      if (queued > 0 && !delivering && !scheduled) {
        // Queued during a command: delivered after it returns, even if no new byte comes to fire onReadable.
        scheduled = true;
        defer(() => {
          scheduled = false;
          deliver();
        });
      }
      return queued;
    },
  };
  return { transport, readable };
}
