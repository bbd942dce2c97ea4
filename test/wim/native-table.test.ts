/**
 * The one native table (modules/wim/native/natives.table) and what is generated from it
 * (tools/gen-natives.mjs): the committed copies are fresh, every C function it names is defined where its
 * scope says, and every host function the C glue defines is in it. (NativeCrypto against the table's
 * signatures: tsc, modules/wim/native.ts's NativeTableAgrees.)
 * Run: npx mocha test/wim/native-table.test.ts
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
// @ts-expect-error: a plain ES module without declarations
import { ROOT, TABLE, generate, parseTable } from "../../tools/gen-natives.mjs";

type Row = { scope: string; name: string; c: string; args: { name: string }[] };
const read = (p: string) => readFileSync(path.join(ROOT as string, p), "utf8");
const rows: Row[] = parseTable(read(TABLE));
const defined = (text: string) => new Set([...text.matchAll(/^void\s+(\w+)\s*\(\s*xsMachine\s*\*\s*the\s*\)/gm)].map((m) => m[1]));

describe("the native table", () => {
  it("the generated files are those the table gives (else: node tools/gen-natives.mjs)", () => {
    const r = spawnSync(process.execPath, ["tools/gen-natives.mjs", "--check"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const files = generate(rows) as Record<string, string>;
    assert.deepEqual(Object.keys(files).sort(), [
      "hosts/esp32/native.d.ts",
      "hosts/esp32/native.js",
      "modules/wim/native_table.ts",
      "sim/natives_table.h",
    ]);
  });

  it("every C function it names is defined in its scope's C file", () => {
    const glue = defined(read("modules/wim/native/wim_xs.c"));
    const host = defined(read("hosts/esp32/wim_host.c"));
    const sim = new Set(
      readdirSync(path.join(ROOT, "sim")).filter((f) => f.endsWith(".c")).flatMap((f) => [...defined(read(`sim/${f}`))]),
    );
    for (const row of rows) {
      const where = row.scope === "crypto" ? glue : row.scope === "esp32" ? host : sim;
      assert.ok(where.has(row.c), `${row.c} (${row.scope}) is not defined`);
    }
  });

  it("every host function of the glue and of wim_host.c is in the table", () => {
    const listed = new Set(rows.map((r) => r.c));
    for (const file of ["modules/wim/native/wim_xs.c", "hosts/esp32/wim_host.c"])
      for (const fn of defined(read(file))) assert.ok(listed.has(fn), `${fn} of ${file} is not in ${TABLE}`);
  });

  it("the simulator binds by the generated table only, the ESP32 by the generated native.js", () => {
    const natives = read("sim/natives.c");
    assert.match(natives, /#include "natives_table.h"/);
    assert.doesNotMatch(natives, /\{\s*"\w+",/, "no hand-written entries in sim/natives.c");
    const js = read("hosts/esp32/native.js");
    for (const row of rows.filter((r) => r.scope !== "sim")) assert.ok(js.includes(`function ${row.c}() @ "${row.c}";`), row.c);
  });

  it("refuses a malformed row", () => {
    assert.throws(() => parseTable("crypto  x  xs_x  id:int  void"), /bad argument/);
    assert.throws(() => parseTable("crypto  x  xs_x  -  void\ncrypto  y  xs_x  -  void"), /already listed/);
    assert.throws(() => parseTable("crypto  x  xs_x  a?:u32,b:u32  void"), /required argument after an optional/);
  });
});
