/* engine.c - the replay engine: merges the records of many segments into one
 * canonical order (timestamp, node, sequence), keeps the connection table,
 * rebuilds each direction's byte stream from DATA stream positions with
 * explicit gaps, detects protocols from content, and drives the parsers.
 *
 * Threads: the main thread reads and merges; it assigns connection ids in
 * canonical order and hands each connection's records to one worker
 * (connection id modulo N).  A worker sees its connections' records in
 * canonical order, so every parser sees the same bytes for every N; request
 * ids are renumbered in canonical order by the sink at the end. */
#define _GNU_SOURCE
#include "../formats/bytes.h"
#include "../formats/cli.h"
#include "engine.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void fr_opts_default(struct fr_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = 1;
	o->max_memory = 256ull << 20;
	o->dim_cap = 100;
	o->idle_ns = 300ull * 1000000000; /* 5 minutes of recording time */
}

/* ---- messages from the reader to the workers ----------------------------- */

struct msg {
	uint32_t size; /* bytes of this message, payload included, multiple of 8 */
	uint16_t kind;
	uint16_t node;
	uint64_t ts;
	uint64_t conn_id;
	uint64_t g; /* position in the canonical order: tags the rows it causes */
	union {
		struct fr_data d;
		struct fr_conn_open o;
		struct fr_conn_close c;
	} u;
	/* DATA payload follows */
};

#define BATCH_BYTES (256u << 10)
#define QUEUE_MAX 4

struct batch {
	struct batch *next;
	uint64_t watermark; /* every record <= this was dispatched before */
	size_t len;
	uint8_t buf[BATCH_BYTES];
};

/* ---- connections ----------------------------------------------------------- */

#define PROBE_BUF 512
#define PROBE_TRIES 8

struct conn {
	struct conn *next; /* hash chain */
	uint64_t id;
	uint16_t node;
	struct fr_connkey key;
	int have_open, role, transport;
	struct fr_addr local, remote;
	uint64_t start_ns, end_ns;
	uint64_t bytes[2]; /* by recorded direction: egress, ingress */
	uint64_t gap_bytes;
	uint64_t next_pos[2];
	int pos_init[2];
	const struct fr_proto *proto;
	void *pstate;
	int detect; /* 0 undecided, 1 decided, 2 gave up, 3 not tracked (memory) */
	int tries;
	int c2s_dir; /* recorded direction that carries client -> server */
	uint8_t *pbuf[2];
	uint32_t plen[2];
	uint64_t pts[2];
	uint32_t nreq;
	int closed, dead;
	uint64_t mem;
	uint64_t last_rec_ts; /* of its last record of any kind (idle sweep) */
	struct handover *ho; /* a parser's request to switch protocols (fr_pctx.handover) */
};

struct worker {
	int idx;
	struct engine *e;
	struct conn **tab;
	size_t nb, n;
	uint64_t mem;
	uint64_t mem_limit;
	/* queue (threads only) */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *head, *tail, *cur;
	int nq, done;
	/* rows out (threads only): tagged (g, k), merged in canonical order */
	uint64_t cur_g;
	uint64_t cur_k;
	uint64_t last_wm; /* watermark of the last whole batch */
	struct oblock *ocur, *ohead, *otail;
	int onq, finished;
};

/* A block of serialized output rows of one worker.  All rows caused by
 * records <= watermark are in this block or earlier ones. */
struct oblock {
	struct oblock *next;
	uint64_t watermark;
	size_t len, cap;
	uint8_t *buf;
};

#define OQ_MAX 4
#define OBLOCK_MAX (2u << 20) /* an output block is handed over at this size */
#define MSG_SWEEP 100 /* engine-internal: end connections idle since ts - idle timeout */
#define SWEEP_EVERY (1u << 18) /* connection records between sweeps */
#define FINISH_BASE (1ull << 62) /* tags of rows emitted at the end */

enum { ROW_REQ = 1, ROW_CONN, ROW_ANOM, ROW_MSG };

struct rowhdr {
	uint32_t size; /* whole row, multiple of 8 */
	uint32_t type;
	uint64_t g;
	uint64_t k;
};

struct engine {
	const struct fr_opts *o;
	struct sink *sink;
	pthread_mutex_t omu; /* output queues of all workers */
	pthread_cond_t ocv;
	char **nodes;
	int nnodes;
	struct worker *w;
	int nw;
	uint64_t last_ts; /* of the last record; set before the workers end */
	pthread_t merger;
};

static uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static struct conn *conn_find(struct worker *w, uint64_t id)
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

static void conn_unlink(struct worker *w, struct conn *c)
{
	struct conn **pp = &w->tab[hash64(c->id) & (w->nb - 1)];
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = c->next;
		w->n--;
	}
}

/* ---- output rows ----------------------------------------------------------
 * With one worker, rows go straight to the sink.  With several, each worker
 * serializes its rows tagged with the canonical position of the record that
 * caused them, and the merger thread (merge_main) writes them in tag order:
 * the database is the same for every N. */

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

static void push_out(struct worker *w, uint64_t watermark);

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

