/*
 * diff_ed25519.c — the differential test of Ed25519 and SHA-512 (wim_ed25519, wim_sha512) against
 * OpenSSL's libcrypto (EVP_PKEY_ED25519, SHA512), and the runner of Wycheproof's Ed25519 vectors
 * (`make native-diff-ed25519`).
 *
 *   - SHA-512: every length 0..300 (fed in two random parts) against OpenSSL's SHA512;
 *   - public keys and signatures: for `count` seeded random seeds, wim_ed25519_public must equal
 *     OpenSSL's public key and wim_ed25519_sign over a message of random length (0..1100 bytes) OpenSSL's
 *     signature, byte for byte (both are deterministic), and OpenSSL must verify ours;
 *   - key generation: the stored seed's public key is the one returned;
 *   - Wycheproof (--wycheproof FILE, lines from test/native/wycheproof_ed25519.py): the valid vectors of
 *     every group whose seed is known (SEEDS below) must be signed to exactly the vector's signature.
 *
 *   native-diff-ed25519 [--count N] [--seed S] [--wycheproof FILE]
 *
 * Exits non-zero on any difference.
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_flash.h"
#include "test_tools.h"
#include "wim_bn.h"
#include "wim_ed25519.h"
#include "wim_sha512.h"

static uint64_t scratch_words[4096];
#define SCRATCH scratch_words, sizeof(scratch_words)

static int failures;
#define FAIL(...) do { failures++; fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); } while (0)

static uint64_t state;

static void hexprint(const char *what, const uint8_t *b, size_t n)
{
	fprintf(stderr, "  %s ", what);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x", b[i]);
	fputc('\n', stderr);
}

/* OpenSSL's public key and signature of msg with seed. */
static int ossl_sign(const uint8_t seed[32], const uint8_t *msg, size_t len, uint8_t pub[32], uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t pl = 32, sl = 64;
	int ok = k && md && EVP_PKEY_get_raw_public_key(k, pub, &pl) == 1 && pl == 32 &&
		 EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 && EVP_DigestSign(md, sig, &sl, msg, len) == 1 && sl == 64;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return ok;
}

