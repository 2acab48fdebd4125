/* sink.c - the SQLite sink: prepared statements inside large transactions,
 * one lock for all threads; indexes, attribution, peer links and stable
 * request ids after the load. */
#define _GNU_SOURCE
#include "../formats/bytes.h"
#include "engine.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	S_KV, S_SEG, S_PROC, S_POD, S_POD_IP, S_POD_LABEL, S_POD_CONT, S_SVC, S_SVC_IP,
	S_SVC_SEL, S_MARK, S_CONN, S_ANOM, S_MSG, S_N
};

static const char *const stmt_sql[S_N] = {
	[S_KV] = "INSERT OR REPLACE INTO recording (key, value) VALUES (?, ?)",
	[S_SEG] = "INSERT INTO segments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_PROC] = "INSERT OR IGNORE INTO processes VALUES (?,?,?,?,?,?,?,?,?,?)",
	[S_POD] = "INSERT OR IGNORE INTO pods VALUES (?,?,?,?,?,?,?,?,?)",
	[S_POD_IP] = "INSERT OR IGNORE INTO pod_ips VALUES (?,?)",
	[S_POD_LABEL] = "INSERT OR IGNORE INTO pod_labels VALUES (?,?,?)",
	[S_POD_CONT] = "INSERT OR IGNORE INTO pod_containers VALUES (?,?,?,?)",
	[S_SVC] = "INSERT OR IGNORE INTO services VALUES (?,?,?,?,?)",
	[S_SVC_IP] = "INSERT OR IGNORE INTO service_ips VALUES (?,?,?)",
	[S_SVC_SEL] = "INSERT OR IGNORE INTO service_selector VALUES (?,?,?,?)",
	[S_MARK] = "INSERT INTO marks VALUES (?,?,?,?)",
	[S_CONN] = "INSERT INTO connections (id, node, pid, fd, gen, transport, role, protocol,"
		   " local_addr, local_port, remote_addr, remote_port, start_ns, end_ns, bytes_out,"
		   " bytes_in, gap_bytes, requests, closed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_ANOM] = "INSERT INTO anomalies VALUES (?,?,?,?)",
	[S_MSG] = "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?)",
};

static const char req_insert[] =
	"INSERT INTO request_rows (conn_id, seq, protocol, side, start_ns, end_ns, latency_ns,"
	" upload_ns, wait_ns, download_ns, summary, endpoint, status, error, reason, req_bytes,"
	" resp_bytes, peer_addr, peer_port)";
#define REQ_COLS 19

#define MAX_PROTOS 16

#define BATCH_ROWS 64

struct val {
	int type; /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_TEXT; -1 nothing */
	int len;
	int64_t i; /* the integer, or the text's offset in the arena */
	const char *p; /* text that outlives the batch (not in the arena) */
};

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

struct sink {
	sqlite3 *db;
	struct peerset peers;
	pthread_mutex_t lock;
	sqlite3_stmt *st[S_N];
	struct rbuf req;                 /* request_rows */
	struct rbuf detail[MAX_PROTOS]; /* each protocol's table */
	const struct fr_proto *detail_proto[MAX_PROTOS];
	uint64_t rows;
	uint64_t next_req; /* request ids: the order rows arrive in, which the
			    * engine makes canonical (see engine.c) */
	int failed;
	char *path;  /* the database being built: a temporary name beside final */
	char *final; /* the -o path, replaced by a rename once complete */
};

static int rbuf_init(struct sink *s, struct rbuf *b, const char *head, int ncols);
static void rbuf_flush(struct sink *s, struct rbuf *b);
static void rbuf_fini(struct rbuf *b);

static double t_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* FLIGHTREC_TIMING=1: phase times on stderr (for the benchmark), and the
 * CPU time of all threads in the phase (on a shared machine it moves less
 * than the elapsed time). */
static void phase(const char *what)
{
	static double t0, c0;
	static int on = -1;
	if (on < 0)
		on = getenv("FLIGHTREC_TIMING") != NULL;
	if (!on)
		return;
	double t = t_now(), c = cpu_now();
	if (t0 > 0)
		fprintf(stderr, "flightrec: %-12s %.2f s  (cpu %.2f s)\n", what, t - t0, c - c0);
	t0 = t;
	c0 = c;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "flightrec: sqlite: %s\n", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* exec(), and with FLIGHTREC_TIMING=2 the time of every statement on
 * stderr (for the benchmark: which index or update costs what). */
static int exec_timed(sqlite3 *db, const char *sql)
{
	const char *t = getenv("FLIGHTREC_TIMING");
	if (!t || strcmp(t, "2"))
		return exec(db, sql);
	while (*sql) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		double t0 = t_now();
		if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK) {
			fprintf(stderr, "flightrec: sqlite: %s\n", sqlite3_errmsg(db));
			return -1;
		}
		if (!st)
			break;
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			fprintf(stderr, "flightrec: sqlite: %s\n", sqlite3_errmsg(db));
			return -1;
		}
		fprintf(stderr, "flightrec:   %6.2f s  %.*s\n", t_now() - t0,
			(int)strcspn(sql + strspn(sql, " \n"), "\n"), sql + strspn(sql, " \n"));
		sql = tail;
	}
	return 0;
}

