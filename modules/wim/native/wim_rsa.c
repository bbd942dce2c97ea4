/*
 * wim_rsa.c — RSA private operation (CRT, blinded, self-checked) and key generation.
 *
 * Secret: p, q, dp, dq, qinv, the blinding factor r and its inverse, every intermediate of the private
 * operation, and the accepted prime candidates. Public: n, e, bits, the input and the output, and
 * REJECTED prime candidates (keygen may branch on why a candidate failed; a failed candidate is thrown
 * away and never becomes part of a key).
 *
 * Known, accepted leaks (documented rather than hidden): Miller–Rabin runs s-1 squarings where 2^s is the
 * largest power of two dividing w-1 (s of an accepted prime; a few bits), and the random base of each
 * round is drawn again if it is < 2 (public). Keygen publishes each test's verdict (divisible by a small
 * prime, e | p-1, |p-q| too small, a failed M-R round): for an accepted prime every verdict is "passed".
 *
 * Checked by `make native-ct`: the private operation and a key generation run under Valgrind with the
 * secrets marked (wim_ct.h); a branch or a memory index computed from them fails the check.
 *
 * Working memory is carved out of the caller's scratch by a layout function that runs twice: once
 * without a base to measure (wim_rsa_scratch_size), once with the caller's buffer.
 */
#include "wim_rsa_key.h"
#include "wim_ct.h"

#include <string.h>

#define W WIM_LIMB_BITS
#define SMALL_PRIME_LIMIT 2048 /* trial division by the odd primes below this */
#define MAX_SMALL_PRIMES 310   /* there are 308 odd primes below 2048 */
#define MAX_CANDIDATES 100000  /* per prime; a working RNG needs ~0.35 * bits */

/* ---- scratch layout ---- */

typedef struct lay {
	uint8_t *base; /* NULL when measuring */
	size_t used;
} lay;

static void *take(lay *l, size_t bytes)
{
	size_t off = l->used;
	l->used += (bytes + 7) & ~(size_t)7;
	return l->base ? (void *)(l->base + off) : NULL;
}

#define TAKE_LIMBS(l, n) ((wim_limb *)take((l), (n) * sizeof(wim_limb)))

static uint8_t *align8(void *p)
{
	uintptr_t a = (uintptr_t)p;
	return (uint8_t *)((a + 7) & ~(uintptr_t)7);
}

static int valid_bits(uint32_t bits)
{
	return bits >= WIM_RSA_MIN_BITS && bits <= WIM_RSA_MAX_BITS && bits % (2 * W) == 0;
}

/* Buffers of the private operation. */
typedef struct priv_bufs {
	uint8_t *key;
	wim_limb *n, *p, *q, *dp, *dq, *qinv;
	wim_limb *rrn, *onen, *rrp, *onep, *rrq, *oneq;
	wim_limb *c, *r, *s, *rinv, *cb, *m1, *m2, *h, *m, *chk, *work;
} priv_bufs;

static size_t priv_layout(uint32_t bits, uint8_t *base, priv_bufs *b)
{
	size_t L = WIM_BN_LIMBS(bits), H = WIM_BN_LIMBS(bits / 2);
	size_t work = WIM_BN_MODEXP_SCRATCH(H);
	if (work < WIM_BN_MODEXP_PUB_SCRATCH(L))
		work = WIM_BN_MODEXP_PUB_SCRATCH(L);
	if (work < WIM_BN_MODINV_SCRATCH(L))
		work = WIM_BN_MODINV_SCRATCH(L);
	if (work < 2 * L + 2)
		work = 2 * L + 2;
	lay l = { base, 0 };
	b->key = take(&l, WIM_RSA_KEY_LEN(bits));
	b->n = TAKE_LIMBS(&l, L);
	b->p = TAKE_LIMBS(&l, H);
	b->q = TAKE_LIMBS(&l, H);
	b->dp = TAKE_LIMBS(&l, H);
	b->dq = TAKE_LIMBS(&l, H);
	b->qinv = TAKE_LIMBS(&l, H);
	b->rrn = TAKE_LIMBS(&l, L);
	b->onen = TAKE_LIMBS(&l, L);
	b->rrp = TAKE_LIMBS(&l, H);
	b->onep = TAKE_LIMBS(&l, H);
	b->rrq = TAKE_LIMBS(&l, H);
	b->oneq = TAKE_LIMBS(&l, H);
	b->c = TAKE_LIMBS(&l, L);
	b->r = TAKE_LIMBS(&l, L);
	b->s = TAKE_LIMBS(&l, L);
	b->rinv = TAKE_LIMBS(&l, L);
	b->cb = TAKE_LIMBS(&l, L);
	b->m1 = TAKE_LIMBS(&l, H);
	b->m2 = TAKE_LIMBS(&l, H);
	b->h = TAKE_LIMBS(&l, H);
	b->m = TAKE_LIMBS(&l, L);
	b->chk = TAKE_LIMBS(&l, L);
	b->work = TAKE_LIMBS(&l, work);
	return l.used;
}

