/* sqlnorm.h - SQL statement normalisation shared by the MySQL and
 * PostgreSQL parsers (analyze/sqlnorm.c): the low-cardinality endpoint of
 * a statement, so that the views group "the same query" together. */
#ifndef FLIGHTREC_SQLNORM_H
#define FLIGHTREC_SQLNORM_H

#include <stddef.h>

/* Writes into out (cap bytes, cap > 0) the statement s (n bytes, not
 * NUL-terminated, untrusted) with string and numeric literals replaced by
 * '?', "$1"-style and ":name" placeholders kept as '?', lists "(?, ?, ...)"
 * folded to "(?)", comments dropped, whitespace collapsed to one space and
 * keywords kept as written.  Non-printable bytes become '?'.  The result is
 * NUL-terminated and cut at cap - 1 bytes.  Returns its length. */
size_t fr_sql_normalise(const char *s, size_t n, char *out, size_t cap);

/* Copies up to cap - 1 bytes of s into out, non-printable bytes as '?',
 * whitespace runs as one space, NUL-terminated; returns the length. */
size_t fr_sql_printable(const char *s, size_t n, char *out, size_t cap);

#endif
