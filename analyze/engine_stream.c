/* engine_stream.c - a worker's records, one at a time: CONN_OPEN sets up
 * the connection, or CONN_STATE one that began before the input (with its
 * kept head replayed to the parser, silently), DATA is placed in its
 * direction's byte stream by its stream position (bytes seen before are
 * dropped, missing ones become a gap the parser is told about), CONN_CLOSE
 * and the idle sweep end it. */
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_gap(struct worker *w, struct conn *c, int rdir, uint64_t len, uint64_t ts, const char *why)
{
	char detail[160];
	c->gap_bytes += len;
	snprintf(detail, sizeof(detail), "%s: %llu bytes missing (%s)", why, (unsigned long long)len,
		 rdir == FR_EGRESS ? "egress" : "ingress");
	conn_anomaly(w, c, ts, "gap", detail);
	if (c->detect == 0) {
		c->plen[rdir] = 0; /* bytes before the gap cannot start a message */
		c->pre_gap[rdir] += len;
		return;
	}
	if (c->detect != 1 || c->dead)
		return;
	struct cbarg a;
	struct fr_pctx ctx;
	pctx_init(&ctx, &a, w, c);
	c->proto->gap(c->pstate, &ctx, rdir == c->c2s_dir ? FR_C2S : FR_S2C, len, ts);
}

/* The first plaintext of a TLS connection whose protocol is not decided,
 * or was given up on: the bytes before it were not the application's (the
 * handshake's ciphertext, when the recording began during the handshake
 * and the recorder could not tie the connection to its TLS object yet),
 * so detection starts anew, its probe buffers and tries forgotten.  A
 * parser already running (a cleartext prefix, as PostgreSQL's SSLRequest)
 * keeps the connection. */
static void restart_detection(struct conn *c)
{
	c->detect = 0;
	c->tries = 0;
	for (int i = 0; i < 2; i++) {
		free(c->pbuf[i]);
		c->pbuf[i] = NULL;
		c->plen[i] = 0;
	}
}

/* Keeps the read delay of ingress DATA record m of c (when its arrival
 * time was recorded) for the request that began with it (conn_read_delay). */
static void keep_arrival(struct conn *c, const struct msg *m, int rdir)
{
	int turn = rdir == FR_INGRESS && c->last_dir != FR_INGRESS;
	c->last_dir = rdir;
	if (rdir != FR_INGRESS || !m->arrival_ns || m->arrival_ns > m->ts)
		return;
	int k = turn ? 0 : 1;
	struct arr_ent *e = &c->arr[k * ARR_TURNS + c->arr_next[k]];
	c->arr_next[k] = (uint8_t)((c->arr_next[k] + 1) % ARR_TURNS);
	e->ts = m->ts;
	e->delay = m->ts - m->arrival_ns;
}

int64_t conn_read_delay(const struct conn *c, uint64_t ts)
{
	if (!ts)
		return -1;
	for (int i = 0; i < 2 * ARR_TURNS; i++)
		if (c->arr[i].ts == ts)
			return (int64_t)c->arr[i].delay;
	return -1;
}

/* A DATA record: counted, placed in its direction's stream by its stream
 * position (TCP), handed to the parser. */
static void on_data(struct worker *w, const struct msg *m, const uint8_t *payload)
{
	const struct fr_data *d = &m->u.d;
	struct conn *c = conn_get(w, m, &d->conn);
	c->end_ns = m->ts;
	c->last_rec_ts = m->ts;
	int rdir = d->dir ? FR_INGRESS : FR_EGRESS;
	c->bytes[rdir] += d->orig_len;
	keep_arrival(c, m, rdir);
	if ((d->flags & FR_DATA_TLS) && !c->tls[0]) /* its CONN_TLS was not in the input */
		snprintf(c->tls, sizeof(c->tls), "unknown TLS library");
	if ((d->flags & FR_DATA_TLS) && !c->tls_seen) {
		c->tls_seen = 1;
		if (c->detect == 0 || c->detect == 2)
			restart_detection(c);
	}
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
				return; /* all seen before */
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
}

/* Replays the head of c (its kept first bytes) silently, each direction up
 * to where the input takes it up (pos); the rest before that is a gap. */
static void replay_head(struct worker *w, struct conn *c, const struct fr_conn_head *h,
			const uint64_t pos[2], uint64_t ts)
{
	uint64_t done[2] = {0, 0};
	size_t off = 0;
	struct fr_head_chunk ch;
	c->silent = 1;
	while (fr_head_chunk_next(h, &off, &ch)) {
		int d = ch.dir;
		if (done[d] >= pos[d])
			continue;
		uint64_t n = ch.bytes.len;
		if (n > pos[d] - done[d])
			n = pos[d] - done[d];
		on_payload(w, c, d, ch.ts, ch.bytes.p, (size_t)n, NULL);
		done[d] += n;
	}
	for (int d = 0; d < 2; d++)
		if (pos[d] > done[d])
			on_gap(w, c, d, pos[d] - done[d], ts, "before the input, after the kept head");
	c->silent = 0;
}

