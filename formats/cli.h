/* cli.h - what every flightrec subcommand shares: the command table entry
 * type, exit codes, and small text helpers. */
#ifndef FLIGHTREC_CLI_H
#define FLIGHTREC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FLIGHTREC_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_DAMAGED = 1, EXIT_USAGE = 2 };

struct fr_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

/* Subcommands (one function each, defined beside the code they drive). */
int cmd_info(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_analyze(int argc, char **argv); /* analyze/cmd_analyze.c */
int cmd_dump(int argc, char **argv);    /* analyze/dump.c */
int cmd_corpus(int argc, char **argv);  /* analyze/corpus.c */
int cmd_report(int argc, char **argv);  /* reports/report.c */
int cmd_import_pcap(int argc, char **argv); /* analyze/pcap/pcap_import.c */
int cmd_export_pcap(int argc, char **argv); /* formats/pcapng_export.c */

/* Writes bytes as a double-quoted JSON string; bytes >= 0x80 become
 * \u0080..\u00ff, so the original bytes are the string's Latin-1 encoding. */
void fr_json_str(FILE *f, const uint8_t *p, size_t n);
/* Writes bytes readable on one line: printable ASCII as is, \r \n \t, \xNN
 * otherwise; at most max input bytes, then "...". */
void fr_escape(FILE *f, const uint8_t *p, size_t n, size_t max);
/* Formats wall-clock ns since the epoch as 2026-11-24T22:01:59.123456789Z. */
const char *fr_time_str(int64_t wall_ns, char *buf, size_t len);
/* Parses a decimal count with optional K/M/G suffix (powers of 1024).
 * Returns 0 or -1. */
int fr_parse_size(const char *s, uint64_t *out);
/* Where temporary files go: $TMPDIR, or /tmp when it is unset or empty. */
const char *fr_tmpdir(void);
/* Parses a plain decimal number (digits only).  Returns 0 or -1. */
int fr_parse_u64(const char *s, uint64_t *out);

#endif
