/*
 * wim_bn.c — fixed-length bignum arithmetic for the RSA core (see wim_bn.h for the conventions).
 *
 * Constant time means here: the sequence of instructions and memory addresses depends only on the
 * lengths (public), never on the values. Conditions are turned into all-ones/zero masks. Carries and
 * borrows: with 64-bit limbs (PC hosts) they come out of double-width (__int128) arithmetic, which
 * x86-64 and AArch64 compile to add/adc and sub/sbb (checked by valgrind, `make native-ct`); with 32-bit
 * limbs (the ESP32s: rv32imc, Xtensa) they are computed from the top bits of the operands and the result
 * (wim_ct_carry, wim_ct_borrow in wim_bn.h), never from a comparison or a double-width sum, because a
 * comparison — and the carry between the words of a uint64_t sum — is a branch on Xtensa (no
 * set-if-less-than). The only double-width operation left there is the product (uint64_t)a * b: MULL +
 * MULUH on the ESP32's LX6/LX7, mul + mulhu on rv32imc. Checked on the disassembly of both ISAs
 * (`make native-ct-riscv`, `make native-ct-xtensa`).
 */
#include "wim_bn.h"

#include <string.h>

#define W WIM_LIMB_BITS

wim_limb wim_ct_nonzero_mask(wim_limb x)
{
	/* (x | -x) has its top bit set exactly when x != 0. */
	return (wim_limb)0 - ((x | ((wim_limb)0 - x)) >> (W - 1));
}

/*
 * r = a + b + *c, *c = the carry out (0/1); r = a - b - *bw, *bw = the borrow out. Two forms:
 * - the double-width sum, for 64-bit limbs (x86-64 and AArch64: add/adc, sub/sbb; `make native-ct`) and
 *   on RISC-V (rv32imc: add + sltu, no branch; `make native-ct-riscv` proves it), where it is the fastest;
 * - wim_ct_carry/wim_ct_borrow's bitwise majority of the top bits everywhere else with 32-bit limbs:
 *   Xtensa (ESP32, ESP32-S3), which compiles the carry of a double-width sum to a branch (`make
 *   native-ct-xtensa` proves this one branch-free), and the PC's -DWIM_LIMB_BITS=32 builds, whose results
 *   the tests compare with the 64-bit ones. On rv32imc the bitwise form costs 56 % more instructions on
 *   RSA-2048 (a carry is 6 instructions instead of one sltu): docs/rsa.md.
 */
#if WIM_LIMB_BITS == 64 || defined(__riscv)
static inline wim_limb addc(wim_limb a, wim_limb b, wim_limb *c)
{
	wim_dlimb s = (wim_dlimb)a + b + *c;
	*c = (wim_limb)(s >> W);
	return (wim_limb)s;
}

static inline wim_limb subb(wim_limb a, wim_limb b, wim_limb *bw)
{
	wim_dlimb d = (wim_dlimb)a - b - *bw;
	*bw = (wim_limb)(d >> W) & 1;
	return (wim_limb)d;
}
#else
static inline wim_limb addc(wim_limb a, wim_limb b, wim_limb *c)
{
	wim_limb s = a + b + *c;
	*c = wim_ct_carry(a, b, s);
	return s;
}

static inline wim_limb subb(wim_limb a, wim_limb b, wim_limb *bw)
{
	wim_limb d = a - b - *bw;
	*bw = wim_ct_borrow(a, b, d);
	return d;
}
#endif

void wim_bn_zero(wim_limb *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r[i] = 0;
}

void wim_bn_copy(wim_limb *r, const wim_limb *a, size_t n)
{
	if (r != a)
		memmove(r, a, n * sizeof(wim_limb));
}

wim_limb wim_bn_add(wim_limb *r, const wim_limb *a, const wim_limb *b, size_t n)
{
	wim_limb c = 0;
	for (size_t i = 0; i < n; i++)
		r[i] = addc(a[i], b[i], &c);
	return c;
}

wim_limb wim_bn_sub(wim_limb *r, const wim_limb *a, const wim_limb *b, size_t n)
{
	wim_limb bw = 0;
	for (size_t i = 0; i < n; i++)
		r[i] = subb(a[i], b[i], &bw);
	return bw;
}

