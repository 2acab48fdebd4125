/* http1.c - HTTP/1.0 and HTTP/1.1 requests and responses, paired FIFO.
 *
 * Reference: RFC 9112 (HTTP/1.1 message syntax), RFC 9110 (semantics:
 * which responses have no body).
 *
 *   request   = method SP request-target SP HTTP-version CRLF
 *               *( field-name ":" OWS field-value OWS CRLF ) CRLF [ body ]
 *   response  = HTTP-version SP 3DIGIT SP [ reason ] CRLF
 *               *( field-line CRLF ) CRLF [ body ]
 *   body      = Content-Length bytes | chunked | until close (responses)
 *   chunked   = *( chunk-size [ ext ] CRLF data CRLF ) "0" CRLF trailers CRLF
 *
 * Pipelining and keep-alive: requests queue FIFO; each response completes the
 * oldest request.  HEAD, 1xx, 204 and 304 responses have no body; 1xx other
 * than 101 are interim and do not complete a request; 101 turns the stream
 * opaque.  After a gap the parser stays in sync when the gap falls inside a
 * body of known length, and otherwise scans for the next request line or
 * status line.
 *
 * HTTP/2 by upgrade (RFC 9113 3.2, `Upgrade: h2c`): the 101 hands the
 * connection to the http2 parser (fr_pctx.handover), which is given the
 * request and the 101 as they began the stream; the request is its stream 1
 * and gets no row here.
 */
#include "../proto.h"
#include "../../formats/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_MAX 16384 /* bytes of one message head; longer is an anomaly */
#define PEND_MAX 64   /* requests waiting for a response */

enum {
	ST_HEAD = 0, /* collecting a message head */
	ST_BODY,     /* remain bytes of body */
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_CRLF,
	ST_TRAILER,
	ST_CLOSE,    /* body until the connection closes */
	ST_RESYNC,   /* after a gap: looking for a message start */
	ST_OPAQUE,   /* after 101 Switching Protocols */
};

struct hdir {
	int st;
	uint8_t *h; /* head or line buffer (heap, grows to HDR_MAX) */
	uint32_t hlen, hcap;
	int skip_line; /* resync: current line too long, wait for \n */
	uint64_t remain;
	uint64_t msg_bytes;
	uint64_t body; /* body bytes of the message, without chunk framing */
	uint64_t first_ts, last_ts;
	int in_msg;
	int truncated; /* a gap fell inside this message's body */
};

struct pend {
	char method[16];
	char path[512];
	char host[128];
	char ua[128];
	char ctype[96];
	char reqid[96];
	uint64_t first_ts, last_ts, bytes, body;
	int complete; /* request body fully seen */
	int truncated;
	uint8_t *up;    /* the head of a request asking for Upgrade: h2c (heap), or NULL */
	uint32_t uplen;
	uint64_t upbody; /* its Content-Length */
};

struct resp {
	int status;
	char ctype[96];
	uint64_t body;
	int is_head;
};

struct http1 {
	struct hdir d[2];
	struct fr_fifo q; /* of struct pend */
	struct resp cur; /* response being received */
	int resp_active;
	int dead;
	/* a gap cut the requests: a response that finds none waiting answers
	 * one lost in it (a window that starts between a request and its
	 * response), not a response without a request */
	int req_gap;
};

static const char *const methods[] = {
	"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT",
	"PURGE", NULL,
};

/* ---- helpers ------------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	dst[n] = 0;
}

/* Reads one line (without CR LF) from the cursor; 0 or -1 if no LF. */
static int cur_line(struct fr_cur *c, const uint8_t **line, size_t *len)
{
	const uint8_t *nl = memchr(c->p, '\n', cur_left(c));
	if (!nl)
		return -1;
	size_t n = (size_t)(nl - c->p);
	*line = c->p;
	cur_skip(c, n + 1);
	if (n && (*line)[n - 1] == '\r')
		n--;
	*len = n;
	return 0;
}

