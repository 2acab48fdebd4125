/* http2.c - HTTP/2 over cleartext TCP (h2c): frames, streams, HPACK header
 * blocks; one request row per stream, and gRPC calls as a layer (grpc.c).
 *
 * Reference: RFC 9113 (HTTP/2: frames 4, 6; streams 5.1; h2c upgrade 3.2
 * of RFC 7540), RFC 7541 (HPACK, in hpack.c).
 *
 *   connection  client: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" then frames;
 *               server: frames (SETTINGS first).  Or, by upgrade: an
 *               HTTP/1.1 request with `Upgrade: h2c` (it is stream 1), a
 *               101 response, then both sides as above.
 *   frame       +-----------------------------------------------+
 *               |                 Length (24)                   |
 *               +---------------+---------------+---------------+
 *               |   Type (8)    |   Flags (8)   |
 *               +-+-------------+---------------+-------------------+
 *               |R|                 Stream Identifier (31)          |
 *               +=+=================================================+
 *               |                 Frame Payload (Length)            |
 *               +---------------------------------------------------+
 *   types       DATA 0, HEADERS 1, PRIORITY 2, RST_STREAM 3, SETTINGS 4,
 *               PUSH_PROMISE 5, PING 6, GOAWAY 7, WINDOW_UPDATE 8,
 *               CONTINUATION 9; others are skipped (RFC 9113 5.5).
 *   HEADERS     [Pad Length 8] [E|Stream Dependency 31, Weight 8]
 *               Field Block Fragment [Padding]; END_HEADERS 0x4 ends the
 *               block, else CONTINUATION frames follow on the same stream.
 *
 * A stream's row comes when both ends of it have ended (END_STREAM each
 * way), when it is reset (RST_STREAM), refused by GOAWAY, or at the end of
 * the connection.  Timing: upload = first request frame to END_STREAM,
 * wait = until the final response HEADERS, download = to the response's
 * END_STREAM.  Each direction is a resumable byte machine; DATA payloads
 * are never buffered, header blocks are (up to BLOCK_MAX).  A recording
 * that starts mid-connection is decoded from the first frame header found:
 * HPACK references to entries before the window become "<unknown:N>"
 * placeholders, and the share of such fields is reported per stream
 * (hpack_unknown) and per connection (anomaly hpack_unknown_entries).
 * After a gap that breaks the framing the parser looks for two valid frame
 * headers in a row, and the HPACK tables are forgotten and learned again.
 */
#include "../proto.h"
#include "../../formats/bytes.h"
#include "grpc.h"
#include "hpack.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN 24
#define BLOCK_MAX (64u << 10)  /* one header block, HEADERS + CONTINUATION */
#define LIST_MAX (64u << 10)   /* decoded fields of one block kept for the row */
#define STREAMS_MAX 512        /* open streams of one connection */
#define H1_MAX 16384           /* the HTTP/1.1 upgrade request or 101 head */
#define SYNC_FRAME_MAX 16384   /* longest frame trusted when resynchronising */
#define WIN_MAX (2 * (SYNC_FRAME_MAX + 18)) /* resync window */
#define CLOSED_RING 64         /* ids of streams ended lately: stray frames */

enum { T_DATA, T_HEADERS, T_PRIORITY, T_RST, T_SETTINGS, T_PUSH, T_PING, T_GOAWAY, T_WINDOW, T_CONT };
enum { F_END_STREAM = 0x1, F_ACK = 0x1, F_END_HEADERS = 0x4, F_PADDED = 0x8, F_PRIO = 0x20 };

/* direction states */
enum { S_START = 0, S_PREFACE, S_H1HEAD, S_H1BODY, S_FHDR, S_PAYLOAD, S_RESYNC, S_DEAD };

