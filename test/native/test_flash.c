/* test_flash.c — the NOR flash double (see test_flash.h). */
#include "test_flash.h"

#include <string.h>

static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The toy block cipher of the encrypted model: 4 Feistel rounds over two 64-bit halves, keyed by the
 * block's offset (XTS's tweak). dir 1 encrypts, 0 decrypts, 16 bytes in place. */
static uint64_t round_f(uint64_t x, uint32_t off, int i)
{
	uint64_t s = x ^ (uint64_t)off * 0x2545f4914f6cdd1dull ^ (uint64_t)i << 56;
	return mix(&s);
}

static void xts(uint8_t *b, uint32_t off, int dir)
{
	uint64_t l, r, t;
	memcpy(&l, b, 8);
	memcpy(&r, b + 8, 8);
	for (int k = 0; k < 4; k++) {
		int i = dir ? k : 3 - k;
		if (dir)
			t = r, r = l ^ round_f(r, off, i), l = t;
		else
			t = l, l = r ^ round_f(l, off, i), r = t;
	}
	memcpy(b, &l, 8);
	memcpy(b + 8, &r, 8);
}

/* Counts an operation; returns 1 if it runs whole, 0 if it is the torn one, -1 if power is off. */
static int step(t_flash *fl)
{
	if (fl->dead)
		return -1;
	long k = fl->ops++;
	if (fl->cut_at >= 0 && k == fl->cut_at) {
		fl->dead = 1;
		return 0;
	}
	return 1;
}

static int fl_read(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	t_flash *fl = ctx;
	if (fl->dead)
		return WIM_E_FLASH;
	if (off > fl->f.size || len > fl->f.size - off) {
		fl->violations++;
		return WIM_E_FLASH;
	}
	if (!fl->encrypted) {
		memcpy(buf, fl->mem + off, len);
		return WIM_OK;
	}
	for (uint32_t b = off & ~15u; b < off + len; b += 16) { /* decrypt each block the read touches */
		uint8_t blk[16];
		memcpy(blk, fl->mem + b, 16);
		xts(blk, b, 0);
		for (uint32_t i = 0; i < 16; i++)
			if (b + i >= off && b + i < off + len)
				((uint8_t *)buf)[b + i - off] = blk[i];
	}
	return WIM_OK;
}

static int fl_read_raw(void *ctx, uint32_t off, void *buf, uint32_t len)
{
	t_flash *fl = ctx;
	int enc = fl->encrypted, rc;
	fl->encrypted = 0;
	rc = fl_read(ctx, off, buf, len);
	fl->encrypted = enc;
	return rc;
}

/* The encrypted model's write (see test_flash.h). */
static int enc_write(t_flash *fl, uint32_t off, const uint8_t *b, uint32_t len)
{
	if ((off | len) & 15u) {
		fl->violations++;
		return WIM_E_FLASH;
	}
	for (uint32_t i = 0; i < len; i++) {
		if (fl->mem[off + i] != 0xff) { /* a block written a second time */
			fl->violations++;
			return WIM_E_FLASH;
		}
	}
	int s = step(fl);
	if (s < 0)
		return WIM_E_FLASH;
	/* blocks before `torn` are written whole, block `torn` is garbage (unless TEAR_NONE), the rest erased;
	 * TEAR_BITS: every block garbage */
	uint32_t nb = len / 16, torn = 0;
	if (s == 1)
		torn = nb;
	else if (fl->tear == TEAR_PREFIX && nb)
		torn = (uint32_t)(mix(&fl->seed) % nb);
	else if (fl->tear == TEAR_BITS && nb)
		torn = nb - 1;
	for (uint32_t k = 0; k < nb; k++) {
		uint8_t blk[16];
		memcpy(blk, b + 16 * k, 16);
		xts(blk, off + 16 * k, 1);
		if (k > torn || (k == torn && fl->tear == TEAR_NONE))
			break;
		if (k == torn || (s == 0 && fl->tear == TEAR_BITS)) /* garbage: some of its bits programmed */
			for (uint32_t i = 0; i < 16; i++)
				blk[i] |= (uint8_t)mix(&fl->seed);
		memcpy(fl->mem + off + 16 * k, blk, 16);
	}
	if (s == 0)
		return WIM_E_FLASH;
	fl->writes++;
	fl->bytes_written += len;
	return WIM_OK;
}

