/*
 * flash.c — the simulator's key-store partition: a file with NOR semantics, stricter than the chip.
 *
 *  - 4 KiB sectors (the ESP32's); erase sets a sector to 0xFF;
 *  - a write may only clear bits: setting a 0 bit back to 1 fails with WIM_E_FLASH (the chip would
 *    silently AND), and nothing is written;
 *  - any access outside the partition, or an erase not on a sector boundary, fails with WIM_E_ARG;
 *  - every write goes to the file at once (pwrite), so a cut leaves exactly what was written;
 *  - --cut-after N: write/erase operations 1..N complete, operation N+1 is cut: a write applies
 *    only its first half (rounded down to a 4-byte word), an erase only the first half of its
 *    sector, and the process exits with status 99 at once, as if the power had gone;
 *  - erase counts per sector and the bytes written are kept in memory and printed at exit when
 *    WIM_SIM_STATS=1;
 *  - flash encryption (the default): the partition behaves like an ESP-IDF partition marked `encrypted`
 *    with flash encryption on. The file holds what the chip would (ciphertext of a toy 128-bit block
 *    permutation keyed by the block's offset, standing for AES-XTS: a model, not a protection); a write
 *    must be whole 16-byte blocks at 16-byte offsets, each block erased (all 0xFF in the file) before it
 *    — a second write of a block fails with WIM_E_FLASH, nothing written; read decrypts, so an erased
 *    block reads as pseudo-random bytes; read_raw returns the file's bytes. A cut write applies whole
 *    blocks up to half its length and leaves the next block garbage (some of its bits programmed).
 *    WIM_SIM_FLASH=plain (or =encrypted) chooses; without it a new file is encrypted and an existing one
 *    is plain if a sector of it starts with a plaintext store header ("WIS1" or "WIS2").
 * The RNG of the C core (wim_host_rng) reads the OS's random source.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "host.h"
#include "../modules/wim/native/wim_env.h"

#define SIM_FLASH_SECTOR 4096u

static struct {
	int fd;
	uint32_t size;
	long cut_after;       /* operations allowed before the cut; < 0: never cut */
	unsigned long writes;
	unsigned long erases;
	unsigned long long bytes_written;
	uint32_t *erase_counts;
	const char *path;
	int encrypted;
} flash = { -1, 0, -1, 0, 0, 0, NULL, NULL, 0 };

/* The toy block cipher of the encryption model: 4 Feistel rounds over two 64-bit halves keyed by the
 * block's offset (XTS's tweak); one changed bit changes the whole block. dir 1 encrypts, 0 decrypts. */
static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void xts(uint8_t *b, uint32_t off, int dir)
{
	uint64_t l, r, t;
	int k;
	memcpy(&l, b, 8);
	memcpy(&r, b + 8, 8);
	for (k = 0; k < 4; k++) {
		int i = dir ? k : 3 - k;
		uint64_t x = dir ? r : l;
		uint64_t f = mix64(x ^ (uint64_t)off * 0x2545f4914f6cdd1dull ^ (uint64_t)i << 56);
		if (dir)
			t = r, r = l ^ f, l = t;
		else
			t = l, l = r ^ f, r = t;
	}
	memcpy(b, &l, 8);
	memcpy(b + 8, &r, 8);
}

static int in_bounds(uint32_t offset, uint32_t len)
{
	return offset <= flash.size && len <= flash.size - offset;
}