/* The database is built under a temporary name beside the output path
 * and renamed over it once complete: an analysis that fails or is
 * interrupted never leaves at that path a database that looks whole, and
 * only a regular file (never a device, a FIFO, a directory or a symlink's
 * target) is ever replaced there.  The temporary file is 0600: it holds
 * payloads. */
static char *volatile building; /* for the signal handler */

static void on_fatal_signal(int sig)
{
	char *p = building;
	if (p)
		unlink(p);
	signal(sig, SIG_DFL);
	raise(sig);
}

static char *tmp_beside(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (!*path) {
		snprintf(err, errlen, "the output path is empty");
		return NULL;
	}
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a regular file: not replacing it", path);
		return NULL;
	}
	const char *base = strrchr(path, '/');
	int dir_len = base ? (int)(base - path) + 1 : 0;
	char *tmp = NULL;
	if (asprintf(&tmp, "%.*s.%s.part-XXXXXX", dir_len, path, base ? base + 1 : path) < 0) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return NULL;
	}
	close(fd);
	return tmp;
}

struct sink *sink_open(const char *path, char *err, size_t errlen)
{
	struct sink *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->final = strdup(path);
	if (!s->final || !(s->path = tmp_beside(path, err, errlen))) {
		free(s->final);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	building = s->path;
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	for (int i = 0; i < 3; i++) /* left ignored where they are (nohup, a background job) */
		if (signal(sigs[i], on_fatal_signal) == SIG_IGN)
			signal(sigs[i], SIG_IGN);
	/* NOMUTEX: every use of the connection is serialized by s->lock already;
	 * SQLite's own per-call locking cost a fifth of the time */
	if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot create %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	/* 64 KiB pages: a tenth less CPU than 4 KiB over the whole analysis
	 * (fewer pages to balance, write and read back) and half the system
	 * time.  The page size comes before the cache size: SQLite turns a
	 * cache size in KiB into pages when it is set. */
	if (exec(s->db, "PRAGMA page_size=65536; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
			"PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536;") < 0 ||
	    exec(s->db, fr_schema_sql) < 0) {
		snprintf(err, errlen, "cannot create the schema in %s", path);
		goto fail;
	}
	for (int i = 0; fr_protocols[i]; i++)
		if (exec(s->db, fr_protocols[i]->schema) < 0) {
			snprintf(err, errlen, "cannot create table %s", fr_protocols[i]->table);
			goto fail;
		}
	for (int i = 0; i < S_N; i++)
		if (sqlite3_prepare_v2(s->db, stmt_sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(s->db));
			goto fail;
		}
	if (rbuf_init(s, &s->req, req_insert, REQ_COLS) < 0) {
		snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(s->db));
		goto fail;
	}
	exec(s->db, "BEGIN");
	phase("open");
	return s;
fail:
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(s->st[i]);
	rbuf_fini(&s->req);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	building = NULL;
	unlink(s->path);
	free(s->path);
	free(s->final);
	free(s);
	return NULL;
}

/* Steps, resets and unbinds st. */
static void step(struct sink *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && !s->failed) {
		fprintf(stderr, "flightrec: sqlite insert: %s\n", sqlite3_errmsg(s->db));
		s->failed = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (++s->rows % 500000 == 0) {
		exec(s->db, "COMMIT");
		exec(s->db, "BEGIN");
	}
}

static void bt(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}
static void bspan(sqlite3_stmt *st, int i, struct fr_span sp)
{
	if (sp.p && sp.len)
		sqlite3_bind_text(st, i, (const char *)sp.p, (int)sp.len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}
static void bi(sqlite3_stmt *st, int i, int64_t v) { sqlite3_bind_int64(st, i, v); }

void sink_kv(struct sink *s, const char *key, const char *value)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_KV];
	bt(st, 1, key);
	bt(st, 2, value);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

void sink_segment(struct sink *s, const char *file, const struct fr_header *h, const char *sha256,
		  uint64_t bytes, const struct fr_reader_stats *stt, size_t damaged, int has_footer,
		  uint64_t first_ts, uint64_t last_ts)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_SEG];
	bt(st, 1, file);
	bt(st, 2, h->node);
	bi(st, 3, (int64_t)h->segment_index);
	bt(st, 4, h->source);
	bt(st, 5, h->recorder);
	bt(st, 6, sha256);
	bi(st, 7, (int64_t)bytes);
	bi(st, 8, (int64_t)stt->blocks);
	bi(st, 9, (int64_t)stt->records);
	bi(st, 10, (int64_t)damaged);
	bi(st, 11, has_footer);
	bi(st, 12, (int64_t)first_ts);
	bi(st, 13, (int64_t)last_ts);
	bi(st, 14, h->wall_offset_ns);
	bi(st, 15, h->snaplen);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

