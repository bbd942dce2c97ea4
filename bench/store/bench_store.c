/*
 * bench_store.c — figures of the key store through the C core (the core's own CRC, on this host):
 *  - mount time of a full partition (64 sectors of 4 KiB, the simulator's 256 KiB);
 *  - wear: a token's life of logins (each one rewrites the 278-byte token record twice, as
 *    modules/wim/token.ts does) with key pairs created and destroyed in between: erases per 1,000
 *    logins and the erase count of every sector at the end (the spread);
 *  - object creation: erases and bytes written per key pair, as one transaction (secret + private
 *    object + public object) and as three separate puts;
 *  - signing: RSA-2048 private operations with the key in the store write nothing (flash writes and
 *    erases counted over 1,000 signatures).
 * The figures through the real firmware (simulator, WIM_SIM_STATS=1) come from bench/store/sim-flash.ts.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "test_flash.h"
#include "wim_rsa.h"
#include "wim_store.h"

#define SECTOR 4096u
#define NSECT 64u
#define TOKEN_LEN 278u /* the JSON token record (measured on the simulator) */
/* P-256 pair as the firmware writes it: the 32-byte scalar and the two objects' attribute templates
 * (sizes measured on the simulator: bytes written per creation minus the record headers). */
#define EC_SECRET 32u
#define EC_PRIV 240u
#define EC_PUB 302u

static uint8_t mem[NSECT * SECTOR], buf[WIM_STORE_MAX_VALUE];
static t_flash fl;
static wim_store st;
static uint64_t scratch[16 * 1024 / 8];

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int die(const char *what, int rc)
{
	printf("bench-store: %s failed: %d\n", what, rc);
	return 1;
}

/* One key pair at handles h (private) and h + 1 (public). */
static int create_pair(uint32_t h, int txn)
{
	int rc;
	memset(buf, (int)h, sizeof buf);
	if (txn && (rc = wim_store_begin(&st, EC_SECRET + EC_PRIV + EC_PUB)) != 0)
		return rc;
	if ((rc = wim_store_put(&st, h, WIM_KIND_SECRET, buf, EC_SECRET)) != 0 ||
			(rc = wim_store_put(&st, h, WIM_KIND_PUBLIC, buf, EC_PRIV)) != 0 ||
			(rc = wim_store_put(&st, h + 1, WIM_KIND_PUBLIC, buf, EC_PUB)) != 0) {
		wim_store_abort(&st);
		return rc;
	}
	return txn ? wim_store_commit(&st) : WIM_OK;
}

static int login(void)
{
	int rc;
	memset(buf, 0x7b, TOKEN_LEN);
	if ((rc = wim_store_put(&st, 1, WIM_KIND_PUBLIC, buf, TOKEN_LEN)) != 0) /* the decrement */
		return rc;
	return wim_store_put(&st, 1, WIM_KIND_PUBLIC, buf, TOKEN_LEN); /* the reset */
}

typedef struct rng_ctx {
	uint64_t s;
} rng_ctx;

static int rng_fill(void *ctx, uint8_t *out, size_t len)
{
	rng_ctx *r = ctx;
	for (size_t i = 0; i < len; i++) {
		r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
		out[i] = (uint8_t)(r->s >> 56);
	}
	return WIM_OK;
}

