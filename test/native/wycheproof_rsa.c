/*
 * wycheproof_rsa.c — Wycheproof's RSA decryption vectors (PKCS#1 v1.5, OAEP) through the C core's private
 * operation (`make native-wycheproof-rsa`).
 *
 * Reads the lines of test/native/wycheproof_rsa.py, "tag n e p q dp dq qi ct raw" (hex), from the file
 * given as argument or from stdin. Each distinct key is imported once (wim_rsa_import) into a store on an
 * in-memory flash; then wim_rsa_private(ct), blinded with a seeded RNG, must equal `raw` (ct^d mod n,
 * computed by Python's integers) byte for byte, or, where raw is "-" (ct >= n), be refused with WIM_E_ARG.
 * The padding is not the core's business (it is removed in JavaScript), so every vector, valid or invalid
 * for the padding, has an exact raw result.
 *
 *   native-wycheproof-rsa [--seed S] [FILE]
 *
 * Prints "wycheproof RSA: N vectors, N passed, N refused as expected"; exits non-zero on any difference.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_tools.h"
#include "test_flash.h"
#include "wim_rsa_key.h"
#include "wim_store.h"

#define SECTOR 4096u
#define NSECT 64u
#define MAXB (WIM_RSA_MAX_BITS / 8)
#define LINE_MAX_LEN (2 * (2 * MAXB + 5 * (MAXB / 2) + MAXB) + 256)

static uint8_t flash_mem[SECTOR * NSECT];
static t_flash fl;
static wim_store st;
static uint64_t scratch_words[40000 / 8];

static int failures;
#define FAIL(...) do { failures++; fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); } while (0)

/* splitmix64: the seeded blinding source (a double of the hardware RNG; results must not depend on it). */
static uint64_t state = 0x5eedc0deull;
static int rng_fill(void *ctx, uint8_t *b, size_t n)
{
	(void)ctx;
	splitmix_fill(&state, b, n);
	return 0;
}
static const wim_rng RNG = { NULL, rng_fill };

/* Exactly `len` bytes from exactly 2*len hex digits; -1 otherwise. */
static int unhex(uint8_t *out, size_t len, const char *hex)
{
	return hex_decode(out, len, hex) == len ? 0 : -1;
}

/* The key of the previous line, to import each distinct key once. */
static char last_key[LINE_MAX_LEN];
static uint32_t key_id, keys;

