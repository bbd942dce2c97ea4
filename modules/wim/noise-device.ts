/**
 * The device's primitives for the channel's Noise suite (modules/wim/noise.ts, docs/channel.md) on
 * the C core: ChaCha20-Poly1305 (aeadSeal/aeadOpen), SHA-256 (hash), P-256 ECDH with the channel key
 * in SECRET record 4 (ecEcdh) and with an ephemeral scalar that lives in one RAM slot of the C core and
 * never reaches JavaScript (ecEphemeral, ecEphemeralEcdh, ecEphemeralClear).
 *
 * On the wire a P-256 public key is 65 bytes, 0x04 ‖ x ‖ y; the C core takes and gives x ‖ y. The DH
 * output is the 32-byte x-coordinate, as the PC's suite (pc/agent/noise-p256.ts) computes it.
 */
import { EC_CURVE, HASH, type NativeCrypto } from "./native.js";
import { CHANNEL_PROTOCOL, type DhKey, type NoiseSuite, P256_PUBLIC } from "./noise.js";

/** The C core's functions the channel uses. */
export type ChannelNatives = Pick<NativeCrypto, "aeadSeal" | "aeadOpen" | "ecEphemeral" | "ecEphemeralEcdh" | "ecEphemeralClear" | "ecEcdh" | "hash">;

/** x ‖ y of a wire public key (0x04 ‖ x ‖ y); throws RangeError for anything else. */
export function pointOf(publicKey: Uint8Array): ArrayBuffer {
  if (publicKey.length !== P256_PUBLIC || publicKey[0] !== 4) throw new RangeError("not an uncompressed P-256 point");
  return publicKey.slice(1).buffer as ArrayBuffer;
}

/** The wire form (0x04 ‖ x ‖ y) of the C core's x ‖ y. */
export function wirePoint(xy: ArrayBuffer): Uint8Array {
  const out = new Uint8Array(P256_PUBLIC);
  out[0] = 4;
  out.set(new Uint8Array(xy), 1);
  return out;
}

/** The device's static channel key: its public key (from PUBLIC record `id`) and ECDH in C with SECRET record `id`. */
export function storedKey(native: ChannelNatives, id: number, publicKey: Uint8Array): DhKey {
  return {
    publicKey,
    dh: (peer) => new Uint8Array(native.ecEcdh(id, EC_CURVE.P256, pointOf(peer))),
  };
}

/**
 * Noise_IK_P256_ChaChaPoly_SHA256 on the C core. generate() draws the ephemeral into the C core's one
 * slot (a second generate replaces the first: one handshake at a time, which the engine's synchronous
 * commands guarantee); the caller wipes it with native.ecEphemeralClear() when the handshake is done.
 */
export function deviceSuite(native: ChannelNatives): NoiseSuite {
  return {
    name: CHANNEL_PROTOCOL,
    publicLength: P256_PUBLIC,
    generate: () => ({
      publicKey: wirePoint(native.ecEphemeral(EC_CURVE.P256)),
      dh: (peer) => new Uint8Array(native.ecEphemeralEcdh(pointOf(peer))),
    }),
    hash: (data) => new Uint8Array(native.hash(HASH.SHA256, data)),
    seal: (key, counter, ad, pt) => new Uint8Array(native.aeadSeal(key, counter, ad, pt)),
    open: (key, counter, ad, ct) => {
      const pt = native.aeadOpen(key, counter, ad, ct);
      return pt && new Uint8Array(pt);
    },
  };
}
