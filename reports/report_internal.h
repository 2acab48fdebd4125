/* report_internal.h - what the files of reports/ share: statement helpers,
 * the per-run temporary tables every section reads (temp.rq: each request
 * once, with its dimensions and wall-clock start), wall-clock formatting,
 * the snapshot trigger, and the findings of the verdict.  Nothing outside
 * reports/ includes it. */
#ifndef FLIGHTREC_REPORT_INTERNAL_H
#define FLIGHTREC_REPORT_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Prepares sql; prints SQLite's message (prefixed "flightrec report") and
 * returns NULL on error.  The caller finalizes. */
sqlite3_stmt *rp_prep(sqlite3 *db, const char *sql);

/* Whether the database has a table or view of that name. */
int rp_has(sqlite3 *db, const char *name);

/* Creates the temporary tables of one run (read-only databases allow
 * them): temp.rp_conn (connection id -> its node's wall offset) and
 * temp.rq (requests_dims with ts = wall-clock start in ns; columns id,
 * conn_id, protocol, ts, latency_ns, upload_ns, wait_ns, download_ns,
 * network_ns, error, status, reason, summary, cw, sw, ep, read_delay_ns:
 * the client's, NULL in a database made before that column).  Idempotent.
 * Returns 0, or -1 after printing why. */
int rp_setup(sqlite3 *db);
/* 1 when table (or view) has column col, else 0. */
int rp_has_column(sqlite3 *db, const char *table, const char *col);
/* 1 when a client's read delay explains much of a request's latency (the
 * report's note on a slow request): 1 ms or more and a quarter or more. */
int rp_read_delay_large(int64_t read_delay_ns, int64_t latency_ns);

/* One group of rp_groups: its key values (valid during the callback),
 * requests, errors, and exact p50/p99 of the non-NULL latencies (the
 * smallest latency whose rank is >= q * count, as the views; 0 if none). */
struct rp_group {
	sqlite3_value *key[8];
	int nkeys;
	int64_t n, errors, p50, p99;
};

/* Streams sql, whose rows are nkeys (<= 8) key columns, then error and
 * latency_ns, ordered by the keys and then latency_ns (NULLs first), and
 * calls fn once per group.  SQLite sorts; the percentiles are picked here
 * (a window function's per-partition buffering costs several times the
 * sort).  ?1.. are bound to the nbind int64 values of binds.  Returns 0,
 * or -1 after printing why. */
int rp_groups(sqlite3 *db, const char *sql, const int64_t *binds, int nbind, int nkeys,
	      void (*fn)(void *ctx, const struct rp_group *g), void *ctx);

/* The time range of temp.rq (wall ns); both 0 when it is empty. */
void rp_range(sqlite3 *db, int64_t *from, int64_t *to);

/* The wall-clock time of the snapshot trigger mark (and its reason, copied
 * into reason[n]), or -1 when the recording has none. */
int64_t rp_trigger(sqlite3 *db, char *reason, size_t n);

/* "2026-12-06 09:10:11.123Z" (ms) into buf; "-" for a time <= 0. */
const char *rp_wall(int64_t ns, char *buf, size_t n);
/* Text from the database made harmless on a terminal (names and payload
 * text come from captured bytes): control characters, C1 controls in UTF-8
 * and DEL become '?'.  Writes at most n bytes into out and returns it; "-"
 * for NULL. */
const char *rp_safe(const unsigned char *s, char *out, size_t n);
/* "HH:MM:SS" (UTC) into buf. */
const char *rp_hms(int64_t ns, char *buf, size_t n);
/* A duration in ns as 12ns / 3.4us / 5.6ms / 1.23s. */
const char *rp_dur(int64_t ns, char *buf, size_t n);

/* Parses a split time: 2026-12-06T09:10:11[.fff]Z, or HH:MM:SS[.fff] on the
 * UTC day of day_ns.  Returns 0 and the wall ns, or -1. */
int rp_parse_time(const char *s, int64_t day_ns, int64_t *out);

/* A finding of the verdict, most telling first. */
struct rp_finding {
	char kind[16];     /* endpoint, dns, network, slow, alert */
	double score;      /* for the ranking */
	char title[512];   /* one line: what, where, since when */
	char workload[128]; /* the server workload it concerns ("" if none) */
	char client[128];  /* the client workload of an edge finding */
	char endpoint[256];
	int64_t since_ns;  /* wall clock of its first sign */
	int64_t count, total;
	int64_t example_id; /* a request that shows it, or 0 */
};

/* Fills *out (malloc'd, caller frees) with at most max findings, ranked.
 * Returns their number (>= 0), or -1 on a database error. */
int rp_findings(sqlite3 *db, int max, struct rp_finding **out);

/* Prints the first max findings as "Verdict" lines on f (or that nothing
 * stands out).  Needs rp_setup. */
void rp_print_verdict(sqlite3 *db, FILE *f, int max);

/* Writes the HTML report of db (opened from path) to out (through out.tmp,
 * renamed when complete), after rp_setup.  Returns 0, or -1 after printing
 * why (no file left behind). */
int rp_html(sqlite3 *db, const char *path, const char *out);

/* "What changed": the requests before a split time against those after.
 * A change is an edge ("client -> server") or an endpoint ("server
 * endpoint") with its counts, errors and p99 on each side ([0] before,
 * [1] after); score ranks them (error rate moves most, then p99, then
 * rate).  A new item is what appears only after the split (endpoint,
 * status, error, dns, sql) or a process started in the window (process,
 * with side "before"/"after"). */
struct rp_change {
	char kind[12];
	char subject[300];
	char proto[16];
	int64_t n[2], err[2], p99[2];
	double rate[2]; /* requests per second of each window */
	double score;
};
struct rp_new {
	char kind[12];
	char text[300];
	char where[160];
	char side[8];
	int64_t count, first_ns;
};
struct rp_diff {
	int64_t from, split, to;
	int64_t b0, b1, a0, a1; /* the windows: before [b0, b1), after [a0, a1] */
	int ranges;     /* given as two ranges (rp_diff_ranges), not split */
	int by_trigger; /* split is the snapshot trigger (else given, or the middle) */
	char reason[128];
	struct rp_change *ch;
	int nch;
	struct rp_new *nw;
	int nnw;
};

/* Computes the diff at split (wall ns; < 0: the trigger, or the middle of
 * the recording without one), at most limit changes and limit new items
 * of each kind.  Needs rp_setup.  Returns 0, or -1 on a database error;
 * either way rp_diff_fini frees what d holds. */
int rp_diff_compute(sqlite3 *db, int64_t split, int limit, struct rp_diff *d);
/* The same for two ranges (wall ns, before[0] < before[1] <= after[0] <
 * after[1]): the requests of each, rates per second of each. */
int rp_diff_ranges(sqlite3 *db, const int64_t before[2], const int64_t after[2], int limit, struct rp_diff *d);
void rp_diff_fini(struct rp_diff *d);

#endif
