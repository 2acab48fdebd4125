/* corpus_diff.c - what differs between an expected dump and an actual one,
 * said per table, row key and column ("requests id=3: status: expected
 * '200', got '500'") instead of as a diff of 24-column lines.
 *
 * A dump is read into tables (a line "# NAME" without a tab starts one; the
 * next line names its columns; every other line is a row).  Per table:
 * rows equal on both sides are set aside (as multisets: both sides sorted
 * bytewise and merged); the key is the fewest leading columns that tell
 * the rows of each side apart; the remaining rows are paired by key (both
 * still sorted: a key is a byte prefix of its rows, so equal keys are
 * neighbours) and each pair is reported column by column; a row without a
 * partner is missing or not expected. */
#define _GNU_SOURCE
#include "corpus_diff.h"

#include <stdlib.h>
#include <string.h>

struct row {
	const char *p;
	size_t n;
	int used;
};

struct table {
	const char *name, *cols;
	size_t name_len, cols_len;
	struct row *rows;
	size_t nrows, cap;
	int done; /* compared already */
};

struct dumpv {
	struct table *t;
	size_t n, cap;
	int oom;
};

struct report {
	FILE *f;
	const char *indent;
	long n, max;
};

static void add_table(struct dumpv *d, const char *name, size_t len)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		struct table *t = realloc(d->t, cap * sizeof(*t));
		if (!t) {
			d->oom = 1;
			return;
		}
		d->t = t;
		d->cap = cap;
	}
	d->t[d->n++] = (struct table){.name = name, .name_len = len};
}

static void add_row(struct table *t, const char *p, size_t n, int *oom)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct row *r = realloc(t->rows, cap * sizeof(*r));
		if (!r) {
			*oom = 1;
			return;
		}
		t->rows = r;
		t->cap = cap;
	}
	t->rows[t->nrows++] = (struct row){p, n, 0};
}

/* Splits a dump into tables; rows before the first table go in a table
 * without a name. */
static void parse(const char *s, size_t len, struct dumpv *d)
{
	const char *end = s + len;
	int want_cols = 0;
	while (s < end && !d->oom) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		if (n >= 2 && s[0] == '#' && s[1] == ' ' && !memchr(s, '\t', n)) {
			add_table(d, s + 2, n - 2);
			want_cols = 1;
		} else {
			if (!d->n)
				add_table(d, "", 0);
			struct table *t = &d->t[d->n - 1];
			if (want_cols && !d->oom) {
				t->cols = s;
				t->cols_len = n;
			} else if (!d->oom) {
				add_row(t, s, n, &d->oom);
			}
			want_cols = 0;
		}
		s += n + 1;
	}
}

static void free_dump(struct dumpv *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->t[i].rows);
	free(d->t);
}

static struct table *find(struct dumpv *d, const char *name, size_t len)
{
	for (size_t i = 0; i < d->n; i++)
		if (!d->t[i].done && d->t[i].name_len == len && !memcmp(d->t[i].name, name, len))
			return &d->t[i];
	return NULL;
}

/* Field i of a tab-separated line, its length in *len; "" past the end. */
static const char *field(const char *p, size_t n, int i, size_t *len)
{
	const char *end = p + n;
	for (; i > 0; i--) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		if (!tab) {
			*len = 0;
			return "";
		}
		p = tab + 1;
	}
	const char *tab = memchr(p, '\t', (size_t)(end - p));
	*len = tab ? (size_t)(tab - p) : (size_t)(end - p);
	return p;
}

static int count_fields(const char *p, size_t n)
{
	int k = 1;
	for (size_t i = 0; i < n; i++)
		k += p[i] == '\t';
	return k;
}

static int bytecmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static int row_cmp(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	return bytecmp(a->p, a->n, b->p, b->n);
}

/* Length of the first k fields of a row with their tabs (the whole row
 * when it has k fields or fewer). */
static size_t prefix_len(const struct row *r, int k)
{
	const char *p = r->p, *end = r->p + r->n;
	for (; k > 0; k--) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		if (!tab)
			return r->n;
		p = tab + 1;
	}
	return (size_t)(p - r->p);
}

static int prefix_cmp(const struct row *a, const struct row *b, int k)
{
	return bytecmp(a->p, prefix_len(a, k), b->p, prefix_len(b, k));
}

/* 1 when no two neighbours of sorted rows share their first k fields */
static int unique_prefix(const struct row *r, size_t n, int k)
{
	for (size_t i = 1; i < n; i++)
		if (!prefix_cmp(&r[i - 1], &r[i], k))
			return 0;
	return 1;
}

static void put_value(FILE *f, const char *p, size_t n)
{
	if (n > 200)
		fprintf(f, "'%.200s...' (%zu bytes)", p, n);
	else
		fprintf(f, "'%.*s'", (int)n, p);
}

/* Starts a report line; 0 when the line is over the limit (counted only) */
static int line(struct report *r)
{
	if (r->n++ >= r->max)
		return 0;
	fputs(r->indent, r->f);
	return 1;
}

