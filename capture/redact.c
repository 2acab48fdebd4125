/* redact.c - same-length overwrite of HTTP/1 header values and Redis AUTH
 * arguments, resumable at any byte (see redact.h). */
#include "redact.h"
#include "redact_internal.h"

#include <stdio.h>
#include <string.h>

#define CL_BIT FR_REDACT_MAX_HEADERS /* the framing headers' entries */
#define TE_BIT (FR_REDACT_MAX_HEADERS + 1)
#define CONTENT_LENGTH_LEN 14
#define TRANSFER_ENCODING_LEN 17

static void add_name(struct fr_redact *r, int i, const char *low, size_t n)
{
	memcpy(r->headers[i], low, n + 1);
	r->first[(uint8_t)low[0]] |= 1u << i;
	if (low[0] >= 'a' && low[0] <= 'z')
		r->first[(uint8_t)(low[0] - 32)] |= 1u << i;
	if ((int)n > r->max_len)
		r->max_len = (int)n;
}

static int is_tchar(uint8_t c);
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

void fr_redact_init(struct fr_redact *r)
{
	memset(r, 0, sizeof(*r));
	for (int c = 1; c < 256; c++)
		r->name[c] = is_tchar((uint8_t)c) ? (uint8_t)lower((char)c) : 0;
	add_name(r, CL_BIT, "content-length", CONTENT_LENGTH_LEN);
	add_name(r, TE_BIT, "transfer-encoding", TRANSFER_ENCODING_LEN);
	r->enabled = 1;
	r->redis = 1;
	fr_redact_add_header(r, "authorization");
	fr_redact_add_header(r, "proxy-authorization");
	fr_redact_add_header(r, "cookie");
	fr_redact_add_header(r, "set-cookie");
	fr_redact_add_header(r, "x-api-key");
	fr_redact_add_header(r, "x-auth-token");
	r->cmdline = FR_CMDLINE_NAMES;
}

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
	add_name(r, r->n_headers++, low, n);
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
		o += (size_t)snprintf(buf + o, len - o, "%sredis:auth", o ? "," : "");
	if (o < len)
		o += (size_t)snprintf(buf + o, len - o, "%surl:userinfo,kafka:sasl", o ? "," : "");
	static const char *const modes[] = {"names", "argv0", "full"};
	if (o < len)
		snprintf(buf + o, len - o, "%scmdline:%s", o ? "," : "", modes[r->cmdline % 3]);
}

/* One argument after argv[0], as FR_CMDLINE_NAMES keeps it. */
static size_t arg_name(const uint8_t *a, size_t n, uint8_t *out, size_t cap)
{
	size_t keep = 0;
	if (n >= 2 && a[0] == '-' && a[1] == '-') { /* --name or --name=value */
		const uint8_t *eq = memchr(a, '=', n);
		keep = eq ? (size_t)(eq - a) + 1 : n;
	} else if (n >= 1 && a[0] == '-') { /* -x or -xVALUE */
		keep = n < 2 ? n : 2;
	}
	int hidden = keep < n;
	if (keep + hidden > cap)
		return 0;
	memcpy(out, a, keep);
	if (hidden)
		out[keep] = '?';
	return keep + hidden;
}

size_t fr_redact_cmdline(const struct fr_redact *r, const uint8_t *in, size_t n, uint8_t *out,
			 size_t cap)
{
	if (!r->enabled || r->cmdline == FR_CMDLINE_FULL) {
		size_t k = n < cap ? n : cap;
		memcpy(out, in, k);
		return k;
	}
	size_t o = 0;
	for (size_t i = 0, idx = 0; i < n; idx++) {
		const uint8_t *nul = memchr(in + i, 0, n - i);
		size_t len = nul ? (size_t)(nul - (in + i)) : n - i;
		if (idx > 0 && r->cmdline == FR_CMDLINE_ARGV0)
			break;
		if (idx > 0) {
			if (o >= cap)
				break;
			out[o++] = 0;
			o += arg_name(in + i, len, out + o, cap - o);
		} else {
			size_t k = len < cap ? len : cap;
			memcpy(out, in, k);
			o = k;
		}
		i += len + 1;
	}
	return o;
}

/* HTTP header machine: H_NAME collects a header name at line start,
 * H_NAME_WS blanks between a name and its colon ("Authorization :", which
 * lenient servers accept), H_OWS skips blanks after a secret header's
 * colon, H_VALUE overwrites to the end of the line, H_FOLD is the start of
 * the line after a secret value (a line starting with a blank continues
 * it: obs-fold, RFC 9112 section 5.2), H_SKIP waits for the end of the
 * line. */