static const char *const frame_names[] = {
	"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
	"WINDOW_UPDATE", "CONTINUATION",
};
static const char *const error_names[] = {
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
	"STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
	"CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

struct h2dir {
	int st;
	uint8_t hdr[9];
	uint32_t hlen;
	/* the frame being read */
	uint32_t flen, fpos, fsid;
	uint8_t ftype, fflags;
	int pad;           /* DATA: pad length, -1 until read */
	int damaged;       /* bytes of this frame were lost in a gap */
	uint64_t fts;      /* time of its first byte */
	uint8_t ctl[64];   /* first bytes of a control frame's payload */
	uint32_t ctllen;
	int frames;        /* frames read (the first tells a connection start) */
	/* the header block being collected */
	uint8_t *blk;
	size_t blklen, blkcap, frag0;
	int blk_on, blk_over;
	uint8_t blk_type, blk_flags;
	uint32_t blk_sid, blk_promised;
	uint64_t blk_ts, blk_bytes;
	/* the upgrade head, the preface matched so far, the resync window */
	uint8_t *buf;
	size_t blen, bcap, boff;
	uint64_t h1body, skipped;
	uint8_t *inj;      /* window bytes to read again after a resync */
	size_t injlen;
	struct hpack hp;
};

struct stream {
	uint32_t id;
	int pushed, req_seen, resp_seen, req_end, resp_end, truncated;
	int doomed;        /* to be closed by close_marked() */
	int status;        /* final :status, 0: none */
	char method[16], scheme[8], authority[128], path[512], req_ct[96], resp_ct[96];
	char unk[24];      /* the first placeholder among its request's pseudo-fields */
	uint64_t req_first, req_last, resp_first, resp_last;
	uint64_t bytes[2], hdr[2], body[2];
	int64_t rst, goaway; /* error codes, -1: none */
	int rst_dir;
	uint32_t unknown;  /* header fields that were placeholders */
	int resp_unknown;  /* of them, in the response or trailers */
	struct grpc_call g;
};

struct h2 {
	struct h2dir d[2];
	struct stream *v;
	uint32_t n, cap;
	uint32_t max_id[2]; /* highest stream id opened, by parity */
	uint32_t closed[CLOSED_RING];
	uint32_t nclosed;
	uint32_t tsize[2];  /* SETTINGS_HEADER_TABLE_SIZE for each direction's blocks, 0: unknown */
	int mid;            /* the connection began before its first byte here */
	int dead, warned_streams;
	struct fr_pctx *ctx;
};

static void anomaly(struct h2 *s, uint64_t ts, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void anomaly(struct h2 *s, uint64_t ts, const char *kind, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->ctx->anomaly(s->ctx, ts, kind, buf);
}

static const char *err_name(int64_t code, char *buf)
{
	if (code >= 0 && code < (int64_t)(sizeof(error_names) / sizeof(error_names[0])))
		return error_names[code];
	snprintf(buf, 24, "0x%llx", (unsigned long long)code);
	return buf;
}

static uint32_t be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A frame header that a peer could have sent (RFC 9113 6): the stream id
 * and length its type allows.  When looking for frames (strict) also a
 * known type, only defined flags, the reserved bit clear and a length we
 * trust (SYNC_FRAME_MAX); a receiver ignores those (RFC 9113 4.1, 5.5). */
static int frame_plausible(const uint8_t *h, int strict)
{
	static const uint8_t flags[10] = {0x09, 0x2d, 0, 0, 0x01, 0x0c, 0x01, 0, 0, 0x04};
	uint32_t len = be24(h), sid = be32(h + 5) & 0x7fffffffu;
	uint8_t type = h[3], fl = h[4];
	if (strict && (type > T_CONT || (fl & ~flags[type]) || (h[5] & 0x80) || len > SYNC_FRAME_MAX))
		return 0;
	switch (type) {
	case T_SETTINGS: return sid == 0 && len % 6 == 0 && !(fl & F_ACK && len);
	case T_PING: return sid == 0 && len == 8;
	case T_GOAWAY: return sid == 0 && len >= 8;
	case T_WINDOW: return len == 4;
	case T_RST: return sid != 0 && len == 4;
	case T_PRIORITY: return sid != 0 && len == 5;
	case T_DATA:
	case T_HEADERS:
	case T_PUSH:
	case T_CONT: return sid != 0;
	default: return 1;
	}
}

/* ---- streams -------------------------------------------------------------- */

static struct stream *find(struct h2 *s, uint32_t id)
{
	for (uint32_t i = s->n; i-- > 0;)
		if (s->v[i].id == id)
			return &s->v[i];
	return NULL;
}

static int was_closed(const struct h2 *s, uint32_t id)
{
	uint32_t k = s->nclosed < CLOSED_RING ? s->nclosed : CLOSED_RING;
	for (uint32_t i = 0; i < k; i++)
		if (s->closed[i] == id)
			return 1;
	return 0;
}

static void copy_text(char *dst, size_t cap, const uint8_t *p, size_t n)
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
	fr_field_str(&r, "rst_error", st->rst >= 0 ? err_name(st->rst, e1) : NULL);
	fr_field_str(&r, "goaway_error", st->goaway >= 0 ? err_name(st->goaway, e2) : NULL);
	fr_field_int(&r, "hpack_unknown", st->unknown);
	if (grpc) {
		r.layer = &fr_proto_grpc;
		r.layer_field = r.n_fields;
		grpc_fields(&st->g, path, &r, svc, sizeof(svc));
	}
	s->ctx->emit_request(s->ctx, &r);
}

/* Emits stream st and forgets it. */
static void close_stream(struct h2 *s, struct stream *st, const char *reason)
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
static void close_marked(struct h2 *s, const char *reason)
{
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
			anomaly(s, ts, "bound_exceeded", "http2: more than %d open streams; the oldest reported early",
				STREAMS_MAX);
		struct stream *low = &s->v[0];
		for (uint32_t i = 1; i < s->n; i++)
			if (s->v[i].id < low->id)
				low = &s->v[i];
		close_stream(s, low, "too many open streams");
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
	return st;
}

/* The stream a frame of id belongs to: open, or opened now (create) when
 * it was not ended lately. */
static struct stream *get_stream(struct h2 *s, uint32_t id, int create, uint64_t ts)
{
	struct stream *st = find(s, id);
	if (st || !create || !id || was_closed(s, id))
		return st;
	return open_stream(s, id, ts);
}

/* Direction dir of st ended (END_STREAM) at ts. */
static void dir_end(struct h2 *s, struct stream *st, int dir, uint64_t ts)
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
		close_stream(s, st, NULL);
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
			copy_text(st->unk, sizeof(st->unk), f->name, f->nlen);
		return;
	}
	if (f->nlen && f->name[0] != ':')
		x->regular = 1;
	grpc_field(&st->g, x->dir, f->name, f->nlen, f->value, f->vlen);
	if (x->phase == P_REQ) {
		if (name_is(f, ":method"))
			copy_text(st->method, sizeof(st->method), f->value, f->vlen);
		else if (name_is(f, ":scheme"))
			copy_text(st->scheme, sizeof(st->scheme), f->value, f->vlen);
		else if (name_is(f, ":authority") || (name_is(f, "host") && !st->authority[0]))
			copy_text(st->authority, sizeof(st->authority), f->value, f->vlen);
		else if (name_is(f, ":path"))
			copy_text(st->path, sizeof(st->path), f->value, f->vlen);
		else if (name_is(f, "content-type"))
			copy_text(st->req_ct, sizeof(st->req_ct), f->value, f->vlen);
	} else if (x->phase == P_RESP) {
		if (name_is(f, ":status")) {
			int v = 0;
			for (size_t i = 0; i < f->vlen && i < 3 && f->value[i] >= '0' && f->value[i] <= '9'; i++)
				v = v * 10 + (f->value[i] - '0');
			x->status = v;
		} else if (name_is(f, "content-type")) {
			copy_text(st->resp_ct, sizeof(st->resp_ct), f->value, f->vlen);
		}
	}
}

