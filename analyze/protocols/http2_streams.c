/* http2_streams.c - the streams of an HTTP/2 connection (http2.c): the
 * table of open streams, the header blocks decoded into them (HPACK,
 * hpack.c), and the row of each when it ends, with its gRPC layer (grpc.c).
 *
 * Reference: RFC 9113 5.1 (stream states), 8.3 (request and response
 * pseudo-fields), 8.1 (trailers); RFC 7540 3.2 (the upgrade's stream 1).
 *
 * A stream's row: summary "METHOD path" (gRPC: the path), the final
 * :status (gRPC: the name of grpc-status), error on 5xx, a grpc-status other
 * than OK, a reset before the response ended, or no response; the http2
 * table's fields, then the grpc table's (fr_req.layer).  Rows carry the
 * stream id as their number (fr_req.seq): both ends of a connection give
 * a stream the same one.
 */
#include "http2_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const error_names[] = {
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
	"STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
	"CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

void h2_anomaly(struct h2 *s, uint64_t ts, const char *kind, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->ctx->anomaly(s->ctx, ts, kind, buf);
}

const char *h2_err_name(int64_t code, char *buf)
{
	if (code >= 0 && code < (int64_t)(sizeof(error_names) / sizeof(error_names[0])))
		return error_names[code];
	snprintf(buf, 24, "0x%llx", (unsigned long long)code);
	return buf;
}

/* ---- streams -------------------------------------------------------------- */

struct stream *h2_find(struct h2 *s, uint32_t id)
{
	for (uint32_t i = s->n; i-- > 0;)
		if (s->v[i].id == id)
			return &s->v[i];
	return NULL;
}

/* Was stream id (not open) ended already?  Ids rise as streams open, so
 * one between the lowest and the highest we saw open has ended; one below
 * the lowest was opened before we saw the connection, and the last few of
 * those that ended are remembered. */
static int was_closed(const struct h2 *s, uint32_t id)
{
	uint32_t lo = s->min_id[id & 1], hi = s->max_id[id & 1];
	if (lo && id >= lo && id <= hi)
		return 1;
	uint32_t k = s->nclosed < CLOSED_RING ? s->nclosed : CLOSED_RING;
	for (uint32_t i = 0; i < k; i++)
		if (s->closed[i] == id)
			return 1;
	return 0;
}

void h2_copy_text(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	dst[n] = 0;
}

