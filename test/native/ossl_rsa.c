/* ossl_rsa.c — see ossl_rsa.h. */
#define _POSIX_C_SOURCE 200809L
#include "ossl_rsa.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <string.h>
#include <time.h>

static int ram_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	ossl_store *s = ctx;
	if (off > s->flash.size || len > s->flash.size - off)
		return WIM_E_FLASH;
	memcpy(buf, s->mem + off, len);
	return WIM_OK;
}

static int ram_write(void *ctx, uint32_t off, const void *buf, uint32_t len)
{
	ossl_store *s = ctx;
	if (off > s->flash.size || len > s->flash.size - off)
		return WIM_E_FLASH;
	const uint8_t *b = buf;
	for (uint32_t i = 0; i < len; i++)
		s->mem[off + i] &= b[i]; /* NOR: a write only clears bits */
	return WIM_OK;
}

static int ram_erase(void *ctx, uint32_t off)
{
	ossl_store *s = ctx;
	if (off % s->flash.sector_size || off >= s->flash.size)
		return WIM_E_FLASH;
	memset(s->mem + off, 0xff, s->flash.sector_size);
	return WIM_OK;
}

int ossl_store_init(ossl_store *s)
{
	memset(s->mem, 0xff, sizeof s->mem);
	s->flash.ctx = s;
	s->flash.size = sizeof s->mem;
	s->flash.sector_size = 4096;
	s->flash.read = ram_read;
	s->flash.write = ram_write;
	s->flash.erase = ram_erase;
	return wim_store_format(&s->st, &s->flash);
}

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void ossl_rng_bytes(ossl_rng *r, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix(&r->state);
		for (size_t k = 0; k < 8 && i + k < len; k++)
			buf[i + k] = (uint8_t)(v >> (8 * k));
	}
}

static int rng_fill(void *ctx, uint8_t *buf, size_t len)
{
	ossl_rng_bytes(ctx, buf, len);
	return WIM_OK;
}

void ossl_rng_init(ossl_rng *r, uint64_t seed)
{
	r->rng.ctx = r;
	r->rng.fill = rng_fill;
	r->state = seed;
}

int ossl_read_record(ossl_store *s, uint32_t id, uint8_t *rec, size_t cap)
{
	uint32_t len;
	return wim_store_read_secret(&s->st, id, rec, (uint32_t)cap, &len);
}

EVP_PKEY *ossl_key_from_record(const uint8_t *rec)
{
	uint32_t bits = (uint32_t)rec[1] << 8 | rec[2];
	uint32_t e = (uint32_t)rec[3] << 24 | (uint32_t)rec[4] << 16 | (uint32_t)rec[5] << 8 | rec[6];
	size_t B = bits / 8, Hb = bits / 16;
	const uint8_t *f = rec + WIM_RSA_KEY_HDR;
	BIGNUM *n = BN_bin2bn(f, (int)B, NULL), *p = BN_bin2bn(f + B, (int)Hb, NULL),
	       *q = BN_bin2bn(f + B + Hb, (int)Hb, NULL), *dp = BN_bin2bn(f + B + 2 * Hb, (int)Hb, NULL),
	       *dq = BN_bin2bn(f + B + 3 * Hb, (int)Hb, NULL), *qi = BN_bin2bn(f + B + 4 * Hb, (int)Hb, NULL),
	       *be = BN_new(), *d = BN_new(), *p1 = BN_new(), *q1 = BN_new(), *phi = BN_new();
	BN_CTX *bc = BN_CTX_new();
	EVP_PKEY *pk = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!n || !p || !q || !dp || !dq || !qi || !be || !d || !p1 || !q1 || !phi || !bc || !bld || !ctx)
		goto out;
	if (!BN_set_word(be, e) || !BN_sub(p1, p, BN_value_one()) || !BN_sub(q1, q, BN_value_one()) ||
			!BN_mul(phi, p1, q1, bc) || !BN_mod_inverse(d, be, phi, bc))
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
			!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
			!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
			!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
			!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
			!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
			!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
			!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
			EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) <= 0)
		pk = NULL;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_CTX_free(bc);
	BN_free(n);
	BN_free(p);
	BN_free(q);
	BN_free(dp);
	BN_free(dq);
	BN_free(qi);
	BN_free(be);
	BN_clear_free(d);
	BN_free(p1);
	BN_free(q1);
	BN_free(phi);
	return pk;
}

int ossl_key_check(EVP_PKEY *pk)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int ok = ctx && EVP_PKEY_check(ctx) == 1 && EVP_PKEY_pairwise_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

EVP_PKEY_CTX *ossl_raw_ctx(EVP_PKEY *pk)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx || EVP_PKEY_decrypt_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int ossl_raw_private(EVP_PKEY_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t outlen = len;
	if (EVP_PKEY_decrypt(ctx, out, &outlen, in, len) <= 0 || outlen != len)
		return -1;
	return 0;
}

EVP_PKEY_CTX *ossl_raw_pub_ctx(EVP_PKEY *pk)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int ossl_raw_public(EVP_PKEY_CTX *ctx, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t outlen = len;
	if (EVP_PKEY_encrypt(ctx, out, &outlen, in, len) <= 0 || outlen != len)
		return -1;
	return 0;
}

double ossl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
