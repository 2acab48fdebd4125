/* query.c - `flightrec query DB NAME|SQL`: the named queries of
 * reports/queries/NAME.sql (compiled in: embedded.h) or any SQL statement, run
 * read-only on an analysis database, printed as an aligned table, CSV or
 * JSON (out.c). */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/clickhouse.h"
#include "embedded.h"
#include "out.h"
#include "query.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: flightrec query DB NAME|SQL [--csv|--json]\n"
		   "       flightrec query --clickhouse URL [--database NAME] [--incident NAME]\n"
		   "                       NAME|SQL [--csv|--json]\n"
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
		   "  --json   a JSON array, one object per row\n"
		   "  --clickhouse URL  run it on the tables `flightrec export-clickhouse` loaded\n"
		   "           (HTTP interface), in --database (default flightrec); a named\n"
		   "           query has a ClickHouse version (NAME.clickhouse.sql) where its\n"
		   "           SQLite text does not run there.  Rows print as for a database.\n"
		   "  --incident NAME  the incident (export-clickhouse --incident) to query, when\n"
		   "           the database holds several; with one, it is the one queried.\n");
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
		if (strchr(fr_named_queries[i].name, '.'))
			continue; /* NAME.clickhouse: another engine's version of NAME */
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

/* ---- --clickhouse ---------------------------------------------------- */

/* Undoes TabSeparated escaping in place; returns the length. */
static size_t tsv_unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p != '\\' || !p[1]) {
			*o++ = *p;
			continue;
		}
		p++;
		*o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p == 'b' ? '\b'
		     : *p == 'f' ? '\f' : *p == '0' ? '\0' : *p;
	}
	*o = 0;
	return (size_t)(o - s);
}

/* splits s at tabs into at most max fields; returns the count */
static int split_tabs(char *s, char **f, int max)
{
	int n = 0;
	f[n++] = s;
	for (char *p = s; *p && n < max; p++)
		if (*p == '\t') {
			*p = 0;
			f[n++] = p + 1;
		}
	return n;
}

#define CH_MAX_COLS 64

/* Loads ClickHouse's answer (TabSeparatedWithNamesAndTypes) into a table
 * of an in-memory SQLite database, numbers as numbers, so that the rows
 * print exactly as they do from an analysis database. */
