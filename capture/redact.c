/* redact.c - same-length overwrite of HTTP/1 header values and Redis AUTH
 * arguments, resumable at any byte (see redact.h). */
#include "redact.h"

#include <stdio.h>
#include <string.h>

void fr_redact_init(struct fr_redact *r)
{
	memset(r, 0, sizeof(*r));
	r->enabled = 1;
	r->redis = 1;
	fr_redact_add_header(r, "authorization");
	fr_redact_add_header(r, "proxy-authorization");
	fr_redact_add_header(r, "cookie");
	fr_redact_add_header(r, "set-cookie");
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

int fr_redact_add_header(struct fr_redact *r, const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= FR_REDACT_NAME || r->n_headers >= FR_REDACT_MAX_HEADERS)
		return -1;
	char low[FR_REDACT_NAME];
	for (size_t i = 0; i <= n; i++)
		low[i] = lower(name[i]);
	for (int i = 0; i < r->n_headers; i++)
		if (!strcmp(r->headers[i], low))
			return 0;
	memcpy(r->headers[r->n_headers++], low, n + 1);
	if ((int)n > r->max_len)
		r->max_len = (int)n;
	return 0;
}

void fr_redact_describe(const struct fr_redact *r, char *buf, size_t len)
{
	size_t o = 0;
	if (len)
		buf[0] = 0;
	if (!r->enabled)
		return;
	for (int i = 0; i < r->n_headers && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%shttp-header:%s", o ? "," : "", r->headers[i]);
	if (r->redis && o < len)
		snprintf(buf + o, len - o, "%sredis:auth", o ? "," : "");
}

/* HTTP header machine: H_NAME collects a header name at line start,
 * H_OWS skips blanks after a secret header's colon, H_VALUE overwrites to
 * the end of the line, H_SKIP waits for the end of the line. */
enum { H_NAME = 0, H_OWS, H_VALUE, H_SKIP };

static int is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Header names are matched byte by byte against the candidates left. */
static uint32_t all_headers(const struct fr_redact *r)
{
	return r->n_headers >= 32 ? 0xffffffffu : (1u << r->n_headers) - 1;
}

static uint32_t match_byte(const struct fr_redact *r, uint32_t cand, unsigned pos, char c)
{
	for (int i = 0; i < r->n_headers; i++)
		if ((cand >> i & 1) && r->headers[i][pos] != c)
			cand &= ~(1u << i);
	return cand;
}

static int secret_header(const struct fr_redact *r, const struct fr_redact_state *st)
{
	for (int i = 0; i < r->n_headers; i++)
		if ((st->h_cand >> i & 1) && r->headers[i][st->h_len] == 0)
			return 1;
	return 0;
}

static size_t http_byte(const struct fr_redact *r, struct fr_redact_state *st, uint8_t c)
{
	switch (st->h_mode) {
	case H_NAME:
		if (c == ':') {
			st->h_mode = st->h_len && secret_header(r, st) ? H_OWS : H_SKIP;
		} else if (c == '\n') {
			st->h_len = 0;
		} else if (is_tchar(c) && st->h_len < r->max_len) {
			st->h_cand = match_byte(r, st->h_len ? st->h_cand : all_headers(r), st->h_len,
						lower((char)c));
			st->h_len++;
			if (!st->h_cand) /* most lines end here, after a byte or two */
				st->h_mode = H_SKIP;
		} else {
			st->h_mode = H_SKIP;
		}
		return 0;
	case H_OWS:
		if (c == ' ' || c == '\t')
			return 0;
		st->h_mode = H_VALUE;
		/* fall through */
	case H_VALUE:
		if (c == '\r')
			return 0;
		if (c == '\n') {
			st->h_mode = H_NAME;
			st->h_len = 0;
			return 0;
		}
		return 1;
	default: /* H_SKIP */
		if (c == '\n') {
			st->h_mode = H_NAME;
			st->h_len = 0;
		}
		return 0;
	}
}

/* RESP machine (client requests): arrays of bulk strings and inline
 * commands.  R_LINE: at the start of a message; R_NUM: digits of "*N" or
 * "$N" up to '\n'; R_BULK: data of a bulk string; R_CRLF: the "\r\n" after
 * it; R_DOLLAR: expecting '$'; R_WORD: first word of an inline command;
 * R_INLINE: the rest of an inline AUTH line (overwritten); R_SKIP: to the
 * end of the line. */
enum { R_LINE = 0, R_NUM_ARRAY, R_NUM_BULK, R_BULK, R_CRLF, R_DOLLAR, R_WORD, R_INLINE, R_SKIP };

static int word_is_auth(const struct fr_redact_state *st)
{
	return st->r_wlen == 4 && !memcmp(st->r_word, "auth", 4);
}

static void next_arg(struct fr_redact_state *st)
{
	st->r_idx++;
	if (st->r_idx == 1)
		st->r_auth = word_is_auth(st);
	st->r_mode = st->r_idx >= st->r_args ? R_LINE : R_DOLLAR;
	if (st->r_mode == R_LINE)
		st->r_auth = 0;
}

static size_t resp_byte(struct fr_redact_state *st, uint8_t c)
{
	switch (st->r_mode) {
	case R_LINE:
		st->r_num = 0;
		st->r_wlen = 0;
		if (c == '*') {
			st->r_mode = R_NUM_ARRAY;
		} else if (c == '$') { /* a bare bulk string: one argument */
			st->r_args = 1;
			st->r_idx = 0;
			st->r_mode = R_NUM_BULK;
		} else if (c == '\r' || c == '\n') {
			/* stay */
		} else if (lower((char)c) == 'a') { /* an inline command can only matter if AUTH */
			st->r_mode = R_WORD;
			st->r_word[st->r_wlen++] = 'a';
		} else {
			st->r_mode = R_SKIP;
		}
		return 0;
	case R_NUM_ARRAY:
	case R_NUM_BULK:
		if (c >= '0' && c <= '9') {
			if (st->r_num < (1LL << 40))
				st->r_num = st->r_num * 10 + (c - '0');
		} else if (c == '\n') {
			if (st->r_mode == R_NUM_ARRAY) {
				st->r_args = st->r_num;
				st->r_idx = 0;
				st->r_wlen = 0;
				st->r_auth = 0;
				st->r_mode = st->r_args > 0 ? R_DOLLAR : R_LINE;
			} else {
				st->r_left = st->r_num;
				st->r_mode = R_BULK;
				if (st->r_left == 0)
					st->r_mode = R_CRLF;
			}
			st->r_num = 0;
		} else if (c != '\r' && c != '-') {
			st->r_mode = R_SKIP;
		}
		return 0;
	case R_DOLLAR:
		st->r_mode = c == '$' ? R_NUM_BULK : R_SKIP;
		return 0;
	case R_BULK: {
		size_t red = 0;
		if (st->r_idx == 0 && st->r_wlen < sizeof(st->r_word))
			st->r_word[st->r_wlen++] = lower((char)c);
		else if (st->r_idx == 0)
			st->r_wlen = sizeof(st->r_word); /* too long to be AUTH */
		if (st->r_idx > 0 && st->r_auth) {
			red = 1;
		}
		if (--st->r_left == 0)
			st->r_mode = R_CRLF;
		return red;
	}
	case R_CRLF:
		if (c == '\n')
			next_arg(st);
		return 0;
	case R_WORD:
		if (c == ' ') {
			st->r_mode = word_is_auth(st) ? R_INLINE : R_SKIP;
		} else if (c == '\n') {
			st->r_mode = R_LINE;
		} else if (st->r_wlen < 4 && lower((char)c) == "auth"[st->r_wlen]) {
			st->r_word[st->r_wlen++] = lower((char)c);
		} else {
			st->r_mode = R_SKIP;
		}
		return 0;
	case R_INLINE:
		if (c == '\n') {
			st->r_mode = R_LINE;
			return 0;
		}
		if (c == '\r' || c == ' ')
			return 0;
		return 1;
	default: /* R_SKIP */
		if (c == '\n')
			st->r_mode = R_LINE;
		return 0;
	}
}

/* Each machine runs over the chunk in its own pass, jumping over what
 * cannot hold a secret (the rest of a line, the body of a bulk string). */
static size_t http_pass(const struct fr_redact *r, struct fr_redact_state *st, const uint8_t *p,
			uint8_t *w, size_t n)
{
	size_t red = 0, i = 0;
	while (i < n) {
		if (st->h_mode == H_SKIP) {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			if (!nl)
				break;
			i = (size_t)(nl - p) + 1;
			st->h_mode = H_NAME;
			st->h_len = 0;
			continue;
		}
		if (http_byte(r, st, p[i])) {
			red++;
			if (w)
				w[i] = '*';
		}
		i++;
	}
	return red;
}

static size_t resp_pass(struct fr_redact_state *st, const uint8_t *p, uint8_t *w, size_t n)
{
	size_t red = 0, i = 0;
	while (i < n) {
		if (st->r_mode == R_SKIP) {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			if (!nl)
				break;
			i = (size_t)(nl - p) + 1;
			st->r_mode = R_LINE;
			continue;
		}
		if (st->r_mode == R_BULK && ((st->r_idx > 0 && !st->r_auth) ||
					     (st->r_idx == 0 && st->r_wlen > 4))) {
			/* nothing to look at in this bulk string */
			size_t k = n - i;
			if ((int64_t)k > st->r_left)
				k = (size_t)st->r_left;
			if (st->r_idx == 0)
				st->r_wlen = sizeof(st->r_word);
			i += k;
			st->r_left -= (int64_t)k;
			if (st->r_left == 0)
				st->r_mode = R_CRLF;
			continue;
		}
		if (resp_byte(st, p[i])) {
			red++;
			if (w)
				w[i] = '*';
		}
		i++;
	}
	return red;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* "METHOD SP target SP HTTP/1.x" or "HTTP/1.x SP status", whole first
 * line in p. */
static int http_start(const uint8_t *p, size_t n)
{
	if (n >= 8 && !memcmp(p, "HTTP/1.", 7))
		return 1;
	size_t i = 0;
	while (i < n && i < 24 && p[i] >= 'A' && p[i] <= 'Z')
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return 0;
	const uint8_t *nl = memchr(p, '\n', n);
	size_t end = nl ? (size_t)(nl - p) : 0;
	if (end > 0 && p[end - 1] == '\r')
		end--;
	return end >= i + 11 && !memcmp(p + end - 9, " HTTP/1.", 8) && is_digit(p[end - 1]);
}

void fr_redact_stream_start(struct fr_redact_state *st, const uint8_t *p, size_t n)
{
	if (n >= 2 && (p[0] == '*' || p[0] == '$') && is_digit(p[1]))
		st->only = FR_REDACT_ONLY_RESP;
	else if (http_start(p, n))
		st->only = FR_REDACT_ONLY_HTTP;
}

/* w: where overwritten bytes go (p itself), or NULL to count only. */
static size_t redact(const struct fr_redact *r, struct fr_redact_state *st, const uint8_t *p,
		     uint8_t *w, size_t n)
{
	size_t red = 0;
	if (!r->enabled)
		return 0;
	if (r->n_headers && st->only != FR_REDACT_ONLY_RESP)
		red += http_pass(r, st, p, w, n);
	if (r->redis && st->only != FR_REDACT_ONLY_HTTP)
		red += resp_pass(st, p, w, n);
	return red;
}

size_t fr_redact(const struct fr_redact *r, struct fr_redact_state *st, uint8_t *p, size_t n)
{
	return redact(r, st, p, p, n);
}

size_t fr_redact_copy(const struct fr_redact *r, struct fr_redact_state *st, const uint8_t *src,
		      size_t n, uint8_t *buf, const uint8_t **out)
{
	struct fr_redact_state saved = *st;
	*out = src;
	if (redact(r, st, src, NULL, n) == 0)
		return 0; /* nothing overwritten: the passes saw what fr_redact would */
	*st = saved;
	memcpy(buf, src, n);
	*out = buf;
	return fr_redact(r, st, buf, n);
}
