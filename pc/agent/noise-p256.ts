/**
 * The PC's primitives for the channel's Noise suite (modules/wim/noise.ts, docs/channel.md):
 * P-256 ECDH, ChaCha20-Poly1305 and SHA-256 from @noble, in memory. The device's suite runs the same
 * state machine on its C core.
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { CHANNEL_PROTOCOL, type DhKey, type NoiseSuite, P256_PUBLIC } from "../../modules/wim/noise.js";

/** Noise's 12-byte ChaChaPoly nonce: 4 zero bytes, then the counter as 64-bit little-endian. */
export function chachaNonce(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter), true);
  return n;
}

/** A P-256 key from its 32-byte secret scalar (the host's static key) or a fresh one. */
export function p256Key(secret: Uint8Array = p256.utils.randomSecretKey()): DhKey & { readonly secret: Uint8Array } {
  const publicKey = p256.getPublicKey(secret, false);
  return {
    secret,
    publicKey,
    // the shared secret is the x-coordinate (SEC 1's ECDH primitive), as the device's C core gives it
    dh: (peer) => p256.getSharedSecret(secret, peer, true).slice(1),
  };
}

/** Noise_IK_P256_ChaChaPoly_SHA256 on @noble. */
export const p256Suite: NoiseSuite = {
  name: CHANNEL_PROTOCOL,
  publicLength: P256_PUBLIC,
  generate: () => p256Key(),
  hash: (data) => sha256(data),
  seal: (key, counter, ad, pt) => chacha20poly1305(key, chachaNonce(counter), ad).encrypt(pt),
  open: (key, counter, ad, ct) => {
    try {
      return chacha20poly1305(key, chachaNonce(counter), ad).decrypt(ct);
    } catch {
      return undefined;
    }
  },
};
