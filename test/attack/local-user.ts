/**
 * Another local user for the attack suite: a throwaway system account (made with useradd when the
 * suite runs as root) and a listener it runs on a socket path, which reports every byte it is sent.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** The account's name; made once, kept (it has no home and no login shell). */
export const ATTACKER = "wimattacker";

/**
 * The uid and gid of a throwaway system account (no home, no login shell), made with useradd the
 * first time; kept. Only root can make one.
 */
export function systemAccount(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
  try {
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    execFileSync("useradd", ["-M", "-r", "-s", "/usr/sbin/nologin", name], { stdio: "ignore" });
    return { uid: id("-u"), gid: id("-g") };
  }
}

/** The attacker's uid and gid, making the account if needed; undefined unless running as root. */
export function attackerIds(): { uid: number; gid: number } | undefined {
  return process.getuid!() === 0 ? systemAccount(ATTACKER) : undefined;
}

/** A listener run by another uid: counts what each path receives. */
export interface Squatter {
  /** Bytes received on each path so far. */
  readonly received: Map<string, number>;
  /** The paths it could bind (others existed already or were not writable for it). */
  readonly bound: string[];
  stop(): void;
}

// Runs as the attacker: makes the directory of each path if missing (mode 0755, or `dirMode`),
// binds each path world-connectable, reports "bound PATH" / "skip PATH why" / "data PATH N".
const LISTENER = `
const fs = require("node:fs"), net = require("node:net"), path = require("node:path");
const [dirMode, ...paths] = process.argv.slice(1);
let left = paths.length;
const done = () => { if (--left === 0) console.log("ready"); };
for (const p of paths) {
  try { fs.mkdirSync(path.dirname(p), { mode: parseInt(dirMode, 8) }); fs.chmodSync(path.dirname(p), parseInt(dirMode, 8)); } catch {}
  const server = net.createServer((s) => {
    s.on("data", (d) => { console.log("data " + p + " " + d.length); s.destroy(); });
    s.on("error", () => {});
  });
  server.once("error", (e) => { console.log("skip " + p + " " + e.code); done(); });
  server.listen(p, () => { fs.chmodSync(p, 0o777); console.log("bound " + p); done(); });
}
`;

/** Starts the attacker's listener on `paths`; resolves once every path was bound or skipped. */
export function squat(ids: { uid: number; gid: number }, paths: string[], dirMode = "0755"): Promise<Squatter> {
  const child: ChildProcess = spawn(process.execPath, ["-e", LISTENER, dirMode, ...paths], {
    uid: ids.uid, gid: ids.gid, cwd: "/", stdio: ["ignore", "pipe", "inherit"],
  });
  const received = new Map<string, number>(paths.map((p) => [p, 0]));
  const bound: string[] = [];
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const [what, p, n] = line.split(" ");
      if (what === "bound") bound.push(p);
      else if (what === "data") received.set(p, received.get(p)! + Number(n));
      else if (what === "ready") resolve({ received, bound, stop: () => child.kill("SIGKILL") });
    });
    child.once("exit", (code) => reject(new Error(`the attacker's listener exited (${code})`)));
  });
}