static void out_request(struct worker *w, const struct conn_row *row, uint32_t seq, const struct fr_proto *p,
			const struct fr_req *r)
{
	if (w->e->nw == 1) {
		sink_request(w->e->sink, row, seq, p, r);
		return;
	}
	size_t ls = r->summary ? strlen(r->summary) : 0, le = r->endpoint ? strlen(r->endpoint) : 0;
	size_t lt = r->status ? strlen(r->status) : 0, lr = r->reason ? strlen(r->reason) : 0;
	size_t hd = offsetof(struct fr_req, f); /* the fields go compactly after */
	size_t body = sizeof(*row) + 8 + hd + str_size(r->summary, ls) + str_size(r->endpoint, le) +
		      str_size(r->status, lt) + str_size(r->reason, lr) + 16;
	for (int i = 0; i < r->n_fields; i++)
		body += sizeof(struct fr_field) + str_size(r->f[i].type == FR_F_TEXT ? r->f[i].s : NULL, r->f[i].len);
	uint8_t *q = row_begin(w, ROW_REQ, body);
	memcpy(q, row, sizeof(*row));
	q += sizeof(*row);
	uint32_t pi = (uint32_t)proto_index(p);
	memcpy(q, &seq, 4);
	memcpy(q + 4, &pi, 4);
	q += 8;
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
}

static void out_conn(struct worker *w, const struct conn_row *row)
{
	if (w->e->nw == 1) {
		sink_conn(w->e->sink, row);
		return;
	}
	uint8_t *q = row_begin(w, ROW_CONN, sizeof(*row));
	memcpy(q, row, sizeof(*row));
}

static void out_anomaly(struct worker *w, uint64_t conn_id, uint64_t ts, const char *kind, const char *detail)
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

static void out_message(struct worker *w, uint64_t conn_id, const struct fr_proto *p, const struct fr_msg *m)
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
		memcpy(&row, p, sizeof(row));
		p += sizeof(row);
		memcpy(&seq, p, 4);
		memcpy(&pi, p + 4, 4);
		p += 8;
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
		for (int i = 0; i < r.n_fields && i < FR_MAX_FIELDS; i++) {
			const char *fs;
			memcpy(&r.f[i], p, sizeof(struct fr_field));
			p += sizeof(struct fr_field);
			p = get_str(p, &fs, &n);
			if (r.f[i].type == FR_F_TEXT) {
				r.f[i].s = fs;
				r.f[i].len = n;
			}
		}
		sink_request(sk, &row, seq, fr_protocols[pi], &r);
	}
}

/* Worker side: the rows of one input batch are done. */
static void push_out(struct worker *w, uint64_t watermark)
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

static void *merge_main(void *arg)
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

/* ---- parser callbacks ---------------------------------------------------- */

struct cbarg {
	struct worker *w;
	struct conn *c;
};

static void conn_row(struct worker *w, const struct conn *c, struct conn_row *r)
{
	memset(r, 0, sizeof(*r));
	r->id = c->id;
	r->node = w->e->nodes[c->node];
	r->key = c->key;
	r->transport = c->transport;
	r->role = c->role;
	r->local = c->local;
	r->remote = c->remote;
	r->protocol = c->proto ? c->proto->name : NULL;
	r->start_ns = c->start_ns;
	r->end_ns = c->end_ns;
	r->bytes_out = c->bytes[FR_EGRESS];
	r->bytes_in = c->bytes[FR_INGRESS];
	r->gap_bytes = c->gap_bytes;
	r->requests = c->nreq;
	r->closed = c->closed;
}

static void cb_emit(struct fr_pctx *ctx, const struct fr_req *r)
{
	struct cbarg *a = ctx->arg;
	struct conn_row row;
	a->c->nreq++;
	conn_row(a->w, a->c, &row);
	out_request(a->w, &row, r->seq ? r->seq : a->c->nreq, a->c->proto, r);
}

static void cb_message(struct fr_pctx *ctx, const struct fr_msg *m)
{
	struct cbarg *a = ctx->arg;
	out_message(a->w, a->c->id, a->c->proto, m);
}

static void cb_anomaly(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *detail)
{
	struct cbarg *a = ctx->arg;
	out_anomaly(a->w, a->c->id, ts, kind, detail);
}

static int cb_handover(struct fr_pctx *ctx, const char *name, const struct fr_chunk *replay, int n,
		       size_t rest);

static void pctx_init(struct fr_pctx *ctx, struct cbarg *a, struct worker *w, struct conn *c)
{
	a->w = w;
	a->c = c;
	memset(ctx, 0, sizeof(*ctx));
	ctx->arg = a;
	ctx->transport = c->transport;
	ctx->emit_request = cb_emit;
	ctx->emit_message = cb_message;
	ctx->anomaly = cb_anomaly;
	ctx->handover = cb_handover;
}

/* ---- protocol detection -------------------------------------------------- */

static int port_hint(const struct fr_proto *p, const struct conn *c)
{
	for (int i = 0; i < 4 && p->ports[i]; i++)
		if (p->ports[i] == c->local.port || p->ports[i] == c->remote.port)
			return 1;
	return 0;
}

/* Tries every protocol, those whose port matches first.  Returns the probe
 * answer of the winner (C2S/S2C), MAYBE, or NO. */
static int detect(struct conn *c, const uint8_t *p, size_t n, const struct fr_proto **out)
{
	int any_maybe = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; fr_protocols[i]; i++) {
			const struct fr_proto *pr = fr_protocols[i];
			if (port_hint(pr, c) != !pass)
				continue;
			if (c->transport == FR_UDP && !pr->udp)
				continue;
			int r = pr->probe(p, n, c->transport);
			if (r == FR_PROBE_C2S || r == FR_PROBE_S2C) {
				*out = pr;
				return r;
			}
			if (r == FR_PROBE_MAYBE)
				any_maybe = 1;
		}
	return any_maybe ? FR_PROBE_MAYBE : FR_PROBE_NO;
}

