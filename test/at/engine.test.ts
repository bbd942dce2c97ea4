import assert from "node:assert/strict";
import { AtEngine, type CommandHandler } from "../../modules/at/engine.js";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";

/** An engine whose +PKCSOPEN handler echoes its flags and whose +PKCSCLOSE fails with a CK_RV. */
function harness() {
  let out = "";
  const handlers = new Map<string, CommandHandler>([
    ["+PKCSOPEN", ([flags]) => [[(flags as number) + 1]]],
    ["+PKCSCLOSE", () => { throw new PkcsError(CKR.SESSION_HANDLE_INVALID); }],
    ["+PKCSLOGOUT", () => { throw new Error("boom"); }],
  ]);
  const engine = new AtEngine({
    write: (b) => (out += Buffer.from(b).toString("latin1")),
    handlers,
    identity: { manufacturer: "M", model: "T", revision: "1.2", serial: "S1" },
  });
  const send = (s: string) => {
    out = "";
    engine.receive(new Uint8Array(Buffer.from(s, "latin1")));
    return out;
  };
  return { engine, send };
}

describe("AT engine", () => {
  it("echoes by default and answers AT with OK", () => {
    const { send } = harness();
    assert.equal(send("AT\r"), "AT\r\r\nOK\r\n");
  });
  it("runs commands from the table and formats their responses", () => {
    const { send } = harness();
    send("ATE0\r");
    assert.equal(send("AT+PKCSOPEN=6\r"), "\r\n+PKCSOPEN: 7\r\n\r\nOK\r\n");
    assert.equal(send("AT+GSN;+GMR\r"), "\r\nS1\r\n\r\n1.2\r\n\r\nOK\r\n");
  });
  it("reports CK_RV per +CMEE", () => {
    const { send } = harness();
    send("ATE0\r");
    assert.equal(send("AT+PKCSCLOSE=1\r"), "\r\nERROR\r\n");
    send("AT+CMEE=1\r");
    assert.equal(send("AT+PKCSCLOSE=1\r"), "\r\n+PKCS ERROR: 179\r\n");
    send("AT+CMEE=2\r");
    assert.equal(send("AT+PKCSCLOSE=1\r"), "\r\n+PKCS ERROR: CKR_SESSION_HANDLE_INVALID\r\n");
    assert.equal(send("AT+PKCSOPEN=\"x\"\r"), "\r\n+CME ERROR: incorrect parameters\r\n");
    assert.equal(send("AT+PKCSLOGOUT=1\r"), "\r\n+PKCS ERROR: CKR_GENERAL_ERROR\r\n");
  });
  it("numeric and quiet result codes", () => {
    const { send } = harness();
    send("ATE0V0\r");
    assert.equal(send("AT\r"), "0\r");
    assert.equal(send("ATX\r"), "4\r");
    send("ATQ1\r");
    assert.equal(send("AT\r"), "");
    send("ATZ\r");
    assert.equal(send("AT\r"), "AT\r\r\nOK\r\n");
  });
  it("assembles lines split at every byte boundary", () => {
    const { engine } = harness();
    let out = "";
    const e2 = new AtEngine({ write: (b) => (out += Buffer.from(b).toString("latin1")), handlers: new Map([["+PKCSOPEN", ([f]) => [[f as number]]]]), identity: { manufacturer: "", model: "", revision: "", serial: "" } });
    const line = "ATE0;+PKCSOPEN=4\r";
    for (const ch of line) e2.receive(Uint8Array.of(ch.charCodeAt(0)));
    assert.match(out, /\+PKCSOPEN: 4\r\n\r\nOK\r\n$/);
    assert.ok(engine);
  });
  it("applies an echo change to the next line of the same chunk", () => {
    const { send } = harness();
    send("ATE0\r");
    assert.equal(send("ATZ\rAT\r"), "\r\nOK\r\nAT\r\r\nOK\r\n");
  });
  it("answers an overlong line with an error and keeps working", () => {
    const { send } = harness();
    send("ATE0+CMEE=1\r");
    assert.equal(send("AT" + "1".repeat(5000) + "\r"), "\r\n+CME ERROR: 24\r\n");
    assert.equal(send("AT\r"), "\r\nOK\r\n");
  });
});
