/* clickhouse.h - a small client of ClickHouse's HTTP interface (libcurl),
 * used by `flightrec export-clickhouse` (analyze/export_clickhouse.c) and
 * `flightrec query --clickhouse` (reports/query.c). */
#ifndef FLIGHTREC_CLICKHOUSE_H
#define FLIGHTREC_CLICKHOUSE_H

#include <stddef.h>

struct ch {
	char *url; /* http://host:port, no trailing slash */
	void *curl;
	char err[512]; /* the last error: the server's exception or curl's */
};

enum { CH_OK = 0, CH_ERROR = -1, CH_UNREACHABLE = -2 };

/* Prepares a client of url.  Returns 0, or -1 when out of memory. */
int ch_open(struct ch *c, const char *url);
void ch_close(struct ch *c);

/* Runs one statement.  On CH_OK and out != NULL, *out is the answer
 * (TabSeparated text unless the statement says otherwise; the caller
 * frees it).  CH_ERROR: the server refused it (c->err holds its
 * exception); CH_UNREACHABLE: no answer (connection refused or cut). */
int ch_exec(struct ch *c, const char *sql, char **out);

/* The same with settings for the statement ("name=value&name=value"). */
int ch_exec_with(struct ch *c, const char *settings, const char *sql, char **out);

/* Runs a statement that answers one number (SELECT count() ...). */
int ch_count(struct ch *c, const char *sql, long long *out);

/* Fills buf with up to len bytes of the body; returns the count, 0 at the
 * end, or (size_t)0x10000000 (CURL_READFUNC_ABORT) to abort. */
typedef size_t (*ch_fill_fn)(char *buf, size_t size, size_t nmemb, void *ctx);

/* INSERT ... FORMAT ... with the body produced by fill (chunked), with
 * settings ("name=value&name=value", or NULL) for the query.  Same
 * returns as ch_exec. */
int ch_insert(struct ch *c, const char *settings, const char *query, ch_fill_fn fill, void *ctx);

#endif
