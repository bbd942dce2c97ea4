/*
 * rv32_tools.h — what the stand-alone rv32imc programs run under QEMU share (bench/native/bench_rv32.c,
 * test/native/ct_count_rv32.c): the seeded generator the core draws from (state `rv32_state`, started
 * at RV32_SEED, which the including file defines) and the retired-instruction counter (exact under
 * QEMU's -icount).
 */
#ifndef RV32_TOOLS_H
#define RV32_TOOLS_H

#include <stdint.h>

#include "test_tools.h"
#include "wim_env.h"

#ifndef RV32_SEED
#error "define RV32_SEED before including rv32_tools.h"
#endif

static uint64_t rv32_state = RV32_SEED;

static int rv32_rng_fill(void *ctx, uint8_t *b, size_t n)
{
	(void)ctx;
	splitmix_fill(&rv32_state, b, n);
	return 0;
}
static const wim_rng RNG = { NULL, rv32_rng_fill };

/* The 64-bit rdinstret counter, read consistently on a 32-bit hart. */
static uint64_t instret(void)
{
	uint32_t hi, lo, hi2;
	do {
		__asm__ volatile("rdinstreth %0" : "=r"(hi));
		__asm__ volatile("rdinstret %0" : "=r"(lo));
		__asm__ volatile("rdinstreth %0" : "=r"(hi2));
	} while (hi != hi2);
	return (uint64_t)hi << 32 | lo;
}

#endif
