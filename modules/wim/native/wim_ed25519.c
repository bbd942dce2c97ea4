/*
 * wim_ed25519.c — Ed25519 signing, public keys and key generation (see wim_ed25519.h).
 *
 * Field elements are NL-limb numbers below p in Montgomery form (x·R mod p, R = 2^256); scalars are
 * NL-limb numbers below L in normal form. Byte strings are little-endian, as RFC 8032 has them.
 */
#include <string.h>

#include "wim_bn.h"
#include "wim_ct.h"
#include "wim_ed25519.h"
#include "wim_sha512.h"

#define NL WIM_BN_LIMBS(256)

/* Constants, little-endian: the group order L, R mod L, R^2 mod L, the curve's d, the base point's x, y. */
static const uint8_t consts[6][32] = {
	{ 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10 },
	{ 0x1d, 0x95, 0x98, 0x8d, 0x74, 0x31, 0xec, 0xd6, 0x70, 0xcf, 0x7d, 0x73, 0xf4, 0x5b, 0xef, 0xc6,
	  0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f },
	{ 0x01, 0x0f, 0x9c, 0x44, 0xe3, 0x11, 0x06, 0xa4, 0x47, 0x93, 0x85, 0x68, 0xa7, 0x1b, 0x0e, 0xd0,
	  0x65, 0xbe, 0xf5, 0x17, 0xd2, 0x73, 0xec, 0xce, 0x3d, 0x9a, 0x30, 0x7c, 0x1b, 0x41, 0x99, 0x03 },
	{ 0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
	  0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52 },
	{ 0x1a, 0xd5, 0x25, 0x8f, 0x60, 0x2d, 0x56, 0xc9, 0xb2, 0xa7, 0x25, 0x95, 0x60, 0xc7, 0x2c, 0x69,
	  0x5c, 0xdc, 0xd6, 0xfd, 0x31, 0xe2, 0xa4, 0xc0, 0xfe, 0x53, 0x6e, 0xcd, 0xd3, 0x36, 0x69, 0x21 },
	{ 0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
	  0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66 },
};
enum { C_L, C_RL, C_RRL, C_D, C_BX, C_BY };

/* Everything one operation needs; lives in the caller's scratch and is wiped before returning. */
typedef struct ed_ctx {
	wim_mont fp, fl;
	wim_limb p[NL], prr[NL], pone[NL], pm2[NL];
	wim_limb l[NL], lrr[NL], lone[NL];
	wim_limb d[NL], d2[NL];          /* d and 2d, Montgomery form */
	wim_limb g[4 * NL];              /* the base point B, extended, Montgomery form */
	wim_limb mt[NL + 2];             /* Montgomery scratch */
	wim_limb f[8 * NL];              /* the formulas' temporaries */
	wim_limb tab[16 * 4 * NL];       /* 0·B .. 15·B */
	wim_limb acc[4 * NL], sel[4 * NL];
	wim_limb ex[WIM_BN_MODEXP_SCRATCH(NL)];
	wim_limb a[NL], r[NL], k[NL], s[NL], u[NL], x[NL], y[NL];
	uint8_t h[WIM_SHA512_LEN];       /* SHA-512(seed): the scalar a (clamped), then the prefix */
	uint8_t hr[WIM_SHA512_LEN];      /* a hash to reduce mod L */
	uint8_t pub[WIM_ED25519_PUBLIC], rb[WIM_ED25519_PUBLIC], seed[WIM_ED25519_SEED];
	wim_sha512 sha;
} ed_ctx;

size_t wim_ed25519_scratch_size(void)
{
	return sizeof(ed_ctx);
}

/* ---- little-endian bytes and limbs ---- */

static void from_le(wim_limb *r, const uint8_t *in)
{
	wim_bn_zero(r, NL);
	for (size_t i = 0; i < 32; i++)
		r[i / WIM_LIMB_BYTES] |= (wim_limb)in[i] << (8 * (i % WIM_LIMB_BYTES));
}

static void to_le(uint8_t *out, const wim_limb *a)
{
	for (size_t i = 0; i < 32; i++)
		out[i] = (uint8_t)(a[i / WIM_LIMB_BYTES] >> (8 * (i % WIM_LIMB_BYTES)));
}

/* ---- field and scalar arithmetic ---- */

/* r = a + b mod m (a, b < m). */
static void mod_add(ed_ctx *c, const wim_limb *m, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	wim_limb carry = wim_bn_add(r, a, b, NL);
	wim_limb borrow = wim_bn_sub(c->mt, r, m, NL);
	wim_bn_cmov(r, c->mt, (wim_limb)0 - (carry | (borrow ^ 1)), NL);
}

static void fadd(ed_ctx *c, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	mod_add(c, c->p, r, a, b);
}