/* Strips a runtime prefix ("containerd://", "docker://") from an id. */
static struct fr_span strip_runtime(struct fr_span sp)
{
	for (uint32_t i = 0; i + 2 < sp.len; i++)
		if (sp.p[i] == ':' && sp.p[i + 1] == '/' && sp.p[i + 2] == '/') {
			sp.p += i + 3;
			sp.len -= i + 3;
			break;
		}
	return sp;
}

void sink_process(struct sink *s, const char *node, const struct fr_process *p)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_PROC];
	bt(st, 1, node);
	bi(st, 2, p->pid);
	bi(st, 3, p->ppid);
	bi(st, 4, (int64_t)p->start_ns);
	bspan(st, 5, p->comm);
	bspan(st, 6, p->exe);
	/* cmdline: NUL-separated -> spaces */
	if (p->cmdline.len) {
		char *c = malloc(p->cmdline.len);
		if (c) {
			uint32_t n = p->cmdline.len;
			memcpy(c, p->cmdline.p, n);
			while (n && c[n - 1] == 0)
				n--;
			for (uint32_t i = 0; i < n; i++)
				if (!c[i])
					c[i] = ' ';
			sqlite3_bind_text(st, 7, c, (int)n, SQLITE_TRANSIENT);
			free(c);
		}
	}
	bi(st, 8, (int64_t)p->cgroup_id);
	bspan(st, 9, p->cgroup_path);
	bspan(st, 10, strip_runtime(p->container_id));
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

static char *span_dup(struct fr_span sp)
{
	char *c = malloc(sp.len + 1);
	if (c) {
		if (sp.len)
			memcpy(c, sp.p, sp.len);
		c[sp.len] = 0;
	}
	return c;
}

void sink_pod(struct sink *s, const struct fr_pod *p)
{
	char *ns = span_dup(p->namespace_), *name = span_dup(p->name), *owner = span_dup(p->owner_name);
	char *uid = p->uid.len ? span_dup(p->uid) : NULL;
	char *ips = NULL, *labels = NULL, *wl = NULL;
	size_t il = 0, ll = 0;
	FILE *fi = open_memstream(&ips, &il), *fl = open_memstream(&labels, &ll);
	if (!ns || !name || !owner || !fi || !fl)
		goto out;
	if (!uid && asprintf(&uid, "%s/%s", ns, name) < 0)
		uid = NULL;
	if (asprintf(&wl, "%s/%s", ns, owner[0] ? owner : name) < 0)
		wl = NULL;
	for (uint32_t i = 0; i < p->n_ips; i++)
		fprintf(fi, "%s%.*s", i ? "," : "", (int)p->ips[i].len, (const char *)p->ips[i].p);
	for (uint32_t i = 0; i < p->n_labels; i++)
		fprintf(fl, "%s%.*s=%.*s", i ? "," : "", (int)p->labels[i].key.len,
			(const char *)p->labels[i].key.p, (int)p->labels[i].value.len,
			(const char *)p->labels[i].value.p);
	fclose(fi);
	fclose(fl);
	fi = fl = NULL;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_POD];
	bt(st, 1, uid);
	bt(st, 2, ns);
	bt(st, 3, name);
	bspan(st, 4, p->node);
	bspan(st, 5, p->owner_kind);
	bspan(st, 6, p->owner_name);
	bt(st, 7, wl);
	bt(st, 8, ips);
	bt(st, 9, labels);
	step(s, st);
	for (uint32_t i = 0; i < p->n_ips; i++) {
		st = s->st[S_POD_IP];
		bspan(st, 1, p->ips[i]);
		bt(st, 2, uid);
		step(s, st);
	}
	for (uint32_t i = 0; i < p->n_labels; i++) {
		st = s->st[S_POD_LABEL];
		bt(st, 1, uid);
		bspan(st, 2, p->labels[i].key);
		bspan(st, 3, p->labels[i].value);
		step(s, st);
	}
	for (uint32_t i = 0; i < p->n_containers; i++) {
		st = s->st[S_POD_CONT];
		bspan(st, 1, strip_runtime(p->containers[i].id));
		bt(st, 2, uid);
		bspan(st, 3, p->containers[i].name);
		bspan(st, 4, p->containers[i].image);
		step(s, st);
	}
	pthread_mutex_unlock(&s->lock);
out:
	if (fi)
		fclose(fi);
	if (fl)
		fclose(fl);
	free(ns), free(name), free(owner), free(uid), free(ips), free(labels), free(wl);
}

