/* otlp.h - every request of an analysis database as an OpenTelemetry span,
 * in the OTLP/JSON encoding (otlp.c); `flightrec export-otlp` is its
 * command (analyze/export_otlp.c). */
#ifndef FLIGHTREC_OTLP_H
#define FLIGHTREC_OTLP_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>

struct fr_otlp_stats {
	long long spans, linked, resources; /* linked: server spans with a client parent */
};

/* Writes one OTLP/JSON TracesData object per line (JSON lines, as the
 * OpenTelemetry Collector's otlpjsonfile receiver reads them): a span per
 * request row, CLIENT or SERVER by the side that recorded it, grouped by
 * the process (and pod) that recorded it, at most 1000 spans a line.
 * Both ends of a request share a trace, the server span the client span's
 * child.  Ids are derived from the recording's dump hash and the rows'
 * ids: the same database gives the same file.  Returns 0 and *st, or -1
 * with a message in err (a write error: errno). */
int fr_otlp_write(sqlite3 *db, FILE *f, struct fr_otlp_stats *st, char *err, size_t errlen);

#endif
