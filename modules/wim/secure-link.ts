/**
 * The record layer of the secure channel (docs/channel.md, "Records"), one per link, between the
 * Transport and its AT engine.
 *
 * Clear mode: bytes go to the engine up to and including each S3, so that when a line armed a session
 * (AT+PKCSHS) the bytes after it are read as records — its response and OK were written in clear.
 * Secure mode: bytes are records, 0x02 ‖ length (2 bytes, big-endian) ‖ ciphertext; each is opened with
 * the receive cipher state (associated data: the 3 header bytes) and its plaintext, one command line,
 * goes to the engine; each write of the engine is sealed as one record (split if longer than a record).
 *
 * The session ends — the link's channels with their sessions and logins, the engine's state, the keys;
 * then `\r\n+PKCSSEC: 0\r\n` in clear — on a record that fails to open (tampered, replayed, reordered),
 * a length out of range, a first byte other than 0x02 (the rest is then read as clear AT), a counter
 * that would wrap, a revocation of the session's host, or the end of the link (silently then).
 *
 * Per link in RAM: two cipher states (a 32-byte key each), the 3-byte header being read and the body of
 * the record being read (allocated at its length, dropped after it).
 */
import { S3 } from "../at/lines.js";
import { type CipherState, TAG, type Transport } from "./noise.js";

/** The first byte of a record. */
export const RECORD_TYPE = 0x02;
/** Bytes of a record's header. */
export const RECORD_HEADER = 3;
/** Longest ciphertext of a record (a plaintext of 4,096 bytes and the tag). */
export const MAX_RECORD = 4096 + TAG;
/** What the device writes in clear when a secure session ends. */
export const SESSION_ENDED = "\r\n+PKCSSEC: 0\r\n";

/** The link's AT engine, as the record layer uses it. */
export interface LinkEngine {
  /** Feeds bytes to the engine. */
  receive(bytes: Uint8Array): void;
  /** Resets it (partial line, settings, selected channel, staged data). */
  reset(): void;
}

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** One link's record layer. */
export class SecureLink {
  private send: CipherState | undefined;
  private receiveState: CipherState | undefined;
  /** The static key of the session's host (from the handshake). */
  private peer: Uint8Array | undefined;
  /** A session armed by a handshake: starts after the line that carried it. */
  private armed: { transport: Transport; host: Uint8Array } | undefined;
  /** Header bytes read of the record being read, and its length field. */
  private headerFilled = 0;
  private length = 0;
  private body: Uint8Array | undefined;
  private bodyFilled = 0;
  /** True while the engine runs a command of this link. */
  private busy = false;
  /** The session must end once the running command has answered. */
  private endPending = false;

  /** The link's engine (set once, right after both are made: each writes to the other). */
  engine: LinkEngine | undefined;

  /** `drop` closes the link's logical channels with their sessions and logins. */
  constructor(private readonly transport: { write(bytes: Uint8Array): void }, private readonly drop: () => void) {}

  /** True while a secure session runs. */
  get secure(): boolean {
    return this.receiveState !== undefined;
  }

  /** The host of the running session (its static public key), undefined in clear. */
  get host(): Uint8Array | undefined {
    return this.peer;
  }

  /** A handshake succeeded on this link: the session starts after the current line's response. */
  arm(transport: Transport, host: Uint8Array): void {
    this.armed = { transport, host };
  }

  /** Bytes from the transport. */
  receive(bytes: Uint8Array): void {
    let i = 0;
    while (i < bytes.length) {
      if (!this.receiveState) {
        const cr = bytes.indexOf(S3, i);
        const end = cr < 0 ? bytes.length : cr + 1;
        this.run(bytes.subarray(i, end));
        i = end;
        if (this.armed) this.start();
      } else {
        i = this.recordBytes(bytes, i);
      }
    }
  }

  /** A write of the engine: in clear as it is, in a session as records. */
  output(bytes: Uint8Array): void {
    const send = this.send;
    if (!send) {
      this.transport.write(bytes);
      return;
    }
    const most = MAX_RECORD - TAG;
    for (let o = 0; o < bytes.length || o === 0; o += most) {
      const piece = bytes.subarray(o, Math.min(bytes.length, o + most));
      const length = piece.length + TAG;
      const header = Uint8Array.of(RECORD_TYPE, length >> 8, length & 0xff);
      let ct: Uint8Array;
      try {
        ct = send.encrypt(header, piece);
      } catch {
        this.endSoon(); // the counter would wrap
        return;
      }
      const record = new Uint8Array(RECORD_HEADER + ct.length);
      record.set(header);
      record.set(ct, RECORD_HEADER);
      this.transport.write(record);
      if (bytes.length === 0) break;
    }
  }

  /** Ends the session (at once, or after the running command answered). */
  endSoon(): void {
    if (!this.secure) return;
    if (this.busy) this.endPending = true;
    else this.end(true);
  }

  /** The link itself ended (a BLE disconnect): the session goes without a word. */
  linkEnded(): void {
    this.armed = undefined;
    if (this.secure) this.end(false);
  }

  private run(bytes: Uint8Array): void {
    this.busy = true;
    try {
      this.engine!.receive(bytes);
    } finally {
      this.busy = false;
    }
    if (this.endPending) this.end(true);
  }

  private start(): void {
    const { transport, host } = this.armed!;
    this.armed = undefined;
    // whatever the link held before the session (channels opened in clear) is not the session's
    this.drop();
    this.send = transport.send;
    this.receiveState = transport.receive;
    this.peer = host;
    transport.handshakeHash.fill(0);
  }

  /** Consumes record bytes from `bytes[i]` on; returns where it stopped. */
  private recordBytes(bytes: Uint8Array, i: number): number {
    if (this.headerFilled < RECORD_HEADER) {
      if (this.headerFilled === 0 && bytes[i] !== RECORD_TYPE) {
        this.end(true); // a clear byte: the rest is read as clear AT
        return i;
      }
      if (this.headerFilled > 0) this.length = (this.length << 8) | bytes[i];
      i++;
      if (++this.headerFilled === RECORD_HEADER) {
        if (this.length < TAG || this.length > MAX_RECORD) {
          this.end(true);
          return i;
        }
        this.body = new Uint8Array(this.length);
        this.bodyFilled = 0;
      }
      return i;
    }
    const body = this.body!;
    const take = Math.min(body.length - this.bodyFilled, bytes.length - i);
    body.set(bytes.subarray(i, i + take), this.bodyFilled);
    this.bodyFilled += take;
    i += take;
    if (this.bodyFilled < body.length) return i;
    const header = Uint8Array.of(RECORD_TYPE, this.length >> 8, this.length & 0xff);
    this.headerFilled = this.length = 0;
    this.body = undefined;
    let plaintext: Uint8Array;
    try {
      plaintext = this.receiveState!.decrypt(header, body);
    } catch {
      this.end(true);
      return i;
    }
    this.run(plaintext);
    plaintext.fill(0);
    return i;
  }

  /** Ends the session: channels and logins, engine state, keys; then tells the host (unless the link is gone). */
  private end(notify: boolean): void {
    this.send?.clear();
    this.receiveState?.clear();
    this.send = this.receiveState = this.peer = this.body = undefined;
    this.headerFilled = this.bodyFilled = this.length = 0;
    this.endPending = false;
    this.drop();
    this.engine!.reset();
    if (notify) this.transport.write(ascii(SESSION_ENDED));
  }
}