/* r = a - b mod p (a, b < p). */
static void fsub(ed_ctx *c, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	wim_limb borrow = wim_bn_sub(r, a, b, NL);
	wim_bn_add(c->mt, r, c->p, NL);
	wim_bn_cmov(r, c->mt, (wim_limb)0 - borrow, NL);
}

static void fmul(ed_ctx *c, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	wim_mont_mul(r, a, b, &c->fp, c->mt);
}

static void fsqr(ed_ctx *c, wim_limb *r, const wim_limb *a)
{
	wim_mont_sqr(r, a, &c->fp, c->mt);
}

/* r = the 64-byte little-endian number in mod L: hi·2^256 + lo as (hi·R^2)/R + ((lo·R^2)/R)/R, each a
 * Montgomery product of a number below R with one below L (so below 2L before its final subtraction). */
static void reduce512(ed_ctx *c, wim_limb *r, const uint8_t in[64])
{
	from_le(c->x, in + 32);
	wim_mont_mul(c->u, c->x, c->lrr, &c->fl, c->mt); /* hi·R mod L */
	from_le(c->x, in);
	wim_mont_mul(c->y, c->x, c->lrr, &c->fl, c->mt); /* lo·R mod L */
	wim_mont_from(c->y, c->y, &c->fl, c->mt);          /* lo mod L */
	mod_add(c, c->l, r, c->u, c->y);
}

/* ---- points: extended (X:Y:Z:T), x = X/Z, y = Y/Z, T = XY/Z; 4·NL limbs, Montgomery form ---- */

#define X_(P) (P)
#define Y_(P) ((P) + NL)
#define Z_(P) ((P) + 2 * NL)
#define T_(P) ((P) + 3 * NL)
#define F(i) (c->f + (i) * NL)

/* R = P + Q (add-2008-hwcd-3, a = -1, complete here). R may alias P or Q. */
static void padd(ed_ctx *c, wim_limb *R, const wim_limb *P, const wim_limb *Q)
{
	fsub(c, F(0), Y_(P), X_(P));
	fsub(c, F(1), Y_(Q), X_(Q));
	fmul(c, F(0), F(0), F(1));     /* A = (Y1 - X1)(Y2 - X2) */
	fadd(c, F(1), Y_(P), X_(P));
	fadd(c, F(2), Y_(Q), X_(Q));
	fmul(c, F(1), F(1), F(2));     /* B = (Y1 + X1)(Y2 + X2) */
	fmul(c, F(2), T_(P), T_(Q));
	fmul(c, F(2), F(2), c->d2);    /* C = 2d·T1·T2 */
	fmul(c, F(3), Z_(P), Z_(Q));
	fadd(c, F(3), F(3), F(3));     /* D = 2·Z1·Z2 */
	fsub(c, F(4), F(1), F(0));     /* E = B - A */
	fadd(c, F(5), F(1), F(0));     /* H = B + A */
	fsub(c, F(6), F(3), F(2));     /* F = D - C */
	fadd(c, F(7), F(3), F(2));     /* G = D + C */
	fmul(c, X_(R), F(4), F(6));
	fmul(c, Y_(R), F(7), F(5));
	fmul(c, T_(R), F(4), F(5));
	fmul(c, Z_(R), F(6), F(7));
}

/* R = 2P (dbl-2008-hwcd, a = -1, with E, F, G negated and H = A + B: the same point). R may alias P. */
static void pdbl(ed_ctx *c, wim_limb *R, const wim_limb *P)
{
	fsqr(c, F(0), X_(P));          /* A = X1^2 */
	fsqr(c, F(1), Y_(P));          /* B = Y1^2 */
	fsqr(c, F(2), Z_(P));
	fadd(c, F(2), F(2), F(2));     /* C = 2·Z1^2 */
	fadd(c, F(3), F(0), F(1));     /* H' = A + B */
	fadd(c, F(4), X_(P), Y_(P));
	fsqr(c, F(4), F(4));
	fsub(c, F(4), F(3), F(4));     /* E' = A + B - (X1 + Y1)^2 */
	fsub(c, F(5), F(0), F(1));     /* G' = A - B */
	fadd(c, F(6), F(2), F(5));     /* F' = C + G' */
	fmul(c, X_(R), F(4), F(6));
	fmul(c, Y_(R), F(5), F(3));
	fmul(c, T_(R), F(4), F(3));
	fmul(c, Z_(R), F(6), F(5));
}

