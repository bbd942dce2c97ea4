/**
 * Hot-plug and several devices (docs/agent.md): a watching `wim agent` (its ports: $WIM_WATCH or
 * --watch, a directory of PTY symlinks), simulated devices that come and go (`wim sim --no-agent
 * --link PATH`: a restarted simulator has a new /dev/pts number behind the same link), a long-lived
 * C application through the real module (test/e2e/hotplug.c), pkcs11-tool and p11tool.
 * - two devices: two slots whose IDs are their serials' hashes, a signature on each;
 * - one unplugged under an open session: CKR_DEVICE_REMOVED, no token in its slot, the other device
 *   signs on, C_WaitForSlotEvent reports the slot; replugged: the same slot, a new session signs,
 *   neither the application nor the agent restarted;
 * - a paired device reattaches through the secure link; a local process posing as it (a PTY that
 *   answers the identification, not the handshake) gets no slot and no PIN, and one posing as an
 *   unpaired WIM is asked the identification only (test/e2e/fakeport.c; docs/security.md).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { lstatSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { MODULE, ROOT, type SimToken, p11, run, startSim, tempDir } from "./harness.js";
import { expectedSlot, serialOf, signInSlot, sleep, tokens, until } from "./slots.js";

const PIN = "123456";
const CKR_OK = "0x0", NO_EVENT = "0x8", DEVICE_REMOVED = "0x32", SESSION_HANDLE_INVALID = "0xb3", TOKEN_NOT_PRESENT = "0xe0";


function compile(name: string): Promise<string> {
  const exe = path.join(tempDir(`hotplug-${name}`), name);
  return new Promise((resolve, reject) => execFile("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", `-I${path.join(ROOT, "pc/pkcs11")}`, "-o", exe,
    path.join(ROOT, `test/e2e/${name}.c`), "-ldl", "-lpthread"], (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve(exe))));
}

/** A running `wim agent` in watch mode; its standard error with the time of each line. */
interface WatchAgent {
  socket: string;
  log: { at: number; line: string }[];
  stop(): Promise<void>;
}

function startWatchAgent(socket: string, stateDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<WatchAgent> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), "agent", "--socket", socket, ...args], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WIM_STATE_DIR: stateDir, ...env },
  });
  const log: WatchAgent["log"] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => log.push({ at: Date.now(), line }));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (/^ready module=\S+ socket=\S+ watch$/.test(line)) resolve({
        socket, log,
        stop: () => new Promise<void>((done) => {
          if (child.exitCode !== null) return done();
          child.once("exit", () => done());
          child.kill("SIGTERM");
        }),
      });
    });
    child.once("exit", (code) => reject(new Error(`wim agent exited with ${code}:\n${log.map((l) => l.line).join("\n")}`)));
  });
}

/** The C application: one command a line, one answer a line. */
class App {
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (l) => {
      this.lines.push(l);
      this.wake?.();
    });
  }
  static start(exe: string, socket: string): App {
    return new App(spawn(exe, [MODULE], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, WIM_AGENT_SOCKET: socket } }));
  }
  send(command: string): void {
    this.child.stdin!.write(command + "\n");
  }
  async next(ms = 30_000): Promise<string> {
    const end = Date.now() + ms;
    while (this.lines.length === 0) {
      if (Date.now() > end) throw new Error("the application did not answer");
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.wake = () => (clearTimeout(t), r());
      });
    }
    return this.lines.shift()!;
  }
  async ask(command: string): Promise<string> {
    this.send(command);
    return this.next();
  }
  /** "rv 0x.. name value" → [rv, value]. */
  async rv(command: string): Promise<[string, string]> {
    const m = /^rv (0x[0-9a-f]+)(?: \S+ (\S+))?/.exec(await this.ask(command));
    assert.ok(m, `no rv from ${command}`);
    return [m[1], m[2] ?? ""];
  }
  /** Slot ID → token present. */
  async slots(): Promise<Map<number, boolean>> {
    const line = await this.ask("slots");
    return new Map(line.split(" ").slice(1).map((s) => s.split(":")).map(([id, p]) => [Number(id), p === "1"]));
  }
  stop(): void {
    this.child.kill("SIGTERM");
  }
}

