/* engine.h - internal interfaces of the analyzer: the replay engine
 * (engine.c), the SQLite sink (sink.c) and the canonical dump (dump.c). */
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
};

void fr_opts_default(struct fr_opts *o);

/* ---- sink ---------------------------------------------------------------- */

struct sink;

/* Creates a new database at path (replacing a file there).  NULL + err. */
struct sink *sink_open(const char *path, char *err, size_t errlen);
/* Everything below may be called from any thread (one lock). */
void sink_kv(struct sink *s, const char *key, const char *value);
void sink_segment(struct sink *s, const char *file, const struct fr_header *h,
		  const char *sha256, uint64_t bytes, const struct fr_reader_stats *st,
		  size_t damaged, int has_footer, uint64_t first_ts, uint64_t last_ts);
void sink_process(struct sink *s, const char *node, const struct fr_process *p);
void sink_pod(struct sink *s, const struct fr_pod *p);
void sink_service(struct sink *s, const struct fr_service *v);
void sink_mark(struct sink *s, const char *node, uint64_t ts, const struct fr_mark *m);

struct conn_row {
	uint64_t id;
	const char *node;
	struct fr_connkey key;
	int transport; /* FR_TCP / FR_UDP */
	int role;      /* enum fr_role, after inference */
	struct fr_addr local, remote;
	const char *protocol; /* NULL: unknown */
	uint64_t start_ns, end_ns;
	uint64_t bytes_out, bytes_in, gap_bytes;
	uint64_t requests;
	int closed;
};
void sink_conn(struct sink *s, const struct conn_row *c);
/* side: which end recorded the request ("client" or "server") */
void sink_request(struct sink *s, const struct conn_row *c, uint32_t seq,
		  const struct fr_proto *p, const struct fr_req *r);
void sink_anomaly(struct sink *s, uint64_t conn_id, uint64_t ts, const char *kind,
		  const char *detail);
void sink_message(struct sink *s, uint64_t conn_id, const struct fr_proto *p, const struct fr_msg *m);
/* Ends the load: attribution, peer links, indexes, views, the dump hash
 * (with jobs > 1, written by that many threads on their own
 * connections).  Returns 0 or -1 (message on stderr).  Frees s. */
int sink_close(struct sink *s, int dim_cap, int jobs);

/* ---- schema (reports/schema.c) ------------------------------------------ */
extern const char fr_schema_sql[];     /* tables, before the load */
extern const char fr_attr_sql[];       /* attribution of connections: after the load */
extern const char fr_peer_addrs_scan_sql[]; /* temp.peer_addrs from a scan */
extern const char fr_post_sql[];       /* peer links, indexes: last */
extern const char fr_late_index_sql[]; /* indexes nothing in the analysis reads */
extern const char fr_views_sql[];      /* views */

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
