/*
 * crc32_fast.c — for the store's test drivers only: the same CRC-32 as modules/wim/native/wim_crc32.c,
 * a byte at a time through a table (the core's bit-at-a-time version avoids data-dependent memory
 * indexes; the drivers run millions of mounts, where it is 95% of the time). crc32_fast_selfcheck
 * compares it with the core's version (linked under the names ref_crc32_*, see mk/store.mk) on the
 * check value and on random inputs before a driver starts.
 */
#include <stdint.h>
#include <stdio.h>

#include "wim_crc32.h"

uint32_t ref_crc32_update(uint32_t crc, const void *data, size_t len);

static uint32_t table[256];

static void init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
		table[i] = c;
	}
}

uint32_t wim_crc32_update(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (!table[1])
		init();
	while (len--)
		crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
	return crc;
}

uint32_t wim_crc32(const void *data, size_t len)
{
	return wim_crc32_final(wim_crc32_update(WIM_CRC32_INIT, data, len));
}

/* 0 if this CRC equals the core's on "123456789" (0xcbf43926) and on random inputs. */
int crc32_fast_selfcheck(void)
{
	uint8_t buf[600];
	uint64_t x = 12345;
	if (wim_crc32("123456789", 9) != 0xcbf43926u)
		return -1;
	for (int t = 0; t < 2000; t++) {
		size_t len = (size_t)(t % 600);
		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			buf[i] = (uint8_t)(x >> 56);
		}
		uint32_t seed = (uint32_t)(x >> 16);
		if (wim_crc32_update(seed, buf, len) != ref_crc32_update(seed, buf, len)) {
			fprintf(stderr, "crc32_fast: differs from wim_crc32.c at length %zu\n", len);
			return -1;
		}
	}
	return 0;
}