/* "TABLE col=value col=value" for the key of row x */
static void put_key(struct report *r, const struct table *t, const struct row *x, int k)
{
	fprintf(r->f, "%.*s", (int)t->name_len, t->name);
	for (int i = 0; i < k; i++) {
		size_t cn, vn;
		const char *c = field(t->cols, t->cols_len, i, &cn);
		const char *v = field(x->p, x->n, i, &vn);
		fprintf(r->f, "%s%.*s=%.*s", i ? " " : " ", (int)cn, c, (int)(vn > 80 ? 80 : vn), v);
	}
}

static void put_row(struct report *r, const struct table *t, const struct row *x, int k, const char *what)
{
	if (!line(r))
		return;
	put_key(r, t, x, k);
	fprintf(r->f, ": %s: ", what);
	for (size_t i = 0; i < x->n && i < 300; i++) {
		if (x->p[i] == '\t')
			fputs(" | ", r->f);
		else
			fputc(x->p[i], r->f);
	}
	fputs(x->n > 300 ? " ...\n" : "\n", r->f);
}

/* One line per column in which the paired rows e and g differ */
static void put_pair(struct report *r, const struct table *t, const struct row *e, const struct row *g,
		     int k, int ncols)
{
	for (int i = 0; i < ncols; i++) {
		size_t en, gn, cn;
		const char *ev = field(e->p, e->n, i, &en), *gv = field(g->p, g->n, i, &gn);
		if (en == gn && !memcmp(ev, gv, en))
			continue;
		if (!line(r))
			continue;
		const char *c = field(t->cols, t->cols_len, i, &cn);
		put_key(r, t, e, k);
		fprintf(r->f, ": %.*s: expected ", (int)cn, c);
		put_value(r->f, ev, en);
		fputs(", got ", r->f);
		put_value(r->f, gv, gn);
		fputc('\n', r->f);
	}
}

/* Sets aside the rows both sides hold; moves the others to the front of
 * each array (still sorted) and returns their counts. */
static void set_aside(struct table *e, struct table *g, size_t *ne, size_t *ng)
{
	size_t i = 0, j = 0;
	while (i < e->nrows && j < g->nrows) {
		int c = row_cmp(&e->rows[i], &g->rows[j]);
		if (!c)
			e->rows[i++].used = g->rows[j++].used = 1;
		else if (c < 0)
			i++;
		else
			j++;
	}
	*ne = *ng = 0;
	for (i = 0; i < e->nrows; i++)
		if (!e->rows[i].used)
			e->rows[(*ne)++] = e->rows[i];
	for (j = 0; j < g->nrows; j++)
		if (!g->rows[j].used)
			g->rows[(*ng)++] = g->rows[j];
}

static void compare_table(struct report *r, struct table *e, struct table *g)
{
	const struct table *named = e->cols ? e : g;
	if (e->cols && g->cols && bytecmp(e->cols, e->cols_len, g->cols, g->cols_len)) {
		if (line(r))
			fprintf(r->f, "%.*s: columns: expected '%.*s', got '%.*s'\n", (int)e->name_len, e->name,
				(int)e->cols_len, e->cols, (int)g->cols_len, g->cols);
		return;
	}
	int ncols = named->cols ? count_fields(named->cols, named->cols_len) : 1;
	qsort(e->rows, e->nrows, sizeof(*e->rows), row_cmp);
	qsort(g->rows, g->nrows, sizeof(*g->rows), row_cmp);
	int k = 1;
	while (k < ncols && !(unique_prefix(e->rows, e->nrows, k) && unique_prefix(g->rows, g->nrows, k)))
		k++;
	size_t ne, ng;
	set_aside(e, g, &ne, &ng);
	size_t i = 0, j = 0;
	while (i < ne || j < ng) {
		int c = i == ne ? 1 : j == ng ? -1 : prefix_cmp(&e->rows[i], &g->rows[j], k);
		if (c == 0 && k < ncols)
			put_pair(r, named, &e->rows[i++], &g->rows[j++], k, ncols);
		else if (c <= 0)
			put_row(r, named, &e->rows[i++], k, "row missing");
		else
			put_row(r, named, &g->rows[j++], k, "row not expected");
	}
}

long fr_dump_compare(const char *exp, size_t exp_len, const char *got, size_t got_len, FILE *f,
		     const char *indent, long max)
{
	struct dumpv e = {0}, g = {0};
	struct report r = {f, indent, 0, max};
	parse(exp, exp_len, &e);
	parse(got, got_len, &g);
	if (e.oom || g.oom) {
		fprintf(f, "%sout of memory comparing the dumps\n", indent);
		r.n = 1;
		goto out;
	}
	static struct table none;
	for (size_t i = 0; i < e.n; i++) {
		struct table *gt = find(&g, e.t[i].name, e.t[i].name_len);
		struct table empty = none;
		if (!gt) {
			empty.name = e.t[i].name;
			empty.name_len = e.t[i].name_len;
		}
		compare_table(&r, &e.t[i], gt ? gt : &empty);
		if (gt)
			gt->done = 1;
	}
	for (size_t i = 0; i < g.n; i++) {
		if (g.t[i].done)
			continue;
		struct table empty = none;
		empty.name = g.t[i].name;
		empty.name_len = g.t[i].name_len;
		compare_table(&r, &empty, &g.t[i]);
	}
	if (r.n > r.max)
		fprintf(f, "%s... and %ld more differences\n", indent, r.n - r.max);
out:
	free_dump(&e);
	free_dump(&g);
	return r.n;
}
