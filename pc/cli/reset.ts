/**
 * `wim reset`: C_InitToken with the SO PIN — every key, certificate and data object is erased, the user
 * PIN is unset; the SO PIN stays. The user confirms by typing the token's serial number (or --yes).
 * Afterwards `wim pin unblock` sets a user PIN, or --new-pin-env VAR sets it here.
 */
import { CKU } from "../../modules/at/pkcs11.js";
import { Failure } from "./common.js";
import { type PinSources, soPin } from "./pin.js";
import { confirmed, secret } from "./secret.js";
import { type Global, login, pinFailure, withToken } from "./token.js";

export async function reset(g: Global, o: PinSources & { yes?: boolean; label?: string }): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const serial = slot.token.serial;
    if (!o.yes && !(await confirmed(`this erases every key and certificate on ${serial} ("${slot.token.label}") and unsets the user PIN. Type the serial number to go on`, serial))) {
      throw new Failure("not confirmed: nothing erased");
    }
    const so = await soPin(o);
    const userPin = o.newPinEnv !== undefined ? await secret(o.newPinEnv, "new user PIN") : undefined;
    try {
      await agent.initToken(slot.id, so, o.label ?? slot.token.label);
    } catch (e) {
      throw await pinFailure(agent, slot.id, e, "SO PIN", true);
    }
    console.error(`token ${serial} is reset: no keys, no certificates, no user PIN`);
    if (userPin === undefined) {
      console.error("set a user PIN with `wim pin unblock` (it asks for the SO PIN)");
      return;
    }
    const h = await agent.openSession(true, slot.id);
    await login(agent, slot.id, h, CKU.SO, so);
    await agent.initPin(h, userPin);
    await agent.closeSession(h);
    console.error("the new user PIN is set");
  });
}
