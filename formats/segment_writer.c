/* segment_writer.c - writes segment files: records into blocks, blocks
 * (plain or columnar, zstd-compressed) into the file, the footer index at
 * a clean close.
 *
 * Reference: formats/SEGMENT.md.  The API is fr_writer_* of segment.h.  A
 * block is built as plain records (segment_record.c); at flush it becomes
 * a columnar block (segment_columnar.c) unless the writer writes version
 * 1.0 files, and is framed by segment_framing.c.
 */
#define _GNU_SOURCE
#include "segment_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

struct fr_writer {
	int fd;
	int failed; /* -errno of the first failure, sticky */
	struct fr_writer_opts o;
	ZSTD_CCtx *cctx;
	uint8_t *raw;  /* records of the current block */
	size_t raw_len, raw_cap;
	uint8_t *comp; /* BLOCK_HDR + compressed frame */
	size_t comp_cap;
	uint32_t count;
	uint64_t first_ts, last_ts;
	uint64_t offset; /* file size */
	uint64_t records;
	struct seg_index_entry *idx;
	size_t n_idx, idx_cap;
	struct col_enc *col; /* version 2: stream buffers, reused per block */
	uint8_t *colbuf;     /* the streams gathered for zstd */
	size_t colbuf_cap;
};

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Options with their defaults filled in. */
static void set_opts(struct fr_writer *w, const struct fr_writer_opts *o)
{
	if (o)
		w->o = *o;
	if (w->o.level == 0)
		w->o.level = 3;
	if (w->o.block_bytes == 0)
		w->o.block_bytes = 4u << 20;
	if (w->o.block_bytes > FR_MAX_BLOCK_RAW / 2)
		w->o.block_bytes = FR_MAX_BLOCK_RAW / 2;
}

struct fr_writer *fr_writer_open(const char *path, const struct fr_header *h,
				 const struct fr_writer_opts *o, char *err, size_t errlen)
{
	struct fr_writer *w = calloc(1, sizeof(*w));
	uint8_t *hdr = malloc(MAX_HEADER);
	if (!w || !hdr) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->fd = -1;
	set_opts(w, o);
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->o.level);
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	struct fr_header hh = *h;
	hh.zstd_level = (uint32_t)w->o.level;
	hh.version = w->o.format == 1 ? 1 : FR_FORMAT_VERSION;
	hh.minor = w->o.format == 1 ? 0 : FR_FORMAT_MINOR;
	size_t hlen = seg_header_encode(hdr, &hh);
	int rc = write_all(w->fd, hdr, hlen);
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		close(w->fd);
		unlink(path);
		w->fd = -1;
		errno = -rc;
		goto fail;
	}
	w->offset = hlen;
	free(hdr);
	return w;
fail:;
	int e = errno;
	free(hdr);
	if (w) {
		if (w->fd >= 0) {
			close(w->fd);
			unlink(path);
		}
		ZSTD_freeCCtx(w->cctx);
	}
	free(w);
	errno = e;
	return NULL;
}

/* Reserves room for one record of blen body bytes and writes its header;
 * returns where the body goes, or NULL (w->failed set). */
static uint8_t *begin_record(struct fr_writer *w, uint16_t kind, uint64_t ts, uint64_t seq,
			     size_t blen)
{
	int rc = seg_grow((void **)&w->raw, &w->raw_cap, w->raw_len + REC_HDR + blen, 1);
	if (rc) {
		w->failed = rc;
		return NULL;
	}
	struct seg_rec_hdr h = {kind, 0, (uint32_t)blen, ts, seq};
	return seg_rec_hdr_put(w->raw + w->raw_len, &h);
}

static int end_record(struct fr_writer *w, size_t blen, uint64_t ts)
{
	w->raw_len += REC_HDR + blen;
	if (w->count == 0 || ts < w->first_ts)
		w->first_ts = ts;
	if (w->count == 0 || ts > w->last_ts)
		w->last_ts = ts;
	w->count++;
	w->records++;
	if (w->raw_len >= w->o.block_bytes)
		return fr_writer_flush(w);
	return 0;
}

int fr_writer_add(struct fr_writer *w, const struct fr_record *r)
{
	if (w->failed)
		return w->failed;
	long blen = seg_record_size(r);
	if (blen < 0)
		return -EINVAL;
	if (blen > (long)FR_MAX_RECORD)
		return -E2BIG;
	uint8_t *p = begin_record(w, r->kind, r->ts, r->seq, (size_t)blen);
	if (!p)
		return w->failed;
	seg_record_put(p, r);
	return end_record(w, (size_t)blen, r->ts);
}

int fr_writer_add_raw(struct fr_writer *w, uint16_t kind, uint64_t ts, uint64_t seq,
		      const void *body, uint32_t len)
{
	if (w->failed)
		return w->failed;
	if (len > FR_MAX_RECORD)
		return -E2BIG;
	uint8_t *p = begin_record(w, kind, ts, seq, len);
	if (!p)
		return w->failed;
	put_mem(p, body, len);
	return end_record(w, len, ts);
}

