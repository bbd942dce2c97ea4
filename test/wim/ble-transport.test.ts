/**
 * The BLE transport (modules/wim/ble.ts) on a stand-in stack with a manual clock: notifications of at
 * most MTU − 3 bytes, one per NOTIFY_INTERVAL_MS, nothing before the central subscribes, a disconnect
 * drops the queue and resets the link. (On the simulator's radio model: test/sim/ble.test.ts.)
 * Run: npx mocha test/wim/ble-transport.test.ts
 */
import assert from "node:assert/strict";
import { BleTransport, DEFAULT_MTU, MAX_QUEUED, NOTIFY_INTERVAL_MS } from "../../modules/wim/ble.js";

/** A manual clock for the transport's timers. */
function clock() {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    start: (fn: () => void, ms: number) => {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => void (timers = timers.filter((x) => x !== t));
    },
    /** Advances by `ms`, firing what falls due. */
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = until;
    },
    get now() {
      return now;
    },
    get pending() {
      return timers.length;
    },
  };
}

function setup() {
  const c = clock();
  const sent: { at: number; bytes: Uint8Array }[] = [];
  const link = new BleTransport({ notifyValue: (bytes) => void sent.push({ at: c.now, bytes }) }, c.start);
  let resets = 0;
  link.onReset(() => resets++);
  const received: string[] = [];
  link.onReceive((b) => received.push(Buffer.from(b).toString("latin1")));
  return { c, sent, link, received, resets: () => resets };
}

const text = (sent: { bytes: Uint8Array }[]) => Buffer.concat(sent.map((s) => s.bytes)).toString("latin1");

describe("BLE transport (modules/wim/ble.ts)", () => {
  it("sends nothing before the central subscribes; nothing is queued for later", () => {
    const { c, sent, link } = setup();
    link.write(Buffer.from("lost: no central"));
    link.onConnected();
    link.write(Buffer.from("lost: not subscribed"));
    c.advance(100);
    assert.equal(sent.length, 0);
    link.onCharacteristicNotifyEnabled();
    link.write(Buffer.from("OK"));
    assert.equal(text(sent), "OK");
  });

  it("cuts output into notifications of at most MTU − 3 bytes, one per NOTIFY_INTERVAL_MS", () => {
    const { c, sent, link } = setup();
    link.onConnected();
    link.onCharacteristicNotifyEnabled();
    const message = Buffer.from("x".repeat(100) + "y".repeat(50));
    link.write(message.subarray(0, 100));
    link.write(message.subarray(100));
    assert.equal(sent.length, 1, "the first goes at once");
    c.advance(1000);
    assert.equal(text(sent), message.toString("latin1"));
    assert.ok(sent.every((s) => s.bytes.length <= DEFAULT_MTU - 3));
    assert.equal(sent.length, Math.ceil(150 / 20));
    for (let i = 1; i < sent.length; i++) assert.ok(sent[i].at - sent[i - 1].at >= NOTIFY_INTERVAL_MS);

    sent.length = 0;
    link.onMTUExchanged(247);
    link.write(Buffer.alloc(600, 0x41));
    c.advance(1000);
    assert.deepEqual(sent.map((s) => s.bytes.length), [244, 244, 112]);
    link.onMTUExchanged(5); // nonsense is ignored
    sent.length = 0;
    link.write(Buffer.alloc(300, 0x42));
    c.advance(1000);
    assert.deepEqual(sent.map((s) => s.bytes.length), [244, 56]);
  });

  it("copies what it is given (the caller may reuse its buffer)", () => {
    const { c, sent, link } = setup();
    link.onConnected();
    link.onCharacteristicNotifyEnabled();
    const buffer = Buffer.from("a".repeat(40));
    link.write(buffer);
    buffer.fill(0x7a);
    c.advance(100);
    assert.equal(text(sent), "a".repeat(40));
  });

  it("a disconnect drops the queue, stops the timer, resets the link, and the next link starts at MTU 23", () => {
    const { c, sent, link, resets } = setup();
    link.onConnected();
    link.onMTUExchanged(247);
    link.onCharacteristicNotifyEnabled();
    link.write(Buffer.alloc(2000, 0x41));
    assert.equal(sent.length, 1);
    link.onDisconnected();
    assert.equal(resets(), 1);
    assert.equal(c.pending, 0, "no timer left");
    link.onDisconnected();
    assert.equal(resets(), 1, "once per link");
    c.advance(1000);
    assert.equal(sent.length, 1);
    link.onConnected();
    link.onCharacteristicNotifyEnabled();
    link.write(Buffer.alloc(30, 0x42));
    c.advance(100);
    assert.deepEqual(sent.slice(1).map((s) => s.bytes.length), [20, 10]);
    link.onConnected(); // a connect without the disconnect before it: the old link ends first
    assert.equal(resets(), 2);
  });

  it("writes from the central go to the receiver as they come, only while connected", () => {
    const { link, received } = setup();
    link.onCharacteristicWritten(Buffer.from("AT"));
    link.onConnected();
    link.onCharacteristicWritten(Buffer.from("AT+G"));
    link.onCharacteristicWritten(Buffer.from("MM\r"));
    assert.deepEqual(received, ["AT+G", "MM\r"]);
  });

  it("bounds what it queues: a central that sends without reading loses output, not the device's memory", () => {
    const { c, sent, link } = setup();
    link.onConnected();
    link.onCharacteristicNotifyEnabled();
    for (let i = 0; i < 100; i++) link.write(Buffer.alloc(1000, 0x41));
    assert.ok(link.dropped > 0);
    c.advance(10_000_000);
    const total = sent.reduce((n, s) => n + s.bytes.length, 0);
    assert.ok(total <= MAX_QUEUED + 1000 + 20, `${total} bytes sent`);
    assert.equal(total + link.dropped, 100_000);
  });
});