static int is_method(const uint8_t *p, size_t n)
{
	for (int i = 0; methods[i]; i++)
		if (strlen(methods[i]) == n && !memcmp(p, methods[i], n))
			return 1;
	return 0;
}

/* "METHOD SP target SP HTTP/1.x" */
static int parse_request_line(const uint8_t *p, size_t n, const uint8_t **m, size_t *ml,
			      const uint8_t **t, size_t *tl)
{
	const uint8_t *sp1 = memchr(p, ' ', n);
	if (!sp1)
		return -1;
	*m = p;
	*ml = (size_t)(sp1 - p);
	if (!is_method(p, *ml))
		return -1;
	const uint8_t *rest = sp1 + 1, *end = p + n;
	if (end - rest < 10)
		return -1;
	if (memcmp(end - 9, " HTTP/1.", 8) != 0)
		return -1;
	*t = rest;
	*tl = (size_t)((end - 9) - rest);
	return *tl ? 0 : -1;
}

/* "HTTP/1.x SP 3DIGIT [SP reason]" -> status or -1 */
static int parse_status_line(const uint8_t *p, size_t n)
{
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -1;
	int s = 0;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		s = s * 10 + (p[i] - '0');
	}
	if (n > 12 && p[12] != ' ')
		return -1;
	return s >= 100 ? s : -1;
}

static int is_request_line(const uint8_t *p, size_t n)
{
	const uint8_t *a, *b;
	size_t al, bl;
	return parse_request_line(p, n, &a, &al, &b, &bl) == 0;
}

static int looks_like_start(const uint8_t *p, size_t n)
{
	return is_request_line(p, n) || parse_status_line(p, n) >= 0;
}

