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
	"requests", NULL,
};

static const char recording_filter[] =
	" WHERE key NOT IN ('dump_sha256', 'analyzer_version', 'threads', 'db')";

static void put_value(FILE *out, sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		fputs("\\N", out);
		break;
	case SQLITE_INTEGER:
		fprintf(out, "%lld", (long long)sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT:
		fprintf(out, "%.10g", sqlite3_column_double(st, i));
		break;
	default: {
		const unsigned char *p = sqlite3_column_text(st, i);
		int n = sqlite3_column_bytes(st, i), run = 0;
		for (int k = 0; k < n; k++) {
			unsigned char c = p[k];
			if (c >= 0x20 && c != 0x7f && c != '\\') {
				run++;
				continue;
			}
			if (run)
				fwrite(p + k - run, 1, (size_t)run, out);
			run = 0;
			if (c == '\\')
				fputs("\\\\", out);
			else if (c == '\t')
				fputs("\\t", out);
			else if (c == '\n')
				fputs("\\n", out);
			else if (c == '\r')
				fputs("\\r", out);
			else
				fprintf(out, "\\x%02x", c);
		}
		if (run)
			fwrite(p + n - run, 1, (size_t)run, out);
	}
	}
}

static int dump_table(sqlite3 *db, const char *t, FILE *out)
{
	char sql[4096];
	sqlite3_stmt *st;
	snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 0", t);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	int n = sqlite3_column_count(st);
	fprintf(out, "# %s\n", t);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? "\t" : "", sqlite3_column_name(st, i));
	fputc('\n', out);
	sqlite3_finalize(st);
	int o = snprintf(sql, sizeof(sql), "SELECT * FROM %s%s ORDER BY ", t,
			 strcmp(t, "recording") ? "" : recording_filter);
	for (int i = 1; i <= n && o < (int)sizeof(sql) - 16; i++)
		o += snprintf(sql + o, sizeof(sql) - (size_t)o, "%s%d", i > 1 ? "," : "", i);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec dump: %s\n", sqlite3_errmsg(db));
		return -1;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < n; i++) {
			if (i)
				fputc('\t', out);
			put_value(out, st, i);
		}
		fputc('\n', out);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int fr_dump_db(struct sqlite3 *db, FILE *out)
{
	for (int i = 0; tables[i]; i++)
		if (dump_table(db, tables[i], out) < 0)
			return -1;
	for (int i = 0; fr_protocols[i]; i++)
		if (dump_table(db, fr_protocols[i]->table, out) < 0)
			return -1;
	return dump_table(db, "anomalies", out);
}

int fr_dump_path(const char *path, FILE *f)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
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
