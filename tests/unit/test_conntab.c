/* test_conntab.c - the CONN_STATE and CONN_HEAD records (format 2.1): their
 * codec, what a reader does with a malformed or extended body; and the
 * connection table that makes them (formats/conntab.c): heads from byte 0
 * without holes, their bounds per connection and in all, eviction of the
 * oldest, a stale generation on a reused fd, and the analyzer's use (a
 * table seeded from a segment's CONN_STATE and CONN_HEAD goes on growing). */
#define _GNU_SOURCE
#include "harness.h"
#include "../../formats/conntab.h"
#include "../../formats/segment.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- codec ------------------------------------------------------------------ */

static uint8_t chunkbuf[4096];

static struct fr_record head_record(void)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_HEAD;
	uint8_t *e = fr_head_chunk_put(chunkbuf, 10, FR_EGRESS, (const uint8_t *)"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 22);
	e = fr_head_chunk_put(e, 20, FR_INGRESS, (const uint8_t *)"%1\r\n", 4);
	e = fr_head_chunk_put(e, 21, FR_INGRESS, (const uint8_t *)"$5\r\nproto\r\n:3\r\n", 15);
	r.u.head = (struct fr_conn_head){{7, 3, 9}, {FR_HEAD_GROWING, FR_HEAD_HOLE}, 3, {22, 19},
					 {chunkbuf, (uint32_t)(e - chunkbuf)}};
	return r;
}

TEST(conn_state_codec_fields)
{
	struct fr_record r, got;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_STATE;
	struct fr_conn_state *s = &r.u.state;
	*s = (struct fr_conn_state){{7, 3, 9}, 8, FR_ROLE_SERVER, FR_STATE_OPEN, 4026531840u,
				    {4, 6, 6379, {10, 1, 2, 3}}, {6, 6, 40000, {0xfd, [15] = 7}},
				    {1ull << 40, 5}, {1ull << 40, 4}, {100, 2}, 111, 222};
	uint8_t body[512];
	long n = fr_record_encode(&r, body, sizeof(body));
	CHECK(n == 128);
	CHECK(fr_record_decode(FR_CONN_STATE, body, (size_t)n, &got) == 0);
	CHECK(!memcmp(&got.u.state, s, sizeof(*s)));
	/* a longer body (a later minor version) still reads; a shorter does not */
	CHECK(fr_record_decode(FR_CONN_STATE, body, (size_t)n + 8, &got) == 0);
	CHECK(fr_record_decode(FR_CONN_STATE, body, (size_t)n - 1, &got) < 0);
	CHECK(!strcmp(fr_kind_name(FR_CONN_STATE), "CONN_STATE"));
}

TEST(conn_head_codec_chunks)
{
	struct fr_record r = head_record(), got;
	uint8_t body[512];
	long n = fr_record_encode(&r, body, sizeof(body));
	CHECK(n == 28 + 3 * FR_HEAD_CHUNK_HDR + 22 + 4 + 15);
	CHECK(fr_record_decode(FR_CONN_HEAD, body, (size_t)n, &got) == 0);
	struct fr_conn_head *h = &got.u.head;
	CHECK(h->conn.pid == 7 && h->conn.fd == 3 && h->conn.gen == 9 && h->n_chunks == 3);
	CHECK(h->len[0] == 22 && h->len[1] == 19 && h->end[1] == FR_HEAD_HOLE);
	size_t off = 0;
	struct fr_head_chunk c;
	CHECK(fr_head_chunk_next(h, &off, &c) && c.ts == 10 && c.dir == 0 && c.bytes.len == 22);
	CHECK(fr_head_chunk_next(h, &off, &c) && c.ts == 20 && c.dir == 1 && !memcmp(c.bytes.p, "%1\r\n", 4));
	CHECK(fr_head_chunk_next(h, &off, &c) && c.ts == 21 && c.bytes.len == 15);
	CHECK(!fr_head_chunk_next(h, &off, &c));
	CHECK(!strcmp(fr_kind_name(FR_CONN_HEAD), "CONN_HEAD"));
}

