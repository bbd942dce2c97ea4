/*
 * wim_sha1.h — SHA-1 (FIPS 180-4), for RSA-OAEP and RSA-PSS with SHA-1 and MGF1-SHA-1 only (pkcs11-tool's
 * default OAEP is SHA-1). Not for signatures over messages: the PC hashes those. Public data or data whose
 * length is public; no branch depends on the bytes hashed.
 */
#ifndef WIM_SHA1_H
#define WIM_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define WIM_SHA1_LEN 20

typedef struct wim_sha1 {
	uint32_t h[5];
	uint8_t buf[64];
	uint64_t total; /* bytes hashed so far */
} wim_sha1;

void wim_sha1_init(wim_sha1 *c);
void wim_sha1_update(wim_sha1 *c, const uint8_t *data, size_t len);
/* out = the digest; c must be initialised again before another use. */
void wim_sha1_final(wim_sha1 *c, uint8_t out[WIM_SHA1_LEN]);

#endif
