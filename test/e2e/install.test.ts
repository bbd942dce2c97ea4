/**
 * `make install` / `make uninstall` (mk/install.mk, docs/install.md), as a user would meet them:
 *  - the user-level install into a fresh HOME, then, with nothing else set up (no --provider, no
 *    WIM_AGENT_SOCKET, no --module of ours): p11-kit lists the module, p11tool and pkcs11-tool through
 *    p11-kit-proxy see the token of the installed `wim sim`, an RFC 7512 URI with the token's serial
 *    selects it, the installed `wim` runs from the install, the units pass `systemd-analyze verify`,
 *    and uninstall leaves the prefix as it was;
 *  - the system layout into a DESTDIR (PREFIX=/usr/local and /usr): which file goes where.
 * p11-kit ignores the user's configuration in a process running as root, so as root the user part
 * runs as a throwaway account (made with useradd, like the attack suite's); otherwise as oneself.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { ROOT, tempDir } from "./harness.js";
import { exec, have, show } from "./clients.js";
import { systemAccount } from "../attack/local-user.js";

const PROXY = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so";
const MULTIARCH = execFileSync("gcc", ["-print-multiarch"], { encoding: "utf8" }).trim();
const ACCOUNT = "wimuser";

/** The uid/gid the user part runs as: a throwaway account as root, else this process's. */
function userIds(): { uid: number; gid: number } {
  if (process.getuid!() !== 0) return { uid: process.getuid!(), gid: process.getgid!() };
  return systemAccount(ACCOUNT);
}

