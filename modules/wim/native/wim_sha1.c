/*
 * wim_sha1.c — SHA-1 (see wim_sha1.h). Compact: one 16-word schedule, the four rounds in one loop.
 */
#include <string.h>

#include "wim_bn.h"
#include "wim_sha1.h"

static uint32_t rol(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void compress(uint32_t h[5], const uint8_t b[64])
{
	uint32_t w[16], s[5];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	memcpy(s, h, sizeof(s));
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, x;
		if (i >= 16)
			w[i & 15] = rol(w[(i + 13) & 15] ^ w[(i + 8) & 15] ^ w[(i + 2) & 15] ^ w[i & 15], 1);
		if (i < 20) {
			f = (s[1] & s[2]) | (~s[1] & s[3]);
			k = 0x5a827999;
		} else if (i < 40) {
			f = s[1] ^ s[2] ^ s[3];
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (s[1] & s[2]) | (s[1] & s[3]) | (s[2] & s[3]);
			k = 0x8f1bbcdc;
		} else {
			f = s[1] ^ s[2] ^ s[3];
			k = 0xca62c1d6;
		}
		x = rol(s[0], 5) + f + s[4] + k + w[i & 15];
		s[4] = s[3];
		s[3] = s[2];
		s[2] = rol(s[1], 30);
		s[1] = s[0];
		s[0] = x;
	}
	for (int i = 0; i < 5; i++)
		h[i] += s[i];
	wim_wipe(w, sizeof(w));
	wim_wipe(s, sizeof(s));
}

void wim_sha1_init(wim_sha1 *c)
{
	static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
}

void wim_sha1_update(wim_sha1 *c, const uint8_t *data, size_t len)
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

void wim_sha1_final(wim_sha1 *c, uint8_t out[WIM_SHA1_LEN])
{
	uint64_t bits = c->total * 8;
	uint8_t pad = 0x80, len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	wim_sha1_update(c, &pad, 1);
	pad = 0;
	while ((c->total & 63) != 56)
		wim_sha1_update(c, &pad, 1);
	wim_sha1_update(c, len, 8);
	for (int i = 0; i < WIM_SHA1_LEN; i++)
		out[i] = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}
