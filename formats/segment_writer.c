/* segment_writer.c - writes segment files: records into blocks, blocks
 * (plain or columnar, zstd-compressed) into the file, the footer index at
 * a clean close.
 *
 * Reference: formats/SEGMENT.md.  The API is fr_writer_* of segment.h.  A
 * block is built as plain records (segment_record.c); at flush it becomes
 * a columnar block (segment_columnar.c) unless the writer writes version
 * 1.0 files, and is framed by segment_framing.c.
 *
 * With fr_writer_opts.thread, a thread of the writer's own compresses and
 * writes each full block while the caller fills the next: a caller that
 * must keep up with a stream (the recorder's drain of the kernel's ring
 * buffers) then never waits for zstd, unless a whole block fills before
 * the one before it is written.  One block at most is in the thread's
 * hands, so what the caller knows of the file (fr_writer_bytes, on_block,
 * called in the caller's thread) lags by that block only.  The thread
 * starts with the first full block, not at open: a caller that drops
 * privileges after opening its first file (flightrec-record) has dropped
 * them by then, and the thread inherits what is left.
 */
#define _GNU_SOURCE
#include "segment_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
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
	struct async *as;    /* o.thread: the thread writing blocks */
	int level;           /* the compression level cctx is set to */
	uint64_t fast_blocks;
};

/* A block handed to the writer's thread: its records (a buffer swapped
 * with the caller's) and what its index entry says. */
struct blk {
	uint8_t *raw;
	size_t len, cap;
	uint32_t count;
	uint64_t first_ts, last_ts;
	int fast; /* compressed at FAST_LEVEL: the thread was behind */
};

/* The level of a block handed over while the thread was still writing
 * the one before, with o.fast_behind (o.level otherwise): a writer that
 * cannot keep up with the caller at o.level holds the caller up, and the
 * recorder's kernel buffers overflow (events lost); one that writes
 * bigger blocks for a while does not.  zstd's fastest levels still find
 * repeats, and write what does not repeat as it is (Huffman coding, the
 * most of level 1's time on payloads such as base64, is left out):
 * 16 MB of base64 bodies went at 584 MB/s at level 1 (x1.33), at 5.3
 * GB/s at -1 (x1.00), `zstd -b` on this 2 vCPU VM. */
#define FAST_LEVEL (-1)

struct async {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct blk b;      /* b.len > 0: the block the thread has to write */
	int stop;
	int err;           /* the thread's failure: -ENOSPC pauses it (b stays) */
	uint64_t offset;   /* the file's size after the thread's last block */
	uint64_t told;     /* the offset last passed to on_block */
	int held;          /* the caller's view: b was handed over, not settled */
};

static int async_start(struct fr_writer *w);
static void async_stop(struct fr_writer *w);
static int hand_over(struct fr_writer *w);

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
	/* a block's room at once (pages are touched as it fills): grown by
	 * doubling from nothing, a new segment's first block was copied over
	 * and over (a twentieth of the recorder's CPU in a 4-s run) */
	if (!w->cctx || seg_grow((void **)&w->raw, &w->raw_cap, w->o.block_bytes + (128u << 10), 1)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->o.level);
	w->level = w->o.level;
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
		free(w->raw);
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
	if (w->raw_len < w->o.block_bytes)
		return 0;
	if (w->o.thread && !w->as && async_start(w))
		w->o.thread = 0; /* no thread: the caller writes */
	if (w->as) {
		int rc = hand_over(w);
		return w->failed ? w->failed : rc;
	}
	return fr_writer_flush(w);
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

/* The bytes zstd compresses for block b: the columnar streams (version
 * 2) when they encode and are no longer than the records (in practice
 * always), else the records as they are.  Sets *magic. */
static const uint8_t *block_source(struct fr_writer *w, const struct blk *b, size_t *len,
				   uint32_t *magic)
{
	*len = b->len;
	*magic = BLOCK_MAGIC;
	if (w->o.format == 1)
		return b->raw;
	long total = seg_col_encode(&w->col, b->raw, b->len, b->count);
	if (total < 0 || (size_t)total > b->len ||
	    seg_grow((void **)&w->colbuf, &w->colbuf_cap, (size_t)total, 1))
		return b->raw;
	seg_col_gather(w->col, w->colbuf);
	*len = (size_t)total;
	*magic = COL_MAGIC;
	return w->colbuf;
}

/* Compresses block b and writes it at the end of the file, with its index
 * entry.  0, or -errno: -ENOSPC leaves the file at its last block (b is
 * still to be written); any other is a failure. */
