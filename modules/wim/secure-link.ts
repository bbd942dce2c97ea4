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
import type { CipherState, Transport } from "./noise.js";
import { RecordReader, sealRecords } from "./records.js";

export { MAX_RECORD } from "./records.js";
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
  /** The record being read. */
  private readonly reader = new RecordReader();
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
    try {
      sealRecords(send, bytes, (record) => this.transport.write(record));
    } catch {
      this.endSoon(); // the counter would wrap
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
    const { next, event } = this.reader.read(bytes, i, this.receiveState!);
    if (!event) return next;
    if (event.kind !== "record") {
      this.end(true); // a clear byte (the rest is read as clear AT), a length out of range, a forged record
      return next;
    }
    this.run(event.plaintext);
    event.plaintext.fill(0);
    return next;
  }

  /** Ends the session: channels and logins, engine state, keys; then tells the host (unless the link is gone). */
  private end(notify: boolean): void {
    this.send?.clear();
    this.receiveState?.clear();
    this.send = this.receiveState = this.peer = undefined;
    this.reader.reset();
    this.endPending = false;
    this.drop();
    this.engine!.reset();
    if (notify) this.transport.write(ascii(SESSION_ENDED));
  }
}
