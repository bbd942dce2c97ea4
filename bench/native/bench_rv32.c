/*
 * bench_rv32.c — `make bench-riscv`: what the C core's operations cost on an ESP32-class CPU. Built for
 * rv32imc (32-bit limbs, -O2, picolibc) and run under qemu-system-riscv32 with -icount, it counts the
 * instructions each operation retires (the rdinstret counter) and prints them with the time they would take
 * at the ESP32-C3's 160 MHz if every instruction took one cycle: a lower bound (the C3's multiplier and
 * flash cache add cycles), and a figure to compare builds by, since instruction counts are exact and
 * repeatable where host timings are not.
 *
 * Operations: RSA-2048 private (CRT, blinded, re-checked), P-256 and P-384 ECDSA signature (hedged RFC 6979
 * nonce) and ECDH, P-256 key generation into the store, SHA-256 of 1 KiB, a store put of 64 bytes; for the
 * secure channel, the ephemeral P-256 draw and ChaCha20-Poly1305 seal and open of 64 bytes and 1 KiB.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_tools.h"
#include "test_flash.h"
#include "wim_aead.h"
#include "vectors.h"
#include "wim_ec.h"
#include "wim_ed25519.h"
#include "wim_sha512.h"
#include "wim_rsa.h"
#include "wim_rsa_key.h"
#include "wim_sha256.h"

#define RV32_SEED 7
#include "rv32_tools.h"

#define SECTOR 4096u
static uint8_t flash_mem[16 * SECTOR];
static uint64_t scratch[16384 / 8];

static int failures;

static void report(const char *what, uint64_t n, int rc)
{
	if (rc != WIM_OK) {
		printf("%-34s failed: %d\n", what, rc);
		failures++;
		return;
	}
	/* integer arithmetic only: picolibc's printf here has no floating point */
	uint64_t us = n * 1000 / 160000; /* 160 MHz: 160 instructions per microsecond, in tenths of a ms */
	printf("%-34s %12llu instructions  >= %llu.%llu ms at 160 MHz\n", what, (unsigned long long)n,
	       (unsigned long long)(us / 1000), (unsigned long long)(us % 1000 / 100));
}

#define MEASURE(what, call)                                   \
	do {                                                  \
		uint64_t t0 = instret();                      \
		int rc_ = (call);                             \
		report(what, instret() - t0, rc_);            \
	} while (0)

int main(void)
{
	static uint8_t n[256], p[128], q[128], dp[128], dq[128], qi[128], x[256], out[256], d[48], xy[96], rs[96],
		h[32], data[1024];
	t_flash fl;
	wim_store st;
	printf("C core on rv32imc (QEMU -icount): instructions per operation\n");
	t_flash_init(&fl, flash_mem, sizeof flash_mem, SECTOR);
	if (wim_store_format(&st, &fl.f) != WIM_OK)
		failures++;
	const struct { uint8_t *out; size_t len; const char *hex; } kat[] = {
		{ n, 256, kat_rsa_n }, { p, 128, kat_rsa_p }, { q, 128, kat_rsa_q }, { dp, 128, kat_rsa_dp },
		{ dq, 128, kat_rsa_dq }, { qi, 128, kat_rsa_qinv }, { x, 256, kat_rsa_in },
	};
	for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++)
		if (hex_decode(kat[i].out, kat[i].len, kat[i].hex) != kat[i].len)
			failures++;
	if (wim_rsa_import(&st, 1, 2048, kat_rsa_e, n, p, q, dp, dq, qi, scratch, sizeof scratch) != WIM_OK)
		failures++;
	MEASURE("RSA-2048 private (CRT, checked)", wim_rsa_private(&st, 1, x, 256, out, &RNG, scratch, sizeof scratch));
	splitmix_fill(&rv32_state, h, sizeof h);
	splitmix_fill(&rv32_state, d, 32);
	d[0] &= 0x7f;
	MEASURE("P-256 ECDSA sign", wim_ec_sign(WIM_EC_P256, d, h, 32, &RNG, rs, scratch, sizeof scratch));
	if (wim_ec_public(WIM_EC_P256, d, xy, scratch, sizeof scratch) != WIM_OK)
		failures++;
	MEASURE("P-256 ECDH", wim_ec_ecdh(WIM_EC_P256, d, xy, out, scratch, sizeof scratch));
	MEASURE("P-256 key generation (stored)", wim_ec_generate(&st, 2, WIM_EC_P256, &RNG, xy, scratch, sizeof scratch));
	splitmix_fill(&rv32_state, d, 48);
	d[0] &= 0x7f;
	MEASURE("P-384 ECDSA sign", wim_ec_sign(WIM_EC_P384, d, h, 32, &RNG, rs, scratch, sizeof scratch));
	if (wim_ec_public(WIM_EC_P384, d, xy, scratch, sizeof scratch) != WIM_OK)
		failures++;
	MEASURE("P-384 ECDH", wim_ec_ecdh(WIM_EC_P384, d, xy, out, scratch, sizeof scratch));
	splitmix_fill(&rv32_state, data, sizeof data);
	{
		uint64_t t0 = instret();
		wim_sha256 c;
		wim_sha256_init(&c);
		wim_sha256_update(&c, data, sizeof data);
		wim_sha256_final(&c, h);
		report("SHA-256 of 1 KiB", instret() - t0, WIM_OK);
	}
	splitmix_fill(&rv32_state, d, 32);
	MEASURE("Ed25519 sign, 64-byte message", wim_ed25519_sign(d, data, 64, rs, scratch, sizeof scratch));
	MEASURE("Ed25519 public key", wim_ed25519_public(d, xy, scratch, sizeof scratch));
	MEASURE("Ed25519 key generation (stored)", wim_ed25519_generate(&st, 4, &RNG, xy, scratch, sizeof scratch));
	{
		uint64_t t0 = instret();
		wim_sha512 c;
		wim_sha512_init(&c);
		wim_sha512_update(&c, data, sizeof data);
		wim_sha512_final(&c, rs);
		report("SHA-512 of 1 KiB", instret() - t0, WIM_OK);
	}
	MEASURE("store put, 64 bytes", wim_store_put(&st, 3, WIM_KIND_PUBLIC, data, 64));
	MEASURE("P-256 ephemeral draw", wim_ec_draw(WIM_EC_P256, &RNG, d, scratch, sizeof scratch));
	{
		static uint8_t sealed[1024 + 16], opened[1024];
		uint8_t key[32], nonce[12] = { 0 };
		splitmix_fill(&rv32_state, key, sizeof key);
		MEASURE("ChaCha20-Poly1305 seal, 64 bytes", wim_aead_seal(key, nonce, h, 32, data, 64, sealed));
		MEASURE("ChaCha20-Poly1305 open, 64 bytes", wim_aead_open(key, nonce, h, 32, sealed, 64 + 16, opened));
		MEASURE("ChaCha20-Poly1305 seal, 1 KiB", wim_aead_seal(key, nonce, h, 32, data, 1024, sealed));
		MEASURE("ChaCha20-Poly1305 open, 1 KiB", wim_aead_open(key, nonce, h, 32, sealed, 1024 + 16, opened));
	}
	printf("%d failures\n", failures);
	fflush(stdout);
	*(volatile uint32_t *)0x100000 = failures ? ((uint32_t)failures << 16) | 0x3333 : 0x5555;
	for (;;)
		;
}
