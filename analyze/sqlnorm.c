/* sqlnorm.c - SQL statement normalisation for the views' endpoints
 * (see sqlnorm.h).  A single pass over the bytes with a bounded output:
 *
 *   SELECT * FROM t WHERE id IN (1, 2,3) AND name = 'x'   -- comment
 *   -> SELECT * FROM t WHERE id IN (?) AND name = ?
 *
 * Quoted identifiers ("x", `x`) are kept; 'strings', E'strings',
 * $tag$dollar strings$tag$, numbers (also 1.5e3, 0x1f, -3 after an
 * operator) and placeholders (?, $1, :name) become '?'. */
#include "sqlnorm.h"

#include <string.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || (unsigned char)c >= 0x80;
}

struct out {
	char *p;
	size_t o, cap;
	int space; /* a space is due before the next byte */
};

static void put(struct out *w, char c)
{
	if (w->space && w->o > 0 && w->o + 1 < w->cap) {
		char prev = w->p[w->o - 1];
		if (prev != '(' && c != ')' && c != ',')
			w->p[w->o++] = ' ';
	}
	w->space = 0;
	if (w->o + 1 < w->cap)
		w->p[w->o++] = ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f) ? c : '?';
}

/* A '?' literal; "(?, ?, ?)" folds to "(?)". */
static void put_lit(struct out *w)
{
	if (w->o >= 3 && w->p[w->o - 1] == ' ' && w->p[w->o - 2] == ',' && w->p[w->o - 3] == '?')
		w->o -= 2;
	else if (w->o >= 2 && w->p[w->o - 1] == ',' && w->p[w->o - 2] == '?')
		w->o -= 1;
	else {
		put(w, '?');
		return;
	}
	w->space = 0; /* "?," dropped: the '?' before stands for the list */
}

/* End of a dollar-quoted string starting at i ("$tag$"), or 0 if none. */
static size_t dollar_end(const char *s, size_t n, size_t i)
{
	size_t j = i + 1;
	while (j < n && (is_word(s[j]) && !is_digit(s[i + 1])))
		j++;
	if (j >= n || s[j] != '$')
		return 0;
	size_t tl = j - i + 1;
	for (size_t k = j + 1; k + tl <= n; k++)
		if (s[k] == '$' && !memcmp(s + k, s + i, tl))
			return k + tl;
	return n;
}

size_t fr_sql_normalise(const char *s, size_t n, char *out, size_t cap)
{
	struct out w = {out, 0, cap, 0};
	size_t i = 0;
	while (i < n && w.o + 1 < cap) {
		char c = s[i];
		if (is_space(c)) {
			w.space = 1;
			i++;
		} else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
			w.space = 1;
		} else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
			i += 2;
			while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'))
				i++;
			i += 2;
			w.space = 1;
		} else if (c == '\'' || ((c == 'E' || c == 'e' || c == 'N' || c == 'n' || c == 'X' || c == 'x' ||
					  c == 'B' || c == 'b') && i + 1 < n && s[i + 1] == '\'' &&
					 (i == 0 || !is_word(s[i - 1])))) {
			if (c != '\'')
				i++;
			for (i++; i < n; i++) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				else if (s[i] == '\'' && i + 1 < n && s[i + 1] == '\'')
					i++;
				else if (s[i] == '\'')
					break;
			}
			i++;
			put_lit(&w);
		} else if (c == '$' && i + 1 < n && is_digit(s[i + 1])) {
			for (i++; i < n && is_digit(s[i]); i++)
				;
			put_lit(&w);
		} else if (c == '$' && dollar_end(s, n, i)) {
			i = dollar_end(s, n, i);
			put_lit(&w);
		} else if (c == '?') {
			i++;
			put_lit(&w);
		} else if (c == ':' && i + 1 < n && is_word(s[i + 1]) && !is_digit(s[i + 1]) &&
			   (i == 0 || s[i - 1] != ':')) {
			for (i++; i < n && is_word(s[i]); i++)
				;
			put_lit(&w);
		} else if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
			for (i++; i < n && (is_word(s[i]) || s[i] == '.' ||
					    ((s[i] == '+' || s[i] == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E')));
			     i++)
				;
			put_lit(&w);
		} else if (is_word(c)) {
			while (i < n && (is_word(s[i]) || s[i] == '$'))
				put(&w, s[i++]);
		} else if (c == '"' || c == '`') {
			put(&w, s[i++]);
			while (i < n && s[i] != c)
				put(&w, s[i++]);
			if (i < n)
				put(&w, s[i++]);
		} else if (c == ',') {
			w.space = 0;
			put(&w, ',');
			w.space = 1;
			i++;
		} else {
			put(&w, c);
			i++;
		}
	}
	out[w.o] = 0;
	return w.o;
}

size_t fr_sql_printable(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	int sp = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_space((char)c)) {
			sp = o > 0;
			continue;
		}
		if (sp && o + 2 < cap)
			out[o++] = ' ';
		sp = 0;
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = 0;
	return o;
}
