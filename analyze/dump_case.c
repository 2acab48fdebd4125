/* dump_case.c - the corpus's view of a dump: `flightrec dump --case DB`.
 *
 * A corpus case's expected output must hold that case's rows and nothing
 * that changes with the analyzer's options, a new table, or the bytes our
 * own segment writer produces; otherwise one such change rewrites every
 * expected file and hides the one change that matters in review.  So the
 * view is the canonical dump (same table order, same value escapes, rows
 * sorted by the columns kept) without the tables and columns listed below,
 * and without tables that have no rows. */
#include "dump_case.h"
#include "proto.h"

#include <sqlite3.h>
#include <string.h>

/* Tables about the whole analysis, not about the case's records. */
static const char *const skip_tables[] = {"recording", "settings", NULL};

/* Columns that describe our own files, not what they hold. */
static const struct {
	const char *table, *column;
} skip_columns[] = {
	{"segments", "file"},  {"segments", "recorder"}, {"segments", "sha256"},
	{"segments", "bytes"}, {"segments", "blocks"},   {"segments", "records"},
};

static int skipped_column(const char *t, const char *c)
{
	for (size_t i = 0; i < sizeof(skip_columns) / sizeof(skip_columns[0]); i++)
		if (!strcmp(skip_columns[i].table, t) && !strcmp(skip_columns[i].column, c))
			return 1;
	return 0;
}

static int has_rows(sqlite3 *db, const char *t)
{
	char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\" LIMIT 1", t);
	sqlite3_stmt *st;
	int rc = -1;
	if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		rc = sqlite3_step(st);
		rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
		sqlite3_finalize(st);
	}
	sqlite3_free(sql);
	if (rc < 0)
		fprintf(stderr, "flightrec dump: %s: %s\n", t, sqlite3_errmsg(db));
	return rc;
}

/* One table: "# t", the kept column names, the rows.  The columns are
 * renamed c1..cn as the canonical dump does (a view's names need not be
 * unique). */
static int case_table(sqlite3 *db, const char *t, FILE *out)
{
	int rows = has_rows(db, t);
	if (rows <= 0)
		return rows;
	char *sql = sqlite3_mprintf("SELECT * FROM \"%w\" LIMIT 0", t);
	sqlite3_stmt *st;
	if (!sql || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s: %s\n", t, sqlite3_errmsg(db));
		sqlite3_free(sql);
		return -1;
	}
	sqlite3_free(sql);
	int n = sqlite3_column_count(st), kept = 0;
	sqlite3_str *q = sqlite3_str_new(db), *order = sqlite3_str_new(db);
	sqlite3_str_appendall(q, "WITH s(");
	for (int i = 1; i <= n; i++)
		sqlite3_str_appendf(q, "%sc%d", i > 1 ? "," : "", i);
	sqlite3_str_appendf(q, ") AS (SELECT * FROM \"%w\") SELECT fr_dump_row(?1", t);
	fprintf(out, "# %s\n", t);
	for (int i = 0; i < n; i++) {
		const char *c = sqlite3_column_name(st, i);
		if (skipped_column(t, c))
			continue;
		fprintf(out, "%s%s", kept++ ? "\t" : "", c);
		sqlite3_str_appendf(q, ", c%d", i + 1);
		sqlite3_str_appendf(order, "%sc%d", kept > 1 ? "," : "", i + 1);
	}
	fputc('\n', out);
	sqlite3_finalize(st);
	char *o = sqlite3_str_finish(order);
	sqlite3_str_appendf(q, ") FROM s ORDER BY %s", o ? o : "1");
	sqlite3_free(o);
	char *full = sqlite3_str_finish(q);
	int rc = full ? fr_dump_rows(db, full, out) : -1;
	sqlite3_free(full);
	return rc;
}

static int skipped_table(const char *t)
{
	for (int i = 0; skip_tables[i]; i++)
		if (!strcmp(skip_tables[i], t))
			return 1;
	return 0;
}

int fr_dump_case_db(struct sqlite3 *db, FILE *out)
{
	/* the canonical dump's order (dump.c, dump_all) */
	for (int i = 0; fr_dump_head_tables[i]; i++)
		if (!skipped_table(fr_dump_head_tables[i]) && case_table(db, fr_dump_head_tables[i], out) < 0)
			return -1;
	if (case_table(db, "requests", out) < 0)
		return -1;
	for (int i = 0; fr_proto_table(i); i++)
		if (case_table(db, fr_proto_table(i), out) < 0)
			return -1;
	if (case_table(db, "messages", out) < 0 || case_table(db, "anomalies", out) < 0)
		return -1;
	return ferror(out) ? -1 : 0;
}

int fr_dump_case_path(const char *path, FILE *out)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: cannot open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return -1;
	}
	int rc = fr_dump_case_db(db, out);
	sqlite3_close(db);
	return rc;
}
