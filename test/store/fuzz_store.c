/*
 * fuzz_store.c — a deterministic fuzzer of the key store's API: the operations come from the input
 * bytes (a libFuzzer entry point; test/store/fuzz_main.c feeds it seeded random inputs for a bounded
 * time, or replays files; built with clang -fsanitize=fuzzer it runs under libFuzzer as is).
 *
 * Input: byte 0 picks the partition (2..6 sectors of 4 KiB); then each operation takes an opcode byte
 * and its argument bytes: put (public/secret, id, length), remove, begin (reserve), commit, abort,
 * remount, format, reads (get, read_secret, read_secret_at, ids with small buffers), bad arguments, and
 * "cut": the next writing call gets a power cut at the flash operation and in the tear mode the input
 * names. After every operation the store is compared with the reference model (reads see the committed
 * state; a transaction's puts show only after its commit); after a cut, a power-up and a mount it must
 * hold the state before or after the cut call. Any difference aborts (a crash for libFuzzer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "test_flash.h"

#define SECTOR 4096u
#define NIDS 10u

static uint8_t mem[6 * SECTOR], vbuf[WIM_STORE_MAX_VALUE + 1], rbuf[WIM_STORE_MAX_VALUE + 1];
static t_flash fl;
static wim_store st;
static model m, w, alt; /* committed; working (with the open transaction's ops); the cut call's outcome */

/* Counters for the plain driver's report. */
long fuzz_calls, fuzz_cuts;

typedef struct in {
	const uint8_t *p;
	size_t n;
} in;

static uint32_t byte(in *s)
{
	if (!s->n)
		return 0;
	s->n--;
	return *s->p++;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "store fuzz: %s\n", what);
		abort();
	}
}

static int in_txn;

/* Runs one writing call, maybe cut; returns its result (WIM_E_FLASH when cut). */
static int write_call(int op, uint32_t id, uint8_t kind, uint32_t len, uint32_t ver, long cut, int tear)
{
	int rc;
	if (cut >= 0) {
		t_flash_cut(&fl, cut, tear, (uint64_t)cut * 31 + (uint64_t)tear + ver);
		fuzz_cuts++;
	}
	fuzz_calls++;
	switch (op) {
	case 0:
		m_value(vbuf, id, kind, (uint8_t)ver, len);
		rc = wim_store_put(&st, id, kind, vbuf, len);
		break;
	case 1:
		rc = wim_store_remove(&st, id);
		break;
	case 2:
		rc = wim_store_begin(&st, len);
		break;
	case 3:
		rc = wim_store_commit(&st);
		break;
	default:
		rc = wim_store_format(&st, &fl.f);
		break;
	}
	return rc;
}

static void remount(void)
{
	t_flash_restore(&fl);
	check(wim_store_mount(&st, &fl.f) == WIM_OK, "mount");
	in_txn = 0;
}

