/**
 * Pairing is refused over BLE (docs/channel.md, "Pairing"): on the simulator's radio model (WIM_SIM_BLE,
 * test/sim/ble-central.ts) beside the PTY, AT+PKCSPAIR from the radio answers +CME ERROR: 3 and arms no
 * window (a press then pairs nobody), while the same request on the PTY pairs; once paired, the radio
 * link is gated like the cable (PKCS commands in clear: +CME ERROR: 3; identification answers).
 * Run: npx mocha test/sim/ble-pairing.test.ts (after `make build`).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Central } from "./ble-central.js";
import { BUNDLE, SIM, SimHost, line, newHostKey, values } from "./channel-host.js";

describe("pairing over BLE is refused (simulator radio model)", function () {
  this.timeout(60_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), "wim-blepair-"));
  const radio = path.join(dir, "ble.sock");
  let host: SimHost;
  let central: Central;

  before(async function () {
    if (!existsSync(SIM) || !existsSync(BUNDLE)) this.skip();
    host = await SimHost.start(path.join(dir, "flash.bin"), { control: path.join(dir, "control.sock"), env: { WIM_SIM_BLE: radio } });
    central = await Central.open(radio);
    await central.connect();
    assert.match(await central.command("ATE0+CMEE=1"), /OK/);
  });
  after(async () => {
    central?.socket.destroy();
    await host?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses AT+PKCSPAIR on the radio and arms no window; the cable pairs", async () => {
    const key = newHostKey();
    assert.match(await central.command(line("+PKCSPAIR", [key.publicKey, "radio"])), /\r\n\+CME ERROR: 3\r\n$/);
    assert.match(await central.command("AT+PKCSPAIRC"), /\+PKCSPAIRC: 2,""/, "no window");
    await host.control("press");
    await host.control("release");
    assert.deepEqual(values("+PKCSHS?", await host.clear("AT+PKCSHS?")), [[0]], "the press paired nobody");
    assert.equal((await host.pair(key, "cable", true)).state, 1, "the same key pairs over the cable");
  });

  it("once paired, the radio link is gated in clear like the cable", async () => {
    assert.match(await central.command("AT+PKCSTOKEN?"), /^\r\n\+CME ERROR: 3\r\n$/);
    assert.match(await central.command(line("+PKCSOPEN", [6])), /^\r\n\+CME ERROR: 3\r\n$/);
    assert.match(await central.command("AT+GMM"), /WIM token\r\n\r\nOK\r\n$/);
    assert.match(await central.command("AT+PKCSHS?"), /\+PKCSHS: 1\r\n\r\nOK\r\n$/);
  });
});