wim_limb wim_bn_add_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n)
{
	wim_limb c = w;
	for (size_t i = 0; i < n; i++) {
		wim_limb s = a[i] + c;
		c = wim_ct_carry(a[i], c, s);
		r[i] = s;
	}
	return c;
}

wim_limb wim_bn_sub_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n)
{
	wim_limb bw = w;
	for (size_t i = 0; i < n; i++) {
		wim_limb d = a[i] - bw;
		bw = wim_ct_borrow(a[i], bw, d);
		r[i] = d;
	}
	return bw;
}

void wim_bn_cmov(wim_limb *r, const wim_limb *a, wim_limb mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r[i] ^= (r[i] ^ a[i]) & mask;
}

wim_limb wim_bn_is_zero(const wim_limb *a, size_t n)
{
	wim_limb acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= a[i];
	return ~wim_ct_nonzero_mask(acc);
}

wim_limb wim_bn_eq(const wim_limb *a, const wim_limb *b, size_t n)
{
	wim_limb acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= a[i] ^ b[i];
	return ~wim_ct_nonzero_mask(acc);
}

wim_limb wim_bn_lt(const wim_limb *a, const wim_limb *b, size_t n)
{
	wim_limb bw = 0;
	for (size_t i = 0; i < n; i++)
		(void)subb(a[i], b[i], &bw);
	return (wim_limb)0 - bw;
}

wim_limb wim_bn_shl1(wim_limb *r, const wim_limb *a, size_t n)
{
	wim_limb c = 0;
	for (size_t i = 0; i < n; i++) {
		wim_limb x = a[i];
		r[i] = (x << 1) | c;
		c = x >> (W - 1);
	}
	return c;
}

void wim_bn_shr(wim_limb *r, const wim_limb *a, size_t s, size_t n)
{
	size_t ls = s / W, bs = s % W;
	for (size_t i = 0; i < n; i++) {
		wim_limb lo = (i + ls < n) ? a[i + ls] : 0;
		wim_limb hi = (i + ls + 1 < n) ? a[i + ls + 1] : 0;
		r[i] = bs ? (lo >> bs) | (hi << (W - bs)) : lo;
	}
}

wim_limb wim_bn_bit(const wim_limb *a, size_t i)
{
	return (a[i / W] >> (i % W)) & 1;
}

size_t wim_bn_bitlen_vartime(const wim_limb *a, size_t n)
{
	size_t i = n;
	while (i > 0 && a[i - 1] == 0)
		i--;
	if (i == 0)
		return 0;
	wim_limb top = a[i - 1];
	size_t b = 0;
	while (top) {
		b++;
		top >>= 1;
	}
	return (i - 1) * W + b;
}

void wim_bn_mul(wim_limb *r, const wim_limb *a, size_t an, const wim_limb *b, size_t bn)
{
	wim_bn_zero(r, an + bn);
	for (size_t i = 0; i < bn; i++) {
		wim_limb c = 0, bi = b[i];
		for (size_t j = 0; j < an; j++) {
			/* a*b + r + c < 2^(2W): the high limb takes both carries without overflowing */
			wim_dlimb p = (wim_dlimb)a[j] * bi;
			wim_limb k = 0, lo = addc((wim_limb)p, r[i + j], &k);
			wim_limb k2 = 0;
			r[i + j] = addc(lo, c, &k2);
			c = (wim_limb)(p >> W) + k + k2;
		}
		r[i + an] = c;
	}
}

wim_limb wim_bn_mul_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n)
{
	wim_limb c = 0;
	for (size_t i = 0; i < n; i++) {
		wim_dlimb p = (wim_dlimb)a[i] * w;
		wim_limb k = 0;
		r[i] = addc((wim_limb)p, c, &k);
		c = (wim_limb)(p >> W) + k; /* a*w + c < 2^(2W) */
	}
	return c;
}

uint32_t wim_bn_mod_small(const wim_limb *a, size_t n, uint32_t d)
{
	/* Byte by byte: x = r*256 + byte < 2^32 since d < 2^24; q from a 32-bit reciprocal is at most
	 * two below the true quotient, fixed by two masked subtractions. */
	uint32_t mu = 0xffffffffu / d; /* d is public */
	uint32_t r = 0;
	for (size_t i = n; i-- > 0;) {
		for (int k = W - 8; k >= 0; k -= 8) {
			uint32_t x = (r << 8) | (uint32_t)((a[i] >> k) & 0xff);
			uint32_t q = (uint32_t)(((uint64_t)x * mu) >> 32);
			r = x - q * d;
			uint32_t ge = 1u ^ ((r - d) >> 31);
			r -= d & (0u - ge);
			ge = 1u ^ ((r - d) >> 31);
			r -= d & (0u - ge);
		}
	}
	return r;
}

