/**
 * The agent's end of the AT link: sends command lines, collects information responses until the
 * final result code, one command at a time. Requests are encoded and responses decoded with the
 * same command table the firmware uses (modules/at/table.ts).
 *
 * A response carries no reference to its request: the link relies on V.250's order (one final
 * result code per command line, in the order the lines were sent). Whenever that order may be
 * broken — a command timed out and the device may still answer it, the device restarted under a
 * command, a bare line was sent, a line arrived that nobody asked for — the link is "out of step"
 * and sends no command until it has resynchronised: it interrupts whatever still runs (CAN),
 * sends a marker command whose answer no other command can give (AT+PKCSDATA staging a number of
 * bytes that only this marker uses) and discards every line until that answer and its final
 * result code. A late answer is therefore never delivered to the next caller.
 */
import { commandBody, decodeResponse, encodeCommand, type Value } from "../../modules/at/codec.js";
import { CKR, PkcsError, ckrByName } from "../../modules/at/pkcs11.js";
import { COMMAND_BY_NAME, type CommandSpec } from "../../modules/at/table.js";

/** A byte stream to the device (a serial port, the simulator's PTY, or a test pipe). */
export interface ByteStream {
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

/** The device answered ERROR or +CME ERROR, or the link failed. */
export class LinkError extends Error {}

/** A command line's answer: its information lines and final result code. */
export interface LineResult {
  info: string[];
  final: string;
}

interface Pending {
  resolve(r: LineResult): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
  info: string[];
}

interface Resync {
  /** The marker's information line, "+PKCSDATA: <n>". */
  expect: string;
  /** The marker's information line arrived; its final result code comes next. */
  seen: boolean;
  resolve(): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Longest time a command may take (RSA-4096 key generation is the slowest). */
export const COMMAND_TIMEOUT_MS = 180_000;
/** Longest wait for the device's answer to a resynchronisation marker (after CAN). */
export const RESYNC_TIMEOUT_MS = 30_000;

/** Timing of a link (tests shorten them). */
export interface LinkOptions {
  /** Longest time a command may take before it fails and the link resynchronises. */
  commandTimeoutMs?: number;
  /** Longest wait for a resynchronisation marker's answer. */
  resyncTimeoutMs?: number;
}

/** Marker sizes: 1…255 staged bytes. The agent stages only values over a line (> 3 KB), whose
 * +PKCSDATA answers are ≥ 1026, so no other command's answer can look like a marker's. */
const MARKER_SIZES = 255;
const CAN = "\x18";
const STAGE = COMMAND_BY_NAME.get("+PKCSDATA")!;
const FINAL = /^(OK|ERROR|\+CME ERROR:.*|\+PKCS ERROR:.*)$/;

/** One AT link; commands are queued and run one at a time. */
export class AtLink {
  /** Bytes written to and read from the device (for the wire-efficiency figures). */
  bytesOut = 0;
  bytesIn = 0;
  /** Command lines sent (round trips). */
  commands = 0;
  /** Resynchronisations completed (for tests). */
  resyncs = 0;
  /** Timeouts, changeable while the link runs (a command keeps the one in force when it was sent). */
  commandTimeoutMs: number;
  resyncTimeoutMs: number;
  private buffer = "";
  private pending: Pending | undefined;
  private resyncing: Resync | undefined;
  /** False while a line may still be answered that no caller waits for. */
  private inStep = true;
  private marker = Math.floor(Math.random() * MARKER_SIZES);
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly stream: ByteStream, options: LinkOptions = {}) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    this.resyncTimeoutMs = options.resyncTimeoutMs ?? RESYNC_TIMEOUT_MS;
    stream.onData((b) => this.receive(b));
    stream.onClose(() => this.fail(new LinkError("link closed")));
  }

  /** Sets the link up for the agent: no echo, verbose results, numeric +PKCS/+CME errors. */
  async start(): Promise<void> {
    await this.line("\r"); // ends anything half-typed (answered by nothing, or ERROR: resynchronised next)
    await this.line("ATE0V1Q0+CMEE=1");
  }

