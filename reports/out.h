/* out.h - writers of query results shared by reports/ (out.c): a
 * statement's rows as an aligned table, CSV or JSON, and JSON text. */
#ifndef FLIGHTREC_OUT_H
#define FLIGHTREC_OUT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>

enum fr_out_format { FR_OUT_TABLE, FR_OUT_CSV, FR_OUT_JSON };

/* Steps st to its end and writes every row to f in the format: an aligned
 * table with a header line (NULL as "-", control characters as '?', so a
 * terminal shows captured text harmlessly), CSV (RFC 4180, a header line,
 * NULL as an empty field) or a JSON array of objects (column name: value;
 * integers and reals as numbers, NULL as null).  st is not finalized.
 * Returns the number of rows, or -1 after a step error (message on
 * stderr, prefixed by who). */
long fr_out_rows(sqlite3_stmt *st, enum fr_out_format fmt, FILE *f, const char *who);

/* Writes s[0..n) as a JSON string: valid UTF-8 as is, other bytes as the
 * Latin-1 character of the same value, control characters escaped. */
void fr_out_json_text(FILE *f, const char *s, size_t n);

/* Writes column i of the current row of st as a JSON value. */
void fr_out_json_value(FILE *f, sqlite3_stmt *st, int i);

#endif
