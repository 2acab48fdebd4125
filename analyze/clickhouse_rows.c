/* clickhouse_rows.c - the rows of `flightrec export-clickhouse`: which
 * tables of an analysis database are loaded, how their rows are selected
 * with the node and wall-clock time of each, and the encoding of those rows
 * as ClickHouse Native blocks streamed into an INSERT
 * (export_clickhouse.c makes the tables and sends the batches). */
#define _GNU_SOURCE
#include "export_clickhouse.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int exp_plain_name(const char *s)
{
	if (!*s || strlen(s) >= NAME_MAX_LEN)
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

const char *exp_ch_type(char t)
{
	return t == 'i' ? "Nullable(Int64)" : t == 'f' ? "Nullable(Float64)" : "Nullable(String)";
}

/* ---- the SQLite side ---------------------------------------------- */

static int has_col(const struct table *t, const char *name)
{
	for (int i = 0; i < t->ncol; i++)
		if (!strcmp(t->col[i].name, name))
			return 1;
	return 0;
}

/* Reads a table's columns and works out how to select its rows with their
 * node and wall-clock time.  Returns 0, or -1 to leave the table out. */
static int describe(sqlite3 *db, const char *name, struct table *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	char sql[160];
	snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", name);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW && t->ncol < MAX_COLS) {
		const char *cn = (const char *)sqlite3_column_text(st, 1);
		const char *ty = (const char *)sqlite3_column_text(st, 2);
		if (!cn || !exp_plain_name(cn)) {
			fprintf(stderr, "flightrec export-clickhouse: %s: column '%s' left out (not a plain name)\n",
				name, cn ? cn : "");
			continue;
		}
		struct col *c = &t->col[t->ncol++];
		snprintf(c->name, sizeof(c->name), "%s", cn);
		c->type = 's';
		if (ty && (strcasestr(ty, "INT")))
			c->type = 'i';
		else if (ty && (strcasestr(ty, "REAL") || strcasestr(ty, "FLOA") || strcasestr(ty, "DOUB")))
			c->type = 'f';
	}
	sqlite3_finalize(st);
	if (!t->ncol)
		return -1;
	const char *tcol = has_col(t, "start_ns") ? "start_ns" : has_col(t, "ts") ? "ts"
			 : has_col(t, "first_ts") ? "first_ts" : NULL;
	int is_view = !strcmp(name, "requests");
	snprintf(t->key, sizeof(t->key), "%s", is_view ? "t.id" : "t.rowid");
	snprintf(t->keysrc, sizeof(t->keysrc), "%s", is_view ? "request_rows" : name);
	if (has_col(t, "node")) {
		snprintf(t->from, sizeof(t->from), "\"%s\" t LEFT JOIN temp.ch_off o ON o.node = t.node", name);
		snprintf(t->node, sizeof(t->node), "coalesce(t.node, '')");
	} else if (has_col(t, "conn_id")) {
		snprintf(t->from, sizeof(t->from),
			 "\"%s\" t LEFT JOIN connections c ON c.id = t.conn_id LEFT JOIN temp.ch_off o ON o.node = c.node",
			 name);
		snprintf(t->node, sizeof(t->node), "coalesce(c.node, (SELECT node FROM temp.ch_dflt))");
	} else if (has_col(t, "request_id")) {
		snprintf(t->from, sizeof(t->from),
			 "\"%s\" t LEFT JOIN request_rows r ON r.id = t.request_id LEFT JOIN connections c "
			 "ON c.id = r.conn_id LEFT JOIN temp.ch_off o ON o.node = c.node", name);
		snprintf(t->node, sizeof(t->node), "coalesce(c.node, (SELECT node FROM temp.ch_dflt))");
	} else {
		snprintf(t->from, sizeof(t->from),
			 "\"%s\" t LEFT JOIN temp.ch_off o ON o.node = (SELECT node FROM temp.ch_dflt)", name);
		snprintf(t->node, sizeof(t->node), "(SELECT node FROM temp.ch_dflt)");
	}
	if (tcol)
		snprintf(t->wall, sizeof(t->wall), "coalesce(t.%s + coalesce(o.off, 0), 0)", tcol);
	else
		snprintf(t->wall, sizeof(t->wall), "0");
	return 0;
}

/* the columns a table has besides the fixed ones (its own node is the
 * fixed node column) */
int exp_own_col(const struct col *c)
{
	return strcmp(c->name, "node") != 0;
}

/* the tables to load: every table but request_rows (the `requests` view
 * stands for it, with both ends' workloads), sorted by name */
int exp_list_tables(sqlite3 *db, struct table **out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT name FROM sqlite_master WHERE (type = 'table' AND name NOT LIKE 'sqlite%' "
			       "AND name != 'request_rows') OR (type = 'view' AND name = 'requests') ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	int n = 0, cap = 0;
	struct table *v = NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name || !exp_plain_name(name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			struct table *w = realloc(v, cap * sizeof(*v));
			if (!w)
				break;
			v = w;
		}
		if (describe(db, name, &v[n]) == 0)
			n++;
	}
	sqlite3_finalize(st);
	*out = v;
	return n;
}

/* ---- Native blocks -------------------------------------------------- */

/* Rows are sent in ClickHouse's Native format: blocks of up to BLOCK_ROWS
 * rows, column after column (the server parses it at about twice the
 * speed of RowBinary).  A block: the column and row counts (varints), then
 * per column its name, its type and its values; a Nullable column is its
 * null map (one byte per row) followed by the values (a default where
 * null); a String is a varint length and the bytes; numbers are little
 * endian. */
#define BLOCK_ROWS 65536

