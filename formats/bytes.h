/* bytes.h - bounds-checked little/big-endian cursor for untrusted bytes.
 *
 * Every parser of captured or on-disk bytes reads through a struct fr_cur:
 * a get_* call on a short buffer fails (returns -1) and leaves the cursor
 * failed, it never reads past end.  Never cast a pointer to a wire struct.
 */
#ifndef FLIGHTREC_BYTES_H
#define FLIGHTREC_BYTES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fr_cur {
	const uint8_t *p, *end;
	int bad; /* sticky: set by the first failed read */
};

static inline void cur_init(struct fr_cur *c, const void *p, size_t len)
{
	c->p = p;
	c->end = c->p + len;
	c->bad = 0;
}
static inline size_t cur_left(const struct fr_cur *c) { return (size_t)(c->end - c->p); }

static inline int cur_need(struct fr_cur *c, size_t n)
{
	if (c->bad || cur_left(c) < n) {
		c->bad = 1;
		return -1;
	}
	return 0;
}
static inline int cur_skip(struct fr_cur *c, size_t n)
{
	if (cur_need(c, n))
		return -1;
	c->p += n;
	return 0;
}
static inline int cur_bytes(struct fr_cur *c, const uint8_t **out, size_t n)
{
	if (cur_need(c, n))
		return -1;
	*out = c->p;
	c->p += n;
	return 0;
}
static inline uint8_t cur_u8(struct fr_cur *c)
{
	if (cur_need(c, 1))
		return 0;
	return *c->p++;
}
static inline uint16_t cur_le16(struct fr_cur *c)
{
	if (cur_need(c, 2))
		return 0;
	uint16_t v = (uint16_t)(c->p[0] | c->p[1] << 8);
	c->p += 2;
	return v;
}
static inline uint32_t cur_le32(struct fr_cur *c)
{
	if (cur_need(c, 4))
		return 0;
	uint32_t v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 |
		     (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 24;
	c->p += 4;
	return v;
}
static inline uint64_t cur_le64(struct fr_cur *c)
{
	uint64_t lo = cur_le32(c);
	uint64_t hi = cur_le32(c);
	return lo | hi << 32;
}
static inline uint16_t cur_be16(struct fr_cur *c)
{
	if (cur_need(c, 2))
		return 0;
	uint16_t v = (uint16_t)(c->p[0] << 8 | c->p[1]);
	c->p += 2;
	return v;
}
static inline uint32_t cur_be32(struct fr_cur *c)
{
	if (cur_need(c, 4))
		return 0;
	uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 |
		     (uint32_t)c->p[2] << 8 | (uint32_t)c->p[3];
	c->p += 4;
	return v;
}

/* Unaligned little-endian stores into a buffer the caller sized. */
static inline uint8_t *put_u8(uint8_t *p, uint8_t v)
{
	*p = v;
	return p + 1;
}
static inline uint8_t *put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}
static inline uint8_t *put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 4;
}
static inline uint8_t *put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}
static inline uint8_t *put_mem(uint8_t *p, const void *s, size_t n)
{
	if (n)
		memcpy(p, s, n);
	return p + n;
}

/* ---- buffers and hashing -------------------------------------------------- */

/* A buffer of *cap bytes made to hold need: *cap doubles (from `first`
 * when 0) until it does.  Returns the buffer, moved or not.  Out of memory
 * aborts: for the analyzer's own buffers, not for a reader's (those return
 * an error). */
static inline void *fr_grow(void *buf, size_t *cap, size_t need, size_t first)
{
	if (need <= *cap)
		return buf;
	size_t nc = *cap ? *cap : first;
	while (nc < need)
		nc *= 2;
	void *nb = realloc(buf, nc);
	if (!nb)
		abort();
	*cap = nc;
	return nb;
}

/* Keeps what fits of n bytes of a message body: appends them to *buf
 * (grown by fr_grow; *blen bytes used of *bcap) up to cap bytes in all, and
 * returns how many it kept (fewer than n: the body is cut). */
static inline size_t fr_keep(uint8_t **buf, size_t *bcap, uint32_t *blen, const uint8_t *p, size_t n, size_t cap)
{
	size_t keep = *blen >= cap ? 0 : (n < cap - *blen ? n : cap - *blen);
	if (keep) {
		*buf = fr_grow(*buf, bcap, *blen + keep, 256);
		memcpy(*buf + *blen, p, keep);
		*blen += (uint32_t)keep;
	}
	return keep;
}

/* FNV-1a of n bytes, going on from h (FR_HASH_INIT to start): for hash
 * tables, never for anything stored. */
#define FR_HASH_INIT 2166136261u
static inline uint32_t fr_hash(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

#endif
