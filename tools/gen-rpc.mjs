#!/usr/bin/env node
// tools/gen-rpc.mjs — generates the RPC tables from the one call table, pc/rpc/calls.table (its header
// says what the columns mean):
//
//   pc/pkcs11/calls.h    the module's (and test/pkcs11/fake_agent.c's) table, as X-macros
//   pc/agent/calls.ts    the agent's and the `wim` command line's table (CALLS)
//   docs/agent-rpc.md    the two tables between their <!-- rpc-table:… --> markers
//
//   node tools/gen-rpc.mjs           writes them
//   node tools/gen-rpc.mjs --check   writes nothing; exits 1 naming each file that is stale
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const TABLE = "pc/rpc/calls.table";
export const DOC = "docs/agent-rpc.md";

export const REQUEST_CODES = "ubtqmoh";
export const REPLY_CODES = "UBOQH";
const SCOPES = ["local", "module", "agent"];
/** PKCS#11 v2.40 has 68 functions (CK_FUNCTION_LIST); the agent's own requests count down from 0xFFFF. */
export const PKCS11_COUNT = 68;
const AGENT_LOWEST = 0xff00;

function parseItems(text, codes, where, what) {
  if (text === "-") return [];
  return text.split(",").map((item) => {
    const m = /^([A-Za-z]):([A-Za-z][A-Za-z0-9]*)(?::(\S+))?$/.exec(item);
    if (!m || !codes.includes(m[1])) throw new Error(`${where}: bad ${what} item ${item} (codes: ${codes})`);
    return m[3] === undefined ? { code: m[1], name: m[2] } : { code: m[1], name: m[2], limit: m[3] };
  });
}

/** Parses the table: [{ number, scope, name, request: [{ code, name }], reply: [{ code, name, limit? }], doc }]. */
export function parseTable(text) {
  const rows = [];
  const numbers = new Map();
  const names = new Map();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const where = `${TABLE}:${i + 1}`;
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${where}: expected 5 columns: number scope name request reply [doc]`);
    const [, num, scope, name, reqText, repText, doc] = m;
    if (!/^(0x[0-9A-Fa-f]+|[0-9]+)$/.test(num)) throw new Error(`${where}: bad number ${num}`);
    const number = Number(num);
    if (!SCOPES.includes(scope)) throw new Error(`${where}: scope must be one of ${SCOPES.join(", ")}`);
    if (scope === "agent" ? !/^[A-Za-z][A-Za-z0-9_-]*$/.test(name) : !/^C_[A-Za-z]+$/.test(name))
      throw new Error(`${where}: bad name ${name}`);
    if (scope === "agent" ? number < AGENT_LOWEST || number > 0xffff : number >= PKCS11_COUNT)
      throw new Error(`${where}: ${name}: number ${num} out of its scope's range`);
    const request = parseItems(reqText, REQUEST_CODES, where, "request");
    const reply = parseItems(repText, REPLY_CODES, where, "reply");
    if (scope === "local" && (request.length || reply.length)) throw new Error(`${where}: a local function has no items`);
    for (const [n, key, seen] of [[num, number, numbers], [name, name, names]]) {
      if (seen.has(key)) throw new Error(`${where}: ${n} already listed at line ${seen.get(key)}`);
      seen.set(key, i + 1);
    }
    checkItems({ request, reply }, where);
    rows.push({ number, scope, name, request, reply, doc: doc.trim(), line: i + 1 });
  });
  const pkcs11 = rows.filter((r) => r.scope !== "agent");
  pkcs11.forEach((r, i) => {
    if (r.number !== i) throw new Error(`${TABLE}:${r.line}: ${r.name}: PKCS#11 functions are listed 0 … 67 in order`);
  });
  if (pkcs11.length !== PKCS11_COUNT) throw new Error(`${TABLE}: ${pkcs11.length} PKCS#11 functions, CK_FUNCTION_LIST has 68`);
  if (!rows.some((r) => r.name === "hello" && r.number === 0xffff)) throw new Error(`${TABLE}: no hello (0xFFFF)`);
  return rows;
}

/** The pairing and limits the marshaller relies on (marshal.c bind_args). */
function checkItems({ request, reply }, where) {
  const requestU = new Set(request.filter((i) => i.code === "u").map((i) => i.name));
  for (const code of "oqh")
    if (request.filter((i) => i.code === code).length > 1) throw new Error(`${where}: two ${code} items`);
  for (const item of reply) {
    const paired = request.some((i) => i.code === item.code.toLowerCase());
    const { limit } = item;
    if (item.code === "O" || item.code === "Q") {
      if (!paired) throw new Error(`${where}: ${item.code} answers a request ${item.code.toLowerCase()} item, and there is none`);
      if (limit !== undefined) throw new Error(`${where}: ${item.code} takes no limit`);
    } else if (item.code === "H") {
      const ok = paired ? limit === undefined : limit?.startsWith("<=") && requestU.has(limit.slice(2));
      if (!ok) throw new Error(`${where}: H answers the request's h, or takes "<=item" of a request u item`);
    } else if (limit !== undefined) {
      const ok = item.code === "U" ? /^[0-9]+$/.test(limit) : /^[0-9]+$/.test(limit) || (limit.startsWith("=") && requestU.has(limit.slice(1)));
      if (!ok) throw new Error(`${where}: bad limit ${limit} of ${item.code}:${item.name}`);
    }
  }
}

const HEADER = `generated by tools/gen-rpc.mjs from ${TABLE} — do not edit; edit the table and run make`;
const codes = (items) => items.map((i) => i.code).join("");
const cName = (row) => (row.scope === "agent" ? row.name.replace(/-/g, "_") : row.name.slice(2));
const hex = (n) => `0x${n.toString(16).toUpperCase()}`;