/* The inverse of an odd x modulo 2^W, by Newton's iteration (each step doubles the correct bits). */
static wim_limb inv_limb(wim_limb x)
{
	wim_limb y = x; /* correct to 3 bits: x*x = 1 mod 8 for odd x */
	for (int i = 0; i < 5; i++)
		y *= 2 - x * y;
	return y;
}

void wim_bn_divexact_small(wim_limb *r, const wim_limb *a, uint32_t d, size_t n)
{
	wim_limb dinv = inv_limb((wim_limb)d);
	wim_limb c = 0;
	for (size_t i = 0; i < n; i++) {
		wim_limb bw = 0, l = subb(a[i], c, &bw);
		wim_limb q = l * dinv;
		r[i] = q;
		c = (wim_limb)(((wim_dlimb)q * d) >> W) + bw;
	}
}

/*
 * The Montgomery products below scan by columns (product scanning, "FIPS" in Koc's terms): column k of
 * a*b + u*m is summed into a three-limb accumulator (c0, c1, c2), the quotient limb u[k] is chosen so
 * that the column's low limb becomes zero, and the accumulator moves down one limb. Every product is one
 * multiply and two double-width additions of zero-extended limbs, with no stores in between, which is
 * about twice as fast as the row-by-row (CIOS) loop with __int128 on x86-64. The columns k >= n produce
 * the result, written over u[k-n] (no longer needed by then), so t holds n + 1 limbs and r may alias a
 * or b.
 *
 * Carries: never a comparison. A comparison of double-width values (the earlier `acc < product`) is a
 * branch on rv32imc (GCC compiles a 64-bit `<` there into bltu/beq on the high and low words), and on
 * Xtensa even the carry of a double-width sum of zero-extended words is a bltu over a move (no
 * set-if-less-than). So with 32-bit limbs every carry is wim_ct_carry's bitwise majority of the top bits
 * (addc), the only double-width operation being the product itself. The rv32 and Xtensa builds are
 * checked for this by test/native/ct_scan.py (`make native-ct-riscv`, `make native-ct-xtensa`).
 */
#if WIM_LIMB_BITS == 64
/* 64-bit limbs (x86-64, AArch64 hosts): the low two limbs summed as one unsigned __int128, whose carry
 * out compilers emit as the carry flag (add/adc/adc on x86-64, checked there by valgrind, `make
 * native-ct`); the three-limb form below is 2.5 times slower there. */
#define MAC(x, y) \
	do { \
		wim_dlimb pr_ = (wim_dlimb)(x) * (y); \
		wim_dlimb s_ = ((wim_dlimb)c1 << W | c0) + pr_; \
		c2 += s_ < pr_; \
		c0 = (wim_limb)s_; \
		c1 = (wim_limb)(s_ >> W); \
	} while (0)
#else
#define MAC(x, y) \
	do { \
		wim_dlimb pr_ = (wim_dlimb)(x) * (y); \
		wim_limb k_ = 0; \
		c0 = addc(c0, (wim_limb)pr_, &k_); \
		c1 = addc(c1, (wim_limb)(pr_ >> W), &k_); \
		c2 += k_; \
	} while (0)
#endif
#define SHIFT_ACC() \
	do { \
		c0 = c1; \
		c1 = c2; \
		c2 = 0; \
	} while (0)

/*
 * Speed on 64-bit hosts: the bodies below are inlined into a generic instance (any n) and, with GCC or
 * clang on 64-bit limbs, into one for n = 16 (the CRT halves of RSA-2048, the hot path) whose loops have
 * constant bounds and are unrolled completely: no loop overhead between the products (about a quarter
 * faster). The 32-bit build (the ESP32s) keeps only the generic loops, for code size.
 */
#if WIM_LIMB_BITS == 64 && defined(__GNUC__)
#define WIM_MONT_FIXED
#define UNROLL _Pragma("GCC unroll 64")
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define UNROLL
#define ALWAYS_INLINE inline
#endif

