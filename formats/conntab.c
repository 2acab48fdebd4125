/* conntab.c - the open connections of a record stream and their kept
 * heads (conntab.h says what and why).
 *
 * A hash table on (pid, fd), so that a new connection on a pid and fd
 * finds the one left there when its close was lost, and a list of the open
 * connections from the oldest (first seen) to the newest: the order of the
 * records fr_conntab_emit() writes, of eviction by the conns_max bound,
 * and of head eviction by the heads_max bound.  Closed connections kept
 * for their heads (keep_closed) are on a list of their own, in the order
 * of their closes, and go first when a bound is reached.  A head is kept as the
 * encoded chunks of a CONN_HEAD record (fr_head_chunk_put), so writing it
 * copies nothing.
 */
#include "conntab.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct ent {
	struct fr_conn c; /* first: a struct fr_conn * is its struct ent * */
	struct ent *hnext;
	struct ent *older, *newer;
	uint8_t *head; /* head_n encoded chunks, head_len bytes of head_cap */
	size_t head_len, head_cap;
	uint32_t head_n;
	uint32_t hlen[2]; /* head bytes per direction */
	uint8_t hend[2];  /* enum fr_head_end per direction */
	uint8_t keep;     /* 1: the head may grow (TCP, its start seen) */
	uint8_t from_state; /* made by a CONN_STATE: waits for its CONN_HEAD */
	uint8_t closed;     /* closed, kept for its head (keep_closed): not hashed */
	uint64_t epoch;     /* closed: the table's epoch then */
	max_align_t user[]; /* the caller's user_size bytes */
};

/* A list of entries from the oldest to the newest. */
struct list {
	struct ent *oldest, *newest;
};

struct fr_conntab {
	struct fr_conntab_opts o;
	struct ent **tab;
	size_t nb;
	struct list open;   /* by first sight */
	struct list closed; /* kept for their heads, by close */
	uint64_t epoch;
	struct fr_conntab_stats st;
};

static void list_add(struct list *l, struct ent *e)
{
	e->newer = NULL;
	e->older = l->newest;
	if (l->newest)
		l->newest->newer = e;
	else
		l->oldest = e;
	l->newest = e;
}

static void list_del(struct list *l, struct ent *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		l->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		l->newest = e->older;
	e->older = e->newer = NULL;
}

void fr_conntab_opts_default(struct fr_conntab_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->head_max = FR_CONNTAB_HEAD_MAX;
	o->heads_max = FR_CONNTAB_HEADS_MAX;
	o->conns_max = FR_CONNTAB_CONNS_MAX;
}

struct fr_conntab *fr_conntab_new(const struct fr_conntab_opts *o)
{
	struct fr_conntab *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (o)
		t->o = *o;
	else
		fr_conntab_opts_default(&t->o);
	if (!t->o.conns_max)
		t->o.conns_max = 1;
	t->nb = 1024;
	t->tab = calloc(t->nb, sizeof(*t->tab));
	if (!t->tab) {
		free(t);
		return NULL;
	}
	return t;
}

static size_t bucket(const struct fr_conntab *t, uint32_t pid, uint32_t fd)
{
	uint64_t x = ((uint64_t)pid << 32 | fd) * 0x9e3779b97f4a7c15ull;
	return (size_t)(x >> 32) & (t->nb - 1);
}

/* ---- entries ------------------------------------------------------------- */

static void drop_head(struct fr_conntab *t, struct ent *e)
{
	t->st.head_bytes -= e->head_cap;
	free(e->head);
	e->head = NULL;
	e->head_len = e->head_cap = 0;
	e->head_n = 0;
	e->hlen[0] = e->hlen[1] = 0;
	e->keep = 0;
}

