/*
 * wim_crc32.c — CRC-32 a bit at a time with masks: no table, so no memory index that depends on the
 * data (records may hold secrets), and little code. A few KiB per mount or read is cheap at this speed.
 */
#include "wim_crc32.h"

uint32_t wim_crc32_update(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = (const uint8_t *)data;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return crc;
}

uint32_t wim_crc32(const void *data, size_t len)
{
	return wim_crc32_final(wim_crc32_update(WIM_CRC32_INIT, data, len));
}