/* r = t mod m for t (n+1 limbs, value < 2m): one subtraction, kept or not by a mask. */
static ALWAYS_INLINE void mont_final(wim_limb *r, const wim_limb *t, const wim_mont *ctx, const size_t n)
{
	const wim_limb *m = ctx->m;
	wim_limb bw = 0;
	UNROLL for (size_t i = 0; i < n; i++)
		r[i] = subb(t[i], m[i], &bw);
	/* keep t when it was below m: no top limb and the subtraction borrowed */
	wim_limb keep = ~wim_ct_nonzero_mask(t[n]) & ((wim_limb)0 - bw);
	UNROLL for (size_t i = 0; i < n; i++)
		r[i] ^= (r[i] ^ t[i]) & keep;
}

/* The column accumulator: c0 + c1 * 2^W + c2 * 2^(2W). */
typedef struct acc3 { wim_limb c0, c1, c2; } acc3;

/* Columns 0..n-1: picks u[k]; the accumulator must already hold column k's product terms. */
static ALWAYS_INLINE void mont_col_low(wim_limb *u, size_t k, const wim_limb *m, wim_limb m0inv, acc3 *ac)
{
	wim_limb c0 = ac->c0, c1 = ac->c1, c2 = ac->c2;
	UNROLL for (size_t i = 0; i < k; i++)
		MAC(u[i], m[k - i]);
	wim_limb uk = c0 * m0inv;
	u[k] = uk;
	MAC(uk, m[0]);
	SHIFT_ACC();
	ac->c0 = c0;
	ac->c1 = c1;
	ac->c2 = c2;
}

/* Adds twice the off-diagonal products a[i]*a[k-i] (lo <= i < k-i) and the diagonal a[k/2]^2 of
 * column k to the accumulator. */
static ALWAYS_INLINE void sqr_col(const wim_limb *a, size_t k, size_t lo, acc3 *ac)
{
	wim_limb c0 = 0, c1 = 0, c2 = 0;
	UNROLL for (size_t i = lo; 2 * i < k; i++)
		MAC(a[i], a[k - i]);
	c2 = (c2 << 1) | (c1 >> (W - 1)); /* doubled: shifts, no carry to compute */
	c1 = (c1 << 1) | (c0 >> (W - 1));
	c0 <<= 1;
	if (!(k & 1)) /* public */
		MAC(a[k / 2], a[k / 2]);
	wim_limb cy = 0;
	ac->c0 = addc(ac->c0, c0, &cy);
	ac->c1 = addc(ac->c1, c1, &cy);
	ac->c2 += c2 + cy;
}

/* What the columns add besides the reduction: a*b, a^2, or the limbs of a (a Montgomery reduction). */
enum { MONT_MUL, MONT_SQR, MONT_REDC };

/* One routine for the three, so that the 32-bit build carries the column loop once (code size); the
 * 64-bit fixed-size instances get `mode` and `n` as constants and keep only their own code. For
 * MONT_REDC, a has an <= 2n limbs and b is unused. Every branch here is on public values: the column
 * and row counters k and i, n, an and the mode (test/native/ct_branches.txt lists them for rv32). */
static ALWAYS_INLINE void mont_core(wim_limb *r, const wim_limb *a, const wim_limb *b, size_t an,
		const wim_mont *ctx, wim_limb *t, const size_t n, const int mode)
{
	const wim_limb *m = ctx->m;
	wim_limb m0inv = ctx->m0inv;
	acc3 ac = { 0, 0, 0 };
	UNROLL for (size_t k = 0; k < 2 * n; k++) {
		size_t lo = k < n ? 0 : k - n + 1, top = k < n ? k : n - 1;
		if (mode == MONT_MUL) {
			wim_limb c0 = ac.c0, c1 = ac.c1, c2 = ac.c2;
			UNROLL for (size_t i = lo; i <= top; i++)
				MAC(a[i], b[k - i]);
			ac.c0 = c0;
			ac.c1 = c1;
			ac.c2 = c2;
		} else if (mode == MONT_SQR) {
			sqr_col(a, k, lo, &ac);
		} else if (k < an) {
			wim_limb cy = 0;
			ac.c0 = addc(ac.c0, a[k], &cy);
			ac.c1 = addc(ac.c1, 0, &cy);
			ac.c2 += cy;
		}
		if (k < n) {
			mont_col_low(t, k, m, m0inv, &ac);
		} else {
			wim_limb c0 = ac.c0, c1 = ac.c1, c2 = ac.c2;
			UNROLL for (size_t i = lo; i < n; i++)
				MAC(t[i], m[k - i]);
			t[k - n] = c0;
			SHIFT_ACC();
			ac.c0 = c0;
			ac.c1 = c1;
			ac.c2 = c2;
		}
	}
	t[n] = ac.c0;
	mont_final(r, t, ctx, n);
}

