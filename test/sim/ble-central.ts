/**
 * A BLE central on the simulator's radio model (sim/ble.c, WIM_SIM_BLE; docs/ble.md): frames on the
 * model's socket, requests answered in order, notifications collected. Shared by test/sim/ble.test.ts
 * and test/sim/ble-pairing.test.ts.
 */
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import net from "node:net";

export const T = {
  CONNECT: 0x01, EXCHANGE_MTU: 0x02, WRITE: 0x03, SUBSCRIBE: 0x04, DISCONNECT: 0x05, FAULT: 0x06, SCAN: 0x07,
  CONNECTED: 0x81, MTU: 0x82, WRITTEN: 0x83, SUBSCRIBED: 0x84, FAULT_SET: 0x86, ADVERTISEMENT: 0x87, ERROR: 0x8f,
  NOTIFY: 0x90, DISCONNECTED: 0x91,
} as const;
export const FAULT = { CLEAR: 0, DELAY: 1, BUFFER: 2, CUT: 3 } as const;

export interface Frame {
  type: number;
  payload: Buffer;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A central on the radio model's socket: requests answered in order, notifications collected. */
export class Central {
  private input = Buffer.alloc(0);
  private readonly waiting: ((f: Frame) => void)[] = [];
  /** Every notification's payload, in order. */
  readonly notifications: Buffer[] = [];
  /** Unsolicited DISCONNECTED reasons. */
  readonly disconnects: number[] = [];
  mtu = 23;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.input = Buffer.concat([this.input, d]);
      while (this.input.length >= 2) {
        const length = this.input.readUInt16LE(0);
        if (this.input.length < 2 + length) break;
        const frame: Frame = { type: this.input[2], payload: this.input.subarray(3, 2 + length) };
        this.input = this.input.subarray(2 + length);
        this.dispatch(frame);
      }
    });
  }

  static async open(socketPath: string): Promise<Central> {
    const socket = net.createConnection(socketPath);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new Central(socket);
  }

  private dispatch(frame: Frame): void {
    if (frame.type === T.NOTIFY) this.notifications.push(Buffer.from(frame.payload));
    // the model's own cut is 0x08, the answer to DISCONNECT 0x13 (docs/ble.md): told apart by the reason
    else if (frame.type === T.DISCONNECTED && frame.payload[0] !== 0x13) this.disconnects.push(frame.payload[0]);
    else {
      const next = this.waiting.shift();
      assert.ok(next, `an answer nobody asked for: 0x${frame.type.toString(16)}`);
      next(frame);
    }
  }

  /** Sends one request and waits for its answer. */
  request(type: number, payload: Buffer = Buffer.alloc(0), ms = 5000): Promise<Frame> {
    const head = Buffer.alloc(3);
    head.writeUInt16LE(payload.length + 1, 0);
    head[2] = type;
    this.socket.write(Buffer.concat([head, payload]));
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to 0x${type.toString(16)} in ${ms} ms`)), ms);
      this.waiting.push((f) => {
        clearTimeout(timer);
        resolve(f);
      });
    });
  }

  async scan(): Promise<{ connectable: boolean; name: string }> {
    const f = await this.request(T.SCAN);
    assert.equal(f.type, T.ADVERTISEMENT);
    return { connectable: f.payload[0] === 1, name: f.payload.subarray(1).toString("utf8") };
  }

  /** Connects and subscribes to TX. */
  async connect(): Promise<void> {
    const f = await this.request(T.CONNECT);
    assert.equal(f.type, T.CONNECTED, `CONNECT answered 0x${f.type.toString(16)}`);
    assert.equal(f.payload.readUInt16LE(0), 23);
    this.mtu = 23;
    this.notifications.length = 0;
    const s = await this.request(T.SUBSCRIBE, Buffer.from([1]));
    assert.deepEqual([s.type, s.payload[0]], [T.SUBSCRIBED, 0]);
  }

  async exchangeMtu(mtu: number): Promise<number> {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(mtu);
    const f = await this.request(T.EXCHANGE_MTU, b);
    assert.equal(f.type, T.MTU);
    this.mtu = f.payload.readUInt16LE(0);
    return this.mtu;
  }

  /** Writes to RX; the ATT error code. */
  async write(bytes: Buffer): Promise<number> {
    const f = await this.request(T.WRITE, bytes);
    assert.equal(f.type, T.WRITTEN);
    return f.payload[0];
  }

  async fault(kind: number, value = 0): Promise<void> {
    const b = Buffer.alloc(5);
    b[0] = kind;
    b.writeUInt32LE(value, 1);
    const f = await this.request(T.FAULT, b);
    assert.equal(f.type, T.FAULT_SET);
  }

  async disconnect(): Promise<number> {
    const f = await this.request(T.DISCONNECT);
    assert.equal(f.type, T.DISCONNECTED);
    return f.payload[0];
  }

  /** Everything notified so far, as text (latin1). */
  text(): string {
    return Buffer.concat(this.notifications).toString("latin1");
  }

  /** Sends `line` + CR in writes split at random points (each at most MTU − 3), then waits for its final result. */
  async command(line: string, ms = 10_000): Promise<string> {
    const start = this.notifications.length;
    const bytes = Buffer.from(line + "\r", "latin1");
    for (let i = 0; i < bytes.length; ) {
      const n = Math.min(bytes.length - i, randomInt(1, this.mtu - 3 + 1));
      assert.equal(await this.write(bytes.subarray(i, i + n)), 0);
      i += n;
    }
    const until = Date.now() + ms;
    for (;;) {
      const text = Buffer.concat(this.notifications.slice(start)).toString("latin1");
      if (/\r\n(OK|ERROR|\+CME ERROR: [^\r]*|\+PKCS ERROR: [^\r]*)\r\n$/.test(text)) return text;
      if (Date.now() > until) throw new Error(`no final result for ${line} after ${ms} ms: ${JSON.stringify(text.slice(-200))}`);
      await sleep(5);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