void sink_service(struct sink *s, const struct fr_service *v)
{
	char *ips = NULL, *ports = NULL, *sel = NULL;
	size_t a = 0, b = 0, c = 0;
	FILE *fi = open_memstream(&ips, &a), *fp = open_memstream(&ports, &b), *fs = open_memstream(&sel, &c);
	if (!fi || !fp || !fs)
		goto out;
	for (uint32_t i = 0; i < v->n_ips; i++)
		fprintf(fi, "%s%.*s", i ? "," : "", (int)v->ips[i].len, (const char *)v->ips[i].p);
	for (uint32_t i = 0; i < v->n_ports; i++)
		fprintf(fp, "%s%u->%u/%s", i ? "," : "", v->ports[i].port, v->ports[i].target_port,
			v->ports[i].proto == 17 ? "udp" : "tcp");
	for (uint32_t i = 0; i < v->n_selector; i++)
		fprintf(fs, "%s%.*s=%.*s", i ? "," : "", (int)v->selector[i].key.len,
			(const char *)v->selector[i].key.p, (int)v->selector[i].value.len,
			(const char *)v->selector[i].value.p);
	fclose(fi), fclose(fp), fclose(fs);
	fi = fp = fs = NULL;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_SVC];
	bspan(st, 1, v->namespace_);
	bspan(st, 2, v->name);
	bt(st, 3, ips);
	bt(st, 4, ports);
	bt(st, 5, sel);
	step(s, st);
	for (uint32_t i = 0; i < v->n_ips; i++) {
		st = s->st[S_SVC_IP];
		bspan(st, 1, v->ips[i]);
		bspan(st, 2, v->namespace_);
		bspan(st, 3, v->name);
		step(s, st);
	}
	for (uint32_t i = 0; i < v->n_selector && i < FR_POD_MAX_LABELS; i++) {
		st = s->st[S_SVC_SEL];
		bspan(st, 1, v->namespace_);
		bspan(st, 2, v->name);
		bspan(st, 3, v->selector[i].key);
		bspan(st, 4, v->selector[i].value);
		step(s, st);
	}
	pthread_mutex_unlock(&s->lock);
out:
	if (fi)
		fclose(fi);
	if (fp)
		fclose(fp);
	if (fs)
		fclose(fs);
	free(ips), free(ports), free(sel);
}

void sink_mark(struct sink *s, const char *node, uint64_t ts, const struct fr_mark *m)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_MARK];
	bt(st, 1, node);
	bi(st, 2, (int64_t)ts);
	bspan(st, 3, m->kind);
	bspan(st, 4, m->text);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

/* An address as stored: "10.0.0.1" or "fd00::1" (no brackets, no port).
 * Returns its length, or -1 for no address. */
static int addr_text(const struct fr_addr *a, char *buf, size_t len)
{
	if (a->family == 4)
		return snprintf(buf, len, "%u.%u.%u.%u", a->addr[0], a->addr[1], a->addr[2], a->addr[3]);
	if (a->family != 6)
		return -1;
	struct fr_addr b = *a;
	b.port = 0;
	fr_addr_str(&b, buf, len);
	/* "[x::y]:0" -> "x::y" */
	char *e = strrchr(buf, ']');
	if (e)
		*e = 0;
	memmove(buf, buf + 1, strlen(buf));
	return (int)strlen(buf);
}

static void baddr(sqlite3_stmt *st, int i, const struct fr_addr *a)
{
	char buf[64];
	int n = addr_text(a, buf, sizeof(buf));
	if (n < 0) {
		sqlite3_bind_null(st, i);
		sqlite3_bind_null(st, i + 1);
		return;
	}
	sqlite3_bind_text(st, i, buf, n, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, i + 1, a->port);
}

static const char *role_name(int r)
{
	return r == FR_ROLE_CLIENT ? "client" : r == FR_ROLE_SERVER ? "server" : "unknown";
}

void sink_conn(struct sink *s, const struct conn_row *c)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_CONN];
	bi(st, 1, (int64_t)c->id);
	bt(st, 2, c->node);
	bi(st, 3, c->key.pid);
	bi(st, 4, c->key.fd);
	bi(st, 5, c->key.gen);
	bt(st, 6, c->transport == FR_UDP ? "udp" : "tcp");
	bt(st, 7, role_name(c->role));
	bt(st, 8, c->protocol);
	baddr(st, 9, &c->local);
	baddr(st, 11, &c->remote);
	bi(st, 13, (int64_t)c->start_ns);
	bi(st, 14, (int64_t)c->end_ns);
	bi(st, 15, (int64_t)c->bytes_out);
	bi(st, 16, (int64_t)c->bytes_in);
	bi(st, 17, (int64_t)c->gap_bytes);
	bi(st, 18, (int64_t)c->requests);
	bi(st, 19, c->closed);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

/* ---- requests and their protocol rows, in batches ------------------------
 * One INSERT per row costs SQLite a statement start, a write cursor opened
 * and a descent from the root for every row; an INSERT of BATCH_ROWS rows
 * (a multi-row VALUES) does that once per batch.  Rows are buffered here
 * with their text copied into an arena (the parser's spans do not outlive
 * the call), then bound without copies and stepped once.  A partial batch
 * at the end goes row by row. */

