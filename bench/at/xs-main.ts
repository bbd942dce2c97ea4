/** The AT benchmark as a simulator bundle: prints one JSON line to the console and exits. */
import { benchAt } from "./at-bench.js";

declare const __native: (name: string) => (...args: unknown[]) => unknown;
declare const performance: { now(): number };

const rounds = 2000;
const result = benchAt(() => performance.now(), rounds);
console.log("AT-BENCH " + JSON.stringify(result));
__native("sim_exit")(0);
