/* engine_internal.h - what the files of the replay engine share; not a
 * public interface (that is engine.h: fr_analyze).
 *
 *   engine.c          fr_analyze, phase by phase: inputs, provenance, replay,
 *                     the end of the workers, segments, the sink's close
 *   engine_merge.c    inputs: opened, sorted, merged into canonical order
 *   engine_workers.c  worker threads: batches of records in, dispatch
 *   engine_conn.c     connection ids (main thread), connection tables (workers)
 *   engine_stream.c   a worker's records: stream positions and gaps
 *   engine_parse.c    protocol detection, the parsers and their callbacks
 *   engine_rows.c     output rows: to the sink, merged in canonical order
 *
 * Threads: the main thread reads and merges; it assigns connection ids in
 * canonical order and hands each connection's records to one worker
 * (hash of the connection id modulo N).  A worker sees its connections'
 * records in canonical order, so every parser sees the same bytes for every
 * N; the merger thread writes the workers' rows to the sink in the
 * canonical order of the records that caused them, and the sink numbers
 * requests in that order. */
#ifndef FLIGHTREC_ENGINE_INTERNAL_H
#define FLIGHTREC_ENGINE_INTERNAL_H

#include "engine.h"
#include "sink.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* ---- messages from the reader to the workers ----------------------------- */

struct msg {
	uint32_t size; /* bytes of this message, payload included, multiple of 8 */
	uint16_t kind;
	uint16_t node;
	uint64_t ts;
	uint64_t conn_id;
	uint64_t g; /* position in the canonical order: tags the rows it causes */
	uint64_t arrival_ns; /* DATA: when its bytes became readable (arrival_of); 0: not recorded */
	union {
		struct fr_data d;
		struct fr_conn_open o;
		struct fr_conn_close c;
		struct fr_conn_tls t; /* library: the payload */
		struct fr_conn_tcp tcp;
	} u;
	/* DATA payload (CONN_TLS: the library's name) follows */
};

#define MSG_SWEEP 100 /* engine-internal: end connections idle since ts - idle timeout */

/* The payload of a CONN_STATE message: the state, then the chunks of the
 * connection's kept head (head.chunks.len bytes, head.n_chunks of them;
 * none when head.n_chunks is 0).  Only a connection new to the analysis
 * gets its head. */
struct state_msg {
	struct fr_conn_state s;
	struct fr_conn_head head; /* chunks.p is not used: the chunks follow */
};
#define BATCH_BYTES (256u << 10)

struct batch {
	struct batch *next;
	uint64_t watermark; /* every record <= this was dispatched before */
	size_t len;
	uint8_t buf[BATCH_BYTES];
};

/* ---- connections ----------------------------------------------------------- */

#define ARR_TURNS 8 /* read delays kept per connection, of each kind (struct conn) */

struct conn {
	struct conn *next; /* hash chain */
	uint64_t id;
	uint16_t node;
	struct fr_connkey key;
	int have_open, role, transport;
	struct fr_addr local, remote;
	uint64_t start_ns, end_ns;
	uint64_t bytes[2]; /* by recorded direction: egress, ingress */
	uint64_t gap_bytes;
	uint64_t pre_gap[2]; /* gap bytes before the parser started, by recorded direction */
	uint64_t next_pos[2];
	int pos_init[2];
	const struct fr_proto *proto;
	void *pstate;
	int detect; /* 0 undecided, 1 decided, 2 gave up, 3 not tracked (memory) */
	int tries;
	int c2s_dir; /* recorded direction that carries client -> server */
	uint8_t *pbuf[2];
	uint32_t plen[2];
	uint64_t pts[2];
	uint32_t nreq;
	int closed, dead;
	uint64_t mem;
	uint64_t last_rec_ts; /* of its last record of any kind (idle sweep) */
	struct handover *ho; /* a parser's request to switch protocols (fr_pctx.handover) */
	uint32_t n_anom;      /* anomaly rows written for it */
	uint64_t anom_over;   /* and not written: past CONN_ANOMALIES_MAX */
	int have_state; /* made by a CONN_STATE: it began before the input */
	int head;       /* the connections.head column: 1, 0, -1 (NULL) */
	int silent;     /* replaying bytes from before the input: no rows */
	char tls[128];  /* the connections.tls column: its TLS library; "" none */
	int tls_seen;   /* a DATA record flagged TLS came (plaintext) */
	int tcp;        /* a CONN_TCP record of it came: the TCP columns are set */
	uint32_t retransmits, resets_sent, resets_received, srtt_us, total_retrans;
	int last_dir;   /* recorded direction of its last DATA (none yet: egress) */
	/* read delays of ingress DATA records with an arrival time, by the
	 * record's ts: [0, ARR_TURNS) those that began a turn (the first
	 * ingress after egress: a response, or a request at a server), the
	 * rest the latest others; rings, 0 ts: empty */
	struct arr_ent {
		uint64_t ts, delay;
	} arr[2 * ARR_TURNS];
	uint8_t arr_next[2];
};

