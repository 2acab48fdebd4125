/* segment_framing.c - the frame of a segment file around its records: the
 * file header, the block header, the footer index and the trailer, each
 * encoded and decoded side by side.
 *
 * Reference: formats/SEGMENT.md, "File header", "Block" and "Footer index
 * and trailer".  No I/O here: segment_writer.c and segment_reader.c read
 * and write the bytes, and the reader checks them against the file's size.
 */
#include "segment_internal.h"

#include <string.h>
#include <zstd.h>

static const uint8_t file_magic[8] = {'F', 'R', 'S', 'E', 'G', '\r', '\n', 0x1a};
#define INDEX_MAGIC 0x58495246u   /* "FRIX" */
#define TRAILER_MAGIC 0x4e455246u /* "FREN" */
#define INDEX_ENTRY 32

/* ---- file header -------------------------------------------------------------
 *
 *   0 8 bytes magic   8 u16 version   10 u16 minor   12 u32 header_len
 *  16 fields: u16 tag, u16 len, len bytes (unknown tags are skipped)
 *  header_len-4: crc32 of bytes [0, header_len-4)
 */

enum { H_NODE = 1, H_BOOT_ID, H_KERNEL, H_RECORDER, H_WALL_OFFSET, H_CREATED,
       H_SEG_INDEX, H_SNAPLEN, H_LEVEL, H_FILTERS, H_REDACTION, H_SOURCE, H_HOOKS, H_ARRIVAL_MIN };

static uint8_t *put_hstr(uint8_t *p, uint16_t tag, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	p = put_le16(p, tag);
	p = put_le16(p, (uint16_t)n);
	return put_mem(p, s, n);
}
static uint8_t *put_hu64(uint8_t *p, uint16_t tag, uint64_t v)
{
	p = put_le16(p, tag);
	p = put_le16(p, 8);
	return put_le64(p, v);
}
static uint8_t *put_hu32(uint8_t *p, uint16_t tag, uint32_t v)
{
	p = put_le16(p, tag);
	p = put_le16(p, 4);
	return put_le32(p, v);
}

#define HSTR(p, tag, field) put_hstr(p, tag, field, sizeof(field))

size_t seg_header_encode(uint8_t *buf, const struct fr_header *h)
{
	uint8_t *p = put_mem(buf, file_magic, 8);
	p = put_le16(p, h->version);
	p = put_le16(p, h->minor);
	uint8_t *lenp = p;
	p += 4;
	p = HSTR(p, H_NODE, h->node);
	p = HSTR(p, H_BOOT_ID, h->boot_id);
	p = HSTR(p, H_KERNEL, h->kernel);
	p = HSTR(p, H_RECORDER, h->recorder);
	p = put_hu64(p, H_WALL_OFFSET, (uint64_t)h->wall_offset_ns);
	p = put_hu64(p, H_CREATED, h->created_ns);
	p = put_hu64(p, H_SEG_INDEX, h->segment_index);
	p = put_hu32(p, H_SNAPLEN, h->snaplen);
	p = put_hu32(p, H_LEVEL, h->zstd_level);
	p = HSTR(p, H_FILTERS, h->filters);
	p = HSTR(p, H_REDACTION, h->redaction);
	p = HSTR(p, H_SOURCE, h->source);
	if (h->hooks[0])
		p = HSTR(p, H_HOOKS, h->hooks);
	if (h->arrival_min_ns)
		p = put_hu64(p, H_ARRIVAL_MIN, h->arrival_min_ns);
	size_t len = (size_t)(p - buf) + 4;
	put_le32(lenp, (uint32_t)len);
	put_le32(p, seg_crc(buf, len - 4));
	return len;
}

int seg_header_peek(const uint8_t *b, uint16_t *major, uint32_t *hlen)
{
	if (memcmp(b, file_magic, 8) != 0)
		return -1;
	struct fr_cur c;
	cur_init(&c, b + 8, HEADER_FIXED - 8);
	*major = cur_le16(&c);
	cur_le16(&c); /* minor */
	*hlen = cur_le32(&c);
	return 0;
}

/* Text values are truncated to their buffers. */
static void copy_str(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
}

#define HCOPY(field, v, n) copy_str(field, sizeof(field), v, n)

int seg_header_decode(const uint8_t *buf, size_t hlen, struct fr_header *h)
{
	struct fr_cur c;
	cur_init(&c, buf + hlen - 4, 4);
	if (cur_le32(&c) != seg_crc(buf, hlen - 4))
		return -1;
	memset(h, 0, sizeof(*h));
	cur_init(&c, buf + 8, hlen - 8 - 4);
	h->version = cur_le16(&c);
	h->minor = cur_le16(&c);
	cur_skip(&c, 4);
	while (!c.bad && cur_left(&c) > 0) {
		uint16_t tag = cur_le16(&c), len = cur_le16(&c);
		const uint8_t *v;
		if (cur_bytes(&c, &v, len))
			return -1;
		struct fr_cur f;
		cur_init(&f, v, len);
		switch (tag) {
		case H_NODE: HCOPY(h->node, v, len); break;
		case H_BOOT_ID: HCOPY(h->boot_id, v, len); break;
		case H_KERNEL: HCOPY(h->kernel, v, len); break;
		case H_RECORDER: HCOPY(h->recorder, v, len); break;
		case H_WALL_OFFSET: h->wall_offset_ns = (int64_t)cur_le64(&f); break;
		case H_CREATED: h->created_ns = cur_le64(&f); break;
		case H_SEG_INDEX: h->segment_index = cur_le64(&f); break;
		case H_SNAPLEN: h->snaplen = cur_le32(&f); break;
		case H_LEVEL: h->zstd_level = cur_le32(&f); break;
		case H_FILTERS: HCOPY(h->filters, v, len); break;
		case H_REDACTION: HCOPY(h->redaction, v, len); break;
		case H_SOURCE: HCOPY(h->source, v, len); break;
		case H_HOOKS: HCOPY(h->hooks, v, len); break;
		case H_ARRIVAL_MIN: h->arrival_min_ns = cur_le64(&f); break;
		}
	}
	return c.bad ? -1 : 0;
}

