/**
 * Flash figures of the real firmware (build/firmware.js on build/wim-sim, WIM_SIM_STATS=1): each figure
 * is the difference of two runs from copies of the same flash file, one doing the work and one doing
 * everything else (start, session, login), so only the work's writes and erases count.
 *   - flash writes/erases per 1,000 signatures (P-256 ECDSA, and RSA-2048 PKCS#1 v1.5), target 0;
 *   - erases and bytes written per key-pair creation (P-256, RSA-2048);
 *   - wear: erase counts per sector after 1,000 logins (2 token-record writes each).
 * Run by `make bench-store` (npx tsx bench/store/sim-flash.ts).
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CKA, CKF, CKM, CKU } from "../../modules/at/pkcs11.js";
import { boolValue, encodeTemplate, ulongValue } from "../../modules/at/template.js";
import { type FlashStats, type SimDevice, flashStats, provision, startDevice } from "../../test/store/simdev.js";

const PIN = "123456";
const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);
const dir = mkdtempSync(path.join(os.tmpdir(), "wim-bench-store-"));

/** Runs `work` (after open + login) on a copy of `from` (saved to `to` if given); returns its flash stats. */
async function measure(from: string, work: (dev: SimDevice, h: number) => Promise<void>, to?: string): Promise<FlashStats> {
  const flash = to ?? path.join(dir, "run.bin");
  copyFileSync(from, flash);
  const dev = await startDevice(flash, { stats: true });
  const [[h]] = (await dev.at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
  await dev.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
  await work(dev, h);
  await dev.stop();
  return flashStats(dev.stderr());
}

const nothing = async () => {};
const diff = (a: FlashStats, b: FlashStats) => ({ writes: a.writes - b.writes, erases: a.erases - b.erases, bytes: a.bytes - b.bytes });

const ecPair = (dev: SimDevice, h: number) => dev.at("+PKCSGENKP", [h, CKM.EC_KEY_PAIR_GEN,
  encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]), encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }])]);
const rsaPair = (dev: SimDevice, h: number) => dev.at("+PKCSGENKP", [h, CKM.RSA_PKCS_KEY_PAIR_GEN,
  encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]), encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }])]);

const base = path.join(dir, "base.bin");
await provision(base, "bench", "12345678", PIN);
const rows: [string, string][] = [];

// key-pair creation
const N_EC = 20, N_RSA = 3;
const withKeys = path.join(dir, "keys.bin");
const idle = await measure(base, nothing);
const ec = diff(await measure(base, async (d, h) => { for (let i = 0; i < N_EC; i++) await ecPair(d, h); }), idle);
const rsa = diff(await measure(base, async (d, h) => { for (let i = 0; i < N_RSA; i++) await rsaPair(d, h); }, withKeys), idle);
rows.push([`P-256 key pair creation (${N_EC} pairs): flash writes, erases, bytes written per creation`,
  `${(ec.writes / N_EC).toFixed(1)}, ${(ec.erases / N_EC).toFixed(2)}, ${(ec.bytes / N_EC).toFixed(0)}`]);
rows.push([`RSA-2048 key pair creation (${N_RSA} pairs): flash writes, erases, bytes written per creation`,
  `${(rsa.writes / N_RSA).toFixed(1)}, ${(rsa.erases / N_RSA).toFixed(2)}, ${(rsa.bytes / N_RSA).toFixed(0)}`]);

// signatures: the keys made above (handles: the last EC pair and the RSA pairs live in keys.bin)
const signIdle = await measure(withKeys, nothing);
const findPriv = async (d: SimDevice, h: number, keyType: number) => {
  const found = (await d.at("+PKCSFIND", [h, encodeTemplate([{ type: CKA.CLASS, value: ulongValue(3) }, { type: CKA.KEY_TYPE, value: ulongValue(keyType) }])])) as number[][];
  return found[0][0];
};
const N_SIG = 1000, N_RSA_SIG = 1000;
const digest = new Uint8Array(32).fill(7);
const info = Uint8Array.from([...Buffer.from("3031300d060960864801650304020105000420", "hex"), ...digest]);
let t = Date.now();
const rsaSigs = diff(await measure(withKeys, async (d, h) => {
  const k = await findPriv(d, h, 0);
  for (let i = 0; i < N_RSA_SIG; i++) await d.at("+PKCSSIGN", [h, k, CKM.RSA_PKCS, info]);
}), signIdle);
const rsaMs = (Date.now() - t) / N_RSA_SIG;
// an EC key for the ECDSA run
const withEc = path.join(dir, "ec.bin");
await measure(withKeys, async (d, h) => { await ecPair(d, h); }, withEc);
const ecIdle = await measure(withEc, nothing);
t = Date.now();
const ecSigs = diff(await measure(withEc, async (d, h) => {
  const k = await findPriv(d, h, 3);
  for (let i = 0; i < N_SIG; i++) await d.at("+PKCSSIGN", [h, k, CKM.ECDSA, digest]);
}), ecIdle);
const ecMs = (Date.now() - t) / N_SIG;
rows.push([`${N_SIG} P-256 ECDSA signatures: flash writes, erases (target 0)`, `${ecSigs.writes}, ${ecSigs.erases}`]);
rows.push([`${N_RSA_SIG} RSA-2048 PKCS#1 v1.5 signatures: flash writes, erases (target 0)`, `${rsaSigs.writes}, ${rsaSigs.erases}`]);

// wear through the firmware: 1,000 logins
const wear = await measure(base, async (d, h) => {
  for (let i = 0; i < 1000; i++) {
    await d.at("+PKCSLOGOUT", [h]);
    await d.at("+PKCSLOGIN", [h, CKU.USER, PIN]);
  }
});
const used = wear.perSector;
rows.push(["1,000 logins: erases, and erases per sector min / max over the 64 sectors",
  `${wear.erases}, ${Math.min(...used)} / ${Math.max(...used)}`]);

console.log("key store figures through the firmware (build/wim-sim, WIM_SIM_STATS=1, 64 sectors of 4 KiB)");
console.log("| figure | value |\n|---|---|");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
console.log(`(simulator on this host: ${ecMs.toFixed(1)} ms per ECDSA signature, ${rsaMs.toFixed(1)} ms per RSA-2048 signature, AT round trip included)`);
rmSync(dir, { recursive: true, force: true });
