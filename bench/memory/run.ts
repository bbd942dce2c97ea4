/**
 * bench/memory/run.ts — `make bench-memory`: the XS heap the firmware needs at run time, per
 * workload, against Moddable's default ESP32 creation block (manifest.json "creation").
 *
 * Each workload runs on a fresh simulator started with WIM_SIM_MEMORY=measure: the machine's
 * baseline (what is live when the firmware's main body starts — the preloaded modules, in flash on
 * the device) is taken first; then the heaps grow in small steps (64 slots, 1 KiB of chunks) only
 * when a full collection cannot make room, so "need" = the heaps' final size minus the baseline
 * is the peak of live data plus at most one step. Slots are the device's unit; chunk bytes are the
 * simulator's 64-bit sizes, at least the device's for every chunk (docs/simulator.md, "Memory").
 *
 *   npx tsx bench/memory/run.ts [--only NAME]
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { CKA, CKF, CKM, CKO, CKU, PkcsError } from "../../modules/at/pkcs11.js";
import { boolValue, encodeTemplate, ulongValue } from "../../modules/at/template.js";
import type { Value } from "../../modules/at/codec.js";
import { AtLink } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { ROOT, startSim, tempDir } from "../../test/e2e/harness.js";

const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const P384 = Uint8Array.of(0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22);
const ED25519 = Uint8Array.of(0x06, 0x03, 0x2b, 0x65, 0x70);
const creation = JSON.parse(readFileSync(path.join(ROOT, "manifest.json"), "utf8")).creation;
const DEVICE = { slots: creation.heap.initial as number, chunks: creation.chunk.initial as number };

type At = (name: string, values?: Value[], before?: string[]) => Promise<Value[][]>;

interface Options { rsa: number[]; ec: Uint8Array[]; ed25519: boolean; channels: number; objects: boolean }

async function workload(at: At, o: Options): Promise<void> {
  const fail: string[] = [];
  const tryAt = (what: string, p: Promise<unknown>) => p.catch((e) => fail.push(`${what}: ${e instanceof PkcsError ? "rv 0x" + e.rv.toString(16) : e}`));
  const sessions: [number, number][] = [];
  for (let ch = 0; ch < o.channels; ch++) {
    const channel = ch === 0 ? 0 : ((await at("+PKCSCHO"))[0][0] as number);
    const before = [`+PKCSCH=${channel}`];
    const [[s]] = (await at("+PKCSOPEN", [CKF.RW_SESSION | CKF.SERIAL_SESSION], before)) as number[][];
    if (ch === 0) await at("+PKCSLOGIN", [s, CKU.USER, "2468"], before);
    sessions.push([channel, s]);
  }
  const [, s] = sessions[0];
  const ch0 = ["+PKCSCH=0"];
  const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
  for (const bits of o.rsa) {
    const pub = encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(bits) }, { type: CKA.PUBLIC_EXPONENT, value: Uint8Array.of(1, 0, 1) }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }, { type: CKA.DECRYPT, value: boolValue(true) }]);
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, pub, priv], ch0)) as number[][];
    await tryAt(`RSA-${bits} PKCS`, at("+PKCSSIGN", [s, k, CKM.RSA_PKCS, data(51)], ch0));
    await tryAt(`RSA-${bits} X.509`, at("+PKCSSIGN", [s, k, CKM.RSA_X_509, data(bits / 8 - 1)], ch0));
  }
  for (const params of o.ec) {
    const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: params }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }, { type: CKA.DERIVE, value: boolValue(true) }]);
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, pub, priv], ch0)) as number[][];
    for (const n of [20, 32, 48, 64]) await tryAt(`ECDSA ${n}`, at("+PKCSSIGN", [s, k, CKM.ECDSA, data(n)], ch0));
  }
  if (o.ed25519) {
    const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: ED25519 }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.EC_EDWARDS_KEY_PAIR_GEN, pub, priv], ch0)) as number[][];
    for (const n of [0, 32, 1000]) await tryAt("EdDSA", at("+PKCSSIGN", [s, k, CKM.EDDSA, data(n)], ch0));
  }
  if (o.objects) {
    // a staged 4 KiB data object and a certificate-sized one, each on a session of its own channel
    for (const [i, [channel, sess]] of sessions.entries()) {
      const before = [`+PKCSCH=${channel}`];
      const value = data(i === 0 ? 4096 : 1024);
      for (let off = 0; off < value.length; off += 1024) await at("+PKCSDATA", [off, value.subarray(off, off + 1024)], before);
      await tryAt(`data object ${i}`, at("+PKCSCREATE", [sess, encodeTemplate([
        { type: CKA.CLASS, value: ulongValue(CKO.DATA) }, { type: CKA.TOKEN, value: boolValue(i === 0) },
        { type: CKA.LABEL, value: new TextEncoder().encode(`bench ${i}`) }, { type: CKA.VALUE, value: new Uint8Array(0) },
      ])], before));
    }
  }
  for (const [channel, sess] of sessions) await at("+PKCSCLOSE", [sess], [`+PKCSCH=${channel}`]);
  if (fail.length) console.error(`  (refused: ${fail.join("; ")})`);
}

async function measure(name: string, o: Options | undefined): Promise<{ slots: number; chunks: number; base: [number, number] }> {
  const saved = process.env.WIM_SIM_MEMORY;
  process.env.WIM_SIM_MEMORY = "measure";
  const sim = await startSim(tempDir("membench"), ["--no-agent", "--user-pin", "2468", "--so-pin", "87654321", "--label", "bench"]);
  if (saved === undefined) delete process.env.WIM_SIM_MEMORY;
  else process.env.WIM_SIM_MEMORY = saved;
  const link = new AtLink(openSerial(sim.pty));
  await link.start();
  const at: At = (n, v = [], b = []) => link.command(COMMAND_BY_NAME.get(n)!, v, b);
  try {
    if (o) await workload(at, o);
  } finally {
    link.close();
    await sim.stop();
  }
  const log = path.join(sim.state, "sim.log");
  for (let i = 0; i < 100; i++) {
    const m = /memory: baseline (\d+) slots (\d+) chunk-bytes; runtime need (\d+) slots (\d+) chunk-bytes/.exec(readFileSync(log, "utf8"));
    if (m) return { base: [Number(m[1]), Number(m[2])], slots: Number(m[3]), chunks: Number(m[4]) };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name}: no memory report in ${log}`);
}

const ALL: Record<string, Options | undefined> = {
  "start + provisioning": undefined,
  "P-256/P-384, 1 channel": { rsa: [], ec: [P256, P384], ed25519: false, channels: 1, objects: false },
  "RSA-2048/3072/4096, 1 channel": { rsa: [2048, 3072, 4096], ec: [], ed25519: false, channels: 1, objects: false },
  "Ed25519, 1 channel": { rsa: [], ec: [], ed25519: true, channels: 1, objects: false },
  "everything but Ed25519, 8 channels": { rsa: [2048, 3072, 4096], ec: [P256, P384], ed25519: false, channels: 8, objects: true },
  "everything, 8 channels": { rsa: [2048, 3072, 4096], ec: [P256, P384], ed25519: true, channels: 8, objects: true },
};

const only = process.argv.indexOf("--only") > 0 ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)} %`.padStart(7);
console.log(`bench-memory: runtime heap need over the loaded baseline, vs the ESP32's ${DEVICE.slots} slots / ${DEVICE.chunks} chunk bytes`);
console.log(`${"workload".padEnd(38)} ${"slots".padStart(7)} ${"of ESP32".padStart(8)} ${"chunks".padStart(9)} ${"of ESP32".padStart(8)}`);
let base: [number, number] | undefined;
for (const [name, o] of Object.entries(ALL)) {
  if (only && !name.includes(only)) continue;
  const r = await measure(name, o);
  base = r.base;
  console.log(`${name.padEnd(38)} ${String(r.slots).padStart(7)} ${pct(r.slots, DEVICE.slots).padStart(8)} ${String(r.chunks).padStart(9)} ${pct(r.chunks, DEVICE.chunks).padStart(8)}`);
}
if (base) console.log(`baseline (modules loaded, not counted; in flash on the device): ${base[0]} slots, ${base[1]} chunk bytes`);
