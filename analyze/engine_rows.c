/* engine_rows.c - the replay engine's output rows.  With one worker, rows
 * go straight to the sink.  With several, each worker serializes its rows
 * tagged with the canonical position of the record that caused them (g,
 * then k in the order the worker made them), and the merger thread
 * (merge_main) writes them in tag order: the database is the same for
 * every N. */
#include "../formats/bytes.h"
#include "engine_internal.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define OQ_MAX 4 /* output blocks waiting per worker */
#define OBLOCK_MAX (2u << 20) /* an output block is handed over at this size */

enum { ROW_REQ = 1, ROW_CONN, ROW_ANOM, ROW_MSG };

struct rowhdr {
	uint32_t size; /* whole row, multiple of 8 */
	uint32_t type;
	uint64_t g;
	uint64_t k;
};

static uint8_t *ob_reserve(struct worker *w, size_t n)
{
	if (!w->ocur) {
		w->ocur = calloc(1, sizeof(*w->ocur));
		if (!w->ocur)
			abort();
	}
	struct oblock *b = w->ocur;
	b->buf = fr_grow(b->buf, &b->cap, b->len + n, 65536);
	uint8_t *p = b->buf + b->len;
	b->len += n;
	return p;
}

static size_t str_size(const char *s, size_t n) { return s ? 4 + n + 1 : 4; }

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	int32_t l = s ? (int32_t)n : -1;
	memcpy(p, &l, 4);
	p += 4;
	if (s) {
		memcpy(p, s, n);
		p[n] = 0;
		p += n + 1;
	}
	return p;
}

static const uint8_t *get_str(const uint8_t *p, const char **s, size_t *n)
{
	int32_t l;
	memcpy(&l, p, 4);
	p += 4;
	if (l < 0) {
		*s = NULL;
		*n = 0;
		return p;
	}
	*s = (const char *)p;
	*n = (size_t)l;
	return p + l + 1;
}

static uint8_t *row_begin(struct worker *w, uint32_t type, size_t body)
{
	/* a full block goes now, claiming no more than the last whole batch */
	if (w->ocur && w->ocur->len > OBLOCK_MAX)
		push_out(w, w->last_wm);
	size_t size = (sizeof(struct rowhdr) + body + 7) & ~(size_t)7;
	uint8_t *p = ob_reserve(w, size);
	struct rowhdr h = {(uint32_t)size, type, w->cur_g, w->cur_k++};
	memcpy(p, &h, sizeof(h));
	return p + sizeof(h);
}

static int proto_index(const struct fr_proto *p)
{
	for (int i = 0; fr_protocols[i]; i++)
		if (fr_protocols[i] == p)
			return i;
	return -1;
}

void out_request(struct worker *w, const struct conn_row *row, uint32_t seq, const struct fr_proto *p,
			const struct fr_req *r, int64_t read_delay)
{
	if (w->e->nw == 1) {
		sink_request(w->e->sink, row, seq, p, r, read_delay);
		return;
	}
	size_t ls = r->summary ? strlen(r->summary) : 0, le = r->endpoint ? strlen(r->endpoint) : 0;
	size_t lt = r->status ? strlen(r->status) : 0, lr = r->reason ? strlen(r->reason) : 0;
	size_t hd = offsetof(struct fr_req, f); /* the fields go compactly after */
	size_t body = sizeof(*row) + 16 + hd + str_size(r->summary, ls) + str_size(r->endpoint, le) +
		      str_size(r->status, lt) + str_size(r->reason, lr) + 16;
	int nc = r->child && r->child_cols > 0 ? r->n_child * r->child_cols : 0;
	if (nc > FR_MAX_CHILD)
		nc = FR_MAX_CHILD / r->child_cols * r->child_cols;
	for (int i = 0; i < r->n_fields; i++)
		body += sizeof(struct fr_field) + str_size(r->f[i].type == FR_F_TEXT ? r->f[i].s : NULL, r->f[i].len);
	for (int i = 0; i < nc; i++)
		body += sizeof(struct fr_field) +
			str_size(r->child[i].type == FR_F_TEXT ? r->child[i].s : NULL, r->child[i].len);
	uint8_t *q = row_begin(w, ROW_REQ, body);
	memcpy(q, row, sizeof(*row));
	q += sizeof(*row);
	uint32_t pi = (uint32_t)proto_index(p);
	memcpy(q, &seq, 4);
	memcpy(q + 4, &pi, 4);
	memcpy(q + 8, &read_delay, 8);
	q += 16;
	memcpy(q, r, hd);
	q += hd;
	q = put_str(q, r->summary, ls);
	q = put_str(q, r->endpoint, le);
	q = put_str(q, r->status, lt);
	q = put_str(q, r->reason, lr);
	memset(q, 0, 16);
	if (r->peer_addr && r->peer_family)
		memcpy(q, r->peer_addr, r->peer_family == 4 ? 4 : 16);
	q += 16;
	for (int i = 0; i < r->n_fields; i++) {
		memcpy(q, &r->f[i], sizeof(struct fr_field));
		q += sizeof(struct fr_field);
		q = put_str(q, r->f[i].type == FR_F_TEXT ? r->f[i].s : NULL, r->f[i].len);
	}
	for (int i = 0; i < nc; i++) { /* the child rows' fields (r->n_child says how many) */
		memcpy(q, &r->child[i], sizeof(struct fr_field));
		q += sizeof(struct fr_field);
		q = put_str(q, r->child[i].type == FR_F_TEXT ? r->child[i].s : NULL, r->child[i].len);
	}
}

