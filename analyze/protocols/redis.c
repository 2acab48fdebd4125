/* redis.c - Redis serialization protocol RESP2 and RESP3, commands paired
 * with replies FIFO (pipelining); push messages and pub/sub deliveries are
 * not replies: they go to the messages table.
 *
 * Reference: https://redis.io/docs/latest/develop/reference/protocol-spec/
 *
 *   command  = "*" argc CRLF *( "$" len CRLF bytes CRLF )   | inline words CRLF
 *   reply    = type-byte ... CRLF, where the type byte is one of
 *     +  simple string   -  error         :  integer      $  bulk string
 *     *  array           _  null (3)      ,  double (3)   #  boolean (3)
 *     !  bulk error (3)  =  verbatim (3)  (  big number (3)
 *     %  map (3)         ~  set (3)       >  push (3)     |  attribute (3)
 *   aggregates: type count CRLF then count elements (maps and attributes
 *   2*count); count -1 is a null.  Bulk: type len CRLF len bytes CRLF.
 *
 * The parser is a byte machine over lines and bulk payloads with a stack of
 * remaining element counts, so any split of the input gives the same result.
 * Bulk payloads are skipped without buffering (only the first bytes of the
 * command name and key are kept).
 *
 * Every type byte is decoded in either version; what HELLO negotiated is
 * remembered (the `resp` column: 3 or 2 from the HELLO's reply on, NULL
 * before any HELLO) and decides whether a subscriber's arrays are messages
 * (RESP2) or replies (RESP3, whose messages are pushes).  A HELLO sent
 * before the recording is known when the connection's kept head is
 * replayed (formats/SEGMENT.md, CONN_HEAD).
 */
#include "../proto.h"
#include "../../formats/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX 512   /* kept bytes of one line; longer lines are cut */
#define DEPTH_MAX 32   /* runs of nesting levels kept (struct level) */
#define NEST_MAX (1u << 20) /* levels of nesting in all */
#define PEND_MAX 4096  /* commands waiting for replies */
#define CAP 64         /* kept bytes of a command name / key / first elem */

enum { ST_LINE = 0, ST_BULK, ST_RESYNC };

struct rdir {
	int st;
	uint8_t line[LINE_MAX];
	uint32_t llen;
	int lcut;
	/* The open aggregates, outermost first, run-length coded: a run of
	 * levels with the same count of elements left is one entry, so a reply
	 * nested 100k deep as "*1\r\n*1\r\n..." takes one entry, not 100k. */
	struct level {
		int64_t rem; /* elements left in each level of the run */
		uint32_t rep; /* levels in the run */
	} lv[DEPTH_MAX];
	int nlv;
	int64_t top_n; /* element count of the top-level aggregate */
	uint32_t depth; /* levels open, the sum of lv[].rep */
	int deep;       /* the message nests deeper than 32 (reported once) */
	uint64_t bulk_rem;
	int cap_idx; /* which capture a bulk payload goes to, -1 none */
	int in_msg;
	uint64_t first_ts, last_ts, bytes;
	uint8_t type; /* top-level type byte */
	int attr;     /* top-level attribute in progress (RESP3 '|') */
	int null;     /* top-level null ($-1, *-1 or _) */
	/* captures: 0 command / first element, 1 key, 2 error text */
	char cap[3][CAP + 1];
	uint32_t caplen[3];
	int64_t argc;
};

struct pend {
	char cmd[CAP + 1];
	char key[CAP + 1];
	int64_t argc;
	uint64_t first_ts, last_ts, bytes;
};

struct redis {
	struct rdir d[2];
	struct fr_fifo q; /* of struct pend */
	int resp; /* protocol version a HELLO switched to (2, 3); 0: none seen */
	int pubsub;
	int64_t confirm_left; /* confirmations still due for the last SUBSCRIBE */
	/* a gap cut the commands: a reply that finds none waiting answers one
	 * lost in it (a window that starts between a command and its reply),
	 * not a reply without a command */
	int cmd_gap;
};

