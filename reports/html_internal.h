/* html_internal.h - what the HTML report's files share (html.c builds the
 * document's data, html_drill.c the request drill-down, html_json.c turns
 * query results into JSON, html_asset.c holds the page template). */
#ifndef FLIGHTREC_HTML_INTERNAL_H
#define FLIGHTREC_HTML_INTERNAL_H

#include "report_internal.h"

#include <jansson.h>
#include <stdio.h>

/* A JSON string of s with every invalid UTF-8 byte as '?'; null for NULL. */
json_t *hj_str(const char *s);
/* Column i of the current row as JSON (integer, real, string or null). */
json_t *hj_value(sqlite3_stmt *st, int i);
/* All rows of st (stepped to the end, not finalized) as {"cols","rows"}. */
json_t *hj_table_stmt(sqlite3_stmt *st);
/* The same for sql; NULL (after printing why) if it does not prepare. */
json_t *hj_table(sqlite3 *db, const char *sql);
/* The first column of the first row as an integer (0 if none). */
int64_t hj_scalar(sqlite3 *db, const char *sql);
/* Writes doc as compact JSON safe inside <script>.  Returns 0 or -1. */
int hj_write_script(FILE *f, json_t *doc);

/* The drill-down of the requests listed in temp.rp_ids (id): their rows,
 * protocol detail, connections with timeline and process.  Returns an
 * object {"reqs": {id: ...}, "conns": {id: ...}} (new reference). */
json_t *html_drill(sqlite3 *db);

/* The page template (html_asset.c): NUL-terminated, with the marker
 * HTML_DATA_MARK where the data goes. */
extern const char rp_template[];
#define HTML_DATA_MARK "/*FLIGHTREC_DATA*/"

#endif