/* Buffers of key generation. */
typedef struct gen_bufs {
	uint8_t *key, *rnd;
	uint16_t *primes;
	wim_limb *p, *q, *n, *dp, *dq, *qinv;
	wim_limb *cand, *rr, *one, *w1, *mexp, *base, *z, *minus1, *diff, *work;
} gen_bufs;

static size_t gen_layout(uint32_t bits, uint8_t *base, gen_bufs *b)
{
	size_t L = WIM_BN_LIMBS(bits), H = WIM_BN_LIMBS(bits / 2);
	size_t work = WIM_BN_MODEXP_SCRATCH(H);
	if (work < L + 2)
		work = L + 2;
	lay l = { base, 0 };
	b->key = take(&l, WIM_RSA_KEY_LEN(bits));
	b->rnd = take(&l, bits / 16);
	b->primes = take(&l, MAX_SMALL_PRIMES * sizeof(uint16_t));
	b->p = TAKE_LIMBS(&l, H);
	b->q = TAKE_LIMBS(&l, H);
	b->n = TAKE_LIMBS(&l, L);
	b->dp = TAKE_LIMBS(&l, H);
	b->dq = TAKE_LIMBS(&l, H);
	b->qinv = TAKE_LIMBS(&l, H);
	b->cand = TAKE_LIMBS(&l, H);
	b->rr = TAKE_LIMBS(&l, H);
	b->one = TAKE_LIMBS(&l, H);
	b->w1 = TAKE_LIMBS(&l, H);
	b->mexp = TAKE_LIMBS(&l, H);
	b->base = TAKE_LIMBS(&l, H);
	b->z = TAKE_LIMBS(&l, H);
	b->minus1 = TAKE_LIMBS(&l, H);
	b->diff = TAKE_LIMBS(&l, H);
	b->work = TAKE_LIMBS(&l, work);
	return l.used;
}

size_t wim_rsa_scratch_size(uint32_t bits)
{
	priv_bufs pb;
	gen_bufs gb;
	if (bits > WIM_RSA_MAX_BITS)
		return 0;
	size_t a = priv_layout(bits, NULL, &pb), g = gen_layout(bits, NULL, &gb);
	return (a > g ? a : g) + 8; /* + alignment slack */
}

/* ---- small helpers ---- */

static void put_u16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* x mod d for x < 2^48 and a public d < 2^24, constant time in x. */
static uint32_t small_mod48(uint64_t x, uint32_t d)
{
	uint32_t mu = 0xffffffffu / d, r = 0;
	/* the next byte from the top by a constant shift: a 64-bit shift by a variable count is a branch on
	 * rv32 (on the count only, but the scan of `make native-ct-riscv` wants no forward branch here) */
	for (int k = 0; k < 6; k++, x <<= 8) {
		uint32_t y = (r << 8) | (uint32_t)((x >> 40) & 0xff);
		uint32_t qq = (uint32_t)(((uint64_t)y * mu) >> 32);
		r = y - qq * d;
		r -= d & (0u - (1u ^ ((r - d) >> 31)));
		r -= d & (0u - (1u ^ ((r - d) >> 31)));
	}
	return r;
}