static int ossl_verify(const uint8_t pub[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = k && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestVerify(md, sig, 64, msg, len) == 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return ok;
}

static void diff_sha512(void)
{
	static uint8_t in[300];
	uint8_t ours[64], theirs[64];
	wim_sha512 c;
	splitmix_fill(&state, in, sizeof in);
	for (size_t len = 0; len <= sizeof in; len++) {
		size_t cut = len ? splitmix_next(&state) % (len + 1) : 0;
		wim_sha512_init(&c);
		wim_sha512_update(&c, in, cut);
		wim_sha512_update(&c, in + cut, len - cut);
		wim_sha512_final(&c, ours);
		SHA512(in, len, theirs);
		if (memcmp(ours, theirs, 64) != 0)
			FAIL("SHA-512 of %zu bytes (cut at %zu) differs from OpenSSL's", len, cut);
	}
	printf("diff-ed25519: SHA-512 of 0..%zu bytes identical to OpenSSL's\n", sizeof in);
}

static void diff_sign(int count)
{
	static uint8_t msg[1100];
	uint8_t seed[32], pub[32], sig[64], opub[32], osig[64];
	size_t total = 0;
	for (int i = 0; i < count; i++) {
		splitmix_fill(&state, seed, sizeof seed);
		size_t len = splitmix_next(&state) % (sizeof msg + 1);
		splitmix_fill(&state, msg, len);
		total += len;
		if (!ossl_sign(seed, msg, len, opub, osig)) {
			FAIL("OpenSSL could not sign");
			return;
		}
		int rc1 = wim_ed25519_public(seed, pub, SCRATCH);
		int rc2 = wim_ed25519_sign(seed, msg, len, sig, SCRATCH);
		if (rc1 || rc2 || memcmp(pub, opub, 32) != 0 || memcmp(sig, osig, 64) != 0 ||
		    !ossl_verify(opub, msg, len, sig)) {
			FAIL("seed %d (%zu-byte message): rc %d/%d, public key or signature differs from OpenSSL's", i, len,
			     rc1, rc2);
			hexprint("seed", seed, 32);
			hexprint("ours", sig, 64);
			hexprint("OpenSSL", osig, 64);
		}
	}
	printf("diff-ed25519: %d random seeds, messages of 0..%zu bytes (%zu in all): public keys and signatures "
	       "identical to OpenSSL's, which verifies ours\n", count, sizeof msg, total);
}

static int fill_(void *ctx, uint8_t *b, size_t n)
{
	splitmix_fill(ctx, b, n);
	return 0;
}

static void diff_generate(void)
{
	static uint8_t mem[8 * 4096];
	uint8_t pub[32], seed[32], opub[32], osig[64];
	uint32_t len = 0;
	t_flash fl;
	wim_store st;
	wim_rng rng = { &state, fill_ };
	t_flash_init(&fl, mem, sizeof mem, 4096);
	if (wim_store_format(&st, &fl.f) != WIM_OK) {
		FAIL("store format");
		return;
	}
	for (uint32_t id = 1; id <= 5; id++) {
		if (wim_ed25519_generate(&st, id, &rng, pub, SCRATCH) != WIM_OK ||
		    wim_store_read_secret(&st, id, seed, sizeof seed, &len) != WIM_OK || len != 32 ||
		    !ossl_sign(seed, NULL, 0, opub, osig) || memcmp(pub, opub, 32) != 0)
			FAIL("generated key %u: its stored seed's public key is not the one returned", id);
	}
	printf("diff-ed25519: 5 generated keys: the stored seed's public key (OpenSSL's) is the one returned\n");
}

/* Seeds of Wycheproof's groups that are known (the file has public keys only). */
static const char *SEEDS[] = {
	"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", /* RFC 8032 TEST 1 */
	"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", /* RFC 8032 TEST 2 */
	"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", /* RFC 8032 TEST 3 */
	"f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5", /* RFC 8032 TEST 1024 */
	"add4bb8103785baf9ac534258e8aaf65f5f1adb5ef5f3df19bb80ab989c4d64b", /* Wycheproof's main key */
	"0a23a20072891237aa0864b5765139514908787878cd77135a0059881d313f00",
	"c367c8d2ebeeecd70c1e8985b70c3808b75657f243b21ba4f322792540e92257",
	"b7d2f64276df417fed27d8e15b4e90f6fd93dace707294c338bd32bc4bbd8fdb",
};
#define NSEEDS (sizeof SEEDS / sizeof SEEDS[0])

static void wycheproof(const char *path)
{
	uint8_t seeds[NSEEDS][32], pubs[NSEEDS][32], pk[32], want[64], sig[64];
	static uint8_t msg[65536];
	static char line[3 * 65536];
	int signed_ = 0, skipped = 0, used[NSEEDS] = { 0 };
	FILE *f = fopen(path, "r");
	if (!f) {
		FAIL("cannot open %s", path);
		return;
	}
	for (size_t i = 0; i < NSEEDS; i++) {
		hex_decode(seeds[i], 32, SEEDS[i]);
		if (wim_ed25519_public(seeds[i], pubs[i], SCRATCH) != WIM_OK)
			FAIL("public key of listed seed %zu", i);
	}
	while (fgets(line, sizeof line, f)) {
		char *p = strtok(line, " \n"), *m = strtok(NULL, " \n"), *s = strtok(NULL, " \n");
		if (!p || !m || !s || hex_decode(pk, 32, p) != 32 || hex_decode(want, 64, s) != 64) {
			FAIL("malformed line in %s", path);
			break;
		}
		size_t len = strcmp(m, "-") ? hex_decode(msg, sizeof msg, m) : 0;
		size_t k = 0;
		while (k < NSEEDS && memcmp(pubs[k], pk, 32) != 0)
			k++;
		if (k == NSEEDS) {
			skipped++;
			continue;
		}
		used[k] = 1;
		if (wim_ed25519_sign(seeds[k], msg, len, sig, SCRATCH) != WIM_OK || memcmp(sig, want, 64) != 0) {
			FAIL("Wycheproof: the valid vector (%zu-byte message) of key %zu is not what we sign", len, k);
			hexprint("ours", sig, 64);
			hexprint("vector", want, 64);
		}
		signed_++;
	}
	fclose(f);
	int groups = 0;
	for (size_t k = 0; k < NSEEDS; k++)
		groups += used[k];
	printf("diff-ed25519: Wycheproof ed25519_test.json: %d valid vectors of %d known keys signed to the vector's "
	       "signature; %d valid vectors skipped (seed unknown)\n", signed_, groups, skipped);
	if (signed_ < 30)
		FAIL("too few Wycheproof vectors signed (%d)", signed_);
}

int main(int argc, char **argv)
{
	int count = 200;
	const char *wp = NULL;
	state = 0xed25519;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			state = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--wycheproof") && i + 1 < argc)
			wp = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--count N] [--seed S] [--wycheproof FILE]\n", argv[0]);
			return 2;
		}
	}
	printf("diff-ed25519: %d-bit limbs\n", WIM_LIMB_BITS);
	diff_sha512();
	diff_sign(count);
	diff_generate();
	if (wp)
		wycheproof(wp);
	printf("diff-ed25519: %s\n", failures ? "FAILED" : "identical to OpenSSL throughout");
	return failures ? 1 : 0;
}