/* Prepares "INSERT INTO head VALUES (?,..)" for one and for BATCH_ROWS rows. */
static int rbuf_init(struct sink *s, struct rbuf *b, const char *head, int ncols)
{
	memset(b, 0, sizeof(*b));
	b->ncols = ncols;
	b->v = calloc((size_t)BATCH_ROWS * (size_t)ncols, sizeof(*b->v));
	b->bound = calloc((size_t)BATCH_ROWS * (size_t)ncols, sizeof(*b->bound));
	b->slots = malloc((size_t)BATCH_ROWS * (size_t)ncols * SLOT_BYTES);
	b->acap = 1 << 16;
	b->arena = malloc(b->acap);
	size_t rowlen = 2 * (size_t)ncols + 3, cap = strlen(head) + 16 + BATCH_ROWS * rowlen;
	char *sql = malloc(cap);
	if (!b->v || !b->bound || !b->slots || !b->arena || !sql) {
		free(sql);
		return -1;
	}
	for (int k = 0; k < BATCH_ROWS * ncols; k++)
		b->bound[k].type = -1;
	int rc = 0;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		int rows = pass ? BATCH_ROWS : 1;
		size_t o = (size_t)snprintf(sql, cap, "%s VALUES ", head);
		for (int r = 0; r < rows; r++) {
			sql[o++] = r ? ',' : ' ';
			sql[o++] = '(';
			for (int c = 0; c < ncols; c++) {
				if (c)
					sql[o++] = ',';
				sql[o++] = '?';
			}
			sql[o++] = ')';
		}
		sql[o] = 0;
		if (sqlite3_prepare_v2(s->db, sql, -1, pass ? &b->many : &b->one, NULL) != SQLITE_OK) {
			fprintf(stderr, "flightrec: sqlite: %s: %s\n", head, sqlite3_errmsg(s->db));
			rc = -1;
		}
	}
	free(sql);
	return rc;
}

static void rbuf_fini(struct rbuf *b)
{
	sqlite3_finalize(b->one);
	sqlite3_finalize(b->many);
	free(b->v);
	free(b->bound);
	free(b->slots);
	free(b->arena);
	memset(b, 0, sizeof(*b));
}

static const char *val_text(const struct rbuf *b, const struct val *v)
{
	return v->p ? v->p : b->arena + v->i;
}

