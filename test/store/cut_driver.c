/*
 * cut_driver.c — the key store against its reference model with a power cut at every flash write and
 * erase of random operation sequences.
 *
 *   store-cut [--seed S] [--cuts N] [--verbose]
 *
 * Sequences of units (a put of a public or a secret record, a remove, a transaction of several puts
 * and removes, a remount, bursts of large puts that force compaction) run on partitions of 2 to 6
 * sectors. For each unit that writes, the driver first runs it uncut to count its flash operations k
 * and learn the state after; then for every i < k and each way of tearing the i-th operation (nothing
 * applied; a prefix and part of the next byte — a partially written word; a random subset of the bits)
 * it restores the flash from before the unit, cuts the power at operation i, powers up, mounts, and
 * requires the store to equal the model before the unit or the model after it — never anything else,
 * in particular never part of a transaction. One cut in eight is followed by a check that the store
 * still works (a put, a remount). The sequence goes on from the uncut result, or (one unit in five) from a cut one, so later
 * units run over what cuts leave behind. Deterministic from the seed; stops once N cut points (i, per
 * unit) were tried; prints the counts. Exit status 0 if every check held.
 *
 * Every other sequence runs on the flash-encryption model of test_flash.h (16-byte blocks written once,
 * erased blocks read as noise, a torn block is garbage), the others on plain NOR. Every fourth sequence
 * (plain; sequence 2, 6, ...) starts from a store in the older WIS1 format written by the previous store code (test/store/
 * wim_store_v1.c): its units, cut at every write, mount it and migrate it into WIS2 by compaction.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "test_flash.h"

#define SECTOR 4096u
#define MAX_SECT 6u
#define NIDS 12u

static uint8_t mem[MAX_SECT * SECTOR], snap[MAX_SECT * SECTOR], clean[MAX_SECT * SECTOR];
static t_flash fl;
static wim_store st, st_snap;
static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) { return (uint32_t)(rnd() % n); }

/* The WIS1 store code (test/store/wim_store_v1.c, its API renamed v1_*) writes the legacy stores. */
int v1_store_format(wim_store *st, const wim_flash *flash);
int v1_store_put(wim_store *st, uint32_t id, uint8_t kind, const uint8_t *data, uint32_t len);
int v1_store_remove(wim_store *st, uint32_t id);

static struct {
	long encrypted, legacy, legacy_records;
	long formats, units, txns, positions, trials, old_state, new_state, refused, compactions, remounts, failures;
	long from_cut;
} c;

static uint8_t ver;
int crc32_fast_selfcheck(void);

static m_op random_op(int big)
{
	m_op o = { 0 };
	o.id = below(NIDS);
	o.ver = ++ver;
	if (!big && below(5) == 0) {
		o.what = OP_REMOVE;
		return o;
	}
	o.what = OP_PUT;
	o.kind = (uint8_t)below(2);
	uint32_t r = below(10);
	o.len = (uint16_t)(big || r == 0 ? 700 + below(1600) : r < 4 ? below(24) : below(400));
	return o;
}

static m_unit random_unit(int *remount, int burst)
{
	m_unit u = { 0 };
	*remount = 0;
	uint32_t r = below(20);
	if (burst) {
		u.n = 1;
		u.op[0] = random_op(1);
	} else if (below(60) == 0) {
		u.format = 1;
	} else if (r < 2) {
		*remount = 1;
	} else if (r < 7) {
		u.txn = 1;
		u.n = 2 + (int)below(4);
		for (int i = 0; i < u.n; i++)
			u.op[i] = random_op(0);
		if (below(3) == 0) { /* the shape of a generated key pair: secret + two objects */
			uint32_t h = 20 + below(6);
			u.n = 3;
			u.op[0] = (m_op){ OP_PUT, WIM_KIND_SECRET, ++ver, (uint16_t)(below(2) ? 32 : 1159), h };
			u.op[1] = (m_op){ OP_PUT, WIM_KIND_PUBLIC, ++ver, (uint16_t)(300 + below(300)), h };
			u.op[2] = (m_op){ OP_PUT, WIM_KIND_PUBLIC, ++ver, (uint16_t)(250 + below(300)), h + 1 };
		}
	} else {
		u.n = 1;
		u.op[0] = random_op(0);
	}
	return u;
}