int wim_rsa_inv_e(wim_limb *out, const wim_limb *x, size_t n, uint32_t e, wim_limb *t)
{
	/* With u = x mod e and k = -u^-1 mod e, k*x + 1 is a multiple of e and (k*x + 1)/e * e = 1 mod x.
	 * u^-1 by Fermat (e prime): u^(e-2), the square-and-multiply following the public e. */
	uint32_t u = wim_bn_mod_small(x, n, e);
	uint32_t divides = u == 0;
	WIM_PUBLIC(&divides, sizeof divides); /* only the verdict: e | x rejects the input */
	if (divides)
		return -1;
	uint32_t inv = 1, pw = e - 2;
	int top = 31;
	while (!((pw >> top) & 1))
		top--;
	for (int i = top; i >= 0; i--) {
		inv = small_mod48((uint64_t)inv * inv, e);
		if ((pw >> i) & 1)
			inv = small_mod48((uint64_t)inv * u, e);
	}
	uint32_t k = e - inv;
	t[n] = wim_bn_mul_limb(t, x, (wim_limb)k, n);
	wim_bn_add_limb(t, t, 1, n + 1);
	wim_bn_divexact_small(t, t, e, n + 1);
	wim_bn_copy(out, t, n);
	wim_wipe(t, (n + 1) * sizeof(wim_limb));
	return 0;
}

static int rng_fill(const wim_rng *rng, uint8_t *buf, size_t len)
{
	if (!rng || !rng->fill)
		return WIM_E_RNG;
	int rc = rng->fill(rng->ctx, buf, len);
	return rc < 0 ? rc : rc ? WIM_E_RNG : WIM_OK; /* a WIM_E_* from the source (e.g. WIM_E_CANCELED) passes */
}

/* ---- the stored key ---- */

static void serialize(uint8_t *key, uint32_t bits, uint32_t e, const wim_limb *n, const wim_limb *p,
		const wim_limb *q, const wim_limb *dp, const wim_limb *dq, const wim_limb *qinv)
{
	size_t B = bits / 8, Hb = bits / 16, L = WIM_BN_LIMBS(bits), H = WIM_BN_LIMBS(bits / 2);
	uint8_t *o = key;
	o[0] = WIM_RSA_KEY_VERSION;
	put_u16(o + 1, bits);
	put_u32(o + 3, e);
	o += WIM_RSA_KEY_HDR;
	wim_bn_to_be(o, B, n, L);
	o += B;
	wim_bn_to_be(o, Hb, p, H);
	o += Hb;
	wim_bn_to_be(o, Hb, q, H);
	o += Hb;
	wim_bn_to_be(o, Hb, dp, H);
	o += Hb;
	wim_bn_to_be(o, Hb, dq, H);
	o += Hb;
	wim_bn_to_be(o, Hb, qinv, H);
}

/* Reads the key header of SECRET record `id`: its bits and e. */
static int key_header(wim_store *st, uint32_t id, uint32_t *bits, uint32_t *e)
{
	uint8_t hdr[WIM_RSA_KEY_HDR];
	uint32_t total;
	int rc = wim_store_read_secret_at(st, id, 0, hdr, sizeof hdr, &total);
	if (rc)
		return rc;
	if (hdr[0] != WIM_RSA_KEY_VERSION)
		return WIM_E_CORRUPT;
	*bits = (uint32_t)hdr[1] << 8 | hdr[2];
	*e = get_u32(hdr + 3);
	if (!valid_bits(*bits) || total != WIM_RSA_KEY_LEN(*bits) || *e < 3 || !(*e & 1))
		return WIM_E_CORRUPT;
	return WIM_OK;
}

int wim_rsa_public(wim_store *st, uint32_t id, uint8_t *modulus_out, uint32_t cap, uint32_t *bits)
{
	uint32_t b, e, total;
	if (!st || !bits)
		return WIM_E_ARG;
	int rc = key_header(st, id, &b, &e);
	if (rc)
		return rc;
	*bits = b;
	if (!modulus_out || cap < b / 8)
		return WIM_E_TOOBIG;
	return wim_store_read_secret_at(st, id, WIM_RSA_KEY_HDR, modulus_out, b / 8, &total);
}

/* ---- private operation ---- */

/* A random r with 0 < r < 2^(bits-1) <= n (n has its top bit set). */
static int random_below_n(wim_limb *r, size_t L, uint32_t bits, uint8_t *buf, const wim_rng *rng)
{
	for (int tries = 0; tries < 64; tries++) {
		int rc = rng_fill(rng, buf, bits / 8);
		if (rc)
			return rc;
		buf[0] &= 0x7f;
		wim_bn_from_be(r, L, buf, bits / 8);
		if (!wim_bn_is_zero(r, L)) /* a zero draw is thrown away (public) */
			return WIM_OK;
	}
	return WIM_E_RNG;
}