/* ---- protocol handover (issue 13: HTTP/1.1 Upgrade: h2c) ------------------
 * A parser asks, from inside its feed(), to hand the connection to another
 * protocol; the switch happens when that feed() returns. */

struct handover {
	const struct fr_proto *to;
	size_t rest;       /* the last bytes of the current chunk are the new protocol's */
	int n;
	struct fr_chunk ch[3]; /* p == NULL: len bytes not kept (a gap) */
	uint8_t *bytes[3];     /* copies of the replay chunks */
};

static void handover_free(struct handover *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->n; i++)
		free(h->bytes[i]);
	free(h);
}

static int cb_handover(struct fr_pctx *ctx, const char *name, const struct fr_chunk *replay, int n, size_t rest)
{
	struct cbarg *a = ctx->arg;
	const struct fr_proto *to = NULL;
	for (int i = 0; fr_protocols[i]; i++)
		if (!strcmp(fr_protocols[i]->name, name))
			to = fr_protocols[i];
	if (!to || to == a->c->proto || a->c->ho || n < 0 || n > 3)
		return -1;
	struct handover *h = calloc(1, sizeof(*h));
	if (!h)
		return -1;
	h->to = to;
	h->rest = rest;
	for (int i = 0; i < n; i++) {
		h->ch[i] = replay[i];
		h->n++;
		if (!replay[i].p)
			continue;
		h->bytes[i] = malloc(replay[i].len ? replay[i].len : 1);
		if (!h->bytes[i]) {
			handover_free(h);
			return -1;
		}
		memcpy(h->bytes[i], replay[i].p, replay[i].len);
		h->ch[i].p = h->bytes[i];
	}
	a->c->ho = h;
	return 0;
}

static void feed(struct worker *w, struct conn *c, int rdir, uint64_t ts, const uint8_t *p, size_t n,
		 const struct fr_data *d);

/* Ends the current parser and starts h->to on the replay, then on the
 * rest of the chunk (p, n: the whole chunk just fed). */
static void do_handover(struct worker *w, struct conn *c, int rdir, uint64_t ts, const uint8_t *p, size_t n,
			const struct fr_data *d)
{
	struct handover *h = c->ho;
	c->ho = NULL;
	struct cbarg a;
	struct fr_pctx ctx;
	pctx_init(&ctx, &a, w, c);
	c->proto->finish(c->pstate, &ctx, FR_END_HANDOVER, ts);
	free(c->pstate);
	c->pstate = NULL;
	w->mem -= c->mem;
	c->mem = 0;
	uint64_t cost = h->to->state_size;
	if (w->mem + cost > w->mem_limit || !(c->pstate = calloc(1, cost))) {
		c->detect = 3;
		c->proto = NULL;
		handover_free(h);
		return;
	}
	w->mem += cost;
	c->mem = cost;
	c->proto = h->to;
	if (c->proto->init)
		c->proto->init(c->pstate, c->transport);
	for (int i = 0; i < h->n && !c->dead; i++) {
		pctx_init(&ctx, &a, w, c);
		if (!h->ch[i].p)
			c->proto->gap(c->pstate, &ctx, h->ch[i].dir, h->ch[i].len, h->ch[i].ts);
		else if (c->proto->feed(c->pstate, &ctx, &h->ch[i]) < 0)
			c->dead = 1;
	}
	if (h->rest && h->rest <= n && !c->dead)
		feed(w, c, rdir, ts, p + n - h->rest, h->rest, d);
	handover_free(h);
}

static void feed(struct worker *w, struct conn *c, int rdir, uint64_t ts, const uint8_t *p, size_t n,
		 const struct fr_data *d)
{
	struct cbarg a;
	struct fr_pctx ctx;
	pctx_init(&ctx, &a, w, c);
	struct fr_chunk ch = {0};
	ch.dir = rdir == c->c2s_dir ? FR_C2S : FR_S2C;
	ch.ts = ts;
	ch.p = p;
	ch.len = n;
	if (d && d->peer.family) {
		ch.peer_family = d->peer.family;
		ch.peer_addr = d->peer.addr;
		ch.peer_port = d->peer.port;
	}
	if (c->proto->feed(c->pstate, &ctx, &ch) < 0)
		c->dead = 1;
	if (c->ho && !c->dead)
		do_handover(w, c, rdir, ts, p, n, d);
	else if (c->ho) {
		handover_free(c->ho);
		c->ho = NULL;
	}
}

static void start_parser(struct worker *w, struct conn *c, const struct fr_proto *p, int rdir, int ans)
{
	c->proto = p;
	c->detect = 1;
	int egress_is_c2s;
	if (c->role == FR_ROLE_CLIENT)
		egress_is_c2s = 1;
	else if (c->role == FR_ROLE_SERVER)
		egress_is_c2s = 0;
	else
		egress_is_c2s = (rdir == FR_EGRESS) == (ans == FR_PROBE_C2S);
	c->c2s_dir = egress_is_c2s ? FR_EGRESS : FR_INGRESS;
	if (c->role == FR_ROLE_UNKNOWN)
		c->role = egress_is_c2s ? FR_ROLE_CLIENT : FR_ROLE_SERVER;
	uint64_t cost = p->state_size;
	if (w->mem + cost > w->mem_limit) {
		c->detect = 3;
		c->proto = NULL;
		out_anomaly(w, c->id, c->start_ns, "bound_exceeded",
			     "analyzer memory bound reached: connection not parsed (raise --max-memory)");
		return;
	}
	c->pstate = calloc(1, p->state_size);
	if (!c->pstate) {
		c->detect = 3;
		c->proto = NULL;
		return;
	}
	w->mem += cost;
	c->mem = cost;
	if (p->init)
		p->init(c->pstate, c->transport);
}