/* Imports the key of fields[1..7] unless it is the previous line's. Returns the bit size, or 0. */
static uint32_t import_key(char **fields, const char *tag)
{
	static uint8_t n[MAXB], p[MAXB / 2], q[MAXB / 2], dp[MAXB / 2], dq[MAXB / 2], qi[MAXB / 2], mod[MAXB];
	static uint32_t bits;
	char key[LINE_MAX_LEN];
	snprintf(key, sizeof key, "%s %s %s %s %s %s %s", fields[1], fields[2], fields[3], fields[4], fields[5],
			fields[6], fields[7]);
	if (key_id && !strcmp(key, last_key))
		return bits;
	bits = (uint32_t)strlen(fields[1]) * 4;
	uint32_t B = bits / 8, H = bits / 16;
	unsigned long e = strtoul(fields[2], NULL, 16);
	if (bits < WIM_RSA_MIN_BITS || bits > WIM_RSA_MAX_BITS || unhex(n, B, fields[1]) || unhex(p, H, fields[3]) ||
			unhex(q, H, fields[4]) || unhex(dp, H, fields[5]) || unhex(dq, H, fields[6]) ||
			unhex(qi, H, fields[7])) {
		FAIL("%s: malformed key", tag);
		return 0;
	}
	int rc = wim_rsa_import(&st, key_id + 1, bits, (uint32_t)e, n, p, q, dp, dq, qi, scratch_words,
			sizeof scratch_words);
	if (rc == WIM_E_FULL) { /* a fresh store, and try again */
		t_flash_init(&fl, flash_mem, sizeof flash_mem, SECTOR);
		if (wim_store_format(&st, &fl.f) != WIM_OK) {
			FAIL("store format");
			return 0;
		}
		rc = wim_rsa_import(&st, key_id + 1, bits, (uint32_t)e, n, p, q, dp, dq, qi, scratch_words,
				sizeof scratch_words);
	}
	if (rc != WIM_OK) {
		FAIL("%s: wim_rsa_import returned %d", tag, rc);
		return 0;
	}
	key_id++;
	keys++;
	strcpy(last_key, key);
	uint32_t got_bits = 0;
	rc = wim_rsa_public(&st, key_id, mod, sizeof mod, &got_bits);
	if (rc != WIM_OK || got_bits != bits || memcmp(mod, n, B)) {
		FAIL("%s: wim_rsa_public gives another modulus (rc %d, %u bits)", tag, rc, (unsigned)got_bits);
		return 0;
	}
	return bits;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			state = strtoull(argv[++i], NULL, 0);
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "usage: %s [--seed S] [FILE]\n", argv[0]);
			return 2;
		}
	}
	FILE *f = path ? fopen(path, "r") : stdin;
	if (!f) {
		perror(path);
		return 2;
	}
	t_flash_init(&fl, flash_mem, sizeof flash_mem, SECTOR);
	if (wim_store_format(&st, &fl.f) != WIM_OK) {
		fprintf(stderr, "store format failed\n");
		return 2;
	}

	static char line[LINE_MAX_LEN];
	static uint8_t ct[MAXB], want[MAXB], out[MAXB];
	long total = 0, passed = 0, refused = 0;
	while (fgets(line, sizeof line, f)) {
		char *fields[11], *save = NULL;
		int nf = 0;
		for (char *t = strtok_r(line, " \t\r\n", &save); t && nf < 11; t = strtok_r(NULL, " \t\r\n", &save))
			fields[nf++] = t;
		if (nf == 0)
			continue;
		total++;
		if (nf != 10) {
			FAIL("line %ld: %d fields, not 10", total, nf);
			continue;
		}
		const char *tag = fields[0];
		uint32_t bits = import_key(fields, tag);
		if (!bits)
			continue;
		uint32_t B = bits / 8;
		int expect_refusal = !strcmp(fields[9], "-");
		if (unhex(ct, B, fields[8]) || (!expect_refusal && unhex(want, B, fields[9]))) {
			FAIL("%s: malformed ct or raw", tag);
			continue;
		}
		memset(out, 0xa5, B);
		int rc = wim_rsa_private(&st, key_id, ct, B, out, &RNG, scratch_words, sizeof scratch_words);
		if (expect_refusal) {
			int zeroed = 1;
			for (uint32_t i = 0; i < B; i++)
				zeroed &= out[i] == 0;
			if (rc != WIM_E_ARG || !zeroed)
				FAIL("%s: ct >= n not refused (rc %d, expected %d; output %s)", tag, rc, WIM_E_ARG,
						zeroed ? "zeroed" : "not zeroed");
			else
				refused++;
		} else if (rc != WIM_OK) {
			FAIL("%s: wim_rsa_private returned %d", tag, rc);
		} else if (memcmp(out, want, B)) {
			uint32_t i = 0;
			while (out[i] == want[i])
				i++;
			FAIL("%s: result differs from ct^d mod n from byte %u (got %02x, expected %02x)", tag,
					(unsigned)i, out[i], want[i]);
		} else {
			passed++;
		}
	}
	if (path)
		fclose(f);
	if (total == 0)
		FAIL("no vectors read");
	printf("wycheproof RSA: %ld vectors, %ld passed, %ld refused as expected (%d-bit limbs, %u keys)\n",
			total, passed, refused, WIM_LIMB_BITS, (unsigned)keys);
	if (failures)
		printf("FAILED: %d failures\n", failures);
	return failures ? 1 : 0;
}
