/**
 * The firmware's composition: from a platform's Env, the security manager, the pairing state and the
 * secure channel, and per transport a record layer and an AT engine. Nothing runs while this module
 * loads (it is preloaded into flash on the device, where xsl runs module bodies at build time);
 * firmware/main.ts calls startFirmware at boot.
 */
import { AtEngine } from "../modules/at/engine.js";
import { PROTOCOL_VERSION } from "../modules/at/table.js";
import { SecureChannels } from "../modules/wim/channel.js";
import { commandHandlers } from "../modules/wim/commands.js";
import type { Env } from "../modules/wim/env.js";
import { Pairing } from "../modules/wim/pairing.js";
import { SecureLink } from "../modules/wim/secure-link.js";
import { Wim } from "../modules/wim/wim.js";

/** Firmware revision reported by +GMR. */
export const REVISION = "0.1.0";

/**
 * Builds the security manager and the AT engines on `env` and announces the token on every transport.
 * Each transport is one link (its index names it): its own record layer (clear, or a secure session:
 * docs/channel.md), its own engine, its own logical channels; a link that ends (Transport.onReset: a
 * BLE disconnect) loses its session, channels and sessions and starts afresh.
 */
export function startFirmware(env: Env): void {
  const wim = new Wim(env, REVISION);
  const pairing = new Pairing(env);
  const channels = new SecureChannels(env, wim, pairing);
  const handlers = commandHandlers(wim);
  for (const [name, handler] of channels.handlers()) handlers.set(name, handler);
  env.transports.forEach((transport, link) => {
    const secure = new SecureLink(transport, () => wim.dropLink(link));
    const engine = new AtEngine({
      write: (b) => secure.output(b),
      handlers,
      identity: { manufacturer: "WIM project", model: "WIM token", revision: REVISION, serial: env.serial },
      log: (m) => env.log(m),
      pending: transport.pending && (() => transport.pending!()),
      link,
      gate: channels.gate(link),
    });
    secure.engine = engine;
    channels.attach(link, transport.kind, secure);
    transport.onReceive((bytes) => secure.receive(bytes));
    transport.onReset?.(() => {
      secure.linkEnded();
      engine.reset();
      wim.dropLink(link);
    });
    engine.unsolicited(`+PKCSRDY: ${PROTOCOL_VERSION}`);
  });
  env.log(`WIM token ${REVISION} ready`);
}
