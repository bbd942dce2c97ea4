/**
 * A TEST DOUBLE of the simulator's radio model (docs/ble.md), for the unit tests of the agent's
 * BLE stream while the device half is built separately. It speaks the socket protocol with the
 * model's rules that the central sees (MTU 23 until exchanged, at most 256; a write longer than
 * MTU − 3 refused with 0x0D; one central at a time; FAULT 3 cuts the link) but it is no device:
 * it answers each AT line with OK, and "AT+ECHO=<text>" with "+ECHO: <text>" then OK.
 */
import { createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";
import { ATT, FAULT, RADIO, deframe, frame } from "./radio.js";

const DEVICE_MTU = 256;

/** A running stub. */
export class RadioStub {
  /** Lines the stub received, in order. */
  readonly lines: string[] = [];
  /** The name it advertises. */
  name = "WIM-STUB0001";
  private central: Socket | undefined;
  private mtu = 23;
  private subscribed = false;
  private rx = "";
  private cutAfter = -1;

  private constructor(private readonly server: Server, readonly path: string) {}

  /** Listens at `path`. */
  static start(path: string): Promise<RadioStub> {
    rmSync(path, { force: true });
    return new Promise((resolve, reject) => {
      const stub: RadioStub = new RadioStub(createServer((s) => stub.accept(s)), path);
      stub.server.once("error", reject);
      stub.server.listen(path, () => resolve(stub));
    });
  }

  /** Stops listening and drops every central (as the simulator exiting does). */
  stop(): Promise<void> {
    this.central?.destroy();
    this.central = undefined;
    return new Promise((done) => this.server.close(() => done()));
  }

  private accept(s: Socket): void {
    let rest: Buffer = Buffer.alloc(0);
    s.on("error", () => s.destroy());
    s.on("close", () => {
      if (this.central === s) this.drop();
    });
    s.on("data", (d: Buffer) => {
      rest = deframe(Buffer.concat([rest, d]), (f) => this.request(s, f.type, f.payload));
    });
  }

  private drop(): void {
    this.central = undefined;
    this.mtu = 23;
    this.subscribed = false;
    this.rx = "";
  }

  private request(s: Socket, type: number, p: Buffer): void {
    const answer = (t: number, payload: number[] | Buffer = []) => s.write(frame(t, Buffer.from(payload)));
    const u16 = (v: number) => [v & 0xff, v >> 8];
    switch (type) {
      case RADIO.SCAN:
        return void answer(RADIO.ADVERTISEMENT, Buffer.concat([Buffer.from([this.central ? 0 : 1]), Buffer.from(this.name)]));
      case RADIO.CONNECT:
        if (this.central && this.central !== s) return void answer(RADIO.ERROR, [1]);
        this.central = s;
        return void answer(RADIO.CONNECTED, u16(23));
      case RADIO.EXCHANGE_MTU:
        this.mtu = Math.min(Math.max(p.readUInt16LE(0), 23), DEVICE_MTU);
        return void answer(RADIO.MTU, u16(this.mtu));
      case RADIO.SUBSCRIBE:
        this.subscribed = p[0] === 1;
        return void answer(RADIO.SUBSCRIBED, [0]);
      case RADIO.WRITE:
        if (this.central !== s) return void answer(RADIO.WRITTEN, [ATT.NOT_CONNECTED]);
        if (p.length > this.mtu - 3) return void answer(RADIO.WRITTEN, [ATT.INVALID_ATTRIBUTE_VALUE_LENGTH]);
        answer(RADIO.WRITTEN, [0]);
        return this.received(s, p.toString("latin1"));
      case RADIO.DISCONNECT:
        if (this.central === s) this.drop();
        return void answer(RADIO.DISCONNECTED, [0x13]);
      case RADIO.FAULT:
        if (p[0] === FAULT.CLEAR) this.cutAfter = -1;
        if (p[0] === FAULT.CUT_AFTER_NOTIFICATIONS) this.cutAfter = p.readUInt32LE(1);
        return void answer(RADIO.FAULT_SET);
    }
  }

  private received(s: Socket, text: string): void {
    this.rx += text;
    let i: number;
    while ((i = this.rx.indexOf("\r")) >= 0) {
      const line = this.rx.slice(0, i).replace(/[\x18\n]/g, "");
      this.rx = this.rx.slice(i + 1);
      if (!line) continue;
      this.lines.push(line);
      const echo = /^AT\+ECHO=(.*)$/.exec(line);
      this.send(s, (echo ? `\r\n+ECHO: ${echo[1]}\r\n` : "") + "\r\nOK\r\n");
    }
  }

  /** Sends a response as notifications of at most MTU − 3 bytes (after the write's answer). */
  private send(s: Socket, text: string): void {
    const bytes = Buffer.from(text, "latin1");
    setImmediate(() => {
      for (let o = 0; o < bytes.length && this.central === s; o += this.mtu - 3) {
        if (this.cutAfter === 0) {
          this.cutAfter = -1;
          this.drop();
          s.write(frame(RADIO.DISCONNECTED, Buffer.from([0x08])));
          return;
        }
        if (this.cutAfter > 0) this.cutAfter--;
        if (this.subscribed) s.write(frame(RADIO.NOTIFY, bytes.subarray(o, o + this.mtu - 3)));
      }
    });
  }
}
