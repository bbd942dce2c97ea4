/**
 * The bundle of test/sim/aead.test.ts: the secure channel's natives (aeadSeal, aeadOpen, ecEphemeral,
 * ecEphemeralEcdh, ecEphemeralClear) run in the simulator on the inputs the test defines (__AEAD_INPUTS__).
 * Prints one line per result, "aead: NAME VALUE" (hex, "undefined", or "error MESSAGE"), then "aead: done".
 */
import { createEnv } from "../../sim/env.js";

interface Case { key: string; counter: number; ad: string; pt: string; view: boolean }
declare const __AEAD_INPUTS__: { cases: Case[]; peer256: string; peer384: string; offCurve: string };

const HEX = "0123456789abcdef";
function toHex(b: ArrayBuffer | undefined): string {
  if (b === undefined) return "undefined";
  const u = new Uint8Array(b);
  let s = "";
  for (let i = 0; i < u.length; i++) s += HEX[u[i] >> 4] + HEX[u[i] & 15];
  return s;
}
function fromHex(s: string): Uint8Array<ArrayBuffer> {
  const u = new Uint8Array(s.length / 2);
  for (let i = 0; i < u.length; i++) u[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return u;
}
/** An ArrayBuffer, or a Uint8Array view into a larger buffer (offset 3), to check both argument forms. */
function arg(s: string, view: boolean): ArrayBuffer | Uint8Array {
  const u = fromHex(s);
  if (!view) return u.buffer;
  const big = new Uint8Array(u.length + 5);
  big.set(u, 3);
  return big.subarray(3, 3 + u.length);
}

const env = createEnv();
const native = env.native;
const inputs = __AEAD_INPUTS__;
function run(name: string, f: () => ArrayBuffer | undefined | void): void {
  try {
    const r = f();
    env.log(`aead: ${name} ${r === undefined ? "undefined" : toHex(r)}`);
  } catch (e) {
    env.log(`aead: ${name} error ${(e as Error).name} ${(e as Error).message}`);
  }
}

inputs.cases.forEach((c, i) => {
  const key = arg(c.key, c.view), ad = arg(c.ad, c.view);
  let sealed: ArrayBuffer | undefined;
  run(`seal ${i}`, () => (sealed = native.aeadSeal(key, c.counter, ad, arg(c.pt, c.view))));
  run(`open ${i}`, () => native.aeadOpen(key, c.counter, ad, sealed!));
  run(`tamper ${i}`, () => {
    const t = new Uint8Array(sealed!.slice(0));
    t[(i * 7) % t.length] ^= 1 << i % 8;
    return native.aeadOpen(key, c.counter, ad, t.buffer);
  });
  run(`counter ${i}`, () => native.aeadOpen(key, c.counter === 0 ? 1 : c.counter - 1, ad, sealed!));
});
const key = new Uint8Array(32);
run("short", () => native.aeadOpen(key, 0, new Uint8Array(0), new Uint8Array(15)));
run("key31", () => native.aeadSeal(new Uint8Array(31), 0, new Uint8Array(0), new Uint8Array(1)));
run("counter-range", () => native.aeadSeal(key, 2 ** 32, new Uint8Array(0), new Uint8Array(1)));
run("counter-fraction", () => native.aeadSeal(key, 1.5, new Uint8Array(0), new Uint8Array(1)));

run("no-ephemeral", () => native.ecEphemeralEcdh(fromHex(inputs.peer256).buffer));
run("eph1", () => native.ecEphemeral(1));
run("dh1", () => native.ecEphemeralEcdh(fromHex(inputs.peer256).buffer));
run("dh1-again", () => native.ecEphemeralEcdh(fromHex(inputs.peer256).buffer));
run("eph2", () => native.ecEphemeral(1));
run("dh2", () => native.ecEphemeralEcdh(fromHex(inputs.peer256).buffer));
run("off-curve", () => native.ecEphemeralEcdh(fromHex(inputs.offCurve).buffer));
run("peer-length", () => native.ecEphemeralEcdh(fromHex(inputs.peer384).buffer));
run("clear", () => native.ecEphemeralClear());
run("after-clear", () => native.ecEphemeralEcdh(fromHex(inputs.peer256).buffer));
run("eph384", () => native.ecEphemeral(2));
run("dh384", () => native.ecEphemeralEcdh(fromHex(inputs.peer384).buffer));
run("bad-curve", () => native.ecEphemeral(3));
native.ecEphemeralClear();
env.log("aead: done");
