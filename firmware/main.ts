/**
 * The firmware's composition root: builds the platform's Env, the security manager and one AT
 * engine per transport. The same file runs on the ESP32 and in the simulator; "wim-env" resolves
 * to hosts/esp32/env.ts or sim/env.ts (manifest.json and the simulator bundle choose).
 */
import { createEnv } from "wim-env";
import { AtEngine } from "../modules/at/engine.js";
import { PROTOCOL_VERSION } from "../modules/at/table.js";
import { commandHandlers } from "../modules/wim/commands.js";
import { Wim } from "../modules/wim/wim.js";

/** Firmware revision reported by +GMR. */
export const REVISION = "0.1.0";

const env = createEnv();
const wim = new Wim(env);
const handlers = commandHandlers(wim);
for (const transport of env.transports) {
  const engine = new AtEngine({
    write: (b) => transport.write(b),
    handlers,
    identity: { manufacturer: "WIM project", model: "WIM token", revision: REVISION, serial: env.serial },
    log: (m) => env.log(m),
    pending: transport.pending && (() => transport.pending!()),
  });
  transport.onReceive((bytes) => engine.receive(bytes));
  engine.unsolicited(`+PKCSRDY: ${PROTOCOL_VERSION}`);
}
env.log(`WIM token ${REVISION} ready`);