TEST(conn_head_codec_rejects_malformed)
{
	struct fr_record r = head_record(), got;
	uint8_t body[512], bad[600];
	long n = fr_record_encode(&r, body, sizeof(body));
	CHECK(n > 0);
	/* lengths that do not add up */
	memcpy(bad, body, (size_t)n);
	bad[20] = 21;
	CHECK(fr_record_decode(FR_CONN_HEAD, bad, (size_t)n, &got) < 0);
	/* a chunk direction above 1 */
	memcpy(bad, body, (size_t)n);
	bad[28 + 8] = 2;
	CHECK(fr_record_decode(FR_CONN_HEAD, bad, (size_t)n, &got) < 0);
	/* bytes after the last chunk, a chunk cut short, a count too big */
	CHECK(fr_record_decode(FR_CONN_HEAD, body, (size_t)n + 1, &got) < 0);
	CHECK(fr_record_decode(FR_CONN_HEAD, body, (size_t)n - 1, &got) < 0);
	memcpy(bad, body, (size_t)n);
	bad[12] = 4;
	CHECK(fr_record_decode(FR_CONN_HEAD, bad, (size_t)n, &got) < 0);
	/* chunks_at before the end of the fixed part */
	memcpy(bad, body, (size_t)n);
	bad[18] = 20;
	CHECK(fr_record_decode(FR_CONN_HEAD, bad, (size_t)n, &got) < 0);
	/* the encoder refuses what the decoder would */
	r.u.head.len[0] = 23;
	CHECK(fr_record_encode(&r, body, sizeof(body)) < 0);
}

TEST(conn_head_codec_skips_later_fields)
{
	/* a later minor version puts 4 more bytes before the chunks */
	struct fr_record r = head_record(), got;
	uint8_t body[512], ext[520];
	long n = fr_record_encode(&r, body, sizeof(body));
	CHECK(n > 28);
	memcpy(ext, body, 28);
	ext[18] = 32;
	memcpy(ext + 28, "\xaa\xbb\xcc\xdd", 4);
	memcpy(ext + 32, body + 28, (size_t)n - 28);
	CHECK(fr_record_decode(FR_CONN_HEAD, ext, (size_t)n + 4, &got) == 0);
	CHECK(got.u.head.n_chunks == 3 && got.u.head.len[1] == 19);
}

/* ---- the table ------------------------------------------------------------- */

static struct fr_record open_rec(uint32_t pid, uint32_t fd, uint32_t gen, int role, int proto, uint64_t ts)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.ts = ts;
	r.u.open.conn = (struct fr_connkey){pid, fd, gen};
	r.u.open.role = (uint8_t)role;
	r.u.open.local = (struct fr_addr){4, (uint8_t)proto, 40000, {10, 0, 0, 1}};
	r.u.open.remote = (struct fr_addr){4, (uint8_t)proto, 6379, {10, 0, 0, 2}};
	return r;
}

static uint8_t pay[70000];

static struct fr_record data_rec(uint32_t pid, uint32_t fd, uint32_t gen, int dir, uint64_t pos,
				 uint32_t cap, uint32_t orig, uint64_t ts)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_DATA;
	r.ts = ts;
	struct fr_data *d = &r.u.data;
	d->conn = (struct fr_connkey){pid, fd, gen};
	d->dir = (uint8_t)dir;
	d->stream_pos = pos;
	d->orig_len = orig;
	d->payload = (struct fr_span){pay + pos % 1000, cap};
	return r;
}

struct got {
	int n;
	struct fr_record r[64];
	uint8_t bytes[64][4096]; /* heads' chunks, copied */
};

static int collect(void *arg, struct fr_record *rec)
{
	struct got *g = arg;
	if (g->n >= 64)
		return 1;
	g->r[g->n] = *rec;
	if (rec->kind == FR_CONN_HEAD && rec->u.head.chunks.len <= 4096) {
		memcpy(g->bytes[g->n], rec->u.head.chunks.p, rec->u.head.chunks.len);
		g->r[g->n].u.head.chunks.p = g->bytes[g->n];
	}
	g->n++;
	return 0;
}

