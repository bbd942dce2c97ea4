/*
 * wim_rsa.h — RSA private-key operations and key generation on top of the bignum core.
 *
 * Secret: the primes p, q, the CRT exponents dp, dq, qinv, and every intermediate of the private
 * operation. Public: n, e, the input and output of the operation, the bit size.
 * No malloc: every function takes caller-provided scratch and returns WIM_E_SCRATCH if it is short.
 */
#ifndef WIM_RSA_H
#define WIM_RSA_H

#include "wim_env.h"
#include "wim_store.h"

#define WIM_RSA_MAX_BITS 4096
#define WIM_RSA_E 65537u

/* Scratch needed for a key of `bits` bits, for keygen and the private operation. */
size_t wim_rsa_scratch_size(uint32_t bits);

/*
 * The serialized private key (the SECRET record's bytes): the format is owned by wim_rsa.c;
 * it holds n, e, p, q, dp, dq, qinv (all big-endian, fixed widths).
 */

/* Generates a key of `bits` bits (2048, 3072, 4096), e = 65537, and stores it as the SECRET record
 * `id` of `st`. Writes the modulus, big-endian, bits/8 bytes, to modulus_out. */
int wim_rsa_generate(wim_store *st, uint32_t id, uint32_t bits, const wim_rng *rng,
		uint8_t *modulus_out, void *scratch, size_t scratch_len);

/* out = in^d mod n with the key stored as SECRET record `id`: CRT, blinded, and re-verified with e
 * before anything is written to out. in and out are big-endian, exactly bits/8 bytes; in < n. */
int wim_rsa_private(wim_store *st, uint32_t id, const uint8_t *in, uint32_t len,
		uint8_t *out, const wim_rng *rng, void *scratch, size_t scratch_len);

/* Public information of the stored key: the modulus (bits/8 bytes) and its size in bits. */
int wim_rsa_public(wim_store *st, uint32_t id, uint8_t *modulus_out, uint32_t cap, uint32_t *bits);

#endif
