/**
 * Where the agent listens and where the module looks, and which directories are safe for the
 * socket — the same rule as pc/pkcs11/trust.c, because the PIN crosses that socket in clear.
 */
import { lstatSync, mkdirSync, realpathSync, statSync } from "node:fs";
import path from "node:path";

/** The uid of this process (the socket, its directory and the module's peer check use it). */
export const myUid = (): number => process.getuid!();

/** The private directory of the last default: /tmp/wim-<uid>, mode 0700, made by the agent. */
export const privateSocketDir = (uid = myUid()): string => path.join("/tmp", `wim-${uid}`);

/** $WIM_AGENT_SOCKET, else $XDG_RUNTIME_DIR/wim-agent.sock, else /tmp/wim-<uid>/agent.sock. */
export function defaultSocketPath(): string {
  if (process.env.WIM_AGENT_SOCKET) return process.env.WIM_AGENT_SOCKET;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, "wim-agent.sock");
  return path.join(privateSocketDir(), "agent.sock");
}

/** A socket path that must not be used; the message says why. */
export class UnsafeSocketError extends Error {}

const trustedOwner = (uid: number) => uid === myUid() || uid === 0;
const WRITE_BY_OTHERS = 0o022;
const STICKY = 0o1000;

/**
 * Throws UnsafeSocketError unless `dir` (symbolic links resolved) and every directory above it
 * belong to this uid or root, `dir` itself is writable by no one else, and a directory further up
 * is writable by others only if sticky. Returns the resolved directory.
 */
export function checkSocketDir(dir: string): string {
  const real = realpathSync(dir);
  let walk = real;
  for (let own = true; ; own = false) {
    const st = statSync(walk);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    if (!st.isDirectory()) throw new UnsafeSocketError(`${walk} is not a directory`);
    if (!trustedOwner(st.uid)) throw new UnsafeSocketError(`directory ${walk} is owned by uid ${st.uid}, not ${myUid()} or root`);
    if (st.mode & WRITE_BY_OTHERS && (own || !(st.mode & STICKY)))
      throw new UnsafeSocketError(`directory ${walk} is writable by other users (mode ${mode})`);
    if (walk === "/") return real;
    walk = path.dirname(walk);
  }
}

/**
 * Makes the default private directory if `socketPath` is in it (mode 0700); a directory already
 * there must be a real directory of this uid with no access for others, or this throws.
 */
export function preparePrivateDir(socketPath: string): void {
  const dir = privateSocketDir();
  if (path.resolve(path.dirname(socketPath)) !== dir) return;
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new UnsafeSocketError(`${dir} is not a directory (someone else may have made it; remove it)`);
  if (st.uid !== myUid()) throw new UnsafeSocketError(`${dir} is owned by uid ${st.uid}, not ${myUid()} (someone else may have made it; remove it)`);
  if (st.mode & 0o077) throw new UnsafeSocketError(`${dir} has mode ${(st.mode & 0o7777).toString(8)}, not 0700`);
}
