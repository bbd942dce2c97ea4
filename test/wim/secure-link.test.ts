/**
 * The device's side of the channel in Node (the pure parts; test/sim/channel.test.ts runs the real
 * firmware on XS):
 * - modules/wim/noise-device.ts over a ChannelNatives backed by @noble (the C core's contract: x ‖ y
 *   points, x-coordinate DH, ephemeral scalar in a slot) interoperates with the PC's suite
 *   (pc/agent/noise-p256.ts) in both roles of a handshake and in records;
 * - modules/wim/pairing.ts's table codec round-trips and reads a damaged record as no hosts;
 * - modules/wim/secure-link.ts: clear lines, the switch to records right after the handshake's line,
 *   records split anywhere, and each fault (clear byte, bad length, tampered header/ciphertext/tag,
 *   replay, reorder) ends the session with +PKCSSEC: 0, drops the channels and resets the engine.
 * Run: npx mocha test/wim/secure-link.test.ts
 */
import assert from "node:assert/strict";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { IkInitiator, IkResponder, type Transport } from "../../modules/wim/noise.js";
import { type ChannelNatives, deviceSuite, storedKey } from "../../modules/wim/noise-device.js";
import { MAX_HOSTS, decodeHosts, encodeHosts } from "../../modules/wim/pairing.js";
import { MAX_RECORD, SESSION_ENDED, SecureLink } from "../../modules/wim/secure-link.js";
import { chachaNonce, p256Key, p256Suite } from "../../pc/agent/noise-p256.js";

const u8 = (b: ArrayBuffer | Uint8Array) => (b instanceof Uint8Array ? b : new Uint8Array(b));

/** The C core's channel functions on @noble, with the secrets of its store in `secrets`. */
function nobleNatives(secrets: Map<number, Uint8Array>): ChannelNatives & { ephemeral(): Uint8Array | undefined } {
  let eph: Uint8Array | undefined;
  const dh = (secret: Uint8Array, peer: ArrayBuffer) => {
    const point = new Uint8Array(65);
    point[0] = 4;
    point.set(u8(peer), 1);
    return p256.getSharedSecret(secret, point, true).slice(1).buffer as ArrayBuffer;
  };
  return {
    aeadSeal: (k, n, ad, pt) => chacha20poly1305(u8(k), chachaNonce(n), u8(ad)).encrypt(u8(pt)).buffer as ArrayBuffer,
    aeadOpen: (k, n, ad, ct) => {
      try {
        return chacha20poly1305(u8(k), chachaNonce(n), u8(ad)).decrypt(u8(ct)).buffer as ArrayBuffer;
      } catch {
        return undefined;
      }
    },
    ecEphemeral: () => {
      eph = p256.utils.randomSecretKey();
      return p256.getPublicKey(eph, false).slice(1).buffer as ArrayBuffer;
    },
    ecEphemeralEcdh: (peer) => dh(eph!, peer),
    ecEphemeralClear: () => void (eph = undefined),
    ecEcdh: (id, _curve, peer) => dh(secrets.get(id)!, peer),
    hash: (_alg, data) => sha256(u8(data)).buffer as ArrayBuffer,
    ephemeral: () => eph,
  };
}

const PROLOGUE = new TextEncoder().encode("WIM AT+PKCS channel 1TEST");

/** A device static key in "record 4" and a finished handshake between the PC's suite and the device's. */
function handshake() {
  const device = p256Key();
  const native = nobleNatives(new Map([[4, device.secret]]));
  const host = p256Key();
  const init = new IkInitiator(p256Suite, host, device.publicKey, PROLOGUE);
  const resp = new IkResponder(deviceSuite(native), storedKey(native, 4, device.publicKey), PROLOGUE);
  const m1 = init.writeMessage1();
  const { remoteStatic } = resp.readMessage1(m1);
  const r = resp.writeMessage2();
  native.ecEphemeralClear();
  const i = init.readMessage2(r.message);
  return { host, remoteStatic, pc: i.transport, dev: r.transport, native, m2: r.message };
}

function record(t: Transport, text: string | Uint8Array): Uint8Array {
  const pt = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const len = pt.length + 16;
  const header = Uint8Array.of(2, len >> 8, len & 0xff);
  const ct = t.send.encrypt(header, pt);
  const out = new Uint8Array(3 + ct.length);
  out.set(header);
  out.set(ct, 3);
  return out;
}

