/*
 * bench_rsa.c — `make bench-native`: the RSA core against OpenSSL's libcrypto and mbedTLS, in one run on
 * the same machine, with the same keys for the private operation.
 *
 * Private operation: the raw RSA private-key operation with CRT, as each library does it for a signature
 * or a decryption: ours is wim_rsa_private (key read from the store, CRT, blinding, re-check with e);
 * OpenSSL's is EVP_PKEY_decrypt with RSA_NO_PADDING (CRT, blinding, re-check); mbedTLS's is
 * mbedtls_rsa_private (CRT, blinding, re-check). The three use the key our key generation made (seeded),
 * imported into OpenSSL and mbedTLS. Each is timed in short batches, interleaved across the libraries
 * (so a noisy neighbour hits all three alike), and the median batch is reported.
 * Key generation: e = 65537, each library's own generator; the median of several runs (its time varies
 * with how far the next prime is).
 *
 *   bench-rsa [--quick]     --quick: fewer batches and keygen runs (a smoke test)
 */
#define _POSIX_C_SOURCE 200809L
#include "ossl_rsa.h"

#include <mbedtls/rsa.h>
#include <mbedtls/version.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ossl_store store;
static uint8_t scratch[32768];
static uint8_t rec[WIM_RSA_KEY_LEN(WIM_RSA_MAX_BITS)];

static int mbed_rng(void *ctx, unsigned char *buf, size_t len)
{
	ossl_rng_bytes(ctx, buf, len);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* An mbedTLS key with the record's n, p, q, e (d, dp, dq, qinv derived by mbedtls_rsa_complete). */
static int mbed_key(mbedtls_rsa_context *rsa, const uint8_t *r)
{
	uint32_t bits = (uint32_t)r[1] << 8 | r[2];
	size_t B = bits / 8, Hb = bits / 16;
	const uint8_t *n = r + WIM_RSA_KEY_HDR;
	mbedtls_rsa_init(rsa, MBEDTLS_RSA_PKCS_V15, 0);
	if (mbedtls_rsa_import_raw(rsa, n, B, n + B, Hb, n + B + Hb, Hb, NULL, 0, r + 3, 4) != 0)
		return -1;
	if (mbedtls_rsa_complete(rsa) != 0 || mbedtls_rsa_check_privkey(rsa) != 0)
		return -1;
	return 0;
}

enum { OURS, OSSL, MBED, NLIB };
static const char *lib_name[NLIB] = { "ours", "OpenSSL", "mbedTLS" };

typedef struct row {
	uint32_t bits;
	double priv[NLIB];   /* ms per private operation */
	double keygen[NLIB]; /* ms per key generation (median) */
	int keygen_runs;
} row;

static int bench_private(row *rw, int batches, ossl_rng *r)
{
	uint32_t bits = rw->bits, id = 1;
	size_t B = bits / 8;
	uint8_t mod[512], in[512], out[NLIB][512];
	ossl_rng_init(r, 42 + bits);
	if (wim_rsa_generate(&store.st, id, bits, &r->rng, mod, scratch, sizeof scratch) != WIM_OK ||
			ossl_read_record(&store, id, rec, sizeof rec) != WIM_OK)
		return -1;
	EVP_PKEY *pk = ossl_key_from_record(rec);
	EVP_PKEY_CTX *ctx = pk ? ossl_raw_ctx(pk) : NULL;
	mbedtls_rsa_context rsa;
	if (!ctx || mbed_key(&rsa, rec) != 0)
		return -1;
	ossl_rng_bytes(r, in, B);
	in[0] = 0x01; /* below n */
	/* ops per batch: about 50 ms of our 2048-bit speed, scaled by the cost (bits^3) */
	int per = (int)(40.0 * 2048 * 2048 * 2048 / ((double)bits * bits * bits)) + 1;
	double t[NLIB][64];
	for (int b = 0; b < batches; b++) {
		for (int lib = 0; lib < NLIB; lib++) {
			double t0 = ossl_now_ms();
			for (int i = 0; i < per; i++) {
				int rc = lib == OURS ? wim_rsa_private(&store.st, id, in, (uint32_t)B, out[OURS], &r->rng,
								scratch, sizeof scratch) :
						lib == OSSL ? ossl_raw_private(ctx, in, B, out[OSSL]) :
							      mbedtls_rsa_private(&rsa, mbed_rng, r, in, out[MBED]);
				if (rc != 0)
					return -1;
			}
			t[lib][b] = (ossl_now_ms() - t0) / per;
		}
	}
	if (memcmp(out[OURS], out[OSSL], B) || memcmp(out[OURS], out[MBED], B)) {
		printf("results differ at %u bits\n", (unsigned)bits);
		return -1;
	}
	for (int lib = 0; lib < NLIB; lib++)
		rw->priv[lib] = median(t[lib], batches);
	mbedtls_rsa_free(&rsa);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return 0;
}

static int ossl_keygen(uint32_t bits)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;
	int ok = ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) > 0 &&
			EVP_PKEY_keygen(ctx, &pk) > 0;
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int bench_keygen(row *rw, int runs, ossl_rng *r)
{
	double t[NLIB][32];
	uint8_t mod[512];
	for (int k = 0; k < runs; k++) {
		for (int lib = 0; lib < NLIB; lib++) {
			int rc;
			double t0 = ossl_now_ms();
			ossl_rng_init(r, 1000 * rw->bits + (uint64_t)k);
			if (lib == OURS) {
				rc = wim_rsa_generate(&store.st, 2, rw->bits, &r->rng, mod, scratch, sizeof scratch);
			} else if (lib == OSSL) {
				rc = ossl_keygen(rw->bits);
			} else {
				mbedtls_rsa_context rsa;
				mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
				rc = mbedtls_rsa_gen_key(&rsa, mbed_rng, r, rw->bits, 65537);
				mbedtls_rsa_free(&rsa);
			}
			if (rc != 0)
				return -1;
			t[lib][k] = ossl_now_ms() - t0;
		}
	}
	for (int lib = 0; lib < NLIB; lib++)
		rw->keygen[lib] = median(t[lib], runs);
	rw->keygen_runs = runs;
	return 0;
}

