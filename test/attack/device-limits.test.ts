/**
 * Findings 3 and 4 of issue 10, as an attacker without the PIN tries them, against the real firmware on
 * the simulator — over the raw AT link (the device must hold on its own) and through the real stack
 * (module, agent, pkcs11-tool): memory exhaustion with session objects, and hogging of channels and
 * sessions. The device answers CKR_DEVICE_MEMORY / CKR_SESSION_COUNT to the attacker and keeps serving
 * everyone else (docs/policy.md, modules/wim/limits.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { p256 } from "@noble/curves/nist.js";
import type { Value } from "../../modules/at/codec.js";
import { CKA, CKF, CKM, CKO, CKR, CKU } from "../../modules/at/pkcs11.js";
import { decodeTemplate, encodeTemplate, encodeTypes, ulongValue } from "../../modules/at/template.js";
import {
  MAX_CHANNELS, SESSIONS_PER_CHANNEL, SESSION_OBJECTS, SESSION_OBJECTS_PER_CHANNEL, SESSION_OBJECTS_RESERVE, SESSION_OBJECT_MAX_BYTES,
} from "../../modules/wim/limits.js";
import { Device } from "../../pc/agent/device.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { EC_KEY, PIN, exec, generateKeys, show } from "../e2e/clients.js";
import { MODULE, type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { Req, RpcClient, firstSlot } from "../e2e/rpc-client.js";
import { rvOf } from "../rv.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const tpl = (...a: [number, Uint8Array][]) => encodeTemplate(a.map(([type, value]) => ({ type, value })));
const dataObject = (bytes: number) => tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.VALUE, new Uint8Array(bytes).fill(0x5a)]);
const RW = CKF.SERIAL_SESSION | CKF.RW_SESSION;

/** The raw AT link to a simulator started without an agent. */
async function rawDevice(tag: string): Promise<{ sim: SimToken; link: AtLink; device: Device }> {
  const sim = await startSim(tempDir(tag), ["--no-agent"]);
  const link = new AtLink(openSerial(sim.pty));
  const device = new Device(link);
  await device.attach();
  return { sim, link, device };
}

/** The CK_RV of a command (0 on success). */
const rv = rvOf;

