/**
 * The channel's Noise IK state machine (modules/wim/noise.ts):
 * - on X25519 against the published Noise_IK_25519_ChaChaPoly_SHA256 vector of the cacophony test
 *   vectors (github.com/haskell-cryptography/cacophony, vectors/cacophony.txt): same state machine, the
 *   DH swapped, every message and the handshake hash byte for byte;
 * - on P-256 (the channel's suite, pc/agent/noise-p256.ts): both sides agree, records in both
 *   directions, and every tampering, replay, reordering or wrong key fails.
 * Run: npx mocha test/wim/noise.test.ts
 */
import assert from "node:assert/strict";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { hexToBytes, bytesToHex } from "@noble/hashes/utils.js";
import { type DhKey, IkInitiator, IkResponder, NoiseError, type NoiseSuite, message1Length, message2Length } from "../../modules/wim/noise.js";
import { chachaNonce, p256Key, p256Suite } from "../../pc/agent/noise-p256.js";

const x25519Key = (secret: Uint8Array): DhKey => ({
  publicKey: x25519.getPublicKey(secret),
  dh: (peer) => x25519.getSharedSecret(secret, peer),
});

/** Noise_IK_25519_ChaChaPoly_SHA256 whose ephemeral keys come from a list (the vector's). */
function x25519Suite(ephemerals: Uint8Array[]): NoiseSuite {
  return {
    name: "Noise_IK_25519_ChaChaPoly_SHA256",
    publicLength: 32,
    generate: () => x25519Key(ephemerals.shift()!),
    hash: (d) => sha256(d),
    seal: (k, n, ad, pt) => chacha20poly1305(k, chachaNonce(n), ad).encrypt(pt),
    open: (k, n, ad, ct) => {
      try {
        return chacha20poly1305(k, chachaNonce(n), ad).decrypt(ct);
      } catch {
        return undefined;
      }
    },
  };
}

// cacophony.txt, protocol_name "Noise_IK_25519_ChaChaPoly_SHA256" (test data, not code)
const V = {
  prologue: "4a6f686e2047616c74",
  initStatic: "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
  initEphemeral: "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
  respStatic: "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
  respEphemeral: "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
  handshakeHash: "0b0f68fb0c27e03ce9b97565995ed4838cc0581b762ef72b062f6a546419fad7",
  messages: [
    ["4c756477696720766f6e204d69736573", "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944718da798efbcd91528520204f904b9bd6c7413dccdc214d951e15253e39987f18146e8cd0873654207148333479d4d16c289f0294b29960a72f48e0b7bba2e89083169825e59642148d492020664ccf7"],
    ["4d757272617920526f746862617264", "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088435361e70b2ed446e6c9ec387d1d6b3b840f194e373979d241b203c4acafccf5"],
    ["462e20412e20486179656b", "050e9f3c8fac16b68dbce8f8c4bfbf6617c897f9ada4aa29aa19c8"],
    ["4361726c204d656e676572", "344233a6cabb7141d80f3da2fedc311d9646bbb0f505afe403a667"],
    ["4a65616e2d426170746973746520536179", "62cdeeb172ad7ade7aa7d9e069da5790f12331bfa00177787a1d0810c67dc3b2b4"],
    ["457567656e2042f6686d20766f6e2042617765726b", "029bead1b40992327044d409d9a1f3ad8f36c3c452775d557e18bbeb2e8dfcead32d514024"],
  ],
};

