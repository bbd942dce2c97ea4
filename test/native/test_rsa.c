/*
 * test_rsa.c — RSA: a known answer with a key made by OpenSSL, seeded key generation (2048 always;
 * 3072 and 4096 in the full run), m^d^e == m, the fault check, argument and RNG errors, and the keys
 * written out as PKCS#1 DER for `openssl pkey -check` / `openssl pkeyutl -sign` (mk/native.mk).
 */
#include "test_flash.h"
#include "test_util.h"
#include "vectors.h"
#include "wim_bn.h"
#include "wim_crc32.h"
#include "wim_ct.h"
#include "wim_rsa_key.h"

#include <string.h>

#define SECTOR 4096u
#define NSECT 16u
/* The seeded 2048-bit key is the same on every build: pinned after OpenSSL accepted it. */
#ifndef KEYGEN_2048_SEED1_CRC
#define KEYGEN_2048_SEED1_CRC 0xdde9f910u
#endif

static uint8_t flash_mem[SECTOR * NSECT];
static t_flash fl;
static wim_store st;
static uint8_t scratch[40000];
static uint8_t in[512], out[512], mod[512];
static wim_limb ta[WIM_BN_LIMBS(4096)], tb[WIM_BN_LIMBS(4096)], trr[WIM_BN_LIMBS(4096)],
		tone[WIM_BN_LIMBS(4096)], tt[WIM_BN_MODEXP_SCRATCH(WIM_BN_LIMBS(4096))];

/* Checks with the public exponent, independently of the private path: y^e mod n == x. */
static int public_check(const uint8_t *n, uint32_t bits, uint32_t e, const uint8_t *x, const uint8_t *y)
{
	size_t L = WIM_BN_LIMBS(bits);
	wim_limb nn[WIM_BN_LIMBS(4096)];
	wim_mont ctx;
	wim_bn_from_be(nn, L, n, bits / 8);
	wim_bn_from_be(ta, L, y, bits / 8);
	wim_mont_init(&ctx, nn, L, trr, tone, tt);
	wim_bn_mod_exp_pub(tb, ta, e, &ctx, tt);
	uint8_t got[512];
	wim_bn_to_be(got, bits / 8, tb, L);
	return memcmp(got, x, bits / 8) == 0;
}

/* An input below n: random bytes with a clear top byte. */
static void make_input(uint8_t *x, uint32_t bits, t_rng *r)
{
	for (uint32_t i = 0; i < bits / 8; i++)
		x[i] = (uint8_t)t_rng_next(r);
	x[0] = 0;
}

#ifndef WIM_TEST_EMBEDDED
static uint8_t keyrec[WIM_RSA_KEY_LEN(4096)];

/* ---- PKCS#1 RSAPrivateKey DER, for the OpenSSL cross-check (test-only) ---- */

static size_t der_len(uint8_t *o, size_t len)
{
	if (len < 0x80) {
		o[0] = (uint8_t)len;
		return 1;
	}
	if (len < 0x100) {
		o[0] = 0x81;
		o[1] = (uint8_t)len;
		return 2;
	}
	o[0] = 0x82;
	o[1] = (uint8_t)(len >> 8);
	o[2] = (uint8_t)len;
	return 3;
}

/* INTEGER from big-endian magnitude bytes. */
static size_t der_int(uint8_t *o, const uint8_t *v, size_t len)
{
	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	size_t pad = v[0] & 0x80 ? 1 : 0, k = 0;
	o[k++] = 0x02;
	k += der_len(o + k, len + pad);
	if (pad)
		o[k++] = 0;
	memcpy(o + k, v, len);
	return k + len;
}

