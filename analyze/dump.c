/* dump.c - `flightrec dump DB`: the canonical text dump of an analysis.
 *
 * Every table in a fixed order, columns in schema order, rows sorted by all
 * columns, values escaped onto one line.  Machine- and run-specific values
 * (the analyzer version, the thread count, the dump's own hash) are left
 * out, so the same input gives the same bytes on every run and machine. */
#include "../formats/cli.h"
#include "engine.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tables[] = {
	"recording", "settings", "segments", "pods", "pod_ips", "pod_labels", "pod_containers",
	"services", "service_ips", "service_selector", "processes", "marks", "connections",
	NULL,
}; /* then requests, the protocols' tables, messages, anomalies */

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

/* Dumps table t, or only its rows matching `where` (a condition on the
 * first column, which then must be unique so the rows come in the same
 * order), with or without the header lines. */
static int dump_table(sqlite3 *db, const char *t, FILE *out, const char *where, int header)
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
	sqlite3_finalize(st);
	int o = snprintf(sql, sizeof(sql), "SELECT * FROM %s%s%s ORDER BY ", t,
			 strcmp(t, "recording") ? "" : recording_filter, where ? where : "");
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
		if (dump_table(db, tables[i], out, NULL, 1) < 0)
			return -1;
	return 0;
}

/* The tables after requests */
static int dump_tail(sqlite3 *db, FILE *out)
{
	for (int i = 0; fr_protocols[i]; i++)
		if (dump_table(db, fr_protocols[i]->table, out, NULL, 1) < 0)
			return -1;
	if (dump_table(db, "messages", out, NULL, 1) < 0)
		return -1;
	return dump_table(db, "anomalies", out, NULL, 1);
}

int fr_dump_db(struct sqlite3 *db, FILE *out)
{
	if (dump_head(db, out) < 0 || dump_table(db, "requests", out, NULL, 1) < 0)
		return -1;
	return dump_tail(db, out);
}

int fr_dump_half(struct sqlite3 *db, FILE *out, int half, int64_t split)
{
	/* requests' first column, id, is unique: rows with id <= split all
	 * come before the others */
	char w[64];
	snprintf(w, sizeof(w), " WHERE id %s %lld", half == 0 ? "<=" : ">", (long long)split);
	if (half == 0)
		return dump_head(db, out) < 0 ? -1 : dump_table(db, "requests", out, w, 1);
	if (dump_table(db, "requests", out, w, 0) < 0)
		return -1;
	return dump_tail(db, out);
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
