/**
 * PIN retry discipline under power cuts, end to end on the simulator (the real firmware on XS, the C
 * store, the NOR file flash): a run of logins — wrong, wrong, right, again and again, enough for the
 * store to compact — is repeated with the power cut at every flash write and erase it makes
 * (wim-sim --cut-after N for each N). After each cut the device reboots on the flash as the cut left it:
 *  - the token mounts, with its label, its PINs and its key pair (the right PIN logs in and both
 *    objects are found — or, if the cut took the final try, the PIN is locked and the public object
 *    is still found);
 *  - the retry counter is what the last answered login left, or what the login in flight would leave
 *    — for a wrong PIN that is one try fewer, never one more: no cut restores a try; and a login the
 *    device answered is durable (the counter was saved before the PIN was compared);
 * and without cuts a right PIN resets the counter.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKA, CKF, CKK, CKM, CKR, CKU } from "../../modules/at/pkcs11.js";
import { boolValue, encodeTemplate, ulongValue } from "../../modules/at/template.js";
import { BUNDLE, SIM, type SimDevice, flashStats, provision, startDevice } from "../store/simdev.js";

const FLASH_SIZE = 16384; // 4 sectors: the logins below make the store compact several times
const USER_PIN = "135790";
const WRONG = "000000";
const MAX_TRIES = 3;
const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
/** The logins of one run: W wrong, R right. */
const SCRIPT = "WWRWRWWR".repeat(5).split("");

/** The user PIN's remaining tries, from the token flags. */
function tries(flags: number): number {
  if (flags & CKF.USER_PIN_LOCKED) return 0;
  if (flags & CKF.USER_PIN_FINAL_TRY) return 1;
  if (flags & CKF.USER_PIN_COUNT_LOW) return 2;
  return MAX_TRIES;
}

async function userTries(dev: SimDevice): Promise<{ tries: number; label: string; flags: number }> {
  const [[label, flags]] = (await dev.at("+PKCSTOKEN")) as [[string, number]];
  return { tries: tries(flags), label, flags };
}

