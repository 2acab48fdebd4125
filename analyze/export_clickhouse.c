/* export_clickhouse.c - `flightrec export-clickhouse`: loads analysis
 * databases into ClickHouse, for incidents that span more nodes than one
 * SQLite file holds.
 *
 * Every table of the database (and the `requests` view, stored as a table)
 * becomes a MergeTree table with the same columns (Nullable Int64, Float64
 * or String by their declared type), plus:
 *   incident  the incident the load belongs to (the partition key: an
 *             incident is dropped with ALTER TABLE ... DROP PARTITION)
 *   load_id   the database's identity (from its dump checksum)
 *   batch     the batch of rows the load sent it in
 *   node      the node that recorded the row
 *   wall_ns   its time on the wall clock (the sort key with node)
 * With --cluster, each --url is a shard: the tables are created on every
 * shard as <name>_local with a Distributed table <name> over them; the
 * databases of one command go to the shards in turn.
 *
 * Loads never duplicate rows: a database is sent in batches of at most
 * --batch rows, each one INSERT (one part, all or nothing); before
 * sending, the batches already present for the load id are skipped, and a
 * finished load is recorded in `loads` and skipped as a whole. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/clickhouse.h"
#include "export_clickhouse.h"
#include "flightrec.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void exp_quote(char *dst, size_t len, const char *s)
{
	size_t o = 0;
	if (len < 3)
		return;
	dst[o++] = '\'';
	for (; *s && o + 3 < len; s++) {
		if (*s == '\'' || *s == '\\')
			dst[o++] = '\\';
		dst[o++] = *s;
	}
	dst[o++] = '\'';
	dst[o] = 0;
}

/* ---- the ClickHouse side ------------------------------------------- */

