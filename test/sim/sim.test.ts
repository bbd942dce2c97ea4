/**
 * build/wim-sim on its own: the pty= line, the globals of test/sim/smoke.js, bytes echoed over the
 * PTY, a throwing callback that does not stop the device, a clean SIGTERM, the flash file's size
 * rules and --cut-after. (NOR rules of the flash file itself: test/sim/test_flash.c, `make sim-test`.)
 * Run: npx mocha test/sim/sim.test.ts (after `make build/wim-sim`).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { constants, mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import tty from "node:tty";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SIM = path.join(ROOT, "build/wim-sim");
const SMOKE = path.join(ROOT, "test/sim/smoke.js");
const work = mkdtempSync(path.join(os.tmpdir(), "wim-simtest-"));

interface Sim {
  child: ChildProcess;
  pty: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(bundle: string, flash: string, extra: string[] = []): Promise<Sim> {
  const child = spawn(SIM, ["--bundle", bundle, "--flash", flash, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) => {
      const m = /^pty=(\/dev\/pts\/\d+)$/.exec(line);
      if (m) resolve({ child, pty: m[1], stderr: () => stderr, exit });
      else reject(new Error(`unexpected first line: ${line}`));
    });
    exit.then((code) => reject(new Error(`wim-sim exited with ${code}: ${stderr}`)));
  });
}

/** Opens the PTY like the agent does and collects what arrives. */
function open(pty: string) {
  const stream = new tty.ReadStream(openSync(pty, constants.O_RDWR | constants.O_NOCTTY));
  stream.setRawMode(true);
  let received = Buffer.alloc(0);
  stream.on("data", (b: Buffer) => (received = Buffer.concat([received, b])));
  return {
    write: (b: Buffer) => stream.write(b),
    async expect(length: number, ms = 2000): Promise<Buffer> {
      const until = Date.now() + ms;
      while (received.length < length && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      const out = received.subarray(0, length);
      received = received.subarray(length);
      return out;
    },
    /** Forgets what arrived so far. */
    drain: () => void (received = Buffer.alloc(0)),
    /** Stops reading for `ms` (the PTY fills up meanwhile), then reads on. */
    pause: (ms: number) => {
      stream.pause();
      setTimeout(() => stream.resume(), ms);
    },
    close: () => stream.destroy(),
  };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("wim-sim", function () {
  this.timeout(60_000); // above the echo's 30 s liveness wait, so that its own message is the one seen

  it("runs the smoke bundle, echoes PTY bytes, survives a throwing callback, exits 0 on SIGTERM", async () => {
    const flash = path.join(work, "smoke.bin");
    const sim = await start(SMOKE, flash);
    assert.equal(statSync(flash).size, 262144);
    assert.ok(readFileSync(flash).every((b) => b === 0xff), "a new flash file is erased");
    const port = open(sim.pty);
    const bytes = Buffer.from([0x41, 0x54, 0x0d, 0x0a, 0x00, 0xff, 0x80, 0x7f]);
    port.write(bytes);
    assert.deepEqual(await port.expect(bytes.length), bytes);
    port.write(Buffer.from("!boom"));
    // the callback throws for a read that begins with "!": wait until the device has read and reported
    // it, or a slow read could take the start of the next write into the same throwing chunk
    for (const until = Date.now() + 5000; !/deliberate exception/.test(sim.stderr()) && Date.now() < until; ) await settle(10);
    assert.match(sim.stderr(), /deliberate exception/);
    const big = Buffer.from(Uint8Array.from({ length: 20000 }, (_, i) => i & 0xff));
    // the client stops reading for 0.5 s: the full PTY must hold the device's writes (up to 2 s), not
    // drop them. Node's TTY handle opens the PTY twice, which inotify may count as no client at all.
    port.pause(500);
    port.write(big);
    // a liveness wait, not a speed check: a loaded CI machine echoed 19,455 of the bytes in 5 s once
    const echoed = await port.expect(big.length, 30_000);
    if (!echoed.equals(big)) {
      // expect() returns what came; a short echo must not leave the simulator running under mocha,
      // and its own words (a drop is reported there) go with the failure
      sim.child.kill("SIGKILL");
      assert.fail(`echoed ${echoed.length} of ${big.length} bytes${echoed.equals(big.subarray(0, echoed.length)) ? " (a prefix)" : ", not a prefix"}; the simulator said:\n${sim.stderr()}`);
    }
    port.close();
    await settle(100);
    sim.child.kill("SIGTERM");
    assert.equal(await sim.exit, 0);
    const log = sim.stderr();
    assert.match(log, /smoke: async ok/);
    assert.match(log, /smoke: timeout fired/);
    assert.match(log, /smoke: interval ran 3 times/);
    assert.match(log, /exception in serial receive callback: Error: deliberate exception/);
  });

  it("drops what the device wrote while no client had the PTY open", async () => {
    const bundle = path.join(work, "stale.js");
    writeFileSync(bundle, `
      const write = __native("sim_serial_write");
      write(new TextEncoder().encode("stale output before any client\\n"));
      setTimeout(() => write(new Uint8Array(100000)), 0);
      __native("sim_serial_on_receive")((data) => write(data));
    `);
    const sim = await start(bundle, path.join(work, "stale.bin"));
    await settle(200);
    const port = open(sim.pty);
    // the simulator drops stale output when it sees the open (inotify, in its event loop): a client may
    // read stale bytes only until then, a few ms (longer on a loaded machine); after that, none
    await settle(300);
    port.drain();
    port.write(Buffer.from("fresh"));
    assert.equal((await port.expect(5)).toString(), "fresh");
    port.close();
    sim.child.kill("SIGTERM");
    assert.equal(await sim.exit, 0);
  });

  it("refuses a flash file of another size and a bad command line", () => {
    const flash = path.join(work, "small.bin");
    writeFileSync(flash, Buffer.alloc(8192, 0xff));
    const r = spawnSync(SIM, ["--bundle", SMOKE, "--flash", flash], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /not --flash-size 262144/);
    assert.equal(spawnSync(SIM, ["--bundle", SMOKE], { encoding: "utf8" }).status, 2);
    assert.equal(spawnSync(SIM, ["--bundle", SMOKE, "--flash", flash, "--flash-size", "5000"], { encoding: "utf8" }).status, 1);
  });

  it("cuts the power at the N+1th flash operation (exit 99) and the store mounts afterwards", () => {
    const bundle = path.join(work, "store.js");
    writeFileSync(bundle, `
      const N = (n) => __native(n);
      console.log("formatted", N("xs_wim_store_open")(), "ids", JSON.stringify(N("xs_wim_store_ids")()));
      for (let i = 0; i < 40; i++) N("xs_wim_store_put")(i % 5, new Uint8Array(100).fill(i));
      N("sim_exit")(0);
    `);
    for (const cut of [0, 3, 17, 60]) {
      const flash = path.join(work, `cut${cut}.bin`);
      const r = spawnSync(SIM, ["--bundle", bundle, "--flash", flash, "--cut-after", String(cut), "--flash-size", "65536"], { encoding: "utf8" });
      assert.equal(r.status, 99, r.stderr);
      assert.match(r.stderr, /power cut during (write|erase)/);
      const again = spawnSync(SIM, ["--bundle", bundle, "--flash", flash, "--flash-size", "65536"], { encoding: "utf8" });
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr, /formatted (true|false) ids \[[0-9,]*\]/);
    }
  });

  it("reports erase counts with WIM_SIM_STATS=1", () => {
    const bundle = path.join(work, "format.js");
    writeFileSync(bundle, `__native("xs_wim_store_format")(); __native("xs_wim_store_format")(); __native("sim_exit")(0);`);
    const r = spawnSync(SIM, ["--bundle", bundle, "--flash", path.join(work, "stats.bin")], {
      encoding: "utf8", env: { ...process.env, WIM_SIM_STATS: "1" },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /flash stats: \d+ writes, \d+ erases, 64 sectors/);
    assert.match(r.stderr, /flash erase counts:( \d+){64}\n/);
  });

  it("fails with a non-zero status when the bundle throws or does not parse", () => {
    for (const [name, text] of [["throws.js", "throw new Error('top')"], ["syntax.js", "let x = ("]]) {
      const bundle = path.join(work, name);
      writeFileSync(bundle, text);
      const r = spawnSync(SIM, ["--bundle", bundle, "--flash", path.join(work, "f.bin")], { encoding: "utf8" });
      assert.equal(r.status, 1);
      assert.equal(r.stdout, "");
    }
  });
});