static int private_op(priv_bufs *b, uint32_t bits, uint32_t e, const uint8_t *in, uint8_t *out,
		const wim_rng *rng)
{
	size_t L = WIM_BN_LIMBS(bits), H = WIM_BN_LIMBS(bits / 2);
	size_t B = bits / 8, Hb = bits / 16;
	const uint8_t *k = b->key + WIM_RSA_KEY_HDR;
	wim_mont cn, cp, cq;
	wim_limb *w = b->work;
	int rc;

	wim_bn_from_be(b->n, L, k, B);
	k += B;
	wim_bn_from_be(b->p, H, k, Hb);
	k += Hb;
	wim_bn_from_be(b->q, H, k, Hb);
	k += Hb;
	wim_bn_from_be(b->dp, H, k, Hb);
	k += Hb;
	wim_bn_from_be(b->dq, H, k, Hb);
	k += Hb;
	wim_bn_from_be(b->qinv, H, k, Hb);
	/* shape checks on the public n (a key with wrong p or q fails the final check) */
	if (!(b->n[0] & 1) || wim_bn_bit(b->n, bits - 1) != 1)
		return WIM_E_CORRUPT;

	wim_bn_from_be(b->c, L, in, B);
	if (!wim_bn_lt(b->c, b->n, L)) /* input and n are public */
		return WIM_E_ARG;

	wim_mont_init(&cn, b->n, L, b->rrn, b->onen, w);
	wim_mont_init(&cp, b->p, H, b->rrp, b->onep, w);
	wim_mont_init(&cq, b->q, H, b->rrq, b->oneq, w);

	/* Blinding: cb = c * r^e, so cb^d = m * r. r^-1 = s * (r*s/R)^-1 / R: r*s/R is uniformly random and
	 * independent of r (s is), so the variable-time inversion of it tells nothing about r. */
	for (int tries = 0;; tries++) {
		if (tries == 8)
			return WIM_E_RNG;
		if ((rc = random_below_n(b->r, L, bits, (uint8_t *)b->m, rng)) != 0)
			return rc;
		if ((rc = random_below_n(b->s, L, bits, (uint8_t *)b->m, rng)) != 0)
			return rc;
		WIM_SECRET(b->r, L * sizeof(wim_limb));
		WIM_SECRET(b->s, L * sizeof(wim_limb));
		wim_mont_mul(b->m, b->r, b->s, &cn, w);      /* r*s/R */
		WIM_PUBLIC(b->m, L * sizeof(wim_limb));      /* uniformly random, independent of r */
		if (wim_bn_mod_inv_vartime(b->chk, b->m, b->n, L, w) == 0)
			break; /* else r*s shares a factor with n: draw again */
	}
	wim_mont_mul(b->rinv, b->s, b->chk, &cn, w);     /* s * R/(r*s) / R = r^-1 */
	wim_bn_mod_exp_pub(b->cb, b->r, e, &cn, w);      /* r^e */
	wim_mont_mul(b->cb, b->cb, b->c, &cn, w);
	wim_mont_mul(b->cb, b->cb, b->rrn, &cn, w);      /* cb = c * r^e mod n */

	/* CRT: m1 = cb^dp mod p, m2 = cb^dq mod q, h = qinv (m1 - m2) mod p, m = m2 + h q. cb < n < p R and
	 * q R, so the reductions are Montgomery reductions, not divisions. */
	wim_mont_mod(b->m1, b->cb, L, &cp, w);
	wim_bn_mod_exp(b->m1, b->m1, b->dp, bits / 2, &cp, w);
	wim_mont_mod(b->m2, b->cb, L, &cq, w);
	wim_bn_mod_exp(b->m2, b->m2, b->dq, bits / 2, &cq, w);
	/* m2 mod p: m2 < q < 2p (p and q both have exactly bits/2 bits), so at most one subtraction */
	wim_limb bw = wim_bn_sub(b->h, b->m2, b->p, H);
	wim_bn_cmov(b->h, b->m2, (wim_limb)0 - bw, H);
	bw = wim_bn_sub(b->h, b->m1, b->h, H);
	{
		/* h += p if the subtraction borrowed; the carries from the top bits (wim_ct_carry: no
		 * comparison, which Xtensa would compile to a branch) */
		wim_limb mask = (wim_limb)0 - bw, c = 0;
		for (size_t i = 0; i < H; i++) {
			wim_limb x = b->h[i], y = b->p[i] & mask, s = x + y + c;
			c = wim_ct_carry(x, y, s);
			b->h[i] = s;
		}
	}
	wim_mont_mul(b->h, b->qinv, b->h, &cp, w);        /* qinv < R, h < p */
	wim_mont_mul(b->h, b->h, b->rrp, &cp, w);        /* h = qinv (m1 - m2) mod p */
	wim_bn_mul(b->m, b->h, H, b->q, H);              /* h q, 2H = L limbs */
	wim_bn_zero(b->chk, L);
	wim_bn_copy(b->chk, b->m2, H);
	wim_bn_add(b->m, b->m, b->chk, L);               /* m*r = m2 + h q */

	/* unblind and check: m = (m r) r^-1; m^e must give back c */
	wim_mont_mul(b->m, b->m, b->rinv, &cn, w);
	wim_mont_mul(b->m, b->m, b->rrn, &cn, w);
	wim_bn_mod_exp_pub(b->chk, b->m, e, &cn, w);
	wim_limb ok = wim_bn_eq(b->chk, b->c, L);
	WIM_PUBLIC(&ok, sizeof ok); /* whether the check passed is published (as the return code) */
	if (!ok)
		return WIM_E_FAULT;
	WIM_PUBLIC(b->m, L * sizeof(wim_limb)); /* the result */
	wim_bn_to_be(out, B, b->m, L);
	return WIM_OK;
}

