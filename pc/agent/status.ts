/**
 * The agent request WIM_GetTokenStatus (docs/agent-rpc.md, "The agent's own requests"): what `wim info`
 * and `wim pin retries` show that C_GetTokenInfo cannot — the PIN retry counters and the key store's
 * room (AT+PKCSSTAT?), the firmware revision as the device names it, the AT protocol version and
 * whether the agent talks to the device through the secure channel.
 */
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { PROTOCOL_VERSION } from "../../modules/at/table.js";
import { SLOT_ID } from "./channel.js";
import type { Device } from "./device.js";
import type { Writer } from "./wire.js";

/**
 * Reply items (rv CKR_OK): U userTriesLeft, U userTriesMax, U soTriesLeft, U soTriesMax,
 * U storeFreeBytes, U storeTotalBytes, U protocolVersion, U secureChannel (1/0), B firmwareRevision.
 */
export async function tokenStatus(device: Device, slot: number, w: Writer): Promise<number> {
  if (slot !== SLOT_ID) throw new PkcsError(CKR.SLOT_ID_INVALID);
  if (device.refusal) throw new PkcsError(CKR.TOKEN_NOT_PRESENT, device.refusal);
  const [values] = await device.run("+PKCSSTAT");
  for (const v of values) w.u64(v as number);
  w.u64(PROTOCOL_VERSION).u64(device.channelOpen ? 1 : 0).bytes(new TextEncoder().encode(device.identity.revision));
  return CKR.OK;
}