/** Every path under `dir` (relative, sorted); none if it does not exist. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe("make install (user level): the module found without setup", function () {
  this.timeout(180_000);
  const ids = userIds();
  const home = tempDir("install-home");
  const run = path.join(home, "run"); // XDG_RUNTIME_DIR
  const prefix = path.join(home, ".local");
  const moduleFile = path.join(prefix, "lib", MULTIARCH, "pkcs11", "libwim-pkcs11.so");
  const moduleConf = path.join(home, ".config/pkcs11/modules/wim.module");
  const units = path.join(home, ".config/systemd/user");
  const wim = path.join(prefix, "bin/wim");
  const env = [`HOME=${home}`, `XDG_RUNTIME_DIR=${run}`, "PATH=/usr/local/bin:/usr/bin:/bin", `WIM_STATE_DIR=${path.join(home, "state/host")}`];
  /** The command line that runs `cmd` as the user in a clean environment (only `env`). */
  const userArgv = (cmd: string, args: string[], extra: string[] = []): [string, string[]] => {
    const argv = ["-i", ...env, ...extra, cmd, ...args];
    return process.getuid!() === 0 ? ["setpriv", [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, "--clear-groups", "env", ...argv]] : ["env", argv];
  };
  /** Runs a program as the user, from the user's HOME. */
  const asUser = (cmd: string, args: string[], extra: string[] = [], timeoutMs = 60_000) =>
    exec(...userArgv(cmd, args, extra), { cwd: home, timeoutMs });
  let initial: string[] = [];
  let sim: ChildProcess | undefined;
  let serial = "";

  before(() => {
    for (const d of [home, run]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      chownSync(d, ids.uid, ids.gid);
    }
    initial = [...tree(path.join(home, ".local")), ...tree(path.join(home, ".config"))];
  });
  after(async () => {
    if (sim && sim.exitCode === null) {
      const gone = new Promise((r) => sim!.once("exit", r));
      sim.kill("SIGTERM");
      await gone;
    }
    rmSync(home, { recursive: true, force: true });
  });

  /**
   * `make TARGET` for the user: as the user when it can read the worktree, else (root, with a worktree
   * the account cannot reach) as root with HOME pointing there, the files then given to the user.
   */
  const makeAsUser = async (target: string) => {
    if ((await asUser("test", ["-r", path.join(ROOT, "Makefile")])).code === 0)
      return asUser("make", ["-C", ROOT, "--no-print-directory", target], [], 120_000);
    const r = await exec("make", ["-C", ROOT, "--no-print-directory", target], { env: { HOME: home, XDG_CONFIG_HOME: undefined }, timeoutMs: 120_000 });
    execFileSync("chown", ["-R", `${ids.uid}:${ids.gid}`, home]);
    return r;
  };

  it("make install-user puts the module, wim, the p11-kit file and the units in the user's places", async () => {
    const r = await makeAsUser("install-user");
    assert.equal(r.code, 0, show(r));
    const manifest = readFileSync(path.join(prefix, "lib/wim/MANIFEST"), "utf8").split("\n").filter((l) => l.startsWith("f ")).map((l) => l.slice(2));
    for (const f of [moduleFile, moduleConf, wim, path.join(units, "wim-agent.socket"), path.join(units, "wim-agent.service")])
      assert.ok(manifest.includes(f) && existsSync(f), `${f} installed and listed`);
    assert.equal(readFileSync(moduleConf, "utf8").match(/^module: (.*)$/m)?.[1], moduleFile, "the p11-kit file names the module by its absolute path");
    // modes: nothing the install made is writable by group or others; the programs are executable
    for (const f of manifest) {
      const st = lstatSync(f);
      if (st.isSymbolicLink()) continue;
      assert.equal(st.mode & 0o022, 0, `${f} has mode ${(st.mode & 0o777).toString(8)}`);
      assert.equal(st.uid, ids.uid, `${f} belongs to the user`);
    }
    assert.equal(lstatSync(moduleFile).mode & 0o777, 0o644);
    assert.equal(lstatSync(wim).mode & 0o777, 0o755);
    assert.equal(lstatSync(moduleConf).mode & 0o777, 0o644);
  });

  it("p11-kit lists the module", async () => {
    const r = await asUser("p11-kit", ["list-modules"]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^wim: ${moduleFile}$`, "m"));
    assert.match(r.stdout, /library-description: WIM token PKCS#11 module/);
  });

  it("the installed wim runs from the install", async () => {
    const r = await asUser(wim, ["--help"]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^\s+agent\b/m, show(r));
    assert.match(r.stdout, /^\s+keys\b/m, show(r));
    const v = await asUser(wim, ["--version"]);
    assert.equal(v.code, 0, show(v));
    assert.equal(v.stdout.trim(), JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version, show(v));
    const info = await asUser(wim, ["info", "--socket", path.join(home, "no-agent.sock")]);
    assert.equal(info.code, 1, show(info)); // the lazily loaded verbs are in the install too
    assert.match(info.stderr, /no agent/, show(info));
    assert.ok(!readFileSync(wim, "utf8").includes(ROOT), "the launcher does not point into the worktree");
    // the installed tree, not the worktree: `wim sim` names the module of its own tree
    sim = spawn(...userArgv(wim, ["sim", "--state", path.join(home, "state")]), { cwd: home, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    sim.stderr!.on("data", (d) => (err += d));
    const ready = await new Promise<string>((resolve, reject) => {
      createInterface({ input: sim!.stdout! }).on("line", (l) => l.startsWith("ready ") && resolve(l));
      sim!.once("exit", (c) => reject(new Error(`wim sim exited ${c}: ${err}`)));
    });
    assert.equal(/module=(\S+)/.exec(ready)?.[1], path.join(prefix, "lib/wim/build/libwim-pkcs11.so"), ready);
    assert.equal(/socket=(\S+)/.exec(ready)?.[1], path.join(run, "wim-agent.sock"), "the default socket under XDG_RUNTIME_DIR");
  });

  it("p11tool lists the token without --provider; its URI carries the serial", async () => {
    const r = await asUser("p11tool", ["--list-tokens"]);
    assert.equal(r.code, 0, show(r));
    const block = r.stdout.split(/\n(?=Token \d+:)/).find((b) => b.includes(`Module: ${moduleFile}`));
    assert.ok(block, `the WIM token in\n${r.stdout}`);
    serial = /serial=([^;\s]+)/.exec(block!)?.[1] ?? "";
    assert.match(serial, /^[A-Z0-9]+$/, block);
    assert.match(block!, new RegExp(`Serial: ${serial}`));
  });

  it("pkcs11:serial=<serial> selects the token, another serial nothing", async () => {
    const mine = await asUser("p11tool", ["--list-mechanisms", `pkcs11:serial=${serial}`]);
    assert.equal(mine.code, 0, show(mine));
    assert.match(mine.stdout, /CKM_RSA_PKCS /, show(mine));
    const other = await asUser("p11tool", ["--list-mechanisms", `pkcs11:serial=${serial}X`]);
    assert.doesNotMatch(other.stdout, /CKM_/, show(other));
  });

  it("pkcs11-tool through p11-kit-proxy sees the token", async function () {
    if (!existsSync(PROXY)) this.skip();
    const r = await asUser("pkcs11-tool", ["--module", PROXY, "-L"]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`: WIM token ${serial}[^\\n]*\\n\\s+token label\\s+: WIM`), show(r));
    const t = await asUser("pkcs11-tool", ["--module", PROXY, "--token-label", "WIM", "-M"]);
    assert.equal(t.code, 0, show(t));
    assert.match(t.stdout, /RSA-PKCS-KEY-PAIR-GEN/);
  });

  it("the installed units pass systemd-analyze verify", async function () {
    if (!(await have("systemd-analyze"))) {
      console.log("      systemd-analyze is not installed: units not verified");
      this.skip();
    }
    const socket = readFileSync(path.join(units, "wim-agent.socket"), "utf8");
    const service = readFileSync(path.join(units, "wim-agent.service"), "utf8");
    assert.match(socket, /^ListenStream=%t\/wim-agent\.sock$/m);
    assert.match(socket, /^SocketMode=0600$/m);
    assert.match(service, new RegExp(`^ExecStart=${wim} agent$`, "m"));
    const r = await asUser("systemd-analyze", ["--user", "verify", path.join(units, "wim-agent.socket"), path.join(units, "wim-agent.service")]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stderr.trim(), "", "no warnings");
  });

  it("without the agent the module stays listed and shows no token", async () => {
    const gone = new Promise((r) => sim!.once("exit", r));
    sim!.kill("SIGTERM");
    await gone;
    const r = await asUser("pkcs11-tool", ["--module", PROXY, "-L"]);
    assert.match(r.stdout, /WIM: no agent \(systemctl --user start wim-agent\.socket\)\n\s+\(empty\)/, show(r));
  });

  it("make uninstall-user leaves the prefix as it was", async () => {
    const r = await makeAsUser("uninstall-user");
    assert.equal(r.code, 0, show(r));
    assert.deepEqual([...tree(path.join(home, ".local")), ...tree(path.join(home, ".config"))], initial);
    const p = await asUser("p11-kit", ["list-modules"]);
    assert.doesNotMatch(p.stdout, /^wim:/m);
  });
});

describe("make install (system layout, DESTDIR)", function () {
  this.timeout(180_000);

  for (const prefix of ["/usr/local", "/usr"]) {
    it(`PREFIX=${prefix}: the files in the system's places, nothing left after uninstall`, async () => {
      const dest = tempDir("destdir");
      try {
        const vars = [`DESTDIR=${dest}`, `PREFIX=${prefix}`];
        const r = await exec("make", ["-C", ROOT, "--no-print-directory", "install", ...vars], { timeoutMs: 120_000 });
        assert.equal(r.code, 0, show(r));
        const files = tree(dest).filter((f) => !lstatSync(path.join(dest, f)).isDirectory() && !f.startsWith(`${prefix.slice(1)}/lib/wim/`));
        const p11kit = prefix === "/usr" ? "usr/share/p11-kit/modules" : "etc/pkcs11/modules";
        const p = prefix.slice(1);
        assert.deepEqual(files, [
          `${p11kit}/wim.module`,
          `${p}/bin/wim`,
          `${p}/lib/${MULTIARCH}/pkcs11/libwim-pkcs11.so`,
          `${p}/lib/systemd/user/wim-agent.service`,
          `${p}/lib/systemd/user/wim-agent.socket`,
        ].sort());
        const module = `${prefix}/lib/${MULTIARCH}/pkcs11/libwim-pkcs11.so`;
        assert.match(readFileSync(path.join(dest, p11kit, "wim.module"), "utf8"), new RegExp(`^module: ${module}$`, "m"), "no DESTDIR in it");
        assert.match(readFileSync(path.join(dest, p, "bin/wim"), "utf8"), new RegExp(`'${prefix}/lib/wim/pc/cli/wim.mjs'`));
        assert.match(readFileSync(path.join(dest, p, "lib/systemd/user/wim-agent.service"), "utf8"), new RegExp(`^ExecStart=${prefix}/bin/wim agent$`, "m"));
        for (const f of ["pc/cli/wim.mjs", "pc/cli/main.ts", "pc/agent/activation.ts", "modules/at/pkcs11.ts", "package.json", "node_modules/tsx/package.json", "build/wim-sim", "MANIFEST"])
          assert.ok(existsSync(path.join(dest, p, "lib/wim", f)), `${f} in the runtime tree`);
        assert.ok(!existsSync(path.join(dest, p, "lib/wim/node_modules/mocha")), "no development packages");
        const u = await exec("make", ["-C", ROOT, "--no-print-directory", "uninstall", ...vars]);
        assert.equal(u.code, 0, show(u));
        assert.deepEqual(tree(dest), [], "uninstall removed every file and directory install made");
      } finally {
        rmSync(dest, { recursive: true, force: true });
      }
    });
  }
});
