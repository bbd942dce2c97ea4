/*
 * bench_ec.c — `make bench-native`: the EC core (P-256, P-384) against OpenSSL's libcrypto and mbedTLS in one
 * run on the same machine, with the same private key.
 *
 * ECDSA signature of a 32- or 48-byte hash: ours is wim_ec_sign (random nonce, constant-time fixed-window
 * k·G, on-curve check of k·G); OpenSSL's is ECDSA_do_sign (its constant-time P-256/P-384 code); mbedTLS's is
 * mbedtls_ecdsa_sign (random nonce, comb method with a precomputed table for G). ECDH: ours is wim_ec_ecdh
 * (peer validation, d·Q), OpenSSL's ECDH_compute_key, mbedTLS's mbedtls_ecdh_compute_shared. Each is timed in
 * short batches interleaved across the libraries and the median batch is reported, in microseconds.
 *
 * Then Ed25519 signing of a 64-byte message: ours is wim_ed25519_sign (seed in, public key derived again,
 * two fixed-window base-point multiplications, on-curve checks), OpenSSL's EVP_DigestSign with an
 * EVP_PKEY_ED25519 key loaded once (its public key cached; mbedTLS has no Ed25519).
 *
 *   bench-ec [--quick]
 */
#define _POSIX_C_SOURCE 200809L
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdh.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_tools.h"
#include "wim_ec.h"
#include "wim_ed25519.h"

static uint64_t scratch[4096];
static uint64_t state = 42;

static int fill(void *ctx, uint8_t *b, size_t n)
{
	(void)ctx;
	splitmix_fill(&state, b, n);
	return 0;
}
static int mbed_rng(void *ctx, unsigned char *b, size_t n)
{
	return fill(ctx, b, n);
}
static const wim_rng RNG = { NULL, fill };

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum { OURS, OSSL, MBED, LIBS };
static const char *const LIB_NAMES[LIBS] = { "ours", "OpenSSL", "mbedTLS" };

typedef struct ctx {
	int wim, nid;
	mbedtls_ecp_group_id mbed_id;
	size_t size;
	uint8_t d[48], q[96], hash[48];
	EC_KEY *ossl, *peer;
	mbedtls_ecp_group grp;
	mbedtls_mpi md;
	mbedtls_ecp_point mq;
} ctx;