/** Runs the script; returns how many logins the device answered and what it answered. */
async function runScript(dev: SimDevice): Promise<{ answered: number; results: number[] }> {
  const results: number[] = [];
  try {
    const [[h]] = (await dev.at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
    for (const step of SCRIPT) {
      const rv = await dev.rv("+PKCSLOGIN", [h, CKU.USER, step === "R" ? USER_PIN : WRONG]);
      results.push(rv);
      if (rv === CKR.OK) await dev.at("+PKCSLOGOUT", [h]);
    }
  } catch {
    // the power went: the link closed under the command in flight
  }
  return { answered: results.length, results };
}

describe("power cuts during logins (simulator)", function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-powercut-"));
  const base = path.join(dir, "base.bin");
  /** Tries before each login of the script and after the last one (uncut run). */
  const expected: number[] = [];
  let totalOps = 0;

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip(); // `make build` first
    await provision(base, "pc", "87654321", USER_PIN, FLASH_SIZE);
    const dev = await startDevice(base, { flashSize: FLASH_SIZE });
    const [[h]] = (await dev.at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
    await dev.at("+PKCSLOGIN", [h, CKU.USER, USER_PIN]);
    const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
    await dev.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN, pub, priv]);
    await dev.stop();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("counts down on a wrong PIN, resets on the right one (no cut)", async () => {
    const flash = path.join(dir, "uncut.bin");
    copyFileSync(base, flash);
    const dev = await startDevice(flash, { stats: true, flashSize: FLASH_SIZE });
    const [[h]] = (await dev.at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
    for (const step of SCRIPT) {
      expected.push((await userTries(dev)).tries);
      const rv = await dev.rv("+PKCSLOGIN", [h, CKU.USER, step === "R" ? USER_PIN : WRONG]);
      assert.equal(rv, step === "R" ? CKR.OK : CKR.PIN_INCORRECT);
      if (rv === CKR.OK) await dev.at("+PKCSLOGOUT", [h]);
    }
    expected.push((await userTries(dev)).tries);
    assert.deepEqual(expected.slice(0, 8), [3, 2, 1, 3, 2, 3, 2, 1]);
    await dev.stop();
    const stats = flashStats(dev.stderr());
    totalOps = stats.writes + stats.erases;
    assert.ok(stats.erases >= 2, `the run should make the store compact (erases: ${stats.erases})`);
  });

  it("never restores a try and keeps the store intact, whatever write or erase the power is cut at", async function () {
    assert.ok(totalOps > 0);
    const flash = path.join(dir, "cut.bin");
    let old = 0, advanced = 0, locked = 0;
    for (let n = 0; n < totalOps; n++) {
      copyFileSync(base, flash);
      const dev = await startDevice(flash, { cutAfter: n, flashSize: FLASH_SIZE });
      const { answered, results } = await runScript(dev);
      const code = await dev.exited;
      assert.equal(code, 99, `cut ${n}: wim-sim should have lost power (exit ${code}): ${dev.stderr()}`);
      assert.ok(answered < SCRIPT.length, `cut ${n}: the cut came after the script`);
      results.forEach((rv, i) => assert.equal(rv, SCRIPT[i] === "R" ? CKR.OK : CKR.PIN_INCORRECT, `cut ${n}: login ${i}`));

      const again = await startDevice(flash, { flashSize: FLASH_SIZE });
      const t = await userTries(again);
      assert.equal(t.label, "pc", `cut ${n}: token label`);
      assert.ok(t.flags & CKF.TOKEN_INITIALIZED && t.flags & CKF.USER_PIN_INITIALIZED, `cut ${n}: token flags ${t.flags}`);
      const before = expected[answered], afterIt = expected[answered + 1];
      // allowed: the state after the last answered login, or (partly) after the one in flight
      const allowed = SCRIPT[answered] === "W" ? [before, before - 1] : [before, before - 1, MAX_TRIES];
      assert.ok(allowed.includes(t.tries), `cut ${n} during login ${answered} (${SCRIPT[answered]}): ${t.tries} tries, ` +
        `before ${before}, after ${afterIt}`);
      if (SCRIPT[answered] === "W") assert.ok(t.tries <= before, `cut ${n}: a wrong login gave a try back`);
      if (t.tries === before) old++;
      else advanced++;
      // the store is intact: the right PIN logs in (unless the cut took the last try: a right PIN on the
      // final try whose reset was cut leaves the PIN locked — the price of saving before comparing),
      // and the key pair is there
      const [[h]] = (await again.at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
      const ecKeys = encodeTemplate([{ type: CKA.KEY_TYPE, value: ulongValue(CKK.EC) }]);
      if (t.tries === 0) {
        locked++;
        assert.equal(await again.rv("+PKCSLOGIN", [h, CKU.USER, USER_PIN]), CKR.PIN_LOCKED, `cut ${n}: locked`);
        assert.equal((await again.at("+PKCSFIND", [h, ecKeys])).length, 1, `cut ${n}: the public key object`);
      } else {
        assert.equal(await again.rv("+PKCSLOGIN", [h, CKU.USER, USER_PIN]), CKR.OK, `cut ${n}: login after the cut`);
        assert.equal((await userTries(again)).tries, MAX_TRIES, `cut ${n}: the right PIN resets the counter`);
        assert.equal((await again.at("+PKCSFIND", [h, ecKeys])).length, 2, `cut ${n}: the key pair's two objects`);
      }
      await again.stop();
    }
    console.log(`      ${totalOps} cut points (every flash write and erase of ${SCRIPT.length} logins): ` +
      `${old} left the counter as before the login in flight, ${advanced} after its decrement or reset, ${locked} locked ` +
      `(a right PIN on the final try, cut before its reset); none gave a try back`);
  });
});
