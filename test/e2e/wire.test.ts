/**
 * Wire efficiency of the patent's split, measured on the real link: for one C_Sign with an
 * RSA-2048 key the bytes on the link (both directions) are at most 1.4 × the raw payload + 40,
 * and the call costs exactly one round trip. Through the secure channel (docs/channel.md) the same C_Sign
 * costs at most 40 bytes more on the wire and no round trip more (issue 13). The agent runs in this
 * process so that its link counters can be read; the device is the real simulator.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import type { Value } from "../../modules/at/codec.js";
import { CKA, CKF, CKM, CKR, CKU } from "../../modules/at/pkcs11.js";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { boolValue, encodeTemplate, ulongValue } from "../../modules/at/template.js";
import { Device } from "../../pc/agent/device.js";
import { HostKeys } from "../../pc/agent/hostkeys.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { serve } from "../../pc/agent/server.js";
import { type SimToken, pairDevice, startSim, tempDir } from "./harness.js";
import { Rep, Req, RpcClient, firstSlot } from "./rpc-client.js";

describe("bytes and round trips on the link", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  let client: RpcClient;
  let closeServer: () => void;
  after(async () => {
    client?.close();
    closeServer?.();
    link?.close();
    await sim?.stop();
  });

  it("C_Sign with RSA-2048 (CKM_RSA_PKCS) stays within 1.4 × payload + 40 bytes in one round trip", async () => {
    const state = tempDir("wire");
    sim = await startSim(state, ["--no-agent"]);
    link = new AtLink(openSerial(sim.pty));
    const device = new Device(link);
    await device.attach();
    const socket = path.join(state, "wire.sock");
    const server = serve(device, socket);
    closeServer = () => server.close();
    await new Promise((r) => server.once("listening", r));
    client = await RpcClient.connect(socket);
    const ok = (r: Rep) => (assert.equal(r.rv, CKR.OK), r);

    ok(await client.call(new Req("hello")));
    const h = ok(await client.call(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.SERIAL_SESSION | CKF.RW_SESSION))).u64();
    ok(await client.call(new Req("C_Login").u64(h).u64(CKU.USER).bytes(Buffer.from("123456"))));
    const gen = ok(await client.call(new Req("C_GenerateKeyPair").u64(h).mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN)
      .template([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]).template([])));
    gen.u64();
    const priv = gen.u64();
    ok(await client.call(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(priv)));

    const digestInfo = Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), createHash("sha256").update("x").digest()]);
    const [out0, in0, cmd0] = [link.bytesOut, link.bytesIn, link.commands];
    const rep = ok(await client.call(new Req("C_Sign").u64(h).bytes(digestInfo).output(512)));
    const sig = (rep.u64(), rep.bytes());
    const wire = link.bytesOut - out0 + (link.bytesIn - in0);
    const payload = digestInfo.length + sig.length;
    assert.equal(sig.length, 256);
    assert.equal(link.commands - cmd0, 1, "one round trip per C_Sign");
    console.log(`      C_Sign RSA-2048: ${wire} bytes on the link for ${payload} payload bytes (${(wire / payload).toFixed(3)}×; limit ${Math.floor(1.4 * payload + 40)})`);
    assert.ok(wire <= 1.4 * payload + 40, `${wire} bytes for ${payload} payload bytes`);

    // the size query of the convention costs no round trip, and a second operation works
    ok(await client.call(new Req("C_SignInit").u64(h).mechanism(CKM.RSA_PKCS).u64(priv)));
    const cmd1 = link.commands;
    const query = ok(await client.call(new Req("C_Sign").u64(h).bytes(digestInfo).output(0)));
    assert.equal(query.u64(), 256);
    assert.equal(link.commands, cmd1, "the size query stays on the PC");
    ok(await client.call(new Req("C_Sign").u64(h).bytes(digestInfo).output(256)));
  });

  it("through the secure channel a C_Sign costs at most 40 bytes more on the wire, in the same one round trip", async () => {
    const state = tempDir("wire-channel");
    const csim = await startSim(state, ["--no-agent"]);
    const device = Device.over(openSerial(csim.pty), { keys: new HostKeys(tempDir("wire-channel-host")), linkKind: "serial" });
    try {
      await device.attach();
      await pairDevice(device, csim.state);
      const secure = device.secure!;
      assert.equal(secure.state, "secure");
      const at = (name: string, values: Value[] = [], before: string[] = []) => device.link.command(COMMAND_BY_NAME.get(name)!, values, before);
      const ch = (await at("+PKCSCHO"))[0][0] as number;
      const before = [`+PKCSCH=${ch}`];
      const [[s]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION], before)) as number[][];
      await at("+PKCSLOGIN", [s, CKU.USER, "123456"], before);
      const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
      const [[, key]] = (await at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]), priv], before)) as number[][];
      const link = device.link;
      const [plain0, wire0, cmd0] = [link.bytesOut + link.bytesIn, secure.wireOut + secure.wireIn, link.commands];
      const [[sig]] = (await at("+PKCSSIGN", [s, key, CKM.RSA_PKCS, new Uint8Array(51).fill(7)], before)) as Uint8Array[][];
      assert.equal(sig.length, 256);
      const plain = link.bytesOut + link.bytesIn - plain0, wire = secure.wireOut + secure.wireIn - wire0;
      console.log(`      C_Sign RSA-2048 through the channel: ${wire} bytes on the wire for ${plain} bytes of AT text (+${wire - plain})`);
      assert.equal(link.commands - cmd0, 1, "one round trip per C_Sign, as in clear");
      assert.ok(wire > plain, "the records cost something: the counter measures the wire");
      assert.ok(wire - plain <= 40, `${wire - plain} bytes of overhead`);
    } finally {
      device.link.close();
      await csim.stop();
    }
  });
});
