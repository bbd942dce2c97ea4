/**
 * The simulator's memory budget (docs/simulator.md, "Memory"): with a deliberately small budget
 * (WIM_SIM_MEMORY=CHUNK_BYTES,SLOTS, passed through `wim sim` to build/wim-sim), a legitimate heavy
 * command sequence exhausts the XS heap; the command that ran out answers CKR_DEVICE_MEMORY, the
 * simulator does not exit, and the device keeps answering. Also: wim-sim refuses a malformed budget.
 * Run: npx mocha test/sim/memory.test.ts (after `make build`).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { CKF, CKM, CKR, CKU } from "../../modules/at/pkcs11.js";
import { boolValue, encodeTemplate, ulongValue } from "../../modules/at/template.js";
import { CKA } from "../../modules/at/pkcs11.js";
import type { Value } from "../../modules/at/codec.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { ROOT, type SimToken, startSim, tempDir } from "../e2e/harness.js";
import { rvOf } from "../rv.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const P384 = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22);
const ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
/** Enough for the token's start (its peak need is 1,575 slots with the channel key, the identity key and its
 * certificate made at first start: make bench-memory), provisioning and small commands; not for the heavy
 * ones (1,890 slots and more). */
const TINY = process.env.WIM_TEST_TINY_BUDGET ?? "40960,1700";

describe("wim-sim memory budget", function () {
  this.timeout(180_000);
  let sim: SimToken;
  let link: AtLink;
  const at = (name: string, values: Value[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values);
  const rv = rvOf;

  before(async () => {
    const saved = process.env.WIM_SIM_MEMORY;
    process.env.WIM_SIM_MEMORY = TINY;
    try {
      sim = await startSim(tempDir("mem"), ["--no-agent", "--user-pin", "2468", "--so-pin", "87654321", "--label", "mem"]);
    } finally {
      if (saved === undefined) delete process.env.WIM_SIM_MEMORY;
      else process.env.WIM_SIM_MEMORY = saved;
    }
    link = new AtLink(openSerial(sim.pty));
    await link.start();
  });
  after(async () => {
    link?.close();
    await sim?.stop();
  });

  it("answers CKR_DEVICE_MEMORY when the heap runs out, and keeps answering", async () => {
    const [[session]] = (await at("+PKCSOPEN", [CKF.RW_SESSION | CKF.SERIAL_SESSION])) as number[][];
    assert.equal(await rv(at("+PKCSLOGIN", [session, CKU.USER, "2468"])), CKR.OK);
    const results: number[] = [];
    // heavy but legitimate: key pairs of every kind, each used to sign
    const rsa = encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }, { type: CKA.PUBLIC_EXPONENT, value: Uint8Array.of(1, 0, 1) }]);
    const ec = (params: Uint8Array) => encodeTemplate([{ type: CKA.EC_PARAMS, value: params }]);
    for (const [pub, mech, sign] of [[ec(P256), CKM.EC_KEY_PAIR_GEN, CKM.ECDSA], [ec(P384), CKM.EC_KEY_PAIR_GEN, CKM.ECDSA],
      [rsa, CKM.RSA_PKCS_KEY_PAIR_GEN, CKM.RSA_PKCS], [ec(ED25519), CKM.EC_EDWARDS_KEY_PAIR_GEN, CKM.EDDSA]] as const) {
      const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
      let keys: number[] | undefined;
      const gen = await rv(at("+PKCSGENKP", [session, mech, pub, priv]).then((r) => (keys = (r as number[][])[0])));
      results.push(gen);
      if (gen !== CKR.OK) continue;
      for (let i = 0; i < 3; i++) results.push(await rv(at("+PKCSSIGN", [session, keys![1], sign, new Uint8Array(32).fill(i + 1)])));
    }
    const log = readFileSync(path.join(sim.state, "sim.log"), "utf8");
    if (process.env.WIM_TEST_VERBOSE) console.log(results, log);
    assert.ok(results.includes(CKR.DEVICE_MEMORY), `no CKR_DEVICE_MEMORY in ${results.map((r) => "0x" + r.toString(16))}\n${log}`);
    assert.deepEqual(results.filter((r) => r !== CKR.OK && r !== CKR.DEVICE_MEMORY), [], "only OK or CKR_DEVICE_MEMORY");
    assert.match(log, /memory full \(\d+ slots, \d+ chunk bytes in use\): thrown as RangeError/);
    assert.doesNotMatch(log, /fatal/);
    // the device goes on: the token answers, and a small command on the same session works
    const [[label]] = await at("+PKCSTOKEN");
    assert.equal(label, "mem");
    assert.equal(await rv(at("+PKCSLOGOUT", [session])), CKR.OK);
    assert.equal(await rv(at("+PKCSCLOSE", [session])), CKR.OK);
  });

  it("refuses a malformed budget", () => {
    for (const bad of ["1,1", "abc", "78848", "78848,4928,1"]) {
      const r = spawnSync(path.join(ROOT, "build/wim-sim"), ["--bundle", "x.js", "--flash", "x.bin", "--memory", bad], { encoding: "utf8" });
      assert.equal(r.status, 2, bad);
      assert.match(r.stderr, /--memory/);
    }
  });
});