int wim_rsa_private(wim_store *st, uint32_t id, const uint8_t *in, uint32_t len, uint8_t *out,
		const wim_rng *rng, void *scratch, size_t scratch_len)
{
	uint32_t bits, e, total;
	priv_bufs b;
	if (!st || !in || !out)
		return WIM_E_ARG;
	int rc = key_header(st, id, &bits, &e);
	if (rc)
		return rc;
	if (len != bits / 8)
		return WIM_E_ARG;
	if (!scratch || scratch_len < wim_rsa_scratch_size(bits))
		return WIM_E_SCRATCH;
	uint8_t *base = align8(scratch);
	size_t used = priv_layout(bits, base, &b);
	rc = wim_store_read_secret(st, id, b.key, WIM_RSA_KEY_LEN(bits), &total);
	WIM_SECRET(b.key + WIM_RSA_KEY_HDR + bits / 8, 5 * (bits / 16)); /* p, q, dp, dq, qinv */
	if (rc == WIM_OK)
		rc = private_op(&b, bits, e, in, out, rng);
	if (rc != WIM_OK)
		memset(out, 0, len);
	wim_wipe(base, used);
	return rc;
}

int wim_rsa_import(wim_store *st, uint32_t id, uint32_t bits, uint32_t e, const uint8_t *n, const uint8_t *p,
		const uint8_t *q, const uint8_t *dp, const uint8_t *dq, const uint8_t *qinv, void *scratch,
		size_t scratch_len)
{
	priv_bufs b;
	if (!st || !n || !p || !q || !dp || !dq || !qinv || !valid_bits(bits) || e < 3 || !(e & 1))
		return WIM_E_ARG;
	if (!scratch || scratch_len < wim_rsa_scratch_size(bits))
		return WIM_E_SCRATCH;
	size_t L = WIM_BN_LIMBS(bits), H = WIM_BN_LIMBS(bits / 2);
	size_t B = bits / 8, Hb = bits / 16;
	uint8_t *base = align8(scratch);
	size_t used = priv_layout(bits, base, &b);
	wim_bn_from_be(b.n, L, n, B);
	wim_bn_from_be(b.p, H, p, Hb);
	wim_bn_from_be(b.q, H, q, Hb);
	wim_bn_from_be(b.dp, H, dp, Hb);
	wim_bn_from_be(b.dq, H, dq, Hb);
	wim_bn_from_be(b.qinv, H, qinv, Hb);
	wim_bn_mul(b.m, b.p, H, b.q, H);
	int rc = WIM_OK;
	if (!(b.n[0] & 1) || wim_bn_bit(b.n, bits - 1) != 1 || !wim_bn_eq(b.m, b.n, L))
		rc = WIM_E_ARG;
	if (rc == WIM_OK) {
		serialize(b.key, bits, e, b.n, b.p, b.q, b.dp, b.dq, b.qinv);
		rc = wim_store_put(st, id, WIM_KIND_SECRET, b.key, WIM_RSA_KEY_LEN(bits));
	}
	wim_wipe(base, used);
	return rc;
}

