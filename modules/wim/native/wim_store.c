/*
 * wim_store.c — a log-structured key store on NOR flash, plain or under flash encryption.
 *
 * The flash (wim_env.h): erase sets a sector to 0xFF. Every write the store makes is whole 16-byte blocks
 * at 16-byte-aligned offsets, and each block is written at most once between erases: on a partition under
 * ESP-IDF flash encryption (AES-XTS over 16-byte blocks) a second write of a block, or a part of one,
 * would leave garbage. Reads of an erased block decrypt to pseudo-random bytes there, so whether a block
 * is erased is asked of read_raw (0xFF when erased); a written block's ciphertext is all 0xFF with
 * probability 2^-128. Format "WIS2"; sectors in the older "WIS1" format (plain flash only) are read, never
 * written, and move into WIS2 sectors as compaction copies their records (docs/store.md).
 *
 * On flash (all integers little-endian; B = 16):
 *
 *   sector header, 32 bytes (2 blocks, one write):
 *     magic u32 | gen u32 | ~gen u32 | victim u32 | ~victim u32 | 0 u32 | 0 u32 | 0 u32
 *     gen is the sector's generation: every sector that becomes the head gets max_gen + 1. victim is 0,
 *     or, for a sector opened by compaction (or format), the generation G being compacted away: such a
 *     sector counts only if it holds a low-water record >= G itself (the compaction finished: once the
 *     sector is open, the rest of the copies and the low-water record always go into it, see RESERVE).
 *     Without one, everything in it is a copy of what the victim still holds: it is ignored, and free.
 *     (It must not count later either, when a retried compaction wrote its low-water record elsewhere:
 *     its stale copies would then shadow newer records.)
 *     (WIS1: 24 bytes, magic "WIS1" | gen | ~gen | victim | ~victim | 0xFFFFFFFF.)
 *   record: a header block, the payload padded to whole blocks (padding 0xFF), a commit block:
 *     header:  magic u16 | kind u8 | flags u8 | seq u32 | id u32 | len u16 | pos u16
 *     commit:  crc32 u32 | ~crc32 u32 | seq u32 | ~seq u32, written LAST, in a write of its own
 *     crc32 covers the header block and the payload. A record counts only if its commit block is whole
 *     (both complement pairs, the header's seq) and the CRC matches. flags 0xFF, pos 0xFFFF: a plain
 *     record; flags 0xFE: member number `pos` (0, 1, ...) of a transaction.
 *     (WIS1: a 24-byte header, the same 16 bytes then crc32 u32 | commit u32 (nonzero bits: committed),
 *     the payload padded to 4 bytes.)
 *   kinds: 0 PUBLIC, 1 SECRET, 2 tombstone (removes both kinds of `id`), 3 low-water mark (payload: a
 *     generation G; every sector of generation <= G holds nothing live), 4 transaction commit (payload:
 *     the number n of members; plain).
 *
 * Transactions: wim_store_begin makes room in the head sector for the whole transaction (compacting if
 * needed); then members 0..n-1 and the commit record are written back to back into that one sector,
 * nothing in between (no compaction, no new sector: a member that does not fit is refused). Replay
 * stages members (member 0, or a new sector, starts a new list) and applies them, in order, at a commit
 * whose n equals the staged count; a list without its commit (a cut, an abort) is never applied. A
 * torn member ends its sector, so nothing after it can commit it. Once committed, the members are
 * ordinary live records: compaction copies them (as plain records) like any other, and since the whole
 * transaction sits in one sector it is always compacted whole.
 *
 * The log is read in generation order, each sector front to back; a later record of an (id, kind)
 * replaces the earlier one. A header block that is erased (read_raw) ends the sector's log; the first
 * record that is not valid (torn, uncommitted, bad CRC) ends its sector: the rest of it is treated as used.
 *
 * Why a power cut leaves the old or the new state (the model: on plain NOR a cut write clears a subset of
 * the bits it was asked to clear; under encryption it leaves the blocks before some block written, that
 * block garbage, the rest erased; a cut erase sets a subset of the sector's bits):
 *  - put/remove: header and payload are written and read back against the CRC, the commit block last.
 *    Without a whole commit block the record is ignored (old state). A torn commit block is invalid: on
 *    NOR it has extra 1 bits, which break a complement pair; under encryption it is garbage (2^-128).
 *  - a new head sector: its header carries (gen, ~gen), (victim, ~victim) and 96 zero bits; a torn header
 *    is invalid (extra 1 bits on NOR break a pair or a zero; under encryption a garbage or erased block
 *    reads as noise, which matches with probability 2^-64 or less) and the sector is free.
 *    Records are written to a sector only after its header.
 *  - compaction copies the live records of the oldest sector (the victim) to the head (the same data,
 *    new seq: state unchanged), then writes a low-water record naming the victim's generation, then erases
 *    the victim. Whatever a cut erase leaves of the victim is at or below the low-water mark and ignored.
 *    Tombstones and low-water records are not copied: what they shadow is older, so it is in the victim
 *    itself or in sectors already dead.
 *    A sector that compaction had to open is marked with the victim's generation and ignored (and so
 *    free again) until the low-water record is in it: a cut compaction gives its spare sector back.
 *  - format writes a fresh head (max_gen + 1, victim max_gen) with a low-water record of max_gen: its
 *    commit is the switch from the old store to the empty one. Then the other sectors are erased.
 * One sector is kept free so that compaction always has somewhere to copy to. Gen and seq are 32-bit and
 * never wrap in the life of a flash part. The writer never writes after a failed write (any flash error
 * unmounts), and never into a WIS1 sector: a mount whose newest sector is WIS1 starts a new one.
 */
