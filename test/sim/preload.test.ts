/**
 * The simulator freezes what xsl puts in flash when the firmware's modules are preloaded
 * (sim/platform.c, sim_preload_freeze; docs/simulator.md, "Preload"): a write to a module-level
 * buffer, Map, Set, static field, function or prototype fails at run time as on the device, while
 * plain objects, arrays and module variables stay writable (XS aliases) and whatever the firmware
 * creates at run time is ordinary. WIM_SIM_PRELOAD=off shows that the refusals are the freeze's.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSimBundle, runSimBundle } from "./bundle.js";

async function run(work: string, env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const bundle = buildSimBundle("test/sim/preload-bundle.ts", path.join(work, "preload.js"));
  const out = await runSimBundle(bundle, work, "preload", 10_000, env);
  const results = new Map<string, string>();
  for (const m of out.matchAll(/^preload: (.+?) (ok|refused: .*)$/gm)) results.set(m[1], m[2]);
  return results;
}

describe("wim-sim: preloaded module state is frozen as in flash", function () {
  this.timeout(30_000);

  it("refuses writes to module-level buffers, collections, static fields, functions and prototypes; allows the rest", async () => {
    const r = await run(mkdtempSync(path.join(os.tmpdir(), "wim-preload-")), { ...process.env, WIM_SIM_PRELOAD: "" });
    for (const name of ["buffer", "dataview", "typed array set"]) assert.equal(r.get(name), "refused: read-only buffer", name);
    assert.match(r.get("map")!, /^refused: .*read-only/);
    assert.match(r.get("set")!, /^refused: .*read-only/);
    for (const name of ["static field", "function property", "prototype"]) assert.match(r.get(name)!, /^refused: /, name);
    for (const name of ["object", "array", "variable", "new buffer", "new map"]) assert.equal(r.get(name), "ok", name);
  });

  it("without the freeze (WIM_SIM_PRELOAD=off) every write takes", async () => {
    const r = await run(mkdtempSync(path.join(os.tmpdir(), "wim-preload-")), { ...process.env, WIM_SIM_PRELOAD: "off" });
    assert.equal(r.size, 13);
    for (const [name, result] of r) assert.equal(result, "ok", name);
  });
});
