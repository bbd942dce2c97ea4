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

/* Constants, little-endian: the group order L, R mod L, R^2 mod L, the curve's d. */
static const uint8_t consts[4][32] = {
	{ 0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10 },
	{ 0x1d, 0x95, 0x98, 0x8d, 0x74, 0x31, 0xec, 0xd6, 0x70, 0xcf, 0x7d, 0x73, 0xf4, 0x5b, 0xef, 0xc6,
	  0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f },
	{ 0x01, 0x0f, 0x9c, 0x44, 0xe3, 0x11, 0x06, 0xa4, 0x47, 0x93, 0x85, 0x68, 0xa7, 0x1b, 0x0e, 0xd0,
	  0x65, 0xbe, 0xf5, 0x17, 0xd2, 0x73, 0xec, 0xce, 0x3d, 0x9a, 0x30, 0x7c, 0x1b, 0x41, 0x99, 0x03 },
	{ 0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
	  0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52 },
};
enum { C_L, C_RL, C_RRL, C_D };

/*
 * The comb of the base point B (test/native/gen_ed25519_comb.py prints it): comb[e], e = e0 + 2·e1 + 4·e2 +
 * 8·e3, is e0·B + e1·2^64·B + e2·2^128·B + e3·2^192·B in affine "Niels" form (y + x, y - x, 2·d·x·y), each
 * coordinate in Montgomery form (times 2^256 mod p) as eight little-endian 32-bit words. comb[0] is the
 * identity (1, 1, 0).
 */
