/**
 * Attacks on the agent's socket (issue 10, findings 1 and 2):
 *  - another local user binds the module's default path first (sticky /tmp) to receive C_Login's
 *    PIN: the module must send nothing and say why;
 *  - a socket in a directory others can write, a symbolic link, a socket served by another uid;
 *  - a second agent on a socket a live agent serves must refuse, and leave the first one working.
 * The other user is a throwaway account (useradd) when the suite runs as root; skipped otherwise.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, lchownSync, lstatSync, mkdtempSync, readdirSync, renameSync, rmdirSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { MODULE, ROOT, type SimToken, p11, startSim, tempDir } from "../e2e/harness.js";
import { attackerIds, squat, type Squatter } from "./local-user.js";

const UID = process.getuid!();
const OLD_DEFAULT = `/tmp/wim-agent-${UID}.sock`;
const NEW_DIR = `/tmp/wim-${UID}`;
const NEW_DEFAULT = path.join(NEW_DIR, "agent.sock");

/**
 * True if the victim's default directory is free for the attacker to take: absent, or an empty
 * leftover of an earlier agent of ours (removed here). A directory with a socket in it is in use.
 */
function defaultDirFree(): boolean {
  if (!existsSync(NEW_DIR)) return true;
  if (lstatSync(NEW_DIR).uid !== UID || readdirSync(NEW_DIR).length > 0) return false;
  rmdirSync(NEW_DIR);
  return true;
}

/** The environment of a victim that relies on the default path. */
function defaultEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.WIM_AGENT_SOCKET;
  delete env.XDG_RUNTIME_DIR;
  return env;
}

/** pkcs11-tool logging in with the PIN, as the victim; never throws. */
function victimLogin(env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile("pkcs11-tool", ["--module", MODULE, "--login", "--pin", "123456", "-O"], { env, timeout: 30_000 },
      (err, _stdout, stderr) => resolve({ code: err ? 1 : 0, stderr }));
  });
}

/** A listener of this uid that counts the bytes it is sent (and hangs up at the first). */
function ownListener(socketPath: string): Promise<{ bytes: () => number; close: () => void }> {
  let bytes = 0;
  const server = net.createServer((s) => {
    s.on("data", (d) => ((bytes += d.length), s.destroy()));
    s.on("error", () => undefined);
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve({ bytes: () => bytes, close: () => server.close() })));
}

/** Runs `wim ARGS` until it exits or prints its ready line (then stops it); never throws. */
function runWim(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; ready: boolean; stderr: string }> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let ready = false;
  child.stderr!.on("data", (d) => (stderr += d));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line.startsWith("ready ")) (ready = true), child.kill("SIGTERM");
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  return new Promise((resolve) => child.once("exit", (code) => (clearTimeout(timer), resolve({ code, ready, stderr }))));
}

describe("attack: squatting the agent socket (finding 1)", function () {
  this.timeout(180_000);
  let ids: { uid: number; gid: number } | undefined;
  let squatter: Squatter | undefined;

  before(function () {
    ids = attackerIds();
    if (!ids) this.skip(); // needs root to make a second user: "not root, socket squatting by another uid not tried"
  });
  afterEach(() => {
    squatter?.stop();
    squatter = undefined;
    for (const p of [OLD_DEFAULT, NEW_DIR])
      if (existsSync(p) && lstatSync(p).uid === ids!.uid) rmSync(p, { recursive: true, force: true });
  });

  it("another user listening on the default paths receives no byte of a login; the module says why", async function () {
    if (!defaultDirFree()) this.skip(); // the victim's own default directory is in use: nothing to squat
    if (existsSync(OLD_DEFAULT) && lstatSync(OLD_DEFAULT).uid === UID) unlinkSync(OLD_DEFAULT); // a stale one of ours
    squatter = await squat(ids!, [OLD_DEFAULT, NEW_DEFAULT]);
    assert.deepEqual(squatter.bound.sort(), [NEW_DEFAULT, OLD_DEFAULT].sort(), "the attacker holds both paths");
    const r = await victimLogin(defaultEnv());
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual([...squatter.received], [[OLD_DEFAULT, 0], [NEW_DEFAULT, 0]], "nothing, the PIN least of all, reached the attacker");
    assert.notEqual(r.code, 0, "no token, so no login");
    assert.match(r.stderr, new RegExp(`wim-pkcs11: refusing agent socket ${NEW_DEFAULT}: directory ${NEW_DIR} is owned by uid ${ids!.uid}, not ${UID} or root`));
  });

  it("the victim's own agent refuses the squatted default directory and says so", async function () {
    if (!defaultDirFree()) this.skip();
    squatter = await squat(ids!, [NEW_DEFAULT]);
    const r = await runWim(["sim", "--state", tempDir("squat-sim")], defaultEnv());
    assert.equal(r.ready, false, "it did not serve next to the attacker");
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`wim: ${NEW_DIR} is owned by uid ${ids!.uid}, not ${UID}`));
  });

  it("a socket of another uid's process is refused after connecting (SO_PEERCRED), before any byte", async () => {
    const theirs = path.join("/tmp", `wim-attacker-${process.pid}`, "peer.sock");
    squatter = await squat(ids!, [theirs]);
    const safe = tempDir("peer");
    const mine = path.join(safe, "agent.sock");
    renameSync(theirs, mine); // the file now looks like ours, in a directory only we can write
    lchownSync(mine, UID, process.getgid!());
    try {
      const r = await victimLogin({ ...defaultEnv(), WIM_AGENT_SOCKET: mine });
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(squatter.received.get(theirs), 0, "no byte to the other uid's listener");
      assert.match(r.stderr, new RegExp(`refusing agent socket ${mine}: the listening process \\(pid \\d+\\) runs as uid ${ids!.uid}, not ${UID}`));
      // what an application shows: the module's one slot, without a token, says the socket was refused
      const list = await new Promise<string>((res) => execFile("pkcs11-tool", ["--module", MODULE, "-L"],
        { env: { ...defaultEnv(), WIM_AGENT_SOCKET: mine }, timeout: 30_000 }, (_e, out) => res(out)));
      assert.match(list, /\(0x7fffffff\): WIM: agent socket refused \(the reason is on stderr\)\n\s+\(empty\)/, list);
      assert.equal(squatter.received.get(theirs), 0, "still no byte to the other uid's listener");
    } finally {
      rmSync(path.dirname(theirs), { recursive: true, force: true });
    }
  });
});

