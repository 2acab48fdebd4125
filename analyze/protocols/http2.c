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
 * A kept connection head (replayed by the engine before the window)
 * rebuilds the tables; when a gap separates the head from the window
 * (the usual case for a long-lived connection) they are forgotten all the
 * same: blocks sent in the gap may have inserted entries, which shift the
 * index of every older one by a count nothing on the wire gives, and a
 * guessed count (none inserted) names fields wrongly without a sign of it.
 * Placeholders at the wire's index are honest; entries inserted after the
 * gap are known at their right indices, and the share recovered grows
 * (tests/unit/test_engine_state.c, engine_state_http2_hpack_head_then_gap).
 *
 * This file: frames, the byte machine of each direction (preface, upgrade,
 * resync) and the descriptor; http2_streams.c: the streams, their header
 * blocks and rows; hpack.c: HPACK; grpc.c: the gRPC layer and its table.
 */
#include "http2_internal.h"
#include "../../formats/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const frame_names[] = {
	"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
	"WINDOW_UPDATE", "CONTINUATION",
};

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

/* ---- frames ------------------------------------------------------------------ */

/* DATA payload bytes p[0..n) at payload offset pos: padding dropped. */
static void data_bytes(struct h2 *s, struct h2dir *d, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	size_t i = 0;
	if ((d->fflags & F_PADDED) && d->fpos == 0 && n) {
		d->pad = p[0];
		i = 1;
		if (d->pad >= (int)d->flen)
			h2_anomaly(s, ts, "parse_error", "http2: DATA padding %d longer than its frame", d->pad);
	}
	uint32_t end = d->flen;
	if (d->fflags & F_PADDED)
		end = d->pad >= 0 && (uint32_t)d->pad < d->flen ? d->flen - (uint32_t)d->pad : 1;
	uint32_t pos = d->fpos + (uint32_t)i;
	if (pos >= end || i >= n)
		return;
	size_t k = n - i < end - pos ? n - i : end - pos;
	struct stream *st = h2_stream(s, d->fsid, 1, ts);
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
	snprintf(why, sizeof(why), "GOAWAY %s: not processed (last stream %u)", h2_err_name(code, e), last);
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
		h2_close_marked(s, why);
	if (code)
		h2_anomaly(s, ts, "goaway", "http2: GOAWAY %s from the %s (last stream %u)", h2_err_name(code, e),
			dir == FR_C2S ? "client" : "server", last);
}

/* The frame in d is read whole. */
static void frame_end(struct h2 *s, struct h2dir *d, int dir, uint64_t ts)
{
	struct stream *st;
	switch (d->ftype) {
	case T_DATA:
		if (!(st = h2_stream(s, d->fsid, 1, ts)))
			break;
		st->bytes[dir] += 9 + (uint64_t)d->flen;
		if (d->damaged)
			st->truncated = 1;
		if (dir == FR_S2C && !st->resp_seen && !st->req_seen)
			st->resp_seen = 1, st->resp_first = d->fts; /* opened before we saw it */
		if (d->fflags & F_END_STREAM)
			h2_dir_end(s, st, dir, ts);
		else if (dir == FR_C2S)
			st->req_last = ts;
		else
			st->resp_last = ts;
		break;
	case T_HEADERS:
	case T_PUSH:
	case T_CONT:
		if (!d->blk_over && h2_fragment_strip(d) < 0) {
			h2_anomaly(s, ts, "parse_error", "http2: %s of stream %u: padding longer than the frame",
				frame_names[d->ftype], d->fsid);
			d->blk_over = 1;
		}
		if (d->damaged)
			d->blk_over = 1;
		if (d->fflags & F_END_HEADERS) {
			h2_block_done(s, d, dir, ts);
			h2_block_reset(d);
		}
		break;
	case T_RST:
		if (d->damaged || !(st = h2_find(s, d->fsid)))
			break;
		{
			char why[80], e[24];
			st->rst = be32(d->ctl);
			st->rst_dir = dir;
			st->bytes[dir] += 9 + (uint64_t)d->flen;
			snprintf(why, sizeof(why), "RST_STREAM %s from the %s", h2_err_name(st->rst, e),
				 dir == FR_C2S ? "client" : "server");
			h2_close(s, st, st->rst == 0 && st->resp_end ? NULL : why);
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
		h2_anomaly(s, ts, "parse_error", "http2: %s of stream %u inside a header block; block dropped",
			d->ftype <= T_CONT ? frame_names[d->ftype] : "frame", d->fsid);
		hpack_forget(&d->hp);
		h2_block_reset(d);
	}
	if (d->ftype == T_CONT && (!d->blk_on || d->fsid != d->blk_sid)) {
		h2_anomaly(s, ts, "parse_error", "http2: CONTINUATION of stream %u without its HEADERS", d->fsid);
		d->ftype = 0xff; /* skipped */
	}
	if (d->ftype == T_HEADERS || d->ftype == T_PUSH) {
		h2_block_reset(d);
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
		if (d->blk_over)
			break;
		/* a block past the bound: kept up to it exactly, whatever the
		 * split of the bytes (the header byte count says so) */
		size_t k = d->blklen + take > BLOCK_MAX ? BLOCK_MAX - d->blklen : take;
		d->blk = fr_grow(d->blk, &d->blkcap, d->blklen + k, 1024);
		memcpy(d->blk + d->blklen, p, k);
		d->blklen += k;
		if (k < take)
			d->blk_over = 1;
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
	struct stream *st = h2_stream(s, 1, 1, ts);
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
			h2_copy_text(st->authority, sizeof(st->authority), v, vl);
		else if (fr_lc_eq(line, nl, "content-type"))
			h2_copy_text(st->req_ct, sizeof(st->req_ct), v, vl);
		else if (fr_lc_eq(line, nl, "upgrade"))
			for (size_t i = 0; i + 3 <= vl; i++)
				h2c |= fr_lc_eq(v + i, 3, "h2c");
		else if (fr_lc_eq(line, nl, "content-length"))
			for (size_t i = 0; i < vl && i < 15 && v[i] >= '0' && v[i] <= '9'; i++)
				clen = clen * 10 + (uint64_t)(v[i] - '0');
	}
	h2_copy_text(st->method, sizeof(st->method), d->buf, ml);
	h2_copy_text(st->path, sizeof(st->path), target, tl);
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
			h2_anomaly(s, ts, "parse_error", "http2: an HTTP/1.1 request without Upgrade: h2c");
			d->st = S_DEAD;
			s->dead = 1;
			return;
		}
		d->st = d->h1body ? S_H1BODY : S_PREFACE;
		d->h1seen = 1;
	} else {
		int status = -1;
		if (d->blen >= 12 && !memcmp(d->buf, "HTTP/1.", 7)) {
			status = 0;
			for (int i = 9; i < 12; i++)
				status = status * 10 + (d->buf[i] >= '0' && d->buf[i] <= '9' ? d->buf[i] - '0' : 0);
		}
		if (status != 101) {
			h2_anomaly(s, ts, "parse_error", "http2: upgrade to h2c refused (HTTP/1.1 %d)", status);
			d->st = S_DEAD;
			s->dead = 1;
			return;
		}
		d->st = S_FHDR;
		d->frames = 1; /* the 101 stands for the server's first frame */
	}
	d->blen = 0;
}

