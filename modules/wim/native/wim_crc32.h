/*
 * wim_crc32.h — CRC-32 (the IEEE 802.3 / zlib polynomial, reflected, init and final xor 0xFFFFFFFF),
 * used by the key store to tell a complete record from a torn or decayed one. Constant time in the data.
 */
#ifndef WIM_CRC32_H
#define WIM_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Streaming: crc = wim_crc32_update(WIM_CRC32_INIT, ...) ...; result = wim_crc32_final(crc). */
#define WIM_CRC32_INIT 0xffffffffu
uint32_t wim_crc32_update(uint32_t crc, const void *data, size_t len);
static inline uint32_t wim_crc32_final(uint32_t crc) { return crc ^ 0xffffffffu; }
/* One-shot CRC-32 of a buffer ("123456789" gives 0xCBF43926). */
uint32_t wim_crc32(const void *data, size_t len);

#endif
