/*
 * wim_bn.c — fixed-length bignum arithmetic for the RSA core (see wim_bn.h for the conventions).
 *
 * Constant time means here: the sequence of instructions and memory addresses depends only on the
 * lengths (public), never on the values. Conditions are turned into all-ones/zero masks; carries and
 * borrows come out of double-width arithmetic, not comparisons that a compiler could turn into branches.
 */
#include "wim_bn.h"

#include <string.h>

#define W WIM_LIMB_BITS

wim_limb wim_ct_nonzero_mask(wim_limb x)
{
	/* (x | -x) has its top bit set exactly when x != 0. */
	return (wim_limb)0 - ((x | ((wim_limb)0 - x)) >> (W - 1));
}

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
	for (size_t i = 0; i < n; i++) {
		wim_dlimb p = (wim_dlimb)a[i] + b[i] + c;
		r[i] = (wim_limb)p;
		c = (wim_limb)(p >> W);
	}
	return c;
}

wim_limb wim_bn_sub(wim_limb *r, const wim_limb *a, const wim_limb *b, size_t n)
{
	wim_limb bw = 0;
	for (size_t i = 0; i < n; i++) {
		wim_dlimb d = (wim_dlimb)a[i] - b[i] - bw;
		r[i] = (wim_limb)d;
		bw = (wim_limb)(d >> W) & 1;
	}
	return bw;
}

wim_limb wim_bn_add_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n)
{
	wim_limb c = w;
	for (size_t i = 0; i < n; i++) {
		wim_dlimb p = (wim_dlimb)a[i] + c;
		r[i] = (wim_limb)p;
		c = (wim_limb)(p >> W);
	}
	return c;
}

wim_limb wim_bn_sub_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n)
{
	wim_limb bw = w;
	for (size_t i = 0; i < n; i++) {
		wim_dlimb d = (wim_dlimb)a[i] - bw;
		r[i] = (wim_limb)d;
		bw = (wim_limb)(d >> W) & 1;
	}
	return bw;
}

void wim_bn_cmov(wim_limb *r, const wim_limb *a, wim_limb mask, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r[i] ^= (r[i] ^ a[i]) & mask;
}

void wim_bn_cswap(wim_limb *a, wim_limb *b, wim_limb mask, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		wim_limb x = (a[i] ^ b[i]) & mask;
		a[i] ^= x;
		b[i] ^= x;
	}
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
	for (size_t i = 0; i < n; i++) {
		wim_dlimb d = (wim_dlimb)a[i] - b[i] - bw;
		bw = (wim_limb)(d >> W) & 1;
	}
	return (wim_limb)0 - bw;
}

int wim_bn_cmp(const wim_limb *a, const wim_limb *b, size_t n)
{
	wim_limb lt = wim_bn_lt(a, b, n) & 1;
	wim_limb gt = wim_bn_lt(b, a, n) & 1;
	return (int)gt - (int)lt;
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

void wim_bn_shr1(wim_limb *r, const wim_limb *a, wim_limb top, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		wim_limb hi = (i + 1 < n) ? a[i + 1] : top;
		r[i] = (a[i] >> 1) | (hi << (W - 1));
	}
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
			wim_dlimb p = (wim_dlimb)a[j] * bi + r[i + j] + c;
			r[i + j] = (wim_limb)p;
			c = (wim_limb)(p >> W);
		}
		r[i + an] = c;
	}
}

wim_limb wim_bn_mul_limb(wim_limb *r, const wim_limb *a, wim_limb w, size_t n)
{
	wim_limb c = 0;
	for (size_t i = 0; i < n; i++) {
		wim_dlimb p = (wim_dlimb)a[i] * w + c;
		r[i] = (wim_limb)p;
		c = (wim_limb)(p >> W);
	}
	return c;
}

void wim_bn_mod(wim_limb *r, const wim_limb *a, size_t an, const wim_limb *m, size_t mn, wim_limb *t)
{
	/* Invariant r < m. Each step r = 2r + bit < 2m, then subtract m once if r >= m (counting the bit
	 * shifted out of the top limb). */
	wim_bn_zero(r, mn);
	for (size_t i = an * W; i-- > 0;) {
		wim_limb c = wim_bn_shl1(r, r, mn);
		r[0] |= wim_bn_bit(a, i);
		wim_limb bw = wim_bn_sub(t, r, m, mn);
		wim_limb take = (wim_limb)0 - (c | (bw ^ 1));
		wim_bn_cmov(r, t, take, mn);
	}
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
		wim_dlimb diff = (wim_dlimb)a[i] - c;
		wim_limb l = (wim_limb)diff;
		wim_limb bw = (wim_limb)(diff >> W) & 1;
		wim_limb q = l * dinv;
		r[i] = q;
		c = (wim_limb)(((wim_dlimb)q * d) >> W) + bw;
	}
}