/**
 * Text from the link must never become a property key: on XS a key lives as long as the machine, so
 * made-up names (AT+Q1, AT+Q2, ...) each kept a slot and their characters, and a few thousand lines
 * without any PIN filled the device's heap (found when the simulator's budget stopped counting the
 * loader's garbage as room). The live data after a full collection (the control socket's mem?) must
 * not grow with the number of distinct names sent.
 */
describe("wim-sim: no memory kept per line", function () {
  this.timeout(120_000);
  let sim: SimToken;
  let link: AtLink;
  let control: string;

  before(async () => {
    const state = tempDir("names");
    control = path.join(state, "control.sock");
    const saved = process.env.WIM_SIM_CONTROL;
    process.env.WIM_SIM_CONTROL = control;
    try {
      sim = await startSim(state, ["--no-agent"]);
    } finally {
      if (saved === undefined) delete process.env.WIM_SIM_CONTROL;
      else process.env.WIM_SIM_CONTROL = saved;
    }
    link = new AtLink(openSerial(sim.pty));
    await link.start();
  });
  after(async () => {
    link?.close();
    await sim?.stop();
  });

  const live = () => new Promise<{ slots: number; chunks: number }>((resolve, reject) => {
    const s = net.connect(control, () => s.write("mem?\n"));
    let text = "";
    s.on("data", (d) => {
      text += d;
      const m = /mem slots=(-?\d+) chunks=(-?\d+)\n/.exec(text);
      if (!m) return;
      s.end();
      resolve({ slots: Number(m[1]), chunks: Number(m[2]) });
    });
    s.on("error", reject);
  });

  it("answers 1,500 made-up command names, of every form, with ERROR and keeps nothing of them", async () => {
    for (let i = 0; i < 50; i++) await link.line(`AT+GMM;+Q${i}`); // whatever the first lines allocate once
    const before = await live();
    const forms = ["AT+Q#", "AT+PKCS#", "AT+PKCSOPEN#=1", "AT+GMM#", "ATS#=1", "AT+C#?", "AT+P#=?"];
    for (let i = 0; i < 1500; i++) {
      const r = await link.line(forms[i % forms.length].replace("#", String(100000 + i * 7919)));
      assert.ok(r.final === "ERROR" || r.final.startsWith("+CME ERROR"), `line ${i}: ${r.final}`);
    }
    const after = await live();
    // before the fix: about 1,500 slots and 40 KB more
    assert.ok(after.slots - before.slots <= 16, `slots: ${before.slots} -> ${after.slots}`);
    assert.ok(after.chunks - before.chunks <= 1024, `chunk bytes: ${before.chunks} -> ${after.chunks}`);
  });
});
