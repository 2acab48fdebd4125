/* engine_workers.c - the replay engine's worker threads: the main thread
 * hands each connection's records to one worker (by a hash of its id) in
 * batches; a worker runs them through its connections and hands its rows to
 * the merger (engine_rows.c).  With one worker everything runs on the main
 * thread, record by record. */
#include "engine_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 4 /* batches waiting per worker */

static void run_batch(struct worker *w, struct batch *b)
{
	size_t off = 0;
	while (off < b->len) {
		const struct msg *m = (const struct msg *)(b->buf + off);
		worker_record(w, m, (const uint8_t *)(m + 1));
		off += m->size;
	}
	push_out(w, b->watermark);
	w->last_wm = b->watermark;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->head && !w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		struct batch *b = w->head;
		if (b) {
			w->head = b->next;
			if (!w->head)
				w->tail = NULL;
			w->nq--;
			pthread_cond_broadcast(&w->cv);
		}
		int done = w->done;
		pthread_mutex_unlock(&w->mu);
		if (!b && done)
			break;
		if (b) {
			run_batch(w, b);
			free(b);
		}
	}
	worker_finish(w, w->e->last_ts);
	push_out(w, UINT64_MAX);
	return NULL;
}

/* Hands every worker its current batch (empty ones too) marked with the
 * same watermark, after waiting for room in every queue: so the merger can
 * always make progress (see merge_main). */
static void flush_all(struct engine *e, uint64_t watermark)
{
	for (int i = 0; i < e->nw; i++) {
		struct worker *w = &e->w[i];
		pthread_mutex_lock(&w->mu);
		while (w->nq >= QUEUE_MAX)
			pthread_cond_wait(&w->cv, &w->mu);
		pthread_mutex_unlock(&w->mu);
	}
	for (int i = 0; i < e->nw; i++) {
		struct worker *w = &e->w[i];
		struct batch *b = w->cur;
		w->cur = NULL;
		if (!b) {
			b = malloc(sizeof(*b));
			if (!b)
				abort();
			b->len = 0;
		}
		b->next = NULL;
		b->watermark = watermark;
		pthread_mutex_lock(&w->mu);
		if (w->tail)
			w->tail->next = b;
		else
			w->head = b;
		w->tail = b;
		w->nq++;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static void dispatch_to(struct engine *e, struct worker *w, const struct msg *m, const uint8_t *payload,
			size_t plen)
{
	if (e->nw == 1) {
		worker_record(w, m, payload);
		return;
	}
	size_t size = (sizeof(*m) + plen + 7) & ~(size_t)7;
	if (w->cur && w->cur->len + size > BATCH_BYTES)
		flush_all(e, m->g - 1);
	if (!w->cur) {
		w->cur = malloc(sizeof(*w->cur));
		if (!w->cur)
			abort();
		w->cur->len = 0;
	}
	struct msg *dst = (struct msg *)(w->cur->buf + w->cur->len);
	*dst = *m;
	dst->size = (uint32_t)size;
	if (plen)
		memcpy(dst + 1, payload, plen);
	w->cur->len += size;
}

void dispatch(struct engine *e, const struct msg *m, const uint8_t *payload, size_t plen)
{
	if (m->kind == MSG_SWEEP) {
		for (int i = 0; i < e->nw; i++)
			dispatch_to(e, &e->w[i], m, payload, plen);
		return;
	}
	dispatch_to(e, &e->w[e->nw == 1 ? 0 : hash64(m->conn_id) % (uint64_t)e->nw], m, payload, plen);
}

void workers_start(struct engine *e)
{
	const struct fr_opts *o = e->o;
	e->w = calloc((size_t)e->nw, sizeof(*e->w));
	if (!e->w)
		abort();
	pthread_mutex_init(&e->omu, NULL);
	pthread_cond_init(&e->ocv, NULL);
	for (int i = 0; i < e->nw; i++) {
		e->w[i].idx = i;
		e->w[i].e = e;
		e->w[i].mem_limit = o->max_memory / (uint64_t)e->nw;
		pthread_mutex_init(&e->w[i].mu, NULL);
		pthread_cond_init(&e->w[i].cv, NULL);
		if (e->nw > 1)
			pthread_create(&e->w[i].th, NULL, worker_main, &e->w[i]);
	}
	if (e->nw > 1)
		pthread_create(&e->merger, NULL, merge_main, e);
}

void workers_end(struct engine *e, uint64_t g, uint64_t last_ts)
{
	/* drain the workers; they end the connections still open */
	e->last_ts = last_ts;
	if (e->nw > 1) {
		flush_all(e, g);
		for (int i = 0; i < e->nw; i++) {
			pthread_mutex_lock(&e->w[i].mu);
			e->w[i].done = 1;
			pthread_cond_broadcast(&e->w[i].cv);
			pthread_mutex_unlock(&e->w[i].mu);
		}
		for (int i = 0; i < e->nw; i++)
			pthread_join(e->w[i].th, NULL);
		pthread_join(e->merger, NULL);
	} else {
		worker_finish(&e->w[0], last_ts);
	}
	for (int i = 0; i < e->nw; i++) {
		pthread_mutex_destroy(&e->w[i].mu);
		pthread_cond_destroy(&e->w[i].cv);
	}
	pthread_mutex_destroy(&e->omu);
	pthread_cond_destroy(&e->ocv);
}
