/**
 * The AT engine: bytes from the link in, responses out. Handles V.250 basics itself (E, Q, V, I, Z,
 * S3/S4/S5, +GMI/+GMM/+GMR/+GSN/+GCAP, +CMEE) and dispatches the AT+PKCS commands of table.ts to
 * handlers. It never throws out of receive(): every line gets a final result code.
 */
import { decodeParams, encodeResponse, type Value } from "./codec.js";
import { CKR, PkcsError, ckrName } from "./pkcs11.js";
import { LineAssembler, S3, S4, S5 } from "./lines.js";
import { type AtCommand, parseLine } from "./syntax.js";
import { COMMAND_BY_NAME, type CommandSpec, MAX_STAGED, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, readForm } from "./table.js";

/** What a link carries from command to command: its selected channel and staged data. */
export interface LinkContext {
  /** Which link this is (the index of its transport): each link has its own logical channels. */
  readonly id: number;
  /** The logical channel the link's commands act on (AT+PKCSCH). */
  channel: number;
  /** Data staged with AT+PKCSDATA, used once by a binary parameter "@". */
  staged: Uint8Array | undefined;
  /** The protocol version negotiated with AT+PKCSVER. */
  version: number;
  /** Sends an intermediate result line at once, while the command runs (e.g. progress). */
  intermediate(text: string): void;
  /** True when the PC has sent something since the command started: V.250's abort of a command. */
  interrupted(): boolean;
}

/** Runs one AT+PKCS command: typed parameters in, the values of each response line out. */
export type CommandHandler = (params: Value[], link: LinkContext) => Value[][];

/** What ATI, +GMI, +GMM, +GMR and +GSN report. */
export interface Identity {
  readonly manufacturer: string;
  readonly model: string;
  readonly revision: string;
  readonly serial: string;
}

/** Longest command line accepted (characters between "AT" and S3 inclusive of both). */
export const MAX_LINE = 4096;

/** +CME ERROR codes of 3GPP TS 27.007 §9.2 that the engine uses. */
export const CME = { PHONE_FAILURE: 0, NOT_ALLOWED: 3, NOT_SUPPORTED: 4, TEXT_TOO_LONG: 24, INCORRECT_PARAMETERS: 50, UNKNOWN: 100 } as const;
const CME_TEXT: Record<number, string> = {
  0: "phone failure", 3: "operation not allowed", 4: "operation not supported", 24: "text string too long",
  50: "incorrect parameters", 100: "unknown",
};

/** A fault of the command itself, reported as "+CME ERROR: <code>" (handlers may throw it). */
export class CmeError {
  constructor(readonly code: number) {}
}

/** Options of an engine. */
export interface EngineOptions {
  /** Sends response bytes to the link. */
  write(bytes: Uint8Array): void;
  /** Handlers by command name ("+PKCSOPEN"); commands without a handler answer ERROR. */
  handlers: ReadonlyMap<string, CommandHandler>;
  identity: Identity;
  /** Reports a handler's unexpected exception (never with parameters: they may hold PINs). */
  log?(message: string): void;
  /** Bytes waiting on the link (for aborting long commands); absent where the transport cannot tell. */
  pending?(): number;
  /** Which link this engine serves (LinkContext.id); 0 if absent. */
  link?: number;
  /**
   * Whether the command `name` ("+PKCSSIGN", "E", "+GMI") may run now; a refused command answers
   * +CME ERROR: 3 and does nothing (the secure channel's clear-mode gate: docs/channel.md). Absent: all run.
   * The name is text from the link: the gate compares it, never uses it as a property key.
   */
  gate?(name: string): boolean;
}

/**
 * The identification commands. A Map, never an object indexed by the name: the name is the PC's, and on
 * XS `name in object` or `object[name]` turns every new string into a property key, which lives as long
 * as the machine (one slot and its characters per name: a stream of made-up command names filled the
 * device's heap). No lookup here turns text from the link into a key.
 */
const IDENTIFICATION = new Map<string, (id: Identity) => string>([
  ["+GMI", (id) => id.manufacturer],
  ["+GMM", (id) => id.model],
  ["+GMR", (id) => id.revision],
  ["+GSN", (id) => id.serial],
  ["+GCAP", () => "+GCAP: +PKCS"],
]);

/** V.250 settings of the link (reset by ATZ). */
interface Settings {
  echo: boolean;
  quiet: boolean;
  verbose: boolean;
  cmee: 0 | 1 | 2;
}
const DEFAULTS: Settings = { echo: true, quiet: false, verbose: true, cmee: 0 };

