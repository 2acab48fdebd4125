/* proto.h - the contract between the replay engine and a protocol parser.
 *
 * One protocol = one file analyze/protocols/<name>.c exporting one
 * `const struct fr_proto fr_proto_<name>`, listed in analyze/registry.c.
 *
 * The engine hands a parser the bytes of each direction in stream order,
 * chunk by chunk, as they were read or written by the syscalls.  A parser is
 * a resumable state machine: any split of the same bytes gives the same
 * output (tests/unit/test_split.c checks it).  Holes in a stream (snap-length
 * truncation, loss, a recording that starts mid-connection) arrive as gap()
 * calls; the parser resynchronises and reports what it skipped.
 *
 * Output goes through the callbacks in struct fr_pctx: one emit_request()
 * per request/response pair (or unanswered request, or orphan response),
 * emit_message() for messages outside any pair (pub/sub deliveries, pushes),
 * anomaly() for everything odd.  Strings handed to the callbacks are owned
 * by the parser and valid only during the call.
 *
 * Inside a parser (the convention the three parsers follow): feed() runs a
 * byte machine per direction that takes every byte it is given.  "Need
 * more" is a state, not a return value: the bytes of an unfinished unit (a
 * line, an HTTP head, a length-prefixed DNS message) wait in the
 * direction's state for the next chunk.  "Malformed" is an answer of the
 * helpers that parse one complete unit: they return 0 (or a value >= 0),
 * or -1 when it is malformed; the machine then reports a "parse_error"
 * anomaly and resynchronises (at the next datagram, or the next plausible
 * start of a message).  Only a stream that cannot go on makes feed()
 * return -1.
 */
#ifndef FLIGHTREC_PROTO_H
#define FLIGHTREC_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* Directions as a parser sees them. */
enum { FR_C2S = 0, FR_S2C = 1 };

/* probe() answers */
enum {
	FR_PROBE_NO = 0,    /* not this protocol */
	FR_PROBE_MAYBE = 1, /* could be; show me more */
	FR_PROBE_C2S = 2,   /* yes, and these bytes flow client -> server */
	FR_PROBE_S2C = 3,   /* yes, and these bytes flow server -> client */
};

/* Transport of the connection. */
enum { FR_TCP = 0, FR_UDP = 1 };

/* One field of a protocol's detail table row. */
enum { FR_F_NULL = 0, FR_F_INT, FR_F_TEXT };
struct fr_field {
	const char *name;
	int type;
	int64_t i;
	const char *s; /* FR_F_TEXT: bytes, not necessarily NUL-terminated */
	size_t len;
};
#define FR_MAX_FIELDS 32
#define FR_MAX_CHILD 2048 /* fields of one request's child rows, all rows together */

/* A request and its response, as a parser reports it.  Times are syscall
 * timestamps (ns); 0 means "none" (no response, orphan response). */
struct fr_req {
	uint64_t req_first_ns, req_last_ns;
	uint64_t resp_first_ns, resp_last_ns;
	uint64_t req_bytes, resp_bytes;
	const char *summary; /* "GET /api/users", "SET", "A example.com" */
	const char *endpoint; /* low-cardinality dimension for the views:
			       * "GET /api/users/{id}", "SET", "A" */
	const char *status;  /* protocol-native status; NULL: no response */
	int error;           /* 1: a failure (5xx, error reply, rcode != 0, none) */
	const char *reason;  /* why there is no response / why odd; or NULL */
	uint32_t seq;        /* 0: the engine numbers requests in the order they
			      * are reported; else this number, the same at both
			      * ends of a connection (HTTP/2: the stream id) */
	/* peer of this message when the transport has one per datagram */
	const uint8_t *peer_addr; /* 4 or 16 bytes, or NULL */
	int peer_family;
	uint16_t peer_port;
	/* A protocol carried inside this one (gRPC in HTTP/2), or NULL.  When
	 * set, the request is the layer's (its name is the protocol column),
	 * fields [0, layer_field) go to this protocol's table and fields
	 * [layer_field, n_fields) to the layer's. */
	const struct fr_proto *layer;
	int layer_field;
	/* Rows of the protocol's child table (fr_proto.child_table), each one
	 * also given this request's id: n_child rows of child_cols fields,
	 * row after row in child[] (n_child * child_cols <= FR_MAX_CHILD;
	 * owned by the parser, valid during emit_request); NULL: none. */
	const struct fr_field *child;
	int n_child, child_cols;
	/* the protocol's own table (fr_proto.table) */
	int n_fields;
	struct fr_field f[FR_MAX_FIELDS];
};

/* A message that is not half of a request/response pair: a pub/sub
 * delivery, a RESP3 push.  One row of the messages table. */
struct fr_msg {
	uint64_t first_ns, last_ns;
	uint64_t bytes;
	int dir;           /* FR_C2S / FR_S2C: who sent it */
	const char *kind;  /* "message", "pmessage", "invalidate", "subscribe" */
	const char *topic; /* channel (pattern for pmessage), or NULL */
};

