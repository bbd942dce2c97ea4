/**
 * The PC's end of the secure channel (pc/agent/secure-stream.ts) under a real AtLink, against an
 * in-process device end built from modules/wim/noise.ts's IkResponder and the P-256 suite of
 * pc/agent/noise-p256.ts: the handshake in clear, records both ways (split anywhere, several in one
 * chunk, long ones), every fault from the device's side ending the session (tampered header,
 * ciphertext or tag, replayed, reordered, truncated, out-of-range length, a clear byte), nothing sent in
 * clear after that, CAN and the resynchronisation marker travelling inside records.
 * Run: npx mocha test/pc/secure-stream.test.ts
 */
import assert from "node:assert/strict";
import { fromBase64 } from "../../modules/at/base64.js";
import { decodeParams, encodeResponse } from "../../modules/at/codec.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { type AtValue, parseValueList } from "../../modules/at/syntax.js";
import { type CipherState, IkResponder, TAG } from "../../modules/wim/noise.js";
import { AtLink, type ByteStream, LinkError } from "../../pc/agent/link.js";
import { p256Key, p256Suite } from "../../pc/agent/noise-p256.js";
import { HandshakeError, MAX_PLAINTEXT, RECORD_TYPE, SecureStream, prologue } from "../../pc/agent/secure-stream.js";

const SERIAL = "SIM-0001";
const HS = COMMAND_BY_NAME.get("+PKCSHS")!;
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const bytes = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const tick = () => new Promise((r) => setImmediate(r));

/** How the fake device answers a plaintext command line; undefined: it stays silent. */
type Answer = (line: string) => string | undefined;

/**
 * The device end: clear AT until AT+PKCSHS (answered with IK's message 2, then records from the byte
 * after that line's S3), then records; it answers each command line through `answer`.
 */
class FakeDevice {
  readonly key = p256Key();
  /** Everything that crossed the wire, each way. */
  readonly wireToDevice: number[] = [];
  readonly wireToPc: number[] = [];
  /** Plaintexts of the records the device opened, and clear lines it read. */
  readonly records: string[] = [];
  readonly clearLines: string[] = [];
  /** The host static keys it accepts (empty: refuses every handshake). */
  accept: "any" | "none" = "any";
  /** Answer message 1 with message 2 of a responder that holds another key. */
  impostor = false;
  answer: Answer = (line) => (line.startsWith("AT+GMI") ? "\r\nWIM\r\n\r\nOK\r\n" : "\r\nOK\r\n");
  send: CipherState | undefined;
  receive: CipherState | undefined;
  /** Records the device sealed, as sent (for replays). */
  readonly sealed: Uint8Array[] = [];
  private clear = "";
  private buf: number[] = [];
  private listeners: ((b: Uint8Array) => void)[] = [];
  private closeListeners: (() => void)[] = [];
  /** The PC's side of the link. */
  readonly stream: ByteStream = {
    write: (b) => {
      this.wireToDevice.push(...b);
      this.fromPc(b);
    },
    onData: (l) => void this.listeners.push(l),
    onClose: (l) => void this.closeListeners.push(l),
    close: () => this.closeListeners.forEach((l) => l()),
  };

  /** Bytes to the PC as they are. */
  toPc(b: Uint8Array): void {
    this.wireToPc.push(...b);
    for (const l of this.listeners) l(b);
  }

  /** A record of `plaintext`, sealed with the device's next counter (not sent). */
  seal(plaintext: string | Uint8Array): Uint8Array {
    const pt = typeof plaintext === "string" ? bytes(plaintext) : plaintext;
    const length = pt.length + TAG;
    const header = Uint8Array.of(RECORD_TYPE, length >> 8, length & 0xff);
    const ct = this.send!.encrypt(header, pt);
    const record = new Uint8Array(3 + ct.length);
    record.set(header);
    record.set(ct, 3);
    this.sealed.push(record);
    return record;
  }

