/**
 * The central's end of the simulator's radio-model socket (docs/ble.md, "The radio model's
 * socket"): frames are u16 length (little-endian, of what follows) · u8 type · payload. Every
 * request is answered, in order; NOTIFY and DISCONNECTED may also come unsolicited.
 */
import { type Socket, connect } from "node:net";
import type { ByteStream } from "../../pc/agent/link.js";

/** Message types (docs/ble.md). */
export const RADIO = {
  CONNECT: 0x01, EXCHANGE_MTU: 0x02, WRITE: 0x03, SUBSCRIBE: 0x04, DISCONNECT: 0x05, FAULT: 0x06, SCAN: 0x07,
  CONNECTED: 0x81, MTU: 0x82, WRITTEN: 0x83, SUBSCRIBED: 0x84, FAULT_SET: 0x86, ADVERTISEMENT: 0x87, ERROR: 0x8f,
  NOTIFY: 0x90, DISCONNECTED: 0x91,
} as const;

/** ATT error codes the radio's WRITTEN carries (Bluetooth Core Vol 3 Part F 3.4.1.1), and the model's "not connected". */
export const ATT = { OK: 0, INVALID_ATTRIBUTE_VALUE_LENGTH: 0x0d, NOT_CONNECTED: 0x0e, INSUFFICIENT_ENCRYPTION: 0x0f } as const;

/** Fault kinds of FAULT (docs/ble.md). */
export const FAULT = { CLEAR: 0, DELAY_NOTIFICATIONS: 1, NOTIFICATION_BUFFER: 2, CUT_AFTER_NOTIFICATIONS: 3 } as const;

/** One frame: its type and payload. */
export interface Frame {
  type: number;
  payload: Buffer;
}

/** The radio connection was lost before a request was answered. */
export class RadioClosed extends Error {}

/** Encodes one frame. */
export function frame(type: number, payload: Uint8Array = new Uint8Array()): Buffer {
  const b = Buffer.alloc(3 + payload.length);
  b.writeUInt16LE(1 + payload.length, 0);
  b[2] = type;
  b.set(payload, 3);
  return b;
}

/** Splits a byte stream into frames; returns the rest. */
export function deframe(buffer: Buffer, onFrame: (f: Frame) => void): Buffer {
  let b = buffer;
  while (b.length >= 2) {
    const len = b.readUInt16LE(0);
    if (len < 1) throw new Error("radio: a frame without a type");
    if (b.length < 2 + len) break;
    onFrame({ type: b[2], payload: Buffer.from(b.subarray(3, 2 + len)) });
    b = b.subarray(2 + len);
  }
  return b;
}

/** One connection to the radio model: one central. */
export class RadioLink {
  /** A TX notification (the device's bytes). */
  onNotify: (bytes: Buffer) => void = () => {};
  /** The link to the device ended (reason: an HCI error code, 0x13 remote user terminated, 0x08 supervision timeout). */
  onDisconnected: (reason: number) => void = () => {};
  /** The socket closed (the simulator exited). */
  onClose: () => void = () => {};
  private rest: Buffer = Buffer.alloc(0);
  private readonly waiting: { type: number; resolve(f: Frame): void; reject(e: Error): void }[] = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.rest = deframe(Buffer.concat([this.rest, d]), (f) => this.received(f));
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w.reject(new RadioClosed("the radio model closed the connection"));
      this.onClose();
    });
  }

  /** Connects to the radio model at `path`. */
  static open(path: string): Promise<RadioLink> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => {
        s.removeListener("error", reject);
        resolve(new RadioLink(s));
      });
      s.once("error", reject);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a request; resolves to its answer. */
  request(type: number, payload?: Uint8Array): Promise<Frame> {
    if (this.closed) return Promise.reject(new RadioClosed("the radio model is not connected"));
    return new Promise<Frame>((resolve, reject) => {
      this.waiting.push({ type, resolve, reject });
      this.socket.write(frame(type, payload));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private received(f: Frame): void {
    if (f.type === RADIO.NOTIFY) return this.onNotify(f.payload);
    if (f.type === RADIO.DISCONNECTED) {
      // the answer to DISCONNECT, or the model cut the link: either way the link is down
      const head = this.waiting[0];
      if (head?.type === RADIO.DISCONNECT) this.waiting.shift()!.resolve(f);
      this.onDisconnected(f.payload[0] ?? 0);
      return;
    }
    const w = this.waiting.shift();
    if (w) w.resolve(f);
  }
}

/** A ByteStream over the radio model as a central: writes of at most MTU − 3 bytes, one at a time. */
export async function radioStream(socket: string, mtu: number): Promise<{ stream: ByteStream; writes: () => number; notes: () => number; close(): void }> {
  const radio = await RadioLink.open(socket);
  await radio.request(RADIO.SCAN);
  await radio.request(RADIO.CONNECT);
  const agreed = (await radio.request(RADIO.EXCHANGE_MTU, Uint8Array.of(mtu & 0xff, mtu >> 8))).payload.readUInt16LE(0);
  await radio.request(RADIO.SUBSCRIBE, Uint8Array.of(1));
  let writes = 0, notes = 0, chain = Promise.resolve();
  const listeners: ((b: Uint8Array) => void)[] = [];
  radio.onNotify = (b) => {
    notes++;
    for (const l of listeners) l(new Uint8Array(b));
  };
  const stream: ByteStream = {
    write: (bytes) => {
      for (let o = 0; o < bytes.length; o += agreed - 3) {
        const piece = bytes.slice(o, o + agreed - 3);
        chain = chain.then(async () => {
          writes++;
          const r = await radio.request(RADIO.WRITE, piece);
          if (r.payload[0] !== 0) throw new Error(`ATT error ${r.payload[0]}`);
        });
      }
    },
    onData: (l) => void listeners.push(l),
    onClose: () => {},
    close: () => radio.close(),
  };
  return { stream, writes: () => writes, notes: () => notes, close: () => radio.close() };
}