/** Logs channel `ch` in, generates a P-256 pair there and checks that it signs; the device is alive and serving. */
async function signsOn(device: Device, ch: number): Promise<void> {
  const run = (name: string, values: Value[] = []) => device.run(name, values, ch);
  const [[s]] = (await run("+PKCSOPEN", [RW])) as number[][];
  const login = await rv(run("+PKCSLOGIN", [s, CKU.USER, PIN]));
  assert.ok(login === CKR.OK || login === CKR.USER_ALREADY_LOGGED_IN, `login: ${login}`);
  const [[pub, priv]] = (await run("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), tpl()])) as number[][];
  const [[point]] = await run("+PKCSATTR", [s, pub, encodeTypes([CKA.EC_POINT])]);
  const q = (decodeTemplate(point as Uint8Array, true)![0].value as Uint8Array).subarray(2);
  const hash = new Uint8Array(32).fill(9);
  const [[sig]] = await run("+PKCSSIGN", [s, priv, CKM.ECDSA, hash]);
  assert.ok(p256.verify(sig as Uint8Array, hash, q, { prehash: false, lowS: false }), "the signature verifies");
  await run("+PKCSCLOSE", [s]);
}

describe("attack: device limits without the PIN (findings 3 and 4)", function () {
  this.timeout(180_000);

  describe("over the raw AT link", () => {
    let sim: SimToken;
    let link: AtLink;
    let device: Device;
    before(async () => ({ sim, link, device } = await rawDevice("limits")));
    after(async () => {
      link?.close();
      await sim?.stop();
    });

    it("refuses session objects past the budgets with CKR_DEVICE_MEMORY, and keeps serving others", async () => {
      const attacker = await device.openChannel();
      const [[s]] = (await device.run("+PKCSOPEN", [CKF.SERIAL_SESSION], attacker)) as number[][]; // read-only, not logged in
      // the objects of finding 3 (15,000 bytes each: 3,518 of them used to abort the engine)
      assert.equal(await rv(device.run("+PKCSCREATE", [s, dataObject(15_000)], attacker)), CKR.DEVICE_MEMORY, "15,000-byte object");
      assert.equal(await rv(device.run("+PKCSCREATE", [s, dataObject(SESSION_OBJECT_MAX_BYTES)], attacker)), CKR.DEVICE_MEMORY);
      // objects of 3,000 bytes until refused: the application's share
      let made = 0;
      const fill = async (ch: number, h: number) => {
        for (let i = 0; i < 200; i++) {
          const r = await rv(device.run("+PKCSCREATE", [h, dataObject(3000)], ch));
          if (r !== CKR.OK) return r;
          made++;
        }
        return CKR.OK;
      };
      assert.equal(await fill(attacker, s), CKR.DEVICE_MEMORY, "one application's share ends in CKR_DEVICE_MEMORY");
      const share = made;
      assert.ok(share >= 3 && share * 3000 <= SESSION_OBJECTS_PER_CHANNEL.bytes, `${share} objects of 3,000 bytes in one channel`);
      // more channels without the PIN: together they stop short of the reserve
      for (let i = 0; i < 3; i++) {
        const ch = await device.openChannel();
        const [[h]] = (await device.run("+PKCSOPEN", [CKF.SERIAL_SESSION], ch)) as number[][];
        assert.equal(await fill(ch, h), CKR.DEVICE_MEMORY);
      }
      assert.ok(made * 3000 <= SESSION_OBJECTS.bytes - SESSION_OBJECTS_RESERVE.bytes, `${made} objects without the PIN in all`);
      console.log(`      ${share} objects of 3,000 bytes per channel, ${made} over four channels without the PIN, then CKR_DEVICE_MEMORY`);
      // a logged-in application still gets session objects (the reserve) and signs
      const user = await device.openChannel();
      await signsOn(device, user);
      const [[us]] = (await device.run("+PKCSOPEN", [RW], user)) as number[][];
      await device.run("+PKCSLOGIN", [us, CKU.USER, PIN], user);
      assert.equal(await rv(device.run("+PKCSCREATE", [us, dataObject(3000)], user)), CKR.OK, "the reserve serves a logged-in application");
      await device.run("+PKCSCHC", [user], 0);
      // closing the session gives the memory back
      await device.run("+PKCSCLOSE", [s], attacker);
      const [[s2]] = (await device.run("+PKCSOPEN", [CKF.SERIAL_SESSION], attacker)) as number[][];
      assert.equal(await rv(device.run("+PKCSCREATE", [s2, dataObject(3000)], attacker)), CKR.OK, "freed with the session");
    });

    it("keeps each application to its sessions and reclaims idle channels; a logged-in channel is never taken", async () => {
      // finding 4: idle connections (one channel each) no longer lock anyone out
      const idle: number[] = [];
      for (let i = 0; i < 3 * MAX_CHANNELS; i++) idle.push(await device.openChannel());
      assert.equal(new Set(idle).size, idle.length, "channel numbers are not reused");
      // a channel reclaimed while idle comes back fresh when its application uses it again
      const [[again]] = (await device.run("+PKCSOPEN", [CKF.SERIAL_SESSION], idle[0])) as number[][];
      await device.run("+PKCSCLOSE", [again], idle[0]);
      // one application opens sessions until refused
      const hog = await device.openChannel();
      let opened = 0;
      let last: number = CKR.OK;
      for (let i = 0; i < 40 && last === CKR.OK; i++) {
        last = await rv(device.run("+PKCSOPEN", [CKF.SERIAL_SESSION], hog));
        if (last === CKR.OK) opened++;
      }
      assert.equal(last, CKR.SESSION_COUNT);
      assert.equal(opened, SESSIONS_PER_CHANNEL);
      // the victim gets a channel and a session, logs in and signs
      const victim = await device.openChannel();
      await signsOn(device, victim);
      const [[vs]] = (await device.run("+PKCSOPEN", [RW], victim)) as number[][];
      await device.run("+PKCSLOGIN", [vs, CKU.USER, PIN], victim);
      // the attacker now takes every channel with sessions (without the PIN), again and again
      for (let i = 0; i < 2 * MAX_CHANNELS; i++) {
        const ch = await device.openChannel();
        for (let j = 0; j < SESSIONS_PER_CHANNEL; j++) await device.run("+PKCSOPEN", [CKF.SERIAL_SESSION], ch);
      }
      // the logged-in victim keeps its channel, session and login
      const [[r]] = await device.run("+PKCSRAND", [vs, 8], victim);
      assert.equal((r as Uint8Array).length, 8);
      await signsOn(device, victim);
      await device.run("+PKCSCHC", [victim], 0);
    });
  });

  describe("through the module and the agent", () => {
    let sim: SimToken;
    let dir: string;
    before(async function () {
      sim = await startSim(tempDir("limits-e2e"));
      dir = mkdtempSync(path.join(os.tmpdir(), "wim-limits-"));
      await generateKeys(sim.socket, EC_KEY);
    });
    after(async () => {
      await sim?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("applications hogging connections and sessions do not stop pkcs11-tool from signing", async () => {
      const hogs: RpcClient[] = [];
      let refused = 0;
      try {
        for (let i = 0; i < MAX_CHANNELS + 8; i++) {
          const c = await RpcClient.connect(sim.socket);
          hogs.push(c);
          assert.equal((await c.call(new Req("hello"))).rv, CKR.OK);
          for (let j = 0; j <= SESSIONS_PER_CHANNEL; j++) {
            const r = await c.call(new Req("C_OpenSession").u64(await firstSlot(c)).u64(CKF.SERIAL_SESSION));
            if (r.rv === CKR.SESSION_COUNT) refused++;
          }
        }
        assert.ok(refused >= 1, "an application's sessions beyond its share are refused");
        const input = path.join(dir, "in.bin");
        writeFileSync(input, Buffer.alloc(32, 7));
        const out = path.join(dir, "sig.bin");
        const r = await exec("pkcs11-tool", ["--module", MODULE, "--login", "--pin", PIN, "--sign", "--id", EC_KEY.id, "-m", "ECDSA",
          "--input-file", input, "--output-file", out], { env: { WIM_AGENT_SOCKET: sim.socket } });
        assert.equal(r.code, 0, show(r));
        assert.equal(readFileSync(out).length, 64);
      } finally {
        for (const c of hogs) c.close();
      }
    });
  });
});
