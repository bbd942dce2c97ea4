/*
 * wim_aead.c — ChaCha20-Poly1305 (RFC 8439), see wim_aead.h for what is secret and why no branch or
 * memory index depends on it. Loops run over lengths and counters only.
 */
#include <string.h>

#include "wim_aead.h"
#include "wim_ct.h"

/* RFC 8439 section 2.8: at most 2^32 - 1 blocks of 64 bytes (block 0 keys Poly1305). */
#define AEAD_MAX_BYTES 274877906880ull

/* A length over that limit (a function: where size_t is 32 bits the test is always false). */
static int too_long(uint64_t len)
{
	return len > AEAD_MAX_BYTES;
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* The 32x32 -> 64 product. */
static inline uint64_t mul64(uint32_t a, uint32_t b)
{
	return (uint64_t)a * b;
}

static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}

/* ---- ChaCha20 (section 2.3) ---- */

#define ROTL(x, n) ((uint32_t)((x) << (n)) | ((x) >> (32 - (n))))
#define QR(a, b, c, d)                          \
	do {                                    \
		a += b; d ^= a; d = ROTL(d, 16); \
		c += d; b ^= c; b = ROTL(b, 12); \
		a += b; d ^= a; d = ROTL(d, 8);  \
		c += d; b ^= c; b = ROTL(b, 7);  \
	} while (0)

/* The initial state: the constant "expand 32-byte k", the key, the counter, the nonce. */
static void chacha_init(uint32_t s[16], const uint8_t key[32], uint32_t counter, const uint8_t nonce[12])
{
	s[0] = 0x61707865u;
	s[1] = 0x3320646eu;
	s[2] = 0x79622d32u;
	s[3] = 0x6b206574u;
	for (int i = 0; i < 8; i++)
		s[4 + i] = ld32(key + 4 * i);
	s[12] = counter;
	s[13] = ld32(nonce);
	s[14] = ld32(nonce + 4);
	s[15] = ld32(nonce + 8);
}

/* One block of key stream from state s (s[12], the counter, is left as it was). */
static void chacha_block(const uint32_t s[16], uint8_t out[64])
{
	uint32_t x[16];
	memcpy(x, s, sizeof(x));
	for (int i = 0; i < 10; i++) {
		QR(x[0], x[4], x[8], x[12]);
		QR(x[1], x[5], x[9], x[13]);
		QR(x[2], x[6], x[10], x[14]);
		QR(x[3], x[7], x[11], x[15]);
		QR(x[0], x[5], x[10], x[15]);
		QR(x[1], x[6], x[11], x[12]);
		QR(x[2], x[7], x[8], x[13]);
		QR(x[3], x[4], x[9], x[14]);
	}
	for (int i = 0; i < 16; i++)
		st32(out + 4 * i, x[i] + s[i]);
	wipe(x, sizeof(x));
}

/* out = in XOR the key stream of state s from its counter on; s[12] advances past the blocks used. */
static void chacha_xor(uint32_t s[16], const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t ks[64];
	while (len > 0) {
		size_t n = len < 64 ? len : 64;
		chacha_block(s, ks);
		s[12]++;
		for (size_t i = 0; i < n; i++)
			out[i] = in[i] ^ ks[i];
		in += n;
		out += n;
		len -= n;
	}
	wipe(ks, sizeof(ks));
}

void wim_chacha20_block(const uint8_t key[WIM_AEAD_KEY], uint32_t counter, const uint8_t nonce[WIM_AEAD_NONCE],
		uint8_t out[64])
{
	uint32_t s[16];
	chacha_init(s, key, counter, nonce);
	chacha_block(s, out);
	wipe(s, sizeof(s));
}

void wim_chacha20_xor(const uint8_t key[WIM_AEAD_KEY], uint32_t counter, const uint8_t nonce[WIM_AEAD_NONCE],
		const uint8_t *in, size_t len, uint8_t *out)
{
	uint32_t s[16];
	chacha_init(s, key, counter, nonce);
	chacha_xor(s, in, len, out);
	wipe(s, sizeof(s));
}

/* ---- Poly1305 (section 2.5): h = (h + m) * r mod 2^130 - 5, 26-bit limbs ---- */

#define M26 0x3ffffffu

typedef struct poly {
	uint32_t r[5], s[4], h[5];
} poly;

static void poly_init(poly *p, const uint8_t key[32])
{
	uint32_t t0 = ld32(key), t1 = ld32(key + 4), t2 = ld32(key + 8), t3 = ld32(key + 12);
	/* r clamped (section 2.5.1: the top four bits of bytes 3, 7, 11, 15 and the low two of 4, 8, 12
	 * cleared), split into 26-bit limbs */
	p->r[0] = t0 & 0x3ffffffu;
	p->r[1] = ((t0 >> 26) | (t1 << 6)) & 0x3ffff03u;
	p->r[2] = ((t1 >> 20) | (t2 << 12)) & 0x3ffc0ffu;
	p->r[3] = ((t2 >> 14) | (t3 << 18)) & 0x3f03fffu;
	p->r[4] = (t3 >> 8) & 0x00fffffu;
	for (int i = 0; i < 4; i++)
		p->s[i] = ld32(key + 16 + 4 * i);
	for (int i = 0; i < 5; i++)
		p->h[i] = 0;
}

