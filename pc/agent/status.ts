/**
 * The agent request WIM_GetTokenStatus (docs/agent-rpc.md; pc/rpc/calls.table): what `wim info` and
 * `wim pin retries` show that C_GetTokenInfo cannot — the PIN retry counters and the key store's room
 * (AT+PKCSSTAT?), the AT protocol version, whether the agent talks to the device through the secure
 * channel, the firmware revision as the device names it, and the link the slot's device is on.
 */
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { PROTOCOL_VERSION } from "../../modules/at/table.js";
import { LinkError } from "./link.js";
import type { Slot } from "./registry.js";
import type { Writer } from "./wire.js";

/**
 * Reply items (rv CKR_OK): U userTriesLeft, U userTriesMax, U soTriesLeft, U soTriesMax,
 * U storeFreeBytes, U storeTotalBytes, U protocolVersion, U secureChannel (1/0), B firmwareRevision, B link.
 */
export async function tokenStatus(slot: Slot, w: Writer): Promise<number> {
  const device = slot.device;
  if (!device) throw new PkcsError(CKR.TOKEN_NOT_PRESENT);
  if (device.refusal) throw new PkcsError(CKR.TOKEN_NOT_PRESENT, device.refusal);
  let values;
  try {
    [values] = await device.run("+PKCSSTAT");
  } catch (e) {
    // firmware from before AT+PKCSSTAT answers ERROR: the command line then shows what it can
    if (e instanceof LinkError && /: ERROR$/.test(e.message)) throw new PkcsError(CKR.FUNCTION_NOT_SUPPORTED, "the device's firmware has no AT+PKCSSTAT");
    throw e;
  }
  for (const v of values) w.u64(v as number);
  const text = (s: string) => new TextEncoder().encode(s);
  w.u64(PROTOCOL_VERSION).u64(device.channelOpen ? 1 : 0).bytes(text(device.identity.revision)).bytes(text(slot.link));
  return CKR.OK;
}