static void on_payload(struct worker *w, struct conn *c, int rdir, uint64_t ts, const uint8_t *p, size_t n,
		       const struct fr_data *d)
{
	if (c->dead || c->detect >= 2 || !n)
		return;
	if (c->detect == 0) {
		const uint8_t *q = p;
		size_t qn = n;
		uint8_t tmp[PROBE_BUF];
		int buffered = c->plen[rdir] > 0 && c->transport == FR_TCP;
		if (buffered) {
			size_t k = c->plen[rdir];
			size_t add = n < PROBE_BUF - k ? n : PROBE_BUF - k;
			memcpy(tmp, c->pbuf[rdir], k);
			memcpy(tmp + k, p, add);
			q = tmp;
			qn = k + add;
		}
		const struct fr_proto *pr = NULL;
		int ans = detect(c, q, qn, &pr);
		if (ans == FR_PROBE_MAYBE && c->transport == FR_TCP && qn < PROBE_BUF) {
			if (!c->pbuf[rdir] && !(c->pbuf[rdir] = malloc(PROBE_BUF)))
				return;
			if (!c->plen[rdir])
				c->pts[rdir] = ts;
			memcpy(c->pbuf[rdir] + c->plen[rdir], p, qn - c->plen[rdir]);
			c->plen[rdir] = (uint32_t)qn;
			return;
		}
		if (ans != FR_PROBE_C2S && ans != FR_PROBE_S2C) {
			c->plen[rdir] = 0;
			if (++c->tries >= PROBE_TRIES)
				c->detect = 2;
			return;
		}
		start_parser(w, c, pr, rdir, ans);
		if (c->detect != 1)
			return;
		if (c->plen[rdir]) {
			feed(w, c, rdir, c->pts[rdir], c->pbuf[rdir], c->plen[rdir], d);
			c->plen[rdir] = 0;
		}
		for (int i = 0; i < 2; i++) {
			free(c->pbuf[i]);
			c->pbuf[i] = NULL;
			c->plen[i] = 0;
		}
	}
	feed(w, c, rdir, ts, p, n, d);
}

static void on_gap(struct worker *w, struct conn *c, int rdir, uint64_t len, uint64_t ts, const char *why)
{
	char detail[160];
	c->gap_bytes += len;
	snprintf(detail, sizeof(detail), "%s: %llu bytes missing (%s)", why, (unsigned long long)len,
		 rdir == FR_EGRESS ? "egress" : "ingress");
	out_anomaly(w, c->id, ts, "gap", detail);
	if (c->detect == 0) {
		c->plen[rdir] = 0; /* bytes before the gap cannot start a message */
		return;
	}
	if (c->detect != 1 || c->dead)
		return;
	struct cbarg a;
	struct fr_pctx ctx;
	pctx_init(&ctx, &a, w, c);
	c->proto->gap(c->pstate, &ctx, rdir == c->c2s_dir ? FR_C2S : FR_S2C, len, ts);
}

