import assert from "node:assert/strict";
import { parseLine, parseValueList, quote } from "../../modules/at/syntax.js";

describe("V.250 syntax", () => {
  it("parses basic, S-parameter and extended commands in one line", () => {
    const r = parseLine("at e0 v1 S3? +cmee=1;+PKCSOPEN=6;+GMI;+PKCSTOKEN?;+PKCSSIGN=?");
    assert.ok(!("fault" in r));
    assert.deepEqual(r.map((c) => [c.name, c.form, c.args]), [
      ["E", "exec", [0]], ["V", "exec", [1]], ["S3", "read", []], ["+CMEE", "set", [1]], ["+PKCSOPEN", "set", [6]],
      ["+GMI", "exec", []], ["+PKCSTOKEN", "read", []], ["+PKCSSIGN", "test", []],
    ]);
  });
  it("parses strings with escapes, omitted values and the maximum number", () => {
    const r = parseLine('AT+X="a\\22b\\5C",,4294967295');
    assert.ok(!("fault" in r));
    assert.deepEqual(r[0].args, ['a"b\\', undefined, 4294967295]);
  });
  it("rejects what V.250 does not allow", () => {
    for (const bad of ["", "A", "XT", "AT+X=\"open", "AT+X=4294967296", "AT+X=1 2", "AT+X=\"a\\zz\"", "AT#", "AT+=1", "AT+X=abc"]) {
      assert.ok("fault" in (parseLine(bad) as object), bad);
    }
  });
  it("round-trips quoted strings through quote()", () => {
    const s = 'x"\\\u0001\u00ffy';
    const v = parseValueList(quote(s) + ",5");
    assert.deepEqual(v, [s, 5]);
  });
});
