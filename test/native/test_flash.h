/*
 * test_flash.h — an in-memory NOR flash for the store's tests, stricter than the hardware: a write that
 * would set a bit (0 → 1) or leave the bounds fails and is counted as a violation; erase works on whole
 * sectors only. Power cuts: with cut_at = k, the k-th write/erase (counting from 0) is torn and every
 * later operation (reads too) fails until the test "restores power".
 *
 * encrypted = 1 models a partition under ESP-IDF flash encryption (AES-XTS on 16-byte blocks): mem holds
 * what is on the chip (ciphertext; a toy 128-bit Feistel permutation keyed by the block's offset stands
 * for XTS: one changed bit changes the whole block); a write must be whole 16-byte blocks at 16-byte
 * offsets, each block erased (all 0xFF raw) before it — a second write of a block is a violation; read
 * decrypts (an erased block reads as pseudo-random bytes), read_raw does not (0xFF when erased). A torn
 * write leaves the blocks before some block written, that block garbage (some of its bits programmed),
 * the rest erased (TEAR_PREFIX), or every block garbage (TEAR_BITS). Set it right after t_flash_init.
 */
#ifndef WIM_TEST_FLASH_H
#define WIM_TEST_FLASH_H

#include "wim_env.h"

enum {
	TEAR_NONE = 0,   /* the cut operation applies nothing */
	TEAR_PREFIX = 1, /* a prefix of the bytes, and a random part of the next byte */
	TEAR_BITS = 2    /* a random subset of the bits the operation would change */
};

#define T_FLASH_MAX_SECTORS 64

typedef struct t_flash {
	wim_flash f;
	uint8_t *mem;
	long ops;       /* writes + erases so far */
	long cut_at;    /* -1: no cut */
	int tear;       /* TEAR_* for the cut operation */
	uint64_t seed;  /* randomness of the tear */
	int dead;       /* power is off */
	int violations; /* NOR or bounds violations seen */
	int encrypted;  /* the flash-encryption model (above) */
	/* wear and traffic, for the figures (completed operations only) */
	long writes, erases;
	uint64_t bytes_written;
	uint32_t erase_count[T_FLASH_MAX_SECTORS]; /* per sector (the first T_FLASH_MAX_SECTORS) */
} t_flash;

void t_flash_init(t_flash *fl, uint8_t *mem, uint32_t size, uint32_t sector_size);
/* Power back on, no cut planned. */
void t_flash_restore(t_flash *fl);
/* Plans a cut at the k-th operation from now. */
void t_flash_cut(t_flash *fl, long k, int tear, uint64_t seed);

#endif