/* A CONN_STATE: a connection new to the analysis began before the input.
 * It takes its role and addresses from the record, each direction's stream
 * starts at the recorded position (what lies before is a gap, or its kept
 * head replayed and then a gap).  A known connection only counts it as
 * activity. */
static void on_state(struct worker *w, const struct msg *m, const uint8_t *payload)
{
	struct state_msg sm;
	memcpy(&sm, payload, sizeof(sm));
	struct conn *c = conn_find(w, m->conn_id);
	if (c) {
		c->last_rec_ts = m->ts;
		return;
	}
	const struct fr_conn_state *s = &sm.s;
	c = conn_get(w, m, &s->conn);
	c->last_rec_ts = m->ts;
	c->have_state = 1;
	if (s->flags & FR_STATE_OPEN) {
		c->have_open = 1;
		c->role = s->role;
		c->local = s->local;
		c->remote = s->remote;
		c->transport = (s->remote.proto == 17 || s->local.proto == 17) ? FR_UDP : FR_TCP;
	}
	if (c->transport != FR_TCP)
		return;
	for (int d = 0; d < 2; d++) {
		c->pos_init[d] = 1;
		c->next_pos[d] = s->pos[d];
	}
	if (!s->pos[0] && !s->pos[1])
		return; /* nothing before the input: as if it began here */
	if (sm.head.n_chunks) {
		c->head = 1;
		sm.head.chunks.p = payload + sizeof(sm);
		replay_head(w, c, &sm.head, s->pos, m->ts);
		return;
	}
	c->head = 0;
	for (int d = 0; d < 2; d++)
		if (s->pos[d])
			on_gap(w, c, d, s->pos[d], m->ts, "before the input, no head kept");
}

/* TCP evidence of a connection: its counters, its last RTT sample, and an
 * anomaly row per reset (the retransmissions get one at its end). */
static void on_tcp(struct worker *w, const struct msg *m)
{
	const struct fr_conn_tcp *t = &m->u.tcp;
	struct conn *c = conn_get(w, m, &t->conn);
	c->last_rec_ts = m->ts;
	c->tcp = 1;
	if (t->srtt_us)
		c->srtt_us = t->srtt_us;
	if (t->total_retrans > c->total_retrans)
		c->total_retrans = t->total_retrans;
	if (t->event == FR_TCP_RETRANSMIT) {
		c->retransmits += t->segs ? t->segs : 1;
	} else if (t->event == FR_TCP_RESET_SENT || t->event == FR_TCP_RESET_RECEIVED) {
		int sent = t->event == FR_TCP_RESET_SENT;
		if (sent)
			c->resets_sent++;
		else
			c->resets_received++;
		char d[128];
		snprintf(d, sizeof(d), "TCP reset %s (TCP state %s)", sent ? "sent" : "received",
			 fr_tcp_state_name(t->state));
		if (!c->silent)
			conn_anomaly(w, c, m->ts, "reset", d);
	}
}

void worker_record(struct worker *w, const struct msg *m, const uint8_t *payload)
{
	struct conn *c;
	w->cur_g = m->g;
	w->cur_k = 0;
	if (m->kind == MSG_SWEEP) {
		conn_sweep(w, m->ts);
		return;
	}
	switch (m->kind) {
	case FR_CONN_OPEN:
		c = conn_get(w, m, &m->u.o.conn);
		c->last_rec_ts = m->ts;
		c->have_open = 1;
		c->role = m->u.o.role;
		c->local = m->u.o.local;
		c->remote = m->u.o.remote;
		c->transport = (m->u.o.remote.proto == 17 || m->u.o.local.proto == 17) ? FR_UDP : FR_TCP;
		break;
	case FR_DATA:
		on_data(w, m, payload);
		break;
	case FR_CONN_TLS: {
		c = conn_get(w, m, &m->u.t.conn);
		c->last_rec_ts = m->ts;
		size_t n = m->u.t.library.len < sizeof(c->tls) - 1 ? m->u.t.library.len : sizeof(c->tls) - 1;
		for (size_t i = 0; i < n; i++) /* text: a control byte of a damaged file is not kept */
			c->tls[i] = payload[i] >= 0x20 && payload[i] < 0x7f ? (char)payload[i] : '?';
		c->tls[n] = 0;
		if (!n)
			snprintf(c->tls, sizeof(c->tls), "unknown TLS library");
		break;
	}
	case FR_CONN_TCP:
		on_tcp(w, m);
		break;
	case FR_CONN_STATE:
		on_state(w, m, payload);
		break;
	case FR_CONN_CLOSE:
		c = conn_get(w, m, &m->u.c.conn);
		c->end_ns = m->ts;
		c->closed = 1;
		conn_unlink(w, c);
		conn_end(w, c, FR_END_CLOSE, m->ts);
		break;
	}
}
