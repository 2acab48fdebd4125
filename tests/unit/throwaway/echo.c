/* echo.c - a throwaway line echo protocol: the client sends lines, the
 * server sends each one back; a line and its echo are a request.  It
 * exists only for tests/unit/throwaway_protocol.sh, which adds it to a copy
 * of the tree as analyze/protocols/echo.c with one registry line, to show
 * that a protocol is its file, one registry line and its corpus cases.
 *
 * Reference: RFC 862 (Echo Protocol, port 7), cut into lines.
 *
 *   line = "echo: " text LF          (client -> server, and back)
 *
 * Lines longer than LINE_MAX are cut (anomaly); after a gap the rest of
 * the broken line is skipped.  Pairing is FIFO.
 */
#include "../proto.h"

#include <stdlib.h>
#include <string.h>

#define LINE_MAX 256
#define PEND_MAX 64

static const char magic[] = "echo: ";

struct edir {
	char line[LINE_MAX + 1];
	size_t len;
	int cut, skip; /* line too long; skipping to LF after a gap */
	uint64_t first_ts, bytes;
};

struct pend {
	char line[LINE_MAX + 1];
	uint64_t first_ts, last_ts, bytes;
};

struct echo {
	struct edir d[2];
	struct fr_fifo q; /* of struct pend */
};

static void emit(struct fr_pctx *ctx, const struct pend *p, const struct edir *r, uint64_t ts,
		 const char *reason)
{
	struct fr_req q = {0};
	q.req_first_ns = p->first_ts;
	q.req_last_ns = p->last_ts;
	q.req_bytes = p->bytes;
	q.summary = p->line;
	q.endpoint = "echo";
	if (r) {
		int same = !strcmp(p->line, r->line);
		q.resp_first_ns = r->first_ts;
		q.resp_last_ns = ts;
		q.resp_bytes = r->bytes;
		q.status = same ? "echoed" : "different";
		q.error = !same;
	} else {
		q.error = 1;
		q.reason = reason;
	}
	fr_field_str(&q, "line", p->line);
	if (r)
		fr_field_int(&q, "same", !strcmp(p->line, r->line));
	else /* no echo: NULL */
		q.f[q.n_fields++] = (struct fr_field){.name = "same", .type = FR_F_NULL};
	ctx->emit_request(ctx, &q);
}

/* A whole line of direction dir ended at ts. */
static void line_done(struct echo *s, struct fr_pctx *ctx, int dir, uint64_t ts)
{
	struct edir *d = &s->d[dir];
	if (d->cut)
		ctx->anomaly(ctx, ts, "bound_exceeded", "echo: line longer than 256 bytes, cut");
	if (dir == FR_C2S) {
		struct pend *p = s->q.len < PEND_MAX ? fr_fifo_push(&s->q, sizeof(*p)) : NULL;
		if (!p) {
			ctx->anomaly(ctx, ts, "bound_exceeded", "echo: too many lines waiting for their echo");
		} else {
			memcpy(p->line, d->line, d->len + 1);
			p->first_ts = d->first_ts;
			p->last_ts = ts;
			p->bytes = d->bytes;
		}
	} else {
		struct pend *p = fr_fifo_at(&s->q, sizeof(*p), 0);
		if (p) {
			emit(ctx, p, d, ts, NULL);
			fr_fifo_pop(&s->q);
		} else {
			ctx->anomaly(ctx, ts, "unpaired_response", "echo: an echo of no line");
		}
	}
	d->len = 0;
	d->cut = 0;
	d->bytes = 0;
}

static int echo_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport != FR_TCP)
		return FR_PROBE_NO;
	size_t k = n < sizeof(magic) - 1 ? n : sizeof(magic) - 1;
	if (memcmp(p, magic, k))
		return FR_PROBE_NO;
	return k < sizeof(magic) - 1 ? FR_PROBE_MAYBE : FR_PROBE_C2S;
}

static int echo_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *c)
{
	struct echo *s = state;
	struct edir *d = &s->d[c->dir ? 1 : 0];
	for (size_t i = 0; i < c->len; i++) {
		uint8_t b = c->p[i];
		if (d->skip) {
			d->skip = b != '\n';
			continue;
		}
		if (!d->bytes)
			d->first_ts = c->ts;
		d->bytes++;
		if (b == '\n') {
			d->line[d->len] = 0;
			line_done(s, ctx, c->dir ? 1 : 0, c->ts);
		} else if (d->len < LINE_MAX) {
			d->line[d->len++] = (char)b;
		} else {
			d->cut = 1;
		}
	}
	return 0;
}

static void echo_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct echo *s = state;
	struct edir *d = &s->d[dir ? 1 : 0];
	(void)len;
	if (d->bytes)
		ctx->anomaly(ctx, ts, "gap", "echo: a line broken by a gap is dropped");
	d->len = 0;
	d->cut = 0;
	d->bytes = 0;
	d->skip = 1;
}

static void echo_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct echo *s = state;
	struct pend *p;
	while ((p = fr_fifo_at(&s->q, sizeof(*p), 0))) {
		emit(ctx, p, NULL, ts, fr_end_reason(why));
		fr_fifo_pop(&s->q);
	}
	fr_fifo_free(&s->q);
}

const struct fr_proto fr_proto_echo = {
	.name = "echo",
	.table = "echo",
	.schema = "CREATE TABLE echo (request_id INTEGER PRIMARY KEY, line TEXT, same INTEGER)",
	.state_size = sizeof(struct echo),
	.ports = {7, 0},
	.probe = echo_probe,
	.feed = echo_feed,
	.gap = echo_gap,
	.finish = echo_finish,
};
