/**
 * bench/ble/run.ts — `make bench-ble`: what one C_Sign costs on the link, over BLE and over the serial
 * line (issue 12). The exact AT bytes of a C_Sign are taken from the simulator (the agent's encoding:
 * channel select and +PKCSSIGN in one line; the device's answer); from them, per link:
 *
 * - BLE: ATT packets (writes of at most MTU − 3 bytes PC → device, notifications of at most MTU − 3
 *   bytes back), round trips (each Write Request waits for its Write Response: one connection event
 *   each, the conservative case; notifications go at most NOTIFY_PER_EVENT per connection event, the
 *   firmware's pacing in docs/ble.md) and the link time they imply at 15 ms and 30 ms connection
 *   intervals, at MTU 23 (before any exchange) and 247 (Linux and the ESP32 after the exchange).
 * - Serial: 10 bits a byte (8N1) at 115,200 and 921,600 baud.
 *
 * The device's own compute time is not in these figures (ESP32-C3: docs/esp32.md, make bench-riscv).
 *
 *   npx tsx bench/ble/run.ts
 */
import { COMMAND_BY_NAME } from "../../modules/at/table.js";
import { CKA, CKF, CKM, CKU } from "../../modules/at/pkcs11.js";
import { boolValue, encodeTemplate, ulongValue } from "../../modules/at/template.js";
import type { Value } from "../../modules/at/codec.js";
import { AtLink, type ByteStream } from "../../pc/agent/link.js";
import { openSerial } from "../../pc/agent/serial.js";
import { startSim, tempDir } from "../../test/e2e/harness.js";

/** Notifications the device sends per connection event (docs/ble.md: its pacing; a conservative figure). */
const NOTIFY_PER_EVENT = 2;
const P256 = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07);

/** A ByteStream that records what goes each way. */
function recording(inner: ByteStream): { stream: ByteStream; sent: number[]; received: number[] } {
  const sent: number[] = [], received: number[] = [];
  const stream: ByteStream = {
    write: (b) => (sent.push(b.length), inner.write(b)),
    onData: (l) => inner.onData((b) => (received.push(b.length), l(b))),
    onClose: (l) => inner.onClose(l),
    close: () => inner.close(),
  };
  return { stream, sent, received };
}

const sim = await startSim(tempDir("bench-ble"), ["--no-agent", "--user-pin", "2468"]);
const rec = recording(openSerial(sim.pty));
const link = new AtLink(rec.stream);
const at = (name: string, values: Value[] = [], before: string[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values, before);
interface Case { name: string; up: number; down: number }
const cases: Case[] = [];
try {
  await link.start();
  const ch = (await at("+PKCSCHO"))[0][0] as number;
  const before = [`+PKCSCH=${ch}`];
  const [[s]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION], before)) as number[][];
  await at("+PKCSLOGIN", [s, CKU.USER, "2468"], before);
  const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
  const rsa = encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]);
  const [[, rsaKey]] = (await at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, rsa, priv], before)) as number[][];
  const [[, ecKey]] = (await at("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]), priv], before)) as number[][];
  // what C_Sign sends: RSA PKCS#1 v1.5 over a SHA-256 DigestInfo (51 bytes), ECDSA over a 32-byte hash
  for (const [name, key, mech, n] of [["RSA-2048 (CKM_RSA_PKCS)", rsaKey, CKM.RSA_PKCS, 51], ["P-256 (CKM_ECDSA)", ecKey, CKM.ECDSA, 32]] as const) {
    rec.sent.length = rec.received.length = 0;
    await at("+PKCSSIGN", [s, key, mech, new Uint8Array(n).fill(7)], before);
    cases.push({ name, up: rec.sent.reduce((a, b) => a + b, 0), down: rec.received.reduce((a, b) => a + b, 0) });
  }
} finally {
  link.close();
  await sim.stop();
}

console.log("bench-ble: one C_Sign on the link (the device's compute time apart)");
console.log(`${"operation".padEnd(26)} ${"link".padEnd(22)} ${"bytes".padStart(9)} ${"packets".padStart(8)} ${"round trips".padStart(11)} ${"at 15 ms".padStart(9)} ${"at 30 ms".padStart(9)}`);
for (const c of cases) {
  for (const mtu of [23, 247]) {
    const payload = mtu - 3;
    const writes = Math.ceil(c.up / payload), notes = Math.ceil(c.down / payload);
    // each Write Request costs a connection event (its response comes in the next); the answer's
    // first notification goes in the event after the last write, then NOTIFY_PER_EVENT per event
    const events = writes + Math.ceil(notes / NOTIFY_PER_EVENT);
    console.log(`${c.name.padEnd(26)} ${`BLE, MTU ${mtu}`.padEnd(22)} ${`${c.up}+${c.down}`.padStart(9)} ${String(writes + notes).padStart(8)} ${String(writes).padStart(11)} ${`${events * 15} ms`.padStart(9)} ${`${events * 30} ms`.padStart(9)}`);
  }
  for (const baud of [115200, 921600]) {
    const ms = ((c.up + c.down) * 10 * 1000) / baud;
    console.log(`${c.name.padEnd(26)} ${`serial, ${baud} baud`.padEnd(22)} ${`${c.up}+${c.down}`.padStart(9)} ${"—".padStart(8)} ${"1".padStart(11)} ${`${ms.toFixed(1)} ms`.padStart(9)} ${"".padStart(9)}`);
  }
}
console.log(`(BLE: ${NOTIFY_PER_EVENT} notifications per connection event, one Write Request per event; serial: 8N1, the time is the same at any interval)`);