static int run(ctx *c, int lib, int ecdh)
{
	uint8_t out[96];
	if (lib == OURS)
		return ecdh ? wim_ec_ecdh(c->wim, c->d, c->q, out, scratch, sizeof scratch)
			    : wim_ec_sign(c->wim, c->d, c->hash, c->size, &RNG, out, scratch, sizeof scratch);
	if (lib == OSSL) {
		if (ecdh)
			return ECDH_compute_key(out, c->size, EC_KEY_get0_public_key(c->peer), c->ossl, NULL) > 0 ? 0 : -1;
		ECDSA_SIG *s = ECDSA_do_sign(c->hash, (int)c->size, c->ossl);
		ECDSA_SIG_free(s);
		return s ? 0 : -1;
	}
	mbedtls_mpi r, s;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	int rc = ecdh ? mbedtls_ecdh_compute_shared(&c->grp, &r, &c->mq, &c->md, mbed_rng, NULL)
		      : mbedtls_ecdsa_sign(&c->grp, &r, &s, &c->md, c->hash, c->size, mbed_rng, NULL);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	int quick = argc > 1 && !strcmp(argv[1], "--quick");
	int batches = quick ? 3 : 15, per = quick ? 10 : 40;
	static ctx cs[2];
	cs[0].wim = WIM_EC_P256, cs[0].nid = NID_X9_62_prime256v1, cs[0].mbed_id = MBEDTLS_ECP_DP_SECP256R1, cs[0].size = 32;
	cs[1].wim = WIM_EC_P384, cs[1].nid = NID_secp384r1, cs[1].mbed_id = MBEDTLS_ECP_DP_SECP384R1, cs[1].size = 48;
	const char *names[2] = { "P-256", "P-384" };
	printf("EC core vs OpenSSL vs mbedTLS: median of %d batches of %d, microseconds per operation\n", batches, per);
	printf("%-6s %-6s %10s %10s %10s %12s %12s\n", "curve", "op", "ours", "OpenSSL", "mbedTLS", "ours/OpenSSL",
	       "ours/mbedTLS");
	for (int k = 0; k < 2; k++) {
		ctx *c = &cs[k];
		uint8_t d2[48], xy[96];
		fill(NULL, c->d, c->size);
		c->d[0] &= 0x7f; /* below n */
		fill(NULL, d2, c->size);
		d2[0] &= 0x7f;
		fill(NULL, c->hash, c->size);
		if (wim_ec_public(c->wim, d2, c->q, scratch, sizeof scratch) || wim_ec_public(c->wim, c->d, xy, scratch, sizeof scratch)) {
			fprintf(stderr, "bench-ec: key set-up failed\n");
			return 1;
		}
		/* OpenSSL: our key, and the peer as a public key */
		c->ossl = EC_KEY_new_by_curve_name(c->nid);
		c->peer = EC_KEY_new_by_curve_name(c->nid);
		BIGNUM *bd = BN_bin2bn(c->d, (int)c->size, NULL);
		const EC_GROUP *g = EC_KEY_get0_group(c->ossl);
		EC_POINT *p = EC_POINT_new(g), *pq = EC_POINT_new(g);
		EC_POINT_mul(g, p, bd, NULL, NULL, NULL);
		EC_KEY_set_private_key(c->ossl, bd);
		EC_KEY_set_public_key(c->ossl, p);
		uint8_t enc[97] = { 4 };
		memcpy(enc + 1, c->q, 2 * c->size);
		EC_POINT_oct2point(g, pq, enc, 1 + 2 * c->size, NULL);
		EC_KEY_set_public_key(c->peer, pq);
		/* mbedTLS: the same */
		mbedtls_ecp_group_init(&c->grp);
		mbedtls_ecp_group_load(&c->grp, c->mbed_id);
		mbedtls_mpi_init(&c->md);
		mbedtls_mpi_read_binary(&c->md, c->d, c->size);
		mbedtls_ecp_point_init(&c->mq);
		mbedtls_ecp_point_read_binary(&c->grp, &c->mq, enc, 1 + 2 * c->size);
		for (int ecdh = 0; ecdh < 2; ecdh++) {
			double t[LIBS][64];
			for (int lib = 0; lib < LIBS; lib++)
				if (run(c, lib, ecdh)) {
					fprintf(stderr, "bench-ec: %s %s failed\n", LIB_NAMES[lib], ecdh ? "ECDH" : "sign");
					return 1;
				}
			for (int b = 0; b < batches; b++)
				for (int lib = 0; lib < LIBS; lib++) {
					double t0 = now_us();
					for (int i = 0; i < per; i++)
						run(c, lib, ecdh);
					t[lib][b] = (now_us() - t0) / per;
				}
			for (int lib = 0; lib < LIBS; lib++)
				qsort(t[lib], (size_t)batches, sizeof(double), cmp_double);
			double m[LIBS];
			for (int lib = 0; lib < LIBS; lib++)
				m[lib] = t[lib][batches / 2];
			printf("%-6s %-6s %10.1f %10.1f %10.1f %11.2fx %11.2fx\n", names[k], ecdh ? "ECDH" : "sign", m[OURS],
			       m[OSSL], m[MBED], m[OURS] / m[OSSL], m[OURS] / m[MBED]);
		}
		EC_POINT_free(p);
		EC_POINT_free(pq);
		BN_free(bd);
		EC_KEY_free(c->ossl);
		EC_KEY_free(c->peer);
		mbedtls_ecp_point_free(&c->mq);
		mbedtls_mpi_free(&c->md);
		mbedtls_ecp_group_free(&c->grp);
	}
	{
		uint8_t seed[32], m[64], sig[64];
		double t[2][15];
		fill(NULL, seed, sizeof seed);
		fill(NULL, m, sizeof m);
		EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		for (int b = 0; b < batches; b++)
			for (int lib = 0; lib < 2; lib++) {
				double t0 = now_us();
				for (int i = 0; i < per; i++) {
					size_t sl = sizeof sig;
					int ok = lib ? EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
							       EVP_DigestSign(md, sig, &sl, m, sizeof m) == 1
						     : wim_ed25519_sign(seed, m, sizeof m, sig, scratch, sizeof scratch) == WIM_OK;
					if (!ok) {
						fprintf(stderr, "bench-ec: Ed25519 sign failed\n");
						return 1;
					}
				}
				t[lib][b] = (now_us() - t0) / per;
			}
		for (int lib = 0; lib < 2; lib++)
			qsort(t[lib], (size_t)batches, sizeof(double), cmp_double);
		printf("%-6s %-6s %10.1f %10.1f %10s %11.2fx %12s\n", "Ed25519", "sign", t[0][batches / 2], t[1][batches / 2],
		       "-", t[0][batches / 2] / t[1][batches / 2], "-");
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(k);
	}
	return 0;
}
