/*
 * test_ec.c — the EC core's own tests (P-256, P-384), which also run on rv32imc under QEMU and in the
 * sanitizer and secret-dependence builds. OpenSSL's cross-check is test/native/diff_ec.c.
 *
 * Without an outside reference, a signature is checked by its equation: k = (e + r·d) / s mod n must
 * give r = x(k·G) mod n (k·G by wim_ec_public), for hedged and deterministic nonces; the deterministic
 * nonce is checked against RFC 6979's published signatures, SHA-256 against FIPS 180-4's examples.
 * Points are checked against the standard's base point, its negation, and ECDH's symmetry.
 */
#include <string.h>

#include "test_flash.h"
#include "test_util.h"
#include "wim_bn.h"
#include "wim_ec.h"
#include "wim_sha256.h"

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

/* A signature verified by its equation, without knowing how k was made: k = (e + r·d) / s mod n must
 * give x(k·G) mod n = r (for a wrong (r, s), k·G is a random point). */
static void check_signature(const curve_kat *k, modn *m, const uint8_t *d, const uint8_t *hash, size_t hlen,
		const wim_rng *rng)
{
	size_t size = k->size, nl = m->nl;
	uint8_t rs[96], kbytes[48], kg[96];
	wim_limb kk[L], r[L], s[L], e[L], dd[L], t[L], x[L], sinv[L], inv_t[WIM_BN_MODINV_SCRATCH(L)];
	if (!CHECK_RC(wim_ec_sign(k->id, d, hash, hlen, rng, rs, SCRATCH), WIM_OK))
		return;
	wim_bn_from_be(r, nl, rs, size);
	wim_bn_from_be(s, nl, rs + size, size);
	CHECK(!wim_bn_is_zero(r, nl) && wim_bn_lt(r, m->n, nl));
	CHECK(!wim_bn_is_zero(s, nl) && wim_bn_lt(s, m->n, nl));
	/* e = the hash's leftmost size bytes mod n */
	wim_bn_from_be(e, nl, hash, hlen < size ? hlen : size);
	if (!wim_bn_lt(e, m->n, nl))
		wim_bn_sub(e, e, m->n, nl);
	wim_bn_from_be(dd, nl, d, size);
	modn_mul(m, t, r, dd);
	wim_limb carry = wim_bn_add(t, t, e, nl);
	if (carry || !wim_bn_lt(t, m->n, nl))
		wim_bn_sub(t, t, m->n, nl);
	CHECK(wim_bn_mod_inv_vartime(sinv, s, m->n, nl, inv_t) == 0);
	modn_mul(m, kk, t, sinv);
	wim_bn_to_be(kbytes, size, kk, nl);
	CHECK_RC(wim_ec_public(k->id, kbytes, kg, SCRATCH), WIM_OK);
	wim_bn_from_be(x, nl, kg, size);
	if (!wim_bn_lt(x, m->n, nl))
		wim_bn_sub(x, x, m->n, nl);
	CHECK(wim_bn_eq(r, x, nl));
}

/* RFC 6979 appendix A.2.5 (P-256) and A.2.6 (P-384), message "sample" hashed with SHA-256: the
 * deterministic nonce (no hedge) must give exactly the published signature. */
static void test_rfc6979(void)
{
	static const struct { int id; size_t size; const char *x, *rs; } V[] = {
		{ WIM_EC_P256, 32, "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
		  "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
		  "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8" },
		{ WIM_EC_P384, 48,
		  "6b9d3dad2e1b8c1c05b19875b6659f4de23c3b667bf297ba9aa47740787137d896d5724e4c70a825f872c9ea60d2edf5",
		  "21b13d1e013c7fa1392d03c5f99af8b30c570c6f98d4ea8e354b63a21d3daa33bde1e888e63355d92fa2b3c36d8fb2cd"
		  "f3aa443fb107745bf4bd77cb3891674632068a10ca67e3d45db2266fa7d1feebefdc63eccd1ac42ec0cb8668a4fa0ab0" },
	};
	uint8_t h[32], want[32], d[48], rs[96], exp[96];
	wim_sha256 c;
	/* SHA-256 itself: FIPS 180-4's "abc", and a message over two blocks */
	wim_sha256_init(&c);
	wim_sha256_update(&c, (const uint8_t *)"abc", 3);
	wim_sha256_final(&c, h);
	t_hex(want, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK(memcmp(h, want, 32) == 0);
	static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	wim_sha256_init(&c);
	for (size_t i = 0; i < sizeof two - 1; i++) /* byte by byte: the buffering */
		wim_sha256_update(&c, (const uint8_t *)two + i, 1);
	wim_sha256_final(&c, h);
	t_hex(want, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CHECK(memcmp(h, want, 32) == 0);
	wim_sha256_init(&c);
	wim_sha256_update(&c, (const uint8_t *)"sample", 6);
	wim_sha256_final(&c, h);
	for (size_t i = 0; i < 2; i++) {
		t_hex(d, V[i].size, V[i].x);
		t_hex(exp, 2 * V[i].size, V[i].rs);
		CHECK_RC(wim_ec_sign(V[i].id, d, h, sizeof h, NULL, rs, SCRATCH), WIM_OK);
		CHECK(memcmp(rs, exp, 2 * V[i].size) == 0);
	}
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
		check_signature(k, &m, d, hash, hlen, &rng.rng);
		check_signature(k, &m, d, hash, hlen, NULL);
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
	test_rfc6979();
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
