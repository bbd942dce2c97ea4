/*
 * test_flash.h — an in-memory NOR flash for the store's tests, stricter than the hardware: a write that
 * would set a bit (0 → 1) or leave the bounds fails and is counted as a violation; erase works on whole
 * sectors only. Power cuts: with cut_at = k, the k-th write/erase (counting from 0) is torn and every
 * later operation (reads too) fails until the test "restores power".
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
