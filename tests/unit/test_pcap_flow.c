/* test_pcap_flow.c - the TCP reassembler and flow table of import-pcap:
 * handshake roles, out of order, retransmission, overlap conflicts, gaps,
 * split invariance, mid-stream starts, wraparound, bounded memory. */
#define _GNU_SOURCE
#include "harness.h"
#include "../../analyze/pcap/pcap_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- a sink that keeps what it gets ---------------------------------------- */

struct rec {
	uint16_t kind;
	uint64_t ts;
	uint32_t fd;
	uint8_t dir, role;
	uint16_t flags;
	uint64_t pos;
	uint32_t orig_len;
	struct fr_addr local, remote, peer;
	uint64_t out, in;
	uint8_t *data;
	uint32_t len;
};

struct got {
	struct rec r[4096];
	int n;
};

static int keep(void *arg, struct fr_record *r)
{
	struct got *g = arg;
	if (g->n >= 4096)
		return -1;
	struct rec *x = &g->r[g->n++];
	memset(x, 0, sizeof(*x));
	x->kind = r->kind;
	x->ts = r->ts;
	if (r->kind == FR_DATA) {
		const struct fr_data *d = &r->u.data;
		x->fd = d->conn.fd;
		x->dir = d->dir;
		x->flags = d->flags;
		x->pos = d->stream_pos;
		x->orig_len = d->orig_len;
		x->peer = d->peer;
		x->len = d->payload.len;
		x->data = malloc(d->payload.len + 1);
		memcpy(x->data, d->payload.p, d->payload.len);
	} else if (r->kind == FR_CONN_OPEN) {
		x->fd = r->u.open.conn.fd;
		x->role = r->u.open.role;
		x->local = r->u.open.local;
		x->remote = r->u.open.remote;
	} else if (r->kind == FR_CONN_CLOSE) {
		x->fd = r->u.close.conn.fd;
		x->out = r->u.close.bytes_out;
		x->in = r->u.close.bytes_in;
	}
	return 0;
}

static int count(const struct got *g, uint16_t kind)
{
	int n = 0;
	for (int i = 0; i < g->n; i++)
		n += g->r[i].kind == kind;
	return n;
}

/* The stream of direction dir of connection fd: bytes laid out at their
 * positions into buf (holes left as '.'), returns the end position. */
static uint64_t stream(const struct got *g, uint32_t fd, int dir, uint8_t *buf, size_t cap)
{
	uint64_t end = 0;
	memset(buf, '.', cap);
	for (int i = 0; i < g->n; i++) {
		const struct rec *x = &g->r[i];
		if (x->kind != FR_DATA || x->fd != fd || x->dir != dir)
			continue;
		for (uint32_t k = 0; k < x->len && x->pos + k < cap; k++)
			buf[x->pos + k] = x->data[k];
		if (x->pos + x->orig_len > end)
			end = x->pos + x->orig_len;
	}
	return end;
}

/* ---- packets ----------------------------------------------------------------- */

#define C 0 /* client 10.0.0.1:40000 */
#define S 1 /* server 10.0.0.2:80 */

static uint64_t now_ts = 1000000000;

static struct fr_pkt pkt(int from, uint8_t flags, uint32_t seq, uint32_t ack, const void *p, uint32_t len)
{
	struct fr_pkt k;
	memset(&k, 0, sizeof(k));
	k.ts = (now_ts += 1000);
	k.family = 4;
	k.proto = 6;
	k.flags = flags;
	uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
	memcpy(k.src, from == C ? a : b, 4);
	memcpy(k.dst, from == C ? b : a, 4);
	k.sport = from == C ? 40000 : 80;
	k.dport = from == C ? 80 : 40000;
	k.seq = seq;
	k.ack = ack;
	k.payload = p;
	k.caplen = k.len = len;
	return k;
}

static struct fr_flows *flows(struct got *g)
{
	struct fr_flow_limits l;
	fr_flow_limits_default(&l);
	g->n = 0;
	return fr_flows_new(&l, keep, g);
}

#define FEED(f, ...)                                      \
	do {                                              \
		struct fr_pkt _p = pkt(__VA_ARGS__);      \
		CHECK(fr_flows_packet((f), &_p) == 0);    \
	} while (0)

static const uint32_t CI = 1000, SI = 5000; /* initial sequence numbers */

static struct got g;