static void bind_val(struct rbuf *b, sqlite3_stmt *st, int i, const struct val *v)
{
	if (v->type == SQLITE_INTEGER)
		sqlite3_bind_int64(st, i, v->i);
	else if (v->type == SQLITE_TEXT)
		sqlite3_bind_text(st, i, val_text(b, v), v->len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Binds the values of a full batch to `many`, leaving alone each parameter
 * that holds the same value already: the same integer, NULL, or the same
 * bytes at the same address (SQLITE_STATIC: SQLite reads them at the step,
 * so whatever the arena holds there now is what is inserted). */
static void bind_batch(struct rbuf *b)
{
	for (int k = 0; k < BATCH_ROWS * b->ncols; k++) {
		const struct val *v = &b->v[k];
		struct val *o = &b->bound[k];
		const char *t = v->type == SQLITE_TEXT ? val_text(b, v) : NULL;
		if (v->type == o->type &&
		    (v->type == SQLITE_INTEGER ? v->i == o->i :
		     v->type == SQLITE_TEXT ? t == o->p && v->len == o->len : 1))
			continue;
		int rc;
		if (v->type == SQLITE_INTEGER)
			rc = sqlite3_bind_int64(b->many, k + 1, v->i);
		else if (v->type == SQLITE_TEXT)
			rc = sqlite3_bind_text(b->many, k + 1, t, v->len, SQLITE_STATIC);
		else
			rc = sqlite3_bind_null(b->many, k + 1);
		o->type = rc == SQLITE_OK ? v->type : -1;
		o->len = v->len;
		o->i = v->i;
		o->p = t;
	}
}

static void step_batch(struct sink *s, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE && !s->failed) {
		fprintf(stderr, "flightrec: sqlite insert: %s\n", sqlite3_errmsg(s->db));
		s->failed = 1;
	}
	sqlite3_reset(st);
}

/* Inserts the buffered rows: a full batch with one step, else row by row. */
static void rbuf_flush(struct sink *s, struct rbuf *b)
{
	if (!b->n)
		return;
	if (b->n == BATCH_ROWS) {
		bind_batch(b);
		step_batch(s, b->many);
	} else {
		for (int r = 0; r < b->n; r++) {
			for (int c = 0; c < b->ncols; c++)
				bind_val(b, b->one, c + 1, &b->v[r * b->ncols + c]);
			step_batch(s, b->one);
		}
	}
	uint64_t before = s->rows;
	s->rows += (uint64_t)b->n;
	b->n = 0;
	b->alen = 0;
	if (s->rows / 500000 != before / 500000) {
		exec(s->db, "COMMIT");
		exec(s->db, "BEGIN");
	}
}

static void peer_add(struct peerset *ps, const char *p, size_t n)
{
	if (ps->overflow)
		return;
	if (n >= PEER_TEXT) {
		ps->overflow = 1;
		return;
	}
	uint32_t h = fr_hash(p, n, FR_HASH_INIT);
	if (ps->cap) {
		for (uint32_t k = h & (2 * ps->cap - 1);; k = (k + 1) & (2 * ps->cap - 1)) {
			uint32_t e = ps->tab[k];
			if (!e)
				break;
			if (!strncmp(ps->v[e - 1], p, n) && !ps->v[e - 1][n])
				return;
		}
	}
	if (ps->n == ps->cap) {
		uint32_t nc = ps->cap ? 2 * ps->cap : 64;
		if (nc > PEERS_MAX) {
			ps->overflow = 1;
			return;
		}
		char(*nv)[PEER_TEXT] = realloc(ps->v, (size_t)nc * PEER_TEXT);
		uint32_t *nt = calloc(2 * (size_t)nc, sizeof(*nt));
		if (!nv || !nt) {
			if (nv)
				ps->v = nv;
			free(nt);
			ps->overflow = 1;
			return;
		}
		ps->v = nv;
		free(ps->tab);
		ps->tab = nt;
		ps->cap = nc;
		for (uint32_t i = 0; i < ps->n; i++) {
			uint32_t k = fr_hash(ps->v[i], strlen(ps->v[i]), FR_HASH_INIT) & (2 * nc - 1);
			while (nt[k])
				k = (k + 1) & (2 * nc - 1);
			nt[k] = i + 1;
		}
	}
	uint32_t k = h & (2 * ps->cap - 1);
	while (ps->tab[k])
		k = (k + 1) & (2 * ps->cap - 1);
	memcpy(ps->v[ps->n], p, n);
	ps->v[ps->n][n] = 0;
	ps->tab[k] = ++ps->n;
}

/* temp.peer_addrs for the attribution: the kept addresses, or a view
 * that scans request_rows when they were too many. */
static int peer_table(struct sink *s)
{
	struct peerset *ps = &s->peers;
	int rc = 0;
	if (ps->overflow)
		rc = exec(s->db, fr_peer_addrs_scan_sql);
	else {
		sqlite3_stmt *st = NULL;
		if (exec(s->db, "CREATE TEMP TABLE peer_addrs (ip TEXT)") < 0 ||
		    sqlite3_prepare_v2(s->db, "INSERT INTO temp.peer_addrs VALUES (?)", -1, &st, NULL) != SQLITE_OK)
			rc = -1;
		for (uint32_t i = 0; rc == 0 && i < ps->n; i++) {
			sqlite3_bind_text(st, 1, ps->v[i], -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = -1;
			sqlite3_reset(st);
		}
		sqlite3_finalize(st);
	}
	free(ps->v);
	free(ps->tab);
	memset(ps, 0, sizeof(*ps));
	return rc;
}

/* The values of the next row (flushes a full batch first). */
static struct val *rbuf_row(struct sink *s, struct rbuf *b)
{
	if (b->n == BATCH_ROWS)
		rbuf_flush(s, b);
	return &b->v[b->n++ * b->ncols];
}

static void v_int(struct val *v, int64_t i)
{
	v->type = SQLITE_INTEGER;
	v->i = i;
}

/* text that lives as long as the sink (a protocol's name, a literal):
 * not copied */
static void v_const(struct val *v, const char *p)
{
	v->type = SQLITE_TEXT;
	v->len = (int)strlen(p);
	v->i = 0;
	v->p = p;
}

/* p == NULL: NULL, as sqlite3_bind_text would store it */
static void v_text(struct rbuf *b, struct val *v, const char *p, size_t n)
{
	if (!p || n > INT32_MAX) {
		v->type = SQLITE_NULL;
		return;
	}
	if (n <= SLOT_BYTES) {
		char *slot = b->slots + (size_t)(v - b->v) * SLOT_BYTES;
		memcpy(slot, p, n);
		v->type = SQLITE_TEXT;
		v->len = (int)n;
		v->i = 0;
		v->p = slot;
		return;
	}
	b->arena = fr_grow(b->arena, &b->acap, b->alen + n, 1 << 16);
	memcpy(b->arena + b->alen, p, n);
	v->type = SQLITE_TEXT;
	v->len = (int)n;
	v->i = (int64_t)b->alen;
	v->p = NULL;
	b->alen += n;
}

static void v_str(struct rbuf *b, struct val *v, const char *p) { v_text(b, v, p, p ? strlen(p) : 0); }

/* b - a, or NULL when either is missing (0) or b < a */
static void v_diff(struct val *v, uint64_t a, uint64_t b)
{
	if (a && b && b >= a)
		v_int(v, (int64_t)(b - a));
	else
		v->type = SQLITE_NULL;
}

/* The detail rows of protocol p, its statement built from the names of
 * the fields f[0..n) of its first request; NULL when it cannot be. */
static struct rbuf *detail_buf(struct sink *s, const struct fr_proto *p, const struct fr_field *f, int n)
{
	int k;
	for (k = 0; k < MAX_PROTOS && s->detail_proto[k]; k++)
		if (s->detail_proto[k] == p)
			return s->detail[k].ncols ? &s->detail[k] : NULL;
	if (k == MAX_PROTOS)
		return NULL;
	s->detail_proto[k] = p;
	char *sql = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&sql, &len);
	if (!mf)
		return NULL;
	fprintf(mf, "INSERT INTO %s (request_id", p->table);
	for (int i = 0; i < n; i++)
		fprintf(mf, ", %s", f[i].name);
	fprintf(mf, ")");
	fclose(mf);
	if (rbuf_init(s, &s->detail[k], sql, n + 1) < 0)
		rbuf_fini(&s->detail[k]);
	free(sql);
	return s->detail[k].ncols ? &s->detail[k] : NULL;
}

/* The row of request id in p's table: fields f[0..n). */
static void detail_row(struct sink *s, const struct fr_proto *p, int64_t id, const struct fr_field *f, int n)
{
	struct rbuf *d = detail_buf(s, p, f, n);
	if (!d || d->ncols != n + 1)
		return;
	struct val *v = rbuf_row(s, d);
	v_int(&v[0], id);
	for (int i = 0; i < n; i++) {
		if (f[i].type == FR_F_INT)
			v_int(&v[i + 1], f[i].i);
		else if (f[i].type == FR_F_TEXT)
			v_text(d, &v[i + 1], f[i].s, f[i].len);
		else
			v[i + 1].type = SQLITE_NULL;
	}
}

void sink_request(struct sink *s, const struct conn_row *c, uint32_t seq, const struct fr_proto *p,
		  const struct fr_req *r)
{
	uint64_t start = r->req_first_ns ? r->req_first_ns : r->resp_first_ns;
	uint64_t end = r->resp_last_ns ? r->resp_last_ns : r->req_last_ns;
	char peer[64];
	int peerlen = -1;
	if (r->peer_family && r->peer_addr) {
		struct fr_addr a = {0};
		a.family = (uint8_t)r->peer_family;
		a.port = r->peer_port;
		memcpy(a.addr, r->peer_addr, r->peer_family == 4 ? 4 : 16);
		peerlen = addr_text(&a, peer, sizeof(peer));
	}
	pthread_mutex_lock(&s->lock);
	struct rbuf *b = &s->req;
	struct val *v = rbuf_row(s, b);
	/* the id is not bound: SQLite appends with max(id) + 1, which in
	 * this new table is the count so far (checked in sink_close) and
	 * saves a lookup per row */
	int64_t id = (int64_t)++s->next_req;
	v--;
	v_int(&v[1], (int64_t)c->id);
	v_int(&v[2], seq);
	v_const(&v[3], r->layer ? r->layer->name : p->name);
	v_const(&v[4], c->role == FR_ROLE_SERVER ? "server" : "client");
	v_int(&v[5], (int64_t)start);
	v_int(&v[6], (int64_t)end);
	v_diff(&v[7], r->req_first_ns, r->resp_last_ns);
	v_diff(&v[8], r->req_first_ns, r->req_last_ns);
	v_diff(&v[9], r->req_last_ns, r->resp_first_ns);
	v_diff(&v[10], r->resp_first_ns, r->resp_last_ns);
	v_str(b, &v[11], r->summary);
	v_str(b, &v[12], r->endpoint);
	v_str(b, &v[13], r->status);
	v_int(&v[14], r->error);
	v_str(b, &v[15], r->reason);
	v_int(&v[16], (int64_t)r->req_bytes);
	v_int(&v[17], (int64_t)r->resp_bytes);
	if (peerlen >= 0) {
		peer_add(&s->peers, peer, (size_t)peerlen);
		v_text(b, &v[18], peer, (size_t)peerlen);
		v_int(&v[19], r->peer_port);
	} else {
		v[18].type = v[19].type = SQLITE_NULL;
	}
	/* a layer (gRPC in HTTP/2): its fields go to its own table */
	int nf = r->layer && r->layer_field <= r->n_fields ? r->layer_field : r->n_fields;
	detail_row(s, p, id, r->f, nf);
	if (r->layer && nf < r->n_fields)
		detail_row(s, r->layer, id, r->f + nf, r->n_fields - nf);
	pthread_mutex_unlock(&s->lock);
}

void sink_anomaly(struct sink *s, uint64_t conn_id, uint64_t ts, const char *kind, const char *detail)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_ANOM];
	if (conn_id)
		bi(st, 1, (int64_t)conn_id);
	bi(st, 2, (int64_t)ts);
	bt(st, 3, kind);
	bt(st, 4, detail);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