enum { H_NAME = 0, H_NAME_WS, H_OWS, H_VALUE, H_FOLD, H_SKIP, H_CLEN, H_BODY1, H_BODY };

/* Message framing (redact.h): F_START before a message's first line
 * (empty lines before it are ignored, RFC 9112 section 2.2), F_HEAD from
 * it to the empty line that ends the head.  At that line: a body of
 * Content-Length bytes is skipped (H_BODY1 looks at its first byte,
 * H_BODY skips it); no length on a request means no body; anything else
 * (Transfer-Encoding, two lengths that differ, a value that is not
 * digits, a response without a length) turns framing off.  Only the
 * header scanner skips: a wrong length skips header lines only, never
 * URLs. */
enum { F_OFF = 0, F_START, F_HEAD };
enum { CL_NONE = 0, CL_ONE, CL_BAD };

/* An empty line: the end of a message's head (see above). */
static void blank_line(struct fr_redact_state *st)
{
	if (st->h_frame != F_HEAD)
		return;
	if (st->h_cl == CL_ONE && st->h_clen > 0) {
		st->h_mode = H_BODY1;
		st->h_left = st->h_clen;
	} else if (st->h_cl != CL_ONE && !(st->h_cl == CL_NONE && st->h_req)) {
		st->h_frame = F_OFF;
		return;
	}
	st->h_frame = F_START;
	st->h_cl = CL_NONE;
	st->h_clen = 0;
}

/* A Content-Length value: digits between blanks. */
static void clen_byte(struct fr_redact_state *st, uint8_t c)
{
	if (c >= '0' && c <= '9' && !st->h_tail && st->h_num < (1ull << 50)) {
		st->h_num = st->h_num * 10 + (uint64_t)(c - '0');
		st->h_nd = 1;
	} else if (c == ' ' || c == '\t' || c == '\r') {
		st->h_tail = st->h_nd;
	} else if (c == '\n') {
		if (!st->h_nd || (st->h_cl == CL_ONE && st->h_clen != st->h_num)) {
			st->h_cl = CL_BAD;
		} else if (st->h_cl == CL_NONE) {
			st->h_cl = CL_ONE;
			st->h_clen = st->h_num;
		}
		st->h_mode = H_NAME;
		st->h_len = 0;
	} else {
		st->h_cl = CL_BAD;
		st->h_mode = H_SKIP;
	}
}

static int is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Header names are matched byte by byte against the candidates left: the
 * first byte by a table, the others against each candidate (one or two
 * after the first byte). */
static uint32_t match_byte(const struct fr_redact *r, uint32_t cand, unsigned pos, uint8_t c)
{
	if (pos == 0)
		return r->first[c];
	for (uint32_t m = cand; m; m &= m - 1) {
		int i = __builtin_ctz(m);
		if ((uint8_t)r->headers[i][pos] != c)
			cand &= ~(1u << i);
	}
	return cand;
}

/* The name read (h_len bytes) is the framing header of entry bit, in a
 * message's head. */
