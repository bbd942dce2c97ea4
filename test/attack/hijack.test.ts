/**
 * Issue 13: the raw-link hijack. Before the secure channel, anyone who could write to the serial line
 * selected a logged-in application's logical channel and signed without the PIN
 * (`AT+PKCSCH=1;+PKCSSIGN=...`). Now, with `wim sim` paired (the harness's default) and its agent holding
 * the channel for a logged-in client, a second process opens the same PTY and tries: every logical
 * channel the agent could have, in clear and as a forged record, and a handshake with a key of its own.
 * It reads nothing but refusals and clear notices, the session it broke is gone for the client too (no
 * login left to borrow), the PIN counter is untouched, and the client carries on after logging in again.
 * (The device-level version, without an agent reading the same PTY: test/sim/channel.test.ts.)
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { toBase64 } from "../../modules/at/base64.js";
import { CKA, CKF, CKM, CKR, CKU } from "../../modules/at/pkcs11.js";
import { IkInitiator } from "../../modules/wim/noise.js";
import { openSerial } from "../../pc/agent/serial.js";
import { p256Key, p256Suite } from "../../pc/agent/noise-p256.js";
import { type SimToken, hostStateDir, p11, startSim, tempDir } from "../e2e/harness.js";
import { type Rep, Req, RpcClient, firstSlot } from "../e2e/rpc-client.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const PIN = "123456";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("attack: the raw-link hijack of a logged-in channel (issue 13)", function () {
  this.timeout(120_000);
  let sim: SimToken | undefined;
  after(async () => sim?.stop());

  it("a process writing to the paired device's serial line gets no signature and no login; the client logs in again and signs", async () => {
    const state = tempDir("hijack");
    sim = await startSim(state);
    const client = await RpcClient.connect(sim.socket);
    const ok = (r: Rep) => (assert.equal(r.rv, CKR.OK), r);
    ok(await client.call(new Req("hello")));
    const h = ok(await client.call(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.SERIAL_SESSION | CKF.RW_SESSION))).u64();
    ok(await client.call(new Req("C_Login").u64(h).u64(CKU.USER).bytes(Buffer.from(PIN))));
    const gen = ok(await client.call(new Req("C_GenerateKeyPair").u64(h).mechanism(CKM.EC_KEY_PAIR_GEN)
      .template([{ type: CKA.EC_PARAMS, value: P256 }]).template([{ type: CKA.SIGN, value: Uint8Array.of(1) }])));
    gen.u64();
    const priv = gen.u64();
    const hash = createHash("sha256").update("transfer 1000 to the attacker").digest();
    const sign = async (session: number) => {
      const init = await client.call(new Req("C_SignInit").u64(session).mechanism(CKM.ECDSA).u64(priv));
      if (init.rv !== CKR.OK) return init.rv;
      return (await client.call(new Req("C_Sign").u64(session).bytes(hash).output(64))).rv;
    };
    assert.equal(await sign(h), CKR.OK, "the client signs before the attack");

    // the attacker: a process of its own on the same serial line (the PTY), reading what it can
    const port = openSerial(sim.pty);
    const seen: Buffer[] = [];
    port.onData((b) => seen.push(Buffer.from(b)));
    const line = (s: string) => port.write(new TextEncoder().encode(s + "\r"));
    const b64 = toBase64(hash);
    for (let ch = 0; ch <= 8; ch++) {
      line(`AT+PKCSCH=${ch};+PKCSSIGN=${h},${priv},${CKM.ECDSA},"${b64}"`);
      line(`AT+PKCSCH=${ch};+PKCSLOGIN=${h},${CKU.USER},"000000"`);
    }
    // a forged record, as if the attacker could guess the agent's keys
    port.write(Uint8Array.of(0x02, 0x00, 0x40, ...new Uint8Array(0x40).fill(0x41)));
    // a handshake with a key the device never paired, made for the device's real channel key
    const serial = readdirSync(path.join(hostStateDir(state), "devices"))[0].replace(/\.json$/, "");
    const deviceKey = Buffer.from(JSON.parse(readFileSync(path.join(hostStateDir(state), "devices", serial + ".json"), "utf8")).publicKey, "hex");
    const prologue = new TextEncoder().encode("WIM AT+PKCS channel 1" + serial);
    const m1 = new IkInitiator(p256Suite, p256Key(), deviceKey, prologue).writeMessage1();
    line(`AT+PKCSHS="${toBase64(m1)}"`);
    await sleep(1500);
    port.close();

    const got = Buffer.concat(seen).toString("latin1");
    assert.doesNotMatch(got, /\+PKCSSIGN:|\+PKCSHS: "/, "the attacker read no signature and no handshake answer");
    // whatever the client had on the device went with the session the attacker broke
    assert.notEqual(await sign(h), CKR.OK, "the broken session's login cannot be used any more");
    // the PIN counter never moved: the clear C_Login attempts were refused before any PIN check
    const token = await p11(sim.socket, "--list-token-slots");
    assert.equal(token.code, 0, token.stderr);
    assert.doesNotMatch(token.stdout, /count low|final try|locked/i, token.stdout);
    // the client carries on: a new session, its PIN, a signature
    const h2 = ok(await client.call(new Req("C_OpenSession").u64(await firstSlot(client)).u64(CKF.SERIAL_SESSION | CKF.RW_SESSION))).u64();
    ok(await client.call(new Req("C_Login").u64(h2).u64(CKU.USER).bytes(Buffer.from(PIN))));
    assert.equal(await sign(h2), CKR.OK);
    client.close();
  });
});
