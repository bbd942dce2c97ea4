/*
 * diff_ec.c — the differential test of the EC core (wim_ec) against OpenSSL's libcrypto
 * (`make native-diff-ec`), and the runner of Wycheproof's ECDH vectors.
 *
 * For each curve (P-256, P-384), on seeded random secrets:
 *   - public key: wim_ec_public(d) must equal OpenSSL's d·G, byte for byte;
 *   - ECDSA: wim_ec_sign over a random hash of 20, 28, 32, 48 or 64 bytes must pass OpenSSL's
 *     ECDSA_do_verify with the public key OpenSSL computed (OpenSSL truncates long hashes as FIPS 186-5
 *     says, so this checks our truncation too);
 *   - ECDH: wim_ec_ecdh(d, Q) must equal OpenSSL's ECDH_compute_key for a random peer Q;
 *   - key generation: wim_ec_generate's stored secret and returned point agree (OpenSSL's d·G);
 * and the edges: d = 1, 2, n-1 (public key and signature), d = 0 and d = n refused (WIM_E_SECRET), hashes
 * that are 0 or n mod n, peers off the curve or with a coordinate >= p refused (WIM_E_ARG), a failing
 * RNG (WIM_E_RNG), a scratch too small (WIM_E_SCRATCH), an unknown curve (WIM_E_ARG).
 *
 *   native-diff-ec [--count N] [--seed S] [--wycheproof FILE]... [--emit-rfc6979 FILE]
 *     --count       random keys per curve (default 500)
 *     --emit-rfc6979  also writes `count` signatures per curve for test/native/rfc6979_noble.ts
 *     --wycheproof  lines "curve private public shared result" (hex; from test/native/wycheproof_ecdh.py):
 *                   valid and acceptable vectors must give `shared`, invalid ones must be refused
 *
 * Prints a summary per part; exits non-zero on any difference.
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdh.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_tools.h"
#include "test_flash.h"
#include "wim_bn.h"
#include "wim_ec.h"

static uint64_t scratch_words[8192];
#define SCRATCH scratch_words, sizeof(scratch_words)

static int failures;
#define FAIL(...) do { failures++; fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); } while (0)

typedef struct curve_case {
	int id;
	int nid;
	size_t size;
	const char *name;
} curve_case;

static const curve_case CURVES[] = {
	{ WIM_EC_P256, NID_X9_62_prime256v1, 32, "P-256" },
	{ WIM_EC_P384, NID_secp384r1, 48, "P-384" },
};

/* the seeded source of test secrets, hashes and nonces (test_tools.h) */
static uint64_t state;
static void fill(uint8_t *b, size_t n)
{
	splitmix_fill(&state, b, n);
}
static int rng_fill(void *ctx, uint8_t *b, size_t n)
{
	(void)ctx;
	fill(b, n);
	return 0;
}
static int rng_fail(void *ctx, uint8_t *b, size_t n)
{
	(void)ctx;
	(void)b;
	(void)n;
	return WIM_E_RNG;
}
static const wim_rng RNG = { NULL, rng_fill }, BAD_RNG = { NULL, rng_fail };

/* An RNG that remembers what it gave (the hedge of a signature, for the comparison with noble). */
static uint8_t recorded[64];
static size_t recorded_len;
static int rng_record(void *ctx, uint8_t *b, size_t n)
{
	(void)ctx;
	fill(b, n);
	recorded_len = n < sizeof(recorded) ? n : sizeof(recorded);
	memcpy(recorded, b, recorded_len);
	return 0;
}
static const wim_rng RECORDING_RNG = { NULL, rng_record };