/* Reads a field written by out_request at p; returns what follows. */
static const uint8_t *get_field(const uint8_t *p, struct fr_field *f)
{
	const char *fs;
	size_t n;
	memcpy(f, p, sizeof(*f));
	p = get_str(p + sizeof(*f), &fs, &n);
	if (f->type == FR_F_TEXT) {
		f->s = fs;
		f->len = n;
	}
	return p;
}

void out_conn(struct worker *w, const struct conn_row *row)
{
	if (w->e->nw == 1) {
		sink_conn(w->e->sink, row);
		return;
	}
	uint8_t *q = row_begin(w, ROW_CONN, sizeof(*row));
	memcpy(q, row, sizeof(*row));
}

void out_anomaly(struct worker *w, uint64_t conn_id, uint64_t ts, const char *kind, const char *detail)
{
	if (w->e->nw == 1) {
		sink_anomaly(w->e->sink, conn_id, ts, kind, detail);
		return;
	}
	size_t lk = strlen(kind), ld = detail ? strlen(detail) : 0;
	uint8_t *q = row_begin(w, ROW_ANOM, 16 + str_size(kind, lk) + str_size(detail, ld));
	memcpy(q, &conn_id, 8);
	memcpy(q + 8, &ts, 8);
	q = put_str(q + 16, kind, lk);
	put_str(q, detail, ld);
}

void out_message(struct worker *w, uint64_t conn_id, const struct fr_proto *p, const struct fr_msg *m)
{
	if (w->e->nw == 1) {
		sink_message(w->e->sink, conn_id, p, m);
		return;
	}
	size_t lk = m->kind ? strlen(m->kind) : 0, lt = m->topic ? strlen(m->topic) : 0;
	uint8_t *q = row_begin(w, ROW_MSG, 16 + sizeof(*m) + str_size(m->kind, lk) + str_size(m->topic, lt));
	uint64_t pi = (uint64_t)proto_index(p);
	memcpy(q, &conn_id, 8);
	memcpy(q + 8, &pi, 8);
	memcpy(q + 16, m, sizeof(*m));
	q = put_str(q + 16 + sizeof(*m), m->kind, lk);
	put_str(q, m->topic, lt);
}

/* The merger: decodes one row and hands it to the sink. */
static void write_row(struct sink *sk, const uint8_t *p, const struct rowhdr *h)
{
	struct conn_row row;
	if (h->type == ROW_CONN) {
		memcpy(&row, p, sizeof(row));
		sink_conn(sk, &row);
	} else if (h->type == ROW_ANOM) {
		uint64_t cid, ts;
		memcpy(&cid, p, 8);
		memcpy(&ts, p + 8, 8);
		const char *kind, *detail;
		size_t n;
		p = get_str(p + 16, &kind, &n);
		get_str(p, &detail, &n);
		sink_anomaly(sk, cid, ts, kind, detail);
	} else if (h->type == ROW_MSG) {
		uint64_t cid, pi;
		struct fr_msg m;
		size_t n;
		memcpy(&cid, p, 8);
		memcpy(&pi, p + 8, 8);
		memcpy(&m, p + 16, sizeof(m));
		p = get_str(p + 16 + sizeof(m), &m.kind, &n);
		get_str(p, &m.topic, &n);
		sink_message(sk, cid, fr_protocols[pi], &m);
	} else if (h->type == ROW_REQ) {
		struct fr_req r;
		uint32_t seq, pi;
		int64_t read_delay;
		memcpy(&row, p, sizeof(row));
		p += sizeof(row);
		memcpy(&seq, p, 4);
		memcpy(&pi, p + 4, 4);
		memcpy(&read_delay, p + 8, 8);
		p += 16;
		size_t hd = offsetof(struct fr_req, f);
		memset(&r, 0, offsetof(struct fr_req, f));
		memcpy(&r, p, hd);
		p += hd;
		size_t n;
		p = get_str(p, &r.summary, &n);
		p = get_str(p, &r.endpoint, &n);
		p = get_str(p, &r.status, &n);
		p = get_str(p, &r.reason, &n);
		r.peer_addr = r.peer_family ? p : NULL;
		p += 16;
		for (int i = 0; i < r.n_fields && i < FR_MAX_FIELDS; i++)
			p = get_field(p, &r.f[i]);
		struct fr_field *cf = NULL;
		int nc = r.child && r.child_cols > 0 ? r.n_child * r.child_cols : 0;
		if (nc > FR_MAX_CHILD) {
			r.n_child = FR_MAX_CHILD / r.child_cols;
			nc = r.n_child * r.child_cols;
		}
		if (nc && (cf = malloc((size_t)nc * sizeof(*cf))))
			for (int i = 0; i < nc; i++)
				p = get_field(p, &cf[i]);
		r.child = cf;
		if (!cf)
			r.n_child = 0;
		sink_request(sk, &row, seq, fr_protocols[pi], &r, read_delay);
		free(cf);
	}
}