static int pread_all(int fd, uint32_t offset, void *buf, uint32_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		offset += (uint32_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, uint32_t offset, const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		offset += (uint32_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

/* Counts one write/erase; true if this one is the operation to cut. */
static int operation_is_cut(void)
{
	unsigned long done = flash.writes + flash.erases;
	return flash.cut_after >= 0 && done >= (unsigned long)flash.cut_after;
}

static void power_cut(const char *what, uint32_t offset, uint32_t applied, uint32_t len)
{
	fprintf(stderr, "wim-sim: power cut during %s at 0x%x (%u of %u bytes applied) after %ld operations\n",
			what, offset, applied, len, flash.cut_after);
	sim_flash_report();
	fflush(stderr);
	_exit(SIM_EXIT_POWER_CUT);
}

static int flash_read_raw(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
	(void)ctx;
	if (!in_bounds(offset, len) || (len > 0 && !buf))
		return WIM_E_ARG;
	if (len == 0)
		return WIM_OK;
	return pread_all(flash.fd, offset, buf, len) == 0 ? WIM_OK : WIM_E_FLASH;
}

static int flash_read(void *ctx, uint32_t offset, void *buf, uint32_t len)
{
	uint32_t b, i;
	int rc = flash_read_raw(ctx, offset, buf, len);
	if (rc || !flash.encrypted)
		return rc;
	for (b = offset & ~15u; b < offset + len; b += 16) { /* decrypt each block the read touches */
		uint8_t blk[16];
		if (pread_all(flash.fd, b, blk, 16) != 0)
			return WIM_E_FLASH;
		xts(blk, b, 0);
		for (i = 0; i < 16; i++)
			if (b + i >= offset && b + i < offset + len)
				((uint8_t *)buf)[b + i - offset] = blk[i];
	}
	return WIM_OK;
}

/* The encryption model's write (see the top of the file); bytes are plaintext. */
static int encrypted_write(uint32_t offset, const uint8_t *bytes, uint32_t len)
{
	uint8_t blk[16];
	uint32_t k, i, applied;
	if ((offset | len) & 15u) {
		fprintf(stderr, "wim-sim: flash: encrypted partition: write of %u bytes at 0x%x is not whole 16-byte "
				"blocks\n", len, offset);
		return WIM_E_FLASH;
	}
	for (k = 0; k < len; k += 16) {
		if (pread_all(flash.fd, offset + k, blk, 16) != 0)
			return WIM_E_FLASH;
		for (i = 0; i < 16; i++) {
			if (blk[i] != 0xFF) {
				fprintf(stderr, "wim-sim: flash: encrypted partition: block at 0x%x written twice (a block "
						"can be written once per erase)\n", offset + k);
				return WIM_E_FLASH;
			}
		}
	}
	applied = operation_is_cut() ? (len / 2) & ~15u : len;
	for (k = 0; k < len && k <= applied; k += 16) {
		memcpy(blk, bytes + k, 16);
		xts(blk, offset + k, 1);
		if (k == applied) /* the torn block: garbage, some of its bits programmed */
			for (i = 0; i < 16; i++)
				blk[i] |= (uint8_t)mix64(offset + k + i);
		pwrite_all(flash.fd, offset + k, blk, 16);
	}
	if (applied < len)
		power_cut("write", offset, applied, len);
	flash.writes++;
	flash.bytes_written += len;
	return WIM_OK;
}

static int flash_write(void *ctx, uint32_t offset, const void *buf, uint32_t len)
{
	const uint8_t *bytes = buf;
	uint8_t current[SIM_FLASH_SECTOR];
	uint32_t done;
	(void)ctx;
	if (!in_bounds(offset, len) || (len > 0 && !buf))
		return WIM_E_ARG;
	if (flash.encrypted)
		return encrypted_write(offset, bytes, len);
	for (done = 0; done < len; ) {
		uint32_t chunk = len - done < sizeof(current) ? len - done : (uint32_t)sizeof(current);
		uint32_t i;
		if (pread_all(flash.fd, offset + done, current, chunk) != 0)
			return WIM_E_FLASH;
		for (i = 0; i < chunk; i++) {
			if (bytes[done + i] & (uint8_t)~current[i]) {
				fprintf(stderr, "wim-sim: flash: NOR violation: write of 0x%02x over 0x%02x at 0x%x "
						"(a write can only clear bits; erase first)\n",
						bytes[done + i], current[i], offset + done + i);
				return WIM_E_FLASH;
			}
		}
		done += chunk;
	}
	if (operation_is_cut()) {
		uint32_t applied = (len / 2) & ~3u;
		if (applied > 0)
			pwrite_all(flash.fd, offset, bytes, applied);
		power_cut("write", offset, applied, len);
	}
	flash.writes++;
	flash.bytes_written += len;
	if (len > 0 && pwrite_all(flash.fd, offset, bytes, len) != 0) {
		fprintf(stderr, "wim-sim: flash: write failed: %s\n", strerror(errno));
		return WIM_E_FLASH;
	}
	return WIM_OK;
}

static int flash_erase(void *ctx, uint32_t sector_offset)
{
	uint8_t ones[SIM_FLASH_SECTOR];
	(void)ctx;
	if (sector_offset % SIM_FLASH_SECTOR != 0 || sector_offset >= flash.size)
		return WIM_E_ARG;
	memset(ones, 0xFF, sizeof(ones));
	if (operation_is_cut()) {
		pwrite_all(flash.fd, sector_offset, ones, SIM_FLASH_SECTOR / 2);
		power_cut("erase", sector_offset, SIM_FLASH_SECTOR / 2, SIM_FLASH_SECTOR);
	}
	flash.erases++;
	flash.erase_counts[sector_offset / SIM_FLASH_SECTOR]++;
	if (pwrite_all(flash.fd, sector_offset, ones, SIM_FLASH_SECTOR) != 0) {
		fprintf(stderr, "wim-sim: flash: erase failed: %s\n", strerror(errno));
		return WIM_E_FLASH;
	}
	return WIM_OK;
}

static wim_flash partition = {
	NULL, 0, SIM_FLASH_SECTOR, flash_read, flash_write, flash_erase, flash_read_raw
};

/* WIM_SIM_FLASH, or: a new file is encrypted, an existing one plain if it holds a plaintext store header. */
static int choose_encrypted(int fd, uint32_t size, int created)
{
	const char *mode = getenv("WIM_SIM_FLASH");
	uint32_t offset;
	if (mode && strcmp(mode, "plain") == 0)
		return 0;
	if ((mode && strcmp(mode, "encrypted") == 0) || created)
		return 1;
	for (offset = 0; offset < size; offset += SIM_FLASH_SECTOR) {
		uint8_t m[4];
		if (pread_all(fd, offset, m, 4) == 0 && memcmp(m, "WIS", 3) == 0 && (m[3] == '1' || m[3] == '2'))
			return 0;
	}
	return 1;
}

/* Creates the file erased (all 0xFF), under a temporary name first so no half-made file remains. */
static int create_erased(const char *path, uint32_t size)
{
	char temp[4096];
	uint8_t ones[SIM_FLASH_SECTOR];
	uint32_t offset;
	int fd;
	if ((size_t)snprintf(temp, sizeof(temp), "%s.new", path) >= sizeof(temp))
		return -1;
	fd = open(temp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	memset(ones, 0xFF, sizeof(ones));
	for (offset = 0; offset < size; offset += SIM_FLASH_SECTOR)
		if (pwrite_all(fd, offset, ones, SIM_FLASH_SECTOR) != 0)
			goto fail;
	if (fsync(fd) != 0 || rename(temp, path) != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	unlink(temp);
	return -1;
}

int sim_flash_open(const char *path, uint32_t size, long cut_after)
{
	struct stat st;
	uint32_t *counts;
	int fd, created = 0;
	if (size == 0 || size % SIM_FLASH_SECTOR != 0) {
		fprintf(stderr, "wim-sim: the flash size must be a positive multiple of %u\n", SIM_FLASH_SECTOR);
		return -1;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = create_erased(path, size), created = 1;
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "wim-sim: cannot open the flash file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		fprintf(stderr, "wim-sim: the flash file %s holds %lld bytes, not --flash-size %u\n",
				path, (long long)st.st_size, size);
		close(fd);
		return -1;
	}
	counts = calloc(size / SIM_FLASH_SECTOR, sizeof(uint32_t));
	if (!counts) {
		close(fd);
		return -1;
	}
	if (flash.fd >= 0)
		close(flash.fd);
	free(flash.erase_counts);
	flash.erase_counts = counts;
	flash.fd = fd;
	flash.size = size;
	flash.cut_after = cut_after;
	flash.writes = 0;
	flash.erases = 0;
	flash.bytes_written = 0;
	flash.path = path;
	flash.encrypted = choose_encrypted(fd, size, created);
	partition.size = size;
	return 0;
}

void sim_flash_report(void)
{
	const char *stats = getenv("WIM_SIM_STATS");
	uint32_t i, sectors, max = 0;
	if (!stats || strcmp(stats, "1") != 0 || !flash.erase_counts)
		return;
	sectors = flash.size / SIM_FLASH_SECTOR;
	for (i = 0; i < sectors; i++)
		if (flash.erase_counts[i] > max)
			max = flash.erase_counts[i];
	fprintf(stderr, "wim-sim: flash stats: %lu writes, %lu erases, %u sectors, max erases of a sector %u, "
			"%llu bytes written\n", flash.writes, flash.erases, sectors, max, flash.bytes_written);
	fprintf(stderr, "wim-sim: flash erase counts:");
	for (i = 0; i < sectors; i++)
		fprintf(stderr, " %u", flash.erase_counts[i]);
	fputc('\n', stderr);
	fflush(stderr);
}

const wim_flash *wim_host_flash(void)
{
	return flash.fd >= 0 ? &partition : NULL;
}

static int rng_fill(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	return sim_random_fill(buf, len) == 0 ? WIM_OK : WIM_E_RNG;
}

static const wim_rng os_rng = { NULL, rng_fill };

const wim_rng *wim_host_rng(void)
{
	return &os_rng;
}
