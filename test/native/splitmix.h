/*
 * splitmix.h — the seeded generator of the stand-alone C test and benchmark programs (diff_ec,
 * wycheproof_rsa, bench_ec): SplitMix64, one output byte per step. A double of the hardware RNG,
 * never used by a device.
 */
#ifndef WIM_SPLITMIX_H
#define WIM_SPLITMIX_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t splitmix_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void splitmix_fill(uint64_t *state, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)splitmix_next(state);
}

#endif