static int framing_header(const struct fr_redact_state *st, int bit, unsigned len)
{
	return st->h_frame == F_HEAD && (st->h_cand >> bit & 1) && st->h_len == len;
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
	case H_FOLD:
		if (c == ' ' || c == '\t') {
			st->h_mode = H_OWS;
			return 0;
		}
		st->h_mode = H_NAME;
		st->h_len = 0;
		/* fall through */
	case H_NAME: {
		uint8_t l = r->name[c]; /* most bytes here: a name's */
		if (l && st->h_len < r->max_len) {
			if (!st->h_len && st->h_frame == F_START)
				st->h_frame = F_HEAD; /* the message's first line */
			st->h_cand = match_byte(r, st->h_cand, st->h_len, l);
			st->h_len++;
			if (!st->h_cand) /* most lines end here, after a byte or two */
				st->h_mode = H_SKIP;
			return 0;
		}
		if (!st->h_len && st->h_frame == F_START && c != '\r' && c != '\n')
			st->h_frame = F_HEAD;
		if (c == ':') {
			if (st->h_len && secret_header(r, st)) {
				st->h_mode = H_OWS;
			} else if (framing_header(st, CL_BIT, CONTENT_LENGTH_LEN)) {
				st->h_mode = H_CLEN;
				st->h_num = st->h_nd = st->h_tail = 0;
			} else {
				if (framing_header(st, TE_BIT, TRANSFER_ENCODING_LEN))
					st->h_cl = CL_BAD;
				st->h_mode = H_SKIP;
			}
		} else if ((c == ' ' || c == '\t') && st->h_len) {
			st->h_mode = H_NAME_WS;
		} else if (c == '\n') {
			if (!st->h_len)
				blank_line(st);
			st->h_len = 0;
		} else if (c != '\r' || st->h_len) { /* (an empty line's CR stays) */
			st->h_mode = H_SKIP;
		}
		return 0;
	}
	case H_CLEN:
		clen_byte(st, c);
		return 0;
	case H_NAME_WS:
		if (c == ':' && (framing_header(st, CL_BIT, CONTENT_LENGTH_LEN) ||
				 framing_header(st, TE_BIT, TRANSFER_ENCODING_LEN)))
			st->h_cl = CL_BAD; /* "Content-Length :": a framing of its own */
		if (c == ':')
			st->h_mode = secret_header(r, st) ? H_OWS : H_SKIP;
		else if (c != ' ' && c != '\t')
			st->h_mode = c == '\n' ? H_NAME : H_SKIP;
		if (c == '\n')
			st->h_len = 0;
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
			st->h_mode = H_FOLD;
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

/* RESP machine: the arguments of commands (arrays of bulk strings, or
 * inline commands) and the elements of replies, nested aggregates
 * flattened.  What is overwritten is decided per argument, from the words
 * before it (see arg_begin and arg_end):
 *   AUTH [user] pass                   every argument
 *   HELLO ver AUTH user pass           the two after AUTH
 *   MIGRATE ... AUTH pass | AUTH2 user pass
 *   ACL SETUSER name >pass <pass #hash !hash   all but the rule's first byte
 *   anything followed by a secret config name and a value: CONFIG SET
 *   requirepass X, the reply to CONFIG GET masterauth, SENTINEL SET m
 *   auth-pass X: the value.
 * States: R_LINE at the start of a message; R_NUM: digits of "*N", "$N"
 * ("N" is an aggregate's count, R_NUM_NEST one inside an aggregate); R_BULK:
 * data of a bulk string; R_CRLF: the "\r\n" after it; R_ELEM: expecting an
 * element of an aggregate; R_ELEM_LINE: a simple element ("+OK") to its end;
 * R_WORD: the first word of an inline command; R_INLINE: its arguments;
 * R_SKIP: to the end of the line. */
enum { R_LINE = 0, R_NUM_ARRAY, R_NUM_BULK, R_NUM_NEST, R_BULK, R_CRLF, R_ELEM, R_ELEM_LINE,
       R_WORD, R_INLINE, R_SKIP };
enum { C_OTHER = 0, C_AUTH, C_HELLO, C_MIGRATE, C_ACL, C_ACL_SETUSER };
enum { A_KEEP = 0, A_ALL, A_RULE };

/* Config parameters whose value is a credential (CONFIG SET/GET, SENTINEL). */
static const char *const secret_params[] = {
	"requirepass", "masterauth", "auth-pass", "sentinel-pass", "tls-key-file-pass",
	"tls-client-key-file-pass", NULL,
};

static int word_is(const struct fr_redact_state *st, const char *w)
{
	size_t n = strlen(w);
	return st->r_wlen == n && !memcmp(st->r_word, w, n);
}

static void msg_begin(struct fr_redact_state *st)
{
	st->r_idx = 0;
	st->r_cmd = C_OTHER;
	st->r_next = 0;
}

/* Before an argument's first byte: how much of it to overwrite. */
static void arg_begin(struct fr_redact_state *st)
{
	st->r_wlen = 0;
	if (st->r_next) {
		st->r_next--;
		st->r_arg = A_ALL;
	} else if (st->r_cmd == C_AUTH && st->r_idx > 0) {
		st->r_arg = A_ALL;
	} else {
		st->r_arg = st->r_cmd == C_ACL_SETUSER && st->r_idx >= 3 ? A_RULE : A_KEEP;
	}
}

/* One byte of an argument; 1 if it is to be overwritten. */
static int arg_byte(struct fr_redact_state *st, uint8_t c)
{
	if (st->r_arg == A_ALL)
		return 1;
	if (st->r_arg == A_RULE && st->r_wlen == 0 && c && strchr("<>#!", c)) {
		st->r_arg = A_ALL; /* ">pass": the rest of it */
		return 0;
	}
	if (st->r_wlen < sizeof(st->r_word))
		st->r_word[st->r_wlen] = lower((char)c);
	if (st->r_wlen <= sizeof(st->r_word))
		st->r_wlen++; /* sizeof + 1: too long to be a word that matters */
	return 0;
}

/* After an argument: what the word means for the arguments after it. */
static void arg_end(struct fr_redact_state *st)
{
	if (st->r_arg == A_KEEP) {
		if (st->r_idx == 0)
			st->r_cmd = word_is(st, "auth")      ? C_AUTH
				    : word_is(st, "hello")   ? C_HELLO
				    : word_is(st, "migrate") ? C_MIGRATE
				    : word_is(st, "acl")     ? C_ACL
							     : C_OTHER;
		else if (st->r_idx == 1 && st->r_cmd == C_ACL && word_is(st, "setuser"))
			st->r_cmd = C_ACL_SETUSER;
		else if ((st->r_cmd == C_HELLO || st->r_cmd == C_MIGRATE) && word_is(st, "auth"))
			st->r_next = st->r_cmd == C_HELLO ? 2 : 1;
		else if (st->r_cmd == C_MIGRATE && word_is(st, "auth2"))
			st->r_next = 2;
		for (int i = 0; secret_params[i]; i++)
			if (word_is(st, secret_params[i]))
				st->r_next = 1;
	}
	st->r_idx++;
}

/* After an element of an aggregate: the next one, or the next message. */
static void next_elem(struct fr_redact_state *st)
{
	st->r_mode = st->r_idx >= st->r_args ? R_LINE : R_ELEM;
}

static int is_agg(uint8_t c) { return c == '*' || c == '%' || c == '~' || c == '>'; }

/* The bytes of an inline command ("ACL SETUSER bob >pw\r\n"): R_WORD its
 * first word, R_INLINE the arguments, separated by blanks. */
static size_t inline_byte(struct fr_redact_state *st, uint8_t c)
{
	if (st->r_mode == R_WORD) {
		if (c == ' ' || c == '\t') {
			st->r_arg = A_KEEP;
			arg_end(st);
			int known = st->r_cmd != C_OTHER || word_is(st, "config") || word_is(st, "sentinel");
			st->r_mode = known ? R_INLINE : R_SKIP;
			st->r_wlen = 0;
		} else if (c == '\n') {
			st->r_mode = R_LINE;
		} else if (st->r_wlen < 8) {
			st->r_word[st->r_wlen++] = lower((char)c);
		} else {
			st->r_mode = R_SKIP;
		}
		return 0;
	}
	/* R_INLINE: r_wlen == 0 and r_arg == A_KEEP between arguments */
	if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
		if (st->r_wlen || st->r_arg != A_KEEP) {
			arg_end(st);
			st->r_wlen = 0;
			st->r_arg = A_KEEP;
		}
		if (c == '\n')
			st->r_mode = R_LINE;
		return 0;
	}
	if (st->r_wlen == 0 && st->r_arg == A_KEEP)
		arg_begin(st);
	if (st->r_arg == A_ALL)
		return 1;
	return (size_t)arg_byte(st, c);
}

