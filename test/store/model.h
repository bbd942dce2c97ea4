/*
 * model.h — the reference model of the key store: a plain in-memory map (id, kind) → value, and the
 * operations the power-cut driver and the fuzzer run on both the store and the model.
 *
 * A value is named by (id, kind, version, length): its bytes are derived from those, so the model
 * keeps no bytes and a store that returns another version's bytes (or torn bytes) is caught.
 */
#ifndef WIM_TEST_STORE_MODEL_H
#define WIM_TEST_STORE_MODEL_H

#include <stdint.h>

#include "wim_store.h"

#define MODEL_MAX 64 /* records the model holds (the driver's ids stay below this) */

typedef struct m_rec {
	uint32_t id;
	uint16_t len;
	uint8_t kind;
	uint8_t ver;
} m_rec;

typedef struct model {
	int n;
	m_rec r[MODEL_MAX];
} model;

enum { OP_PUT = 0, OP_REMOVE = 1 };

/* One put or remove. */
typedef struct m_op {
	uint8_t what; /* OP_PUT, OP_REMOVE */
	uint8_t kind; /* for OP_PUT: WIM_KIND_PUBLIC or WIM_KIND_SECRET */
	uint8_t ver;
	uint16_t len;
	uint32_t id;
} m_op;

/* A unit the driver cuts: one operation, or a transaction of several (begin, ops, commit). */
typedef struct m_unit {
	int format; /* the unit is wim_store_format (after: the empty store) */
	int txn;
	int n;
	m_op op[WIM_STORE_TXN_MAX];
} m_unit;

void m_value(uint8_t *out, uint32_t id, uint8_t kind, uint8_t ver, uint32_t len);
int m_find(const model *m, uint32_t id, uint8_t kind);
int m_has_id(const model *m, uint32_t id);
void m_apply(model *m, const m_op *o);
/* 1 if the mounted store holds exactly the model's records (ids, kinds, lengths and bytes). */
int m_matches(wim_store *st, const model *m);

/*
 * Runs a unit on the store and tells what the model must become if it completes: *after = before with
 * the unit applied (a refused put/remove leaves the model as it was; a transaction whose op is refused
 * with WIM_E_FULL is aborted, so none of its ops count; a refusal is returned as WIM_OK). Returns the
 * store's result code; after a flash error (a cut) *after means nothing: the driver takes the state
 * after the unit from an uncut run.
 */
int m_run(wim_store *st, const m_unit *u, const model *before, model *after);

/* Human-readable unit, for failure messages. */
void m_print(const m_unit *u);

#endif