TEST(pcap_flow_handshake_roles_and_close)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, S, FR_TH_SYN | FR_TH_ACK, SI, CI + 1, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 1, SI + 1, NULL, 0);
	FEED(f, C, FR_TH_ACK | FR_TH_PSH, CI + 1, SI + 1, "GET / HTTP/1.1\r\n\r\n", 18);
	FEED(f, S, FR_TH_ACK | FR_TH_PSH, SI + 1, CI + 19, "HTTP/1.1 200 OK\r\n\r\n", 19);
	FEED(f, C, FR_TH_ACK | FR_TH_FIN, CI + 19, SI + 20, NULL, 0);
	FEED(f, S, FR_TH_ACK | FR_TH_FIN, SI + 20, CI + 20, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 20, SI + 21, NULL, 0);
	CHECK_EQ(fr_flows_finish(f), 0);
	CHECK_EQ(g.n, 4);
	CHECK_EQ(g.r[0].kind, FR_CONN_OPEN);
	CHECK_EQ(g.r[0].role, FR_ROLE_CLIENT);
	CHECK_EQ(g.r[0].local.port, 40000);
	CHECK_EQ(g.r[0].remote.port, 80);
	CHECK_EQ(g.r[0].local.family, 4);
	CHECK_EQ(g.r[1].kind, FR_DATA);
	CHECK_EQ(g.r[1].dir, FR_EGRESS);
	CHECK_EQ(g.r[1].pos, 0);
	CHECK_EQ(g.r[1].len, 18);
	CHECK_EQ(g.r[2].kind, FR_DATA);
	CHECK_EQ(g.r[2].dir, FR_INGRESS);
	CHECK_EQ(g.r[2].pos, 0);
	CHECK_EQ(g.r[2].len, 19);
	CHECK_EQ(g.r[3].kind, FR_CONN_CLOSE);
	CHECK_EQ(g.r[3].out, 18);
	CHECK_EQ(g.r[3].in, 19);
	for (int i = 1; i < g.n; i++)
		CHECK_GE(g.r[i].ts, g.r[i - 1].ts);
	CHECK_EQ(fr_flows_stats(f)->ignored, 1); /* the last ACK */
	fr_flows_free(f);
}

TEST(pcap_flow_syn_ack_without_syn_gives_roles)
{
	struct fr_flows *f = flows(&g);
	FEED(f, S, FR_TH_SYN | FR_TH_ACK, SI, CI + 1, NULL, 0);
	FEED(f, C, FR_TH_ACK | FR_TH_PSH, CI + 1, SI + 1, "ping", 4);
	CHECK_EQ(fr_flows_finish(f), 0);
	CHECK_EQ(g.r[0].kind, FR_CONN_OPEN);
	CHECK_EQ(g.r[0].role, FR_ROLE_CLIENT);
	CHECK_EQ(g.r[0].local.port, 40000);
	CHECK_EQ(g.r[1].kind, FR_DATA);
	CHECK_EQ(g.r[1].dir, FR_EGRESS);
	CHECK_EQ(g.r[1].pos, 0);
	fr_flows_free(f);
}

TEST(pcap_flow_out_of_order)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 1 + 20, SI + 1, "cccccccccc", 10);
	FEED(f, C, FR_TH_ACK, CI + 1 + 10, SI + 1, "bbbbbbbbbb", 10);
	CHECK_EQ(count(&g, FR_DATA), 0); /* waiting for the first bytes */
	FEED(f, C, FR_TH_ACK, CI + 1, SI + 1, "aaaaaaaaaa", 10);
	CHECK_EQ(count(&g, FR_DATA), 3);
	uint8_t buf[64];
	CHECK_EQ(stream(&g, 1, FR_EGRESS, buf, sizeof(buf)), 30);
	CHECK_MEMEQ(buf, "aaaaaaaaaabbbbbbbbbbcccccccccc", 30);
	CHECK_EQ(fr_flows_stats(f)->gaps, 0);
	CHECK_EQ(fr_flows_stats(f)->ooo_segments, 2);
	fr_flows_free(f);
}

TEST(pcap_flow_retransmission_first_copy_wins)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 1, SI + 1, "0123456789", 10);
	FEED(f, C, FR_TH_ACK, CI + 1, SI + 1, "0123456789", 10); /* same */
	FEED(f, C, FR_TH_ACK, CI + 1 + 5, SI + 1, "56789ABCDE", 10); /* overlaps, agrees */
	CHECK_EQ(fr_flows_finish(f), 0);
	uint8_t buf[64];
	CHECK_EQ(stream(&g, 1, FR_EGRESS, buf, sizeof(buf)), 15);
	CHECK_MEMEQ(buf, "0123456789ABCDE", 15);
	CHECK_EQ(fr_flows_stats(f)->retrans_bytes, 15);
	CHECK_EQ(fr_flows_stats(f)->conflicts, 0);
	fr_flows_free(f);
}