#include "wim_store.h"
#include "wim_crc32.h"

#include <string.h>

#define SEC_MAGIC 0x32534957u  /* "WIS2" */
#define SEC_MAGIC1 0x31534957u /* "WIS1", read only */
#define BLK 16u                /* the encryption block: the unit of every write */
#define SEC_HDR 32u
#define REC_MAGIC 0x5257u      /* "WR" */
#define KIND_TOMB 2
#define KIND_LOWWATER 3
#define KIND_COMMIT 4
#define PLAIN 0xffffu     /* pos of a record outside transactions */
#define FLAG_MEMBER 0xfeu
#define CHUNK 64u
/* Every sector keeps room for one low-water record at its end: ordinary records and compaction copies
 * never use it, so compaction can always finish with its low-water record. */
#define RESERVE (3u * BLK)

static uint32_t pad16(uint32_t x) { return (x + BLK - 1) & ~(BLK - 1); }
static uint32_t foot(uint32_t len) { return 2 * BLK + pad16(len); }
/* In a sector of either format: where the payload starts, the record's whole size, the first record. */
static uint32_t phdr(int v1) { return v1 ? 24u : BLK; }
static uint32_t rfoot(int v1, uint32_t len) { return v1 ? 24u + ((len + 3) & ~3u) : foot(len); }
static uint32_t shdr(int v1) { return v1 ? 24u : SEC_HDR; }
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* ---- flash access: any error unmounts the store (its RAM state may no longer match the flash) ---- */

/* raw: the bytes on the chip, undecrypted (read_raw; read on plain flash). */
static int fl_rd(wim_store *st, uint32_t off, void *buf, uint32_t len, int raw)
{
	const wim_flash *f = st->flash;
	int rc = (raw && f->read_raw ? f->read_raw : f->read)(f->ctx, off, buf, len);
	if (rc) {
		st->mounted = 0;
		return WIM_E_FLASH;
	}
	return WIM_OK;
}

static int fl_read(wim_store *st, uint32_t off, void *buf, uint32_t len)
{
	return fl_rd(st, off, buf, len, 0);
}

static int fl_write(wim_store *st, uint32_t off, const void *buf, uint32_t len)
{
	int rc = st->flash->write(st->flash->ctx, off, buf, len);
	if (rc) {
		st->mounted = 0;
		return WIM_E_FLASH;
	}
	return WIM_OK;
}

static int fl_erase(wim_store *st, uint32_t sector)
{
	int rc = st->flash->erase(st->flash->ctx, sector * st->flash->sector_size);
	if (rc) {
		st->mounted = 0;
		return WIM_E_FLASH;
	}
	return WIM_OK;
}

static uint32_t sec_base(wim_store *st, uint32_t s) { return s * st->flash->sector_size; }
static uint32_t sec_end(wim_store *st, uint32_t s) { return (s + 1) * st->flash->sector_size; }
static uint32_t sec_cap(wim_store *st) { return st->flash->sector_size - SEC_HDR; }
static uint32_t sec_of(wim_store *st, uint32_t off) { return off / st->flash->sector_size; }
static int is_v1(wim_store *st, uint32_t s) { return st->v1[s]; }

/* 1 if [off, end) is erased (all 0xFF as read raw), 0 if not, <0 on a flash error. */
static int is_blank(wim_store *st, uint32_t off, uint32_t end)
{
	uint8_t buf[CHUNK];
	while (off < end) {
		uint32_t n = end - off < CHUNK ? end - off : CHUNK;
		int rc = fl_rd(st, off, buf, n, 1);
		if (rc)
			return rc;
		for (uint32_t i = 0; i < n; i++)
			if (buf[i] != 0xff)
				return 0;
		off += n;
	}
	return 1;
}

/* The generation of sector s if its header is valid, else 0 (and its victim generation, or 0; *v1 set
 * for a WIS1 sector). <0 on a flash error. */