  /**
   * start() for a link in clear to a device that may be paired with hosts: it refuses in clear every
   * command but a few (docs/channel.md, "What works in clear"), the resynchronisation marker
   * (AT+PKCSDATA) among them. The bare S3 that ends a half-typed line is answered by nothing or by
   * ERROR: an ERROR before anything else of the next command's answer is that one, and dropped.
   */
  async startClear(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.closed) throw new LinkError("link closed");
      this.send("\r");
      this.bareS3 = true;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    await p;
    await this.line("ATE0V1Q0+CMEE=1");
  }

  /** A bare S3 was sent in step: its ERROR, if any, comes before the next command's answer. */
  private bareS3 = false;

  /** Receives unsolicited result codes (+PKCSRDY; never a line that may belong to a command). */
  onUnsolicited: (text: string) => void = () => {};

  /**
   * Runs one AT+PKCS command; resolves to its response lines' values, throws PkcsError on
   * +PKCS ERROR. `before` are commands sent in the same line first (e.g. "+PKCSCH=2").
   */
  command(spec: CommandSpec, values: readonly Value[] = [], before: readonly string[] = []): Promise<Value[][]> {
    return this.commandLine(spec, commandBody(spec, values), before);
  }

  /**
   * command() with the request already encoded (`body`: commandBody's text, which Device.run measures
   * before it decides to stage a value): the one place a command's answer is decoded.
   */
  async commandLine(spec: CommandSpec, body: string, before: readonly string[] = []): Promise<Value[][]> {
    const r = await this.line("AT" + [...before, body].join(";"));
    if (r.final.startsWith("+PKCS ERROR:")) {
      const code = r.final.slice(12).trim();
      throw new PkcsError(/^\d+$/.test(code) ? Number(code) : ckrByName(code) ?? CKR.DEVICE_ERROR);
    }
    if (r.final !== "OK") throw new LinkError(`${spec.name}: ${r.final}`);
    const out: Value[][] = [];
    for (const text of r.info) {
      const v = decodeResponse(spec, text);
      if (v === undefined) continue; // an intermediate result (+PKCSKGP)
      if ("fault" in v) throw new LinkError(`${spec.name}: bad response (${v.fault})`);
      out.push(v);
    }
    if (!spec.multiline && spec.response.length && out.length !== 1) throw new LinkError(`${spec.name}: expected one response line`);
    return out;
  }

  /** Sends one raw command line; resolves to its information lines and final result. */
  line(text: string): Promise<LineResult> {
    const run = async (): Promise<LineResult> => {
      if (this.closed) throw new LinkError("link closed");
      if (!this.inStep) await this.resync();
      if (text === "\r") {
        // a bare terminator ends a half-typed line: answered by nothing, or by ERROR
        this.send("\r");
        this.inStep = false;
        return { info: [], final: "" };
      }
      return new Promise<LineResult>((resolve, reject) => {
        const timeout = this.commandTimeoutMs;
        const timer = setTimeout(() => {
          // the device may still answer: interrupt it, and let nothing through until it is in step
          this.pending = undefined;
          this.inStep = false;
          if (!this.closed) this.send(CAN);
          reject(new LinkError(`device did not answer within ${timeout} ms`));
        }, timeout);
        this.pending = { resolve, reject, timer, info: [] };
        this.commands++;
        this.send(text + "\r");
      });
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Cancels the command in flight (V.250: a character received during a command aborts it; CAN is
   * the one the device's line assembly then drops). The command fails with the device's answer. */
  interrupt(): void {
    if (this.pending && !this.closed) this.send(CAN);
  }

  close(): void {
    if (this.closed) return;
    this.fail(new LinkError("link closed"));
    this.stream.close();
  }

  /** The link is gone: whoever waits fails. */
  private fail(e: Error): void {
    this.closed = true;
    const p = this.pending, r = this.resyncing;
    this.pending = this.resyncing = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    if (r) {
      clearTimeout(r.timer);
      r.reject(e);
    }
  }

  /**
   * Brings the link back in step: CAN (aborts a command that still runs; the line assembly drops it),
   * then a marker; every line before the marker's answer and final result code is discarded.
   * Fails after resyncTimeoutMs (the link stays out of step: the next command tries again).
   */
  private resync(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.resyncing = undefined;
        reject(new LinkError(`device out of step: no answer to resynchronisation within ${this.resyncTimeoutMs} ms`));
      }, this.resyncTimeoutMs);
      this.resyncing = { expect: "", seen: false, timer, reject, resolve: () => {
        clearTimeout(timer);
        this.resyncing = undefined;
        this.inStep = true;
        this.resyncs++;
        resolve();
      } };
      this.send(CAN);
      this.sendMarker();
    });
  }

  /** Sends a marker with a size no marker still unanswered has (its answer is told apart). */
  private sendMarker(): void {
    const r = this.resyncing!;
    this.marker = (this.marker % MARKER_SIZES) + 1;
    r.expect = `+PKCSDATA: ${this.marker}`;
    r.seen = false;
    this.commands++;
    this.send(encodeCommand(STAGE, [0, new Uint8Array(this.marker)]) + "\r");
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
    if (text.startsWith("+PKCSRDY:")) return this.restarted(text);
    if (text.startsWith("+PKCSSEC:")) return; // a secure session's end: the SecureStream under the link reports it
    const r = this.resyncing;
    if (r) {
      // everything before the marker's answer is a late answer to a line nobody waits for now
      if (text === r.expect) r.seen = true;
      else if (r.seen && FINAL.test(text)) r.resolve();
      else r.seen = false;
      return;
    }
    const p = this.pending;
    const bare = this.bareS3;
    this.bareS3 = false;
    if (bare && text === "ERROR" && p && p.info.length === 0) return; // the bare S3's answer
    if (!p) {
      // nobody asked: a late answer (or garbage) — whatever follows may be out of order too
      this.inStep = false;
      return;
    }
    if (FINAL.test(text)) {
      clearTimeout(p.timer);
      this.pending = undefined;
      p.resolve({ info: p.info, final: text });
    } else {
      p.info.push(text);
    }
  }

  /** +PKCSRDY: the device restarted. */
  private restarted(text: string): void {
    this.reset("device restarted", true);
    this.onUnsolicited(text);
  }

  /**
   * The device's state under the link is gone (it restarted, or the secure session ended). A command
   * in flight is lost with it — or, if its line reached the new start, answered later: the link
   * resynchronises before the next command either way. A resynchronisation under way sends a new
   * marker (`remark`: the old one may be lost with a restart) or, when nothing can be sent until the
   * channel is open again, fails.
   */
  reset(reason: string, remark = false): void {
    const p = this.pending;
    if (p) {
      clearTimeout(p.timer);
      this.pending = undefined;
      this.inStep = false;
      p.reject(new LinkError(reason));
    }
    const r = this.resyncing;
    if (r && remark) this.sendMarker();
    else if (r) {
      clearTimeout(r.timer);
      this.resyncing = undefined;
      r.reject(new LinkError(reason));
    }
  }
}