function describe(items) {
  if (!items.length) return "—";
  return items.map((i) => {
    const l = i.limit;
    const limit = l === undefined ? "" : l.startsWith("<=") ? ` (≤ ${l.slice(2)})` : l.startsWith("=") ? ` (= ${l.slice(1)} bytes)` : i.code === "U" ? ` (≤ ${l})` : ` (${l} bytes, blank-padded)`;
    return `${i.code} ${i.name}${limit}`;
  }).join(", ");
}

/** The generated table of the document between `<!-- rpc-table:NAME begin -->` and its end marker. */
function docTables(rows) {
  const esc = (s) => s.replace(/\|/g, "\\|");
  const pkcs11 = [
    "| # | function | request | reply (rv CKR_OK) |",
    "|---|---|---|---|",
    ...rows.filter((r) => r.scope !== "agent").map((r) =>
      r.scope === "local"
        ? `| ${r.number} | ${r.name} | answered by the module | |`
        : `| ${r.number} | ${r.name} | ${describe(r.request)} | ${describe(r.reply)}${r.doc ? ` — ${esc(r.doc)}` : ""} |`),
  ];
  const agent = [
    "| # | request | request items | reply items (rv CKR_OK) | what |",
    "|---|---|---|---|---|",
    ...rows.filter((r) => r.scope === "agent").map((r) =>
      `| ${hex(r.number)} | \`${r.name}\` | ${describe(r.request)} | ${describe(r.reply)} | ${esc(r.doc)} |`),
  ];
  return { pkcs11: pkcs11.join("\n"), agent: agent.join("\n") };
}

/** Replaces each marked region of `doc`; throws if a marker is missing. */
export function fillDoc(doc, rows) {
  let out = doc;
  for (const [name, table] of Object.entries(docTables(rows))) {
    const begin = `<!-- rpc-table:${name} begin (${HEADER}) -->`;
    const end = `<!-- rpc-table:${name} end -->`;
    const re = new RegExp(`<!-- rpc-table:${name} begin[^\\n]*-->\\n[\\s\\S]*?${end.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);
    if (!re.test(out)) throw new Error(`${DOC}: no <!-- rpc-table:${name} begin … --> / ${end} markers`);
    out = out.replace(re, () => `${begin}\n${table}\n${end}`);
  }
  return out;
}

/** The generated files: { path: text } (the document given as it is now, since only its tables are generated). */
export function generate(rows, doc) {
  const out = {};
  const cStr = (items) => JSON.stringify(codes(items));
  const macro = (name, list, row) => [
    `#define ${name}(X) \\`,
    ...list.map((r, i) => `  X(${r.scope === "agent" ? hex(r.number) : r.number}, ${cName(r)}, ${row(r)})${i < list.length - 1 ? " \\" : ""}`),
  ];
  out["pc/pkcs11/calls.h"] = [
    `/* ${HEADER}. */`,
    "#ifndef WIM_CALLS_H",
    "#define WIM_CALLS_H",
    "",
    "/* X(number, name, request, reply) for the PKCS#11 v2.40 functions in CK_FUNCTION_LIST order; request",
    " * and reply are item codes (docs/agent-rpc.md), both NULL for a function the module answers itself. */",
    ...macro("WIM_PKCS11_CALLS", rows.filter((r) => r.scope !== "agent"), (r) => (r.scope === "local" ? "NULL, NULL" : `${cStr(r.request)}, ${cStr(r.reply)}`)),
    "",
    "/* X(number, name, request, reply) for the agent's own requests: hello (the first request of every",
    " * connection) and the `wim` command line's, which the module never sends. */",
    ...macro("WIM_AGENT_REQUESTS", rows.filter((r) => r.scope === "agent"), (r) => `${cStr(r.request)}, ${cStr(r.reply)}`),
    "",
    "#endif",
    "",
  ].join("\n");

  const item = (i) => `{ code: "${i.code}", name: "${i.name}"${i.limit === undefined ? "" : `, limit: "${i.limit}"`} }`;
  out["pc/agent/calls.ts"] = [
    `// ${HEADER}.`,
    "// pc/agent/functions.ts derives the agent's and the command line's lookups from CALLS.",
    "",
    "/** Every call of the module ↔ agent RPC: its number, who answers it, its request and reply items. */",
    "export const CALLS = [",
    ...rows.map((r) =>
      `  { number: ${r.scope === "agent" ? hex(r.number) : r.number}, scope: "${r.scope}", name: "${r.name}", request: [${r.request.map(item).join(", ")}], reply: [${r.reply.map(item).join(", ")}] },`),
    "] as const;",
    "",
  ].join("\n");

  if (doc !== undefined) out[DOC] = fillDoc(doc, rows);
  return out;
}

const readOrUndefined = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

function main() {
  const check = process.argv.includes("--check");
  const doc = readOrUndefined(join(ROOT, DOC));
  if (doc === undefined) throw new Error(`${DOC} is missing`);
  const files = generate(parseTable(readFileSync(join(ROOT, TABLE), "utf8")), doc);
  const stale = [];
  for (const [path, text] of Object.entries(files)) {
    const full = join(ROOT, path);
    if (check) {
      if (readOrUndefined(full) !== text) stale.push(path);
    } else if (path !== DOC || doc !== text) {
      writeFileSync(full, text); // the C and TS files always (make compares times); the doc only when its tables changed
    }
  }
  if (stale.length) {
    console.error(`stale (regenerate with: node tools/gen-rpc.mjs): ${stale.join(", ")}`);
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
