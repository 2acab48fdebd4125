/* segment_columnar.c - columnar blocks ("FRB2", format 2.0): the records of
 * a plain block split into streams before compression.
 *
 * Reference: formats/SEGMENT.md, "Columnar block".  Record headers become
 * varints and deltas, DATA fixed parts are predicted from the previous DATA
 * record of the same connection and direction, a payload equal to the
 * last one in its direction is not stored again, other payloads are
 * concatenated; an ARRIVAL record (3.0) is its connection's slot, its
 * position against the slot's and its time against the previous one's.
 * The writer keeps building plain records (seg_col_encode turns them into
 * streams when it flushes a block); the reader turns streams back into
 * plain records (seg_col_decode), so record parsing is shared.  Both
 * walk the DATA fixed part of segment_record.c field by field.
 */
#include "segment_internal.h"

#include <string.h>

enum { S_KIND, S_FLAGS, S_TSLO, S_TS, S_SEQ, S_LEN, S_BODY, S_MASK, S_CONN, S_NEW, S_TID,
       S_SYS, S_DFLAGS, S_POS, S_CAP, S_ORIG, S_PEER, S_PAY, S_ARR, N_STREAMS };
#define N_STREAMS_V2 S_ARR /* a block of format 2.x: no ARR stream */
#define ARRIVAL_LEN 32     /* an ARRIVAL body */

#define COL_MAX_SLOTS 65536u /* connections per block with predicted DATA */
#define COL_HASH (2 * COL_MAX_SLOTS)
#define COL_HDR_MAX (1 + 10 * N_STREAMS)

/* DATA mask bits: the direction, and which fields differ from their
 * prediction. */
#define M_DIR 0x01u
#define M_TID 0x02u
#define M_SYS 0x04u
#define M_FLAGS 0x08u
#define M_POS 0x10u
#define M_CAP 0x20u
#define M_ORIG 0x40u
#define M_PEER 0x80u

/* KIND low bits: the streams hold the record (DATA, or ARRIVAL); its
 * payload repeats. */
#define K_DATA 0x1u
#define K_REPEAT 0x2u
#define K_SHIFT 2

/* ---- connection slots: the predictions ------------------------------------------ */

struct col_slot {
	uint32_t pid, fd, gen, tid;
	uint32_t hpos; /* writer: its entry in the hash table */
	struct {
		uint64_t next_pos;
		uint32_t cap;
		uint32_t pay_off; /* where the last payload is in the block's records */
		uint16_t flags;
		uint8_t sys;
	} d[2];
	uint8_t peer[ADDR_LEN];
};

static void slot_init(struct col_slot *s, uint32_t pid, uint32_t fd, uint32_t gen)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->fd = fd;
	s->gen = gen;
	s->tid = pid;
}

/* After a record, the slot's predictions become its values. */
static void slot_update(struct col_slot *s, unsigned dir, uint32_t tid, uint8_t sys,
			uint16_t flags, uint64_t next_pos, uint32_t cap, uint32_t pay_off,
			const uint8_t *peer)
{
	s->tid = tid;
	s->d[dir].sys = sys;
	s->d[dir].flags = flags;
	s->d[dir].next_pos = next_pos;
	s->d[dir].cap = cap;
	s->d[dir].pay_off = pay_off;
	if (peer != s->peer)
		memcpy(s->peer, peer, ADDR_LEN);
}

static uint64_t zigzag(uint64_t d) { return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63); }
static uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1); }

/* ---- encoder ------------------------------------------------------------------ */

struct sbuf {
	uint8_t *p;
	size_t len, cap;
};

struct col_enc {
	struct sbuf s[N_STREAMS];
	struct col_slot *slots;
	size_t n_slots, slots_cap;
	uint32_t *hash; /* COL_HASH entries: slot index + 1, 0 when free */
	uint8_t hdr[COL_HDR_MAX];
	size_t hdr_len, total; /* header bytes; header + streams */
};

void seg_col_free(struct col_enc *e)
{
	if (!e)
		return;
	for (int i = 0; i < N_STREAMS; i++)
		free(e->s[i].p);
	free(e->slots);
	free(e->hash);
	free(e);
}

