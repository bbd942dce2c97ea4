/*
 * diff_openssl.c — the differential test of the RSA core against OpenSSL's libcrypto (`make native-diff`).
 *
 * For each key size (2048, 3072, 4096): keys made by OUR key generation (seeded, so every run checks the
 * same keys) are imported into OpenSSL with all their CRT components, and OpenSSL's full key check
 * (EVP_PKEY_check + EVP_PKEY_pairwise_check) must accept each one. Then, on random inputs x < n and the
 * edge inputs 0, 1, 2 and n-1, our raw private operation y = wim_rsa_private(x) (CRT, blinded, checked)
 * is compared with OpenSSL in two ways:
 *   - every input: OpenSSL's raw public operation (RSA_NO_PADDING) must map y back to x, byte for byte.
 *     For a key OpenSSL accepts, x -> x^e mod n is a permutation of [0, n), so this holds exactly when y
 *     equals OpenSSL's own private result: an exact differential check at the cost of a public operation;
 *   - a share of the inputs (all of them at 2048 bits by default, fewer at 3072 and 4096 to keep the
 *     target near a minute on two cores): OpenSSL's raw private operation (EVP_PKEY_decrypt,
 *     RSA_NO_PADDING) must equal y byte for byte.
 *
 *   native-diff [--inputs N] [--keys K] [--jobs J] [--sizes 2048,3072,4096] [--seed S] [--private-all]
 *     --inputs       random inputs per key size (default 10000), spread over the K keys (default 4)
 *     --jobs         worker processes (default 2); the (size, key) items are dealt to them round-robin
 *     --private-all  compare with OpenSSL's private operation on every input at every size (slower)
 *
 * Prints one line per key and a summary; exits non-zero on any difference, rejection or error.
 */
#define _POSIX_C_SOURCE 200809L
#include "ossl_rsa.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static ossl_store store;
static uint8_t scratch[32768];
static uint8_t rec[WIM_RSA_KEY_LEN(WIM_RSA_MAX_BITS)];

/* One key: generate, import, check, compare on `inputs` random inputs. Returns the number of failures. */
/* Every how many inputs OpenSSL's private operation is compared too (1: all). */
static long private_every(uint32_t bits, int all)
{
	return all || bits <= 2048 ? 1 : bits <= 3072 ? 4 : 8;
}


static int run_key(uint32_t bits, int k, long inputs, uint64_t seed, long every)
{
	ossl_rng r;
	uint8_t mod[512], in[512], ours[512], theirs[512];
	size_t B = bits / 8;
	uint32_t id = 100 + (uint32_t)k;
	int fails = 0;
	double t0 = ossl_now_ms();

	ossl_rng_init(&r, seed);
	int rc = wim_rsa_generate(&store.st, id, bits, &r.rng, mod, scratch, sizeof scratch);
	if (rc != WIM_OK || ossl_read_record(&store, id, rec, sizeof rec) != WIM_OK) {
		printf("FAIL %u-bit key %d: keygen rc %d\n", (unsigned)bits, k, rc);
		return 1;
	}
	EVP_PKEY *pk = ossl_key_from_record(rec);
	if (!pk || !ossl_key_check(pk)) {
		printf("FAIL %u-bit key %d: OpenSSL rejects our key\n", (unsigned)bits, k);
		ERR_print_errors_fp(stdout);
		EVP_PKEY_free(pk);
		return 1;
	}
	EVP_PKEY_CTX *ctx = ossl_raw_ctx(pk), *pctx = ossl_raw_pub_ctx(pk);
	if (!ctx || !pctx) {
		printf("FAIL %u-bit key %d: no OpenSSL context\n", (unsigned)bits, k);
		EVP_PKEY_free(pk);
		return 1;
	}
	const uint8_t *n = rec + WIM_RSA_KEY_HDR;
	long done = 0, nprivate = 0;
	for (long i = -4; i < inputs; i++) {
		if (i < 0) { /* edge inputs: 0, 1, 2, n-1 */
			memset(in, 0, B);
			if (i == -4) {
				memcpy(in, n, B);
				in[B - 1] -= 1; /* n is odd: no borrow */
			} else {
				in[B - 1] = (uint8_t)(i + 3);
			}
		} else {
			do
				ossl_rng_bytes(&r, in, B);
			while (memcmp(in, n, B) >= 0); /* uniform below n */
		}
		rc = wim_rsa_private(&store.st, id, in, (uint32_t)B, ours, &r.rng, scratch, sizeof scratch);
		int bad = rc != WIM_OK || ossl_raw_public(pctx, ours, B, theirs) != 0 || memcmp(theirs, in, B) != 0;
		const char *how = "public";
		if (!bad && (i < 0 || i % every == 0)) {
			how = "private";
			nprivate++;
			bad = ossl_raw_private(ctx, in, B, theirs) != 0 || memcmp(ours, theirs, B) != 0;
		}
		if (bad && fails++ < 3)
			printf("FAIL %u-bit key %d input %ld: rc %d, differs from OpenSSL's %s operation\n",
					(unsigned)bits, k, i, rc, how);
		done++;
	}
	printf("  %u-bit key %d: OpenSSL accepts it; %ld inputs (4 edge + %ld random): %ld pass, %ld of them "
			"also against OpenSSL's private op  [%.1f s]\n", (unsigned)bits, k, done, inputs, done - fails,
			nprivate, (ossl_now_ms() - t0) / 1e3);
	fflush(stdout);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return fails;
}