int main(int argc, char **argv)
{
	int quick = argc > 1 && !strcmp(argv[1], "--quick");
	row rows[3] = { { .bits = 2048 }, { .bits = 3072 }, { .bits = 4096 } };
	int kg_runs[3] = { quick ? 3 : 15, quick ? 1 : 9, quick ? 1 : 7 };
	ossl_rng r;
	char mbed_ver[32];
	mbedtls_version_get_string(mbed_ver);
	if (ossl_store_init(&store) != WIM_OK)
		return 1;
	printf("RSA benchmark: ours (%d-bit limbs, %s) vs %s vs mbed TLS %s\n", WIM_LIMB_BITS,
			WIM_LIMB_BITS == 64 ? "unsigned __int128" : "uint64_t products",
			OpenSSL_version(OPENSSL_VERSION), mbed_ver);
	for (int i = 0; i < 3; i++) {
		if (bench_private(&rows[i], quick ? 3 : 15, &r) != 0) {
			printf("private-op benchmark failed at %u bits\n", (unsigned)rows[i].bits);
			return 1;
		}
		if (bench_keygen(&rows[i], kg_runs[i], &r) != 0) {
			printf("keygen benchmark failed at %u bits\n", (unsigned)rows[i].bits);
			return 1;
		}
		fprintf(stderr, "  %u bits done\n", (unsigned)rows[i].bits);
	}
	printf("\n%-34s %10s %10s %10s %12s %12s\n", "operation", lib_name[OURS], lib_name[OSSL], lib_name[MBED],
			"ours/OpenSSL", "ours/mbedTLS");
	for (int i = 0; i < 3; i++) {
		row *w = &rows[i];
		char what[64];
		snprintf(what, sizeof what, "RSA-%u private op (CRT)", (unsigned)w->bits);
		printf("%-34s %8.3fms %8.3fms %8.3fms %12.2f %12.2f\n", what, w->priv[OURS], w->priv[OSSL],
				w->priv[MBED], w->priv[OURS] / w->priv[OSSL], w->priv[OURS] / w->priv[MBED]);
	}
	for (int i = 0; i < 3; i++) {
		row *w = &rows[i];
		char what[64];
		snprintf(what, sizeof what, "RSA-%u keygen (median of %d)", (unsigned)w->bits, w->keygen_runs);
		printf("%-34s %8.0fms %8.0fms %8.0fms %12.2f %12.2f\n", what, w->keygen[OURS], w->keygen[OSSL],
				w->keygen[MBED], w->keygen[OURS] / w->keygen[OSSL], w->keygen[OURS] / w->keygen[MBED]);
	}
	return 0;
}