static void block_reset(struct h2dir *d)
{
	d->blk_on = d->blk_over = 0;
	d->blklen = 0;
}

/* The block in d->blk is complete (END_HEADERS): decode it into its stream. */
static void block_done(struct h2 *s, struct h2dir *d, int dir, uint64_t ts)
{
	int push = d->blk_type == T_PUSH;
	uint32_t id = push ? d->blk_promised : d->blk_sid;
	struct stream *st = get_stream(s, id, 1, ts);
	struct fctx x = {s, st, dir, P_REQ, 0, 0, 0, 0};
	if (st && !push)
		x.phase = dir == FR_C2S ? (st->req_seen ? P_TRAIL : P_REQ) : (st->resp_seen ? P_TRAIL : P_RESP);
	if (d->blk_over) {
		anomaly(s, ts, "bound_exceeded", "http2: header block of stream %u over %u KiB or damaged; not decoded",
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
			anomaly(s, ts, "parse_error", "http2: HPACK block of stream %u: %s; table forgotten", id, err);
		if (notes)
			anomaly(s, ts, "parse_error", "http2: HPACK block of stream %u: %d references beyond the table",
				id, notes);
		if (x.over)
			anomaly(s, ts, "bound_exceeded", "http2: header list of stream %u over %u KiB; the rest not kept",
				id, LIST_MAX >> 10);
		if (s->tsize[dir] && d->hp.max_size > s->tsize[dir] && d->hp.max_size != HPACK_DEFAULT_SIZE)
			anomaly(s, ts, "parse_error", "http2: HPACK table size %u above SETTINGS_HEADER_TABLE_SIZE %u",
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
		dir_end(s, st, dir, ts);
	else if (dir == FR_C2S)
		st->req_last = ts;
	else if (st->resp_seen)
		st->resp_last = ts;
}

/* This frame's fragment is at blk[frag0..): strip its padding, priority or
 * promised id.  -1 when they do not fit in it. */
static int fragment_strip(struct h2dir *d)
{
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
	memmove(r, r + off, n - off - pad);
	d->blklen = d->frag0 + n - off - pad;
	return 0;
}

/* ---- frames ------------------------------------------------------------------ */

/* DATA payload bytes p[0..n) at payload offset pos: padding dropped. */
static void data_bytes(struct h2 *s, struct h2dir *d, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	size_t i = 0;
	if ((d->fflags & F_PADDED) && d->fpos == 0 && n) {
		d->pad = p[0];
		i = 1;
		if (d->pad >= (int)d->flen)
			anomaly(s, ts, "parse_error", "http2: DATA padding %d longer than its frame", d->pad);
	}
	uint32_t end = d->flen;
	if (d->fflags & F_PADDED)
		end = d->pad >= 0 && (uint32_t)d->pad < d->flen ? d->flen - (uint32_t)d->pad : 1;
	uint32_t pos = d->fpos + (uint32_t)i;
	if (pos >= end || i >= n)
		return;
	size_t k = n - i < end - pos ? n - i : end - pos;
	struct stream *st = get_stream(s, d->fsid, 1, ts);
	if (!st)
		return;
	st->body[dir] += k;
	grpc_data(&st->g, dir, p + i, k);
}

static void settings(struct h2 *s, struct h2dir *d, int dir)
{
	if (d->fflags & F_ACK)
		return;
	/* entries beyond the first ten (60 bytes) are not read */
	for (uint32_t i = 0; i + 6 <= d->ctllen; i += 6)
		if ((d->ctl[i] << 8 | d->ctl[i + 1]) == 1) /* SETTINGS_HEADER_TABLE_SIZE */
			s->tsize[!dir] = be32(d->ctl + i + 2); /* bounds the blocks the sender receives */
}

static void goaway(struct h2 *s, struct h2dir *d, int dir, uint64_t ts)
{
	uint32_t last = be32(d->ctl) & 0x7fffffffu;
	uint32_t code = be32(d->ctl + 4);
	char why[96], e[24];
	snprintf(why, sizeof(why), "GOAWAY %s: not processed (last stream %u)", err_name(code, e), last);
	/* streams the receiver opened above last were not processed */
	uint32_t parity = dir == FR_S2C ? 1 : 0, refused = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		struct stream *st = &s->v[i];
		if ((st->id & 1) == parity && st->id > last)
			st->doomed = 1, refused++;
		if (code || st->doomed)
			st->goaway = code;
	}
	if (refused)
		close_marked(s, why);
	if (code)
		anomaly(s, ts, "goaway", "http2: GOAWAY %s from the %s (last stream %u)", err_name(code, e),
			dir == FR_C2S ? "client" : "server", last);
}

/* The frame in d is read whole. */
static void frame_end(struct h2 *s, struct h2dir *d, int dir, uint64_t ts)
{
	struct stream *st;
	switch (d->ftype) {
	case T_DATA:
		if (!(st = get_stream(s, d->fsid, 1, ts)))
			break;
		st->bytes[dir] += 9 + (uint64_t)d->flen;
		if (d->damaged)
			st->truncated = 1;
		if (dir == FR_S2C && !st->resp_seen && !st->req_seen)
			st->resp_seen = 1, st->resp_first = d->fts; /* opened before we saw it */
		if (d->fflags & F_END_STREAM)
			dir_end(s, st, dir, ts);
		else if (dir == FR_C2S)
			st->req_last = ts;
		else
			st->resp_last = ts;
		break;
	case T_HEADERS:
	case T_PUSH:
	case T_CONT:
		if (!d->blk_over && fragment_strip(d) < 0) {
			anomaly(s, ts, "parse_error", "http2: %s of stream %u: padding longer than the frame",
				frame_names[d->ftype], d->fsid);
			d->blk_over = 1;
		}
		if (d->damaged)
			d->blk_over = 1;
		if (d->fflags & F_END_HEADERS) {
			block_done(s, d, dir, ts);
			block_reset(d);
		}
		break;
	case T_RST:
		if (d->damaged || !(st = find(s, d->fsid)))
			break;
		{
			char why[80], e[24];
			st->rst = be32(d->ctl);
			st->rst_dir = dir;
			st->bytes[dir] += 9 + (uint64_t)d->flen;
			snprintf(why, sizeof(why), "RST_STREAM %s from the %s", err_name(st->rst, e),
				 dir == FR_C2S ? "client" : "server");
			close_stream(s, st, st->rst == 0 && st->resp_end ? NULL : why);
		}
		break;
	case T_SETTINGS:
		if (!d->damaged)
			settings(s, d, dir);
		break;
	case T_GOAWAY:
		if (!d->damaged && d->ctllen >= 8)
			goaway(s, d, dir, ts);
		break;
	default: /* PRIORITY, PING, WINDOW_UPDATE, extensions: nothing to keep */
		break;
	}
}

/* A frame header is complete in d->hdr: take the frame on. */
static void frame_begin(struct h2 *s, struct h2dir *d, int dir, uint64_t ts)
{
	d->flen = be24(d->hdr);
	d->ftype = d->hdr[3];
	d->fflags = d->hdr[4];
	d->fsid = be32(d->hdr + 5) & 0x7fffffffu;
	d->fpos = 0;
	d->pad = -1;
	d->damaged = 0;
	d->ctllen = 0;
	if (!d->frames++ && dir == FR_S2C && (d->ftype != T_SETTINGS || (d->fflags & F_ACK)))
		d->hp.unknown = 1; /* a server's first frame is its SETTINGS */
	if (d->blk_on && d->ftype != T_CONT) {
		anomaly(s, ts, "parse_error", "http2: %s of stream %u inside a header block; block dropped",
			d->ftype <= T_CONT ? frame_names[d->ftype] : "frame", d->fsid);
		hpack_forget(&d->hp);
		block_reset(d);
	}
	if (d->ftype == T_CONT && (!d->blk_on || d->fsid != d->blk_sid)) {
		anomaly(s, ts, "parse_error", "http2: CONTINUATION of stream %u without its HEADERS", d->fsid);
		d->ftype = 0xff; /* skipped */
	}
	if (d->ftype == T_HEADERS || d->ftype == T_PUSH) {
		block_reset(d);
		d->blk_on = 1;
		d->blk_type = d->ftype;
		d->blk_flags = d->fflags;
		d->blk_sid = d->fsid;
		d->blk_ts = d->fts;
		d->blk_bytes = 0;
	}
	if (d->ftype == T_HEADERS || d->ftype == T_PUSH || d->ftype == T_CONT) {
		d->frag0 = d->blklen;
		d->blk_bytes += 9 + (uint64_t)d->flen;
	}
	d->st = S_PAYLOAD;
}

/* Takes up to n payload bytes of the current frame; returns how many. */
static size_t payload(struct h2 *s, struct h2dir *d, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	size_t take = n < d->flen - d->fpos ? n : d->flen - d->fpos;
	switch (d->ftype) {
	case T_DATA:
		data_bytes(s, d, dir, p, take, ts);
		break;
	case T_HEADERS:
	case T_PUSH:
	case T_CONT:
		if (d->blk_over || d->blklen + take > BLOCK_MAX) {
			d->blk_over = 1;
			break;
		}
		d->blk = fr_grow(d->blk, &d->blkcap, d->blklen + take, 1024);
		memcpy(d->blk + d->blklen, p, take);
		d->blklen += take;
		break;
	default: {
		size_t k = take < sizeof(d->ctl) - d->ctllen ? take : sizeof(d->ctl) - d->ctllen;
		memcpy(d->ctl + d->ctllen, p, k);
		d->ctllen += (uint32_t)k;
		break;
	}
	}
	d->fpos += (uint32_t)take;
	return take;
}

/* ---- the HTTP/1.1 upgrade (RFC 7540 3.2) ----------------------------------- */

/* The next line of the head in b[*o..n) (without CR LF), or -1. */
static int head_line(const uint8_t *b, size_t n, size_t *o, const uint8_t **line, size_t *len)
{
	if (*o >= n)
		return -1;
	const uint8_t *nl = memchr(b + *o, '\n', n - *o);
	if (!nl)
		return -1;
	*line = b + *o;
	*len = (size_t)(nl - *line);
	*o += *len + 1;
	if (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	return 0;
}

/* The request that asked for h2c becomes stream 1.  0, or -1 when it is
 * not an upgrade to h2c. */
static int h1_request(struct h2 *s, struct h2dir *d, uint64_t ts)
{
	size_t o = 0, len, ml;
	const uint8_t *line;
	if (head_line(d->buf, d->blen, &o, &line, &len) < 0)
		return -1;
	const uint8_t *sp1 = memchr(line, ' ', len);
	if (!sp1 || len < 10 || memcmp(line + len - 9, " HTTP/1.", 8) != 0)
		return -1;
	ml = (size_t)(sp1 - line);
	const uint8_t *target = sp1 + 1;
	size_t tl = (size_t)(line + len - 9 - target);
	struct stream *st = get_stream(s, 1, 1, ts);
	if (!st)
		return -1;
	int h2c = 0;
	uint64_t clen = 0;
	while (head_line(d->buf, d->blen, &o, &line, &len) == 0 && len) {
		const uint8_t *colon = memchr(line, ':', len);
		if (!colon)
			continue;
		size_t nl = (size_t)(colon - line);
		const uint8_t *v = colon + 1;
		size_t vl = len - nl - 1;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (fr_lc_eq(line, nl, "host"))
			copy_text(st->authority, sizeof(st->authority), v, vl);
		else if (fr_lc_eq(line, nl, "content-type"))
			copy_text(st->req_ct, sizeof(st->req_ct), v, vl);
		else if (fr_lc_eq(line, nl, "upgrade"))
			for (size_t i = 0; i + 3 <= vl; i++)
				h2c |= fr_lc_eq(v + i, 3, "h2c");
		else if (fr_lc_eq(line, nl, "content-length"))
			for (size_t i = 0; i < vl && i < 15 && v[i] >= '0' && v[i] <= '9'; i++)
				clen = clen * 10 + (uint64_t)(v[i] - '0');
	}
	copy_text(st->method, sizeof(st->method), d->buf, ml);
	copy_text(st->path, sizeof(st->path), target, tl);
	strcpy(st->scheme, "http");
	st->req_seen = 1;
	st->req_first = d->fts;
	st->req_last = ts;
	st->bytes[FR_C2S] = d->blen;
	st->hdr[FR_C2S] = d->blen;
	d->h1body = clen;
	if (!clen)
		st->req_end = 1;
	return h2c ? 0 : -1;
}

/* The head in d->buf is complete. */
static void h1_done(struct h2 *s, struct h2dir *d, int dir, uint64_t ts)
{
	if (dir == FR_C2S) {
		if (h1_request(s, d, ts) < 0) {
			anomaly(s, ts, "parse_error", "http2: an HTTP/1.1 request without Upgrade: h2c");
			d->st = S_DEAD;
			s->dead = 1;
			return;
		}
		d->st = d->h1body ? S_H1BODY : S_PREFACE;
	} else {
		int status = -1;
		if (d->blen >= 12 && !memcmp(d->buf, "HTTP/1.", 7)) {
			status = 0;
			for (int i = 9; i < 12; i++)
				status = status * 10 + (d->buf[i] >= '0' && d->buf[i] <= '9' ? d->buf[i] - '0' : 0);
		}
		if (status != 101) {
			anomaly(s, ts, "parse_error", "http2: upgrade to h2c refused (HTTP/1.1 %d)", status);
			d->st = S_DEAD;
			s->dead = 1;
			return;
		}
		d->st = S_FHDR;
		d->frames = 1; /* the 101 stands for the server's first frame */
	}
	d->blen = 0;
}

/* ---- resynchronisation --------------------------------------------------- */

static void to_resync(struct h2 *s, struct h2dir *d, int dir)
{
	(void)s;
	(void)dir;
	d->st = S_RESYNC;
	d->blen = d->boff = 0;
	d->skipped = 0;
	d->hlen = 0;
	block_reset(d);
	hpack_forget(&d->hp);
}

/* Looks for two plausible frame headers in a row in the window; when
 * found, the window from there is handed back (d->inj) to be read as
 * frames. */
static void resync_scan(struct h2 *s, struct h2dir *d, uint64_t ts)
{
	for (;;) {
		size_t have = d->blen - d->boff;
		const uint8_t *w = d->buf + d->boff;
		if (have < 9)
			return;
		if (frame_plausible(w, 1)) {
			size_t need = 9 + (size_t)be24(w) + 9;
			if (have < need)
				return; /* wait for the next header */
			if (frame_plausible(w + need - 9, 1)) {
				anomaly(s, ts, "resync", "http2: frames found again after %llu bytes",
					(unsigned long long)d->skipped);
				d->inj = malloc(have);
				if (d->inj) {
					memcpy(d->inj, w, have);
					d->injlen = have;
				}
				d->blen = d->boff = 0;
				d->hlen = 0;
				d->st = S_FHDR;
				return;
			}
		}
		d->boff++;
		d->skipped++;
	}
}

/* Adds bytes to the resync window; returns how many it took. */
static size_t resync_take(struct h2 *s, struct h2dir *d, const uint8_t *p, size_t n, uint64_t ts)
{
	if (d->boff && d->blen + n > WIN_MAX) { /* drop what was scanned */
		memmove(d->buf, d->buf + d->boff, d->blen - d->boff);
		d->blen -= d->boff;
		d->boff = 0;
	}
	size_t room = WIN_MAX - d->blen, take = n < room ? n : room;
	d->buf = fr_grow(d->buf, &d->bcap, d->blen + take, 4096);
	memcpy(d->buf + d->blen, p, take);
	d->blen += take;
	resync_scan(s, d, ts);
	if (d->st == S_RESYNC && d->blen == WIN_MAX && d->boff == 0) {
		d->boff = 1; /* a full window with no frame at its start */
		d->skipped++;
	}
	return take;
}

/* ---- the byte machine of one direction ------------------------------------ */

/* The first byte of a direction tells how the connection began. */
static void start(struct h2 *s, struct h2dir *d, int dir, uint8_t b)
{
	if (dir == FR_C2S && b == 'P') {
		d->st = S_PREFACE;
	} else if ((dir == FR_C2S && b >= 'A' && b <= 'Z') || (dir == FR_S2C && b == 'H')) {
		d->st = S_H1HEAD;
	} else {
		d->st = S_FHDR;
		if (dir == FR_C2S) { /* frames without a preface: begun before */
			s->mid = 1;
			s->d[FR_C2S].hp.unknown = s->d[FR_S2C].hp.unknown = 1;
		}
	}
}

/* Reads p[0..n) in direction dir; returns the bytes taken (all, unless a
 * resync hands back its window in d->inj first). */
static size_t machine(struct h2 *s, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct h2dir *d = &s->d[dir];
	size_t i = 0;
	while (i < n && !d->inj) {
		switch (d->st) {
		case S_START:
			start(s, d, dir, p[i]);
			d->fts = ts;
			break;
		case S_PREFACE:
			if (p[i] != (uint8_t)PREFACE[d->blen]) {
				anomaly(s, ts, "parse_error", "http2: not the connection preface");
				s->mid = 1;
				to_resync(s, d, dir);
				break;
			}
			i++;
			if (++d->blen == PREFACE_LEN) {
				d->blen = 0;
				d->st = S_FHDR;
			}
			break;
		case S_H1HEAD: {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			size_t take = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
			if (d->blen + take > H1_MAX) {
				anomaly(s, ts, "bound_exceeded", "http2: HTTP/1.1 upgrade head over 16 KiB");
				d->st = S_DEAD;
				s->dead = 1;
				return n;
			}
			d->buf = fr_grow(d->buf, &d->bcap, d->blen + take, 1024);
			memcpy(d->buf + d->blen, p + i, take);
			d->blen += take;
			i += take;
			if (nl && (d->blen == 1 || (d->blen >= 2 && d->buf[d->blen - 2] == '\n') ||
				   (d->blen >= 3 && !memcmp(d->buf + d->blen - 3, "\n\r\n", 3))))
				h1_done(s, d, dir, ts);
			break;
		}
		case S_H1BODY: {
			size_t take = n - i < d->h1body ? n - i : (size_t)d->h1body;
			struct stream *st = find(s, 1);
			i += take;
			d->h1body -= take;
			if (st) {
				st->bytes[FR_C2S] += take;
				st->body[FR_C2S] += take;
				st->req_last = ts;
			}
			if (!d->h1body) {
				if (st)
					st->req_end = 1;
				d->st = S_PREFACE;
			}
			break;
		}
		case S_FHDR:
			if (!d->hlen)
				d->fts = ts;
			d->hdr[d->hlen++] = p[i++];
			if (d->hlen == 9) {
				d->hlen = 0;
				if (!frame_plausible(d->hdr, 0)) {
					anomaly(s, ts, "parse_error", "http2: not a frame header (type %u, length %u)",
						d->hdr[3], be24(d->hdr));
					to_resync(s, d, dir);
					break;
				}
				frame_begin(s, d, dir, ts);
				if (!d->flen) {
					frame_end(s, d, dir, ts);
					d->st = S_FHDR;
				}
			}
			break;
		case S_PAYLOAD:
			i += payload(s, d, dir, p + i, n - i, ts);
			if (d->fpos == d->flen) {
				frame_end(s, d, dir, ts);
				d->st = S_FHDR;
			}
			break;
		case S_RESYNC:
			i += resync_take(s, d, p + i, n - i, ts);
			break;
		default: /* S_DEAD */
			return n;
		}
	}
	return i;
}

static void dir_feed(struct h2 *s, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct h2dir *d = &s->d[dir];
	size_t off = 0;
	while (off < n) {
		off += machine(s, dir, p + off, n - off, ts);
		/* window bytes a resync handed back: read before the rest (a
		 * resync inside them takes all that is left of them, so this
		 * loops instead of nesting) */
		while (d->inj) {
			uint8_t *b = d->inj;
			size_t bl = d->injlen, o = 0;
			d->inj = NULL;
			while (o < bl && !d->inj)
				o += machine(s, dir, b + o, bl - o, ts);
			free(b);
		}
	}
}

/* ---- the descriptor ------------------------------------------------------- */

/* The direction of a HEADERS frame's first field: requests open with a
 * pseudo-field 1..7 of the static table, responses with :status (8..14). */
static int headers_dir(const uint8_t *p, size_t n)
{
	uint32_t len = be24(p);
	size_t off = 9;
	if (p[4] & F_PADDED)
		off++;
	if (p[4] & F_PRIO)
		off += 5;
	while (off < n && off < 9 + len && (p[off] & 0xe0) == 0x20)
		off++; /* a table size update (one byte: small sizes) */
	if (off >= n || off >= 9 + (size_t)len)
		return FR_PROBE_C2S;
	uint8_t b = p[off];
	uint32_t idx = b & 0x80 ? b & 0x7f : (b & 0xc0) == 0x40 ? b & 0x3f : b & 0x0f;
	return idx >= 8 && idx <= 14 ? FR_PROBE_S2C : FR_PROBE_C2S;
}

static int http2_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport != FR_TCP || n == 0)
		return FR_PROBE_NO;
	if (p[0] == 'P') /* the client's preface */
		return !memcmp(p, PREFACE, n < PREFACE_LEN ? n : PREFACE_LEN) ?
			       (n < PREFACE_LEN ? FR_PROBE_MAYBE : FR_PROBE_C2S) : FR_PROBE_NO;
	/* frames: a plausible header, and the next one too when it is here */
	if (n < 9)
		return p[0] == 0 ? FR_PROBE_MAYBE : FR_PROBE_NO;
	if (!frame_plausible(p, 1))
		return FR_PROBE_NO;
	size_t next = 9 + (size_t)be24(p);
	if (n >= next + 9 && !frame_plausible(p + next, 1))
		return FR_PROBE_NO;
	if (n < next + 9 && n < 256)
		return FR_PROBE_MAYBE; /* one header alone says too little */
	return p[3] == T_HEADERS ? headers_dir(p, n) : FR_PROBE_C2S;
}

static int http2_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *ch)
{
	struct h2 *s = state;
	if (s->dead || ch->dir < 0 || ch->dir > 1)
		return -1;
	s->ctx = ctx;
	dir_feed(s, ch->dir, ch->p, ch->len, ch->ts);
	return s->dead ? -1 : 0;
}