/* Anomaly rows a connection may have; the rest are counted in one row at
 * its end (a lossy recording gave 112k gap rows in 12 s). */
#define CONN_ANOMALIES_MAX 100

struct worker {
	int idx;
	struct engine *e;
	struct conn **tab;
	size_t nb, n;
	uint64_t mem;
	uint64_t mem_limit;
	/* queue (threads only) */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *head, *tail, *cur;
	int nq, done;
	/* rows out (threads only): tagged (g, k), merged in canonical order */
	uint64_t cur_g;
	uint64_t cur_k;
	uint64_t last_wm; /* watermark of the last whole batch */
	struct oblock *ocur, *ohead, *otail;
	int onq;
};

/* A block of serialized output rows of one worker.  All rows caused by
 * records <= watermark are in this block or earlier ones. */
struct oblock {
	struct oblock *next;
	uint64_t watermark;
	size_t len, cap;
	uint8_t *buf;
};

struct engine {
	const struct fr_opts *o;
	struct sink *sink;
	pthread_mutex_t omu; /* output queues of all workers */
	pthread_cond_t ocv;
	char **nodes;
	int nnodes;
	struct worker *w;
	int nw;
	uint64_t last_ts; /* of the last record; set before the workers end */
	pthread_t merger;
};

/* The mixer of the connection hashes (and of the choice of worker). */
static inline uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* ---- engine_workers.c ---------------------------------------------------- */

/* Starts e->nw workers (threads and the merger when nw > 1). */
void workers_start(struct engine *e);
/* Hands m (and its DATA payload) to the worker of its connection, or a
 * sweep to every worker; with one worker, runs it now. */
void dispatch(struct engine *e, const struct msg *m, const uint8_t *payload, size_t plen);
/* After the last record (g: its position, last_ts: its time): the workers
 * end the connections still open, their rows are written, threads joined. */
void workers_end(struct engine *e, uint64_t g, uint64_t last_ts);

/* ---- engine_stream.c ----------------------------------------------------- */

/* One record (or sweep) of a worker's connections, in canonical order. */
void worker_record(struct worker *w, const struct msg *m, const uint8_t *payload);
/* The read delay (ns) of the ingress bytes c received at ts (a request's
 * first bytes: its response's at a client, the request's at a server),
 * from their ARRIVAL record; -1 when not known (none recorded: the read
 * came within the recording's arrival_min_ns, or arrival times were not
 * recorded; or no longer kept). */
int64_t conn_read_delay(const struct conn *c, uint64_t ts);

/* ---- engine_conn.c ------------------------------------------------------- */

/* The connection of m->conn_id, created (key k, started at m->ts) when new. */
struct conn *conn_get(struct worker *w, const struct msg *m, const struct fr_connkey *k);
/* The connection of id, or NULL. */
struct conn *conn_find(struct worker *w, uint64_t id);
/* Takes c out of the table (conn_end frees it). */
void conn_unlink(struct worker *w, struct conn *c);
/* Ends c (why: FR_END_*, at ts): the parser's finish, its row, and frees c. */
void conn_end(struct worker *w, struct conn *c, int why, uint64_t ts);
/* Ends the connections idle since ts - the idle timeout. */
void conn_sweep(struct worker *w, uint64_t ts);
/* Ends every connection still open (end of the recording, at ts). */
void worker_finish(struct worker *w, uint64_t ts);

/* The main thread's map (node, kernel key) -> connection id. */
struct idmap_ent {
	struct idmap_ent *next;
	uint16_t node;
	struct fr_connkey k;
	uint64_t id;
	uint64_t last_ts;
};

