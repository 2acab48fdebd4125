/* engine.c - the replay engine (engine_internal.h maps its files):
 * fr_analyze, phase by phase.  The inputs are opened and sorted, and the
 * kept connection heads collected from their segments' starts; the sink
 * gets the provenance; the replay merges every record into the canonical
 * order (timestamp, node, sequence) and sends metadata to the sink and
 * connection records, with ids given in that order, to the workers (a
 * --from window starts with the state of the connections open then, as a
 * segment does); the workers end what is still open; the segments and
 * their damage go in last, and the sink finishes the database. */
#define _GNU_SOURCE
#include "../formats/bytes.h"
#include "../formats/cli.h"
#include "../formats/conntab.h"
#include "engine_internal.h"
#include "heads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SWEEP_EVERY (1u << 18) /* connection records between sweeps */

void fr_opts_default(struct fr_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = 1;
	o->max_memory = 256ull << 20;
	o->dim_cap = 100;
	o->idle_ns = 300ull * 1000000000; /* 5 minutes of recording time */
}

/* What fr_analyze carries from phase to phase. */
struct run {
	struct engine e;
	const struct fr_opts *o;
	struct input *in;
	int nin;
	uint64_t total_bytes; /* of the input files, for the progress bar */
	struct idmap ids;
	uint64_t records;    /* kept by the time filter */
	uint64_t last_ts;    /* of the last record kept */
	uint64_t gcount;     /* positions given in the canonical order */
	uint64_t last_sweep; /* time of the last idle sweep */
	struct heads *heads; /* kept connection heads of the inputs (2.1) */
	/* --from: each node's connections before the window, until it starts */
	struct fr_conntab **before;
	int window_started;
	uint8_t *sbuf; /* a CONN_STATE message's payload */
	size_t sbuf_cap;
};

/* Nodes, sorted by name (the inputs are sorted by node); each input gets
 * its node's index. */
static void assign_nodes(struct run *run)
{
	struct engine *e = &run->e;
	e->nodes = calloc((size_t)run->nin, sizeof(char *));
	if (!e->nodes)
		abort();
	for (int i = 0; i < run->nin; i++) {
		if (!e->nnodes || strcmp(e->nodes[e->nnodes - 1], run->in[i].h->node))
			e->nodes[e->nnodes++] = strdup(run->in[i].h->node);
		run->in[i].node = e->nnodes - 1;
	}
}

/* With --from, the segment of each node in which the window starts (the
 * last one opened before it), or -1: it is read from its start, so that
 * the connections open at the window's start are known (start_window). */
static int window_segment(const struct run *run, int i)
{
	int best = -1;
	for (int j = 0; j < run->nin; j++)
		if (run->in[j].node == run->in[i].node && run->in[j].h->created_ns <= run->o->from_ns &&
		    (best < 0 || run->in[j].h->created_ns > run->in[best].h->created_ns))
			best = j;
	return best;
}

/* The input files' sizes, the time filter on every reader, and the kept
 * connection heads of recordings of format 2.1. */
static void prepare_inputs(struct run *run)
{
	const struct fr_opts *o = run->o;
	int any21 = 0;
	for (int i = 0; i < run->nin; i++) {
		struct stat st;
		if (stat(run->in[i].path, &st) == 0)
			run->in[i].file_bytes = (uint64_t)st.st_size;
		run->total_bytes += run->in[i].file_bytes;
		uint64_t from = o->have_from && window_segment(run, i) != i ? o->from_ns : 0;
		if (o->have_from || o->have_to)
			fr_reader_set_range(run->in[i].r, from, o->have_to ? o->to_ns : UINT64_MAX);
		any21 |= run->in[i].h->version > 2 || (run->in[i].h->version == 2 && run->in[i].h->minor >= 1);
	}
	if (any21 || o->have_from)
		run->heads = heads_new();
	if (any21 && run->heads) {
		char **files = malloc((size_t)run->nin * sizeof(*files));
		if (!files)
			abort();
		for (int i = 0; i < run->nin; i++)
			files[i] = run->in[i].path;
		heads_collect(run->heads, files, run->nin);
		free(files);
	}
}

static void kv_u64(struct sink *s, const char *key, unsigned long long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", v);
	sink_kv(s, key, buf);
}

static void kv_int(struct sink *s, const char *key, int v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", v);
	sink_kv(s, key, buf);
}

/* The recording table's provenance (version, options, inputs), then the
 * pods and services given on the command line: they count as metadata
 * recorded before everything else (the same uid again is one pod). */