static struct fr_conntab *table(uint32_t head_max, uint64_t heads_max, uint32_t conns_max)
{
	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)('a' + i % 26);
	struct fr_conntab_opts o;
	fr_conntab_opts_default(&o);
	o.head_max = head_max;
	o.heads_max = heads_max;
	o.conns_max = conns_max;
	o.user_size = 24;
	return fr_conntab_new(&o);
}

static void add(struct fr_conntab *t, struct fr_record r) { fr_conntab_add(t, &r); }

#define ALL (FR_EMIT_STATES | FR_EMIT_HEADS)

static struct fr_record close_rec(uint32_t pid, uint32_t fd, uint32_t gen, uint64_t ts)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_CLOSE;
	r.ts = ts;
	r.u.close.conn = (struct fr_connkey){pid, fd, gen};
	return r;
}

TEST(conntab_state_and_head_in_call_order)
{
	struct fr_conntab *t = table(100, 1 << 20, 16);
	CHECK(t);
	add(t, open_rec(1, 3, 1, FR_ROLE_CLIENT, 6, 5));
	add(t, data_rec(1, 3, 1, 0, 0, 10, 10, 6));
	add(t, data_rec(1, 3, 1, 1, 0, 30, 30, 7));
	add(t, data_rec(1, 3, 1, 0, 10, 5, 5, 8));
	struct fr_conn *c = fr_conntab_find(t, &(struct fr_connkey){1, 3, 1});
	CHECK(c && c->user && !((uint8_t *)c->user)[0]);
	static struct got g;
	g.n = 0;
	CHECK(fr_conntab_emit(t, 99, ALL, collect, &g) == 0);
	CHECK(g.n == 2 && g.r[0].kind == FR_CONN_STATE && g.r[1].kind == FR_CONN_HEAD);
	const struct fr_conn_state *s = &g.r[0].u.state;
	CHECK(g.r[0].ts == 99 && s->flags == (FR_STATE_OPEN | FR_STATE_HEAD) && s->role == FR_ROLE_CLIENT);
	CHECK(s->pos[0] == 15 && s->pos[1] == 30 && s->bytes[0] == 15 && s->calls[0] == 2 && s->calls[1] == 1);
	CHECK(s->first_ns == 5 && s->last_ns == 8 && s->local.port == 40000);
	const struct fr_conn_head *h = &g.r[1].u.head;
	CHECK(h->n_chunks == 3 && h->len[0] == 15 && h->len[1] == 30);
	CHECK(h->end[0] == FR_HEAD_GROWING && h->end[1] == FR_HEAD_GROWING);
	size_t off = 0;
	struct fr_head_chunk ch;
	int dirs = 0;
	for (int i = 0; fr_head_chunk_next(h, &off, &ch); i++)
		dirs = dirs * 10 + ch.dir + 1;
	CHECK(dirs == 121); /* egress, ingress, egress: as the calls came */
	/* the record encodes */
	uint8_t body[8192];
	CHECK(fr_record_encode(&g.r[1], body, sizeof(body)) > 0);
	/* states only */
	g.n = 0;
	CHECK(fr_conntab_emit(t, 99, FR_EMIT_STATES, collect, &g) == 0 && g.n == 1);
	/* a close ends it */
	add(t, close_rec(1, 3, 1, 9));
	g.n = 0;
	CHECK(fr_conntab_emit(t, 100, ALL, collect, &g) == 0 && g.n == 0);
	struct fr_conntab_stats st;
	fr_conntab_stats(t, &st);
	CHECK(st.conns == 0 && st.head_bytes == 0);
	fr_conntab_free(t);
}

