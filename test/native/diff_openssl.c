/*
 * diff_openssl.c — the differential test of the RSA core against OpenSSL's libcrypto (`make native-diff`).
 *
 * For each key size (2048, 3072, 4096): keys made by OUR key generation (seeded, so every run checks the
 * same keys) are imported into OpenSSL with all their CRT components; OpenSSL's full key check
 * (EVP_PKEY_check + EVP_PKEY_pairwise_check) must accept each one; then for random inputs below n, and
 * the edge inputs 0, 1, 2 and n-1, our raw private operation (wim_rsa_private: CRT, blinded, checked)
 * must equal OpenSSL's raw private operation (EVP_PKEY_decrypt, RSA_NO_PADDING) byte for byte.
 *
 *   native-diff [--inputs N] [--keys K] [--jobs J] [--sizes 2048,3072,4096] [--seed S]
 *     --inputs  random inputs per key size (default 10000), spread over the K keys (default 4)
 *     --jobs    worker processes (default 2); keys are dealt to them round-robin
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
static int run_key(uint32_t bits, int k, long inputs, uint64_t seed)
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
	EVP_PKEY_CTX *ctx = ossl_raw_ctx(pk);
	if (!ctx) {
		printf("FAIL %u-bit key %d: no OpenSSL context\n", (unsigned)bits, k);
		EVP_PKEY_free(pk);
		return 1;
	}
	const uint8_t *n = rec + WIM_RSA_KEY_HDR;
	long done = 0;
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
		if (rc != WIM_OK || ossl_raw_private(ctx, in, B, theirs) != 0 || memcmp(ours, theirs, B) != 0) {
			if (fails++ < 3)
				printf("FAIL %u-bit key %d input %ld: rc %d, results %s\n", (unsigned)bits, k, i, rc,
						memcmp(ours, theirs, B) ? "differ" : "equal");
		}
		done++;
	}
	printf("  %u-bit key %d: OpenSSL accepts it; %ld inputs (4 edge + %ld random), %ld identical  "
			"[%.1f s]\n", (unsigned)bits, k, done, inputs, done - fails, (ossl_now_ms() - t0) / 1e3);
	fflush(stdout);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return fails;
}

int main(int argc, char **argv)
{
	long inputs = 10000;
	int keys = 4, jobs = 2;
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
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			nsizes = 0;
			for (char *s = strtok(argv[++i], ","); s && nsizes < 3; s = strtok(NULL, ","))
				sizes[nsizes++] = (uint32_t)atoi(s);
		} else {
			fprintf(stderr, "usage: %s [--inputs N] [--keys K] [--jobs J] [--sizes 2048,3072,4096] "
					"[--seed S]\n", argv[0]);
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
				fails += run_key(sizes[si], k, per, seed * 1000 + (uint64_t)sizes[si] + (uint64_t)k);
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
	printf("OpenSSL differential test: %d keys accepted, %ld private operations identical to OpenSSL's "
			"(%d sizes) in %.1f s\n", items, total, nsizes, (ossl_now_ms() - t0) / 1e3);
	return 0;
}
