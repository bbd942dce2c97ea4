/*
 * wim_sha512.h — SHA-512 (FIPS 180-4) for the C core: Ed25519 (wim_ed25519.c, RFC 8032) hashes its seed,
 * its nonce and its challenge with it. Compact rather than fast (one rolled compression loop); no table
 * index or branch depends on the data, so seeds and nonce prefixes may be hashed. On 32-bit cores other
 * than RISC-V (Xtensa: the ESP32s) the 64-bit additions carry bitwise, as wim_bn's do (wim_ct_carry): a
 * compiler there turns the carry of a double-width sum into a branch.
 */
#ifndef WIM_SHA512_H
#define WIM_SHA512_H

#include <stddef.h>
#include <stdint.h>

#define WIM_SHA512_LEN 64

typedef struct wim_sha512 {
	uint64_t h[8];
	uint8_t buf[128];
	uint64_t total; /* bytes hashed so far (messages below 2^61 bytes) */
} wim_sha512;

void wim_sha512_init(wim_sha512 *c);
/* SHA-384: the same context with SHA-384's IV; wim_sha512_final then writes 64 bytes, of which the first
 * WIM_SHA384_LEN are the SHA-384 digest. */
#define WIM_SHA384_LEN 48
void wim_sha384_init(wim_sha512 *c);
void wim_sha512_update(wim_sha512 *c, const uint8_t *data, size_t len);
/* out = the digest; c must be initialised again before another use. out may not alias c. */
void wim_sha512_final(wim_sha512 *c, uint8_t out[WIM_SHA512_LEN]);

#endif