static void put_hex(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

static void random_scalar(const BIGNUM *order, uint8_t *out, size_t size, BN_CTX *bc);

/* Writes `count` signatures per curve, half deterministic (RFC 6979) and half hedged, as lines
 * "curve d hash hedge|- r||s" for test/native/rfc6979_noble.ts to compare with @noble/curves. */
static void emit_rfc6979(const char *path, long count)
{
	static const size_t HASHES[] = { 20, 28, 32, 48, 64, 1 };
	FILE *f = fopen(path, "w");
	if (!f) {
		FAIL("cannot write %s", path);
		return;
	}
	for (size_t c = 0; c < 2; c++) {
		const curve_case *cc = &CURVES[c];
		BN_CTX *bc = BN_CTX_new();
		EC_GROUP *g = EC_GROUP_new_by_curve_name(cc->nid);
		for (long i = 0; i < count; i++) {
			uint8_t d[48], hash[64], rs[96];
			size_t hlen = HASHES[i % 6];
			int hedged = i % 2;
			random_scalar(EC_GROUP_get0_order(g), d, cc->size, bc);
			fill(hash, hlen);
			if (wim_ec_sign(cc->id, d, hash, hlen, hedged ? &RECORDING_RNG : NULL, rs, SCRATCH) != WIM_OK) {
				FAIL("%s: sign failed", cc->name);
				continue;
			}
			fprintf(f, "%s ", cc->name);
			put_hex(f, d, cc->size);
			fputc(' ', f);
			put_hex(f, hash, hlen);
			fputc(' ', f);
			if (hedged)
				put_hex(f, recorded, recorded_len);
			else
				fputc('-', f);
			fputc(' ', f);
			put_hex(f, rs, 2 * cc->size);
			fputc('\n', f);
		}
		EC_GROUP_free(g);
		BN_CTX_free(bc);
	}
	fclose(f);
	printf("wrote %ld signatures per curve to %s (half deterministic, half hedged)\n", count, path);
}

/* OpenSSL's d·G as x||y. */
static void ossl_public(const EC_GROUP *g, const BIGNUM *d, uint8_t *xy, size_t size)
{
	EC_POINT *p = EC_POINT_new(g);
	uint8_t buf[1 + 2 * 48];
	EC_POINT_mul(g, p, d, NULL, NULL, NULL);
	EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, buf, sizeof(buf), NULL);
	memcpy(xy, buf + 1, 2 * size);
	EC_POINT_free(p);
}

static EC_KEY *ossl_key(const curve_case *cc, const BIGNUM *d)
{
	EC_KEY *k = EC_KEY_new_by_curve_name(cc->nid);
	const EC_GROUP *g = EC_KEY_get0_group(k);
	EC_POINT *p = EC_POINT_new(g);
	EC_POINT_mul(g, p, d, NULL, NULL, NULL);
	EC_KEY_set_private_key(k, d);
	EC_KEY_set_public_key(k, p);
	EC_POINT_free(p);
	return k;
}

static int ossl_verify(EC_KEY *k, const uint8_t *hash, size_t hlen, const uint8_t *rs, size_t size)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	ECDSA_SIG_set0(sig, BN_bin2bn(rs, (int)size, NULL), BN_bin2bn(rs + size, (int)size, NULL));
	int ok = ECDSA_do_verify(hash, (int)hlen, sig, k);
	ECDSA_SIG_free(sig);
	return ok == 1;
}

/* A random scalar in [1, n-1] as `size` big-endian bytes. */
static void random_scalar(const BIGNUM *order, uint8_t *out, size_t size, BN_CTX *bc)
{
	uint8_t wide[48 + 16];
	BIGNUM *w = BN_new(), *nm1 = BN_dup(order);
	fill(wide, size + 16);
	BN_bin2bn(wide, (int)(size + 16), w);
	BN_sub_word(nm1, 1);
	BN_mod(w, w, nm1, bc);
	BN_add_word(w, 1);
	BN_bn2binpad(w, out, (int)size);
	BN_free(w);
	BN_free(nm1);
}

