/* flightrec.h - the commands of the `flightrec` program, declared beside
 * the main that dispatches them (flightrec.c).  Each command takes its own
 * argv (argv[0] is the command's name), prints its errors on stderr, and
 * returns an exit code: EXIT_OK, EXIT_DAMAGED or EXIT_USAGE
 * (formats/cli.h). */
#ifndef FLIGHTREC_FLIGHTREC_H
#define FLIGHTREC_FLIGHTREC_H

#include "../reports/report.h" /* cmd_report */

int cmd_info(int argc, char **argv);        /* cmd_inspect.c */
int cmd_cat(int argc, char **argv);         /* cmd_inspect.c */
int cmd_verify(int argc, char **argv);      /* cmd_inspect.c */
int cmd_analyze(int argc, char **argv);     /* cmd_analyze.c */
int cmd_dump(int argc, char **argv);        /* dump.c */
int cmd_corpus(int argc, char **argv);      /* corpus.c */
int cmd_import_pcap(int argc, char **argv); /* pcap/pcap_import.c */
int cmd_export_pcap(int argc, char **argv); /* export_pcap.c */
int cmd_export_clickhouse(int argc, char **argv); /* export_clickhouse.c */

#endif
