/**
 * The RPC items walked by the call table (functions.ts; docs/agent-rpc.md "Items"): a request decoded
 * or encoded by its call's request codes, and a reply checked or decoded by its reply codes with the
 * rules the module's decoder applies (pc/pkcs11/marshal.c get_reply_item), so that a reply the module
 * would take as a protocol error is caught where it is written.
 */
import { CKR } from "../../modules/at/pkcs11.js";
import type { CallSpec } from "./functions.js";
import { Reader, type RpcAttribute, type RpcMechanism, type RpcOutput, type RpcQuery, WireError, Writer } from "./wire.js";

/** A request's arguments in item order: u number, b bytes or null, t/q lists, m mechanism, o/h output. */
export type RequestArg = number | Uint8Array | null | RpcAttribute[] | RpcQuery[] | RpcMechanism | RpcOutput;

/** Decodes a request's items (after the function number); a malformed request throws WireError. */
export function decodeArgs(call: CallSpec, r: Reader): RequestArg[] {
  const out: RequestArg[] = [];
  for (const code of call.request) {
    switch (code) {
      case "u": out.push(r.u64()); break;
      case "b": out.push(r.bytes()); break;
      case "t": out.push(r.template()); break;
      case "q": out.push(r.query()); break;
      case "m": out.push(r.mechanism()); break;
      case "o": case "h": out.push(r.output()); break;
      default: throw new Error(`${call.name}: bad item code ${code}`);
    }
  }
  r.end();
  return out;
}

/** Encodes a request (function number and items) from its arguments; throws on an argument of the wrong kind. */
export function encodeRequest(call: CallSpec, args: readonly RequestArg[]): Uint8Array {
  if (args.length !== call.request.length) throw new Error(`${call.name} takes ${call.request.length} items (${call.request}), got ${args.length}`);
  const w = new Writer().u32(call.number);
  [...call.request].forEach((code, i) => {
    const a = args[i] as never;
    const bad = () => new Error(`${call.name}: item ${i + 1} (${code} ${call.requestItems[i].name}) is not a ${code}`);
    switch (code) {
      case "u":
        if (typeof a !== "number" && typeof a !== "bigint") throw bad();
        w.u64(a);
        break;
      case "b":
        if (a !== null && !((a as unknown) instanceof Uint8Array)) throw bad();
        if (a === null) w.u32(0xffffffff);
        else w.bytes(a);
        break;
      case "t": {
        if (!Array.isArray(a)) throw bad();
        const t = a as RpcAttribute[];
        w.u32(t.length);
        for (const { type, value } of t) {
          w.u64(type);
          if (value === null) w.u32(0xffffffff);
          else w.bytes(value);
        }
        break;
      }
      case "q": {
        if (!Array.isArray(a)) throw bad();
        const q = a as RpcQuery[];
        w.u32(q.length);
        for (const e of q) w.u64(e.type).u8(e.hasBuffer ? 1 : 0).u64(e.capacity);
        break;
      }
      case "m": {
        const m = a as RpcMechanism;
        if (typeof m?.type !== "number" || !(m.parameter instanceof Uint8Array)) throw bad();
        w.u64(m.type).bytes(m.parameter);
        break;
      }
      case "o": case "h": {
        const o = a as RpcOutput;
        if (typeof o?.hasBuffer !== "boolean") throw bad();
        w.u8(o.hasBuffer ? 1 : 0).u64(o.capacity);
        break;
      }
    }
  });
  return w.finish();
}

/**
 * True when a reply with this rv carries its items: always with CKR_OK; with CKR_BUFFER_TOO_SMALL when
 * it has O, Q or H (the sizes); with CKR_ATTRIBUTE_SENSITIVE / CKR_ATTRIBUTE_TYPE_INVALID when it has Q.
 * Then they are optional (all or none); with any other rv there are none.
 */
export function carriesItems(call: CallSpec, rv: number): boolean {
  if (rv === CKR.OK) return true;
  if (rv === CKR.BUFFER_TOO_SMALL) return /[OQH]/.test(call.reply);
  return (rv === CKR.ATTRIBUTE_SENSITIVE || rv === CKR.ATTRIBUTE_TYPE_INVALID) && call.reply.includes("Q");
}

/** One decoded reply item: U a number, B bytes, O { needed, data }, Q per attribute { length, value }, H { total, handles }. */
export type ReplyValue =
  | number
  | Uint8Array
  | { needed: number; data: Uint8Array }
  | { length: number; value: Uint8Array }[]
  | { total: number; handles: number[] };

/**
 * Decodes reply items (after the rv) by the call's reply codes, refusing what the module refuses
 * (WireError): a wrong length, a U above its limit, a B of the wrong exact length, more bytes or handles
 * than the request's buffer holds, a Q for another number of attributes. `args` are the request's
 * arguments (decodeArgs), for the limits that depend on them. The bytes returned are views into `items`.
 */
export function decodeReply(call: CallSpec, args: readonly RequestArg[], rv: number, items: Uint8Array): ReplyValue[] {
  if (!carriesItems(call, rv) || (rv !== CKR.OK && items.length === 0)) {
    if (items.length) throw new WireError(`${call.name}: items with rv 0x${rv.toString(16)}`);
    return [];
  }
  const r = new Reader(items);
  const requestArg = (code: string) => args[call.request.indexOf(code)];
  const byName = (name: string) => args[call.requestItems.findIndex((i) => i.name === name)] as number;
  const out: ReplyValue[] = call.replyItems.map((item) => {
    const where = `${call.name} ${item.code} ${item.name}`;
    const fail = (why: string) => new WireError(`${where}: ${why}`);
    switch (item.code) {
      case "U": {
        const v = r.u64();
        if (item.limit !== undefined && v > Number(item.limit)) throw fail(`${v} > ${item.limit}`);
        return v;
      }
      case "B": {
        const v = r.bytesView();
        if (v === null) throw fail("no bytes (length 0xFFFFFFFF)");
        if (item.limit?.startsWith("=") && v.length !== byName(item.limit.slice(1))) throw fail(`${v.length} bytes, not ${item.limit.slice(1)}`);
        return v;
      }
      case "O": {
        const needed = r.u64();
        const data = r.bytesView();
        const o = requestArg("o") as RpcOutput;
        if (data === null) throw fail("no bytes (length 0xFFFFFFFF)");
        if (rv === CKR.OK && o.hasBuffer && data.length > o.capacity) throw fail(`${data.length} bytes for a buffer of ${o.capacity}`);
        return { needed, data };
      }
      case "Q": {
        const q = requestArg("q") as RpcQuery[];
        const count = r.u32();
        if (count !== q.length) throw fail(`${count} attributes for a query of ${q.length}`);
        return q.map((e) => {
          const length = r.u64();
          const value = r.bytesView();
          if (value === null) throw fail("no bytes (length 0xFFFFFFFF)");
          if (value.length > 0 && (!e.hasBuffer || value.length > e.capacity)) throw fail(`${value.length} bytes for a buffer of ${e.hasBuffer ? e.capacity : "none"}`);
          return { length, value };
        });
      }
      case "H": {
        const total = r.u64();
        const n = r.u32();
        const handles: number[] = [];
        for (let i = 0; i < n; i++) handles.push(r.u64());
        const h = requestArg("h") as RpcOutput | undefined;
        const capacity = h ? (h.hasBuffer ? h.capacity : Infinity) : byName((item.limit as string).slice(2));
        if (rv === CKR.OK && n > capacity) throw fail(`${n} handles for a buffer of ${capacity}`);
        return { total, handles };
      }
      default:
        throw fail("unknown code");
    }
  });
  r.end();
  return out;
}