static int sign_and_verify(const curve_case *cc, const uint8_t *d, EC_KEY *k, const uint8_t *hash, size_t hlen)
{
	uint8_t rs[96];
	int rc = wim_ec_sign(cc->id, d, hash, hlen, &RNG, rs, SCRATCH);
	if (rc != WIM_OK) {
		FAIL("%s: sign returned %d", cc->name, rc);
		return 0;
	}
	if (!ossl_verify(k, hash, hlen, rs, cc->size)) {
		FAIL("%s: OpenSSL rejects our signature (hash of %zu bytes)", cc->name, hlen);
		return 0;
	}
	return 1;
}

static void random_tests(const curve_case *cc, long count)
{
	static const size_t HASHES[] = { 20, 28, 32, 48, 64 };
	BN_CTX *bc = BN_CTX_new();
	EC_GROUP *g = EC_GROUP_new_by_curve_name(cc->nid);
	const BIGNUM *order = EC_GROUP_get0_order(g);
	size_t size = cc->size;
	long pub_ok = 0, sig_ok = 0, dh_ok = 0, gen_ok = 0;
	for (long i = 0; i < count; i++) {
		uint8_t d[48], d2[48], ours[96], theirs[96], hash[64], x[48], peer[96];
		random_scalar(order, d, size, bc);
		BIGNUM *bd = BN_bin2bn(d, (int)size, NULL);
		ossl_public(g, bd, theirs, size);
		int rc = wim_ec_public(cc->id, d, ours, SCRATCH);
		if (rc != WIM_OK || memcmp(ours, theirs, 2 * size))
			FAIL("%s: public key %ld differs (rc %d)", cc->name, i, rc);
		else
			pub_ok++;

		EC_KEY *k = ossl_key(cc, bd);
		size_t hlen = HASHES[i % 5];
		fill(hash, hlen);
		sig_ok += sign_and_verify(cc, d, k, hash, hlen);

		/* ECDH with a random peer */
		random_scalar(order, d2, size, bc);
		BIGNUM *bd2 = BN_bin2bn(d2, (int)size, NULL);
		ossl_public(g, bd2, peer, size);
		EC_KEY *k2 = ossl_key(cc, bd2);
		uint8_t want[48];
		ECDH_compute_key(want, size, EC_KEY_get0_public_key(k2), k, NULL);
		rc = wim_ec_ecdh(cc->id, d, peer, x, SCRATCH);
		if (rc != WIM_OK || memcmp(x, want, size))
			FAIL("%s: ECDH %ld differs (rc %d)", cc->name, i, rc);
		else
			dh_ok++;
		EC_KEY_free(k2);
		BN_free(bd2);
		EC_KEY_free(k);
		BN_free(bd);

		/* key generation: the stored secret's d·G is the point returned */
		if (i % 10 == 0) {
			static uint8_t mem[8 * 4096];
			t_flash tf;
			wim_store st;
			uint8_t xy[96], secret[48];
			uint32_t len = 0;
			t_flash_init(&tf, mem, sizeof(mem), 4096);
			if (wim_store_format(&st, &tf.f) != WIM_OK ||
			    wim_ec_generate(&st, 7, cc->id, &RNG, xy, SCRATCH) != WIM_OK ||
			    wim_store_read_secret(&st, 7, secret, sizeof(secret), &len) != WIM_OK || len != size) {
				FAIL("%s: key generation failed", cc->name);
			} else {
				BIGNUM *s = BN_bin2bn(secret, (int)size, NULL);
				ossl_public(g, s, theirs, size);
				if (BN_is_zero(s) || BN_cmp(s, order) >= 0 || memcmp(xy, theirs, 2 * size))
					FAIL("%s: generated key %ld is inconsistent", cc->name, i);
				else
					gen_ok++;
				BN_free(s);
			}
		}
	}
	printf("%s: %ld/%ld public keys equal OpenSSL's, %ld/%ld signatures verified by OpenSSL, "
	       "%ld/%ld ECDH results equal, %ld generated keys consistent\n",
	       cc->name, pub_ok, count, sig_ok, count, dh_ok, count, gen_ok);
	EC_GROUP_free(g);
	BN_CTX_free(bc);
}

