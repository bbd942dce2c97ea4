/**
 * What a radio neighbour can make a watching agent do (docs/security.md): twelve advertisers of the
 * WIM service (radio stubs: they answer every AT line with OK, so none is a WIM) against
 * pc/agent/ble-watch.ts through the test BlueZ. Without --allow-unpaired none is connected (no name
 * names a paired device) but the one claiming a paired device's serial; with it, every one is probed,
 * never more than MAX_BLE_PROBES at once, each once and again only after a pause, and none gets a slot.
 * A device another BlueZ client is using is not written to.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { BleCentral } from "../../pc/agent/ble.js";
import { MAX_BLE_PROBES, RETRY_MS, BleWatcher } from "../../pc/agent/ble-watch.js";
import { HostKeys } from "../../pc/agent/hostkeys.js";
import { Registry } from "../../pc/agent/registry.js";
import { tempDir } from "../e2e/harness.js";
import { addressFor } from "./bluez.js";
import { type BluezHandle, startBluez } from "./harness.js";
import { RadioStub } from "./radio-stub.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAIRED = "SIM00000000BEEF";

describe("BLE watch mode against a flood of advertisers (radio stubs)", function () {
  this.timeout(60_000);
  const dir = tempDir("ble-flood");
  const stubs: RadioStub[] = [];
  let bz: BluezHandle;
  const keys = new HostKeys(path.join(dir, "host"));

  before(async () => {
    // this host is paired with PAIRED (a key of its own: no stub can prove it)
    keys.saveDevice(PAIRED, Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]));
    for (let i = 0; i < 12; i++) {
      const stub = await RadioStub.start(path.join(dir, `radio${i}.sock`));
      stub.name = i === 0 ? `WIM-${PAIRED}` : `WIM-FLOOD${String(i).padStart(4, "0")}`;
      stubs.push(stub);
    }
    bz = await startBluez(stubs.map((s) => s.path));
  });
  after(async () => {
    await bz?.stop();
    for (const s of stubs) await s.stop();
  });

  /** Runs a watcher for `ms`; its log. */
  async function watch(allowUnpaired: boolean, ms: number): Promise<{ log: string[]; registry: Registry }> {
    const registry = new Registry(), log: string[] = [];
    const w = new BleWatcher(registry, { secure: { keys }, allowUnpaired, busAddress: bz.busAddress, log: (t) => log.push(t) });
    w.start();
    await sleep(ms);
    await w.stop();
    return { log, registry };
  }

  it("without --allow-unpaired: only the advertiser claiming the paired serial is connected, and it gets no slot", async () => {
    const { log, registry } = await watch(false, 2_500);
    assert.equal(stubs[0].lines[0], "AT+GCAP", "asked the identification");
    assert.ok(stubs[0].lines.length <= 2 * 1, `asked once, and again only after ${RETRY_MS} ms: ${stubs[0].lines.join(" | ")}`);
    for (const s of stubs.slice(1)) assert.deepEqual(s.lines, [], `${s.name} never connected`);
    assert.deepEqual(registry.list(), []);
    assert.equal(log.filter((l) => /not paired with this host: left alone/.test(l)).length, 11, log.join("\n"));
  });

  it("with --allow-unpaired: every advertiser probed, at most MAX_BLE_PROBES at once, each again only after a pause; no slot", async () => {
    for (const s of stubs) s.lines.length = 0;
    bz.bluez.stats.maxConnected = 0;
    const { log, registry } = await watch(true, 3_500);
    assert.ok(bz.bluez.stats.maxConnected <= MAX_BLE_PROBES, `${bz.bluez.stats.maxConnected} connections at once`);
    for (const s of stubs) {
      assert.equal(s.lines[0], "AT+GCAP", `${s.name} probed`);
      assert.ok(s.lines.filter((l) => l === "AT+GCAP").length <= 2, `${s.name} asked ${s.lines.length} times in 3.5 s`);
      assert.ok(!s.lines.some((l) => l !== "AT+GCAP"), `${s.name}: only the identification: ${s.lines.join(" | ")}`);
    }
    assert.deepEqual(registry.list(), []);
    assert.equal(log.filter((l) => /not a WIM/.test(l)).length, 12, "each said once");
  });

  it("a device another BlueZ client is using (connected, subscribed) is left alone: no line written on its link", async () => {
    const other = await BleCentral.open({ busAddress: bz.busAddress, timeoutMs: 5_000 });
    try {
      const stream = await other.connect(addressFor(stubs[5].name));
      for (const s of stubs) s.lines.length = 0;
      const { log } = await watch(true, 1_500);
      assert.deepEqual(stubs[5].lines, [], "nothing written to the other client's device");
      assert.ok(stubs[6].lines.includes("AT+GCAP"), "the others probed");
      assert.match(log.join("\n"), new RegExp(`BLE ${addressFor(stubs[5].name)} \\(${stubs[5].name}\\): in use by another program: left alone`));
      await stream.release();
    } finally {
      other.close();
    }
  });
});
