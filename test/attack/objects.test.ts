/**
 * Findings 4 (token objects without the PIN) and 8 (object creation, handles, secret kinds) of issue 10,
 * against the real firmware on the simulator: over the raw AT link, through pkcs11-tool, with the C glue
 * driven directly by a small bundle on build/wim-sim, and with the power cut at every flash operation of
 * a C_CreateObject.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKA, CKF, CKK, CKM, CKO, CKR, CKU } from "../../modules/at/pkcs11.js";
import { boolValue, encodeTemplate, encodeTypes, ulongValue } from "../../modules/at/template.js";
import { MIN_PIN } from "../../modules/wim/token.js";
import { EC_KEY, PIN, exec, generateKeys, show } from "../e2e/clients.js";
import { MODULE, type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { BUNDLE, SIM, type SimDevice, flashStats, provision, startDevice } from "../store/simdev.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
const RW = CKF.SERIAL_SESSION | CKF.RW_SESSION;
const SO_PIN = "87654321";
const tpl = (...a: [number, Uint8Array][]) => encodeTemplate(a.map(([type, value]) => ({ type, value })));
const text = (s: string) => new TextEncoder().encode(s);
const dataObject = (label: string, extra: [number, Uint8Array][] = []) =>
  tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.TOKEN, boolValue(true)], [CKA.LABEL, text(label)], ...extra);
/** An imported P-256 private key (a secret and a record): what the power-cut sweep creates. */
const importedKey = tpl([CKA.CLASS, ulongValue(CKO.PRIVATE_KEY)], [CKA.KEY_TYPE, ulongValue(CKK.EC)], [CKA.TOKEN, boolValue(true)],
  [CKA.EC_PARAMS, P256], [CKA.LABEL, text("imported")], [CKA.VALUE, new Uint8Array(32).fill(7)]);

/**
 * Runs `body` (JavaScript, with `N(name)` = the C glue's host function) in build/wim-sim on `flash`
 * instead of the firmware; resolves with the value it passes to `done(...)`.
 */
