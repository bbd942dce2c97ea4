/*
 * test_flash.c — the simulator's flash file (sim/flash.c) against its rules: NOR (a write can only
 * clear bits), bounds, sector alignment, persistence, and the power cut of --cut-after, in the plain mode
 * (WIM_SIM_FLASH=plain); then the flash-encryption mode (the default for a new file): 16-byte blocks
 * written once, reads decrypt (an erased block reads as noise), read_raw does not, a cut leaves garbage.
 * Built and run by `make sim-test`: build/sim-test-flash DIR; prints "N passed, 0 failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "host.h"
#include "wim_env.h"

/* flash.c's RNG uses this (globals.c in the simulator); a fixed pattern is enough here. */
int sim_random_fill(void *buf, size_t len)
{
	memset(buf, 0x5A, len);
	return 0;
}

static int passed, failed;

static void expect(int ok, const char *what)
{
	if (ok)
		passed++;
	else {
		failed++;
		fprintf(stderr, "FAIL: %s\n", what);
	}
}

static int file_bytes(const char *path, long offset, uint8_t *out, size_t len)
{
	FILE *f = fopen(path, "rb");
	int ok = f && fseek(f, offset, SEEK_SET) == 0 && fread(out, 1, len, f) == len;
	if (f)
		fclose(f);
	return ok;
}

static int all(const uint8_t *p, size_t n, uint8_t v)
{
	while (n--)
		if (*p++ != v)
			return 0;
	return 1;
}

/* In a child: opens the flash with cut_after, runs erase(0) then writes of 16 zero bytes at
 * 4096, 4112, ...; returns the child's exit status. */