/** Parses device output: clear text and opened records, in order. */
function reader(t: Transport) {
  let buf = new Uint8Array(0);
  return (bytes: Uint8Array[]): string[] => {
    for (const b of bytes) {
      const n = new Uint8Array(buf.length + b.length);
      n.set(buf);
      n.set(b, buf.length);
      buf = n;
    }
    bytes.length = 0;
    const out: string[] = [];
    while (buf.length) {
      if (buf[0] === 2) {
        if (buf.length < 3) break;
        const len = (buf[1] << 8) | buf[2];
        if (buf.length < 3 + len) break;
        out.push("R:" + new TextDecoder().decode(t.receive.decrypt(buf.subarray(0, 3), buf.slice(3, 3 + len))));
        buf = buf.subarray(3 + len);
      } else {
        let i = buf.indexOf(2);
        if (i < 0) i = buf.length;
        out.push("C:" + new TextDecoder().decode(buf.subarray(0, i)));
        buf = buf.subarray(i);
      }
    }
    return out;
  };
}

describe("the device's Noise suite on the C core's contract", () => {
  it("handshakes with the PC's suite: same keys both ways, the host's static key learned, the ephemeral wiped", () => {
    const { host, remoteStatic, pc, dev, native, m2 } = handshake();
    assert.deepEqual(remoteStatic, host.publicKey);
    assert.equal(m2.length, 81);
    assert.equal(native.ephemeral(), undefined);
    assert.deepEqual(pc.handshakeHash, dev.handshakeHash);
    const ad = Uint8Array.of(2, 0, 21);
    assert.equal(new TextDecoder().decode(dev.receive.decrypt(ad, pc.send.encrypt(ad, new TextEncoder().encode("AT+PKCSTOKEN?\r")))), "AT+PKCSTOKEN?\r");
    assert.deepEqual(pc.receive.decrypt(ad, dev.send.encrypt(ad, Uint8Array.of(1, 2, 3))), Uint8Array.of(1, 2, 3));
  });

  it("refuses a host that used another device key (the handshake fails on the device)", () => {
    const device = p256Key();
    const native = nobleNatives(new Map([[4, device.secret]]));
    const init = new IkInitiator(p256Suite, p256Key(), p256Key().publicKey, PROLOGUE);
    const resp = new IkResponder(deviceSuite(native), storedKey(native, 4, device.publicKey), PROLOGUE);
    assert.throws(() => resp.readMessage1(init.writeMessage1()));
  });
});

describe("the paired-hosts record", () => {
  it("round-trips up to MAX_HOSTS hosts with UTF-8 names, and a damaged record is no hosts", () => {
    const hosts = Array.from({ length: MAX_HOSTS }, (_, i) => ({ key: p256Key().publicKey, name: `host ${i} é`.slice(0, 32) }));
    const raw = encodeHosts(hosts);
    assert.deepEqual(decodeHosts(raw), hosts);
    assert.deepEqual(decodeHosts(raw.subarray(0, raw.length - 1)), []);
    assert.deepEqual(decodeHosts(new Uint8Array(0)), []);
    assert.deepEqual(decodeHosts(encodeHosts([])), []);
  });
});

