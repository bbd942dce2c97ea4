/**
 * RSA encodings around the C core's raw private operation (RFC 8017): EMSA-PKCS1-v1_5 (block type
 * 1) and EMSA-PSS for signatures, EME-PKCS1-v1_5 (block type 2) and EME-OAEP decoding for
 * decryption. Pure functions over bytes; the hash function is the caller's `Digest`: on the device the C
 * core's (NativeCrypto.hash), on the PC @noble/hashes' — so the device build imports no @noble. The
 * decoders run over the secret plaintext without an early exit that depends on where a check fails.
 * No module-level state is written (the module is preloaded into flash on the ESP32).
 */
import { CKM, CKR, PkcsError } from "../at/pkcs11.js";

/** A hash usable in PSS and OAEP: its CKM type, its CKG_MGF1 partner, its size and its HASH id. */
export interface HashSpec {
  readonly mechanism: number;
  readonly mgf: number;
  readonly size: number;
  /** The hash id of NativeCrypto.hash (HASH of modules/wim/native.ts): 1 SHA-1 … 5 SHA-512. */
  readonly alg: number;
}

/** Computes the hash `alg` (a HashSpec's HASH id) of `m`. */
export type Digest = (alg: number, m: Uint8Array) => Uint8Array;

/** The hashes of PKCS#11's CK_RSA_PKCS_PSS_PARAMS and CK_RSA_PKCS_OAEP_PARAMS. */
export const HASHES: readonly HashSpec[] = [
  { mechanism: CKM.SHA_1, mgf: 1, size: 20, alg: 1 },
  { mechanism: CKM.SHA224, mgf: 5, size: 28, alg: 2 },
  { mechanism: CKM.SHA256, mgf: 2, size: 32, alg: 3 },
  { mechanism: CKM.SHA384, mgf: 3, size: 48, alg: 4 },
  { mechanism: CKM.SHA512, mgf: 4, size: 64, alg: 5 },
];

/** Reads a little-endian u64 (CK_ULONG) at `o`; parameters are checked by the callers. */
function ulong(p: Uint8Array, o: number): number {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return dv.getUint32(o + 4, true) * 0x100000000 + dv.getUint32(o, true);
}

function hashFor(mechanism: number, mgf: number): HashSpec {
  const h = HASHES.find((x) => x.mechanism === mechanism);
  if (!h || h.mgf !== mgf) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  return h;
}

/** CK_RSA_PKCS_PSS_PARAMS (hashAlg, mgf, sLen as u64 each) → hash and salt length. */
export function pssParams(p: Uint8Array): { hash: HashSpec; saltLength: number } {
  if (p.length !== 24) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  return { hash: hashFor(ulong(p, 0), ulong(p, 8)), saltLength: ulong(p, 16) };
}

/** Flattened CK_RSA_PKCS_OAEP_PARAMS (hashAlg, mgf, source as u64; u32 length + label). */
export function oaepParams(p: Uint8Array): { hash: HashSpec; label: Uint8Array } {
  if (p.length < 28) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  const n = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(24, true);
  if (p.length !== 28 + n) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  const source = ulong(p, 16);
  if (source !== 0 && source !== 1) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID); // CKZ_DATA_SPECIFIED
  return { hash: hashFor(ulong(p, 0), ulong(p, 8)), label: p.slice(28) };
}

function mgf1(h: HashSpec, digest: Digest, seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const block = new Uint8Array(seed.length + 4);
  block.set(seed);
  for (let counter = 0, o = 0; o < length; counter++, o += h.size) {
    block[seed.length] = counter >>> 24;
    block[seed.length + 1] = (counter >>> 16) & 255;
    block[seed.length + 2] = (counter >>> 8) & 255;
    block[seed.length + 3] = counter & 255;
    out.set(digest(h.alg, block).subarray(0, Math.min(h.size, length - o)), o);
  }
  return out;
}

/** EMSA-PKCS1-v1_5 block type 1 of `k` bytes around `data` (a DigestInfo or raw data). */
export function pkcs1Sign(data: Uint8Array, k: number): Uint8Array {
  if (data.length > k - 11) throw new PkcsError(CKR.DATA_LEN_RANGE);
  const em = new Uint8Array(k);
  em[1] = 1;
  em.fill(0xff, 2, k - data.length - 1);
  em.set(data, k - data.length);
  return em;
}