static const char *type_name(uint8_t t)
{
	switch (t) {
	case '+': return "simple";
	case '-': return "error";
	case ':': return "integer";
	case '$': return "bulk";
	case '*': return "array";
	case '_': return "null";
	case ',': return "double";
	case '#': return "boolean";
	case '!': return "error";
	case '=': return "verbatim";
	case '(': return "bignum";
	case '%': return "map";
	case '~': return "set";
	case '>': return "push";
	case '|': return "attribute";
	default: return "?";
	}
}

/* ---- helpers ------------------------------------------------------------ */

static int parse_i64(const uint8_t *p, size_t n, int64_t *out)
{
	struct fr_cur c;
	cur_init(&c, p, n);
	int neg = 0;
	int64_t v = 0;
	size_t digits = 0;
	if (cur_left(&c) && *c.p == '-') {
		neg = 1;
		cur_skip(&c, 1);
	}
	while (cur_left(&c)) {
		uint8_t ch = cur_u8(&c);
		if (ch < '0' || ch > '9' || ++digits > 18)
			return -1;
		v = v * 10 + (ch - '0');
	}
	if (!digits)
		return -1;
	*out = neg ? -v : v;
	return 0;
}

static void cap_add(struct rdir *d, int i, const uint8_t *p, size_t n)
{
	if (i < 0 || i > 2)
		return;
	size_t room = CAP - d->caplen[i];
	if (n > room)
		n = room;
	for (size_t k = 0; k < n; k++)
		d->cap[i][d->caplen[i] + k] = (p[k] >= 0x20 && p[k] < 0x7f) ? (char)p[k] : '?';
	d->caplen[i] += (uint32_t)n;
	d->cap[i][d->caplen[i]] = 0;
}

static void upcase(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 32);
}

static struct pend *q_front(struct redis *s) { return fr_fifo_at(&s->q, sizeof(struct pend), 0); }
static void q_pop(struct redis *s) { fr_fifo_pop(&s->q); }

static void emit(const struct redis *s, struct fr_pctx *ctx, const struct pend *p, const struct rdir *r,
		 uint64_t ts, const char *reason)
{
	struct fr_req q;
	memset(&q, 0, offsetof(struct fr_req, f)); /* the fields: as many as n_fields says */
	char summary[2 * CAP + 8], status[CAP + 16], err[CAP + 1];
	if (p) {
		/* "%s %s" / "%s" */
		size_t o = fr_cat(summary, sizeof(summary), 0, p->cmd, sizeof(p->cmd));
		if (p->key[0]) {
			o = fr_cat(summary, sizeof(summary), o, " ", 1);
			fr_cat(summary, sizeof(summary), o, p->key, sizeof(p->key));
		}
		q.req_first_ns = p->first_ts;
		q.req_last_ns = p->last_ts;
		q.req_bytes = p->bytes;
		q.endpoint = p->cmd;
	} else {
		snprintf(summary, sizeof(summary), s->cmd_gap ? "(command lost in gap)" : "(reply without command)");
	}
	q.summary = summary;
	err[0] = 0;
	if (r) {
		if (r->type == '-' || r->type == '!') {
			/* the error prefix: first word of the error text */
			fr_cat(err, sizeof(err), 0, r->cap[2], sizeof(r->cap[2]));
			size_t w = strcspn(err, " ");
			fr_cat(status, sizeof(status), 0, err, w);
			q.error = 1;
		} else {
			const char *t = r->null ? "null" : type_name(r->type);
			fr_cat(status, sizeof(status), 0, t, strlen(t));
		}
		q.status = status;
		q.resp_first_ns = r->first_ts;
		q.resp_last_ns = ts;
		q.resp_bytes = r->bytes;
	} else {
		q.error = 1;
	}
	q.reason = reason;
	fr_field_str(&q, "command", p ? p->cmd : NULL);
	fr_field_str(&q, "key", p && p->key[0] ? p->key : NULL);
	if (p)
		fr_field_int(&q, "argc", p->argc);
	else
		fr_field_str(&q, "argc", NULL);
	fr_field_str(&q, "reply_type", r ? (r->null ? "null" : type_name(r->type)) : NULL);
	fr_field_str(&q, "error", err[0] ? err : NULL);
	if (r && s->resp)
		fr_field_int(&q, "resp", s->resp);
	else
		fr_field_str(&q, "resp", NULL);
	ctx->emit_request(ctx, &q);
}

