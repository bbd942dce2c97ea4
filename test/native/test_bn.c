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
	CHECK(wim_bn_cmp(A, B, n16) == -1 && wim_bn_cmp(B, A, n16) == 1 && wim_bn_cmp(A, A, n16) == 0);
	CHECK(wim_bn_lt(A, B, n16) == (wim_limb)-1 && wim_bn_lt(B, A, n16) == 0);
	CHECK(wim_bn_eq(A, A, n16) == (wim_limb)-1 && wim_bn_eq(A, B, n16) == 0);
	CHECK(wim_ct_nonzero_mask(0) == 0 && wim_ct_nonzero_mask(1) == (wim_limb)-1 &&
			wim_ct_nonzero_mask((wim_limb)1 << (WIM_LIMB_BITS - 1)) == (wim_limb)-1);
	wim_bn_cswap(A, B, (wim_limb)-1, n16);
	CHECK(same(A, n16, "1235", 2) && same(B, n16, "1234", 2));
	wim_bn_cswap(A, B, 0, n16);
	CHECK(same(A, n16, "1235", 2));
	CHECK(wim_bn_sub(C, B, A, n16) == 1 && wim_bn_add(C, C, A, n16) == 1 && wim_bn_eq(C, B, n16));
	CHECK(wim_bn_bitlen_vartime(A, n16) == 13);

	/* shifts */
	ld(A, n16, "8000000000000000000000000000000000000001", 20);
	wim_bn_shr(B, A, 159, n16);
	CHECK(same(B, n16, "01", 1));
	wim_bn_shr(B, A, 64, n16);
	CHECK(same(B, n16, "800000000000000000000000", 12));
	CHECK(wim_bn_shl1(B, A, n16) == 0);
	wim_bn_shr1(B, B, 0, n16);
	CHECK(wim_bn_eq(A, B, n16));

	/* product and reduction */
	ld(A, n16, kat_mul_x, 128);
	ld(B, n16, kat_mul_y, 128);
	wim_bn_mul(C, A, n16, B, n16);
	CHECK(same(C, n32, kat_mul_r, 256));
	ld(A, n32, kat_mod_a, 256);
	ld(B, n16, kat_mod_m, 128);
	wim_bn_mod(C, A, n32, B, n16, T);
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
}
