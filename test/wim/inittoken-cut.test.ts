/**
 * C_InitToken under power cuts: re-initializing erases every object, and a cut must never leave the
 * re-initialized token (new label, no user PIN, a new owner to come) with any of the old objects. The
 * token state is written first, marked "erasing" (one record: the old state or the new one survives a
 * cut), and every start that finds the mark finishes the erase. (Re-initializing keeps the SO PIN, which
 * authorizes it, as PKCS#11 says.) With the power cut at every flash write and erase of a C_InitToken on
 * a token holding three key pairs, the rebooted token is either the old one with all six objects (and
 * the old user PIN), or the new one with none — checked after the SO sets a new user PIN and that user
 * looks. Without the mark, a cut in the middle of the erase left old keys to the new owner (cut 9 of 24).
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKA, CKF, CKM, CKU } from "../../modules/at/pkcs11.js";
import { encodeTemplate } from "../../modules/at/template.js";
import { BUNDLE, SIM, type SimDevice, flashStats, provision, startDevice } from "../store/simdev.js";

const SO = "87654321", PIN = "135790", NEW_PIN = "246802";
const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const RW = CKF.SERIAL_SESSION | CKF.RW_SESSION;

/** The objects a user with `pin` sees (private ones included). */
async function objectsSeen(dev: SimDevice, pin: string): Promise<number> {
  const [[h]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
  await dev.at("+PKCSLOGIN", [h, CKU.USER, pin]);
  const found = await dev.at("+PKCSFIND", [h, encodeTemplate([])]);
  await dev.at("+PKCSCLOSE", [h]);
  return found.length;
}

describe("power cuts during C_InitToken (simulator)", function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-initcut-"));
  const base = path.join(dir, "base.bin");
  let ops = 0;

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    await provision(base, "old", SO, PIN);
    const dev = await startDevice(base);
    const [[h]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
    await dev.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
    for (let i = 0; i < 3; i++) {
      await dev.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]), new Uint8Array(0)]);
    }
    await dev.at("+PKCSCLOSE", [h]);
    await dev.stop();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("erases every object (no cut)", async () => {
    const flash = path.join(dir, "uncut.bin");
    copyFileSync(base, flash);
    const dev = await startDevice(flash, { stats: true });
    try {
      assert.equal(await objectsSeen(dev, PIN), 6);
    } finally {
      await dev.stop();
    }
    copyFileSync(base, flash);
    const again = await startDevice(flash, { stats: true });
    try {
      await again.at("+PKCSINIT", [SO, "new"]); // a re-initialization: the SO PIN authorizes it and stays
    } finally {
      await again.stop();
    }
    const stats = flashStats(again.stderr());
    ops = stats.writes + stats.erases;
    assert.ok(ops >= 7, `a state write and six removals at least (${ops})`);
    const after = await startDevice(flash);
    try {
      assert.equal(await newOwnerSees(after), 0);
    } finally {
      await after.stop();
    }
  });

  /** The new SO sets a user PIN; the objects that user sees. */
  async function newOwnerSees(dev: SimDevice): Promise<number> {
    const [[h]] = (await dev.at("+PKCSOPEN", [RW])) as number[][];
    await dev.at("+PKCSLOGIN", [h, CKU.SO, SO]);
    await dev.at("+PKCSINITPIN", [h, NEW_PIN]);
    await dev.at("+PKCSCLOSE", [h]);
    return objectsSeen(dev, NEW_PIN);
  }

  it("leaves the old token whole or the new one empty, whatever write or erase the power is cut at", async () => {
    assert.ok(ops > 0);
    const flash = path.join(dir, "cut.bin");
    let oldToken = 0, newToken = 0;
    for (let n = 0; n < ops; n++) {
      copyFileSync(base, flash);
      const dev = await startDevice(flash, { cutAfter: n });
      await dev.at("+PKCSINIT", [SO, "new"]).catch(() => undefined); // the power goes under it
      assert.equal(await dev.exited, 99, `cut ${n}: wim-sim should have lost power: ${dev.stderr()}`);
      const again = await startDevice(flash);
      try {
        const [[label]] = (await again.at("+PKCSTOKEN")) as [[string]];
        if (label === "old") {
          oldToken++;
          assert.equal(await objectsSeen(again, PIN), 6, `cut ${n}: the old token keeps all its objects`);
        } else {
          newToken++;
          assert.equal(label, "new", `cut ${n}: label`);
          assert.equal(await newOwnerSees(again), 0, `cut ${n}: the new token shows none of the old objects`);
        }
      } finally {
        await again.stop();
      }
    }
    assert.ok(oldToken > 0 && newToken > 0, `both outcomes occur (old ${oldToken}, new ${newToken})`);
    console.log(`      ${ops} cut points of a C_InitToken over 6 objects: ${oldToken} left the old token whole, ` +
      `${newToken} the new token, empty after the erase was finished at start-up`);
  });
});
