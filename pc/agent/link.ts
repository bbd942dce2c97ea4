/**
 * The agent's end of the AT link: sends command lines, collects information responses until the
 * final result code, one command at a time. Requests are encoded and responses decoded with the
 * same command table the firmware uses (modules/at/table.ts).
 */
import { commandBody, decodeResponse, type Value } from "../../modules/at/codec.js";
import { CKR, PkcsError, ckrByName } from "../../modules/at/pkcs11.js";
import type { CommandSpec } from "../../modules/at/table.js";

/** A byte stream to the device (a serial port, the simulator's PTY, or a test pipe). */
export interface ByteStream {
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

/** The device answered ERROR or +CME ERROR, or the link failed. */
export class LinkError extends Error {}

interface Pending {
  resolve(r: { info: string[]; final: string }): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Longest time a command may take (RSA-4096 key generation is the slowest). */
export const COMMAND_TIMEOUT_MS = 180_000;

/** One AT link; commands are queued and run one at a time. */
export class AtLink {
  /** Bytes written to and read from the device (for the wire-efficiency figures). */
  bytesOut = 0;
  bytesIn = 0;
  /** Command lines sent (round trips). */
  commands = 0;
  private buffer = "";
  private info: string[] = [];
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly stream: ByteStream) {
    stream.onData((b) => this.receive(b));
    stream.onClose(() => {
      this.closed = true;
      if (this.pending) {
        clearTimeout(this.pending.timer);
        this.pending.reject(new LinkError("link closed"));
      }
      this.pending = undefined;
    });
  }

  /** Sets the link up for the agent: no echo, verbose results, numeric +PKCS/+CME errors. */
  async start(): Promise<void> {
    await this.line("\r"); // ends anything half-typed (answered by nothing, or ERROR)
    await this.line("ATE0V1Q0+CMEE=1");
  }

  /** Receives unsolicited result codes (lines that arrive while no command is running). */
  onUnsolicited: (text: string) => void = () => {};

  /**
   * Runs one AT+PKCS command; resolves to its response lines' values, throws PkcsError on
   * +PKCS ERROR. `before` are commands sent in the same line first (e.g. "+PKCSCH=2").
   */
  async command(spec: CommandSpec, values: readonly Value[] = [], before: readonly string[] = []): Promise<Value[][]> {
    const r = await this.line("AT" + [...before, commandBody(spec, values)].join(";"));
    if (r.final.startsWith("+PKCS ERROR:")) {
      const code = r.final.slice(12).trim();
      throw new PkcsError(/^\d+$/.test(code) ? Number(code) : ckrByName(code) ?? CKR.DEVICE_ERROR);
    }
    if (r.final !== "OK") throw new LinkError(`${spec.name}: ${r.final}`);
    const out: Value[][] = [];
    for (const text of r.info) {
      const v = decodeResponse(spec, text);
      if (v === undefined) continue; // an unsolicited line of another command
      if ("fault" in v) throw new LinkError(`${spec.name}: bad response (${v.fault})`);
      out.push(v);
    }
    if (!spec.multiline && spec.response.length && out.length !== 1) throw new LinkError(`${spec.name}: expected one response line`);
    return out;
  }

  /** Sends one raw command line; resolves to its information lines and final result. */
  line(text: string): Promise<{ info: string[]; final: string }> {
    const run = () =>
      new Promise<{ info: string[]; final: string }>((resolve, reject) => {
        if (this.closed) return reject(new LinkError("link closed"));
        if (text === "\r") {
          // a bare terminator gets no response: just flush the device's line buffer
          this.send("\r");
          return resolve({ info: [], final: "" });
        }
        const timer = setTimeout(() => {
          this.pending = undefined;
          reject(new LinkError("device did not answer"));
        }, COMMAND_TIMEOUT_MS);
        this.pending = { resolve, reject, timer };
        this.info = [];
        this.commands++;
        this.send(text + "\r");
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Cancels the command in flight (V.250: a character received during a command aborts it; CAN is
   * the one the device's line assembly then drops). The command fails with the device's answer. */
  interrupt(): void {
    if (this.pending && !this.closed) this.send("\x18");
  }

  close(): void {
    this.closed = true;
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending.reject(new LinkError("link closed"));
      this.pending = undefined;
    }
    this.stream.close();
  }

  private send(s: string): void {
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    this.bytesOut += b.length;
    this.stream.write(b);
  }

  private receive(bytes: Uint8Array): void {
    this.bytesIn += bytes.length;
    for (const c of bytes) this.buffer += String.fromCharCode(c);
    let i: number;
    while ((i = this.buffer.search(/[\r\n]/)) >= 0) {
      const text = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 1);
      if (text) this.lineReceived(text);
    }
  }

  private lineReceived(text: string): void {
    if (text.startsWith("AT") || text.startsWith("at")) return; // an echo
    const p = this.pending;
    if (text.startsWith("+PKCSRDY:")) {
      // the device restarted: a command in flight is lost with it
      if (p) {
        clearTimeout(p.timer);
        this.pending = undefined;
        p.reject(new LinkError("device restarted"));
      }
      this.onUnsolicited(text);
      return;
    }
    if (!p) return this.onUnsolicited(text);
    if (text === "OK" || text === "ERROR" || text.startsWith("+CME ERROR:") || text.startsWith("+PKCS ERROR:")) {
      clearTimeout(p.timer);
      this.pending = undefined;
      p.resolve({ info: this.info, final: text });
    } else {
      this.info.push(text);
    }
  }
}