/* ---- key generation ---- */

/* Miller–Rabin rounds per prime size: FIPS 186-5 Table B.1 (probable primes p, q), the stricter column:
 * 5 rounds for 1024-bit primes (error probability 2^-112), 4 for 1536-bit (2^-128), 4 for 2048-bit (2^-144).
 * Also from FIPS 186-5 B.3.3: a fresh random odd candidate each time, p, q >= 1.5 * 2^(k-1) > sqrt(2) * 2^(k-1)
 * (top two bits set), gcd(e, p-1) = 1, |p - q| > 2^(k-100). Not done: the d > 2^(nlen/2) check (d is
 * never formed; with e = 65537 and random primes it holds with overwhelming probability). */
static int mr_rounds(size_t kbits)
{
	return kbits >= 1536 ? 4 : 5;
}

/* Odd primes below SMALL_PRIME_LIMIT by a sieve over the candidates themselves (public data). */
static size_t small_primes(uint16_t *out)
{
	size_t np = 0;
	for (uint32_t c = 3; c < SMALL_PRIME_LIMIT && np < MAX_SMALL_PRIMES; c += 2) {
		int prime = 1;
		for (size_t i = 0; i < np && (uint32_t)out[i] * out[i] <= c; i++) {
			if (c % out[i] == 0) {
				prime = 0;
				break;
			}
		}
		if (prime)
			out[np++] = (uint16_t)c;
	}
	return np;
}

/* 1 if w (odd, kbits bits, H limbs) passes `rounds` Miller–Rabin rounds, 0 if composite, <0 on error.
 * The exponentiations are the constant-time ones; see the file comment for what the round structure
 * reveals about an accepted prime. */
static int miller_rabin(gen_bufs *b, const wim_limb *w, size_t H, size_t kbits, int rounds, const wim_rng *rng)
{
	wim_mont ctx;
	wim_limb *t = b->work;
	wim_mont_init(&ctx, w, H, b->rr, b->one, t);
	wim_bn_sub_limb(b->w1, w, 1, H);
	size_t s = 1;
	for (;;) { /* s is published (see the file comment) */
		wim_limb bit = wim_bn_bit(b->w1, s);
		WIM_PUBLIC(&bit, sizeof bit);
		if (bit)
			break;
		s++;
	}
	wim_bn_shr(b->mexp, b->w1, s, H);
	wim_bn_sub(b->minus1, w, ctx.one, H); /* -1 in Montgomery form: m - R mod m */

	for (int round = 0; round < rounds; round++) {
		size_t kb = kbits / 8;
		do { /* a base below 2^(kbits-8) < w, and >= 2 */
			int rc = rng_fill(rng, b->rnd, kb - 1);
			if (rc)
				return rc;
			wim_bn_from_be(b->base, H, b->rnd, kb - 1);
		} while (wim_bn_bitlen_vartime(b->base, H) < 2);
		wim_bn_mod_exp(b->z, b->base, b->mexp, kbits, &ctx, t);
		wim_mont_to(b->z, b->z, &ctx, t);
		wim_limb pass = wim_bn_eq(b->z, ctx.one, H) | wim_bn_eq(b->z, b->minus1, H);
		for (size_t j = 1; j < s; j++) {
			wim_mont_mul(b->z, b->z, b->z, &ctx, t);
			pass |= wim_bn_eq(b->z, b->minus1, H);
		}
		WIM_PUBLIC(&pass, sizeof pass); /* a failed round rejects the candidate */
		if (!pass)
			return 0;
	}
	return 1;
}

/* A random prime of kbits bits (top two bits set) into out, with e not dividing out-1, and, if other
 * is given, |out - other| >= 2^(kbits-100). */
