/**
 * `make bench` (AT layer): the per-command cost on XS in the simulator and on Node in the same
 * run, with their ratio and the target (at most 0.2 ms per command on XS).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { benchAt } from "./at-bench.js";

const root = path.resolve(import.meta.dirname, "../..");
const flash = path.join(mkdtempSync(path.join(os.tmpdir(), "wim-bench-")), "flash.bin");
const xs = spawnSync(path.join(root, "build/wim-sim"), ["--bundle", path.join(root, "build/bench-at.js"), "--flash", flash], { encoding: "utf8" });
const m = /AT-BENCH (\{.*\})/.exec(xs.stderr);
if (!m) throw new Error(`the XS run printed no result: ${xs.stderr}`);
const onXs = JSON.parse(m[1]) as { commands: number; msPerCommand: number };
const onNode = benchAt(() => performance.now(), 20000);
const target = 0.2;
console.log("AT layer, per command (parse + dispatch + format; mix of SIGN/ATTR/OPEN/FIND/TOKEN/E0):");
console.log(`  XS 13.3 (simulator): ${onXs.msPerCommand.toFixed(4)} ms  (${onXs.commands} commands)`);
console.log(`  Node ${process.version}:      ${onNode.msPerCommand.toFixed(4)} ms  (${onNode.commands} commands)`);
console.log(`  XS / Node: ${(onXs.msPerCommand / onNode.msPerCommand).toFixed(1)}×   target on XS ≤ ${target} ms: ${onXs.msPerCommand <= target ? "met" : "MISSED"} (${(onXs.msPerCommand / target).toFixed(2)} of the budget)`);
