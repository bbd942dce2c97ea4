/**
 * The bundle of test/sim/preload.test.ts: module-level state of each kind xsl treats differently, then
 * the firmware's start (createEnv marks it), then a write to each. Prints one line per case to the
 * log: "preload: NAME ok" (the write took) or "preload: NAME refused: MESSAGE", then "preload: done".
 */
import { createEnv } from "../../sim/env.js";

const moduleBuffer = new Uint8Array(4);
const moduleView = new DataView(new ArrayBuffer(4));
const moduleMap = new Map<number, number>([[1, 1]]);
const moduleSet = new Set<number>();
class Counter {
  static count = 0;
}
function helper(): number {
  return 1;
}
const moduleObject = { count: 0 };
const moduleArray = [1, 2, 3];
let moduleVariable = 0;

const env = createEnv();
const cases: [string, () => boolean][] = [
  ["buffer", () => ((moduleBuffer[0] = 7), moduleBuffer[0] === 7)],
  ["dataview", () => (moduleView.setUint8(0, 7), moduleView.getUint8(0) === 7)],
  ["typed array set", () => (moduleBuffer.set([9], 1), moduleBuffer[1] === 9)],
  ["map", () => (moduleMap.set(2, 2), moduleMap.get(2) === 2)],
  ["set", () => (moduleSet.add(1), moduleSet.has(1))],
  ["static field", () => (Counter.count++, Counter.count === 1)],
  ["function property", () => (((helper as unknown as { tag: number }).tag = 1), (helper as unknown as { tag: number }).tag === 1)],
  ["prototype", () => (((Counter.prototype as unknown as { tag: number }).tag = 1), (Counter.prototype as unknown as { tag: number }).tag === 1)],
  ["object", () => (moduleObject.count++, moduleObject.count === 1)],
  ["array", () => (moduleArray.push(4), moduleArray.length === 4)],
  ["variable", () => (moduleVariable++, moduleVariable === 1)],
  ["new buffer", () => {
    const b = new Uint8Array(4);
    b[0] = 7;
    return b[0] === 7;
  }],
  ["new map", () => {
    const m = new Map<number, number>();
    m.set(1, 1);
    return m.get(1) === 1;
  }],
];
for (const [name, write] of cases) {
  try {
    env.log(write() ? `preload: ${name} ok` : `preload: ${name} refused: the write did not take`);
  } catch (e) {
    env.log(`preload: ${name} refused: ${(e as Error).message}`);
  }
}
env.log("preload: done");