  private fromPc(b: Uint8Array): void {
    for (const c of b) {
      if (!this.receive) {
        if (c !== 0x0d) {
          this.clear += String.fromCharCode(c);
          continue;
        }
        const line = this.clear;
        this.clear = "";
        this.clearLine(line);
        continue;
      }
      this.buf.push(c);
      if (this.buf.length < 3) continue;
      const length = (this.buf[1] << 8) | this.buf[2];
      if (this.buf.length < 3 + length) continue;
      const rec = Uint8Array.from(this.buf);
      this.buf = [];
      const pt = this.receive.decrypt(rec.subarray(0, 3), rec.subarray(3));
      const line = text(pt);
      this.records.push(line);
      const reply = this.answer(line);
      if (reply !== undefined) queueMicrotask(() => this.toPc(this.seal(reply)));
    }
  }

  private clearLine(line: string): void {
    this.clearLines.push(line);
    if (!line.startsWith("AT+PKCSHS=")) {
      queueMicrotask(() => this.toPc(bytes("\r\nOK\r\n")));
      return;
    }
    if (this.accept === "none") {
      queueMicrotask(() => this.toPc(bytes("\r\n+CME ERROR: 3\r\n")));
      return;
    }
    let message: Uint8Array;
    if (this.impostor) {
      // without the paired key message 1 cannot be read: a made-up answer (a valid point, a random tag)
      message = Uint8Array.from([...p256Key().publicKey, ...crypto.getRandomValues(new Uint8Array(TAG))]);
    } else {
      const responder = new IkResponder(p256Suite, this.key, prologue(SERIAL));
      const [m1] = decodeParams(HS, parseValueList(line.slice("AT+PKCSHS=".length)) as AtValue[]) as Uint8Array[];
      try {
        responder.readMessage1(m1);
      } catch {
        queueMicrotask(() => this.toPc(bytes("\r\n+CME ERROR: 3\r\n"))); // what the device answers a message it cannot read
        return;
      }
      const done = responder.writeMessage2();
      message = done.message;
      this.send = done.transport.send;
      this.receive = done.transport.receive;
    }
    // the answer in clear as the device encodes it; records follow
    queueMicrotask(() => this.toPc(bytes(`\r\n${encodeResponse(HS, [message])}\r\n\r\nOK\r\n`)));
  }
}

/** A SecureStream and an AtLink over a fake device, the channel open. */
async function open(options: { commandTimeoutMs?: number; resyncTimeoutMs?: number } = {}) {
  const device = new FakeDevice();
  const secure = new SecureStream(device.stream);
  const ends: string[] = [];
  secure.onEnd((r) => ends.push(r));
  const host = p256Key();
  await secure.handshake(host, device.key.publicKey, SERIAL);
  const link = new AtLink(secure, options);
  return { device, secure, link, ends, host };
}

