/**
 * A key pair is one store transaction: with the power cut at every flash write and erase of a
 * C_GenerateKeyPair on the real firmware, the rebooted token holds either no new object or the
 * whole pair (private key, public key, and the secret that signs).
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKA, CKF, CKK, CKM, CKO, CKR, CKU } from "../../modules/at/pkcs11.js";
import { encodeTemplate, ulongValue } from "../../modules/at/template.js";
import { BUNDLE, SIM, type SimDevice, flashStats, provision, startDevice } from "../store/simdev.js";

const PIN = "135790";
const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);

async function generate(dev: SimDevice): Promise<number> {
  const [[h]] = (await dev.at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
  await dev.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
  await dev.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]), new Uint8Array(0)]);
  return h;
}

describe("power cuts during key generation (simulator)", function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-keygencut-"));
  const base = path.join(dir, "base.bin");
  let ops = 0;

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    await provision(base, "kg", "87654321", PIN);
    const flash = path.join(dir, "uncut.bin");
    copyFileSync(base, flash);
    const dev = await startDevice(flash, { stats: true });
    const h = await generate(dev);
    await dev.at("+PKCSLOGOUT", [h]); // writes nothing
    await dev.stop();
    const stats = flashStats(dev.stderr());
    ops = stats.writes + stats.erases;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("leaves no object or the whole key pair at every cut point", async () => {
    assert.ok(ops > 0);
    const flash = path.join(dir, "cut.bin");
    let none = 0, whole = 0;
    for (let n = 0; n <= ops; n++) {
      copyFileSync(base, flash);
      const dev = await startDevice(flash, { cutAfter: n });
      const done = await generate(dev).then(() => true, () => false);
      if (done) await dev.stop(); // n = ops: no cut during the generation
      else assert.equal(await dev.exited, 99, `cut ${n}: a power cut`);
      const again = await startDevice(flash);
      const [[h]] = (await again.at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
      assert.equal(await again.rv("+PKCSLOGIN", [h, CKU.USER, PIN]), CKR.OK, `cut ${n}: login`);
      const ec = (cls: number) => encodeTemplate([{ type: CKA.CLASS, value: ulongValue(cls) }, { type: CKA.KEY_TYPE, value: ulongValue(CKK.EC) }]);
      const privs = (await again.at("+PKCSFIND", [h, ec(CKO.PRIVATE_KEY)])) as number[][];
      const pubs = (await again.at("+PKCSFIND", [h, ec(CKO.PUBLIC_KEY)])) as number[][];
      assert.equal(privs.length, pubs.length, `cut ${n}: ${privs.length} private and ${pubs.length} public keys`);
      if (privs.length === 0) none++;
      else {
        whole++;
        const [[sig]] = await again.at("+PKCSSIGN", [h, privs[0][0], CKM.ECDSA, new Uint8Array(32)]);
        assert.equal((sig as Uint8Array).length, 64, `cut ${n}: the secret signs`);
      }
      await again.stop();
    }
    console.log(`      ${ops} flash operations in a login + P-256 generation: ${none} cuts left no key, ${whole} the whole pair`);
    assert.ok(none > 0 && whole > 0, "both outcomes were seen");
  });
});
