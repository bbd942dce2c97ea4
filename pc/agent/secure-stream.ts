/**
 * The PC's end of the secure channel (docs/channel.md): a ByteStream between the AtLink and the link
 * to the device (serial port, PTY, BLE), so that the AtLink keeps working on lines.
 *
 * States:
 * - clear: bytes pass through both ways (a device with no paired host; before the first handshake).
 * - handshaking: {@link SecureStream.handshake} wrote `AT+PKCSHS=<message 1>` in clear and reads the
 *   clear answer itself (`+PKCSHS: <message 2>`, then OK); the AtLink's writes are dropped, nothing
 *   reaches it. The bytes after the OK line are records.
 * - secure: each write of the AtLink is sealed as one record (split if longer than a record's 4,096
 *   bytes of plaintext) — its command lines, and the CAN and marker of a resynchronisation alike;
 *   incoming bytes are parsed as records, and each plaintext goes to the AtLink as if it came in clear.
 * - ended: the session ended — a record failed authentication (tampered, replayed, reordered,
 *   truncated: the counters are implicit), a length out of range, a byte other than 0x02 where a record
 *   starts (the device's `+PKCSSEC: 0` or `+PKCSRDY:` in clear, or noise), a counter that would wrap.
 *   The keys are wiped, the end listeners are told (the agent treats it as a device restart: the
 *   session's logical channels and logins are gone on the device, and it handshakes again before the
 *   next command). Writes are dropped — nothing the AtLink sends goes out in clear once a channel was
 *   expected — and incoming bytes are passed on as clear text (the device's `+PKCSSEC: 0`), which the
 *   AtLink, being out of step, discards unless it is an unsolicited result code.
 */
import { commandBody, decodeResponse } from "../../modules/at/codec.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { CHANNEL_PROLOGUE, type CipherState, type DhKey, IkInitiator, NoiseError } from "../../modules/wim/noise.js";
import { RecordReader, sealRecords } from "../../modules/wim/records.js";
import type { ByteStream } from "./link.js";
import { p256Suite } from "./noise-p256.js";

export { MAX_PLAINTEXT, MAX_RECORD, RECORD_HEADER, RECORD_TYPE } from "../../modules/wim/records.js";
/** The prologue's fixed part; the device serial follows. */
export const PROLOGUE = CHANNEL_PROLOGUE;
/** Longest wait for the handshake's answer. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

const HS = COMMAND_BY_NAME.get("+PKCSHS")!;
const FINAL = /^(OK|ERROR|\+CME ERROR:.*|\+PKCS ERROR:.*)$/;

export type SecureState = "clear" | "handshaking" | "secure" | "ended";

/** The handshake failed; `refused`: the device refused this host's key, or its answer was not made
 * with the key this host paired with (as opposed to silence or a closed link). */
export class HandshakeError extends Error {
  constructor(message: string, readonly refused = false) {
    super(message);
  }
}

const ascii = (s: string): Uint8Array => {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
};

/** The handshake's prologue for a device: the fixed text, then the serial (docs/channel.md). */
export const prologue = (serial: string): Uint8Array => ascii(PROLOGUE + serial);

interface Handshake {
  initiator: IkInitiator;
  line: string;
  message2?: Uint8Array;
  resolve(): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** The secure channel as a ByteStream over another one. */
export class SecureStream implements ByteStream {
  state: SecureState = "clear";
  /** Bytes written to and read from the link underneath (records, headers and tags included). */
  wireOut = 0;
  wireIn = 0;
  /** Why the last session ended. */
  endReason: string | undefined;
  private readonly listeners: ((bytes: Uint8Array) => void)[] = [];
  private readonly endListeners: ((reason: string) => void)[] = [];
  private send: CipherState | undefined;
  private receiveState: CipherState | undefined;
  private hs: Handshake | undefined;
  /** The record being read. */
  private readonly reader = new RecordReader();
  /** The LF of the handshake's OK line is still to come. */
  private skipLf = false;

  constructor(private readonly inner: ByteStream) {
    inner.onData((b) => this.received(b));
    inner.onClose(() => {
      this.failHandshake(new HandshakeError("link closed"));
      this.wipe();
    });
  }

  write(bytes: Uint8Array): void {
    if (this.state === "clear") return this.raw(bytes);
    if (this.state !== "secure") return; // never in clear once a channel is expected
    try {
      sealRecords(this.send!, bytes, (record) => this.raw(record));
    } catch (e) {
      this.end(e instanceof NoiseError ? e.message : String(e));
    }
  }

  onData(listener: (bytes: Uint8Array) => void): void {
    this.listeners.push(listener);
  }

  onClose(listener: () => void): void {
    this.inner.onClose(listener);
  }

  /** Called when a secure session ends (not when the link closes). */
  onEnd(listener: (reason: string) => void): void {
    this.endListeners.push(listener);
  }

  close(): void {
    this.wipe();
    this.inner.close();
  }

  /** Leaves a session that ended for clear text again (the device has no key of this host's to use). */
  useClear(): void {
    if (this.state === "handshaking") throw new Error("handshake in progress");
    this.wipe();
    this.state = "clear";
  }

