/*
 * wim_ec.c — P-256 and P-384: ECDSA signing, ECDH, key generation (see wim_ec.h).
 *
 * All arithmetic is wim_bn's: field elements mod p and scalars mod n are nl-limb numbers; field
 * elements live in Montgomery form. Both curves have a = -3 and moduli whose top bit is set and whose
 * size is a whole number of limbs (32- or 64-bit), as wim_mont_init requires.
 */
#include <string.h>

#include "wim_bn.h"
#include "wim_ct.h"
#include "wim_ec.h"
#include "wim_sha256.h"

#define EC_MAX_SIZE 48
#define EC_L WIM_BN_LIMBS(EC_MAX_SIZE * 8) /* limbs of the largest field */
#define EC_EXTRA 16                        /* random bytes beyond the order's size: bias < 2^-128 */
#define EC_DRAWS 4                         /* nonce or key draws before blaming the RNG */
#define EC_HEDGE 32                        /* random bytes mixed into each nonce's derivation */

/* Curve constants, big-endian, size bytes each: p, n, b, Gx, Gy (FIPS 186-5 / SP 800-186). */
static const uint8_t p256[5 * 32] = {
	/* p */
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* n */
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
	/* b */
	0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55,
	0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6,
	0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
	/* gx */
	0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
	0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0,
	0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	/* gy */
	0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a,
	0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce,
	0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};
static const uint8_t p384[5 * 48] = {
	/* p */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	/* n */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
	0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
	/* b */
	0xb3, 0x31, 0x2f, 0xa7, 0xe2, 0x3e, 0xe7, 0xe4, 0x98, 0x8e, 0x05, 0x6b,
	0xe3, 0xf8, 0x2d, 0x19, 0x18, 0x1d, 0x9c, 0x6e, 0xfe, 0x81, 0x41, 0x12,
	0x03, 0x14, 0x08, 0x8f, 0x50, 0x13, 0x87, 0x5a, 0xc6, 0x56, 0x39, 0x8d,
	0x8a, 0x2e, 0xd1, 0x9d, 0x2a, 0x85, 0xc8, 0xed, 0xd3, 0xec, 0x2a, 0xef,
	/* gx */
	0xaa, 0x87, 0xca, 0x22, 0xbe, 0x8b, 0x05, 0x37, 0x8e, 0xb1, 0xc7, 0x1e,
	0xf3, 0x20, 0xad, 0x74, 0x6e, 0x1d, 0x3b, 0x62, 0x8b, 0xa7, 0x9b, 0x98,
	0x59, 0xf7, 0x41, 0xe0, 0x82, 0x54, 0x2a, 0x38, 0x55, 0x02, 0xf2, 0x5d,
	0xbf, 0x55, 0x29, 0x6c, 0x3a, 0x54, 0x5e, 0x38, 0x72, 0x76, 0x0a, 0xb7,
	/* gy */
	0x36, 0x17, 0xde, 0x4a, 0x96, 0x26, 0x2c, 0x6f, 0x5d, 0x9e, 0x98, 0xbf,
	0x92, 0x92, 0xdc, 0x29, 0xf8, 0xf4, 0x1d, 0xbd, 0x28, 0x9a, 0x14, 0x7c,
	0xe9, 0xda, 0x31, 0x13, 0xb5, 0xf0, 0xb8, 0xc0, 0x0a, 0x60, 0xb1, 0xce,
	0x1d, 0x7e, 0x81, 0x9d, 0x7a, 0x43, 0x1d, 0x7c, 0x90, 0xea, 0x0e, 0x5f,
};

typedef struct ec_curve {
	size_t size;
	const uint8_t *k; /* p, n, b, Gx, Gy */
} ec_curve;

static const ec_curve curves[] = { { 32, p256 }, { 48, p384 } };