static int write_block(struct fr_writer *w, const struct blk *b)
{
	size_t bound = ZSTD_compressBound(b->len);
	int rc = seg_grow((void **)&w->comp, &w->comp_cap, BLOCK_HDR + bound, 1);
	if (rc)
		return rc;
	size_t src_len;
	uint32_t magic;
	int level = b->fast ? FAST_LEVEL : w->o.level;
	w->fast_blocks += b->fast != 0;
	if (level != w->level) {
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
		w->level = level;
	}
	const uint8_t *src = block_source(w, b, &src_len, &magic);
	size_t clen = ZSTD_compress2(w->cctx, w->comp + BLOCK_HDR, bound, src, src_len);
	if (ZSTD_isError(clen))
		return -EIO;
	struct seg_block_hdr bh = {magic, (uint32_t)clen, (uint32_t)b->len, b->count,
				   b->first_ts, b->last_ts, seg_crc(w->comp + BLOCK_HDR, clen)};
	seg_block_hdr_put(w->comp, &bh);
	rc = write_all(w->fd, w->comp, BLOCK_HDR + clen);
	if (rc == -ENOSPC && ftruncate(w->fd, (off_t)w->offset) == 0 &&
	    lseek(w->fd, (off_t)w->offset, SEEK_SET) == (off_t)w->offset)
		return rc; /* the file ends at its last block; this one stays pending */
	if (rc)
		return rc == -ENOSPC ? -EIO : rc;
	if (w->o.fsync == FR_FSYNC_BLOCK && fdatasync(w->fd) < 0)
		return -errno;
	/* the block's write-back starts now (no wait): the fsync at close then
	 * has little left to write.  It took 50 ms for a 64 MiB segment here,
	 * with the recorder's drain waiting for it and its kernel buffers
	 * overflowing at each segment under load (best effort: a failure
	 * shows at that fsync) */
	if (w->o.fsync == FR_FSYNC_CLOSE)
		sync_file_range(w->fd, (off_t)w->offset, (off_t)(BLOCK_HDR + clen), SYNC_FILE_RANGE_WRITE);
	rc = seg_grow((void **)&w->idx, &w->idx_cap, w->n_idx + 1, sizeof(*w->idx));
	if (rc)
		return rc;
	w->idx[w->n_idx++] = (struct seg_index_entry){w->offset, b->first_ts, b->last_ts,
						       b->count, (uint32_t)b->len};
	w->offset += BLOCK_HDR + clen;
	return 0;
}

/* The current block as a struct blk (its buffer still the writer's). */
static struct blk cur_blk(const struct fr_writer *w)
{
	return (struct blk){w->raw, w->raw_len, w->raw_cap, w->count, w->first_ts, w->last_ts, 0};
}

/* ---- the writer's thread (o.thread) ---------------------------------------
 * The caller hands it a full block (hand_over) by swapping buffers, and
 * learns what became of it at its next hand-over or flush (settle), where
 * on_block is called.  The thread owns w->cctx, col, colbuf, comp, idx and
 * offset while it writes; the caller reads them only when it holds nothing
 * (flush, close). */

static void *writer_thread(void *arg)
{
	struct fr_writer *w = arg;
	struct async *as = w->as;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* the caller's thread takes the signals */
	pthread_mutex_lock(&as->mu);
	for (;;) {
		while (!as->stop && (!as->b.len || as->err))
			pthread_cond_wait(&as->work, &as->mu);
		if (!as->b.len || as->err)
			break; /* stopping */
		pthread_mutex_unlock(&as->mu);
		int rc = write_block(w, &as->b);
		pthread_mutex_lock(&as->mu);
		if (rc)
			as->err = rc;
		else
			as->b.len = as->b.count = 0;
		as->offset = w->offset;
		pthread_cond_broadcast(&as->done);
	}
	pthread_mutex_unlock(&as->mu);
	return NULL;
}

static int async_start(struct fr_writer *w)
{
	struct async *as = calloc(1, sizeof(*as));
	if (!as)
		return -1;
	pthread_mutex_init(&as->mu, NULL);
	pthread_cond_init(&as->work, NULL);
	pthread_cond_init(&as->done, NULL);
	as->offset = as->told = w->offset;
	/* the buffer the caller fills next, as large as the first one and
	 * touched now: the memory the second buffer costs comes at once, at
	 * the first block (as the compression buffers do), not page by page
	 * while the next block fills (an RSS that seemed to grow) */
	as->b.raw = malloc(w->raw_cap);
	if (!as->b.raw) {
		free(as);
		return -1;
	}
	memset(as->b.raw, 0, w->raw_cap);
	as->b.cap = w->raw_cap;
	w->as = as;
	if (pthread_create(&as->thread, NULL, writer_thread, w)) {
		free(as->b.raw);
		free(as);
		w->as = NULL;
		return -1;
	}
	return 0;
}

static void async_stop(struct fr_writer *w)
{
	struct async *as = w->as;
	if (!as)
		return;
	pthread_mutex_lock(&as->mu);
	as->stop = 1;
	pthread_cond_signal(&as->work);
	pthread_mutex_unlock(&as->mu);
	pthread_join(as->thread, NULL);
	free(as->b.raw);
	pthread_mutex_destroy(&as->mu);
	pthread_cond_destroy(&as->work);
	pthread_cond_destroy(&as->done);
	free(as);
	w->as = NULL;
}

/* Waits (as->mu held) until the thread holds no block or has failed;
 * then tells on_block of what it wrote.  Returns the thread's error: a
 * failure (kept in w->failed) or -ENOSPC. */