static void edge_tests(const curve_case *cc)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(cc->nid);
	const BIGNUM *order = EC_GROUP_get0_order(g);
	size_t size = cc->size;
	uint8_t d[48], xy[96], want[96], hash[64], rs[96], x[48];
	BIGNUM *b = BN_new();
	const long small[] = { 1, 2, -1 }; /* -1: n - 1 */
	for (int i = 0; i < 3; i++) {
		if (small[i] > 0)
			BN_set_word(b, (BN_ULONG)small[i]);
		else {
			BN_copy(b, order);
			BN_sub_word(b, 1);
		}
		BN_bn2binpad(b, d, (int)size);
		ossl_public(g, b, want, size);
		if (wim_ec_public(cc->id, d, xy, SCRATCH) != WIM_OK || memcmp(xy, want, 2 * size))
			FAIL("%s: public key of edge scalar %ld differs", cc->name, small[i]);
		EC_KEY *k = ossl_key(cc, b);
		memset(hash, 0, sizeof(hash)); /* e = 0 */
		sign_and_verify(cc, d, k, hash, size);
		BN_bn2binpad(order, hash, (int)size); /* e = n ≡ 0 */
		sign_and_verify(cc, d, k, hash, size);
		memset(hash, 0xff, sizeof(hash)); /* e = 2^bits - 1 > n */
		sign_and_verify(cc, d, k, hash, size);
		EC_KEY_free(k);
	}
	/* secrets out of range */
	memset(d, 0, size);
	if (wim_ec_public(cc->id, d, xy, SCRATCH) != WIM_E_SECRET)
		FAIL("%s: d = 0 accepted", cc->name);
	BN_bn2binpad(order, d, (int)size);
	if (wim_ec_sign(cc->id, d, hash, size, &RNG, rs, SCRATCH) != WIM_E_SECRET)
		FAIL("%s: d = n accepted", cc->name);
	/* peers: off the curve, coordinate >= p, the valid one accepted */
	BN_set_word(b, 5);
	BN_bn2binpad(b, d, (int)size);
	BN_set_word(b, 7);
	ossl_public(g, b, xy, size);
	if (wim_ec_ecdh(cc->id, d, xy, x, SCRATCH) != WIM_OK)
		FAIL("%s: a valid peer refused", cc->name);
	xy[2 * size - 1] ^= 1;
	if (wim_ec_ecdh(cc->id, d, xy, x, SCRATCH) != WIM_E_ARG)
		FAIL("%s: a peer off the curve accepted", cc->name);
	BIGNUM *p = BN_new();
	EC_GROUP_get_curve(g, p, NULL, NULL, NULL);
	ossl_public(g, b, xy, size);
	BIGNUM *y = BN_bin2bn(xy + size, (int)size, NULL);
	BN_add(y, y, p); /* y + p: the same residue, but not a canonical coordinate */
	if (BN_num_bytes(y) <= (int)size) {
		BN_bn2binpad(y, xy + size, (int)size);
		if (wim_ec_ecdh(cc->id, d, xy, x, SCRATCH) != WIM_E_ARG)
			FAIL("%s: a peer with y >= p accepted", cc->name);
	}
	memset(xy, 0, 2 * size); /* (0, 0) is on neither curve */
	if (wim_ec_ecdh(cc->id, d, xy, x, SCRATCH) != WIM_E_ARG)
		FAIL("%s: the peer (0, 0) accepted", cc->name);
	/* failures of the environment */
	if (wim_ec_sign(cc->id, d, hash, size, &BAD_RNG, rs, SCRATCH) != WIM_E_RNG)
		FAIL("%s: a failing RNG not reported", cc->name);
	if (wim_ec_sign(cc->id, d, hash, size, &RNG, rs, scratch_words, wim_ec_scratch_size() - 1) != WIM_E_SCRATCH)
		FAIL("%s: short scratch not reported", cc->name);
	if (wim_ec_sign(cc->id, d, hash, 0, &RNG, rs, SCRATCH) != WIM_E_ARG)
		FAIL("%s: an empty hash accepted", cc->name);
	BN_free(y);
	BN_free(p);
	BN_free(b);
	EC_GROUP_free(g);
	printf("%s: edge cases done\n", cc->name);
}

