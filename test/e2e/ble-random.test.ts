/**
 * The BLE link under random conditions gives the serial link's results: each round reconnects with
 * a random MTU offered by the central (23 … 517), a random notification delay (the connection
 * interval as the central sees it) and a random notification buffer in the radio model (a
 * notification sent while it is full is lost: the firmware must pace itself), then signs random
 * digests with RSA PKCS#1 v1.5 — deterministic, so the signature over BLE must be byte for byte
 * the one the agent on the simulator's PTY gets — and OpenSSL verifies it.
 *
 * BLE_SEED picks the rounds (default 12), BLE_ROUNDS their number (default 8).
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type BluezHandle, startBluez } from "../bluez/harness.js";
import { FAULT } from "../bluez/radio.js";
import { PIN, RSA_KEY, generateKeys, readPublicKey, show } from "./clients.js";
import { type BleAgent, type SimToken, p11, run, startBleAgent, startSimBle, tempDir } from "./harness.js";

const SEED = Number(process.env.BLE_SEED ?? 12);
const ROUNDS = Number(process.env.BLE_ROUNDS ?? 8);
const MTUS = [23, 24, 27, 48, 100, 185, 247, 256, 517];
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

/** xorshift32: the rounds from the seed. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

describe(`the BLE link under random MTUs, notification delays and buffers gives the PTY's results (seed ${SEED})`, function () {
  this.timeout(300_000);
  const state = tempDir("ble-random");
  const work = tempDir("ble-random-work");
  const file = (n: string) => path.join(work, n);
  let sim: SimToken | undefined;
  let bz: BluezHandle | undefined;
  let agent: BleAgent | undefined;

  before(async function () {
    sim = await startSimBle(state); // with the agent on the PTY: the reference
    bz = await startBluez(sim.ble!);
    agent = await startBleAgent(bz.busAddress, file("agent.sock"));
    await generateKeys(agent.socket, RSA_KEY);
    await readPublicKey(sim.socket, RSA_KEY.id, file("rsa.der"));
  });
  after(async () => {
    await bz?.bluez.fault(FAULT.CLEAR, 0).catch(() => undefined);
    await agent?.stop();
    await bz?.stop();
    await sim?.stop();
  });

  /** Waits until the agent answers over the new connection. */
  async function reconnected(before: number): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (bz!.bluez.stats.connects > before && (await p11(agent!.socket, "-T")).code === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`the agent did not come back:\n${agent!.log.join("\n")}`);
  }

  it(`${ROUNDS} rounds: every signature over BLE equals the PTY's and verifies`, async () => {
    const next = rng(SEED);
    for (let round = 0; round < ROUNDS; round++) {
      const mtu = MTUS[next(MTUS.length)], delay = next(13), buffer = 1 + next(4);
      const what = `round ${round}: central MTU ${mtu}, notification delay ${delay} ms, buffer ${buffer}`;
      bz!.bluez.centralMtu = mtu;
      await bz!.bluez.fault(FAULT.CLEAR, 0);
      await bz!.bluez.fault(FAULT.DELAY_NOTIFICATIONS, delay);
      await bz!.bluez.fault(FAULT.NOTIFICATION_BUFFER, buffer);
      const connects = bz!.bluez.stats.connects;
      await bz!.bluez.disconnectDevice();
      await reconnected(connects);
      assert.equal(bz!.bluez.stats.mtu, Math.min(mtu, 256), what);
      const digest = Buffer.from(Array.from({ length: 32 }, () => next(256)));
      writeFileSync(file("hash"), digest);
      writeFileSync(file("digestinfo"), Buffer.concat([SHA256_DIGEST_INFO, digest]));
      const sign = (socket: string, out: string) =>
        p11(socket, "--login", "--pin", PIN, "--sign", "--id", RSA_KEY.id, "-m", "RSA-PKCS", "-i", file("digestinfo"), "-o", file(out));
      const ble = await sign(agent!.socket, "ble.sig");
      assert.equal(ble.code, 0, `${what}\n${show(ble)}`);
      const pty = await sign(sim!.socket, "pty.sig");
      assert.equal(pty.code, 0, `${what}\n${show(pty)}`);
      assert.deepEqual(readFileSync(file("ble.sig")), readFileSync(file("pty.sig")), what);
      const v = await run("openssl", ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", file("rsa.der"), "-pkeyopt", "digest:sha256",
        "-in", file("hash"), "-sigfile", file("ble.sig")], "");
      assert.match(v.stdout, /Signature Verified Successfully/, `${what}\n${show(v)}`);
      const objects = await p11(agent!.socket, "--list-objects");
      const reference = await p11(sim!.socket, "--list-objects");
      assert.equal(objects.stdout, reference.stdout, what);
    }
  });
});
