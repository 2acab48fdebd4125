/* html_json.c - JSON for the HTML report: query results as compact
 * {"cols": [...], "rows": [[...]]} tables, strings made valid UTF-8 (the
 * database holds captured bytes), and the document written so that it can
 * sit inside a <script> element (every '<' escaped). */
#include "html_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
	    (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

json_t *hj_str(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s);
	char *c = malloc(n + 1);
	if (!c)
		return json_null();
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);
		if (!l) {
			c[o++] = '?';
			i++;
			continue;
		}
		memcpy(c + o, p + i, l);
		o += l, i += l;
	}
	json_t *j = json_stringn(c, o);
	free(c);
	return j ? j : json_null();
}

json_t *hj_value(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(st, i));
	case SQLITE_NULL:
		return json_null();
	default:
		return hj_str((const char *)sqlite3_column_text(st, i));
	}
}

json_t *hj_table_stmt(sqlite3_stmt *st)
{
	json_t *t = json_object(), *cols = json_array(), *rows = json_array();
	int nc = sqlite3_column_count(st);
	for (int i = 0; i < nc; i++)
		json_array_append_new(cols, hj_str(sqlite3_column_name(st, i)));
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *r = json_array();
		for (int i = 0; i < nc; i++)
			json_array_append_new(r, hj_value(st, i));
		json_array_append_new(rows, r);
	}
	json_object_set_new(t, "cols", cols);
	json_object_set_new(t, "rows", rows);
	return t;
}

json_t *hj_table(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = rp_prep(db, sql);
	if (!st)
		return NULL;
	json_t *t = hj_table_stmt(st);
	sqlite3_finalize(st);
	return t;
}

int64_t hj_scalar(sqlite3 *db, const char *sql)
{
	int64_t v = 0;
	sqlite3_stmt *st = rp_prep(db, sql);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int hj_write_script(FILE *f, json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);
	if (!s)
		return -1;
	/* '<' only occurs inside strings: \u003c keeps "</script>" and
	 * "<!--" out of the element */
	for (char *p = s, *q; *p; p = q) {
		q = strchr(p, '<');
		if (!q) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, q - p, f);
		fputs("\\u003c", f);
		q++;
	}
	free(s);
	return ferror(f) ? -1 : 0;
}