/* ---- messages ------------------------------------------------------------ */

static void reset_msg(struct rdir *d)
{
	d->in_msg = 0;
	d->depth = 0;
	d->nlv = 0;
	d->deep = 0;
	d->type = 0;
	d->attr = 0;
	d->null = 0;
	d->bytes = 0;
	d->argc = 0;
	d->top_n = 0;
	for (int i = 0; i < 3; i++) {
		d->caplen[i] = 0;
		d->cap[i][0] = 0;
	}
}

static void on_command(struct redis *s, struct fr_pctx *ctx, struct rdir *d)
{
	if (s->q.len == PEND_MAX) {
		ctx->anomaly(ctx, d->last_ts, "bound_exceeded", "redis: more than 4096 commands waiting; oldest reported unanswered");
		emit(s, ctx, q_front(s), NULL, 0, "pipeline overflow");
		q_pop(s);
	}
	struct pend *p = fr_fifo_push(&s->q, sizeof(*p));
	if (!p)
		return;
	memcpy(p->cmd, d->cap[0], sizeof(p->cmd));
	upcase(p->cmd);
	memcpy(p->key, d->cap[1], sizeof(p->key));
	if (!strcmp(p->cmd, "AUTH")) /* a user name or a password, not a key */
		p->key[0] = 0;
	p->argc = d->argc;
	p->first_ts = d->first_ts;
	p->last_ts = d->last_ts;
	p->bytes = d->bytes;
	if (strstr(p->cmd, "SUBSCRIBE") && strncmp(p->cmd, "UN", 2) && strncmp(p->cmd, "PUN", 3) &&
	    strncmp(p->cmd, "SUN", 3))
		s->pubsub = 1;
	else if (!strcmp(p->cmd, "RESET"))
		s->pubsub = 0;
}