static int parse_u64(const uint8_t *p, size_t n, uint64_t *out, int base)
{
	uint64_t v = 0;
	size_t i = 0, digits = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	for (; i < n; i++) {
		int d;
		uint8_t c = p[i];
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (++digits > 15)
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (!digits)
		return -1;
	/* allow trailing spaces; for chunk sizes also extensions after ';' */
	for (; i < n; i++) {
		if (p[i] == ';' && base == 16)
			break;
		if (p[i] != ' ' && p[i] != '\t')
			return -1;
	}
	*out = v;
	return 0;
}

static void trim(const uint8_t **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* Does the comma-separated list v hold token t (case-insensitive)? */
static int has_token(const uint8_t *v, size_t n, const char *t)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && v[j] != ',')
			j++;
		const uint8_t *w = v + i;
		size_t wl = j - i;
		trim(&w, &wl);
		if (fr_lc_eq(w, wl, t))
			return 1;
		i = j + 1;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------- */

static struct pend *q_front(struct http1 *s) { return fr_fifo_at(&s->q, sizeof(struct pend), 0); }
static struct pend *q_back(struct http1 *s) { return fr_fifo_at(&s->q, sizeof(struct pend), s->q.len - 1); }
static void q_pop(struct http1 *s)
{
	struct pend *p = q_front(s);
	if (p)
		free(p->up);
	fr_fifo_pop(&s->q);
}

static void emit(struct http1 *s, struct fr_pctx *ctx, const struct pend *q, const struct resp *rs,
		 uint64_t rfirst, uint64_t rlast, uint64_t rbytes, const char *reason)
{
	struct fr_req r;
	memset(&r, 0, offsetof(struct fr_req, f)); /* the fields: as many as n_fields says */
	char summary[600], status[16], norm[512], ep[540];
	if (q) {
		size_t pl = strcspn(q->path, "?");
		/* "%s %.*s" */
		size_t o = fr_cat(summary, sizeof(summary), 0, q->method, sizeof(q->method));
		o = fr_cat(summary, sizeof(summary), o, " ", 1);
		fr_cat(summary, sizeof(summary), o, q->path, pl);
		r.req_first_ns = q->first_ts;
		r.req_last_ns = q->last_ts;
		r.req_bytes = q->bytes;
		fr_path_endpoint(q->path, norm, sizeof(norm));
	} else {
		snprintf(summary, sizeof(summary), s->req_gap ? "(request lost in gap)" : "(response without request)");
		norm[0] = 0;
	}
	r.summary = summary;
	if (q) {
		size_t o = fr_cat(ep, sizeof(ep), 0, q->method, sizeof(q->method));
		o = fr_cat(ep, sizeof(ep), o, " ", 1);
		fr_cat(ep, sizeof(ep), o, norm, sizeof(norm));
		r.endpoint = ep;
	}
	if (rs) {
		fr_cat_int(status, sizeof(status), 0, rs->status);
		r.status = status;
		r.error = rs->status >= 500;
		r.resp_first_ns = rfirst;
		r.resp_last_ns = rlast;
		r.resp_bytes = rbytes;
	} else {
		r.error = 1;
	}
	r.reason = reason;
	fr_field_str(&r, "method", q ? q->method : NULL);
	fr_field_str(&r, "path", q ? q->path : NULL);
	fr_field_str(&r, "endpoint", q ? norm : NULL);
	fr_field_str(&r, "host", q && q->host[0] ? q->host : NULL);
	if (rs)
		fr_field_int(&r, "status", rs->status);
	else
		fr_field_str(&r, "status", NULL);
	fr_field_str(&r, "req_content_type", q && q->ctype[0] ? q->ctype : NULL);
	if (q)
		fr_field_int(&r, "req_body_bytes", (int64_t)q->body);
	else
		fr_field_str(&r, "req_body_bytes", NULL);
	fr_field_str(&r, "resp_content_type", rs && rs->ctype[0] ? rs->ctype : NULL);
	if (rs)
		fr_field_int(&r, "resp_body_bytes", (int64_t)rs->body);
	else
		fr_field_str(&r, "resp_body_bytes", NULL);
	fr_field_str(&r, "user_agent", q && q->ua[0] ? q->ua : NULL);
	fr_field_str(&r, "x_request_id", q && q->reqid[0] ? q->reqid : NULL);
	ctx->emit_request(ctx, &r);
}

static struct pend *q_push(struct http1 *s, struct fr_pctx *ctx, uint64_t ts)
{
	if (s->q.len == PEND_MAX) {
		ctx->anomaly(ctx, ts, "bound_exceeded", "http1: more than 64 requests waiting; oldest reported unanswered");
		emit(s, ctx, q_front(s), NULL, 0, 0, 0, "pipeline overflow");
		q_pop(s);
	}
	struct pend *p = fr_fifo_push(&s->q, sizeof(*p));
	if (!p)
		return NULL;
	return p;
}

/* ---- message heads ------------------------------------------------------ */

/* Head collected in d->h (ends with the blank line).  Sets the body state.
 * Returns 0 or -1 (malformed). */
static int on_head(struct http1 *s, struct fr_pctx *ctx, int dir, uint64_t ts)
{
	struct hdir *d = &s->d[dir];
	struct fr_cur c;
	cur_init(&c, d->h, d->hlen);
	const uint8_t *line;
	size_t len;
	if (cur_line(&c, &line, &len) < 0)
		return -1;
	int status = -1;
	const uint8_t *m = NULL, *t = NULL;
	size_t ml = 0, tl = 0;
	if (dir == FR_C2S) {
		if (parse_request_line(line, len, &m, &ml, &t, &tl) < 0)
			return -1;
	} else {
		status = parse_status_line(line, len);
		if (status < 0)
			return -1;
	}
	int chunked = 0, have_len = 0;
	uint64_t clen = 0;
	const uint8_t *host = NULL, *ua = NULL, *ct = NULL, *rid = NULL;
	size_t hostl = 0, ual = 0, ctl = 0, ridl = 0;
	int h2c = 0;
	while (cur_line(&c, &line, &len) == 0 && len > 0) {
		const uint8_t *colon = memchr(line, ':', len);
		if (!colon)
			continue; /* tolerate junk lines */
		size_t nl = (size_t)(colon - line);
		const uint8_t *v = colon + 1;
		size_t vl = len - nl - 1;
		trim(&v, &vl);
		if (fr_lc_eq(line, nl, "content-length")) {
			if (parse_u64(v, vl, &clen, 10) < 0)
				return -1;
			have_len = 1;
		} else if (fr_lc_eq(line, nl, "transfer-encoding")) {
			if (vl >= 7 && fr_lc_eq(v + vl - 7, 7, "chunked"))
				chunked = 1;
		} else if (fr_lc_eq(line, nl, "host")) {
			host = v, hostl = vl;
		} else if (fr_lc_eq(line, nl, "user-agent")) {
			ua = v, ual = vl;
		} else if (fr_lc_eq(line, nl, "content-type")) {
			ct = v, ctl = vl;
		} else if (fr_lc_eq(line, nl, "x-request-id")) {
			rid = v, ridl = vl;
		} else if (fr_lc_eq(line, nl, "upgrade")) {
			h2c = has_token(v, vl, "h2c");
		}
	}
	d->msg_bytes = d->hlen;
	d->body = 0;
	if (dir == FR_C2S) {
		struct pend *p = q_push(s, ctx, ts);
		if (!p)
			return -1;
		copy_str(p->method, sizeof(p->method), m, ml);
		copy_str(p->path, sizeof(p->path), t, tl);
		if (host)
			copy_str(p->host, sizeof(p->host), host, hostl);
		if (ua)
			copy_str(p->ua, sizeof(p->ua), ua, ual);
		if (ct)
			copy_str(p->ctype, sizeof(p->ctype), ct, ctl);
		if (rid)
			copy_str(p->reqid, sizeof(p->reqid), rid, ridl);
		if (h2c && !chunked && (p->up = malloc(d->hlen))) {
			memcpy(p->up, d->h, d->hlen);
			p->uplen = d->hlen;
			p->upbody = have_len ? clen : 0;
		}
		p->first_ts = d->first_ts;
		p->last_ts = ts;
		p->bytes = d->hlen;
		if (chunked)
			d->st = ST_CHUNK_SIZE;
		else if (have_len && clen > 0)
			d->st = ST_BODY, d->remain = clen;
		else
			d->st = ST_HEAD, p->complete = 1;
		return 0;
	}
	/* response */
	struct pend *p = q_front(s);
	if (status >= 100 && status < 200 && status != 101) {
		d->st = ST_HEAD; /* interim: the final response follows */
		if (p)
			p->bytes += 0;
		return 0;
	}
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur.status = status;
	if (ct)
		copy_str(s->cur.ctype, sizeof(s->cur.ctype), ct, ctl);
	s->resp_active = 1;
	int head = p && !strcmp(p->method, "HEAD");
	if (status == 101) {
		d->st = ST_OPAQUE;
		s->d[FR_C2S].st = ST_OPAQUE;
		return 1; /* complete now */
	}
	if (head || status == 204 || status == 304)
		d->st = ST_HEAD;
	else if (chunked)
		d->st = ST_CHUNK_SIZE;
	else if (have_len)
		d->st = clen ? ST_BODY : ST_HEAD, d->remain = clen;
	else
		d->st = ST_CLOSE;
	return d->st == ST_HEAD ? 1 : 0;
}

/* A message of direction dir ended at ts. */
static void msg_done(struct http1 *s, struct fr_pctx *ctx, int dir, uint64_t ts)
{
	struct hdir *d = &s->d[dir];
	if (dir == FR_C2S) {
		/* the newest request is the one whose body just ended */
		if (s->q.len) {
			struct pend *p = q_back(s);
			p->complete = 1;
			p->last_ts = ts;
			p->bytes = d->msg_bytes;
			p->truncated = d->truncated;
		}
	} else if (s->resp_active) {
		struct pend *p = q_front(s);
		s->cur.body = d->body;
		const char *lost = s->req_gap ? "request lost in gap" : "response without request";
		emit(s, ctx, p, &s->cur, d->first_ts, ts, d->msg_bytes,
		     d->truncated ? "truncated response" : (p ? NULL : lost));
		if (!p && !s->req_gap)
			ctx->anomaly(ctx, ts, "unpaired_response", "http1: response without a request");
		if (p)
			s->req_gap = 0;
		q_pop(s);
		s->resp_active = 0;
	}
	d->in_msg = 0;
	d->hlen = 0;
	d->truncated = 0;
	if (d->st != ST_OPAQUE)
		d->st = ST_HEAD;
}

static int hbuf_add(struct hdir *d, const uint8_t *p, size_t n)
{
	if (d->hlen + n > HDR_MAX)
		return -1;
	if (d->hlen + n > d->hcap) {
		uint32_t nc = d->hcap ? d->hcap : 512;
		while (nc < d->hlen + n)
			nc *= 2;
		if (nc > HDR_MAX)
			nc = HDR_MAX;
		uint8_t *nb = realloc(d->h, nc);
		if (!nb)
			return -1;
		d->h = nb;
		d->hcap = nc;
	}
	memcpy(d->h + d->hlen, p, n);
	d->hlen += (uint32_t)n;
	return 0;
}

static void to_resync(struct http1 *s, struct fr_pctx *ctx, int dir, uint64_t ts, const char *why)
{
	struct hdir *d = &s->d[dir];
	if (why)
		ctx->anomaly(ctx, ts, "parse_error", why);
	if (dir == FR_S2C && s->resp_active) {
		struct pend *p = q_front(s);
		s->cur.body = d->body;
		emit(s, ctx, p, &s->cur, d->first_ts, d->last_ts, d->msg_bytes, "truncated response");
		q_pop(s);
		s->resp_active = 0;
	}
	d->st = ST_RESYNC;
	d->hlen = 0;
	d->in_msg = 0;
	d->skip_line = 0;
	d->truncated = 0;
}

/* The 101 that just ended (in d[S2C].h) answers a request that asked for
 * h2c: hands the connection to the http2 parser with the request and the
 * 101 (its body as a gap: not kept), and the request is its stream 1.  0
 * when handed over; -1: go on as before (not h2c, or no engine). */
static int handover_h2c(struct http1 *s, struct fr_pctx *ctx, uint64_t ts, size_t rest)
{
	struct pend *p = q_front(s);
	if (!ctx->handover || !p || !p->up || s->q.len != 1)
		return -1;
	struct fr_chunk r[3];
	int n = 0;
	memset(r, 0, sizeof(r));
	r[n].dir = FR_C2S, r[n].ts = p->first_ts, r[n].p = p->up, r[n++].len = p->uplen;
	if (p->upbody)
		r[n].dir = FR_C2S, r[n].ts = p->last_ts, r[n].p = NULL, r[n++].len = p->upbody;
	r[n].dir = FR_S2C, r[n].ts = ts, r[n].p = s->d[FR_S2C].h, r[n++].len = s->d[FR_S2C].hlen;
	if (ctx->handover(ctx, "http2", r, n, rest) < 0)
		return -1;
	q_pop(s);
	s->resp_active = 0;
	return 0;
}

/* ---- the byte machine --------------------------------------------------- */

/* Consumes up to `left` body bytes of the message (or chunk) in progress;
 * returns 1 when it is complete. */
static int take_body(struct http1 *s, int dir, struct fr_cur *c, size_t left, uint64_t ts)
{
	struct hdir *d = &s->d[dir];
	size_t take = left < d->remain ? left : (size_t)d->remain;
	cur_skip(c, take);
	d->remain -= take;
	d->msg_bytes += take;
	d->body += take;
	d->last_ts = ts;
	if (dir == FR_C2S && s->q.len)
		q_back(s)->body += take;
	return d->remain == 0;
}

/* ST_RESYNC: collects one line; keeps it if it starts a message. */
static void step_resync(struct http1 *s, int dir, struct fr_cur *c, size_t left, uint64_t ts)
{
	struct hdir *d = &s->d[dir];
	const uint8_t *nl = memchr(c->p, '\n', left);
	size_t take = nl ? (size_t)(nl - c->p) + 1 : left;
	const uint8_t *b = NULL;
	cur_bytes(c, &b, take);
	if (!d->skip_line && hbuf_add(d, b, take) < 0) {
		d->skip_line = 1;
		d->hlen = 0;
	}
	if (!nl)
		return;
	if (d->skip_line) {
		d->skip_line = 0;
		d->hlen = 0;
		return;
	}
	size_t ll = d->hlen;
	while (ll && (d->h[ll - 1] == '\n' || d->h[ll - 1] == '\r'))
		ll--;
	int ok = dir == FR_C2S ? is_request_line(d->h, ll) : parse_status_line(d->h, ll) >= 0;
	if (ok) {
		d->st = ST_HEAD;
		d->in_msg = 1;
		d->first_ts = ts;
		d->last_ts = ts;
	} else {
		d->hlen = 0;
	}
}

/* ST_HEAD: a line of a message head; at its empty line, the head is
 * parsed (on_head).  1 when the connection was handed to another parser. */
static int step_head(struct http1 *s, struct fr_pctx *ctx, int dir, struct fr_cur *c, size_t left, uint64_t ts)
{
	struct hdir *d = &s->d[dir];
	if (!d->in_msg) {
		/* skip CR/LF between messages */
		if (*c->p == '\r' || *c->p == '\n') {
			cur_skip(c, 1);
			return 0;
		}
		d->in_msg = 1;
		d->first_ts = ts;
		d->hlen = 0;
	}
	d->last_ts = ts;
	const uint8_t *nl = memchr(c->p, '\n', left);
	size_t take = nl ? (size_t)(nl - c->p) + 1 : left;
	const uint8_t *b = NULL;
	cur_bytes(c, &b, take);
	uint32_t line_start = d->hlen;
	if (hbuf_add(d, b, take) < 0) {
		ctx->anomaly(ctx, ts, "bound_exceeded", "http1: message head longer than 16 KiB; skipped");
		to_resync(s, ctx, dir, ts, NULL);
		return 0;
	}
	if (!nl)
		return 0;
	/* find where the line that just ended began */
	uint32_t ls = line_start;
	while (ls > 0 && d->h[ls - 1] != '\n')
		ls--;
	uint32_t ll = d->hlen - ls;
	if (d->hlen == ll) {
		/* first line: must start a message */
		size_t k = ll;
		while (k && (d->h[k - 1] == '\n' || d->h[k - 1] == '\r'))
			k--;
		if (!looks_like_start(d->h, k))
			to_resync(s, ctx, dir, ts, dir == FR_C2S ? "http1: not a request line" : "http1: not a status line");
		return 0;
	}
	if (ll == 1 || (ll == 2 && d->h[ls] == '\r')) {
		int r = on_head(s, ctx, dir, ts);
		if (r < 0) {
			to_resync(s, ctx, dir, ts, "http1: malformed message head");
			return 0;
		}
		if (d->st == ST_OPAQUE) {
			if (handover_h2c(s, ctx, ts, cur_left(c)) == 0)
				return 1;
			msg_done(s, ctx, dir, ts);
			return 0;
		}
		if (d->st == ST_HEAD) {
			if (dir == FR_C2S) {
				d->in_msg = 0;
				d->hlen = 0;
			} else if (r == 1) {
				msg_done(s, ctx, dir, ts);
			} else {
				d->in_msg = 0; /* interim 1xx */
				d->hlen = 0;
			}
		}
	}
	return 0;
}

/* ST_CHUNK_SIZE, ST_CHUNK_CRLF, ST_TRAILER: the line-oriented states share
 * a small line buffer after the head. */
static void step_chunk_line(struct http1 *s, struct fr_pctx *ctx, int dir, struct fr_cur *c, size_t left,
			    uint64_t ts)
{
	struct hdir *d = &s->d[dir];
	const uint8_t *nl = memchr(c->p, '\n', left);
	size_t take = nl ? (size_t)(nl - c->p) + 1 : left;
	const uint8_t *b = NULL;
	cur_bytes(c, &b, take);
	d->msg_bytes += take;
	d->last_ts = ts;
	uint32_t base = d->hlen;
	if (hbuf_add(d, b, take) < 0) {
		to_resync(s, ctx, dir, ts, "http1: chunk line too long");
		return;
	}
	if (!nl)
		return;
	/* the line is h[l0 .. hlen) */
	uint32_t l0 = base;
	while (l0 > 0 && d->h[l0 - 1] != '\n')
		l0--;
	const uint8_t *ln = d->h + l0;
	size_t lnl = d->hlen - l0;
	while (lnl && (ln[lnl - 1] == '\n' || ln[lnl - 1] == '\r'))
		lnl--;
	d->hlen = l0; /* drop the line */
	if (d->st == ST_CHUNK_CRLF) {
		if (lnl != 0) {
			to_resync(s, ctx, dir, ts, "http1: missing CRLF after chunk");
			return;
		}
		d->st = ST_CHUNK_SIZE;
	} else if (d->st == ST_CHUNK_SIZE) {
		uint64_t sz;
		/* a chunk of 4 GiB or more is taken for junk: a
		 * 15-hex-digit size would swallow the connection */
		if (parse_u64(ln, lnl, &sz, 16) < 0 || sz > 0xffffffffu) {
			to_resync(s, ctx, dir, ts, "http1: bad chunk size");
			return;
		}
		if (sz == 0)
			d->st = ST_TRAILER;
		else
			d->st = ST_CHUNK_DATA, d->remain = sz;
	} else { /* trailer: ends at an empty line */
		if (lnl == 0)
			msg_done(s, ctx, dir, ts);
	}
}

static void feed_dir(struct http1 *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hdir *d = &s->d[dir];
	struct fr_cur c;
	cur_init(&c, p, n);
	while (cur_left(&c) > 0) {
		size_t left = cur_left(&c);
		switch (d->st) {
		case ST_OPAQUE:
			cur_skip(&c, left);
			break;
		case ST_RESYNC:
			step_resync(s, dir, &c, left, ts);
			break;
		case ST_HEAD:
			if (step_head(s, ctx, dir, &c, left, ts))
				return;
			break;
		case ST_BODY:
			if (take_body(s, dir, &c, left, ts))
				msg_done(s, ctx, dir, ts);
			break;
		case ST_CLOSE:
			d->msg_bytes += left;
			d->body += left;
			d->last_ts = ts;
			cur_skip(&c, left);
			break;
		case ST_CHUNK_SIZE:
		case ST_CHUNK_CRLF:
		case ST_TRAILER:
			step_chunk_line(s, ctx, dir, &c, left, ts);
			break;
		case ST_CHUNK_DATA:
			if (take_body(s, dir, &c, left, ts))
				d->st = ST_CHUNK_CRLF;
			break;
		default:
			cur_skip(&c, left);
			break;
		}
	}
}

/* ---- the descriptor ----------------------------------------------------- */

static int http1_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport != FR_TCP || n == 0)
		return FR_PROBE_NO;
	/* first line, or as much of it as we have */
	const uint8_t *nl = memchr(p, '\n', n);
	size_t ll = nl ? (size_t)(nl - p) : n;
	if (ll && p[ll - 1] == '\r' && nl)
		ll--;
	if (nl) {
		const uint8_t *a, *t;
		size_t al, tl;
		if (parse_request_line(p, ll, &a, &al, &t, &tl) == 0)
			return FR_PROBE_C2S;
		if (parse_status_line(p, ll) >= 0)
			return FR_PROBE_S2C;
		return FR_PROBE_NO;
	}
	/* partial line: a known method followed by a space, or "HTTP/1." */
	if (ll >= 7 && !memcmp(p, "HTTP/1.", 7))
		return ll >= 12 && parse_status_line(p, ll) >= 0 ? FR_PROBE_S2C : FR_PROBE_MAYBE;
	const uint8_t *sp = memchr(p, ' ', ll);
	if (sp && is_method(p, (size_t)(sp - p)))
		return FR_PROBE_MAYBE;
	if (!sp && ll < 8) {
		for (int i = 0; methods[i]; i++)
			if (!strncmp(methods[i], (const char *)p, ll))
				return FR_PROBE_MAYBE;
		if (!strncmp("HTTP/1.", (const char *)p, ll))
			return FR_PROBE_MAYBE;
	}
	return FR_PROBE_NO;
}

