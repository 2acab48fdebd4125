/* dump_parallel.c - the dump of dump.c by several threads (the hash at the
 * end of `flightrec analyze`): the same bytes as fr_dump_db.
 *
 * The dump is cut into pieces: the small tables, then requests and each
 * protocol table in ranges of PIECE_IDS request ids, then messages and
 * anomalies.  Threads take pieces in order, each writing its piece into a
 * buffer in memory on its own read-only connection; the caller's thread
 * copies the finished pieces into out in order.  At most `ahead` pieces
 * wait, in at most PIECES_MEM bytes of memory together: a piece of 65,536
 * requests is some 13 MB (a request's dump line is about 200 bytes), but
 * a piece may hold much more (long HTTP heads, or the whole connections,
 * messages and anomalies tables), and what does not fit goes on in a
 * temporary file under $TMPDIR.  The buffers are used again, piece after
 * piece: fresh ones cost a page fault per 4 KiB.  (In temporary files the
 * pieces cost as much system time as the hash: ext4 writes ~450 MB/s.) */

#include "dump_internal.h"
#include "engine.h"
#include "proto.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#define PIECE_IDS 65536
#define MAX_PARTS 65536
#ifndef PIECES_MEM
#define PIECES_MEM (96u << 20)
#endif

struct piece {
	const char *table; /* NULL: the small tables before requests */
	struct dump_range r;
	int header;
	struct dump_line text; /* when done: the piece, or nothing when f */
	FILE *f;          /* the piece, when it outgrew memory */
	int state; /* 0 waiting, 1 taken, 2 done, -1 failed */
};

struct pdump {
	const char *path;
	struct piece *p;
	int n, next, copied, ahead;
	struct dump_line *spare; /* up to ahead buffers of copied pieces */
	int nspare;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *pdump_main(void *arg)
{
	struct pdump *d = arg;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(d->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: cannot open %s: %s\n", d->path, sqlite3_errmsg(db));
		sqlite3_close(db);
		db = NULL;
	} else {
		/* a lock still held for a moment by another connection (the
		 * sink's) is waited for, not an error */
		sqlite3_busy_timeout(db, 60000);
		fr_dump_row_fn(db);
	}
	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (d->next < d->n && d->next >= d->copied + d->ahead)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->next >= d->n)
			break;
		struct piece *p = &d->p[d->next++];
		struct dump_out o = {{0}, NULL, PIECES_MEM / (unsigned)d->ahead, 0, 0};
		if (d->nspare)
			o.l = d->spare[--d->nspare];
		p->state = 1;
		pthread_mutex_unlock(&d->mu);
		int rc = db ? fr_dump_piece(db, p->table, p->r, p->header, &o) : -1;
		p->f = o.f;
		p->text = o.l;
		pthread_mutex_lock(&d->mu);
		p->state = rc == 0 ? 2 : -1;
		pthread_cond_broadcast(&d->cv);
	}
	pthread_mutex_unlock(&d->mu);
	sqlite3_close(db);
	return NULL;
}

int fr_dump_parallel(const char *path, int64_t max_id, FILE *out, int jobs)
{
	int ntab = 0;
	while (fr_proto_table(ntab))
		ntab++;
	struct pdump d = {.path = path, .ahead = 2 * jobs + 2};
	if (max_id < 0)
		max_id = 0;
	d.spare = calloc((size_t)d.ahead, sizeof(*d.spare));
	int64_t step = max_id / MAX_PARTS + 1 > PIECE_IDS ? max_id / MAX_PARTS + 1 : PIECE_IDS;
	int64_t parts = max_id / step + 1;
	d.p = calloc((size_t)(3 + parts * (1 + ntab)), sizeof(*d.p));
	if (!d.p || !d.spare) {
		free(d.p);
		free(d.spare);
		return -1;
	}
	d.p[d.n++] = (struct piece){NULL, dump_whole, 1, {0}, NULL, 0};
	for (int t = -1; t < ntab; t++)
		for (int64_t k = 0; k < parts; k++) {
			struct dump_range r = {k ? k * step : INT64_MIN, k < parts - 1 ? (k + 1) * step : INT64_MAX};
			d.p[d.n++] = (struct piece){t < 0 ? "requests" : fr_proto_table(t), r, k == 0, {0}, NULL, 0};
		}
	d.p[d.n++] = (struct piece){"messages", dump_whole, 1, {0}, NULL, 0};
	d.p[d.n++] = (struct piece){"anomalies", dump_whole, 1, {0}, NULL, 0};
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	pthread_t th[64];
	int nth = 0;
	for (int i = 0; i < jobs && i < 64; i++)
		if (pthread_create(&th[nth], NULL, pdump_main, &d) == 0)
			nth++;
	int rc = nth ? 0 : -1;
	for (int i = 0; i < d.n && rc == 0; i++) {
		pthread_mutex_lock(&d.mu);
		while (d.p[i].state == 0 || d.p[i].state == 1)
			pthread_cond_wait(&d.cv, &d.mu);
		pthread_mutex_unlock(&d.mu);
		if (d.p[i].state < 0) {
			rc = -1;
			break;
		}
		struct dump_line *t = &d.p[i].text;
		if (t->len && fwrite(t->p, 1, t->len, out) != t->len)
			rc = -1;
		if (d.p[i].f) {
			char buf[1 << 16];
			size_t n;
			while (rc == 0 && (n = fread(buf, 1, sizeof(buf), d.p[i].f)) > 0)
				if (fwrite(buf, 1, n, out) != n)
					rc = -1;
			if (ferror(d.p[i].f))
				rc = -1;
			fclose(d.p[i].f);
			d.p[i].f = NULL;
		}
		pthread_mutex_lock(&d.mu);
		t->len = 0;
		if (d.nspare < d.ahead)
			d.spare[d.nspare++] = *t;
		else
			free(t->p);
		*t = (struct dump_line){0};
		d.copied = i + 1;
		pthread_cond_broadcast(&d.cv);
		pthread_mutex_unlock(&d.mu);
	}
	/* on failure, let the threads run out of pieces */
	pthread_mutex_lock(&d.mu);
	d.copied = d.n;
	d.next = rc == 0 ? d.next : d.n;
	pthread_cond_broadcast(&d.cv);
	pthread_mutex_unlock(&d.mu);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < d.n; i++) {
		free(d.p[i].text.p);
		if (d.p[i].f)
			fclose(d.p[i].f);
	}
	for (int i = 0; i < d.nspare; i++)
		free(d.spare[i].p);
	free(d.spare);
	pthread_mutex_destroy(&d.mu);
	pthread_cond_destroy(&d.cv);
	free(d.p);
	return rc;
}
