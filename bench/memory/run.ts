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
 *   npx tsx bench/memory/run.ts [--only NAME] [--steps]
 *   npx tsx bench/memory/run.ts --pty PATH [--user-pin PIN] [--only NAME]   (a running device; no measuring)
 *
 * --steps also prints, after each step of a workload, the data still live once the engine has
 * collected (wim-sim's control socket, `mem?`): what each part keeps, apart from the transient peak.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { CKA, CKF, CKM, CKO, CKR, CKU, PkcsError } from "../../modules/at/pkcs11.js";
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

interface Options {
  rsa: number[]; ec: Uint8Array[]; ed25519: boolean; channels: number; objects: boolean;
  /** sessions per channel (1 if not given) */
  sessions?: number;
  /** before the keys: session objects on every channel until the device's budgets refuse more */
  fill?: boolean;
}

async function workload(at: At, o: Options, step: (what: string) => Promise<void>, userPin = "2468"): Promise<string[]> {
  const fail: string[] = [];
  const tryAt = (what: string, p: Promise<unknown>) => p.catch((e) => fail.push(`${what}: ${e instanceof PkcsError ? "rv 0x" + e.rv.toString(16) : e}`));
  const sessions: [number, number][] = [];
  for (let ch = 0; ch < o.channels; ch++) {
    const channel = ch === 0 ? 0 : ((await at("+PKCSCHO"))[0][0] as number);
    const before = [`+PKCSCH=${channel}`];
    const [[s]] = (await at("+PKCSOPEN", [CKF.RW_SESSION | CKF.SERIAL_SESSION], before)) as number[][];
    for (let i = 1; i < (o.sessions ?? 1); i++) await at("+PKCSOPEN", [CKF.SERIAL_SESSION], before);
    if (ch === 0) await at("+PKCSLOGIN", [s, CKU.USER, userPin], before);
    sessions.push([channel, s]);
    await step(`channel ${channel} open${ch === 0 ? ", logged in" : ""}`);
  }
  const [, s] = sessions[0];
  const ch0 = ["+PKCSCH=0"];
  const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
  if (o.fill) {
    // the others first, then channel 0 (logged in: it may use the reserve)
    let made = 0;
    for (const [channel, sess] of [...sessions.slice(1), sessions[0]]) {
      const before = [`+PKCSCH=${channel}`];
      for (;;) {
        const r = await at("+PKCSCREATE", [sess, encodeTemplate([
          { type: CKA.CLASS, value: ulongValue(CKO.DATA) }, { type: CKA.TOKEN, value: boolValue(false) },
          { type: CKA.LABEL, value: new TextEncoder().encode(`fill ${made}`) }, { type: CKA.VALUE, value: data(1024) },
        ])], before).catch((e) => e);
        if (r instanceof PkcsError && r.rv === CKR.DEVICE_MEMORY) break;
        if (r instanceof Error) throw r;
        made++;
      }
    }
    await step(`${made} session objects of 1 KiB (every budget full)`);
  }
  for (const bits of o.rsa) {
    const pub = encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(bits) }, { type: CKA.PUBLIC_EXPONENT, value: Uint8Array.of(1, 0, 1) }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }, { type: CKA.DECRYPT, value: boolValue(true) }]);
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, pub, priv], ch0)) as number[][];
    await tryAt(`RSA-${bits} PKCS`, at("+PKCSSIGN", [s, k, CKM.RSA_PKCS, data(51)], ch0));
    await tryAt(`RSA-${bits} X.509`, at("+PKCSSIGN", [s, k, CKM.RSA_X_509, data(bits / 8 - 1)], ch0));
    await step(`RSA-${bits} key pair, 2 signatures`);
  }
  for (const params of o.ec) {
    const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: params }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }, { type: CKA.DERIVE, value: boolValue(true) }]);
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, pub, priv], ch0)) as number[][];
    for (const n of [20, 32, 48, 64]) await tryAt(`ECDSA ${n}`, at("+PKCSSIGN", [s, k, CKM.ECDSA, data(n)], ch0));
    await step(`EC ${params.length === 10 ? "P-256" : "P-384"} key pair, 4 signatures`);
  }
  if (o.ed25519) {
    const pub = encodeTemplate([{ type: CKA.EC_PARAMS, value: ED25519 }]);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
    const [[, k]] = (await at("+PKCSGENKP", [s, CKM.EC_EDWARDS_KEY_PAIR_GEN, pub, priv], ch0)) as number[][];
    for (const n of [0, 32, 1000]) await tryAt("EdDSA", at("+PKCSSIGN", [s, k, CKM.EDDSA, data(n)], ch0));
    await step("Ed25519 key pair, 3 signatures");
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
      await step(`data object ${i} (${value.length} bytes, ${i === 0 ? "token" : "session"})`);
    }
  }
  for (const [channel, sess] of sessions) await at("+PKCSCLOSE", [sess], [`+PKCSCH=${channel}`]);
  await step("sessions closed");
  if (fail.length) console.error(`  (refused: ${fail.join("; ")})`);
  return fail;
}

