/* heads.h - the kept connection heads of a recording (CONN_HEAD records,
 * formats/SEGMENT.md): collected from the starts of its segments before
 * anything is replayed, since a recorder writes them into the first segment
 * after a snapshot trigger, later than the bytes they come before.  Used by
 * the engine (a connection that began before the input gets its head
 * replayed) and by `corpus add` (a case cut from a recording keeps the
 * heads of its connections). */
#ifndef FLIGHTREC_HEADS_H
#define FLIGHTREC_HEADS_H

#include "../formats/segment.h"

struct heads;

/* An empty set; NULL when out of memory. */
struct heads *heads_new(void);
void heads_free(struct heads *h); /* NULL accepted */

/* Reads the start of each segment file (its records before the first DATA,
 * CONN_OPEN or CONN_CLOSE) and keeps every CONN_HEAD found.  Files of
 * formats before 2.1 are not opened.  Unreadable files are skipped (the
 * replay reports them). */
void heads_collect(struct heads *h, char *const *files, int n);

/* Keeps a copy of hd for the connection key of node, unless a longer head
 * of it is kept already (two heads of one connection are prefixes of one
 * another). */
void heads_put(struct heads *h, const char *node, const struct fr_conn_head *hd);

/* The head kept for (node, k), or NULL.  Valid until the next heads_put
 * or heads_free. */
const struct fr_conn_head *heads_find(const struct heads *h, const char *node,
				      const struct fr_connkey *k);

#endif
