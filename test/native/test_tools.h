/*
 * test_tools.h — small helpers of the stand-alone C test and benchmark programs (diff_ec, wycheproof_rsa,
 * bench_ec, bench_rv32): the seeded generator (SplitMix64, one output byte per step: a double of the
 * hardware RNG, never used by a device) and a hex decoder.
 */
#ifndef WIM_TEST_TOOLS_H
#define WIM_TEST_TOOLS_H

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

/* Decodes the hex string into out (at most cap bytes); returns the number of bytes, or (size_t)-1 for an
 * odd length, a non-hex digit or more than cap bytes. */
static inline size_t hex_decode(uint8_t *out, size_t cap, const char *hex)
{
	size_t len = 0;
	while (hex[len])
		len++;
	if (len % 2 || len / 2 > cap)
		return (size_t)-1;
	for (size_t i = 0; i < len; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return (size_t)-1;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] << 4 | v : v);
	}
	return len / 2;
}

#endif