/* The generic instance: any n, any mode. */
static void mont_any(wim_limb *r, const wim_limb *a, const wim_limb *b, size_t an, const wim_mont *ctx,
		wim_limb *t, int mode)
{
	mont_core(r, a, b, an, ctx, t, ctx->n, mode);
}

#ifdef WIM_MONT_FIXED
#define FIXED_INSTANCES(N) \
	static void mont_mul_##N(wim_limb *r, const wim_limb *a, const wim_limb *b, const wim_mont *ctx, \
			wim_limb *t) \
	{ \
		mont_core(r, a, b, 0, ctx, t, N, MONT_MUL); \
	} \
	static void mont_sqr_##N(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t) \
	{ \
		mont_core(r, a, a, 0, ctx, t, N, MONT_SQR); \
	}
FIXED_INSTANCES(16)
FIXED_INSTANCES(24)
FIXED_INSTANCES(32)
#endif

void wim_mont_mul(wim_limb *r, const wim_limb *a, const wim_limb *b, const wim_mont *ctx, wim_limb *t)
{
#ifdef WIM_MONT_FIXED
	switch (ctx->n) { /* public */
	case 16:
		mont_mul_16(r, a, b, ctx, t);
		return;
	case 24:
		mont_mul_24(r, a, b, ctx, t);
		return;
	case 32:
		mont_mul_32(r, a, b, ctx, t);
		return;
	}
#endif
	mont_any(r, a, b, 0, ctx, t, MONT_MUL);
}

void wim_mont_sqr(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t)
{
#ifdef WIM_MONT_FIXED
	switch (ctx->n) { /* public */
	case 16:
		mont_sqr_16(r, a, ctx, t);
		return;
	case 24:
		mont_sqr_24(r, a, ctx, t);
		return;
	case 32:
		mont_sqr_32(r, a, ctx, t);
		return;
	}
#endif
	mont_any(r, a, a, 0, ctx, t, MONT_SQR);
}

void wim_mont_redc(wim_limb *r, const wim_limb *a, size_t an, const wim_mont *ctx, wim_limb *t)
{
	mont_any(r, a, NULL, an, ctx, t, MONT_REDC);
}

void wim_mont_init(wim_mont *ctx, const wim_limb *m, size_t n, wim_limb *rr, wim_limb *one, wim_limb *t)
{
	ctx->m = m;
	ctx->n = n;
	ctx->rr = rr;
	ctx->one = one;
	ctx->m0inv = (wim_limb)0 - inv_limb(m[0]);
	/* one = R mod m = R - m, since R/2 <= m < R. Then with n*W = j * 2^s (j odd; both public):
	 * j modular doublings give 2^j * R mod m, the Montgomery form of 2^j, and s Montgomery squarings
	 * raise it to 2^(j * 2^s) = R, whose Montgomery form is R^2 mod m. */
	wim_bn_zero(rr, n);
	wim_bn_sub(one, rr, m, n);
	size_t j = n * W, s = 0;
	while (!(j & 1)) {
		j >>= 1;
		s++;
	}
	wim_bn_copy(rr, one, n);
	for (size_t i = 0; i < j; i++) {
		wim_limb c = wim_bn_shl1(rr, rr, n);
		wim_limb bw = wim_bn_sub(t, rr, m, n);
		wim_bn_cmov(rr, t, (wim_limb)0 - (c | (bw ^ 1)), n);
	}
	for (size_t i = 0; i < s; i++)
		wim_mont_sqr(rr, rr, ctx, t);
}

void wim_mont_to(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t)
{
	wim_mont_mul(r, a, ctx->rr, ctx, t);
}

void wim_mont_from(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t)
{
	wim_mont_redc(r, a, ctx->n, ctx, t);
}