static int64_t sector_gen(wim_store *st, uint32_t s, uint32_t *victim, int *v1)
{
	uint8_t h[SEC_HDR];
	*victim = 0;
	if (fl_read(st, sec_base(st, s), h, SEC_HDR))
		return WIM_E_FLASH;
	uint32_t m = rd32(h), g = rd32(h + 4), v = rd32(h + 12);
	*v1 = m == SEC_MAGIC1;
	if ((m != SEC_MAGIC && !*v1) || (g ^ rd32(h + 8)) != 0xffffffffu || g == 0 || g == 0xffffffffu ||
			(v ^ rd32(h + 16)) != 0xffffffffu ||
			(!*v1 && (rd32(h + 20) | rd32(h + 24) | rd32(h + 28))))
		return 0;
	*victim = v;
	return g;
}

/* ---- the index ---- */

static int find(wim_store *st, uint32_t id, uint8_t kind)
{
	for (uint32_t i = 0; i < st->count; i++)
		if (st->index[i].id == id && st->index[i].kind == kind)
			return (int)i;
	return -1;
}

static void drop(wim_store *st, uint32_t i)
{
	st->index[i] = st->index[--st->count];
}

/* Records that (id, kind) now lives at off. */
static int index_set(wim_store *st, uint32_t id, uint8_t kind, uint32_t off, uint32_t len)
{
	int i = find(st, id, kind);
	if (i < 0) {
		if (st->count >= WIM_STORE_MAX_RECORDS)
			return WIM_E_FULL;
		i = (int)st->count++;
	}
	wim_store_entry *e = &st->index[i];
	e->id = id;
	e->kind = kind;
	e->offset = off;
	e->len = (uint16_t)len;
	e->live = 1;
	return WIM_OK;
}

static void index_remove_id(wim_store *st, uint32_t id)
{
	for (uint32_t i = st->count; i-- > 0;)
		if (st->index[i].id == id)
			drop(st, i);
}

/* Forgets every record in sectors of generation <= g (they are dead). */
static void index_apply_low_water(wim_store *st, uint32_t g)
{
	for (uint32_t i = st->count; i-- > 0;) {
		uint32_t sg = st->gen[sec_of(st, st->index[i].offset)];
		if (sg <= g)
			drop(st, i);
	}
}

/* Adds an operation to the transaction's staged list (the caller checked there is room). */
static void stage(wim_store *st, uint32_t id, uint8_t kind, uint32_t off, uint32_t len)
{
	wim_store_staged *t = &st->txn[st->txn_n++];
	t->id = id;
	t->kind = kind;
	t->offset = off;
	t->len = (uint16_t)len;
	t->pad = 0;
}

/* Applies the staged operations to the index, in order, and empties the list. */
static int apply_staged(wim_store *st)
{
	int rc = WIM_OK;
	for (uint32_t i = 0; i < st->txn_n && !rc; i++) {
		wim_store_staged *t = &st->txn[i];
		if (t->kind == KIND_TOMB)
			index_remove_id(st, t->id);
		else
			rc = index_set(st, t->id, t->kind, t->offset, t->len);
	}
	st->txn_n = 0;
	return rc;
}

/* ---- records ---- */

typedef struct rec {
	uint8_t h[24];
	uint32_t kind, seq, id, len, pos;
} rec;

/* Reads and checks the record at off (which must leave a header's room before end) in a sector of the
 * given format. Returns 1 valid, 0 blank (the log of this sector ends here), -1 invalid, <-1 flash error.
 * If copy_out is given, bytes [win_off, win_off + win_len) of the payload are copied there. */
