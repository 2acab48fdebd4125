/* sink.h - the SQLite sink (sink.c): the rows of an analysis go in here,
 * from the engine's threads, and come out as the database of schema.h.
 * Strings and spans passed in are copied (or bound and stepped) before a
 * call returns: the caller keeps ownership. */
#ifndef FLIGHTREC_SINK_H
#define FLIGHTREC_SINK_H

#include "../formats/kube.h"
#include "../formats/segment.h"
#include "proto.h"

#include <stddef.h>
#include <stdint.h>

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
	/* the connection began before the input (its CONN_STATE says so): 1 its
	 * kept head was replayed, 0 there was none; -1 (NULL) its start is in
	 * the input, or nothing of its streams came before */
	int head;
	char tls[128]; /* the TLS library whose plaintext it holds; "": none (a copy: the
			* row outlives the connection) */
	/* TCP evidence (CONN_TCP records before its close); tcp 0: none in the
	 * input (older recorder, pcap, UDP), the columns are NULL.  srtt_us:
	 * the last sample, 0 none (NULL) */
	int tcp;
	uint32_t retransmits, resets_sent, resets_received, srtt_us;
};
void sink_conn(struct sink *s, const struct conn_row *c);
/* One request row and its protocol row.  Its side (which end recorded it)
 * is c->role; seq is its number on the connection, from 1.  read_delay:
 * how long the first bytes this end read waited in its socket (the
 * client_read_delay_ns or server_read_delay_ns column, by side), or -1
 * (NULL).  Request ids are given in the order of the calls: the caller
 * makes that order canonical. */
void sink_request(struct sink *s, const struct conn_row *c, uint32_t seq,
		  const struct fr_proto *p, const struct fr_req *r, int64_t read_delay);
void sink_anomaly(struct sink *s, uint64_t conn_id, uint64_t ts, const char *kind,
		  const char *detail);
void sink_message(struct sink *s, uint64_t conn_id, const struct fr_proto *p, const struct fr_msg *m);
/* Ends the load: attribution, peer links, indexes, views, the dump hash
 * (with jobs > 1, written by that many threads on their own
 * connections).  Returns 0 or -1 (message on stderr).  Frees s. */
int sink_close(struct sink *s, int dim_cap, int jobs);

#endif
