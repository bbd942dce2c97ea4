/*
 * wim_ed25519.h — Ed25519 (RFC 8032, pure: no prehash, no context) in C: the public key of a seed,
 * signing, and key generation. No verification (the PC verifies, with @noble/curves).
 *
 * Secret: the 32-byte seed, its SHA-512 (the scalar a and the prefix), the nonce r and every
 * intermediate of a·B and r·B. Public: the message, the public key A, the signature (R, S), the
 * challenge k = SHA-512(R || A || M).
 *
 * Arithmetic: the field mod p = 2^255 - 19 and the scalars mod L are wim_bn's Montgomery numbers
 * (R = 2^256; neither modulus has its top bit set, so the contexts are built here from constants, not
 * by wim_mont_init). Points are extended twisted Edwards coordinates (X:Y:Z:T) with the complete
 * (strongly unified) addition of Hisil–Wong–Carter–Dawson 2008 for a = -1 and their doubling, both
 * exception-free on this curve (d is not a square). Scalar multiplication by the base point: a comb
 * with 4 teeth 64 bits apart over a 16-entry table in flash (1.5 KB: the sums of B, 2^64·B, 2^128·B,
 * 2^192·B, affine), 64 steps of one doubling and one mixed addition whatever the scalar's bits, each
 * entry read by going through the whole table with masks. The inversion of Z is a Fermat power (wim_bn_mod_exp). SHA-512's hash is reduced
 * mod L with two Montgomery products, constant time.
 *
 * The public key is derived from the seed on every signature (never taken from outside: a wrong A
 * would let two signatures of one message reveal a), and both A and R are checked to be on the curve
 * before anything is released (WIM_E_FAULT otherwise).
 *
 * No malloc: every function takes caller scratch of wim_ed25519_scratch_size() bytes (limb-aligned),
 * wiped before it returns.
 */
#ifndef WIM_ED25519_H
#define WIM_ED25519_H

#include "wim_env.h"
#include "wim_store.h"

#define WIM_ED25519_SEED 32
#define WIM_ED25519_PUBLIC 32
#define WIM_ED25519_SIG 64

/* Scratch bytes every function below needs. */
size_t wim_ed25519_scratch_size(void);

/* pub = the public key A (RFC 8032 5.1.5) of the 32-byte seed. */
int wim_ed25519_public(const uint8_t seed[WIM_ED25519_SEED], uint8_t pub[WIM_ED25519_PUBLIC], void *scratch,
		size_t scratch_len);

/* sig = R || S, the Ed25519 signature (RFC 8032 5.1.6) of msg[0..len) with the seed. Deterministic. msg
 * may be NULL when len is 0. */
int wim_ed25519_sign(const uint8_t seed[WIM_ED25519_SEED], const uint8_t *msg, size_t len,
		uint8_t sig[WIM_ED25519_SIG], void *scratch, size_t scratch_len);

/* Draws a 32-byte seed from rng, stores it as the SECRET record `id` of st (within the caller's
 * transaction, if one is open) and writes its public key to pub. */
int wim_ed25519_generate(wim_store *st, uint32_t id, const wim_rng *rng, uint8_t pub[WIM_ED25519_PUBLIC],
		void *scratch, size_t scratch_len);

#endif