/* Everything one operation needs; lives in the caller's scratch and is wiped before returning. */
typedef struct ec_ctx {
	size_t nl, size, bits;
	wim_mont fp, fn;
	wim_limb p[EC_L], prr[EC_L], pone[EC_L];
	wim_limb n[EC_L], nrr[EC_L], none[EC_L];
	wim_limb b[EC_L];                /* b in Montgomery form */
	wim_limb pm2[EC_L], nm2[EC_L];   /* p - 2 and n - 2: the Fermat inversion exponents */
	wim_limb g[3 * EC_L];            /* the base point, Montgomery form, Z = 1 */
	wim_limb q[3 * EC_L];            /* the peer's point (ECDH) */
	wim_limb mt[EC_L + 2];           /* Montgomery scratch */
	wim_limb f[8 * EC_L];            /* the formulas' temporaries */
	wim_limb tab[16 * 3 * EC_L];     /* 0·P .. 15·P */
	wim_limb acc[3 * EC_L], sel[3 * EC_L];
	wim_limb ex[WIM_BN_MODEXP_SCRATCH(EC_L)];
	wim_limb wide[2 * EC_L];         /* a random draw before reduction */
	wim_limb d[EC_L], k[EC_L], e[EC_L], r[EC_L], s[EC_L], x[EC_L], y[EC_L], u[EC_L];
	uint8_t buf[EC_MAX_SIZE + EC_EXTRA];
	/* the nonce generator (RFC 6979 HMAC-DRBG): its key and value, and its seed int2octets(d) ||
	 * bits2octets(h) || extra random bytes (RFC 6979 section 3.6) */
	uint8_t K[WIM_SHA256_LEN], V[WIM_SHA256_LEN], t[2 * WIM_SHA256_LEN];
	uint8_t seed[2 * EC_MAX_SIZE + EC_HEDGE];
	size_t seed_len;
} ec_ctx;

size_t wim_ec_size(int curve)
{
	return curve == WIM_EC_P256 || curve == WIM_EC_P384 ? curves[curve - 1].size : 0;
}

size_t wim_ec_scratch_size(void)
{
	return sizeof(ec_ctx);
}

/* ---- field and scalar arithmetic ---- */

/* r = a + b mod m (a, b < m). */
static void mod_add(const ec_ctx *c, const wim_limb *m, wim_limb *r, const wim_limb *a, const wim_limb *b,
		wim_limb *t)
{
	wim_limb carry = wim_bn_add(r, a, b, c->nl);
	wim_limb borrow = wim_bn_sub(t, r, m, c->nl);
	wim_bn_cmov(r, t, (wim_limb)0 - (carry | (borrow ^ 1)), c->nl);
}

/* r = a - b mod p (a, b < p). */
static void fsub(ec_ctx *c, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	wim_limb borrow = wim_bn_sub(r, a, b, c->nl);
	wim_bn_add(c->mt, r, c->p, c->nl);
	wim_bn_cmov(r, c->mt, (wim_limb)0 - borrow, c->nl);
}

static void fadd(ec_ctx *c, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	mod_add(c, c->p, r, a, b, c->mt);
}

static void fmul(ec_ctx *c, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	wim_mont_mul(r, a, b, &c->fp, c->mt);
}

/* ---- points: (X:Y:Z), 3·nl limbs, Montgomery form; the identity is (0:1:0) ---- */

#define T(i) (c->f + (i) * n)

/*
 * The addition and doubling formulas as programs of field operations, run by one small interpreter
 * (a quarter of the code size of writing them out). Slots: temporaries t0..t4, the result X3 Y3 Z3
 * (adjacent, so the result is copied out at once), the inputs X1 Y1 Z1 and X2 Y2 Z2, and b.
 */
enum { t0, t1, t2, t3, t4, X3, Y3, Z3, X1, Y1, Z1, X2, Y2, Z2, B_ };
enum { OP_MUL, OP_ADD, OP_SUB };
#define M(d, a, b) OP_MUL, d, a, b,
#define A(d, a, b) OP_ADD, d, a, b,
#define S(d, a, b) OP_SUB, d, a, b,

