/* rings.c - the reader of the BPF ring buffers: the capture's rings, one
 * per CPU (bpf/flightrec.bpf.c), merged into one stream of events, and
 * the other programs' rings (the triggers'), each read in its order.
 *
 * Why a reader of our own and not libbpf's ring_buffer: libbpf consumes
 * its rings one after the other, so an event of one CPU could come before
 * an earlier one of another CPU: a connection's first DATA (its thread
 * moved) before its OPEN, a DATA after its CLOSE.  Here each next event
 * is the head of the merged rings with the smallest timestamp (the
 * fr_ev_hdr's ts), the order within each ring kept.  Before each choice,
 * a ring seen empty is looked at again: an event that happened before the
 * one about to be delivered (its thread's earlier event) was committed
 * before that one was, and so is visible by then.
 *
 * The layout of a ring (include/uapi/linux/bpf.h, kernel/bpf/ringbuf.c):
 * the consumer position in the first page (writable), the producer
 * position in the second, then the data pages mapped twice in a row so a
 * record never wraps; each record starts with an 8-byte header, its
 * length with the BUSY (not committed yet) and DISCARD bits. */
#define _GNU_SOURCE
#include "recorder.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

struct ring {
	int fd;
	int merged;
	fr_ring_cb cb;
	void *ctx;
	uint64_t mask; /* data size - 1 */
	size_t map_len;
	uint64_t *cons;
	const uint64_t *prod;
	const uint8_t *data;
	uint64_t cons_pos, prod_pos; /* ours; prod_pos as last read */
};

struct fr_rings {
	int epfd;
	int n;
	struct ring *r;
};

struct fr_rings *rings_new(void)
{
	struct fr_rings *rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rs->epfd < 0) {
		free(rs);
		return NULL;
	}
	return rs;
}

int rings_add(struct fr_rings *rs, int map_fd, fr_ring_cb cb, void *ctx, int merged)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	struct ring *more = realloc(rs->r, (size_t)(rs->n + 1) * sizeof(*more));
	if (!more)
		return -ENOMEM;
	rs->r = more;
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_RINGBUF)
		return -EINVAL;
	long page = sysconf(_SC_PAGESIZE);
	struct ring *g = &rs->r[rs->n];
	memset(g, 0, sizeof(*g));
	g->fd = dup(map_fd);
	if (g->fd < 0)
		return -errno;
	g->merged = merged;
	g->cb = cb;
	g->ctx = ctx;
	g->mask = info.max_entries - 1;
	g->cons = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->cons == MAP_FAILED)
		goto fail;
	g->map_len = (size_t)page + 2 * (size_t)info.max_entries;
	void *p = mmap(NULL, g->map_len, PROT_READ, MAP_SHARED, g->fd, page);
	if (p == MAP_FAILED) {
		munmap(g->cons, (size_t)page);
		goto fail;
	}
	g->prod = p;
	g->data = (const uint8_t *)p + page;
	g->cons_pos = g->prod_pos = __atomic_load_n(g->cons, __ATOMIC_ACQUIRE);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)rs->n};
	if (epoll_ctl(rs->epfd, EPOLL_CTL_ADD, g->fd, &ev) < 0) {
		munmap(g->cons, (size_t)page);
		munmap(p, g->map_len);
		goto fail;
	}
	rs->n++;
	return 0;
fail:;
	int e = -errno;
	close(g->fd);
	return e;
}

/* The next committed record of g (skipping discarded ones), or NULL: none
 * yet, or the next one is still being written.  *len: its length. */
static const uint8_t *head(struct ring *g, uint32_t *len)
{
	for (;;) {
		if (g->cons_pos == g->prod_pos) {
			g->prod_pos = __atomic_load_n(g->prod, __ATOMIC_ACQUIRE);
			if (g->cons_pos == g->prod_pos)
				return NULL;
		}
		const uint32_t *h = (const uint32_t *)(g->data + (g->cons_pos & g->mask));
		uint32_t l = __atomic_load_n(h, __ATOMIC_ACQUIRE);
		if (l & BPF_RINGBUF_BUSY_BIT)
			return NULL;
		if (!(l & BPF_RINGBUF_DISCARD_BIT)) {
			*len = l;
			return (const uint8_t *)h + BPF_RINGBUF_HDR_SZ;
		}
		g->cons_pos += ((l & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
		__atomic_store_n(g->cons, g->cons_pos, __ATOMIC_RELEASE);
	}
}

/* Gives the record at g's head back to the kernel. */
static void advance(struct ring *g, uint32_t len)
{
	g->cons_pos += (len + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
	__atomic_store_n(g->cons, g->cons_pos, __ATOMIC_RELEASE);
}

static uint64_t rec_ts(const uint8_t *p, uint32_t len)
{
	uint64_t ts = 0;
	if (len >= 16)
		memcpy(&ts, p + 8, sizeof(ts)); /* struct fr_ev_hdr's ts */
	return ts;
}

/* The merged rings' records, oldest head first, until all are empty or a
 * callback returns < 0 (returned).
 *
 * The rings are looked at one after the other: one found empty may have
 * received a record before a later one did (a thread's send, committed on
 * one CPU, then its read of the reply on another), and that reply would
 * go first, before its request.  So the rings found empty are looked at
 * again once a head is chosen: what was committed before the chosen one
 * is visible by then. */
static int consume_merged(struct fr_rings *rs, int *count)
{
	for (;;) {
		struct ring *best = NULL;
		const uint8_t *bp = NULL;
		uint32_t blen = 0;
		uint64_t bts = 0;
		int empty = 0;
		for (int pass = 0; pass < 2 && (pass == 0 || (best && empty)); pass++) {
			for (int i = 0; i < rs->n; i++) {
				struct ring *g = &rs->r[i];
				uint32_t len;
				const uint8_t *p;
				if (!g->merged || (pass && g->cons_pos != g->prod_pos))
					continue; /* the second pass: only the rings found empty */
				if (!(p = head(g, &len))) {
					empty += !pass;
					continue;
				}
				uint64_t ts = rec_ts(p, len);
				if (!best || ts < bts) {
					best = g;
					bp = p;
					blen = len;
					bts = ts;
				}
			}
		}
		if (!best)
			return 0;
		int rc = best->cb(best->ctx, (void *)bp, blen);
		advance(best, blen);
		(*count)++;
		if (rc < 0)
			return rc;
	}
}

int rings_consume(struct fr_rings *rs)
{
	int count = 0;
	for (int i = 0; i < rs->n; i++) {
		struct ring *g = &rs->r[i];
		uint32_t len;
		const uint8_t *p;
		while (!g->merged && (p = head(g, &len))) {
			int rc = g->cb(g->ctx, (void *)p, len);
			advance(g, len);
			count++;
			if (rc < 0)
				return rc;
		}
	}
	int rc = consume_merged(rs, &count);
	return rc < 0 ? rc : count;
}

int rings_poll(struct fr_rings *rs, int timeout_ms)
{
	struct epoll_event ev[64];
	int n = epoll_wait(rs->epfd, ev, 64, timeout_ms);
	if (n < 0)
		return -errno;
	return rings_consume(rs);
}

void rings_free(struct fr_rings *rs)
{
	if (!rs)
		return;
	long page = sysconf(_SC_PAGESIZE);
	for (int i = 0; i < rs->n; i++) {
		struct ring *g = &rs->r[i];
		munmap(g->cons, (size_t)page);
		munmap((void *)g->prod, g->map_len);
		close(g->fd);
	}
	close(rs->epfd);
	free(rs->r);
	free(rs);
}
