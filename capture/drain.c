/* drain.c - events from the kernel's ring buffer become records: sizes
 * checked before any field is trusted, payloads redacted (a scanner state
 * per direction of each connection), per-CPU loss counters turned into
 * LOSS records; the table of open connections those records build, written
 * as CONN_STATE records at the start of every segment, with the kept heads
 * (CONN_HEAD) at the start of the segment after a snapshot trigger. */
#define _GNU_SOURCE
#include "bpf/flightrec.skel.h"
#include "recorder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

/* The kernel's syscall ids and data flags are the segment format's, so
 * they are copied as they are. */
#define SAME(ev, fmt) ((int)(ev) == (int)(fmt))
_Static_assert(SAME(FR_EV_SYS_READ, FR_SYS_READ) && SAME(FR_EV_SYS_WRITE, FR_SYS_WRITE) &&
		       SAME(FR_EV_SYS_READV, FR_SYS_READV) && SAME(FR_EV_SYS_WRITEV, FR_SYS_WRITEV) &&
		       SAME(FR_EV_SYS_SENDTO, FR_SYS_SENDTO) && SAME(FR_EV_SYS_RECVFROM, FR_SYS_RECVFROM) &&
		       SAME(FR_EV_SYS_SENDMSG, FR_SYS_SENDMSG) && SAME(FR_EV_SYS_RECVMSG, FR_SYS_RECVMSG) &&
		       SAME(FR_EV_SYS_SENDMMSG, FR_SYS_SENDMMSG) &&
		       SAME(FR_EV_SYS_RECVMMSG, FR_SYS_RECVMMSG) && SAME(FR_EV_SYS_SENDFILE, FR_SYS_SENDFILE),
	       "enum fr_ev_syscall and enum fr_syscall differ");
_Static_assert(FR_EV_TRUNCATED == FR_DATA_TRUNCATED && FR_EV_NO_POS == FR_DATA_NO_POS &&
		       FR_EV_TLS == FR_DATA_TLS,
	       "the DATA flags of the kernel and of the segment format differ");

/* ---- the connection table -------------------------------------------------
 * One table (formats/conntab.h) serves the redaction scanners (a state per
 * direction, in each connection's conn_user), the CONN_STATE records of
 * every segment's start and the CONN_HEAD records of a snapshot's.  It is
 * fed what is written: heads hold the bytes after redaction.
 *
 * Why heads go into snapshots only: written at the start of every segment,
 * on the busy ring of issue 12's reproduction (1M ring of 128K segments,
 * 300 KB downloads, a Redis connection) they took 47% of the ring's bytes,
 * as every short segment repeated ~60 KB of heads; the CONN_STATE records
 * take 0.6%.  Once per trigger, the heads of the connections open then
 * (and of those closed since the oldest segment of the ring began) cost
 * what they weigh, once (there: 6 heads, 105 KB before compression).  The
 * analyzer collects heads from the starts of all its segments before it
 * replays any connection. */

int conns_init(struct recorder *r)
{
	struct fr_conntab_opts o;
	fr_conntab_opts_default(&o);
	o.head_max = (uint32_t)r->o->head_size;
	o.heads_max = r->o->heads_total;
	o.user_size = sizeof(struct conn_user);
	o.keep_closed = 1; /* a connection closed before a trigger may have bytes in the snapshot */
	r->conns = fr_conntab_new(&o);
	return r->conns ? 0 : -1;
}

/* The scanner state of d's direction, told of the bytes it missed since
 * the event before (lost events); fresh (in *tmp) for a datagram. */
static struct fr_redact_state *redact_state(struct fr_conn *c, const struct fr_data *d,
					    const uint8_t *p, uint32_t n, struct fr_redact_state *tmp)
{
	if ((d->flags & FR_DATA_NO_POS) || !c) {
		memset(tmp, 0, sizeof(*tmp));
		return tmp;
	}
	struct conn_user *u = c->user;
	struct fr_redact_state *st = &u->rs[d->dir];
	if (!u->started[d->dir]) {
		u->started[d->dir] = 1;
		u->next[d->dir] = d->stream_pos;
		if (d->stream_pos == 0)
			fr_redact_stream_start(st, p, n);
	}
	if (d->stream_pos != u->next[d->dir])
		fr_redact_gap(st, d->stream_pos > u->next[d->dir] ? d->stream_pos - u->next[d->dir] : UINT64_MAX);
	u->next[d->dir] = d->stream_pos + d->orig_len;
	return st;
}

static int emit_one(void *arg, struct fr_record *rec)
{
	struct recorder *r = arg;
	return add(r, rec) ? -1 : 0;
}

void emit_conns(struct recorder *r, int heads)
{
	fr_conntab_emit(r->conns, r->last_ts ? r->last_ts : mono_ns(),
			FR_EMIT_STATES | (heads ? FR_EMIT_HEADS : 0), emit_one, r);
}

struct sweep_arg {
	uint64_t now;
};

