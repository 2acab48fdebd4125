/* sink_internal.h - what the files of the SQLite sink share; not a public
 * interface (that is sink.h).
 *
 *   sink.c           the database's life: created with its statements,
 *                    finished after the load (attribution, peer links,
 *                    views, the dump hash)
 *   sink_rows.c      one row at a time: recording, segments, metadata,
 *                    connections, anomalies, messages
 *   sink_requests.c  requests and their protocol rows, inserted in batches;
 *                    the distinct peer addresses
 */
#ifndef FLIGHTREC_SINK_INTERNAL_H
#define FLIGHTREC_SINK_INTERNAL_H

#include "sink.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

/* The prepared statements of the rows that go in one at a time (sink_rows.c;
 * their SQL: stmt_sql in sink.c). */
enum {
	S_KV, S_SEG, S_PROC, S_POD, S_POD_IP, S_POD_LABEL, S_POD_CONT, S_SVC, S_SVC_IP,
	S_SVC_SEL, S_MARK, S_CONN, S_ANOM, S_MSG, S_N
};

#define MAX_PROTOS 16 /* protocols with a detail table */

/* ---- batched inserts (sink_requests.c) ---- */

#define BATCH_ROWS 64

/* One value of a buffered row. */
struct val {
	int type; /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_TEXT; -1 nothing */
	int len;
	int64_t i; /* the integer, or the text's offset in the arena */
	const char *p; /* text that outlives the batch (not in the arena) */
};

/* The buffered rows of one table: inserted BATCH_ROWS at a time. */
struct rbuf {
	sqlite3_stmt *one, *many;
	int ncols, n;
	struct val *v; /* BATCH_ROWS rows of ncols values */
	/* what each parameter of `many` holds now (text: p is the bytes);
	 * bindings outlive sqlite3_reset, so an equal value is not bound
	 * again */
	struct val *bound;
	/* Text up to SLOT_BYTES goes into its parameter's own slot: at the
	 * same address batch after batch, so a text of the same length is
	 * not bound again either.  Longer text goes into the arena. */
	char *slots;
	char *arena;
	size_t alen, acap;
};

#define SLOT_BYTES 64

/* The distinct peer addresses (text as stored) in the order they first
 * come, for the attribution; given up above PEERS_MAX (then a scan of
 * request_rows finds them). */
#define PEERS_MAX (1u << 16)
#define PEER_TEXT 64
struct peerset {
	char (*v)[PEER_TEXT]; /* NUL-terminated */
	uint32_t *tab;        /* open addressing: index + 1, 0 empty */
	uint32_t n, cap;      /* cap: entries of v; tab has 2 * cap */
	int overflow;
};

/* ---- the sink ---- */

struct sink {
	sqlite3 *db;
	struct peerset peers;
	pthread_mutex_t lock;
	sqlite3_stmt *st[S_N];
	struct rbuf req;                 /* request_rows */
	struct rbuf detail[MAX_PROTOS]; /* each protocol's table, and child table */
	const void *detail_key[MAX_PROTOS]; /* the fr_proto, or its child_table */
	uint64_t rows;
	uint64_t next_req; /* request ids: the order rows arrive in, which the
			    * engine makes canonical (see engine_rows.c) */
	int failed;
	char *path;  /* the database being built: a temporary name beside final */
	char *final; /* the -o path, replaced by a rename once complete */
};


/* Runs sql (statements separated by ';').  0, or -1 with the message on
 * stderr. */
static inline int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "flightrec: sqlite: %s\n", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* ---- sink_requests.c ----------------------------------------------------- */

/* Prepares "INSERT INTO head VALUES (?,..)" for one and for BATCH_ROWS rows
 * of ncols values.  0 or -1 (message on stderr; rbuf_fini frees what was
 * made). */
int rbuf_init(struct sink *s, struct rbuf *b, const char *head, int ncols);
/* Inserts the rows buffered in b. */
void rbuf_flush(struct sink *s, struct rbuf *b);
void rbuf_fini(struct rbuf *b);
/* temp.peer_addrs for the attribution (fr_attr_sql); frees the peer set.
 * 0 or -1. */
int peer_table(struct sink *s);

/* ---- sink_rows.c --------------------------------------------------------- */

/* An address as stored: "10.0.0.1" or "fd00::1" (no brackets, no port).
 * Returns its length, or -1 for no address. */
int sink_addr_text(const struct fr_addr *a, char *buf, size_t len);

#endif
