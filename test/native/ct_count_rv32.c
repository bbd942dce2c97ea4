/*
 * ct_count_rv32.c — the instruction-count half of `make native-ct-riscv`: on the device's ISA (rv32imc,
 * the same objects as build/rv32, run under qemu-system-riscv32 -icount), every private operation must
 * retire exactly the same number of instructions whatever the key and the input, for a given key size
 * and curve. A branch on a secret (a key bit, a window digit, a carry of a secret sum) changes the count
 * for some keys or inputs; a secret memory index does not (see docs/rsa.md: that is valgrind's part).
 *
 * Measured (rdinstret, exact under -icount):
 *   - RSA private operation (wim_rsa_private: store read, blinding, CRT, unblinding, re-check) for three
 *     fixed keys per size 2048/3072/4096 (test/native/ct_keys.h), two random inputs each. The one step
 *     that is variable-time on purpose — the inversion of the published blinded value r*s/R — is counted
 *     apart (the link wraps wim_bn_mod_inv_vartime) and subtracted; its count is printed as a range.
 *   - the key store's secret read of each key (wim_store_read_secret), each key in a fresh store;
 *   - P-256 and P-384: d*G (wim_ec_public), a hedged ECDSA signature over two random hashes, and ECDH
 *     with two peers, for three random scalars per curve.
 *   - Ed25519: the public key (wim_ed25519_public), a signature over three random 100-byte messages, and
 *     key generation into a fresh store, for three random seeds.
 *   - the ephemeral scalar of the secure channel (wim_ec_draw), three draws per curve.
 *   - ChaCha20-Poly1305 (wim_aead): seal of 100 bytes with 20 bytes of associated data, three keys x three
 *     messages; open of the same, with the right tag and with a tag wrong in its first, middle or last byte
 *     (the failing open must take exactly as long as the succeeding one: one group for both).
 * Built with -DCT_QUICK (the planted-branch self-test): RSA-2048 and P-256 only.
 * Exit status (through QEMU's test device): 0 when every group is uniform, 1 otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ct_keys.h"
#include "test_flash.h"
#include "test_tools.h"
#include "wim_bn.h"
#include "wim_aead.h"
#include "wim_ec.h"
#include "wim_ed25519.h"
#include "wim_rsa.h"
#include "wim_rsa_key.h"

#define RV32_SEED 0x5eed
#include "rv32_tools.h"

#define SECTOR 4096u
#define INPUTS 3
static uint8_t flash_mem[16 * SECTOR];
static uint64_t scratch[16384 / 8];

/* The variable-time inversion (public input) counted apart: the link's --wrap sends the core's calls here. */
int __real_wim_bn_mod_inv_vartime(wim_limb *r, const wim_limb *a, const wim_limb *m, size_t n, wim_limb *t);
static uint64_t inv_count;
int __wrap_wim_bn_mod_inv_vartime(wim_limb *r, const wim_limb *a, const wim_limb *m, size_t n, wim_limb *t)
{
	uint64_t t0 = instret();
	int rc = __real_wim_bn_mod_inv_vartime(r, a, m, n, t);
	inv_count += instret() - t0;
	return rc;
}

/* A group of measurements that must all be equal. */
typedef struct group {
	const char *what;
	uint64_t first, min, max;
	int runs, errors;
} group;

static int failures;

static void add(group *g, uint64_t n, int rc)
{
	if (rc != WIM_OK) {
		printf("ct-count: %s: operation failed (%d)\n", g->what, rc);
		g->errors++;
		return;
	}
	if (g->runs == 0)
		g->first = g->min = g->max = n;
	if (n < g->min)
		g->min = n;
	if (n > g->max)
		g->max = n;
	g->runs++;
}

static void done(group *g, const char *cases)
{
	if (g->errors || g->runs == 0 || g->min != g->max) {
		failures++;
		printf("ct-count: FAIL %-28s %d runs (%s): %llu .. %llu instructions (differ by %llu)\n", g->what,
		       g->runs, cases, (unsigned long long)g->min, (unsigned long long)g->max,
		       (unsigned long long)(g->max - g->min));
	} else {
		printf("ct-count: ok   %-28s %d runs (%s): %llu instructions each\n", g->what, g->runs, cases,
		       (unsigned long long)g->first);
	}
}

#define MEASURE(g, call)                              \
	do {                                          \
		uint64_t t0_ = instret();             \
		int rc_ = (call);                     \
		add((g), instret() - t0_, rc_);       \
	} while (0)

static uint8_t kn[512], kp[256], kq[256], kdp[256], kdq[256], kqi[256], in[512], out[512], key[2048];