/* Writes the key of record bytes `rec` (wim_rsa_key.h layout) as DER; d = e^-1 mod (p-1)(q-1). */
static int write_der(const char *path, const uint8_t *rec)
{
	uint32_t bits = (uint32_t)rec[1] << 8 | rec[2];
	uint32_t e = (uint32_t)rec[3] << 24 | (uint32_t)rec[4] << 16 | (uint32_t)rec[5] << 8 | rec[6];
	size_t B = bits / 8, Hb = bits / 16, L = WIM_BN_LIMBS(bits), H = WIM_BN_LIMBS(bits / 2);
	const uint8_t *n = rec + WIM_RSA_KEY_HDR, *p = n + B, *q = p + Hb, *dp = q + Hb, *dq = dp + Hb,
		      *qi = dq + Hb;
	static wim_limb pl[WIM_BN_LIMBS(2048)], ql[WIM_BN_LIMBS(2048)], phi[WIM_BN_LIMBS(4096)],
			d[WIM_BN_LIMBS(4096)], t[WIM_BN_LIMBS(4096) + 1];
	static uint8_t db[512], eb[4], der[4096], body[4096];
	wim_bn_from_be(pl, H, p, Hb);
	wim_bn_from_be(ql, H, q, Hb);
	wim_bn_sub_limb(pl, pl, 1, H);
	wim_bn_sub_limb(ql, ql, 1, H);
	wim_bn_mul(phi, pl, H, ql, H);
	if (wim_rsa_inv_e(d, phi, L, e, t))
		return -1;
	wim_bn_to_be(db, B, d, L);
	eb[0] = (uint8_t)(e >> 24);
	eb[1] = (uint8_t)(e >> 16);
	eb[2] = (uint8_t)(e >> 8);
	eb[3] = (uint8_t)e;
	uint8_t zero = 0;
	size_t k = 0;
	k += der_int(body + k, &zero, 1);
	k += der_int(body + k, n, B);
	k += der_int(body + k, eb, 4);
	k += der_int(body + k, db, B);
	k += der_int(body + k, p, Hb);
	k += der_int(body + k, q, Hb);
	k += der_int(body + k, dp, Hb);
	k += der_int(body + k, dq, Hb);
	k += der_int(body + k, qi, Hb);
	size_t h = 0;
	der[h++] = 0x30;
	h += der_len(der + h, k);
	memcpy(der + h, body, k);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(der, 1, h + k, f);
	return fclose(f) == 0 && w == h + k ? 0 : -1;
}

static int write_file(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(b, 1, len, f);
	return fclose(f) == 0 && w == len ? 0 : -1;
}

/* Emits key `id` of the store with one input/output pair, as DIR/keyN.der, DIR/inN.bin, DIR/outN.bin. */
static void emit_key(const char *dir, int num, uint32_t id, uint32_t bits, t_rng *r)
{
	char path[512];
	uint32_t len;
	CHECK_RC(wim_store_read_secret(&st, id, keyrec, sizeof keyrec, &len), WIM_OK);
	snprintf(path, sizeof path, "%s/key%d.der", dir, num);
	CHECK(write_der(path, keyrec) == 0);
	make_input(in, bits, r);
	in[0] = 0x01; /* still below n: n's top byte is >= 0x80 */
	CHECK_RC(wim_rsa_private(&st, id, in, bits / 8, out, &r->rng, scratch, sizeof scratch), WIM_OK);
	snprintf(path, sizeof path, "%s/in%d.bin", dir, num);
	CHECK(write_file(path, in, bits / 8) == 0);
	snprintf(path, sizeof path, "%s/out%d.bin", dir, num);
	CHECK(write_file(path, out, bits / 8) == 0);
}
#endif

/* Generates a key into `id` with the seeded generator, checks it, and returns its modulus CRC. */
static uint32_t keygen_check(uint32_t id, uint32_t bits, uint64_t seed, t_rng *r)
{
	t_rng_init(r, seed);
	double t0 = t_now_ms();
	int rc = wim_rsa_generate(&st, id, bits, &r->rng, mod, scratch, sizeof scratch);
	double t1 = t_now_ms();
	CHECK_RC(rc, WIM_OK);
	if (t1 > 0)
		printf("  keygen %u bits: %.0f ms\n", (unsigned)bits, t1 - t0);
	CHECK((mod[0] & 0x80) && (mod[bits / 8 - 1] & 1));
	uint8_t pub[512];
	uint32_t pbits = 0;
	CHECK_RC(wim_rsa_public(&st, id, pub, sizeof pub, &pbits), WIM_OK);
	CHECK(pbits == bits && memcmp(pub, mod, bits / 8) == 0);
	for (int k = 0; k < 2; k++) {
		make_input(in, bits, r);
		CHECK_RC(wim_rsa_private(&st, id, in, bits / 8, out, &r->rng, scratch, sizeof scratch), WIM_OK);
		CHECK(public_check(mod, bits, WIM_RSA_E, in, out));
	}
	return wim_crc32(mod, bits / 8);
}