TEST(conntab_head_bounds_and_holes)
{
	struct fr_conntab *t = table(100, 1 << 20, 16);
	CHECK(t);
	/* egress: 60 + 60 bytes against a bound of 100: FULL at 100 */
	add(t, open_rec(1, 3, 1, FR_ROLE_CLIENT, 6, 1));
	add(t, data_rec(1, 3, 1, 0, 0, 60, 60, 2));
	add(t, data_rec(1, 3, 1, 0, 60, 60, 60, 3));
	/* ingress: cut by the snap length (20 of 50): HOLE at 20 */
	add(t, data_rec(1, 3, 1, 1, 0, 20, 50, 4));
	add(t, data_rec(1, 3, 1, 1, 50, 10, 10, 5));
	/* another connection: bytes lost before its second call: HOLE */
	add(t, open_rec(1, 4, 2, FR_ROLE_SERVER, 6, 6));
	add(t, data_rec(1, 4, 2, 1, 0, 10, 10, 7));
	add(t, data_rec(1, 4, 2, 1, 30, 10, 10, 8));
	/* no heads: a connection first seen mid-stream, a UDP socket */
	add(t, open_rec(1, 5, 3, FR_ROLE_UNKNOWN, 6, 9));
	add(t, data_rec(1, 5, 3, 0, 0, 10, 10, 10));
	add(t, open_rec(1, 6, 4, FR_ROLE_CLIENT, 17, 11));
	add(t, data_rec(1, 6, 4, 0, 0, 10, 10, 12));
	static struct got g;
	g.n = 0;
	CHECK(fr_conntab_emit(t, 20, ALL, collect, &g) == 0);
	CHECK(g.n == 6);
	CHECK(g.r[1].kind == FR_CONN_HEAD && g.r[1].u.head.len[0] == 100 && g.r[1].u.head.len[1] == 20);
	CHECK(g.r[1].u.head.end[0] == FR_HEAD_FULL && g.r[1].u.head.end[1] == FR_HEAD_HOLE);
	CHECK(g.r[0].u.state.pos[1] == 60);
	CHECK(g.r[3].kind == FR_CONN_HEAD && g.r[3].u.head.len[1] == 10 && g.r[3].u.head.end[1] == FR_HEAD_HOLE);
	CHECK(g.r[3].u.head.len[0] == 0 && g.r[3].u.head.end[0] == FR_HEAD_GROWING);
	CHECK(g.r[4].kind == FR_CONN_STATE && !(g.r[4].u.state.flags & FR_STATE_HEAD));
	CHECK(g.r[5].kind == FR_CONN_STATE && !(g.r[5].u.state.flags & FR_STATE_HEAD));
	fr_conntab_free(t);
}

TEST(conntab_heads_total_drops_oldest)
{
	/* heads of 1000 bytes per direction; room for about two connections */
	struct fr_conntab *t = table(1000, 5000, 16);
	CHECK(t);
	for (uint32_t fd = 3; fd < 6; fd++) {
		add(t, open_rec(1, fd, fd, FR_ROLE_CLIENT, 6, fd));
		add(t, data_rec(1, fd, fd, 0, 0, 1000, 1000, fd));
		add(t, data_rec(1, fd, fd, 1, 0, 1000, 1000, fd));
	}
	struct fr_conntab_stats st;
	fr_conntab_stats(t, &st);
	CHECK(st.conns == 3 && st.heads_dropped >= 1 && st.head_bytes <= 5000);
	static struct got g;
	g.n = 0;
	CHECK(fr_conntab_emit(t, 20, ALL, collect, &g) == 0);
	/* the oldest connection lost its head; the newest kept its own */
	CHECK(g.r[0].kind == FR_CONN_STATE && g.r[0].u.state.conn.fd == 3 &&
	      !(g.r[0].u.state.flags & FR_STATE_HEAD));
	CHECK(g.r[g.n - 1].kind == FR_CONN_HEAD && g.r[g.n - 1].u.head.conn.fd == 5 &&
	      g.r[g.n - 1].u.head.len[1] == 1000);
	/* the dropped head does not start again */
	add(t, data_rec(1, 3, 3, 0, 1000, 10, 10, 30));
	g.n = 0;
	CHECK(fr_conntab_emit(t, 31, ALL, collect, &g) == 0);
	CHECK(g.r[0].u.state.conn.fd == 3 && !(g.r[0].u.state.flags & FR_STATE_HEAD));
	fr_conntab_free(t);
}