/** EMSA-PSS of `mHash` for a modulus of `modBits` bits, as a k-byte block. */
export function pssEncode(mHash: Uint8Array, modBits: number, h: HashSpec, salt: Uint8Array, digest: Digest): Uint8Array {
  if (mHash.length !== h.size) throw new PkcsError(CKR.DATA_LEN_RANGE);
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  if (emLen < h.size + salt.length + 2) throw new PkcsError(CKR.MECHANISM_PARAM_INVALID);
  const m = new Uint8Array(8 + h.size + salt.length);
  m.set(mHash, 8);
  m.set(salt, 8 + h.size);
  const H = digest(h.alg, m);
  const db = new Uint8Array(emLen - h.size - 1);
  db[db.length - salt.length - 1] = 1;
  db.set(salt, db.length - salt.length);
  const mask = mgf1(h, digest, H, db.length);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  const k = Math.ceil(modBits / 8);
  const out = new Uint8Array(k);
  out.set(db, k - emLen);
  out.set(H, k - emLen + db.length);
  out[k - 1] = 0xbc;
  return out;
}

/** Checks an EMSA-PSS block (the public operation's output) against `mHash` (verification: public data). */
export function pssVerify(em: Uint8Array, mHash: Uint8Array, modBits: number, h: HashSpec, saltLength: number,
  digest: Digest): boolean {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const k = Math.ceil(modBits / 8);
  if (em.length !== k || mHash.length !== h.size || emLen < h.size + saltLength + 2) return false;
  for (let i = 0; i < k - emLen; i++) if (em[i] !== 0) return false;
  const e = em.subarray(k - emLen);
  if (e[emLen - 1] !== 0xbc) return false;
  const db = e.slice(0, emLen - h.size - 1);
  const H = e.subarray(emLen - h.size - 1, emLen - 1);
  if ((db[0] & ~(0xff >> (8 * emLen - emBits))) !== 0) return false;
  const mask = mgf1(h, digest, H, db.length);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  const ps = db.length - saltLength - 1;
  for (let i = 0; i < ps; i++) if (db[i] !== 0) return false;
  if (db[ps] !== 1) return false;
  const m = new Uint8Array(8 + h.size + saltLength);
  m.set(mHash, 8);
  m.set(db.subarray(ps + 1), 8 + h.size);
  const H2 = digest(h.alg, m);
  let diff = 0;
  for (let i = 0; i < h.size; i++) diff |= H2[i] ^ H[i];
  return diff === 0;
}

/** Constant-time select of `len` bytes from `em` at a secret offset: reads every byte every time. */
function extract(em: Uint8Array, start: number, len: number): Uint8Array {
  // the length of the message is revealed by the result anyway; the scan does not depend on it
  const out = new Uint8Array(len);
  for (let i = 0; i < em.length; i++) {
    const j = i - start;
    const inRange = ((j >= 0 ? 1 : 0) & (j < len ? 1 : 0)) * 0xff;
    if (len) out[((j % len) + len) % len] |= em[i] & inRange;
  }
  return out;
}

/** EME-PKCS1-v1_5 decoding (block type 2) of a k-byte block. */
export function pkcs1Decrypt(em: Uint8Array): Uint8Array {
  let bad = em[0] | (em[1] ^ 2);
  let sep = 0; // index of the first zero after the padding, found without an early exit
  for (let i = 2; i < em.length; i++) {
    const isZero = em[i] === 0 ? 1 : 0;
    const first = isZero & (sep === 0 ? 1 : 0);
    sep = first ? i : sep;
  }
  bad |= sep === 0 ? 1 : 0;
  bad |= sep < 10 ? 1 : 0; // at least 8 padding bytes
  if (bad) throw new PkcsError(CKR.ENCRYPTED_DATA_INVALID);
  return extract(em, sep + 1, em.length - sep - 1);
}

/** EME-OAEP decoding of a k-byte block. */
export function oaepDecrypt(em: Uint8Array, h: HashSpec, label: Uint8Array, digest: Digest): Uint8Array {
  const k = em.length;
  if (k < 2 * h.size + 2) throw new PkcsError(CKR.ENCRYPTED_DATA_INVALID);
  const maskedSeed = em.subarray(1, 1 + h.size);
  const maskedDb = em.subarray(1 + h.size);
  const seed = mgf1(h, digest, maskedDb, h.size);
  for (let i = 0; i < h.size; i++) seed[i] ^= maskedSeed[i];
  const db = mgf1(h, digest, seed, k - h.size - 1);
  for (let i = 0; i < db.length; i++) db[i] ^= maskedDb[i];
  const lHash = digest(h.alg, label);
  let bad = em[0];
  for (let i = 0; i < h.size; i++) bad |= db[i] ^ lHash[i];
  let one = 0; // index of the 0x01 separator
  let inPad = 1;
  for (let i = h.size; i < db.length; i++) {
    const isOne = db[i] === 1 ? 1 : 0;
    const isZero = db[i] === 0 ? 1 : 0;
    one = inPad & isOne ? i : one;
    bad |= inPad & (isZero | isOne ? 0 : 1);
    inPad &= isZero;
  }
  bad |= one === 0 ? 1 : 0;
  if (bad) throw new PkcsError(CKR.ENCRYPTED_DATA_INVALID);
  return extract(db, one + 1, db.length - one - 1);
}