/* All-ones if P is on the curve: Y^2 - X^2 = Z^2 + d·T^2, X·Y = Z·T, Z != 0. */
static wim_limb on_curve(ed_ctx *c, const wim_limb *P)
{
	fsqr(c, F(0), X_(P));
	fsqr(c, F(1), Y_(P));
	fsub(c, F(0), F(1), F(0));
	fsqr(c, F(1), T_(P));
	fmul(c, F(1), F(1), c->d);
	fsqr(c, F(2), Z_(P));
	fadd(c, F(1), F(1), F(2));
	fmul(c, F(2), X_(P), Y_(P));
	fmul(c, F(3), Z_(P), T_(P));
	return wim_bn_eq(F(0), F(1), NL) & wim_bn_eq(F(2), F(3), NL) & ~wim_bn_is_zero(Z_(P), NL);
}

/* c->acc = k·B for a secret k < 2^256 (NL limbs): fixed 4-bit windows, the table read whole with masks. */
static void base_mul(ed_ctx *c, const wim_limb *k)
{
	const size_t pn = 4 * NL;
	wim_limb *tab = c->tab;
	wim_bn_zero(tab, pn);
	wim_bn_copy(Y_(tab), c->fp.one, NL);
	wim_bn_copy(Z_(tab), c->fp.one, NL);
	wim_bn_copy(tab + pn, c->g, pn);
	for (size_t i = 2; i < 16; i++) {
		if (i & 1)
			padd(c, tab + i * pn, tab + (i - 1) * pn, c->g);
		else
			pdbl(c, tab + i * pn, tab + (i / 2) * pn);
	}
	wim_bn_copy(c->acc, tab, pn);
	for (size_t w = 64; w-- > 0;) {
		for (int j = 0; j < 4; j++)
			pdbl(c, c->acc, c->acc);
		/* 4 divides the limb width, so a digit never straddles two limbs */
		wim_limb digit = (k[(4 * w) / WIM_LIMB_BITS] >> ((4 * w) % WIM_LIMB_BITS)) & 15;
		wim_bn_zero(c->sel, pn);
		for (size_t i = 0; i < 16; i++)
			wim_bn_cmov(c->sel, tab + i * pn, ~wim_ct_nonzero_mask(digit ^ (wim_limb)i), pn);
		padd(c, c->acc, c->acc, c->sel);
	}
}

/* out = the encoding of c->acc (RFC 8032 5.1.2: y, and x's low bit in the top bit), after checking the
 * point is on the curve; the verdict is published (WIM_E_FAULT: nothing is written). */
static int encode(ed_ctx *c, uint8_t out[32])
{
	wim_limb valid = on_curve(c, c->acc);
	WIM_PUBLIC(&valid, sizeof(valid));
	if (!valid)
		return WIM_E_FAULT;
	/* (Z·R)^(p-2) = Z^-1·R^-1: a product with it and one with R^2 leave X/Z in normal form */
	wim_bn_mod_exp(c->u, Z_(c->acc), c->pm2, 255, &c->fp, c->ex);
	fmul(c, c->x, X_(c->acc), c->u);
	fmul(c, c->x, c->x, c->fp.rr);
	fmul(c, c->y, Y_(c->acc), c->u);
	fmul(c, c->y, c->y, c->fp.rr);
	to_le(out, c->y);
	out[31] |= (uint8_t)((c->x[0] & 1) << 7);
	WIM_PUBLIC(out, 32);
	return WIM_OK;
}

/* ---- set-up ---- */

static void mont_ctx(wim_mont *m, const wim_limb *mod, wim_limb *rr, wim_limb *one)
{
	wim_limb x = mod[0]; /* -mod^-1 mod 2^W: Newton's iteration doubles the correct low bits (3 to start) */
	for (int i = 0; i < 5; i++)
		x *= 2 - mod[0] * x;
	m->m = mod;
	m->rr = rr;
	m->one = one;
	m->m0inv = (wim_limb)0 - x;
	m->n = NL;
}

static int setup(ed_ctx **out, const uint8_t *seed, void *scratch, size_t scratch_len)
{
	if (!scratch || scratch_len < sizeof(ed_ctx) || ((uintptr_t)scratch % sizeof(wim_limb)) != 0)
		return WIM_E_SCRATCH;
	ed_ctx *c = scratch;
	memset(c, 0, sizeof(*c));
	/* p = 2^255 - 19; R mod p = 38, R^2 mod p = 38^2 */
	for (size_t i = 0; i < NL; i++)
		c->p[i] = ~(wim_limb)0;
	c->p[0] -= 18;
	c->p[NL - 1] >>= 1;
	c->pone[0] = 38;
	c->prr[0] = 38 * 38;
	mont_ctx(&c->fp, c->p, c->prr, c->pone);
	wim_bn_sub_limb(c->pm2, c->p, 2, NL);
	from_le(c->l, consts[C_L]);
	from_le(c->lone, consts[C_RL]);
	from_le(c->lrr, consts[C_RRL]);
	mont_ctx(&c->fl, c->l, c->lrr, c->lone);
	from_le(c->u, consts[C_D]);
	wim_mont_to(c->d, c->u, &c->fp, c->mt);
	fadd(c, c->d2, c->d, c->d);
	for (int i = 0; i < 2; i++) {
		from_le(c->u, consts[C_BX + i]);
		wim_mont_to(c->g + i * NL, c->u, &c->fp, c->mt);
	}
	wim_bn_copy(Z_(c->g), c->fp.one, NL);
	fmul(c, T_(c->g), X_(c->g), Y_(c->g)); /* x·y, Montgomery form */
	if (seed) {
		memcpy(c->seed, seed, WIM_ED25519_SEED);
		WIM_SECRET(c->seed, sizeof(c->seed));
	}
	*out = c;
	return WIM_OK;
}

