/**
 * V.250 command-line syntax: "AT" prefix, basic commands (E1, Q0, V1, I, Z, S3=13, S3?),
 * extended commands (+NAME, +NAME=args, +NAME?, +NAME=?) separated by ";".
 * Parameters are decimal numbers or quoted strings (with 27.007-style \HH escapes); an empty
 * parameter is "omitted". The parser never throws: it returns a SyntaxFault instead.
 */

import { codesToString, stringCodes } from "./base64.js";

/** A parameter value: a number, a string, or undefined when omitted. */
export type AtValue = number | string | undefined;

/** The four forms of an extended command (V.250 §5.4.2, §5.4.3). */
export type AtForm = "exec" | "set" | "read" | "test";

/** One command of a command line. `name` is upper-case, with its "+" for extended commands. */
export interface AtCommand {
  readonly name: string;
  readonly form: AtForm;
  readonly args: readonly AtValue[];
}

/** Why a command line could not be parsed. */
export interface SyntaxFault {
  readonly fault: string;
}

/** Largest number a parameter may carry (CK_ULONG values on the wire are 32-bit). */
export const MAX_NUMBER = 0xffffffff;

const isDigit = (c: number) => c >= 48 && c <= 57;
const isUpper = (c: number) => c >= 65 && c <= 90;
const isExtNameChar = (c: number) =>
  isUpper(c) || isDigit(c) || c === 33 || c === 37 || c === 45 || c === 46 || c === 47 || c === 58 || c === 95;

/** Parses a whole command line (as assembled, without S3). An empty body ("AT") gives []. */
export function parseLine(line: string | Uint8Array): AtCommand[] | SyntaxFault {
  const p = new Cursor(line);
  p.skipSpaces();
  const a = p.peekUpper(), t = p.peekUpper(1);
  if (a !== 65 || t !== 84) return { fault: "no AT prefix" };
  p.pos += 2;
  const commands: AtCommand[] = [];
  for (;;) {
    p.skipSpaces();
    if (p.done()) return commands;
    const c = p.peekUpper();
    let cmd: AtCommand | SyntaxFault;
    if (c === 43 /* + */) cmd = parseExtended(p);
    else if (c === 83 /* S */) cmd = parseSRegister(p);
    else if (isUpper(c) || c === 38) cmd = parseBasic(p);
    else return { fault: "unexpected character" };
    if ("fault" in cmd) return cmd;
    commands.push(cmd);
    p.skipSpaces();
    if (p.peek() === 59 /* ; */) p.pos++;
  }
}

function parseBasic(p: Cursor): AtCommand | SyntaxFault {
  let name = String.fromCharCode(p.peekUpper());
  p.pos++;
  if (name === "&") {
    const c = p.peekUpper();
    if (!isUpper(c)) return { fault: "bad & command" };
    name += String.fromCharCode(c);
    p.pos++;
  }
  p.skipSpaces();
  let value: number | undefined;
  if (isDigit(p.peek())) {
    const n = p.number();
    if (n === undefined) return { fault: "number out of range" };
    value = n;
  }
  return { name, form: "exec", args: value === undefined ? [] : [value] };
}

function parseSRegister(p: Cursor): AtCommand | SyntaxFault {
  p.pos++;
  const n = p.number();
  if (n === undefined) return { fault: "bad S-parameter" };
  const name = "S" + n;
  p.skipSpaces();
  if (p.peek() === 63 /* ? */) { p.pos++; return { name, form: "read", args: [] }; }
  if (p.peek() === 61 /* = */) {
    p.pos++;
    p.skipSpaces();
    if (p.peek() === 63) { p.pos++; return { name, form: "test", args: [] }; }
    const v = p.number();
    if (v === undefined) return { fault: "bad S-parameter value" };
    return { name, form: "set", args: [v] };
  }
  return { fault: "bad S-parameter" };
}

