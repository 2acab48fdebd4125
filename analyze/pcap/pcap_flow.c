/* pcap_flow.c - flows of captured packets to segment records: TCP
 * reassembly per direction, UDP datagrams, bounded memory.
 *
 * Reference: RFC 9293 (TCP: sequence space, SYN/FIN/RST).
 *
 * The record model.  Each TCP or UDP flow becomes ONE connection seen from
 * its client: CONN_OPEN local = client, remote = server, EGRESS = bytes the
 * client sent (requests), INGRESS = bytes it received (responses).  This is
 * what the eBPF recorder writes for the client's socket; the server's socket
 * is not duplicated, so an analyzer counts each request once.  The key is
 * (pid 0, fd = a per-import counter from 1, gen 1).
 *
 * Roles.  A SYN (or a SYN-ACK whose SYN was missed) gives the roles: role
 * CLIENT.  A connection first seen at its data (open before the capture)
 * gets role UNKNOWN and is oriented by a guess: the endpoint on a well-known
 * service port is the server, else the one on a port below 1024, else the
 * sender of the first packet is the client.  UDP flows are guessed the same
 * way (role UNKNOWN).
 *
 * Reassembly.  stream_pos counts bytes from the first byte after the SYN
 * (or from the first byte seen, mid-stream).  A segment at the expected
 * position is delivered at once; one ahead of a hole is buffered.  When
 * segments overlap, the first copy wins; overlapping bytes that differ are
 * counted as conflicts.  A hole is given up as a gap (a stream_pos jump) when
 * the peer acknowledges data beyond it (the capture lost it), when it is
 * older than hole_ns, when the buffers are full, and at close or end of
 * input.  Each DATA record's ts is the capture time at which its bytes became
 * deliverable in order (when a socket read would return them), never
 * decreasing.
 */
#include "pcap_internal.h"

#include <stdlib.h>
#include <string.h>

#define HIST 1024u /* delivered bytes kept per direction to check overlaps */

struct seg {
	struct seg *next;
	uint64_t off;
	uint32_t len, cap; /* stream bytes covered, bytes captured (cap <= len) */
	uint8_t data[];
};

struct tdir {
	uint8_t init, fin, done;
	uint32_t base;     /* sequence number of stream offset 0 */
	uint64_t next;     /* next stream offset expected */
	uint64_t fin_pos;
	struct seg *ooo;   /* sorted, non-overlapping, all at or after next */
	uint32_t nooo;
	uint64_t ooo_bytes;
	uint64_t hole_ts;
	uint8_t *hist;     /* ring: byte at offset x in hist[x % HIST] */
	uint64_t hist_from; /* [hist_from, next) is in the ring */
	uint64_t bytes, calls;
};

struct flow {
	struct flow *hnext, *lprev, *lnext;
	uint8_t family, proto;
	uint8_t addr[2][16];
	uint16_t port[2];
	uint8_t client; /* endpoint index of the client */
	uint8_t role;
	uint8_t closed;
	uint8_t syn_seen;
	uint32_t syn_isn;
	uint32_t fd;
	uint32_t hash;
	uint64_t last_ts;
	struct tdir d[2]; /* by sending endpoint */
};

struct fr_flows {
	struct fr_flow_limits lim;
	fr_emit_fn emit;
	void *arg;
	int err;
	uint64_t now;
	uint32_t next_fd;
	struct flow **bucket;
	uint32_t nbucket; /* power of two */
	struct flow *lru_head, *lru_tail; /* least recently used first */
	struct fr_flow_stats st;
};

void fr_flow_limits_default(struct fr_flow_limits *l)
{
	l->max_flows = 65536;
	l->ooo_dir_bytes = 1u << 20;
	l->ooo_dir_segs = 2048;
	l->ooo_total = 64u << 20;
	l->hole_ns = 5ull * 1000000000;
	l->tcp_idle_ns = 600ull * 1000000000;
	l->udp_idle_ns = 60ull * 1000000000;
}

/* ---- roles ------------------------------------------------------------------- */

