/**
 * Robustness of the real firmware: at least 50,000 random and mutated lines (FUZZ_SIM_LINES for
 * more, `make fuzz`) sent over the simulator's PTY in random pieces. The device must stay alive,
 * answer every batch's probe, keep its memory bounded, and answer AT with OK at the end.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { openSerial } from "../../pc/agent/serial.js";
import { Rng, chunks, fuzzLine, latin1 } from "../at/fuzz-lines.js";
import { type SimToken, startSim, tempDir } from "../e2e/harness.js";

const LINES = Number(process.env.FUZZ_SIM_LINES ?? 50_000);
const BATCH = 500;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

describe("firmware fuzz over the PTY", function () {
  this.timeout(900_000);
  let sim: SimToken;
  after(async () => sim && (await sim.stop()));

  it(`survives ${LINES} random and mutated lines and still answers AT`, async () => {
    const state = tempDir("fuzz");
    sim = await startSim(state, ["--no-agent"]);
    const pid = Number(execFileSync("pgrep", ["-f", `${state}/flash.bin`], { encoding: "utf8" }).trim().split("\n")[0]);
    assert.ok(pid > 0);
    const port = openSerial(sim.pty);
    let received = "";
    port.onData((b) => {
      received += String.fromCharCode(...b);
      if (received.length > 8192) received = received.slice(-4096);
    });
    const waitFor = (re: RegExp, ms: number) =>
      new Promise<void>((resolve, reject) => {
        const t0 = Date.now();
        const poll = () => {
          if (re.test(received)) return resolve();
          if (Date.now() - t0 > ms) return reject(new Error(`device silent: no ${re} within ${ms} ms; tail: ${JSON.stringify(received.slice(-200))}`));
          setTimeout(poll, 2);
        };
        poll();
      });
    const rng = new Rng(4242);
    const rss0 = rssKiB(pid);
    for (let done = 0; done < LINES; done += BATCH) {
      let text = "";
      for (let i = 0; i < BATCH; i++) text += fuzzLine(rng) + "\r";
      for (const c of chunks(rng, latin1(text))) port.write(c);
      received = "";
      const marker = 100000 + done / BATCH;
      // the probe: back to the defaults (echo on), then a command whose echo carries this batch's
      // marker and whose answer is known: CKR_SESSION_HANDLE_INVALID (179)
      port.write(latin1(`\rATZ\rAT+CMEE=1;+PKCSCLOSE=${marker}\r`));
      await waitFor(new RegExp(`PKCSCLOSE=${marker}\\r\\r\\n\\+PKCS ERROR: 179\\r\\n$`), 60_000);
    }
    received = "";
    port.write(latin1("\rATZE0\rAT\r"));
    await waitFor(/\r\nOK\r\n$/, 10_000);
    const rss1 = rssKiB(pid);
    port.close();
    assert.ok(rss1 < 96 * 1024, `resident memory ${rss1} KiB`);
    assert.ok(rss1 - rss0 < 32 * 1024, `memory grew from ${rss0} to ${rss1} KiB`);
  });
});