int main(int argc, char **argv)
{
	long inputs = 10000;
	int keys = 4, jobs = 2, all = 0;
	uint64_t seed = 2026;
	uint32_t sizes[3] = { 2048, 3072, 4096 };
	int nsizes = 3;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--inputs") && i + 1 < argc)
			inputs = atol(argv[++i]);
		else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
			keys = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
			jobs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--private-all"))
			all = 1;
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			nsizes = 0;
			for (char *s = strtok(argv[++i], ","); s && nsizes < 3; s = strtok(NULL, ","))
				sizes[nsizes++] = (uint32_t)atoi(s);
		} else {
			fprintf(stderr, "usage: %s [--inputs N] [--keys K] [--jobs J] [--sizes 2048,3072,4096] "
					"[--seed S] [--private-all]\n", argv[0]);
			return 2;
		}
	}
	if (inputs < 1 || keys < 1 || jobs < 1 || wim_rsa_scratch_size(WIM_RSA_MAX_BITS) > sizeof scratch)
		return 2;
	printf("OpenSSL differential test (%s): %ld random inputs per key size over %d keys, %d jobs\n",
			OpenSSL_version(OPENSSL_VERSION), inputs, keys, jobs);
	fflush(stdout);
	double t0 = ossl_now_ms();
	/* Work items: (size, key); worker w takes items w, w + jobs, ... */
	int items = nsizes * keys, failed = 0;
	for (int w = 0; w < jobs; w++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			int fails = 0;
			if (ossl_store_init(&store) != WIM_OK)
				_exit(2);
			for (int it = w; it < items; it += jobs) {
				int si = it / keys, k = it % keys;
				long per = inputs / keys + (k < inputs % keys ? 1 : 0);
				fails += run_key(sizes[si], k, per, seed * 1000 + (uint64_t)sizes[si] + (uint64_t)k,
						private_every(sizes[si], all));
			}
			_exit(fails ? 1 : 0);
		}
	}
	for (int w = 0; w < jobs; w++) {
		int status;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	long total = (inputs + 4L * keys) * nsizes;
	if (failed) {
		printf("OpenSSL differential test FAILED\n");
		return 1;
	}
	long nprivate = 0;
	for (int si = 0; si < nsizes; si++) { /* the same count the workers made, recomputed */
		long every = private_every(sizes[si], all);
		for (int k = 0; k < keys; k++) {
			long per = inputs / keys + (k < inputs % keys ? 1 : 0);
			nprivate += 4 + (per + every - 1) / every;
		}
	}
	printf("OpenSSL differential test: %d keys accepted by OpenSSL; %ld private operations (%ld per size), "
			"each one's result mapped back to its input by OpenSSL's public operation, %ld of them also "
			"identical to OpenSSL's private operation; %.1f s\n", items, total, total / nsizes, nprivate,
			(ossl_now_ms() - t0) / 1e3);
	return 0;
}
