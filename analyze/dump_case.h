/* dump_case.h - the corpus's view of a dump (dump_case.c) and what it
 * borrows from the canonical dump (dump.c). */
#ifndef FLIGHTREC_DUMP_CASE_H
#define FLIGHTREC_DUMP_CASE_H

#include <stdio.h>

struct sqlite3;

/* dump.c: the tables written before requests, in dump order, NULL-ended;
 * then come requests, each registered protocol's table, messages and
 * anomalies. */
extern const char *const fr_dump_head_tables[];
/* dump.c: runs sql, a query whose one column is fr_dump_row(?1, values...),
 * and writes each row's values to out as `flightrec dump` writes a row
 * (escaped, tab-separated, one line).  0 or -1 (message on stderr). */
int fr_dump_rows(struct sqlite3 *db, const char *sql, FILE *out);

/* The case view of an analysis: the rows of the dump that belong to the
 * case's own records.  Left out: the recording and settings tables (global
 * counters, input file names, analyzer options), the segments' file name,
 * writer, hash, size and block and record counts (they change with the
 * writer's bytes), and every table without rows.  What is kept is written
 * exactly as `flightrec dump` writes it.  0 or -1 (message on stderr). */
int fr_dump_case_db(struct sqlite3 *db, FILE *out);
/* The same for the database at path, opened read-only.  0 or -1. */
int fr_dump_case_path(const char *path, FILE *out);

#endif