static int well_known(uint16_t port)
{
	static const uint16_t ports[] = {
		21, 22, 23, 25, 53, 80, 110, 143, 443, 465, 587, 853, 993, 995, 1433, 1521,
		2181, 2379, 3000, 3306, 4222, 5000, 5432, 5672, 6379, 6443, 8000, 8080, 8081,
		8443, 8888, 9000, 9042, 9090, 9092, 9093, 9200, 9300, 10250, 11211, 15672,
		26379, 27017, 50051,
	};
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

int fr_guess_server(uint16_t a, uint16_t b)
{
	int ka = well_known(a), kb = well_known(b);
	if (ka != kb)
		return kb;
	if (!ka && (a < 1024) != (b < 1024))
		return b < 1024;
	return -1;
}

/* ---- table ------------------------------------------------------------------- */

static void to_addr(const struct flow *fl, int e, struct fr_addr *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memset(a, 0, sizeof(*a));
	a->proto = fl->proto;
	a->port = fl->port[e];
	if (fl->family == 6 && memcmp(fl->addr[e], mapped, 12)) {
		a->family = 6;
		memcpy(a->addr, fl->addr[e], 16);
	} else {
		a->family = 4;
		memcpy(a->addr, fl->family == 6 ? fl->addr[e] + 12 : fl->addr[e], 4);
	}
}

static uint32_t hash_key(uint8_t fam, uint8_t proto, const uint8_t a[2][16], const uint16_t p[2])
{
	uint32_t h = 2166136261u;
	size_t al = fam == 4 ? 4 : 16;
	for (int e = 0; e < 2; e++) {
		for (size_t i = 0; i < al; i++)
			h = (h ^ a[e][i]) * 16777619u;
		h = (h ^ (p[e] & 0xff)) * 16777619u;
		h = (h ^ (p[e] >> 8)) * 16777619u;
	}
	h = (h ^ proto) * 16777619u;
	return h ^ (h >> 15);
}

static void lru_unlink(struct fr_flows *f, struct flow *fl)
{
	if (fl->lprev)
		fl->lprev->lnext = fl->lnext;
	else
		f->lru_head = fl->lnext;
	if (fl->lnext)
		fl->lnext->lprev = fl->lprev;
	else
		f->lru_tail = fl->lprev;
	fl->lprev = fl->lnext = NULL;
}

static void lru_push(struct fr_flows *f, struct flow *fl)
{
	fl->lprev = f->lru_tail;
	fl->lnext = NULL;
	if (f->lru_tail)
		f->lru_tail->lnext = fl;
	else
		f->lru_head = fl;
	f->lru_tail = fl;
}

static int emit(struct fr_flows *f, struct fr_record *r)
{
	if (f->err)
		return f->err;
	r->ts = f->now;
	r->seq = 0;
	f->err = f->emit(f->arg, r);
	return f->err;
}

/* ---- one direction -------------------------------------------------------- */

static void dir_free(struct fr_flows *f, struct tdir *d)
{
	for (struct seg *s = d->ooo, *n; s; s = n) {
		n = s->next;
		free(s);
	}
	f->st.ooo_now -= d->ooo_bytes;
	d->ooo = NULL;
	d->nooo = 0;
	d->ooo_bytes = 0;
	free(d->hist);
	d->hist = NULL;
}

/* Compares bytes [off, off+cap) of a new copy with the delivered ones still
 * in the ring. */
static void hist_check(struct fr_flows *f, struct tdir *d, uint64_t off, const uint8_t *p, uint32_t cap)
{
	if (!d->hist)
		return;
	uint64_t a = off > d->hist_from ? off : d->hist_from;
	uint64_t b = off + cap < d->next ? off + cap : d->next;
	uint64_t diff = 0;
	for (uint64_t x = a; x < b; x++)
		if (d->hist[x % HIST] != p[x - off])
			diff++;
	if (diff) {
		f->st.conflicts++;
		f->st.conflict_bytes += diff;
	}
}

/* A DATA record of endpoint e's bytes on the flow: its fields past the
 * direction (position, lengths, payload) are the caller's to fill. */
static struct fr_data *data_rec(struct fr_record *r, const struct flow *fl, int e)
{
	memset(r, 0, sizeof(*r));
	r->kind = FR_DATA;
	struct fr_data *dd = &r->u.data;
	dd->conn = (struct fr_connkey){0, fl->fd, 1};
	dd->dir = e == fl->client ? FR_EGRESS : FR_INGRESS;
	dd->syscall = FR_SYS_PCAP;
	return dd;
}

static int deliver(struct fr_flows *f, struct flow *fl, int e, uint64_t off, const uint8_t *p,
		   uint32_t cap, uint32_t len)
{
	struct tdir *d = &fl->d[e];
	if (!len)
		return 0;
	if (!d->hist && (d->hist = malloc(HIST)))
		d->hist_from = off;
	if (d->hist) {
		uint32_t from = cap > HIST ? cap - HIST : 0;
		for (uint32_t i = from; i < cap; i++)
			d->hist[(off + i) % HIST] = p[i];
		if (cap < len)
			d->hist_from = off + len; /* the uncaptured tail is unknown */
		else if (off + len - d->hist_from > HIST)
			d->hist_from = off + len - HIST;
	}
	d->next = off + len;
	d->bytes += len;
	uint32_t done = 0;
	do { /* records hold at most FR_MAX_SNAPLEN payload bytes */
		uint32_t n = cap - done > FR_MAX_SNAPLEN ? FR_MAX_SNAPLEN : cap - done;
		uint32_t olen = n;
		if (done + n >= cap)
			olen = len - done; /* the last piece carries the uncaptured tail */
		struct fr_record r;
		struct fr_data *dd = data_rec(&r, fl, e);
		dd->stream_pos = off + done;
		dd->orig_len = olen;
		dd->payload = (struct fr_span){p + done, n};
		if (n < olen)
			dd->flags |= FR_DATA_TRUNCATED;
		d->calls++;
		f->st.data_records++;
		f->st.data_bytes += n;
		if (emit(f, &r))
			return f->err;
		done += n;
	} while (done < cap);
	if (d->fin && d->next >= d->fin_pos)
		d->done = 1;
	return 0;
}

static void gap_to(struct fr_flows *f, struct tdir *d, uint64_t to)
{
	if (to <= d->next)
		return;
	f->st.gaps++;
	f->st.gap_bytes += to - d->next;
	d->next = to;
	d->hist_from = to;
	if (d->fin && d->next >= d->fin_pos)
		d->done = 1;
}

/* Delivers buffered segments that are now in order. */
static int drain(struct fr_flows *f, struct flow *fl, int e)
{
	struct tdir *d = &fl->d[e];
	while (d->ooo && d->ooo->off <= d->next) {
		struct seg *s = d->ooo;
		d->ooo = s->next;
		d->nooo--;
		d->ooo_bytes -= sizeof(*s) + s->cap;
		f->st.ooo_now -= sizeof(*s) + s->cap;
		int rc = 0;
		uint64_t end = s->off + s->len;
		if (end > d->next) {
			uint32_t k = (uint32_t)(d->next - s->off);
			uint32_t cap = s->cap > k ? s->cap - k : 0;
			rc = deliver(f, fl, e, d->next, s->data + (s->cap > k ? k : s->cap), cap,
				     (uint32_t)(end - d->next));
		}
		free(s);
		if (rc)
			return rc;
	}
	return 0;
}

/* Gives up the holes before stream offset limit (UINT64_MAX: all). */
static int give_up(struct fr_flows *f, struct flow *fl, int e, uint64_t limit)
{
	struct tdir *d = &fl->d[e];
	while (d->next < limit) {
		if (d->ooo && d->ooo->off <= d->next) {
			if (drain(f, fl, e))
				return f->err;
		} else if (d->ooo && d->ooo->off < limit) {
			gap_to(f, d, d->ooo->off);
		} else {
			if (limit != UINT64_MAX)
				gap_to(f, d, limit);
			break;
		}
	}
	if (drain(f, fl, e))
		return f->err;
	if (d->ooo)
		d->hole_ts = f->now;
	return 0;
}

static struct seg *seg_new(uint64_t off, const uint8_t *p, uint32_t cap, uint32_t len)
{
	struct seg *s = malloc(sizeof(*s) + cap);
	if (!s)
		return NULL;
	s->next = NULL;
	s->off = off;
	s->len = len;
	s->cap = cap;
	if (cap)
		memcpy(s->data, p, cap);
	return s;
}

/* Buffers [off, off+len) (cap bytes captured) where the list has no copy
 * yet; compares the parts it has. */
static void ooo_insert(struct fr_flows *f, struct tdir *d, uint64_t off, const uint8_t *p,
		       uint32_t cap, uint32_t len)
{
	uint64_t cur = off, end = off + len;
	struct seg **link = &d->ooo;
	uint64_t diff = 0;
	while (cur < end) {
		struct seg *s = *link;
		uint64_t piece_end = end;
		if (s && s->off <= cur) {
			uint64_t send = s->off + s->len;
			if (send <= cur) {
				link = &s->next;
				continue;
			}
			/* overlap [cur, min(end, send)): compare captured bytes */
			uint64_t ov_end = send < end ? send : end;
			for (uint64_t x = cur; x < ov_end; x++)
				if (x - off < cap && x - s->off < s->cap && p[x - off] != s->data[x - s->off])
					diff++;
			f->st.retrans_bytes += ov_end - cur;
			cur = ov_end;
			link = &s->next;
			continue;
		}
		if (s && s->off < end)
			piece_end = s->off;
		uint32_t k = (uint32_t)(cur - off);
		uint32_t pcap = cap > k ? cap - k : 0;
		uint32_t plen = (uint32_t)(piece_end - cur);
		if (pcap > plen)
			pcap = plen;
		struct seg *n = seg_new(cur, p + (cap > k ? k : cap), pcap, plen);
		if (!n)
			return; /* out of memory: the hole will be a gap */
		n->next = s;
		*link = n;
		link = &n->next;
		d->nooo++;
		d->ooo_bytes += sizeof(*n) + pcap;
		f->st.ooo_now += sizeof(*n) + pcap;
		cur = piece_end;
	}
	if (diff) {
		f->st.conflicts++;
		f->st.conflict_bytes += diff;
	}
	if (f->st.ooo_now > f->st.ooo_peak)
		f->st.ooo_peak = f->st.ooo_now;
}

/* Drops the first k (< len) bytes of a segment of len bytes, cap of them
 * captured at p. */
static void drop_front(const uint8_t **p, uint32_t *cap, uint32_t *len, uint64_t k)
{
	*p += *cap > k ? k : *cap;
	*cap = *cap > k ? *cap - (uint32_t)k : 0;
	*len -= (uint32_t)k;
}

/* Segment [off, off+len) of direction e (off may be below next). */
static int tcp_segment(struct fr_flows *f, struct flow *fl, int e, int64_t soff, const uint8_t *p,
		       uint32_t cap, uint32_t len)
{
	struct tdir *d = &fl->d[e];
	if (soff < 0) { /* bytes before a mid-stream start */
		uint64_t k = (uint64_t)-soff;
		if (k >= len) {
			f->st.before_start += len;
			return 0;
		}
		f->st.before_start += k;
		drop_front(&p, &cap, &len, k);
		soff = 0;
	}
	uint64_t off = (uint64_t)soff;
	if (d->fin && off + len > d->fin_pos) { /* nothing after the FIN */
		if (off >= d->fin_pos)
			return 0;
		len = (uint32_t)(d->fin_pos - off);
		if (cap > len)
			cap = len;
	}
	if (off < d->next) { /* retransmission or overlap with delivered bytes */
		uint64_t k = d->next - off;
		hist_check(f, d, off, p, cap < k ? cap : (uint32_t)k);
		if (k >= len) {
			f->st.retrans_bytes += len;
			return 0;
		}
		f->st.retrans_bytes += k;
		drop_front(&p, &cap, &len, k);
		off = d->next;
	}
	if (off == d->next && !d->ooo)
		return deliver(f, fl, e, off, p, cap, len);
	if (off > d->next)
		f->st.ooo_segments++;
	if (!d->ooo)
		d->hole_ts = f->now;
	ooo_insert(f, d, off, p, cap, len);
	if (drain(f, fl, e))
		return f->err;
	while (d->ooo && (d->ooo_bytes > f->lim.ooo_dir_bytes || d->nooo > f->lim.ooo_dir_segs))
		if (give_up(f, fl, e, d->ooo->off + 1))
			return f->err;
	return 0;
}

/* ---- connections ------------------------------------------------------------ */

static int conn_close(struct fr_flows *f, struct flow *fl)
{
	if (fl->closed)
		return 0;
	for (int e = 0; e < 2; e++)
		if (give_up(f, fl, e, UINT64_MAX))
			return f->err;
	fl->closed = 1;
	f->st.closes++;
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_CLOSE;
	struct fr_conn_close *c = &r.u.close;
	c->conn = (struct fr_connkey){0, fl->fd, 1};
	c->bytes_out = fl->d[fl->client].bytes;
	c->bytes_in = fl->d[!fl->client].bytes;
	c->calls_out = fl->d[fl->client].calls;
	c->calls_in = fl->d[!fl->client].calls;
	return emit(f, &r);
}

static void flow_remove(struct fr_flows *f, struct flow *fl)
{
	struct flow **pp = &f->bucket[fl->hash & (f->nbucket - 1)];
	while (*pp && *pp != fl)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = fl->hnext;
	lru_unlink(f, fl);
	dir_free(f, &fl->d[0]);
	dir_free(f, &fl->d[1]);
	free(fl);
	f->st.flows_now--;
}

static int evict(struct fr_flows *f, struct flow *fl)
{
	if (!fl->closed)
		f->st.evicted++;
	int rc = conn_close(f, fl);
	flow_remove(f, fl);
	return rc;
}

static struct flow *flow_find(struct fr_flows *f, const struct fr_pkt *p, int *sender, uint32_t *hash)
{
	size_t al = p->family == 4 ? 4 : 16;
	int c = memcmp(p->src, p->dst, al);
	int e = c < 0 || (c == 0 && p->sport <= p->dport) ? 0 : 1; /* src is endpoint e */
	uint8_t a[2][16];
	uint16_t pt[2];
	memset(a, 0, sizeof(a));
	memcpy(a[e], p->src, al);
	memcpy(a[!e], p->dst, al);
	pt[e] = p->sport;
	pt[!e] = p->dport;
	*sender = e;
	*hash = hash_key(p->family, p->proto, a, pt);
	for (struct flow *fl = f->bucket[*hash & (f->nbucket - 1)]; fl; fl = fl->hnext)
		if (fl->hash == *hash && fl->family == p->family && fl->proto == p->proto &&
		    fl->port[0] == pt[0] && fl->port[1] == pt[1] && !memcmp(fl->addr, a, sizeof(a)))
			return fl;
	return NULL;
}

static struct flow *flow_new(struct fr_flows *f, const struct fr_pkt *p, int sender, uint32_t hash,
			     int client, uint8_t role)
{
	while (f->st.flows_now >= f->lim.max_flows && f->lru_head)
		if (evict(f, f->lru_head))
			return NULL;
	struct flow *fl = calloc(1, sizeof(*fl));
	if (!fl) {
		f->err = -12;
		return NULL;
	}
	size_t al = p->family == 4 ? 4 : 16;
	fl->family = p->family;
	fl->proto = p->proto;
	memcpy(fl->addr[sender], p->src, al);
	memcpy(fl->addr[!sender], p->dst, al);
	fl->port[sender] = p->sport;
	fl->port[!sender] = p->dport;
	fl->client = (uint8_t)client;
	fl->role = role;
	fl->hash = hash;
	fl->fd = ++f->next_fd;
	fl->last_ts = f->now;
	fl->hnext = f->bucket[hash & (f->nbucket - 1)];
	f->bucket[hash & (f->nbucket - 1)] = fl;
	lru_push(f, fl);
	if (++f->st.flows_now > f->st.flows_peak)
		f->st.flows_peak = f->st.flows_now;
	if (p->proto == 6)
		f->st.tcp_conns++;
	else
		f->st.udp_conns++;
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.u.open.conn = (struct fr_connkey){0, fl->fd, 1};
	r.u.open.role = role;
	to_addr(fl, client, &r.u.open.local);
	to_addr(fl, !client, &r.u.open.remote);
	if (emit(f, &r))
		return NULL;
	return fl;
}

/* The client of a flow seen without its handshake (see the top comment). */
static int guess_client(const struct fr_pkt *p, int sender)
{
	int s = fr_guess_server(p->sport, p->dport); /* 1: dport is the server */
	if (s < 0)
		return sender;
	return s ? sender : !sender;
}

/* Stream offset of sequence number seq in direction d (wraps handled). */
static int64_t seq_off(const struct tdir *d, uint32_t seq)
{
	uint32_t rel = seq - d->base;
	int32_t diff = (int32_t)(rel - (uint32_t)d->next);
	return (int64_t)d->next + diff;
}

static int tcp_packet(struct fr_flows *f, const struct fr_pkt *p)
{
	int e;
	uint32_t hash;
	struct flow *fl = flow_find(f, p, &e, &hash);
	uint8_t fl_syn = p->flags & (FR_TH_SYN | FR_TH_ACK);
	if (fl_syn == FR_TH_SYN) { /* a client's SYN */
		if (fl && !fl->closed && fl->syn_seen && fl->client == e && fl->syn_isn == p->seq) {
			fl->last_ts = f->now; /* retransmitted SYN */
			return 0;
		}
		if (fl && evict(f, fl)) /* a new connection on the same ports */
			return f->err;
		fl = flow_new(f, p, e, hash, e, FR_ROLE_CLIENT);
		if (!fl)
			return f->err;
		fl->syn_seen = 1;
		fl->syn_isn = p->seq;
		fl->d[e].init = 1;
		fl->d[e].base = p->seq + 1;
		f->st.handshakes++;
		return 0;
	}
	if (fl_syn == (FR_TH_SYN | FR_TH_ACK)) {
		if (fl && !fl->closed) {
			if (!fl->d[e].init && e != fl->client) {
				fl->d[e].init = 1;
				fl->d[e].base = p->seq + 1;
			}
			lru_unlink(f, fl);
			lru_push(f, fl);
			fl->last_ts = f->now;
			return 0;
		}
		if (fl && evict(f, fl))
			return f->err;
		/* the SYN was not captured: the SYN-ACK still gives the roles */
		fl = flow_new(f, p, e, hash, !e, FR_ROLE_CLIENT);
		if (!fl)
			return f->err;
		fl->d[e].init = 1;
		fl->d[e].base = p->seq + 1;
		fl->d[!e].init = 1;
		fl->d[!e].base = p->ack;
		f->st.handshakes++;
		return 0;
	}
	if (!fl || fl->closed) {
		if (!p->len || (p->flags & FR_TH_RST) || fl) {
			f->st.ignored++; /* stray ACK/FIN/RST, or data after the close */
			return 0;
		}
		fl = flow_new(f, p, e, hash, guess_client(p, e), FR_ROLE_UNKNOWN);
		if (!fl)
			return f->err;
		f->st.midstream++;
	}
	lru_unlink(f, fl);
	lru_push(f, fl);
	fl->last_ts = f->now;
	if (p->flags & FR_TH_RST) {
		f->st.resets++;
		return conn_close(f, fl);
	}
	struct tdir *d = &fl->d[e];
	if (!d->init && (p->len || (p->flags & FR_TH_FIN))) {
		d->init = 1;
		d->base = p->seq; /* mid-stream: the first byte seen is offset 0 */
	}
	if (p->len && tcp_segment(f, fl, e, seq_off(d, p->seq), p->payload, p->caplen, p->len))
		return f->err;
	if ((p->flags & FR_TH_FIN) && !d->fin) {
		int64_t fo = seq_off(d, p->seq) + p->len;
		d->fin = 1;
		d->fin_pos = fo > 0 ? (uint64_t)fo : 0;
		if (d->fin_pos < d->next)
			d->fin_pos = d->next;
		if (d->next >= d->fin_pos)
			d->done = 1;
		/* everything before the FIN was sent: wait no longer than for an ACK */
	}
	struct tdir *o = &fl->d[!e];
	if ((p->flags & FR_TH_ACK) && o->init) {
		int64_t ao = seq_off(o, p->ack);
		if (o->fin && ao > (int64_t)o->fin_pos)
			ao = (int64_t)o->fin_pos;
		/* the peer received bytes up to ack: a hole below it was lost by
		 * the capture, not by the network */
		if (ao > (int64_t)o->next && ao - (int64_t)o->next < (1 << 30) &&
		    give_up(f, fl, !e, (uint64_t)ao))
			return f->err;
	}
	for (int k = 0; k < 2; k++) {
		struct tdir *x = &fl->d[k];
		if (x->ooo && f->now - x->hole_ts > f->lim.hole_ns && give_up(f, fl, k, x->ooo->off + 1))
			return f->err;
	}
	if (fl->d[0].done && fl->d[1].done)
		return conn_close(f, fl);
	return 0;
}

static int udp_packet(struct fr_flows *f, const struct fr_pkt *p)
{
	int e;
	uint32_t hash;
	struct flow *fl = flow_find(f, p, &e, &hash);
	if (!fl) {
		fl = flow_new(f, p, e, hash, guess_client(p, e), FR_ROLE_UNKNOWN);
		if (!fl)
			return f->err;
	}
	lru_unlink(f, fl);
	lru_push(f, fl);
	fl->last_ts = f->now;
	struct fr_record r;
	struct fr_data *dd = data_rec(&r, fl, e);
	dd->flags = FR_DATA_NO_POS;
	uint32_t cap = p->caplen > FR_MAX_SNAPLEN ? FR_MAX_SNAPLEN : p->caplen;
	if (cap < p->len)
		dd->flags |= FR_DATA_TRUNCATED;
	dd->orig_len = p->len;
	to_addr(fl, !fl->client, &dd->peer);
	dd->payload = (struct fr_span){p->payload, cap};
	fl->d[e].bytes += p->len;
	fl->d[e].calls++;
	f->st.data_records++;
	f->st.data_bytes += cap;
	return emit(f, &r);
}

/* ---- public -------------------------------------------------------------------- */

struct fr_flows *fr_flows_new(const struct fr_flow_limits *l, fr_emit_fn fn, void *arg)
{
	struct fr_flows *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->lim = *l;
	if (!f->lim.max_flows)
		f->lim.max_flows = 1;
	f->emit = fn;
	f->arg = arg;
	f->nbucket = 1024;
	while (f->nbucket < f->lim.max_flows && f->nbucket < (1u << 24))
		f->nbucket *= 2;
	f->bucket = calloc(f->nbucket, sizeof(*f->bucket));
	if (!f->bucket) {
		free(f);
		return NULL;
	}
	return f;
}

int fr_flows_packet(struct fr_flows *f, const struct fr_pkt *p)
{
	if (f->err)
		return f->err;
	if (p->ts > f->now)
		f->now = p->ts; /* record times never go back */
	/* idle flows first (least recently used at the head) */
	while (f->lru_head) {
		struct flow *h = f->lru_head;
		uint64_t idle = h->proto == 6 && !h->closed ? f->lim.tcp_idle_ns : f->lim.udp_idle_ns;
		if (f->now - h->last_ts <= idle)
			break;
		if (evict(f, h))
			return f->err;
	}
	int rc = p->proto == 6 ? tcp_packet(f, p) : p->proto == 17 ? udp_packet(f, p) : 0;
	if (rc)
		return rc;
	/* all buffers together: give up the holes of the least recent flows */
	for (struct flow *fl = f->lru_head; fl && f->st.ooo_now > f->lim.ooo_total; fl = fl->lnext)
		for (int e = 0; e < 2; e++)
			if (fl->d[e].ooo && give_up(f, fl, e, UINT64_MAX))
				return f->err;
	return f->err;
}

int fr_flows_finish(struct fr_flows *f)
{
	for (struct flow *fl = f->lru_head; fl && !f->err; fl = fl->lnext)
		for (int e = 0; e < 2; e++)
			if (give_up(f, fl, e, UINT64_MAX))
				break;
	return f->err;
}

const struct fr_flow_stats *fr_flows_stats(const struct fr_flows *f) { return &f->st; }

void fr_flows_free(struct fr_flows *f)
{
	if (!f)
		return;
	while (f->lru_head)
		flow_remove(f, f->lru_head);
	free(f->bucket);
	free(f);
}