/* len bytes of dir are missing: within a frame's payload the framing
 * holds (a header block is then lost, DATA counted as truncated); else
 * the frames are looked for again.  The HPACK table is forgotten whenever
 * a block may have been lost. */
static void http2_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct h2 *s = state;
	if (dir < 0 || dir > 1 || s->dead)
		return;
	s->ctx = ctx;
	struct h2dir *d = &s->d[dir];
	switch (d->st) {
	case S_START:
		start(s, d, dir, 0); /* mid-connection */
		s->mid = 1;
		s->d[FR_C2S].hp.unknown = s->d[FR_S2C].hp.unknown = 1;
		to_resync(s, d, dir);
		return;
	case S_H1BODY:
		if (len <= d->h1body) {
			d->h1body -= len;
			if (!d->h1body)
				d->st = S_PREFACE;
			return;
		}
		break;
	case S_PAYLOAD:
		if (len <= d->flen - d->fpos) {
			struct stream *st;
			if (d->ftype == T_DATA && (st = find(s, d->fsid))) {
				st->body[dir] += len;
				st->truncated = 1;
				grpc_gap(&st->g, dir, len);
			}
			d->damaged = 1;
			d->fpos += (uint32_t)len;
			if (d->ftype == T_HEADERS || d->ftype == T_PUSH || d->ftype == T_CONT)
				d->blk_over = 1;
			if (d->fpos == d->flen) {
				frame_end(s, d, dir, ts);
				d->st = S_FHDR;
			}
			return;
		}
		break;
	case S_RESYNC:
		d->blen = d->boff = 0;
		return;
	case S_DEAD:
		return;
	default:
		break;
	}
	for (uint32_t i = 0; i < s->n; i++)
		s->v[i].truncated = 1;
	to_resync(s, d, dir);
}