function parseExtended(p: Cursor): AtCommand | SyntaxFault {
  const start = p.pos;
  p.pos++;
  while (!p.done() && isExtNameChar(p.peekUpper())) p.pos++;
  if (p.pos - start < 2) return { fault: "empty command name" };
  const name = codesToString(p.text.subarray(start, p.pos)).toUpperCase();
  p.skipSpaces();
  const c = p.peek();
  if (c === 63) { p.pos++; return { name, form: "read", args: [] }; }
  if (c !== 61) return { name, form: "exec", args: [] };
  p.pos++;
  p.skipSpaces();
  if (p.peek() === 63) { p.pos++; return { name, form: "test", args: [] }; }
  const args = parseValues(p);
  if ("fault" in args) return args;
  return { name, form: "set", args };
}

/** Parses comma-separated values up to ";" or the end (shared with response parsing). */
function parseValues(p: Cursor): AtValue[] | SyntaxFault {
  const args: AtValue[] = [];
  for (;;) {
    p.skipSpaces();
    const c = p.peek();
    let v: AtValue;
    if (c === 34 /* " */) {
      const s = p.quoted();
      if (s === undefined) return { fault: "bad string" };
      v = s;
    } else if (isDigit(c)) {
      const n = p.number();
      if (n === undefined) return { fault: "number out of range" };
      v = n;
    } else if (c === 44 || c === 59 || c === -1) {
      v = undefined;
    } else {
      return { fault: "bad parameter" };
    }
    args.push(v);
    p.skipSpaces();
    const d = p.peek();
    if (d === 44) { p.pos++; continue; }
    if (d === 59 || d === -1) return args;
    return { fault: "bad parameter separator" };
  }
}

/** Parses the value list of an information response ("+NAME: 1,\"x\""), after the colon. */
export function parseValueList(text: string | Uint8Array): AtValue[] | SyntaxFault {
  const p = new Cursor(text);
  const values = parseValues(p);
  if (!("fault" in values) && !p.done()) return { fault: "trailing characters" };
  return values;
}

/** Quotes a string for the wire: printable ASCII kept, '"', '\\' and the rest as \HH. */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 32 && c < 127 && c !== 34 && c !== 92) out += s[i];
    else if (c < 256) out += "\\" + (c < 16 ? "0" : "") + c.toString(16).toUpperCase();
    else out += "\\3F";
  }
  return out + '"';
}

/** A read position in a line's bytes (Latin-1). Bytes, not a string: XS indexes strings in O(n). */
class Cursor {
  pos = 0;
  readonly text: Uint8Array;
  constructor(line: string | Uint8Array) {
    this.text = typeof line === "string" ? stringCodes(line) : line;
  }
  done() { return this.pos >= this.text.length; }
  peek(ahead = 0) {
    const i = this.pos + ahead;
    return i < this.text.length ? this.text[i] : -1;
  }
  peekUpper(ahead = 0) {
    const c = this.peek(ahead);
    return c >= 97 && c <= 122 ? c - 32 : c;
  }
  skipSpaces() {
    while (this.peek() === 32) this.pos++;
  }
  number(): number | undefined {
    let n = 0, digits = 0;
    while (isDigit(this.peek())) {
      n = n * 10 + (this.peek() - 48);
      this.pos++;
      if (++digits > 10) return undefined;
    }
    if (digits === 0 || n > MAX_NUMBER) return undefined;
    return n;
  }
  quoted(): string | undefined {
    this.pos++;
    const t = this.text;
    // fast path: no escape before the closing quote (base64 payloads)
    const end = t.indexOf(34, this.pos);
    if (end < 0) return undefined;
    const slash = t.indexOf(92, this.pos);
    if (slash < 0 || slash > end) {
      const v = codesToString(t.subarray(this.pos, end));
      this.pos = end + 1;
      return v;
    }
    const out: number[] = [];
    for (;;) {
      const c = this.peek();
      if (c === -1) return undefined;
      this.pos++;
      if (c === 34) return codesToString(Uint8Array.from(out));
      if (c === 92) {
        const h = hexValue(this.peek()) * 16 + hexValue(this.peek(1));
        if (!(h >= 0)) return undefined;
        out.push(h);
        this.pos += 2;
      } else out.push(c);
    }
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1000;
}