static int finish(ed_ctx *c, int rc)
{
	wim_wipe(c, sizeof(*c));
	return rc;
}

/* c->h = SHA-512(seed) with its low half clamped (RFC 8032 5.1.5), c->a = that scalar, c->pub = a·B. */
static int expand(ed_ctx *c)
{
	wim_sha512_init(&c->sha);
	wim_sha512_update(&c->sha, c->seed, sizeof(c->seed));
	wim_sha512_final(&c->sha, c->h);
	c->h[0] &= 248;
	c->h[31] &= 127;
	c->h[31] |= 64;
	from_le(c->a, c->h);
	base_mul(c, c->a);
	return encode(c, c->pub);
}

/* ---- operations ---- */

int wim_ed25519_public(const uint8_t seed[WIM_ED25519_SEED], uint8_t pub[WIM_ED25519_PUBLIC], void *scratch,
		size_t scratch_len)
{
	ed_ctx *c;
	int rc = setup(&c, seed, scratch, scratch_len);
	if (rc)
		return rc;
	if ((rc = expand(c)) == WIM_OK)
		memcpy(pub, c->pub, WIM_ED25519_PUBLIC);
	return finish(c, rc);
}

int wim_ed25519_sign(const uint8_t seed[WIM_ED25519_SEED], const uint8_t *msg, size_t len,
		uint8_t sig[WIM_ED25519_SIG], void *scratch, size_t scratch_len)
{
	ed_ctx *c;
	int rc = setup(&c, seed, scratch, scratch_len);
	if (rc)
		return rc;
	if (!msg && len)
		return finish(c, WIM_E_ARG);
	if ((rc = expand(c)) != WIM_OK)
		return finish(c, rc);
	/* r = SHA-512(prefix || M) mod L; R = r·B */
	wim_sha512_init(&c->sha);
	wim_sha512_update(&c->sha, c->h + 32, 32);
	wim_sha512_update(&c->sha, msg, len);
	wim_sha512_final(&c->sha, c->hr);
	reduce512(c, c->r, c->hr);
	base_mul(c, c->r);
	if ((rc = encode(c, c->rb)) != WIM_OK)
		return finish(c, rc);
	/* k = SHA-512(R || A || M) mod L (public); S = r + k·a mod L */
	wim_sha512_init(&c->sha);
	wim_sha512_update(&c->sha, c->rb, 32);
	wim_sha512_update(&c->sha, c->pub, 32);
	wim_sha512_update(&c->sha, msg, len);
	wim_sha512_final(&c->sha, c->hr);
	reduce512(c, c->k, c->hr);
	wim_mont_mul(c->u, c->a, c->lrr, &c->fl, c->mt); /* a·R mod L (a < 2^255 < R) */
	wim_mont_mul(c->s, c->k, c->u, &c->fl, c->mt);   /* k·a mod L */
	mod_add(c, c->l, c->s, c->s, c->r);
	WIM_PUBLIC(c->s, sizeof(c->s));
	memcpy(sig, c->rb, 32);
	to_le(sig + 32, c->s);
	return finish(c, WIM_OK);
}

int wim_ed25519_generate(wim_store *st, uint32_t id, const wim_rng *rng, uint8_t pub[WIM_ED25519_PUBLIC],
		void *scratch, size_t scratch_len)
{
	ed_ctx *c;
	int rc = setup(&c, NULL, scratch, scratch_len);
	if (rc)
		return rc;
	if (!rng || rng->fill(rng->ctx, c->seed, sizeof(c->seed)) != 0)
		return finish(c, WIM_E_RNG);
	WIM_SECRET(c->seed, sizeof(c->seed));
	if ((rc = expand(c)) != WIM_OK)
		return finish(c, rc);
	WIM_PUBLIC(c->seed, sizeof(c->seed)); /* handed to the store (as for RSA and EC: its CRC is constant time) */
	rc = wim_store_put(st, id, WIM_KIND_SECRET, c->seed, sizeof(c->seed));
	if (rc == WIM_OK)
		memcpy(pub, c->pub, WIM_ED25519_PUBLIC);
	return finish(c, rc);
}
