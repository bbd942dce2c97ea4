/**
 * The secure channel's records (docs/channel.md, "Records"), written once for both ends: the device's
 * record layer (secure-link.ts) and the agent's secure stream (pc/agent/secure-stream.ts) seal and read
 * them with this module. A record is 0x02, the ciphertext's length (2 bytes, big-endian) and the
 * ciphertext: the AEAD of the plaintext with the 3-byte header as associated data, under the direction's
 * key and implicit counter (noise.ts's CipherState). Pure.
 */
import { type CipherState, TAG } from "./noise.js";

/** The first byte of a record (never the start of a clear AT line or result code). */
export const RECORD_TYPE = 0x02;
/** Bytes of a record's header. */
export const RECORD_HEADER = 3;
/** Longest plaintext of one record; a longer write is sealed as several. */
export const MAX_PLAINTEXT = 4096;
/** Longest ciphertext of a record (the plaintext and the tag). */
export const MAX_RECORD = MAX_PLAINTEXT + TAG;

/**
 * Seals `plaintext` as records of at most MAX_PLAINTEXT bytes each (an empty plaintext is one empty
 * record) and hands each to `out`, in order. Throws noise.ts's NoiseError when the counter is spent.
 */
export function sealRecords(send: CipherState, plaintext: Uint8Array, out: (record: Uint8Array) => void): void {
  for (let o = 0; o === 0 || o < plaintext.length; o += MAX_PLAINTEXT) {
    const piece = plaintext.subarray(o, Math.min(plaintext.length, o + MAX_PLAINTEXT));
    const length = piece.length + TAG;
    const record = new Uint8Array(RECORD_HEADER + length);
    record[0] = RECORD_TYPE;
    record[1] = length >> 8;
    record[2] = length & 0xff;
    record.set(send.encrypt(record.subarray(0, RECORD_HEADER), piece), RECORD_HEADER);
    out(record);
  }
}

/**
 * What reading stopped at: a whole record's plaintext; or why the session must end — a byte other
 * than RECORD_TYPE where a record starts (nothing of it consumed: the rest may be clear text), a length
 * out of range, or a record that does not open (tampered, replayed, reordered, or the counter spent).
 */
export type RecordEvent =
  | { readonly kind: "record"; readonly plaintext: Uint8Array }
  | { readonly kind: "clear"; readonly byte: number }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "forged"; readonly why: string };

/** Reassembles records from a byte stream split anywhere. */
export class RecordReader {
  private readonly header = new Uint8Array(RECORD_HEADER);
  private headerFilled = 0;
  private body: Uint8Array | undefined;
  private bodyFilled = 0;

  /** True between records (no header byte read yet). */
  get between(): boolean {
    return this.headerFilled === 0;
  }

  /**
   * Reads from `bytes[i]` on, up to the end of one record at most, opening it with `receive`. Returns
   * where it stopped and, when a record ended or the stream went wrong, what happened (then the reader
   * is between records again).
   */
  read(bytes: Uint8Array, i: number, receive: CipherState): { next: number; event?: RecordEvent } {
    while (this.headerFilled < RECORD_HEADER) {
      if (i >= bytes.length) return { next: i };
      if (this.headerFilled === 0 && bytes[i] !== RECORD_TYPE) return { next: i, event: { kind: "clear", byte: bytes[i] } };
      this.header[this.headerFilled++] = bytes[i++];
      if (this.headerFilled === RECORD_HEADER) {
        const length = (this.header[1] << 8) | this.header[2];
        if (length < TAG || length > MAX_RECORD) {
          this.reset();
          return { next: i, event: { kind: "length", length } };
        }
        this.body = new Uint8Array(length);
        this.bodyFilled = 0;
      }
    }
    const body = this.body!;
    const take = Math.min(body.length - this.bodyFilled, bytes.length - i);
    body.set(bytes.subarray(i, i + take), this.bodyFilled);
    this.bodyFilled += take;
    i += take;
    if (this.bodyFilled < body.length) return { next: i };
    const header = this.header.slice();
    this.reset();
    try {
      return { next: i, event: { kind: "record", plaintext: receive.decrypt(header, body) } };
    } catch (e) {
      return { next: i, event: { kind: "forged", why: e instanceof Error ? e.message : String(e) } };
    }
  }

  /** Forgets a record half read (the session ended). */
  reset(): void {
    this.headerFilled = this.bodyFilled = 0;
    this.body = undefined;
  }
}