/* P + Q, complete: Renes–Costello–Batina 2016, algorithm 4 (a = -3). */
static const uint8_t prog_add[] = {
	M(t0, X1, X2) M(t1, Y1, Y2) M(t2, Z1, Z2) A(t3, X1, Y1) A(t4, X2, Y2) M(t3, t3, t4)
	A(t4, t0, t1) S(t3, t3, t4) A(t4, Y1, Z1) A(X3, Y2, Z2) M(t4, t4, X3) A(X3, t1, t2)
	S(t4, t4, X3) A(X3, X1, Z1) A(Y3, X2, Z2) M(X3, X3, Y3) A(Y3, t0, t2) S(Y3, X3, Y3)
	M(Z3, B_, t2) S(X3, Y3, Z3) A(Z3, X3, X3) A(X3, X3, Z3) S(Z3, t1, X3) A(X3, t1, X3)
	M(Y3, B_, Y3) A(t1, t2, t2) A(t2, t1, t2) S(Y3, Y3, t2) S(Y3, Y3, t0) A(t1, Y3, Y3)
	A(Y3, t1, Y3) A(t1, t0, t0) A(t0, t1, t0) S(t0, t0, t2) M(t1, t4, Y3) M(t2, t0, Y3)
	M(Y3, X3, Z3) A(Y3, Y3, t2) M(X3, X3, t3) S(X3, X3, t1) M(Z3, t4, Z3) M(t1, t3, t0)
	A(Z3, Z3, t1)
};

/* 2P, complete: Renes–Costello–Batina 2016, algorithm 6 (a = -3). */
static const uint8_t prog_dbl[] = {
	M(t0, X1, X1) M(t1, Y1, Y1) M(t2, Z1, Z1) M(t3, X1, Y1) A(t3, t3, t3) M(Z3, X1, Z1)
	A(Z3, Z3, Z3) M(Y3, B_, t2) S(Y3, Y3, Z3) A(X3, Y3, Y3) A(Y3, X3, Y3) S(X3, t1, Y3)
	A(Y3, t1, Y3) M(Y3, X3, Y3) M(X3, X3, t3) A(t3, t2, t2) A(t2, t2, t3) M(Z3, B_, Z3)
	S(Z3, Z3, t2) S(Z3, Z3, t0) A(t3, Z3, Z3) A(Z3, Z3, t3) A(t3, t0, t0) A(t0, t3, t0)
	S(t0, t0, t2) M(t0, t0, Z3) A(Y3, Y3, t0) M(t0, Y1, Z1) A(t0, t0, t0) M(Z3, t0, Z3)
	S(X3, X3, Z3) M(Z3, t0, t1) A(Z3, Z3, Z3) A(Z3, Z3, Z3)
};

/* The curve equation for P: t1 = X^3 - 3·X·Z^2 + b·Z^3 and t3 = Y^2·Z. */
static const uint8_t prog_curve[] = {
	M(t0, Z1, Z1) M(t1, B_, Z1) M(t1, t1, t0) M(t0, t0, X1) S(t1, t1, t0) S(t1, t1, t0)
	S(t1, t1, t0) M(t2, X1, X1) M(t2, t2, X1) A(t1, t1, t2) M(t3, Y1, Y1) M(t3, t3, Z1)
};

/* Runs a program on P (and Q); the result is left in the slots. */
static void run(ec_ctx *c, const uint8_t *prog, size_t len, const wim_limb *P, const wim_limb *Q)
{
	size_t n = c->nl;
	const wim_limb *in[7] = { P, P + n, P + 2 * n, Q, Q + n, Q + 2 * n, c->b };
	for (size_t i = 0; i < len; i += 4) {
		wim_limb *d = T(prog[i + 1]);
		const wim_limb *a = prog[i + 2] < X1 ? T(prog[i + 2]) : in[prog[i + 2] - X1];
		const wim_limb *b = prog[i + 3] < X1 ? T(prog[i + 3]) : in[prog[i + 3] - X1];
		if (prog[i] == OP_MUL)
			fmul(c, d, a, b);
		else if (prog[i] == OP_ADD)
			fadd(c, d, a, b);
		else
			fsub(c, d, a, b);
	}
}