/* The bytes zstd compresses for the current block: the columnar streams
 * (version 2) when they encode and are no longer than the records (in
 * practice always), else the records as they are.  Sets *magic. */
static const uint8_t *block_source(struct fr_writer *w, size_t *len, uint32_t *magic)
{
	*len = w->raw_len;
	*magic = BLOCK_MAGIC;
	if (w->o.format == 1)
		return w->raw;
	long total = seg_col_encode(&w->col, w->raw, w->raw_len, w->count);
	if (total < 0 || (size_t)total > w->raw_len ||
	    seg_grow((void **)&w->colbuf, &w->colbuf_cap, (size_t)total, 1))
		return w->raw;
	seg_col_gather(w->col, w->colbuf);
	*len = (size_t)total;
	*magic = COL_MAGIC;
	return w->colbuf;
}

int fr_writer_flush(struct fr_writer *w)
{
	if (w->failed)
		return w->failed;
	if (w->count == 0)
		return 0;
	size_t bound = ZSTD_compressBound(w->raw_len);
	int rc = seg_grow((void **)&w->comp, &w->comp_cap, BLOCK_HDR + bound, 1);
	if (rc)
		return w->failed = rc;
	size_t src_len;
	uint32_t magic;
	const uint8_t *src = block_source(w, &src_len, &magic);
	size_t clen = ZSTD_compress2(w->cctx, w->comp + BLOCK_HDR, bound, src, src_len);
	if (ZSTD_isError(clen))
		return w->failed = -EIO;
	struct seg_block_hdr bh = {magic, (uint32_t)clen, (uint32_t)w->raw_len, w->count,
				   w->first_ts, w->last_ts, seg_crc(w->comp + BLOCK_HDR, clen)};
	seg_block_hdr_put(w->comp, &bh);
	rc = write_all(w->fd, w->comp, BLOCK_HDR + clen);
	if (rc == -ENOSPC && ftruncate(w->fd, (off_t)w->offset) == 0 &&
	    lseek(w->fd, (off_t)w->offset, SEEK_SET) == (off_t)w->offset)
		return rc; /* the file ends at its last block; this one stays pending */
	if (rc)
		return w->failed = rc;
	if (w->o.fsync == FR_FSYNC_BLOCK && fdatasync(w->fd) < 0)
		return w->failed = -errno;
	rc = seg_grow((void **)&w->idx, &w->idx_cap, w->n_idx + 1, sizeof(*w->idx));
	if (rc)
		return w->failed = rc;
	w->idx[w->n_idx++] = (struct seg_index_entry){w->offset, w->first_ts, w->last_ts,
						       w->count, (uint32_t)w->raw_len};
	w->offset += BLOCK_HDR + clen;
	w->raw_len = 0;
	w->count = 0;
	if (w->o.on_block)
		w->o.on_block(w->o.arg, w->offset);
	return 0;
}

static int write_footer(struct fr_writer *w)
{
	size_t n = seg_footer_size(w->n_idx);
	uint8_t *buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	seg_footer_put(buf, w->idx, w->n_idx, w->offset);
	int rc = write_all(w->fd, buf, n);
	free(buf);
	if (rc == 0)
		w->offset += n;
	return rc;
}

static void writer_free(struct fr_writer *w)
{
	ZSTD_freeCCtx(w->cctx);
	seg_col_free(w->col);
	free(w->colbuf);
	free(w->raw);
	free(w->comp);
	free(w->idx);
	free(w);
}

int fr_writer_close(struct fr_writer *w)
{
	if (!w)
		return 0;
	int rc = fr_writer_flush(w);
	if (rc == 0)
		rc = write_footer(w);
	if (rc == 0 && w->o.fsync != FR_FSYNC_NONE && fsync(w->fd) < 0)
		rc = -errno;
	if (close(w->fd) < 0 && rc == 0)
		rc = -errno;
	writer_free(w);
	return rc;
}

void fr_writer_drop(struct fr_writer *w, struct fr_writer_pending *out)
{
	memset(out, 0, sizeof(*out));
	if (w->failed || !w->count)
		return;
	out->records = w->count;
	out->bytes = w->raw_len;
	out->first_ts = w->first_ts;
	out->last_ts = w->last_ts;
	w->records -= w->count;
	w->raw_len = 0;
	w->count = 0;
}

void fr_writer_abandon(struct fr_writer *w)
{
	if (!w)
		return;
	close(w->fd);
	writer_free(w);
}

uint64_t fr_writer_bytes(const struct fr_writer *w) { return w->offset + (w->count ? BLOCK_HDR : 0); }
uint64_t fr_writer_records(const struct fr_writer *w) { return w->records; }