/* Absorbs `blocks` 16-byte blocks of m, each with 2^128 added (hibit 1) or not (a padded last block). */
static void poly_blocks(poly *p, const uint8_t *m, size_t blocks, uint32_t hibit)
{
	const uint32_t r0 = p->r[0], r1 = p->r[1], r2 = p->r[2], r3 = p->r[3], r4 = p->r[4];
	const uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
	uint32_t h0 = p->h[0], h1 = p->h[1], h2 = p->h[2], h3 = p->h[3], h4 = p->h[4];
	for (; blocks > 0; blocks--, m += 16) {
		uint32_t t0 = ld32(m), t1 = ld32(m + 4), t2 = ld32(m + 8), t3 = ld32(m + 12);
		h0 += t0 & M26;
		h1 += ((t0 >> 26) | (t1 << 6)) & M26;
		h2 += ((t1 >> 20) | (t2 << 12)) & M26;
		h3 += ((t2 >> 14) | (t3 << 18)) & M26;
		h4 += (t3 >> 8) | (hibit << 24);
		/* h * r; limbs above 2^130 fold back times 5 (2^130 = 5 mod p) */
		uint64_t d0 = wim_add64(wim_add64(wim_add64(mul64(h0, r0), mul64(h1, s4)), wim_add64(mul64(h2, s3), mul64(h3, s2))),
				    mul64(h4, s1));
		uint64_t d1 = wim_add64(wim_add64(wim_add64(mul64(h0, r1), mul64(h1, r0)), wim_add64(mul64(h2, s4), mul64(h3, s3))),
				    mul64(h4, s2));
		uint64_t d2 = wim_add64(wim_add64(wim_add64(mul64(h0, r2), mul64(h1, r1)), wim_add64(mul64(h2, r0), mul64(h3, s4))),
				    mul64(h4, s3));
		uint64_t d3 = wim_add64(wim_add64(wim_add64(mul64(h0, r3), mul64(h1, r2)), wim_add64(mul64(h2, r1), mul64(h3, r0))),
				    mul64(h4, s4));
		uint64_t d4 = wim_add64(wim_add64(wim_add64(mul64(h0, r4), mul64(h1, r3)), wim_add64(mul64(h2, r2), mul64(h3, r1))),
				    mul64(h4, r0));
		/* partial carries: every limb back below 2^26, but h0 (below 2^26 + 5·2^6) */
		d1 = wim_add64(d1, d0 >> 26);
		h0 = (uint32_t)d0 & M26;
		d2 = wim_add64(d2, d1 >> 26);
		h1 = (uint32_t)d1 & M26;
		d3 = wim_add64(d3, d2 >> 26);
		h2 = (uint32_t)d2 & M26;
		d4 = wim_add64(d4, d3 >> 26);
		h3 = (uint32_t)d3 & M26;
		h0 += (uint32_t)(d4 >> 26) * 5;
		h4 = (uint32_t)d4 & M26;
		h1 += h0 >> 26;
		h0 &= M26;
	}
	p->h[0] = h0, p->h[1] = h1, p->h[2] = h2, p->h[3] = h3, p->h[4] = h4;
}

/* Absorbs len bytes. The last partial block is padded with zeros, and then either has 2^(8·len) added
 * (Poly1305 itself, section 2.5) or, `padded`, counts as a full block (the AEAD's padding to a multiple
 * of 16, section 2.8). `padded` and len are public. */
static void poly_update(poly *p, const uint8_t *m, size_t len, int padded)
{
	uint8_t last[16];
	size_t full = len / 16, rest = len % 16;
	poly_blocks(p, m, full, 1);
	if (rest) {
		memset(last, 0, sizeof(last));
		memcpy(last, m + 16 * full, rest);
		if (!padded)
			last[rest] = 1;
		poly_blocks(p, last, 1, padded);
		wipe(last, sizeof(last));
	}
}