/* n bytes of the upgrade request's body went by (read or not kept) */
static void h1_body(struct h2 *s, struct h2dir *d, uint64_t n, uint64_t ts)
{
	struct stream *st = h2_find(s, 1);
	d->h1body -= n;
	if (st) {
		st->bytes[FR_C2S] += n;
		st->body[FR_C2S] += n;
		st->req_last = ts;
		st->req_end = !d->h1body;
	}
	if (!d->h1body)
		d->st = S_PREFACE;
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
	h2_block_reset(d);
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
				h2_anomaly(s, ts, "resync", "http2: frames found again after %llu bytes",
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
			if (p[i] != (uint8_t)PREFACE[d->blen] && !d->h1seen && d->blen < 8 && p[i] >= 'A' &&
			    p[i] <= 'Z') {
				/* "P..." that is not "PRI *": an HTTP/1.1 request (POST,
				 * PUT, PATCH) asking for the upgrade */
				d->buf = fr_grow(d->buf, &d->bcap, d->blen, 1024);
				memcpy(d->buf, PREFACE, d->blen);
				d->st = S_H1HEAD;
				break;
			}
			if (p[i] != (uint8_t)PREFACE[d->blen]) {
				h2_anomaly(s, ts, "parse_error", "http2: not the connection preface");
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
				h2_anomaly(s, ts, "bound_exceeded", "http2: HTTP/1.1 upgrade head over 16 KiB");
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
			i += take;
			h1_body(s, d, take, ts);
			break;
		}
		case S_FHDR:
			if (!d->hlen)
				d->fts = ts;
			d->hdr[d->hlen++] = p[i++];
			if (d->hlen == 9) {
				d->hlen = 0;
				if (!frame_plausible(d->hdr, 0)) {
					h2_anomaly(s, ts, "parse_error", "http2: not a frame header (type %u, length %u)",
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

/* A whole SETTINGS frame (not an ACK) of at most ten settings, each a
 * known one (RFC 9113 6.5.2: 1..6; RFC 8441: 8; RFC 9218: 9): what a
 * server writes first, often before the client's preface arrives. */
static int server_settings(const uint8_t *p, size_t n)
{
	uint32_t len = be24(p);
	if (p[3] != T_SETTINGS || p[4] || len > 60 || len % 6 || n < 9 + (size_t)len)
		return 0;
	for (uint32_t i = 0; i < len; i += 6) {
		uint16_t id = (uint16_t)(p[9 + i] << 8 | p[10 + i]);
		if (id < 1 || id > 9 || id == 7)
			return 0;
	}
	return 1;
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
	if (server_settings(p, n))
		return FR_PROBE_S2C; /* a server's preface, sent before the client's */
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
	case S_H1BODY: /* the upgrade request's body (given as a gap by the handover) */
		if (len <= d->h1body) {
			h1_body(s, d, len, ts);
			return;
		}
		break;
	case S_PAYLOAD:
		if (len <= d->flen - d->fpos) {
			struct stream *st;
			if (d->ftype == T_DATA && (st = h2_find(s, d->fsid))) {
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
	h2_close_marked(s, fr_end_reason(why));
	uint64_t f = 0, u = 0;
	for (int i = 0; i < 2; i++) {
		f += s->d[i].hp.fields;
		u += s->d[i].hp.unknown_fields;
	}
	if (u)
		h2_anomaly(s, ts, "hpack_unknown_entries",
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