/* The row of stream st (st->path etc.), with reason (or NULL). */
static void emit(struct h2 *s, const struct stream *st, const char *reason)
{
	struct fr_req r;
	memset(&r, 0, offsetof(struct fr_req, f));
	char summary[600], ep[560], norm[512], status[24], gs[24], svc[256], e1[24], e2[24];
	int grpc = st->g.is_grpc || (!strcmp(st->method, "POST") && !st->req_ct[0] && grpc_framed(&st->g));
	const char *path = st->path[0] ? st->path : st->unk[0] ? st->unk : NULL;
	if (path && grpc) {
		fr_cat(summary, sizeof(summary), 0, path, strcspn(path, "?"));
		fr_cat(ep, sizeof(ep), 0, summary, sizeof(summary));
	} else if (path || st->method[0]) {
		size_t o = fr_cat(summary, sizeof(summary), 0, st->method[0] ? st->method : "?", 16);
		o = fr_cat(summary, sizeof(summary), o, " ", 1);
		fr_cat(summary, sizeof(summary), o, path ? path : "?", path ? strcspn(path, "?") : 1);
		fr_path_endpoint(path ? path : "?", norm, sizeof(norm));
		o = fr_cat(ep, sizeof(ep), 0, st->method[0] ? st->method : "?", 16);
		o = fr_cat(ep, sizeof(ep), o, " ", 1);
		fr_cat(ep, sizeof(ep), o, norm, sizeof(norm));
	} else {
		snprintf(summary, sizeof(summary), st->resp_seen ? "(response without request)" : "(stream %u)", st->id);
		ep[0] = 0;
	}
	r.summary = summary;
	r.endpoint = ep[0] ? ep : NULL;
	r.seq = st->id; /* both ends of the connection pair by it */
	r.req_first_ns = st->req_seen ? st->req_first : 0;
	r.req_last_ns = st->req_seen ? st->req_last : 0;
	r.resp_first_ns = st->resp_seen ? st->resp_first : 0;
	r.resp_last_ns = st->resp_seen ? st->resp_last : 0;
	r.req_bytes = st->bytes[FR_C2S];
	r.resp_bytes = st->bytes[FR_S2C];
	int responded = st->resp_seen && st->resp_end;
	const char *gstat = NULL;
	int gerr = 0;
	if (grpc)
		gstat = grpc_outcome(&st->g, responded, gs, &gerr);
	if (st->status)
		fr_cat_int(status, sizeof(status), 0, st->status);
	if (grpc && gstat) {
		r.status = gstat;
		r.error = gerr;
	} else if (grpc && responded && st->resp_unknown) {
		r.status = "<unknown>"; /* grpc-status was an entry from before the recording */
		r.error = 0;
	} else if (st->status) {
		r.status = status;
		r.error = st->status >= 500 || (grpc && (gerr || !responded));
	} else {
		r.error = 1;
	}
	if (st->rst >= 0 && st->rst != 0 && !responded)
		r.error = 1;
	r.reason = reason ? reason : st->truncated ? "truncated" :
		   grpc && responded && !gstat ? (st->resp_unknown ? "grpc-status not recoverable (HPACK)" : "no grpc-status") :
		   st->pushed ? "server push" : NULL;
	fr_field_int(&r, "stream_id", st->id);
	fr_field_str(&r, "method", st->method[0] ? st->method : NULL);
	fr_field_str(&r, "scheme", st->scheme[0] ? st->scheme : NULL);
	fr_field_str(&r, "authority", st->authority[0] ? st->authority : NULL);
	fr_field_str(&r, "path", path);
	fr_field_str(&r, "endpoint", path ? (grpc ? ep : norm) : NULL);
	if (st->status)
		fr_field_int(&r, "status", st->status);
	else
		fr_field_str(&r, "status", NULL);
	fr_field_str(&r, "req_content_type", st->req_ct[0] ? st->req_ct : NULL);
	fr_field_str(&r, "resp_content_type", st->resp_ct[0] ? st->resp_ct : NULL);
	fr_field_int(&r, "req_header_bytes", (int64_t)st->hdr[FR_C2S]);
	fr_field_int(&r, "resp_header_bytes", (int64_t)st->hdr[FR_S2C]);
	fr_field_int(&r, "req_body_bytes", (int64_t)st->body[FR_C2S]);
	fr_field_int(&r, "resp_body_bytes", (int64_t)st->body[FR_S2C]);
	fr_field_str(&r, "rst_error", st->rst >= 0 ? h2_err_name(st->rst, e1) : NULL);
	fr_field_str(&r, "goaway_error", st->goaway >= 0 ? h2_err_name(st->goaway, e2) : NULL);
	fr_field_int(&r, "hpack_unknown", st->unknown);
	if (grpc) {
		r.layer = &fr_proto_grpc;
		r.layer_field = r.n_fields;
		grpc_fields(&st->g, path, &r, svc, sizeof(svc));
	}
	s->ctx->emit_request(s->ctx, &r);
}

/* Emits stream st and forgets it. */
void h2_close(struct h2 *s, struct stream *st, const char *reason)
{
	emit(s, st, reason);
	s->closed[s->nclosed++ % CLOSED_RING] = st->id;
	uint32_t i = (uint32_t)(st - s->v);
	if (i != s->n - 1)
		s->v[i] = s->v[s->n - 1];
	s->n--;
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = ((const struct stream *)a)->id, y = ((const struct stream *)b)->id;
	return x < y ? -1 : x > y;
}

/* Emits the streams marked doomed, in id order, and forgets them. */
void h2_close_marked(struct h2 *s, const char *reason)
{
	if (!s->n)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_id);
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		if (!s->v[i].doomed) {
			if (k != i)
				s->v[k] = s->v[i];
			k++;
			continue;
		}
		emit(s, &s->v[i], reason);
		s->closed[s->nclosed++ % CLOSED_RING] = s->v[i].id;
	}
	s->n = k;
}