static int sb_need(struct sbuf *b, size_t n)
{
	return b->len + n <= b->cap ? 0 : seg_grow((void **)&b->p, &b->cap, b->len + n, 1);
}

static uint8_t *put_uv(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static int sb_uv(struct sbuf *b, uint64_t v)
{
	if (sb_need(b, 10))
		return -1;
	b->len = (size_t)(put_uv(b->p + b->len, v) - b->p);
	return 0;
}

static int sb_mem(struct sbuf *b, const void *p, size_t n)
{
	if (sb_need(b, n))
		return -1;
	b->len = (size_t)(put_mem(b->p + b->len, p, n) - b->p);
	return 0;
}

/* Finds or adds the slot of (pid, fd, gen); returns its index, more than
 * the slot count when the table is full, and sets *fresh for a new slot. */
static size_t slot_find(struct col_enc *e, uint32_t pid, uint32_t fd, uint32_t gen, int *fresh)
{
	uint32_t h = (pid * 0x9e3779b1u) ^ (fd * 0x85ebca77u) ^ (gen * 0xc2b2ae3du);
	h = (h ^ h >> 15) & (COL_HASH - 1);
	*fresh = 0;
	for (;; h = (h + 1) & (COL_HASH - 1)) {
		uint32_t v = e->hash[h];
		if (v == 0)
			break;
		struct col_slot *s = &e->slots[v - 1];
		if (s->pid == pid && s->fd == fd && s->gen == gen)
			return v - 1;
	}
	if (e->n_slots >= COL_MAX_SLOTS ||
	    seg_grow((void **)&e->slots, &e->slots_cap, e->n_slots + 1, sizeof(*e->slots)))
		return e->n_slots + 1; /* full: the caller writes the record whole */
	struct col_slot *s = &e->slots[e->n_slots];
	slot_init(s, pid, fd, gen);
	s->hpos = h;
	e->hash[h] = (uint32_t)++e->n_slots;
	*fresh = 1;
	return e->n_slots - 1;
}

/* A record's slot si into CONN, and its key into NEW when fresh. */
static int col_put_slot(struct col_enc *e, size_t si, int fresh)
{
	const struct col_slot *s = &e->slots[si];
	return sb_uv(&e->s[S_CONN], si) ||
	       (fresh && (sb_uv(&e->s[S_NEW], s->pid) || sb_uv(&e->s[S_NEW], s->fd) ||
			  sb_uv(&e->s[S_NEW], s->gen)));
}

/* Encodes one well-formed DATA body (b, DATA_FIXED + cap bytes, inside the
 * block's records at raw) into the DATA streams.  Returns the KIND low bits
 * (K_DATA, and K_REPEAT when the payload repeats the slot's last one in
 * that direction), 0 when it must be written whole, -1 on allocation
 * failure. */
static int col_put_data(struct col_enc *e, const uint8_t *raw, const uint8_t *b, size_t blen)
{
	struct fr_cur c;
	cur_init(&c, b, blen);
	uint32_t pid = cur_le32(&c), fd = cur_le32(&c), gen = cur_le32(&c), tid = cur_le32(&c);
	uint8_t dir = cur_u8(&c), sys = cur_u8(&c);
	uint16_t flags = cur_le16(&c);
	uint32_t orig = cur_le32(&c);
	uint64_t pos = cur_le64(&c);
	const uint8_t *peer, *pl;
	cur_bytes(&c, &peer, ADDR_LEN);
	uint32_t cap = cur_le32(&c);
	if (c.bad || dir > 1 || cap > orig || cur_left(&c) != cap)
		return 0;
	pl = c.p;
	int fresh;
	size_t si = slot_find(e, pid, fd, gen, &fresh);
	if (si > e->n_slots)
		return 0;
	struct col_slot *s = &e->slots[si];
	unsigned m = dir;
	if (tid != s->tid)
		m |= M_TID;
	if (sys != s->d[dir].sys)
		m |= M_SYS;
	if (flags != s->d[dir].flags)
		m |= M_FLAGS;
	if (pos != s->d[dir].next_pos)
		m |= M_POS;
	if (cap != s->d[dir].cap)
		m |= M_CAP;
	if (orig != cap)
		m |= M_ORIG;
	if (memcmp(peer, s->peer, ADDR_LEN) != 0)
		m |= M_PEER;
	int done = K_DATA;
	if (cap == s->d[dir].cap && (cap == 0 || !memcmp(raw + s->d[dir].pay_off, pl, cap)))
		done |= K_REPEAT;
	uint8_t mb = (uint8_t)m;
	if (sb_mem(&e->s[S_MASK], &mb, 1) || col_put_slot(e, si, fresh))
		return -1;
	if (((m & M_TID) && sb_uv(&e->s[S_TID], tid)) ||
	    ((m & M_SYS) && sb_mem(&e->s[S_SYS], &sys, 1)) ||
	    ((m & M_FLAGS) && sb_uv(&e->s[S_DFLAGS], flags)) ||
	    ((m & M_POS) && sb_uv(&e->s[S_POS], zigzag(pos - s->d[dir].next_pos))) ||
	    ((m & M_CAP) && sb_uv(&e->s[S_CAP], cap)) ||
	    ((m & M_ORIG) && sb_uv(&e->s[S_ORIG], orig - cap)) ||
	    ((m & M_PEER) && sb_mem(&e->s[S_PEER], peer, ADDR_LEN)) ||
	    (!(done & K_REPEAT) && sb_mem(&e->s[S_PAY], pl, cap)))
		return -1;
	slot_update(s, dir, tid, sys, flags, pos + orig, cap, (uint32_t)(pl - raw), peer);
	return done;
}

/* Encodes one ARRIVAL body (32 bytes, pad 0) into CONN (NEW), POS and ARR;
 * *prev: the block's previous ARRIVAL time held so.  Returns K_DATA, 0 when
 * it must be written whole, -1 on allocation failure.  Its slot's
 * predictions stay as they are: the DATA record it precedes has the same
 * position. */
static int col_put_arrival(struct col_enc *e, const uint8_t *b, size_t blen, uint64_t *prev)
{
	struct fr_cur c;
	cur_init(&c, b, blen);
	uint32_t pid = cur_le32(&c), fd = cur_le32(&c), gen = cur_le32(&c), pad = cur_le32(&c);
	uint64_t pos = cur_le64(&c), at = cur_le64(&c);
	if (c.bad || pad || cur_left(&c) != 0)
		return 0;
	int fresh;
	size_t si = slot_find(e, pid, fd, gen, &fresh);
	if (si > e->n_slots)
		return 0;
	const struct col_slot *s = &e->slots[si];
	if (col_put_slot(e, si, fresh) || sb_uv(&e->s[S_POS], zigzag(pos - s->d[1].next_pos)) ||
	    sb_uv(&e->s[S_ARR], zigzag(at - *prev)))
		return -1;
	*prev = at;
	return K_DATA;
}

/* Writes the stream table (n, then each stream's length) and sets
 * e->total. */
static void col_table(struct col_enc *e)
{
	uint8_t *p = put_u8(e->hdr, N_STREAMS);
	e->total = 0;
	for (int i = 0; i < N_STREAMS; i++) {
		p = put_uv(p, e->s[i].len);
		e->total += e->s[i].len;
	}
	e->hdr_len = (size_t)(p - e->hdr);
	e->total += e->hdr_len;
}

long seg_col_encode(struct col_enc **ep, const uint8_t *raw, size_t len, uint32_t n)
{
	int rc = -1;
	if (!*ep && !(*ep = calloc(1, sizeof(**ep))))
		return -1;
	struct col_enc *e = *ep;
	if (!e->hash && !(e->hash = calloc(COL_HASH, sizeof(*e->hash))))
		return -1;
	for (int i = 0; i < N_STREAMS; i++)
		e->s[i].len = 0;
	e->n_slots = 0;
	struct fr_cur c;
	cur_init(&c, raw, len);
	uint64_t prev_ts = 0, prev_seq = 0, prev_arr = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct seg_rec_hdr h;
		const uint8_t *body;
		if (seg_rec_hdr_get(&c, &h, &body))
			goto out;
		uint64_t dts = zigzag(h.ts - prev_ts);
		uint8_t tlo = (uint8_t)dts;
		int done = 0;
		if (h.kind == FR_DATA)
			done = col_put_data(e, raw, body, h.len);
		else if (h.kind == FR_ARRIVAL)
			done = col_put_arrival(e, body, h.len, &prev_arr);
		if (done < 0)
			goto out;
		if (sb_uv(&e->s[S_KIND], (uint64_t)h.kind << K_SHIFT | (unsigned)done) ||
		    sb_uv(&e->s[S_FLAGS], h.flags) || sb_mem(&e->s[S_TSLO], &tlo, 1) ||
		    sb_uv(&e->s[S_TS], dts >> 8) ||
		    sb_uv(&e->s[S_SEQ], zigzag(h.seq - prev_seq - 1)))
			goto out;
		if (!done && (sb_uv(&e->s[S_LEN], h.len) || sb_mem(&e->s[S_BODY], body, h.len)))
			goto out;
		prev_ts = h.ts;
		prev_seq = h.seq;
	}
	if (cur_left(&c) != 0)
		goto out;
	col_table(e);
	rc = 0;
out:
	for (size_t i = 0; i < e->n_slots; i++)
		e->hash[e->slots[i].hpos] = 0;
	return rc == 0 ? (long)e->total : -1;
}

