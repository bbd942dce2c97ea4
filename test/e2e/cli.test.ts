/**
 * The `wim` command line end to end: the real `node pc/cli/wim.mjs` against a real `wim sim` (simulator
 * and agent, paired: the secure channel). PINs come from the environment or standard input, never argv.
 * What the command prints is checked with openssl (public keys, certificates) and against the token's
 * own counters (`wim info --json` before and after a wrong PIN).
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT, type RunResult, type SimToken, startSim, tempDir } from "./harness.js";

const PIN = "123456", SO_PIN = "12345678";

describe("the wim command line", function () {
  this.timeout(120_000);
  let sim: SimToken;
  const work = tempDir("cli-work");
  const file = (n: string) => path.join(work, n);

  /** `wim ARGS` with the agent's socket, `env`, and `input` on standard input (else none). */
  const wim = (args: string[], env: Record<string, string> = {}, input = "", socket = sim?.socket) =>
    new Promise<RunResult>((resolve) => {
      const p = execFile(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), ...args],
        { env: { ...process.env, WIM_AGENT_SOCKET: socket ?? "", WIM_PIN: "", WIM_SO_PIN: "", WIM_NEW_PIN: "", ...env } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
      p.stdin!.end(input);
    });
  const ok = (r: RunResult) => assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  const info = async () => JSON.parse((await wim(["info", "--json"])).stdout);
  const userTries = async () => (await info()).slots[0].token.userPin.triesLeft as number;

  before(async () => {
    sim = await startSim(tempDir("cli"));
  });
  after(async () => {
    await sim?.stop();
  });

  it("--help on every verb exits 0; an unknown verb or option, or a PIN on the command line, exits 2", async () => {
    const verbs = [[], ["info"], ["pin"], ["pin", "change"], ["pin", "unblock"], ["pin", "retries"], ["keys"], ["keys", "list"],
      ["keys", "generate"], ["keys", "delete"], ["keys", "export-public"], ["certs"], ["certs", "list"], ["certs", "import"],
      ["certs", "export"], ["reset"], ["attest"], ["provision"], ["pair"], ["unpair"], ["sim"], ["agent"]];
    for (let i = 0; i < verbs.length; i += 11) {
      const rs = await Promise.all(verbs.slice(i, i + 11).map((v) => wim([...v, "--help"])));
      rs.forEach((r, j) => {
        assert.equal(r.code, 0, `wim ${verbs[i + j].join(" ")} --help: ${r.stderr}`);
        assert.match(r.stdout, /^Usage: wim/, verbs[i + j].join(" "));
      });
    }
    const [unknown, option, pinArg, noType, version] = await Promise.all([
      wim(["status"]), wim(["info", "--bogus"]), wim(["keys", "list", "--login", "--pin", PIN]), wim(["keys", "generate"]), wim(["--version"])]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'status'/);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option '--bogus'/);
    assert.equal(pinArg.code, 2, "no --pin option: a PIN never goes on the command line");
    assert.equal(noType.code, 2);
    assert.match(noType.stderr, /--type/);
    ok(version);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it("without an agent: says how to start one, exit 1", async () => {
    const r = await wim(["info"], {}, "", path.join(work, "none.sock"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no agent at .*none\.sock.*start one with `wim agent` or `systemctl --user start wim-agent\.socket`/);
  });

  it("wim info: the token, its firmware, the secure channel, PIN retries and free store space (text and --json)", async () => {
    const text = await wim(["info"]);
    ok(text);
    assert.match(text.stdout, /slot \d+: /);
    assert.match(text.stdout, /serial SIM[0-9A-F]{12}/);
    assert.match(text.stdout, /user PIN: +3 of 3 tries left/);
    assert.match(text.stdout, /SO PIN: +15 of 15 tries left/);
    assert.match(text.stdout, /store: +\d+ of \d+ bytes free/);
    const j = await info();
    const t = j.slots[0].token;
    assert.equal(j.slots.length, 1);
    const id = j.slots[0].slot as number; // stable by serial (docs/agent.md)
    assert.match(t.serial, /^SIM[0-9A-F]{12}$/);
    assert.equal(t.protocolVersion, 1);
    assert.equal(t.secureChannel, true);
    assert.match(t.link, /^serial/);
    assert.deepEqual(t.userPin, { initialized: true, locked: false, triesLeft: 3, triesMax: 3 });
    assert.ok(t.store.freeBytes > 0 && t.store.freeBytes <= t.store.totalBytes);
    const bySerial = await wim(["pin", "retries", "--serial", t.serial, "--json"]);
    ok(bySerial);
    assert.equal(JSON.parse(bySerial.stdout).slot, id);
    ok(await wim(["pin", "retries", "--slot", String(id)]));
    const noSuch = await wim(["info", "--serial", "NOPE"]);
    assert.equal(noSuch.code, 1);
    assert.match(noSuch.stderr, new RegExp(`no token with serial NOPE.*\n.*slot ${id}: "WIM" serial SIM`));
    const badSlot = await wim(["pin", "retries", "--slot", "7"]);
    assert.equal(badSlot.code, 1);
    assert.match(badSlot.stderr, new RegExp(`no slot 7; the agent has: ${id}`));
  });

  it("a wrong PIN says how many tries are left, and wim info shows the counter; the right one restores it", async () => {
    const wrong = await wim(["keys", "list", "--login"], { WIM_PIN: "999999" });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong user PIN: 2 tries left/);
    assert.ok(!(wrong.stdout + wrong.stderr).includes("999999"), "the PIN is not printed");
    assert.equal(await userTries(), 2);
    const right = await wim(["keys", "list", "--login"], {}, `${PIN}\n`); // from standard input
    ok(right);
    assert.equal(await userTries(), 3);
  });

  it("wim pin change: to a new PIN and back; the old one then fails", async () => {
    ok(await wim(["pin", "change"], { WIM_PIN: PIN, WIM_NEW_PIN: "24682468" }));
    assert.match((await wim(["keys", "list", "--login"], { WIM_PIN: PIN })).stderr, /wrong user PIN/);
    ok(await wim(["pin", "change", "--pin-env", "MINE"], { MINE: "24682468", WIM_NEW_PIN: PIN }));
    ok(await wim(["keys", "list", "--login"], { WIM_PIN: PIN }));
    const so = await wim(["pin", "change", "--so"], {}, `${SO_PIN}\n87654321\n`);
    ok(so);
    ok(await wim(["pin", "change", "--so"], { WIM_SO_PIN: "87654321", WIM_NEW_PIN: SO_PIN }));
  });

  it("a locked PIN points to wim pin unblock, which sets a new one with the SO PIN", async () => {
    for (let i = 0; i < 2; i++) await wim(["keys", "list", "--login"], { WIM_PIN: "000000" });
    const last = await wim(["keys", "list", "--login"], { WIM_PIN: "000000" });
    assert.match(last.stderr, /wrong user PIN: it is now locked; run `wim pin unblock`/);
    const locked = await wim(["keys", "list", "--login"], { WIM_PIN: PIN });
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /the user PIN is locked: run `wim pin unblock`/);
    const retries = JSON.parse((await wim(["pin", "retries", "--json"])).stdout);
    assert.deepEqual(retries.userPin, { initialized: true, locked: true, triesLeft: 0, triesMax: 3 });
    const badSo = await wim(["pin", "unblock"], { WIM_SO_PIN: "11111111", WIM_NEW_PIN: PIN });
    assert.match(badSo.stderr, /wrong SO PIN: 14 tries left/);
    ok(await wim(["pin", "unblock"], { WIM_SO_PIN: SO_PIN, WIM_NEW_PIN: PIN }));
    assert.equal(await userTries(), 3);
    ok(await wim(["keys", "list", "--login"], { WIM_PIN: PIN }));
  });

  it("keys generate p256, list, export-public (openssl reads it); certs import, list, export (the same DER); keys delete", async () => {
    const gen = await wim(["keys", "generate", "--type", "p256", "--label", "cli key", "--id", "c1"], { WIM_PIN: PIN });
    ok(gen);
    assert.match(gen.stdout, /generated p256 key c1 "cli key"/);
    assert.equal(gen.stderr, "", "no progress line when standard error is not a terminal");
    const listed = JSON.parse((await wim(["keys", "list", "--login", "--json"], { WIM_PIN: PIN })).stdout);
    const mine = listed.keys.filter((k: { id: string }) => k.id === "c1");
    assert.deepEqual(mine.map((k: { class: string }) => k.class).sort(), ["private", "public"]);
    const priv = mine.find((k: { class: string }) => k.class === "private");
    assert.equal(priv.curve, "P-256");
    assert.equal(priv.type, "ec");
    assert.ok(priv.usage.includes("sign"));
    const dup = await wim(["keys", "generate", "--type", "p256", "--id", "c1"], { WIM_PIN: PIN });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /a key with ID c1 exists/);

    const pub = await wim(["keys", "export-public", "c1"]);
    ok(pub);
    writeFileSync(file("pub.pem"), pub.stdout);
    assert.match(execFileSync("openssl", ["pkey", "-pubin", "-in", file("pub.pem"), "-noout", "-text"], { encoding: "utf8" }), /NIST CURVE: P-256/);

    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("ca.key"),
      "-subj", "/CN=cli test CA", "-days", "2", "-out", file("ca.pem")], { stdio: "ignore" });
    execFileSync("openssl", ["x509", "-new", "-force_pubkey", file("pub.pem"), "-subj", "/CN=cli user", "-CA", file("ca.pem"),
      "-CAkey", file("ca.key"), "-days", "1", "-outform", "DER", "-out", file("user.der")], { stdio: "ignore" });
    const imported = await wim(["certs", "import", file("user.der")], { WIM_PIN: PIN });
    ok(imported);
    assert.match(imported.stdout, /as c1 /, "the certificate took its key's CKA_ID");
    const certs = JSON.parse((await wim(["certs", "list", "--json"])).stdout).certificates;
    const cert = certs.find((c: { id: string }) => c.id === "c1");
    assert.equal(cert.subject, "CN=cli user");
    assert.equal(cert.issuer, "CN=cli test CA");
    assert.equal(cert.label, "cli key");
    const exported = await wim(["certs", "export", "c1", "--out", file("out.pem")]);
    ok(exported);
    const der = execFileSync("openssl", ["x509", "-in", file("out.pem"), "-outform", "DER"]);
    assert.ok(der.equals(readFileSync(file("user.der"))), "the exported certificate is the imported one");

    const unconfirmed = await wim(["keys", "delete", "c1"], { WIM_PIN: PIN });
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /give --yes/);
    ok(await wim(["keys", "delete", "c1", "--yes"], { WIM_PIN: PIN }));
    const after = JSON.parse((await wim(["keys", "list", "--login", "--json"], { WIM_PIN: PIN })).stdout);
    assert.equal(after.keys.filter((k: { id: string }) => k.id === "c1").length, 0);
    const gone = await wim(["keys", "export-public", "c1"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no public key c1/);
  });

  it("at a terminal: PINs are typed without echo, reset wants the serial typed, key generation shows its time", async () => {
    /** `wim ARGS` on a pseudo-terminal (script(1)); each time `prompt` matches the output so far, `answer` is typed. */
    const tty = (args: string[], dialog: [RegExp, string][]) => new Promise<RunResult>((resolve) => {
      const cmd = [process.execPath, path.join(ROOT, "pc/cli/wim.mjs"), ...args].map((a) => `'${a}'`).join(" ");
      const p = spawn("script", ["-qec", cmd, "/dev/null"], { env: { ...process.env, WIM_AGENT_SOCKET: sim.socket, WIM_PIN: "", WIM_SO_PIN: "" } });
      let out = "", answered = 0;
      p.stdout.on("data", (d) => {
        out += d;
        const next = dialog[0];
        if (next && next[0].test(out.slice(answered))) {
          dialog.shift();
          answered = out.length;
          p.stdin.write(next[1] + "\r");
        }
      });
      const stuck = setTimeout(() => p.kill(), 30_000); // a prompt that never came: fail, do not hang
      p.once("exit", (code) => {
        clearTimeout(stuck);
        resolve({ code: code ?? 1, stdout: out, stderr: "" });
      });
    });
    const listed = await tty(["keys", "list", "--login"], [[/user PIN: /, PIN]]);
    assert.equal(listed.code, 0, listed.stdout);
    assert.ok(!listed.stdout.includes(PIN), `the PIN was echoed: ${JSON.stringify(listed.stdout)}`);
    const gen = await tty(["keys", "generate", "--type", "p256", "--id", "77"], [[/user PIN: /, PIN]]);
    assert.equal(gen.code, 0, gen.stdout);
    assert.match(gen.stdout, /generating a p256 key on SIM[0-9A-F]{12}: \d+\.\d s/, "the elapsed time on a terminal");
    const serial = (await info()).slots[0].token.serial as string;
    const refused = await tty(["reset"], [[/Type the serial number to go on: /, "SIM000000000000"]]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /not confirmed: nothing erased/);
    const listedAfter = JSON.parse((await wim(["keys", "list", "--json"])).stdout);
    assert.ok(listedAfter.keys.some((k: { id: string }) => k.id === "77"), "nothing was erased");
    const erased = await tty(["reset"], [[/Type the serial number to go on: /, serial], [/SO PIN: /, SO_PIN]]);
    assert.equal(erased.code, 0, erased.stdout);
    assert.ok(!erased.stdout.includes(SO_PIN), "the SO PIN was not echoed");
    ok(await wim(["pin", "unblock"], { WIM_SO_PIN: SO_PIN, WIM_NEW_PIN: PIN }));
  });

  it("wim reset --yes erases the objects and unsets the user PIN; --new-pin-env sets one at once", async () => {
    ok(await wim(["keys", "generate", "--type", "p256"], { WIM_PIN: PIN }));
    const before = (await info()).slots[0].token.store.freeBytes;
    const wrong = await wim(["reset", "--yes"], { WIM_SO_PIN: "00000000" });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong SO PIN: \d+ tries left/);
    const noConfirm = await wim(["reset"], { WIM_SO_PIN: SO_PIN });
    assert.equal(noConfirm.code, 2, "no terminal to type the serial at: --yes is needed");
    const r = await wim(["reset", "--yes"], { WIM_SO_PIN: SO_PIN });
    ok(r);
    assert.match(r.stderr, /run|`wim pin unblock`/);
    const t = (await info()).slots[0].token;
    assert.equal(t.userPin.initialized, false);
    assert.ok(t.store.freeBytes > before, "the key's room is free again");
    const noPin = await wim(["keys", "list", "--login"], { WIM_PIN: PIN });
    assert.equal(noPin.code, 1);
    assert.match(noPin.stderr, /no user PIN is set: run `wim pin unblock`/);
    ok(await wim(["reset", "--yes", "--new-pin-env", "FRESH"], { WIM_SO_PIN: SO_PIN, FRESH: PIN }));
    ok(await wim(["keys", "list", "--login"], { WIM_PIN: PIN }));
  });
});
