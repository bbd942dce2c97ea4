/**
 * What the hot-plug suites (hotplug.test.ts over serial ports, ble-watch.test.ts over BLE) ask of an
 * agent with one slot per device: the slot ID a serial must get, the serial a simulator has, the
 * tokens pkcs11-tool sees, a signature in a slot, and a wait for a condition.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { p11 } from "./harness.js";

const PIN = "123456";
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The slot ID docs/agent.md promises for a serial: SHA-256's first four bytes, top bit cleared. */
export const expectedSlot = (serial: string) => createHash("sha256").update(serial).digest().readUInt32BE(0) & 0x7fffffff;

/** The serial the simulator of a state directory reports (FLASH.id, written at its first start: sim/identity.c). */
export const serialOf = (state: string) => readFileSync(path.join(state, "flash.bin.id"), "latin1").trim();

/** Polls `fn` every 100 ms until it gives something other than undefined or false; `log` goes with a timeout. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 20_000, log?: () => string): Promise<T> {
  for (const end = Date.now() + ms; ; await sleep(100)) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${log ? `\n${log()}` : ""}`);
  }
}

/** The slots pkcs11-tool -L lists with a token: ID → serial. */
export async function tokens(socket: string): Promise<Map<number, string>> {
  const r = await p11(socket, "-L");
  const out = new Map<number, string>();
  for (const block of r.stdout.split(/^Slot /m).slice(1)) {
    const id = /^\d+ \(0x([0-9a-f]+)\)/.exec(block);
    const serial = /serial num\s*:\s*(\S+)/.exec(block);
    if (id && serial) out.set(parseInt(id[1], 16), serial[1]);
  }
  return out;
}

/** One ECDSA signature with key 42 in `slot` through pkcs11-tool; with `label`, the P-256 key is made first under it. */
export async function signInSlot(socket: string, slot: number, dir: string, label?: string): Promise<void> {
  const s = ["--slot", String(slot), "--login", "--pin", PIN];
  if (label) {
    const gen = await p11(socket, ...s, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "42", "--label", label);
    assert.equal(gen.code, 0, gen.stderr);
  }
  const data = path.join(dir, `data-${slot}`), sig = path.join(dir, `sig-${slot}`);
  writeFileSync(data, Buffer.alloc(32, 7));
  writeFileSync(sig, "");
  const r = await p11(socket, ...s, "--sign", "-m", "ECDSA", "--id", "42", "-i", data, "-o", sig);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(sig).length, 64);
}