describe("secure stream (PC end of the channel)", () => {
  it("handshakes in clear, then carries each command line as one record and delivers the device's records as lines", async () => {
    const { device, secure, link } = await open();
    assert.equal(secure.state, "secure");
    assert.equal(device.clearLines.length, 1);
    assert.match(device.clearLines[0], /^AT\+PKCSHS="[A-Za-z0-9+/=]+"$/);
    const hsBytes = device.wireToDevice.length;
    const r = await link.line("AT+GMI");
    assert.deepEqual(r, { info: ["WIM"], final: "OK" });
    assert.deepEqual(device.records, ["AT+GMI\r"]);
    const after = Buffer.from(device.wireToDevice.slice(hsBytes));
    assert.equal(after[0], RECORD_TYPE, "the command went as a record");
    assert.equal(after.length, 3 + "AT+GMI\r".length + TAG);
    assert.ok(!after.includes("AT+GMI"), "the command line is not on the wire in clear");
    assert.ok(!Buffer.from(device.wireToPc).includes("WIM\r\n\r\nOK"), "the answer is not on the wire in clear");
  });

  it("reads records split anywhere, several records in one chunk, and responses longer than a chunk", async () => {
    const { device, link } = await open();
    const long = "+PKCSATTR: " + "A".repeat(3000);
    device.answer = () => undefined;
    const pending = link.line("AT+PKCSATTR=1");
    await tick();
    // two records (an information line, then the final result) delivered one byte at a time
    const wire = [...device.seal(`\r\n${long}\r\n`), ...device.seal("\r\nOK\r\n")];
    for (const b of wire) device.toPc(Uint8Array.of(b));
    assert.deepEqual(await pending, { info: [long], final: "OK" });
    // and three records in one chunk: an intermediate line, the information line, the final result
    const p2 = link.line("AT+GMR");
    await tick();
    device.toPc(Uint8Array.from([...device.seal("\r\n+PKCSKGP: 16\r\n"), ...device.seal("\r\n1.0\r\n"), ...device.seal("\r\nOK\r\n")]));
    assert.deepEqual(await p2, { info: ["+PKCSKGP: 16", "1.0"], final: "OK" });
  });

  it("splits a write longer than a record's plaintext into records of at most 4,096 bytes", async () => {
    const { device, secure } = await open();
    const before = device.records.length;
    secure.write(bytes("X".repeat(MAX_PLAINTEXT + 10)));
    await tick();
    assert.deepEqual(device.records.slice(before).map((r) => r.length), [MAX_PLAINTEXT, 10]);
  });

  /** Each fault the device's direction can carry: what is sent instead of the next good record. */
  const faults: [string, (d: FakeDevice) => Uint8Array][] = [
    ["a flipped ciphertext byte", (d) => { const r = d.seal("\r\nOK\r\n"); r[4] ^= 1; return r; }],
    ["a flipped tag byte", (d) => { const r = d.seal("\r\nOK\r\n"); r[r.length - 1] ^= 0x80; return r; }],
    ["a changed header (the length is the AEAD's associated data)", (d) => {
      const r = d.seal("\r\nOK\r\n");
      return Uint8Array.from([...r.subarray(0, 2), r[2] + 1, ...r.subarray(3), 0]);
    }],
    ["a record replayed", (d) => d.sealed[d.sealed.length - 1]],
    ["records reordered", (d) => { const a = d.seal("\r\nX\r\n"), b = d.seal("\r\nOK\r\n"); return Uint8Array.from([...b, ...a]); }],
    ["a truncated record (length below the tag)", () => Uint8Array.of(RECORD_TYPE, 0, TAG - 1, ...new Uint8Array(TAG - 1))],
    ["a length above the largest record", () => Uint8Array.of(RECORD_TYPE, 0x10, 0x11)],
    ["a record type other than 0x02", (d) => { const r = d.seal("\r\nOK\r\n"); r[0] = 0x17; return r; }],
    ["the device's +PKCSSEC: 0 in clear", () => bytes("\r\n+PKCSSEC: 0\r\n")],
  ];
  for (const [name, forge] of faults) {
    it(`ends the session on ${name}: the command fails at once, the end is reported, nothing goes out in clear after it`, async () => {
      const { device, secure, link, ends } = await open();
      await link.line("AT+GMI"); // one good record each way first (a record to replay)
      device.answer = () => undefined;
      const pending = link.line("AT+GMM");
      await tick();
      const reset = (reason: string) => link.reset(`secure session ended: ${reason}`);
      secure.onEnd(reset); // what the agent's Device does (device.ts: listen)
      device.toPc(forge(device));
      await assert.rejects(pending, (e: Error) => e instanceof LinkError && /secure session ended/.test(e.message));
      assert.equal(secure.state, "ended");
      assert.equal(ends.length, 1, `one end reported (${ends.join("; ")})`);
      const sent = device.wireToDevice.length;
      const next = link.line("AT+PKCSLOGIN=1,1,\"123456\"").catch((e: Error) => e);
      await tick();
      assert.equal(device.wireToDevice.length, sent, "nothing written after the end, least of all in clear");
      link.close();
      assert.ok((await next) instanceof Error);
    });
  }

  it("sends CAN and the resynchronisation marker inside records, and works on after the marker's answer", async () => {
    const { device, link } = await open({ commandTimeoutMs: 50, resyncTimeoutMs: 2000 });
    let silent = true;
    device.answer = (line) => {
      if (line === "\x18") return undefined;
      const m = /^AT\+PKCSDATA=0,"?([A-Za-z0-9+/=]+)"?\r$/.exec(line);
      if (m) return `\r\n+PKCSDATA: ${fromBase64(m[1])!.length}\r\n\r\nOK\r\n`;
      if (silent) return undefined;
      return "\r\nOK\r\n";
    };
    await assert.rejects(link.line("AT+PKCSGENKP=1"), /did not answer/);
    silent = false;
    const sentBefore = device.wireToDevice.length;
    assert.deepEqual(await link.line("AT"), { info: [], final: "OK" });
    assert.equal(link.resyncs, 1);
    // the CAN of the timeout is a record of its own, then the marker and the next command
    assert.ok(device.records.includes("\x18"), "CAN went as a record's plaintext");
    assert.ok(device.records.some((r) => r.startsWith("AT+PKCSDATA=0,")), "the marker went inside a record");
    const wire = Buffer.from(device.wireToDevice.slice(sentBefore));
    assert.equal(wire[0], RECORD_TYPE);
    assert.ok(!wire.includes("AT+PKCSDATA"), "no marker in clear");
  });

  it("a handshake the device refuses (+CME ERROR: 3) is a refusal, and nothing is sent in clear after it", async () => {
    const device = new FakeDevice();
    device.accept = "none";
    const secure = new SecureStream(device.stream);
    await assert.rejects(secure.handshake(p256Key(), device.key.publicKey, SERIAL), (e: Error) => e instanceof HandshakeError && e.refused);
    assert.equal(secure.state, "ended");
    const n = device.wireToDevice.length;
    secure.write(bytes("AT+PKCSLOGIN=1,1,\"123456\"\r"));
    assert.equal(device.wireToDevice.length, n);
  });

  it("an answer made with another key than the paired device's fails the handshake as a refusal", async () => {
    const device = new FakeDevice();
    device.impostor = true;
    const secure = new SecureStream(device.stream);
    await assert.rejects(secure.handshake(p256Key(), device.key.publicKey, SERIAL), (e: Error) => e instanceof HandshakeError && e.refused && /does not come from the paired device/.test(e.message));
    assert.equal(secure.state, "ended");
  });

  it("a handshake bound to another serial (the prologue) fails", async () => {
    const device = new FakeDevice();
    const secure = new SecureStream(device.stream);
    await assert.rejects(secure.handshake(p256Key(), device.key.publicKey, "OTHER"), (e: Error) => e instanceof HandshakeError && e.refused);
    assert.equal(device.send, undefined, "the device opened no session");
  });

  it("a silent device fails the handshake after its timeout (not a refusal)", async () => {
    const silent: ByteStream = { write: () => {}, onData: () => {}, onClose: () => {}, close: () => {} };
    const secure = new SecureStream(silent);
    await assert.rejects(secure.handshake(p256Key(), p256Key().publicKey, SERIAL, 30), (e: Error) => e instanceof HandshakeError && !e.refused);
  });

  it("a new handshake after an end opens a new session with fresh counters", async () => {
    const { device, secure, link, host } = await open();
    await link.line("AT+GMI");
    device.toPc(bytes("\r\n+PKCSSEC: 0\r\n"));
    assert.equal(secure.state, "ended");
    device.answer = (line) => (line.startsWith("AT+GMI") ? "\r\nWIM\r\n\r\nOK\r\n" : "\r\nOK\r\n");
    // the device reads the handshake in clear again
    (device as unknown as { receive: undefined }).receive = undefined;
    await secure.handshake(host, device.key.publicKey, SERIAL);
    assert.equal(secure.state, "secure");
    assert.deepEqual(await link.line("AT+GMI"), { info: ["WIM"], final: "OK" });
  });
});