static void provenance(struct run *run)
{
	const struct fr_opts *o = run->o;
	struct sink *s = run->e.sink;
	sink_kv(s, "analyzer_version", FLIGHTREC_VERSION);
	kv_int(s, "threads", o->jobs);
	kv_int(s, "inputs", run->nin);
	if (o->have_from)
		kv_u64(s, "option_from_ns", (unsigned long long)o->from_ns);
	if (o->have_to)
		kv_u64(s, "option_to_ns", (unsigned long long)o->to_ns);
	kv_u64(s, "option_max_memory", (unsigned long long)o->max_memory);
	kv_int(s, "option_dim_cap", o->dim_cap);
	kv_u64(s, "option_idle_ns", (unsigned long long)o->idle_ns);
	char *names = NULL;
	size_t nl = 0;
	FILE *f = open_memstream(&names, &nl);
	for (int i = 0; f && i < run->nin; i++)
		fprintf(f, "%s%s", i ? "," : "", run->in[i].base);
	if (f)
		fclose(f);
	sink_kv(s, "input_files", names);
	free(names);
	for (size_t i = 0; o->kube && i < fr_kube_n_pods(o->kube); i++)
		sink_pod(s, fr_kube_pod(o->kube, i));
	for (size_t i = 0; o->kube && i < fr_kube_n_services(o->kube); i++)
		sink_service(s, fr_kube_service(o->kube, i));
}

/* A connection record of input x: its connection id (from the id map, in
 * canonical order) and its position, then to its worker.  Every
 * SWEEP_EVERY records, or once the idle timeout has passed since the last
 * sweep, the id map and the workers forget idle connections first. */
static void maybe_sweep(struct run *run, uint64_t ts)
{
	const struct fr_opts *o = run->o;
	if (o->idle_ns && run->gcount &&
	    (run->gcount % SWEEP_EVERY == 0 || ts >= run->last_sweep + o->idle_ns)) {
		run->last_sweep = ts;
		struct msg sw;
		memset(&sw, 0, sizeof(sw));
		sw.kind = MSG_SWEEP;
		sw.ts = ts;
		sw.g = ++run->gcount;
		idmap_sweep(&run->ids, ts, o->idle_ns);
		dispatch(&run->e, &sw, NULL, 0);
	}
}

/* A CONN_TCP record: to its connection's worker if the connection is in
 * the analysis (not yet closed); one after its close, or of a connection
 * the input does not otherwise hold, is left out. */
static void replay_tcp(struct run *run, const struct input *x)
{
	const struct fr_record *r = &x->rec;
	maybe_sweep(run, r->ts);
	struct idmap_ent *ent = idmap_get(&run->ids, (uint16_t)x->node, &r->u.tcp.conn, 0);
	if (!ent)
		return;
	ent->last_ts = r->ts;
	struct msg m;
	memset(&m, 0, sizeof(m));
	m.kind = r->kind;
	m.node = (uint16_t)x->node;
	m.ts = r->ts;
	m.conn_id = ent->id;
	m.g = ++run->gcount;
	m.u.tcp = r->u.tcp;
	dispatch(&run->e, &m, NULL, 0);
}

/* ---- arrival times --------------------------------------------------------
 * The recorder writes an ARRIVAL record right before the ingress DATA
 * record whose bytes waited for the reader (formats/SEGMENT.md): it is
 * kept on its input until that record comes.  The only place that knows
 * how an arrival time is encoded. */

static void arrival_keep(struct input *x, const struct fr_record *r)
{
	x->arrival = r->u.arrival;
	x->have_arrival = 1;
}

/* When the bytes of DATA record r of input x became readable, or 0: not
 * recorded (no ARRIVAL record right before it for the same bytes). */
static uint64_t arrival_of(struct input *x, const struct fr_record *r)
{
	const struct fr_arrival *a = &x->arrival;
	const struct fr_data *d = &r->u.data;
	int have = x->have_arrival;
	x->have_arrival = 0;
	if (!have || d->dir != FR_INGRESS || a->stream_pos != d->stream_pos || a->arrival_ns > r->ts ||
	    memcmp(&a->conn, &d->conn, sizeof(a->conn)))
		return 0;
	return a->arrival_ns;
}

