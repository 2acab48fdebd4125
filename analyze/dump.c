/* dump.c - `flightrec dump DB`: the canonical text dump of an analysis.
 *
 * Every table in a fixed order, columns in schema order, rows sorted by all
 * columns, values escaped onto one line.  Machine- and run-specific values
 * (the analyzer version, the thread count, the dump's own hash) are left
 * out, so the same input gives the same bytes on every run and machine. */
#include "../formats/cli.h"
#include "engine.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tables[] = {
	"recording", "settings", "segments", "pods", "pod_ips", "pod_labels", "pod_containers",
	"services", "service_ips", "service_selector", "processes", "marks", "connections",
	NULL,
}; /* then requests, the protocols' tables, anomalies */

static const char recording_filter[] =
	" WHERE key NOT IN ('dump_sha256', 'analyzer_version', 'threads', 'db')";

/* A row is built in a buffer and written at once. */
struct line {
	char *p;
	size_t len, cap;
};

static void l_room(struct line *l, size_t n)
{
	if (l->len + n <= l->cap)
		return;
	size_t nc = l->cap ? l->cap : 4096;
	while (nc < l->len + n)
		nc *= 2;
	char *np = realloc(l->p, nc);
	if (!np)
		abort();
	l->p = np;
	l->cap = nc;
}