/* R = P + Q. R may alias P or Q. */
static void padd(ec_ctx *c, wim_limb *R, const wim_limb *P, const wim_limb *Q)
{
	run(c, prog_add, sizeof(prog_add), P, Q);
	wim_bn_copy(R, c->f + X3 * c->nl, 3 * c->nl); /* X3, Y3, Z3 are adjacent */
}

/* R = 2P. R may alias P. */
static void pdbl(ec_ctx *c, wim_limb *R, const wim_limb *P)
{
	run(c, prog_dbl, sizeof(prog_dbl), P, P);
	wim_bn_copy(R, c->f + X3 * c->nl, 3 * c->nl);
}

/* All-ones if P satisfies Y^2·Z = X^3 - 3·X·Z^2 + b·Z^3 and Z != 0, else 0. */
static wim_limb on_curve(ec_ctx *c, const wim_limb *P)
{
	size_t n = c->nl;
	run(c, prog_curve, sizeof(prog_curve), P, P);
	return wim_bn_eq(T(t1), T(t3), n) & ~wim_bn_is_zero(P + 2 * n, n);
}

/* R = k·P for a secret k < 2^bits: fixed 4-bit windows, the table read whole with masks. R may not
 * be P, and P may not be c->tab, c->acc or c->sel. */
static void pmul(ec_ctx *c, wim_limb *R, const wim_limb *k, const wim_limb *P)
{
	size_t n = c->nl, pn = 3 * n;
	wim_limb *tab = c->tab;
	wim_bn_zero(tab, pn);
	wim_bn_copy(tab + n, c->fp.one, n);
	wim_bn_copy(tab + pn, P, pn);
	for (size_t i = 2; i < 16; i++) {
		if (i & 1)
			padd(c, tab + i * pn, tab + (i - 1) * pn, P);
		else
			pdbl(c, tab + i * pn, tab + (i / 2) * pn);
	}
	wim_bn_copy(c->acc, tab, pn);
	for (size_t w = c->bits / 4; w-- > 0;) {
		for (int j = 0; j < 4; j++)
			pdbl(c, c->acc, c->acc);
		/* W is a multiple of 4, so a digit never straddles two limbs */
		wim_limb digit = (k[(4 * w) / WIM_LIMB_BITS] >> ((4 * w) % WIM_LIMB_BITS)) & 15;
		wim_bn_zero(c->sel, pn);
		for (size_t i = 0; i < 16; i++)
			wim_bn_cmov(c->sel, tab + i * pn, ~wim_ct_nonzero_mask(digit ^ (wim_limb)i), pn);
		padd(c, c->acc, c->acc, c->sel);
	}
	wim_bn_copy(R, c->acc, pn);
}

/* x (and y, if not NULL) = the affine coordinates of P (Z != 0), normal form. */
static void affine(ec_ctx *c, wim_limb *x, wim_limb *y, const wim_limb *P)
{
	size_t n = c->nl;
	/* (Z·R)^(p-2) = Z^-1·R^-1; a product with it and one with R^2 leave X/Z in normal form */
	wim_bn_mod_exp(c->u, P + 2 * n, c->pm2, c->bits, &c->fp, c->ex);
	fmul(c, x, P, c->u);
	fmul(c, x, x, c->fp.rr);
	if (y) {
		fmul(c, y, P + n, c->u);
		fmul(c, y, y, c->fp.rr);
	}
}

/* ---- set-up and inputs ---- */

