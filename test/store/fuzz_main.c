/*
 * fuzz_main.c — the plain driver of test/store/fuzz_store.c (no libFuzzer needed): feeds it random
 * inputs from a seeded generator for a bounded time, or replays the files named.
 *
 *   store-fuzz [--seed S] [--seconds T] [--max-len N] [FILE...]
 *
 * On a failure the entry point aborts; the driver then writes the input to build/store-fuzz-crash.bin,
 * so `store-fuzz build/store-fuzz-crash.bin` reproduces it. Deterministic: input k of seed S is
 * always the same; only how many inputs fit in T seconds varies.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int crc32_fast_selfcheck(void);
extern long fuzz_calls, fuzz_cuts, fuzz_encrypted;

static uint8_t buf[1 << 16];
static size_t cur_len;

/* On a failure: keep the input that caused it. */
static void on_abort(int sig)
{
	int fd = open("build/store-fuzz-crash.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, buf, cur_len) < 0)
			fd = -fd;
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	double seconds = 20;
	size_t max_len = 600;
	int files = 0;
	if (crc32_fast_selfcheck())
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) {
			max_len = (size_t)strtoul(argv[++i], NULL, 0);
			if (max_len > sizeof buf)
				max_len = sizeof buf;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "usage: %s [--seed S] [--seconds T] [--max-len N] [FILE...]\n", argv[0]);
			return 2;
		} else {
			FILE *f = fopen(argv[i], "rb");
			if (!f) {
				perror(argv[i]);
				return 2;
			}
			size_t n = fread(buf, 1, sizeof buf, f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, n);
			printf("%s: ok\n", argv[i]);
			files++;
		}
	}
	if (files)
		return 0;
	signal(SIGABRT, on_abort);
	double t0 = now(), t = t0;
	long inputs = 0;
	uint64_t bytes = 0;
	while (t - t0 < seconds) {
		uint64_t s = seed * 1000003u + (uint64_t)inputs;
		size_t n = 1 + (size_t)(rnd(&s) % max_len);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd(&s);
		cur_len = n;
		LLVMFuzzerTestOneInput(buf, n);
		inputs++;
		bytes += n;
		if (inputs % 64 == 0)
			t = now();
	}
	printf("store fuzz (seed %llu): %ld inputs (%llu bytes; %ld on the flash-encryption model), %ld writing calls, "
			"%ld of them cut, no difference from the model (%.1f s)\n", (unsigned long long)seed, inputs,
			(unsigned long long)bytes, fuzz_encrypted, fuzz_calls, fuzz_cuts, now() - t0);
	return 0;
}
