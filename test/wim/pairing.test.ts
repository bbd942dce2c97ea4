/**
 * modules/wim/pairing.ts in Node, on an Env whose store is a Map (the C core's store contract: PUBLIC
 * records, transactions): what the simulator cannot show — an Env without a presence input refuses
 * pairing, a link of unknown or radio kind refuses it — and the window's rules on a scripted button.
 * Run: npx mocha test/wim/pairing.test.ts
 */
import assert from "node:assert/strict";
import { CKA } from "../../modules/at/pkcs11.js";
import { encodeTemplate } from "../../modules/at/template.js";
import type { Env, Presence } from "../../modules/wim/env.js";
import type { NativeCrypto } from "../../modules/wim/native.js";
import { CHANNEL_KEY_RECORD, PAIR_STATE, Pairing, PairingRefused } from "../../modules/wim/pairing.js";
import { BleTransport } from "../../modules/wim/ble.js";
import { p256Key } from "../../pc/agent/noise-p256.js";

const deviceKey = p256Key().publicKey;

/** An Env over an in-memory store that already holds a channel key; `presence` as given. */
function env(presence?: Presence): { env: Env; records: Map<number, ArrayBuffer> } {
  const records = new Map<number, ArrayBuffer>([[CHANNEL_KEY_RECORD, encodeTemplate([{ type: CKA.EC_POINT, value: deviceKey }]).slice().buffer as ArrayBuffer]]);
  let staged: Map<number, ArrayBuffer> | undefined;
  const native = {
    storeGet: (id: number) => records.get(id),
    storePut: (id: number, data: ArrayBuffer) => void (staged ?? records).set(id, data.slice(0)),
    storeBegin: () => void (staged = new Map()),
    storeCommit: () => {
      for (const [k, v] of staged!) records.set(k, v);
      staged = undefined;
    },
    storeAbort: () => void (staged = undefined),
  } as unknown as NativeCrypto;
  return { env: { transports: [], native, random: () => {}, now: () => Date.now(), log: () => {}, serial: "T", presence }, records };
}

/** A button the test presses: wait() resolves at press() (or false after ms). */
function button(): Presence & { press(): void } {
  const waiters: ((v: boolean) => void)[] = [];
  return {
    pressed: () => false,
    wait: (ms) => new Promise((resolve) => {
      waiters.push(resolve);
      setTimeout(() => resolve(false), ms);
    }),
    held: async () => false,
    onChange: () => {},
    press: () => waiters.splice(0).forEach((w) => w(true)),
  };
}

describe("pairing rules (Node)", () => {
  it("uses the stored channel key and refuses pairing without a presence input", () => {
    const p = new Pairing(env().env);
    assert.deepEqual(p.publicKey, deviceKey);
    assert.throws(() => p.request(p256Key().publicKey, "x", "serial"), PairingRefused);
  });

  it("refuses pairing on the radio and on a link of unknown kind", () => {
    const p = new Pairing(env(button()).env);
    assert.throws(() => p.request(p256Key().publicKey, "x", "ble"), PairingRefused);
    assert.throws(() => p.request(p256Key().publicKey, "x", undefined), PairingRefused);
    assert.equal(p.status()[0], PAIR_STATE.CLOSED);
  });

  it("a press pairs; a second request in the window cancels both", async () => {
    const b = button();
    const { env: e, records } = env(b);
    const p = new Pairing(e);
    const host = p256Key().publicKey;
    assert.equal(p.request(host, "h", "serial"), 30);
    assert.equal(p.status()[0], PAIR_STATE.WAITING);
    b.press();
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(p.status(), [PAIR_STATE.PAIRED, deviceKey]);
    assert.equal(p.paired, 1);
    assert.ok(p.isPaired(host) && records.has(5));
    p.request(p256Key().publicKey, "a", "serial");
    assert.throws(() => p.request(p256Key().publicKey, "b", "serial"), PairingRefused);
    assert.equal(p.status()[0], PAIR_STATE.CLOSED);
    b.press();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(p.paired, 1);
    assert.equal(p.remove(host), true);
    assert.equal(p.paired, 0);
  });

  it("unpairing every host makes the radio forget its bonds (the BLE layer under the channel); removing one host does not", async () => {
    const b = button();
    const { env: e } = env(b);
    let forgotten = 0;
    const radio = new BleTransport({ notifyValue: () => {}, forgetBonds: () => void forgotten++ }, () => () => {});
    const p = new Pairing({ ...e, transports: [radio] });
    const one = p256Key().publicKey, two = p256Key().publicKey;
    for (const host of [one, two]) {
      p.request(host, "h", "serial");
      b.press();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(p.paired, 2);
    p.remove(one);
    assert.equal(forgotten, 0, "one host unpaired: the bonds stay");
    p.removeAll("test");
    assert.equal(p.paired, 0);
    assert.equal(forgotten, 1, "every host unpaired: the stack's bonds are deleted");
  });
});