static void on_message(struct fr_pctx *ctx, const struct rdir *d, uint64_t ts)
{
	if (!ctx->emit_message)
		return;
	char kind[CAP + 1];
	memcpy(kind, d->cap[0], sizeof(kind));
	for (char *c = kind; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	struct fr_msg m = {
		.first_ns = d->first_ts,
		.last_ns = ts,
		.bytes = d->bytes,
		.dir = FR_S2C,
		.kind = kind[0] ? kind : "push",
		.topic = d->caplen[1] ? d->cap[1] : NULL,
	};
	ctx->emit_message(ctx, &m);
}

static void on_reply(struct redis *s, struct fr_pctx *ctx, struct rdir *d, uint64_t ts)
{
	int push = d->type == '>';
	/* a RESP2 subscriber gets its messages as arrays, a RESP3 one as pushes */
	if (push || (s->pubsub && d->type == '*' && s->resp != 3)) {
		char first[CAP + 1];
		memcpy(first, d->cap[0], sizeof(first));
		upcase(first);
		struct pend *h = q_front(s);
		int confirm = strstr(first, "SUBSCRIBE") != NULL;
		int delivery = !strcmp(first, "MESSAGE") || !strcmp(first, "PMESSAGE") || !strcmp(first, "SMESSAGE");
		/* a delivery, a RESP3 push that answers no command, or one of the
		 * further confirmations of a (UN)SUBSCRIBE naming many channels */
		if (delivery || (confirm && s->confirm_left) || (push && !confirm) ||
		    (confirm && (!h || !strstr(h->cmd, "SUBSCRIBE")))) {
			if (confirm && s->confirm_left)
				s->confirm_left--;
			on_message(ctx, d, ts);
			return;
		}
		if (confirm && h->argc > 2)
			s->confirm_left = h->argc - 2;
	}
	struct pend *p = q_front(s);
	if (!p) {
		if (!s->cmd_gap)
			ctx->anomaly(ctx, ts, "unpaired_response", "redis: reply without a command");
	} else if (!strcmp(p->cmd, "HELLO") && (d->type == '%' || d->type == '*'))
		/* HELLO's reply is a map in RESP3, an array in RESP2, and
		 * already in the version asked for: the replies from here on */
		s->resp = d->type == '%' ? 3 : 2;
	emit(s, ctx, p, d, ts, p ? NULL : s->cmd_gap ? "command lost in gap" : "reply without command");
	if (p)
		s->cmd_gap = 0;
	q_pop(s);
}

static void to_resync(struct redis *s, struct fr_pctx *ctx, int dir, uint64_t ts, const char *why);

/* One element ended at the current depth. */
static void elem_done(struct redis *s, struct fr_pctx *ctx, int dir, uint64_t ts)
{
	struct rdir *d = &s->d[dir];
	for (;;) {
		if (d->depth == 0) {
			if (d->attr) { /* the attribute ended; its reply follows */
				d->attr = 0;
				d->type = 0;
				return;
			}
			d->last_ts = ts;
			if (dir == FR_C2S)
				on_command(s, ctx, d);
			else
				on_reply(s, ctx, d, ts);
			reset_msg(d);
			return;
		}
		struct level *l = &d->lv[d->nlv - 1];
		if (l->rem > 1 && l->rep == 1) {
			l->rem--;
			return;
		}
		if (l->rem > 1) { /* the innermost level of the run leaves it */
			if (d->nlv == DEPTH_MAX) {
				to_resync(s, ctx, dir, ts, "redis: more than 32 distinct levels of nesting");
				return;
			}
			l->rep--;
			d->lv[d->nlv++] = (struct level){l->rem - 1, 1};
			return;
		}
		d->depth--; /* the innermost level ended */
		if (--l->rep == 0)
			d->nlv--;
	}
}

/* Index of the element starting now inside the top-level aggregate, or -1. */
static int top_index(const struct rdir *d)
{
	if (d->depth != 1)
		return -1;
	return (int)(d->top_n - d->lv[0].rem);
}

static void to_resync(struct redis *s, struct fr_pctx *ctx, int dir, uint64_t ts, const char *why)
{
	struct rdir *d = &s->d[dir];
	if (why)
		ctx->anomaly(ctx, ts, "parse_error", why);
	if (dir == FR_S2C) {
		/* replies were lost (a gap) or could not be read (why): the
		 * commands waiting cannot be paired safely */
		while (s->q.len) {
			emit(s, ctx, q_front(s), NULL, 0, why ? "reply not parsed" : "reply lost in gap");
			q_pop(s);
		}
	}
	reset_msg(d);
	d->st = ST_RESYNC;
	d->llen = 0;
	d->lcut = 0;
}

/* A complete line (without CR LF) in state ST_LINE. */
/* An aggregate's header line (*, ~, >, %, |: l[0] is t): its length,
 * and a level of nesting. */
static void on_aggregate(struct redis *s, struct fr_pctx *ctx, int dir, uint8_t t, const uint8_t *l, size_t n,
			 int top, uint64_t ts)
{
	struct rdir *d = &s->d[dir];
	int64_t v = 0;
	if (parse_i64(l + 1, n - 1, &v) < 0 || v > 1000000000) {
		to_resync(s, ctx, dir, ts, "redis: bad aggregate length");
		return;
	}
	if (top) {
		d->type = t;
		if (t == '|')
			d->attr = 1;
	}
	if (t == '%' || t == '|')
		v *= 2;
	if (top && dir == FR_C2S)
		d->argc = v;
	if (top && v < 0)
		d->null = 1;
	if (v <= 0) {
		elem_done(s, ctx, dir, ts);
		return;
	}
	if (d->depth >= NEST_MAX) {
		to_resync(s, ctx, dir, ts, "redis: nesting deeper than 1048576");
		return;
	}
	if (d->nlv && d->lv[d->nlv - 1].rem == v) {
		d->lv[d->nlv - 1].rep++;
	} else if (d->nlv == DEPTH_MAX) {
		to_resync(s, ctx, dir, ts, "redis: more than 32 distinct levels of nesting");
		return;
	} else {
		d->lv[d->nlv++] = (struct level){v, 1};
	}
	if (++d->depth == 1)
		d->top_n = v;
	if (d->depth > 32 && !d->deep) {
		d->deep = 1; /* parsed all the same: no client library sends this */
		ctx->anomaly(ctx, ts, "deep_nesting", "redis: aggregate nested deeper than 32 levels");
	}
}

/* An inline command's words (separated by spaces; a word may be "quoted"
 * with \ escapes, or 'quoted', as in redis's sdssplitargs), the first two
 * captured without unescaping; returns their count. */
static size_t inline_words(struct rdir *d, const uint8_t *l, size_t n)
{
	size_t i = 0, w = 0;
	while (i < n) {
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		size_t j = i, a = i, b;
		if (j < n && (l[j] == '"' || l[j] == '\'')) {
			uint8_t q = l[j];
			for (a = ++j; j < n && l[j] != q; j++)
				if (l[j] == '\\' && j + 1 < n)
					j++;
			b = j;
			if (j < n)
				j++;
		} else {
			while (j < n && l[j] != ' ' && l[j] != '\t')
				j++;
			b = j;
		}
		if (j > i) {
			if (w < 2)
				cap_add(d, (int)w, l + a, b - a);
			w++;
		}
		i = j;
	}
	return w;
}

static void on_line(struct redis *s, struct fr_pctx *ctx, int dir, const uint8_t *l, size_t n, uint64_t ts)
{
	struct rdir *d = &s->d[dir];
	if (!d->in_msg) {
		if (n == 0)
			return; /* stray CRLF */
		d->in_msg = 1;
		d->first_ts = ts;
	}
	if (n == 0) {
		to_resync(s, ctx, dir, ts, "redis: empty line");
		return;
	}
	uint8_t t = l[0];
	int top = d->depth == 0 && !d->type;
	int idx = top_index(d);
	int64_t v = 0;
	switch (t) {
	case '*': case '~': case '>': case '%': case '|':
		on_aggregate(s, ctx, dir, t, l, n, top, ts);
		return;
	case '$': case '=': case '!':
		if (parse_i64(l + 1, n - 1, &v) < 0 || v < -1 || v > 1000000000000LL) {
			to_resync(s, ctx, dir, ts, "redis: bad bulk length");
			return;
		}
		if (top)
			d->type = t;
		if (v < 0) {
			if (top)
				d->null = 1;
			elem_done(s, ctx, dir, ts);
			return;
		}
		d->st = ST_BULK;
		d->bulk_rem = (uint64_t)v + 2;
		d->cap_idx = -1;
		if (idx == 0 || idx == 1)
			d->cap_idx = idx;
		else if (top && t == '!')
			d->cap_idx = 2;
		return;
	case '+': case '-': case ':': case '_': case ',': case '#': case '(':
		if (top)
			d->type = t;
		if (top && t == '_')
			d->null = 1;
		if (idx == 0 || idx == 1)
			cap_add(d, idx, l + 1, n - 1);
		if (top && t == '-')
			cap_add(d, 2, l + 1, n - 1);
		elem_done(s, ctx, dir, ts);
		return;
	default:
		if (top && dir == FR_C2S) {
			d->argc = (int64_t)inline_words(d, l, n);
			d->type = '*';
			elem_done(s, ctx, dir, ts);
			return;
		}
		to_resync(s, ctx, dir, ts, "redis: unknown type byte");
	}
}

static void feed_dir(struct redis *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct rdir *d = &s->d[dir];
	struct fr_cur c;
	cur_init(&c, p, n);
	while (cur_left(&c)) {
		size_t left = cur_left(&c);
		if (d->st == ST_BULK) {
			size_t take = left < d->bulk_rem ? left : (size_t)d->bulk_rem;
			const uint8_t *b = NULL;
			cur_bytes(&c, &b, take);
			d->bytes += take;
			if (d->cap_idx >= 0 && d->bulk_rem > 2) {
				size_t data = d->bulk_rem - 2 < take ? (size_t)(d->bulk_rem - 2) : take;
				cap_add(d, d->cap_idx, b, data);
			}
			d->bulk_rem -= take;
			if (!d->bulk_rem) {
				d->st = ST_LINE;
				elem_done(s, ctx, dir, ts);
			}
			continue;
		}
		const uint8_t *nl = memchr(c.p, '\n', left);
		size_t take = nl ? (size_t)(nl - c.p) + 1 : left;
		const uint8_t *b = NULL;
		cur_bytes(&c, &b, take);
		if (d->in_msg || d->st == ST_LINE)
			d->bytes += take;
		size_t keep = take;
		if (d->llen + keep > LINE_MAX) {
			keep = LINE_MAX - d->llen;
			d->lcut = 1;
		}
		memcpy(d->line + d->llen, b, keep);
		d->llen += (uint32_t)keep;
		if (!nl && d->lcut && d->st == ST_LINE && d->line[0] != '+' && d->line[0] != '-' &&
		    !(dir == FR_C2S && ((d->line[0] | 0x20) >= 'a' && (d->line[0] | 0x20) <= 'z'))) {
			/* no type line is this long (only simple strings, errors
			 * and inline commands are): junk, skipped now rather than
			 * buffered until a newline that may never come */
			ctx->anomaly(ctx, ts, "bound_exceeded", "redis: line longer than 512 bytes; skipped");
			to_resync(s, ctx, dir, ts, NULL);
			continue;
		}
		if (!nl)
			continue;
		size_t ln = d->llen;
		if (!d->lcut) {
			ln--; /* the LF */
			if (ln && d->line[ln - 1] == '\r')
				ln--;
		}
		size_t full = d->llen; /* the line with its CR LF, when not cut */
		d->llen = 0;
		int cut = d->lcut;
		d->lcut = 0;
		if (d->st == ST_RESYNC) {
			/* a command starts with "*<n>"; a reply with any type byte at
			 * a line start.  Both are guesses after a gap.  A bulk string
			 * (or verbatim string, or bulk error) is taken to start a reply
			 * only when a command sent since the gap waits for one (the
			 * gap flushed those before): else it is likelier an element
			 * of an array the gap cut. */
			if (cut || ln < 1)
				continue;
			uint8_t t = d->line[0];
			int64_t v;
			int ok = dir == FR_C2S ? (t == '*' && parse_i64(d->line + 1, ln - 1, &v) == 0 && v > 0)
					       : t && (strchr("+-:*%~_,#(>|", t) != NULL ||
						       (s->q.len > 0 && strchr("$=!", t) != NULL));
			if (!ok)
				continue;
			d->st = ST_LINE;
			reset_msg(d);
			d->bytes = full; /* not take: the line may have come in pieces */
		}
		if (cut && d->line[0] != '+' && d->line[0] != '-') {
			ctx->anomaly(ctx, ts, "bound_exceeded", "redis: line longer than 512 bytes; skipped");
			to_resync(s, ctx, dir, ts, NULL);
			continue;
		}
		on_line(s, ctx, dir, d->line, ln, ts);
	}
}

/* ---- the descriptor ------------------------------------------------------ */

/* Commands recognised in the inline form ("SET k v\n", as redis-cli --pipe
 * and telnet users send them). */
static const char *const inline_cmds[] = {
	"get", "set", "del", "incr", "decr", "incrby", "ping", "echo", "hget", "hset", "hgetall",
	"hdel", "lpush", "rpush", "lpop", "rpop", "lrange", "llen", "sadd", "srem", "smembers",
	"zadd", "zrange", "zrem", "expire", "ttl", "exists", "keys", "scan", "mget", "mset",
	"auth", "select", "info", "hello", "client", "config", "subscribe", "psubscribe",
	"publish", "multi", "exec", "discard", "watch", "flushall", "flushdb", "dbsize", "quit",
	"setex", "setnx", "getset", "append", "type", "rename", "xadd", "xread", NULL,
};

static int inline_probe(const uint8_t *p, size_t n)
{
	size_t w = 0;
	while (w < n && w < 16 && p[w] != ' ' && p[w] != '\r' && p[w] != '\n')
		w++;
	if (w == 0 || w == 16)
		return FR_PROBE_NO;
	int known = 0;
	for (int i = 0; inline_cmds[i]; i++)
		if (fr_lc_eq(p, w, inline_cmds[i]))
			known = 1;
	if (!known)
		return FR_PROBE_NO;
	for (size_t i = w; i < n; i++) {
		if (p[i] == '\n')
			return FR_PROBE_C2S;
		if (p[i] < 0x20 && p[i] != '\r' && p[i] != '\t')
			return FR_PROBE_NO;
		if (i > 1024)
			return FR_PROBE_NO;
	}
	return FR_PROBE_MAYBE;
}

static int redis_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport != FR_TCP || n < 1)
		return FR_PROBE_NO;
	if (p[0] != '*')
		return inline_probe(p, n);
	/* a command: "*<digits>\r\n$<digits>\r\n" */
	if (p[0] == '*') {
		size_t i = 1;
		while (i < n && i < 12 && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == 1)
			return FR_PROBE_NO;
		if (i >= n)
			return FR_PROBE_MAYBE;
		if (p[i] != '\r')
			return FR_PROBE_NO;
		if (i + 2 >= n)
			return FR_PROBE_MAYBE;
		if (p[i + 1] != '\n')
			return FR_PROBE_NO;
		/* an array of arrays is a reply (a command is an array of bulk
		 * strings): a recording that begins with a reply, even one
		 * nested deep */
		return p[i + 2] == '$' ? FR_PROBE_C2S : p[i + 2] == '*' ? FR_PROBE_S2C : FR_PROBE_NO;
	}
	return FR_PROBE_NO;
}

