/**
 * The RPC call table as the agent and the `wim` command line use it: lookups derived from CALLS
 * (pc/agent/calls.ts, generated from pc/rpc/calls.table by tools/gen-rpc.mjs; docs/agent-rpc.md). A call
 * is added by one line in the table; nothing here lists calls by hand.
 */
import { CALLS } from "./calls.js";

export { CALLS };
type Row = (typeof CALLS)[number];
/** Any call's name: C_* or one of the agent's own requests. */
export type CallName = Row["name"];
/** A PKCS#11 function's name (CK_FUNCTION_LIST v2.40). */
export type FunctionName = Extract<Row, { scope: "local" | "module" }>["name"];
/** The agent's own requests but hello (the command line's). */
export type AgentRequest = Exclude<Extract<Row, { scope: "agent" }>["name"], "hello">;

/** One item of a request or reply: its code (docs/agent-rpc.md, "Items"), its name, its limit (reply items). */
export interface CallItem {
  readonly code: string;
  readonly name: string;
  readonly limit?: string;
}

/** One call as the codecs walk it: the items and, as strings, their codes ("uh", "H"). */
export interface CallSpec {
  readonly number: number;
  readonly scope: "local" | "module" | "agent";
  readonly name: CallName;
  readonly request: string;
  readonly reply: string;
  readonly requestItems: readonly CallItem[];
  readonly replyItems: readonly CallItem[];
}

const SPECS: readonly CallSpec[] = CALLS.map((c) => ({
  number: c.number,
  scope: c.scope,
  name: c.name,
  request: c.request.map((i) => i.code).join(""),
  reply: c.reply.map((i) => i.code).join(""),
  requestItems: c.request,
  replyItems: c.reply,
}));
const BY_NUMBER = new Map(SPECS.map((s) => [s.number, s]));
const BY_NAME = new Map(SPECS.map((s) => [s.name as string, s]));

/** The call with this number on the wire, if any. */
export function callByNumber(fn: number): CallSpec | undefined {
  return BY_NUMBER.get(fn);
}

/** The call of this name (every name of CallName has one). */
export function callByName(name: CallName): CallSpec {
  return BY_NAME.get(name) as CallSpec;
}

/** Every call, in the table's order. */
export function allCalls(): readonly CallSpec[] {
  return SPECS;
}

/** PKCS#11 function names in CK_FUNCTION_LIST order; the index is the wire number. */
export const FUNCTIONS: readonly FunctionName[] = SPECS.filter((s) => s.scope !== "agent").map((s) => s.name as FunctionName);

/** The hello request that opens a connection. */
export const HELLO = callByName("hello").number;

/** The agent's own requests' numbers by name (the `wim` command line's). */
export const AGENT_REQUESTS = Object.fromEntries(
  SPECS.filter((s) => s.scope === "agent" && s.name !== "hello").map((s) => [s.name, s.number]),
) as Record<AgentRequest, number>;

/** The agent's own WIM_* requests with their request items (as before the table was generated). */
export const EXTENSIONS = Object.fromEntries(
  SPECS.filter((s) => s.name.startsWith("WIM_")).map((s) => [s.name, { number: s.number, items: s.request }]),
) as Record<Extract<AgentRequest, `WIM_${string}`>, { number: number; items: string }>;

/** RPC protocol version the agent speaks (hello's reply). */
export const RPC_VERSION = 1;
