/**
 * Pairing and the secure channel end to end (docs/channel.md), with the real simulator:
 * - a wire tap on the PTY while pkcs11-tool logs in, signs and decrypts through a paired agent: the PIN,
 *   the data to be signed and the decrypted plaintext never cross the wire, in clear or in base64; the
 *   same run with an agent that did not pair does show them (so the tap can see what it looks for);
 * - an agent without the device's key, facing a device paired with another host, shows a slot without a
 *   token that says why, and says it once on its standard error;
 * - `wim pair` without a press of the button fails with a clear message and stores nothing; with the
 *   press it stores the device's key (0600) and the agent uses the channel; `wim unpair` forgets it and
 *   the device is back in clear.
 * The agent of the tap runs in this process (as in wire.test.ts) so that every byte it exchanges with
 * the simulator's PTY can be recorded.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { toBase64 } from "../../modules/at/base64.js";
import { Device } from "../../pc/agent/device.js";
import { HostKeys } from "../../pc/agent/hostkeys.js";
import type { ByteStream } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { serve } from "../../pc/agent/server.js";
import { radioStream } from "../bluez/radio.js";
import { E2E_LINK, NO_PAIR, ROOT, type SimToken, hostStateDir, p11, pairDevice, pressButton, run, startSim, tempDir } from "./harness.js";

const PIN = "tap-PIN-93618450";

/** Every way `secret` may appear on the wire: as it is, or inside base64 at any alignment. */
function forms(secret: Buffer): Buffer[] {
  const out = [secret];
  for (let k = 0; k < 3; k++) {
    const whole = Math.floor((secret.length - k) / 3) * 3;
    out.push(Buffer.from(toBase64(secret.subarray(k, k + whole)), "latin1"));
  }
  return out;
}
const seen = (wire: Buffer, secret: Buffer) => forms(secret).some((f) => wire.includes(f));

/**
 * The simulator without its agent, and an agent in this process whose traffic is recorded: on the PTY,
 * or (`ble`) as the central of the simulator's radio model — every ATT write and notification — with the
 * device paired over the PTY first (`wim sim --pair`) and its key taken from there.
 */
async function tappedAgent(state: string, pair: boolean, ble = false) {
  const sim = await startSim(state, ["--no-agent", "--user-pin", PIN, ...(ble ? ["--ble", "--pair"] : [])]);
  try {
    return await tapOn(sim, state, pair, ble);
  } catch (e) {
    await sim.stop(); // a failed or stuck attach must not leave the simulator running under mocha
    throw e;
  }
}

/** How long attaching through the tap (identification, handshake, pairing) may take. */
const ATTACH_MS = 60_000;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function tapOn(sim: Awaited<ReturnType<typeof startSim>>, state: string, pair: boolean, ble: boolean) {
  const radio = ble ? await within(radioStream(sim.ble!, 247), ATTACH_MS, "connecting to the radio model") : undefined;
  const raw = radio ? radio.stream : openSerial(sim.pty);
  const wire: number[] = [];
  const toAgent: ((b: Uint8Array) => void)[] = [];
  const tap: ByteStream = {
    write: (b) => {
      for (const c of b) wire.push(c);
      raw.write(b);
    },
    onData: (l) => {
      toAgent.push(l);
      raw.onData((b) => {
        for (const c of b) wire.push(c);
        l(b);
      });
    },
    onClose: (l) => raw.onClose(l),
    close: () => raw.close(),
  };
  const keys = new HostKeys(ble ? hostStateDir(state) : path.join(state, "tap-host"));
  const device = Device.over(tap, { keys, linkKind: ble ? "ble" : "serial" });
  await within(device.attach(), ATTACH_MS, `attaching over ${ble ? "the radio model" : "the PTY"}`);
  if (ble) assert.ok(device.channelOpen, "the channel over BLE with the key paired over the PTY");
  if (pair && !ble) {
    await pairDevice(device, state);
    assert.ok(device.channelOpen);
  }
  const socket = path.join(state, "tap.sock");
  const server = serve(device, socket);
  await new Promise((r) => server.once("listening", r));
  const start = wire.length;
  return {
    socket,
    device,
    /** Bytes to the agent as if from the device (a forger on the line). */
    inject: (b: Uint8Array) => toAgent.forEach((l) => l(b)),
    /** Bytes to the device as they are, past the agent. */
    toDevice: (b: Uint8Array) => raw.write(b),
    /** The bytes since the agent was ready (pairing and attach are not the clients'). */
    wire: () => Buffer.from(wire.slice(start)),
    stop: async () => {
      server.close();
      device.link.close();
      await sim.stop();
    },
  };
}

