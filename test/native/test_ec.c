/*
 * test_ec.c — the EC core's own tests (P-256, P-384), which also run on rv32imc under QEMU and in the
 * sanitizer and secret-dependence builds. OpenSSL's cross-check is test/native/diff_ec.c.
 *
 * Without an outside reference, a signature is checked by its equations: the nonce k is recomputed from
 * a copy of the seeded generator (the core's documented reduction of size + 16 bytes mod n), then
 * r = x(k·G) mod n (k·G by wim_ec_public) and s·k = e + r·d (mod n, with wim_bn's Montgomery
 * arithmetic). Points are checked against the standard's base point, its negation, and ECDH's symmetry.
 */
#include <string.h>

#include "test_flash.h"
#include "test_util.h"
#include "wim_bn.h"
#include "wim_ec.h"

#define L WIM_BN_LIMBS(384)

static uint64_t scratch[8192 / 8 * 2];
#define SCRATCH scratch, sizeof scratch

typedef struct curve_kat {
	int id;
	size_t size;
	const char *n, *p, *gx, *gy; /* from FIPS 186-5 / SP 800-186 */
} curve_kat;

static const curve_kat KATS[] = {
	{ WIM_EC_P256, 32,
	  "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
	  "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
	  "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
	  "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5" },
	{ WIM_EC_P384, 48,
	  "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
	  "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
	  "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
	  "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f" },
};

/* Arithmetic mod n for the checks. */
typedef struct modn {
	wim_limb n[L], rr[L], one[L], t[L + 2];
	wim_mont ctx;
	size_t nl;
} modn;

static void modn_init(modn *m, const curve_kat *k)
{
	uint8_t b[48];
	m->nl = WIM_BN_LIMBS(k->size * 8);
	t_hex(b, k->size, k->n);
	wim_bn_from_be(m->n, m->nl, b, k->size);
	wim_mont_init(&m->ctx, m->n, m->nl, m->rr, m->one, m->t);
}

/* r = a·b mod n for a, b < n (normal form). */
static void modn_mul(modn *m, wim_limb *r, const wim_limb *a, const wim_limb *b)
{
	wim_limb am[L];
	wim_mont_to(am, a, &m->ctx, m->t);
	wim_mont_mul(r, am, b, &m->ctx, m->t);
}

/* The scalar the core draws from `len` bytes of rng: big-endian, reduced mod n. */
static void modn_from_wide(modn *m, wim_limb *r, const uint8_t *b, size_t len)
{
	wim_limb wide[2 * L];
	size_t wl = WIM_BN_LIMBS(len * 8);
	wim_bn_from_be(wide, wl, b, len);
	wim_mont_mod(r, wide, wl, &m->ctx, m->t);
}

static void check_signature(const curve_kat *k, modn *m, const uint8_t *d, const uint8_t *hash, size_t hlen,
		t_rng *rng)
{
	size_t size = k->size, nl = m->nl;
	uint8_t rs[96], kb[48 + 16], kbytes[48], kg[96];
	wim_limb kk[L], r[L], s[L], e[L], dd[L], lhs[L], rhs[L], x[L];
	t_rng copy = *rng;
	copy.rng.ctx = &copy;
	if (!CHECK_RC(wim_ec_sign(k->id, d, hash, hlen, &rng->rng, rs, SCRATCH), WIM_OK))
		return;
	CHECK(copy.rng.fill(copy.rng.ctx, kb, size + 16) == WIM_OK);
	modn_from_wide(m, kk, kb, size + 16);
	wim_bn_to_be(kbytes, size, kk, nl);
	CHECK_RC(wim_ec_public(k->id, kbytes, kg, SCRATCH), WIM_OK);
	/* r = x(k·G) mod n */
	wim_bn_from_be(x, nl, kg, size);
	if (!wim_bn_lt(x, m->n, nl))
		wim_bn_sub(x, x, m->n, nl);
	wim_bn_from_be(r, nl, rs, size);
	wim_bn_from_be(s, nl, rs + size, size);
	CHECK(wim_bn_eq(r, x, nl));
	CHECK(!wim_bn_is_zero(s, nl) && wim_bn_lt(s, m->n, nl));
	/* s·k = e + r·d (mod n), e the hash's leftmost size bytes mod n */
	wim_bn_from_be(e, nl, hash, hlen < size ? hlen : size);
	if (!wim_bn_lt(e, m->n, nl))
		wim_bn_sub(e, e, m->n, nl);
	wim_bn_from_be(dd, nl, d, size);
	modn_mul(m, lhs, s, kk);
	modn_mul(m, rhs, r, dd);
	wim_limb carry = wim_bn_add(rhs, rhs, e, nl);
	if (carry || !wim_bn_lt(rhs, m->n, nl))
		wim_bn_sub(rhs, rhs, m->n, nl);
	CHECK(wim_bn_eq(lhs, rhs, nl));
}

