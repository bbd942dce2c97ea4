/**
 * PIN verifiers: salted SHA-256 of the PIN, compared in constant time. The verifier is what the
 * store keeps; the PIN itself is never stored or logged.
 */
import { sha256 } from "@noble/hashes/sha2.js";

/** A stored PIN verifier. */
export interface PinVerifier {
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

function digest(salt: Uint8Array, pin: string): Uint8Array {
  const p = utf8(pin);
  const m = new Uint8Array(salt.length + p.length);
  m.set(salt);
  m.set(p, salt.length);
  return sha256(m);
}

/** A new verifier for `pin` with a fresh 16-byte salt drawn by `random`. */
export function makeVerifier(pin: string, random: (b: Uint8Array) => void): PinVerifier {
  const salt = new Uint8Array(16);
  random(salt);
  return { salt, hash: digest(salt, pin) };
}

/** True when `pin` matches; the comparison time does not depend on where the bytes differ. */
export function checkPin(v: PinVerifier, pin: string): boolean {
  const h = digest(v.salt, pin);
  let diff = h.length ^ v.hash.length;
  for (let i = 0; i < h.length && i < v.hash.length; i++) diff |= h[i] ^ v.hash[i];
  return diff === 0;
}