static int rec_load(wim_store *st, uint32_t off, uint32_t end, int v1, rec *r, uint8_t *copy_out,
		uint32_t win_off, uint32_t win_len)
{
	int rc = is_blank(st, off, off + BLK);
	if (rc)
		return rc < 0 ? rc : 0;
	if ((rc = fl_read(st, off, r->h, 24)) != 0)
		return rc;
	r->kind = r->h[2];
	r->seq = rd32(r->h + 4);
	r->id = rd32(r->h + 8);
	r->len = rd16(r->h + 12);
	r->pos = rd16(r->h + 14);
	if (rd16(r->h) != REC_MAGIC || r->kind > KIND_COMMIT || r->len > WIM_STORE_MAX_VALUE ||
			(r->kind == KIND_TOMB && r->len != 0) || (r->kind >= KIND_LOWWATER && r->len != 4) ||
			(r->h[3] == 0xff ? r->pos != PLAIN : r->h[3] != FLAG_MEMBER || r->kind > KIND_TOMB ||
					r->pos >= WIM_STORE_TXN_MAX) ||
			off + rfoot(v1, r->len) > end)
		return -1;
	uint32_t want = rd32(r->h + 16);
	if (v1) {
		if (rd32(r->h + 20) == 0xffffffffu)
			return -1;
	} else {
		uint8_t c[BLK];
		if ((rc = fl_read(st, off + BLK + pad16(r->len), c, BLK)) != 0)
			return rc;
		want = rd32(c);
		if ((want ^ rd32(c + 4)) != 0xffffffffu || rd32(c + 8) != r->seq || (r->seq ^ rd32(c + 12)) != 0xffffffffu)
			return -1;
	}
	uint32_t crc = wim_crc32_update(WIM_CRC32_INIT, r->h, 16);
	uint8_t buf[CHUNK];
	for (uint32_t pos = 0; pos < r->len;) {
		uint32_t n = r->len - pos < CHUNK ? r->len - pos : CHUNK;
		if ((rc = fl_read(st, off + phdr(v1) + pos, buf, n)) != 0)
			return rc;
		crc = wim_crc32_update(crc, buf, n);
		if (copy_out) {
			for (uint32_t i = 0; i < n; i++) {
				uint32_t at = pos + i;
				if (at >= win_off && at - win_off < win_len)
					copy_out[at - win_off] = buf[i];
			}
		}
		pos += n;
	}
	if (wim_crc32_final(crc) != want) {
		if (copy_out)
			memset(copy_out, 0, win_len);
		return -1;
	}
	return 1;
}

/* Scans sector s during mount, applying its records to the index. Returns the offset where the next
 * record may be written (the sector's end if it is full or holds an invalid record), or <0. */
static int64_t scan_sector(wim_store *st, uint32_t s)
{
	int v1 = is_v1(st, s);
	uint32_t pos = sec_base(st, s) + shdr(v1), end = sec_end(st, s);
	rec r;
	st->txn_n = 0; /* a transaction never spans sectors */
	st->txn_ok = 0;
	while (pos + 2 * BLK <= end) {
		int v = rec_load(st, pos, end, v1, &r, NULL, 0, 0);
		if (v < -1)
			return v;
		if (v == 0) {
			int b = is_blank(st, pos, end);
			if (b < 0)
				return b;
			return b ? pos : end;
		}
		if (v < 0)
			return end;
		if (r.seq >= st->seq)
			st->seq = r.seq + 1;
		uint8_t g[4];
		if (r.kind >= KIND_LOWWATER && fl_read(st, pos + phdr(v1), g, 4))
			return WIM_E_FLASH;
		if (r.pos != PLAIN) { /* a transaction's member: staged until its commit */
			if (r.pos == 0)
				st->txn_n = 0, st->txn_ok = 1;
			if (r.pos != st->txn_n)
				st->txn_ok = 0;
			else
				stage(st, r.id, (uint8_t)r.kind, pos, r.len);
		} else if (r.kind == KIND_COMMIT) {
			if (st->txn_ok && st->txn_n == rd32(g) && apply_staged(st))
				return WIM_E_CORRUPT;
			st->txn_n = 0, st->txn_ok = 0;
		} else if (r.kind == KIND_TOMB) {
			index_remove_id(st, r.id);
		} else if (r.kind == KIND_LOWWATER) {
			uint32_t lw = rd32(g);
			if (lw > st->low_water)
				st->low_water = lw;
			index_apply_low_water(st, lw);
		} else if (index_set(st, r.id, (uint8_t)r.kind, pos, r.len)) {
			return WIM_E_CORRUPT; /* more live records than the index holds */
		}
		pos += rfoot(v1, r.len);
	}
	return end;
}

/* 1 if sector s holds a valid low-water record >= g before its log ends, 0 if not, <0 on error. */
static int has_low_water(wim_store *st, uint32_t s, uint32_t g)
{
	int v1 = is_v1(st, s);
	uint32_t pos = sec_base(st, s) + shdr(v1), end = sec_end(st, s);
	rec r;
	while (pos + 2 * BLK <= end) {
		int v = rec_load(st, pos, end, v1, &r, NULL, 0, 0);
		if (v < -1)
			return v;
		if (v <= 0)
			return 0;
		if (r.kind == KIND_LOWWATER) {
			uint8_t b[4];
			if (fl_read(st, pos + phdr(v1), b, 4))
				return WIM_E_FLASH;
			if (rd32(b) >= g)
				return 1;
		}
		pos += rfoot(v1, r.len);
	}
	return 0;
}

/* ---- writing ---- */

static uint32_t free_sectors(wim_store *st)
{
	uint32_t n = 0;
	for (uint32_t s = 0; s < st->nsectors; s++)
		n += st->gen[s] == 0;
	return n;
}

