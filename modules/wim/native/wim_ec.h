/*
 * wim_ec.h — ECDSA signing, ECDH and key generation on the NIST curves P-256 and P-384, in C on the
 * bignum core (wim_bn's Montgomery arithmetic). Ed25519 is wim_ed25519.h's; why the NIST curves moved
 * here is in docs/design-notes.md (measured: noble on XS signs P-256 in 5.4 ms).
 *
 * Secret: the private scalar d, the nonce k, and every intermediate of k·G, d·Q, k^-1. Public: the
 * curve, the hash, the signature, the peer's point, the shared x-coordinate (the caller's secret to
 * keep, but a result), the public point.
 *
 * Points are projective (X:Y:Z) with the complete addition and doubling formulas of Renes, Costello
 * and Batina (2016, a = -3): no exceptional cases, so no branch on a point's value. Scalar
 * multiplication uses fixed 4-bit windows: every window does four doublings, one read of the whole
 * 16-entry table with masks, and one addition, whatever the digit. Inversions are Fermat powers
 * (wim_bn_mod_exp, constant time).
 *
 * Byte strings are big-endian, `size` bytes per coordinate or scalar (32 for P-256, 48 for P-384).
 * No malloc: every function takes caller scratch of wim_ec_scratch_size() bytes.
 */
#ifndef WIM_EC_H
#define WIM_EC_H

#include "wim_env.h"
#include "wim_store.h"

enum { WIM_EC_P256 = 1, WIM_EC_P384 = 2 };

/* Bytes of a scalar or coordinate of `curve`, or 0 if the curve is unknown. */
size_t wim_ec_size(int curve);

/* Scratch bytes every function below needs (for either curve). */
size_t wim_ec_scratch_size(void);

/* xy = d·G, the public point (x then y, 2·size bytes). d: size bytes, 0 < d < n, else WIM_E_SECRET. */
int wim_ec_public(int curve, const uint8_t *d, uint8_t *xy, void *scratch, size_t scratch_len);

/* ECDSA: rs = (r, s) (2·size bytes) over `hash` (any length > 0: its leftmost bits, as FIPS 186-5
 * says) with the secret d. The nonce k is RFC 6979's (HMAC-DRBG with HMAC-SHA-256 over d and the hash)
 * hedged with 32 bytes from rng as its section 3.6 allows; rng NULL gives the deterministic RFC 6979
 * nonce (tests). The point k·G is checked to be on the curve before anything is released (WIM_E_FAULT
 * otherwise). */
int wim_ec_sign(int curve, const uint8_t *d, const uint8_t *hash, size_t hash_len, const wim_rng *rng,
		uint8_t *rs, void *scratch, size_t scratch_len);

/* ECDH: x = the x-coordinate of d·Q, Q = peer (x then y, 2·size bytes), which must be on the curve
 * with coordinates below p (WIM_E_ARG otherwise). */
int wim_ec_ecdh(int curve, const uint8_t *d, const uint8_t *peer, uint8_t *x, void *scratch,
		size_t scratch_len);

/* Generates d (size + 16 random bytes reduced mod n, never 0), stores it as the SECRET record `id`
 * of st (within the caller's transaction, if one is open) and writes the public point d·G to xy. */
int wim_ec_generate(wim_store *st, uint32_t id, int curve, const wim_rng *rng, uint8_t *xy, void *scratch,
		size_t scratch_len);

/* Draws a scalar d as wim_ec_generate does (size + 16 random bytes reduced mod n, never 0) and writes it to
 * d (size bytes, big-endian) instead of the store: an ephemeral key, kept in RAM by its caller, used with
 * wim_ec_public and wim_ec_ecdh and wiped after. */
int wim_ec_draw(int curve, const wim_rng *rng, uint8_t *d, void *scratch, size_t scratch_len);

#endif
