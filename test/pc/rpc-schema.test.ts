/**
 * The one RPC call table (pc/rpc/calls.table) against everything that speaks the RPC: the generated
 * files are fresh (pc/pkcs11/calls.h, pc/agent/calls.ts, the tables of docs/agent-rpc.md); the module's
 * compiled table (pc/pkcs11/calls.c) and the fake agent's (test/pkcs11/fake_agent.c) are the table's;
 * the agent answers every request of its own the table lists and nothing the table does not; no file
 * names a call by a number of its own. (The calls' bytes, end to end: test/pc/rpc-loopback.test.ts.)
 * Run: npx mocha test/pc/rpc-schema.test.ts
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
// @ts-expect-error: a plain ES module without declarations
import { DOC, fillDoc, generate, parseTable, ROOT, TABLE } from "../../tools/gen-rpc.mjs";
import { allCalls, AGENT_REQUESTS, EXTENSIONS, FUNCTIONS, HELLO } from "../../pc/agent/functions.js";
import { HANDLED_CALLS } from "../../pc/agent/server.js";

type Item = { code: string; name: string; limit?: string };
type Row = { number: number; scope: string; name: string; request: Item[]; reply: Item[] };
const read = (p: string) => readFileSync(path.join(ROOT as string, p), "utf8");
const rows: Row[] = parseTable(read(TABLE));
const codes = (items: Item[]) => items.map((i) => i.code).join("");

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((f) => {
    const p = `${dir}/${f}`;
    if (statSync(path.join(ROOT, p)).isDirectory()) return files(p, ext);
    return ext.test(f) ? [p] : [];
  });
}

describe("the RPC call table", () => {
  it("the generated files and the document's tables are those the table gives (else: node tools/gen-rpc.mjs)", () => {
    const r = spawnSync(process.execPath, ["tools/gen-rpc.mjs", "--check"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(Object.keys(generate(rows, read(DOC))).sort(), [DOC, "pc/agent/calls.ts", "pc/pkcs11/calls.h"].sort());
  });

  it("the check fails on any difference: an item, a limit, a row, the document's table", () => {
    const table = read(TABLE);
    const fresh = generate(rows, read(DOC)) as Record<string, string>;
    const edits: [string, string][] = [
      ["u:session,u:object,t:template         U:object", "u:session,u:object,t:template         U:handle"],
      ["B:label:32", "B:label:31"],
      ["64      module  C_GenerateRandom            u:session,u:length                    B:random:=length", "64      module  C_GenerateRandom            u:session,u:length                    B:random"],
    ];
    for (const [from, to] of edits) {
      assert.ok(table.includes(from), from);
      const changed = generate(parseTable(table.replace(from, to)), read(DOC)) as Record<string, string>;
      for (const file of [DOC, "pc/agent/calls.ts"]) assert.notEqual(changed[file], fresh[file], `${to}: ${file}`);
    }
    const extra = generate(parseTable(`${table}0xFFF0  agent   extra  -  U:x\n`), read(DOC)) as Record<string, string>;
    for (const file of Object.keys(fresh)) assert.notEqual(extra[file], fresh[file], `a new row changes ${file}`);
    assert.notEqual(fillDoc(read(DOC).replace("| 4 | C_GetSlotList |", "| 4 | C_GetSlotLists |"), rows), read(DOC).replace("| 4 | C_GetSlotList |", "| 4 | C_GetSlotLists |"));
  });

  it("refuses a malformed table", () => {
    const table = read(TABLE);
    const bad: [string, RegExp][] = [
      [table.replace("5       module  C_GetSlotInfo", "6       module  C_GetSlotInfo"), /already listed|in order/],
      [table.replace("u:session,o:state                     O:state", "u:session                             O:state"), /O answers a request o item/],
      [table.replace("H:objects:<=max", "H:objects"), /H answers the request's h/],
      [table.replace("B:random:=length", "B:random:=nothing"), /bad limit/],
      [`${table}0xFFF0  agent   x  z:bad  -\n`, /bad request item/],
      [`${table}0xFFFE  agent   twice  -  -\n`, /already listed/],
      [`${table}70  module  C_Extra  -  -\n`, /out of its scope's range/],
      [table.replace(/^67 .*$/m, ""), /68/],
    ];
    for (const [text, why] of bad) assert.throws(() => parseTable(text), why);
  });

  it("the module's compiled table (calls.c) is the table's PKCS#11 rows", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "wim-calls-"));
    try {
      writeFileSync(path.join(dir, "print.c"), [
        '#include <stdio.h>',
        '#include "wim_internal.h"',
        'int main(void) {',
        '  for (int i = 0; i < WIM_FN_COUNT; i++)',
        '    printf("%d %s %s %s\\n", i, wim_calls[i].name, wim_calls[i].request ? wim_calls[i].request : "-", wim_calls[i].reply ? wim_calls[i].reply : "-");',
        '  printf("hello %d\\n", WIM_FN_HELLO);',
        '  return 0;',
        '}',
      ].join("\n"));
      const exe = path.join(dir, "print");
      execFileSync("gcc", ["-Wall", "-Wextra", "-Werror", "-Ipc/pkcs11", "-o", exe, path.join(dir, "print.c"), "pc/pkcs11/calls.c"], { cwd: ROOT });
      const printed = execFileSync(exe, { encoding: "utf8" }).trim().split("\n");
      const want = rows.filter((r) => r.scope !== "agent").map((r) =>
        `${r.number} ${r.name} ${r.scope === "local" ? "-" : codes(r.request)} ${r.scope === "local" ? "-" : codes(r.reply)}`);
      assert.deepEqual(printed, [...want, `hello ${0xffff}`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the module and the fake agent take their table from calls.h, and list no items of their own", () => {
    const calls = read("pc/pkcs11/calls.c");
    assert.match(calls, /#include "wim_internal.h"/);
    assert.match(read("pc/pkcs11/wim_internal.h"), /#include "calls.h"/);
    assert.match(calls, /WIM_PKCS11_CALLS\(ROW\)/);
    const fake = read("test/pkcs11/fake_agent.c");
    assert.match(fake, /#include "calls.h"/);
    assert.match(fake, /WIM_PKCS11_CALLS\(REQUEST_ITEMS\)/);
    for (const [file, text] of [["pc/pkcs11/calls.c", calls], ["test/pkcs11/fake_agent.c", fake]])
      assert.doesNotMatch(text, /"[ubtqmoh]{1,5}"|"[UBOQH]{1,20}"/, `${file} writes item codes of its own`);
  });

  it("the agent's lookups are the table's, and it answers every request of its own the table lists", () => {
    assert.deepEqual(FUNCTIONS, rows.filter((r) => r.scope !== "agent").map((r) => r.name));
    assert.equal(HELLO, 0xffff);
    const own = rows.filter((r) => r.scope === "agent" && r.name !== "hello");
    assert.deepEqual(AGENT_REQUESTS, Object.fromEntries(own.map((r) => [r.name, r.number])));
    for (const [name, e] of Object.entries(EXTENSIONS)) {
      const row = rows.find((r) => r.name === name);
      assert.ok(row && row.number === e.number && codes(row.request) === e.items, name);
    }
    assert.deepEqual(allCalls().map((c) => [c.number, c.name, c.request, c.reply]), rows.map((r) => [r.number, r.name, codes(r.request), codes(r.reply)]));
    const names = new Set(rows.map((r) => r.name));
    for (const name of HANDLED_CALLS) {
      assert.ok(names.has(name), `the agent handles ${name}, which the table does not list`);
      assert.notEqual(rows.find((r) => r.name === name)?.scope, "local", `${name} is answered by the module`);
    }
    for (const row of own) assert.ok(HANDLED_CALLS.includes(row.name as never), `no handler for the agent request ${row.name}`);
  });

  it("the document names only calls of the table", () => {
    const doc = read(DOC);
    const names = new Set(rows.map((r) => r.name));
    for (const [, fn] of doc.matchAll(/\b(C_[A-Z][A-Za-z]+)\b/g)) assert.ok(names.has(fn), `${DOC} names ${fn}`);
    const numbers = new Set(rows.map((r) => r.number));
    for (const [n] of doc.matchAll(/\b0xFF[0-9A-F]{2}\b/g)) assert.ok(numbers.has(Number(n)), `${DOC} names function ${n}`);
  });

  it("no source names a call by a number of its own (only the generated files hold them)", () => {
    const generated = new Set(["pc/agent/calls.ts", "pc/pkcs11/calls.h"]);
    const sources = [...files("pc", /\.(ts|c|h|mjs)$/), ...files("test/pkcs11", /\.[ch]$/)].filter((f) => !generated.has(f));
    for (const file of sources) {
      const hits = [...read(file).matchAll(/\b0x[fF]{2}[0-9a-fA-F]{2}\b/g)].map((m) => m[0]);
      assert.deepEqual(hits, [], `${file} names call numbers ${hits.join(", ")}`);
    }
  });
});