/* Makes a free sector the head: erase it if needed, write its header (victim: see the file comment). */
static int open_head(wim_store *st, uint32_t victim)
{
	uint32_t s = st->head_sector;
	for (uint32_t k = 0; k < st->nsectors; k++) {
		s = (s + 1) % st->nsectors;
		if (st->gen[s] == 0)
			break;
	}
	if (st->gen[s] != 0)
		return WIM_E_FULL;
	int b = is_blank(st, sec_base(st, s), sec_end(st, s));
	if (b < 0)
		return b;
	if (!b && fl_erase(st, s))
		return WIM_E_FLASH;
	uint32_t g = st->max_gen + 1;
	uint8_t h[SEC_HDR];
	memset(h, 0, sizeof h);
	wr32(h, SEC_MAGIC);
	wr32(h + 4, g);
	wr32(h + 8, ~g);
	wr32(h + 12, victim);
	wr32(h + 16, ~victim);
	if (fl_write(st, sec_base(st, s), h, sizeof h))
		return WIM_E_FLASH;
	st->v1[s] = 0;
	st->gen[s] = g;
	st->max_gen = g;
	st->head_sector = s;
	st->head = sec_base(st, s) + SEC_HDR;
	return WIM_OK;
}

static uint32_t head_room(wim_store *st)
{
	return sec_end(st, st->head_sector) - st->head;
}

/* Appends a record at the head (the caller made room). The payload comes from `data`, or, if data is
 * NULL, is copied from the flash at src (a record being moved by compaction). Writes: the header block,
 * the payload's blocks (the last one padded with 0xFF), then, once all of it reads back with the CRC,
 * the commit block. */
static int append(wim_store *st, uint8_t kind, uint32_t id, const uint8_t *data, uint32_t src, uint32_t len,
		uint32_t member)
{
	uint32_t off = st->head, seq = st->seq, n;
	uint8_t h[BLK], buf[CHUNK];
	memset(h, 0xff, sizeof h);
	wr16(h, REC_MAGIC);
	h[2] = kind;
	wr32(h + 4, seq);
	wr32(h + 8, id);
	wr16(h + 12, len);
	if (member != PLAIN) {
		h[3] = FLAG_MEMBER;
		wr16(h + 14, member);
	}
	uint32_t crc = wim_crc32_update(WIM_CRC32_INIT, h, BLK);
	if (data) {
		crc = wim_crc32_update(crc, data, len);
	} else {
		for (uint32_t pos = 0; pos < len; pos += CHUNK) {
			n = len - pos < CHUNK ? len - pos : CHUNK;
			if (fl_read(st, src + pos, buf, n))
				return WIM_E_FLASH;
			crc = wim_crc32_update(crc, buf, n);
		}
	}
	crc = wim_crc32_final(crc);
	/* from here on the head's space is spent, whatever happens */
	st->head = off + foot(len);
	st->seq++;
	if (fl_write(st, off, h, BLK))
		return WIM_E_FLASH;
	for (uint32_t pos = 0; pos < len; pos += n) {
		n = len - pos;
		if (data && n >= BLK) { /* whole blocks straight from the caller's buffer */
			n &= ~(BLK - 1);
			if (fl_write(st, off + BLK + pos, data + pos, n))
				return WIM_E_FLASH;
			continue;
		}
		if (n > CHUNK)
			n = CHUNK;
		if (data)
			memcpy(buf, data + pos, n);
		else if (fl_read(st, src + pos, buf, n))
			return WIM_E_FLASH;
		memset(buf + n, 0xff, pad16(n) - n);
		if (fl_write(st, off + BLK + pos, buf, pad16(n)))
			return WIM_E_FLASH;
	}
	/* commit only what reads back with the CRC we computed (a silently failed write, or a source that
	 * read differently the second time, leaves an uncommitted record that is ignored) */
	uint32_t chk = WIM_CRC32_INIT;
	for (uint32_t pos = 0; pos < BLK + len; pos += n) {
		n = BLK + len - pos < CHUNK ? BLK + len - pos : CHUNK;
		if (fl_read(st, off + pos, buf, n))
			return WIM_E_FLASH;
		chk = wim_crc32_update(chk, buf, n);
	}
	if (wim_crc32_final(chk) != crc) {
		st->mounted = 0;
		return WIM_E_FLASH;
	}
	wr32(h, crc);
	wr32(h + 4, ~crc);
	wr32(h + 8, seq);
	wr32(h + 12, ~seq);
	return fl_write(st, off + BLK + pad16(len), h, BLK);
}

