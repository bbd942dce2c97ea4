/**
 * The bundle of test/sim/presence.test.ts: the simulator's Env (sim/env.ts) with its presence and
 * LED capabilities driven over the PTY, one byte a request:
 *   "?" → "P1"/"P0" (presence.pressed())   "W" → "W1"/"W0" (presence.wait(3000))   "w" → the same, wait(150)
 *   "L" / "l" → env.led(true / false), then "L" / "l"
 */
import { createEnv } from "../../sim/env.js";

const env = createEnv();
const serial = env.transports[0];
const say = (text: string) => serial.write(new TextEncoder().encode(text));
serial.onReceive((bytes) => {
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (c === "?") say(env.presence!.pressed() ? "P1" : "P0");
    else if (c === "W" || c === "w") void env.presence!.wait(c === "W" ? 3000 : 150).then((p) => say(p ? "W1" : "W0"));
    else if (c === "L" || c === "l") {
      env.led!(c === "L");
      say(c);
    }
  }
});