/** Logs in, makes an RSA key, signs `toSign`, decrypts what openssl encrypted of `plaintext`. */
async function clientRun(socket: string, dir: string, toSign: Buffer, plaintext: Buffer): Promise<void> {
  const ok = async (p: Promise<{ code: number; stdout: string; stderr: string }>) => {
    const r = await p;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    return r;
  };
  await ok(p11(socket, "--login", "--pin", PIN, "--keypairgen", "--key-type", "rsa:2048", "--id", "71", "--label", "tap"));
  writeFileSync(path.join(dir, "data"), toSign);
  await ok(p11(socket, "--login", "--pin", PIN, "--sign", "-m", "RSA-PKCS", "--id", "71", "-i", path.join(dir, "data"), "-o", path.join(dir, "sig")));
  await ok(p11(socket, "--read-object", "--type", "pubkey", "--id", "71", "-o", path.join(dir, "pub.der")));
  writeFileSync(path.join(dir, "plain"), plaintext);
  await ok(run("openssl", ["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", path.join(dir, "pub.der"), "-in", path.join(dir, "plain"), "-out", path.join(dir, "ct")], socket));
  await ok(p11(socket, "--login", "--pin", PIN, "--decrypt", "-m", "RSA-PKCS", "--id", "71", "-i", path.join(dir, "ct"), "-o", path.join(dir, "out")));
  assert.deepEqual(readFileSync(path.join(dir, "out")), plaintext, "the decryption worked");
}

