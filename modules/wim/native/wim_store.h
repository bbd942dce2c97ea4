/*
 * wim_store.h — the key store: records on a flash partition.
 *
 * A record is (id, kind) → bytes. kind WIM_KIND_PUBLIC holds what the security manager may read
 * back (object attributes); kind WIM_KIND_SECRET holds key material that is never returned to
 * JavaScript: only the C crypto uses it, through wim_store_read_secret (the glue's RSA, P-256/P-384 and
 * Ed25519 functions read their secrets that way and keep them in C).
 * Writing a record replaces the previous one with the same (id, kind).
 *
 * Transactions: between wim_store_begin and wim_store_commit, wim_store_put and wim_store_remove
 * (also when the C crypto calls them, e.g. wim_rsa_generate) are staged: written to flash but
 * invisible (reads show the committed state) until the commit, which makes all of them durable at
 * once; a power cut before the commit's last write leaves none of them. A transaction lives in one
 * sector: at most WIM_STORE_TXN_MAX operations and WIM_STORE_TXN_MAX_BYTES bytes of payload; an
 * operation beyond what begin reserved may be refused with WIM_E_FULL (then abort). wim_store_abort
 * drops the staged operations. A flash error also drops them (the store must be mounted again).
 */
#ifndef WIM_STORE_H
#define WIM_STORE_H

#include "wim_env.h"

#define WIM_KIND_PUBLIC 0
#define WIM_KIND_SECRET 1
#define WIM_STORE_MAX_RECORDS 256
#define WIM_STORE_MAX_VALUE 3072

#define WIM_STORE_TXN_MAX 8       /* puts/removes in one transaction */
/* Payload bytes one transaction can hold with 4 KiB sectors: 4096 - 32 (sector header) - 48 (the
 * sector's reserve) - 48 (the commit record) - 8 x 47 (header and commit blocks, padding to 16 bytes, of
 * the members). */
#define WIM_STORE_TXN_MAX_BYTES 3592

#define WIM_STORE_MAX_SECTORS 64 /* sectors beyond this many in the partition are left unused */

typedef struct wim_store_entry {
	uint32_t id;
	uint32_t offset; /* where the record's header starts on flash */
	uint16_t len;
	uint8_t kind;
	uint8_t live;
} wim_store_entry;

/* A staged operation of the open transaction (kind 2: a removal of both kinds of id). */
typedef struct wim_store_staged {
	uint32_t id;
	uint32_t offset;
	uint16_t len;
	uint8_t kind;
	uint8_t pad;
} wim_store_staged;

/* In-RAM state of a mounted store (the index of live records and where the log continues).
 * Layout on flash: see wim_store.c. */
typedef struct wim_store {
	const wim_flash *flash;
	uint32_t head;      /* next free byte (absolute offset) in the head sector */
	uint32_t seq;       /* next record sequence number */
	uint32_t count;
	wim_store_entry index[WIM_STORE_MAX_RECORDS];
	uint32_t nsectors;
	uint32_t head_sector;
	uint32_t max_gen;   /* highest sector generation seen or written */
	uint32_t low_water; /* sectors of generation <= low_water hold nothing live */
	uint32_t gen[WIM_STORE_MAX_SECTORS]; /* generation of each sector in use; 0 = free (blank or dead) */
	uint8_t v1[WIM_STORE_MAX_SECTORS]; /* 1: the sector is in the older WIS1 format (read, never written) */
	uint8_t mounted;    /* cleared by a flash error: mount again */
	uint8_t txn_open;   /* between wim_store_begin and commit/abort */
	uint8_t txn_ok;     /* (mount) the staged list is a whole prefix of one transaction */
	uint32_t txn_n;     /* staged operations */
	wim_store_staged txn[WIM_STORE_TXN_MAX];
} wim_store;

int wim_store_format(wim_store *st, const wim_flash *flash);
int wim_store_mount(wim_store *st, const wim_flash *flash); /* WIM_E_CORRUPT if unformatted */
int wim_store_put(wim_store *st, uint32_t id, uint8_t kind, const uint8_t *data, uint32_t len);
/* Reads a PUBLIC record. SECRET records give WIM_E_SECRET. *len is set to the record's length. */
int wim_store_get(wim_store *st, uint32_t id, uint8_t *out, uint32_t cap, uint32_t *len);
/* Removes both kinds of record with this id. WIM_E_NOTFOUND if neither existed. */
int wim_store_remove(wim_store *st, uint32_t id);
/* Lists ids that have a PUBLIC record, in ascending order. */
int wim_store_ids(wim_store *st, uint32_t *ids, uint32_t cap, uint32_t *count);
/* For the C crypto only: reads a SECRET record. Never exposed to JavaScript as such. */
int wim_store_read_secret(wim_store *st, uint32_t id, uint8_t *out, uint32_t cap, uint32_t *len);
/* For the C crypto only: reads len bytes at `offset` of a SECRET record (the whole record is still
 * CRC-checked); *total is set to the record's length. WIM_E_ARG if the window is out of range. */
int wim_store_read_secret_at(wim_store *st, uint32_t id, uint32_t offset, uint8_t *out, uint32_t len,
		uint32_t *total);

/* The store's room, as make_room counts it: *total bytes hold records (every sector but the spare one,
 * less each sector's reserve); *free of them are not taken by live records (each record costs its
 * payload padded to 16 bytes plus 32 bytes of header and commit block). No record fits in less than
 * that cost; records do not span sectors, so a large one may be refused with up to a sector's tail
 * still free. *free is 0 when the index is full (WIM_STORE_MAX_RECORDS). */
int wim_store_space(wim_store *st, uint32_t *free_bytes, uint32_t *total);

/* Opens a transaction after making room for `reserve` bytes of payload (the sum of the records' lengths;
 * the store adds its own headers) in the head sector, compacting if needed: WIM_E_FULL if the store
 * cannot, WIM_E_ARG if a transaction is open. reserve 0, or more than fits, reserves a whole sector. */
int wim_store_begin(wim_store *st, uint32_t reserve);
/* Makes every staged operation durable at once (one commit record); a transaction with nothing staged
 * writes nothing. The transaction is closed whatever the result. */
int wim_store_commit(wim_store *st);
/* Drops the staged operations (what they wrote on flash stays uncommitted and is never applied). */
void wim_store_abort(wim_store *st);

#endif
