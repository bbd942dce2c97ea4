/*
 * diff_aead.c — the differential test of ChaCha20-Poly1305 (wim_aead) against OpenSSL's libcrypto:
 *   - seal: random keys, nonces, associated data (0..80 bytes) and plaintexts (0..1100 bytes, every length
 *     0..300 among them) sealed by both, byte for byte (EVP_chacha20_poly1305);
 *   - open: OpenSSL's ciphertexts opened by wim_aead_open; the same with one random bit flipped in the
 *     ciphertext, the tag or the associated data fails (WIM_E_AUTH, output zeroed) as OpenSSL's decryption does;
 *   - the pieces: ChaCha20 from random counters (EVP_chacha20: the counter and nonce as its 16-byte IV) and
 *     Poly1305 of random messages under random one-time keys (EVP_MAC "POLY1305").
 *
 *   diff-aead [--count N] [--seed S]      N cases of each kind (default 5000)
 *
 * Ends with "N passed, M failed"; the exit status is non-zero if anything failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "wim_aead.h"

static int passed, failed;
static uint64_t state;

static void check(int ok, const char *what, long i)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	if (failed <= 20)
		printf("FAIL case %ld: %s\n", i, what);
}

static uint64_t next(void)
{
	uint64_t z = (state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)next();
}

/* OpenSSL's AEAD: encrypt (tag appended) or decrypt-and-verify; returns 1 on success. */
static int ossl_aead(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *ad, size_t ad_len,
		const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok = c && EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) &&
			EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
			EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(in + len));
	if (ok && ad_len)
		ok = EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len);
	if (ok && len)
		ok = EVP_CipherUpdate(c, out, &n, in, (int)len);
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + len, &n);
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + len);
	EVP_CIPHER_CTX_free(c);
	return ok;
}

static int ossl_chacha20(const uint8_t *key, uint32_t counter, const uint8_t *nonce, const uint8_t *in, size_t len,
		uint8_t *out)
{
	uint8_t iv[16];
	int n = 0;
	iv[0] = (uint8_t)counter, iv[1] = (uint8_t)(counter >> 8), iv[2] = (uint8_t)(counter >> 16);
	iv[3] = (uint8_t)(counter >> 24);
	memcpy(iv + 4, nonce, 12);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ok = c && EVP_EncryptInit_ex(c, EVP_chacha20(), NULL, key, iv) &&
		 (len == 0 || EVP_EncryptUpdate(c, out, &n, in, (int)len));
	EVP_CIPHER_CTX_free(c);
	return ok;
}

static int ossl_poly1305(const uint8_t *key, const uint8_t *msg, size_t len, uint8_t *tag)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t out = 0;
	int ok = c && EVP_MAC_init(c, key, 32, NULL) && EVP_MAC_update(c, msg, len) && EVP_MAC_final(c, tag, &out, 16) &&
		 out == 16;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	return ok;
}

int main(int argc, char **argv)
{
	long count = 5000;
	state = 0xaead;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			state = strtoull(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--count N] [--seed S]\n", argv[0]);
			return 2;
		}
	}
	enum { MAX = 1100, AD = 80 };
	static uint8_t pt[MAX], ad[AD], ours[MAX + 16], theirs[MAX + 16], back[MAX + 16];
	uint8_t key[32], nonce[12], t1[16], t2[16];
	long rejected = 0;
	for (long i = 0; i < count; i++) {
		size_t len = i <= 300 ? (size_t)i : (size_t)(next() % (MAX + 1));
		size_t ad_len = (size_t)(next() % (AD + 1));
		if (i % 7 == 0)
			ad_len = 0;
		fill(key, sizeof key);
		fill(nonce, sizeof nonce);
		fill(ad, ad_len);
		fill(pt, len);
		/* seal: byte for byte */
		int rc = wim_aead_seal(key, nonce, ad, ad_len, pt, len, ours);
		check(rc == WIM_OK && ossl_aead(1, key, nonce, ad, ad_len, pt, len, theirs) &&
			      memcmp(ours, theirs, len + 16) == 0, "seal differs from OpenSSL's", i);
		/* open OpenSSL's */
		memset(back, 0xa5, sizeof back);
		rc = wim_aead_open(key, nonce, ad, ad_len, theirs, len + 16, back);
		check(rc == WIM_OK && memcmp(back, pt, len) == 0, "open of OpenSSL's ciphertext", i);
		/* one bit flipped: in the ciphertext or tag, or in the associated data */
		int in_ad = ad_len > 0 && next() % 4 == 0;
		size_t bit = (size_t)(next() % (8 * (in_ad ? ad_len : len + 16)));
		uint8_t *p = in_ad ? ad : theirs;
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(back, 0xa5, sizeof back);
		rc = wim_aead_open(key, nonce, ad, ad_len, theirs, len + 16, back);
		int zero = 1;
		for (size_t k = 0; k < len; k++)
			zero &= back[k] == 0;
		int ossl_ok = ossl_aead(0, key, nonce, ad, ad_len, theirs, len, ours);
		check(rc == WIM_E_AUTH && zero && !ossl_ok, "a flipped bit was not refused by both", i);
		rejected += rc == WIM_E_AUTH;
		/* ChaCha20 alone, from a random counter (no wrap of the 32-bit counter within the message) */
		uint32_t counter = (uint32_t)next() & 0x7fffffffu;
		wim_chacha20_xor(key, counter, nonce, pt, len, ours);
		check(ossl_chacha20(key, counter, nonce, pt, len, theirs) && memcmp(ours, theirs, len) == 0,
		      "ChaCha20 differs from OpenSSL's", i);
		/* Poly1305 alone */
		fill(key, sizeof key);
		if (i % 5 == 0)
			memset(pt, 0xff, len); /* h near 2^130: the final reduction */
		wim_poly1305(key, pt, len, t1);
		check(ossl_poly1305(key, pt, len, t2) && memcmp(t1, t2, 16) == 0, "Poly1305 differs from OpenSSL's", i);
	}
	printf("diff-aead: %ld cases (lengths 0..%d, ad 0..%d): seal, open, %ld tampered messages refused, ChaCha20 and "
	       "Poly1305 alone, against OpenSSL\n", count, MAX, AD, rejected);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