/* Copies the live records of sector `victim` to the head, marks its generation dead, erases it. */
static int compact(wim_store *st, uint32_t victim)
{
	int rc;
	uint32_t vg = st->gen[victim];
	if (victim == st->head_sector && (rc = open_head(st, vg)) != 0)
		return rc;
	for (uint32_t i = 0; i < st->count; i++) {
		wim_store_entry *e = &st->index[i];
		if (sec_of(st, e->offset) != victim)
			continue;
		if (head_room(st) < foot(e->len) + RESERVE && (rc = open_head(st, vg)) != 0)
			return rc;
		uint32_t to = st->head;
		if ((rc = append(st, e->kind, e->id, NULL, e->offset + phdr(is_v1(st, victim)), e->len, PLAIN)) != 0)
			return rc;
		e->offset = to;
	}
	if (head_room(st) < RESERVE && (rc = open_head(st, vg)) != 0)
		return rc;
	uint8_t g[4];
	wr32(g, st->gen[victim]);
	if ((rc = append(st, KIND_LOWWATER, 0, g, 0, 4, PLAIN)) != 0)
		return rc;
	st->low_water = st->gen[victim];
	st->gen[victim] = 0;
	return fl_erase(st, victim);
}

static uint32_t live_bytes(wim_store *st)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < st->count; i++)
		n += foot(st->index[i].len);
	for (uint32_t i = 0; i < st->txn_n; i++) /* staged: live once committed */
		n += foot(st->txn[i].len);
	return n;
}

/* The bytes records may take: every sector but the spare one, less each sector's reserve. */
static uint32_t capacity(wim_store *st) { return (st->nsectors - 1) * (sec_cap(st) - RESERVE); }

/* Makes room for `need` bytes at the head: a new head sector while two are free, else compaction. */
static int make_room(wim_store *st, uint32_t need)
{
	if (need + RESERVE > sec_cap(st))
		return WIM_E_ARG;
	if (live_bytes(st) + need > capacity(st))
		return WIM_E_FULL;
	for (uint32_t tries = 0; tries < 2 * st->nsectors + 2; tries++) {
		if (head_room(st) >= need + RESERVE)
			return WIM_OK;
		int rc;
		if (free_sectors(st) >= 2) {
			if ((rc = open_head(st, 0)) != 0)
				return rc;
			continue;
		}
		uint32_t victim = st->head_sector;
		for (uint32_t s = 0; s < st->nsectors; s++)
			if (st->gen[s] != 0 && st->gen[s] < st->gen[victim])
				victim = s;
		if ((rc = compact(st, victim)) != 0)
			return rc;
	}
	return WIM_E_FULL;
}

/* ---- the API ---- */

static int setup(wim_store *st, const wim_flash *flash)
{
	if (!st || !flash || !flash->read || !flash->write || !flash->erase || flash->sector_size < 256 ||
			flash->sector_size % BLK || flash->size % flash->sector_size)
		return WIM_E_ARG;
	memset(st, 0, sizeof *st);
	st->flash = flash;
	st->nsectors = flash->size / flash->sector_size;
	if (st->nsectors > WIM_STORE_MAX_SECTORS)
		st->nsectors = WIM_STORE_MAX_SECTORS;
	if (st->nsectors < 2)
		return WIM_E_ARG;
	st->seq = 1;
	return WIM_OK;
}

int wim_store_mount(wim_store *st, const wim_flash *flash)
{
	uint32_t victim[WIM_STORE_MAX_SECTORS];
	int rc = setup(st, flash);
	if (rc)
		return rc;
	for (uint32_t s = 0; s < st->nsectors; s++) {
		int v1;
		int64_t g = sector_gen(st, s, &victim[s], &v1);
		if (g < 0)
			return (int)g;
		st->v1[s] = (uint8_t)v1;
		st->gen[s] = (uint32_t)g;
		if (st->gen[s] > st->max_gen)
			st->max_gen = st->gen[s];
	}
	/* replay sectors in generation order */
	uint32_t last = 0, found = 0;
	int64_t head = 0;
	for (;;) {
		uint32_t s = st->nsectors;
		for (uint32_t k = 0; k < st->nsectors; k++)
			if (st->gen[k] > last && (s == st->nsectors || st->gen[k] < st->gen[s]))
				s = k;
		if (s == st->nsectors)
			break;
		last = st->gen[s];
		if (victim[s] != 0) { /* opened by a compaction or format: did it finish? */
			int fin = has_low_water(st, s, victim[s]);
			if (fin < 0)
				return fin;
			if (!fin) {
				victim[s] = 0xffffffffu; /* unfinished: free */
				continue;
			}
		}
		int64_t end = scan_sector(st, s);
		if (end < 0)
			return (int)end;
		st->head_sector = s;
		head = end;
		found = 1;
	}
	if (!found)
		return WIM_E_CORRUPT;
	/* WIS1 sectors are only read: a store whose newest sector is one goes on in a new WIS2 sector */
	st->head = is_v1(st, st->head_sector) ? sec_end(st, st->head_sector) : (uint32_t)head;
	for (uint32_t s = 0; s < st->nsectors; s++)
		if (st->gen[s] <= st->low_water || victim[s] == 0xffffffffu)
			st->gen[s] = 0; /* dead: free for reuse (erased before it is written) */
	if (st->gen[st->head_sector] == 0)
		return WIM_E_CORRUPT; /* a low-water mark above the newest sector: not a store we wrote */
	st->txn_n = 0; /* members without their commit: never applied */
	st->txn_ok = 0;
	st->mounted = 1;
	return WIM_OK;
}