void test_rsa(int full, const char *emit_dir)
{
	t_rng r;
	t_rng_init(&r, 7);
	t_flash_init(&fl, flash_mem, sizeof flash_mem, SECTOR);
	CHECK_RC(wim_store_format(&st, &fl.f), WIM_OK);

	size_t s2 = wim_rsa_scratch_size(2048), s4 = wim_rsa_scratch_size(4096);
	printf("  scratch: %zu bytes (2048), %zu (3072), %zu (4096)\n", s2, wim_rsa_scratch_size(3072), s4);
	CHECK(s2 > 0 && s2 < s4 && s4 <= sizeof scratch);

	/* the key OpenSSL made, imported; its known answer */
	static uint8_t n[256], p[128], q[128], dp[128], dq[128], qi[128], x[256], y[256];
	t_hex(n, 256, kat_rsa_n);
	t_hex(p, 128, kat_rsa_p);
	t_hex(q, 128, kat_rsa_q);
	t_hex(dp, 128, kat_rsa_dp);
	t_hex(dq, 128, kat_rsa_dq);
	t_hex(qi, 128, kat_rsa_qinv);
	t_hex(x, 256, kat_rsa_in);
	t_hex(y, 256, kat_rsa_out);
	CHECK_RC(wim_rsa_import(&st, 10, 2048, kat_rsa_e, n, p, q, dp, dq, qi, scratch, sizeof scratch), WIM_OK);
	CHECK_RC(wim_rsa_private(&st, 10, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_OK);
	CHECK(memcmp(out, y, 256) == 0);
	/* p and q swapped (q > p then) with qinv recomputed is another valid form: not needed; instead the
	 * same input again gives the same output under fresh blinding */
	CHECK_RC(wim_rsa_private(&st, 10, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_OK);
	CHECK(memcmp(out, y, 256) == 0);
	uint32_t bits = 0;
	CHECK_RC(wim_rsa_public(&st, 10, mod, sizeof mod, &bits), WIM_OK);
	CHECK(bits == 2048 && memcmp(mod, n, 256) == 0);
	CHECK_RC(wim_rsa_public(&st, 10, mod, 255, &bits), WIM_E_TOOBIG);
	CHECK(wim_store_get(&st, 10, out, sizeof out, &bits) == WIM_E_SECRET);

	double t0 = t_now_ms();
	int reps = full ? 50 : 2;
	for (int i = 0; i < reps; i++)
		wim_rsa_private(&st, 10, x, 256, out, &r.rng, scratch, sizeof scratch);
	double t1 = t_now_ms();
	if (t1 > 0)
		printf("  private op 2048 (CRT, blinded, checked): %.2f ms\n", (t1 - t0) / reps);

	/* arguments */
	CHECK_RC(wim_rsa_private(&st, 10, x, 255, out, &r.rng, scratch, sizeof scratch), WIM_E_ARG);
	memset(out, 0xaa, 256);
	CHECK_RC(wim_rsa_private(&st, 10, n, 256, out, &r.rng, scratch, sizeof scratch), WIM_E_ARG);
	CHECK(out[0] == 0 && out[255] == 0);
	CHECK_RC(wim_rsa_private(&st, 10, x, 256, out, &r.rng, scratch, s2 - 1), WIM_E_SCRATCH);
	CHECK_RC(wim_rsa_private(&st, 99, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_E_NOTFOUND);
	r.fail_after = r.calls;
	CHECK_RC(wim_rsa_private(&st, 10, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_E_RNG);
	CHECK_RC(wim_rsa_generate(&st, 12, 2048, &r.rng, mod, scratch, sizeof scratch), WIM_E_RNG);
	r.fail_after = -1;
	CHECK_RC(wim_rsa_generate(&st, 12, 1024, &r.rng, mod, scratch, sizeof scratch), WIM_E_ARG);
	CHECK_RC(wim_rsa_generate(&st, 12, 2048, &r.rng, mod, scratch, s2 - 1), WIM_E_SCRATCH);
	p[127] ^= 2;
	CHECK_RC(wim_rsa_import(&st, 11, 2048, kat_rsa_e, n, p, q, dp, dq, qi, scratch, sizeof scratch), WIM_E_ARG);
	p[127] ^= 2;

	/* faults: a wrong CRT exponent or coefficient must not release anything */
	dp[100] ^= 0x10;
	CHECK_RC(wim_rsa_import(&st, 11, 2048, kat_rsa_e, n, p, q, dp, dq, qi, scratch, sizeof scratch), WIM_OK);
	memset(out, 0xaa, 256);
	CHECK_RC(wim_rsa_private(&st, 11, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_E_FAULT);
	CHECK(out[0] == 0 && out[128] == 0 && out[255] == 0);
	dp[100] ^= 0x10;
	qi[5] ^= 1;
	CHECK_RC(wim_rsa_import(&st, 11, 2048, kat_rsa_e, n, p, q, dp, dq, qi, scratch, sizeof scratch), WIM_OK);
	CHECK_RC(wim_rsa_private(&st, 11, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_E_FAULT);
	qi[5] ^= 1;

	/* seeded key generation: the same seed gives the same key with 32- and 64-bit limbs */
	uint32_t crc = keygen_check(20, 2048, 1, &r);
	printf("  keygen 2048 seed 1: modulus crc32 %08x\n", (unsigned)crc);
	CHECK(crc == KEYGEN_2048_SEED1_CRC);
#ifndef WIM_TEST_EMBEDDED
	int num = 0;
	if (emit_dir)
		emit_key(emit_dir, num++, 20, 2048, &r);
	if (full) {
		keygen_check(21, 2048, 2, &r);
		keygen_check(22, 3072, 3, &r);
		keygen_check(23, 4096, 4, &r);
		if (emit_dir) {
			emit_key(emit_dir, num++, 21, 2048, &r);
			emit_key(emit_dir, num++, 22, 3072, &r);
			emit_key(emit_dir, num++, 23, 4096, &r);
		}
	}
	if (emit_dir)
		emit_key(emit_dir, num++, 10, 2048, &r); /* the OpenSSL-made key too */
#else
	(void)full;
	(void)emit_dir;
#endif
	/* keys survive a remount */
	CHECK_RC(wim_store_mount(&st, &fl.f), WIM_OK);
	CHECK_RC(wim_rsa_private(&st, 10, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_OK);
	CHECK(memcmp(out, y, 256) == 0);
	CHECK(fl.violations == 0);
}

/* Part of the secret-dependence workload: the exponentiation (and the reductions the private operation
 * uses) at every modulus size of RSA-2048..4096 — the CRT halves (16, 24, 32 limbs of 64 bits: the
 * unrolled fixed-size code) and the full moduli (48, 64: the generic loops) — with the modulus, the base
 * and the exponent marked secret. */
static void ct_sizes(t_rng *r)
{
	static const size_t sizes[] = { 1024, 1536, 2048, 3072, 4096 };
	static wim_limb m[WIM_BN_LIMBS(4096)], a[2 * WIM_BN_LIMBS(4096)], e[WIM_BN_LIMBS(4096)];
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		size_t n = WIM_BN_LIMBS(sizes[si]);
		wim_mont ctx;
		for (size_t i = 0; i < 2 * n; i++) {
			a[i] = (wim_limb)t_rng_next(r);
			if (i < n) {
				m[i] = (wim_limb)t_rng_next(r);
				e[i] = (wim_limb)t_rng_next(r);
			}
		}
		m[0] |= 1;
		m[n - 1] |= (wim_limb)1 << (WIM_LIMB_BITS - 1);
		a[2 * n - 1] >>= 1; /* a < m R */
		WIM_SECRET(m, n * sizeof(wim_limb));
		WIM_SECRET(a, 2 * n * sizeof(wim_limb));
		WIM_SECRET(e, n * sizeof(wim_limb));
		wim_mont_init(&ctx, m, n, trr, tone, tt);
		wim_mont_mod(ta, a, 2 * n, &ctx, tt);
		wim_bn_mod_exp(tb, ta, e, sizes[si], &ctx, tt);
		wim_limb below = wim_bn_lt(tb, m, n);
		WIM_PUBLIC(&below, sizeof below);
		CHECK(below);
	}
}

/* The secret-dependence check's workload (run under valgrind by `make native-ct`): the exponentiation at
 * every size, one private operation with the OpenSSL-made key and one seeded key generation; the core
 * marks the secrets. */
void test_rsa_ct(void)
{
	t_rng r;
	static uint8_t n[256], p[128], q[128], dp[128], dq[128], qi[128], x[256], y[256];
	t_rng_init(&r, 11);
	ct_sizes(&r);
	t_flash_init(&fl, flash_mem, sizeof flash_mem, SECTOR);
	CHECK_RC(wim_store_format(&st, &fl.f), WIM_OK);
	t_hex(n, 256, kat_rsa_n);
	t_hex(p, 128, kat_rsa_p);
	t_hex(q, 128, kat_rsa_q);
	t_hex(dp, 128, kat_rsa_dp);
	t_hex(dq, 128, kat_rsa_dq);
	t_hex(qi, 128, kat_rsa_qinv);
	t_hex(x, 256, kat_rsa_in);
	t_hex(y, 256, kat_rsa_out);
	CHECK_RC(wim_rsa_import(&st, 10, 2048, kat_rsa_e, n, p, q, dp, dq, qi, scratch, sizeof scratch), WIM_OK);
	CHECK_RC(wim_rsa_private(&st, 10, x, 256, out, &r.rng, scratch, sizeof scratch), WIM_OK);
	CHECK(memcmp(out, y, 256) == 0);
	/* key generation: candidates, Miller-Rabin, dp, dq, qinv */
	t_rng_init(&r, 1);
	CHECK_RC(wim_rsa_generate(&st, 20, 2048, &r.rng, mod, scratch, sizeof scratch), WIM_OK);
	CHECK(wim_crc32(mod, 256) == KEYGEN_2048_SEED1_CRC);
}
