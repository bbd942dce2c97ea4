/**
 * The agent started by socket activation, and what the module says when it finds no agent:
 *  - systemd-socket-activate (systemd's own tool, the same LISTEN_FDS/LISTEN_PID handover as
 *    wim-agent.socket) holds the socket; the first connection from the module (pkcs11-tool -L) starts
 *    `wim agent --device PTY`, which serves that socket (pc/agent/activation.ts) and sees the token;
 *    stopped, the agent leaves systemd's socket in place;
 *  - an activated socket the agent must refuse (other users may connect to it; bound where modules do
 *    not look): the agent says why and exits, and the module's slot says the agent hung up;
 *  - no agent, a stale socket, a refused socket: one slot without a token saying why (offline.c),
 *    and WIM_PKCS11_DEBUG=1's line on stderr.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { MODULE, ROOT, type SimToken, hostStateDir, startSim, tempDir } from "./harness.js";
import { exec, have, show } from "./clients.js";

const ACTIVATE = "/usr/bin/systemd-socket-activate";

/** pkcs11-tool -L with the module finding its agent by XDG_RUNTIME_DIR alone. */
const listSlots = (runtimeDir: string, extra: Record<string, string> = {}) =>
  exec("pkcs11-tool", ["--module", MODULE, "-L"], { env: { WIM_AGENT_SOCKET: undefined, XDG_RUNTIME_DIR: runtimeDir, ...extra }, timeoutMs: 60_000 });

/** A socket-activated `wim agent` waiting on `socket`: its output so far, and a stop. */
interface Activated {
  output: () => string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/** systemd-socket-activate on `socket` (and `more` sockets) running `wim agent ARGS` with `env`, once it listens. */
async function activate(socket: string, env: Record<string, string>, args: string[], more: string[] = []): Promise<Activated> {
  const passed = Object.keys(env).flatMap((k) => ["-E", k]);
  const child = spawn(ACTIVATE, ["-l", socket, ...more.flatMap((m) => ["-l", m]), ...passed, "--", process.execPath, path.join(ROOT, "pc/cli/wim.mjs"), "agent", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  for (let i = 0; i < 100 && !out.includes("Listening on"); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(out, /Listening on/, out);
  return {
    output: () => out,
    child,
    stop: () => new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once("exit", () => done());
      child.kill("SIGTERM");
    }),
  };
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once("exit", (code) => r(code))));

describe("socket activation: the agent started by the module's first connection", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let dir: string;
  let agent: Activated | undefined;

  before(async function () {
    if (!existsSync(ACTIVATE)) {
      console.log(`      ${ACTIVATE} is missing (package systemd): skipped`);
      this.skip();
    }
    const state = tempDir("activation");
    sim = await startSim(state, ["--no-agent"]);
    dir = path.join(state, "run");
    mkdirSync(dir, { mode: 0o700 });
  });
  after(async () => {
    await agent?.stop();
    await sim?.stop();
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    rmSync(path.join(dir, "wim-agent.sock"), { force: true });
  });

  const env = () => ({ XDG_RUNTIME_DIR: dir, WIM_STATE_DIR: hostStateDir(sim.state) });

  it("pkcs11-tool -L starts the agent and sees the token; stopped, the agent leaves systemd's socket", async () => {
    const socket = path.join(dir, "wim-agent.sock");
    agent = await activate(socket, env(), ["--device", sim.pty]);
    assert.doesNotMatch(agent.output(), /Execing/, "no agent before a client connects");
    const r = await listSlots(dir);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /Slot 0 \(0x[0-9a-f]+\): WIM token \S+[^\n]*\n\s+token label\s+: WIM/, show(r));
    assert.match(agent.output(), /Execing/);
    assert.match(agent.output(), new RegExp(`ready module=\\S+ socket=${socket} device=${sim.pty}`));
    const before = lstatSync(socket);
    assert.ok(before.isSocket());
    agent.child.kill("SIGTERM");
    await exited(agent.child);
    const after = lstatSync(socket);
    assert.ok(after.isSocket() && after.ino === before.ino, "the socket systemd made is still there");
  });

  it("a socket other users could connect to is refused, and the module's slot says the agent hung up", async () => {
    const socket = path.join(dir, "wim-agent.sock");
    agent = await activate(socket, env(), ["--device", sim.pty]);
    chmodSync(socket, 0o666); // as SocketMode=0666 would make it
    const r = await listSlots(dir);
    assert.match(r.stdout, /\(0x7fffffff\): WIM: (agent hung up \(journalctl --user -u wim-agent\)|no agent listening \(stale socket; start wim agent\))\n\s+\(empty\)/, show(r));
    assert.equal(await exited(agent.child), 1);
    assert.match(agent.output(), new RegExp(`wim: refusing the socket systemd passed \\(fd 3\\): ${socket} has mode 0666: other users could connect \\(SocketMode=0600\\)`));
  });

  it("two sockets passed (LISTEN_FDS=2) are refused", async () => {
    const socket = path.join(dir, "wim-agent.sock");
    agent = await activate(socket, env(), ["--device", sim.pty], [path.join(dir, "second.sock")]);
    const r = await listSlots(dir);
    assert.match(r.stdout, /\(0x7fffffff\): WIM: (agent hung up|no agent listening)/, show(r));
    assert.equal(await exited(agent.child), 1);
    assert.match(agent.output(), /wim: refusing the socket systemd passed \(fd 3\): LISTEN_FDS is 2; expected exactly 1/);
    rmSync(path.join(dir, "second.sock"), { force: true });
  });

