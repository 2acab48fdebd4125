/* cli.h - what the command lines of both programs (flightrec and
 * flightrec-record) share: the version, exit codes, and small text and
 * number helpers (text.c).  The commands themselves are declared beside the
 * main that dispatches them (analyze/flightrec.h). */
#ifndef FLIGHTREC_CLI_H
#define FLIGHTREC_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FLIGHTREC_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_DAMAGED = 1, EXIT_USAGE = 2 };

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
/* Checks, before a command reads it or writes anything, that an input
 * named on the command line is a regular, non-empty file this process can
 * open, without blocking on a FIFO.  Returns 0, or -1 with a one-line
 * reason in err ("PATH: not a regular file", "PATH: empty file", "cannot
 * open PATH: ..."). */
int fr_input_file_ok(const char *path, char *err, size_t errlen);

#endif