describe("hot-plug: a watching agent, two devices, unplug and replug under a running application", function () {
  this.timeout(240_000);
  const dir = tempDir("hotplug");
  const socket = path.join(dir, "agent.sock");
  const links = [path.join(dir, "wim-a"), path.join(dir, "wim-b")];
  const states = [tempDir("hotplug-a"), tempDir("hotplug-b")];
  const sims: (SimToken | undefined)[] = [];
  let agent: WatchAgent | undefined;
  let app: App | undefined;
  let appExe: string;
  const slotOf = new Map<string, number>();
  const serials: string[] = [];

  before(async () => {
    [appExe] = await Promise.all([compile("hotplug"),
      ...states.map(async (s, i) => (sims[i] = await startSim(s, ["--no-agent", "--link", links[i]])))]);
    // the ports come from $WIM_WATCH (the default ports are watched too; unpaired devices need the option)
    agent = await startWatchAgent(socket, path.join(dir, "host"), ["--allow-unpaired"], { WIM_WATCH: path.join(dir, "wim-*") });
  });
  after(async () => {
    app?.stop();
    await agent?.stop();
    for (const s of sims) await s?.stop();
  });

  it("finds both devices: two slots, IDs from their serials, a signature on each", async () => {
    const found = await until("two tokens", async () => {
      const t = await tokens(socket);
      return t.size === 2 ? t : undefined;
    });
    assert.deepEqual([...found.values()].sort(), states.map(serialOf).sort(), "the two simulators' serials");
    for (const [id, serial] of found) {
      assert.equal(id, expectedSlot(serial), `slot ID of ${serial}`);
      slotOf.set(serial, id);
      serials.push(serial);
    }
    assert.notEqual(serials[0], serials[1]);
    const p11tool = await run("p11tool", ["--provider", MODULE, "--list-tokens"], socket);
    assert.equal(p11tool.code, 0, p11tool.stderr);
    for (const s of serials) assert.match(p11tool.stdout, new RegExp(`serial=${s}`), p11tool.stdout);
    for (const id of slotOf.values()) await signInSlot(socket, id, dir, "hotplug");
  });

  it("the wim command line with two tokens: info lists both, a verb without a choice refuses and lists them, --serial and --slot pick one", async () => {
    const wim = (...args: string[]) => run(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), "--socket", socket, ...args], socket);
    const info = await wim("info", "--json");
    assert.equal(info.code, 0, info.stderr);
    const listed = JSON.parse(info.stdout).slots as { slot: number; token: { serial: string } | null }[];
    assert.deepEqual(listed.filter((s) => s.token).map((s) => [s.slot, s.token!.serial]).sort(),
      serials.map((s) => [slotOf.get(s), s]).sort());
    const unchosen = await wim("keys", "list");
    assert.equal(unchosen.code, 2, unchosen.stdout + unchosen.stderr);
    assert.match(unchosen.stderr, /2 tokens: choose one with --serial/);
    for (const s of serials) assert.match(unchosen.stderr, new RegExp(s));
    // the key made on each token above, found through the token named by serial or by slot
    for (const [i, s] of serials.entries()) {
      const chosen = await wim(...(i === 0 ? ["--serial", s] : ["--slot", String(slotOf.get(s))]), "keys", "list", "--json");
      assert.equal(chosen.code, 0, chosen.stderr);
      assert.match(chosen.stdout, /"hotplug"/, chosen.stdout);
      const other = await wim("--serial", s, "pin", "retries", "--json");
      assert.equal(other.code, 0, other.stderr);
      assert.equal(JSON.parse(other.stdout).serial, s);
    }
    const nobody = await wim("--serial", "NO-SUCH-SERIAL", "keys", "list");
    assert.notEqual(nobody.code, 0);
    assert.match(nobody.stderr, /NO-SUCH-SERIAL/);
  });

  it("an unplugged device: its sessions fail with CKR_DEVICE_REMOVED, its slot has no token, the event is reported; the other signs on", async () => {
    app = App.start(appExe, socket);
    const b = slotOf.get(serialOf(states[1]))!, a = slotOf.get(serialOf(states[0]))!;
    const [rvOpen, h] = await app.rv(`open ${b}`);
    assert.equal(rvOpen, CKR_OK);
    assert.equal((await app.rv(`login ${h} ${PIN}`))[0], CKR_OK);
    assert.equal((await app.rv(`sign ${h}`))[0], CKR_OK);
    assert.equal((await app.rv("poll"))[0], NO_EVENT, "no event since the application started");

    await sims[1]!.stop(); // the simulator behind link b goes away: its PTY closes
    const [rvWait, slot] = await app.rv("wait");
    assert.deepEqual([rvWait, Number(slot)], [CKR_OK, b], "C_WaitForSlotEvent reports the slot");
    assert.equal((await app.rv(`sign ${h}`))[0], DEVICE_REMOVED);
    assert.equal((await app.rv(`token ${b}`))[0], TOKEN_NOT_PRESENT);
    assert.equal((await app.rv(`open ${b}`))[0], TOKEN_NOT_PRESENT);
    const slots = await app.slots();
    assert.deepEqual([slots.get(a), slots.get(b), slots.size], [true, false, 2], "both slots listed, b without its token");
    assert.deepEqual([...(await tokens(socket)).keys()], [a], "pkcs11-tool -L: one token");
    assert.equal((await app.rv(`close ${h}`))[0], CKR_OK);
    assert.equal((await app.rv(`sign ${h}`))[0], SESSION_HANDLE_INVALID, "closed: the handle is gone");
    // the other device is untouched
    const [rvA, hA] = await app.rv(`open ${a}`);
    assert.equal(rvA, CKR_OK);
    assert.equal((await app.rv(`login ${hA} ${PIN}`))[0], CKR_OK);
    assert.equal((await app.rv(`sign ${hA}`))[0], CKR_OK);
  });

  it("replugged on a new PTY: the same slot has its token back and the running application signs in a new session", async () => {
    const b = slotOf.get(serialOf(states[1]))!;
    app!.send("wait"); // blocks until the device is back
    const oldPty = sims[1]!.pty;
    sims[1] = await startSim(states[1], ["--no-agent", "--link", links[1]]);
    const answer = await app!.next(30_000);
    const latency = Date.now() - lstatSync(links[1]).mtimeMs; // from the symlink's creation (the "plug")
    assert.match(answer, new RegExp(`^rv 0x0 slot ${b}$`));
    console.log(`      replug: slot back ${Math.round(latency)} ms after the link appeared (${oldPty} -> ${sims[1]!.pty})`);
    const [rv, h] = await app!.rv(`open ${b}`);
    assert.equal(rv, CKR_OK);
    assert.equal((await app!.rv(`login ${h} ${PIN}`))[0], CKR_OK);
    assert.equal((await app!.rv(`sign ${h}`))[0], CKR_OK);
    const t = await tokens(socket);
    assert.deepEqual([...t.keys()].sort(), [...slotOf.values()].sort(), "both slots, the same IDs");
  });

  it("C_Finalize ends a blocked C_WaitForSlotEvent with CKR_CRYPTOKI_NOT_INITIALIZED", async () => {
    assert.equal(await app!.ask("finalize-wait"), "rv 0x190");
  });
});