/* ---- block header (BLOCK_HDR bytes) ----------------------------------------------
 *
 *   0 u32 magic "FRB1"/"FRB2"   4 u32 comp_len   8 u32 raw_len   12 u32 count
 *  16 u64 first_ts   24 u64 last_ts   32 u32 crc32 of the payload
 *  36 u32 crc32 of bytes 0..35
 */

void seg_block_hdr_put(uint8_t *b, const struct seg_block_hdr *h)
{
	uint8_t *p = put_le32(b, h->magic);
	p = put_le32(p, h->comp_len);
	p = put_le32(p, h->raw_len);
	p = put_le32(p, h->count);
	p = put_le64(p, h->first_ts);
	p = put_le64(p, h->last_ts);
	p = put_le32(p, h->pcrc);
	put_le32(p, seg_crc(b, 36));
}

int seg_block_hdr_get(const uint8_t *b, struct seg_block_hdr *h)
{
	struct fr_cur c;
	cur_init(&c, b, BLOCK_HDR);
	h->magic = cur_le32(&c);
	if (h->magic != BLOCK_MAGIC && h->magic != COL_MAGIC)
		return -1;
	h->comp_len = cur_le32(&c);
	h->raw_len = cur_le32(&c);
	h->count = cur_le32(&c);
	h->first_ts = cur_le64(&c);
	h->last_ts = cur_le64(&c);
	h->pcrc = cur_le32(&c);
	if (cur_le32(&c) != seg_crc(b, 36))
		return -1;
	if (h->raw_len > FR_MAX_BLOCK_RAW || h->comp_len > ZSTD_compressBound(h->raw_len) ||
	    h->comp_len == 0)
		return -1;
	return 0;
}

/* ---- footer index and trailer ----------------------------------------------------
 *
 * index:   u32 magic "FRIX", u32 n, then per block u64 offset, u64 first_ts,
 *          u64 last_ts, u32 count, u32 raw_len (INDEX_ENTRY bytes)
 * trailer: u64 index_offset, u32 crc32 of the index, u32 magic "FREN"
 */

size_t seg_footer_size(size_t n)
{
	return 8 + INDEX_ENTRY * n + TRAILER;
}

void seg_footer_put(uint8_t *buf, const struct seg_index_entry *idx, size_t n,
		    uint64_t index_offset)
{
	uint8_t *p = put_le32(buf, INDEX_MAGIC);
	p = put_le32(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		p = put_le64(p, idx[i].offset);
		p = put_le64(p, idx[i].first_ts);
		p = put_le64(p, idx[i].last_ts);
		p = put_le32(p, idx[i].count);
		p = put_le32(p, idx[i].raw_len);
	}
	uint32_t icrc = seg_crc(buf, (size_t)(p - buf));
	p = put_le64(p, index_offset);
	p = put_le32(p, icrc);
	put_le32(p, TRAILER_MAGIC);
}

int seg_trailer_get(const uint8_t *t, uint64_t *index_offset, uint32_t *index_crc)
{
	struct fr_cur c;
	cur_init(&c, t, TRAILER);
	*index_offset = cur_le64(&c);
	*index_crc = cur_le32(&c);
	return cur_le32(&c) == TRAILER_MAGIC ? 0 : -1;
}

int seg_index_get(const uint8_t *buf, size_t len, uint32_t index_crc, uint64_t hlen,
		  uint64_t index_offset, struct seg_index_entry **out, uint32_t *out_n)
{
	if (seg_crc(buf, len) != index_crc)
		return -1;
	struct fr_cur c;
	cur_init(&c, buf, len);
	uint32_t magic = cur_le32(&c), n = cur_le32(&c);
	if (magic != INDEX_MAGIC || (uint64_t)n * INDEX_ENTRY != len - 8)
		return -1;
	struct seg_index_entry *idx = calloc(n ? n : 1, sizeof(*idx));
	if (!idx)
		return -1;
	uint64_t prev = hlen;
	for (uint32_t i = 0; i < n; i++) {
		idx[i].offset = cur_le64(&c);
		idx[i].first_ts = cur_le64(&c);
		idx[i].last_ts = cur_le64(&c);
		idx[i].count = cur_le32(&c);
		idx[i].raw_len = cur_le32(&c);
		if (idx[i].offset < prev || idx[i].offset + BLOCK_HDR > index_offset) {
			free(idx);
			return -1; /* inconsistent: the reader scans the blocks instead */
		}
		prev = idx[i].offset + BLOCK_HDR;
	}
	*out = idx;
	*out_n = n;
	return 0;
}