void wim_mont_mod(wim_limb *r, const wim_limb *a, size_t an, const wim_mont *ctx, wim_limb *t)
{
	wim_mont_redc(r, a, an, ctx, t);    /* a / R mod m */
	wim_mont_mul(r, r, ctx->rr, ctx, t); /* a mod m */
}

/* Bit i of e, or 0 past ebits (i and ebits public, the bit secret). */
static wim_limb exp_bit(const wim_limb *e, size_t i, size_t ebits)
{
	return i < ebits ? wim_bn_bit(e, i) : 0;
}

void wim_bn_mod_exp(wim_limb *r, const wim_limb *a, const wim_limb *e, size_t ebits, const wim_mont *ctx,
		wim_limb *t)
{
	size_t n = ctx->n;
	wim_limb *tab = t;           /* 16 entries: a^i in Montgomery form */
	wim_limb *acc = t + 16 * n;  /* the running power */
	wim_limb *sel = acc + n;     /* the selected table entry */
	wim_limb *mt = sel + n;      /* n + 2 */

	wim_bn_copy(tab, ctx->one, n);
	wim_mont_to(tab + n, a, ctx, mt);
	for (size_t i = 2; i < 16; i++) { /* even entries by squaring (cheaper), odd ones by a product */
		if (i & 1)
			wim_mont_mul(tab + i * n, tab + (i - 1) * n, tab + n, ctx, mt);
		else
			wim_mont_sqr(tab + i * n, tab + (i / 2) * n, ctx, mt);
	}
	wim_bn_copy(acc, ctx->one, n);

	size_t nwin = (ebits + 3) / 4;
	for (size_t w = nwin; w-- > 0;) {
		if (w + 1 != nwin) { /* public: the first window needs no squaring */
			for (int k = 0; k < 4; k++)
				wim_mont_sqr(acc, acc, ctx, mt);
		}
		wim_limb win = exp_bit(e, 4 * w, ebits) | exp_bit(e, 4 * w + 1, ebits) << 1 |
				exp_bit(e, 4 * w + 2, ebits) << 2 | exp_bit(e, 4 * w + 3, ebits) << 3;
		/* read every entry, keep the one whose index equals the (secret) window */
		wim_limb mask[16];
		for (size_t i = 0; i < 16; i++)
			mask[i] = ~wim_ct_nonzero_mask((wim_limb)i ^ win);
		for (size_t j = 0; j < n; j++) {
			wim_limb x = 0;
			UNROLL for (size_t i = 0; i < 16; i++)
				x |= tab[i * n + j] & mask[i];
			sel[j] = x;
		}
#ifdef WIM_PLANT_SECRET_BRANCH
		/* The self-test of `make native-ct-riscv` ONLY (never in a real build): a secret branch, the
		 * classic one — skip the product when the window digit is 0 (the product by 1 changes nothing),
		 * which both of its checks must catch. */
		if (w + 1 != nwin && win != 0)
			wim_mont_mul(acc, acc, sel, ctx, mt);
		else if (w + 1 != nwin)
			continue;
		else
#else
		if (w + 1 != nwin)
			wim_mont_mul(acc, acc, sel, ctx, mt);
		else
#endif
			wim_bn_copy(acc, sel, n); /* public: the first window is the start value */
	}
	wim_mont_from(r, acc, ctx, mt);
}

void wim_bn_mod_exp_pub(wim_limb *r, const wim_limb *a, uint32_t e, const wim_mont *ctx, wim_limb *t)
{
	size_t n = ctx->n;
	wim_limb *x = t, *acc = t + n, *mt = t + 2 * n;
	wim_mont_to(x, a, ctx, mt);
	wim_bn_copy(acc, x, n);
	int top = 31;
	while (top > 0 && !((e >> top) & 1)) /* e is public */
		top--;
	for (int i = top - 1; i >= 0; i--) {
		wim_mont_sqr(acc, acc, ctx, mt);
		if ((e >> i) & 1)
			wim_mont_mul(acc, acc, x, ctx, mt);
	}
	wim_mont_from(r, acc, ctx, mt);
}