static int settle(struct fr_writer *w)
{
	struct async *as = w->as;
	while (as->b.len && !as->err)
		pthread_cond_wait(&as->done, &as->mu);
	uint64_t off = as->offset;
	int err = as->err;
	as->held = as->b.len != 0;
	if (err && err != -ENOSPC)
		w->failed = err;
	if (off != as->told) {
		as->told = off;
		if (w->o.on_block) {
			pthread_mutex_unlock(&as->mu);
			w->o.on_block(w->o.arg, off);
			pthread_mutex_lock(&as->mu);
		}
	}
	return err;
}

/* Gives the current block to the thread, once it wrote the one before.
 * 0, or the thread's error (the current block then stays the caller's). */
static int hand_over(struct fr_writer *w)
{
	struct async *as = w->as;
	pthread_mutex_lock(&as->mu);
	int behind = as->b.len != 0; /* the block before is still being written */
	int rc = settle(w);
	if (!rc) {
		struct blk b = cur_blk(w);
		b.fast = behind && w->o.fast_behind;
		w->raw = as->b.raw;
		w->raw_cap = as->b.cap;
		as->b = b;
		as->held = 1;
		w->raw_len = 0;
		w->count = 0;
		pthread_cond_signal(&as->work);
	}
	pthread_mutex_unlock(&as->mu);
	return rc;
}

/* fr_writer_flush with the thread: the block it holds (tried again after
 * -ENOSPC), then the current one, written before this returns. */
static int async_flush(struct fr_writer *w)
{
	struct async *as = w->as;
	pthread_mutex_lock(&as->mu);
	if (as->err == -ENOSPC) {
		as->err = 0;
		pthread_cond_signal(&as->work);
	}
	pthread_mutex_unlock(&as->mu);
	int rc = w->count ? hand_over(w) : 0;
	pthread_mutex_lock(&as->mu);
	if (!rc)
		rc = settle(w);
	pthread_mutex_unlock(&as->mu);
	return w->failed ? w->failed : rc;
}

int fr_writer_flush(struct fr_writer *w)
{
	if (w->failed)
		return w->failed;
	if (w->as)
		return async_flush(w);
	if (w->count == 0)
		return 0;
	struct blk b = cur_blk(w);
	int rc = write_block(w, &b);
	if (rc == -ENOSPC)
		return rc;
	if (rc)
		return w->failed = rc;
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
	async_stop(w);
	ZSTD_freeCCtx(w->cctx);
	seg_col_free(w->col);
	free(w->colbuf);
	free(w->raw);
	free(w->comp);
	free(w->idx);
	free(w);
}

int fr_writer_close_unsynced(struct fr_writer *w, int *fd)
{
	int rc = fr_writer_flush(w);
	if (rc == 0)
		rc = write_footer(w);
	*fd = w->fd;
	writer_free(w);
	return rc;
}

int fr_writer_close(struct fr_writer *w)
{
	if (!w)
		return 0;
	int sync = w->o.fsync != FR_FSYNC_NONE, fd;
	int rc = fr_writer_close_unsynced(w, &fd);
	if (rc == 0 && sync && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

void fr_writer_drop(struct fr_writer *w, struct fr_writer_pending *out)
{
	memset(out, 0, sizeof(*out));
	if (w->failed)
		return;
	if (w->as) { /* the block the thread could not write (-ENOSPC) goes too */
		struct async *as = w->as;
		pthread_mutex_lock(&as->mu);
		while (as->b.len && !as->err)
			pthread_cond_wait(&as->done, &as->mu);
		if (as->b.len) {
			out->records = as->b.count;
			out->bytes = as->b.len;
			out->first_ts = as->b.first_ts;
			out->last_ts = as->b.last_ts;
			w->records -= as->b.count;
			as->b.len = as->b.count = 0;
		}
		as->held = 0;
		if (as->err == -ENOSPC)
			as->err = 0;
		pthread_mutex_unlock(&as->mu);
	}
	if (!w->count)
		return;
	if (!out->records || w->first_ts < out->first_ts)
		out->first_ts = w->first_ts;
	if (w->last_ts > out->last_ts)
		out->last_ts = w->last_ts;
	out->records += w->count;
	out->bytes += w->raw_len;
	w->records -= w->count;
	w->raw_len = 0;
	w->count = 0;
}

void fr_writer_abandon(struct fr_writer *w)
{
	if (!w)
		return;
	async_stop(w);
	close(w->fd);
	writer_free(w);
}

uint64_t fr_writer_bytes(const struct fr_writer *w)
{
	if (w->as) /* as of the last hand-over, and a header for each block held */
		return w->as->told + (w->count ? BLOCK_HDR : 0) + (w->as->held ? BLOCK_HDR : 0);
	return w->offset + (w->count ? BLOCK_HDR : 0);
}

uint64_t fr_writer_records(const struct fr_writer *w) { return w->records; }
uint64_t fr_writer_fast_blocks(const struct fr_writer *w) { return w->fast_blocks; }
