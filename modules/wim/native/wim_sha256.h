/*
 * wim_sha256.h — SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) for the C core: the EC core derives its
 * ECDSA nonces with them (RFC 6979). Compact rather than fast (one rolled compression loop); no table or
 * branch depends on the data, so keys and secrets may be hashed.
 */
#ifndef WIM_SHA256_H
#define WIM_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define WIM_SHA256_LEN 32

typedef struct wim_sha256 {
	uint32_t h[8];
	uint8_t buf[64];
	uint64_t total; /* bytes hashed so far */
} wim_sha256;

void wim_sha256_init(wim_sha256 *c);
/* SHA-224: the same context with SHA-224's IV; wim_sha256_final then writes 32 bytes, of which the first
 * WIM_SHA224_LEN are the SHA-224 digest. */
#define WIM_SHA224_LEN 28
void wim_sha224_init(wim_sha256 *c);
void wim_sha256_update(wim_sha256 *c, const uint8_t *data, size_t len);
void wim_sha256_final(wim_sha256 *c, uint8_t out[WIM_SHA256_LEN]);

/* out = HMAC-SHA-256 with a 32-byte key over a || b || c (a part of length 0 may be NULL). out may alias
 * the key or a part. */
void wim_hmac_sha256(const uint8_t key[WIM_SHA256_LEN], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		const uint8_t *c, size_t clen, uint8_t out[WIM_SHA256_LEN]);

#endif
