/*
 * test_aead.c — ChaCha20-Poly1305 (wim_aead): RFC 8439's examples (section 2.3.2 the block function,
 * 2.4.2 encryption, 2.5.2 Poly1305, 2.8.2 the AEAD), Appendix A.1's first block, A.3's Poly1305 edge cases
 * (the final reduction: h close to and above 2^130 - 5) and A.5's decryption; every bit of a sealed
 * message's ciphertext, tag and associated data flipped (open fails, its output all zeros); seal/open round
 * trips of 0..300 bytes with associated data of varying length, in place and not; the argument checks.
 * OpenSSL is the reference in test/native/diff_aead.c (make native-diff-aead).
 */
#include <string.h>

#include "test_util.h"
#include "wim_aead.h"

/* hex → bytes; returns the byte count. */
static size_t unhex(uint8_t *out, const char *hex)
{
	size_t n = strlen(hex) / 2;
	t_hex(out, n, hex);
	return n;
}

static const char SUNSCREEN[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
				"the future, sunscreen would be it.";

static void test_block(void)
{
	uint8_t key[32], nonce[12], out[64], want[64];
	/* section 2.3.2 */
	unhex(key, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	unhex(nonce, "000000090000004a00000000");
	unhex(want, "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
		    "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e");
	wim_chacha20_block(key, 1, nonce, out);
	CHECK(memcmp(out, want, 64) == 0);
	/* Appendix A.1, test vector 1: the all-zero key, nonce and counter */
	memset(key, 0, sizeof key);
	memset(nonce, 0, sizeof nonce);
	unhex(want, "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
		    "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586");
	wim_chacha20_block(key, 0, nonce, out);
	CHECK(memcmp(out, want, 64) == 0);
}

static void test_encrypt(void)
{
	uint8_t key[32], nonce[12], out[114], want[114];
	/* section 2.4.2 */
	unhex(key, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	unhex(nonce, "000000000000004a00000000");
	unhex(want, "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
		    "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
		    "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
		    "5af90bbf74a35be6b40b8eedf2785e42874d");
	CHECK(strlen(SUNSCREEN) == sizeof out);
	wim_chacha20_xor(key, 1, nonce, (const uint8_t *)SUNSCREEN, sizeof out, out);
	CHECK(memcmp(out, want, sizeof out) == 0);
	/* in place, back */
	wim_chacha20_xor(key, 1, nonce, out, sizeof out, out);
	CHECK(memcmp(out, SUNSCREEN, sizeof out) == 0);
}

static void test_poly1305(void)
{
	static const struct { const char *key, *msg, *tag; } V[] = {
		/* section 2.5.2 ("Cryptographic Forum Research Group", below as hex) */
		{ "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
		  "43727970746f6772617068696320466f72756d2052657365617263682047726f7570",
		  "a8061dc1305136c6c22b8baf0c0127a9" },
		/* A.3 #1: all zero */
		{ "0000000000000000000000000000000000000000000000000000000000000000",
		  "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		  "000000000000000000000000000000000000",
		  "00000000000000000000000000000000" },
		/* A.3 #5..#9: h at and around 2^130 - 5, s wrapping mod 2^128 */
		{ "0200000000000000000000000000000000000000000000000000000000000000",
		  "ffffffffffffffffffffffffffffffff", "03000000000000000000000000000000" },
		{ "02000000000000000000000000000000ffffffffffffffffffffffffffffffff",
		  "02000000000000000000000000000000", "03000000000000000000000000000000" },
		{ "0100000000000000000000000000000000000000000000000000000000000000",
		  "fffffffffffffffffffffffffffffffff0ffffffffffffffffffffffffffffff11000000000000000000000000000000",
		  "05000000000000000000000000000000" },
		{ "0100000000000000000000000000000000000000000000000000000000000000",
		  "fffffffffffffffffffffffffffffffffbfefefefefefefefefefefefefefefe01010101010101010101010101010101",
		  "00000000000000000000000000000000" },
		{ "0200000000000000000000000000000000000000000000000000000000000000",
		  "fdffffffffffffffffffffffffffffff", "faffffffffffffffffffffffffffffff" },
	};
	for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
		uint8_t key[32], msg[64], tag[16], want[16];
		unhex(key, V[i].key);
		size_t n = unhex(msg, V[i].msg);
		unhex(want, V[i].tag);
		wim_poly1305(key, msg, n, tag);
		if (!CHECK(memcmp(tag, want, 16) == 0))
			printf("  poly1305 vector %u\n", (unsigned)i);
	}
}

/* Section 2.8.2: seal; then every bit of the ciphertext, the tag and the associated data flipped. */
static void test_aead_282(void)
{
	uint8_t key[32], nonce[12], ad[12], sealed[130], want[130], out[130];
	unhex(key, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	unhex(nonce, "070000004041424344454647");
	unhex(ad, "50515253c0c1c2c3c4c5c6c7");
	unhex(want, "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
		    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
		    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
		    "3ff4def08e4b7a9de576d26586cec64b6116"
		    "1ae10b594f09e26a7e902ecbd0600691");
	CHECK_RC(wim_aead_seal(key, nonce, ad, sizeof ad, (const uint8_t *)SUNSCREEN, 114, sealed), WIM_OK);
	CHECK(memcmp(sealed, want, sizeof want) == 0);
	CHECK_RC(wim_aead_open(key, nonce, ad, sizeof ad, sealed, sizeof sealed, out), WIM_OK);
	CHECK(memcmp(out, SUNSCREEN, 114) == 0);

	int bad_rc = 0, bad_zero = 0, bad_ad = 0;
	for (size_t bit = 0; bit < 8 * sizeof sealed; bit++) {
		sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 0xa5, sizeof out);
		bad_rc += wim_aead_open(key, nonce, ad, sizeof ad, sealed, sizeof sealed, out) != WIM_E_AUTH;
		for (size_t i = 0; i < 114; i++)
			bad_zero += out[i] != 0;
		bad_zero += out[114] != 0xa5; /* nothing written past the plaintext */
		sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < 8 * sizeof ad; bit++) {
		ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		bad_ad += wim_aead_open(key, nonce, ad, sizeof ad, sealed, sizeof sealed, out) != WIM_E_AUTH;
		ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK(bad_rc == 0);
	CHECK(bad_zero == 0);
	CHECK(bad_ad == 0);
	/* a shorter ad (the length block counts), another nonce */
	CHECK_RC(wim_aead_open(key, nonce, ad, sizeof ad - 1, sealed, sizeof sealed, out), WIM_E_AUTH);
	nonce[0] ^= 1;
	CHECK_RC(wim_aead_open(key, nonce, ad, sizeof ad, sealed, sizeof sealed, out), WIM_E_AUTH);
	nonce[0] ^= 1;
	/* the ciphertext decrypted in place */
	CHECK_RC(wim_aead_open(key, nonce, ad, sizeof ad, sealed, sizeof sealed, sealed), WIM_OK);
	CHECK(memcmp(sealed, SUNSCREEN, 114) == 0);
}

/* Appendix A.5: decryption of a 265-byte message. */
static void test_aead_a5(void)
{
	static uint8_t ct[281], pt[265], want[265];
	uint8_t key[32], nonce[12], ad[12];
	unhex(key, "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
	unhex(nonce, "000000000102030405060708");
	unhex(ad, "f33388860000000000004e91");
	size_t n = unhex(ct, "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
			     "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
			     "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
			     "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
			     "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
			     "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
			     "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
			     "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
			     "a6ad5cb4022b02709beead9d67890cbb22392336fea1851f38");
	size_t m = unhex(want, "496e7465726e65742d4472616674732061726520647261667420646f63756d65"
			       "6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
			       "6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
			       "65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
			       "6e747320617420616e792074696d652e20497420697320696e617070726f7072"
			       "6961746520746f2075736520496e7465726e65742d4472616674732061732072"
			       "65666572656e6365206d6174657269616c206f7220746f206369746520746865"
			       "6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
			       "726573732e2fe2809d");
	CHECK(n == sizeof ct && m == sizeof pt);
	CHECK_RC(wim_aead_open(key, nonce, ad, sizeof ad, ct, n, pt), WIM_OK);
	CHECK(memcmp(pt, want, m) == 0);
	/* and sealed again to the same bytes */
	static uint8_t again[281];
	CHECK_RC(wim_aead_seal(key, nonce, ad, sizeof ad, want, m, again), WIM_OK);
	CHECK(memcmp(again, ct, n) == 0);
}

/* Round trips of 0..300 bytes (ad 0..40 bytes), separate and in place; tampering with the last byte. */
static void test_round_trips(void)
{
	static uint8_t pt[300], ad[40], sealed[316], out[316];
	uint8_t key[32], nonce[12];
	t_rng rng;
	int bad = 0;
	t_rng_init(&rng, 13);
	for (size_t len = 0; len <= 300; len++) {
		size_t ad_len = len % 41;
		rng.rng.fill(rng.rng.ctx, key, sizeof key);
		rng.rng.fill(rng.rng.ctx, nonce, sizeof nonce);
		rng.rng.fill(rng.rng.ctx, ad, sizeof ad);
		rng.rng.fill(rng.rng.ctx, pt, sizeof pt);
		bad += wim_aead_seal(key, nonce, ad, ad_len, pt, len, sealed) != WIM_OK;
		memset(out, 0xa5, sizeof out);
		bad += wim_aead_open(key, nonce, ad, ad_len, sealed, len + 16, out) != WIM_OK;
		bad += memcmp(out, pt, len) != 0;
		/* in place both ways */
		memcpy(out, pt, len);
		bad += wim_aead_seal(key, nonce, ad, ad_len, out, len, out) != WIM_OK;
		bad += memcmp(out, sealed, len + 16) != 0;
		bad += wim_aead_open(key, nonce, ad, ad_len, out, len + 16, out) != WIM_OK;
		bad += memcmp(out, pt, len) != 0;
		/* the last byte of the tag */
		sealed[len + 15] ^= 0x80;
		memset(out, 0xa5, sizeof out);
		bad += wim_aead_open(key, nonce, ad, ad_len, sealed, len + 16, out) != WIM_E_AUTH;
		for (size_t i = 0; i < len; i++)
			bad += out[i] != 0;
	}
	CHECK(bad == 0);
	/* too short to hold a tag */
	memset(out, 0xa5, sizeof out);
	CHECK_RC(wim_aead_open(key, nonce, ad, 0, sealed, 15, out), WIM_E_ARG);
	CHECK_RC(wim_aead_open(key, nonce, ad, 0, sealed, 0, out), WIM_E_ARG);
	CHECK(out[0] == 0xa5);
}

void test_aead(void)
{
	test_block();
	test_encrypt();
	test_poly1305();
	test_aead_282();
	test_aead_a5();
	test_round_trips();
}

/* The secret-dependence workload (valgrind, --ct): a seal, a good and a bad open; wim_aead marks its key
 * secret and publishes only the ciphertext, the tag and the verdict. */
void test_aead_ct(void)
{
	uint8_t key[32], nonce[12], ad[20], pt[100], sealed[116], out[116];
	memset(key, 0x42, sizeof key);
	memset(nonce, 0x07, sizeof nonce);
	memset(ad, 0x33, sizeof ad);
	memset(pt, 0x5a, sizeof pt);
	CHECK_RC(wim_aead_seal(key, nonce, ad, sizeof ad, pt, sizeof pt, sealed), WIM_OK);
	CHECK_RC(wim_aead_open(key, nonce, ad, sizeof ad, sealed, sizeof sealed, out), WIM_OK);
	sealed[3] ^= 1;
	CHECK_RC(wim_aead_open(key, nonce, ad, sizeof ad, sealed, sizeof sealed, out), WIM_E_AUTH);
}