static struct stream *open_stream(struct h2 *s, uint32_t id, uint64_t ts)
{
	if (s->n == STREAMS_MAX) {
		if (!s->warned_streams++)
			h2_anomaly(s, ts, "bound_exceeded", "http2: more than %d open streams; the oldest reported early",
				STREAMS_MAX);
		struct stream *low = &s->v[0];
		for (uint32_t i = 1; i < s->n; i++)
			if (s->v[i].id < low->id)
				low = &s->v[i];
		h2_close(s, low, "too many open streams");
	}
	if (s->n == s->cap) {
		uint32_t nc = s->cap ? s->cap * 2 : 8;
		struct stream *nv = realloc(s->v, (size_t)nc * sizeof(*nv));
		if (!nv)
			return NULL;
		s->v = nv;
		s->cap = nc;
	}
	struct stream *st = &s->v[s->n++];
	memset(st, 0, sizeof(*st));
	st->id = id;
	st->rst = st->goaway = -1;
	grpc_init(&st->g);
	if (id > s->max_id[id & 1])
		s->max_id[id & 1] = id;
	if (!s->min_id[id & 1] && id == s->max_id[id & 1])
		s->min_id[id & 1] = id; /* the first opened here (later ones are higher) */
	return st;
}

/* The stream a frame of id belongs to: open, or opened now (create) when
 * it was not ended lately. */
struct stream *h2_stream(struct h2 *s, uint32_t id, int create, uint64_t ts)
{
	struct stream *st = h2_find(s, id);
	if (st || !create || !id || was_closed(s, id))
		return st;
	return open_stream(s, id, ts);
}

/* Direction dir of st ended (END_STREAM) at ts. */
void h2_dir_end(struct h2 *s, struct stream *st, int dir, uint64_t ts)
{
	if (dir == FR_C2S) {
		st->req_end = 1;
		st->req_last = ts;
	} else {
		st->resp_end = 1;
		st->resp_last = ts;
	}
	/* a stream opened before we saw it ends with its response */
	if (st->resp_end && (st->req_end || (!st->req_seen && !st->bytes[FR_C2S])))
		h2_close(s, st, NULL);
}

/* ---- header blocks ---------------------------------------------------------- */

enum { P_REQ, P_RESP, P_TRAIL };

struct fctx {
	struct h2 *s;
	struct stream *st;
	int dir, phase;
	size_t list;   /* bytes of the fields so far (RFC 9113 6.5.2's count) */
	int regular;   /* a regular (not pseudo-) field was seen */
	int status;    /* :status of this block */
	int over;      /* LIST_MAX reached: the rest is decoded, not kept */
};

static int name_is(const struct hpack_field *f, const char *lit)
{
	size_t k = strlen(lit);
	return f->nlen == k && !memcmp(f->name, lit, k);
}

static void on_field(void *arg, const struct hpack_field *f)
{
	struct fctx *x = arg;
	struct stream *st = x->st;
	x->list += f->nlen + f->vlen + 32;
	if (x->list > LIST_MAX) {
		x->over = 1;
		return;
	}
	if (f->unknown) {
		st->unknown++;
		st->resp_unknown |= x->dir == FR_S2C;
		if (x->phase == P_REQ && !x->regular && !st->unk[0] && f->nlen < sizeof(st->unk))
			h2_copy_text(st->unk, sizeof(st->unk), f->name, f->nlen);
		return;
	}
	if (f->nlen && f->name[0] != ':')
		x->regular = 1;
	grpc_field(&st->g, x->dir, f->name, f->nlen, f->value, f->vlen);
	if (x->phase == P_REQ) {
		if (name_is(f, ":method"))
			h2_copy_text(st->method, sizeof(st->method), f->value, f->vlen);
		else if (name_is(f, ":scheme"))
			h2_copy_text(st->scheme, sizeof(st->scheme), f->value, f->vlen);
		else if (name_is(f, ":authority") || (name_is(f, "host") && !st->authority[0]))
			h2_copy_text(st->authority, sizeof(st->authority), f->value, f->vlen);
		else if (name_is(f, ":path"))
			h2_copy_text(st->path, sizeof(st->path), f->value, f->vlen);
		else if (name_is(f, "content-type"))
			h2_copy_text(st->req_ct, sizeof(st->req_ct), f->value, f->vlen);
	} else if (x->phase == P_RESP) {
		if (name_is(f, ":status")) {
			int v = 0;
			for (size_t i = 0; i < f->vlen && i < 3 && f->value[i] >= '0' && f->value[i] <= '9'; i++)
				v = v * 10 + (f->value[i] - '0');
			x->status = v;
		} else if (name_is(f, "content-type")) {
			h2_copy_text(st->resp_ct, sizeof(st->resp_ct), f->value, f->vlen);
		}
	}
}