static void replay_conn(struct run *run, struct input *x)
{
	const struct fr_record *r = &x->rec;
	const struct fr_connkey *k = r->kind == FR_DATA ? &r->u.data.conn :
				     r->kind == FR_CONN_OPEN ? &r->u.open.conn :
				     r->kind == FR_CONN_TLS ? &r->u.tls.conn : &r->u.close.conn;
	maybe_sweep(run, r->ts);
	struct msg m;
	memset(&m, 0, sizeof(m));
	m.kind = r->kind;
	m.node = (uint16_t)x->node;
	m.ts = r->ts;
	struct idmap_ent *ent = idmap_get(&run->ids, (uint16_t)x->node, k, 1);
	ent->last_ts = r->ts;
	m.conn_id = ent->id;
	m.g = ++run->gcount;
	const uint8_t *payload = NULL;
	size_t plen = 0;
	if (r->kind == FR_DATA) {
		m.u.d = r->u.data;
		m.arrival_ns = arrival_of(x, r);
		payload = r->u.data.payload.p;
		plen = r->u.data.payload.len;
		m.u.d.payload.p = NULL;
	} else if (r->kind == FR_CONN_OPEN) {
		m.u.o = r->u.open;
	} else if (r->kind == FR_CONN_TLS) {
		m.u.t = r->u.tls;
		payload = r->u.tls.library.p;
		plen = r->u.tls.library.len;
		m.u.t.library.p = NULL;
	} else {
		m.u.c = r->u.close;
		idmap_del(&run->ids, ent);
	}
	dispatch(&run->e, &m, payload, plen);
}

/* The record to o->tap, if any; h: a header of the record's node. */
static void tap(const struct run *run, int node, const struct fr_header *h, const struct fr_record *r)
{
	if (!run->o->tap)
		return;
	for (int i = 0; !h && i < run->nin; i++)
		if (run->in[i].node == node)
			h = run->in[i].h;
	run->o->tap(run->o->tap_arg, h, r);
}

/* ---- connections that began before the input ---------------------------- */

#define HEAD_MSG_MAX (BATCH_BYTES - 4096) /* a longer head is cut, at a chunk */

/* The chunks of head h that fit in a message, appended to run->sbuf after
 * *sm; sm->head describes them. */
static size_t state_head(struct run *run, struct state_msg *sm, const struct fr_conn_head *h)
{
	size_t off = 0, kept = 0;
	struct fr_head_chunk ch;
	sm->head = *h;
	sm->head.n_chunks = 0;
	sm->head.len[0] = sm->head.len[1] = 0;
	while (fr_head_chunk_next(h, &off, &ch) && off <= HEAD_MSG_MAX) {
		kept = off;
		sm->head.n_chunks++;
		sm->head.len[ch.dir] += ch.bytes.len;
	}
	sm->head.chunks.p = NULL;
	sm->head.chunks.len = (uint32_t)kept;
	run->sbuf = fr_grow(run->sbuf, &run->sbuf_cap, sizeof(*sm) + kept, 4096);
	memcpy(run->sbuf + sizeof(*sm), h->chunks.p, kept);
	return kept;
}

/* A CONN_STATE of node (recorded, or made at the start of a --from
 * window): to the workers as the other connection records are; a
 * connection new to the analysis takes its kept head along. */
static void replay_state(struct run *run, int node, const struct fr_conn_state *s, uint64_t ts)
{
	maybe_sweep(run, ts);
	uint64_t ids_before = run->ids.next_id;
	struct idmap_ent *ent = idmap_get(&run->ids, (uint16_t)node, &s->conn, 1);
	ent->last_ts = ts;
	struct msg m;
	memset(&m, 0, sizeof(m));
	m.kind = FR_CONN_STATE;
	m.node = (uint16_t)node;
	m.ts = ts;
	m.conn_id = ent->id;
	m.g = ++run->gcount;
	struct state_msg sm;
	memset(&sm, 0, sizeof(sm));
	sm.s = *s;
	size_t extra = 0;
	const struct fr_conn_head *h = NULL;
	if (run->ids.next_id != ids_before && (s->flags & FR_STATE_OPEN))
		h = heads_find(run->heads, run->e.nodes[node], &s->conn);
	if (run->o->tap) {
		struct fr_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.ts = ts;
		if (h) {
			rec.kind = FR_CONN_HEAD;
			rec.u.head = *h;
			tap(run, node, NULL, &rec);
		}
		rec.kind = FR_CONN_STATE;
		rec.u.state = *s;
		tap(run, node, NULL, &rec);
	}
	if (h)
		extra = state_head(run, &sm, h);
	else
		run->sbuf = fr_grow(run->sbuf, &run->sbuf_cap, sizeof(sm), 4096);
	memcpy(run->sbuf, &sm, sizeof(sm));
	dispatch(&run->e, &m, run->sbuf, sizeof(sm) + extra);
}

