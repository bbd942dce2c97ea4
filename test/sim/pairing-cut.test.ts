/**
 * Pairing and unpairing under power cuts (simulator): each rewrites the paired-hosts record in one store
 * transaction (modules/wim/pairing.ts). With the power cut at every flash write and erase that a
 * pairing (AT+PKCSPAIR, the press, the store) and an unpairing (AT+PKCSUNPAIR in the channel) make —
 * wim-sim --cut-after N for each N — the rebooted device answers, its table is readable, and the host is
 * either fully paired (AT+PKCSHS? counts it and its handshake opens the channel) or not at all (not
 * counted, its handshake refused).
 * (Each flash file has its own serial beside it, so the prologue is read from the device each time.)
 * Run: npx mocha test/sim/pairing-cut.test.ts (after `make build`).
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BUNDLE, type HostKey, SIM, SimHost, newHostKey, values } from "./channel-host.js";

/** Most cut points tried (a pairing takes far fewer flash operations). */
const MAX_CUTS = 60;

describe("power cuts during pairing and unpairing (simulator)", function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-paircut-"));
  const control = path.join(dir, "control.sock");
  const unpaired = path.join(dir, "unpaired.bin");
  const paired = path.join(dir, "paired.bin");
  const flash = path.join(dir, "cut.bin");
  const host: HostKey = newHostKey();
  let deviceKey: Uint8Array;

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    let dev = await SimHost.start(unpaired, { control }); // first start: the store and the channel key
    await dev.stop();
    copyFileSync(unpaired, paired);
    dev = await SimHost.start(paired, { control });
    const r = await dev.pair(host, "cut", true);
    assert.equal(r.state, 1);
    deviceKey = r.deviceKey!;
    await dev.stop();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Restarts on the flash the cut left; true if the host is paired, after checking it is all or nothing. */
  async function check(n: number): Promise<boolean> {
    const dev = await SimHost.start(flash, { control });
    try {
      assert.match(await dev.clear("AT"), /\r\nOK\r\n$/, `cut ${n}: the device answers`);
      const counted = values("+PKCSHS?", await dev.clear("AT+PKCSHS?"));
      assert.equal(counted.length, 1, `cut ${n}: the table is readable`);
      const [[count]] = counted as number[][];
      assert.ok(count === 0 || count === 1, `cut ${n}: ${count} hosts`);
      const opened = await dev.handshake(host, deviceKey, await dev.serial());
      assert.equal(opened, count === 1, `cut ${n}: counted ${count}, handshake ${opened ? "opened" : "refused"}`);
      if (opened) assert.match(await dev.secure("AT+PKCSTOKEN?"), /\r\nOK\r\n$/, `cut ${n}: the channel works`);
      return count === 1;
    } finally {
      await dev.stop();
    }
  }

  it("pairing: the host is paired wholly or not at all, whatever write the power is cut at", async () => {
    const seen = { paired: 0, not: 0 };
    let n = 0;
    for (; n < MAX_CUTS; n++) {
      copyFileSync(unpaired, flash);
      const dev = await SimHost.start(flash, { control, cutAfter: n });
      const r = await dev.pair(host, "cut", true);
      if (!dev.dead) {
        assert.equal(r.state, 1, `cut ${n} came after the pairing`);
        await dev.stop();
        break;
      }
      assert.equal(await dev.exited, 99, `cut ${n}: a power cut`);
      seen[(await check(n)) ? "paired" : "not"]++;
    }
    assert.ok(n > 0 && n < MAX_CUTS, `${n} cut points`);
    assert.ok(seen.not > 0, "some cut came before the commit");
    assert.ok(await check(n), "uncut: paired");
  });

  it("unpairing: the host is unpaired wholly or not at all, whatever write the power is cut at", async () => {
    const seen = { paired: 0, not: 0 };
    let n = 0;
    for (; n < MAX_CUTS; n++) {
      copyFileSync(paired, flash);
      const dev = await SimHost.start(flash, { control, cutAfter: n });
      assert.ok(await dev.handshake(host, deviceKey, await dev.serial()), `cut ${n}: ${dev.lastAnswer}`);
      const answer = await dev.secure("AT+PKCSUNPAIR");
      if (!dev.dead) {
        assert.match(answer, /\r\nOK\r\n$/, `cut ${n} came after the unpairing`);
        await dev.stop();
        break;
      }
      assert.equal(await dev.exited, 99, `cut ${n}: a power cut`);
      seen[(await check(n)) ? "paired" : "not"]++;
    }
    assert.ok(n > 0 && n < MAX_CUTS, `${n} cut points`);
    assert.ok(seen.paired > 0, "some cut came before the commit");
    assert.equal(await check(n), false, "uncut: unpaired");
  });
});