static void l_put(struct line *l, const void *s, size_t n)
{
	l_room(l, n);
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void l_int(struct line *l, long long v)
{
	char tmp[24];
	int i = 24;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	l_put(l, tmp + i, (size_t)(24 - i));
}

static const char hexd[] = "0123456789abcdef";

/* Appends text escaped: \\ \t \n \r, other control bytes and DEL as \xNN.
 * Room for the worst case is made once. */
static void l_text(struct line *l, const unsigned char *p, size_t n)
{
	l_room(l, n * 4 + 1);
	char *o = l->p + l->len;
	for (size_t k = 0; k < n; k++) {
		unsigned char c = p[k];
		if (c >= 0x20 && c != 0x7f && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		if (c == '\\')
			*o++ = '\\';
		else if (c == '\t')
			*o++ = 't';
		else if (c == '\n')
			*o++ = 'n';
		else if (c == '\r')
			*o++ = 'r';
		else {
			*o++ = 'x';
			*o++ = hexd[c >> 4];
			*o++ = hexd[c & 15];
		}
	}
	l->len = (size_t)(o - l->p);
}

/* The value is read through sqlite3_column_value(): one call per column
 * instead of a type call and a value call, each with its own checks.  The
 * dump's connection is used by this thread only. */
static void put_value(struct line *l, sqlite3_stmt *st, int i)
{
	sqlite3_value *v = sqlite3_column_value(st, i);
	switch (sqlite3_value_type(v)) {
	case SQLITE_NULL:
		l_put(l, "\\N", 2);
		break;
	case SQLITE_INTEGER:
		l_int(l, (long long)sqlite3_value_int64(v));
		break;
	case SQLITE_FLOAT: {
		char b[40];
		int n = snprintf(b, sizeof(b), "%.10g", sqlite3_value_double(v));
		l_put(l, b, (size_t)n);
		break;
	}
	default: {
		const unsigned char *p = sqlite3_value_text(v);
		l_text(l, p, (size_t)sqlite3_value_bytes(v));
	}
	}
}

/* A part of a table: the rows whose first column (unique: a rowid) is in
 * (lo, hi]; lo = INT64_MIN and hi = INT64_MAX for the whole table.  The
 * parts of a table, in order, give the same lines as the whole. */
struct range {
	int64_t lo, hi;
};
static const struct range whole = {INT64_MIN, INT64_MAX};

/* Dumps the rows of table t in range r, with or without the header lines. */
static int dump_table(sqlite3 *db, const char *t, FILE *out, struct range r, int header)
{
	char sql[4096];
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 0", t);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	int n = sqlite3_column_count(st);
	if (header) {
		fprintf(out, "# %s\n", t);
		for (int i = 0; i < n; i++)
			fprintf(out, "%s%s", i ? "\t" : "", sqlite3_column_name(st, i));
		fputc('\n', out);
	}
	char where[256] = "";
	if (r.lo != INT64_MIN || r.hi != INT64_MAX)
		snprintf(where, sizeof(where), " WHERE \"%s\" > %lld AND \"%s\" <= %lld", sqlite3_column_name(st, 0),
			 (long long)r.lo, sqlite3_column_name(st, 0), (long long)r.hi);
	sqlite3_finalize(st);
	int o = snprintf(sql, sizeof(sql), "SELECT * FROM %s%s%s ORDER BY ", t,
			 strcmp(t, "recording") ? "" : recording_filter, where);
	for (int i = 1; i <= n && o < (int)sizeof(sql) - 16; i++)
		o += snprintf(sql + o, sizeof(sql) - (size_t)o, "%s%d", i > 1 ? "," : "", i);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	int rc;
	struct line l = {0};
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		l.len = 0;
		for (int i = 0; i < n; i++) {
			if (i)
				l_put(&l, "\t", 1);
			put_value(&l, st, i);
		}
		l_put(&l, "\n", 1);
		fwrite(l.p, 1, l.len, out);
	}
	free(l.p);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The tables before requests */
static int dump_head(sqlite3 *db, FILE *out)
{
	for (int i = 0; tables[i]; i++)
		if (dump_table(db, tables[i], out, whole, 1) < 0)
			return -1;
	return 0;
}

int fr_dump_db(struct sqlite3 *db, FILE *out)
{
	if (dump_head(db, out) < 0 || dump_table(db, "requests", out, whole, 1) < 0)
		return -1;
	for (int i = 0; fr_protocols[i]; i++)
		if (dump_table(db, fr_protocols[i]->table, out, whole, 1) < 0)
			return -1;
	return dump_table(db, "anomalies", out, whole, 1);
}

/* ---- the same dump by several threads ------------------------------------
 * The dump is cut into pieces: the small tables, then requests and each
 * protocol table in PARTS ranges of request ids, then anomalies.  Threads
 * take pieces in order, each writing its piece into a temporary file on its
 * own read-only connection; the caller's thread copies the finished pieces
 * into out in order.  At most `ahead` pieces wait on disk. */

#define PARTS 8

struct piece {
	const char *table; /* NULL: the small tables before requests */
	struct range r;
	int header;
	FILE *f;
	int state; /* 0 waiting, 1 taken, 2 done, -1 failed */
};

struct pdump {
	const char *path;
	struct piece *p;
	int n, next, copied, ahead;
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
		/* a WAL reader may meet a writer's commit: wait, do not fail */
		sqlite3_busy_timeout(db, 60000);
	}
	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (d->next < d->n && d->next >= d->copied + d->ahead)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->next >= d->n)
			break;
		struct piece *p = &d->p[d->next++];
		p->state = 1;
		pthread_mutex_unlock(&d->mu);
		int rc = -1;
		p->f = db ? tmpfile() : NULL;
		if (p->f) {
			if (p->table)
				rc = dump_table(db, p->table, p->f, p->r, p->header);
			else
				rc = dump_head(db, p->f);
			if (rc == 0 && (fflush(p->f) != 0 || fseek(p->f, 0, SEEK_SET) != 0))
				rc = -1;
		}
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
	while (fr_protocols[ntab])
		ntab++;
	struct pdump d = {.path = path, .ahead = 2 * jobs + 2};
	d.p = calloc((size_t)(2 + PARTS * (1 + ntab)), sizeof(*d.p));
	if (!d.p)
		return -1;
	d.p[d.n++] = (struct piece){NULL, whole, 1, NULL, 0};
	for (int t = -1; t < ntab; t++)
		for (int k = 0; k < PARTS; k++) {
			struct range r = {k ? max_id * k / PARTS : INT64_MIN,
					  k < PARTS - 1 ? max_id * (k + 1) / PARTS : INT64_MAX};
			d.p[d.n++] = (struct piece){t < 0 ? "requests" : fr_protocols[t]->table, r, k == 0, NULL, 0};
		}
	d.p[d.n++] = (struct piece){"anomalies", whole, 1, NULL, 0};
	pthread_mutex_init(&d.mu, NULL);
	pthread_cond_init(&d.cv, NULL);
	pthread_t th[64];
	int nth = 0;
	for (int i = 0; i < jobs && i < 64; i++)
		if (pthread_create(&th[nth], NULL, pdump_main, &d) == 0)
			nth++;
	int rc = nth ? 0 : -1;
	static char buf[1 << 16];
	for (int i = 0; i < d.n && rc == 0; i++) {
		pthread_mutex_lock(&d.mu);
		while (d.p[i].state == 0 || d.p[i].state == 1)
			pthread_cond_wait(&d.cv, &d.mu);
		pthread_mutex_unlock(&d.mu);
		if (d.p[i].state < 0) {
			rc = -1;
			break;
		}
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), d.p[i].f)) > 0)
			if (fwrite(buf, 1, n, out) != n) {
				rc = -1;
				break;
			}
		if (ferror(d.p[i].f))
			rc = -1;
		fclose(d.p[i].f);
		d.p[i].f = NULL;
		pthread_mutex_lock(&d.mu);
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
	for (int i = 0; i < d.n; i++)
		if (d.p[i].f)
			fclose(d.p[i].f);
	pthread_mutex_destroy(&d.mu);
	pthread_cond_destroy(&d.cv);
	free(d.p);
	return rc;
}

int fr_dump_path(const char *path, FILE *f)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: cannot open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	int rc = fr_dump_db(db, f);
	sqlite3_close(db);
	return rc;
}

int cmd_dump(int argc, char **argv)
{
	if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		FILE *f = argc == 2 ? stdout : stderr;
		fprintf(f, "usage: flightrec dump DB\n\n"
			   "Prints the canonical text dump of an analysis database: every table,\n"
			   "sorted, without machine-specific values.  Its SHA-256 is the\n"
			   "'dump_sha256' row of the recording table.\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	return fr_dump_path(argv[1], stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}