/* Worker side: the rows of one input batch are done. */
void push_out(struct worker *w, uint64_t watermark)
{
	struct engine *e = w->e;
	struct oblock *b = w->ocur;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			abort();
	}
	w->ocur = NULL;
	b->watermark = watermark;
	pthread_mutex_lock(&e->omu);
	while (w->onq >= OQ_MAX)
		pthread_cond_wait(&e->ocv, &e->omu);
	if (w->otail)
		w->otail->next = b;
	else
		w->ohead = b;
	w->otail = b;
	w->onq++;
	pthread_cond_broadcast(&e->ocv);
	pthread_mutex_unlock(&e->omu);
}

struct mstate {
	struct oblock *cur;
	size_t off;
	uint64_t wm; /* watermark of the last block taken */
	int ended;
};

void *merge_main(void *arg)
{
	struct engine *e = arg;
	struct mstate *m = calloc((size_t)e->nw, sizeof(*m));
	if (!m)
		abort();
	pthread_mutex_lock(&e->omu);
	for (;;) {
		/* take the next block of every worker whose current one is read */
		int all_ended = 1;
		for (int i = 0; i < e->nw; i++) {
			struct worker *w = &e->w[i];
			while ((!m[i].cur || m[i].off >= m[i].cur->len) && w->ohead) {
				if (m[i].cur) {
					free(m[i].cur->buf);
					free(m[i].cur);
				}
				m[i].cur = w->ohead;
				w->ohead = m[i].cur->next;
				if (!w->ohead)
					w->otail = NULL;
				w->onq--;
				m[i].off = 0;
				m[i].wm = m[i].cur->watermark;
				pthread_cond_broadcast(&e->ocv);
			}
			if (m[i].wm != UINT64_MAX || (m[i].cur && m[i].off < m[i].cur->len))
				all_ended = 0;
		}
		/* the smallest tag among rows at hand */
		int best = -1;
		struct rowhdr bh = {0};
		for (int i = 0; i < e->nw; i++) {
			if (!m[i].cur || m[i].off >= m[i].cur->len)
				continue;
			struct rowhdr h;
			memcpy(&h, m[i].cur->buf + m[i].off, sizeof(h));
			if (best < 0 || h.g < bh.g || (h.g == bh.g && h.k < bh.k))
				best = i, bh = h;
		}
		if (best < 0 && all_ended)
			break;
		/* safe when no worker without rows at hand can still produce a smaller tag */
		int safe = best >= 0;
		for (int i = 0; safe && i < e->nw; i++)
			if ((!m[i].cur || m[i].off >= m[i].cur->len) && m[i].wm < bh.g)
				safe = 0;
		if (!safe) {
			pthread_cond_wait(&e->ocv, &e->omu);
			continue;
		}
		/* write a run of rows of the best worker without holding the lock */
		pthread_mutex_unlock(&e->omu);
		struct mstate *ms = &m[best];
		do {
			const uint8_t *p = ms->cur->buf + ms->off;
			write_row(e->sink, p + sizeof(bh), &bh);
			ms->off += bh.size;
			if (ms->off >= ms->cur->len)
				break;
			memcpy(&bh, ms->cur->buf + ms->off, sizeof(bh));
			/* go on while this row still comes before every other worker's */
			int ok = 1;
			for (int i = 0; ok && i < e->nw; i++) {
				if (i == best)
					continue;
				if (m[i].cur && m[i].off < m[i].cur->len) {
					struct rowhdr h;
					memcpy(&h, m[i].cur->buf + m[i].off, sizeof(h));
					if (h.g < bh.g || (h.g == bh.g && h.k < bh.k))
						ok = 0;
				} else if (m[i].wm < bh.g) {
					ok = 0;
				}
			}
			if (!ok)
				break;
		} while (1);
		pthread_mutex_lock(&e->omu);
	}
	pthread_mutex_unlock(&e->omu);
	for (int i = 0; i < e->nw; i++)
		if (m[i].cur) {
			free(m[i].cur->buf);
			free(m[i].cur);
		}
	free(m);
	return NULL;
}