  /**
   * Opens a session: AT+PKCSHS with message 1 in clear, message 2 from `+PKCSHS:`, then OK; from then
   * on records. A running session is replaced (the device ends it at the handshake's clear byte).
   * Rejects with HandshakeError if the device refuses (+CME ERROR: 3: it does not know this host's key),
   * answers something that is not the device's (the keys do not match), or is silent for `timeoutMs`.
   */
  handshake(hostKey: DhKey, deviceKey: Uint8Array, serial: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<void> {
    if (this.hs) return Promise.reject(new HandshakeError("handshake in progress"));
    this.wipe();
    this.state = "handshaking";
    const initiator = new IkInitiator(p256Suite, hostKey, deviceKey, prologue(serial));
    let message1: Uint8Array;
    try {
      message1 = initiator.writeMessage1();
    } catch (e) {
      this.state = "ended";
      return Promise.reject(new HandshakeError(`the device's key is not usable: ${(e as Error).message}`));
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.failHandshake(new HandshakeError(`the device did not answer the handshake within ${timeoutMs} ms`)), timeoutMs);
      this.hs = { initiator, line: "", resolve, reject, timer };
      this.raw(ascii(`AT${commandBody(HS, [message1])}\r`));
    });
  }

  /** Ends the session from this side (e.g. the host was unpaired). */
  end(reason: string): void {
    if (this.state !== "secure") return;
    this.wipe();
    this.state = "ended";
    this.endReason = reason;
    for (const l of this.endListeners) l(reason);
  }

  private raw(bytes: Uint8Array): void {
    this.wireOut += bytes.length;
    this.inner.write(bytes);
  }

  private deliver(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    for (const l of this.listeners) l(bytes);
  }

  private wipe(): void {
    this.send?.clear();
    this.receiveState?.clear();
    this.send = this.receiveState = undefined;
    this.reader.reset();
  }

  private failHandshake(e: Error): void {
    const hs = this.hs;
    if (!hs) return;
    clearTimeout(hs.timer);
    this.hs = undefined;
    this.wipe();
    this.state = "ended";
    hs.reject(e);
  }

  private received(bytes: Uint8Array): void {
    this.wireIn += bytes.length;
    let i = 0;
    while (i < bytes.length) {
      if (this.state === "secure") i = this.recordBytes(bytes, i);
      else if (this.state === "handshaking") i = this.handshakeBytes(bytes, i);
      else {
        this.deliver(i === 0 ? bytes : bytes.subarray(i));
        return;
      }
    }
  }

  /** The handshake's clear answer, line by line; returns where it stopped (the start of the records). */
  private handshakeBytes(bytes: Uint8Array, i: number): number {
    const hs = this.hs!;
    for (; i < bytes.length; i++) {
      const c = bytes[i];
      if (c !== 0x0d && c !== 0x0a) {
        if (hs.line.length < 1024) hs.line += String.fromCharCode(c);
        continue;
      }
      const text = hs.line;
      hs.line = "";
      if (!text || text.startsWith("AT") || text.startsWith("at")) continue; // an empty line, an echo
      if (text.startsWith("+PKCSRDY:")) {
        // the device restarted under the handshake: the AtLink must hear of it
        this.failHandshake(new HandshakeError("the device restarted during the handshake"));
        this.deliver(ascii(`\r\n${text}\r\n`));
        return i + 1;
      }
      if (text.startsWith("+PKCSHS:")) {
        const v = decodeResponse(HS, text);
        if (v && !("fault" in v)) hs.message2 = v[0] as Uint8Array;
        continue;
      }
      if (!FINAL.test(text)) continue; // +PKCSSEC: 0 of a session the handshake ended, or noise
      if (text !== "OK" || !hs.message2) {
        this.failHandshake(text.startsWith("+CME ERROR")
          ? new HandshakeError(`the device refused the handshake (${text}): it does not know this host's key`, true)
          : new HandshakeError(`the device answered the handshake with ${text}`));
        return i + 1;
      }
      let send: CipherState, receive: CipherState;
      try {
        ({ transport: { send, receive } } = hs.initiator.readMessage2(hs.message2));
      } catch (e) {
        this.failHandshake(new HandshakeError(`the handshake's answer does not come from the paired device (${(e as Error).message})`, true));
        return i + 1;
      }
      clearTimeout(hs.timer);
      this.hs = undefined;
      this.send = send;
      this.receiveState = receive;
      this.reader.reset();
      this.state = "secure";
      this.endReason = undefined;
      hs.resolve();
      // the S3 of the OK line is followed by its LF in clear (V.250's "\r\n"), maybe in the next chunk
      this.skipLf = c === 0x0d;
      return i + 1;
    }
    return i;
  }

  /** Consumes record bytes from `bytes[i]` on; returns where it stopped. */
  private recordBytes(bytes: Uint8Array, i: number): number {
    if (this.skipLf && this.reader.between) {
      this.skipLf = false;
      if (bytes[i] === 0x0a) return i + 1;
    }
    const { next, event } = this.reader.read(bytes, i, this.receiveState!);
    if (!event) return next;
    switch (event.kind) {
      case "record":
        this.deliver(event.plaintext);
        return next;
      case "clear":
        this.end(`a clear byte (0x${event.byte.toString(16).padStart(2, "0")}) where a record starts`);
        return next; // the rest is clear text: the device's +PKCSSEC: 0 or +PKCSRDY
      case "length":
        this.end(`record length ${event.length} out of range`);
        return bytes.length; // the rest of this chunk cannot be framed
      case "forged":
        this.end(event.why);
        return bytes.length; // what follows a forged record is not to be trusted either
    }
  }
}