/* --from: a record before the window.  Metadata goes to the sink (it is in
 * force at the window's start); connection records build the node's table
 * of open connections (formats/conntab.h). */
static void before_window(struct run *run, const struct input *x)
{
	const struct fr_record *r = &x->rec;
	if (r->kind == FR_PROCESS || r->kind == FR_POD || r->kind == FR_SERVICE)
		tap(run, x->node, x->h, r);
	switch (r->kind) {
	case FR_PROCESS:
		sink_process(run->e.sink, run->e.nodes[x->node], &r->u.proc);
		return;
	case FR_POD:
		sink_pod(run->e.sink, &r->u.pod);
		return;
	case FR_SERVICE:
		sink_service(run->e.sink, &r->u.svc);
		return;
	}
	if (!run->before) {
		run->before = calloc((size_t)run->e.nnodes, sizeof(*run->before));
		if (!run->before)
			abort();
	}
	if (!run->before[x->node] && !(run->before[x->node] = fr_conntab_new(NULL)))
		abort();
	fr_conntab_add(run->before[x->node], r);
}

struct window_arg {
	struct run *run;
	int node;
};

static int window_head(void *arg, struct fr_record *rec)
{
	struct window_arg *a = arg;
	heads_put(a->run->heads, a->run->e.nodes[a->node], &rec->u.head);
	return 0;
}

static int window_state(void *arg, struct fr_record *rec)
{
	struct window_arg *a = arg;
	replay_state(a->run, a->node, &rec->u.state, a->run->o->from_ns);
	return 0;
}

/* --from: the window starts.  The connections open then are stated as a
 * recorder states them at a segment's start (CONN_STATE, with the heads
 * seen before the window kept beside those the recording holds). */
static void start_window(struct run *run)
{
	run->window_started = 1;
	for (int n = 0; run->before && n < run->e.nnodes; n++) {
		struct fr_conntab *t = run->before[n];
		if (!t)
			continue;
		struct window_arg a = {run, n};
		if (run->heads)
			fr_conntab_emit(t, run->o->from_ns, FR_EMIT_HEADS, window_head, &a);
		fr_conntab_emit(t, run->o->from_ns, FR_EMIT_STATES, window_state, &a);
		fr_conntab_free(t);
		run->before[n] = NULL;
	}
}

/* One record of input x, kept by the time filter: connection records to
 * the workers, metadata and losses to the sink. */
static void replay_record(struct run *run, struct input *x)
{
	const struct fr_record *r = &x->rec;
	struct sink *s = run->e.sink;
	const char *node = run->e.nodes[x->node];
	run->records++;
	x->count++;
	if (!x->first_ts || r->ts < x->first_ts)
		x->first_ts = r->ts;
	if (r->ts > x->last_ts)
		x->last_ts = r->ts;
	if (r->ts > run->last_ts)
		run->last_ts = r->ts;
	if (r->kind != FR_CONN_STATE && r->kind != FR_CONN_HEAD)
		tap(run, x->node, x->h, r); /* a state goes with its head (replay_state) */
	switch (r->kind) {
	case FR_DATA:
	case FR_CONN_OPEN:
	case FR_CONN_CLOSE:
	case FR_CONN_TLS:
		replay_conn(run, x);
		break;
	case FR_CONN_TCP:
		replay_tcp(run, x);
		break;
	case FR_CONN_STATE:
		replay_state(run, x->node, &r->u.state, r->ts);
		break;
	case FR_ARRIVAL:
		arrival_keep(x, r);
		break;
	case FR_PROCESS:
		sink_process(s, node, &r->u.proc);
		break;
	case FR_POD:
		sink_pod(s, &r->u.pod);
		break;
	case FR_SERVICE:
		sink_service(s, &r->u.svc);
		break;
	case FR_MARK:
		sink_mark(s, node, r->ts, &r->u.mark);
		break;
	case FR_LOSS: {
		char d[200];
		snprintf(d, sizeof(d), "node %s cpu %d reason %u: %llu events, %llu bytes lost in [%llu, %llu]",
			 node, r->u.loss.cpu == UINT32_MAX ? -1 : (int)r->u.loss.cpu, r->u.loss.reason,
			 (unsigned long long)r->u.loss.count, (unsigned long long)r->u.loss.bytes,
			 (unsigned long long)r->u.loss.first_ns, (unsigned long long)r->u.loss.last_ns);
		sink_anomaly(s, 0, r->ts, "loss", d);
		break;
	}
	}
}

