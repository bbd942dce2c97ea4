/*
 * wim_rsa_key.h — the serialized RSA private key (the SECRET record's bytes) and the few RSA helpers
 * beyond wim_rsa.h: importing a key that was made elsewhere, and e^-1 modulo a number.
 *
 * Record layout, version 1 (all integers big-endian, fixed widths, B = bits/8):
 *   [0]                version = WIM_RSA_KEY_VERSION
 *   [1..2]             bits (u16)
 *   [3..6]             e (u32)
 *   [7 .. 7+B)         n
 *   then five fields of B/2 bytes each: p, q, dp = d mod (p-1), dq = d mod (q-1), qinv = q^-1 mod p.
 * p and q each fit in bits/2 bits; neither needs to be the larger one.
 */
#ifndef WIM_RSA_KEY_H
#define WIM_RSA_KEY_H

#include "wim_bn.h"
#include "wim_rsa.h"

#define WIM_RSA_KEY_VERSION 1
#define WIM_RSA_KEY_HDR 7
#define WIM_RSA_KEY_LEN(bits) (WIM_RSA_KEY_HDR + (bits) / 8 + 5 * ((bits) / 16))
/* Smallest key the private operation accepts (import, tests); keygen makes 2048, 3072 and 4096. */
#define WIM_RSA_MIN_BITS 1024

/* Stores an existing key (components big-endian, bits/8 bytes for n, bits/16 bytes for the others)
 * as SECRET record `id`. Checks the shape and that p*q == n; the private operation's self-check
 * catches any other inconsistency. e must be odd and > 1. */
int wim_rsa_import(wim_store *st, uint32_t id, uint32_t bits, uint32_t e, const uint8_t *n, const uint8_t *p,
		const uint8_t *q, const uint8_t *dp, const uint8_t *dq, const uint8_t *qinv, void *scratch,
		size_t scratch_len);

/* out = e^-1 mod x (x of n limbs, SECRET allowed: constant time), for a prime e < 2^24 that does not
 * divide x. Returns 0, or -1 if e divides x. t: n + 1 limbs. */
int wim_rsa_inv_e(wim_limb *out, const wim_limb *x, size_t n, uint32_t e, wim_limb *t);

#endif
