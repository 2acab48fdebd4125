/* sink_requests.c - the sink's requests and their protocol rows.
 *
 * One INSERT per row costs SQLite a statement start, a write cursor opened
 * and a descent from the root for every row; an INSERT of BATCH_ROWS rows
 * (a multi-row VALUES) does that once per batch.  Rows are buffered here
 * with their text copied into an arena (the parser's spans do not outlive
 * the call), then bound without copies and stepped once.  A partial batch
 * at the end goes row by row.  The distinct peer addresses of the requests
 * are kept on the way, for the attribution. */
#define _GNU_SOURCE
#include "../formats/bytes.h"
#include "schema.h"
#include "sink_internal.h"

#include <stdlib.h>
#include <string.h>

int rbuf_init(struct sink *s, struct rbuf *b, const char *head, int ncols)
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

void rbuf_fini(struct rbuf *b)
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

/* A full batch with one step, else row by row. */
void rbuf_flush(struct sink *s, struct rbuf *b)
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

/* The kept addresses, or a view that scans request_rows when they were too
 * many. */
int peer_table(struct sink *s)
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

/* The rows of a protocol's table (key: the fr_proto) or child table (key:
 * its child_table), the statement built from the names of the fields
 * f[0..n) of its first row; NULL when it cannot be. */
static struct rbuf *detail_buf(struct sink *s, const void *key, const char *table, const struct fr_field *f,
			       int n)
{
	int k;
	for (k = 0; k < MAX_PROTOS && s->detail_key[k]; k++)
		if (s->detail_key[k] == key)
			return s->detail[k].ncols ? &s->detail[k] : NULL;
	if (k == MAX_PROTOS)
		return NULL;
	s->detail_key[k] = key;
	char *sql = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&sql, &len);
	if (!mf)
		return NULL;
	fprintf(mf, "INSERT INTO %s (request_id", table);
	for (int i = 0; i < n; i++)
		fprintf(mf, ", %s", f[i].name);
	fprintf(mf, ")");
	fclose(mf);
	if (rbuf_init(s, &s->detail[k], sql, n + 1) < 0)
		rbuf_fini(&s->detail[k]);
	free(sql);
	return s->detail[k].ncols ? &s->detail[k] : NULL;
}

/* A row of request id in table (key as detail_buf): fields f[0..n). */
static void detail_row(struct sink *s, const void *key, const char *table, int64_t id, const struct fr_field *f,
		       int n)
{
	struct rbuf *d = detail_buf(s, key, table, f, n);
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
		  const struct fr_req *r, int64_t read_delay)
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
		peerlen = sink_addr_text(&a, peer, sizeof(peer));
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
	v[20].type = v[21].type = SQLITE_NULL;
	if (read_delay >= 0)
		v_int(&v[c->role == FR_ROLE_SERVER ? 21 : 20], read_delay);
	/* a layer (gRPC in HTTP/2): its fields go to its own table */
	int nf = r->layer && r->layer_field <= r->n_fields ? r->layer_field : r->n_fields;
	detail_row(s, p, p->table, id, r->f, nf);
	if (r->layer && nf < r->n_fields)
		detail_row(s, r->layer, r->layer->table, id, r->f + nf, r->n_fields - nf);
	if (p->child_table && r->child && r->child_cols > 0)
		for (int i = 0; i < r->n_child && (i + 1) * r->child_cols <= FR_MAX_CHILD; i++)
			detail_row(s, &p->child_table, p->child_table, id, r->child + i * r->child_cols, r->child_cols);
	pthread_mutex_unlock(&s->lock);
}