TEST(conntab_conns_max_and_stale_generations)
{
	struct fr_conntab *t = table(100, 1 << 20, 3);
	CHECK(t);
	for (uint32_t fd = 3; fd < 8; fd++)
		add(t, open_rec(1, fd, fd, FR_ROLE_CLIENT, 6, fd));
	struct fr_conntab_stats st;
	fr_conntab_stats(t, &st);
	CHECK(st.conns == 3 && st.evicted == 2);
	CHECK(!fr_conntab_find(t, &(struct fr_connkey){1, 3, 3}));
	CHECK(fr_conntab_find(t, &(struct fr_connkey){1, 7, 7}));
	/* a new connection on fd 7 (its close was lost) replaces the old one */
	add(t, open_rec(1, 7, 20, FR_ROLE_CLIENT, 6, 20));
	CHECK(!fr_conntab_find(t, &(struct fr_connkey){1, 7, 7}));
	CHECK(fr_conntab_find(t, &(struct fr_connkey){1, 7, 20}));
	fr_conntab_stats(t, &st);
	CHECK(st.conns == 3);
	/* DATA of a connection never opened makes an entry too, without a head */
	add(t, data_rec(2, 9, 30, 0, 500, 10, 10, 21));
	struct fr_conn *c = fr_conntab_find(t, &(struct fr_connkey){2, 9, 30});
	CHECK(c && c->st.pos[0] == 510 && !(c->st.flags & FR_STATE_OPEN));
	fr_conntab_free(t);
}

static int gone_pid1(void *arg, const struct fr_conn *c)
{
	(void)arg;
	return c->st.conn.pid == 1;
}

TEST(conntab_sweep_drops_what_is_gone)
{
	struct fr_conntab *t = table(100, 1 << 20, 100);
	CHECK(t);
	for (uint32_t i = 0; i < 50; i++)
		add(t, open_rec(1 + i % 2, 3 + i, i, FR_ROLE_CLIENT, 6, i));
	fr_conntab_sweep(t, gone_pid1, NULL);
	struct fr_conntab_stats st;
	fr_conntab_stats(t, &st);
	CHECK(st.conns == 25);
	CHECK(!fr_conntab_find(t, &(struct fr_connkey){1, 3, 0}));
	CHECK(fr_conntab_find(t, &(struct fr_connkey){2, 4, 1}));
	fr_conntab_free(t);
}

TEST(conntab_seeded_from_records_goes_on)
{
	/* the analyzer's use: a segment starts with a CONN_STATE and CONN_HEAD;
	 * the DATA after them continue the head */
	struct fr_conntab *src = table(100, 1 << 20, 16);
	CHECK(src);
	add(src, open_rec(1, 3, 1, FR_ROLE_CLIENT, 6, 1));
	add(src, data_rec(1, 3, 1, 0, 0, 10, 10, 2));
	static struct got g;
	g.n = 0;
	CHECK(fr_conntab_emit(src, 3, ALL, collect, &g) == 0 && g.n == 2);
	struct fr_conntab *t = table(100, 1 << 20, 16);
	CHECK(t);
	fr_conntab_add(t, &g.r[0]);
	fr_conntab_add(t, &g.r[1]);
	add(t, data_rec(1, 3, 1, 0, 10, 10, 10, 4));
	add(t, data_rec(1, 3, 1, 1, 0, 7, 7, 5));
	/* a second CONN_STATE of a known connection changes nothing */
	fr_conntab_add(t, &g.r[0]);
	static struct got g2;
	g2.n = 0;
	CHECK(fr_conntab_emit(t, 6, ALL, collect, &g2) == 0 && g2.n == 2);
	CHECK(g2.r[0].u.state.pos[0] == 20 && g2.r[0].u.state.pos[1] == 7 && g2.r[0].u.state.first_ns == 1);
	CHECK(g2.r[0].u.state.flags == (FR_STATE_OPEN | FR_STATE_HEAD));
	CHECK(g2.r[1].u.head.len[0] == 20 && g2.r[1].u.head.len[1] == 7 && g2.r[1].u.head.n_chunks == 3);
	/* a head that does not follow its state (DATA came between) is not taken */
	struct fr_conntab *t2 = table(100, 1 << 20, 16);
	fr_conntab_add(t2, &g.r[0]);
	add(t2, data_rec(1, 3, 1, 0, 10, 10, 10, 4));
	fr_conntab_add(t2, &g.r[1]);
	g2.n = 0;
	CHECK(fr_conntab_emit(t2, 6, ALL, collect, &g2) == 0 && g2.n == 1);
	fr_conntab_free(src);
	fr_conntab_free(t);
	fr_conntab_free(t2);
}