static int setup(ec_ctx **out, int curve, void *scratch, size_t scratch_len)
{
	if (curve != WIM_EC_P256 && curve != WIM_EC_P384)
		return WIM_E_ARG;
	if (!scratch || scratch_len < sizeof(ec_ctx) || ((uintptr_t)scratch % sizeof(wim_limb)) != 0)
		return WIM_E_SCRATCH;
	ec_ctx *c = scratch;
	const ec_curve *cv = &curves[curve - 1];
	size_t n, size = cv->size;
	memset(c, 0, sizeof(*c));
	c->size = size;
	c->bits = 8 * size;
	c->nl = n = WIM_BN_LIMBS(c->bits);
	wim_bn_from_be(c->p, n, cv->k, size);
	wim_bn_from_be(c->n, n, cv->k + size, size);
	wim_mont_init(&c->fp, c->p, n, c->prr, c->pone, c->mt);
	wim_mont_init(&c->fn, c->n, n, c->nrr, c->none, c->mt);
	wim_bn_sub_limb(c->pm2, c->p, 2, n);
	wim_bn_sub_limb(c->nm2, c->n, 2, n);
	wim_bn_from_be(c->u, n, cv->k + 2 * size, size);
	wim_mont_to(c->b, c->u, &c->fp, c->mt);
	for (int i = 0; i < 2; i++) {
		wim_bn_from_be(c->u, n, cv->k + (3 + i) * size, size);
		wim_mont_to(c->g + i * n, c->u, &c->fp, c->mt);
	}
	wim_bn_copy(c->g + 2 * n, c->fp.one, n);
	*out = c;
	return WIM_OK;
}

/* c->d = the secret scalar; WIM_E_SECRET unless 0 < d < n (that verdict is public). */
static int load_secret(ec_ctx *c, const uint8_t *d)
{
	wim_bn_from_be(c->d, c->nl, d, c->size);
	WIM_SECRET(c->d, sizeof(c->d));
	wim_limb ok = wim_bn_lt(c->d, c->n, c->nl) & ~wim_bn_is_zero(c->d, c->nl);
	WIM_PUBLIC(&ok, sizeof(ok));
	return ok ? WIM_OK : WIM_E_SECRET;
}

/* r = a uniformly random scalar in [1, n-1] (size + EC_EXTRA bytes reduced mod n, 0 redrawn). */
static int draw_scalar(ec_ctx *c, wim_limb *r, const wim_rng *rng)
{
	size_t len = c->size + EC_EXTRA, wl = WIM_BN_LIMBS(len * 8);
	for (int tries = 0; tries < EC_DRAWS; tries++) {
		if (!rng || rng->fill(rng->ctx, c->buf, len) != 0)
			return WIM_E_RNG;
		WIM_SECRET(c->buf, len);
		wim_bn_from_be(c->wide, wl, c->buf, len);
		wim_mont_mod(r, c->wide, wl, &c->fn, c->mt); /* wide < 2^(bits+128) <= n·R */
		wim_limb zero = wim_bn_is_zero(r, c->nl);
		WIM_PUBLIC(&zero, sizeof(zero));
		if (!zero)
			return WIM_OK;
	}
	return WIM_E_RNG;
}

/* K = HMAC_K(V || sep || seed), V = HMAC_K(V); the seed only when `with_seed`. */
static void drbg_update(ec_ctx *c, uint8_t sep, int with_seed)
{
	wim_hmac_sha256(c->K, c->V, sizeof(c->V), &sep, 1, c->seed, with_seed ? c->seed_len : 0, c->K);
	wim_hmac_sha256(c->K, c->V, sizeof(c->V), NULL, 0, NULL, 0, c->V);
}

/*
 * The ECDSA nonce of RFC 6979 (section 3.2, HMAC-SHA-256 for both curves), hedged as its section 3.6
 * allows: EC_HEDGE bytes from rng join the seed (rng NULL: the deterministic nonce, for tests). A broken
 * RNG then still gives a nonce that no one can predict without d, and a fault or bias in the RNG cannot
 * repeat a nonce for two messages. c->e must hold bits2int(h) mod n.
 */
static int nonce_init(ec_ctx *c, const wim_rng *rng)
{
	size_t size = c->size;
	wim_bn_to_be(c->seed, size, c->d, c->nl);
	wim_bn_to_be(c->seed + size, size, c->e, c->nl);
	c->seed_len = 2 * size;
	if (rng) {
		if (rng->fill(rng->ctx, c->seed + c->seed_len, EC_HEDGE) != 0)
			return WIM_E_RNG;
		c->seed_len += EC_HEDGE;
	}
	memset(c->V, 0x01, sizeof(c->V));
	memset(c->K, 0x00, sizeof(c->K));
	drbg_update(c, 0x00, 1);
	drbg_update(c, 0x01, 1);
	return WIM_OK;
}