static int load_key(wim_store *st, t_flash *fl, const ct_key *k)
{
	size_t B = k->bits / 8, H = k->bits / 16;
	memset(flash_mem, 0xff, sizeof flash_mem);
	t_flash_init(fl, flash_mem, sizeof flash_mem, SECTOR);
	if (wim_store_format(st, &fl->f) != WIM_OK)
		return -1;
	if (hex_decode(kn, B, k->n) != B || hex_decode(kp, H, k->p) != H || hex_decode(kq, H, k->q) != H ||
	    hex_decode(kdp, H, k->dp) != H || hex_decode(kdq, H, k->dq) != H || hex_decode(kqi, H, k->qinv) != H)
		return -1;
	return wim_rsa_import(st, 1, k->bits, 65537, kn, kp, kq, kdp, kdq, kqi, scratch, sizeof scratch);
}

static void rsa_size(unsigned bits, int nkeys)
{
	static char name[2][40];
	snprintf(name[0], sizeof name[0], "RSA-%u private", bits);
	snprintf(name[1], sizeof name[1], "RSA-%u key store read", bits);
	group op = { name[0], 0, 0, 0, 0, 0 }, rd = { name[1], 0, 0, 0, 0, 0 };
	uint64_t inv_min = UINT64_MAX, inv_max = 0;
	int keys = 0;
	for (size_t i = 0; i < sizeof ct_keys / sizeof ct_keys[0] && keys < nkeys; i++) {
		const ct_key *k = &ct_keys[i];
		if (k->bits != bits)
			continue;
		keys++;
		t_flash fl;
		wim_store st;
		if (load_key(&st, &fl, k) != WIM_OK) {
			printf("ct-count: RSA-%u key %d: import failed\n", bits, keys);
			failures++;
			continue;
		}
		uint32_t len;
		MEASURE(&rd, wim_store_read_secret(&st, 1, key, sizeof key, &len));
		for (int j = 0; j < INPUTS; j++) {
			splitmix_fill(&rv32_state, in, bits / 8);
			in[0] &= 0x7f; /* below n: n has its top bit set */
			inv_count = 0;
			uint64_t t0 = instret();
			int rc = wim_rsa_private(&st, 1, in, bits / 8, out, &RNG, scratch, sizeof scratch);
			uint64_t n = instret() - t0;
			add(&op, n - inv_count, rc);
			if (inv_count < inv_min)
				inv_min = inv_count;
			if (inv_count > inv_max)
				inv_max = inv_count;
		}
	}
	char cases[64];
	snprintf(cases, sizeof cases, "%d keys x %d inputs", keys, INPUTS);
	done(&op, cases);
	printf("ct-count:      (+ the inversion of the public blinded value, apart: %llu .. %llu)\n",
	       (unsigned long long)inv_min, (unsigned long long)inv_max);
	snprintf(cases, sizeof cases, "%d keys", keys);
	done(&rd, cases);
}

static void ec_curve(int curve, const char *cname, int nkeys)
{
	static char name[4][40];
	size_t size = wim_ec_size(curve);
	snprintf(name[0], sizeof name[0], "%s d*G", cname);
	snprintf(name[1], sizeof name[1], "%s ECDSA sign (hedged)", cname);
	snprintf(name[2], sizeof name[2], "%s ECDH", cname);
	snprintf(name[3], sizeof name[3], "%s ephemeral draw", cname);
	group pub = { name[0], 0, 0, 0, 0, 0 }, sig = { name[1], 0, 0, 0, 0, 0 }, dh = { name[2], 0, 0, 0, 0, 0 };
	group draw = { name[3], 0, 0, 0, 0, 0 };
	uint8_t d[48], h[32], xy[96], peer[96], rs[96], x[48];
	/* two peers: public keys of random scalars */
	uint8_t peers[INPUTS][96];
	for (int j = 0; j < INPUTS; j++) {
		splitmix_fill(&rv32_state, d, size);
		d[0] &= 0x7f;
		if (wim_ec_public(curve, d, peers[j], scratch, sizeof scratch) != WIM_OK)
			failures++;
	}
	for (int i = 0; i < nkeys; i++) {
		splitmix_fill(&rv32_state, d, size);
		d[0] &= 0x7f; /* below n */
		MEASURE(&pub, wim_ec_public(curve, d, xy, scratch, sizeof scratch));
		MEASURE(&draw, wim_ec_draw(curve, &RNG, d, scratch, sizeof scratch));
		for (int j = 0; j < INPUTS; j++) {
			splitmix_fill(&rv32_state, h, sizeof h);
			h[0] &= 0x7f; /* below n: the reduction of e is on public data */
			MEASURE(&sig, wim_ec_sign(curve, d, h, sizeof h, &RNG, rs, scratch, sizeof scratch));
			memcpy(peer, peers[j], 2 * size);
			MEASURE(&dh, wim_ec_ecdh(curve, d, peer, x, scratch, sizeof scratch));
		}
	}
	char cases[64];
	snprintf(cases, sizeof cases, "%d keys", nkeys);
	done(&pub, cases);
	snprintf(cases, sizeof cases, "%d keys x %d hashes", nkeys, INPUTS);
	done(&sig, cases);
	snprintf(cases, sizeof cases, "%d keys x %d peers", nkeys, INPUTS);
	done(&dh, cases);
	snprintf(cases, sizeof cases, "%d draws", nkeys);
	done(&draw, cases);
}