describe("watch mode and pairing: a paired device reattaches through the secure link; a port posing as a WIM gets nothing", function () {
  this.timeout(240_000);
  const dir = tempDir("hotplug-paired");
  const socket = path.join(dir, "agent.sock");
  const link = path.join(dir, "wim-c");
  const state = tempDir("hotplug-c");
  const host = path.join(state, "host"); // the host keys `wim sim --pair` saved (harness: WIM_STATE_DIR)
  let sim: SimToken | undefined;
  let agent: WatchAgent | undefined;
  const fakes: ChildProcess[] = [];
  let fakeExe: string;
  let slot: number;

  /** Starts test/e2e/fakeport.c on `file` claiming `serial`; its received lines go to the returned log. */
  async function fake(file: string, serial: string): Promise<string> {
    const log = path.join(dir, `${path.basename(file)}.log`);
    writeFileSync(log, "");
    const child = spawn(fakeExe, [file, serial, log], { stdio: ["ignore", "pipe", "inherit"] });
    fakes.push(child);
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", () => resolve());
      child.once("exit", (code) => reject(new Error(`fakeport exited with ${code}`)));
    });
    return log;
  }

  const attachedLines = () => agent!.log.filter((l) => / attached .* \(secure link\)$/.test(l.line)).length;

  before(async () => {
    [fakeExe, sim] = await Promise.all([compile("fakeport"), startSim(state, ["--no-agent", "--pair", "--link", link])]);
    // no --allow-unpaired: only devices paired with this host are attached; the ports from --watch
    agent = await startWatchAgent(socket, host, ["--watch", path.join(dir, "wim-*")]);
  });
  after(async () => {
    for (const f of fakes) f.kill("SIGTERM");
    await agent?.stop();
    await sim?.stop();
  });

  it("the paired device is attached through the secure link, and again after a replug", async () => {
    const serial = serialOf(state);
    slot = expectedSlot(serial);
    await until("the paired token", async () => ((await tokens(socket)).get(slot) === serial ? true : undefined));
    assert.equal(attachedLines(), 1, agent!.log.map((l) => l.line).join("\n"));
    await signInSlot(socket, slot, dir, "hotplug");
    await sim!.stop();
    await until("the slot without its token", async () => ((await tokens(socket)).has(slot) ? undefined : true));
    sim = await startSim(state, ["--no-agent", "--link", link]);
    await until("the token back", async () => ((await tokens(socket)).get(slot) === serial ? true : undefined));
    assert.equal(attachedLines(), 2, "reattached through a new handshake");
    await signInSlot(socket, slot, dir, "hotplug");
  });

  it("a port posing as the paired device (its serial, no device key) fails the handshake: no token, no PIN sent", async () => {
    const serial = serialOf(state);
    await sim!.stop();
    await until("the slot without its token", async () => ((await tokens(socket)).has(slot) ? undefined : true));
    const seen = agent!.log.length;
    const log = await fake(link, serial);
    await until("the agent's refusal", () => agent!.log.slice(seen).some((l) => l.line.includes(link) && /handshake/.test(l.line)) || undefined);
    assert.equal((await tokens(socket)).has(slot), false, "no token in the device's slot");
    const login = await p11(socket, "--slot", String(slot), "--login", "--pin", PIN, "-O");
    assert.notEqual(login.code, 0, "no login on an absent token");
    const received = readFileSync(log, "latin1");
    assert.match(received, /^AT\+GCAP$/m);
    assert.match(received, /AT\+PKCSHS=/, "the agent asked for the handshake");
    assert.doesNotMatch(received, /PKCSLOGIN|PKCSOPEN|PKCSSIGN|123456/, received);
  });

  it("a port posing as an unpaired WIM is asked the identification only, and left alone", async () => {
    const file = path.join(dir, "wim-x");
    const log = await fake(file, "SIM0000000F4CE");
    await until("the agent's notice", () => agent!.log.some((l) => l.line.includes(file) && /not paired with this host/.test(l.line)) || undefined);
    await sleep(2_500); // two more scans: the port is not asked again while it is unchanged
    assert.deepEqual(readFileSync(log, "latin1").trim().split("\n"), ["AT+GCAP", "AT+GSN"]);
    assert.equal((await tokens(socket)).size, 0);
  });
});