struct idmap {
	struct idmap_ent **tab;
	size_t nb, n;
	uint64_t next_id;
};

/* The entry of (node, k); with create, a new one with the next id when
 * there is none.  NULL only without create. */
struct idmap_ent *idmap_get(struct idmap *m, uint16_t node, const struct fr_connkey *k, int create);
void idmap_del(struct idmap *m, struct idmap_ent *e);
/* Forgets the entries idle since ts - idle: the rule of conn_sweep. */
void idmap_sweep(struct idmap *m, uint64_t ts, uint64_t idle);
void idmap_free(struct idmap *m);

/* ---- engine_parse.c ------------------------------------------------------ */

/* What the parser callbacks reach through fr_pctx.arg. */
struct cbarg {
	struct worker *w;
	struct conn *c;
};

/* Sets ctx up for c's parser (a: storage for its argument). */
void pctx_init(struct fr_pctx *ctx, struct cbarg *a, struct worker *w, struct conn *c);
/* c as a connections row. */
void conn_row(struct worker *w, const struct conn *c, struct conn_row *r);
/* n payload bytes of c in recorded direction rdir: to the detection until a
 * protocol is found, then to its parser. */
void on_payload(struct worker *w, struct conn *c, int rdir, uint64_t ts, const uint8_t *p, size_t n,
		const struct fr_data *d);

/* ---- engine_rows.c ------------------------------------------------------- */

/* read_delay: the request's read delay at this end (sink_request), or -1 */
void out_request(struct worker *w, const struct conn_row *row, uint32_t seq, const struct fr_proto *p,
		 const struct fr_req *r, int64_t read_delay);
void out_conn(struct worker *w, const struct conn_row *row);
void out_anomaly(struct worker *w, uint64_t conn_id, uint64_t ts, const char *kind, const char *detail);
/* An anomaly of connection c, within CONN_ANOMALIES_MAX. */
void conn_anomaly(struct worker *w, struct conn *c, uint64_t ts, const char *kind, const char *detail);
void out_message(struct worker *w, uint64_t conn_id, const struct fr_proto *p, const struct fr_msg *m);
/* Worker side: the rows caused by records <= watermark are all out. */
void push_out(struct worker *w, uint64_t watermark);
/* The merger thread (arg: the engine). */
void *merge_main(void *arg);

/* ---- engine_merge.c ------------------------------------------------------ */

struct input {
	char *path;
	const char *base;
	struct fr_reader *r;
	const struct fr_header *h;
	int node;
	struct fr_record rec;
	int have;
	uint64_t first_ts, last_ts, count;
	uint64_t file_bytes;
	uint64_t dev, ino; /* of the file, to know it under another name */
	struct fr_arrival arrival; /* the ARRIVAL record just read, for its DATA record */
	int have_arrival;
};

/* Opens the segments under paths into *in (n of them), sorted by node,
 * segment index and name.  A segment found twice (the same file under two
 * names, a hard link, or a copy: the same node, boot id, segment index and
 * creation time, and the same first bytes) is read once, the larger of the two (a copy taken while it
 * was written is shorter), and stderr says how many were found twice.  Returns EXIT_OK, EXIT_DAMAGED
 * (a segment could not be opened: the others are there) or EXIT_USAGE
 * (a path could not be listed, or no segment at all; message printed).
 * The caller frees *in with inputs_free, whatever the result. */
int inputs_open(char **paths, int npaths, struct input **in, int *n);
void inputs_free(struct input *in, int n);

/* The k-way merge of the inputs' records in canonical order. */
struct merge {
	int *v; /* heap of input indexes, smallest record first */
	int n;
	struct input *in;
};

/* Reads every input's first record. */
void merge_init(struct merge *h, struct input *in, int n);
/* The input holding the next record in canonical order (its rec), or NULL
 * at the end. */
struct input *merge_top(struct merge *h);
/* Replaces the top input's record with its next one. */
void merge_next(struct merge *h);
void merge_fini(struct merge *h);

/* SHA-256 of a file as hex, and its size.  0 or -1. */
int sha256_file(const char *path, char hex[65], uint64_t *size);
double now_s(void);
/* The progress bar on stderr: bytes read of total, records so far. */
void progress(struct input *in, int n, uint64_t total, uint64_t records, double t0, int final);

#endif