static int is_metadata(unsigned kind)
{
	return kind == FR_PROCESS || kind == FR_POD || kind == FR_SERVICE;
}

/* Every record of every input, in canonical order. */
static void replay(struct run *run)
{
	const struct fr_opts *o = run->o;
	struct merge h;
	merge_init(&h, run->in, run->nin);
	double t0 = now_s(), tlast = t0;
	struct input *x;
	while ((x = merge_top(&h))) {
		const struct fr_record *r = &x->rec;
		if ((!o->have_from || r->ts >= o->from_ns) && (!o->have_to || r->ts <= o->to_ns)) {
			/* the window starts at its first record of a connection
			 * (or loss, or mark): a segment's metadata, written when
			 * it opened, may come before records older than it */
			if (o->have_from && !run->window_started && !is_metadata(r->kind))
				start_window(run);
			replay_record(run, x);
		} else if (o->have_from && r->ts < o->from_ns && !run->window_started) {
			before_window(run, x);
		}
		merge_next(&h);
		if (o->progress && (run->records & 4095) == 0) {
			double t = now_s();
			if (t - tlast > 0.25) {
				tlast = t;
				progress(run->in, run->nin, run->total_bytes, run->records, t0, 0);
			}
		}
	}
	if (o->progress)
		progress(run->in, run->nin, run->total_bytes, run->records, t0, 1);
	merge_fini(&h);
}

/* The segments table: each input's checksum, size, counts and damage.
 * Returns EXIT_DAMAGED when a segment had damage, else EXIT_OK. */
static int record_segments(struct run *run)
{
	int rc = EXIT_OK;
	for (int i = 0; i < run->nin; i++) {
		struct input *x = &run->in[i];
		char hex[65] = "";
		uint64_t size = 0;
		sha256_file(x->path, hex, &size);
		size_t nd = 0;
		const struct fr_damage *dm = fr_reader_damage(x->r, &nd);
		for (size_t k = 0; k < nd; k++) {
			char d[300];
			snprintf(d, sizeof(d), "%s: %llu bytes at offset %llu: %s", x->base,
				 (unsigned long long)dm[k].length, (unsigned long long)dm[k].offset, dm[k].what);
			sink_anomaly(run->e.sink, 0, 0, "segment_damage", d);
		}
		if (nd)
			rc = EXIT_DAMAGED;
		sink_segment(run->e.sink, x->base, x->h, hex, size, fr_reader_stats(x->r), nd,
			     fr_reader_has_footer(x->r), x->first_ts, x->last_ts);
	}
	return rc;
}

int fr_analyze(char **paths, int npaths, const char *db_path, const struct fr_opts *o)
{
	char err[512];
	struct run run;
	memset(&run, 0, sizeof(run));
	run.o = o;
	run.e.o = o;
	int rc = inputs_open(paths, npaths, &run.in, &run.nin);
	if (rc == EXIT_USAGE)
		goto out;
	run.e.sink = sink_open(db_path, err, sizeof(err));
	if (!run.e.sink) {
		fprintf(stderr, "flightrec analyze: %s\n", err);
		rc = EXIT_USAGE;
		goto out;
	}
	assign_nodes(&run);
	prepare_inputs(&run);
	provenance(&run);

	run.e.nw = o->jobs < 1 ? 1 : o->jobs;
	workers_start(&run.e);
	replay(&run);
	workers_end(&run.e, run.gcount, run.last_ts);
	idmap_free(&run.ids);
	for (int i = 0; run.before && i < run.e.nnodes; i++)
		fr_conntab_free(run.before[i]);
	free(run.before);
	heads_free(run.heads);
	free(run.sbuf);

	if (record_segments(&run) == EXIT_DAMAGED)
		rc = EXIT_DAMAGED;
	kv_u64(run.e.sink, "count_records", (unsigned long long)run.records);
	if (o->progress)
		fprintf(stderr, "finishing %s: attribution, peer links, indexes, views, dump hash...\n", db_path);
	if (sink_close(run.e.sink, o->dim_cap, run.e.nw) < 0) {
		fprintf(stderr, "flightrec analyze: writing %s failed\n", db_path);
		rc = EXIT_USAGE;
	}
	for (int i = 0; i < run.e.nnodes; i++)
		free(run.e.nodes[i]);
	free(run.e.nodes);
	free(run.e.w);
out:
	inputs_free(run.in, run.nin);
	return rc;
}