int wim_store_format(wim_store *st, const wim_flash *flash)
{
	/* Learn what is on the medium: a mounted store tells which sectors are free; otherwise every sector
	 * counts as free and only the highest generation in a valid header matters. */
	int rc = wim_store_mount(st, flash);
	if (rc == WIM_E_ARG || rc == WIM_E_FLASH)
		return rc;
	if (rc != WIM_OK) {
		if ((rc = setup(st, flash)) != 0)
			return rc;
		for (uint32_t s = 0; s < st->nsectors; s++) {
			uint32_t v;
			int v1;
			int64_t g = sector_gen(st, s, &v, &v1);
			if (g < 0)
				return (int)g;
			if ((uint32_t)g > st->max_gen)
				st->max_gen = (uint32_t)g;
		}
	}
	uint32_t old_max = st->max_gen;
	if (free_sectors(st) == 0) /* not a store we keep: no sector is worth sparing */
		memset(st->gen, 0, sizeof st->gen);
	st->mounted = 1;
	if ((rc = open_head(st, old_max)) != 0)
		return rc;
	if (old_max) { /* the switch: every older generation is dead from this commit on */
		uint8_t g[4];
		wr32(g, old_max);
		if ((rc = append(st, KIND_LOWWATER, 0, g, 0, 4, PLAIN)) != 0)
			return rc;
		st->low_water = old_max;
	}
	st->count = 0;
	for (uint32_t s = 0; s < st->nsectors; s++) {
		if (s == st->head_sector)
			continue;
		st->gen[s] = 0;
		int b = is_blank(st, sec_base(st, s), sec_end(st, s));
		if (b < 0)
			return b;
		if (!b && fl_erase(st, s))
			return WIM_E_FLASH;
	}
	return WIM_OK;
}

/* Writes a put or a tombstone: plain (and applied) outside a transaction, staged inside one. */
static int write_op(wim_store *st, uint32_t id, uint8_t kind, const uint8_t *data, uint32_t len)
{
	int rc;
	if (!st->txn_open)
		rc = make_room(st, foot(len));
	else /* in the sector begin made room in, with room left for the commit */
		rc = head_room(st) < foot(len) + foot(4) + RESERVE ? WIM_E_FULL : WIM_OK;
	if (rc)
		return rc;
	uint32_t off = st->head;
	if ((rc = append(st, kind, id, data, 0, len, st->txn_open ? st->txn_n : PLAIN)) != 0)
		return rc;
	if (st->txn_open) {
		stage(st, id, kind, off, len);
		return WIM_OK;
	}
	if (kind == KIND_TOMB) {
		index_remove_id(st, id);
		return WIM_OK;
	}
	return index_set(st, id, kind, off, len);
}

int wim_store_put(wim_store *st, uint32_t id, uint8_t kind, const uint8_t *data, uint32_t len)
{
	if (!st || !st->mounted)
		return st ? WIM_E_FLASH : WIM_E_ARG;
	if ((kind != WIM_KIND_PUBLIC && kind != WIM_KIND_SECRET) || len > WIM_STORE_MAX_VALUE || (len && !data))
		return WIM_E_ARG;
	uint32_t grow = find(st, id, kind) < 0;
	for (uint32_t i = 0; i < st->txn_n; i++) /* each staged put may add an index entry at the commit */
		grow += st->txn[i].kind != KIND_TOMB;
	if (st->count + grow > WIM_STORE_MAX_RECORDS || (st->txn_open && st->txn_n >= WIM_STORE_TXN_MAX))
		return WIM_E_FULL;
	return write_op(st, id, kind, data, len);
}

int wim_store_remove(wim_store *st, uint32_t id)
{
	if (!st || !st->mounted)
		return st ? WIM_E_FLASH : WIM_E_ARG;
	int found = find(st, id, WIM_KIND_PUBLIC) >= 0 || find(st, id, WIM_KIND_SECRET) >= 0;
	for (uint32_t i = 0; i < st->txn_n; i++) /* staged operations of the same id: the last one counts */
		if (st->txn[i].id == id)
			found = st->txn[i].kind != KIND_TOMB;
	if (!found)
		return WIM_E_NOTFOUND;
	if (st->txn_open && st->txn_n >= WIM_STORE_TXN_MAX)
		return WIM_E_FULL;
	return write_op(st, id, KIND_TOMB, NULL, 0);
}

