import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { requestSynopsis, responseSynopsis, unsolicitedSynopsis } from "../../modules/at/synopsis.js";
import { COMMANDS, UNSOLICITED } from "../../modules/at/table.js";

describe("docs/at-pkcs.md agrees with the command table", () => {
  const doc = readFileSync(new URL("../../docs/at-pkcs.md", import.meta.url), "utf8");
  const rows = doc.split("\n").filter((l) => l.startsWith("| `AT+PKCS"));

  it("has one row per command, with the table's request and response syntax", () => {
    for (const c of COMMANDS) {
      const row = rows.find((r) => r.startsWith("| `" + requestSynopsis(c) + "`"));
      assert.ok(row, `no row for ${requestSynopsis(c)}`);
      const resp = responseSynopsis(c);
      assert.ok(resp ? row.includes("`" + resp + "`") : row.includes("| — |"), `response of ${c.name}`);
      assert.equal(row.includes("one line per item"), !!c.multiline, `multiline of ${c.name}`);
      assert.ok(row.includes(c.pkcs11), `PKCS#11 functions of ${c.name}`);
    }
  });

  it("lists every unsolicited result code with its fields", () => {
    const urcRows = doc.split("\n").filter((l) => /^\| `\+PKCS[A-Z]+: /.test(l));
    assert.equal(urcRows.length, UNSOLICITED.length);
    for (const u of UNSOLICITED) assert.ok(urcRows.some((r) => r.startsWith("| `" + unsolicitedSynopsis(u) + "`")), u.name);
  });

  it("documents no command the table lacks", () => {
    const names = new Set(COMMANDS.map((c) => c.name));
    for (const r of rows) {
      const name = /^\| `AT(\+PKCS[A-Z]+)/.exec(r)![1];
      assert.ok(names.has(name), `${name} is documented but not in the table`);
    }
    assert.equal(rows.length, COMMANDS.length);
  });
});