void wim_mont_init(wim_mont *ctx, const wim_limb *m, size_t n, wim_limb *rr, wim_limb *one, wim_limb *t)
{
	ctx->m = m;
	ctx->n = n;
	ctx->rr = rr;
	ctx->one = one;
	ctx->m0inv = (wim_limb)0 - inv_limb(m[0]);
	/* one = R mod m: start from 1 and double n*W times modulo m (constant time in m). Then
	 * x = 2^k * R mod m, the Montgomery form of 2^k with k = n*W/32, and five Montgomery squarings
	 * make it the form of 2^(32k) = R, which is R^2 mod m. */
	wim_bn_zero(one, n);
	one[0] = 1;
	size_t k = n * W / 32;
	for (size_t i = 0; i < n * W + k; i++) {
		if (i == n * W)
			wim_bn_copy(rr, one, n);
		wim_limb *x = i < n * W ? one : rr;
		wim_limb c = wim_bn_shl1(x, x, n);
		wim_limb bw = wim_bn_sub(t, x, m, n);
		wim_bn_cmov(x, t, (wim_limb)0 - (c | (bw ^ 1)), n);
	}
	for (int i = 0; i < 5; i++)
		wim_mont_mul(rr, rr, rr, ctx, t);
}

/* t (n+1 limbs, value < 2m) → r = t mod m, by one masked subtraction. */
static void mont_final(wim_limb *r, const wim_limb *t, const wim_mont *ctx)
{
	size_t n = ctx->n;
	wim_limb bw = wim_bn_sub(r, t, ctx->m, n);
	/* keep t when it was below m: no top limb and the subtraction borrowed */
	wim_limb keep = ~wim_ct_nonzero_mask(t[n]) & ((wim_limb)0 - bw);
	wim_bn_cmov(r, t, keep, n);
}

/* One Montgomery reduction step on t[0..n+1]: adds u*m so that t[0] becomes 0, shifts down a limb. */
static inline void mont_reduce_step(wim_limb *t, const wim_mont *ctx)
{
	size_t n = ctx->n;
	const wim_limb *m = ctx->m;
	wim_limb u = t[0] * ctx->m0inv;
	wim_dlimb p = (wim_dlimb)u * m[0] + t[0];
	wim_limb c = (wim_limb)(p >> W);
	for (size_t j = 1; j < n; j++) {
		p = (wim_dlimb)u * m[j] + t[j] + c;
		t[j - 1] = (wim_limb)p;
		c = (wim_limb)(p >> W);
	}
	p = (wim_dlimb)t[n] + c;
	t[n - 1] = (wim_limb)p;
	t[n] = t[n + 1] + (wim_limb)(p >> W);
	t[n + 1] = 0;
}

void wim_mont_mul(wim_limb *r, const wim_limb *a, const wim_limb *b, const wim_mont *ctx, wim_limb *t)
{
	/* Interleaved multiply and reduce (one pass over t per limb of b). Invariant: t < 2m, so after the
	 * loop one masked subtraction gives the result. */
	size_t n = ctx->n;
	const wim_limb *m = ctx->m;
	wim_bn_zero(t, n + 2);
	for (size_t i = 0; i < n; i++) {
		wim_limb bi = b[i];
		wim_dlimb p1 = (wim_dlimb)a[0] * bi + t[0];
		wim_limb c1 = (wim_limb)(p1 >> W), lo = (wim_limb)p1;
		wim_limb u = lo * ctx->m0inv;
		wim_dlimb p2 = (wim_dlimb)u * m[0] + lo; /* low limb is 0 by the choice of u */
		wim_limb c2 = (wim_limb)(p2 >> W);
		for (size_t j = 1; j < n; j++) {
			p1 = (wim_dlimb)a[j] * bi + t[j] + c1;
			c1 = (wim_limb)(p1 >> W);
			p2 = (wim_dlimb)u * m[j] + (wim_limb)p1 + c2;
			c2 = (wim_limb)(p2 >> W);
			t[j - 1] = (wim_limb)p2;
		}
		wim_dlimb p = (wim_dlimb)t[n] + c1 + c2;
		t[n - 1] = (wim_limb)p;
		t[n] = (wim_limb)(p >> W);
	}
	mont_final(r, t, ctx);
}