void seg_col_gather(const struct col_enc *e, uint8_t *dst)
{
	dst = put_mem(dst, e->hdr, e->hdr_len);
	for (int i = 0; i < N_STREAMS; i++)
		dst = put_mem(dst, e->s[i].p, e->s[i].len);
}

/* ---- decoder ------------------------------------------------------------------ */

/* Reads a LEB128 varint of at most 10 bytes; sets c->bad on a short or
 * over-long one. */
static inline uint64_t cur_uv(struct fr_cur *c)
{
	if (c->p < c->end && *c->p < 0x80)
		return *c->p++; /* the common case: one byte */
	uint64_t v = 0;
	for (int sh = 0; sh < 70; sh += 7) {
		uint8_t b = cur_u8(c);
		if (c->bad)
			return 0;
		if (sh == 63 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
	c->bad = 1;
	return 0;
}

/* The decoder's state in one block. */
struct col_dec {
	struct fr_cur s[N_STREAMS];
	int v2;            /* a block of format 2.x: 18 streams, DATA only held in them */
	uint64_t prev_arr; /* the previous ARRIVAL time held in the streams */
	uint8_t *out;
	size_t out_len, o; /* records rebuilt so far: out[0, o) */
	struct col_slot **slots;
	size_t *slots_cap, n_slots;
};

/* Reads the stream table and points each stream's cursor at its bytes:
 * 0, or -1 when the table is malformed. */
static int col_streams(struct col_dec *d, const uint8_t *col, size_t clen)
{
	struct fr_cur h;
	cur_init(&h, col, clen);
	unsigned n = cur_u8(&h);
	if (n != N_STREAMS && n != N_STREAMS_V2)
		return -1;
	d->v2 = n == N_STREAMS_V2;
	uint64_t lens[N_STREAMS] = {0}, sum = 0;
	for (unsigned i = 0; i < n; i++) {
		lens[i] = cur_uv(&h);
		sum += lens[i];
		if (h.bad || lens[i] > clen || sum > clen)
			return -1;
	}
	if (sum != cur_left(&h))
		return -1;
	const uint8_t *p = h.p;
	for (int i = 0; i < N_STREAMS; i++) {
		cur_init(&d->s[i], p, (size_t)lens[i]);
		p += lens[i];
	}
	return 0;
}

/* A record held whole (d = 0): copies its body from LEN and BODY to
 * out + o.  Returns its length, or -1. */
static long col_body(struct col_dec *d)
{
	uint64_t n = cur_uv(&d->s[S_LEN]);
	const uint8_t *b;
	if (d->s[S_LEN].bad || n > FR_MAX_RECORD || n > d->out_len - d->o ||
	    cur_bytes(&d->s[S_BODY], &b, (size_t)n))
		return -1;
	put_mem(d->out + d->o, b, (size_t)n);
	return (long)n;
}

/* Opens the next slot, its key read from NEW: 0, or -1. */
static int col_open_slot(struct col_dec *d)
{
	struct fr_cur *s = &d->s[S_NEW];
	uint64_t pid = cur_uv(s), fd = cur_uv(s), gen = cur_uv(s);
	if (s->bad || pid > UINT32_MAX || fd > UINT32_MAX || gen > UINT32_MAX ||
	    d->n_slots >= COL_MAX_SLOTS ||
	    seg_grow((void **)d->slots, d->slots_cap, d->n_slots + 1, sizeof(**d->slots)))
		return -1;
	slot_init(&(*d->slots)[d->n_slots++], (uint32_t)pid, (uint32_t)fd, (uint32_t)gen);
	return 0;
}

/* The slot read from CONN (opened from NEW when it is the next one), or
 * NULL when CONN is malformed. */
static struct col_slot *col_slot(struct col_dec *d)
{
	uint64_t si = cur_uv(&d->s[S_CONN]);
	if (d->s[S_CONN].bad || si > d->n_slots || (si == d->n_slots && col_open_slot(d)))
		return NULL;
	return &(*d->slots)[si];
}

/* A DATA record's fixed fields, from its slot's predictions and the
 * streams its mask names. */
struct col_fields {
	uint64_t tid, flags, cap, pos, extra; /* extra: orig_len - cap_len */
	uint8_t sys;
	const uint8_t *peer;
};

static int col_fields(struct col_dec *d, unsigned m, const struct col_slot *sl,
		      struct col_fields *f)
{
	struct fr_cur *s = d->s;
	unsigned dir = m & M_DIR;
	f->tid = sl->tid;
	f->flags = sl->d[dir].flags;
	f->cap = sl->d[dir].cap;
	f->pos = sl->d[dir].next_pos;
	f->extra = 0;
	f->sys = sl->d[dir].sys;
	f->peer = sl->peer;
	if (m & M_TID)
		f->tid = cur_uv(&s[S_TID]);
	if (m & M_SYS)
		f->sys = cur_u8(&s[S_SYS]);
	if (m & M_FLAGS)
		f->flags = cur_uv(&s[S_DFLAGS]);
	if (m & M_POS)
		f->pos += unzigzag(cur_uv(&s[S_POS]));
	if (m & M_CAP)
		f->cap = cur_uv(&s[S_CAP]);
	if (m & M_ORIG)
		f->extra = cur_uv(&s[S_ORIG]);
	if (m & M_PEER)
		cur_bytes(&s[S_PEER], &f->peer, ADDR_LEN);
	if (s[S_TID].bad || s[S_SYS].bad || s[S_DFLAGS].bad || s[S_POS].bad ||
	    s[S_CAP].bad || s[S_ORIG].bad || s[S_PEER].bad || f->tid > UINT32_MAX ||
	    f->flags > 0xffff || f->cap > FR_MAX_RECORD - DATA_FIXED ||
	    f->extra > UINT32_MAX - f->cap || DATA_FIXED + f->cap > d->out_len - d->o)
		return -1;
	return 0;
}

/* An ARRIVAL record held in the streams: rebuilds its body at out + o.
 * Returns its length, or -1. */
static long col_arrival(struct col_dec *d)
{
	if (d->v2 || ARRIVAL_LEN > d->out_len - d->o)
		return -1;
	const struct col_slot *sl = col_slot(d);
	if (!sl)
		return -1;
	uint64_t pos = sl->d[1].next_pos + unzigzag(cur_uv(&d->s[S_POS]));
	uint64_t at = d->prev_arr + unzigzag(cur_uv(&d->s[S_ARR]));
	if (d->s[S_POS].bad || d->s[S_ARR].bad)
		return -1;
	d->prev_arr = at;
	/* the ARRIVAL body of segment_record.c */
	uint8_t *q = d->out + d->o;
	q = put_le32(q, sl->pid);
	q = put_le32(q, sl->fd);
	q = put_le32(q, sl->gen);
	q = put_le32(q, 0);
	q = put_le64(q, pos);
	put_le64(q, at);
	return ARRIVAL_LEN;
}

/* A record held in the DATA streams (kind word k): rebuilds its DATA body
 * at out + o.  Returns its length, or -1. */
static long col_data(struct col_dec *d, uint64_t k)
{
	unsigned m = cur_u8(&d->s[S_MASK]);
	struct col_slot *sl = col_slot(d);
	if (d->s[S_MASK].bad || !sl)
		return -1;
	unsigned dir = m & M_DIR;
	struct col_fields f;
	const uint8_t *pl;
	if (col_fields(d, m, sl, &f))
		return -1;
	if (!(k & K_REPEAT)) {
		if (cur_bytes(&d->s[S_PAY], &pl, (size_t)f.cap))
			return -1;
	} else {
		/* the slot's last payload, rebuilt before this record */
		uint64_t po = sl->d[dir].pay_off;
		if ((m & M_CAP) || po + f.cap > d->o - REC_HDR)
			return -1;
		pl = d->out + po;
	}
	/* the DATA body of segment_record.c */
	uint8_t *q = d->out + d->o;
	q = put_le32(q, sl->pid);
	q = put_le32(q, sl->fd);
	q = put_le32(q, sl->gen);
	q = put_le32(q, (uint32_t)f.tid);
	q = put_u8(q, (uint8_t)dir);
	q = put_u8(q, f.sys);
	q = put_le16(q, (uint16_t)f.flags);
	q = put_le32(q, (uint32_t)(f.cap + f.extra));
	q = put_le64(q, f.pos);
	q = put_mem(q, f.peer, ADDR_LEN);
	q = put_le32(q, (uint32_t)f.cap);
	put_mem(q, pl, (size_t)f.cap);
	slot_update(sl, dir, (uint32_t)f.tid, f.sys, (uint16_t)f.flags, f.pos + f.cap + f.extra,
		    (uint32_t)f.cap, (uint32_t)(d->o + DATA_FIXED), f.peer);
	return DATA_FIXED + (long)f.cap;
}

int seg_col_decode(const uint8_t *col, size_t clen, uint32_t count, uint8_t *out,
		   size_t out_len, struct col_slot **slots, size_t *slots_cap,
		   const char **why)
{
	struct col_dec d = {.out = out, .out_len = out_len, .slots = slots,
			    .slots_cap = slots_cap};
	struct fr_cur *s = d.s;
	*why = "bad stream table";
	if (col_streams(&d, col, clen))
		return -1;
	uint64_t prev_ts = 0, prev_seq = 0;
	for (uint32_t i = 0; i < count; i++) {
		*why = "stream ended early";
		uint64_t k = cur_uv(&s[S_KIND]);
		uint64_t flags = cur_uv(&s[S_FLAGS]);
		uint64_t tlo = cur_u8(&s[S_TSLO]);
		uint64_t ts = prev_ts + unzigzag(cur_uv(&s[S_TS]) << 8 | tlo);
		uint64_t seq = prev_seq + 1 + unzigzag(cur_uv(&s[S_SEQ]));
		if (s[S_KIND].bad || s[S_FLAGS].bad || s[S_TSLO].bad || s[S_TS].bad || s[S_SEQ].bad)
			return -1;
		*why = "bad record header";
		uint64_t kind = k >> K_SHIFT;
		if (kind > 0xffff || flags > 0xffff ||
		    ((k & K_DATA) && kind != FR_DATA && kind != FR_ARRIVAL) ||
		    ((k & K_REPEAT) && kind != FR_DATA) || (k & 3) == K_REPEAT)
			return -1;
		uint8_t *rh = out + d.o; /* the record header, written below */
		if (out_len - d.o < REC_HDR) {
			*why = "records longer than raw_len";
			return -1;
		}
		d.o += REC_HDR;
		long blen = !(k & K_DATA)   ? col_body(&d)
			    : kind == FR_DATA ? col_data(&d, k)
					      : col_arrival(&d);
		if (blen < 0) {
			*why = (k & K_DATA) ? "bad DATA fields" : "bad body length";
			return -1;
		}
		d.o += (size_t)blen;
		struct seg_rec_hdr h = {(uint16_t)(k >> K_SHIFT), (uint16_t)flags, (uint32_t)blen,
					ts, seq};
		seg_rec_hdr_put(rh, &h);
		prev_ts = ts;
		prev_seq = seq;
	}
	*why = "streams longer than their records";
	for (int i = 0; i < N_STREAMS; i++)
		if (cur_left(&s[i]) != 0)
			return -1;
	*why = "records shorter than raw_len";
	return d.o == out_len ? 0 : -1;
}