static void conn_end(struct worker *w, struct conn *c, int why, uint64_t ts)
{
	if (c->detect == 1) {
		struct cbarg a;
		struct fr_pctx ctx;
		pctx_init(&ctx, &a, w, c);
		c->proto->finish(c->pstate, &ctx, why, ts);
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

static struct conn *get_conn(struct worker *w, const struct msg *m, const struct fr_connkey *k)
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
	conn_insert(w, c);
	return c;
}

static int cmp_conn_id(const void *a, const void *b);

/* Ends the connections with no record since ts - idle timeout: the same
 * rule, on the same records, as the main thread's id map (idmap_sweep), so
 * both forget a connection together.  Rows are tagged by connection id so
 * that their order does not depend on which worker holds what. */
static void sweep(struct worker *w, uint64_t ts)
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

static void process(struct worker *w, const struct msg *m, const uint8_t *payload)
{
	struct conn *c;
	w->cur_g = m->g;
	w->cur_k = 0;
	if (m->kind == MSG_SWEEP) {
		sweep(w, m->ts);
		return;
	}
	switch (m->kind) {
	case FR_CONN_OPEN:
		c = get_conn(w, m, &m->u.o.conn);
		c->last_rec_ts = m->ts;
		c->have_open = 1;
		c->role = m->u.o.role;
		c->local = m->u.o.local;
		c->remote = m->u.o.remote;
		c->transport = (m->u.o.remote.proto == 17 || m->u.o.local.proto == 17) ? FR_UDP : FR_TCP;
		break;
	case FR_DATA: {
		const struct fr_data *d = &m->u.d;
		c = get_conn(w, m, &d->conn);
		c->end_ns = m->ts;
		c->last_rec_ts = m->ts;
		int rdir = d->dir ? FR_INGRESS : FR_EGRESS;
		c->bytes[rdir] += d->orig_len;
		/* no CONN_OPEN: a datagram carries its peer (UDP); a stream does not */
		if (!c->have_open && (d->peer.family || d->peer.proto == 17) && c->transport == FR_TCP &&
		    !c->bytes[!rdir] && c->bytes[rdir] == d->orig_len)
			c->transport = FR_UDP;
		if (c->transport == FR_UDP && d->peer.family && !c->remote.family && c->role != FR_ROLE_SERVER)
			c->remote = d->peer;
		const uint8_t *p = payload;
		size_t n = d->payload.len;
		if (!(d->flags & FR_DATA_NO_POS) && c->transport == FR_TCP) {
			if (!c->pos_init[rdir]) {
				c->pos_init[rdir] = 1;
				c->next_pos[rdir] = 0;
				if (d->stream_pos > 0)
					on_gap(w, c, rdir, d->stream_pos, m->ts,
					       c->have_open ? "lost before first record" : "recording starts mid-connection");
				c->next_pos[rdir] = d->stream_pos;
			} else if (d->stream_pos > c->next_pos[rdir]) {
				on_gap(w, c, rdir, d->stream_pos - c->next_pos[rdir], m->ts, "lost");
			} else if (d->stream_pos < c->next_pos[rdir]) {
				uint64_t dup = c->next_pos[rdir] - d->stream_pos;
				if (dup >= d->orig_len)
					break; /* all seen before */
				if (dup >= n)
					n = 0;
				else
					p += dup, n -= (size_t)dup;
				/* the truncated tail stays as computed below */
			}
			uint64_t endpos = d->stream_pos + d->orig_len;
			if (endpos > c->next_pos[rdir])
				c->next_pos[rdir] = endpos;
		}
		on_payload(w, c, rdir, m->ts, p, n, d);
		if (d->payload.len < d->orig_len && !(d->flags & FR_DATA_NO_POS) && c->transport == FR_TCP)
			on_gap(w, c, rdir, d->orig_len - d->payload.len, m->ts, "truncated by snap length");
		break;
	}
	case FR_CONN_CLOSE:
		c = get_conn(w, m, &m->u.c.conn);
		c->end_ns = m->ts;
		c->closed = 1;
		conn_unlink(w, c);
		conn_end(w, c, FR_END_CLOSE, m->ts);
		break;
	}
}

static int cmp_conn_id(const void *a, const void *b)
{
	uint64_t x = (*(struct conn *const *)a)->id, y = (*(struct conn *const *)b)->id;
	return x < y ? -1 : x > y;
}

static void worker_finish(struct worker *w, uint64_t ts)
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

static void run_batch(struct worker *w, struct batch *b)
{
	size_t off = 0;
	while (off < b->len) {
		const struct msg *m = (const struct msg *)(b->buf + off);
		process(w, m, (const uint8_t *)(m + 1));
		off += m->size;
	}
	push_out(w, b->watermark);
	w->last_wm = b->watermark;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->head && !w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		struct batch *b = w->head;
		if (b) {
			w->head = b->next;
			if (!w->head)
				w->tail = NULL;
			w->nq--;
			pthread_cond_broadcast(&w->cv);
		}
		int done = w->done;
		pthread_mutex_unlock(&w->mu);
		if (!b && done)
			break;
		if (b) {
			run_batch(w, b);
			free(b);
		}
	}
	worker_finish(w, w->e->last_ts);
	push_out(w, UINT64_MAX);
	return NULL;
}

/* Hands every worker its current batch (empty ones too) marked with the
 * same watermark, after waiting for room in every queue: so the merger can
 * always make progress (see merge_main). */
static void flush_all(struct engine *e, uint64_t watermark)
{
	for (int i = 0; i < e->nw; i++) {
		struct worker *w = &e->w[i];
		pthread_mutex_lock(&w->mu);
		while (w->nq >= QUEUE_MAX)
			pthread_cond_wait(&w->cv, &w->mu);
		pthread_mutex_unlock(&w->mu);
	}
	for (int i = 0; i < e->nw; i++) {
		struct worker *w = &e->w[i];
		struct batch *b = w->cur;
		w->cur = NULL;
		if (!b) {
			b = malloc(sizeof(*b));
			if (!b)
				abort();
			b->len = 0;
		}
		b->next = NULL;
		b->watermark = watermark;
		pthread_mutex_lock(&w->mu);
		if (w->tail)
			w->tail->next = b;
		else
			w->head = b;
		w->tail = b;
		w->nq++;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static void dispatch_to(struct engine *e, struct worker *w, const struct msg *m, const uint8_t *payload,
			size_t plen);

static void dispatch(struct engine *e, const struct msg *m, const uint8_t *payload, size_t plen)
{
	if (m->kind == MSG_SWEEP) {
		for (int i = 0; i < e->nw; i++)
			dispatch_to(e, &e->w[i], m, payload, plen);
		return;
	}
	dispatch_to(e, &e->w[e->nw == 1 ? 0 : hash64(m->conn_id) % (uint64_t)e->nw], m, payload, plen);
}

static void dispatch_to(struct engine *e, struct worker *w, const struct msg *m, const uint8_t *payload,
			size_t plen)
{
	if (e->nw == 1) {
		process(w, m, payload);
		return;
	}
	size_t size = (sizeof(*m) + plen + 7) & ~(size_t)7;
	if (w->cur && w->cur->len + size > BATCH_BYTES)
		flush_all(e, m->g - 1);
	if (!w->cur) {
		w->cur = malloc(sizeof(*w->cur));
		if (!w->cur)
			abort();
		w->cur->len = 0;
	}
	struct msg *dst = (struct msg *)(w->cur->buf + w->cur->len);
	*dst = *m;
	dst->size = (uint32_t)size;
	if (plen)
		memcpy(dst + 1, payload, plen);
	w->cur->len += size;
}

/* ---- the main-thread connection id map ----------------------------------- */

struct idmap_ent {
	struct idmap_ent *next;
	uint16_t node;
	struct fr_connkey k;
	uint64_t id;
	uint64_t last_ts;
};

struct idmap {
	struct idmap_ent **tab;
	size_t nb, n;
	uint64_t next_id;
};

static uint64_t key_hash(uint16_t node, const struct fr_connkey *k)
{
	return hash64(((uint64_t)node << 48) ^ ((uint64_t)k->pid << 20) ^ k->fd ^ ((uint64_t)k->gen << 36) ^
		      hash64(k->gen));
}

static struct idmap_ent *idmap_get(struct idmap *m, uint16_t node, const struct fr_connkey *k, int create)
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

static void idmap_del(struct idmap *m, struct idmap_ent *e)
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

static void idmap_sweep(struct idmap *m, uint64_t ts, uint64_t idle)
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

static void idmap_free(struct idmap *m)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct idmap_ent *x = m->tab[i], *nx; x; x = nx) {
			nx = x->next;
			free(x);
		}
	free(m->tab);
}

