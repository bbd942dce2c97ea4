/*
 * test_util.h — the small harness shared by the C core's tests: checks that count, hex helpers and a
 * seeded random generator (a test double for the hardware RNG: deterministic, never used by a device).
 */
#ifndef WIM_TEST_UTIL_H
#define WIM_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wim_env.h"

extern int t_passed, t_failed;

#define CHECK(cond) t_check(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_RC(expr, want) t_check_rc((expr), (want), #expr, __FILE__, __LINE__)
int t_check(int ok, const char *what, const char *file, int line);
int t_check_rc(int got, int want, const char *what, const char *file, int line);

/* Decodes big-endian hex into exactly len bytes (left-padded with zeros). */
void t_hex(uint8_t *out, size_t len, const char *hex);

/* The seeded generator: a SplitMix64 stream. fail_after >= 0 makes fill fail after that many calls. */
typedef struct t_rng {
	wim_rng rng;
	uint64_t state;
	long calls;
	long fail_after;
} t_rng;
void t_rng_init(t_rng *r, uint64_t seed);
uint64_t t_rng_next(t_rng *r);

/* Monotonic milliseconds (0 where there is no clock). */
double t_now_ms(void);

/* The suites. emit_dir (may be NULL): where the RSA suite writes keys for the OpenSSL cross-check. */
void test_bn(void);
void test_rsa(int full, const char *emit_dir);
void test_store(int full);
void test_rsa_ct(void);
void test_ec(void);
void test_hash(void);
void test_ec_ct(void);
void test_ed25519(void);
void test_ed25519_ct(void);
void test_aead(void);
void test_aead_ct(void);

#endif