describe("pairing and the secure channel (end to end)", function () {
  this.timeout(180_000);
  const toSign = Buffer.from("data-to-be-signed:7c41e09b2d5f8a36");
  const plaintext = Buffer.from("decrypted-plaintext:e5b8210f9d4c7a63");

  it("wire tap: through the channel the PIN, the data signed and the decrypted plaintext never cross the PTY", async () => {
    const state = tempDir("tap-paired");
    const agent = await tappedAgent(state, true);
    try {
      await clientRun(agent.socket, state, toSign, plaintext);
      const wire = agent.wire();
      assert.ok(wire.length > 2000, `the tap saw the traffic (${wire.length} bytes)`);
      assert.ok(!seen(wire, Buffer.from(PIN)), "the PIN is not on the wire");
      assert.ok(!seen(wire, toSign), "the data to be signed is not on the wire");
      assert.ok(!seen(wire, plaintext), "the decrypted plaintext is not on the wire");
      assert.ok(!wire.includes("AT+PKCS"), "no AT+PKCS command in clear");
    } finally {
      await agent.stop();
    }
  });

  it("radio tap: over BLE (paired over the PTY) the PIN, the data signed and the plaintext never cross the radio", async function () {
    const state = tempDir("tap-ble");
    let agent;
    try {
      agent = await tappedAgent(state, true, true);
    } catch (e) {
      if (/no BLE socket/.test(String(e))) this.skip(); // a build/wim-sim without the radio model
      throw e;
    }
    try {
      await clientRun(agent.socket, state, toSign, plaintext);
      const wire = agent.wire();
      assert.ok(wire.length > 2000, `the tap saw the traffic (${wire.length} bytes)`);
      assert.ok(!seen(wire, Buffer.from(PIN)), "the PIN is not on the air");
      assert.ok(!seen(wire, toSign), "the data to be signed is not on the air");
      assert.ok(!seen(wire, plaintext), "the decrypted plaintext is not on the air");
    } finally {
      await agent.stop();
    }
  });

  it("wire tap, the same run without pairing: the tap does see the PIN, the data and the plaintext", async () => {
    const state = tempDir("tap-clear");
    const agent = await tappedAgent(state, false);
    try {
      await clientRun(agent.socket, state, toSign, plaintext);
      const wire = agent.wire();
      assert.ok(seen(wire, Buffer.from(PIN)), "the PIN crosses in clear");
      assert.ok(seen(wire, toSign), "the data to be signed crosses in clear");
      assert.ok(seen(wire, plaintext), "the plaintext crosses in clear");
    } finally {
      await agent.stop();
    }
  });

  it("a forged record to the agent, or a clear byte to the device, ends the session; the agent handshakes again and works on", async () => {
    const state = tempDir("tap-end");
    const agent = await tappedAgent(state, true);
    try {
      const objects = () => p11(agent.socket, "--login", "--pin", PIN, "--list-objects");
      assert.equal((await objects()).code, 0);
      const epoch = agent.device.epoch;
      // a record the device did not make: the PC's side ends the session
      agent.inject(Uint8Array.of(0x02, 0x00, 0x20, ...new Uint8Array(0x20).fill(0x5a)));
      assert.equal(agent.device.secure!.state, "ended");
      assert.ok(agent.device.epoch > epoch, "the agent forgot the device's sessions, as after a restart");
      const again = await objects();
      assert.equal(again.code, 0, again.stderr);
      assert.equal(agent.device.secure!.state, "secure", "handshaken again");
      // a clear byte to the device: the device's side ends it (+PKCSSEC: 0 in clear), the agent follows
      const epoch2 = agent.device.epoch;
      agent.toDevice(Uint8Array.of(0x58));
      for (let i = 0; i < 50 && agent.device.epoch === epoch2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(agent.device.epoch > epoch2, "the agent saw the device end the session");
      const third = await objects();
      assert.equal(third.code, 0, third.stderr);
      assert.equal(agent.device.secure!.state, "secure");
    } finally {
      await agent.stop();
    }
  });

  describe("over the PTY agent of wim sim", function () {
    before(function () {
      if (E2E_LINK === "ble") this.skip(); // these drive `wim sim`'s own agent and its standard error
    });
    let sim: SimToken | undefined;
    afterEach(async () => {
      await sim?.stop();
      sim = undefined;
    });

    it("an agent without the device's key, facing a device paired with another host, shows why there is no token", async () => {
      const state = tempDir("not-paired");
      sim = await startSim(state); // pairs (the harness's default)
      assert.ok(existsSync(hostStateDir(state)));
      await sim.stop();
      const saved = process.env.WIM_STATE_DIR;
      process.env.WIM_STATE_DIR = path.join(state, "another-host");
      try {
        sim = await startSim(state, [NO_PAIR]);
      } finally {
        if (saved === undefined) delete process.env.WIM_STATE_DIR;
        else process.env.WIM_STATE_DIR = saved;
      }
      const list = await p11(sim.socket, "--list-slots");
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /not paired with this host: run `wim pair`/);
      assert.doesNotMatch(list.stdout, /token label/);
      const objects = await p11(sim.socket, "--list-objects");
      assert.notEqual(objects.code, 0, "no token to list objects of");
      await p11(sim.socket, "--list-slots");
      const notices = sim.log!.filter((l) => /paired with other hosts/.test(l));
      assert.equal(notices.length, 1, `one line on the agent's standard error:\n${sim.log!.join("\n")}`);
    });

    it("wim pair without a press fails clearly and stores nothing; with it the key is stored 0600; wim unpair forgets it", async () => {
      const state = tempDir("pair-cli");
      sim = await startSim(state, [NO_PAIR]);
      const host = hostStateDir(state);
      const wim = (args: string[], onLine?: (l: string) => void) => new Promise<{ code: number; err: string }>((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), ...args, "--socket", sim!.socket], {
          stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, WIM_STATE_DIR: host },
        });
        let err = "";
        createInterface({ input: child.stderr! }).on("line", (l) => {
          err += l + "\n";
          onLine?.(l);
        });
        child.once("exit", (code) => resolve({ code: code ?? 1, err }));
      });
      const none = await wim(["pair"]);
      assert.equal(none.code, 1);
      assert.match(none.err, /Press the BOOT button on the device within 30 s/);
      assert.match(none.err, /not pressed in time.*nothing was paired/);
      assert.deepEqual(readDir(path.join(host, "devices")), [], "nothing stored");

      const paired = await wim(["pair"], (l) => void (/Press the BOOT button/.test(l) && pressButton(state)));
      assert.equal(paired.code, 0, paired.err);
      const files = readDir(path.join(host, "devices"));
      assert.equal(files.length, 1);
      assert.equal(statSync(path.join(host, "devices", files[0])).mode & 0o777, 0o600);
      assert.equal(statSync(path.join(host, "host-key.json")).mode & 0o777, 0o600);
      const login = await p11(sim.socket, "--login", "--pin", "123456", "--list-objects");
      assert.equal(login.code, 0, login.stderr);

      const unpaired = await wim(["unpair"]);
      assert.equal(unpaired.code, 0, unpaired.err);
      assert.deepEqual(readDir(path.join(host, "devices")), []);
      const after = await p11(sim.socket, "--login", "--pin", "123456", "--list-objects");
      assert.equal(after.code, 0, `the device is back in clear: ${after.stderr}`);
    });
  });
});

function readDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}
