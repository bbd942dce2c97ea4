/**
 * Which token a `wim` verb acts on (pc/cli/token.ts): the one present, else the one --serial or --slot
 * names; with several and no choice it refuses and lists them. Slot lists as the agent reports them
 * (one slot per device, the simulator gives one; these cover the several-device cases).
 */
import assert from "node:assert/strict";
import { Failure, UsageError } from "../../pc/cli/common.js";
import type { TokenInfo } from "../../pc/cli/rpc.js";
import { type Slot, chooseToken, selected } from "../../pc/cli/token.js";

const token = (serial: string, label = "WIM"): TokenInfo => ({
  label, manufacturer: "WIM project", model: "WIM token", serial, flags: 0, sessions: 0, maxPin: 64, minPin: 4, hardware: "0.1", firmware: "0.1",
});
const slot = (id: number, serial?: string): Slot => ({
  id, info: { description: `WIM token ${serial ?? "?"}`, manufacturer: "WIM project", flags: 0, hardware: "0.1", firmware: "0.1" },
  token: serial ? token(serial) : undefined, absent: serial ? undefined : "not paired with this host: run `wim pair`",
});

describe("wim: choosing the token", () => {
  const two = [slot(0, "SIMAAAAAAAAAAAA"), slot(3, "SIMBBBBBBBBBBBB")];

  it("takes the only token present", () => {
    assert.equal(chooseToken([slot(0, "SIMAAAAAAAAAAAA")], {}).id, 0);
    assert.equal(chooseToken([slot(0), slot(1, "SIMBBBBBBBBBBBB")], {}).id, 1);
  });

  it("refuses several tokens without a choice, listing them (usage: exit 2)", () => {
    assert.throws(() => chooseToken(two, {}), (e: Error) =>
      e instanceof UsageError && /2 tokens: choose one with --serial SERIAL or --slot ID/.test(e.message) &&
      e.message.includes('slot 0: "WIM" serial SIMAAAAAAAAAAAA') && e.message.includes('slot 3: "WIM" serial SIMBBBBBBBBBBBB'));
  });

  it("chooses by --serial or --slot; an unknown one fails with what there is", () => {
    assert.equal(chooseToken(two, { serial: "SIMBBBBBBBBBBBB" }).id, 3);
    assert.equal(chooseToken(two, { slot: "3" }).token.serial, "SIMBBBBBBBBBBBB");
    assert.throws(() => chooseToken(two, { serial: "SIMCCCCCCCCCCCC" }), (e: Error) => e instanceof Failure && /no token with serial SIMCCCCCCCCCCCC/.test(e.message));
    assert.throws(() => chooseToken(two, { slot: "1" }), (e: Error) => e instanceof Failure && /no slot 1; the agent has: 0, 3/.test(e.message));
    assert.throws(() => chooseToken(two, { slot: "x" }), UsageError);
    assert.equal(selected(two, {}).length, 2, "info shows every slot unless one is chosen");
  });

  it("with no token says why and what to do", () => {
    assert.throws(() => chooseToken([slot(0)], {}), (e: Error) => e instanceof Failure && /no token \(not paired with this host: run `wim pair`\)/.test(e.message));
    assert.throws(() => chooseToken([], {}), (e: Error) => e instanceof Failure && /plug the device in, or pair/.test(e.message));
  });
});