/* The next candidate k in [1, n-1] (step h of RFC 6979); `again`: a previous candidate was used up. */
static void nonce_next(ec_ctx *c, int again)
{
	for (;;) {
		if (again)
			drbg_update(c, 0x00, 0);
		again = 1;
		for (size_t t = 0; t < c->size; t += WIM_SHA256_LEN) {
			wim_hmac_sha256(c->K, c->V, sizeof(c->V), NULL, 0, NULL, 0, c->V);
			memcpy(c->t + t, c->V, WIM_SHA256_LEN);
		}
		wim_bn_from_be(c->k, c->nl, c->t, c->size); /* bits2int: the leftmost qlen bits */
		wim_limb ok = wim_bn_lt(c->k, c->n, c->nl) & ~wim_bn_is_zero(c->k, c->nl);
		WIM_PUBLIC(&ok, sizeof(ok)); /* a rejected candidate (p < 2^-32) reveals nothing of the next */
		if (ok)
			return;
	}
}

static int finish(ec_ctx *c, int rc)
{
	wim_wipe(c, sizeof(*c));
	return rc;
}

/* ---- operations ---- */

int wim_ec_public(int curve, const uint8_t *d, uint8_t *xy, void *scratch, size_t scratch_len)
{
	ec_ctx *c;
	int rc = setup(&c, curve, scratch, scratch_len);
	if (rc)
		return rc;
	if ((rc = load_secret(c, d)) != WIM_OK)
		return finish(c, rc);
	pmul(c, c->q, c->d, c->g);
	affine(c, c->x, c->y, c->q);
	WIM_PUBLIC(c->x, sizeof(c->x));
	WIM_PUBLIC(c->y, sizeof(c->y));
	wim_bn_to_be(xy, c->size, c->x, c->nl);
	wim_bn_to_be(xy + c->size, c->size, c->y, c->nl);
	return finish(c, WIM_OK);
}

int wim_ec_sign(int curve, const uint8_t *d, const uint8_t *hash, size_t hash_len, const wim_rng *rng,
		uint8_t *rs, void *scratch, size_t scratch_len)
{
	ec_ctx *c;
	int rc = setup(&c, curve, scratch, scratch_len);
	if (rc)
		return rc;
	size_t n = c->nl;
	if (!hash || hash_len == 0)
		return finish(c, WIM_E_ARG);
	if ((rc = load_secret(c, d)) != WIM_OK)
		return finish(c, rc);
	/* e = the hash's leftmost `bits` bits (whole bytes on these curves), mod n: e < 2^bits < 2n */
	wim_bn_from_be(c->e, n, hash, hash_len < c->size ? hash_len : c->size);
	if (!wim_bn_lt(c->e, c->n, n))
		wim_bn_sub(c->e, c->e, c->n, n);
	if ((rc = nonce_init(c, rng)) != WIM_OK)
		return finish(c, rc);
	for (int tries = 0; tries < EC_DRAWS; tries++) {
		nonce_next(c, tries > 0);
		pmul(c, c->q, c->k, c->g);
		wim_limb valid = on_curve(c, c->q);
		WIM_PUBLIC(&valid, sizeof(valid));
		if (!valid) /* a fault in the multiplication: release nothing */
			return finish(c, WIM_E_FAULT);
		affine(c, c->r, NULL, c->q);
		WIM_PUBLIC(c->r, sizeof(c->r)); /* r is published */
		if (!wim_bn_lt(c->r, c->n, n))
			wim_bn_sub(c->r, c->r, c->n, n);
		if (wim_bn_is_zero(c->r, n))
			continue;
		/* s = k^-1 · (e + r·d) mod n */
		wim_bn_mod_exp(c->u, c->k, c->nm2, c->bits, &c->fn, c->ex); /* k^-1 */
		wim_mont_to(c->x, c->d, &c->fn, c->mt);
		wim_mont_mul(c->s, c->x, c->r, &c->fn, c->mt);  /* r·d */
		mod_add(c, c->n, c->s, c->s, c->e, c->mt);      /* e + r·d */
		wim_mont_to(c->x, c->u, &c->fn, c->mt);
		wim_mont_mul(c->s, c->s, c->x, &c->fn, c->mt);  /* · k^-1 */
		WIM_PUBLIC(c->s, sizeof(c->s));
		if (wim_bn_is_zero(c->s, n))
			continue;
		wim_bn_to_be(rs, c->size, c->r, n);
		wim_bn_to_be(rs + c->size, c->size, c->s, n);
		return finish(c, WIM_OK);
	}
	return finish(c, WIM_E_RNG);
}

