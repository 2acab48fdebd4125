/* report.h - what reports/ offers the flightrec program: commands that read
 * an analysis database (and nothing else). */
#ifndef FLIGHTREC_REPORT_H
#define FLIGHTREC_REPORT_H

/* `flightrec report DB`: the terminal summary.  argv[0] is "report".
 * Returns EXIT_OK or EXIT_USAGE (formats/cli.h). */
int cmd_report(int argc, char **argv);

/* `flightrec query DB NAME|SQL`: a named query (reports/queries/) or one
 * SQL statement, read-only.  Returns EXIT_OK or EXIT_USAGE. */
int cmd_query(int argc, char **argv);

/* The SQL of the named query name (reports/queries/NAME.sql, compiled
 * in), or NULL when there is none.  Static storage. */
const char *fr_named_query(const char *name);

#endif
