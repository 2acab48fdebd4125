/* segment_reader.c - reads segment files: the header, blocks by the footer
 * index or one after the other, records out of each block; damage is
 * reported and skipped, never fatal.  Also expands a recording's path to
 * its segment files.
 *
 * Reference: formats/SEGMENT.md, "Reading and recovery".  The API is
 * fr_reader_* and fr_list_segments of segment.h.  Layouts are decoded by
 * segment_framing.c (header, block header, index), segment_columnar.c
 * (FRB2 blocks) and segment_record.c (record bodies).
 */
#define _GNU_SOURCE
#include "segment_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define MAX_DAMAGE 1024

struct fr_reader {
	int fd;
	uint64_t size;     /* file size */
	uint64_t data_end; /* end of the block area (index start, or size) */
	uint64_t pos;      /* next block header to read (sequential mode) */
	struct fr_header h;
	int has_footer;
	struct seg_index_entry *idx;
	size_t n_idx, next_idx;
	uint64_t from, to;
	ZSTD_DCtx *dctx;
	uint8_t *comp;
	size_t comp_cap;
	uint8_t *raw;
	size_t raw_cap, raw_len, raw_pos;
	uint8_t *col; /* version 2 block: decompressed streams */
	size_t col_cap;
	struct col_slot *slots; /* version 2 block: connections */
	size_t slots_cap;
	struct fr_block_info cur;
	struct fr_damage *damage;
	size_t n_damage, damage_cap;
	uint64_t damage_dropped;
	struct fr_reader_stats st;
	int done;
	int following; /* fr_reader_follow: a torn tail is a block still being written */
	uint64_t *seen; /* fingerprints of the blocks read (open addressing; 0 empty) */
	size_t seen_n, seen_cap;
};

/* A block copied twice into a file without a footer (read in sequence)
 * would be read twice and its requests counted twice: each block's
 * fingerprint (payload crc, lengths, time range) is kept, and a repeat is
 * reported as damage and skipped.  A conforming writer never writes two
 * equal blocks (sequence numbers grow).  With a footer the index, whose
 * offsets must increase, lists each block once.  1 when h was seen. */
static int seen_before(struct fr_reader *r, const struct seg_block_hdr *h)
{
	uint64_t fp = ((uint64_t)h->pcrc << 32 | h->comp_len) ^ (h->first_ts * 0x9e3779b97f4a7c15ull) ^
		      (h->last_ts + h->count);
	fp |= 1;
	if (2 * (r->seen_n + 1) > r->seen_cap) {
		size_t cap = r->seen_cap ? 2 * r->seen_cap : 64;
		uint64_t *t = calloc(cap, sizeof(*t));
		if (!t)
			return 0; /* out of memory: no check rather than no reading */
		for (size_t i = 0; i < r->seen_cap; i++)
			for (size_t k = r->seen[i] % cap; r->seen[i]; k = (k + 1) % cap)
				if (!t[k]) {
					t[k] = r->seen[i];
					break;
				}
		free(r->seen);
		r->seen = t;
		r->seen_cap = cap;
	}
	size_t k = fp % r->seen_cap;
	for (; r->seen[k]; k = (k + 1) % r->seen_cap)
		if (r->seen[k] == fp)
			return 1;
	r->seen[k] = fp;
	r->seen_n++;
	return 0;
}

