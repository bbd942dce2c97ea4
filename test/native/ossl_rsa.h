/*
 * ossl_rsa.h — what the OpenSSL differential test (diff_openssl.c) and the benchmark
 * (bench/native/bench_rsa.c) share: a key store on a RAM flash for our keys, a seeded random source,
 * and our stored keys turned into OpenSSL keys (EVP_PKEY) for the raw private operation.
 * Host-only test code (links libcrypto); never part of the device build.
 */
#ifndef WIM_OSSL_RSA_H
#define WIM_OSSL_RSA_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "wim_rsa_key.h"

/* A store on a RAM flash of 64 sectors of 4 KiB (plain memory: the store's own tests check NOR rules). */
typedef struct ossl_store {
	wim_flash flash;
	wim_store st;
	uint8_t mem[64 * 4096];
} ossl_store;
int ossl_store_init(ossl_store *s);

/* A SplitMix64 stream as a wim_rng (seeded: runs are reproducible). */
typedef struct ossl_rng {
	wim_rng rng;
	uint64_t state;
} ossl_rng;
void ossl_rng_init(ossl_rng *r, uint64_t seed);
void ossl_rng_bytes(ossl_rng *r, uint8_t *buf, size_t len);

/* The key record of SECRET record `id` (wim_rsa_key.h layout), read back as test code may. */
int ossl_read_record(ossl_store *s, uint32_t id, uint8_t *rec, size_t cap);

/* An OpenSSL RSA key with the same n, e, p, q, dp, dq, qinv as the record, and d = e^-1 mod (p-1)(q-1).
 * NULL on failure. */
EVP_PKEY *ossl_key_from_record(const uint8_t *rec);

/* 1 if OpenSSL's full key check (EVP_PKEY_check: primes, n = pq, d, CRT values) accepts the key. */
int ossl_key_check(EVP_PKEY *pk);

/* A context for repeated raw private operations (RSA_NO_PADDING); out gets exactly len bytes. */
EVP_PKEY_CTX *ossl_raw_ctx(EVP_PKEY *pk);
int ossl_raw_private(EVP_PKEY_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out);

/* The same for the raw public operation (x^e mod n, RSA_NO_PADDING). */
EVP_PKEY_CTX *ossl_raw_pub_ctx(EVP_PKEY *pk);
int ossl_raw_public(EVP_PKEY_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out);

/* Monotonic time in milliseconds. */
double ossl_now_ms(void);

#endif
