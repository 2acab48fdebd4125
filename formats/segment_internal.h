/* segment_internal.h - what the rooms of the segment format share; callers
 * use segment.h, never this.
 *
 *   segment_record.c    record bodies: each kind's size, encode and decode
 *                       side by side, and the kind table
 *   segment_columnar.c  columnar blocks (FRB2): records <-> streams
 *   segment_framing.c   file header, block header, footer index, trailer
 *   segment_writer.c    fr_writer_*: records -> blocks -> file
 *   segment_reader.c    fr_reader_*: file -> blocks -> records, recovery
 *                       from damage; fr_list_segments
 *
 * formats/SEGMENT.md specifies every byte; these files and that document
 * change together.  Internal functions shared between the files are named
 * seg_*.
 */
#ifndef FLIGHTREC_SEGMENT_INTERNAL_H
#define FLIGHTREC_SEGMENT_INTERNAL_H

#include "bytes.h"
#include "segment.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#define BLOCK_MAGIC 0x31425246u /* "FRB1": records as they are */
#define COL_MAGIC 0x32425246u   /* "FRB2": records split into streams (v2) */
#define BLOCK_HDR 40            /* block header */
#define REC_HDR 24              /* record header */
#define HEADER_FIXED 16         /* file header: magic, version, minor, header_len */
#define MAX_HEADER 65536        /* file header, fields and crc included */
#define TRAILER 16
#define ADDR_LEN 20             /* an encoded struct fr_addr */
#define DATA_FIXED 56           /* the fixed part of a DATA body */

/* zlib's CRC-32 (initial value 0), as every crc of the format. */
static inline uint32_t seg_crc(const void *p, size_t n)
{
	return (uint32_t)crc32(0, p, (uInt)n);
}

/* Makes *buf hold need elements of elem bytes (*cap doubles, from 16).
 * Returns 0, or -ENOMEM with *buf and *cap unchanged: a reader reports
 * that, unlike fr_grow of bytes.h which aborts. */
static inline int seg_grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*buf, n * elem);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* ---- record header (SEGMENT.md "Records") ------------------------------------ */

/* u16 kind, u16 flags, u32 body_len, u64 ts, u64 seq: REC_HDR bytes. */
struct seg_rec_hdr {
	uint16_t kind, flags;
	uint32_t len; /* body_len */
	uint64_t ts, seq;
};

static inline uint8_t *seg_rec_hdr_put(uint8_t *p, const struct seg_rec_hdr *h)
{
	p = put_le16(p, h->kind);
	p = put_le16(p, h->flags);
	p = put_le32(p, h->len);
	p = put_le64(p, h->ts);
	return put_le64(p, h->seq);
}

/* Reads a record header and points *body at its body_len bytes.  0, or -1
 * (c is then failed) when either runs past the end of c. */
static inline int seg_rec_hdr_get(struct fr_cur *c, struct seg_rec_hdr *h, const uint8_t **body)
{
	h->kind = cur_le16(c);
	h->flags = cur_le16(c);
	h->len = cur_le32(c);
	h->ts = cur_le64(c);
	h->seq = cur_le64(c);
	return cur_bytes(c, body, h->len);
}

/* ---- record bodies: segment_record.c --------------------------------------- */

/* Bytes of r's encoded body: -1 when r cannot be encoded (unknown kind, a
 * payload longer than FR_MAX_SNAPLEN or than orig_len), more than
 * FR_MAX_RECORD when it is too big (e.g. a label key over 65535 bytes). */
long seg_record_size(const struct fr_record *r);
/* Encodes r's body at p, which has seg_record_size(r) bytes (a valid size);
 * returns the end. */
uint8_t *seg_record_put(uint8_t *p, const struct fr_record *r);

/* ---- framing: segment_framing.c -------------------------------------------- */

/* Encodes h into buf (MAX_HEADER bytes); returns the header's length. */
size_t seg_header_encode(uint8_t *buf, const struct fr_header *h);
/* The first HEADER_FIXED bytes of a file: 0 and the major version and the
 * header length, or -1 when the magic is wrong. */
int seg_header_peek(const uint8_t *b, uint16_t *major, uint32_t *hlen);
/* Decodes a whole header of hlen bytes (20 <= hlen <= MAX_HEADER) into h:
 * 0, or -1 when its crc fails or its fields are broken. */
int seg_header_decode(const uint8_t *buf, size_t hlen, struct fr_header *h);

struct seg_block_hdr {
	uint32_t magic; /* BLOCK_MAGIC or COL_MAGIC */
	uint32_t comp_len, raw_len, count;
	uint64_t first_ts, last_ts;
	uint32_t pcrc; /* crc32 of the comp_len payload bytes */
};

/* Writes h as BLOCK_HDR bytes at b, with the header's own crc. */
void seg_block_hdr_put(uint8_t *b, const struct seg_block_hdr *h);
/* Parses BLOCK_HDR bytes at b: 0 when magic, header crc and lengths hold,
 * else -1. */
int seg_block_hdr_get(const uint8_t *b, struct seg_block_hdr *h);

/* One block in the footer index. */
struct seg_index_entry {
	uint64_t offset, first_ts, last_ts;
	uint32_t count, raw_len;
};

/* Bytes of the footer index of n blocks and the trailer. */
size_t seg_footer_size(size_t n);
/* Writes the index of n blocks and the trailer (seg_footer_size(n) bytes)
 * at buf; index_offset is where the index starts in the file. */
void seg_footer_put(uint8_t *buf, const struct seg_index_entry *idx, size_t n,
		    uint64_t index_offset);
/* Parses the TRAILER bytes at t: 0 with the index's offset and crc, -1 when
 * the magic is wrong. */
int seg_trailer_get(const uint8_t *t, uint64_t *index_offset, uint32_t *index_crc);
/* Parses the index (len bytes at buf, found at index_offset in a file whose
 * header is hlen bytes, crc from the trailer).  0 with a malloc'd array of
 * *n entries in *idx, or -1 when it does not check out (crc, magic, count,
 * offsets out of order or out of the block area) or on lack of memory. */
int seg_index_get(const uint8_t *buf, size_t len, uint32_t index_crc, uint64_t hlen,
		  uint64_t index_offset, struct seg_index_entry **idx, uint32_t *n);

/* ---- columnar blocks: segment_columnar.c ----------------------------------- */

struct col_enc;  /* the encoder's stream buffers, reused from block to block */
struct col_slot; /* a connection's predictions */

/* Splits n plain records (raw, len bytes) into streams, in *e (created on
 * first use).  Returns the length of the columnar block (stream table and
 * streams), or -1 when out of memory or when the records do not parse (the
 * caller then writes a plain block). */
long seg_col_encode(struct col_enc **e, const uint8_t *raw, size_t len, uint32_t n);
/* Copies the block encoded last (its length as returned) to dst. */
void seg_col_gather(const struct col_enc *e, uint8_t *dst);
void seg_col_free(struct col_enc *e); /* NULL accepted */

/* Rebuilds the plain records of a columnar block: col (clen bytes) must
 * decode to exactly count records of out_len bytes in out.  *slots (of
 * *slots_cap) is the caller's scratch table, grown here up to the slot
 * limit, freed by the caller with free().  Returns 0, or -1 with a reason
 * in *why when the block is malformed. */
int seg_col_decode(const uint8_t *col, size_t clen, uint32_t count, uint8_t *out,
		   size_t out_len, struct col_slot **slots, size_t *slots_cap,
		   const char **why);

#endif