/* ---- inputs and the merge ------------------------------------------------ */

struct input {
	char *path;
	const char *base;
	struct fr_reader *r;
	const struct fr_header *h;
	int node;
	struct fr_record rec;
	int have;
	uint64_t first_ts, last_ts, count;
	uint64_t file_bytes;
};

static int cmp_input(const void *a, const void *b)
{
	const struct input *x = a, *y = b;
	int c = strcmp(x->h->node, y->h->node);
	if (c)
		return c;
	if (x->h->segment_index != y->h->segment_index)
		return x->h->segment_index < y->h->segment_index ? -1 : 1;
	c = strcmp(x->base, y->base);
	return c ? c : strcmp(x->path, y->path);
}

static int rec_less(const struct input *a, int ia, const struct input *b, int ib)
{
	if (a->rec.ts != b->rec.ts)
		return a->rec.ts < b->rec.ts;
	if (a->node != b->node)
		return a->node < b->node;
	if (a->rec.seq != b->rec.seq)
		return a->rec.seq < b->rec.seq;
	return ia < ib;
}

struct heap {
	int *v;
	int n;
	struct input *in;
};

static void heap_down(struct heap *h, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && rec_less(&h->in[h->v[l]], h->v[l], &h->in[h->v[m]], h->v[m]))
			m = l;
		if (r < h->n && rec_less(&h->in[h->v[r]], h->v[r], &h->in[h->v[m]], h->v[m]))
			m = r;
		if (m == i)
			return;
		int t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
}

static int sha256_file(const char *path, char hex[65], uint64_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		fclose(f);
		return -1;
	}
	static __thread unsigned char buf[1 << 16];
	size_t n;
	*size = 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		*size += n;
	}
	fclose(f);
	unsigned char md[32];
	unsigned int mdl = 0;
	EVP_DigestFinal_ex(ctx, md, &mdl);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void progress(struct input *in, int n, uint64_t total, uint64_t records, double t0, int final)
{
	uint64_t done = 0;
	for (int i = 0; i < n; i++) {
		const struct fr_reader_stats *st = fr_reader_stats(in[i].r);
		done += in[i].have ? st->comp_bytes : in[i].file_bytes;
	}
	if (done > total)
		done = total;
	double el = now_s() - t0, frac = total ? (double)done / (double)total : 1;
	int bar = (int)(frac * 30);
	double eta = frac > 0.01 ? el / frac - el : 0;
	fprintf(stderr, "\r[%-30.*s] %3d%% %7.1f MB %8.0f rec/s ETA %4.0fs%s", bar,
		"##############################", (int)(frac * 100), (double)done / 1e6,
		el > 0 ? (double)records / el : 0, eta, final ? "\n" : "");
}

