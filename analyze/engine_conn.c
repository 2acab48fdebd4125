/* engine_conn.c - the replay engine's connections: the main thread's id
 * map (node and kernel key -> connection id, in canonical order) and each
 * worker's connection table (id -> struct conn), with the end of a
 * connection (close, idle eviction, end of the recording). */
#include "engine_internal.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#define FINISH_BASE (1ull << 62) /* tags of rows emitted at the end */

/* ---- a worker's connection table ----------------------------------------- */

struct conn *conn_find(struct worker *w, uint64_t id)
{
	if (!w->nb)
		return NULL;
	for (struct conn *c = w->tab[hash64(id) & (w->nb - 1)]; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void conn_insert(struct worker *w, struct conn *c)
{
	if (w->n + 1 > w->nb) {
		size_t nb = w->nb ? w->nb * 2 : 1024;
		struct conn **t = calloc(nb, sizeof(*t));
		if (!t)
			abort();
		for (size_t i = 0; i < w->nb; i++)
			for (struct conn *x = w->tab[i], *nx; x; x = nx) {
				nx = x->next;
				size_t h = hash64(x->id) & (nb - 1);
				x->next = t[h];
				t[h] = x;
			}
		free(w->tab);
		w->tab = t;
		w->nb = nb;
	}
	size_t h = hash64(c->id) & (w->nb - 1);
	c->next = w->tab[h];
	w->tab[h] = c;
	w->n++;
}

void conn_unlink(struct worker *w, struct conn *c)
{
	struct conn **pp = &w->tab[hash64(c->id) & (w->nb - 1)];
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = c->next;
		w->n--;
	}
}

struct conn *conn_get(struct worker *w, const struct msg *m, const struct fr_connkey *k)
{
	struct conn *c = conn_find(w, m->conn_id);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->id = m->conn_id;
	c->node = m->node;
	c->key = *k;
	c->start_ns = c->end_ns = m->ts;
	c->head = -1;
	conn_insert(w, c);
	return c;
}

void conn_anomaly(struct worker *w, struct conn *c, uint64_t ts, const char *kind, const char *detail)
{
	if (c->n_anom >= CONN_ANOMALIES_MAX) {
		c->anom_over++;
		return;
	}
	c->n_anom++;
	out_anomaly(w, c->id, ts, kind, detail);
}

void conn_end(struct worker *w, struct conn *c, int why, uint64_t ts)
{
	if (c->detect == 1) {
		struct cbarg a;
		struct fr_pctx ctx;
		pctx_init(&ctx, &a, w, c);
		c->proto->finish(c->pstate, &ctx, why, ts);
	} else if (c->detect != 3 && !c->silent && c->bytes[0] + c->bytes[1]) {
		/* bytes no parser took: junk, or a protocol we do not know */
		char d[128];
		snprintf(d, sizeof(d), "no protocol recognised in %llu bytes (%d payloads probed)",
			 (unsigned long long)(c->bytes[0] + c->bytes[1]), c->tries);
		conn_anomaly(w, c, ts, "unclassified", d);
	}
	if (c->retransmits && !c->silent) {
		char d[160];
		snprintf(d, sizeof(d), "%u TCP segments retransmitted (the socket's count: %u; smoothed RTT %u us)",
			 c->retransmits, c->total_retrans, c->srtt_us);
		conn_anomaly(w, c, ts, "retransmits", d);
	}
	if (c->anom_over) {
		char d[128];
		snprintf(d, sizeof(d), "%llu more anomalies of this connection not listed (the first %d are)",
			 (unsigned long long)c->anom_over, CONN_ANOMALIES_MAX);
		out_anomaly(w, c->id, ts, "anomalies_capped", d);
	}
	struct conn_row row;
	conn_row(w, c, &row);
	out_conn(w, &row);
	free(c->pstate);
	free(c->pbuf[0]);
	free(c->pbuf[1]);
	w->mem -= c->mem;
	free(c);
}

static int cmp_conn_id(const void *a, const void *b)
{
	uint64_t x = (*(struct conn *const *)a)->id, y = (*(struct conn *const *)b)->id;
	return x < y ? -1 : x > y;
}

/* Ends the connections with no record since ts - idle timeout: the same
 * rule, on the same records, as the main thread's id map (idmap_sweep), so
 * both forget a connection together.  Rows are tagged by connection id so
 * that their order does not depend on which worker holds what. */
void conn_sweep(struct worker *w, uint64_t ts)
{
	uint64_t idle = w->e->o->idle_ns;
	if (!idle || ts < idle)
		return;
	size_t k = 0, cap = 0;
	struct conn **v = NULL;
	for (size_t i = 0; i < w->nb; i++)
		for (struct conn *c = w->tab[i]; c; c = c->next)
			if (c->last_rec_ts < ts - idle) {
				if (k == cap) {
					cap = cap ? cap * 2 : 64;
					struct conn **nv = realloc(v, cap * sizeof(*v));
					if (!nv)
						abort();
					v = nv;
				}
				v[k++] = c;
			}
	if (k)
		qsort(v, k, sizeof(*v), cmp_conn_id);
	for (size_t i = 0; i < k; i++) {
		w->cur_k = v[i]->id << 20;
		conn_unlink(w, v[i]);
		conn_end(w, v[i], FR_END_EVICTED, v[i]->end_ns);
	}
	free(v);
}

void worker_finish(struct worker *w, uint64_t ts)
{
	struct conn **v = malloc((w->n + 1) * sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < w->nb; i++)
		for (struct conn *c = w->tab[i]; c; c = c->next)
			v[k++] = c;
	qsort(v, k, sizeof(*v), cmp_conn_id);
	for (size_t i = 0; i < k; i++) {
		w->cur_g = FINISH_BASE + v[i]->id;
		w->cur_k = 0;
		conn_end(w, v[i], FR_END_RECORDING, ts > v[i]->end_ns ? ts : v[i]->end_ns);
	}
	free(v);
	free(w->tab);
	w->tab = NULL;
	w->nb = w->n = 0;
}

/* ---- the main thread's connection id map --------------------------------- */

static uint64_t key_hash(uint16_t node, const struct fr_connkey *k)
{
	return hash64(((uint64_t)node << 48) ^ ((uint64_t)k->pid << 20) ^ k->fd ^ ((uint64_t)k->gen << 36) ^
		      hash64(k->gen));
}

struct idmap_ent *idmap_get(struct idmap *m, uint16_t node, const struct fr_connkey *k, int create)
{
	if (m->nb) {
		for (struct idmap_ent *x = m->tab[key_hash(node, k) & (m->nb - 1)]; x; x = x->next)
			if (x->node == node && x->k.pid == k->pid && x->k.fd == k->fd && x->k.gen == k->gen)
				return x;
	}
	if (!create)
		return NULL;
	if (m->n + 1 > m->nb) {
		size_t nb = m->nb ? m->nb * 2 : 1024;
		struct idmap_ent **t = calloc(nb, sizeof(*t));
		if (!t)
			abort();
		for (size_t i = 0; i < m->nb; i++)
			for (struct idmap_ent *x = m->tab[i], *nx; x; x = nx) {
				nx = x->next;
				size_t h = key_hash(x->node, &x->k) & (nb - 1);
				x->next = t[h];
				t[h] = x;
			}
		free(m->tab);
		m->tab = t;
		m->nb = nb;
	}
	struct idmap_ent *x = calloc(1, sizeof(*x));
	if (!x)
		abort();
	x->node = node;
	x->k = *k;
	x->id = ++m->next_id;
	size_t h = key_hash(node, k) & (m->nb - 1);
	x->next = m->tab[h];
	m->tab[h] = x;
	m->n++;
	return x;
}

void idmap_del(struct idmap *m, struct idmap_ent *e)
{
	struct idmap_ent **pp = &m->tab[key_hash(e->node, &e->k) & (m->nb - 1)];
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = e->next;
		m->n--;
		free(e);
	}
}

void idmap_sweep(struct idmap *m, uint64_t ts, uint64_t idle)
{
	if (!idle || ts < idle)
		return;
	for (size_t i = 0; i < m->nb; i++)
		for (struct idmap_ent **pp = &m->tab[i]; *pp;) {
			struct idmap_ent *x = *pp;
			if (x->last_ts < ts - idle) {
				*pp = x->next;
				m->n--;
				free(x);
			} else {
				pp = &x->next;
			}
		}
}

void idmap_free(struct idmap *m)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct idmap_ent *x = m->tab[i], *nx; x; x = nx) {
			nx = x->next;
			free(x);
		}
	free(m->tab);
}
