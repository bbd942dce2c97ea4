/**
 * `wim info` and `wim pin retries`: the agent's slots and tokens (docs/cli.md lists the --json fields).
 */
import { CKF, CKR, PkcsError } from "../../modules/at/pkcs11.js";
import type { AgentClient, TokenStatus } from "./rpc.js";
import { type Global, type Slot, chooseToken, connect, listSlots, selected } from "./token.js";

/** One token in `wim info --json`. */
interface TokenJson {
  label: string;
  serial: string;
  model: string;
  manufacturer: string;
  firmwareVersion: string;
  hardwareVersion: string;
  firmwareRevision: string | null;
  protocolVersion: number | null;
  secureChannel: boolean | null;
  link: string | null;
  userPin: PinJson;
  soPin: PinJson;
  store: { freeBytes: number; totalBytes: number } | null;
}

interface PinJson {
  initialized: boolean;
  locked: boolean;
  triesLeft: number | null;
  triesMax: number | null;
}

/** The status, or undefined from an agent without WIM_GetTokenStatus. */
async function statusOf(agent: AgentClient, slot: number): Promise<TokenStatus | undefined> {
  try {
    return await agent.status(slot);
  } catch (e) {
    if (e instanceof PkcsError && e.rv === CKR.FUNCTION_NOT_SUPPORTED) return undefined;
    throw e;
  }
}

function tokenJson(s: Slot, st: TokenStatus | undefined): TokenJson | null {
  const t = s.token;
  if (!t) return null;
  return {
    label: t.label, serial: t.serial, model: t.model, manufacturer: t.manufacturer, firmwareVersion: t.firmware,
    hardwareVersion: t.hardware, firmwareRevision: st?.firmwareRevision ?? null, protocolVersion: st?.protocolVersion ?? null,
    secureChannel: st ? st.secureChannel : null, link: st?.link ?? null,
    userPin: {
      initialized: (t.flags & CKF.USER_PIN_INITIALIZED) !== 0, locked: (t.flags & CKF.USER_PIN_LOCKED) !== 0,
      triesLeft: st?.userTriesLeft ?? null, triesMax: st?.userTriesMax ?? null,
    },
    soPin: { initialized: (t.flags & CKF.TOKEN_INITIALIZED) !== 0, locked: (t.flags & CKF.SO_PIN_LOCKED) !== 0, triesLeft: st?.soTriesLeft ?? null, triesMax: st?.soTriesMax ?? null },
    store: st ? { freeBytes: st.storeFreeBytes, totalBytes: st.storeTotalBytes } : null,
  };
}

const tries = (p: PinJson) =>
  !p.initialized ? "not set (`wim pin unblock` sets it)" : p.locked ? "LOCKED" + (p.triesMax ? ` (0 of ${p.triesMax} tries left)` : "")
    : p.triesLeft === null ? "set" : `${p.triesLeft} of ${p.triesMax} tries left`;

/** `wim info [--json]`. */
export async function info(g: Global, json: boolean): Promise<void> {
  const agent = await connect(g);
  try {
    const slots = selected(await listSlots(agent), g);
    const out = [];
    for (const s of slots) {
      out.push({ slot: s.id, description: s.info.description, manufacturer: s.info.manufacturer, tokenPresent: !!s.token,
        absent: s.token ? null : s.absent ?? null, token: tokenJson(s, s.token ? await statusOf(agent, s.id) : undefined) });
    }
    if (json) {
      console.log(JSON.stringify({ socket: g.socket, slots: out }, null, 2));
      return;
    }
    console.log(`agent: ${g.socket}`);
    if (!out.length) console.log("no slots: no device is attached to the agent");
    for (const s of out) {
      console.log(`slot ${s.slot}: ${s.description}`);
      const t = s.token;
      if (!t) {
        console.log(`  no token: ${s.absent}`);
        continue;
      }
      console.log(`  token:     "${t.label}", serial ${t.serial}, ${t.manufacturer} ${t.model}`);
      console.log(`  firmware:  ${t.firmwareRevision ?? t.firmwareVersion}${t.protocolVersion ? `, AT protocol ${t.protocolVersion}` : ""}`);
      if (t.secureChannel !== null) console.log(`  link:      ${t.link ? `${t.link}, ` : ""}${t.secureChannel ? "secure channel (paired)" : "clear (not paired: `wim pair`)"}`);
      console.log(`  user PIN:  ${tries(t.userPin)}`);
      console.log(`  SO PIN:    ${tries(t.soPin)}`);
      if (t.store) console.log(`  store:     ${t.store.freeBytes} of ${t.store.totalBytes} bytes free`);
    }
  } finally {
    agent.close();
  }
}

/** `wim pin retries [--json]`: the chosen token's counters. */
export async function retries(g: Global, json: boolean): Promise<void> {
  const agent = await connect(g);
  try {
    const s = chooseToken(await listSlots(agent), g);
    const t = tokenJson(s, await statusOf(agent, s.id))!;
    if (json) console.log(JSON.stringify({ slot: s.id, serial: t.serial, userPin: t.userPin, soPin: t.soPin }, null, 2));
    else console.log(`user PIN: ${tries(t.userPin)}\nSO PIN:   ${tries(t.soPin)}`);
  } finally {
    agent.close();
  }
}
