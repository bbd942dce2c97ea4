/**
 * Links and their channels (modules/wim/sessions.ts, issue 12): each link (transport) has its own
 * channel 0 and the channels it opened; no link can select or close another's; ending a link closes
 * its channels and sessions and leaves the others'. The channel limits count every link's channels.
 * (End to end, UART and BLE at once: test/sim/ble.test.ts.)
 * Run: npx mocha test/wim/links.test.ts
 */
import assert from "node:assert/strict";
import { CKR, PkcsError } from "../../modules/at/pkcs11.js";
import { MAX_CHANNELS } from "../../modules/wim/limits.js";
import { Sessions, homeChannel } from "../../modules/wim/sessions.js";

const rv = (fn: () => unknown) => {
  try {
    fn();
    return CKR.OK;
  } catch (e) {
    if (e instanceof PkcsError) return e.rv;
    throw e;
  }
};

describe("links and their channels (sessions.ts)", () => {
  it("each link has its own channel 0 and its own channels", () => {
    const dropped: number[] = [];
    const s = new Sessions((h) => dropped.push(h));
    const uart0 = s.resolve(0, 0);
    const ble0 = s.resolve(1, 0);
    assert.equal(uart0, 0);
    assert.equal(ble0, homeChannel(1));
    assert.notEqual(uart0, ble0);
    const hu = s.open(uart0, true);
    const hb = s.open(ble0, true);
    assert.equal(rv(() => s.session(ble0, hu)), CKR.SESSION_HANDLE_INVALID);
    assert.equal(rv(() => s.session(uart0, hb)), CKR.SESSION_HANDLE_INVALID);

    const chU = s.openChannel(0);
    const chB = s.openChannel(1);
    assert.ok(s.hasChannel(chU, 0) && !s.hasChannel(chU, 1));
    assert.ok(s.hasChannel(chB, 1) && !s.hasChannel(chB, 0));
    assert.ok(!s.hasChannel(homeChannel(1), 1), "the internal number of a channel 0 is not a channel number");
    assert.equal(rv(() => s.resolve(1, chU)), CKR.SESSION_HANDLE_INVALID);
    const hB2 = s.open(s.resolve(1, chB), false);
    s.channel(chB).login = "user";

    s.dropLink(1);
    assert.deepEqual(dropped.sort(), [hb, hB2].sort());
    assert.ok(!s.hasChannel(chB, 1), "the link's channels are gone for good");
    assert.equal(s.counts().sessions, 1);
    assert.equal(rv(() => s.session(uart0, hu)), CKR.OK, "the other link keeps its session");
    assert.ok(s.hasChannel(chU, 0));
    const fresh = s.resolve(1, 0);
    assert.equal(s.channel(fresh).login, undefined);
  });

  it("reclaiming counts every link's channels; a reclaimed channel comes back only to its own link", () => {
    const s = new Sessions(() => {});
    const first = s.openChannel(1);
    for (let i = 1; i < MAX_CHANNELS; i++) s.openChannel(0);
    s.resolve(1, 0); // the BLE link's channel 0 does not count
    const next = s.openChannel(0); // reclaims the least recently used: `first`
    assert.ok(next > first);
    assert.ok(s.hasChannel(first, 1) && !s.hasChannel(first, 0));
    assert.equal(rv(() => s.resolve(0, first)), CKR.SESSION_HANDLE_INVALID);
    assert.equal(s.resolve(1, first), first);
    s.dropLink(1);
    assert.ok(!s.hasChannel(first, 1), "a reclaimed channel of an ended link is forgotten");
  });
});