static int gen_prime(gen_bufs *b, size_t np, wim_limb *out, size_t kbits, const wim_limb *other, uint32_t e,
		const wim_rng *rng)
{
	size_t H = WIM_BN_LIMBS(kbits), kb = kbits / 8;
	for (long attempt = 0; attempt < MAX_CANDIDATES; attempt++) {
		int rc = rng_fill(rng, b->rnd, kb);
		if (rc)
			return rc;
		b->rnd[0] |= 0xc0;
		b->rnd[kb - 1] |= 1;
		wim_bn_from_be(b->cand, H, b->rnd, kb);
		WIM_SECRET(b->cand, H * sizeof(wim_limb));

		/* Each test below publishes only its verdict: the verdicts of an accepted prime are all
		 * "passed", and a rejected candidate is thrown away. */
		size_t i;
		for (i = 0; i < np; i++) {
			uint32_t res = wim_bn_mod_small(b->cand, H, b->primes[i]);
			WIM_PUBLIC(&res, sizeof res);
			if (res == 0)
				break;
		}
		if (i < np)
			continue; /* rejected: divisible by a small prime */
		uint32_t res = wim_bn_mod_small(b->cand, H, e) == 1;
		WIM_PUBLIC(&res, sizeof res);
		if (res)
			continue; /* rejected: gcd(e, cand - 1) != 1 */
		if (other) {
			wim_limb bw = wim_bn_sub(b->diff, b->cand, other, H);
			wim_bn_sub(b->z, other, b->cand, H);
			wim_bn_cmov(b->diff, b->z, (wim_limb)0 - bw, H);
			wim_bn_shr(b->diff, b->diff, kbits - 100, H);
			wim_limb close = wim_bn_is_zero(b->diff, H);
			WIM_PUBLIC(&close, sizeof close);
			if (close)
				continue; /* rejected: too close to the other prime */
		}
		rc = miller_rabin(b, b->cand, H, kbits, mr_rounds(kbits), rng);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			wim_bn_copy(out, b->cand, H);
			return WIM_OK;
		}
	}
	return WIM_E_RNG; /* no prime in MAX_CANDIDATES draws: the RNG is broken */
}

int wim_rsa_generate(wim_store *st, uint32_t id, uint32_t bits, const wim_rng *rng, uint8_t *modulus_out,
		void *scratch, size_t scratch_len)
{
	gen_bufs b;
	if (!st || !modulus_out || (bits != 2048 && bits != 3072 && bits != 4096))
		return WIM_E_ARG;
	if (!scratch || scratch_len < wim_rsa_scratch_size(bits))
		return WIM_E_SCRATCH;
	size_t L = WIM_BN_LIMBS(bits), H = WIM_BN_LIMBS(bits / 2), kbits = bits / 2;
	uint32_t e = WIM_RSA_E;
	uint8_t *base = align8(scratch);
	size_t used = gen_layout(bits, base, &b);
	size_t np = small_primes(b.primes);
	wim_mont ctx;
	int rc;

	if ((rc = gen_prime(&b, np, b.p, kbits, NULL, e, rng)) != 0)
		goto out;
	if ((rc = gen_prime(&b, np, b.q, kbits, b.p, e, rng)) != 0)
		goto out;
	wim_bn_mul(b.n, b.p, H, b.q, H);
	/* dp, dq: e^-1 mod p-1, q-1 (e does not divide them: checked during the search) */
	wim_bn_sub_limb(b.w1, b.p, 1, H);
	if (wim_rsa_inv_e(b.dp, b.w1, H, e, b.work)) {
		rc = WIM_E_FAULT;
		goto out;
	}
	wim_bn_sub_limb(b.w1, b.q, 1, H);
	if (wim_rsa_inv_e(b.dq, b.w1, H, e, b.work)) {
		rc = WIM_E_FAULT;
		goto out;
	}
	/* qinv = q^(p-2) mod p (p prime) */
	wim_mont_init(&ctx, b.p, H, b.rr, b.one, b.work);
	wim_limb qbw = wim_bn_sub(b.z, b.q, b.p, H);       /* q mod p: q < 2p, one subtraction at most */
	wim_bn_cmov(b.z, b.q, (wim_limb)0 - qbw, H);
	wim_bn_sub_limb(b.mexp, b.p, 2, H);
	wim_bn_mod_exp(b.qinv, b.z, b.mexp, kbits, &ctx, b.work);

	WIM_PUBLIC(b.n, L * sizeof(wim_limb)); /* the modulus is published */
	serialize(b.key, bits, e, b.n, b.p, b.q, b.dp, b.dq, b.qinv);
	WIM_PUBLIC(b.key, WIM_RSA_KEY_LEN(bits)); /* handed to the store (its CRC is constant time) */
	rc = wim_store_put(st, id, WIM_KIND_SECRET, b.key, WIM_RSA_KEY_LEN(bits));
	if (rc == WIM_OK)
		wim_bn_to_be(modulus_out, bits / 8, b.n, L);
out:
	wim_wipe(base, used);
	return rc;
}
