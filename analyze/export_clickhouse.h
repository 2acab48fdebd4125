/* export_clickhouse.h - what the files of `flightrec export-clickhouse`
 * share: the exporter (export_clickhouse.c makes the tables and loads them),
 * the tables of a database and their rows as Native blocks
 * (clickhouse_rows.c), and the views and cross-node links made after a load
 * (clickhouse_views.c). */
#ifndef FLIGHTREC_EXPORT_CLICKHOUSE_H
#define FLIGHTREC_EXPORT_CLICKHOUSE_H

#include "../formats/clickhouse.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_SHARDS 16

struct exporter {
	struct ch shard[MAX_SHARDS];
	int nshard;
	const char *database, *cluster, *incident;
	long batch;
	int retries, quiet;
};

#define MAX_COLS 96
#define NAME_MAX_LEN 64

struct col {
	char name[NAME_MAX_LEN];
	char type; /* 'i' Int64, 'f' Float64, 's' String */
};

/* A table of the database to load: its columns and the SQL that selects
 * its rows in key order with their node and wall-clock time. */
struct table {
	char name[NAME_MAX_LEN];
	int ncol;
	struct col col[MAX_COLS];
	char key[96];   /* the row order: rowid, or the view's id */
	char keysrc[NAME_MAX_LEN + 8]; /* where keys are counted */
	char from[1024];
	char node[160]; /* SQL of the row's node */
	char wall[160]; /* SQL of its wall-clock time */
};


/* Whether s is a name of letters, digits and '_' (shorter than
 * NAME_MAX_LEN), safe to quote in either database's SQL. */
int exp_plain_name(const char *s);
/* The ClickHouse type of a column type ('i', 'f', 's'): Nullable. */
const char *exp_ch_type(char t);
/* Whether a column is sent as its own column (node is the fixed one). */
int exp_own_col(const struct col *c);
/* The tables of db to load, sorted by name, into *out (malloc'ed, the
 * caller frees; may be NULL when none).  Returns their count, or -1 when
 * the database cannot be read. */
int exp_list_tables(sqlite3 *db, struct table **out);

#define FIXED_COLS 5 /* incident, load_id, batch, node, wall_ns */

struct exp_bytes {
	uint8_t *p;
	size_t n, cap;
};

/* The rows of one batch on their way to ClickHouse: the caller sets st
 * (the batch's SELECT of key, node, wall and the columns, bound), t,
 * incident, load_id and batch, zeroes the rest, and passes
 * exp_stream_fill with it as the INSERT's body.  After the INSERT, rows
 * counts the rows read and failed says whether reading or encoding
 * failed; exp_stream_free frees the buffers (not st). */
struct exp_stream {
	sqlite3_stmt *st;
	const struct table *t;
	const char *incident, *load_id;
	uint32_t batch;
	struct exp_bytes data[FIXED_COLS + MAX_COLS], nulls[FIXED_COLS + MAX_COLS];
	uint32_t rows_in_block;
	struct exp_bytes out; /* the encoded block not yet handed to curl */
	size_t off;
	uint64_t rows;
	int done, failed;
};

/* curl's read callback: fills buf with the next bytes of the Native
 * blocks of s's rows; 0 at the end, CURL_READFUNC_ABORT on failure. */
size_t exp_stream_fill(char *buf, size_t size, size_t nmemb, void *s);
void exp_stream_free(struct exp_stream *s);

/* Writes s as a ClickHouse string literal (quotes and backslashes escaped)
 * into dst, cut to fit len. */
void exp_quote(char *dst, size_t len, const char *s);
/* Runs sql on every shard (DDL): 0, or -1 after a message. */
int exp_on_shards(struct exporter *e, const char *sql);
/* Stores the cross-node links the loads made possible and (re)creates the
 * views on every shard: 0, or -1 after a message. */
int exp_create_views(struct exporter *e);

#endif