static void test_curve(const curve_kat *k)
{
	size_t size = k->size;
	uint8_t d[48], e[48], g[96], xy[96], xy2[96], x1[48], x2[48], hash[64], p[48];
	modn m;
	t_rng rng;
	modn_init(&m, k);
	t_rng_init(&rng, 0xec + (uint64_t)k->id);

	/* 1·G = G; (n-1)·G = (Gx, p - Gy) */
	t_hex(g, size, k->gx);
	t_hex(g + size, size, k->gy);
	memset(d, 0, size);
	d[size - 1] = 1;
	CHECK_RC(wim_ec_public(k->id, d, xy, SCRATCH), WIM_OK);
	CHECK(memcmp(xy, g, 2 * size) == 0);
	t_hex(d, size, k->n);
	d[size - 1] -= 1; /* n is odd: no borrow */
	CHECK_RC(wim_ec_public(k->id, d, xy, SCRATCH), WIM_OK);
	CHECK(memcmp(xy, g, size) == 0);
	{
		wim_limb pl[L], gy[L], ny[L];
		t_hex(p, size, k->p);
		wim_bn_from_be(pl, m.nl, p, size);
		wim_bn_from_be(gy, m.nl, g + size, size);
		wim_bn_sub(ny, pl, gy, m.nl);
		wim_bn_to_be(p, size, ny, m.nl);
		CHECK(memcmp(xy + size, p, size) == 0);
	}
	/* secrets 0 and n are refused */
	memset(d, 0, size);
	CHECK_RC(wim_ec_public(k->id, d, xy, SCRATCH), WIM_E_SECRET);
	t_hex(d, size, k->n);
	CHECK_RC(wim_ec_ecdh(k->id, d, g, x1, SCRATCH), WIM_E_SECRET);

	for (int i = 0; i < 4; i++) {
		/* random secrets: ECDH is symmetric, a·(b·G) = b·(a·G) */
		wim_limb a[L];
		uint8_t wide[64];
		rng.rng.fill(rng.rng.ctx, wide, size + 16);
		modn_from_wide(&m, a, wide, size + 16);
		wim_bn_to_be(d, size, a, m.nl);
		rng.rng.fill(rng.rng.ctx, wide, size + 16);
		modn_from_wide(&m, a, wide, size + 16);
		wim_bn_to_be(e, size, a, m.nl);
		CHECK_RC(wim_ec_public(k->id, d, xy, SCRATCH), WIM_OK);
		CHECK_RC(wim_ec_public(k->id, e, xy2, SCRATCH), WIM_OK);
		CHECK_RC(wim_ec_ecdh(k->id, d, xy2, x1, SCRATCH), WIM_OK);
		CHECK_RC(wim_ec_ecdh(k->id, e, xy, x2, SCRATCH), WIM_OK);
		CHECK(memcmp(x1, x2, size) == 0);
		/* signatures over hashes shorter than, equal to and longer than the order */
		size_t hlen = i == 0 ? 20 : i == 1 ? size : 64;
		rng.rng.fill(rng.rng.ctx, hash, hlen);
		check_signature(k, &m, d, hash, hlen, &rng);
	}
	/* a peer off the curve */
	xy[2 * size - 1] ^= 1;
	CHECK_RC(wim_ec_ecdh(k->id, d, xy, x1, SCRATCH), WIM_E_ARG);

	/* generation stores the secret whose point it returns */
	{
		static uint8_t mem[8 * 4096];
		t_flash fl;
		wim_store st;
		uint8_t secret[48];
		uint32_t len = 0;
		t_flash_init(&fl, mem, sizeof mem, 4096);
		CHECK_RC(wim_store_format(&st, &fl.f), WIM_OK);
		CHECK_RC(wim_ec_generate(&st, 3, k->id, &rng.rng, xy, SCRATCH), WIM_OK);
		CHECK_RC(wim_store_read_secret(&st, 3, secret, sizeof secret, &len), WIM_OK);
		CHECK(len == size);
		CHECK_RC(wim_ec_public(k->id, secret, xy2, SCRATCH), WIM_OK);
		CHECK(memcmp(xy, xy2, 2 * size) == 0);
		rng.fail_after = rng.calls; /* the RNG fails: nothing is stored */
		CHECK_RC(wim_ec_generate(&st, 4, k->id, &rng.rng, xy, SCRATCH), WIM_E_RNG);
		CHECK_RC(wim_store_read_secret(&st, 4, secret, sizeof secret, &len), WIM_E_NOTFOUND);
		CHECK_RC(wim_ec_sign(k->id, d, hash, size, &rng.rng, xy, SCRATCH), WIM_E_RNG);
		rng.fail_after = -1;
	}
	CHECK_RC(wim_ec_sign(k->id, d, hash, size, &rng.rng, xy, scratch, wim_ec_scratch_size() - 1), WIM_E_SCRATCH);
	CHECK_RC(wim_ec_sign(7, d, hash, size, &rng.rng, xy, SCRATCH), WIM_E_ARG);
	CHECK(wim_ec_size(k->id) == size);
}

void test_ec(void)
{
	CHECK(wim_ec_scratch_size() <= sizeof scratch);
	CHECK(wim_ec_size(0) == 0 && wim_ec_size(3) == 0);
	for (size_t i = 0; i < sizeof KATS / sizeof KATS[0]; i++)
		test_curve(&KATS[i]);
}

/* The secret-dependence workload (under valgrind; the core marks d and k secret). */
void test_ec_ct(void)
{
	t_rng rng;
	uint8_t d[48], xy[96], x[48], hash[48], rs[96];
	static uint8_t mem[8 * 4096];
	t_flash fl;
	wim_store st;
	t_rng_init(&rng, 5);
	for (size_t i = 0; i < sizeof KATS / sizeof KATS[0]; i++) {
		const curve_kat *k = &KATS[i];
		memset(d, 0x11, k->size);
		memset(hash, 0x22, k->size);
		CHECK_RC(wim_ec_public(k->id, d, xy, SCRATCH), WIM_OK);
		CHECK_RC(wim_ec_sign(k->id, d, hash, k->size, &rng.rng, rs, SCRATCH), WIM_OK);
		CHECK_RC(wim_ec_ecdh(k->id, d, xy, x, SCRATCH), WIM_OK);
		t_flash_init(&fl, mem, sizeof mem, 4096);
		CHECK_RC(wim_store_format(&st, &fl.f), WIM_OK);
		CHECK_RC(wim_ec_generate(&st, 1, k->id, &rng.rng, xy, SCRATCH), WIM_OK);
	}
}
