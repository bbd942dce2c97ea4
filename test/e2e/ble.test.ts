/**
 * AT+PKCS over Bluetooth LE end to end, as a user runs it: `wim sim --ble` (the firmware with the
 * simulator's radio model on a socket), the test BlueZ on a private bus bridged to that socket, and
 * `wim agent --ble` (the agent's real BlueZ code) found through DBUS_SYSTEM_BUS_ADDRESS; then
 * pkcs11-tool and OpenSSL through libwim-pkcs11.so, and a link cut in the middle of a C_Sign.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CKA, CKF, CKM, CKR, CKU } from "../../modules/at/pkcs11.js";
import { ulongValue } from "../../modules/at/template.js";
import { addressFor } from "../bluez/bluez.js";
import { type BluezHandle, startBluez } from "../bluez/harness.js";
import { FAULT } from "../bluez/radio.js";
import { EC_KEY, PIN, RSA_KEY, generateKeys, readPublicKey, show } from "./clients.js";
import { type BleAgent, ROOT, type SimToken, hostStateDir, p11, run, startBleAgent, startSimBle, tempDir } from "./harness.js";
import { type Rep, Req, RpcClient, firstSlot } from "./rpc-client.js";

const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

describe("AT+PKCS over BLE: wim agent --ble through the test BlueZ to the simulator's radio model", function () {
  this.timeout(180_000);
  const state = tempDir("ble");
  const work = tempDir("ble-work");
  const file = (n: string) => path.join(work, n);
  const hash = createHash("sha256").update("over the air").digest();
  let sim: SimToken | undefined;
  let bz: BluezHandle | undefined;
  let agent: BleAgent | undefined;

  before(async function () {
    // paired over the PTY at start (the simulated hand presses the button): the BLE agent uses the
    // device key stored then, and everything below goes through the secure channel
    sim = await startSimBle(state, ["--no-agent", "--pair"]);
    assert.ok(sim.ble, `no ble= in the ready line: ${sim.output.join("\n")}`);
    bz = await startBluez(sim.ble);
    agent = await startBleAgent(bz.busAddress, path.join(work, "agent.sock"), undefined, hostStateDir(state));
    writeFileSync(file("hash"), hash);
    writeFileSync(file("digestinfo"), Buffer.concat([SHA256_DIGEST_INFO, hash]));
  });
  after(async () => {
    await agent?.stop();
    await bz?.stop();
    await sim?.stop();
  });

  it("finds the device by its service UUID, connects, and agrees MTU 256 (BlueZ's 517 against the device's 256)", () => {
    assert.match(agent!.log.join("\n"), /connected to WIM-\S+ \([0-9A-F:]{17}\), MTU 256/);
    assert.equal(bz!.bluez.stats.mtu, 256);
  });

  it("pkcs11-tool sees the provisioned token over BLE", async () => {
    const r = await p11(agent!.socket, "--list-slots");
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /token label\s*:\s*WIM\b/);
  });

  it("generates keys and signs over BLE; openssl verifies (RSA PKCS#1 v1.5 and ECDSA P-256)", async () => {
    await generateKeys(agent!.socket, RSA_KEY, EC_KEY);
    await readPublicKey(agent!.socket, RSA_KEY.id, file("rsa.der"));
    await readPublicKey(agent!.socket, EC_KEY.id, file("ec.der"));
    const rsa = await p11(agent!.socket, "--login", "--pin", PIN, "--sign", "--id", RSA_KEY.id, "-m", "RSA-PKCS", "-i", file("digestinfo"), "-o", file("rsa.sig"));
    assert.equal(rsa.code, 0, show(rsa));
    assert.equal(readFileSync(file("rsa.sig")).length, 256);
    const vr = await run("openssl", ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", file("rsa.der"), "-pkeyopt", "digest:sha256", "-in", file("hash"), "-sigfile", file("rsa.sig")], "");
    assert.match(vr.stdout, /Signature Verified Successfully/, show(vr));
    const ec = await p11(agent!.socket, "--login", "--pin", PIN, "--sign", "--id", EC_KEY.id, "-m", "ECDSA", "--signature-format", "openssl", "-i", file("hash"), "-o", file("ec.sig"));
    assert.equal(ec.code, 0, show(ec));
    const ve = await run("openssl", ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", file("ec.der"), "-in", file("hash"), "-sigfile", file("ec.sig")], "");
    assert.match(ve.stdout, /Signature Verified Successfully/, show(ve));
  });

  it("pkcs11-tool --test --login passes over BLE", async () => {
    const r = await p11(agent!.socket, "--test", "--login", "--pin", PIN);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout + r.stderr, /No errors/);
  });

  it("the link cut in the middle of a C_Sign's answer gives CKR_DEVICE_ERROR; after the reconnect the next sign works", async () => {
    const client = await RpcClient.connect(agent!.socket);
    const ok = (r: Rep) => (assert.equal(r.rv, CKR.OK), r);
    try {
      ok(await client.call(new Req("hello")));
      const h = ok(await client.call(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.SERIAL_SESSION | CKF.RW_SESSION))).u64();
      ok(await client.call(new Req("C_Login").u64(h).u64(CKU.USER).bytes(Buffer.from(PIN))));
      const gen = ok(await client.call(new Req("C_GenerateKeyPair").u64(h).mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN)
        .template([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]).template([])));
      const priv = (gen.u64(), gen.u64());
      ok(await client.call(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(priv)));
      const connects = bz!.bluez.stats.connects;
      // the signature (256 bytes, more than one notification at MTU 256) is cut after its first notification
      await bz!.bluez.fault(FAULT.CUT_AFTER_NOTIFICATIONS, 1);
      const cut = await client.call(new Req("C_Sign").u64(h).bytes(Buffer.concat([SHA256_DIGEST_INFO, hash])).output(256));
      assert.equal(cut.rv, CKR.DEVICE_ERROR);
      // another application calling at once, during the reconnect, waits for it instead of failing
      const other = await RpcClient.connect(agent!.socket);
      try {
        ok(await other.call(new Req("hello")));
        const h2 = ok(await other.call(new Req("C_OpenSession").u64(await firstSlot(other)).u64(CKF.SERIAL_SESSION))).u64();
        ok(await other.call(new Req("C_CloseSession").u64(h2)));
      } finally {
        other.close();
      }
      for (let i = 0; i < 200 && bz!.bluez.stats.connects === connects; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(bz!.bluez.stats.connects > connects, `the agent did not reconnect:\n${agent!.log.join("\n")}`);
      assert.match(agent!.log.join("\n"), /disconnected; reconnecting/);
      // the operation went with the link: the old session signs nothing more
      assert.notEqual((await client.call(new Req("C_Sign").u64(h).bytes(Buffer.alloc(20)).output(256))).rv, CKR.OK);
    } finally {
      client.close();
    }
    const r = await p11(agent!.socket, "--login", "--pin", PIN, "--sign", "--id", RSA_KEY.id, "-m", "RSA-PKCS", "-i", file("digestinfo"), "-o", file("rsa2.sig"));
    assert.equal(r.code, 0, show(r));
    const v = await run("openssl", ["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", file("rsa.der"), "-pkeyopt", "digest:sha256", "-in", file("hash"), "-sigfile", file("rsa2.sig")], "");
    assert.match(v.stdout, /Signature Verified Successfully/, show(v));
  });

  it("pairing over BLE is refused by the device: wim pair through the BLE agent says so and stores nothing new", async () => {
    const before = readdirSync(path.join(hostStateDir(state), "devices"));
    assert.equal(before.length, 1, "the device key paired over the PTY");
    const r = await run(process.execPath, [path.join(ROOT, "pc/cli/wim.mjs"), "pair", "--socket", agent!.socket], agent!.socket);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /pairing failed: the device refused \(pairing works over the cable only/);
    assert.deepEqual(readdirSync(path.join(hostStateDir(state), "devices")), before);
    const again = await p11(agent!.socket, "--list-slots"); // the channel goes on
    assert.match(again.stdout, /token label\s*:\s*WIM\b/, show(again));
  });

  it("wim agent --ble ADDRESS connects to the device at that address", async () => {
    const address = addressFor(/connected to (WIM-\S+)/.exec(agent!.log.join("\n"))![1]);
    assert.equal(agent!.address, address);
    await agent!.stop();
    agent = await startBleAgent(bz!.busAddress, path.join(work, "agent2.sock"), address.toLowerCase(), hostStateDir(state));
    assert.equal(agent.address, address);
    const r = await p11(agent.socket, "--list-slots");
    assert.equal(r.code, 0, show(r));
  });

  it("a device that stays away (no reconnect within 10 s) keeps its slot without a token (docs/agent.md)", async () => {
    const before = await p11(agent!.socket, "--list-slots");
    const slot = /Slot 0 \((0x[0-9a-f]+)\)/.exec(before.stdout)?.[1];
    assert.ok(slot, show(before));
    await sim!.stop(); // the radio goes with the simulator
    for (let i = 0; i < 100; i++) {
      const r = await p11(agent!.socket, "--list-slots");
      if (/token state:\s*uninitialized|\(empty\)/.test(r.stdout)) break;
      await new Promise((done) => setTimeout(done, 250));
    }
    const after = await p11(agent!.socket, "--list-slots");
    assert.match(after.stdout, new RegExp(`Slot 0 \\(${slot}\\)[^\\n]*\\n\\s*\\(empty\\)`), show(after));
    assert.match(agent!.log.join("\n"), /away for 10000 ms/);
  });
});