TEST(conntab_keeps_closed_heads_until_forgotten)
{
	struct fr_conntab_opts o;
	fr_conntab_opts_default(&o);
	o.head_max = 100;
	o.keep_closed = 1;
	struct fr_conntab *t = fr_conntab_new(&o);
	CHECK(t);
	add(t, open_rec(1, 3, 1, FR_ROLE_CLIENT, 6, 1));
	add(t, data_rec(1, 3, 1, 0, 0, 10, 10, 2));
	add(t, open_rec(1, 4, 2, FR_ROLE_CLIENT, 6, 3)); /* no bytes: no head */
	add(t, open_rec(1, 5, 3, FR_ROLE_CLIENT, 6, 4));
	add(t, data_rec(1, 5, 3, 0, 0, 10, 10, 5));
	fr_conntab_set_epoch(t, 7);
	add(t, close_rec(1, 3, 1, 10));
	add(t, close_rec(1, 4, 2, 11));
	struct fr_conntab_stats st;
	fr_conntab_stats(t, &st);
	CHECK(st.conns == 1 && st.closed == 1);
	CHECK(!fr_conntab_find(t, &(struct fr_connkey){1, 3, 1}));
	static struct got g;
	g.n = 0;
	/* states: the open one only; heads: the closed one's too */
	CHECK(fr_conntab_emit(t, 20, FR_EMIT_STATES, collect, &g) == 0 && g.n == 1);
	CHECK(g.r[0].u.state.conn.fd == 5);
	g.n = 0;
	CHECK(fr_conntab_emit(t, 20, FR_EMIT_HEADS, collect, &g) == 0 && g.n == 2);
	/* the open connections' heads, then the closed ones' */
	CHECK(g.r[0].kind == FR_CONN_HEAD && g.r[0].u.head.conn.fd == 5 && g.r[1].u.head.conn.fd == 3);
	fr_conntab_forget_closed(t, 7); /* closed in epoch 7: not before 7 */
	fr_conntab_stats(t, &st);
	CHECK(st.closed == 1);
	fr_conntab_forget_closed(t, 8);
	fr_conntab_stats(t, &st);
	CHECK(st.closed == 0 && st.conns == 1);
	g.n = 0;
	CHECK(fr_conntab_emit(t, 20, FR_EMIT_HEADS, collect, &g) == 0 && g.n == 1);
	/* at the connection bound, closed ones go before open ones */
	add(t, close_rec(1, 5, 3, 30));
	o.conns_max = 2;
	struct fr_conntab *t2 = fr_conntab_new(&o);
	CHECK(t2);
	add(t2, open_rec(1, 3, 1, FR_ROLE_CLIENT, 6, 1));
	add(t2, open_rec(1, 4, 2, FR_ROLE_CLIENT, 6, 2));
	add(t2, data_rec(1, 4, 2, 0, 0, 10, 10, 3));
	add(t2, close_rec(1, 4, 2, 4));
	add(t2, open_rec(1, 5, 3, FR_ROLE_CLIENT, 6, 5));
	CHECK(fr_conntab_find(t2, &(struct fr_connkey){1, 3, 1}));
	fr_conntab_stats(t2, &st);
	CHECK(st.conns == 2 && st.closed == 0 && st.evicted == 1);
	fr_conntab_free(t2);
	fr_conntab_free(t);
}