/*
 * Modular inverse by Bernstein and Yang's "divsteps" (safegcd, 2019), in its variable-time form: the
 * inputs are public (or blinded). State: f odd, g, and a counter delta; one divstep is
 *     delta > 0 and g odd:  (delta, f, g) <- (1 - delta, g, (g - f) / 2)
 *     g odd:                (delta, f, g) <- (1 + delta, f, (g + f) / 2)
 *     g even:               (delta, f, g) <- (1 + delta, f, g / 2)
 * and from f = m, g = a it reaches g = 0 with f = +-gcd(m, a). The first DS steps depend only on the low
 * DS + 1 bits of f and g, so they run on single words and yield a matrix [[u, v], [q, r]] (entries at
 * most 2^DS in size) that is then applied once to the full numbers: f' = (u f + v g) / 2^DS,
 * g' = (q f + r g) / 2^DS, exactly. Cofactors d, e with f = d a and g = e a (mod m) follow with the same
 * matrix; their division by 2^DS is done modulo m by first adding k*m with k chosen to clear the low DS
 * bits (as in a Montgomery reduction). Numbers here are two's complement, n + 1 limbs.
 */
#define DS (W - 3) /* divsteps per batch: |u| + |v| <= 2^DS keeps the signed sums below 2^(2W-1) */

typedef struct { wim_limb u, v, q, r; } divmat; /* signed entries, stored as two's complement limbs */

#if WIM_LIMB_BITS == 64
typedef __int128 wim_sdlimb;
#else
typedef int64_t wim_sdlimb;
#endif

/* Arithmetic shift right by W of a signed double limb (portable: no reliance on >> of negatives). */
static wim_sdlimb sd_shift(wim_sdlimb x)
{
	wim_dlimb ux = (wim_dlimb)x;
	wim_dlimb sign = (wim_dlimb)0 - (ux >> (2 * W - 1));
	return (wim_sdlimb)((ux >> W) | (sign << W));
}

/* Signed value of a limb that holds a two's complement word. */
static wim_sdlimb sd_of(wim_limb x)
{
	return (wim_sdlimb)x - ((wim_sdlimb)(x >> (W - 1)) << W);
}

/* DS divsteps on the low words of f and g; returns the new delta. vartime. */
static long divsteps(long delta, wim_limb f, wim_limb g, divmat *t)
{
	wim_limb u = 1, v = 0, q = 0, r = 1;
	for (int i = 0; i < DS; i++) {
		if (g & 1) {
			if (delta > 0) {
				wim_limb nf = g, nu = q << 1, nv = r << 1;
				delta = 1 - delta;
				g = (g - f) >> 1;
				f = nf;
				q -= u;
				r -= v;
				u = nu;
				v = nv;
				continue;
			}
			delta++;
			g = (g + f) >> 1;
			q += u;
			r += v;
		} else {
			delta++;
			g >>= 1;
		}
		u <<= 1;
		v <<= 1;
	}
	t->u = u;
	t->v = v;
	t->q = q;
	t->r = r;
	return delta;
}

/* (x, y) <- ((mu x + mv y + ku m) / 2^DS, (mq x + mr y + kq m) / 2^DS) in place, x and y of n1 limbs
 * two's complement; m (mn limbs, mn < n1, extended with zeros) only when given. The sums must be exact
 * multiples of 2^DS and the results must fit in n1 limbs. */
static void apply_mat(wim_limb *x, wim_limb *y, size_t n1, const divmat *t, const wim_limb *m, size_t mn,
		wim_limb ku, wim_limb kq)
{
	wim_sdlimb cx = 0, cy = 0;
	wim_sdlimb u = sd_of(t->u), v = sd_of(t->v), q = sd_of(t->q), r = sd_of(t->r);
	wim_limb px = 0, py = 0;
	for (size_t i = 0; i < n1; i++) {
		wim_sdlimb xi = i + 1 < n1 ? (wim_sdlimb)x[i] : sd_of(x[i]);
		wim_sdlimb yi = i + 1 < n1 ? (wim_sdlimb)y[i] : sd_of(y[i]);
		cx += u * xi + v * yi;
		cy += q * xi + r * yi;
		if (m && i < mn) {
			cx += (wim_sdlimb)((wim_dlimb)ku * m[i]);
			cy += (wim_sdlimb)((wim_dlimb)kq * m[i]);
		}
		wim_limb lx = (wim_limb)cx, ly = (wim_limb)cy;
		if (i > 0) {
			x[i - 1] = (px >> DS) | (lx << (W - DS));
			y[i - 1] = (py >> DS) | (ly << (W - DS));
		}
		px = lx;
		py = ly;
		cx = sd_shift(cx);
		cy = sd_shift(cy);
	}
	x[n1 - 1] = (px >> DS) | ((wim_limb)cx << (W - DS));
	y[n1 - 1] = (py >> DS) | ((wim_limb)cy << (W - DS));
}

