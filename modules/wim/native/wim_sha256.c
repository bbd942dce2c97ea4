/*
 * wim_sha256.c — SHA-256 and HMAC-SHA-256 (see wim_sha256.h).
 */
#include <string.h>

#include "wim_bn.h"
#include "wim_sha256.h"

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[16], s[8];
	memcpy(s, h, sizeof(s));
	for (int i = 0; i < 64; i++) {
		uint32_t x;
		if (i < 16) {
			x = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
		} else { /* the schedule, kept in a ring of 16 words */
			uint32_t a = w[(i + 1) & 15], b = w[(i + 14) & 15];
			x = w[i & 15] + (ror(a, 7) ^ ror(a, 18) ^ (a >> 3)) + w[(i + 9) & 15] +
			    (ror(b, 17) ^ ror(b, 19) ^ (b >> 10));
		}
		w[i & 15] = x;
		uint32_t t1 = s[7] + (ror(s[4], 6) ^ ror(s[4], 11) ^ ror(s[4], 25)) + ((s[4] & s[5]) ^ (~s[4] & s[6])) + K[i] + x;
		uint32_t t2 = (ror(s[0], 2) ^ ror(s[0], 13) ^ ror(s[0], 22)) + ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
		memmove(s + 1, s, 7 * sizeof(uint32_t));
		s[4] += t1;
		s[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		h[i] += s[i];
}

void wim_sha256_init(wim_sha256 *c)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
}

void wim_sha224_init(wim_sha256 *c)
{
	static const uint32_t iv[8] = { 0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939,
					0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4 };
	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
}

void wim_sha256_update(wim_sha256 *c, const uint8_t *data, size_t len)
{
	while (len) {
		size_t used = (size_t)(c->total & 63), n = 64 - used < len ? 64 - used : len;
		memcpy(c->buf + used, data, n);
		c->total += n;
		data += n;
		len -= n;
		if ((c->total & 63) == 0)
			compress(c->h, c->buf);
	}
}

void wim_sha256_final(wim_sha256 *c, uint8_t out[WIM_SHA256_LEN])
{
	uint64_t bits = c->total * 8;
	uint8_t pad = 0x80, len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	wim_sha256_update(c, &pad, 1);
	pad = 0;
	while ((c->total & 63) != 56)
		wim_sha256_update(c, &pad, 1);
	wim_sha256_update(c, len, 8);
	for (int i = 0; i < 32; i++)
		out[i] = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}

void wim_hmac_sha256(const uint8_t key[WIM_SHA256_LEN], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		const uint8_t *c, size_t clen, uint8_t out[WIM_SHA256_LEN])
{
	wim_sha256 inner, outer;
	uint8_t pad[64], digest[WIM_SHA256_LEN];
	for (int pass = 0; pass < 2; pass++) {
		wim_sha256 *h = pass ? &outer : &inner;
		memset(pad, pass ? 0x5c : 0x36, sizeof(pad));
		for (int i = 0; i < WIM_SHA256_LEN; i++)
			pad[i] ^= key[i];
		wim_sha256_init(h);
		wim_sha256_update(h, pad, sizeof(pad));
	}
	wim_sha256_update(&inner, a, alen);
	wim_sha256_update(&inner, b, blen);
	wim_sha256_update(&inner, c, clen);
	wim_sha256_final(&inner, digest);
	wim_sha256_update(&outer, digest, sizeof(digest));
	wim_sha256_final(&outer, out);
	wim_wipe(pad, sizeof(pad));
	wim_wipe(digest, sizeof(digest));
	wim_wipe(&inner, sizeof(inner));
	wim_wipe(&outer, sizeof(outer));
}