static void fail(uint64_t seed, long seq, long unit, const m_unit *u, long cut, int tear, const char *what)
{
	c.failures++;
	if (c.failures > 10)
		return;
	printf("FAIL seed %llu sequence %ld unit %ld (", (unsigned long long)seed, seq, unit);
	m_print(u);
	printf(") cut at flash op %ld tear %d: %s\n", cut, tear, what);
}

/* Mounts after a power-up; 0 on failure. */
static int power_up(void)
{
	t_flash_restore(&fl);
	return wim_store_mount(&st, &fl.f) == WIM_OK;
}

/* The store keeps working after a cut: a put lands (or is refused as full) and survives a remount. */
static int still_works(model *m)
{
	m_unit u = { .n = 1, .op = { { OP_PUT, WIM_KIND_PUBLIC, 77, 40, NIDS + 1 } } };
	static model after;
	if (m_run(&st, &u, m, &after) != WIM_OK || !m_matches(&st, &after))
		return 0;
	if (wim_store_mount(&st, &fl.f) != WIM_OK || !m_matches(&st, &after))
		return 0;
	return 1;
}

static void sequence(uint64_t seed, long seq, long max_positions)
{
	static const uint32_t sizes[] = { 2, 3, 3, 4, 4, 6 };
	static model m, after, probe, cont;
	uint32_t nsect = sizes[below(sizeof sizes / sizeof sizes[0])];
	uint32_t size = nsect * SECTOR;
	int units = 30 + (int)below(50), burst = 0;
	t_flash_init(&fl, mem, size, SECTOR);
	fl.encrypted = (int)(seq & 1);
	c.encrypted += fl.encrypted;
	m.n = 0;
	if (seq % 4 == 2) { /* a WIS1 store, written by the previous code */
		static uint8_t v[WIM_STORE_MAX_VALUE];
		c.legacy++;
		if (v1_store_format(&st, &fl.f) != WIM_OK) {
			fail(seed, seq, -1, &(m_unit){ 0 }, -1, -1, "WIS1 format");
			return;
		}
		for (int k = 10 + (int)below(30); k > 0; k--) {
			m_op o = random_op(below(8) == 0);
			int rc;
			if (o.what == OP_REMOVE) {
				rc = v1_store_remove(&st, o.id);
			} else {
				m_value(v, o.id, o.kind, o.ver, o.len);
				rc = v1_store_put(&st, o.id, o.kind, v, o.len);
			}
			if (rc == WIM_OK) {
				m_apply(&m, &o);
				c.legacy_records++;
			} else if (rc != WIM_E_NOTFOUND && rc != WIM_E_FULL) {
				fail(seed, seq, -1, &(m_unit){ 0 }, -1, -1, "WIS1 put");
				return;
			}
		}
	} else if (wim_store_format(&st, &fl.f) != WIM_OK) {
		fail(seed, seq, -1, &(m_unit){ 0 }, -1, -1, "format");
		return;
	}
	for (int k = 0; k < units && c.positions < max_positions && c.failures == 0; k++) {
		int remount;
		if (!burst && below(25) == 0)
			burst = 3 + (int)below(6);
		m_unit u = random_unit(&remount, burst > 0);
		if (burst)
			burst--;
		c.units++;
		if (remount) {
			c.remounts++;
			if (wim_store_mount(&st, &fl.f) != WIM_OK || !m_matches(&st, &m))
				fail(seed, seq, k, &u, -1, -1, "remount differs from the model");
			continue;
		}
		c.txns += u.txn;
		c.formats += u.format;
		memcpy(snap, mem, size);
		/* uncut: how many flash operations, and the state after */
		if (!power_up()) {
			fail(seed, seq, k, &u, -1, -1, "mount before the unit");
			return;
		}
		uint32_t low = st.low_water;
		long ops0 = fl.ops;
		int rc = m_run(&st, &u, &m, &after);
		long nfo = fl.ops - ops0;
		c.compactions += st.low_water != low;
		if (rc != WIM_OK || !m_matches(&st, &after) || wim_store_mount(&st, &fl.f) != WIM_OK ||
				!m_matches(&st, &after)) {
			fail(seed, seq, k, &u, -1, -1, "uncut run differs from the model");
			return;
		}
		if (m_matches(&st, &m) && nfo && memcmp(&m, &after, sizeof m) == 0)
			c.refused++;
		memcpy(clean, mem, size);
		memcpy(mem, snap, size);
		if (!power_up()) {
			fail(seed, seq, k, &u, -1, -1, "mount before the unit");
			return;
		}
		st_snap = st; /* the mounted state before the unit: each cut starts from it */
		long pick = below(5) == 0 && nfo ? (long)below((uint32_t)nfo) : -1;
		int pick_tear = (int)below(3);
		for (long cut = 0; cut < nfo; cut++) {
			c.positions++;
			for (int tear = TEAR_NONE; tear <= TEAR_BITS; tear++) {
				uint64_t tseed = seed ^ (uint64_t)seq << 40 ^ (uint64_t)k << 20 ^ (uint64_t)cut << 2 ^ (uint64_t)tear;
				memcpy(mem, snap, size);
				st = st_snap;
				t_flash_restore(&fl);
				t_flash_cut(&fl, cut, tear, tseed);
				m_run(&st, &u, &m, &probe);
				c.trials++;
				if (!power_up()) {
					fail(seed, seq, k, &u, cut, tear, "no mount after the cut");
					continue;
				}
				int which = m_matches(&st, &after) ? 2 : m_matches(&st, &m) ? 1 : 0;
				if (!which) {
					fail(seed, seq, k, &u, cut, tear, "neither the state before nor the state after");
					continue;
				}
				c.old_state += which == 1;
				c.new_state += which == 2;
				if (cut == pick && tear == pick_tear) { /* go on from here: keep this flash */
					memcpy(clean, mem, size);
					cont = which == 2 ? after : m;
					c.from_cut++;
				}
				static model cur;
				cur = which == 2 ? after : m;
				if ((c.trials % 8 == 0 || cut == pick) && !still_works(&cur))
					fail(seed, seq, k, &u, cut, tear, "the store does not work after the cut");
			}
		}
		memcpy(mem, clean, size);
		m = pick >= 0 ? cont : after;
		if (!power_up() || !m_matches(&st, &m))
			fail(seed, seq, k, &u, -1, -1, "continuing state");
		if (fl.violations) {
			fail(seed, seq, k, &u, -1, -1, "NOR or bounds violation");
			return;
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	long want = 10000;
	int verbose = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--cuts") && i + 1 < argc)
			want = strtol(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else {
			fprintf(stderr, "usage: %s [--seed S] [--cuts N] [--verbose]\n", argv[0]);
			return 2;
		}
	}
	if (crc32_fast_selfcheck())
		return 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rng_state = seed;
	long seq = 0;
	while (c.positions < want && c.failures == 0) {
		sequence(seed, seq++, want);
		if (verbose)
			printf("  sequence %ld: %ld cut points so far\n", seq, c.positions);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("store power cuts (seed %llu): %ld sequences (%ld on the flash-encryption model, %ld from a WIS1 store "
			"of %ld operations in all)\n", (unsigned long long)seed, seq, c.encrypted, c.legacy, c.legacy_records);
	printf("store power cuts (seed %llu): %ld sequences, %ld units (%ld transactions, %ld formats, %ld remounts, "
			"%ld refused as full), %ld compactions\n", (unsigned long long)seed, seq, c.units, c.txns, c.formats,
			c.remounts, c.refused, c.compactions);
	printf("store power cuts: %ld cut points (flash writes/erases) x 3 tears = %ld cuts, each followed by power-up, "
			"mount and a model check (1 in 8 also by a put and a remount): %ld old state, %ld new state, %ld "
			"sequences continued from a cut, %ld failures (%.1f s)\n", c.positions, c.trials, c.old_state,
			c.new_state, c.from_cut, c.failures, s);
	return c.failures || c.positions < want ? 1 : 0;
}