describe("Noise IK (modules/wim/noise.ts)", () => {
  it("matches the published Noise_IK_25519_ChaChaPoly_SHA256 vector byte for byte (handshake, hash, transport)", () => {
    const h = hexToBytes;
    const respStatic = x25519Key(h(V.respStatic));
    const init = new IkInitiator(x25519Suite([h(V.initEphemeral)]), x25519Key(h(V.initStatic)), respStatic.publicKey, h(V.prologue));
    const resp = new IkResponder(x25519Suite([h(V.respEphemeral)]), respStatic, h(V.prologue));
    const [m1, m2, ...rest] = V.messages;

    const out1 = init.writeMessage1(h(m1[0]));
    assert.equal(bytesToHex(out1), m1[1]);
    const r1 = resp.readMessage1(out1);
    assert.equal(bytesToHex(r1.remoteStatic), bytesToHex(x25519.getPublicKey(h(V.initStatic))));
    assert.equal(bytesToHex(r1.payload), m1[0]);

    const w2 = resp.writeMessage2(h(m2[0]));
    assert.equal(bytesToHex(w2.message), m2[1]);
    const r2 = init.readMessage2(w2.message);
    assert.equal(bytesToHex(r2.payload), m2[0]);
    assert.equal(bytesToHex(r2.transport.handshakeHash), V.handshakeHash);
    assert.equal(bytesToHex(w2.transport.handshakeHash), V.handshakeHash);

    // transport messages alternate, initiator first (cacophony's one-way-less IK vectors)
    rest.forEach(([payload, ciphertext], i) => {
      const [from, to] = i % 2 === 0 ? [r2.transport, w2.transport] : [w2.transport, r2.transport];
      const ct = from.send.encrypt(new Uint8Array(0), h(payload));
      assert.equal(bytesToHex(ct), ciphertext, `transport message ${i + 3}`);
      assert.equal(bytesToHex(to.receive.decrypt(new Uint8Array(0), ct)), payload);
    });
  });

  /** A P-256 handshake between a host key and a device key; returns both transports. */
  function handshake(host = p256Key(), device = p256Key(), prologue = Uint8Array.of(1, 2, 3)) {
    const init = new IkInitiator(p256Suite, host, device.publicKey, prologue);
    const resp = new IkResponder(p256Suite, device, prologue);
    const m1 = init.writeMessage1();
    assert.equal(m1.length, message1Length(p256Suite, 0));
    const r1 = resp.readMessage1(m1);
    assert.deepEqual(r1.remoteStatic, host.publicKey);
    const w2 = resp.writeMessage2();
    assert.equal(w2.message.length, message2Length(p256Suite, 0));
    const r2 = init.readMessage2(w2.message);
    return { host: r2.transport, device: w2.transport, m1, m2: w2.message };
  }

  it("P-256: both sides derive the same keys; records flow both ways with implicit counters", () => {
    const { host, device } = handshake();
    assert.deepEqual(host.handshakeHash, device.handshakeHash);
    for (let i = 0; i < 5; i++) {
      const line = new TextEncoder().encode(`AT+PKCSSIGN=1,${i}\r`);
      assert.deepEqual(device.receive.decrypt(new Uint8Array(0), host.send.encrypt(new Uint8Array(0), line)), line);
      const reply = new TextEncoder().encode(`\r\n+PKCSSIGN: "${i}"\r\n\r\nOK\r\n`);
      assert.deepEqual(host.receive.decrypt(new Uint8Array(0), device.send.encrypt(new Uint8Array(0), reply)), reply);
    }
    assert.equal(host.send.counter, 5);
    assert.equal(device.receive.counter, 5);
  });

  it("P-256: a tampered, replayed or reordered record fails and the counter does not move", () => {
    const { host, device } = handshake();
    const ad = new Uint8Array(0);
    const a = host.send.encrypt(ad, Uint8Array.of(1));
    const b = host.send.encrypt(ad, Uint8Array.of(2));
    for (let bit = 0; bit < a.length * 8; bit++) {
      const t = a.slice();
      t[bit >> 3] ^= 1 << (bit & 7);
      assert.throws(() => device.receive.decrypt(ad, t), NoiseError);
    }
    assert.throws(() => device.receive.decrypt(ad, b), NoiseError, "reordered");
    assert.equal(device.receive.counter, 0);
    assert.deepEqual(device.receive.decrypt(ad, a), Uint8Array.of(1));
    assert.throws(() => device.receive.decrypt(ad, a), NoiseError, "replayed");
    assert.deepEqual(device.receive.decrypt(ad, b), Uint8Array.of(2));
    assert.throws(() => device.receive.decrypt(ad, a.subarray(0, 15)), NoiseError, "shorter than a tag");
  });

  it("P-256: the device rejects a first message made for another device key, or tampered anywhere", () => {
    const device = p256Key();
    const host = p256Key();
    const other = new IkInitiator(p256Suite, host, p256Key().publicKey, Uint8Array.of(1, 2, 3)).writeMessage1();
    assert.throws(() => new IkResponder(p256Suite, device, Uint8Array.of(1, 2, 3)).readMessage1(other), NoiseError);
    const good = new IkInitiator(p256Suite, host, device.publicKey, Uint8Array.of(1, 2, 3)).writeMessage1();
    for (const at of [0, 1, 40, 65, 100, 145, good.length - 1]) {
      const t = good.slice();
      t[at] ^= 0x40;
      assert.throws(() => new IkResponder(p256Suite, device, Uint8Array.of(1, 2, 3)).readMessage1(t), NoiseError, `byte ${at}`);
    }
    assert.throws(() => new IkResponder(p256Suite, device, Uint8Array.of(9)).readMessage1(good), NoiseError, "another prologue");
    assert.throws(() => new IkResponder(p256Suite, device, Uint8Array.of(1, 2, 3)).readMessage1(good.subarray(0, 100)), NoiseError);
  });

  it("P-256: the host rejects an answer from anyone without the device's static key", () => {
    const device = p256Key();
    const host = p256Key();
    const init = new IkInitiator(p256Suite, host, device.publicKey, Uint8Array.of(0));
    const m1 = init.writeMessage1();
    // an impostor answers with its own static key: it cannot read m1, and its answer fails at the host
    const impostor = new IkResponder(p256Suite, p256Key(), Uint8Array.of(0));
    assert.throws(() => impostor.readMessage1(m1), NoiseError);
    // its answer to a first message of its own is well formed, yet the host's keys do not open it
    const impostorKey = p256Key();
    const fake = new IkInitiator(p256Suite, host, impostorKey.publicKey, Uint8Array.of(0));
    const fakeResp = new IkResponder(p256Suite, impostorKey, Uint8Array.of(0));
    fakeResp.readMessage1(fake.writeMessage1());
    assert.throws(() => init.readMessage2(fakeResp.writeMessage2().message), NoiseError);
  });

  it("P-256: each handshake gives fresh keys (ephemeral keys)", () => {
    const host = p256Key(), device = p256Key();
    const one = handshake(host, device), two = handshake(host, device);
    assert.notDeepEqual(one.host.handshakeHash, two.host.handshakeHash);
    const ct = one.host.send.encrypt(new Uint8Array(0), Uint8Array.of(7));
    assert.throws(() => two.device.receive.decrypt(new Uint8Array(0), ct), NoiseError);
  });
});