describe("the record layer (modules/wim/secure-link.ts)", () => {
  /** A secure link over a fake engine that answers each line with "<line>!" and counts resets and drops. */
  function rig() {
    const written: Uint8Array[] = [];
    const events: string[] = [];
    let armNext: Transport | undefined;
    const link = new SecureLink({ write: (b) => void written.push(b.slice()) }, () => events.push("drop"));
    link.engine = {
      receive: (b) => {
        const text = new TextDecoder().decode(b);
        events.push("line:" + text);
        if (text.startsWith("HS") && armNext) link.arm(armNext, Uint8Array.of(4, 1));
        link.output(new TextEncoder().encode(text.trim() + "!"));
      },
      reset: () => events.push("reset"),
    };
    const hs = handshake();
    armNext = hs.dev;
    const read = reader(hs.pc);
    return { link, written, events, pc: hs.pc, read: () => read(written) };
  }

  it("runs clear lines, starts the session right after the handshake's line, then opens and seals records", () => {
    const r = rig();
    const enc = new TextEncoder();
    r.link.receive(enc.encode("AT\rHS\r"));
    assert.equal(r.link.secure, true);
    assert.deepEqual(r.read(), ["C:AT!HS!"]);
    // the bytes after the handshake's line in the same chunk are records: split anywhere
    const recs = [record(r.pc, "AT+ONE\r"), record(r.pc, "AT+TWO\r")];
    const all = new Uint8Array(recs[0].length + recs[1].length);
    all.set(recs[0]);
    all.set(recs[1], recs[0].length);
    for (let i = 0; i < all.length; i += 5) r.link.receive(all.subarray(i, i + 5));
    assert.deepEqual(r.read(), ["R:AT+ONE!", "R:AT+TWO!"]);
    assert.ok(r.events.includes("line:AT+ONE\r") && r.events.includes("line:AT+TWO\r"));
  });

  it("splits a write longer than a record into several records", () => {
    const r = rig();
    r.link.receive(new TextEncoder().encode("HS\r"));
    r.read();
    r.link.output(new Uint8Array(MAX_RECORD * 2).fill(65));
    const got = r.read();
    assert.equal(got.length, 3);
    assert.equal(got.map((s) => s.length - 2).reduce((a, b) => a + b), MAX_RECORD * 2);
  });

  const faults: [string, (rec: Uint8Array, r: ReturnType<typeof rig>) => Uint8Array][] = [
    ["a clear byte", () => new TextEncoder().encode("AT+PKCSCH=1\r")],
    ["a length below the tag", () => Uint8Array.of(2, 0, 5)],
    ["a length above MAX_RECORD", () => Uint8Array.of(2, 0x20, 0)],
    ["a tampered header (the length, with a byte more to match it)", (rec) => {
      const out = new Uint8Array(rec.length + 1);
      out.set(rec);
      const len = ((rec[1] << 8) | rec[2]) + 1;
      out[1] = len >> 8;
      out[2] = len & 0xff;
      return out;
    }],
    ["a tampered ciphertext", (rec) => ((rec[3] ^= 1), rec)],
    ["a tampered tag", (rec) => ((rec[rec.length - 1] ^= 0x80), rec)],
    ["a replay", (rec, r) => (r.link.receive(rec.slice()), rec)],
    ["a reordered record", (_rec, r) => (record(r.pc, "AT+SKIPPED\r"), record(r.pc, "AT+LATER\r"))],
  ];
  for (const [name, fault] of faults) {
    it(`ends the session on ${name}: +PKCSSEC: 0 in clear, channels dropped, engine reset`, () => {
      const r = rig();
      r.link.receive(new TextEncoder().encode("HS\r"));
      r.read();
      r.events.length = 0;
      const bad = fault(record(r.pc, "AT+GOOD\r"), r);
      const answeredBefore = r.read().filter((s) => s.startsWith("R:")).length;
      r.link.receive(bad);
      assert.equal(r.link.secure, false, name);
      const out = r.written.map((b) => new TextDecoder().decode(b)).join("");
      assert.ok(out.startsWith(SESSION_ENDED), `${name}: ${JSON.stringify(out)}`);
      assert.ok(r.events.includes("drop") && r.events.includes("reset"), name);
      assert.ok(answeredBefore <= 1, name);
      assert.ok(!r.events.some((e) => e.startsWith("line:AT+LATER")), name);
    });
  }

  it("survives 150 random byte runs in a session: never throws, nothing opens, a clear first byte ends the session", function () {
    this.timeout(120_000);
    let seed = 13;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let run = 0; run < 150; run++) {
      const r = rig();
      r.link.receive(new TextEncoder().encode("HS\r"));
      const bytes = Uint8Array.from({ length: 1 + rand(80) }, () => (rand(4) === 0 ? 2 : rand(256)));
      for (let i = 0; i < bytes.length; ) {
        const n = 1 + rand(10);
        r.link.receive(bytes.subarray(i, i + n));
        i += n;
      }
      assert.ok(!r.events.some((e) => e.startsWith("line:AT+")), "no random run opens as a record");
      if (bytes[0] !== 2) assert.equal(r.link.secure, false, "a clear first byte ends the session");
    }
  });
});
