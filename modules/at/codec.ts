/**
 * Typed values ↔ AT text for the commands of table.ts. Used by the device to decode requests and
 * encode responses, and by the agent the other way round.
 */
import { fromBase64, toBase64 } from "./base64.js";
import type { CommandSpec, FieldSpec } from "./table.js";
import { type AtValue, MAX_NUMBER, parseValueList, quote } from "./syntax.js";

/** A typed field value: uint → number, string → string, bytes → Uint8Array. */
export type Value = number | string | Uint8Array;

/** A request or response that does not match its specification. */
export interface CodecFault {
  readonly fault: string;
}

function encodeValue(spec: FieldSpec, v: Value | typeof STAGED): string {
  if (v === STAGED && spec.type === "bytes") return '"@"';
  if (spec.type === "uint") {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_NUMBER) throw new RangeError(`${spec.name}: not a 32-bit unsigned number`);
    return String(v);
  }
  if (spec.type === "string") {
    if (typeof v !== "string") throw new TypeError(`${spec.name}: not a string`);
    return quote(v);
  }
  if (!(v instanceof Uint8Array)) throw new TypeError(`${spec.name}: not bytes`);
  return '"' + toBase64(v) + '"';
}

function encodeValues(specs: readonly FieldSpec[], values: readonly (Value | typeof STAGED)[]): string {
  if (values.length > specs.length) throw new RangeError("too many values");
  const parts: string[] = [];
  for (let i = 0; i < values.length; i++) parts.push(encodeValue(specs[i], values[i]));
  return parts.join(",");
}

/** A binary parameter written "@" stands for the data staged with AT+PKCSDATA. */
export const STAGED = "@";

function decodeValues(specs: readonly FieldSpec[], args: readonly AtValue[], staged?: Uint8Array): Value[] | CodecFault {
  if (args.length > specs.length) return { fault: "too many parameters" };
  const out: Value[] = [];
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    const a = args[i];
    if (a === undefined) {
      if (spec.optional) break;
      return { fault: `${spec.name}: missing` };
    }
    if (spec.type === "uint") {
      if (typeof a !== "number") return { fault: `${spec.name}: not a number` };
      out.push(a);
    } else if (typeof a !== "string") {
      return { fault: `${spec.name}: not a string` };
    } else if (spec.type === "string") {
      if (spec.max !== undefined && a.length > spec.max) return { fault: `${spec.name}: too long` };
      out.push(a);
    } else if (a === STAGED) {
      if (!staged) return { fault: `${spec.name}: nothing staged` };
      out.push(staged);
    } else {
      const bytes = fromBase64(a);
      if (!bytes) return { fault: `${spec.name}: bad base64` };
      if (spec.max !== undefined && bytes.length > spec.max) return { fault: `${spec.name}: too long` };
      out.push(bytes);
    }
  }
  return out;
}

/** The command line for a request (without the S3 terminator). */
export function encodeCommand(spec: CommandSpec, values: readonly Value[] = []): string {
  return "AT" + commandBody(spec, values);
}

/** A command without its "AT" prefix, for chaining with ";" ("+PKCSCH=1;+PKCSSIGN=…"). */
export function commandBody(spec: CommandSpec, values: readonly Value[] = []): string {
  if (spec.form === "read") return spec.name + "?";
  if (spec.form === "exec") return spec.name;
  return spec.name + "=" + encodeValues(spec.params, values.map((v) => v));
}

/** Checks and types the parameters of a parsed request; "@" binary values take `staged`. */
export function decodeParams(spec: CommandSpec, args: readonly AtValue[], staged?: Uint8Array): Value[] | CodecFault {
  return decodeValues(spec.params, args, staged);
}

/** One information response line, "+NAME: v1,v2". */
export function encodeResponse(spec: CommandSpec, values: readonly Value[]): string {
  return spec.name + ": " + encodeValues(spec.response, values);
}

/** Parses one information response line of `spec`; undefined if the line belongs to another command. */
export function decodeResponse(spec: CommandSpec, line: string): Value[] | CodecFault | undefined {
  const prefix = spec.name + ":";
  if (!line.startsWith(prefix)) return undefined;
  const list = parseValueList(line.slice(prefix.length));
  if ("fault" in list) return list;
  return decodeValues(spec.response, list);
}
