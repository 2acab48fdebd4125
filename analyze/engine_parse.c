/* engine_parse.c - the replay engine meets the protocols: detection of a
 * connection's protocol from its first bytes (those whose port matches
 * first), the parser's start, feeding it each direction's bytes, and the
 * callbacks through which it hands back requests, messages and anomalies. */
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>

#define PROBE_BUF 512 /* bytes a probe may wait for before it decides */
#define PROBE_TRIES 8 /* payloads probed before giving up */

void conn_row(struct worker *w, const struct conn *c, struct conn_row *r)
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
	r->head = c->head;
	_Static_assert(sizeof(r->tls) == sizeof(c->tls), "connections.tls is copied whole");
	memcpy(r->tls, c->tls, sizeof(r->tls));
	r->tcp = c->tcp;
	r->retransmits = c->retransmits;
	r->resets_sent = c->resets_sent;
	r->resets_received = c->resets_received;
	r->srtt_us = c->srtt_us;
}

/* While a connection's bytes from before the input are replayed (c->silent),
 * what the parser reports is about that past: it is not written. */
static void cb_emit(struct fr_pctx *ctx, const struct fr_req *r)
{
	struct cbarg *a = ctx->arg;
	if (a->c->silent)
		return;
	struct conn_row row;
	a->c->nreq++;
	conn_row(a->w, a->c, &row);
	/* the bytes this end read first: the response's at a client */
	uint64_t first_in = row.role == FR_ROLE_SERVER ? r->req_first_ns : r->resp_first_ns;
	out_request(a->w, &row, r->seq ? r->seq : a->c->nreq, a->c->proto, r, conn_read_delay(a->c, first_in));
}

static void cb_message(struct fr_pctx *ctx, const struct fr_msg *m)
{
	struct cbarg *a = ctx->arg;
	if (a->c->silent)
		return;
	out_message(a->w, a->c->id, a->c->proto, m);
}

static void cb_anomaly(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *detail)
{
	struct cbarg *a = ctx->arg;
	if (a->c->silent)
		return;
	conn_anomaly(a->w, a->c, ts, kind, detail);
}

static int cb_handover(struct fr_pctx *ctx, const char *name, const struct fr_chunk *replay, int n,
		       size_t rest);

/* A parser's buffers count against its worker's share of --max-memory,
 * with its state, until the connection ends (conn_end, handover). */
static int cb_reserve(struct fr_pctx *ctx, size_t n)
{
	struct cbarg *a = ctx->arg;
	if (a->w->mem + n > a->w->mem_limit)
		return -1;
	a->w->mem += n;
	a->c->mem += n;
	return 0;
}

static void cb_release(struct fr_pctx *ctx, size_t n)
{
	struct cbarg *a = ctx->arg;
	if (n > a->c->mem)
		n = (size_t)a->c->mem;
	a->w->mem -= n;
	a->c->mem -= n;
}

void pctx_init(struct fr_pctx *ctx, struct cbarg *a, struct worker *w, struct conn *c)
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
	ctx->reserve = cb_reserve;
	ctx->release = cb_release;
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
		conn_anomaly(w, c, c->start_ns, "bound_exceeded",
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

void on_payload(struct worker *w, struct conn *c, int rdir, uint64_t ts, const uint8_t *p, size_t n,
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
		if (c->pre_gap[c->c2s_dir]) {
			/* requests were lost before the parser's first bytes (a
			 * window that starts inside the connection): the parser
			 * knows, so an answer to one of them is not "without a
			 * request" */
			struct cbarg a;
			struct fr_pctx ctx;
			pctx_init(&ctx, &a, w, c);
			c->proto->gap(c->pstate, &ctx, FR_C2S, c->pre_gap[c->c2s_dir], ts);
		}
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
