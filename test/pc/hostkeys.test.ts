/**
 * pc/agent/hostkeys.ts: where the host's key and the paired devices' keys live, with which modes, and
 * what is refused (a directory others can write or that another user owns, a host key others can read).
 * Run: npx mocha test/pc/hostkeys.test.ts
 */
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { HostKeys, UnsafeStateError, defaultStateDir } from "../../pc/agent/hostkeys.js";
import { p256Key } from "../../pc/agent/noise-p256.js";

const mode = (f: string) => statSync(f).mode & 0o777;
const fresh = () => path.join(mkdtempSync(path.join(os.tmpdir(), "wim-hostkeys-")), "state");

describe("host keys (pc/agent/hostkeys.ts)", () => {
  it("picks $WIM_STATE_DIR, else $XDG_STATE_HOME/wim, else ~/.local/state/wim", () => {
    assert.equal(defaultStateDir({ WIM_STATE_DIR: "/a/b", XDG_STATE_HOME: "/x" }), "/a/b");
    assert.equal(defaultStateDir({ XDG_STATE_HOME: "/x" }), "/x/wim");
    assert.equal(defaultStateDir({}), path.join(os.homedir(), ".local/state/wim"));
  });

  it("makes the directory 0700 and the host key 0600 on first need, and reads the same key back", () => {
    const dir = fresh();
    const a = new HostKeys(dir).hostKey();
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(path.join(dir, "host-key.json")), 0o600);
    const b = new HostKeys(dir).hostKey();
    assert.deepEqual(b.publicKey, a.publicKey);
    assert.equal(b.publicKey.length, 65);
  });

  it("saves a device's key 0600 under its serial, finds it, and forgets it", () => {
    const dir = fresh();
    const keys = new HostKeys(dir);
    assert.equal(keys.device("SIM01"), undefined);
    const device = p256Key().publicKey;
    keys.saveDevice("SIM01", device);
    const file = path.join(dir, "devices", "SIM01.json");
    assert.equal(mode(file), 0o600);
    assert.equal(mode(path.join(dir, "devices")), 0o700);
    const known = new HostKeys(dir).device("SIM01")!;
    assert.deepEqual(known.publicKey, device);
    assert.equal(known.link, "serial");
    assert.ok(!Number.isNaN(Date.parse(known.paired)));
    assert.ok(keys.forgetDevice("SIM01"));
    assert.ok(!existsSync(file));
    assert.equal(keys.device("SIM01"), undefined);
  });

  it("refuses a host key that others can read", () => {
    const dir = fresh();
    new HostKeys(dir).hostKey();
    chmodSync(path.join(dir, "host-key.json"), 0o644);
    assert.throws(() => new HostKeys(dir).hostKey(), (e: Error) => e instanceof UnsafeStateError && /mode 0644/.test(e.message));
    chmodSync(path.join(dir, "host-key.json"), 0o640);
    assert.throws(() => new HostKeys(dir).hostKey(), UnsafeStateError);
  });

  it("refuses a device file that others can change", () => {
    const dir = fresh();
    const keys = new HostKeys(dir);
    keys.saveDevice("SIM02", p256Key().publicKey);
    chmodSync(path.join(dir, "devices", "SIM02.json"), 0o666);
    assert.throws(() => keys.device("SIM02"), UnsafeStateError);
  });

  it("refuses a state directory others can write", () => {
    const dir = fresh();
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o777);
    assert.throws(() => new HostKeys(dir).hostKey(), (e: Error) => e instanceof UnsafeStateError && /writable by other users/.test(e.message));
    assert.throws(() => new HostKeys(dir).device("SIM03"), UnsafeStateError);
    assert.ok(!existsSync(path.join(dir, "host-key.json")), "no key written there");
  });

  it("refuses a state directory another user owns", function () {
    if (process.getuid!() !== 0) this.skip(); // only root can give a directory away
    const dir = fresh();
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, 65534, 65534);
    assert.throws(() => new HostKeys(dir).hostKey(), (e: Error) => e instanceof UnsafeStateError && /owned by uid 65534/.test(e.message));
  });

  it("refuses a serial that is not a plain file name, and a key that is not a P-256 point", () => {
    const keys = new HostKeys(fresh());
    assert.throws(() => keys.saveDevice("../host-key", p256Key().publicKey), UnsafeStateError);
    assert.throws(() => keys.device("a/b"), UnsafeStateError);
    assert.throws(() => keys.saveDevice("SIM04", new Uint8Array(65)), UnsafeStateError);
  });

  it("refuses a host key file whose public key does not belong to its secret", () => {
    const dir = fresh();
    new HostKeys(dir).hostKey();
    const file = path.join(dir, "host-key.json");
    const saved = JSON.parse(readFileSync(file, "utf8"));
    saved.public = Buffer.from(p256Key().publicKey).toString("hex");
    writeFileSync(file, JSON.stringify(saved), { mode: 0o600 });
    assert.throws(() => new HostKeys(dir).hostKey(), /does not belong/);
  });
});
