/* corpus_add.c - `flightrec corpus add`: a new corpus case cut out of a
 * real recording.
 *
 *   flightrec corpus add RECORDING (--conn ID | --from T --to T) --name NAME
 *       [--protocol P] [--corpus DIR]
 *
 * Copies one connection (and its peer, when both ends were recorded, with
 * the processes behind them and every POD and SERVICE record), with its
 * kept heads at its start, or a time range: the records the analysis of
 * that window replays, in its order (the engine's tap, engine.h), the
 * state of the connections open when it begins and their heads included,
 * so that the case analyzes as `analyze --from --to` did; into
 * DIR/<protocol>/<NAME>/input-N.frs (one segment per node),
 * writes its expected.dump and a case.txt skeleton saying where the cut
 * came from, to be completed with what the client did. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "corpus.h"
#include "engine.h"
#include "flightrec.h"
#include "heads.h"

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What to cut: a connection and its peer (nsel > 0) or a time range. */
struct cut {
	const char *rec;
	uint64_t conn, from, to;
	struct {
		char node[256];
		struct fr_connkey k;
	} sel[2];
	int nsel;
	char proto[64]; /* the connection's protocol, or "mixed" */
};

static int mkdirs(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* A new empty file for a temporary analysis database, its name in db.
 * 0, or -1 after a message. */
static int temp_db(char *db, size_t size)
{
	snprintf(db, size, "%s/fr-corpus-add-XXXXXX", fr_tmpdir());
	int fd = mkstemp(db);
	if (fd < 0) {
		fprintf(stderr, "flightrec corpus add: cannot create %s: %s\n", db, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* Which kernel connection(s) database connection x->conn is: analyzes the
 * recording into a temporary database and asks it.  0 or -1 (message). */
static int find_conn(struct cut *x)
{
	char db[4096];
	if (temp_db(db, sizeof(db)) < 0)
		return -1;
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	char *paths[1] = {(char *)x->rec};
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	if (fr_analyze(paths, 1, db, &o) == EXIT_USAGE || sqlite3_open(db, &h) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT node, pid, fd, gen, coalesce(protocol, 'unknown') FROM connections "
				  "WHERE id = ?1 OR id = (SELECT peer_conn_id FROM connections WHERE id = ?1) ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_close(h);
		unlink(db);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)x->conn);
	while (sqlite3_step(st) == SQLITE_ROW && x->nsel < 2) {
		snprintf(x->sel[x->nsel].node, sizeof(x->sel[x->nsel].node), "%s", sqlite3_column_text(st, 0));
		x->sel[x->nsel].k.pid = (uint32_t)sqlite3_column_int64(st, 1);
		x->sel[x->nsel].k.fd = (uint32_t)sqlite3_column_int64(st, 2);
		x->sel[x->nsel].k.gen = (uint32_t)sqlite3_column_int64(st, 3);
		snprintf(x->proto, sizeof(x->proto), "%s", sqlite3_column_text(st, 4));
		x->nsel++;
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	unlink(db);
	if (!x->nsel) {
		fprintf(stderr, "flightrec corpus add: no connection %llu in %s\n", (unsigned long long)x->conn, x->rec);
		return -1;
	}
	return 0;
}

/* The key of a connection record, or NULL. */
static const struct fr_connkey *conn_key(const struct fr_record *r)
{
	switch (r->kind) {
	case FR_DATA: return &r->u.data.conn;
	case FR_CONN_OPEN: return &r->u.open.conn;
	case FR_CONN_CLOSE: return &r->u.close.conn;
	case FR_CONN_STATE: return &r->u.state.conn;
	case FR_CONN_HEAD: return &r->u.head.conn;
	case FR_CONN_TLS: return &r->u.tls.conn;
	case FR_CONN_TCP: return &r->u.tcp.conn;
	}
	return NULL;
}

/* The selected connection of node with key k, or -1. */
static int selected(const struct cut *x, const char *node, const struct fr_connkey *k)
{
	for (int s = 0; k && s < x->nsel; s++) {
		const struct fr_connkey *w = &x->sel[s].k;
		if (!strcmp(x->sel[s].node, node) && k->pid == w->pid && k->fd == w->fd && k->gen == w->gen)
			return s;
	}
	return -1;
}

/* --conn: 1 when record r of a segment of node belongs in the cut.
 * CONN_HEAD records never do where they are: the cut's heads are written
 * at its start (heads.h). */
static int keep(const struct cut *x, const char *node, const struct fr_record *r)
{
	if (r->kind == FR_POD || r->kind == FR_SERVICE)
		return 1;
	if (r->kind == FR_CONN_HEAD)
		return 0;
	if (selected(x, node, conn_key(r)) >= 0)
		return 1;
	for (int s = 0; s < x->nsel; s++)
		if (r->kind == FR_PROCESS && r->u.proc.pid == x->sel[s].k.pid && !strcmp(x->sel[s].node, node))
			return 1;
	return 0;
}

/* One output segment: a node's records. */
struct out {
	char node[256];
	struct fr_writer *w;
	long long n;
	int failed;
};

static void put(struct out *o, struct fr_record *r)
{
	if (!o->failed && fr_writer_add(o->w, r) == 0)
		o->n++;
	else
		o->failed = 1;
}

/* A connection's kept head, if any, as a CONN_HEAD record at ts. */
static void put_head(struct out *o, struct heads *hs, const struct fr_connkey *k, uint64_t ts)
{
	const struct fr_conn_head *h = heads_find(hs, o->node, k);
	if (!h)
		return;
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_HEAD;
	r.ts = ts;
	r.u.head = *h;
	put(o, &r);
}

/* Record rr of o's node, read in file order. */
static void cut_record(const struct cut *x, struct out *o, const struct fr_record *rr)
{
	if (keep(x, o->node, rr)) {
		struct fr_record r = *rr;
		put(o, &r);
	}
}

/* Opens dir/input-N.frs for node (header from h); with --conn, writes the
 * selected connections' kept heads first.  0 or -1 (message). */
static int open_out(const struct cut *x, struct out *o, const char *path, const struct fr_header *h,
		    struct heads *hs)
{
	char err[512];
	struct fr_header nh = *h;
	nh.segment_index = 0;
	memset(o, 0, sizeof(*o));
	snprintf(o->node, sizeof(o->node), "%s", h->node);
	o->w = fr_writer_open(path, &nh, NULL, err, sizeof(err));
	if (!o->w) {
		fprintf(stderr, "flightrec corpus add: %s\n", err);
		return -1;
	}
	for (int s = 0; s < x->nsel; s++)
		if (!strcmp(x->sel[s].node, o->node))
			put_head(o, hs, &x->sel[s].k, 0);
	return 0;
}

/* --conn: copies the cut into dir/input-N.frs, one segment per node,
 * records in file order.  Returns the number of records written, or -1
 * (message). */
static long long copy_records(const struct cut *x, const char *dir)
{
	char err[512];
	char **list;
	int n = fr_list_segments(x->rec, &list, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "flightrec corpus add: %s\n", err);
		return -1;
	}
	struct heads *hs = heads_new();
	if (!hs)
		abort();
	heads_collect(hs, list, n);
	struct out outs[16];
	int nout = 0, failed = 0;
	for (int i = 0; i < n && !failed; i++) {
		struct fr_reader *r = fr_reader_open(list[i], err, sizeof(err));
		if (!r)
			continue;
		const struct fr_header *h = fr_reader_header(r);
		int oi;
		for (oi = 0; oi < nout && strcmp(outs[oi].node, h->node); oi++)
			;
		if (oi == nout && nout < 16) {
			char path[4200];
			snprintf(path, sizeof(path), "%s/input-%d.frs", dir, nout);
			if (open_out(x, &outs[nout], path, h, hs) < 0)
				failed = 1;
			else
				nout++;
		}
		struct fr_record rr;
		while (oi < nout && fr_reader_next(r, &rr) > 0)
			cut_record(x, &outs[oi], &rr);
		fr_reader_free(r);
	}
	fr_free_list(list, n);
	long long copied = 0;
	for (int i = 0; i < nout; i++) {
		if (fr_writer_close(outs[i].w) < 0 || outs[i].failed)
			failed = 1;
		copied += outs[i].n;
	}
	heads_free(hs);
	return failed ? -1 : copied;
}

/* ---- --from: the records the analysis of the window replays ------------ */

/* A node of the window: its heads and its other records, each in a
 * temporary segment until the window's end, then into input-N.frs, heads
 * first (where the analyzer looks for them, heads.h). */
struct tap_node {
	char node[256];
	struct fr_header h;
	struct fr_writer *w[2]; /* 0: the heads, 1: the rest */
};

struct tap_ctx {
	const char *dir;
	struct tap_node nodes[16];
	int n;
	long long records;
	int failed;
};

static void tap_path(char *path, size_t size, const char *dir, int node, int part)
{
	if (part < 0)
		snprintf(path, size, "%s/input-%d.frs", dir, node);
	else
		snprintf(path, size, "%s/.cut-%d-%s.frs", dir, node, part ? "records" : "heads");
}

/* engine.h, fr_opts.tap: record r of the node of header h. */
static void tap_record(void *arg, const struct fr_header *h, const struct fr_record *r)
{
	struct tap_ctx *t = arg;
	int i;
	for (i = 0; i < t->n && strcmp(t->nodes[i].node, h->node); i++)
		;
	if (t->failed || (i == t->n && i == 16)) {
		t->failed = 1;
		return;
	}
	struct tap_node *tn = &t->nodes[i];
	if (i == t->n) {
		t->n++;
		snprintf(tn->node, sizeof(tn->node), "%s", h->node);
		tn->h = *h;
		tn->h.segment_index = 0;
		for (int part = 0; part < 2; part++) {
			char path[4200], err[512];
			tap_path(path, sizeof(path), t->dir, i, part);
			if (!(tn->w[part] = fr_writer_open(path, &tn->h, NULL, err, sizeof(err)))) {
				fprintf(stderr, "flightrec corpus add: %s\n", err);
				t->failed = 1;
				return;
			}
		}
	}
	if (fr_writer_add(tn->w[r->kind != FR_CONN_HEAD], r) < 0)
		t->failed = 1;
	t->records++;
}

/* Node i's two temporary segments into input-i.frs, and away.  0 or -1. */
static int tap_join(struct tap_ctx *t, int i)
{
	char path[4200], err[512];
	tap_path(path, sizeof(path), t->dir, i, -1);
	struct fr_writer *w = fr_writer_open(path, &t->nodes[i].h, NULL, err, sizeof(err));
	int rc = w ? 0 : -1;
	for (int part = 0; part < 2; part++) {
		tap_path(path, sizeof(path), t->dir, i, part);
		struct fr_reader *r = rc ? NULL : fr_reader_open(path, err, sizeof(err));
		struct fr_record rec;
		while (r && rc == 0 && fr_reader_next(r, &rec) > 0)
			rc = fr_writer_add(w, &rec);
		if (!r && rc == 0)
			rc = -1;
		fr_reader_free(r);
		unlink(path);
	}
	if (w && fr_writer_close(w) < 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "flightrec corpus add: cannot write %s/input-%d.frs%s%s\n", t->dir, i,
			w ? "" : ": ", w ? "" : err);
	return rc;
}

/* --from: analyzes the window (into a temporary database) and writes what
 * its replay used, in its order, with the heads it replayed: the case
 * analyzes as the window did, connections that began before it included
 * (their CONN_STATE at the window's start).  Returns the number of records
 * written, or -1 (message). */
static long long tap_window(const struct cut *x, const char *dir)
{
	char db[4096];
	if (temp_db(db, sizeof(db)) < 0)
		return -1;
	struct tap_ctx t = {.dir = dir};
	struct fr_opts o;
	fr_opts_default(&o);
	o.quiet = 1;
	o.from_ns = x->from, o.have_from = 1;
	o.to_ns = x->to, o.have_to = x->to != UINT64_MAX;
	o.tap = tap_record, o.tap_arg = &t;
	char *paths[1] = {(char *)x->rec};
	int rc = fr_analyze(paths, 1, db, &o);
	unlink(db);
	for (int i = 0; i < t.n; i++)
		for (int part = 0; part < 2; part++)
			if (fr_writer_close(t.nodes[i].w[part]) < 0)
				t.failed = 1;
	for (int i = 0; i < t.n; i++)
		if (tap_join(&t, i) < 0)
			t.failed = 1;
	if (rc == EXIT_USAGE || t.failed) {
		if (t.failed)
			fprintf(stderr, "flightrec corpus add: could not write the window into %s\n", dir);
		return -1;
	}
	return t.records;
}

/* The manifest skeleton: where the case came from; what the client did is
 * for its author to say. */
static int write_manifest(const struct cut *x, const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" FR_CASE_MANIFEST, dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "what: TODO: what the client did (commands, requests, the answers) and what\n"
		   "  the case guards\n");
	if (x->nsel)
		fprintf(f, "capture: cut by `flightrec corpus add --conn %llu` (%s) from %s\n",
			(unsigned long long)x->conn, x->nsel > 1 ? "both ends" : "one end", x->rec);
	else
		fprintf(f, "capture: cut by `flightrec corpus add --from %llu --to %llu` from %s\n",
			(unsigned long long)x->from, (unsigned long long)x->to, x->rec);
	return fclose(f) == 0 ? 0 : -1;
}

static int usage(void)
{
	fr_corpus_usage(stderr);
	return EXIT_USAGE;
}

/* Options into x and *name, *corpus; 0, 1 for --help, or -1 (message). */
static int parse_args(int argc, char **argv, struct cut *x, const char **name, const char **corpus)
{
	static const struct option longopts[] = {
		{"conn", required_argument, 0, 'c'}, {"from", required_argument, 0, 'F'},
		{"to", required_argument, 0, 'T'},   {"name", required_argument, 0, 'n'},
		{"protocol", required_argument, 0, 'p'}, {"corpus", required_argument, 0, 'C'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	const char *proto = NULL, *from = NULL, *to = NULL;
	int have_range = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		const char *bad = NULL;
		switch (c) {
		case 'c': bad = fr_parse_u64(optarg, &x->conn) || !x->conn ? "--conn: a connection id (1, 2, ...)" : NULL; break;
		case 'F': from = optarg, have_range = 1; break;
		case 'T': to = optarg, have_range = 1; break;
		case 'n': *name = optarg; break;
		case 'p': proto = optarg; break;
		case 'C': *corpus = optarg; break;
		case 'h': return 1;
		default: return -1;
		}
		if (bad) {
			fprintf(stderr, "flightrec corpus add: %s, not '%s'\n", bad, optarg);
			return -1;
		}
	}
	if (optind != argc - 1 || !*name || !x->conn == !have_range || strchr(*name, '/')) {
		usage();
		return -1;
	}
	x->rec = argv[optind];
	/* as analyze --from/--to: ns as in the recording, or UTC wall clock */
	const char *badt = from && fr_parse_time(from, &argv[optind], 1, &x->from) < 0 ? from :
			   to && fr_parse_time(to, &argv[optind], 1, &x->to) < 0 ? to : NULL;
	if (badt) {
		fprintf(stderr, "flightrec corpus add: --%s: ns as in the recording or a UTC time "
				"(2026-11-24T22:01:59.5Z), not '%s'\n", badt == from ? "from" : "to", badt);
		return -1;
	}
	if (x->conn && find_conn(x) < 0)
		return -1;
	if (proto)
		snprintf(x->proto, sizeof(x->proto), "%s", proto);
	return 0;
}

int fr_corpus_add(int argc, char **argv)
{
	struct cut x = {.to = UINT64_MAX, .proto = "mixed"};
	const char *name = NULL, *corpus = "tests/corpus";
	int rc = parse_args(argc, argv, &x, &name, &corpus);
	if (rc > 0) {
		fr_corpus_usage(stdout);
		return EXIT_OK;
	}
	if (rc < 0)
		return EXIT_USAGE;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s/%s", corpus, x.proto, name);
	struct stat st;
	if (stat(dir, &st) == 0) {
		fprintf(stderr, "flightrec corpus add: %s exists; pick another --name\n", dir);
		return EXIT_USAGE;
	}
	if (mkdirs(dir) < 0) {
		fprintf(stderr, "flightrec corpus add: cannot create %s: %s\n", dir, strerror(errno));
		return EXIT_USAGE;
	}
	long long copied = x.nsel ? copy_records(&x, dir) : tap_window(&x, dir);
	if (copied < 0)
		return EXIT_USAGE;
	if (write_manifest(&x, dir) < 0) {
		fprintf(stderr, "flightrec corpus add: cannot write %s/" FR_CASE_MANIFEST "\n", dir);
		return EXIT_USAGE;
	}
	if (fr_corpus_write_expected(dir) < 0)
		return EXIT_USAGE;
	printf("%s: %lld records; review %s/" FR_CASE_EXPECTED " and complete %s/" FR_CASE_MANIFEST
	       " before committing\n", dir, copied, dir, dir);
	return EXIT_OK;
}
