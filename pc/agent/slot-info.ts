/**
 * Slot and token reporting (C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo)
 * from what a device reported about itself.
 */
import { CKR } from "../../modules/at/pkcs11.js";
import type { Device } from "./device.js";
import { tokenMechanisms } from "./mechanisms.js";
import type { Slot } from "./registry.js";
import { handleList, text, version } from "./replies.js";
import { UNAVAILABLE, type RpcOutput, type Writer } from "./wire.js";

/** The most sessions a token reports (C_GetTokenInfo). */
export const MAX_SESSIONS = 16;

const CKF_TOKEN_PRESENT = 0x1;
const CKF_REMOVABLE_DEVICE = 0x2;
const CKF_HW_SLOT = 0x4;

/**
 * CK_SLOT_INFO: the device and its link in the description; a token only while the device is
 * attached and accepts this host (a device paired with other hosts only: the description says why).
 */
export function slotInfo(slot: Slot, w: Writer): number {
  const id = slot.identity;
  const [major, minor] = version(id.revision);
  const refusal = slot.device?.refusal;
  const where = slot.device ? slot.link : `not attached, last ${slot.link}`;
  w.bytes(text(refusal ?? `${id.model} ${id.serial} (${where})`)).bytes(text(id.manufacturer));
  const present = slot.device && !refusal ? CKF_TOKEN_PRESENT : 0;
  w.u64(present | CKF_REMOVABLE_DEVICE | CKF_HW_SLOT).u64(major).u64(minor).u64(major).u64(minor);
  return CKR.OK;
}

/** CK_TOKEN_INFO: the label, flags and PIN limits from AT+PKCSTOKEN, the rest from the identity. */
export async function tokenInfo(device: Device, w: Writer): Promise<number> {
  if (device.refusal) return CKR.TOKEN_NOT_PRESENT;
  const [[label, flags, minPin, maxPin, sessions, rwSessions]] = await device.run("+PKCSTOKEN");
  const id = device.identity;
  const [major, minor] = version(id.revision);
  w.bytes(text(label as string)).bytes(text(id.manufacturer)).bytes(text(id.model)).bytes(text(id.serial));
  w.u64(flags as number).u64(MAX_SESSIONS).u64(sessions as number).u64(MAX_SESSIONS).u64(rwSessions as number);
  w.u64(maxPin as number).u64(minPin as number);
  for (let i = 0; i < 4; i++) w.u64(UNAVAILABLE); // public/private memory totals and free
  w.u64(major).u64(minor).u64(major).u64(minor).bytes(new Uint8Array(0));
  return CKR.OK;
}

export function mechanismList(device: Device, out: RpcOutput, w: Writer): number {
  if (device.refusal) return CKR.TOKEN_NOT_PRESENT;
  return handleList(w, out, tokenMechanisms(device.mechanisms).map((m) => m.type));
}

export function mechanismInfo(device: Device, type: number, w: Writer): number {
  if (device.refusal) return CKR.TOKEN_NOT_PRESENT;
  const m = tokenMechanisms(device.mechanisms).find((x) => x.type === type);
  if (!m) return CKR.MECHANISM_INVALID;
  w.u64(m.min).u64(m.max).u64(m.flags);
  return CKR.OK;
}