static int conn_gone(void *arg, const struct fr_conn *c)
{
	const struct sweep_arg *a = arg;
	return a->now - c->st.last_ns > 60000000000ull && kill((pid_t)c->st.conn.pid, 0) < 0 &&
	       errno == ESRCH;
}

void sweep_conns(struct recorder *r, uint64_t now)
{
	if (now - r->last_sweep < 30000000000ull)
		return;
	r->last_sweep = now;
	struct sweep_arg a = {now};
	fr_conntab_sweep(r->conns, conn_gone, &a);
}

static void conv_addr(struct fr_addr *a, const struct fr_ev_addr *e)
{
	a->family = e->family == 4 || e->family == 6 ? e->family : 0;
	a->proto = e->proto;
	a->port = e->port;
	memcpy(a->addr, e->addr, 16);
	if (a->family == 4)
		memset(a->addr + 4, 0, 12);
}

/* The CONN_TLS record of c (its library: lib, the event's field), before
 * its first TLS DATA record of each segment: a reader of one segment knows
 * the library too.  0, or -1 when the writer failed. */
static int tls_note(struct recorder *r, struct fr_conn *c, const struct fr_data *d, uint32_t lib,
		    uint64_t ts)
{
	struct conn_user *u = c->user;
	if (u->tls_seg == r->seg_index + 1)
		return 0;
	u->tls_seg = r->seg_index + 1;
	struct fr_record t;
	t.kind = FR_CONN_TLS;
	t.flags = 0;
	t.seq = 0;
	t.ts = ts;
	t.u.tls = (struct fr_conn_tls){d->conn, S(tls_library(lib))};
	add(r, &t);
	return r->failed ? -1 : 0;
}

/* The handlers of each kind of event: they fill rec from the event (its
 * size checked first) and return 1 to have it written, 0 to skip the
 * event (malformed ones are counted), or -1 when the writer failed. */

static int ev_data(struct recorder *r, const void *data, size_t size, struct fr_record *rec)
{
	const struct fr_ev_data *e = data;
	const struct fr_ev_hdr *h = &e->h;
	if (size < sizeof(*e) || e->cap_len > FR_EV_MAX_SNAP || size < sizeof(*e) + e->cap_len ||
	    e->cap_len > e->orig_len) {
		r->n_bad++;
		return 0;
	}
	struct fr_data *d = &rec->u.data;
	*d = (struct fr_data){0};
	rec->kind = FR_DATA;
	d->conn = (struct fr_connkey){h->pid, e->fd, e->gen};
	d->tid = h->tid;
	d->dir = e->dir ? FR_INGRESS : FR_EGRESS;
	d->syscall = e->syscall <= FR_EV_SYS_SENDFILE ? e->syscall : FR_SYS_UNKNOWN;
	if (e->flags & FR_EV_TLS)
		d->syscall = e->dir ? FR_SYS_SSL_READ : FR_SYS_SSL_WRITE;
	d->flags = e->flags & (FR_EV_TRUNCATED | FR_EV_NO_POS | FR_EV_TLS);
	d->stream_pos = e->stream_pos;
	d->orig_len = e->orig_len;
	conv_addr(&d->peer, &e->peer);
	const uint8_t *pl = e->payload;
	struct fr_conn *c = fr_conntab_get(r->conns, &d->conn, h->ts);
	if (r->o->redact.enabled) {
		/* scanned in the ring buffer; copied only to overwrite */
		struct fr_redact_state tmp;
		struct fr_redact_state *st = redact_state(c, d, e->payload, e->cap_len, &tmp);
		if (e->cap_len && fr_redact_copy(&r->o->redact, st, e->payload, e->cap_len, r->payload, &pl))
			d->flags |= FR_DATA_REDACTED;
		if (e->cap_len < e->orig_len) /* past the snap length */
			fr_redact_gap(st, e->orig_len - e->cap_len);
	}
	d->payload = (struct fr_span){pl, e->cap_len};
	if (c && (d->flags & FR_DATA_TLS) && tls_note(r, c, d, e->pad, h->ts))
		return -1;
	if (c)
		fr_conntab_data(r->conns, c, d, h->ts);
	r->n_data++;
	if (e->arrival && e->arrival < h->ts && d->dir == FR_INGRESS) {
		/* the bytes waited for the reader: when they came, just
		 * before their DATA record */
		struct fr_record ar;
		ar.kind = FR_ARRIVAL;
		ar.flags = 0;
		ar.seq = 0;
		ar.ts = h->ts;
		ar.u.arrival = (struct fr_arrival){d->conn, d->stream_pos, e->arrival};
		add(r, &ar);
		if (r->failed)
			return -1;
	}
	return 1;
}

