import { NATIVE_TABLE_NAMES, type NativeTable } from "./native_table.js";

/**
 * The JavaScript face of the C module (modules/wim/native): key store, RSA, EC on P-256 / P-384, and
 * Ed25519. No secret ever comes back through it.
 *
 * Each method is one xsmc host function of modules/wim/native/wim_xs.c, listed in the native table
 * (modules/wim/native/natives.table) and named in NATIVE_NAMES.
 * On the ESP32 they are bound with Moddable's `@ "name"` syntax (hosts/esp32/native.js); in the
 * simulator the host binds them by name at start-up (`globalThis.__native(name)`). The same glue C
 * file serves both. Errors are thrown as `Error` whose message is the C code's name (e.g.
 * "WIM_E_NOTFOUND"); errors.ts maps them to CK_RV in one place.
 */
export interface NativeCrypto {
  /** Mounts the key store; formats the partition first if it holds no store. True if it formatted. */
  storeOpen(): boolean;
  /** Erases the partition and writes an empty store. */
  storeFormat(): void;
  /** The PUBLIC record `id`, or undefined. */
  storeGet(id: number): ArrayBuffer | undefined;
  /** Writes (replaces) the PUBLIC record `id`. */
  storePut(id: number, data: ArrayBuffer): void;
  /** Writes (replaces) the SECRET record `id`: it can never be read back as such. */
  storePutSecret(id: number, data: ArrayBuffer): void;
  /** Removes both records of `id`; false if there were none. */
  storeRemove(id: number): boolean;
  /** Ids that have a PUBLIC record, ascending. */
  storeIds(): number[];
  /** [free, total] bytes of the store (wim_store_space: each record costs its length rounded up to 16, plus 32). */
  storeSpace(): number[];
  /**
   * Opens a store transaction: until storeCommit, storePut/storePutSecret/storeRemove and rsaGenerate's
   * secret are staged — invisible to reads, then durable all at once (a power cut leaves all or none).
   * `reserve`: the payload bytes it will write (at most 3800 in all, 8 writes); omitted: a whole sector.
   */
  storeBegin(reserve?: number): void;
  /** Commits the open transaction (throws if it was lost to a flash error: nothing was written then). */
  storeCommit(): void;
  /** Drops the open transaction's staged writes. */
  storeAbort(): void;
  /**
   * Generates an RSA key (e = 65537) into SECRET record `id`; returns the modulus, big-endian.
   * `onCandidate(count)`, if given, is called every few prime candidates; returning true cancels
   * (the call throws WIM_E_CANCELED and writes nothing).
   */
  rsaGenerate(id: number, bits: number, onCandidate?: (count: number) => boolean): ArrayBuffer;
  /** Raw RSA private operation input^d mod n with the key in SECRET record `id` (CRT, blinded, fault-checked). */
  rsaPrivate(id: number, input: ArrayBuffer): ArrayBuffer;
  /**
   * ECDSA in C with the scalar of SECRET record `id` (which never reaches JavaScript): r‖s over `hash`
   * (1..64 bytes; its leftmost bits count, as FIPS 186-5 says). `curve`: an EC_CURVE id.
   */
  ecSign(id: number, curve: number, hash: ArrayBuffer): ArrayBuffer;
  /**
   * ECDH in C with the scalar of SECRET record `id`: the x-coordinate of d·peer. `peer` is x‖y
   * (uncompressed, no 04 prefix); a point off the curve throws WIM_E_ARG.
   */
  ecEcdh(id: number, curve: number, peer: ArrayBuffer): ArrayBuffer;
  /**
   * Draws a scalar in C and stores it as SECRET record `id` (staged in the open transaction, like
   * rsaGenerate's key); returns the public point x‖y.
   */
  ecGenerate(id: number, curve: number): ArrayBuffer;
  /** The public point x‖y of the scalar in SECRET record `id` (a private key of `curve`), derived in C. */
  ecPublic(id: number, curve: number): ArrayBuffer;
  /**
   * Ed25519 (RFC 8032, pure) in C with the seed of SECRET record `id`, which must be an Ed25519 private
   * key's (it never reaches JavaScript): the 64-byte signature R‖S of the whole `message`.
   */
  edSign(id: number, message: ArrayBuffer): ArrayBuffer;
  /** The 32-byte Ed25519 public key of the seed in SECRET record `id`, derived in C. */
  edPublic(id: number): ArrayBuffer;
  /**
   * Draws a 32-byte Ed25519 seed in C and stores it as SECRET record `id` (staged in the open transaction,
   * like ecGenerate's scalar); returns the public key.
   */
  edGenerate(id: number): ArrayBuffer;
  /**
   * The digest of `data` in C (wim_sha1 / wim_sha256 / wim_sha512): `alg` is a HASH id. For RSA-PSS and
   * OAEP (MGF1, the label hash) and PIN verifiers; @noble/hashes stays the PC's and the tests' reference.
   */
  hash(alg: number, data: ArrayBuffer | Uint8Array): ArrayBuffer;
  /**
   * ChaCha20-Poly1305 (RFC 8439) in C, as Noise's ChaChaPoly: the nonce is 4 zero bytes then `counter`
   * (below 2^32) as 64 bits little-endian. Returns the ciphertext followed by the 16-byte tag. `key`: 32 bytes
   * (else RangeError); the plaintext at most 65519 bytes (Noise's 65535 with the tag).
   */
  aeadSeal(key: ArrayBuffer | Uint8Array, counter: number, ad: ArrayBuffer | Uint8Array, plaintext: ArrayBuffer | Uint8Array): ArrayBuffer;
  /**
   * The plaintext of `ciphertext` (ciphertext then tag, as aeadSeal returns it), or undefined when the tag is
   * wrong or there is no room for one (under 16 bytes): nothing of an unauthentic plaintext is released.
   * The tag is checked in constant time.
   */
  aeadOpen(key: ArrayBuffer | Uint8Array, counter: number, ad: ArrayBuffer | Uint8Array, ciphertext: ArrayBuffer | Uint8Array): ArrayBuffer | undefined;
  /**
   * Draws an ephemeral scalar in C (the secure channel's Noise `e`) into a RAM slot — never flash, never
   * JavaScript — replacing and wiping the previous one; returns its public point x‖y. `curve`: an EC_CURVE id.
   */
  ecEphemeral(curve: number): ArrayBuffer;
  /**
   * ECDH with the ephemeral scalar of ecEphemeral: the x-coordinate of e·peer. `peer` is x‖y on the same curve
   * (a point off the curve throws WIM_E_ARG, as ecEcdh does); without an ephemeral key it throws WIM_E_NOTFOUND.
   */
  ecEphemeralEcdh(peer: ArrayBuffer): ArrayBuffer;
  /** Wipes the ephemeral scalar (ecEphemeralEcdh then throws WIM_E_NOTFOUND until the next ecEphemeral). */
  ecEphemeralClear(): void;
}