  it("a socket bound where modules do not look is refused", async () => {
    const socket = path.join(dir, "wim-agent.sock");
    agent = await activate(socket, env(), ["--device", sim.pty, "--socket", path.join(dir, "elsewhere.sock")]);
    const r = await listSlots(dir, { WIM_PKCS11_DEBUG: "1" });
    assert.match(r.stderr, new RegExp(`wim-pkcs11: no agent at ${socket}: the agent closed the connection before hello`), show(r));
    assert.match(r.stdout, /WIM: agent hung up \(journalctl --user -u wim-agent\)|WIM: no agent listening/, show(r));
    assert.equal(await exited(agent.child), 1);
    assert.match(agent.output(), new RegExp(`refusing the socket systemd passed \\(fd 3\\): it is bound at ${socket}, but modules look for ${path.join(dir, "elsewhere.sock")}`));
  });
});

describe("the shipped service's own command: activated, it watches and serves a paired device plugged in later", function () {
  this.timeout(120_000);
  let sim: SimToken | undefined;
  let agent: Activated | undefined;

  after(async () => {
    await agent?.stop();
    await sim?.stop();
  });

  it("wim-agent.service's ExecStart under systemd-socket-activate: no token, then the paired device's token when its port appears", async function () {
    if (!existsSync(ACTIVATE)) this.skip();
    // the command the unit runs (pc/systemd/wim-agent.service), with the installed wim's path left out
    const unit = readFileSync(path.join(ROOT, "pc/systemd/wim-agent.service"), "utf8");
    const exec = /^ExecStart=@BINDIR@\/wim(( \S+)*)$/m.exec(unit);
    assert.ok(exec, "ExecStart runs the installed wim");
    const args = exec[1].trim().split(" ");
    assert.deepEqual(args, ["agent"], "watch mode: no port named, only paired devices");
    const state = tempDir("activation-watch");
    const dir = path.join(state, "run");
    mkdirSync(dir, { mode: 0o700 });
    const link = path.join(state, "wim-port");
    const socket = path.join(dir, "wim-agent.sock");
    agent = await activate(socket, { XDG_RUNTIME_DIR: dir, WIM_STATE_DIR: hostStateDir(state), WIM_WATCH: link }, args.slice(1));
    const before = await listSlots(dir);
    assert.match(agent.output(), /Execing/, "the first application started the agent");
    assert.match(before.stdout + before.stderr, /No slots/, show(before)); // an agent with no device yet: no slot
    // plugged in: a simulator paired with this host (its keys in WIM_STATE_DIR) whose port appears at the link
    sim = await startSim(state, ["--no-agent", "--pair", "--link", link]);
    let r = before;
    for (const end = Date.now() + 20_000; !/token label\s+: WIM/.test(r.stdout) && Date.now() < end; await new Promise((d) => setTimeout(d, 200))) {
      r = await listSlots(dir);
    }
    assert.match(r.stdout, /token label\s+: WIM/, show(r) + agent.output());
    assert.match(agent.output(), / attached .* \(secure link\)$/m, agent.output());
  });
});

describe("no agent: one slot without a token that says why", function () {
  this.timeout(60_000);

  before(async function () {
    if (!(await have("pkcs11-tool"))) this.skip();
  });

  it("nothing at the socket path: start the socket unit; WIM_PKCS11_DEBUG=1 names the path", async () => {
    const dir = tempDir("noagent");
    const r = await listSlots(dir, { WIM_PKCS11_DEBUG: "1" });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^Slot 0 \(0x7fffffff\): WIM: no agent \(systemctl --user start wim-agent\.socket\)\n\s+\(empty\)$/m, show(r));
    assert.match(r.stderr, new RegExp(`^wim-pkcs11: no agent at ${dir}/wim-agent.sock: no such socket$`, "m"));
    const quiet = await listSlots(dir);
    assert.equal(quiet.stderr, "", "nothing on stderr without WIM_PKCS11_DEBUG");
    const o = await exec("pkcs11-tool", ["--module", MODULE, "-O"], { env: { WIM_AGENT_SOCKET: undefined, XDG_RUNTIME_DIR: dir } });
    assert.notEqual(o.code, 0, "no token to use");
    rmSync(dir, { recursive: true, force: true });
  });

  it("a socket in a directory others may write: refused, said once on stderr, and in the slot", async () => {
    const dir = tempDir("refused");
    chmodSync(dir, 0o777);
    const r = await listSlots(dir);
    // no socket there at all: the directory is refused before the socket is looked for
    assert.match(r.stdout, /\(0x7fffffff\): WIM: agent socket refused \(the reason is on stderr\)\n\s+\(empty\)/, show(r));
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("wim-pkcs11: refusing"));
    assert.deepEqual(lines, [`wim-pkcs11: refusing agent socket ${dir}/wim-agent.sock: directory ${dir} is writable by other users (mode 0777)`]);
    rmSync(dir, { recursive: true, force: true });
  });
});
