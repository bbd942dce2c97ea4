/**
 * PIN verifiers: salted SHA-256 of the PIN, compared in constant time. The verifier is what the
 * store keeps; the PIN itself is never stored or logged.
 */

/** SHA-256 of a message: on the device the C core's (NativeCrypto.hash with HASH.SHA256). */
export type Sha256 = (m: Uint8Array) => Uint8Array;

/** A stored PIN verifier. */
export interface PinVerifier {
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

function digest(sha256: Sha256, salt: Uint8Array, pin: string): Uint8Array {
  const p = utf8(pin);
  const m = new Uint8Array(salt.length + p.length);
  m.set(salt);
  m.set(p, salt.length);
  return sha256(m);
}

/** A new verifier for `pin` with a fresh 16-byte salt drawn by `random`. */
export function makeVerifier(pin: string, random: (b: Uint8Array) => void, sha256: Sha256): PinVerifier {
  const salt = new Uint8Array(16);
  random(salt);
  return { salt, hash: digest(sha256, salt, pin) };
}

/** True when `pin` matches; the comparison time does not depend on where the bytes differ. */
export function checkPin(v: PinVerifier, pin: string, sha256: Sha256): boolean {
  const h = digest(sha256, v.salt, pin);
  let diff = h.length ^ v.hash.length;
  for (let i = 0; i < h.length && i < v.hash.length; i++) diff |= h[i] ^ v.hash[i];
  return diff === 0;
}