/* One open, timed by the same code for a right and a wrong tag; its result in *rc. */
static uint64_t __attribute__((noinline)) timed_open(const uint8_t *key, const uint8_t *nonce, const uint8_t *ad,
		const uint8_t *ct, uint8_t *out, int *rc)
{
	uint64_t t0 = instret();
	int r = wim_aead_open(key, nonce, ad, 20, ct, 116, out);
	uint64_t n = instret() - t0;
	*rc = r;
	return n;
}

static void aead(int nkeys)
{
	group seal = { "ChaCha20-Poly1305 seal 100 B", 0, 0, 0, 0, 0 };
	group open = { "ChaCha20-Poly1305 open 100 B", 0, 0, 0, 0, 0 };
	uint8_t key[32], nonce[12], ad[20], pt[100], sealed[116], out[116];
	static const size_t flip[] = { 100, 108, 115 }; /* the tag's first, a middle and its last byte */
	for (int i = 0; i < nkeys; i++) {
		splitmix_fill(&rv32_state, key, sizeof key);
		for (int j = 0; j < INPUTS; j++) {
			splitmix_fill(&rv32_state, nonce, sizeof nonce);
			splitmix_fill(&rv32_state, ad, sizeof ad);
			splitmix_fill(&rv32_state, pt, sizeof pt);
			MEASURE(&seal, wim_aead_seal(key, nonce, ad, sizeof ad, pt, sizeof pt, sealed));
			int rc;
			uint64_t n = timed_open(key, nonce, ad, sealed, out, &rc);
			add(&open, n, rc);
			sealed[flip[j]] ^= 0x01;
			n = timed_open(key, nonce, ad, sealed, out, &rc);
			add(&open, n, rc == WIM_E_AUTH ? WIM_OK : -1);
		}
	}
	char cases[64];
	snprintf(cases, sizeof cases, "%d keys x %d messages", nkeys, INPUTS);
	done(&seal, cases);
	snprintf(cases, sizeof cases, "%d keys x %d, right and wrong tag", nkeys, INPUTS);
	done(&open, cases);
}

#ifndef CT_QUICK
static void ed25519(int nkeys)
{
	group pub = { "Ed25519 public key", 0, 0, 0, 0, 0 }, sig = { "Ed25519 sign (100 bytes)", 0, 0, 0, 0, 0 },
	      gen = { "Ed25519 generate", 0, 0, 0, 0, 0 };
	uint8_t seed[32], a[32], m[100], rs[64];
	for (int i = 0; i < nkeys; i++) {
		splitmix_fill(&rv32_state, seed, sizeof seed);
		MEASURE(&pub, wim_ed25519_public(seed, a, scratch, sizeof scratch));
		for (int j = 0; j < INPUTS; j++) {
			splitmix_fill(&rv32_state, m, sizeof m);
			MEASURE(&sig, wim_ed25519_sign(seed, m, sizeof m, rs, scratch, sizeof scratch));
		}
		t_flash fl;
		wim_store st;
		memset(flash_mem, 0xff, sizeof flash_mem);
		t_flash_init(&fl, flash_mem, sizeof flash_mem, SECTOR);
		if (wim_store_format(&st, &fl.f) != WIM_OK)
			failures++;
		MEASURE(&gen, wim_ed25519_generate(&st, 1, &RNG, a, scratch, sizeof scratch));
	}
	char cases[64];
	snprintf(cases, sizeof cases, "%d seeds", nkeys);
	done(&pub, cases);
	done(&gen, cases);
	snprintf(cases, sizeof cases, "%d seeds x %d messages", nkeys, INPUTS);
	done(&sig, cases);
}
#endif

int main(void)
{
	printf("ct-count: instructions retired per private operation on rv32imc (QEMU -icount)\n");
#ifdef CT_QUICK
	rsa_size(2048, 3);
	ec_curve(WIM_EC_P256, "P-256", 3);
	aead(3);
#else
	rsa_size(2048, 3);
	rsa_size(3072, 3);
	rsa_size(4096, 3);
	ec_curve(WIM_EC_P256, "P-256", 3);
	ec_curve(WIM_EC_P384, "P-384", 3);
	ed25519(3);
	aead(3);
#endif
	printf("ct-count: %s\n", failures ? "FAILED: a count depends on the key or the input" :
			"every private operation retires the same instructions for every key and input of its size");
	fflush(stdout);
	*(volatile uint32_t *)0x100000 = failures ? (1u << 16) | 0x3333 : 0x5555;
	for (;;)
		;
}