static ssize_t read_at(struct fr_reader *r, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(r->fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

__attribute__((format(printf, 4, 5)))
static void add_damage(struct fr_reader *r, uint64_t off, uint64_t len, const char *fmt, ...)
{
	if (r->n_damage >= MAX_DAMAGE) {
		r->damage_dropped++;
		return;
	}
	if (seg_grow((void **)&r->damage, &r->damage_cap, r->n_damage + 1, sizeof(*r->damage)))
		return;
	struct fr_damage *d = &r->damage[r->n_damage++];
	d->offset = off;
	d->length = len;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->what, sizeof(d->what), fmt, ap);
	va_end(ap);
}

/* ---- opening: header and footer ------------------------------------------------ */

/* Loads the footer index if the trailer and index check out; else the
 * reader scans the blocks from the header on. */
static void load_footer(struct fr_reader *r, uint64_t hlen)
{
	uint8_t t[TRAILER];
	if (r->size < hlen + TRAILER + 8 || read_at(r, t, TRAILER, r->size - TRAILER) != TRAILER)
		return;
	uint64_t ioff;
	uint32_t icrc;
	if (seg_trailer_get(t, &ioff, &icrc) || ioff < hlen || ioff > r->size - TRAILER - 8)
		return;
	uint64_t ilen = r->size - TRAILER - ioff;
	if (ilen > (uint64_t)64 << 20)
		return;
	uint8_t *buf = malloc(ilen);
	if (!buf)
		return;
	uint32_t n;
	if (read_at(r, buf, ilen, ioff) == (ssize_t)ilen &&
	    seg_index_get(buf, ilen, icrc, hlen, ioff, &r->idx, &n) == 0) {
		r->n_idx = n;
		r->has_footer = 1;
		r->data_end = ioff;
	}
	free(buf);
}

/* Reads and checks the file header into r->h: its length, or 0 with a
 * message in err. */
static uint32_t read_header(struct fr_reader *r, const char *path, char *err, size_t errlen)
{
	uint8_t fixed[HEADER_FIXED];
	uint16_t major;
	uint32_t hlen;
	if (read_at(r, fixed, HEADER_FIXED, 0) != HEADER_FIXED ||
	    seg_header_peek(fixed, &major, &hlen) < 0) {
		snprintf(err, errlen, "%s: not a flightrec segment (bad magic)", path);
		return 0;
	}
	if (major > FR_FORMAT_VERSION) {
		snprintf(err, errlen, "%s: segment format %u is newer than this flightrec (%u): upgrade flightrec",
			 path, major, FR_FORMAT_VERSION);
		return 0;
	}
	if (major == 0 || hlen < 20 || hlen > MAX_HEADER || hlen > r->size) {
		snprintf(err, errlen, "%s: not a flightrec segment (bad header length)", path);
		return 0;
	}
	uint8_t *hbuf = malloc(hlen);
	if (!hbuf || read_at(r, hbuf, hlen, 0) != (ssize_t)hlen) {
		snprintf(err, errlen, "%s: cannot read header", path);
		free(hbuf);
		return 0;
	}
	int rc = seg_header_decode(hbuf, hlen, &r->h);
	free(hbuf);
	if (rc < 0) {
		snprintf(err, errlen, "%s: damaged segment header (checksum): the file cannot be read", path);
		return 0;
	}
	return hlen;
}

struct fr_reader *fr_reader_open(const char *path, char *err, size_t errlen)
{
	struct fr_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->to = UINT64_MAX;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (refused below) */
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (r->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	r->size = (uint64_t)st.st_size;
	r->st.file_bytes = r->size;
	uint32_t hlen = read_header(r, path, err, errlen);
	if (!hlen)
		goto fail;
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->pos = hlen;
	r->data_end = r->size;
	load_footer(r, hlen);
	return r;
fail:
	fr_reader_free(r);
	return NULL;
}

void fr_reader_free(struct fr_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->idx);
	free(r->comp);
	free(r->raw);
	free(r->col);
	free(r->slots);
	free(r->damage);
	free(r->seen);
	free(r);
}

const struct fr_header *fr_reader_header(const struct fr_reader *r) { return &r->h; }
int fr_reader_has_footer(const struct fr_reader *r) { return r->has_footer; }
const struct fr_block_info *fr_reader_block(const struct fr_reader *r) { return &r->cur; }
const struct fr_reader_stats *fr_reader_stats(const struct fr_reader *r) { return &r->st; }

const struct fr_damage *fr_reader_damage(const struct fr_reader *r, size_t *n)
{
	*n = r->n_damage;
	return r->damage;
}

void fr_reader_set_range(struct fr_reader *r, uint64_t from, uint64_t to)
{
	r->from = from;
	r->to = to;
}

/* ---- blocks ------------------------------------------------------------------ */

/* Finds the next valid block header at or after off (before data_end).
 * Returns its offset, or data_end if none. */
static uint64_t resync(struct fr_reader *r, uint64_t off)
{
	enum { WIN = 1 << 16 };
	uint8_t *buf = malloc(WIN + BLOCK_HDR);
	if (!buf)
		return r->data_end;
	while (off + BLOCK_HDR <= r->data_end) {
		size_t want = WIN + BLOCK_HDR;
		if (off + want > r->data_end)
			want = (size_t)(r->data_end - off);
		ssize_t got = read_at(r, buf, want, off);
		if (got < BLOCK_HDR)
			break;
		for (ssize_t i = 0; i + BLOCK_HDR <= got; i++) {
			struct seg_block_hdr h;
			if (buf[i] == 'F' && buf[i + 1] == 'R' && seg_block_hdr_get(buf + i, &h) == 0) {
				free(buf);
				return off + (uint64_t)i;
			}
		}
		off += (uint64_t)got - BLOCK_HDR + 1;
	}
	free(buf);
	return r->data_end;
}

/* Reads, checks and decompresses the payload of the block at off (header
 * h) into r->raw, rebuilding a columnar block's records.  0, or -1 with the
 * damage reported. */
static int load_payload(struct fr_reader *r, uint64_t off, const struct seg_block_hdr *h)
{
	uint64_t span = BLOCK_HDR + (uint64_t)h->comp_len;
	if (seg_grow((void **)&r->comp, &r->comp_cap, h->comp_len, 1) ||
	    seg_grow((void **)&r->raw, &r->raw_cap, h->raw_len ? h->raw_len : 1, 1)) {
		add_damage(r, off, span, "out of memory for block");
		return -1;
	}
	if (read_at(r, r->comp, h->comp_len, off + BLOCK_HDR) != (ssize_t)h->comp_len) {
		add_damage(r, off, span, "read error");
		return -1;
	}
	if (seg_crc(r->comp, h->comp_len) != h->pcrc) {
		add_damage(r, off, span, "block checksum mismatch (%u records lost)", h->count);
		return -1;
	}
	int col = h->magic == COL_MAGIC;
	if (col && seg_grow((void **)&r->col, &r->col_cap, h->raw_len ? h->raw_len : 1, 1)) {
		add_damage(r, off, span, "out of memory for block");
		return -1;
	}
	/* A columnar block's streams are at most raw_len bytes. */
	size_t n = ZSTD_decompressDCtx(r->dctx, col ? r->col : r->raw, h->raw_len, r->comp,
				       h->comp_len);
	if (ZSTD_isError(n) || (!col && n != h->raw_len)) {
		add_damage(r, off, span, "zstd: %s",
			   ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
		return -1;
	}
	const char *why;
	if (col && seg_col_decode(r->col, n, h->count, r->raw, h->raw_len, &r->slots,
				  &r->slots_cap, &why) < 0) {
		add_damage(r, off, span, "malformed columnar block: %s (%u records lost)", why,
			   h->count);
		return -1;
	}
	return 0;
}

/* Loads the block at off into r->raw.  Returns the offset of the following
 * block, or 0 when nothing more can be read from this point.  *ok is set
 * when the block was loaded. */
static uint64_t load_block(struct fr_reader *r, uint64_t off, int *ok)
{
	uint8_t b[BLOCK_HDR];
	struct seg_block_hdr h;
	*ok = 0;
	if (off >= r->data_end)
		return 0;
	if (off + BLOCK_HDR > r->data_end) {
		if (!r->following)
			add_damage(r, off, r->data_end - off, "torn tail: partial block header (writer stopped mid-block)");
		return 0;
	}
	if (read_at(r, b, BLOCK_HDR, off) != BLOCK_HDR)
		return 0;
	if (seg_block_hdr_get(b, &h) < 0) {
		uint64_t next = resync(r, off + 1);
		add_damage(r, off, next - off, "bad block header; skipped to %s",
			   next < r->data_end ? "next block" : "end of file");
		return next < r->data_end ? next : 0;
	}
	uint64_t next = off + BLOCK_HDR + h.comp_len;
	if (next > r->data_end && r->following)
		return 0;
	if (next > r->data_end) {
		add_damage(r, off, r->data_end - off,
			   "torn tail: block of %u bytes cut at %" PRIu64 " (writer stopped mid-block)",
			   h.comp_len, r->data_end - off - BLOCK_HDR);
		return 0;
	}
	r->cur = (struct fr_block_info){off, h.comp_len, h.raw_len, h.count, h.first_ts, h.last_ts};
	if (h.last_ts < r->from || h.first_ts > r->to)
		return next;
	if (!r->has_footer && seen_before(r, &h)) { /* the index lists each block once */
		add_damage(r, off, next - off, "block repeats an earlier block of this file (a copy); skipped");
		return next;
	}
	if (load_payload(r, off, &h) < 0)
		return next;
	r->raw_len = h.raw_len;
	r->raw_pos = 0;
	r->st.blocks++;
	r->st.comp_bytes += h.comp_len;
	r->st.raw_bytes += h.raw_len;
	*ok = 1;
	return next;
}

/* Advances to the next block that loads; 0 at the end. */
static int next_block(struct fr_reader *r)
{
	int ok = 0;
	while (!ok && !r->done) {
		if (r->has_footer) {
			while (r->next_idx < r->n_idx &&
			       (r->idx[r->next_idx].last_ts < r->from ||
				r->idx[r->next_idx].first_ts > r->to))
				r->next_idx++;
			if (r->next_idx >= r->n_idx) {
				r->done = 1;
				break;
			}
			load_block(r, r->idx[r->next_idx++].offset, &ok);
		} else {
			uint64_t next = load_block(r, r->pos, &ok);
			if (next == 0)
				r->done = 1;
			else
				r->pos = next;
		}
	}
	return ok;
}

int fr_reader_follow(struct fr_reader *r)
{
	struct stat st;
	r->following = 1;
	if (r->has_footer || fstat(r->fd, &st) < 0 || (uint64_t)st.st_size <= r->data_end)
		return 0;
	r->size = r->data_end = (uint64_t)st.st_size;
	r->st.file_bytes = r->size;
	r->done = 0;
	return 1;
}

/* ---- records ----------------------------------------------------------------- */

int fr_reader_next(struct fr_reader *r, struct fr_record *rec)
{
	for (;;) {
		if (r->raw_pos >= r->raw_len) {
			r->raw_len = r->raw_pos = 0;
			if (!next_block(r))
				return 0;
		}
		struct fr_cur c;
		cur_init(&c, r->raw + r->raw_pos, r->raw_len - r->raw_pos);
		struct seg_rec_hdr h;
		const uint8_t *body;
		if (seg_rec_hdr_get(&c, &h, &body)) {
			add_damage(r, r->cur.offset, BLOCK_HDR + (uint64_t)r->cur.comp_len,
				   "record framing broken at byte %zu of block", r->raw_pos);
			r->raw_pos = r->raw_len;
			continue;
		}
		r->raw_pos += REC_HDR + h.len;
		if (h.kind == 0 || h.kind > FR_KIND_MAX) {
			r->st.unknown_kinds++;
			continue;
		}
		if (fr_record_decode(h.kind, body, h.len, rec) < 0) {
			add_damage(r, r->cur.offset, BLOCK_HDR + (uint64_t)r->cur.comp_len,
				   "malformed %s record skipped", fr_kind_name(h.kind));
			continue;
		}
		rec->flags = h.flags;
		rec->ts = h.ts;
		rec->seq = h.seq;
		r->st.records++;
		return 1;
	}
}

/* ---- paths ------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fr_free_list(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int fr_list_segments(const char *path, char ***out, char *err, size_t errlen)
{
	struct stat st;
	*out = NULL;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		char **l = malloc(sizeof(*l));
		if (!l || !(l[0] = strdup(path))) {
			free(l);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*out = l;
		return 1;
	}
	DIR *d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char **l = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	size_t sl = strlen(FR_SEGMENT_SUFFIX);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len <= sl || strcmp(e->d_name + len - sl, FR_SEGMENT_SUFFIX) != 0 ||
		    e->d_name[0] == '.')
			continue;
		char *full;
		if (seg_grow((void **)&l, &cap, n + 1, sizeof(*l)) ||
		    asprintf(&full, "%s/%s", path, e->d_name) < 0) {
			closedir(d);
			fr_free_list(l, (int)n);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		l[n++] = full;
	}
	closedir(d);
	if (n)
		qsort(l, n, sizeof(*l), cmp_str);
	*out = l;
	return (int)n;
}
