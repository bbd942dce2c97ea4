/* test_bn.c — the bignum core against known answers computed by Python (vectors.h). */
#include "test_util.h"
#include "vectors.h"
#include "wim_bn.h"
#include "wim_crc32.h"
#include "wim_rsa_key.h"

#include <string.h>

#define MAXL WIM_BN_LIMBS(4096)

static wim_limb A[MAXL], B[MAXL], C[MAXL], D[MAXL], E[MAXL], RR[MAXL], ONE[MAXL];
static wim_limb T[WIM_BN_MODEXP_SCRATCH(MAXL)];
static uint8_t buf[512], want[512];

/* r = a mod m, bit by bit (shift in a bit, subtract m when the value reached it): the test's own
 * reference, independent of the Montgomery code it checks. a of an limbs, m of mn limbs; t: mn limbs. */
static void ref_mod(wim_limb *r, const wim_limb *a, size_t an, const wim_limb *m, size_t mn, wim_limb *t)
{
	wim_bn_zero(r, mn);
	for (size_t i = an * WIM_LIMB_BITS; i-- > 0;) {
		wim_limb c = wim_bn_shl1(r, r, mn);
		r[0] |= wim_bn_bit(a, i);
		wim_limb bw = wim_bn_sub(t, r, m, mn);
		wim_bn_cmov(r, t, (wim_limb)0 - (c | (bw ^ 1)), mn);
	}
}

/* Loads big-endian hex into n limbs. */
static void ld(wim_limb *r, size_t n, const char *hex, size_t bytes)
{
	t_hex(buf, bytes, hex);
	wim_bn_from_be(r, n, buf, bytes);
}

/* Checks that r (n limbs) equals the hex value. */
static int same(const wim_limb *r, size_t n, const char *hex, size_t bytes)
{
	t_hex(want, bytes, hex);
	wim_bn_to_be(buf, bytes, r, n);
	return memcmp(buf, want, bytes) == 0;
}

static void exp_kat(size_t bits, const char *m, const char *a, const char *e, const char *r, const char *r65537)
{
	size_t n = WIM_BN_LIMBS(bits), bytes = bits / 8;
	wim_mont ctx;
	ld(A, n, m, bytes);
	ld(B, n, a, bytes);
	ld(C, n, e, bytes);
	wim_mont_init(&ctx, A, n, RR, ONE, T);
	wim_bn_mod_exp(D, B, C, bits, &ctx, T);
	CHECK(same(D, n, r, bytes));
	wim_bn_mod_exp_pub(D, B, 65537, &ctx, T);
	CHECK(same(D, n, r65537, bytes));
	/* the same exponent through the public path when it is small: a^5 two ways */
	wim_limb five[MAXL] = { 5 };
	wim_bn_mod_exp(D, B, five, 3, &ctx, T);
	wim_bn_mod_exp_pub(E, B, 5, &ctx, T);
	CHECK(wim_bn_eq(D, E, n));
	/* in place (r aliases a), and Montgomery round trip */
	wim_bn_copy(E, B, n);
	wim_bn_mod_exp(E, E, C, bits, &ctx, T);
	CHECK(same(E, n, r, bytes));
	wim_mont_to(E, B, &ctx, T);
	wim_mont_from(E, E, &ctx, T);
	CHECK(wim_bn_eq(E, B, n));
	/* exponent 0 gives 1 */
	wim_bn_zero(C, n);
	wim_bn_mod_exp(D, B, C, bits, &ctx, T);
	wim_bn_zero(E, n);
	E[0] = 1;
	CHECK(wim_bn_eq(D, E, n));
}

/* Random n-limb values; the modulus odd with its top bit set, a < m. */
static void rnd(wim_limb *r, size_t n, t_rng *g)
{
	for (size_t i = 0; i < n; i++)
		r[i] = (wim_limb)t_rng_next(g);
}

/* Montgomery arithmetic at every size the RSA core uses (1024..4096-bit moduli; with 64-bit limbs the
 * 16, 24 and 32-limb ones run the unrolled fixed-size code, the others the generic loops), against the
 * bit-serial wim_bn_mod, an independent path: mul, sqr, redc, mod, R^2, and the inverse. */