/** The C core's curve ids (WIM_EC_* of modules/wim/native/wim_ec.h). */
export const EC_CURVE = { P256: 1, P384: 2 } as const;

/** The C core's hash ids (NativeCrypto.hash). */
export const HASH = { SHA1: 1, SHA224: 2, SHA256: 3, SHA384: 4, SHA512: 5 } as const;

/**
 * Host-function name of each NativeCrypto method (xsmc glue names), from the one native table
 * (modules/wim/native/natives.table, generated into native_table.ts by tools/gen-natives.mjs).
 */
export const NATIVE_NAMES: { readonly [K in keyof NativeCrypto]: string } = NATIVE_TABLE_NAMES;

/** true if A and B are assignable both ways. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
/** The methods whose parameter lists differ between NativeCrypto and the table (must be none). */
type ParameterDrift = {
  [K in keyof NativeCrypto & keyof NativeTable]: Same<Parameters<NativeCrypto[K]>, Parameters<NativeTable[K]>> extends true
    ? never
    : K;
}[keyof NativeCrypto & keyof NativeTable];
/**
 * Compile-time check (tsc, both tsconfigs): the documented interface above and the native table have the
 * same methods with the same parameters and results. A row added to the table without its method here,
 * or the other way round, fails the type check.
 */
export type NativeTableAgrees = Assert<Same<NativeCrypto, NativeTable>> | Assert<Same<ParameterDrift, never>>;