int fr_analyze(char **paths, int npaths, const char *db_path, const struct fr_opts *o)
{
	char err[512];
	int rc = EXIT_OK;
	struct input *in = NULL;
	int nin = 0;
	for (int i = 0; i < npaths; i++) {
		char **list;
		int n = fr_list_segments(paths[i], &list, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, "flightrec analyze: %s\n", err);
			rc = EXIT_USAGE;
			goto out_inputs;
		}
		for (int j = 0; j < n; j++) {
			int dup = 0;
			char *rp = realpath(list[j], NULL);
			for (int k = 0; k < nin && rp; k++) {
				char *rq = realpath(in[k].path, NULL);
				if (rq && !strcmp(rp, rq))
					dup = 1;
				free(rq);
			}
			free(rp);
			if (dup)
				continue;
			struct fr_reader *r = fr_reader_open(list[j], err, sizeof(err));
			if (!r) {
				fprintf(stderr, "flightrec analyze: %s: %s\n", list[j], err);
				rc = EXIT_DAMAGED;
				continue;
			}
			in = realloc(in, (size_t)(nin + 1) * sizeof(*in));
			memset(&in[nin], 0, sizeof(*in));
			in[nin].path = strdup(list[j]);
			const char *b = strrchr(in[nin].path, '/');
			in[nin].base = b ? b + 1 : in[nin].path;
			in[nin].r = r;
			in[nin].h = fr_reader_header(r);
			nin++;
		}
		fr_free_list(list, n);
	}
	if (!nin) {
		fprintf(stderr, "flightrec analyze: no segment to read\n");
		rc = EXIT_USAGE;
		goto out_inputs;
	}
	qsort(in, (size_t)nin, sizeof(*in), cmp_input);

	struct engine e = {0};
	e.o = o;
	e.sink = sink_open(db_path, err, sizeof(err));
	if (!e.sink) {
		fprintf(stderr, "flightrec analyze: %s\n", err);
		rc = EXIT_USAGE;
		goto out_inputs;
	}
	/* nodes, sorted by name (inputs are sorted by node) */
	e.nodes = calloc((size_t)nin, sizeof(char *));
	for (int i = 0; i < nin; i++) {
		if (!e.nnodes || strcmp(e.nodes[e.nnodes - 1], in[i].h->node))
			e.nodes[e.nnodes++] = strdup(in[i].h->node);
		in[i].node = e.nnodes - 1;
	}
	uint64_t total_bytes = 0;
	for (int i = 0; i < nin; i++) {
		struct stat st;
		if (stat(in[i].path, &st) == 0)
			in[i].file_bytes = (uint64_t)st.st_size;
		total_bytes += in[i].file_bytes;
		if (o->have_from || o->have_to)
			fr_reader_set_range(in[i].r, o->have_from ? o->from_ns : 0, o->have_to ? o->to_ns : UINT64_MAX);
	}
	/* provenance */
	{
		char buf[64];
		sink_kv(e.sink, "analyzer_version", FLIGHTREC_VERSION);
		snprintf(buf, sizeof(buf), "%d", o->jobs);
		sink_kv(e.sink, "threads", buf);
		snprintf(buf, sizeof(buf), "%d", nin);
		sink_kv(e.sink, "inputs", buf);
		if (o->have_from) {
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->from_ns);
			sink_kv(e.sink, "option_from_ns", buf);
		}
		if (o->have_to) {
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->to_ns);
			sink_kv(e.sink, "option_to_ns", buf);
		}
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->max_memory);
		sink_kv(e.sink, "option_max_memory", buf);
		snprintf(buf, sizeof(buf), "%d", o->dim_cap);
		sink_kv(e.sink, "option_dim_cap", buf);
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->idle_ns);
		sink_kv(e.sink, "option_idle_ns", buf);
		char *names = NULL;
		size_t nl = 0;
		FILE *f = open_memstream(&names, &nl);
		for (int i = 0; f && i < nin; i++)
			fprintf(f, "%s%s", i ? "," : "", in[i].base);
		if (f)
			fclose(f);
		sink_kv(e.sink, "input_files", names);
		free(names);
		/* pods and services given on the command line count as metadata
		 * recorded before everything else (the same uid again is one pod) */
		for (size_t i = 0; o->kube && i < fr_kube_n_pods(o->kube); i++)
			sink_pod(e.sink, fr_kube_pod(o->kube, i));
		for (size_t i = 0; o->kube && i < fr_kube_n_services(o->kube); i++)
			sink_service(e.sink, fr_kube_service(o->kube, i));
	}

	e.nw = o->jobs < 1 ? 1 : o->jobs;
	e.w = calloc((size_t)e.nw, sizeof(*e.w));
	pthread_mutex_init(&e.omu, NULL);
	pthread_cond_init(&e.ocv, NULL);
	for (int i = 0; i < e.nw; i++) {
		e.w[i].idx = i;
		e.w[i].e = &e;
		e.w[i].mem_limit = o->max_memory / (uint64_t)e.nw;
		pthread_mutex_init(&e.w[i].mu, NULL);
		pthread_cond_init(&e.w[i].cv, NULL);
		if (e.nw > 1)
			pthread_create(&e.w[i].th, NULL, worker_main, &e.w[i]);
	}
	if (e.nw > 1)
		pthread_create(&e.merger, NULL, merge_main, &e);

	struct heap h = {calloc((size_t)nin, sizeof(int)), 0, in};
	for (int i = 0; i < nin; i++) {
		if (fr_reader_next(in[i].r, &in[i].rec) > 0) {
			in[i].have = 1;
			h.v[h.n++] = i;
		}
	}
	for (int i = h.n / 2 - 1; i >= 0; i--)
		heap_down(&h, i);

	struct idmap ids = {0};
	uint64_t records = 0, last_ts = 0, gcount = 0, last_sweep = 0;
	double t0 = now_s(), tlast = t0;
	while (h.n) {
		int ii = h.v[0];
		struct input *x = &in[ii];
		const struct fr_record *r = &x->rec;
		int keep = (!o->have_from || r->ts >= o->from_ns) && (!o->have_to || r->ts <= o->to_ns);
		if (keep) {
			records++;
			x->count++;
			if (!x->first_ts || r->ts < x->first_ts)
				x->first_ts = r->ts;
			if (r->ts > x->last_ts)
				x->last_ts = r->ts;
			if (r->ts > last_ts)
				last_ts = r->ts;
			const char *node = e.nodes[x->node];
			struct msg m;
			memset(&m, 0, sizeof(m));
			m.kind = r->kind;
			m.node = (uint16_t)x->node;
			m.ts = r->ts;
			switch (r->kind) {
			case FR_DATA:
			case FR_CONN_OPEN:
			case FR_CONN_CLOSE: {
				const struct fr_connkey *k = r->kind == FR_DATA ? &r->u.data.conn :
							     r->kind == FR_CONN_OPEN ? &r->u.open.conn : &r->u.close.conn;
				if (o->idle_ns && gcount &&
				    (gcount % SWEEP_EVERY == 0 || r->ts >= last_sweep + o->idle_ns)) {
					last_sweep = r->ts;
					struct msg sw;
					memset(&sw, 0, sizeof(sw));
					sw.kind = MSG_SWEEP;
					sw.ts = r->ts;
					sw.g = ++gcount;
					idmap_sweep(&ids, r->ts, o->idle_ns);
					dispatch(&e, &sw, NULL, 0);
				}
				struct idmap_ent *ent = idmap_get(&ids, (uint16_t)x->node, k, 1);
				ent->last_ts = r->ts;
				m.conn_id = ent->id;
				m.g = ++gcount;
				const uint8_t *payload = NULL;
				size_t plen = 0;
				if (r->kind == FR_DATA) {
					m.u.d = r->u.data;
					payload = r->u.data.payload.p;
					plen = r->u.data.payload.len;
					m.u.d.payload.p = NULL;
				} else if (r->kind == FR_CONN_OPEN) {
					m.u.o = r->u.open;
				} else {
					m.u.c = r->u.close;
					idmap_del(&ids, ent);
				}
				dispatch(&e, &m, payload, plen);
				break;
			}
			case FR_PROCESS:
				sink_process(e.sink, node, &r->u.proc);
				break;
			case FR_POD:
				sink_pod(e.sink, &r->u.pod);
				break;
			case FR_SERVICE:
				sink_service(e.sink, &r->u.svc);
				break;
			case FR_MARK:
				sink_mark(e.sink, node, r->ts, &r->u.mark);
				break;
			case FR_LOSS: {
				char d[200];
				snprintf(d, sizeof(d), "node %s cpu %d reason %u: %llu events, %llu bytes lost in [%llu, %llu]",
					 node, r->u.loss.cpu == UINT32_MAX ? -1 : (int)r->u.loss.cpu, r->u.loss.reason,
					 (unsigned long long)r->u.loss.count, (unsigned long long)r->u.loss.bytes,
					 (unsigned long long)r->u.loss.first_ns, (unsigned long long)r->u.loss.last_ns);
				sink_anomaly(e.sink, 0, r->ts, "loss", d);
				break;
			}
			}
		}
		if (fr_reader_next(x->r, &x->rec) > 0) {
			heap_down(&h, 0);
		} else {
			x->have = 0;
			h.v[0] = h.v[--h.n];
			heap_down(&h, 0);
		}
		if (o->progress && (records & 4095) == 0) {
			double t = now_s();
			if (t - tlast > 0.25) {
				tlast = t;
				progress(in, nin, total_bytes, records, t0, 0);
			}
		}
	}
	if (o->progress)
		progress(in, nin, total_bytes, records, t0, 1);
	/* drain the workers; they end the connections still open */
	e.last_ts = last_ts;
	if (e.nw > 1) {
		flush_all(&e, gcount);
		for (int i = 0; i < e.nw; i++) {
			pthread_mutex_lock(&e.w[i].mu);
			e.w[i].done = 1;
			pthread_cond_broadcast(&e.w[i].cv);
			pthread_mutex_unlock(&e.w[i].mu);
		}
		for (int i = 0; i < e.nw; i++)
			pthread_join(e.w[i].th, NULL);
		pthread_join(e.merger, NULL);
	} else {
		worker_finish(&e.w[0], last_ts);
	}
	for (int i = 0; i < e.nw; i++) {
		pthread_mutex_destroy(&e.w[i].mu);
		pthread_cond_destroy(&e.w[i].cv);
	}
	pthread_mutex_destroy(&e.omu);
	pthread_cond_destroy(&e.ocv);
	idmap_free(&ids);
	free(h.v);

	/* segments, their checksums and damage */
	for (int i = 0; i < nin; i++) {
		char hex[65] = "";
		uint64_t size = 0;
		sha256_file(in[i].path, hex, &size);
		size_t nd = 0;
		const struct fr_damage *dm = fr_reader_damage(in[i].r, &nd);
		for (size_t k = 0; k < nd; k++) {
			char d[300];
			snprintf(d, sizeof(d), "%s: %llu bytes at offset %llu: %s", in[i].base,
				 (unsigned long long)dm[k].length, (unsigned long long)dm[k].offset, dm[k].what);
			sink_anomaly(e.sink, 0, 0, "segment_damage", d);
		}
		if (nd)
			rc = EXIT_DAMAGED;
		sink_segment(e.sink, in[i].base, in[i].h, hex, size, fr_reader_stats(in[i].r), nd,
			     fr_reader_has_footer(in[i].r), in[i].first_ts,
			     in[i].last_ts);
	}
	{
		char buf[32];
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)records);
		sink_kv(e.sink, "count_records", buf);
	}
	if (o->progress)
		fprintf(stderr, "finishing %s: attribution, peer links, indexes, views, dump hash...\n", db_path);
	if (sink_close(e.sink, o->dim_cap, e.nw) < 0) {
		fprintf(stderr, "flightrec analyze: writing %s failed\n", db_path);
		rc = EXIT_USAGE;
	}
	for (int i = 0; i < e.nnodes; i++)
		free(e.nodes[i]);
	free(e.nodes);
	free(e.w);
out_inputs:
	for (int i = 0; i < nin; i++) {
		fr_reader_free(in[i].r);
		free(in[i].path);
	}
	free(in);
	return rc;
}