static void mont_random(int trials)
{
	static const size_t sizes[] = { 1024, 1536, 2048, 3072, 4096 };
	static wim_limb M[MAXL], X[2 * MAXL + 1], Y[2 * MAXL + 1], Z[MAXL];
	t_rng g;
	t_rng_init(&g, 99);
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		size_t n = WIM_BN_LIMBS(sizes[si]);
		int ok_mul = 1, ok_sqr = 1, ok_mod = 1, ok_rr = 1, ok_inv = 1;
		for (int tr = 0; tr < trials; tr++) {
			wim_mont ctx;
			rnd(M, n, &g);
			M[0] |= 1;
			M[n - 1] |= (wim_limb)1 << (WIM_LIMB_BITS - 1);
			if (tr == 0) /* the largest modulus: all ones */
				for (size_t i = 0; i < n; i++)
					M[i] = ~(wim_limb)0;
			wim_mont_init(&ctx, M, n, RR, ONE, T);
			/* R^2 mod m: 2^(2 n W) has 2n + 1 limbs */
			wim_bn_zero(X, 2 * n + 1);
			X[2 * n] = 1;
			ref_mod(Z, X, 2 * n + 1, M, n, T);
			ok_rr &= wim_bn_eq(Z, RR, n) != 0;
			/* a, b < m (a = m - 1 in the first trial) */
			rnd(A, n, &g);
			rnd(B, n, &g);
			A[n - 1] >>= 1;
			B[n - 1] >>= 1;
			if (tr == 0)
				wim_bn_sub_limb(A, M, 1, n);
			/* a*b mod m two ways */
			wim_bn_mul(X, A, n, B, n);
			ref_mod(C, X, 2 * n, M, n, T);
			wim_mont_mul(D, A, B, &ctx, T);
			wim_mont_mul(D, D, RR, &ctx, T);
			ok_mul &= wim_bn_eq(C, D, n) != 0;
			/* mont_mod of the same product (< m^2 < m R) */
			wim_mont_mod(E, X, 2 * n, &ctx, T);
			ok_mod &= wim_bn_eq(C, E, n) != 0;
			/* squaring equals the product with itself, aliasing included */
			wim_mont_mul(D, A, A, &ctx, T);
			wim_bn_copy(E, A, n);
			wim_mont_sqr(E, E, &ctx, T);
			ok_sqr &= wim_bn_eq(D, E, n) != 0;
			/* inverse: a * a^-1 = 1 (when gcd(a, m) = 1, which a random odd m almost always gives) */
			if (wim_bn_mod_inv_vartime(E, A, M, n, T) == 0) {
				wim_mont_mul(D, A, E, &ctx, T);
				wim_mont_mul(D, D, RR, &ctx, T);
				wim_bn_zero(Y, n);
				Y[0] = 1;
				ok_inv &= wim_bn_eq(D, Y, n) != 0;
			}
		}
		if (!CHECK(ok_mul && ok_sqr && ok_mod && ok_rr && ok_inv))
			printf("  mont at %zu bits: mul %d sqr %d mod %d rr %d inv %d\n", sizes[si], ok_mul, ok_sqr,
					ok_mod, ok_rr, ok_inv);
	}
	/* inverse edge cases: 0 and a common factor have none; m - 1 is its own inverse; 1 */
	size_t n = WIM_BN_LIMBS(2048);
	wim_bn_zero(A, n);
	CHECK(wim_bn_mod_inv_vartime(C, A, M, n, T) == -1);
	wim_bn_sub_limb(A, M, 1, n);
	CHECK(wim_bn_mod_inv_vartime(C, A, M, n, T) == 0 && wim_bn_eq(C, A, n));
	wim_bn_zero(A, n);
	A[0] = 1;
	CHECK(wim_bn_mod_inv_vartime(C, A, M, n, T) == 0 && wim_bn_eq(C, A, n));
	wim_bn_zero(M, n);
	M[0] = 63;
	wim_bn_zero(A, n);
	A[0] = 21;
	CHECK(wim_bn_mod_inv_vartime(C, A, M, n, T) == -1);
}

