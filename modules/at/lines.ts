/**
 * Line assembly per ITU-T V.250 §5.2: bytes in, command lines out.
 * S3 (CR) ends a line, S5 (backspace) deletes, control characters are dropped, and a line longer
 * than the limit is reported as overflowed (its content is discarded, the terminator still ends it).
 */
export const S3 = 13; // command line termination character
export const S4 = 10; // response formatting character
export const S5 = 8;  // command line editing character

/** What the assembler hands over for each terminated line: its bytes (Latin-1), or an overflow. */
export interface AssembledLine {
  readonly bytes: Uint8Array;
  readonly overflow: boolean;
}

/** Bytes of line buffer an assembler starts with; it doubles up to maxLength as longer lines come. */
export const INITIAL_LINE_BUFFER = 128;

/**
 * Collects bytes into command lines of at most `maxLength` characters. The buffer grows with the
 * longest line seen (a link that only ever carries short lines, e.g. an idle BLE link, never holds
 * maxLength bytes); a line the heap has no room for is discarded like an overlong one.
 */
export class LineAssembler {
  private buf: Uint8Array;
  private len = 0;
  private overflow = false;

  constructor(readonly maxLength: number) {
    this.buf = new Uint8Array(Math.min(INITIAL_LINE_BUFFER, maxLength));
  }

  /** Feeds bytes; returns the lines they complete, in order. `echo` receives what V.250 echoes. */
  push(bytes: Uint8Array, echo?: (b: Uint8Array) => void): AssembledLine[] {
    const lines: AssembledLine[] = [];
    let echoFrom = 0;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (c === S3) {
        lines.push({ bytes: this.overflow ? new Uint8Array(0) : this.buf.slice(0, this.len), overflow: this.overflow });
        this.len = 0;
        this.overflow = false;
      } else if (c === S5 || c === 127) {
        if (this.len > 0) this.len--;
      } else if (c < 32) {
        // LF after CR and every other control character (NUL included) is ignored
      } else if (this.len < this.maxLength && (this.len < this.buf.length || this.grow())) {
        this.buf[this.len++] = c;
      } else {
        this.overflow = true;
      }
    }
    if (echo && bytes.length > echoFrom) echo(bytes.subarray(echoFrom));
    return lines;
  }

  /** Doubles the buffer (up to maxLength); false if the heap has no room (memory full is thrown). */
  private grow(): boolean {
    try {
      const next = new Uint8Array(Math.min(this.buf.length * 2, this.maxLength));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      return true;
    } catch {
      return false;
    }
  }

  /** Forgets the line being typed (the link ended). */
  clear(): void {
    this.len = 0;
    this.overflow = false;
  }

  /** Bytes held for the line being typed (for memory bounds in tests). */
  get pending(): number {
    return this.len;
  }
}