static int reserve(struct exp_bytes *b, size_t more)
{
	if (b->n + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->n + more)
		cap *= 2;
	uint8_t *q = realloc(b->p, cap);
	if (!q)
		return -1;
	b->p = q;
	b->cap = cap;
	return 0;
}

static int put(struct exp_bytes *b, const void *p, size_t n)
{
	if (reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int put_str(struct exp_bytes *b, const void *p, size_t n)
{
	uint8_t v[10];
	size_t k = 0;
	uint64_t x = n;
	do {
		v[k++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
		x >>= 7;
	} while (x);
	return put(b, v, k) < 0 || put(b, p, n) < 0 ? -1 : 0;
}

static int put_le(struct exp_bytes *b, uint64_t x, int len)
{
	uint8_t v[8];
	for (int i = 0; i < len; i++)
		v[i] = (uint8_t)(x >> (8 * i));
	return put(b, v, (size_t)len);
}

void exp_stream_free(struct exp_stream *s)
{
	for (int i = 0; i < FIXED_COLS + MAX_COLS; i++) {
		free(s->data[i].p);
		free(s->nulls[i].p);
	}
	free(s->out.p);
}

/* Adds the current row of s->st (key, node, wall, then the columns) to
 * the block being built. */
static int add_row(struct exp_stream *s)
{
	sqlite3_stmt *st = s->st;
	int bad = 0;
	bad |= put_str(&s->data[0], s->incident, strlen(s->incident));
	bad |= put_str(&s->data[1], s->load_id, strlen(s->load_id));
	bad |= put_le(&s->data[2], s->batch, 4);
	bad |= put_str(&s->data[3], sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
	bad |= put_le(&s->data[4], (uint64_t)sqlite3_column_int64(st, 2), 8);
	for (int i = 0, c = FIXED_COLS; i < s->t->ncol; i++) {
		const struct col *col = &s->t->col[i];
		int k = 3 + i;
		if (!exp_own_col(col))
			continue;
		uint8_t isnull = sqlite3_column_type(st, k) == SQLITE_NULL;
		bad |= put(&s->nulls[c], &isnull, 1);
		if (col->type == 'i') {
			bad |= put_le(&s->data[c], (uint64_t)sqlite3_column_int64(st, k), 8);
		} else if (col->type == 'f') {
			double d = sqlite3_column_double(st, k);
			uint64_t x;
			memcpy(&x, &d, 8);
			bad |= put_le(&s->data[c], x, 8);
		} else {
			const void *p = sqlite3_column_text(st, k);
			bad |= put_str(&s->data[c], p, (size_t)sqlite3_column_bytes(st, k));
		}
		c++;
	}
	s->rows_in_block++;
	s->rows++;
	return bad ? -1 : 0;
}

/* Moves the block built so far into s->out. */
static int end_block(struct exp_stream *s)
{
	static const char *const fixed[FIXED_COLS][2] = {
		{"incident", "String"}, {"load_id", "String"}, {"batch", "UInt32"},
		{"node", "String"},     {"wall_ns", "Int64"},
	};
	struct exp_bytes *o = &s->out;
	o->n = 0;
	s->off = 0;
	int ncols = FIXED_COLS, bad = 0;
	for (int i = 0; i < s->t->ncol; i++)
		ncols += exp_own_col(&s->t->col[i]);
	uint8_t v[2] = {(uint8_t)ncols, 0};
	if (ncols > 0x7f) {
		v[0] = (uint8_t)(ncols | 0x80);
		v[1] = (uint8_t)(ncols >> 7);
	}
	bad |= put(o, v, ncols > 0x7f ? 2 : 1);
	uint8_t r[5];
	size_t k = 0;
	for (uint32_t x = s->rows_in_block;; x >>= 7) {
		r[k++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
		if (x <= 0x7f)
			break;
	}
	bad |= put(o, r, k);
	for (int i = 0, c = 0; c < ncols; c++) {
		const char *name, *type;
		if (c < FIXED_COLS) {
			name = fixed[c][0];
			type = fixed[c][1];
		} else {
			while (!exp_own_col(&s->t->col[i]))
				i++;
			name = s->t->col[i].name;
			type = exp_ch_type(s->t->col[i].type);
			i++;
		}
		bad |= put_str(o, name, strlen(name));
		bad |= put_str(o, type, strlen(type));
		if (c >= FIXED_COLS)
			bad |= put(o, s->nulls[c].p, s->nulls[c].n);
		bad |= put(o, s->data[c].p, s->data[c].n);
		s->data[c].n = s->nulls[c].n = 0;
	}
	s->rows_in_block = 0;
	return bad ? -1 : 0;
}

size_t exp_stream_fill(char *buf, size_t size, size_t nmemb, void *ctx)
{
	struct exp_stream *s = ctx;
	size_t len = size * nmemb, o = 0;
	while (o < len) {
		if (s->off < s->out.n) {
			size_t k = s->out.n - s->off < len - o ? s->out.n - s->off : len - o;
			memcpy(buf + o, s->out.p + s->off, k);
			s->off += k;
			o += k;
			continue;
		}
		if (s->done)
			break;
		while (!s->done && s->rows_in_block < BLOCK_ROWS) {
			int rc = sqlite3_step(s->st);
			if (rc == SQLITE_ROW) {
				if (add_row(s) < 0)
					goto fail;
			} else {
				s->done = 1;
				if (rc != SQLITE_DONE)
					goto fail;
			}
		}
		if (s->rows_in_block && end_block(s) < 0)
			goto fail;
	}
	return o;
fail:
	s->failed = 1;
	return 0x10000000; /* CURL_READFUNC_ABORT */
}