/* x (n1 = n + 1 limbs, two's complement, -2m < x < 2m) into [0, m). vartime. */
static void normalize(wim_limb *x, const wim_limb *m, size_t n)
{
	while (x[n] >> (W - 1)) { /* negative */
		x[n] += wim_bn_add(x, x, m, n);
	}
	while (x[n] || !wim_bn_lt(x, m, n)) {
		x[n] -= wim_bn_sub(x, x, m, n);
	}
}

int wim_bn_mod_inv_vartime(wim_limb *r, const wim_limb *a, const wim_limb *m, size_t n, wim_limb *t)
{
	size_t n1 = n + 1;
	wim_limb *f = t, *g = t + n1, *d = t + 2 * n1, *e = t + 3 * n1;
	wim_limb minv = inv_limb(m[0]), lowmask = ((wim_limb)1 << DS) - 1;
	long delta = 1;
	wim_bn_copy(f, m, n);
	f[n] = 0;
	wim_bn_copy(g, a, n);
	g[n] = 0;
	wim_bn_zero(d, n1);
	wim_bn_zero(e, n1);
	e[0] = 1;
	/* Bernstein–Yang bound: (49 b + 57) / 17 divsteps suffice for b-bit inputs (b >= 46). */
	size_t bits = n * W < 46 ? 46 : n * W, batches = ((49 * bits + 80) / 17) / DS + 2;
	for (size_t it = 0; it < batches && !wim_bn_is_zero(g, n1); it++) {
		divmat mt;
		delta = divsteps(delta, f[0], g[0], &mt);
		apply_mat(f, g, n1, &mt, NULL, 0, 0, 0);
		/* k for d and e: minus the low word of the combination times m^-1, modulo 2^DS */
		wim_limb ku = ((wim_limb)0 - (mt.u * d[0] + mt.v * e[0])) * minv & lowmask;
		wim_limb kq = ((wim_limb)0 - (mt.q * d[0] + mt.r * e[0])) * minv & lowmask;
		apply_mat(d, e, n1, &mt, m, n, ku, kq);
		normalize(d, m, n);
		normalize(e, m, n);
	}
	if (!wim_bn_is_zero(g, n1))
		return -1; /* not reached within the bound: cannot happen for valid inputs */
	/* f = +-1 when gcd(a, m) = 1 */
	wim_limb neg = f[n] >> (W - 1);
	if (neg) {
		wim_bn_zero(g, n1);
		wim_bn_sub(f, g, f, n1);
	}
	wim_bn_zero(g, n1);
	g[0] = 1;
	if (!wim_bn_eq(f, g, n1))
		return -1;
	if (neg)
		wim_bn_sub(d, m, d, n); /* d != 0: d a = -1 (mod m) */
	wim_bn_copy(r, d, n);
	return 0;
}

int wim_bn_from_be(wim_limb *r, size_t n, const uint8_t *in, size_t len)
{
	wim_limb ovf = 0;
	wim_bn_zero(r, n);
	for (size_t k = 0; k < len; k++) {
		uint8_t byte = in[len - 1 - k];
		size_t li = k / WIM_LIMB_BYTES;
		if (li < n) /* k is public */
			r[li] |= (wim_limb)byte << (8 * (k % WIM_LIMB_BYTES));
		else
			ovf |= byte;
	}
	return -(int)((ovf | ((wim_limb)0 - ovf)) >> (W - 1)); /* -1 if ovf != 0, without a branch */
}

void wim_bn_to_be(uint8_t *out, size_t len, const wim_limb *a, size_t n)
{
	for (size_t k = 0; k < len; k++) {
		size_t li = k / WIM_LIMB_BYTES;
		out[len - 1 - k] = li < n ? (uint8_t)(a[li] >> (8 * (k % WIM_LIMB_BYTES))) : 0;
	}
}

void wim_wipe(void *p, size_t len)
{
	volatile uint8_t *v = (volatile uint8_t *)p;
	while (len--)
		*v++ = 0;
}