/* tag = (h mod p) + s mod 2^128; wipes p. */
static void poly_final(poly *p, uint8_t tag[16])
{
	uint32_t h0 = p->h[0], h1 = p->h[1], h2 = p->h[2], h3 = p->h[3], h4 = p->h[4], c;
	/* full carry: h below 2^130 + small */
	c = h1 >> 26, h1 &= M26, h2 += c;
	c = h2 >> 26, h2 &= M26, h3 += c;
	c = h3 >> 26, h3 &= M26, h4 += c;
	c = h4 >> 26, h4 &= M26, h0 += c * 5;
	c = h0 >> 26, h0 &= M26, h1 += c;
	/* g = h + 5 - 2^130; take g where it did not borrow (h >= p), with a mask */
	uint32_t g0 = h0 + 5;
	c = g0 >> 26, g0 &= M26;
	uint32_t g1 = h1 + c;
	c = g1 >> 26, g1 &= M26;
	uint32_t g2 = h2 + c;
	c = g2 >> 26, g2 &= M26;
	uint32_t g3 = h3 + c;
	c = g3 >> 26, g3 &= M26;
	uint32_t g4 = h4 + c - (1u << 26);
	uint32_t keep_g = (g4 >> 31) - 1; /* all ones when g4 did not go negative */
	h0 = (h0 & ~keep_g) | (g0 & keep_g);
	h1 = (h1 & ~keep_g) | (g1 & keep_g);
	h2 = (h2 & ~keep_g) | (g2 & keep_g);
	h3 = (h3 & ~keep_g) | (g3 & keep_g);
	h4 = (h4 & ~keep_g) | (g4 & keep_g);
	/* to 4 words of 32 bits (mod 2^128), plus s */
	uint32_t w0 = h0 | (h1 << 26), w1 = (h1 >> 6) | (h2 << 20), w2 = (h2 >> 12) | (h3 << 14),
		 w3 = (h3 >> 18) | (h4 << 8);
	uint64_t f = wim_add64(w0, p->s[0]);
	st32(tag, (uint32_t)f);
	f = wim_add64(wim_add64(w1, p->s[1]), f >> 32);
	st32(tag + 4, (uint32_t)f);
	f = wim_add64(wim_add64(w2, p->s[2]), f >> 32);
	st32(tag + 8, (uint32_t)f);
	f = wim_add64(wim_add64(w3, p->s[3]), f >> 32);
	st32(tag + 12, (uint32_t)f);
	wipe(p, sizeof(*p));
}

void wim_poly1305(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t tag[WIM_AEAD_TAG])
{
	poly p;
	poly_init(&p, key);
	poly_update(&p, msg, len, 0);
	poly_final(&p, tag);
}

/* ---- the AEAD (section 2.8) ---- */

/* The state for the key and nonce (counter 1, the first block of payload) and the Poly1305 key from
 * block 0 (section 2.6). */
static void aead_init(uint32_t s[16], poly *p, const uint8_t key[32], const uint8_t nonce[12])
{
	uint8_t otk[64];
	chacha_init(s, key, 0, nonce);
	WIM_SECRET(s + 4, 32);
	chacha_block(s, otk);
	s[12] = 1;
	poly_init(p, otk);
	wipe(otk, sizeof(otk));
}

/* The tag over ad and ct (each padded to 16 bytes) and their lengths, 64-bit little-endian. */
static void aead_tag(poly *p, const uint8_t *ad, size_t ad_len, const uint8_t *ct, size_t ct_len,
		uint8_t tag[16])
{
	uint8_t lens[16];
	poly_update(p, ad, ad_len, 1);
	poly_update(p, ct, ct_len, 1);
	st32(lens, (uint32_t)ad_len);
	st32(lens + 4, (uint32_t)((uint64_t)ad_len >> 32));
	st32(lens + 8, (uint32_t)ct_len);
	st32(lens + 12, (uint32_t)((uint64_t)ct_len >> 32));
	poly_blocks(p, lens, 1, 1);
	poly_final(p, tag);
}

int wim_aead_seal(const uint8_t key[WIM_AEAD_KEY], const uint8_t nonce[WIM_AEAD_NONCE], const uint8_t *ad,
		size_t ad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
	uint32_t s[16];
	poly p;
	if (too_long(pt_len))
		return WIM_E_ARG;
	aead_init(s, &p, key, nonce);
	chacha_xor(s, pt, pt_len, out);
	WIM_PUBLIC(out, pt_len); /* the ciphertext is published */
	aead_tag(&p, ad, ad_len, out, pt_len, out + pt_len);
	WIM_PUBLIC(out + pt_len, WIM_AEAD_TAG);
	wipe(s, sizeof(s));
	return WIM_OK;
}

int wim_aead_open(const uint8_t key[WIM_AEAD_KEY], const uint8_t nonce[WIM_AEAD_NONCE], const uint8_t *ad,
		size_t ad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint32_t s[16];
	poly p;
	uint8_t tag[16];
	if (ct_len < WIM_AEAD_TAG || too_long(ct_len - WIM_AEAD_TAG))
		return WIM_E_ARG;
	size_t len = ct_len - WIM_AEAD_TAG;
	aead_init(s, &p, key, nonce);
	aead_tag(&p, ad, ad_len, ct, len, tag);
	/* every byte of the tag compared, whatever the first difference */
	uint32_t diff = 0;
	for (int i = 0; i < WIM_AEAD_TAG; i++)
		diff |= (uint32_t)(tag[i] ^ ct[len + i]);
	uint32_t ok = (diff - 1) >> 31; /* 1 when diff == 0 (diff < 256) */
	WIM_PUBLIC(&ok, sizeof(ok)); /* the verdict is the result */
	/* decrypt in any case (the same work for a good and a bad tag), then keep it only if the tag was right;
	 * the tag was read before the decryption can overwrite it (out == ct) */
	chacha_xor(s, ct, len, out);
	uint8_t keep = (uint8_t)(0u - ok);
	for (size_t i = 0; i < len; i++)
		out[i] &= keep;
	wipe(s, sizeof(s));
	wipe(tag, sizeof(tag));
	return (int)((ok - 1) & (uint32_t)WIM_E_AUTH);
}