static void msg(const struct exporter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg(const struct exporter *e, const char *fmt, ...)
{
	if (e->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("export-clickhouse: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int exp_on_shards(struct exporter *e, const char *sql)
{
	for (int i = 0; i < e->nshard; i++)
		if (ch_exec(&e->shard[i], sql, NULL) != CH_OK) {
			fprintf(stderr, "flightrec export-clickhouse: %s\n", e->shard[i].err);
			return -1;
		}
	return 0;
}

/* Checks that an existing table has every column we send, with its type
 * (want: "name\ttype\n" lines). */
static int check_columns(struct exporter *e, struct ch *c, const char *table, const char *want)
{
	char q[512], db[140], tb[140];
	exp_quote(db, sizeof(db), e->database);
	exp_quote(tb, sizeof(tb), table);
	snprintf(q, sizeof(q), "SELECT '', name, type FROM system.columns WHERE database = %s AND table = %s",
		 db, tb);
	char *have; /* "\tname\ttype\n" lines */
	if (ch_exec(c, q, &have) != CH_OK) {
		fprintf(stderr, "flightrec export-clickhouse: %s\n", c->err);
		return -1;
	}
	int rc = 0;
	for (const char *w = want; *w && !rc;) {
		const char *nl = strchr(w, '\n');
		char line[256];
		snprintf(line, sizeof(line), "\t%.*s\n", (int)(nl - w), w);
		if (!strstr(have, line)) {
			fprintf(stderr,
				"flightrec export-clickhouse: table %s.%s on %s does not match this database: "
				"column '%.*s' is missing or of another type (drop the table or choose another --database)\n",
				e->database, table, c->url, (int)(nl - w), w);
			rc = -1;
		}
		w = nl + 1;
	}
	free(have);
	return rc;
}

/* Creates a table (and its Distributed table) unless it exists, and
 * checks the columns of one that does. */
static int ensure_table(struct exporter *e, const struct table *t)
{
	char cols[8192], want[8192];
	size_t o = 0, w = 0;
	o += (size_t)snprintf(cols + o, sizeof(cols) - o,
			      "incident String, load_id String, batch UInt32, node String, wall_ns Int64");
	w += (size_t)snprintf(want + w, sizeof(want) - w,
			      "incident\tString\nload_id\tString\nbatch\tUInt32\nnode\tString\nwall_ns\tInt64\n");
	for (int i = 0; i < t->ncol && o < sizeof(cols) && w < sizeof(want); i++) {
		if (!exp_own_col(&t->col[i]))
			continue;
		o += (size_t)snprintf(cols + o, sizeof(cols) - o, ", `%s` %s", t->col[i].name, exp_ch_type(t->col[i].type));
		w += (size_t)snprintf(want + w, sizeof(want) - w, "%s\t%s\n", t->col[i].name, exp_ch_type(t->col[i].type));
	}
	if (o >= sizeof(cols) || w >= sizeof(want))
		return -1;
	char local[NAME_MAX_LEN + 8], sql[9000];
	snprintf(local, sizeof(local), "%s%s", t->name, e->cluster ? "_local" : "");
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS `%s`.`%s` (%s) ENGINE = MergeTree() PARTITION BY incident "
		 "ORDER BY (node, wall_ns)", e->database, local, cols);
	if (exp_on_shards(e, sql) < 0)
		return -1;
	for (int i = 0; i < e->nshard; i++)
		if (check_columns(e, &e->shard[i], local, want) < 0)
			return -1;
	if (e->cluster) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS `%s`.`%s` AS `%s`.`%s` ENGINE = Distributed(`%s`, `%s`, `%s`, "
			 "sipHash64(load_id))", e->database, t->name, e->database, local, e->cluster, e->database, local);
		if (exp_on_shards(e, sql) < 0)
			return -1;
	}
	return 0;
}

/* the batches of a load already present in a table, as a bitmap */
static int present_batches(struct exporter *e, const struct table *t, const char *load_id, uint8_t *map,
			   size_t nmap)
{
	char lid[64], q[512];
	exp_quote(lid, sizeof(lid), load_id);
	snprintf(q, sizeof(q), "SELECT batch FROM `%s`.`%s` WHERE load_id = %s GROUP BY batch", e->database,
		 t->name, lid);
	char *a;
	int rc = ch_exec(&e->shard[0], q, &a);
	if (rc != CH_OK)
		return rc;
	memset(map, 0, nmap);
	for (char *p = a; *p;) {
		char *end;
		unsigned long b = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (b < nmap * 8)
			map[b / 8] |= (uint8_t)(1 << (b % 8));
		p = end;
		while (*p == '\n')
			p++;
	}
	free(a);
	return CH_OK;
}


/* ---- loading ------------------------------------------------------- */

static int64_t one_int(sqlite3 *db, const char *sql, int64_t a, int64_t b, int *found)
{
	sqlite3_stmt *st;
	int64_t v = 0;
	*found = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		v = sqlite3_column_int64(st, 0);
		*found = 1;
	}
	sqlite3_finalize(st);
	return v;
}

/* Sends rows with keys in (lo, hi] as batch b, retrying when the server
 * does not answer; a batch that arrived although its answer was lost is
 * found before the next try. */
static int send_batch(struct exporter *e, sqlite3 *db, const struct table *t, const char *incident,
		      const char *load_id, unsigned shard, uint32_t b, int64_t lo, int64_t hi, uint64_t *rows)
{
	char sel[4096], ins[4096];
	size_t o = (size_t)snprintf(sel, sizeof(sel), "SELECT %s, %s, %s", t->key, t->node, t->wall);
	size_t k = (size_t)snprintf(ins, sizeof(ins), "INSERT INTO `%s`.`%s%s` (incident, load_id, batch, node, wall_ns",
				    e->database, t->name, e->cluster ? "_local" : "");
	for (int i = 0; i < t->ncol && o < sizeof(sel) && k < sizeof(ins); i++) {
		o += (size_t)snprintf(sel + o, sizeof(sel) - o, ", t.\"%s\"", t->col[i].name);
		if (exp_own_col(&t->col[i]))
			k += (size_t)snprintf(ins + k, sizeof(ins) - k, ", `%s`", t->col[i].name);
	}
	if (o < sizeof(sel))
		o += (size_t)snprintf(sel + o, sizeof(sel) - o, " FROM %s WHERE %s > ?1 AND %s <= ?2 ORDER BY %s",
				      t->from, t->key, t->key, t->key);
	if (k < sizeof(ins))
		k += (size_t)snprintf(ins + k, sizeof(ins) - k, ") FORMAT Native");
	if (o >= sizeof(sel) || k >= sizeof(ins))
		return -1;
	for (int attempt = 0;; attempt++) {
		struct exp_stream s = {.t = t, .incident = incident, .load_id = load_id, .batch = b};
		if (sqlite3_prepare_v2(db, sel, -1, &s.st, NULL) != SQLITE_OK) {
			fprintf(stderr, "flightrec export-clickhouse: %s: %s\n", t->name, sqlite3_errmsg(db));
			return -1;
		}
		sqlite3_bind_int64(s.st, 1, lo);
		sqlite3_bind_int64(s.st, 2, hi);
		/* one part per batch: the server gathers the whole batch into
		 * one block (the rows' count alone decides) before writing it,
		 * so an INSERT cut short writes nothing */
		char set[128];
		snprintf(set, sizeof(set), "min_insert_block_size_rows=%ld&min_insert_block_size_bytes=1099511627776",
			 e->batch);
		int rc = ch_insert(&e->shard[shard], set, ins, exp_stream_fill, &s);
		sqlite3_finalize(s.st);
		exp_stream_free(&s);
		if (rc == CH_OK && !s.failed) {
			*rows = s.rows;
			return 0;
		}
		if (s.failed) {
			fprintf(stderr, "flightrec export-clickhouse: %s: cannot read rows: %s\n", t->name,
				sqlite3_errmsg(db));
			return -1;
		}
		if (rc != CH_UNREACHABLE || attempt >= e->retries) {
			fprintf(stderr, "flightrec export-clickhouse: %s batch %u: %s\n", t->name, b,
				e->shard[shard].err);
			return -1;
		}
		unsigned wait = 1u << (attempt < 4 ? attempt : 4);
		msg(e, "%s batch %u: %s; trying again in %u s", t->name, b, e->shard[shard].err, wait);
		sleep(wait);
		/* did it arrive after all?  (checked through shard 0's table;
		 * a failure here just means another try) */
		char lid[64], q[512];
		exp_quote(lid, sizeof(lid), load_id);
		snprintf(q, sizeof(q), "SELECT count() FROM `%s`.`%s` WHERE load_id = %s AND batch = %u",
			 e->database, t->name, lid, b);
		long long n = 0;
		if (ch_count(&e->shard[0], q, &n) == CH_OK && n > 0) {
			msg(e, "%s batch %u had arrived", t->name, b);
			*rows = (uint64_t)n;
			return 0;
		}
	}
}

/* Sends one table of a load, batch by batch, skipping those present. */
static int load_table(struct exporter *e, sqlite3 *db, const struct table *t, const char *incident,
		      const char *load_id, unsigned shard, uint64_t *total_rows)
{
	char sql[256];
	int found;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", t->keysrc);
	int64_t total = one_int(db, sql, 0, 0, &found);
	int64_t nb = total ? (total + e->batch - 1) / e->batch : 0;
	if (nb > UINT32_MAX)
		return -1;
	size_t nmap = (size_t)nb / 8 + 1;
	uint8_t *map = calloc(nmap, 1);
	if (!map)
		return -1;
	int rc = present_batches(e, t, load_id, map, nmap);
	if (rc != CH_OK) {
		fprintf(stderr, "flightrec export-clickhouse: %s\n", e->shard[0].err);
		free(map);
		return -1;
	}
	snprintf(sql, sizeof(sql), "SELECT rowid FROM \"%s\" WHERE rowid > ?1 ORDER BY rowid LIMIT 1 OFFSET ?2",
		 t->keysrc);
	int64_t lo = INT64_MIN;
	uint64_t sent = 0, skipped = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int64_t b = 0; b < nb; b++) {
		int64_t hi = INT64_MAX;
		if (b + 1 < nb) {
			hi = one_int(db, sql, lo, e->batch - 1, &found);
			if (!found)
				hi = INT64_MAX;
		}
		if (map[b / 8] & (1 << (b % 8))) {
			skipped++;
		} else {
			uint64_t n = 0;
			if (send_batch(e, db, t, incident, load_id, shard, (uint32_t)b, lo, hi, &n) < 0) {
				free(map);
				return -1;
			}
			sent += n;
			if (nb > 1) {
				clock_gettime(CLOCK_MONOTONIC, &t1);
				double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
				msg(e, "  %s: batch %lld of %lld, %llu rows, %.0f rows/s", t->name, (long long)b + 1,
				    (long long)nb, (unsigned long long)sent, s > 0 ? (double)sent / s : 0.0);
			}
		}
		lo = hi;
	}
	free(map);
	if (skipped)
		msg(e, "  %s: %llu rows sent, %llu batches were already there", t->name, (unsigned long long)sent,
		    (unsigned long long)skipped);
	else
		msg(e, "  %s: %llu rows", t->name, (unsigned long long)sent);
	*total_rows += (uint64_t)total;
	return 0;
}