static int redis_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *ch)
{
	struct redis *s = state;
	if (ch->dir < 0 || ch->dir > 1)
		return -1;
	feed_dir(s, ctx, ch->dir, ch->p, ch->len, ch->ts);
	return 0;
}

static void redis_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct redis *s = state;
	if (dir < 0 || dir > 1)
		return;
	struct rdir *d = &s->d[dir];
	if (d->st == ST_BULK && len + 2 <= d->bulk_rem) {
		d->bulk_rem -= len; /* inside a bulk payload: still in sync */
		d->bytes += len;
		return;
	}
	if (dir == FR_C2S)
		s->cmd_gap = 1;
	to_resync(s, ctx, dir, ts, NULL);
}

static void redis_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct redis *s = state;
	(void)ts;
	const char *reason = fr_end_reason(why);
	while (s->q.len) {
		emit(s, ctx, q_front(s), NULL, 0, reason);
		q_pop(s);
	}
	fr_fifo_free(&s->q);
}

const struct fr_proto fr_proto_redis = {
	.name = "redis",
	.table = "redis",
	.schema = "CREATE TABLE redis (request_id INTEGER PRIMARY KEY, command TEXT, key TEXT, "
		  "argc INTEGER, reply_type TEXT, error TEXT, resp INTEGER)",
	.state_size = sizeof(struct redis),
	.ports = {6379, 6380, 26379, 0},
	.udp = 0,
	.probe = redis_probe,
	.feed = redis_feed,
	.gap = redis_gap,
	.finish = redis_finish,
};
