/* conntab.h - the open connections of a record stream, and the first bytes
 * of each TCP connection: what the CONN_STATE and CONN_HEAD records of the
 * segment format (SEGMENT.md) say.
 *
 * Fed with the records of one node in their order (CONN_OPEN, DATA,
 * CONN_CLOSE, and the CONN_STATE and CONN_HEAD of a segment's start), it
 * keeps per connection its key, role and addresses, the stream position
 * reached and the counters of each direction, and, for a TCP connection
 * whose start was seen (a CONN_OPEN with a role), a copy of its first bytes
 * in both directions as the calls moved them.  fr_conntab_emit() turns
 * that into CONN_STATE and CONN_HEAD records.  With keep_closed, the head
 * of a connection outlives its close until fr_conntab_forget_closed()
 * (closes are dated by an epoch the caller sets, fr_conntab_set_epoch):
 * the recorder writes heads into snapshots, and a connection that closed
 * before the trigger may still have bytes in the snapshot.
 *
 * Users: the recorder (capture/drain.c feeds it, capture/ring.c writes its
 * records at the start of every segment; its per-connection redaction
 * state lives in the caller's area of each entry), and the analyzer, which
 * rebuilds the same records at the start of a --from window from the
 * records before it.  Bytes are copied, never parsed.
 *
 * Bounds: at most conns_max connections, closed ones with a kept head
 * included (a new one drops the oldest, so
 * connections whose close was never seen cannot grow the table for ever;
 * fr_conntab_sweep() drops them sooner); head_max bytes per direction of a
 * head and FR_CONNTAB_MAX_CHUNKS calls per head; heads_max bytes of heads
 * in all (the heads of the oldest connections are dropped first).
 */
#ifndef FLIGHTREC_CONNTAB_H
#define FLIGHTREC_CONNTAB_H

#include "segment.h"

#include <stddef.h>
#include <stdint.h>

#define FR_CONNTAB_HEAD_MAX (16u << 10)   /* default head_max */
#define FR_CONNTAB_HEADS_MAX (64ull << 20) /* default heads_max */
#define FR_CONNTAB_CONNS_MAX 65536u        /* default conns_max (the kernel's table) */
#define FR_CONNTAB_MAX_CHUNKS 1024u        /* calls kept in one connection's head */

struct fr_conntab_opts {
	uint32_t head_max;  /* head bytes per direction of a connection; 0: no heads */
	uint64_t heads_max; /* head memory of all connections together */
	uint32_t conns_max; /* connections, >= 1 */
	uint32_t user_size; /* bytes of the caller's state per connection, zeroed */
	int keep_closed;    /* 1: a closed connection's head stays (see above) */
};

/* Fills o with the defaults above (user_size 0). */
void fr_conntab_opts_default(struct fr_conntab_opts *o);

/* A connection of the table.  st is its state as a CONN_STATE record would
 * hold it (flags: FR_STATE_OPEN only; FR_STATE_HEAD is set on output);
 * user points at the caller's user_size bytes.  Valid until the record
 * that ends the connection (or evicts it) is fed. */
struct fr_conn {
	struct fr_conn_state st;
	void *user;
};

struct fr_conntab;

/* A new empty table, or NULL when out of memory.  o NULL: the defaults. */
struct fr_conntab *fr_conntab_new(const struct fr_conntab_opts *o);
/* Frees t and every connection in it.  NULL accepted. */
void fr_conntab_free(struct fr_conntab *t);

/* The connection of key k, or NULL. */
struct fr_conn *fr_conntab_find(struct fr_conntab *t, const struct fr_connkey *k);
/* The connection of key k, made (first seen at ts, nothing else known)
 * when it is not there; NULL only when out of memory. */
struct fr_conn *fr_conntab_get(struct fr_conntab *t, const struct fr_connkey *k, uint64_t ts);

/* Feeds one record.  CONN_OPEN starts a connection (dropping one left on
 * the same pid and fd), DATA updates one (fr_conntab_data), CONN_CLOSE
 * ends one, CONN_STATE and CONN_HEAD make one that is not known yet (a
 * known one keeps what the table saw itself); other kinds are ignored.
 * Returns the connection, or NULL (ended, other kinds, out of memory). */
struct fr_conn *fr_conntab_add(struct fr_conntab *t, const struct fr_record *r);
/* DATA d of connection c (from fr_conntab_get, for callers that look at
 * the entry before the payload is final, as the recorder's redaction does):
 * position, counters, and the head, which gets d's payload as given. */
void fr_conntab_data(struct fr_conntab *t, struct fr_conn *c, const struct fr_data *d, uint64_t ts);

/* Drops every connection for which gone(arg, c) returns nonzero. */
void fr_conntab_sweep(struct fr_conntab *t, int (*gone)(void *arg, const struct fr_conn *c),
		      void *arg);

/* The current epoch (0 at first): a connection closed from now on carries
 * it.  The recorder's epoch is the index of the segment being written. */
void fr_conntab_set_epoch(struct fr_conntab *t, uint64_t epoch);
/* Drops the kept heads of connections closed in an epoch before epoch. */
void fr_conntab_forget_closed(struct fr_conntab *t, uint64_t epoch);

/* What fr_conntab_emit() writes. */
#define FR_EMIT_STATES 0x1 /* a CONN_STATE per open connection */
#define FR_EMIT_HEADS 0x2  /* a CONN_HEAD per connection with head bytes (closed ones too) */

/* Calls fn with the records `what` asks for, connection by connection from
 * the oldest (a connection's CONN_HEAD right after its CONN_STATE); records
 * carry timestamp ts and seq 0, and point into the table (valid during the
 * call).  A CONN_STATE has FR_STATE_HEAD when the table holds a head for
 * it.  Stops at the first nonzero return of fn and returns it; else 0. */
int fr_conntab_emit(struct fr_conntab *t, uint64_t ts, unsigned what,
		    int (*fn)(void *arg, struct fr_record *rec), void *arg);

struct fr_conntab_stats {
	uint64_t conns;      /* open connections now */
	uint64_t closed;     /* closed ones whose heads are kept (keep_closed) */
	uint64_t head_bytes; /* memory held by heads now */
	uint64_t evicted;    /* connections dropped by the conns_max bound */
	uint64_t heads_dropped; /* heads dropped by the heads_max bound */
};
void fr_conntab_stats(const struct fr_conntab *t, struct fr_conntab_stats *s);

#endif