static int ev_open(struct recorder *r, const void *data, size_t size, struct fr_record *rec)
{
	const struct fr_ev_open *e = data;
	if (size < sizeof(*e)) {
		r->n_bad++;
		return 0;
	}
	rec->kind = FR_CONN_OPEN;
	rec->u.open = (struct fr_conn_open){0};
	rec->u.open.conn = (struct fr_connkey){e->h.pid, e->fd, e->gen};
	rec->u.open.tid = e->h.tid;
	rec->u.open.role = e->role <= FR_ROLE_SERVER ? e->role : FR_ROLE_UNKNOWN;
	rec->u.open.netns = e->netns;
	conv_addr(&rec->u.open.local, &e->local);
	conv_addr(&rec->u.open.remote, &e->remote);
	fr_conntab_add(r->conns, rec);
	return 1;
}

static int ev_close(struct recorder *r, const void *data, size_t size, struct fr_record *rec)
{
	const struct fr_ev_close *e = data;
	if (size < sizeof(*e)) {
		r->n_bad++;
		return 0;
	}
	rec->kind = FR_CONN_CLOSE;
	rec->u.close = (struct fr_conn_close){0};
	rec->u.close.conn = (struct fr_connkey){e->h.pid, e->fd, e->gen};
	rec->u.close.tid = e->h.tid;
	rec->u.close.bytes_out = e->bytes_out;
	rec->u.close.bytes_in = e->bytes_in;
	rec->u.close.calls_out = e->calls_out;
	rec->u.close.calls_in = e->calls_in;
	fr_conntab_add(r->conns, rec);
	return 1;
}

static int ev_tcp(struct recorder *r, const void *data, size_t size, struct fr_record *rec)
{
	const struct fr_ev_tcp *e = data;
	if (size < sizeof(*e)) {
		r->n_bad++;
		return 0;
	}
	rec->kind = FR_CONN_TCP;
	rec->u.tcp = (struct fr_conn_tcp){
		.conn = {e->h.pid, e->fd, e->gen},
		.event = e->event,
		.state = e->state,
		.segs = e->segs,
		.srtt_us = e->srtt_us,
		.total_retrans = e->total_retrans,
	};
	return 1;
}

static int ev_proc(struct recorder *r, const void *data, size_t size, struct fr_record *rec)
{
	(void)rec;
	if (size < sizeof(struct fr_ev_proc)) {
		r->n_bad++;
		return 0;
	}
	on_proc(r, data);
	return r->failed ? -1 : 0;
}

/* One event from the ring buffers; its size is checked before any field
 * is trusted. */
int on_event(void *ctx, void *data, size_t size)
{
	static int (*const handler[])(struct recorder *, const void *, size_t, struct fr_record *) = {
		[FR_EV_DATA] = ev_data, [FR_EV_OPEN] = ev_open, [FR_EV_CLOSE] = ev_close,
		[FR_EV_PROC] = ev_proc, [FR_EV_TCP] = ev_tcp,
	};
	struct recorder *r = ctx;
	const struct fr_ev_hdr *h = data;
	struct fr_record rec;
	if (size < sizeof(*h) || h->version != FR_ABI_VERSION) {
		r->n_bad++;
		return 0;
	}
	r->n_events++;
	if (h->type >= sizeof(handler) / sizeof(handler[0]) || !handler[h->type]) {
		r->n_bad++;
		return 0;
	}
	/* not memset: the record is 2 KiB (its union holds a pod); each
	 * handler zeroes its own member */
	rec.flags = 0;
	rec.seq = 0;
	rec.ts = h->ts;
	int rc = handler[h->type](r, data, size, &rec);
	if (rc <= 0)
		return rc;
	if (h->ts > r->last_ts)
		r->last_ts = h->ts;
	add(r, &rec);
	if (r->failed)
		return -1;
	if (r->w && segment_full(r))
		rotate(r);
	/* Under sustained load the reader would keep consuming in one call:
	 * come back to the main loop now and then (timers, signals). */
	if (++r->burst >= 4096) {
		r->burst = 0;
		return -EAGAIN;
	}
	return 0;
}

/* Per-CPU loss counters become LOSS records. */
void poll_losses(struct recorder *r)
{
	__u32 zero = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.losses), &zero, r->loss_cur))
		return;
	uint64_t now = mono_ns();
	for (int c = 0; c < r->ncpu; c++) {
		struct fr_loss_ctr *cur = &r->loss_cur[c], *prev = &r->loss_prev[c];
		if (cur->count <= prev->count)
			continue;
		struct fr_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_LOSS;
		rec.ts = cur->last_ns;
		rec.u.loss.cpu = (uint32_t)c;
		rec.u.loss.reason = FR_LOSS_RINGBUF;
		rec.u.loss.count = cur->count - prev->count;
		rec.u.loss.bytes = cur->bytes - prev->bytes;
		rec.u.loss.first_ns = cur->first_ns;
		rec.u.loss.last_ns = cur->last_ns;
		r->n_lost += rec.u.loss.count;
		*prev = *cur;
		add(r, &rec);
	}
	r->skel->bss->loss_epoch_ns = now;
}