int wim_store_begin(wim_store *st, uint32_t reserve)
{
	if (!st || st->txn_open)
		return WIM_E_ARG;
	if (!st->mounted)
		return WIM_E_FLASH;
	uint32_t most = sec_cap(st) - RESERVE, need = most;
	if (reserve && reserve < most) /* the payloads, their headers and padding, the commit record */
		need = reserve + WIM_STORE_TXN_MAX * (2 * BLK + BLK - 1) + foot(4);
	int rc = make_room(st, need < most ? need : most);
	if (rc)
		return rc;
	st->txn_open = 1;
	st->txn_n = 0;
	return WIM_OK;
}

void wim_store_abort(wim_store *st)
{
	if (!st)
		return;
	st->txn_open = 0;
	st->txn_n = 0;
}

int wim_store_commit(wim_store *st)
{
	if (!st || !st->txn_open)
		return WIM_E_ARG;
	int rc = WIM_OK;
	if (!st->mounted) {
		rc = WIM_E_FLASH;
	} else if (st->txn_n) {
		uint8_t n[4];
		wr32(n, st->txn_n);
		/* the commit record is plain; write_op left room for it in this sector */
		if ((rc = append(st, KIND_COMMIT, 0, n, 0, 4, PLAIN)) == WIM_OK)
			rc = apply_staged(st);
	}
	wim_store_abort(st);
	return rc;
}

static int read_rec(wim_store *st, int i, uint32_t win_off, uint8_t *out, uint32_t win_len)
{
	wim_store_entry *e = &st->index[i];
	rec r;
	uint32_t s = sec_of(st, e->offset);
	int v = rec_load(st, e->offset, sec_end(st, s), is_v1(st, s), &r, out, win_off, win_len);
	if (v < -1)
		return v;
	if (v != 1 || r.id != e->id || r.kind != e->kind || r.len != e->len)
		return WIM_E_CORRUPT;
	return WIM_OK;
}

int wim_store_get(wim_store *st, uint32_t id, uint8_t *out, uint32_t cap, uint32_t *len)
{
	if (!st || !len)
		return WIM_E_ARG;
	if (!st->mounted)
		return WIM_E_FLASH;
	int i = find(st, id, WIM_KIND_PUBLIC);
	if (i < 0)
		return find(st, id, WIM_KIND_SECRET) < 0 ? WIM_E_NOTFOUND : WIM_E_SECRET;
	*len = st->index[i].len;
	if (cap < *len || (*len && !out))
		return WIM_E_TOOBIG;
	return read_rec(st, i, 0, out, *len);
}

int wim_store_read_secret_at(wim_store *st, uint32_t id, uint32_t offset, uint8_t *out, uint32_t len,
		uint32_t *total)
{
	if (!st || !total || (len && !out))
		return WIM_E_ARG;
	if (!st->mounted)
		return WIM_E_FLASH;
	int i = find(st, id, WIM_KIND_SECRET);
	if (i < 0)
		return WIM_E_NOTFOUND;
	*total = st->index[i].len;
	if (offset > *total || len > *total - offset)
		return WIM_E_ARG;
	return read_rec(st, i, offset, out, len);
}

int wim_store_read_secret(wim_store *st, uint32_t id, uint8_t *out, uint32_t cap, uint32_t *len)
{
	if (!st || !len)
		return WIM_E_ARG;
	if (!st->mounted)
		return WIM_E_FLASH;
	int i = find(st, id, WIM_KIND_SECRET);
	if (i < 0)
		return WIM_E_NOTFOUND;
	*len = st->index[i].len;
	if (cap < *len || (*len && !out))
		return WIM_E_TOOBIG;
	return read_rec(st, i, 0, out, *len);
}

int wim_store_space(wim_store *st, uint32_t *free_bytes, uint32_t *total)
{
	if (!st || !st->mounted)
		return WIM_E_FLASH;
	uint32_t cap = capacity(st), used = live_bytes(st);
	*total = cap;
	*free_bytes = used >= cap || st->count >= WIM_STORE_MAX_RECORDS ? 0 : cap - used;
	return WIM_OK;
}

int wim_store_ids(wim_store *st, uint32_t *ids, uint32_t cap, uint32_t *count)
{
	if (!st || !count || (cap && !ids))
		return WIM_E_ARG;
	if (!st->mounted)
		return WIM_E_FLASH;
	/* ascending by repeated selection of the next larger id (the index holds at most 256) */
	uint32_t n = 0;
	int64_t last = -1;
	for (;;) {
		int64_t next = -1;
		for (uint32_t i = 0; i < st->count; i++) {
			wim_store_entry *e = &st->index[i];
			if (e->kind == WIM_KIND_PUBLIC && (int64_t)e->id > last && (next < 0 || e->id < next))
				next = e->id;
		}
		if (next < 0)
			break;
		if (n < cap)
			ids[n] = (uint32_t)next;
		n++;
		last = next;
	}
	*count = n;
	return n > cap ? WIM_E_TOOBIG : WIM_OK;
}