static void http2_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct h2 *s = state;
	s->ctx = ctx;
	(void)ts;
	for (uint32_t i = 0; i < s->n; i++)
		s->v[i].doomed = 1;
	close_marked(s, fr_end_reason(why));
	uint64_t f = 0, u = 0;
	for (int i = 0; i < 2; i++) {
		f += s->d[i].hp.fields;
		u += s->d[i].hp.unknown_fields;
	}
	if (u)
		anomaly(s, ts, "hpack_unknown_entries",
			"http2: %llu of %llu header fields referenced HPACK entries not seen (from before the "
			"recording, or lost in a gap): %.1f%% recovered; unknown: client %llu of %llu, server %llu of %llu",
			(unsigned long long)u, (unsigned long long)f, 100.0 * (double)(f - u) / (double)f,
			(unsigned long long)s->d[0].hp.unknown_fields, (unsigned long long)s->d[0].hp.fields,
			(unsigned long long)s->d[1].hp.unknown_fields, (unsigned long long)s->d[1].hp.fields);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
	for (int i = 0; i < 2; i++) {
		hpack_fini(&s->d[i].hp);
		free(s->d[i].blk);
		free(s->d[i].buf);
		free(s->d[i].inj);
		s->d[i].blk = s->d[i].buf = s->d[i].inj = NULL;
	}
}

static void http2_init(void *state, int transport)
{
	struct h2 *s = state;
	(void)transport;
	for (int i = 0; i < 2; i++)
		hpack_init(&s->d[i].hp, 1);
}

const struct fr_proto fr_proto_http2 = {
	.name = "http2",
	.table = "http2",
	.schema = "CREATE TABLE http2 (request_id INTEGER PRIMARY KEY, stream_id INTEGER, method TEXT, "
		  "scheme TEXT, authority TEXT, path TEXT, endpoint TEXT, status INTEGER, "
		  "req_content_type TEXT, resp_content_type TEXT, req_header_bytes INTEGER, "
		  "resp_header_bytes INTEGER, req_body_bytes INTEGER, resp_body_bytes INTEGER, "
		  "rst_error TEXT, goaway_error TEXT, hpack_unknown INTEGER)",
	.state_size = sizeof(struct h2),
	.ports = {50051},
	.udp = 0,
	.probe = http2_probe,
	.init = http2_init,
	.feed = http2_feed,
	.gap = http2_gap,
	.finish = http2_finish,
};