static int load_answer(sqlite3 *db, char *text, const char *who)
{
	char *line = text, *nl, *f[CH_MAX_COLS], *types[CH_MAX_COLS];
	if (!(nl = strchr(line, '\n')))
		return -1;
	*nl = 0;
	int n = split_tabs(line, f, CH_MAX_COLS);
	char *tline = nl + 1;
	if (!(nl = strchr(tline, '\n')) || (*nl = 0, split_tabs(tline, types, CH_MAX_COLS) != n)) {
		fprintf(stderr, "%s: an answer without its column types\n", who);
		return -1;
	}
	sqlite3_str *ddl = sqlite3_str_new(db), *ins = sqlite3_str_new(db);
	sqlite3_str_appendall(ddl, "CREATE TABLE a (");
	sqlite3_str_appendall(ins, "INSERT INTO a VALUES (");
	for (int i = 0; i < n; i++) {
		tsv_unescape(f[i]);
		sqlite3_str_appendf(ddl, "%s\"%w\"", i ? ", " : "", f[i]);
		sqlite3_str_appendf(ins, "%s?", i ? ", " : "");
	}
	sqlite3_str_appendall(ddl, ")");
	sqlite3_str_appendall(ins, ")");
	char *d = sqlite3_str_finish(ddl), *q = sqlite3_str_finish(ins);
	sqlite3_stmt *st = NULL;
	int rc = d && q && sqlite3_exec(db, d, NULL, NULL, NULL) == SQLITE_OK &&
			 sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK ? 0 : -1;
	sqlite3_free(d);
	sqlite3_free(q);
	for (line = nl + 1; rc == 0 && *line; line = nl + 1) {
		char *v[CH_MAX_COLS];
		if ((nl = strchr(line, '\n')))
			*nl = 0;
		if (split_tabs(line, v, CH_MAX_COLS) != n) {
			fprintf(stderr, "%s: a row of another width in the answer\n", who);
			rc = -1;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (!strcmp(v[i], "\\N"))
				sqlite3_bind_null(st, i + 1);
			else if (strstr(types[i], "Int"))
				sqlite3_bind_int64(st, i + 1, strtoll(v[i], NULL, 10));
			else if (strstr(types[i], "Float"))
				sqlite3_bind_double(st, i + 1, strtod(v[i], NULL));
			else {
				size_t len = tsv_unescape(v[i]);
				sqlite3_bind_text(st, i + 1, v[i], (int)len, SQLITE_TRANSIENT);
			}
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(st);
		if (!nl)
			break;
	}
	sqlite3_finalize(st);
	return rc;
}

/* s as the text of a ClickHouse string literal (quotes and backslashes
 * escaped), in a new string. */
static char *ch_quote(const char *s)
{
	char *q = malloc(2 * strlen(s) + 1), *o = q;
	if (!q)
		abort();
	for (; *s; s++) {
		if (*s == '\'' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o = 0;
	return q;
}

/* The lines of a TabSeparated answer to sql, one value each, or NULL
 * after a message (who: its prefix).  *n: their count. */
static char **ch_lines(struct ch *c, const char *sql, int *n, const char *who)
{
	char *answer = NULL;
	if (ch_exec(c, sql, &answer) != CH_OK) {
		fprintf(stderr, "%s: %s\n", who, c->err);
		return NULL;
	}
	int cap = 8;
	char **v = malloc((size_t)cap * sizeof(*v));
	*n = 0;
	for (char *l = strtok(answer, "\n"); v && l; l = strtok(NULL, "\n")) {
		if (*n == cap && !(v = realloc(v, (size_t)(cap *= 2) * sizeof(*v))))
			break;
		tsv_unescape(l);
		v[(*n)++] = strdup(l);
	}
	free(answer);
	if (!v)
		abort();
	return v;
}

static void free_lines(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Where the query runs: database when it holds one incident (or none), or
 * the one asked; with several, a temporary database (tmp, made here;
 * *tmp empty when none) of one view per table and view of database,
 * filtered to the incident where it has an incident column, since the
 * named queries name no incident.  0, or -1 after a message. */
static int incident_scope(struct ch *c, const char *database, const char *incident, char *tmp,
			  size_t tmpsize, const char *who)
{
	char q[1024];
	int n = 0, rc = -1;
	*tmp = 0;
	snprintf(q, sizeof(q), "SELECT DISTINCT incident FROM `%s`.requests ORDER BY incident", database);
	char **inc = ch_lines(c, q, &n, who);
	if (!inc)
		return -1;
	int found = 0;
	for (int i = 0; incident && i < n; i++)
		found |= !strcmp(inc[i], incident);
	if ((!incident && n <= 1) || (found && n == 1)) {
		free_lines(inc, n);
		return 0;
	}
	if (!incident || !found) {
		fprintf(stderr, "%s: %s incident%s in database %s (", who, incident ? "no such" : "several",
			incident ? "" : "s", database);
		for (int i = 0; i < n && i < 10; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", inc[i]);
		fprintf(stderr, "%s): %s\n", n > 10 ? ", ..." : "", incident ? "--incident names one of these"
										: "pick one with --incident");
		free_lines(inc, n);
		return -1;
	}
	free_lines(inc, n);
	int nt = 0, nf = 0;
	snprintf(q, sizeof(q), "SELECT name FROM system.tables WHERE database = '%s' ORDER BY name", database);
	char **tables = ch_lines(c, q, &nt, who);
	snprintf(q, sizeof(q), "SELECT table FROM system.columns WHERE database = '%s' AND name = 'incident'",
		 database);
	char **filtered = tables ? ch_lines(c, q, &nf, who) : NULL;
	snprintf(tmp, tmpsize, "fr_query_%ld_%ld", (long)getpid(), (long)time(NULL));
	snprintf(q, sizeof(q), "CREATE DATABASE `%s`", tmp);
	if (!filtered || ch_exec(c, q, NULL) != CH_OK) {
		if (filtered)
			fprintf(stderr, "%s: %s\n", who, c->err);
		*tmp = 0;
		goto out;
	}
	char *lit = ch_quote(incident);
	rc = 0;
	for (int i = 0; i < nt && rc == 0; i++) {
		int f = 0;
		for (int j = 0; j < nf; j++)
			f |= !strcmp(filtered[j], tables[i]);
		char *v = NULL;
		if (asprintf(&v, "CREATE VIEW `%s`.`%s` AS SELECT * FROM `%s`.`%s`%s%s%s", tmp, tables[i], database,
			     tables[i], f ? " WHERE incident = '" : "", f ? lit : "", f ? "'" : "") < 0)
			abort();
		if (ch_exec(c, v, NULL) != CH_OK) {
			fprintf(stderr, "%s: %s\n", who, c->err);
			rc = -1;
		}
		free(v);
	}
	free(lit);
out:
	free_lines(tables, nt);
	free_lines(filtered, nf);
	return rc;
}

static int run_clickhouse(const char *url, const char *database, const char *incident, const char *name,
			  const char *sql, enum fr_out_format fmt)
{
	char who[128];
	snprintf(who, sizeof(who), "flightrec query: %s", name ? name : "SQL");
	size_t n = strlen(sql);
	while (n && strchr(" \t\r\n;", sql[n - 1]))
		n--;
	char *q = NULL, *answer = NULL, settings[160], tmp[96] = "";
	if (asprintf(&q, "%.*s\nFORMAT TabSeparatedWithNamesAndTypes", (int)n, sql) < 0)
		return EXIT_USAGE;
	struct ch c;
	int rc = EXIT_USAGE;
	sqlite3 *db = NULL;
	if (ch_open(&c, url) < 0)
		goto out;
	if (incident_scope(&c, database, incident, tmp, sizeof(tmp), who) < 0)
		goto out;
	snprintf(settings, sizeof(settings), "database=%s", *tmp ? tmp : database);
	int r = ch_exec_with(&c, settings, q, &answer);
	if (r != CH_OK) {
		fprintf(stderr, "%s: %s\n", who, c.err);
		goto out;
	}
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || load_answer(db, answer, who) < 0)
		goto out;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT * FROM a", -1, &st, NULL) != SQLITE_OK)
		goto out;
	long rows = fr_out_rows(st, fmt, stdout, who);
	sqlite3_finalize(st);
	rc = rows < 0 || fflush(stdout) != 0 ? EXIT_USAGE : EXIT_OK;
out:
	if (*tmp) {
		char drop[160];
		snprintf(drop, sizeof(drop), "DROP DATABASE IF EXISTS `%s`", tmp);
		ch_exec(&c, drop, NULL);
	}
	sqlite3_close(db);
	ch_close(&c);
	free(answer);
	free(q);
	return rc;
}

int cmd_query(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"list", no_argument, 0, 'l'}, {"csv", no_argument, 0, 'c'}, {"json", no_argument, 0, 'J'},
		{"show", no_argument, 0, 's'}, {"help", no_argument, 0, 'h'},
		{"clickhouse", required_argument, 0, 'C'}, {"database", required_argument, 0, 'D'},
		{"incident", required_argument, 0, 'I'}, {0, 0, 0, 0}};
	enum fr_out_format fmt = FR_OUT_TABLE;
	const char *ch_url = NULL, *ch_db = "flightrec", *incident = NULL;
	int c, do_list = 0, show = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': do_list = 1; break;
		case 'c': fmt = FR_OUT_CSV; break;
		case 'J': fmt = FR_OUT_JSON; break;
		case 's': show = 1; break;
		case 'C': ch_url = optarg; break;
		case 'D': ch_db = optarg; break;
		case 'I': incident = optarg; break;
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
	if (optind != argc - (ch_url ? 1 : 2) || show || (incident && !ch_url) || (ch_url && (!*ch_db || strspn(ch_db,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(ch_db)))) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *arg = argv[argc - 1], *sql = arg, *name = NULL;
	if (is_name(arg)) {
		name = arg;
		char chname[96];
		snprintf(chname, sizeof(chname), "%s.clickhouse", arg);
		sql = ch_url && fr_named_query(chname) ? fr_named_query(chname) : fr_named_query(arg);
		if (!sql) {
			fprintf(stderr, "flightrec query: no query named '%s'; 'flightrec query --list' shows them\n",
				arg);
			return EXIT_USAGE;
		}
	}
	if (ch_url)
		return run_clickhouse(ch_url, ch_db, incident, name, sql, fmt);
	return run(argv[optind], name, sql, fmt);
}
