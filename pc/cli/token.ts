/**
 * Finding the token a verb acts on: the agent at --socket, its slots (C_GetSlotList), and the one
 * chosen by --slot ID or --serial SERIAL (C_GetTokenInfo's serialNumber). With several tokens and no
 * choice the command refuses and lists them. Logins explain a wrong PIN with the tries left.
 */
import { CKR, CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { defaultSocketPath } from "../agent/paths.js";
import { Failure, UsageError } from "./common.js";
import { AgentClient, type SlotInfo, type TokenInfo } from "./rpc.js";

/** The global options every client verb takes. */
export interface Global {
  socket?: string;
  slot?: string;
  serial?: string;
}

/** A slot as `wim info` lists it: its token, or why it has none. */
export interface Slot {
  id: number;
  info: SlotInfo;
  token?: TokenInfo;
  /** Why there is no token (C_GetTokenInfo's answer). */
  absent?: string;
}

/** Every slot of the agent with its token. */
export async function listSlots(agent: AgentClient): Promise<Slot[]> {
  const out: Slot[] = [];
  for (const id of await agent.slots()) {
    const info = await agent.slotInfo(id);
    try {
      out.push({ id, info, token: await agent.tokenInfo(id) });
    } catch (e) {
      if (!(e instanceof PkcsError)) throw e;
      out.push({ id, info, absent: e.rv === CKR.TOKEN_NOT_PRESENT ? info.description : e.message });
    }
  }
  return out;
}

const describe = (s: Slot) => `slot ${s.id}: ${s.token ? `"${s.token.label}" serial ${s.token.serial}` : `no token (${s.absent})`}`;

/** The slots the options select: all of them unless --slot or --serial names one. */
export function selected(slots: Slot[], g: Global): Slot[] {
  if (g.slot !== undefined) {
    if (!/^\d+$/.test(g.slot)) throw new UsageError(`--slot takes a slot ID (a number), not "${g.slot}"`);
    const s = slots.find((x) => x.id === Number(g.slot));
    if (!s) throw new Failure(`no slot ${g.slot}; the agent has: ${slots.map((x) => x.id).join(", ") || "none"}`);
    return [s];
  }
  if (g.serial !== undefined) {
    const s = slots.find((x) => x.token?.serial === g.serial);
    if (!s) throw new Failure(`no token with serial ${g.serial}; the agent has:\n  ${slots.map(describe).join("\n  ") || "no slots"}`);
    return [s];
  }
  return slots;
}

/** The one token the verb acts on, or a failure that says how to choose or what is missing. */
export function chooseToken(slots: Slot[], g: Global): Slot & { token: TokenInfo } {
  const chosen = selected(slots, g);
  const present = chosen.filter((s) => s.token);
  if (present.length === 1) return present[0] as Slot & { token: TokenInfo };
  if (present.length === 0) {
    const why = chosen.map((s) => s.absent).filter(Boolean);
    throw new Failure(`no token${why.length ? ` (${why.join("; ")})` : ""}: plug the device in, or pair this host with it (\`wim pair\`)`);
  }
  throw new UsageError(`${present.length} tokens: choose one with --serial SERIAL or --slot ID:\n  ${present.map(describe).join("\n  ")}`);
}

/** Connects to the agent the options name (default: the module's socket). */
export function connect(g: Global): Promise<AgentClient> {
  return AgentClient.connect(g.socket ?? defaultSocketPath());
}

/** Runs `body` with the agent and the chosen token; closes the connection after. */
export async function withToken<T>(g: Global, body: (agent: AgentClient, slot: Slot & { token: TokenInfo }) => Promise<T>): Promise<T> {
  const agent = await connect(g);
  try {
    return await body(agent, chooseToken(await listSlots(agent), g));
  } finally {
    agent.close();
  }
}

/**
 * C_Login; a wrong PIN says how many tries are left (the agent's WIM_GetTokenStatus), a locked one
 * what to do next.
 */
export async function login(agent: AgentClient, slot: number, h: number, userType: number, pin: string): Promise<void> {
  const who = userType === CKU.SO ? "SO PIN" : "user PIN";
  try {
    await agent.login(h, userType, pin);
  } catch (e) {
    throw await pinFailure(agent, slot, e, who, userType === CKU.SO);
  }
}

/** A PIN check's failure as advice: tries left, or what a locked PIN needs. */
export async function pinFailure(agent: AgentClient, slot: number, e: unknown, who: string, so: boolean): Promise<unknown> {
  if (!(e instanceof PkcsError)) return e;
  if (e.rv === CKR.PIN_INCORRECT) {
    const left = await agent.status(slot).then((s) => (so ? s.soTriesLeft : s.userTriesLeft), () => undefined);
    if (left === 0) return new Failure(`wrong ${who}: it is now locked; ${so ? "the token cannot be reset or unblocked any more" : "run `wim pin unblock` (with the SO PIN)"}`);
    return new Failure(`wrong ${who}${left === undefined ? "" : `: ${left} ${left === 1 ? "try" : "tries"} left`}`);
  }
  if (e.rv === CKR.PIN_LOCKED) {
    return new Failure(so ? "the SO PIN is locked: the token cannot be reset or unblocked any more" : "the user PIN is locked: run `wim pin unblock` (with the SO PIN)");
  }
  return e;
}