/* Wycheproof ECDH (ecpoint encoding): the peer is 04||x||y; other encodings are refused by length,
 * as the device's agent-facing code refuses them before the core (the firmware decodes compressed
 * points in JavaScript: they are counted as skipped here). */
static void wycheproof(const char *path)
{
	FILE *f = fopen(path, "r");
	char curve[16], priv[256], pub[512], shared[256], result[32];
	long passed = 0, skipped = 0, total = 0;
	if (!f) {
		FAIL("cannot open %s", path);
		return;
	}
	while (fscanf(f, "%15s %255s %511s %255s %31s", curve, priv, pub, shared, result) == 5) {
		const curve_case *cc = !strcmp(curve, "secp256r1") ? &CURVES[0] : !strcmp(curve, "secp384r1") ? &CURVES[1] : NULL;
		uint8_t d[64], q[200], want[64], x[48];
		size_t dl, ql, wl;
		total++;
		if (!cc) {
			skipped++;
			continue;
		}
		dl = hex_decode(d, sizeof(d), priv);
		ql = hex_decode(q, sizeof(q), strcmp(pub, "-") ? pub : "");
		wl = hex_decode(want, sizeof(want), strcmp(shared, "-") ? shared : "");
		int valid = strcmp(result, "invalid") != 0;
		if (dl != cc->size) {
			FAIL("%s: vector private key of %zu bytes", cc->name, dl);
			continue;
		}
		if (ql == 1 + cc->size && (q[0] == 2 || q[0] == 3)) {
			skipped++; /* compressed: decoded in JavaScript on the device */
			continue;
		}
		int rc = ql == 1 + 2 * cc->size && q[0] == 4 ? wim_ec_ecdh(cc->id, d, q + 1, x, SCRATCH) : WIM_E_ARG;
		if (valid && (rc != WIM_OK || wl != cc->size || memcmp(x, want, cc->size)))
			FAIL("%s: valid vector %ld not matched (rc %d)", cc->name, total, rc);
		else if (!valid && rc == WIM_OK)
			FAIL("%s: invalid vector %ld accepted", cc->name, total);
		else
			passed++;
	}
	fclose(f);
	printf("wycheproof %s: %ld vectors, %ld passed, %ld skipped (compressed points)\n", path, total, passed, skipped);
	if (total == 0)
		FAIL("no vectors in %s", path);
}

int main(int argc, char **argv)
{
	long count = 500;
	const char *emit = NULL;
	state = 0x5eed0ec5ull;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			state = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--wycheproof") && i + 1 < argc)
			wycheproof(argv[++i]);
		else if (!strcmp(argv[i], "--emit-rfc6979") && i + 1 < argc)
			emit = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--count N] [--seed S] [--wycheproof FILE]... [--emit-rfc6979 FILE]\n", argv[0]);
			return 2;
		}
	}
	printf("EC core vs OpenSSL: %d-bit limbs, %ld keys per curve\n", WIM_LIMB_BITS, count);
	for (size_t c = 0; c < 2; c++) {
		edge_tests(&CURVES[c]);
		random_tests(&CURVES[c], count);
	}
	if (emit)
		emit_rfc6979(emit, count);
	printf("%s: %d failures\n", failures ? "FAILED" : "ok", failures);
	return failures ? 1 : 0;
}