static void step(in *s)
{
	uint32_t opc = byte(s) % 16, id = byte(s) % NIDS, a = byte(s), b = byte(s);
	uint8_t kind = (uint8_t)(a & 1);
	uint32_t len = (a >> 1 & 3) == 3 ? (b << 4 | (a >> 3)) % (WIM_STORE_MAX_VALUE + 1) : b;
	static uint32_t ver;
	long cut = -1;
	int tear = 0;
	ver++;
	if (opc == 15) { /* cut the next writing call */
		cut = (long)(byte(s) % 48);
		tear = (int)(byte(s) % 3);
		opc = byte(s) % 6;
		id = byte(s) % NIDS;
	}
	uint32_t got = 0, ids[4];
	int rc;
	switch (opc) {
	case 0: case 1: case 2: case 3: case 4: case 5: {
		/* put (0..2), remove (3), begin (4) or commit/format (5) */
		int op = opc <= 2 ? 0 : opc == 3 ? 1 : opc == 4 ? 2 : (b & 7) == 0 ? 4 : 3;
		model before = m;
		m_op o = { (uint8_t)(op == 1), kind, (uint8_t)ver, (uint16_t)len, id };
		if (op == 1 && !m_has_id(&w, id) && cut < 0) {
			check(write_call(op, id, kind, len, ver, -1, 0) == WIM_E_NOTFOUND, "remove of nothing");
			break;
		}
		rc = write_call(op, id, kind, len, ver, cut, tear);
		if (cut >= 0 && fl.dead) { /* the power went during the call */
			alt = m;
			if (op == 4)
				alt.n = 0;
			else if (op == 3 && in_txn)
				alt = w;
			else if (op <= 1 && !in_txn && m_has_id(&w, id) | (op == 0))
				m_apply(&alt, &o);
			remount();
			int now_new = m_matches(&st, &alt), now_old = m_matches(&st, &before);
			check(now_new || now_old, "after a cut: neither the state before nor after");
			m = now_new ? alt : before;
			w = m;
			break;
		}
		t_flash_restore(&fl);
		if (op == 4) {
			check(rc == WIM_OK, "format");
			m.n = w.n = 0;
			in_txn = 0;
		} else if (op == 2) {
			check(in_txn ? rc == WIM_E_ARG : rc == WIM_OK || rc == WIM_E_FULL, "begin");
			if (rc == WIM_OK)
				in_txn = 1, w = m;
		} else if (op == 3) {
			check(in_txn ? rc == WIM_OK : rc == WIM_E_ARG, "commit");
			if (in_txn)
				m = w;
			in_txn = 0;
		} else {
			check(rc == WIM_OK || rc == WIM_E_FULL || (op == 1 && rc == WIM_E_NOTFOUND), "put/remove result");
			if (rc == WIM_OK) {
				m_apply(&w, &o);
				if (!in_txn)
					m = w;
			}
		}
		break;
	}
	case 6:
		wim_store_abort(&st);
		in_txn = 0;
		w = m;
		break;
	case 7:
		remount();
		w = m;
		break;
	case 8: { /* get */
		rc = wim_store_get(&st, id, rbuf, b % 4 ? sizeof rbuf : b, &got);
		int i = m_find(&m, id, WIM_KIND_PUBLIC);
		if (i < 0)
			check(rc == (m_find(&m, id, WIM_KIND_SECRET) >= 0 ? WIM_E_SECRET : WIM_E_NOTFOUND), "get of a missing id");
		else if (got > (b % 4 ? sizeof rbuf : b))
			check(rc == WIM_E_TOOBIG && got == m.r[i].len, "get into a small buffer");
		else {
			m_value(vbuf, id, WIM_KIND_PUBLIC, m.r[i].ver, m.r[i].len);
			check(rc == WIM_OK && got == m.r[i].len && !memcmp(rbuf, vbuf, got), "get");
		}
		break;
	}
	case 9: { /* read_secret_at */
		uint32_t off = a * 7, n = b, total = 0;
		rc = wim_store_read_secret_at(&st, id, off, rbuf, n, &total);
		int i = m_find(&m, id, WIM_KIND_SECRET);
		if (i < 0)
			check(rc == WIM_E_NOTFOUND, "read_secret_at of a missing id");
		else if (off > m.r[i].len || n > m.r[i].len - off)
			check(rc == WIM_E_ARG && total == m.r[i].len, "read_secret_at out of range");
		else {
			m_value(vbuf, id, WIM_KIND_SECRET, m.r[i].ver, m.r[i].len);
			check(rc == WIM_OK && total == m.r[i].len && !memcmp(rbuf, vbuf + off, n), "read_secret_at");
		}
		break;
	}
	case 10: { /* ids into a small buffer */
		uint32_t cap = b % 5, npub = 0;
		rc = wim_store_ids(&st, ids, cap, &got);
		for (int i = 0; i < m.n; i++)
			npub += m.r[i].kind == WIM_KIND_PUBLIC;
		check(got == npub && rc == (npub > cap ? WIM_E_TOOBIG : WIM_OK), "ids");
		break;
	}
	case 11: /* bad arguments change nothing */
		check(wim_store_put(&st, id, (uint8_t)(2 + a % 200), vbuf, 4) == WIM_E_ARG, "put of a bad kind");
		check(wim_store_put(&st, id, kind, vbuf, WIM_STORE_MAX_VALUE + 1 + b) == WIM_E_ARG, "put too long");
		check(wim_store_put(&st, id, kind, NULL, 1 + b) == WIM_E_ARG, "put of NULL");
		check(wim_store_get(&st, id, rbuf, 0, NULL) == WIM_E_ARG, "get without len");
		break;
	default: /* 12..14: the state, checked in full */
		check(m_matches(&st, &m), "store differs from the model");
		break;
	}
}

long fuzz_encrypted;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in s = { data, size };
	uint32_t b0 = byte(&s), nsect = 2 + b0 % 5;
	t_flash_init(&fl, mem, nsect * SECTOR, SECTOR);
	fl.encrypted = (int)(b0 / 5 % 2); /* the flash-encryption model of test_flash.h, or plain NOR */
	fuzz_encrypted += fl.encrypted;
	check(wim_store_format(&st, &fl.f) == WIM_OK, "format");
	m.n = w.n = 0;
	in_txn = 0;
	while (s.n)
		step(&s);
	wim_store_abort(&st);
	check(m_matches(&st, &m), "store differs from the model at the end");
	remount();
	check(m_matches(&st, &m), "store differs from the model after the last mount");
	check(fl.violations == 0, "NOR or bounds violation");
	return 0;
}