int wim_ec_ecdh(int curve, const uint8_t *d, const uint8_t *peer, uint8_t *x, void *scratch, size_t scratch_len)
{
	ec_ctx *c;
	int rc = setup(&c, curve, scratch, scratch_len);
	if (rc)
		return rc;
	size_t n = c->nl;
	if ((rc = load_secret(c, d)) != WIM_OK)
		return finish(c, rc);
	/* the peer's point: coordinates below p, on the curve (the curves have cofactor 1, so that is all) */
	wim_bn_from_be(c->x, n, peer, c->size);
	wim_bn_from_be(c->y, n, peer + c->size, c->size);
	if (!wim_bn_lt(c->x, c->p, n) || !wim_bn_lt(c->y, c->p, n))
		return finish(c, WIM_E_ARG);
	wim_mont_to(c->q, c->x, &c->fp, c->mt);
	wim_mont_to(c->q + n, c->y, &c->fp, c->mt);
	wim_bn_copy(c->q + 2 * n, c->fp.one, n);
	if (!on_curve(c, c->q))
		return finish(c, WIM_E_ARG);
	pmul(c, c->acc, c->d, c->q);
	wim_bn_copy(c->q, c->acc, 3 * n);
	wim_limb valid = on_curve(c, c->q);
	WIM_PUBLIC(&valid, sizeof(valid));
	if (!valid)
		return finish(c, WIM_E_FAULT);
	affine(c, c->x, NULL, c->q);
	wim_bn_to_be(x, c->size, c->x, n);
	return finish(c, WIM_OK);
}

int wim_ec_generate(wim_store *st, uint32_t id, int curve, const wim_rng *rng, uint8_t *xy, void *scratch,
		size_t scratch_len)
{
	ec_ctx *c;
	int rc = setup(&c, curve, scratch, scratch_len);
	if (rc)
		return rc;
	if ((rc = draw_scalar(c, c->d, rng)) != WIM_OK)
		return finish(c, rc);
	pmul(c, c->q, c->d, c->g);
	wim_limb valid = on_curve(c, c->q);
	WIM_PUBLIC(&valid, sizeof(valid));
	if (!valid)
		return finish(c, WIM_E_FAULT);
	affine(c, c->x, c->y, c->q);
	WIM_PUBLIC(c->x, sizeof(c->x));
	WIM_PUBLIC(c->y, sizeof(c->y));
	wim_bn_to_be(c->buf, c->size, c->d, c->nl);
	WIM_PUBLIC(c->buf, c->size); /* handed to the store (as for RSA: its CRC is constant time) */
	rc = wim_store_put(st, id, WIM_KIND_SECRET, c->buf, (uint32_t)c->size);
	if (rc == WIM_OK) {
		wim_bn_to_be(xy, c->size, c->x, c->nl);
		wim_bn_to_be(xy + c->size, c->size, c->y, c->nl);
	}
	return finish(c, rc);
}

int wim_ec_draw(int curve, const wim_rng *rng, uint8_t *d, void *scratch, size_t scratch_len)
{
	ec_ctx *c;
	int rc = setup(&c, curve, scratch, scratch_len);
	if (rc)
		return rc;
	rc = draw_scalar(c, c->d, rng);
	if (rc == WIM_OK)
		wim_bn_to_be(d, c->size, c->d, c->nl);
	return finish(c, rc);
}