int main(void)
{
	int rc;
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("key store figures (C core, %u sectors of %u bytes)\n", NSECT, SECTOR);
	printf("| figure | value |\n|---|---|\n");

	/* object creation, fresh store (no compaction) and in steady churn */
	for (int txn = 1; txn >= 0; txn--) {
		t_flash_init(&fl, mem, NSECT * SECTOR, SECTOR);
		if ((rc = wim_store_format(&st, &fl.f)) != 0)
			return die("format", rc);
		long e0 = fl.erases;
		uint64_t b0 = fl.bytes_written;
		const int n = 2000, live = 40;
		for (int i = 0; i < n; i++) {
			uint32_t h = 16 + 2 * (uint32_t)(i % live);
			if (i >= live && (rc = wim_store_remove(&st, h)) == 0)
				rc = wim_store_remove(&st, h + 1);
			if (rc || (rc = create_pair(h, txn)) != 0 || (i % 10 == 0 && (rc = login()) != 0))
				return die("creation churn", rc);
		}
		printf("| key pair creation (P-256, %s), %d created, %d live, a login every 10: erases per creation "
				"| %.3f |\n", txn ? "one transaction" : "three puts", n, live, (double)(fl.erases - e0) / n);
		printf("| ... bytes written per creation (incl. removal, logins and compaction copies) | %.0f |\n",
				(double)(fl.bytes_written - b0) / n);
	}
	t_flash_init(&fl, mem, NSECT * SECTOR, SECTOR);
	if ((rc = wim_store_format(&st, &fl.f)) != 0)
		return die("format", rc);
	long e0 = fl.erases;
	uint64_t b0 = fl.bytes_written;
	if ((rc = create_pair(16, 1)) != 0)
		return die("creation", rc);
	printf("| one creation on a fresh store: erases, bytes written | %ld, %llu |\n", fl.erases - e0,
			(unsigned long long)(fl.bytes_written - b0));
	/* flash writes of one put (no compaction): a token record's size, a secret's, a 4-byte one */
	{
		static const uint32_t lens[] = { 300, 1159, 4 };
		printf("| flash writes (bytes) per put of 300 / 1159 / 4 bytes |");
		for (int k = 0; k < 3; k++) {
			long w0 = fl.writes;
			b0 = fl.bytes_written;
			memset(buf, 0x42, lens[k]);
			if ((rc = wim_store_put(&st, 900 + k, WIM_KIND_PUBLIC, buf, lens[k])) != 0)
				return die("put", rc);
			printf("%s %ld (%llu)", k ? " /" : "", fl.writes - w0, (unsigned long long)(fl.bytes_written - b0));
		}
		printf(" |\n");
	}

	/* wear: logins with object churn */
	t_flash_init(&fl, mem, NSECT * SECTOR, SECTOR);
	if ((rc = wim_store_format(&st, &fl.f)) != 0)
		return die("format", rc);
	memset(fl.erase_count, 0, sizeof fl.erase_count);
	e0 = fl.erases;
	const long logins = 100000;
	for (long i = 0; i < logins; i++) {
		if ((rc = login()) != 0)
			return die("login", rc);
		if (i % 100 == 0) {
			uint32_t h = 16 + 2 * (uint32_t)((i / 100) % 30);
			if (i >= 3000 && (rc = wim_store_remove(&st, h)) == 0)
				rc = wim_store_remove(&st, h + 1);
			if (rc || (rc = create_pair(h, 1)) != 0)
				return die("churn", rc);
		}
	}
	uint32_t mn = ~0u, mx = 0;
	for (uint32_t s = 0; s < NSECT; s++) {
		mn = fl.erase_count[s] < mn ? fl.erase_count[s] : mn;
		mx = fl.erase_count[s] > mx ? fl.erase_count[s] : mx;
	}
	printf("| %ld logins (2 token writes each), a key pair created every 100 (30 live): erases per 1,000 "
			"logins | %.1f |\n", logins, (double)(fl.erases - e0) * 1000.0 / logins);
	printf("| ... erases per sector: min / mean / max (spread) | %u / %.1f / %u |\n", mn,
			(double)(fl.erases - e0) / NSECT, mx);
	printf("| ... at 100,000 erase cycles a sector, logins until the first sector wears out | %.2g |\n",
			mx ? 100000.0 * logins / mx : 0.0);

	/* mount time of a full partition */
	t_flash_init(&fl, mem, NSECT * SECTOR, SECTOR);
	if ((rc = wim_store_format(&st, &fl.f)) != 0)
		return die("format", rc);
	uint32_t n = 0;
	for (;; n++) {
		memset(buf, (int)n, 1000);
		if ((rc = wim_store_put(&st, 100 + n, (uint8_t)(n & 1), buf, 1000)) != 0)
			break;
	}
	uint32_t used = 0;
	for (uint32_t s = 0; s < st.nsectors; s++)
		used += st.gen[s] != 0;
	const int mounts = 20;
	double t0 = now_ms();
	for (int i = 0; i < mounts; i++)
		if ((rc = wim_store_mount(&st, &fl.f)) != 0)
			return die("mount", rc);
	double per = (now_ms() - t0) / mounts;
	printf("| mount of a full partition (%u of %u sectors in use, %u live records of 1000 bytes): ms on this host "
			"(bit-serial CRC over every record) | %.2f |\n", used, NSECT, (unsigned)st.count, per);

	/* signing writes nothing */
	t_flash_init(&fl, mem, NSECT * SECTOR, SECTOR);
	if ((rc = wim_store_format(&st, &fl.f)) != 0)
		return die("format", rc);
	rng_ctx rc_ctx = { 42 };
	wim_rng rng = { &rc_ctx, rng_fill };
	static uint8_t modulus[256], in[256], out[256];
	if ((rc = wim_rsa_generate(&st, 16, 2048, &rng, modulus, scratch, sizeof scratch)) != 0)
		return die("rsa_generate", rc);
	long w0 = fl.writes;
	e0 = fl.erases;
	memset(in, 0x11, sizeof in);
	t0 = now_ms();
	const int sigs = 1000;
	for (int i = 0; i < sigs; i++) {
		in[255] = (uint8_t)i;
		if ((rc = wim_rsa_private(&st, 16, in, sizeof in, out, &rng, scratch, sizeof scratch)) != 0)
			return die("rsa_private", rc);
	}
	printf("| %d RSA-2048 signatures with the key in the store: flash writes, erases | %ld, %ld |\n", sigs,
			fl.writes - w0, fl.erases - e0);
	printf("(%.2f ms per signature on this host)\n", (now_ms() - t0) / sigs);
	return fl.violations ? 1 : 0;
}