static char *text_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	char *v = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

/* Loads one analysis database.  Returns EXIT_OK, EXIT_DAMAGED (the load
 * stopped; running the command again finishes it) or EXIT_USAGE. */
static int load_db(struct exporter *e, const char *path, unsigned shard)
{
	sqlite3 *db;
	if (access(path, R_OK) != 0 ||
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec export-clickhouse: cannot open %s: %s\n", path, strerror(errno ? errno : EINVAL));
		return EXIT_USAGE;
	}
	int ret = EXIT_USAGE;
	struct table *tabs = NULL;
	char *sum = text_of(db, "SELECT value FROM recording WHERE key = 'dump_sha256'");
	char *incident = e->incident ? strdup(e->incident)
			 : text_of(db, "SELECT coalesce((SELECT text FROM marks WHERE kind = 'trigger' "
				       "ORDER BY ts, text LIMIT 1), 'default')");
	if (!sum || strlen(sum) < 16 || !incident) {
		fprintf(stderr, "flightrec export-clickhouse: %s is not a flightrec analysis database\n", path);
		goto out;
	}
	if (sqlite3_exec(db,
			 "CREATE TEMP TABLE ch_off AS SELECT node, min(wall_offset_ns) AS off FROM segments GROUP BY node;"
			 "CREATE TEMP TABLE ch_dflt AS SELECT coalesce(min(node), '') AS node FROM segments;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "flightrec export-clickhouse: %s: %s\n", path, sqlite3_errmsg(db));
		goto out;
	}
	char load_id[17];
	snprintf(load_id, sizeof(load_id), "%.16s", sum);
	char lid[64], inc[600], q[2048];
	exp_quote(lid, sizeof(lid), load_id);
	exp_quote(inc, sizeof(inc), incident);
	long long done = 0;
	snprintf(q, sizeof(q), "SELECT count() FROM `%s`.loads WHERE load_id = %s", e->database, lid);
	if (ch_count(&e->shard[0], q, &done) != CH_OK) {
		fprintf(stderr, "flightrec export-clickhouse: %s\n", e->shard[0].err);
		ret = EXIT_DAMAGED;
		goto out;
	}
	if (done) {
		msg(e, "%s: already loaded (load %s); nothing to do", path, load_id);
		ret = EXIT_OK;
		goto out;
	}
	int n = exp_list_tables(db, &tabs);
	msg(e, "%s: load %s, incident '%s', %d tables, to %s", path, load_id, incident, n, e->shard[shard].url);
	uint64_t rows = 0;
	for (int i = 0; i < n; i++) {
		if (ensure_table(e, &tabs[i]) < 0)
			goto out;
		if (load_table(e, db, &tabs[i], incident, load_id, shard, &rows) < 0) {
			fprintf(stderr, "flightrec export-clickhouse: the load of %s stopped; run the same command "
					"again to finish it (no row is sent twice)\n", path);
			ret = EXIT_DAMAGED;
			goto out;
		}
	}
	char *node = text_of(db, "SELECT node FROM temp.ch_dflt");
	char nd[300], pa[600];
	exp_quote(nd, sizeof(nd), node ? node : "");
	exp_quote(pa, sizeof(pa), path);
	free(node);
	snprintf(q, sizeof(q), "INSERT INTO `%s`.loads VALUES (%s, %s, %s, %s, %llu, '%s', now())", e->database,
		 inc, lid, nd, pa, (unsigned long long)rows, FLIGHTREC_VERSION);
	if (ch_exec(&e->shard[0], q, NULL) != CH_OK) {
		fprintf(stderr, "flightrec export-clickhouse: %s\n", e->shard[0].err);
		ret = EXIT_DAMAGED;
		goto out;
	}
	msg(e, "%s: loaded, %llu rows", path, (unsigned long long)rows);
	ret = EXIT_OK;
out:
	free(tabs);
	free(sum);
	free(incident);
	sqlite3_close(db);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flightrec export-clickhouse DB... --url URL [--url URL...] [--database NAME]\n"
		"                                   [--cluster NAME] [--incident NAME] [--batch N] [--retries N] [-q]\n"
		"\n"
		"Loads analysis databases into ClickHouse through its HTTP interface: every table (and\n"
		"`requests`) with the same columns, plus incident, load_id, batch, node and wall_ns.\n"
		"A database is loaded once: running the command again after an interruption sends\n"
		"only what is missing.\n"
		"\n"
		"  --url URL        ClickHouse's HTTP interface, e.g. http://127.0.0.1:8123; with\n"
		"                   --cluster, one per shard\n"
		"  --database NAME  where the tables go (default flightrec; created if missing)\n"
		"  --cluster NAME   a cluster of the servers' remote_servers: tables NAME_local on\n"
		"                   every shard, Distributed tables over them\n"
		"  --incident NAME  the incident (partition) the rows belong to (default: the\n"
		"                   snapshot's reason, or 'default')\n"
		"  --batch N        rows per INSERT (default 500000, at most 1000000)\n"
		"  --retries N      tries again N times when a server does not answer (default 5)\n");
}

