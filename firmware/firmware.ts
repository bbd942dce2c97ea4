/**
 * The firmware's composition: from a platform's Env, the security manager and one AT engine per
 * transport. Nothing runs while this module loads (it is preloaded into flash on the device, where
 * xsl runs module bodies at build time); firmware/main.ts calls startFirmware at boot.
 */
import { AtEngine } from "../modules/at/engine.js";
import { PROTOCOL_VERSION } from "../modules/at/table.js";
import { commandHandlers } from "../modules/wim/commands.js";
import type { Env } from "../modules/wim/env.js";
import { Wim } from "../modules/wim/wim.js";

/** Firmware revision reported by +GMR. */
export const REVISION = "0.1.0";

/**
 * Builds the security manager and the AT engines on `env` and announces the token on every transport.
 * Each transport is one link (its index names it): its own engine, its own logical channels; a link
 * that ends (Transport.onReset: a BLE disconnect) loses its channels and sessions and starts afresh.
 */
export function startFirmware(env: Env): void {
  const wim = new Wim(env, REVISION);
  const handlers = commandHandlers(wim);
  env.transports.forEach((transport, link) => {
    const engine = new AtEngine({
      write: (b) => transport.write(b),
      handlers,
      identity: { manufacturer: "WIM project", model: "WIM token", revision: REVISION, serial: env.serial },
      log: (m) => env.log(m),
      pending: transport.pending && (() => transport.pending!()),
      link,
    });
    transport.onReceive((bytes) => engine.receive(bytes));
    transport.onReset?.(() => {
      engine.reset();
      wim.dropLink(link);
    });
    engine.unsolicited(`+PKCSRDY: ${PROTOCOL_VERSION}`);
  });
  env.log(`WIM token ${REVISION} ready`);
}