void h2_block_reset(struct h2dir *d)
{
	d->blk_on = d->blk_over = 0;
	d->blklen = 0;
}

/* The block in d->blk is complete (END_HEADERS): decode it into its stream. */
void h2_block_done(struct h2 *s, struct h2dir *d, int dir, uint64_t ts)
{
	int push = d->blk_type == T_PUSH;
	uint32_t id = push ? d->blk_promised : d->blk_sid;
	struct stream *st = h2_stream(s, id, 1, ts);
	struct fctx x = {s, st, dir, P_REQ, 0, 0, 0, 0};
	if (st && !push)
		x.phase = dir == FR_C2S ? (st->req_seen ? P_TRAIL : P_REQ) : (st->resp_seen ? P_TRAIL : P_RESP);
	if (d->blk_over) {
		h2_anomaly(s, ts, "bound_exceeded", "http2: header block of stream %u over %u KiB or damaged; not decoded",
			id, BLOCK_MAX >> 10);
		hpack_forget(&d->hp);
	} else {
		struct stream dummy;
		if (!st) { /* a stray block (stream ended lately): decoded for the table only */
			memset(&dummy, 0, sizeof(dummy));
			grpc_init(&dummy.g);
			x.st = &dummy;
			x.phase = P_TRAIL;
		}
		const char *err;
		int notes;
		if (hpack_decode(&d->hp, d->blk, d->blklen, on_field, &x, &err, &notes) < 0)
			h2_anomaly(s, ts, "parse_error", "http2: HPACK block of stream %u: %s; table forgotten", id, err);
		if (notes)
			h2_anomaly(s, ts, "parse_error", "http2: HPACK block of stream %u: %d references beyond the table",
				id, notes);
		if (x.over)
			h2_anomaly(s, ts, "bound_exceeded", "http2: header list of stream %u over %u KiB; the rest not kept",
				id, LIST_MAX >> 10);
		if (s->tsize[dir] && d->hp.max_size > s->tsize[dir] && d->hp.max_size != HPACK_DEFAULT_SIZE)
			h2_anomaly(s, ts, "parse_error", "http2: HPACK table size %u above SETTINGS_HEADER_TABLE_SIZE %u",
				d->hp.max_size, s->tsize[dir]);
	}
	if (!st)
		return;
	st->bytes[dir] += d->blk_bytes;
	if (push) {
		st->pushed = st->req_seen = st->req_end = 1;
		st->req_first = st->req_last = d->blk_ts;
		st->hdr[FR_C2S] += d->blklen;
		return;
	}
	st->hdr[dir] += d->blklen;
	if (x.phase == P_REQ) {
		st->req_seen = 1;
		st->req_first = d->blk_ts;
		st->req_last = ts;
	} else if (x.phase == P_RESP && !(x.status >= 100 && x.status < 200)) {
		st->resp_seen = 1;
		st->status = x.status;
		st->resp_first = d->blk_ts;
		st->resp_last = ts;
	}
	if (d->blk_flags & F_END_STREAM)
		h2_dir_end(s, st, dir, ts);
	else if (dir == FR_C2S)
		st->req_last = ts;
	else if (st->resp_seen)
		st->resp_last = ts;
}

/* This frame's fragment is at blk[frag0..): strip its padding, priority or
 * promised id.  -1 when they do not fit in it. */
int h2_fragment_strip(struct h2dir *d)
{
	if (!d->blk) /* an empty fragment: fine unless something had to be in it */
		return (d->ftype != T_CONT && (d->fflags & F_PADDED)) || d->ftype == T_PUSH ||
		       (d->ftype == T_HEADERS && (d->fflags & F_PRIO)) ? -1 : 0;
	uint8_t *r = d->blk + d->frag0;
	size_t n = d->blklen - d->frag0, off = 0, pad = 0;
	if (d->ftype != T_CONT && (d->fflags & F_PADDED)) {
		if (n < 1)
			return -1;
		pad = r[0];
		off = 1;
	}
	if (d->ftype == T_HEADERS && (d->fflags & F_PRIO))
		off += 5;
	if (d->ftype == T_PUSH) {
		if (n < off + 4)
			return -1;
		d->blk_promised = be32(r + off) & 0x7fffffffu;
		off += 4;
	}
	if (off + pad > n)
		return -1;
	if (n - off - pad)
		memmove(r, r + off, n - off - pad);
	d->blklen = d->frag0 + n - off - pad;
	return 0;
}
