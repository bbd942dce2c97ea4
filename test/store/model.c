/* model.c — the key store's reference model (see model.h). */
#include "model.h"

#include <stdio.h>
#include <string.h>

static uint8_t vbuf[WIM_STORE_MAX_VALUE], rbuf[WIM_STORE_MAX_VALUE];

void m_value(uint8_t *out, uint32_t id, uint8_t kind, uint8_t ver, uint32_t len)
{
	uint32_t x = id * 2654435761u ^ (uint32_t)kind << 24 ^ (uint32_t)ver << 16 ^ len;
	for (uint32_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		out[i] = (uint8_t)(x >> 16);
	}
}

int m_find(const model *m, uint32_t id, uint8_t kind)
{
	for (int i = 0; i < m->n; i++)
		if (m->r[i].id == id && m->r[i].kind == kind)
			return i;
	return -1;
}

int m_has_id(const model *m, uint32_t id)
{
	return m_find(m, id, WIM_KIND_PUBLIC) >= 0 || m_find(m, id, WIM_KIND_SECRET) >= 0;
}

void m_apply(model *m, const m_op *o)
{
	if (o->what == OP_REMOVE) {
		for (int i = m->n; i-- > 0;)
			if (m->r[i].id == o->id)
				m->r[i] = m->r[--m->n];
		return;
	}
	int i = m_find(m, o->id, o->kind);
	if (i < 0)
		i = m->n++;
	m->r[i] = (m_rec){ o->id, o->len, o->kind, o->ver };
}

int m_matches(wim_store *st, const model *m)
{
	uint32_t ids[WIM_STORE_MAX_RECORDS], cnt = 0, len = 0, npub = 0;
	if ((int)st->count != m->n)
		return 0;
	if (wim_store_ids(st, ids, WIM_STORE_MAX_RECORDS, &cnt) != WIM_OK)
		return 0;
	for (int i = 0; i < m->n; i++)
		npub += m->r[i].kind == WIM_KIND_PUBLIC;
	if (cnt != npub)
		return 0;
	for (uint32_t i = 0; i < cnt; i++)
		if ((i && ids[i - 1] >= ids[i]) || m_find(m, ids[i], WIM_KIND_PUBLIC) < 0)
			return 0;
	for (int i = 0; i < m->n; i++) {
		const m_rec *r = &m->r[i];
		int rc = r->kind == WIM_KIND_PUBLIC ? wim_store_get(st, r->id, rbuf, sizeof rbuf, &len)
						    : wim_store_read_secret(st, r->id, rbuf, sizeof rbuf, &len);
		if (rc != WIM_OK || len != r->len)
			return 0;
		m_value(vbuf, r->id, r->kind, r->ver, r->len);
		if (memcmp(rbuf, vbuf, len))
			return 0;
		/* a secret never reads as public, and a missing public part is NOTFOUND or SECRET */
		if (r->kind == WIM_KIND_SECRET && m_find(m, r->id, WIM_KIND_PUBLIC) < 0 &&
				wim_store_get(st, r->id, rbuf, sizeof rbuf, &len) != WIM_E_SECRET)
			return 0;
	}
	return 1;
}

/* One op on the store; the model `work` follows it when the store accepts it. */
static int run_op(wim_store *st, const m_op *o, model *work)
{
	int rc;
	if (o->what == OP_REMOVE) {
		rc = wim_store_remove(st, o->id);
		if (rc == WIM_E_NOTFOUND && !m_has_id(work, o->id))
			return WIM_OK; /* nothing to remove: the model agrees */
	} else {
		m_value(vbuf, o->id, o->kind, o->ver, o->len);
		rc = wim_store_put(st, o->id, o->kind, vbuf, o->len);
	}
	if (rc == WIM_OK)
		m_apply(work, o);
	return rc;
}

int m_run(wim_store *st, const m_unit *u, const model *before, model *after)
{
	*after = *before;
	if (u->format) {
		after->n = 0;
		return wim_store_format(st, st->flash);
	}
	if (!u->txn) {
		int rc = run_op(st, &u->op[0], after);
		return rc == WIM_E_FULL ? WIM_OK : rc; /* refused: the state stays (checked by the caller) */
	}
	uint32_t reserve = 0;
	for (int i = 0; i < u->n; i++)
		reserve += u->op[i].what == OP_PUT ? u->op[i].len : 0;
	int rc = wim_store_begin(st, reserve);
	if (rc == WIM_E_FULL)
		return WIM_OK;
	if (rc)
		return rc;
	for (int i = 0; i < u->n; i++) {
		if ((rc = run_op(st, &u->op[i], after)) != WIM_OK) {
			wim_store_abort(st);
			*after = *before;
			return rc == WIM_E_FULL ? WIM_OK : rc;
		}
	}
	rc = wim_store_commit(st);
	if (rc == WIM_E_FULL) {
		*after = *before;
		return WIM_OK;
	}
	return rc;
}

void m_print(const m_unit *u)
{
	if (u->format)
		printf("format");
	printf("%s", u->txn ? "txn{" : "");
	for (int i = 0; i < u->n; i++) {
		const m_op *o = &u->op[i];
		if (o->what == OP_REMOVE)
			printf("%sremove %u", i ? ", " : "", (unsigned)o->id);
		else
			printf("%sput %u %s len %u v%u", i ? ", " : "", (unsigned)o->id, o->kind ? "secret" : "public",
					(unsigned)o->len, (unsigned)o->ver);
	}
	printf("%s", u->txn ? "}" : "");
}
