/* embedded.h - the text files compiled into the flightrec binary
 * (reports/embed.sh generates their definitions at build time), so the
 * installed tool does not depend on the source tree. */
#ifndef FLIGHTREC_EMBEDDED_H
#define FLIGHTREC_EMBEDDED_H

/* One file of reports/queries/: name is the file's name without ".sql";
 * text starts with its "-- description" line.  Static storage. */
struct fr_named_query {
	const char *name;
	const char *text;
};

/* Sorted by name (the order of the files), ended by {NULL, NULL}. */
extern const struct fr_named_query fr_named_queries[];

/* reports/rules.conf: the default alert rules. */
extern const char fr_default_rules[];

#endif