struct fr_chunk;
struct fr_pctx {
	void *arg;
	int transport; /* FR_TCP or FR_UDP */
	void (*emit_request)(struct fr_pctx *ctx, const struct fr_req *r);
	void (*emit_message)(struct fr_pctx *ctx, const struct fr_msg *m);
	void (*anomaly)(struct fr_pctx *ctx, uint64_t ts, const char *kind,
			const char *detail);
	/* Hands the connection to protocol `name` (HTTP/1.1 Upgrade: h2c,
	 * after the 101).  The new parser is fed the n (<= 3) chunks of
	 * `replay` first (the bytes of the exchange that asked for the switch,
	 * as they began the stream: it decodes them itself; a chunk with p
	 * NULL is len bytes not kept, given as a gap), then the last `rest`
	 * bytes of the chunk being fed now, then everything after.  The
	 * engine copies the replay bytes; it switches once the current feed()
	 * returns, after this parser's finish(FR_END_HANDOVER).  Returns 0, or
	 * -1 when it cannot (no such protocol, or no engine: NULL in tests),
	 * and then this parser goes on as it would have. */
	int (*handover)(struct fr_pctx *ctx, const char *name, const struct fr_chunk *replay, int n,
			size_t rest);
	/* Asks for n more bytes for this parser's buffers (one that grows
	 * with the traffic, past its state_size), within the analyzer's
	 * memory budget (--max-memory): 0 granted (counted against the
	 * budget until released or the connection ends), -1 refused (the
	 * parser keeps less and says so in an anomaly).  NULL (tests): every
	 * request is granted. */
	int (*reserve)(struct fr_pctx *ctx, size_t n);
	/* Gives back n bytes reserved before (a buffer freed); NULL: nothing. */
	void (*release)(struct fr_pctx *ctx, size_t n);
};

/* A chunk of one direction's stream. */
struct fr_chunk {
	int dir;      /* FR_C2S / FR_S2C */
	uint64_t ts;  /* syscall timestamp */
	const uint8_t *p;
	size_t len;
	/* UDP: the datagram's peer (else family 0) */
	int peer_family;
	const uint8_t *peer_addr;
	uint16_t peer_port;
};

/* End-of-connection reasons for finish(). */
enum { FR_END_CLOSE = 0, FR_END_RECORDING = 1, FR_END_EVICTED = 2, FR_END_HANDOVER = 3 };

struct fr_proto {
	const char *name;   /* "http1", "redis", "dns": the protocol column */
	const char *table;  /* detail table name: "http", "redis", "dns" */
	const char *schema; /* CREATE TABLE for it (request_id first) */
	/* A table of several rows per request (Kafka's partitions), or NULL;
	 * its CREATE TABLE (request_id first, not unique) */
	const char *child_table, *child_schema;
	size_t state_size;  /* bytes zeroed by the engine, then init() */
	uint16_t ports[4];  /* well-known ports: a hint for the probe order */
	int udp;            /* 1: also runs over UDP */
	/* Looks at the first bytes seen in one direction; FR_PROBE_*. */
	int (*probe)(const uint8_t *p, size_t n, int transport);
	/* Sets up the zeroed state; NULL when zeroes are the start state. */
	void (*init)(void *state, int transport);
	/* Consumes a chunk.  Always consumes it all (buffering what it must,
	 * within its own bounds); returns 0, or -1 when the stream is hopeless
	 * (the engine then stops feeding this connection). */
	int (*feed)(void *state, struct fr_pctx *ctx, const struct fr_chunk *c);
	/* len bytes of direction dir are missing before the next chunk. */
	void (*gap)(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts);
	/* End of the connection: report unanswered requests; free memory. */
	void (*finish)(void *state, struct fr_pctx *ctx, int why, uint64_t ts);
};

/* The registry (analyze/registry.c), NULL-terminated. */
extern const struct fr_proto *const fr_protocols[];
/* The protocols' tables in dump order (each protocol's table, then its
 * child table when it has one): the i-th, or NULL past the last. */
const char *fr_proto_table(int i);
/* The registered protocol of that name ("http1"), or NULL. */
const struct fr_proto *fr_proto_find(const char *name);

/* Helpers shared by parsers (analyze/proto_util.c). */
/* Case-insensitive compare of n bytes with a lowercase ASCII literal. */
int fr_lc_eq(const uint8_t *p, size_t n, const char *lit);
/* Appends a field to r; text fields are truncated to 4096 bytes. */
void fr_field_int(struct fr_req *r, const char *name, int64_t v);
void fr_field_text(struct fr_req *r, const char *name, const void *s, size_t len);
void fr_field_str(struct fr_req *r, const char *name, const char *s);
/* Appends n bytes of s (up to a NUL) at offset o of buf (cap bytes, o <
 * cap), truncating as snprintf would, and NUL-terminates; returns the new
 * offset.  For the summaries built per request: snprintf costs several
 * hundred instructions a call. */
size_t fr_cat(char *buf, size_t cap, size_t o, const char *s, size_t n);
/* v in decimal at offset o, as fr_cat */
size_t fr_cat_int(char *buf, size_t cap, size_t o, long long v);

/* The endpoint of an HTTP path: no query or fragment; numbers, UUIDs and
 * long hex segments become {id}.  Into out (cap bytes, NUL-terminated). */
void fr_path_endpoint(const char *path, char *out, size_t cap);

/* "connection closed", "end of recording", ...: why a request that is
 * still waiting at finish() got no response. */
const char *fr_end_reason(int why);

/* A FIFO of requests waiting for their responses, for protocols that pair
 * in order (HTTP/1 and Redis pipelining).  Starts zeroed, grows by doubling;
 * the protocol bounds its length.  Elements of esz bytes. */
struct fr_fifo {
	uint8_t *v;
	uint32_t head, len, cap;
};
/* A zeroed new element at the back; NULL when out of memory. */
void *fr_fifo_push(struct fr_fifo *q, size_t esz);
/* The i-th element from the front, or NULL. */
void *fr_fifo_at(const struct fr_fifo *q, size_t esz, uint32_t i);
void fr_fifo_pop(struct fr_fifo *q);
void fr_fifo_free(struct fr_fifo *q);

#endif