TEST(pcap_flow_overlap_disagreement_counted)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 1, SI + 1, "0123456789", 10);
	FEED(f, C, FR_TH_ACK, CI + 1 + 5, SI + 1, "xxxxxABCDE", 10); /* against delivered bytes */
	/* and against buffered ones: ahead of a hole */
	FEED(f, C, FR_TH_ACK, CI + 1 + 30, SI + 1, "PPPPP", 5);
	FEED(f, C, FR_TH_ACK, CI + 1 + 28, SI + 1, "QQQQQQQ", 7);
	FEED(f, C, FR_TH_ACK, CI + 1 + 15, SI + 1, "rrrrrrrrrrrrr", 13);
	CHECK_EQ(fr_flows_finish(f), 0);
	uint8_t buf[64];
	CHECK_EQ(stream(&g, 1, FR_EGRESS, buf, sizeof(buf)), 35);
	CHECK_MEMEQ(buf, "0123456789ABCDErrrrrrrrrrrrrQQPPPPP", 35);
	CHECK_EQ(fr_flows_stats(f)->conflicts, 2);
	CHECK_EQ(fr_flows_stats(f)->conflict_bytes, 5 + 5);
	CHECK_EQ(fr_flows_stats(f)->gaps, 0);
	fr_flows_free(f);
}

TEST(pcap_flow_gap_acked_by_peer)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, S, FR_TH_SYN | FR_TH_ACK, SI, CI + 1, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 1, SI + 1, "aaaaaaaaaa", 10);
	/* bytes 10..19 lost by the capture */
	FEED(f, C, FR_TH_ACK, CI + 21, SI + 1, "cccccccccc", 10);
	CHECK_EQ(count(&g, FR_DATA), 1);
	FEED(f, S, FR_TH_ACK, SI + 1, CI + 31, NULL, 0); /* the server got it all */
	CHECK_EQ(count(&g, FR_DATA), 2);
	const struct rec *x = &g.r[g.n - 1];
	CHECK_EQ(x->pos, 20);
	CHECK_EQ(x->len, 10);
	CHECK_MEMEQ(x->data, "cccccccccc", 10);
	CHECK_EQ(fr_flows_stats(f)->gaps, 1);
	CHECK_EQ(fr_flows_stats(f)->gap_bytes, 10);
	/* a gap at the end of a stream: the next data comes after it */
	FEED(f, S, FR_TH_ACK, SI + 1, CI + 41, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 41, SI + 1, "eeeee", 5);
	x = &g.r[g.n - 1];
	CHECK_EQ(x->pos, 40);
	CHECK_EQ(x->len, 5);
	fr_flows_free(f);
}

TEST(pcap_flow_gap_at_finish_and_on_timeout)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 1 + 100, SI + 1, "late", 4);
	CHECK_EQ(count(&g, FR_DATA), 0);
	CHECK_EQ(fr_flows_finish(f), 0);
	CHECK_EQ(count(&g, FR_DATA), 1);
	CHECK_EQ(g.r[g.n - 1].pos, 100);
	fr_flows_free(f);

	f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, C, FR_TH_ACK, CI + 1 + 100, SI + 1, "late", 4);
	now_ts += 6ull * 1000000000; /* longer than hole_ns */
	FEED(f, S, FR_TH_ACK, SI + 1, CI + 1, NULL, 0);
	CHECK_EQ(count(&g, FR_DATA), 1);
	CHECK_EQ(g.r[g.n - 1].pos, 100);
	fr_flows_free(f);
}

/* The same stream cut into pieces of every size from 1 to 40 bytes, sent
 * in order, reversed in pairs, and with every piece sent twice: always the
 * same bytes at the same positions, no gap, no conflict. */
