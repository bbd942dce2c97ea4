/**
 * Telling tokens apart (issue 10, finding 9): each simulated device draws its serial number on its
 * first start and keeps it; two devices differ, one device keeps its serial across restarts, so an
 * RFC 7512 URI (serial=...) names exactly one token.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { p11, startSim, tempDir } from "../e2e/harness.js";

/** The serial number the module reports for the token behind `socket` (pkcs11-tool -L). */
async function serialOf(socket: string): Promise<string> {
  const r = await p11(socket, "-L");
  const m = /serial num\s+:\s*(\S+)/.exec(r.stdout);
  assert.ok(m, `no serial in: ${r.stdout}${r.stderr}`);
  return m[1];
}

describe("attack: telling tokens apart (finding 9)", function () {
  this.timeout(180_000);

  it("two fresh devices report different serials, and one keeps its serial across a restart", async () => {
    const [a, b] = [tempDir("serial-a"), tempDir("serial-b")];
    const simA = await startSim(a);
    const simB = await startSim(b);
    let first: string, second: string;
    try {
      [first, second] = [await serialOf(simA.socket), await serialOf(simB.socket)];
    } finally {
      await simA.stop();
      await simB.stop();
    }
    assert.match(first, /^SIM[0-9A-F]{12}$/, "fits CK_TOKEN_INFO.serialNumber (16 characters)");
    assert.match(second, /^SIM[0-9A-F]{12}$/);
    assert.notEqual(first, second, "two devices, two serials");
    assert.equal(readFileSync(path.join(a, "flash.bin.id"), "latin1"), `${first}\n`, "kept beside the device's flash");

    const again = await startSim(a);
    try {
      assert.equal(await serialOf(again.socket), first, "the same device after a restart");
    } finally {
      await again.stop();
    }
  });
});