async function glue(flash: string, body: string): Promise<unknown> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-glue-"));
  const script = path.join(dir, "glue.js");
  writeFileSync(script, `(function () {
  const N = (name) => __native(name);
  const done = (v) => console.log("RESULT " + JSON.stringify(v));
  const attempt = (f) => { try { const r = f(); return r instanceof ArrayBuffer ? r.byteLength : r; } catch (e) { return String(e.message); } };
  N("xs_wim_store_open")();
  ${body}
})();`);
  const child: ChildProcess = spawn(SIM, ["--bundle", script, "--flash", flash], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    return await new Promise((resolve, reject) => {
      let err = "";
      child.stderr!.on("data", (d) => {
        err += d;
        const m = /RESULT (.*)\n/.exec(err);
        if (m) resolve(JSON.parse(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`wim-sim exited with ${code}: ${err}`)));
    });
  } finally {
    child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("attack: objects without the PIN, handles and secrets (findings 4 and 8)", function () {
  this.timeout(300_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-objects-attack-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("on the raw AT link", () => {
    const flash = path.join(dir, "raw.bin");
    let dev: SimDevice;
    before(async function () {
      if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
      await provision(flash, "pol", SO_PIN, PIN);
      dev = await startDevice(flash);
    });
    after(async () => dev?.stop());

    it("refuses C_CreateObject, C_SetAttributeValue and C_DestroyObject of token objects before C_Login", async () => {
      const [[user]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
      await dev.at("+PKCSLOGIN", [user, CKU.USER, PIN]);
      const [[pub]] = (await dev.at("+PKCSGENKP", [user, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256], [CKA.LABEL, text("ssh")]), tpl()])) as number[][];
      await dev.at("+PKCSLOGOUT", [user]);
      // not logged in, in a R/W session: every write of a token object is refused; session objects are not
      assert.equal(await dev.rv("+PKCSCREATE", [user, dataObject("junk")]), CKR.USER_NOT_LOGGED_IN);
      assert.equal(await dev.rv("+PKCSSETATTR", [user, pub, tpl([CKA.LABEL, text("renamed")])]), CKR.USER_NOT_LOGGED_IN);
      assert.equal(await dev.rv("+PKCSDESTROY", [user, pub]), CKR.USER_NOT_LOGGED_IN);
      assert.equal(await dev.rv("+PKCSCREATE", [user, tpl([CKA.CLASS, ulongValue(CKO.DATA)], [CKA.LABEL, text("session")])]), CKR.OK);
      // the user may
      await dev.at("+PKCSLOGIN", [user, CKU.USER, PIN]);
      const [[o]] = (await dev.at("+PKCSCREATE", [user, dataObject("mine")])) as number[][];
      await dev.at("+PKCSSETATTR", [user, o, tpl([CKA.LABEL, text("renamed")])]);
      await dev.at("+PKCSDESTROY", [user, o]);
      await dev.at("+PKCSCLOSE", [user]);
      // the SO may write public token objects, not private ones
      const [[so]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
      await dev.at("+PKCSLOGIN", [so, CKU.SO, SO_PIN]);
      const [[p]] = (await dev.at("+PKCSCREATE", [so, dataObject("so's")])) as number[][];
      assert.equal(await dev.rv("+PKCSCREATE", [so, dataObject("private", [[CKA.PRIVATE, boolValue(true)]])]), CKR.USER_NOT_LOGGED_IN);
      assert.equal(await dev.rv("+PKCSSETATTR", [so, pub, tpl([CKA.LABEL, text("so")])]), CKR.OK);
      await dev.at("+PKCSDESTROY", [so, p]);
      await dev.at("+PKCSCLOSE", [so]);
    });

    it("a PIN shorter than the minimum answers CKR_PIN_LEN_RANGE and costs no try (finding 7)", async () => {
      const [[s]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
      for (let i = 0; i < 5; i++) // more than the user PIN's 3 tries
        assert.equal(await dev.rv("+PKCSLOGIN", [s, CKU.USER, "1".repeat(MIN_PIN - 1)]), CKR.PIN_LEN_RANGE);
      await dev.at("+PKCSLOGIN", [s, CKU.USER, PIN]);
      await dev.at("+PKCSCLOSE", [s]);
    });

    it("never reuses a handle: a stale one is CKR_OBJECT_HANDLE_INVALID, across restarts too", async () => {
      const [[s]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
      await dev.at("+PKCSLOGIN", [s, CKU.USER, PIN]);
      const [[a]] = (await dev.at("+PKCSCREATE", [s, dataObject("a")])) as number[][];
      await dev.at("+PKCSDESTROY", [s, a]);
      const [[b]] = (await dev.at("+PKCSCREATE", [s, dataObject("b")])) as number[][];
      assert.notEqual(b, a);
      assert.equal(await dev.rv("+PKCSATTR", [s, a, encodeTypes([CKA.LABEL])]), CKR.OBJECT_HANDLE_INVALID);
      assert.equal(await dev.rv("+PKCSDESTROY", [s, a]), CKR.OBJECT_HANDLE_INVALID);
      const [[x]] = (await dev.at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.DATA)])])) as number[][];
      await dev.at("+PKCSDESTROY", [s, x]);
      const [[y]] = (await dev.at("+PKCSCREATE", [s, tpl([CKA.CLASS, ulongValue(CKO.DATA)])])) as number[][];
      assert.notEqual(y, x, "session object handles too");
      // the highest handle destroyed, then a restart: the counter lives in the store
      await dev.at("+PKCSDESTROY", [s, b]);
      await dev.stop();
      dev = await startDevice(flash);
      const [[s2]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
      await dev.at("+PKCSLOGIN", [s2, CKU.USER, PIN]);
      const [[c]] = (await dev.at("+PKCSCREATE", [s2, dataObject("c")])) as number[][];
      assert.ok(c > b, `new handle ${c} after ${b} was destroyed and the device restarted`);
      await dev.at("+PKCSCLOSE", [s2]);
    });
  });

  it("the C glue uses a secret only as the kind of key its object is (edSign/edPublic: Ed25519 seeds only)", async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    const flash = path.join(dir, "kinds.bin");
    await provision(flash, "kinds", SO_PIN, PIN);
    const dev = await startDevice(flash);
    const [[s]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
    await dev.at("+PKCSLOGIN", [s, CKU.USER, PIN]);
    const [[p256pub, p256]] = (await dev.at("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, P256]), tpl()])) as number[][];
    const [[, ed]] = (await dev.at("+PKCSGENKP", [s, CKM.EC_EDWARDS_KEY_PAIR_GEN, tpl([CKA.EC_PARAMS, ED25519]), tpl()])) as number[][];
    const [[, rsa]] = (await dev.at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, tpl([CKA.MODULUS_BITS, ulongValue(2048)]), tpl()])) as number[][];
    await dev.stop();
    const got = await glue(flash, `
      const hash = new Uint8Array(32).fill(1).buffer, block = new Uint8Array(256).fill(1).buffer;
      done({
        edSignP256: attempt(() => N("xs_wim_ed_sign")(${p256}, hash)),
        edSignRsa: attempt(() => N("xs_wim_ed_sign")(${rsa}, hash)),
        edSignPublic: attempt(() => N("xs_wim_ed_sign")(${p256pub}, hash)),
        edPublicP256: attempt(() => N("xs_wim_ed_public")(${p256})),
        edSign: attempt(() => N("xs_wim_ed_sign")(${ed}, hash)),
        edPublic: attempt(() => N("xs_wim_ed_public")(${ed})),
        signEdAsP256: attempt(() => N("xs_wim_ec_sign")(${ed}, 1, hash)),
        signP256AsP384: attempt(() => N("xs_wim_ec_sign")(${p256}, 2, hash)),
        signP256: attempt(() => N("xs_wim_ec_sign")(${p256}, 1, hash)),
        ecdhRsa: attempt(() => N("xs_wim_ec_ecdh")(${rsa}, 1, new Uint8Array(64).buffer)),
        rsaP256: attempt(() => N("xs_wim_rsa_private")(${p256}, block)),
        rsa: attempt(() => N("xs_wim_rsa_private")(${rsa}, block)),
        ecPublicEd: attempt(() => N("xs_wim_ec_public")(${ed}, 1)),
        ecPublicRsa: attempt(() => N("xs_wim_ec_public")(${rsa}, 1)),
        ecPublicAsP384: attempt(() => N("xs_wim_ec_public")(${p256}, 2)),
        ecPublic: attempt(() => N("xs_wim_ec_public")(${p256}, 1)),
      });`);
    assert.deepEqual(got, {
      edSignP256: "WIM_E_SECRET", edSignRsa: "WIM_E_SECRET", edSignPublic: "WIM_E_SECRET", edPublicP256: "WIM_E_SECRET",
      edSign: 64, edPublic: 32,
      signEdAsP256: "WIM_E_SECRET", signP256AsP384: "WIM_E_SECRET", signP256: 64, ecdhRsa: "WIM_E_SECRET",
      rsaP256: "WIM_E_SECRET", rsa: 256,
      ecPublicEd: "WIM_E_SECRET", ecPublicRsa: "WIM_E_SECRET", ecPublicAsP384: "WIM_E_SECRET", ecPublic: 64,
    });
  });

  it("a power cut at any flash operation of C_CreateObject leaves no object or the whole one", async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    const base = path.join(dir, "cut-base.bin");
    await provision(base, "cut", SO_PIN, PIN);
    const create = async (d: SimDevice) => {
      const [[s]] = (await d.at("+PKCSOPEN", [RW])) as number[][];
      await d.at("+PKCSLOGIN", [s, CKU.USER, PIN]);
      const [[k]] = (await d.at("+PKCSCREATE", [s, importedKey])) as number[][];
      return k;
    };
    const uncut = path.join(dir, "cut-uncut.bin");
    copyFileSync(base, uncut);
    const first = await startDevice(uncut, { stats: true });
    const handle = await create(first);
    await first.stop();
    const { writes, erases } = flashStats(first.stderr());
    const ops = writes + erases;
    const flash = path.join(dir, "cut.bin");
    let none = 0, whole = 0;
    for (let n = 0; n <= ops; n++) {
      copyFileSync(base, flash);
      const d = await startDevice(flash, { cutAfter: n });
      const done = await create(d).then(() => true, () => false);
      if (done) await d.stop();
      else assert.equal(await d.exited, 99, `cut ${n}: a power cut`);
      // what the store holds for the object's id: its record, a secret that signs, the handle counter
      const got = (await glue(flash, `
        let record; // true, false, or the error (a secret without its record: WIM_E_SECRET)
        try { record = N("xs_wim_store_get")(${handle}) !== undefined; } catch (e) { record = e.message; }
        const counter = N("xs_wim_store_get")(2);
        const signs = attempt(() => N("xs_wim_ec_sign")(${handle}, 1, new Uint8Array(32).buffer));
        const removed = N("xs_wim_store_remove")(${handle}); // true if a record or a secret was there
        done({ record, signs, removed, counter: counter === undefined ? null : new DataView(counter).getUint32(0, true) });`)) as {
        record: boolean | string; signs: number | string; removed: boolean; counter: number | null;
      };
      if (!got.removed) {
        none++;
        assert.deepEqual(got, { record: false, signs: "WIM_E_NOTFOUND", removed: false, counter: null }, `cut ${n}: nothing at all`);
      } else {
        whole++;
        assert.deepEqual(got, { record: true, signs: 64, removed: true, counter: handle + 1 }, `cut ${n}: the whole object`);
      }
    }
    console.log(`      ${ops} flash operations in a login + C_CreateObject: ${none} cuts left nothing, ${whole} the whole object`);
    assert.ok(none > 0 && whole > 0, "both outcomes were seen");
  });

  describe("with pkcs11-tool through the module and the agent", () => {
    let sim: SimToken;
    before(async () => {
      sim = await startSim(tempDir("objects-p11"));
      await generateKeys(sim.socket, EC_KEY);
    });
    after(async () => sim?.stop());

    it("deletes or renames the public key that ssh reads only after --login", async () => {
      const p11 = (...args: string[]) => exec("pkcs11-tool", ["--module", MODULE, ...args], { env: { WIM_AGENT_SOCKET: sim.socket } });
      const count = async () => (await p11("--list-objects", "--type", "pubkey")).stdout.split("Public Key Object").length - 1;
      assert.equal(await count(), 1);
      const del = await p11("--delete-object", "--type", "pubkey", "--id", EC_KEY.id);
      assert.notEqual(del.code, 0, show(del));
      assert.match(del.stdout + del.stderr, /CKR_USER_NOT_LOGGED_IN/);
      const ren = await p11("--set-id", "99", "--type", "pubkey", "--id", EC_KEY.id);
      assert.notEqual(ren.code, 0, show(ren));
      assert.equal(await count(), 1, "the public key is still there");
      const ok = await p11("--login", "--pin", PIN, "--delete-object", "--type", "pubkey", "--id", EC_KEY.id);
      assert.equal(ok.code, 0, show(ok));
      assert.equal(await count(), 0);
    });
  });
});
