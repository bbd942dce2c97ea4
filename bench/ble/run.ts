/**
 * bench/ble/run.ts — `make bench-ble`: what one C_Sign costs on the link, over BLE and over the serial
 * line (issue 12). The exact AT bytes of a C_Sign are taken from the simulator (the agent's encoding:
 * channel select and +PKCSSIGN in one line; the device's answer); from them, per link:
 *
 * - BLE: ATT packets (writes of at most MTU − 3 bytes PC → device, notifications of at most MTU − 3
 *   bytes back), round trips (each Write Request waits for its Write Response: one connection event
 *   each, the conservative case; the firmware paces notifications one per NOTIFY_INTERVAL_MS, so a
 *   connection event carries at most interval / NOTIFY_INTERVAL_MS of them: docs/ble.md) and the link
 *   time they imply at 15 ms and 30 ms connection intervals, at MTU 23 (before any exchange) and 247
 *   (Linux and the ESP32 after the exchange).
 * - Serial: 10 bits a byte (8N1) at 115,200 and 921,600 baud.
 *
 * Then the same C_Signs are sent through the simulator's radio model (docs/ble.md) at MTU 23 and 247
 * — the real firmware's BLE transport and pacing — and the ATT packets that crossed it are counted.
 *
 * Then the secure channel (docs/channel.md): the bytes on the wire of the same C_Signs through the channel
 * (a paired agent: records with their headers and tags) against the same commands in clear, and the
 * handshake's wall-clock time in the simulator (median of 20).
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
import { NOTIFY_INTERVAL_MS } from "../../modules/wim/ble.js";
import { pairDevice, startSim, startSimBle, tempDir } from "../../test/e2e/harness.js";
import { Device } from "../../pc/agent/device.js";
import { HostKeys } from "../../pc/agent/hostkeys.js";
import { radioStream } from "../../test/bluez/radio.js";

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
    // notifications follow, interval / NOTIFY_INTERVAL_MS of them per event
    const at = (interval: number) => (writes + Math.ceil(notes / Math.floor(interval / NOTIFY_INTERVAL_MS))) * interval;
    console.log(`${c.name.padEnd(26)} ${`BLE, MTU ${mtu}`.padEnd(22)} ${`${c.up}+${c.down}`.padStart(9)} ${String(writes + notes).padStart(8)} ${String(writes).padStart(11)} ${`${at(15)} ms`.padStart(9)} ${`${at(30)} ms`.padStart(9)}`);
  }
  for (const baud of [115200, 921600]) {
    const ms = ((c.up + c.down) * 10 * 1000) / baud;
    console.log(`${c.name.padEnd(26)} ${`serial, ${baud} baud`.padEnd(22)} ${`${c.up}+${c.down}`.padStart(9)} ${"—".padStart(8)} ${"1".padStart(11)} ${`${ms.toFixed(1)} ms`.padStart(9)} ${"".padStart(9)}`);
  }
}
console.log(`(BLE: one Write Request per connection event, a notification every ${NOTIFY_INTERVAL_MS} ms; serial: 8N1, the time is the same at any interval)`);

console.log("");
console.log("bench-ble: the same C_Signs through the simulator's radio model (the firmware's BLE transport, measured)");
console.log(`${"operation".padEnd(26)} ${"MTU".padStart(4)} ${"writes".padStart(7)} ${"notifications".padStart(14)} ${"time in the simulator".padStart(22)}`);
const bsim = await startSimBle(tempDir("bench-ble-radio"), ["--no-agent", "--user-pin", "2468"]);
try {
  for (const mtu of [23, 247]) {
    const r = await radioStream(bsim.ble!, mtu);
    const link = new AtLink(r.stream);
    const at = (name: string, values: Value[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values);
    try {
      await link.start();
      const [[s]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION])) as number[][];
      await at("+PKCSLOGIN", [s, CKU.USER, "2468"]);
      const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
      const [[, rsaKey]] = (await at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]), priv])) as number[][];
      const [[, ecKey]] = (await at("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]), priv])) as number[][];
      for (const [name, key, mech, n] of [["RSA-2048 (CKM_RSA_PKCS)", rsaKey, CKM.RSA_PKCS, 51], ["P-256 (CKM_ECDSA)", ecKey, CKM.ECDSA, 32]] as const) {
        const w0 = r.writes(), n0 = r.notes(), t0 = performance.now();
        const runs = 20;
        for (let i = 0; i < runs; i++) await at("+PKCSSIGN", [s, key, mech, new Uint8Array(n).fill(i)]);
        const ms = (performance.now() - t0) / runs;
        console.log(`${name.padEnd(26)} ${String(mtu).padStart(4)} ${((r.writes() - w0) / runs).toFixed(0).padStart(7)} ${((r.notes() - n0) / runs).toFixed(0).padStart(14)} ${`${ms.toFixed(1)} ms`.padStart(22)}`);
      }
    } finally {
      link.close();
    }
  }
} finally {
  await bsim.stop();
}
console.log("(the simulator's radio model: a notification drained every 2 ms, no connection interval; the firmware paces one every 3 ms)");

console.log("");
console.log("bench-ble: the secure channel (docs/channel.md) on the serial link: one C_Sign's bytes, and the handshake");
const csim = await startSim(tempDir("bench-channel"), ["--no-agent", "--user-pin", "2468"]);
try {
  const keys = new HostKeys(tempDir("bench-channel-host"));
  const device = Device.over(openSerial(csim.pty), { keys, linkKind: "serial" });
  await device.attach();
  await pairDevice(device, csim.state);
  const secure = device.secure!;
  const link = device.link;
  const at = (name: string, values: Value[] = [], before: string[] = []) => link.command(COMMAND_BY_NAME.get(name)!, values, before);
  try {
    const ch = (await at("+PKCSCHO"))[0][0] as number;
    const before = [`+PKCSCH=${ch}`];
    const [[s]] = (await at("+PKCSOPEN", [CKF.SERIAL_SESSION | CKF.RW_SESSION], before)) as number[][];
    await at("+PKCSLOGIN", [s, CKU.USER, "2468"], before);
    const priv = encodeTemplate([{ type: CKA.SIGN, value: boolValue(true) }]);
    const [[, rsaKey]] = (await at("+PKCSGENKP", [s, CKM.RSA_PKCS_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.MODULUS_BITS, value: ulongValue(2048) }]), priv], before)) as number[][];
    const [[, ecKey]] = (await at("+PKCSGENKP", [s, CKM.EC_KEY_PAIR_GEN, encodeTemplate([{ type: CKA.EC_PARAMS, value: P256 }]), priv], before)) as number[][];
    console.log(`${"operation".padEnd(26)} ${"in clear".padStart(12)} ${"in the channel".padStart(15)} ${"overhead".padStart(9)}`);
    for (const [name, key, mech, n] of [["RSA-2048 (CKM_RSA_PKCS)", rsaKey, CKM.RSA_PKCS, 51], ["P-256 (CKM_ECDSA)", ecKey, CKM.ECDSA, 32]] as const) {
      const out0 = secure.wireOut, in0 = secure.wireIn;
      await at("+PKCSSIGN", [s, key, mech, new Uint8Array(n).fill(7)], before);
      const up = secure.wireOut - out0, down = secure.wireIn - in0;
      const clear = cases.find((c) => c.name === name)!;
      const plain = clear.up + clear.down;
      console.log(`${name.padEnd(26)} ${`${clear.up}+${clear.down}`.padStart(12)} ${`${up}+${down}`.padStart(15)} ${`+${up + down - plain} B`.padStart(9)}`);
    }
  } catch (e) {
    link.close();
    throw e;
  }
  // the handshake, 20 times (each ends the previous session on the device): wall clock in the simulator
  const deviceKey = keys.device(device.identity.serial)!.publicKey;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await secure.handshake(keys.hostKey(), deviceKey, device.identity.serial);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`handshake (AT+PKCSHS, one round trip; 162 + 81 bytes of Noise messages): median ${times[10].toFixed(1)} ms of 20 (min ${times[0].toFixed(1)}, max ${times[19].toFixed(1)}) in the simulator`);
  link.close();
} finally {
  await csim.stop();
}
console.log("(channel: each command and each response is a record: 3 header bytes and a 16-byte tag; the PTY, no baud rate)");
