/**
 * Orphans (issue 10, finding 10): no simulator or agent outlives the process that started it.
 *  - `wim sim` killed with SIGKILL: its wim-sim child goes too (PR_SET_PDEATHSIG);
 *  - the process that started `wim sim` (a wrapper shell, as npx is) killed with SIGKILL: `wim sim`
 *    notices its parent is gone, stops its child and exits.
 * Processes are found and watched through /proc; a zombie counts as gone (it runs no more).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { ROOT, tempDir } from "../e2e/harness.js";

const GONE_WITHIN_MS = 5000;

/** State letter and parent pid of `pid`, or undefined if it no longer exists. */
function procStat(pid: number): { state: string; ppid: number; comm: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    const close = s.lastIndexOf(")");
    const [state, ppid] = s.slice(close + 2).split(" ");
    return { state, ppid: Number(ppid), comm: s.slice(s.indexOf("(") + 1, close) };
  } catch {
    return undefined;
  }
}

const running = (pid: number) => {
  const st = procStat(pid);
  return st !== undefined && st.state !== "Z" && st.state !== "X";
};

/** The children of `pid` named `comm`. */
function childrenNamed(pid: number, comm: string): number[] {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number)
    .filter((p) => { const st = procStat(p); return st?.ppid === pid && st.comm === comm; });
}

/** Waits until none of `pids` runs; returns the milliseconds it took, or throws after the bound. */
async function goneWithin(pids: number[], ms: number): Promise<number> {
  const start = Date.now();
  while (pids.some(running)) {
    if (Date.now() - start > ms) throw new Error(`still running after ${ms} ms: ${pids.filter(running).join(", ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

/** Resolves with the child once it printed the `ready` line on stdout. */
function untilReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => line.startsWith("ready ") && resolve());
    child.once("exit", (code) => reject(new Error(`exited (${code}) before ready`)));
  });
}

const WIM = path.join(ROOT, "pc/cli/wim.mjs");

describe("attack: orphans (finding 10)", function () {
  this.timeout(120_000);
  const leftovers: number[] = [];
  after(() => {
    for (const pid of leftovers) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
  });

  it("wim-sim exits when `wim sim` is killed with SIGKILL", async () => {
    const state = tempDir("orphan-sim");
    const wim = spawn(process.execPath, [WIM, "sim", "--state", state, "--socket", path.join(state, "agent.sock")], { stdio: ["ignore", "pipe", "inherit"] });
    await untilReady(wim);
    const sims = childrenNamed(wim.pid!, "wim-sim");
    assert.equal(sims.length, 1, "one simulator child");
    leftovers.push(...sims);
    wim.kill("SIGKILL");
    const ms = await goneWithin(sims, GONE_WITHIN_MS);
    console.log(`      wim-sim gone ${ms} ms after its parent's SIGKILL`);
  });

  it("`wim sim` and wim-sim exit when the process that started them is killed with SIGKILL", async () => {
    const state = tempDir("orphan-wrapper");
    // A wrapper that starts `wim sim` and waits for it, as npx does (the `; exit` keeps sh from exec'ing).
    const wrapper = spawn("/bin/sh", ["-c", `"$0" "$@"; exit $?`, process.execPath, WIM, "sim", "--state", state, "--socket", path.join(state, "agent.sock")],
      { stdio: ["ignore", "pipe", "inherit"] });
    await untilReady(wrapper);
    const [wim] = childrenNamed(wrapper.pid!, "node");
    assert.ok(wim, "`wim sim` runs under the wrapper");
    const sims = childrenNamed(wim, "wim-sim");
    assert.equal(sims.length, 1, "one simulator child");
    leftovers.push(wim, ...sims);
    wrapper.kill("SIGKILL");
    const ms = await goneWithin([wim, ...sims], GONE_WITHIN_MS);
    console.log(`      wim sim and wim-sim gone ${ms} ms after the wrapper's SIGKILL`);
  });
});