async function measure(name: string, o: Options | undefined): Promise<{ slots: number; chunks: number; base: [number, number] }> {
  const work = tempDir("membench");
  const saved = { memory: process.env.WIM_SIM_MEMORY, control: process.env.WIM_SIM_CONTROL };
  process.env.WIM_SIM_MEMORY = "measure";
  if (STEPS) process.env.WIM_SIM_CONTROL = path.join(work, "control.sock");
  const sim = await startSim(work, ["--no-agent", "--user-pin", "2468", "--so-pin", "87654321", "--label", "bench"]);
  for (const [k, v] of [["WIM_SIM_MEMORY", saved.memory], ["WIM_SIM_CONTROL", saved.control]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const link = new AtLink(openSerial(sim.pty));
  await link.start();
  const at: At = (n, v = [], b = []) => link.command(COMMAND_BY_NAME.get(n)!, v, b);
  const control = STEPS ? await controlSocket(path.join(work, "control.sock")) : undefined;
  const step = async (what: string) => {
    if (!control) return;
    const m = /^mem slots=(-?\d+) chunks=(-?\d+)$/.exec(await control("mem?"));
    if (!m) throw new Error(`${name}: no answer to mem?`);
    console.log(`  live after ${what.padEnd(40)} ${m[1].padStart(6)} slots ${m[2].padStart(7)} chunk bytes`);
  };
  try {
    await step("provisioning");
    if (o) await workload(at, o, step);
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
  // what docs/policy.md lets applications hold (17 channels x 8 sessions, the session-object budgets
  // full), and then the firmware's heaviest work beside it
  "policy maximum, then everything": { rsa: [2048, 3072, 4096], ec: [P256, P384], ed25519: true, channels: 17, sessions: 8, objects: false, fill: true },
};

/** A line-at-a-time client of wim-sim's control socket (sim/control.c). */
async function controlSocket(file: string): Promise<(line: string) => Promise<string>> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(file, () => resolve(s));
    s.once("error", reject);
  });
  socket.unref();
  let buffered = "";
  const waiting: ((line: string) => void)[] = [];
  socket.on("data", (d) => {
    buffered += d.toString();
    for (let i; (i = buffered.indexOf("\n")) >= 0; ) {
      const line = buffered.slice(0, i).replace(/\r$/, "");
      buffered = buffered.slice(i + 1);
      if (line.startsWith("mem ")) waiting.shift()?.(line);
    }
  });
  return (line) => new Promise((resolve) => { waiting.push(resolve); socket.write(line + "\n"); });
}

const arg = (name: string) => (process.argv.indexOf(name) > 0 ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const only = arg("--only");
const STEPS = process.argv.includes("--steps");
const PTY = arg("--pty");
if (PTY) {
  // the heaviest workload on a device that is already running (the Moddable Linux build of
  // make moddable-check, at a fixed creation block): every command must succeed
  const link = new AtLink(openSerial(PTY));
  await link.start();
  const at: At = (n, v = [], b = []) => link.command(COMMAND_BY_NAME.get(n)!, v, b);
  const name = Object.keys(ALL).find((n) => n.includes(only ?? "everything, 8 channels"));
  if (!name || !ALL[name]) throw new Error(`no workload named ${only}`);
  let failed: string[];
  try {
    failed = await workload(at, ALL[name]!, async () => {}, arg("--user-pin") ?? "123456");
  } finally {
    link.close();
  }
  console.log(`bench-memory: ${name} on ${PTY}: ${failed.length ? "FAILED: " + failed.join("; ") : "every command answered"}`);
  process.exit(failed.length ? 1 : 0);
}
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