static const uint32_t comb[16][3][8] = {
	{ { 0x00000026, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	  { 0x00000026, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000 },
	  { 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000 } },
	{ { 0x72d0d5e4, 0x15fdef88, 0x56ca17bd, 0xcfd8cb89, 0xe117e8ea, 0xcbacc69e, 0xb193ab03, 0x28d156a3 },
	  { 0xf39590b0, 0x506876dd, 0x0f9c4ea9, 0x968d9add, 0x854e7d7b, 0x9ab99fc7, 0xb4d2bb62, 0x3d950fc2 },
	  { 0x1c354dd0, 0x7fd8acd2, 0x61592f8d, 0xc4587550, 0xd7ff4acd, 0x6014ac42, 0x9bd716fd, 0x7c985187 } },
	{ { 0xc92a6358, 0x744b205b, 0x534a63e4, 0x8c6b9a1f, 0x77e9060a, 0x6132de08, 0x2885fb5c, 0x08c1ee3b },
	  { 0x129e465f, 0x08e7319f, 0x0f82620e, 0x688a7078, 0xd83fe182, 0x5ad2205e, 0x66dfcfe1, 0x6671a9a2 },
	  { 0xcbca3c1f, 0x5b95d8be, 0xb81fb42c, 0x2000d972, 0x4ea65b26, 0xa0006183, 0x392287a4, 0x1bef9e88 } },
	{ { 0x44815941, 0x0cbb51cc, 0x2eb22240, 0x1fd9be71, 0xbe5fe35c, 0x37115b05, 0xb2f0c06b, 0x46dc322e },
	  { 0x3ba6a47e, 0x33796b1b, 0x69564808, 0xce20974d, 0x32dbf08a, 0x71c70f1c, 0x56ad0118, 0x6778f46c },
	  { 0x699ad5ba, 0xd0bf3292, 0x4fe1ac62, 0xb4716132, 0x4d216a5c, 0x9a3f7ef9, 0x72a160c3, 0x5c74aaa1 } },
	{ { 0xa1c32cf0, 0x18c2b473, 0x0cc483a5, 0x31341473, 0x327d5e88, 0x668118c3, 0x2eaddb42, 0x6e82f813 },
	  { 0xeb2a3ee9, 0x22ad6cae, 0x3025db5e, 0xccc45c8d, 0x4f4902da, 0x1d140550, 0x49e9aa06, 0x52bab84d },
	  { 0xdcbf4f30, 0xe693173b, 0xacd0cfb3, 0xec1b6b6e, 0x08136584, 0x5e5b8bff, 0x6ecdd9f2, 0x2790fac0 } },
	{ { 0xcdf75581, 0xe995df0f, 0xfa6e38ae, 0x4ebf9c5e, 0x765c5cb2, 0x6a224023, 0xec811992, 0x3bee12f6 },
	  { 0xea3a9ae3, 0x2232b6c4, 0x2826241c, 0xca3189f0, 0xac5bc3d9, 0x3cc4bb91, 0xffdd3ef5, 0x75f9fdad },
	  { 0xfae62a03, 0x1d25d3a6, 0xfe0c2cdf, 0xba568080, 0xe3c859c1, 0x6a9afa46, 0x158b4ad1, 0x18b41bcb } },
	{ { 0x41bca4fd, 0x404ac713, 0xd7022bb5, 0x08ea024e, 0x56fef5f9, 0x1cc45f4b, 0x5759da64, 0x20b4de3c },
	  { 0x2abca69b, 0xb422819b, 0x8930d03f, 0x3ec8a97c, 0xc86ee618, 0xb5a04923, 0x2e1653e4, 0x7ca50560 },
	  { 0xeb1f5e9b, 0x8ec6990f, 0x8161f61c, 0x24619356, 0x58bafd15, 0xc4748fb6, 0x25de8473, 0x7d833121 } },
	{ { 0x9967806f, 0x73872e58, 0x6df2b570, 0x8bdf0f61, 0x21ebd23d, 0x3bfb3f57, 0x98f4078e, 0x01d5743e },
	  { 0x66b0a8d1, 0xf6303cc0, 0xf3252fdf, 0x1fabf475, 0x9bce944f, 0x06211662, 0xb5afaa4e, 0x2f4ab728 },
	  { 0xe4f099bf, 0xa4d6ba7d, 0xe4349a3e, 0x28906524, 0x81af3f93, 0x931e8a80, 0x5f9741b1, 0x2aec0a3a } },
	{ { 0xb1cbfb3f, 0xb44c5f6b, 0x0a68601c, 0x81cdcc3c, 0x3ea2077a, 0xed062e4a, 0x00c6a77a, 0x25db7499 },
	  { 0x5cd57820, 0x8bd4c300, 0x61a73893, 0x1aefa139, 0xc9330e3a, 0x6728eded, 0x598a9a9d, 0x669377a0 },
	  { 0x0cfe6f72, 0x7a3dc26f, 0xe89d8b21, 0x67988b16, 0xce794444, 0x9056450b, 0x81552d22, 0x6a2e42c7 } },
	{ { 0xe028cbb4, 0x90fc4391, 0x57912381, 0x340e40a0, 0x5705aac9, 0x0c3626a5, 0x52dd3aa0, 0x55c6056e },
	  { 0x97c9db01, 0xd821432b, 0x44db6a99, 0xb1a0fe86, 0x31f8d582, 0x2a9773f4, 0xdb5e21a7, 0x02f5a91d },
	  { 0x754f1dd7, 0x0e5f6cb8, 0x171e2e80, 0x1f8c1d93, 0xd00a8140, 0x5daafc35, 0x59b05fc6, 0x3518bac6 } },
	{ { 0xe4b8d1b5, 0xe894daca, 0x10a1cfca, 0x68156836, 0xc23329bf, 0x597cc1ff, 0xf70a8694, 0x27d3ec3b },
	  { 0x540cc915, 0xccf69114, 0x333bedf0, 0xa247151c, 0x56a4ea4d, 0xde3f4360, 0x59140024, 0x7d79e6e8 },
	  { 0x60692d8f, 0x46f82e81, 0xbacf2244, 0x4f591483, 0x476e438e, 0xf9722a93, 0x4303c90d, 0x5ecca010 } },
	{ { 0x9e57b55c, 0x414145a8, 0x1801b05e, 0x08f46190, 0xabecf6a9, 0x32dd93c6, 0xa6eb43ec, 0x6a9a3c69 },
	  { 0xc5c6abfc, 0xa8cde971, 0x3b2224a6, 0x602f7858, 0xf0b85272, 0x6ac4282f, 0x46c07b4f, 0x53ec943e },
	  { 0x736749a2, 0xe4a79f3d, 0xf9bf14c2, 0x048b9200, 0x7ed70351, 0x1a5f7c97, 0x06e70b84, 0x6f2c3a4f } },
	{ { 0x22b53f2d, 0x54729fb0, 0xa5ee8165, 0xb0ffeedf, 0xd7db2009, 0x459e474e, 0xf8a5916f, 0x21574d85 },
	  { 0x8b116fdc, 0xa0b0ae09, 0x2c192dec, 0x702179da, 0xa9cad069, 0x935aa79e, 0xc43f1339, 0x72f3d321 },
	  { 0xc11313b0, 0x1ee8ca55, 0xa31ecab7, 0x94c5d0eb, 0x222a4679, 0x502c1160, 0xbf05290c, 0x7a4ca56e } },
	{ { 0x85bb2cae, 0x43de5607, 0xcf093080, 0x7345faa3, 0x893592df, 0xde1e2a65, 0xe91987bb, 0x382c1554 },
	  { 0xdf7b5a6b, 0x46bf717d, 0xccb61365, 0x0308a384, 0x35843c0c, 0x8b1263a8, 0xa08e5b28, 0x226efa3a },
	  { 0x3494f453, 0xc9f371c4, 0x5012a0c9, 0x14ef65c2, 0xa364cac0, 0xa71b06ae, 0xc4a21341, 0x5c802729 } },
	{ { 0x74506d95, 0x104a8ced, 0xbad02c53, 0x150c2938, 0x4a0e16bb, 0xe4c7cb6e, 0x85144215, 0x75d07ad9 },
	  { 0xa7f042a6, 0x1538decc, 0xf182572a, 0xcbb64d90, 0x91ada5b8, 0xd61f6658, 0xd7ba9a14, 0x76fa867e },
	  { 0x9daf84db, 0xe5c85e35, 0xe7c45a14, 0x0fbec3db, 0x5d247d7c, 0xef826ba8, 0x0c75ea1d, 0x0c745a59 } },
	{ { 0xaf5d59f2, 0xe4d6f154, 0x5329f0a4, 0x1727b96c, 0xeaedc6ee, 0x627ada8a, 0xdfd5f6d9, 0x6c2448cc },
	  { 0xbad8da51, 0x250e2d42, 0x2feed1bc, 0x5efb892a, 0xf2f9ca94, 0x9b04e602, 0x1b82c119, 0x170d1cca },
	  { 0x7bfdff65, 0x37a72989, 0xa25ed8c2, 0x5c2bd2d6, 0x40fbe10e, 0x47313419, 0xa7109cfd, 0x318588ca } },
};

/* Everything one operation needs; lives in the caller's scratch and is wiped before returning. */
typedef struct ed_ctx {
	wim_mont fp, fl;
	wim_limb p[NL], prr[NL], pone[NL], pm2[NL];
	wim_limb l[NL], lrr[NL], lone[NL];
	wim_limb d[NL];                  /* d, Montgomery form */
	wim_limb mt[NL + 2];             /* Montgomery scratch */
	wim_limb f[8 * NL];              /* the formulas' temporaries */
	wim_limb acc[4 * NL], sel[3 * NL];
	uint32_t w[3 * 8];               /* the comb entry read with masks */
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

/* R = P + Q for Q = (y + x, y - x, 2d·x·y) affine (add-2008-hwcd-3 with Z2 = 1, a = -1; complete here).
 * R may alias P. */
static void madd(ed_ctx *c, wim_limb *R, const wim_limb *P, const wim_limb *Q)
{
	fsub(c, F(0), Y_(P), X_(P));
	fmul(c, F(0), F(0), Q + NL);   /* A = (Y1 - X1)(y2 - x2) */
	fadd(c, F(1), Y_(P), X_(P));
	fmul(c, F(1), F(1), Q);        /* B = (Y1 + X1)(y2 + x2) */
	fmul(c, F(2), T_(P), Q + 2 * NL); /* C = T1·2d·x2·y2 */
	fadd(c, F(3), Z_(P), Z_(P));   /* D = 2·Z1 */
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

/* c->acc = k·B for a secret k < 2^256 (NL limbs), by the comb: k = k0 + 2^64·k1 + 2^128·k2 + 2^192·k3, and
 * for i = 63 .. 0 one doubling and one addition of comb[bit i of k0, k1, k2, k3], whatever the bits; the
 * entry is read by going through the whole table with masks. */
static void base_mul(ed_ctx *c, const wim_limb *k)
{
	wim_bn_zero(c->acc, 4 * NL);
	wim_bn_copy(Y_(c->acc), c->fp.one, NL);
	wim_bn_copy(Z_(c->acc), c->fp.one, NL);
	for (size_t i = 64; i-- > 0;) {
		pdbl(c, c->acc, c->acc);
		wim_limb digit = 0;
		for (size_t j = 0; j < 4; j++) {
			size_t bit = 64 * j + i;
			digit |= ((k[bit / WIM_LIMB_BITS] >> (bit % WIM_LIMB_BITS)) & 1) << j;
		}
		memset(c->w, 0, sizeof(c->w));
		for (size_t e = 0; e < 16; e++) {
			uint32_t mask = (uint32_t)~wim_ct_nonzero_mask(digit ^ (wim_limb)e);
			const uint32_t *t = comb[e][0];
			for (size_t n = 0; n < 3 * 8; n++)
				c->w[n] |= t[n] & mask;
		}
		wim_bn_zero(c->sel, 3 * NL);
		for (size_t n = 0; n < 3 * 8; n++) /* words to limbs: coordinate n / 8, word n % 8 */
			c->sel[(n / 8) * NL + (n % 8) * 32 / WIM_LIMB_BITS] |= (wim_limb)c->w[n] << ((n % 8) * 32 % WIM_LIMB_BITS);
		madd(c, c->acc, c->acc, c->sel);
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