void wim_mont_to(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t)
{
	wim_mont_mul(r, a, ctx->rr, ctx, t);
}

void wim_mont_from(wim_limb *r, const wim_limb *a, const wim_mont *ctx, wim_limb *t)
{
	size_t n = ctx->n;
	wim_bn_copy(t, a, n);
	t[n] = 0;
	t[n + 1] = 0;
	for (size_t i = 0; i < n; i++)
		mont_reduce_step(t, ctx);
	mont_final(r, t, ctx);
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
	for (size_t i = 2; i < 16; i++)
		wim_mont_mul(tab + i * n, tab + (i - 1) * n, tab + n, ctx, mt);
	wim_bn_copy(acc, ctx->one, n);

	size_t nwin = (ebits + 3) / 4;
	for (size_t w = nwin; w-- > 0;) {
		if (w + 1 != nwin) { /* public: the first window starts from 1, no squaring needed */
			for (int k = 0; k < 4; k++)
				wim_mont_mul(acc, acc, acc, ctx, mt);
		}
		wim_limb win = exp_bit(e, 4 * w, ebits) | exp_bit(e, 4 * w + 1, ebits) << 1 |
				exp_bit(e, 4 * w + 2, ebits) << 2 | exp_bit(e, 4 * w + 3, ebits) << 3;
		/* read every entry, keep the one whose index equals the (secret) window */
		wim_bn_zero(sel, n);
		for (size_t i = 0; i < 16; i++) {
			wim_limb mask = ~wim_ct_nonzero_mask((wim_limb)i ^ win);
			const wim_limb *ent = tab + i * n;
			for (size_t j = 0; j < n; j++)
				sel[j] |= ent[j] & mask;
		}
		wim_mont_mul(acc, acc, sel, ctx, mt);
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
		wim_mont_mul(acc, acc, acc, ctx, mt);
		if ((e >> i) & 1)
			wim_mont_mul(acc, acc, x, ctx, mt);
	}
	wim_mont_from(r, acc, ctx, mt);
}

/* x = x / 2 mod m (m odd, x < m). */
static void half_mod(wim_limb *x, const wim_limb *m, size_t n)
{
	wim_limb odd = (wim_limb)0 - (x[0] & 1);
	wim_limb c = 0;
	for (size_t i = 0; i < n; i++) { /* x += m & odd */
		wim_dlimb p = (wim_dlimb)x[i] + (m[i] & odd) + c;
		x[i] = (wim_limb)p;
		c = (wim_limb)(p >> W);
	}
	wim_bn_shr1(x, x, c, n);
}

/* x = x - y mod m (x, y < m). */
static void sub_mod(wim_limb *x, const wim_limb *y, const wim_limb *m, size_t n)
{
	wim_limb bw = wim_bn_sub(x, x, y, n);
	wim_limb c = 0, mask = (wim_limb)0 - bw;
	for (size_t i = 0; i < n; i++) {
		wim_dlimb p = (wim_dlimb)x[i] + (m[i] & mask) + c;
		x[i] = (wim_limb)p;
		c = (wim_limb)(p >> W);
	}
}

int wim_bn_mod_inv_vartime(wim_limb *r, const wim_limb *a, const wim_limb *m, size_t n, wim_limb *t)
{
	/* Invariants: x1*a = u, x2*a = v (mod m); v stays odd. Ends with u = 0, v = gcd(a, m). */
	wim_limb *u = t, *v = t + n, *x1 = t + 2 * n, *x2 = t + 3 * n;
	wim_bn_copy(u, a, n);
	wim_bn_copy(v, m, n);
	wim_bn_zero(x1, n);
	x1[0] = 1;
	wim_bn_zero(x2, n);
	while (!wim_bn_is_zero(u, n)) {
		while ((u[0] & 1) == 0) {
			wim_bn_shr1(u, u, 0, n);
			half_mod(x1, m, n);
		}
		if (!wim_bn_lt(u, v, n)) {
			wim_bn_sub(u, u, v, n);
			sub_mod(x1, x2, m, n);
		} else {
			wim_bn_sub(v, v, u, n);
			sub_mod(x2, x1, m, n);
			while ((v[0] & 1) == 0) {
				wim_bn_shr1(v, v, 0, n);
				half_mod(x2, m, n);
			}
		}
	}
	wim_bn_sub_limb(v, v, 1, n);
	if (!wim_bn_is_zero(v, n))
		return -1;
	wim_bn_copy(r, x2, n);
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
	return ovf ? -1 : 0;
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
