/* corpus_diff.h - compares two dumps table by table, row by row, column by
 * column, for `flightrec corpus check` (corpus.c, its only user). */
#ifndef FLIGHTREC_CORPUS_DIFF_H
#define FLIGHTREC_CORPUS_DIFF_H

#include <stddef.h>
#include <stdio.h>

/* Compares the dump text exp (the expected one) with got, both in the form
 * `flightrec dump` writes: a line "# TABLE", a line of column names, then
 * one line per row, values separated by tabs.  Rows are matched whatever
 * their order; a row of exp and a row of got that share their key (the
 * fewest leading columns that tell the table's rows apart) are one row
 * whose columns differ.  Writes one line per difference to f, each
 * starting with `indent`, naming the table, the row's key and the column
 * with the expected and the actual value; at most `max` lines, then a
 * count of the rest.  Returns the number of differences: 0 when the two
 * dumps hold the same tables, columns and rows. */
long fr_dump_compare(const char *exp, size_t exp_len, const char *got, size_t got_len, FILE *f,
		     const char *indent, long max);

#endif