static void unhash(struct fr_conntab *t, struct ent *e)
{
	struct ent **pp = &t->tab[bucket(t, e->c.st.conn.pid, e->c.st.conn.fd)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
}

static void ent_drop(struct fr_conntab *t, struct ent *e)
{
	if (e->closed) {
		list_del(&t->closed, e);
		t->st.closed--;
	} else {
		unhash(t, e);
		list_del(&t->open, e);
		t->st.conns--;
	}
	drop_head(t, e);
	free(e);
}

/* A connection's close: gone, or kept closed for its head. */
static void ent_close(struct fr_conntab *t, struct ent *e, uint64_t ts)
{
	if (!t->o.keep_closed || !e->head_n) {
		ent_drop(t, e);
		return;
	}
	unhash(t, e);
	list_del(&t->open, e);
	list_add(&t->closed, e);
	t->st.conns--;
	t->st.closed++;
	e->closed = 1;
	e->keep = 0;
	e->epoch = t->epoch;
	if (ts > e->c.st.last_ns)
		e->c.st.last_ns = ts;
}

void fr_conntab_set_epoch(struct fr_conntab *t, uint64_t epoch)
{
	t->epoch = epoch;
}

void fr_conntab_forget_closed(struct fr_conntab *t, uint64_t epoch)
{
	/* in order of their closes, so of their epochs */
	while (t->closed.oldest && t->closed.oldest->epoch < epoch)
		ent_drop(t, t->closed.oldest);
}

/* Doubles the buckets when the table holds more connections than them. */
static void rehash(struct fr_conntab *t)
{
	size_t nb = t->nb * 2;
	struct ent **tab = calloc(nb, sizeof(*tab));
	if (!tab)
		return; /* longer chains, still correct */
	struct ent **old = t->tab;
	size_t onb = t->nb;
	t->tab = tab;
	t->nb = nb;
	for (size_t i = 0; i < onb; i++)
		for (struct ent *e = old[i], *n; e; e = n) {
			n = e->hnext;
			size_t b = bucket(t, e->c.st.conn.pid, e->c.st.conn.fd);
			e->hnext = tab[b];
			tab[b] = e;
		}
	free(old);
}

static struct ent *ent_new(struct fr_conntab *t, const struct fr_connkey *k, uint64_t ts)
{
	while (t->st.conns + t->st.closed >= t->o.conns_max && (t->closed.oldest || t->open.oldest)) {
		/* closed ones first: they only wait for a snapshot */
		ent_drop(t, t->closed.oldest ? t->closed.oldest : t->open.oldest);
		t->st.evicted++;
	}
	struct ent *e = calloc(1, sizeof(*e) + t->o.user_size);
	if (!e)
		return NULL;
	e->c.st.conn = *k;
	e->c.st.first_ns = e->c.st.last_ns = ts;
	e->c.user = e->user;
	size_t b = bucket(t, k->pid, k->fd);
	e->hnext = t->tab[b];
	t->tab[b] = e;
	list_add(&t->open, e);
	if (++t->st.conns + t->st.closed > t->nb)
		rehash(t);
	return e;
}

static struct ent *ent_find(struct fr_conntab *t, const struct fr_connkey *k)
{
	for (struct ent *e = t->tab[bucket(t, k->pid, k->fd)]; e; e = e->hnext)
		if (e->c.st.conn.pid == k->pid && e->c.st.conn.fd == k->fd && e->c.st.conn.gen == k->gen)
			return e;
	return NULL;
}

/* Drops the connections left on k's pid and fd (any generation). */
static void drop_fd(struct fr_conntab *t, const struct fr_connkey *k)
{
	struct ent *e = t->tab[bucket(t, k->pid, k->fd)];
	while (e) {
		struct ent *n = e->hnext;
		if (e->c.st.conn.pid == k->pid && e->c.st.conn.fd == k->fd)
			ent_drop(t, e);
		e = n;
	}
}

struct fr_conn *fr_conntab_find(struct fr_conntab *t, const struct fr_connkey *k)
{
	struct ent *e = ent_find(t, k);
	return e ? &e->c : NULL;
}

struct fr_conn *fr_conntab_get(struct fr_conntab *t, const struct fr_connkey *k, uint64_t ts)
{
	struct ent *e = ent_find(t, k);
	if (!e)
		e = ent_new(t, k, ts);
	return e ? &e->c : NULL;
}

/* ---- heads --------------------------------------------------------------- */

/* Makes room for a head to grow by extra bytes of memory within
 * heads_max, dropping the heads of the oldest other connections.  0 when
 * there is room. */
static int heads_room(struct fr_conntab *t, const struct ent *self, size_t extra)
{
	/* closed connections' first: they only wait for a snapshot */
	while (t->closed.oldest && t->st.head_bytes + extra > t->o.heads_max) {
		ent_drop(t, t->closed.oldest);
		t->st.heads_dropped++;
	}
	for (struct ent *x = t->open.oldest; x && t->st.head_bytes + extra > t->o.heads_max; x = x->newer) {
		if (x == self || !x->head_cap)
			continue;
		drop_head(t, x);
		x->hend[0] = x->hend[1] = FR_HEAD_DROPPED;
		t->st.heads_dropped++;
	}
	return t->st.head_bytes + extra <= t->o.heads_max ? 0 : -1;
}

/* Room for need bytes of chunks in e's head buffer: 0, or -1 when the
 * memory bound (or malloc) says no. */
static int head_reserve(struct fr_conntab *t, struct ent *e, size_t need)
{
	if (need <= e->head_cap)
		return 0;
	size_t max = 2 * (size_t)t->o.head_max + FR_CONNTAB_MAX_CHUNKS * (size_t)FR_HEAD_CHUNK_HDR;
	size_t cap = e->head_cap ? e->head_cap * 2 : 512;
	if (cap < need)
		cap = need;
	if (cap > max)
		cap = max > need ? max : need;
	if (heads_room(t, e, cap - e->head_cap))
		return -1;
	uint8_t *h = realloc(e->head, cap);
	if (!h)
		return -1;
	t->st.head_bytes += cap - e->head_cap;
	e->head = h;
	e->head_cap = cap;
	return 0;
}

/* Appends d's payload to e's head when it continues it. */
static void head_add(struct fr_conntab *t, struct ent *e, const struct fr_data *d, uint64_t ts)
{
	int dir = d->dir & 1;
	if (!e->keep || e->hend[dir] != FR_HEAD_GROWING || (d->flags & FR_DATA_NO_POS) || !d->orig_len)
		return;
	if (d->stream_pos != e->hlen[dir]) {
		if (d->stream_pos > e->hlen[dir])
			e->hend[dir] = FR_HEAD_HOLE; /* bytes before d were lost */
		return;
	}
	if (e->head_n >= FR_CONNTAB_MAX_CHUNKS) {
		for (int i = 0; i < 2; i++)
			if (e->hend[i] == FR_HEAD_GROWING)
				e->hend[i] = FR_HEAD_FULL;
		return;
	}
	uint32_t cap = d->payload.len;
	uint32_t take = t->o.head_max - e->hlen[dir];
	if (take > cap)
		take = cap;
	if (take) {
		if (head_reserve(t, e, e->head_len + FR_HEAD_CHUNK_HDR + take)) {
			e->hend[dir] = FR_HEAD_DROPPED;
			return;
		}
		fr_head_chunk_put(e->head + e->head_len, ts, (uint8_t)dir, d->payload.p, take);
		e->head_len += FR_HEAD_CHUNK_HDR + take;
		e->head_n++;
		e->hlen[dir] += take;
	}
	if (take < cap || e->hlen[dir] >= t->o.head_max)
		e->hend[dir] = FR_HEAD_FULL;
	else if (cap < d->orig_len)
		e->hend[dir] = FR_HEAD_HOLE; /* cut by the snap length */
}

/* A CONN_HEAD for a connection made by its CONN_STATE: the head goes on
 * from where the record leaves it. */
static void head_take(struct fr_conntab *t, struct ent *e, const struct fr_conn_head *h)
{
	if (!e->from_state || e->head_n || !t->o.head_max || h->n_chunks > FR_CONNTAB_MAX_CHUNKS ||
	    h->len[0] > t->o.head_max || h->len[1] > t->o.head_max || !h->chunks.len)
		return;
	if (head_reserve(t, e, h->chunks.len))
		return;
	memcpy(e->head, h->chunks.p, h->chunks.len);
	e->head_len = h->chunks.len;
	e->head_n = h->n_chunks;
	for (int d = 0; d < 2; d++) {
		e->hlen[d] = h->len[d];
		e->hend[d] = h->end[d];
	}
	e->keep = 1;
	e->from_state = 0;
}

/* ---- records in ---------------------------------------------------------- */

void fr_conntab_data(struct fr_conntab *t, struct fr_conn *c, const struct fr_data *d, uint64_t ts)
{
	struct ent *e = (struct ent *)c;
	struct fr_conn_state *s = &c->st;
	int dir = d->dir & 1;
	s->bytes[dir] += d->orig_len;
	s->calls[dir]++;
	if (ts > s->last_ns)
		s->last_ns = ts;
	if (!(d->flags & FR_DATA_NO_POS) && d->stream_pos + d->orig_len > s->pos[dir])
		s->pos[dir] = d->stream_pos + d->orig_len;
	e->from_state = 0; /* a head now would not continue where it ends */
	head_add(t, e, d, ts);
}

static struct fr_conn *on_open(struct fr_conntab *t, const struct fr_conn_open *o, uint64_t ts)
{
	drop_fd(t, &o->conn);
	struct ent *e = ent_new(t, &o->conn, ts);
	if (!e)
		return NULL;
	struct fr_conn_state *s = &e->c.st;
	s->tid = o->tid;
	s->role = o->role;
	s->netns = o->netns;
	s->local = o->local;
	s->remote = o->remote;
	s->flags = FR_STATE_OPEN;
	/* a head only where byte 0 is the connection's: connect or accept */
	e->keep = t->o.head_max && (o->role == FR_ROLE_CLIENT || o->role == FR_ROLE_SERVER) &&
		  o->local.proto == 6;
	return &e->c;
}

static struct fr_conn *on_state(struct fr_conntab *t, const struct fr_conn_state *cs)
{
	struct ent *e = ent_find(t, &cs->conn);
	if (e)
		return &e->c;
	e = ent_new(t, &cs->conn, cs->first_ns);
	if (!e)
		return NULL;
	e->c.st = *cs;
	e->c.st.flags &= FR_STATE_OPEN;
	e->from_state = (cs->flags & FR_STATE_HEAD) != 0;
	return &e->c;
}

struct fr_conn *fr_conntab_add(struct fr_conntab *t, const struct fr_record *r)
{
	struct ent *e;
	switch (r->kind) {
	case FR_CONN_OPEN:
		return on_open(t, &r->u.open, r->ts);
	case FR_DATA: {
		struct fr_conn *c = fr_conntab_get(t, &r->u.data.conn, r->ts);
		if (c)
			fr_conntab_data(t, c, &r->u.data, r->ts);
		return c;
	}
	case FR_CONN_CLOSE:
		if ((e = ent_find(t, &r->u.close.conn)) != NULL)
			ent_close(t, e, r->ts);
		return NULL;
	case FR_CONN_STATE:
		return on_state(t, &r->u.state);
	case FR_CONN_HEAD:
		if ((e = ent_find(t, &r->u.head.conn)) == NULL)
			return NULL;
		head_take(t, e, &r->u.head);
		return &e->c;
	}
	return NULL;
}

void fr_conntab_sweep(struct fr_conntab *t, int (*gone)(void *arg, const struct fr_conn *c), void *arg)
{
	for (struct ent *e = t->open.oldest, *n; e; e = n) {
		n = e->newer;
		if (gone(arg, &e->c))
			ent_drop(t, e);
	}
}

/* ---- records out --------------------------------------------------------- */

static int emit_head(const struct ent *e, uint64_t ts, int (*fn)(void *arg, struct fr_record *rec),
		     void *arg)
{
	struct fr_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = FR_CONN_HEAD;
	rec.ts = ts;
	struct fr_conn_head *h = &rec.u.head;
	h->conn = e->c.st.conn;
	h->n_chunks = e->head_n;
	for (int d = 0; d < 2; d++) {
		h->len[d] = e->hlen[d];
		h->end[d] = e->hend[d];
	}
	h->chunks = (struct fr_span){e->head, (uint32_t)e->head_len};
	return fn(arg, &rec);
}

int fr_conntab_emit(struct fr_conntab *t, uint64_t ts, unsigned what,
		    int (*fn)(void *arg, struct fr_record *rec), void *arg)
{
	struct fr_record rec;
	int rc;
	for (struct ent *e = t->open.oldest; e; e = e->newer) {
		if (what & FR_EMIT_STATES) {
			memset(&rec, 0, sizeof(rec));
			rec.kind = FR_CONN_STATE;
			rec.ts = ts;
			rec.u.state = e->c.st;
			if (e->head_n)
				rec.u.state.flags |= FR_STATE_HEAD;
			if ((rc = fn(arg, &rec)) != 0)
				return rc;
		}
		if ((what & FR_EMIT_HEADS) && e->head_n && (rc = emit_head(e, ts, fn, arg)) != 0)
			return rc;
	}
	for (struct ent *e = t->closed.oldest; (what & FR_EMIT_HEADS) && e; e = e->newer)
		if ((rc = emit_head(e, ts, fn, arg)) != 0)
			return rc;
	return 0;
}

void fr_conntab_stats(const struct fr_conntab *t, struct fr_conntab_stats *s)
{
	*s = t->st;
}

void fr_conntab_free(struct fr_conntab *t)
{
	if (!t)
		return;
	struct list *l[2] = {&t->open, &t->closed};
	for (int i = 0; i < 2; i++)
		for (struct ent *e = l[i]->oldest, *n; e; e = n) {
			n = e->newer;
			free(e->head);
			free(e);
		}
	free(t->tab);
	free(t);
}
