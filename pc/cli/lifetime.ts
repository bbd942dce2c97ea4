/**
 * How long a `wim` process lives: it stops when asked (SIGINT, SIGTERM, SIGHUP) and when the
 * process that started it goes away (its parent changes: npx or a test runner killed, even with
 * SIGKILL), so that no agent or simulator is left behind. `--background` (make run) keeps only
 * the signals. The simulator child itself dies with its parent (sim/main.c, PR_SET_PDEATHSIG).
 */
import { readFileSync } from "node:fs";

const PARENT_POLL_MS = 250;

/** This process's parent pid as the kernel sees it now (Node's process.ppid is read once). */
export function currentParent(): number {
  const stat = readFileSync("/proc/self/stat", "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/**
 * Calls `stop(reason)` once on SIGINT, SIGTERM or SIGHUP, and — unless `background` — when the
 * parent process is gone (checked every 250 ms).
 */
export function stopWith(stop: (reason: string) => void, background: boolean): void {
  let stopping = false;
  const once = (reason: string) => {
    if (stopping) return;
    stopping = true;
    stop(reason);
  };
  process.on("SIGINT", () => once("SIGINT"));
  process.on("SIGTERM", () => once("SIGTERM"));
  if (background) return; // nohup's SIGHUP stays ignored
  process.on("SIGHUP", () => once("SIGHUP"));
  const parent = currentParent();
  const timer = setInterval(() => {
    if (currentParent() !== parent) once(`the process that started it (pid ${parent}) is gone`);
  }, PARENT_POLL_MS);
  timer.unref();
}
