/* flightrec.h - the commands of the `flightrec` program, declared beside
 * the main that dispatches them (flightrec.c).  Each command takes its own
 * argv (argv[0] is the command's name), prints its errors on stderr, and
 * returns an exit code: EXIT_OK, EXIT_DAMAGED or EXIT_USAGE
 * (formats/cli.h). */
#ifndef FLIGHTREC_FLIGHTREC_H
#define FLIGHTREC_FLIGHTREC_H

#include "../reports/query.h"  /* cmd_query */
#include "../reports/report.h" /* cmd_report */

#include <stdint.h>

int cmd_info(int argc, char **argv);        /* cmd_inspect.c */
int cmd_cat(int argc, char **argv);         /* cmd_inspect.c */
int cmd_verify(int argc, char **argv);      /* cmd_inspect.c */
int cmd_analyze(int argc, char **argv);     /* cmd_analyze.c */
int cmd_dump(int argc, char **argv);        /* dump.c */
int cmd_corpus(int argc, char **argv);      /* corpus.c */
int cmd_import_pcap(int argc, char **argv); /* pcap/pcap_import.c */
int cmd_export_pcap(int argc, char **argv); /* export_pcap.c */
int cmd_export_otlp(int argc, char **argv); /* export_otlp.c */
int cmd_export_clickhouse(int argc, char **argv); /* export_clickhouse.c */
int cmd_snapshots(int argc, char **argv);   /* cmd_snapshots.c */
int cmd_watch(int argc, char **argv);       /* watch.c */
int cmd_snapshot(int argc, char **argv);    /* cmd_cluster.c */
int cmd_collect(int argc, char **argv);     /* cmd_cluster.c */

/* A --from/--to TIME of analyze and corpus add (cmd_analyze.c): monotonic
 * ns as in the segments (123456789), or wall clock 2026-11-24T22:01:59[.123]Z
 * made monotonic with the wall offset of the first input's first segment.
 * Returns 0 and *ns, or -1 when s is neither. */
int fr_parse_time(const char *s, char **paths, int npaths, uint64_t *ns);

#endif
