/* query.c - `flightrec query DB NAME|SQL`: the named queries of
 * reports/queries/NAME.sql (compiled in: embedded.h) or any SQL statement, run
 * read-only on an analysis database, printed as an aligned table, CSV or
 * JSON (out.c). */
#include "../formats/cli.h"
#include "embedded.h"
#include "out.h"
#include "query.h"

#include <getopt.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: flightrec query DB NAME|SQL [--csv|--json]\n"
		   "       flightrec query --list\n"
		   "\n"
		   "Runs a named query (--list shows them with what each answers) or one SQL\n"
		   "statement on an analysis database, opened read-only, and prints the rows\n"
		   "as an aligned table (control characters shown as '?', long text cut),\n"
		   "as CSV (--csv) or as a JSON array of objects (--json).\n"
		   "\n"
		   "  --list   the named queries\n"
		   "  --show   print the SQL of NAME instead of running it\n"
		   "  --csv    CSV with a header line\n"
		   "  --json   a JSON array, one object per row\n");
}

const char *fr_named_query(const char *name)
{
	for (int i = 0; fr_named_queries[i].name; i++)
		if (!strcmp(fr_named_queries[i].name, name))
			return fr_named_queries[i].text;
	return NULL;
}

/* 1 when s looks like a query's name rather than SQL */
static int is_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static void list(void)
{
	for (int i = 0; fr_named_queries[i].name; i++) {
		const char *t = fr_named_queries[i].text, *e = strchr(t, '\n');
		if (!strncmp(t, "-- ", 3))
			t += 3;
		printf("  %-24s %.*s\n", fr_named_queries[i].name, (int)(e ? e - t : (long)strlen(t)), t);
	}
}

static int run(const char *path, const char *name, const char *sql, enum fr_out_format fmt)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	const char *tail;
	char who[128];
	snprintf(who, sizeof(who), "flightrec query: %s", name ? name : "SQL");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec query: cannot open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK || !st) {
		fprintf(stderr, "%s: %s\n", who, sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : "no statement");
		if (name && strstr(sqlite3_errmsg(db), "no such"))
			fprintf(stderr, "flightrec query: %s needs what this database lacks (made by an older "
					"analyzer, or a recording without it)\n", name);
		sqlite3_finalize(st);
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	tail += strspn(tail, " \t\r\n;");
	if (*tail) {
		fprintf(stderr, "%s: one statement only (more after: %.40s)\n", who, tail);
		sqlite3_finalize(st);
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	long rows = fr_out_rows(st, fmt, stdout, who);
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "flightrec query: cannot write the output\n");
		return EXIT_USAGE;
	}
	return rows < 0 ? EXIT_USAGE : EXIT_OK;
}

int cmd_query(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"list", no_argument, 0, 'l'}, {"csv", no_argument, 0, 'c'}, {"json", no_argument, 0, 'J'},
		{"show", no_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	enum fr_out_format fmt = FR_OUT_TABLE;
	int c, do_list = 0, show = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': do_list = 1; break;
		case 'c': fmt = FR_OUT_CSV; break;
		case 'J': fmt = FR_OUT_JSON; break;
		case 's': show = 1; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (do_list) {
		if (optind != argc) {
			usage(stderr);
			return EXIT_USAGE;
		}
		list();
		return EXIT_OK;
	}
	if (show && optind == argc - 1) {
		const char *text = fr_named_query(argv[optind]);
		if (text)
			fputs(text, stdout);
		else
			fprintf(stderr, "flightrec query: no query named '%s' ('flightrec query --list')\n", argv[optind]);
		return text ? EXIT_OK : EXIT_USAGE;
	}
	if (optind != argc - 2 || show) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *arg = argv[optind + 1], *sql = arg, *name = NULL;
	if (is_name(arg)) {
		name = arg;
		sql = fr_named_query(arg);
		if (!sql) {
			fprintf(stderr, "flightrec query: no query named '%s'; 'flightrec query --list' shows them\n",
				arg);
			return EXIT_USAGE;
		}
	}
	return run(argv[optind], name, sql, fmt);
}
