/* drain.c - events from the kernel's ring buffer become records: sizes
 * checked before any field is trusted, payloads redacted (a scanner state
 * per direction of each connection), per-CPU loss counters turned into
 * LOSS records. */
#define _GNU_SOURCE
#include "bpf/flightrec.skel.h"
#include "recorder.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
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
_Static_assert(FR_EV_TRUNCATED == FR_DATA_TRUNCATED && FR_EV_NO_POS == FR_DATA_NO_POS,
	       "the DATA flags of the kernel and of the segment format differ");

static struct fr_redact_state *redact_state(struct recorder *r, const struct fr_connkey *k,
					    uint8_t dir, int *created)
{
	*created = 0;
	unsigned b = (k->pid * 31u + k->fd * 7u + k->gen + dir) % NBUCKET;
	for (struct rstate *s = r->rst[b]; s; s = s->next)
		if (s->k.pid == k->pid && s->k.fd == k->fd && s->k.gen == k->gen && s->dir == dir)
			return &s->st;
	if (r->n_rst >= 65536) {
		/* connections that ended without a close we saw (the process
		 * exited): start over rather than grow without bound */
		for (int i = 0; i < NBUCKET; i++)
			while (r->rst[i]) {
				struct rstate *x = r->rst[i];
				r->rst[i] = x->next;
				free(x);
			}
		r->n_rst = 0;
	}
	struct rstate *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	r->n_rst++;
	s->k = *k;
	s->dir = dir;
	s->next = r->rst[b];
	r->rst[b] = s;
	*created = 1;
	return &s->st;
}

static void redact_forget(struct recorder *r, const struct fr_connkey *k)
{
	for (uint8_t dir = 0; dir < 2; dir++) {
		unsigned b = (k->pid * 31u + k->fd * 7u + k->gen + dir) % NBUCKET;
		for (struct rstate **pp = &r->rst[b]; *pp; pp = &(*pp)->next) {
			struct rstate *s = *pp;
			if (s->k.pid == k->pid && s->k.fd == k->fd && s->k.gen == k->gen && s->dir == dir) {
				*pp = s->next;
				free(s);
				r->n_rst--;
				break;
			}
		}
	}
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

/* One event from the ring buffer; its size is checked before any field is
 * trusted. */
int on_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct fr_ev_hdr *h = data;
	struct fr_record rec;
	if (size < sizeof(*h) || h->version != FR_ABI_VERSION) {
		r->n_bad++;
		return 0;
	}
	r->n_events++;
	/* not memset: the record is 2 KiB (its union holds a pod); each case
	 * zeroes its own member */
	rec.flags = 0;
	rec.seq = 0;
	rec.ts = h->ts;
	switch (h->type) {
	case FR_EV_DATA: {
		const struct fr_ev_data *e = data;
		if (size < sizeof(*e) || e->cap_len > FR_EV_MAX_SNAP ||
		    size < sizeof(*e) + e->cap_len || e->cap_len > e->orig_len) {
			r->n_bad++;
			return 0;
		}
		struct fr_data *d = &rec.u.data;
		*d = (struct fr_data){0};
		rec.kind = FR_DATA;
		d->conn = (struct fr_connkey){h->pid, e->fd, e->gen};
		d->tid = h->tid;
		d->dir = e->dir ? FR_INGRESS : FR_EGRESS;
		d->syscall = e->syscall <= FR_EV_SYS_SENDFILE ? e->syscall : FR_SYS_UNKNOWN;
		d->flags = e->flags & (FR_EV_TRUNCATED | FR_EV_NO_POS);
		d->stream_pos = e->stream_pos;
		d->orig_len = e->orig_len;
		conv_addr(&d->peer, &e->peer);
		const uint8_t *pl = e->payload;
		if (r->o->redact.enabled && e->cap_len) {
			/* scanned in the ring buffer; copied only to overwrite */
			struct fr_redact_state fresh, *st;
			int created = 0;
			memset(&fresh, 0, sizeof(fresh));
			st = (d->flags & FR_DATA_NO_POS) ? &fresh
							 : redact_state(r, &d->conn, d->dir, &created);
			if (st && created && d->stream_pos == 0)
				fr_redact_stream_start(st, e->payload, e->cap_len);
			if (st && fr_redact_copy(&r->o->redact, st, e->payload, e->cap_len, r->payload, &pl))
				d->flags |= FR_DATA_REDACTED;
		}
		d->payload = (struct fr_span){pl, e->cap_len};
		r->n_data++;
		break;
	}
	case FR_EV_OPEN: {
		const struct fr_ev_open *e = data;
		if (size < sizeof(*e)) {
			r->n_bad++;
			return 0;
		}
		rec.kind = FR_CONN_OPEN;
		rec.u.open = (struct fr_conn_open){0};
		rec.u.open.conn = (struct fr_connkey){h->pid, e->fd, e->gen};
		rec.u.open.tid = h->tid;
		rec.u.open.role = e->role <= FR_ROLE_SERVER ? e->role : FR_ROLE_UNKNOWN;
		rec.u.open.netns = e->netns;
		conv_addr(&rec.u.open.local, &e->local);
		conv_addr(&rec.u.open.remote, &e->remote);
		break;
	}
	case FR_EV_CLOSE: {
		const struct fr_ev_close *e = data;
		if (size < sizeof(*e)) {
			r->n_bad++;
			return 0;
		}
		rec.kind = FR_CONN_CLOSE;
		rec.u.close = (struct fr_conn_close){0};
		rec.u.close.conn = (struct fr_connkey){h->pid, e->fd, e->gen};
		rec.u.close.tid = h->tid;
		rec.u.close.bytes_out = e->bytes_out;
		rec.u.close.bytes_in = e->bytes_in;
		rec.u.close.calls_out = e->calls_out;
		rec.u.close.calls_in = e->calls_in;
		redact_forget(r, &rec.u.close.conn);
		break;
	}
	case FR_EV_PROC: {
		const struct fr_ev_proc *e = data;
		if (size < sizeof(*e)) {
			r->n_bad++;
			return 0;
		}
		on_proc(r, e);
		return r->failed ? -1 : 0;
	}
	default:
		r->n_bad++;
		return 0;
	}
	add(r, &rec);
	if (r->failed)
		return -1;
	if (r->w && segment_full(r))
		rotate(r);
	/* Under sustained load libbpf would keep consuming in one poll call:
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