static int fl_write(void *ctx, uint32_t off, const void *buf, uint32_t len)
{
	t_flash *fl = ctx;
	const uint8_t *b = buf;
	if (fl->dead)
		return WIM_E_FLASH;
	if (off > fl->f.size || len > fl->f.size - off) {
		fl->violations++;
		return WIM_E_FLASH;
	}
	if (fl->encrypted)
		return enc_write(fl, off, b, len);
	for (uint32_t i = 0; i < len; i++) {
		if (b[i] & ~fl->mem[off + i]) { /* would set a bit */
			fl->violations++;
			return WIM_E_FLASH;
		}
	}
	int s = step(fl);
	if (s < 0)
		return WIM_E_FLASH;
	if (s == 1) {
		for (uint32_t i = 0; i < len; i++)
			fl->mem[off + i] &= b[i];
		fl->writes++;
		fl->bytes_written += len;
		return WIM_OK;
	}
	if (fl->tear == TEAR_PREFIX && len) {
		uint32_t k = (uint32_t)(mix(&fl->seed) % len);
		for (uint32_t i = 0; i < k; i++)
			fl->mem[off + i] &= b[i];
		fl->mem[off + k] &= (uint8_t)(b[k] | (uint8_t)mix(&fl->seed));
	} else if (fl->tear == TEAR_BITS) {
		for (uint32_t i = 0; i < len; i++)
			fl->mem[off + i] &= (uint8_t)(b[i] | (uint8_t)mix(&fl->seed));
	}
	return WIM_E_FLASH;
}

static int fl_erase(void *ctx, uint32_t off)
{
	t_flash *fl = ctx;
	uint32_t ss = fl->f.sector_size;
	if (fl->dead)
		return WIM_E_FLASH;
	if (off % ss || off >= fl->f.size) {
		fl->violations++;
		return WIM_E_FLASH;
	}
	int s = step(fl);
	if (s < 0)
		return WIM_E_FLASH;
	if (s == 1) {
		memset(fl->mem + off, 0xff, ss);
		fl->erases++;
		if (off / ss < T_FLASH_MAX_SECTORS)
			fl->erase_count[off / ss]++;
		return WIM_OK;
	}
	if (fl->tear == TEAR_PREFIX) {
		uint32_t k = (uint32_t)(mix(&fl->seed) % ss);
		memset(fl->mem + off, 0xff, k);
	} else if (fl->tear == TEAR_BITS) {
		for (uint32_t i = 0; i < ss; i++)
			fl->mem[off + i] |= (uint8_t)mix(&fl->seed);
	}
	return WIM_E_FLASH;
}

void t_flash_init(t_flash *fl, uint8_t *mem, uint32_t size, uint32_t sector_size)
{
	memset(fl, 0, sizeof *fl);
	fl->mem = mem;
	fl->f.ctx = fl;
	fl->f.size = size;
	fl->f.sector_size = sector_size;
	fl->f.read = fl_read;
	fl->f.write = fl_write;
	fl->f.erase = fl_erase;
	fl->f.read_raw = fl_read_raw;
	fl->cut_at = -1;
	memset(mem, 0x5a, size); /* a fresh part is not blank: format must cope */
}

void t_flash_restore(t_flash *fl)
{
	fl->dead = 0;
	fl->cut_at = -1;
}

void t_flash_cut(t_flash *fl, long k, int tear, uint64_t seed)
{
	fl->cut_at = fl->ops + k;
	fl->tear = tear;
	fl->seed = seed;
}