TEST(pcap_flow_split_invariance)
{
	static uint8_t msg[600];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)('a' + (i * 7) % 26);
	for (uint32_t k = 1; k <= 40; k++) {
		for (int mode = 0; mode < 3; mode++) {
			struct fr_flows *f = flows(&g);
			FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
			uint32_t n = (uint32_t)sizeof(msg);
			for (uint32_t off = 0; off < n; off += 2 * k) {
				uint32_t l1 = off + k <= n ? k : n - off;
				uint32_t o2 = off + l1, l2 = o2 >= n ? 0 : (o2 + k <= n ? k : n - o2);
				if (mode == 1 && l2) { /* the second piece first */
					FEED(f, C, FR_TH_ACK, CI + 1 + o2, SI + 1, msg + o2, l2);
					FEED(f, C, FR_TH_ACK, CI + 1 + off, SI + 1, msg + off, l1);
				} else {
					FEED(f, C, FR_TH_ACK, CI + 1 + off, SI + 1, msg + off, l1);
					if (mode == 2)
						FEED(f, C, FR_TH_ACK, CI + 1 + off, SI + 1, msg + off, l1);
					if (l2)
						FEED(f, C, FR_TH_ACK, CI + 1 + o2, SI + 1, msg + o2, l2);
				}
			}
			CHECK_EQ(fr_flows_finish(f), 0);
			static uint8_t buf[1024];
			CHECKF(stream(&g, 1, FR_EGRESS, buf, sizeof(buf)) == n, "k=%u mode=%d", k, mode);
			CHECKF(!memcmp(buf, msg, n), "k=%u mode=%d", k, mode);
			CHECK_EQ(fr_flows_stats(f)->gaps, 0);
			CHECK_EQ(fr_flows_stats(f)->conflicts, 0);
			for (int i = 0; i < g.n; i++)
				free(g.r[i].data);
			fr_flows_free(f);
		}
	}
}

TEST(pcap_flow_midstream_guess_by_port)
{
	struct fr_flows *f = flows(&g);
	/* the server speaks first in the capture; port 80 still makes it the server */
	FEED(f, S, FR_TH_ACK | FR_TH_PSH, SI, CI, "HTTP/1.1 200 OK\r\n\r\n", 19);
	FEED(f, C, FR_TH_ACK | FR_TH_PSH, CI, SI + 19, "GET / HTTP/1.1\r\n\r\n", 18);
	CHECK_EQ(fr_flows_finish(f), 0);
	CHECK_EQ(g.r[0].kind, FR_CONN_OPEN);
	CHECK_EQ(g.r[0].role, FR_ROLE_UNKNOWN);
	CHECK_EQ(g.r[0].local.port, 40000);
	CHECK_EQ(g.r[0].remote.port, 80);
	CHECK_EQ(g.r[1].dir, FR_INGRESS);
	CHECK_EQ(g.r[1].pos, 0);
	CHECK_EQ(g.r[2].dir, FR_EGRESS);
	CHECK_EQ(g.r[2].pos, 0);
	CHECK_EQ(fr_flows_stats(f)->midstream, 1);
	/* ports that say nothing: the first sender is the client */
	CHECK_EQ(fr_guess_server(30120, 36333), -1);
	CHECK_EQ(fr_guess_server(51000, 6379), 1);
	CHECK_EQ(fr_guess_server(6379, 51000), 0);
	CHECK_EQ(fr_guess_server(40000, 873), 1);
	fr_flows_free(f);
}

TEST(pcap_flow_sequence_wraparound)
{
	struct fr_flows *f = flows(&g);
	uint32_t isn = 0xfffffff0u;
	FEED(f, C, FR_TH_SYN, isn, 0, NULL, 0);
	FEED(f, C, FR_TH_ACK, isn + 1, 1, "0123456789", 10);
	FEED(f, C, FR_TH_ACK, isn + 21, 1, "KLMNOPQRST", 10); /* wraps past 0 */
	FEED(f, C, FR_TH_ACK, isn + 11, 1, "ABCDEFGHIJ", 10);
	CHECK_EQ(fr_flows_finish(f), 0);
	uint8_t buf[64];
	CHECK_EQ(stream(&g, 1, FR_EGRESS, buf, sizeof(buf)), 30);
	CHECK_MEMEQ(buf, "0123456789ABCDEFGHIJKLMNOPQRST", 30);
	fr_flows_free(f);
}

TEST(pcap_flow_reset_closes)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	FEED(f, S, FR_TH_RST | FR_TH_ACK, 0, CI + 1, NULL, 0);
	CHECK_EQ(count(&g, FR_CONN_OPEN), 1);
	CHECK_EQ(count(&g, FR_CONN_CLOSE), 1);
	/* a new SYN on the same ports is a new connection */
	FEED(f, C, FR_TH_SYN, CI + 7777, 0, NULL, 0);
	CHECK_EQ(count(&g, FR_CONN_OPEN), 2);
	CHECK_EQ(g.r[g.n - 1].fd, 2);
	CHECK_EQ(fr_flows_stats(f)->resets, 1);
	fr_flows_free(f);
}

