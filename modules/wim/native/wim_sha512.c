/*
 * wim_sha512.c — SHA-512 (see wim_sha512.h).
 */
#include <string.h>

#include "wim_ct.h"
#include "wim_sha512.h"

/* The first 64 bits of the fractional parts of the cube roots of the first 80 primes (FIPS 180-4 4.2.3). */
static const uint64_t K[80] = {
	0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538,
	0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe,
	0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
	0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
	0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab,
	0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
	0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed,
	0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
	0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
	0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53,
	0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373,
	0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
	0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c,
	0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6,
	0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
	0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
};

static inline uint64_t ror(uint64_t x, unsigned n)
{
	return (x >> n) | (x << (64 - n));
}

static void compress(uint64_t h[8], const uint8_t *p)
{
	uint64_t w[16], s[8];
	memcpy(s, h, sizeof(s));
	for (int i = 0; i < 80; i++) {
		uint64_t x;
		if (i < 16) {
			x = 0;
			for (int j = 0; j < 8; j++)
				x = x << 8 | p[8 * i + j];
		} else { /* the schedule, kept in a ring of 16 words */
			uint64_t a = w[(i + 1) & 15], b = w[(i + 14) & 15];
			x = wim_add64(wim_add64(w[i & 15], ror(a, 1) ^ ror(a, 8) ^ (a >> 7)),
				  wim_add64(w[(i + 9) & 15], ror(b, 19) ^ ror(b, 61) ^ (b >> 6)));
		}
		w[i & 15] = x;
		uint64_t t1 = wim_add64(wim_add64(wim_add64(s[7], ror(s[4], 14) ^ ror(s[4], 18) ^ ror(s[4], 41)),
					  wim_add64((s[4] & s[5]) ^ (~s[4] & s[6]), K[i])), x);
		uint64_t t2 = wim_add64(ror(s[0], 28) ^ ror(s[0], 34) ^ ror(s[0], 39),
				    (s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
		memmove(s + 1, s, 7 * sizeof(uint64_t));
		s[4] = wim_add64(s[4], t1);
		s[0] = wim_add64(t1, t2);
	}
	for (int i = 0; i < 8; i++)
		h[i] = wim_add64(h[i], s[i]);
	memset(w, 0, sizeof(w));
	memset(s, 0, sizeof(s));
	__asm__ __volatile__("" : : "r"(w), "r"(s) : "memory"); /* keep the wipe */
}

void wim_sha512_init(wim_sha512 *c)
{
	static const uint64_t iv[8] = { 0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b,
					0xa54ff53a5f1d36f1, 0x510e527fade682d1, 0x9b05688c2b3e6c1f,
					0x1f83d9abfb41bd6b, 0x5be0cd19137e2179 };
	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
}

void wim_sha384_init(wim_sha512 *c)
{
	static const uint64_t iv[8] = { 0xcbbb9d5dc1059ed8, 0x629a292a367cd507, 0x9159015a3070dd17,
					0x152fecd8f70e5939, 0x67332667ffc00b31, 0x8eb44a8768581511,
					0xdb0c2e0d64f98fa7, 0x47b5481dbefa4fa4 };
	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
}

void wim_sha512_update(wim_sha512 *c, const uint8_t *data, size_t len)
{
	while (len) {
		size_t used = (size_t)(c->total & 127), n = 128 - used < len ? 128 - used : len;
		memcpy(c->buf + used, data, n);
		c->total += n;
		data += n;
		len -= n;
		if ((c->total & 127) == 0)
			compress(c->h, c->buf);
	}
}

void wim_sha512_final(wim_sha512 *c, uint8_t out[WIM_SHA512_LEN])
{
	uint64_t bits = c->total * 8;
	uint8_t pad[17] = { 0x80 }; /* 0x80, then the 128-bit length's high 64 bits (0) and its low 64 */
	for (int i = 0; i < 8; i++)
		pad[9 + i] = (uint8_t)(bits >> (56 - 8 * i));
	size_t used = (size_t)(c->total & 127), zeros = (used < 112 ? 112 : 240) - used - 1;
	wim_sha512_update(c, pad, 1);
	while (zeros--)
		wim_sha512_update(c, pad + 1, 1);
	wim_sha512_update(c, pad + 1, 16);
	for (int i = 0; i < 64; i++)
		out[i] = (uint8_t)(c->h[i / 8] >> (56 - 8 * (i % 8)));
}
