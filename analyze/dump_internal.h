/* dump_internal.h - what dump.c (the dump's rows and tables) shares with
 * dump_parallel.c (the same dump cut into pieces for several threads).
 * Nothing else includes it. */
#ifndef FLIGHTREC_DUMP_INTERNAL_H
#define FLIGHTREC_DUMP_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct dump_line {
	char *p;
	size_t len, cap;
};

/* Where the dump goes: a buffer written to f once it holds OUT_CHUNK
 * bytes, or, when f is NULL (a piece of the dump with -j N), kept in
 * memory up to `keep` bytes; a piece that grows past that goes on in a
 * temporary file (o_spill), so that memory stays bounded whatever the
 * rows hold (an HTTP head may be 16 KiB). */
struct dump_out {
	struct dump_line l;
	FILE *f;
	size_t keep;
	int spilled; /* f is our temporary file */
	int err;
};

/* A part of a table: the rows whose first column (unique: a rowid) is in
 * (lo, hi]; lo = INT64_MIN and hi = INT64_MAX for the whole table.  The
 * parts of a table, in order, give the same lines as the whole. */
struct dump_range {
	int64_t lo, hi;
};
static const struct dump_range dump_whole = {INT64_MIN, INT64_MAX};

/* Makes fr_dump_row() on a connection the dump reads; not for views or
 * triggers, and useless without a pointer only bind_pointer can give. */
void fr_dump_row_fn(sqlite3 *db);

/* Dumps one piece into o: the tables before requests when table is NULL,
 * else table's rows in r, with its header lines when header.  A piece that
 * outgrew memory into a temporary file (o->f) is flushed and rewound to be
 * read back.  Returns 0, or -1 (o->err set or a message on stderr); o->l
 * and o->f are the caller's to free. */
int fr_dump_piece(sqlite3 *db, const char *table, struct dump_range r, int header, struct dump_out *o);

#endif
