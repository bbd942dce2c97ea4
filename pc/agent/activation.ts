/**
 * systemd socket activation (sd_listen_fds(3) semantics): when LISTEN_PID names this process and
 * LISTEN_FDS is 1, the listening socket is file descriptor 3, made and owned by systemd
 * (wim-agent.socket; docs/install.md). The agent then neither creates nor removes the socket, but it
 * checks it as strictly as one of its own, because the PIN crosses it: fd 3 must be a listening unix
 * stream socket bound at the path the module will use, that path a socket of this uid that no other
 * user may write (connecting needs write permission; the unit says SocketMode=0600) in a directory that passes the module's rule (paths.ts). Anything else
 * is refused with a message saying what was found. The variables are removed from the environment
 * once read (children never see them).
 */
import { fstatSync, lstatSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";
import { UnsafeSocketError, checkSocketDir, myUid } from "./paths.js";

/** The first passed descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** What systemd handed over, read once: the descriptor count, or undefined if not activated. */
let handed: number | undefined | null = null;

/** Reads LISTEN_PID / LISTEN_FDS once, then removes them (and LISTEN_FDNAMES) from the environment. */
function listenFds(): number | undefined {
  if (handed !== null) return handed;
  const pid = process.env.LISTEN_PID, fds = process.env.LISTEN_FDS;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  handed = pid !== undefined && fds !== undefined && Number(pid) === process.pid ? Number(fds) : undefined;
  return handed;
}

/** The kernel's view of a unix socket of this process: type, state, bound path (/proc/net/unix). */
function unixSocketOf(fd: number): { stream: boolean; listening: boolean; path: string } | undefined {
  const link = readlinkSync(`/proc/self/fd/${fd}`); // "socket:[INODE]"
  const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
  if (!inode) return undefined;
  // Num RefCount Protocol Flags Type St Inode [Path]; Flags 00010000 = accepting (listen), Type 0001 = stream
  for (const line of readFileSync("/proc/net/unix", "latin1").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[6] !== inode) continue;
    return { stream: f[4] === "0001", listening: (parseInt(f[3], 16) & 0x10000) !== 0, path: f.slice(7).join(" ") };
  }
  return undefined;
}

/**
 * The descriptor systemd passed for `socketPath`, after checking it (see above); undefined when this
 * process was not socket-activated. Throws UnsafeSocketError with the reason otherwise.
 */
export function activatedSocket(socketPath: string): number | undefined {
  const n = listenFds();
  if (n === undefined) return undefined;
  const refuse = (why: string): never => {
    throw new UnsafeSocketError(`refusing the socket systemd passed (fd ${LISTEN_FDS_START}): ${why}`);
  };
  if (!Number.isInteger(n) || n !== 1) refuse(`LISTEN_FDS is ${n}; expected exactly 1 (ListenStream= once in wim-agent.socket)`);
  let st;
  try {
    st = fstatSync(LISTEN_FDS_START);
  } catch (e) {
    return refuse(`${(e as Error).message}`);
  }
  if (!st.isSocket()) refuse("it is not a socket");
  const sock = unixSocketOf(LISTEN_FDS_START);
  if (!sock) refuse("it is not a unix socket");
  if (!sock!.stream) refuse("it is not a stream socket (ListenStream=)");
  if (!sock!.listening) refuse("it is not listening");
  const expected = realPathOf(path.resolve(socketPath));
  if (sock!.path.startsWith("@") || realPathOf(sock!.path) !== expected)
    refuse(`it is bound at ${sock!.path || "(no path)"}, but modules look for ${socketPath} (make WIM_AGENT_SOCKET, XDG_RUNTIME_DIR or --socket agree with ListenStream=)`);
  checkSocketDir(path.dirname(expected)); // throws UnsafeSocketError with the reason
  const file = lstatSync(expected);
  if (!file.isSocket()) refuse(`${expected} is not a socket`);
  if (file.uid !== myUid()) refuse(`${expected} is owned by uid ${file.uid}, not ${myUid()}`);
  if (file.mode & 0o022) refuse(`${expected} has mode ${(file.mode & 0o777).toString(8).padStart(4, "0")}: other users could connect (SocketMode=0600)`);
  return LISTEN_FDS_START;
}

/** `p` with its directory's symbolic links resolved (the socket itself is not followed). */
function realPathOf(p: string): string {
  try {
    return path.join(realpathSync(path.dirname(p)), path.basename(p));
  } catch {
    return p;
  }
}
