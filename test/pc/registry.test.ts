/**
 * pc/agent/registry.ts and the port side of pc/agent/watch.ts: slot IDs from serials (stable, never
 * the module's "no agent" slot, distinct within one agent even when two serials hash alike), attach
 * and detach, the event log C_WaitForSlotEvent reads, and the glob and link helpers.
 * Run: npx mocha test/pc/registry.test.ts
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { Device } from "../../pc/agent/device.js";
import { AtLink, type ByteStream } from "../../pc/agent/link.js";
import { NO_AGENT_SLOT, Registry, slotIdOf } from "../../pc/agent/registry.js";
import { expandGlob, linkPty, watchFromEnv } from "../../pc/agent/watch.js";

/** A device whose identity is known (as after Device.attach) on a link that nobody answers. */
function device(serial: string): Device & { closed: boolean } {
  const stream: ByteStream & { closed: boolean } = {
    closed: false, write: () => undefined, onData: () => undefined, onClose: () => undefined,
    close() { this.closed = true; },
  };
  const d = new Device(new AtLink(stream)) as Device & { closed: boolean };
  d.identity = { manufacturer: "WIM project", model: "WIM", revision: "0.1", serial };
  Object.defineProperty(d, "closed", { get: () => stream.closed });
  return d;
}

/** Two serials whose slot IDs collide (a birthday search over "SIM" + 12 hex digits). */
function collidingSerials(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const s = "SIM" + i.toString(16).toUpperCase().padStart(12, "0");
    const id = slotIdOf(s);
    const other = seen.get(id);
    if (other) return [other, s];
    seen.set(id, s);
  }
}

describe("the agent's device registry (pc/agent/registry.ts)", () => {
  it("a slot ID is the first four bytes of SHA-256 of the serial, top bit cleared: the same in every agent", () => {
    for (const s of ["SIM0123456789AB", "WIM-ESP32-00001", ""]) {
      const h = createHash("sha256").update(s).digest();
      assert.equal(slotIdOf(s), ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) & 0x7fffffff);
      assert.ok(slotIdOf(s) !== NO_AGENT_SLOT && slotIdOf(s) >= 0 && slotIdOf(s) < 2 ** 31);
    }
    assert.equal(new Registry().attach(device("SIMA"), "serial /dev/a").id, new Registry().attach(device("SIMA"), "serial /dev/b").id);
  });

  it("two serials with the same hash get distinct slots in one agent (the later one the next free ID)", () => {
    const [first, second] = collidingSerials();
    assert.equal(slotIdOf(first), slotIdOf(second));
    const r = new Registry();
    const a = r.attach(device(first), "serial /dev/a"), b = r.attach(device(second), "serial /dev/b");
    assert.equal(a.id, slotIdOf(first));
    assert.equal(b.id, (a.id + 1) % 2 ** 31 === NO_AGENT_SLOT ? 0 : (a.id + 1) % 2 ** 31);
    assert.deepEqual(r.list().map((s) => s.serial).sort(), [first, second].sort());
  });

  it("detach keeps the slot without a token; the same serial on another port gets the same slot back", async () => {
    const r = new Registry();
    const d1 = device("SIM000000000001"), d2 = device("SIM000000000002");
    const s1 = r.attach(d1, "serial /dev/ttyACM0");
    r.attach(d2, "serial /dev/ttyACM1");
    r.detach(d1);
    assert.ok(d1.gone && d1.closed, "the device is marked gone and its link closed");
    await assert.rejects(d1.run("+PKCSTOKEN"), (e: unknown) => e instanceof PkcsError && e.rv === CKR.DEVICE_REMOVED);
    assert.deepEqual(r.list(true).map((s) => s.serial), ["SIM000000000002"]);
    assert.equal(r.list(false).length, 2);
    assert.equal(r.slot(s1.id)!.device, undefined);
    const back = device("SIM000000000001");
    assert.equal(r.attach(back, "serial /dev/ttyACM7").id, s1.id);
    assert.equal(r.slot(s1.id)!.link, "serial /dev/ttyACM7");
  });

  it("a second device with the serial of an attached one is refused", () => {
    const r = new Registry();
    r.attach(device("SIMDUP"), "serial /dev/a");
    assert.throws(() => r.attach(device("SIMDUP"), "serial /dev/b"), /already attached/);
  });

  it("events: numbered in order, none before the application's start, a waiter woken by the next one", async () => {
    const r = new Registry();
    const d = device("SIMEV");
    const s = r.attach(d, "serial /dev/a");
    const e1 = r.nextEvent(0, 0)!;
    assert.deepEqual([e1.seq, e1.slot], [1, s.id]);
    assert.equal(r.nextEvent(1, 0), undefined);
    assert.equal(r.nextEvent(0, Date.now() + 1000), undefined, "an application started later does not see it");
    const controller = new AbortController();
    const waiting = r.waitEvent(1, 0, controller.signal);
    r.detach(d);
    assert.deepEqual(await waiting, r.nextEvent(1, 0));
    const aborted = r.waitEvent(2, 0, controller.signal);
    controller.abort();
    assert.equal(await aborted, undefined, "the application went away");
  });
});

describe("watch mode's ports (pc/agent/watch.ts)", () => {
  it("globs in the last component, $WIM_WATCH colon-separated, a missing directory names nothing", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "wim-watch-"));
    for (const n of ["wim-a", "wim-b", "other", "wim-c.log"]) writeFileSync(path.join(dir, n), "");
    assert.deepEqual(expandGlob(path.join(dir, "wim-?")), ["wim-a", "wim-b"].map((n) => path.join(dir, n)));
    assert.deepEqual(expandGlob(path.join(dir, "wim-*")).length, 3);
    assert.deepEqual(expandGlob(path.join(dir, "missing", "*")), []);
    assert.deepEqual(expandGlob("/dev/null"), ["/dev/null"]);
    assert.deepEqual(watchFromEnv({ WIM_WATCH: "/a/*::/b" }), ["/a/*", "/b"]);
  });

  it("wim sim --link replaces a symbolic link, never a file", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "wim-link-"));
    const link = path.join(dir, "wim");
    symlinkSync("/dev/pts/999", link);
    linkPty(link, "/dev/pts/1");
    assert.equal(readlinkSync(link), "/dev/pts/1");
    const file = path.join(dir, "file");
    writeFileSync(file, "keep");
    assert.throws(() => linkPty(file, "/dev/pts/1"), /not a symbolic link/);
  });
});
