/* http2_internal.h - what http2.c (frames, the byte machine, the
 * descriptor) and http2_streams.c (streams, their rows, header blocks)
 * share; internal to analyze/protocols/.  See http2.c for the protocol. */
#ifndef FLIGHTREC_HTTP2_INTERNAL_H
#define FLIGHTREC_HTTP2_INTERNAL_H

#include "../proto.h"
#include "grpc.h"
#include "hpack.h"

#include <stdint.h>

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
	int h1seen;        /* the upgrade request was read (then the preface follows) */
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
	uint32_t min_id[2]; /* lowest, 0: none yet */
	uint32_t closed[CLOSED_RING];
	uint32_t nclosed;
	uint32_t tsize[2];  /* SETTINGS_HEADER_TABLE_SIZE for each direction's blocks, 0: unknown */
	int mid;            /* the connection began before its first byte here */
	int dead, warned_streams;
	struct fr_pctx *ctx;
};

static inline uint32_t be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- http2_streams.c -------------------------------------------------------- */

/* An anomaly row of kind, its detail formatted */
void h2_anomaly(struct h2 *s, uint64_t ts, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The name of an error code (RFC 9113 7), or its hex into buf (24 bytes) */
const char *h2_err_name(int64_t code, char *buf);
/* Printable copy of p[0..n) into dst (cap bytes), cut to fit */
void h2_copy_text(char *dst, size_t cap, const uint8_t *p, size_t n);

/* The open stream id, or NULL */
struct stream *h2_find(struct h2 *s, uint32_t id);
/* The stream a frame of id belongs to: open, or opened now (create) when it
 * was not ended lately; NULL when not (or out of memory).  Pointers into
 * the stream table live until the next stream is opened or closed. */
struct stream *h2_stream(struct h2 *s, uint32_t id, int create, uint64_t ts);
/* Emits the row of st (with reason, or NULL) and forgets st */
void h2_close(struct h2 *s, struct stream *st, const char *reason);
/* Emits, in id order, the streams marked doomed, and forgets them */
void h2_close_marked(struct h2 *s, const char *reason);
/* Direction dir of st ended (END_STREAM) at ts; the row goes when both have */
void h2_dir_end(struct h2 *s, struct stream *st, int dir, uint64_t ts);

/* The block collected in d is complete (END_HEADERS): decodes it into its
 * stream (request, response or trailers; a PUSH_PROMISE's promised stream) */
void h2_block_done(struct h2 *s, struct h2dir *d, int dir, uint64_t ts);
void h2_block_reset(struct h2dir *d);
/* Removes the padding, priority or promised id of the frame just read from
 * its fragment at d->blk[d->frag0..); -1 when they do not fit in it */
int h2_fragment_strip(struct h2dir *d);

#endif
