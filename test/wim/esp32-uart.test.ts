/**
 * The ESP32 UART transport's receive side (hosts/esp32/uart.ts) with a stand-in for ECMA-419 Serial:
 * pending() sees bytes that arrive while a command runs (no onReadable then), keeps them, and they are
 * delivered in order after the command — as the simulator's PTY does.
 * Run: npx mocha test/wim/esp32-uart.test.ts
 */
import assert from "node:assert/strict";
import { uartTransport } from "../../hosts/esp32/uart.js";

function fakePort() {
  let fifo: number[] = [];
  return {
    arrive: (text: string) => void fifo.push(...Buffer.from(text)),
    read(): ArrayBuffer | undefined {
      if (fifo.length === 0) return undefined;
      const out = Uint8Array.from(fifo).buffer;
      fifo = [];
      return out;
    },
    write: () => {},
    get held() {
      return fifo.length;
    },
  };
}

describe("ESP32 UART transport (hosts/esp32/uart.ts)", () => {
  it("pending() counts bytes that arrive during a long command; they are delivered after it, in order", async () => {
    const port = fakePort();
    const jobs: (() => void)[] = [];
    const { transport, readable } = uartTransport(port, (job) => jobs.push(job));
    const got: string[] = [];
    const seenDuring: number[] = [];
    transport.onReceive((bytes) => {
      const text = Buffer.from(bytes).toString();
      got.push(text);
      if (text === "AT+KEYGEN\r") {
        // a long command polls pending(); a byte from the PC arrives meanwhile (no onReadable runs now)
        seenDuring.push(transport.pending!());
        port.arrive("\x18");
        seenDuring.push(transport.pending!());
        port.arrive("AT\r");
        seenDuring.push(transport.pending!());
      }
    });
    port.arrive("AT+KEYGEN\r");
    readable();
    assert.deepEqual(seenDuring, [0, 1, 4]);
    assert.equal(port.held, 0, "the FIFO was emptied into the queue (it cannot overflow)");
    assert.deepEqual(got, ["AT+KEYGEN\r", "\x18", "AT\r"], "delivered right after the command returned");
    assert.equal(transport.pending!(), 0);
    for (const job of jobs.splice(0)) job();
    assert.equal(got.length, 3, "nothing delivered twice");
  });

  it("bytes pulled by pending() outside a delivery are delivered by the deferred job", () => {
    const port = fakePort();
    const jobs: (() => void)[] = [];
    const { transport } = uartTransport(port, (job) => jobs.push(job));
    const got: string[] = [];
    transport.onReceive((bytes) => got.push(Buffer.from(bytes).toString()));
    port.arrive("x");
    assert.equal(transport.pending!(), 1);
    assert.equal(transport.pending!(), 1, "counted once");
    assert.deepEqual(got, []);
    assert.equal(jobs.length, 1, "one delivery scheduled");
    jobs.shift()!();
    assert.deepEqual(got, ["x"]);
    assert.equal(transport.pending!(), 0);
  });
});
