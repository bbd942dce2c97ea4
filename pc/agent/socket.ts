/**
 * Claiming and releasing the agent's socket path. One path, one agent:
 *  - the directory must be safe (paths.ts, the module's rule), the default private one is made 0700;
 *  - an existing socket is probed: if an agent answers, this one refuses to start (AgentRunningError);
 *    only a stale socket (connection refused: nobody listens) of this uid is removed;
 *  - anything else at the path (a file, a symbolic link, another uid's socket) is left alone and
 *    refused (UnsafeSocketError);
 *  - at exit an agent removes the path only if it still is the socket it bound (same device and inode).
 * No lock file: two agents started in the same instant on a stale socket can both remove it; the
 * second bind then fails with EADDRINUSE, which is refused the same way.
 */
import { lstatSync, unlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { activatedSocket } from "./activation.js";
import { UnsafeSocketError, checkSocketDir, myUid, preparePrivateDir } from "./paths.js";

/** Another agent answers on the path. */
export class AgentRunningError extends Error {}

/** What a connection attempt to an existing socket found. */
type Probe = "live" | "stale" | "gone";

const PROBE_TIMEOUT_MS = 2000;

/** Connects to `socketPath` once: live (accepted, or too busy to accept), stale (refused) or gone. */
function probe(socketPath: string): Promise<Probe> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const done = (p: Probe) => (clearTimeout(timer), s.destroy(), resolve(p));
    const timer = setTimeout(() => done("live"), PROBE_TIMEOUT_MS);
    s.once("connect", () => done("live"));
    s.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "stale" : e.code === "ENOENT" ? "gone" : "live"));
  });
}

/**
 * Makes `socketPath` ready to bind, or throws UnsafeSocketError / AgentRunningError with a
 * message for the user. Removes only a stale socket of this uid. A socket systemd passed for the
 * path (activation.ts) needs no claim: it is checked instead, and never removed.
 */
export async function claimSocket(socketPath: string): Promise<void> {
  if (activatedSocket(socketPath) !== undefined) return; // systemd's socket, checked; nothing to claim
  preparePrivateDir(socketPath);
  checkSocketDir(path.dirname(path.resolve(socketPath)));
  let st;
  try {
    st = lstatSync(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (st.isSymbolicLink()) throw new UnsafeSocketError(`${socketPath} is a symbolic link; not replacing it`);
  if (!st.isSocket()) throw new UnsafeSocketError(`${socketPath} exists and is not a socket; not replacing it`);
  if (st.uid !== myUid()) throw new UnsafeSocketError(`${socketPath} is owned by uid ${st.uid}, not ${myUid()}; not replacing it`);
  const found = await probe(socketPath);
  if (found === "live") throw new AgentRunningError(`another agent is serving ${socketPath}`);
  if (found === "stale") {
    try {
      unlinkSync(socketPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
}

/** The identity of the socket an agent bound, to remove it at exit only if it is still that one. */
export interface BoundSocket {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

/** Notes which socket now sits at `socketPath` (call once listening). */
export function boundSocket(socketPath: string): BoundSocket {
  const st = lstatSync(socketPath);
  return { path: socketPath, dev: st.dev, ino: st.ino };
}

/** Removes the socket if the path still names the one this agent bound; true if it did. */
export function releaseSocket(bound: BoundSocket): boolean {
  try {
    const st = lstatSync(bound.path);
    if (st.dev !== bound.dev || st.ino !== bound.ino) return false;
    unlinkSync(bound.path);
    return true;
  } catch {
    return false;
  }
}