/** One AT engine per link. */
export class AtEngine {
  private readonly lines = new LineAssembler(MAX_LINE);
  private settings: Settings = { ...DEFAULTS };
  /** The link's state for the command handlers. */
  readonly link: LinkContext;
  /** Lines processed since start (for tests and benchmarks). */
  processed = 0;

  constructor(private readonly opts: EngineOptions) {
    this.link = {
      id: opts.link ?? 0,
      channel: 0,
      staged: undefined,
      version: PROTOCOL_VERSION,
      intermediate: (text) => this.opts.write(ascii(this.info(text))),
      interrupted: () => (this.opts.pending?.() ?? 0) > 0,
    };
  }

  /** The link ended (a BLE disconnect): forgets the partial line, the selected channel, staged data and the
   * negotiated version, and returns to the default settings (as ATZ). The channels are the Wim's to close. */
  reset(): void {
    this.lines.clear();
    this.settings = { ...DEFAULTS };
    this.link.channel = 0;
    this.link.staged = undefined;
    this.link.version = PROTOCOL_VERSION;
  }

  /** Sends an unsolicited result code (between command lines only: the engine is synchronous). */
  unsolicited(text: string): void {
    this.opts.write(ascii(this.info(text)));
  }

  /** Feeds bytes from the link. */
  receive(bytes: Uint8Array): void {
    // split after each S3: a command line may change the echo setting for the bytes that follow
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === S3) {
        this.segment(bytes.subarray(start, i + 1));
        start = i + 1;
      }
    }
    if (start < bytes.length) this.segment(bytes.subarray(start));
  }

  private segment(bytes: Uint8Array): void {
    const echo = this.settings.echo ? (b: Uint8Array) => this.opts.write(b) : undefined;
    for (const line of this.lines.push(bytes, echo)) {
      this.processed++;
      let out: string;
      try {
        out = line.overflow ? this.final(new CmeError(CME.TEXT_TOO_LONG)) : this.runLine(line.bytes);
      } catch (e) {
        this.opts.log?.("AT engine: " + String(e));
        out = this.final("ERROR");
      }
      if (out) this.opts.write(ascii(out));
    }
  }

  /** Executes one command line (its bytes, or text in tests) and returns all of its response text. */
  runLine(text: string | Uint8Array): string {
    if (isBlank(text)) return ""; // V.250: an empty line is ignored
    const parsed = parseLine(text);
    if ("fault" in parsed) return this.final("ERROR");
    let out = "";
    for (const cmd of parsed) {
      const r = this.runCommand(cmd);
      if (typeof r === "string") return out + this.final(r);
      if (r instanceof CmeError || r instanceof PkcsError) return out + this.final(r);
      for (const info of r) out += this.info(info);
    }
    return out + this.final("OK");
  }

  private runCommand(cmd: AtCommand): string[] | string | CmeError | PkcsError {
    if (this.opts.gate && !this.opts.gate(cmd.name)) return new CmeError(CME.NOT_ALLOWED);
    const s = this.settings;
    const flag = (set: (v: boolean) => void): string[] | string => {
      const v = cmd.args.length ? cmd.args[0] : 0;
      if (v !== 0 && v !== 1) return "ERROR";
      set(v === 1);
      return [];
    };
    switch (cmd.name) {
      case "E": return flag((v) => (s.echo = v));
      case "Q": return flag((v) => (s.quiet = v));
      case "V": return flag((v) => (s.verbose = v));
      case "Z": case "&F":
        if (cmd.args.length && cmd.args[0] !== 0) return "ERROR";
        this.settings = { ...DEFAULTS };
        return [];
      case "I": {
        const id = this.opts.identity;
        return cmd.args.length && cmd.args[0] !== 0 ? "ERROR" : [`${id.manufacturer} ${id.model}`, `revision ${id.revision}`];
      }
      case "S3": case "S4": case "S5": {
        const value = cmd.name === "S3" ? S3 : cmd.name === "S4" ? S4 : S5;
        if (cmd.form === "read") return [pad3(value)];
        if (cmd.form === "set" && cmd.args[0] === value) return [];
        return "ERROR";
      }
    }
    if (cmd.name.startsWith("S") && cmd.name.length > 1 && cmd.name[1] >= "0" && cmd.name[1] <= "9") return "ERROR";
    const ident = IDENTIFICATION.get(cmd.name);
    if (ident) return cmd.form === "exec" ? [ident(this.opts.identity)] : cmd.form === "test" ? [] : "ERROR";
    if (cmd.name === "+CMEE") {
      if (cmd.form === "read") return ["+CMEE: " + s.cmee];
      if (cmd.form === "test") return ["+CMEE: (0-2)"];
      const v = cmd.form === "set" ? cmd.args[0] ?? 0 : 0;
      if (cmd.args.length > 1 || (v !== 0 && v !== 1 && v !== 2)) return new CmeError(CME.INCORRECT_PARAMETERS);
      s.cmee = v;
      return [];
    }
    const command = COMMAND_BY_NAME.get(cmd.name);
    // a set command with a read form (AT+PKCSHS?): its read handler is registered as "<name>?"
    const read = command && cmd.form === "read" ? readForm(command) : undefined;
    const spec = read ?? command;
    const handler = read ? this.opts.handlers.get(read.name + "?") : BUILTINS.get(cmd.name) ?? this.opts.handlers.get(cmd.name);
    if (!spec || !handler) return "ERROR";
    if (cmd.form === "test") return [testResponse(spec)];
    if (cmd.form !== spec.form) return new CmeError(CME.INCORRECT_PARAMETERS);
    const usesStaged = cmd.args.includes("@") && cmd.name !== "+PKCSDATA";
    const params = decodeParams(spec, cmd.args, this.link.staged);
    if (usesStaged) this.link.staged = undefined; // staged data is used once, whatever happens next
    if ("fault" in params) return new CmeError(CME.INCORRECT_PARAMETERS);
    let lines: Value[][];
    try {
      lines = handler(params, this.link);
    } catch (e) {
      if (e instanceof PkcsError || e instanceof CmeError) return e;
      this.opts.log?.(`${spec.name} failed: ${e instanceof Error ? e.message : String(e)}`);
      return new PkcsError(CKR.GENERAL_ERROR);
    }
    return lines.map((values) => encodeResponse(spec, values));
  }

  private info(text: string): string {
    return this.settings.verbose ? "\r\n" + text + "\r\n" : text + "\r\n";
  }

  private final(result: string | CmeError | PkcsError): string {
    const s = this.settings;
    let verbose: string, numeric: string;
    if (result instanceof CmeError) {
      if (s.cmee === 0) return this.final("ERROR");
      verbose = numeric = "+CME ERROR: " + (s.cmee === 1 ? result.code : CME_TEXT[result.code]);
    } else if (result instanceof PkcsError) {
      if (s.cmee === 0) return this.final("ERROR");
      verbose = numeric = "+PKCS ERROR: " + (s.cmee === 1 ? result.rv : ckrName(result.rv));
    } else {
      verbose = result;
      numeric = result === "OK" ? "0" : "4";
    }
    if (s.quiet) return "";
    return s.verbose ? "\r\n" + verbose + "\r\n" : numeric + "\r";
  }
}