void test_bn(void)
{
	size_t n16 = WIM_BN_LIMBS(1024), n32 = WIM_BN_LIMBS(2048);

	CHECK(wim_crc32("123456789", 9) == 0xcbf43926u);

	/* bytes round trip, overflow detection, zero padding */
	for (int i = 0; i < 256; i++)
		want[i] = (uint8_t)(i * 7 + 1);
	CHECK(wim_bn_from_be(A, n32, want, 256) == 0);
	wim_bn_to_be(buf, 256, A, n32);
	CHECK(memcmp(buf, want, 256) == 0);
	CHECK(wim_bn_from_be(A, n16, want, 256) == -1);
	memset(want, 0, 200);
	CHECK(wim_bn_from_be(A, WIM_BN_LIMBS(8 * 56), want, 256) == 0);

	/* comparisons and masks */
	ld(A, n16, "1234", 2);
	ld(B, n16, "1235", 2);
	CHECK(wim_bn_lt(A, B, n16) == (wim_limb)-1 && wim_bn_lt(B, A, n16) == 0);
	CHECK(wim_bn_eq(A, A, n16) == (wim_limb)-1 && wim_bn_eq(A, B, n16) == 0);
	CHECK(wim_ct_nonzero_mask(0) == 0 && wim_ct_nonzero_mask(1) == (wim_limb)-1 &&
			wim_ct_nonzero_mask((wim_limb)1 << (WIM_LIMB_BITS - 1)) == (wim_limb)-1);
	wim_bn_cmov(A, B, 0, n16);
	CHECK(same(A, n16, "1234", 2));
	wim_bn_cmov(A, B, (wim_limb)-1, n16);
	CHECK(same(A, n16, "1235", 2));
	ld(B, n16, "1234", 2);
	CHECK(wim_bn_sub(C, B, A, n16) == 1 && wim_bn_add(C, C, A, n16) == 1 && wim_bn_eq(C, B, n16));
	CHECK(wim_bn_bitlen_vartime(A, n16) == 13);

	/* shifts */
	ld(A, n16, "8000000000000000000000000000000000000001", 20);
	wim_bn_shr(B, A, 159, n16);
	CHECK(same(B, n16, "01", 1));
	wim_bn_shr(B, A, 64, n16);
	CHECK(same(B, n16, "800000000000000000000000", 12));
	CHECK(wim_bn_shl1(B, A, n16) == 0);
	wim_bn_shr(B, B, 1, n16);
	CHECK(wim_bn_eq(A, B, n16));

	/* product and reduction */
	ld(A, n16, kat_mul_x, 128);
	ld(B, n16, kat_mul_y, 128);
	wim_bn_mul(C, A, n16, B, n16);
	CHECK(same(C, n32, kat_mul_r, 256));
	ld(A, n32, kat_mod_a, 256);
	ld(B, n16, kat_mod_m, 128);
	ref_mod(C, A, n32, B, n16, T); /* the test's reference itself against Python */
	CHECK(same(C, n16, kat_mod_r, 128));

	/* small moduli, exact division, e^-1 */
	ld(A, n16, kat_small_x, 128);
	for (size_t i = 0; i < sizeof kat_small_d / sizeof kat_small_d[0]; i++)
		CHECK(wim_bn_mod_small(A, n16, kat_small_d[i]) == kat_small_r[i]);
	ld(A, n16, kat_div_a, 128);
	wim_bn_divexact_small(B, A, 65537, n16);
	CHECK(same(B, n16, kat_div_q, 128));
	ld(A, n16, kat_inve_x, 128);
	CHECK(wim_rsa_inv_e(B, A, n16, 65537, T) == 0);
	CHECK(same(B, n16, kat_inve_r, 128));
	wim_bn_zero(A, n16);
	A[0] = 65537 * 3;
	CHECK(wim_rsa_inv_e(B, A, n16, 65537, T) == -1);

	/* inverse */
	ld(A, n16, kat_inv_m, 128);
	ld(B, n16, kat_inv_a, 128);
	CHECK(wim_bn_mod_inv_vartime(C, B, A, n16, T) == 0);
	CHECK(same(C, n16, kat_inv_r, 128));
	wim_bn_zero(A, n16);
	A[0] = 15;
	wim_bn_zero(B, n16);
	B[0] = 6;
	CHECK(wim_bn_mod_inv_vartime(C, B, A, n16, T) == -1);

	/* exponentiation */
	exp_kat(1024, kat_exp1024_m, kat_exp1024_a, kat_exp1024_e, kat_exp1024_r, kat_exp1024_r65537);
	exp_kat(2048, kat_exp2048_m, kat_exp2048_a, kat_exp2048_e, kat_exp2048_r, kat_exp2048_r65537);

	mont_random(8);
}
