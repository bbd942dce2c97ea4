/**
 * Robustness of the AT engine on Node: at least 1,000,000 random and mutated lines (FUZZ_LINES
 * for more, `make fuzz`), split at random byte boundaries. The engine must never throw, must give
 * every terminated line one final result code (while result codes are on), must keep its memory
 * bounded, and must answer AT with OK afterwards.
 */
import assert from "node:assert/strict";
import { AtEngine, type CommandHandler } from "../../modules/at/engine.js";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { COMMANDS } from "../../modules/at/table.js";
import { Rng, chunks, fuzzLine, latin1 } from "./fuzz-lines.js";

const LINES = Number(process.env.FUZZ_LINES ?? 1_000_000);

/** Handlers that answer with values of the right types, or fail with a CK_RV, depending on input. */
function handlers(): Map<string, CommandHandler> {
  const m = new Map<string, CommandHandler>();
  for (const spec of COMMANDS) {
    m.set(spec.name, (params) => {
      if (params.length && params[0] === 0) throw new PkcsError(CKR.SESSION_HANDLE_INVALID);
      if (params.length && params[0] === 1) throw new Error("handler bug");
      return spec.response.length ? [spec.response.map((f) => (f.type === "uint" ? 7 : f.type === "string" ? "x" : new Uint8Array(3)))] : [];
    });
    // a set command's read form (AT+PKCSHS?) has its handler under "<name>?"
    if (spec.readResponse) m.set(spec.name + "?", () => [spec.readResponse!.map(() => 1)]);
  }
  return m;
}

describe("AT engine fuzz (Node)", function () {
  this.timeout(600_000);
  it(`survives ${LINES} random and mutated lines and still answers AT`, () => {
    const rng = new Rng(20261124);
    let out = "";
    const engine = new AtEngine({
      write: (b) => {
        if (out.length < 1 << 16) out += String.fromCharCode(...b);
      },
      handlers: handlers(),
      identity: { manufacturer: "M", model: "T", revision: "1", serial: "S" },
    });
    // every non-blank line must produce a final result code (result codes are kept on: Q1 is rewritten)
    const runLine = engine.runLine.bind(engine);
    let silent = 0;
    engine.runLine = (text: string | Uint8Array) => {
      const r = runLine(text);
      if (typeof text !== "string") text = Buffer.from(text).toString("latin1");
      // silent only where V.250 allows it: quiet mode (ATQ1, possibly spelled with dropped control bytes)
      if (r === "" && text.trim() !== "" && !engine["settings"].quiet) silent++;
      return r;
    };
    const BATCH = 1000;
    for (let done = 0; done < LINES; done += BATCH) {
      const before = engine.processed;
      let text = "";
      for (let i = 0; i < BATCH; i++) text += fuzzLine(rng).replace(/q1/gi, "Q0") + "\r";
      for (const c of chunks(rng, latin1(text))) engine.receive(c);
      assert.equal(engine.processed - before, BATCH, `batch at ${done}: every line is processed`);
      assert.equal(silent, 0, `batch at ${done}: a line got no final result code`);
      assert.equal(engine["lines"].pending, 0, "no partial line left after CR");
      out = "";
    }
    engine.receive(latin1("ATZ\rATE0\rAT\r"));
    assert.match(out, /\r\nOK\r\n$/);
  });
});