static int run_cut(const char *path, long cut_after)
{
	pid_t pid = fork();
	int status = 0;
	if (pid == 0) {
		const wim_flash *f;
		uint8_t zeros[16] = { 0 };
		uint32_t i;
		if (sim_flash_open(path, 16384, cut_after) != 0)
			_exit(1);
		f = wim_host_flash();
		f->erase(f->ctx, 0);
		for (i = 0; i < 8; i++)
			f->write(f->ctx, 4096 + 16 * i, zeros, 16);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv)
{
	char path[1024], cut[1024];
	const wim_flash *f;
	uint8_t b[8], r[4096];
	const uint8_t f0[8] = { 0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0, 0xF0 };
	const uint8_t x30[8] = { 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30 };
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/flash.bin", argv[1]);
	snprintf(cut, sizeof(cut), "%s/cut.bin", argv[1]);
	unlink(path);
	unlink(cut);
	setenv("WIM_SIM_FLASH", "plain", 1);

	expect(sim_flash_open(path, 5000, -1) != 0, "a size that is not a multiple of 4096 is refused");
	expect(sim_flash_open(path, 16384, -1) == 0, "a new flash file is created");
	f = wim_host_flash();
	expect(f && f->size == 16384 && f->sector_size == 4096, "size and sector size");
	expect(file_bytes(path, 0, r, 4096) && all(r, 4096, 0xFF), "a new file is erased (0xFF)");

	expect(f->read(f->ctx, 16380, b, 8) == WIM_E_ARG, "read past the end");
	expect(f->write(f->ctx, 0xFFFFFFF0u, f0, 8) == WIM_E_ARG, "write with an offset that wraps");
	expect(f->write(f->ctx, 16384, f0, 1) == WIM_E_ARG, "write at the end");
	expect(f->erase(f->ctx, 100) == WIM_E_ARG, "erase off a sector boundary");
	expect(f->erase(f->ctx, 16384) == WIM_E_ARG, "erase past the end");

	expect(f->write(f->ctx, 8, f0, 8) == WIM_OK, "write 0xF0 over 0xFF");
	expect(f->write(f->ctx, 8, x30, 8) == WIM_OK, "write 0x30 over 0xF0 (clears bits only)");
	expect(f->write(f->ctx, 8, f0, 8) == WIM_E_FLASH, "write 0xF0 over 0x30 (sets bits): NOR violation");
	expect(f->read(f->ctx, 8, b, 8) == WIM_OK && all(b, 8, 0x30), "a refused write changes nothing");
	expect(file_bytes(path, 8, b, 8) && all(b, 8, 0x30), "writes reach the file at once");
	expect(f->write(f->ctx, 8, x30, 8) == WIM_OK, "rewriting the same bytes is allowed");
	expect(f->erase(f->ctx, 0) == WIM_OK && f->read(f->ctx, 0, r, 4096) == WIM_OK && all(r, 4096, 0xFF), "erase sets the sector to 0xFF");
	expect(f->write(f->ctx, 8, f0, 8) == WIM_OK, "after an erase the bits can be cleared again");

	/* cut after 0: the erase is cut (half the sector); after 1: the first write applies 8 of 16 */
	{
		FILE *c = fopen(cut, "wb");
		memset(r, 0, sizeof(r));
		for (int i = 0; i < 4; i++)
			fwrite(r, 1, 4096, c);
		fclose(c);
	}
	expect(run_cut(cut, 0) == SIM_EXIT_POWER_CUT, "--cut-after 0 exits 99 at the first operation");
	expect(file_bytes(cut, 0, r, 4096) && all(r, 2048, 0xFF) && all(r + 2048, 2048, 0x00), "a cut erase erases half the sector");
	expect(run_cut(cut, 1) == SIM_EXIT_POWER_CUT, "--cut-after 1 exits 99 at the second operation");
	expect(file_bytes(cut, 0, r, 4096) && all(r, 4096, 0xFF), "the first operation (erase) completed");
	expect(file_bytes(cut, 4096, r, 32) && all(r, 16, 0x00), "the zeros were already there (written over 0x00)");
	{
		/* writes go over 0x00, which NOR allows only for 0x00: use a fresh erased file to see the prefix */
		FILE *c = fopen(cut, "wb");
		memset(r, 0xFF, sizeof(r));
		for (int i = 0; i < 4; i++)
			fwrite(r, 1, 4096, c);
		fclose(c);
	}
	expect(run_cut(cut, 3) == SIM_EXIT_POWER_CUT, "--cut-after 3 exits 99 at the fourth operation");
	expect(file_bytes(cut, 4096, r, 64) && all(r, 32, 0x00) && all(r + 32, 8, 0x00) && all(r + 40, 24, 0xFF),
			"two writes done, the third applied 8 of its 16 bytes");
	expect(run_cut(cut, 1000) == 0, "no cut when N is larger than the number of operations");

	/* the flash-encryption mode */
	unsetenv("WIM_SIM_FLASH");
	unlink(path);
	expect(sim_flash_open(path, 16384, -1) == 0, "a new flash file (encrypted by default)");
	f = wim_host_flash();
	{
		uint8_t p16[16], q[32];
		for (int i = 0; i < 16; i++)
			p16[i] = (uint8_t)(i * 7);
		expect(f->write(f->ctx, 0, p16, 8) == WIM_E_FLASH, "encrypted: a write of 8 bytes is refused");
		expect(f->write(f->ctx, 8, p16, 16) == WIM_E_FLASH, "encrypted: a write off a 16-byte boundary is refused");
		expect(f->read_raw(f->ctx, 0, q, 32) == WIM_OK && all(q, 32, 0xFF), "encrypted: refused writes change nothing");
		expect(f->read(f->ctx, 16, q, 16) == WIM_OK && !all(q, 16, 0xFF), "encrypted: an erased block reads as noise");
		expect(f->write(f->ctx, 0, p16, 16) == WIM_OK, "encrypted: a whole block is written");
		expect(f->read(f->ctx, 0, q, 16) == WIM_OK && !memcmp(q, p16, 16), "encrypted: read decrypts");
		expect(f->read(f->ctx, 5, q, 4) == WIM_OK && !memcmp(q, p16 + 5, 4), "encrypted: reads need no alignment");
		expect(file_bytes(path, 0, q, 16) && memcmp(q, p16, 16) && !all(q, 16, 0xFF), "encrypted: the file holds ciphertext");
		expect(f->read_raw(f->ctx, 0, r, 16) == WIM_OK && !memcmp(r, q, 16), "encrypted: read_raw gives the file's bytes");
		expect(f->write(f->ctx, 0, p16, 16) == WIM_E_FLASH, "encrypted: a block cannot be written twice, even with the same bytes");
		memset(q, 0, 16);
		expect(f->write(f->ctx, 0, q, 16) == WIM_E_FLASH, "encrypted: nor with bits cleared");
		expect(f->erase(f->ctx, 0) == WIM_OK && f->read_raw(f->ctx, 0, r, 4096) == WIM_OK && all(r, 4096, 0xFF),
				"encrypted: erase sets the raw sector to 0xFF");
		expect(f->write(f->ctx, 0, p16, 16) == WIM_OK, "encrypted: after an erase the block can be written again");
	}
	{
		FILE *c = fopen(cut, "wb");
		memset(r, 0xFF, sizeof(r));
		for (int i = 0; i < 4; i++)
			fwrite(r, 1, 4096, c);
		fclose(c);
	}
	setenv("WIM_SIM_FLASH", "encrypted", 1);
	expect(run_cut(cut, 3) == SIM_EXIT_POWER_CUT, "encrypted: --cut-after 3 exits 99 at the fourth operation");
	expect(file_bytes(cut, 4096, r, 64) && !all(r, 16, 0xFF) && !all(r + 16, 16, 0xFF) && !all(r + 32, 16, 0xFF) &&
			all(r + 48, 16, 0xFF), "encrypted: two blocks written, the third left garbage by the cut");
	unsetenv("WIM_SIM_FLASH");

	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
