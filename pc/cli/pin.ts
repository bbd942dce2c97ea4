/**
 * `wim pin change` (C_SetPIN, the user's or with --so the SO's) and `wim pin unblock` (the SO logs in
 * and C_InitPIN sets a new user PIN, resetting its counter). PINs: secret.ts.
 */
import { CKU } from "../../modules/at/pkcs11.js";
import { Failure } from "./common.js";
import { secret } from "./secret.js";
import { type Global, login, pinFailure, withToken } from "./token.js";

/** Where each PIN comes from: the variable the user named, else the default one. */
export interface PinSources {
  pinEnv?: string;
  soPinEnv?: string;
  newPinEnv?: string;
}

export const userPin = (o: PinSources) => secret(o.pinEnv ?? "WIM_PIN", "user PIN");
export const soPin = (o: PinSources) => secret(o.soPinEnv ?? "WIM_SO_PIN", "SO PIN");
export const newPin = (o: PinSources, who: string) => secret(o.newPinEnv ?? "WIM_NEW_PIN", `new ${who}`, true);

/** `wim pin change [--so]`. */
export async function change(g: Global, o: PinSources & { so?: boolean }): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const who = o.so ? "SO PIN" : "user PIN";
    const old = o.so ? await soPin(o) : await userPin(o);
    const next = await newPin(o, who);
    if (next.length < slot.token.minPin || next.length > slot.token.maxPin) {
      throw new Failure(`the new ${who} must have ${slot.token.minPin} to ${slot.token.maxPin} characters: nothing changed`);
    }
    const h = await agent.openSession(true, slot.id);
    // logged in as the SO, C_SetPIN changes the SO PIN; not logged in, the user PIN (PKCS#11 §5.6)
    if (o.so) await login(agent, slot.id, h, CKU.SO, old);
    try {
      await agent.setPin(h, old, next);
    } catch (e) {
      throw await pinFailure(agent, slot.id, e, who, !!o.so);
    }
    await agent.closeSession(h);
    console.error(`the ${who} of ${slot.token.serial} is changed`);
  });
}

/** `wim pin unblock`: the SO sets a new user PIN (also the first one after `wim reset`). */
export async function unblock(g: Global, o: PinSources): Promise<void> {
  await withToken(g, async (agent, slot) => {
    const so = await soPin(o);
    const next = await newPin(o, "user PIN");
    if (next.length < slot.token.minPin || next.length > slot.token.maxPin) {
      throw new Failure(`the new user PIN must have ${slot.token.minPin} to ${slot.token.maxPin} characters: nothing changed`);
    }
    const h = await agent.openSession(true, slot.id);
    await login(agent, slot.id, h, CKU.SO, so);
    await agent.initPin(h, next);
    await agent.closeSession(h);
    console.error(`a new user PIN is set on ${slot.token.serial}; its tries are reset`);
  });
}
