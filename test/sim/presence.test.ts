/**
 * The simulated BOOT button and status LED (sim/control.c, sim/env.ts): a test presses and releases the
 * button on wim-sim's control socket (WIM_SIM_CONTROL) and reads it back through the Env's presence
 * capability on XS (test/sim/presence-bundle.ts, over the PTY); the Env's LED changes reach the socket.
 * Run: npx mocha test/sim/presence.test.ts (after `make build/wim-sim`).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { constants, mkdtempSync, openSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import tty from "node:tty";
import { fileURLToPath } from "node:url";
import { buildSimBundle } from "./bundle.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SIM = path.join(ROOT, "build/wim-sim");

/** Collects bytes or lines from a stream; `next` waits for the next `length` bytes. */
function collector(stream: NodeJS.ReadableStream) {
  let received = "";
  stream.on("data", (b: Buffer) => (received += b.toString("latin1")));
  return {
    async next(length: number, ms = 3000): Promise<string> {
      const until = Date.now() + ms;
      while (received.length < length && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      const out = received.slice(0, length);
      received = received.slice(length);
      return out;
    },
    async line(ms = 3000): Promise<string> {
      const until = Date.now() + ms;
      while (!received.includes("\n") && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      const i = received.indexOf("\n");
      if (i < 0) return `(no line after ${ms} ms: ${JSON.stringify(received)})`;
      const out = received.slice(0, i);
      received = received.slice(i + 1);
      return out;
    },
    pending: () => received,
  };
}

describe("wim-sim: BOOT button and LED through the control socket", function () {
  this.timeout(20_000);
  const work = mkdtempSync(path.join(os.tmpdir(), "wim-presence-"));
  const socketPath = path.join(work, "control.sock");
  let child: ReturnType<typeof spawn>;
  let stderr = "";
  let port: tty.ReadStream;
  let ctl: net.Socket;

  before(async () => {
    const bundle = buildSimBundle("test/sim/presence-bundle.ts", path.join(work, "presence.js"));
    child = spawn(SIM, ["--bundle", bundle, "--flash", path.join(work, "flash.bin")], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WIM_SIM_CONTROL: socketPath },
    });
    child.stderr!.on("data", (d) => (stderr += d));
    const pty = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", (line) => resolve(line.replace(/^pty=/, "")));
      child.once("exit", (code) => reject(new Error(`wim-sim exited with ${code}: ${stderr}`)));
    });
    port = new tty.ReadStream(openSync(pty, constants.O_RDWR | constants.O_NOCTTY));
    port.setRawMode(true);
    ctl = net.createConnection(socketPath);
    await new Promise<void>((resolve, reject) => ctl.once("connect", resolve).once("error", reject));
  });

  after(() => {
    port?.destroy();
    ctl?.destroy();
    child?.kill("SIGTERM");
  });

  it("a press and a release on the socket are what the firmware's presence reads; wait() resolves on a press", async () => {
    const dev = collector(port);
    const control = collector(ctl);
    const ask = async (c: string, length = 2) => {
      port.write(c);
      return dev.next(length);
    };
    const command = async (line: string) => {
      ctl.write(line + "\n");
      return control.line();
    };

    assert.equal(await ask("?"), "P0");
    assert.equal(await command("button?"), "button=0");
    assert.equal(await command("press"), "ok");
    assert.equal(await command("button?"), "button=1");
    assert.equal(await ask("?"), "P1");
    assert.equal(await ask("W"), "W1", "held down: wait() resolves at once");
    assert.equal(await command("release"), "ok");
    assert.equal(await ask("?"), "P0");

    port.write("W"); // waits up to 3 s for a press
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(dev.pending(), "", "no answer before the press");
    assert.equal(await command("press"), "ok");
    assert.equal(await dev.next(2), "W1");
    assert.equal(await command("release"), "ok");

    assert.equal(await ask("w"), "W0", "no press within 150 ms");
    assert.equal(await command("bogus"), "error");
    assert.match(stderr, /^(?!.*exception)/s);
  });

  it("the Env's LED changes are sent to the socket and can be asked for", async () => {
    const dev = collector(port);
    const control = collector(ctl);
    port.write("L");
    assert.equal(await dev.next(1), "L");
    assert.equal(await control.line(), "led=1");
    ctl.write("led?\n");
    assert.equal(await control.line(), "led=1");
    port.write("l");
    assert.equal(await dev.next(1), "l");
    assert.equal(await control.line(), "led=0");
  });
});