static int http1_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *ch)
{
	struct http1 *s = state;
	if (s->dead || ch->dir < 0 || ch->dir > 1)
		return -1;
	feed_dir(s, ctx, ch->dir, ch->p, ch->len, ch->ts);
	return 0;
}

static void http1_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct http1 *s = state;
	if (dir < 0 || dir > 1)
		return;
	struct hdir *d = &s->d[dir];
	switch (d->st) {
	case ST_BODY:
	case ST_CHUNK_DATA:
		if (len <= d->remain) { /* the gap is inside a body of known size */
			d->remain -= len;
			d->msg_bytes += len;
			d->body += len;
			d->truncated = 1;
			if (dir == FR_C2S && s->q.len)
				q_back(s)->body += len;
			if (!d->remain) {
				if (d->st == ST_BODY)
					msg_done(s, ctx, dir, ts);
				else
					d->st = ST_CHUNK_CRLF;
			}
			return;
		}
		break;
	case ST_CLOSE:
		d->msg_bytes += len;
		d->body += len;
		d->truncated = 1;
		return;
	case ST_OPAQUE:
		return;
	default:
		break;
	}
	if (dir == FR_C2S)
		s->req_gap = 1;
	to_resync(s, ctx, dir, ts, NULL);
}

static void http1_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct http1 *s = state;
	struct hdir *d = &s->d[FR_S2C];
	if (s->resp_active) {
		struct pend *p = q_front(s);
		s->cur.body = d->body;
		emit(s, ctx, p, &s->cur, d->first_ts, d->last_ts ? d->last_ts : ts, d->msg_bytes,
		     d->st == ST_CLOSE ? NULL : "truncated response");
		q_pop(s);
		s->resp_active = 0;
	}
	const char *reason = fr_end_reason(why);
	while (s->q.len) {
		emit(s, ctx, q_front(s), NULL, 0, 0, 0, reason);
		q_pop(s);
	}
	fr_fifo_free(&s->q);
	for (int i = 0; i < 2; i++) {
		free(s->d[i].h);
		s->d[i].h = NULL;
		s->d[i].hcap = s->d[i].hlen = 0;
	}
}

const struct fr_proto fr_proto_http1 = {
	.name = "http1",
	.table = "http",
	.schema = "CREATE TABLE http (request_id INTEGER PRIMARY KEY, method TEXT, path TEXT, "
		  "endpoint TEXT, host TEXT, status INTEGER, req_content_type TEXT, "
		  "req_body_bytes INTEGER, resp_content_type TEXT, resp_body_bytes INTEGER, "
		  "user_agent TEXT, x_request_id TEXT)",
	.state_size = sizeof(struct http1),
	.ports = {80, 8080, 8000, 3000},
	.udp = 0,
	.probe = http1_probe,
	.feed = http1_feed,
	.gap = http1_gap,
	.finish = http1_finish,
};