void sink_message(struct sink *s, uint64_t conn_id, const struct fr_proto *p, const struct fr_msg *m)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_MSG];
	bi(st, 1, (int64_t)conn_id);
	bt(st, 2, p->name);
	bi(st, 3, (int64_t)m->first_ns);
	bi(st, 4, (int64_t)m->last_ns);
	bt(st, 5, m->dir == FR_C2S ? "client" : "server");
	bt(st, 6, m->kind);
	bt(st, 7, m->topic);
	bi(st, 8, (int64_t)m->bytes);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

static ssize_t hash_write(void *cookie, const char *buf, size_t n)
{
	return EVP_DigestUpdate(cookie, buf, n) ? (ssize_t)n : -1;
}

/* The determinism hash: SHA-256 of the canonical dump, streamed.  With
 * jobs > 1 the dump is written by that many threads on their own read-only
 * connections (fr_dump_parallel), else on the sink's connection. */
struct hasher {
	const char *path;
	sqlite3 *db;
	int64_t max_id;
	int jobs;
	int rc;
	char hex[65];
};

static void *hasher_main(void *arg)
{
	struct hasher *h = arg;
	h->rc = -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	cookie_io_functions_t io = {.write = hash_write};
	FILE *f = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) ? fopencookie(md, "w", io) : NULL;
	if (!f) {
		EVP_MD_CTX_free(md);
		return NULL;
	}
	/* unbuffered: the dump writes in chunks of 64 KiB or more, which go
	 * to the digest without a copy into a stdio buffer */
	setvbuf(f, NULL, _IONBF, 0);
	int rc;
	if (h->jobs < 2)
		rc = fr_dump_db((struct sqlite3 *)h->db, f);
	else
		rc = fr_dump_parallel(h->path, h->max_id, f, h->jobs);
	if (fclose(f) != 0)
		rc = -1;
	unsigned char dg[32];
	unsigned int dl = 0;
	if (rc == 0 && EVP_DigestFinal_ex(md, dg, &dl)) {
		for (int i = 0; i < 32; i++)
			snprintf(h->hex + 2 * i, 3, "%02x", dg[i]);
		h->rc = 0;
	}
	EVP_MD_CTX_free(md);
	return NULL;
}