/* Checks that every shard answers, and makes the database and the table
 * of loads unless they exist.  0, or -1 after a message. */
static int prepare(struct exporter *e)
{
	char sql[512];
	for (int i = 0; i < e->nshard; i++) {
		char *ver;
		if (ch_exec(&e->shard[i], "SELECT version()", &ver) != CH_OK) {
			fprintf(stderr, "flightrec export-clickhouse: cannot reach ClickHouse at %s: %s\n", e->shard[i].url,
				e->shard[i].err);
			return -1;
		}
		free(ver);
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s`", e->database);
	if (exp_on_shards(e, sql) < 0)
		return -1;
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS `%s`.loads (incident String, load_id String, node String, db String, "
		 "rows UInt64, analyzer String, loaded_at DateTime) ENGINE = MergeTree() PARTITION BY incident "
		 "ORDER BY load_id", e->database);
	if (ch_exec(&e->shard[0], sql, NULL) != CH_OK) {
		fprintf(stderr, "flightrec export-clickhouse: %s\n", e->shard[0].err);
		return -1;
	}
	return 0;
}

int cmd_export_clickhouse(int argc, char **argv)
{
	struct exporter e = {.database = "flightrec", .batch = 500000, .retries = 5};
	const char *urls[MAX_SHARDS];
	static const struct option lo[] = {
		{"url", required_argument, 0, 'u'},     {"database", required_argument, 0, 'd'},
		{"cluster", required_argument, 0, 'c'}, {"incident", required_argument, 0, 'i'},
		{"batch", required_argument, 0, 'b'},   {"retries", required_argument, 0, 'r'},
		{"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
	};
	int c;
	uint64_t v;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (e.nshard == MAX_SHARDS) {
				fprintf(stderr, "flightrec export-clickhouse: at most %d --url\n", MAX_SHARDS);
				return EXIT_USAGE;
			}
			urls[e.nshard++] = optarg;
			break;
		case 'd':
		case 'c':
			if (!exp_plain_name(optarg)) {
				fprintf(stderr, "flightrec export-clickhouse: --%s takes a plain name (letters, digits, _)\n",
					c == 'd' ? "database" : "cluster");
				return EXIT_USAGE;
			}
			*(c == 'd' ? &e.database : &e.cluster) = optarg;
			break;
		case 'i':
			if (!*optarg || strlen(optarg) > 200) {
				fprintf(stderr, "flightrec export-clickhouse: --incident takes 1 to 200 characters\n");
				return EXIT_USAGE;
			}
			e.incident = optarg;
			break;
		case 'b':
		case 'r':
			if (fr_parse_u64(optarg, &v) < 0 || (c == 'b' && (v < 1 || v > 1000000)) || (c == 'r' && v > 20)) {
				fprintf(stderr, "flightrec export-clickhouse: bad --%s '%s'\n", c == 'b' ? "batch" : "retries",
					optarg);
				return EXIT_USAGE;
			}
			if (c == 'b')
				e.batch = (long)v;
			else
				e.retries = (int)v;
			break;
		case 'q':
			e.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc || !e.nshard) {
		fprintf(stderr, "flightrec export-clickhouse: %s\n", optind >= argc ? "no database given" : "no --url given");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (e.nshard > 1 && !e.cluster) {
		fprintf(stderr, "flightrec export-clickhouse: several --url need --cluster (one URL per shard)\n");
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) { /* before anything is sent */
		char err[512];
		if (fr_input_file_ok(argv[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "flightrec export-clickhouse: %s\n", err);
			return EXIT_USAGE;
		}
	}
	int ret = EXIT_OK;
	for (int i = 0; i < e.nshard; i++)
		if (ch_open(&e.shard[i], urls[i]) < 0) {
			e.nshard = i;
			ret = EXIT_USAGE;
			goto out;
		}
	if (prepare(&e) < 0) {
		ret = EXIT_USAGE;
		goto out;
	}
	int loaded = 0;
	for (int i = optind; i < argc; i++) {
		int rc = load_db(&e, argv[i], (unsigned)(i - optind) % (unsigned)e.nshard);
		if (rc > ret)
			ret = rc;
		loaded += rc == EXIT_OK;
	}
	if (loaded && exp_create_views(&e) < 0 && ret == EXIT_OK)
		ret = EXIT_DAMAGED;
out:
	for (int i = 0; i < e.nshard; i++)
		ch_close(&e.shard[i]);
	return ret;
}