/** The link commands the engine runs itself (one table for every engine: the state is the link's). */
const BUILTINS: ReadonlyMap<string, CommandHandler> = new Map<string, CommandHandler>([
  ["+PKCSVER", ([offered], link) => {
    const v = Math.min(offered as number, PROTOCOL_VERSION);
    if (v < MIN_PROTOCOL_VERSION) throw new CmeError(CME.NOT_SUPPORTED);
    link.version = v;
    return [[v]];
  }],
  ["+PKCSDATA", ([offset, chunk], link) => {
    const have = offset === 0 ? new Uint8Array(0) : link.staged;
    const piece = chunk as Uint8Array;
    if (!have || offset !== have.length || have.length + piece.length > MAX_STAGED) throw new CmeError(CME.INCORRECT_PARAMETERS);
    const next = new Uint8Array(have.length + piece.length);
    next.set(have);
    next.set(piece, have.length);
    link.staged = next;
    return [[next.length]];
  }],
]);

function testResponse(spec: CommandSpec): string {
  const ranges = spec.params.map((p) => (p.type === "uint" ? "(0-4294967295)" : `(${p.max ?? 0})`));
  return spec.name + ": " + ranges.join(",");
}

const pad3 = (n: number) => (n < 10 ? "00" : n < 100 ? "0" : "") + n;

/** Response text is ASCII (quote() escapes the rest), so its bytes are its UTF-8. */
function ascii(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function isBlank(line: string | Uint8Array): boolean {
  if (typeof line === "string") return line.trim() === "";
  for (let i = 0; i < line.length; i++) if (line[i] !== 32) return false;
  return true;
}
