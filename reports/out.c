/* out.c - a query's rows as an aligned table, CSV or JSON (out.h): the
 * output of `flightrec query`, `report --json` and the exporters' text. */
#include "out.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_WIDTH 60 /* a table cell longer than this is cut with "..." */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void fr_out_json_text(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	putc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = utf8_len(s + i, n - i);
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f || !k)
			fprintf(f, "\\u%04x", c);
		else {
			fwrite(s + i, 1, k, f);
			i += k;
			continue;
		}
		i++;
	}
	putc('"', f);
}

void fr_out_json_value(FILE *f, sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL: fputs("null", f); break;
	case SQLITE_INTEGER: fprintf(f, "%lld", (long long)sqlite3_column_int64(st, i)); break;
	case SQLITE_FLOAT: {
		double v = sqlite3_column_double(st, i);
		if (isfinite(v))
			fprintf(f, "%.15g", v);
		else
			fputs("null", f);
		break;
	}
	default:
		fr_out_json_text(f, (const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
	}
}

static void csv_field(FILE *f, const char *s, size_t n)
{
	if (!strpbrk(s, ",\"\r\n") && strlen(s) == n) {
		fwrite(s, 1, n, f);
		return;
	}
	putc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			putc('"', f);
		putc(s[i], f);
	}
	putc('"', f);
}

/* A cell of the table: the text made harmless on a terminal (control
 * characters, C1 controls in UTF-8 and DEL as '?'), cut at
 * TABLE_MAX_WIDTH characters; *width is its width in characters. */
static char *cell(const unsigned char *s, size_t *width)
{
	char *out = malloc(TABLE_MAX_WIDTH * 4 + 4);
	size_t o = 0, w = 0;
	if (!out)
		return NULL;
	if (!s)
		s = (const unsigned char *)"-";
	for (; *s; s++) {
		if (w == TABLE_MAX_WIDTH - 3 && strlen((const char *)s) > 3) {
			memcpy(out + o, "...", 3);
			o += 3, w += 3;
			break;
		}
		int c1 = s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
		out[o++] = *s < 0x20 || *s == 0x7f || c1 ? '?' : (char)*s;
		w += c1 || (*s & 0xc0) != 0x80;
		s += c1;
	}
	out[o] = 0;
	*width = w;
	return out;
}

struct table {
	int ncol;
	char **cells; /* row-major, the header first */
	size_t n, cap;
	size_t *width;
	int *numeric; /* every value of the column is a number: right-aligned */
};

static int table_add(struct table *t, const unsigned char *s, int col)
{
	size_t w;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		char **c = realloc(t->cells, cap * sizeof(*c));
		if (!c)
			return -1;
		t->cells = c, t->cap = cap;
	}
	char *c = cell(s, &w);
	if (!c)
		return -1;
	t->cells[t->n++] = c;
	if (w > t->width[col])
		t->width[col] = w;
	return 0;
}

static void table_print(const struct table *t, FILE *f)
{
	for (size_t i = 0; i < t->n; i++) {
		int col = (int)(i % (size_t)t->ncol);
		size_t w = 0;
		for (const char *p = t->cells[i]; *p; p++)
			w += (*p & 0xc0) != 0x80;
		size_t pad = t->width[col] - w;
		int last = col == t->ncol - 1;
		if (t->numeric[col] && i >= (size_t)t->ncol)
			fprintf(f, "%*s%s", (int)pad, "", t->cells[i]);
		else
			fprintf(f, "%s%*s", t->cells[i], last ? 0 : (int)pad, "");
		fputs(last ? "\n" : "  ", f);
	}
}

static long out_table(sqlite3_stmt *st, FILE *f, const char *who)
{
	struct table t = {.ncol = sqlite3_column_count(st)};
	long rows = 0;
	int rc;
	t.width = calloc((size_t)t.ncol + 1, sizeof(*t.width));
	t.numeric = calloc((size_t)t.ncol + 1, sizeof(*t.numeric));
	if (!t.width || !t.numeric)
		goto oom;
	for (int i = 0; i < t.ncol; i++) {
		t.numeric[i] = 1;
		if (table_add(&t, (const unsigned char *)sqlite3_column_name(st, i), i) < 0)
			goto oom;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < t.ncol; i++) {
			int ty = sqlite3_column_type(st, i);
			if (ty == SQLITE_TEXT || ty == SQLITE_BLOB)
				t.numeric[i] = 0;
			if (table_add(&t, sqlite3_column_text(st, i), i) < 0)
				goto oom;
		}
		rows++;
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "%s: %s\n", who, sqlite3_errmsg(sqlite3_db_handle(st)));
		rows = -1;
	} else
		table_print(&t, f);
	goto done;
oom:
	fprintf(stderr, "%s: out of memory\n", who);
	rows = -1;
done:
	for (size_t i = 0; i < t.n; i++)
		free(t.cells[i]);
	free(t.cells);
	free(t.width);
	free(t.numeric);
	return rows;
}

long fr_out_rows(sqlite3_stmt *st, enum fr_out_format fmt, FILE *f, const char *who)
{
	if (fmt == FR_OUT_TABLE)
		return out_table(st, f, who);
	int ncol = sqlite3_column_count(st), rc;
	long rows = 0;
	if (fmt == FR_OUT_CSV)
		for (int i = 0; i < ncol; i++) {
			const char *name = sqlite3_column_name(st, i);
			csv_field(f, name, strlen(name));
			fputs(i == ncol - 1 ? "\r\n" : ",", f);
		}
	else
		putc('[', f);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fmt == FR_OUT_JSON)
			fputs(rows ? ",\n {" : "\n {", f);
		for (int i = 0; i < ncol; i++) {
			if (fmt == FR_OUT_JSON) {
				const char *name = sqlite3_column_name(st, i);
				fr_out_json_text(f, name, strlen(name));
				putc(':', f);
				fr_out_json_value(f, st, i);
				fputs(i == ncol - 1 ? "}" : ", ", f);
				continue;
			}
			const char *s = (const char *)sqlite3_column_text(st, i);
			if (s)
				csv_field(f, s, (size_t)sqlite3_column_bytes(st, i));
			fputs(i == ncol - 1 ? "\r\n" : ",", f);
		}
		rows++;
	}
	if (fmt == FR_OUT_JSON)
		fputs(rows ? "\n]\n" : "]\n", f);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "%s: %s\n", who, sqlite3_errmsg(sqlite3_db_handle(st)));
		return -1;
	}
	return rows;
}