int sink_close(struct sink *s, int dim_cap, int jobs)
{
	int rc = s->failed ? -1 : 0;
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(s->st[i]);
	rbuf_flush(s, &s->req);
	rbuf_fini(&s->req);
	for (int i = 0; i < MAX_PROTOS; i++) {
		rbuf_flush(s, &s->detail[i]);
		rbuf_fini(&s->detail[i]);
	}
	rc = s->failed ? -1 : rc;
	{
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(id), 0) FROM request_rows", -1, &st,
				       NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
		    sqlite3_column_int64(st, 0) != (int64_t)s->next_req) {
			fprintf(stderr, "flightrec: request ids do not follow the order of the rows\n");
			rc = -1;
		}
		sqlite3_finalize(st);
	}
	char sql[128];
	phase("load");
	snprintf(sql, sizeof(sql), "INSERT INTO settings VALUES ('dim_cap', %d)", dim_cap);
	if (peer_table(s) < 0 || exec(s->db, sql) < 0 || exec_timed(s->db, fr_attr_sql) < 0)
		rc = -1;
	phase("attribution");
	if (exec_timed(s->db, fr_post_sql) < 0)
		rc = -1;
	phase("post");
	if (exec(s->db, fr_views_sql) < 0)
		rc = -1;
	/* counts */
	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO recording VALUES ('count_requests', '%llu')",
		 (unsigned long long)s->next_req);
	exec(s->db, sql);
	exec(s->db, "INSERT OR REPLACE INTO recording SELECT 'count_connections', count(*) FROM connections;"
		    "INSERT OR REPLACE INTO recording SELECT 'count_anomalies', count(*) FROM anomalies;"
		    "INSERT OR REPLACE INTO recording SELECT 'count_messages', count(*) FROM messages;"
		    "INSERT OR REPLACE INTO recording SELECT 'time_first_ns', min(start_ns) FROM connections;"
		    "INSERT OR REPLACE INTO recording SELECT 'time_last_ns', max(end_ns) FROM connections;");
	if (exec_timed(s->db, fr_late_index_sql) < 0)
		rc = -1;
	phase("indexes");
	if (exec(s->db, "COMMIT") < 0)
		rc = -1;
	phase("commit");
	/* with -j > 1 other connections read for the dump hash: this one
	 * gives up its exclusive lock (at its next read) */
	if (jobs >= 2 && exec(s->db, "PRAGMA locking_mode=NORMAL; SELECT count(*) FROM settings;") < 0)
		rc = -1;
	struct hasher h = {.path = s->path, .db = s->db, .max_id = (int64_t)s->next_req, .jobs = jobs};
	hasher_main(&h);
	if (h.rc < 0)
		rc = -1;
	else {
		snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO recording VALUES ('dump_sha256', '%s')", h.hex);
		if (exec(s->db, sql) < 0)
			rc = -1;
	}
	phase("dump hash");
	if (sqlite3_close(s->db) != SQLITE_OK)
		rc = -1;
	if (rc == 0 && rename(s->path, s->final) < 0) {
		fprintf(stderr, "flightrec: cannot rename %s to %s: %s\n", s->path, s->final, strerror(errno));
		rc = -1;
	}
	building = NULL;
	if (rc < 0)
		unlink(s->path);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s->final);
	free(s);
	return rc;
}
