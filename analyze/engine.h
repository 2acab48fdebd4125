/* engine.h - internal interfaces of the analyzer: the replay engine
 * (engine.c) and the canonical dump (dump.c).  The SQLite sink the engine
 * writes into is sink.h; the schema it creates, schema.h. */
#ifndef FLIGHTREC_ENGINE_H
#define FLIGHTREC_ENGINE_H

#include "../formats/kube.h"
#include "../formats/segment.h"
#include "proto.h"

#include <stdint.h>
#include <stdio.h>

struct fr_opts {
	int jobs;                /* worker threads, >= 1 */
	uint64_t from_ns, to_ns; /* record time filter (monotonic ns) */
	int have_from, have_to;
	uint64_t max_conn_bytes; /* parser buffering per connection */
	uint64_t max_memory;     /* all connection state together */
	int dim_cap;             /* distinct values per view dimension */
	uint64_t idle_ns;        /* end connections silent this long (0: never) */
	int quiet;
	int progress;            /* 1: draw a progress bar on stderr */
	const char *pods_file, *services_file;
	const struct fr_kube *kube; /* pods and services from those files, or NULL */
	/* Called with every record the replay uses, in its order: those of
	 * the inputs kept by the time filter (metadata before a --from window
	 * too), and the CONN_STATE records a connection new to the analysis
	 * starts with (recorded, or made at a --from window's start), each
	 * after the CONN_HEAD replayed with it.  h: the header of a segment of
	 * the record's node.  `corpus add --from` writes them into a case that
	 * replays as the window did.  NULL: none. */
	void (*tap)(void *arg, const struct fr_header *h, const struct fr_record *r);
	void *tap_arg;
};

void fr_opts_default(struct fr_opts *o);

/* ---- engine -------------------------------------------------------------- */

/* Analyzes the inputs into db_path.  Returns an exit code (EXIT_*). */
int fr_analyze(char **paths, int npaths, const char *db_path, const struct fr_opts *o);

/* ---- dump ---------------------------------------------------------------- */

struct sqlite3;
/* Writes the canonical dump of an open database.  0 or -1. */
int fr_dump_db(struct sqlite3 *db, FILE *out);
/* The same dump, written by `jobs` threads, each with its own read-only
 * connection to the database at path (which must be readable by other
 * connections: no exclusive lock held), in pieces split by request id
 * (max_id: the largest); the pieces wait in memory (at most 96 MiB, the
 * rest in temporary files) and are copied into out in order, by the
 * calling thread.  Gives exactly
 * fr_dump_db's output.  0 or -1. */
int fr_dump_parallel(const char *path, int64_t max_id, FILE *out, int jobs);
/* Canonical dump of the database at path into f.  0 or -1. */
int fr_dump_path(const char *path, FILE *f);

#endif
