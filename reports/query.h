/* query.h - `flightrec query` (query.c): the named queries of
 * reports/queries/ (compiled in) and SQL on an analysis database. */
#ifndef FLIGHTREC_QUERY_H
#define FLIGHTREC_QUERY_H

/* `flightrec query DB NAME|SQL [--csv|--json]`, `flightrec query --list`.
 * argv[0] is "query".  Returns EXIT_OK or EXIT_USAGE (formats/cli.h). */
int cmd_query(int argc, char **argv);

/* The SQL of the named query name (reports/queries/NAME.sql), or NULL
 * when there is none.  Static storage. */
const char *fr_named_query(const char *name);

#endif