describe("attack: unsafe socket paths of one's own (finding 1)", function () {
  this.timeout(60_000);

  for (const mode of [0o777, 0o1777, 0o770]) {
    it(`a socket in a directory of mode ${mode.toString(8)} is refused`, async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "wim-open-"));
      chmodSync(dir, mode);
      const sock = path.join(dir, "agent.sock");
      const l = await ownListener(sock);
      try {
        const r = await victimLogin({ ...defaultEnv(), WIM_AGENT_SOCKET: sock });
        assert.equal(l.bytes(), 0);
        assert.match(r.stderr, new RegExp(`refusing agent socket ${sock}: directory ${dir} is writable by other users`));
      } finally {
        l.close();
      }
    });
  }

  it("a symbolic link to a good socket is refused", async () => {
    const dir = tempDir("link");
    const real = path.join(dir, "real.sock");
    const link = path.join(dir, "agent.sock");
    const l = await ownListener(real);
    symlinkSync(real, link);
    try {
      const r = await victimLogin({ ...defaultEnv(), WIM_AGENT_SOCKET: link });
      assert.equal(l.bytes(), 0);
      assert.match(r.stderr, new RegExp(`refusing agent socket ${link}: it is a symbolic link`));
    } finally {
      l.close();
    }
  });

  it("the agent's socket is private from the start (mode 0700 or stricter)", async () => {
    const state = tempDir("mode");
    const sim = await startSim(state);
    try {
      assert.equal(lstatSync(sim.socket).mode & 0o077, 0);
    } finally {
      await sim.stop();
    }
  });
});

describe("attack: a second agent on a live socket (finding 2)", function () {
  this.timeout(180_000);
  let first: SimToken | undefined;
  after(async () => first?.stop());

  it("refuses to start, says so, and the first agent keeps serving the socket", async () => {
    first = await startSim(tempDir("first"));
    const second = await runWim(["sim", "--state", tempDir("second"), "--socket", first.socket]);
    assert.equal(second.ready, false, "the second agent did not take the socket over");
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`wim: another agent is serving ${first.socket}`));
    assert.ok(existsSync(first.socket), "the socket is still there after the second one exited");
    const r = await p11(first.socket, "-L");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /token label\s+: WIM/);
  });

  it("replaces a stale socket (nobody listening) and serves", async () => {
    const state = tempDir("stale");
    const sock = path.join(state, "agent.sock");
    // A socket file whose listener died without removing it.
    await new Promise<void>((resolve) => {
      const p = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, "SIGKILL"))`]);
      p.once("exit", () => resolve());
    });
    assert.ok(lstatSync(sock).isSocket());
    const sim = await startSim(state);
    try {
      const r = await p11(sim.socket, "-L");
      assert.match(r.stdout, /token label\s+: WIM/);
    } finally {
      await sim.stop();
    }
    assert.equal(existsSync(sock), false, "removed at exit: it was this agent's own");
  });
});