TEST(pcap_flow_bounded_buffering)
{
	struct fr_flow_limits l;
	fr_flow_limits_default(&l);
	l.ooo_dir_bytes = 4096;
	l.ooo_total = 8192;
	g.n = 0;
	struct fr_flows *f = fr_flows_new(&l, keep, &g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	static uint8_t chunk[1000];
	memset(chunk, 'z', sizeof(chunk));
	/* the first 1000 bytes never come: 100 segments wait behind the hole */
	for (uint32_t i = 1; i <= 100; i++) {
		FEED(f, C, FR_TH_ACK, CI + 1 + i * 1000, SI + 1, chunk, 1000);
		CHECK_LE(fr_flows_stats(f)->ooo_now, 4096 + 1100);
	}
	CHECK_LE(fr_flows_stats(f)->ooo_peak, 4096 + 1100);
	CHECK_EQ(fr_flows_stats(f)->gaps, 1);
	CHECK_EQ(fr_flows_stats(f)->gap_bytes, 1000);
	CHECK_EQ(fr_flows_finish(f), 0);
	uint8_t buf[1];
	CHECK_EQ(stream(&g, 1, FR_EGRESS, buf, 0), 101000);
	for (int i = 0; i < g.n; i++)
		free(g.r[i].data);
	fr_flows_free(f);
}

TEST(pcap_flow_eviction_bounds_flows)
{
	struct fr_flow_limits l;
	fr_flow_limits_default(&l);
	l.max_flows = 4;
	g.n = 0;
	struct fr_flows *f = fr_flows_new(&l, keep, &g);
	for (int i = 0; i < 10; i++) {
		struct fr_pkt p = pkt(C, FR_TH_SYN, CI, 0, NULL, 0);
		p.sport = (uint16_t)(41000 + i);
		CHECK_EQ(fr_flows_packet(f, &p), 0);
		CHECK_LE(fr_flows_stats(f)->flows_now, 4);
	}
	CHECK_EQ(count(&g, FR_CONN_OPEN), 10);
	CHECK_EQ(count(&g, FR_CONN_CLOSE), 6);
	CHECK_EQ(fr_flows_stats(f)->evicted, 6);
	fr_flows_free(f);
}

TEST(pcap_flow_udp_datagrams)
{
	struct fr_flows *f = flows(&g);
	struct fr_pkt q = pkt(C, 0, 0, 0, "query", 5);
	q.proto = 17;
	q.dport = 53;
	struct fr_pkt a = pkt(S, 0, 0, 0, "answer", 6);
	a.proto = 17;
	a.sport = 53;
	CHECK_EQ(fr_flows_packet(f, &a), 0); /* the answer first: port 53 is the server still */
	CHECK_EQ(fr_flows_packet(f, &q), 0);
	CHECK_EQ(g.n, 3);
	CHECK_EQ(g.r[0].kind, FR_CONN_OPEN);
	CHECK_EQ(g.r[0].remote.port, 53);
	CHECK_EQ(g.r[0].remote.proto, 17);
	CHECK_EQ(g.r[1].dir, FR_INGRESS);
	CHECK(g.r[1].flags & FR_DATA_NO_POS);
	CHECK_EQ(g.r[1].peer.port, 53);
	CHECK_EQ(g.r[2].dir, FR_EGRESS);
	CHECK_EQ(g.r[2].len, 5);
	CHECK_EQ(g.r[2].peer.port, 53);
	fr_flows_free(f);
}

TEST(pcap_flow_truncated_segments_keep_positions)
{
	struct fr_flows *f = flows(&g);
	FEED(f, C, FR_TH_SYN, CI, 0, NULL, 0);
	struct fr_pkt p = pkt(C, FR_TH_ACK, CI + 1, SI + 1, "0123", 4);
	p.len = 100; /* 96 bytes beyond the snap length */
	CHECK_EQ(fr_flows_packet(f, &p), 0);
	FEED(f, C, FR_TH_ACK, CI + 101, SI + 1, "next", 4);
	CHECK_EQ(count(&g, FR_DATA), 2);
	CHECK_EQ(g.r[1].orig_len, 100);
	CHECK_EQ(g.r[1].len, 4);
	CHECK(g.r[1].flags & FR_DATA_TRUNCATED);
	CHECK_EQ(g.r[2].pos, 100);
	CHECK_EQ(g.r[2].len, 4);
	CHECK_EQ(fr_flows_stats(f)->gaps, 0);
	fr_flows_free(f);
}