static size_t resp_byte(struct fr_redact_state *st, uint8_t c)
{
	switch (st->r_mode) {
	case R_LINE:
		st->r_num = 0;
		if (is_agg(c)) {
			st->r_agg = c;
			st->r_mode = R_NUM_ARRAY;
		} else if (c == '$') { /* a bare bulk string: one argument */
			msg_begin(st);
			st->r_args = 1;
			st->r_mode = R_NUM_BULK;
		} else if (c == '\r' || c == '\n') {
			/* stay */
		} else if (c && strchr("ahmcsAHMCS", c)) { /* inline AUTH, HELLO, MIGRATE, CONFIG, ACL, SENTINEL */
			msg_begin(st);
			st->r_wlen = 1;
			st->r_word[0] = lower((char)c);
			st->r_mode = R_WORD;
		} else {
			st->r_mode = R_SKIP;
		}
		return 0;
	case R_NUM_ARRAY:
	case R_NUM_BULK:
	case R_NUM_NEST:
		if (c >= '0' && c <= '9') {
			if (st->r_num >= 0 && st->r_num < (1LL << 40))
				st->r_num = st->r_num * 10 + (c - '0');
		} else if (c == '-' && st->r_num == 0) {
			st->r_num = -1; /* "*-1", "$-1": null, no elements, no data */
		} else if (c == '\n') {
			int64_t n = st->r_num < 0 ? 0 : st->r_agg == '%' ? 2 * st->r_num : st->r_num;
			if (st->r_mode == R_NUM_ARRAY) {
				msg_begin(st);
				st->r_args = n;
				st->r_mode = n > 0 ? R_ELEM : R_LINE;
			} else if (st->r_mode == R_NUM_NEST) {
				st->r_args += n - 1; /* its elements take its place */
				next_elem(st);
			} else {
				st->r_left = st->r_num;
				arg_begin(st);
				if (st->r_arg == A_KEEP && st->r_left > (int64_t)sizeof(st->r_word))
					st->r_wlen = sizeof(st->r_word) + 1; /* no word that matters */
				st->r_mode = st->r_left > 0 ? R_BULK : R_CRLF;
				if (st->r_left < 0) { /* null: no data, no "\r\n" */
					arg_end(st);
					next_elem(st);
				}
			}
			st->r_num = 0;
		} else if (c != '\r') {
			st->r_mode = R_SKIP;
		}
		return 0;
	case R_ELEM:
		st->r_num = 0;
		if (c == '$' || c == '=' || c == '!') {
			st->r_mode = R_NUM_BULK;
		} else if (is_agg(c)) {
			st->r_agg = c;
			st->r_mode = R_NUM_NEST;
		} else if (c && strchr("+-:_,#(", c)) {
			st->r_mode = R_ELEM_LINE;
		} else {
			st->r_mode = R_SKIP;
		}
		return 0;
	case R_ELEM_LINE:
		if (c == '\n') {
			st->r_idx++;
			next_elem(st);
		}
		return 0;
	case R_BULK: {
		int red = arg_byte(st, c);
		if (--st->r_left == 0)
			st->r_mode = R_CRLF;
		return (size_t)red;
	}
	case R_CRLF:
		if (c == '\n') {
			arg_end(st);
			next_elem(st);
		}
		return 0;
	case R_WORD:
	case R_INLINE:
		return inline_byte(st, c);
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
		if (st->h_mode == H_BODY) {
			size_t k = n - i < st->h_left ? n - i : (size_t)st->h_left;
			i += k;
			st->h_left -= k;
			if (!st->h_left) {
				st->h_mode = H_NAME;
				st->h_len = 0;
			}
			continue;
		}
		if (st->h_mode == H_BODY1) {
			if (st->h_req ? p[i] >= 'A' && p[i] <= 'Z' : p[i] == 'H') { /* no body: the next message */
				st->h_frame = F_OFF;
				st->h_mode = H_NAME;
				st->h_len = 0;
			} else {
				st->h_mode = H_BODY;
			}
			continue;
		}
		if (st->h_mode == H_SKIP) {
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			if (!nl)
				break;
			i = (size_t)(nl - p) + 1;
			/* a line whose first byte starts no secret header's name
			 * (most lines of a body) is skipped here: http_byte
			 * would go back to H_SKIP on it (for every byte but a
			 * newline, an empty line; in a message's head, a CR too:
			 * the empty line that ends it) */
			if (i < n && p[i] != '\n' && !r->first[p[i]] && !(p[i] == '\r' && st->h_frame == F_HEAD))
				continue;
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
		if (st->r_mode == R_BULK &&
		    (st->r_arg == A_ALL || (st->r_arg == A_KEEP && st->r_wlen > sizeof(st->r_word)))) {
			/* the rest of this bulk string in one step */
			size_t k = n - i;
			if ((int64_t)k > st->r_left)
				k = (size_t)st->r_left;
			if (st->r_arg == A_ALL) {
				red += k;
				if (w)
					memset(w + i, '*', k);
			}
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
	st->k_mode = K_HDR;
	st->q_mode = Q_DETECT;
	if (n >= 2 && (p[0] == '*' || p[0] == '$') && is_digit(p[1]))
		st->only = FR_REDACT_ONLY_RESP;
	else if (http_start(p, n)) {
		st->only = FR_REDACT_ONLY_HTTP;
		st->h_frame = F_START;
		st->h_req = memcmp(p, "HTTP/1.", 7) != 0;
	}
}

void fr_redact_gap(struct fr_redact_state *st, uint64_t n)
{
	if (!n)
		return;
	fr_redact_sql_gap(st, n);
	fr_redact_kafka_gap(st, n);
	if (st->h_mode == H_BODY && n <= st->h_left) {
		st->h_left -= n;
		if (!st->h_left) {
			st->h_mode = H_NAME;
			st->h_len = 0;
		}
		return;
	}
	if (st->h_mode == H_BODY || st->h_mode == H_BODY1)
		st->h_mode = H_SKIP; /* somewhere in a line, or a body, or a head */
	st->h_frame = F_OFF;
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
	if (st->only != FR_REDACT_ONLY_RESP)
		red += fr_redact_url_pass(st, p, w, n);
	if (r->redis && st->only != FR_REDACT_ONLY_HTTP)
		red += resp_pass(st, p, w, n);
	if (st->q_mode != Q_OFF && st->q_mode != Q_DONE)
		red += fr_redact_sql_pass(st, p, w, n);
	if (st->k_mode != K_OFF && st->k_mode != K_DONE && !st->only)
		red += fr_redact_kafka_pass(st, p, w, n);
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
