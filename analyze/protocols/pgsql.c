/* pgsql.c - PostgreSQL frontend/backend protocol 3.0: startup and
 * authentication (without secrets), simple and extended queries with the
 * statement text on every Execute row, COPY, notices and notifications.
 *
 * Reference: https://www.postgresql.org/docs/current/protocol-message-formats.html
 *
 *   startup  = length (4, BE, includes itself) | code (4) | body
 *              code 196608 (3.0): "key NUL value NUL"... NUL
 *              80877103 SSLRequest, 80877104 GSSENCRequest (answered by one
 *              byte 'S' / 'G' or 'N'), 80877102 CancelRequest (pid, key)
 *   message  = type (1) | length (4, BE, includes itself) | body
 *   client   Q query | P parse (name, query, param types) | B bind (portal,
 *            statement, formats, values, result formats) | D describe |
 *            E execute (portal, max rows) | S sync | H flush | C close |
 *            X terminate | p password / SASL (secret: skipped, never kept)
 *            | d copy data | c copy done | f copy fail | F function call
 *   server   R authentication | S parameter status | K backend key (never
 *            kept) | Z ready for query (I / T / E) | T row description |
 *            D data row | C command complete (tag) | E error | N notice |
 *            A notification | I empty query | 1 2 3 parse / bind / close
 *            complete | n no data | s portal suspended | t parameter
 *            description | G H W copy in / out / both | d c copy data / done
 *
 * Rows: one per statement of a simple query (its CommandComplete tag or
 * error), one per Execute (the statement text and bound parameters of its
 * portal), one for the startup (user, database, application, the
 * authentication method in command_tag), one for a CancelRequest, and one
 * for a Parse / Bind / Describe / Close that fails.  Responses pair with
 * requests in order (the protocol answers in order; after an error the
 * server skips to Sync, and so does the pairing).  Notices and
 * notifications go to the messages table.
 *
 * Not decoded: TLS and GSS encryption (marked, then the connection is no
 * longer parsed), function calls (named only), replication sub-protocol.
 *
 * Resynchronisation: a gap inside a message of known length keeps the
 * framing; any other gap loses both directions until a client write starts
 * with a plausible message header, and the server's next write after it.
 */
#include "../proto.h"
#include "../sqlnorm.h"
#include "../../formats/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C2S_CAP 65536   /* kept bytes of a client message */
#define S2C_CAP 4096    /* kept bytes of a server message (rows: counted) */
#define TEXT_CAP 4096   /* kept bytes of a statement's text */
#define PARAMS_CAP 1024 /* bytes of the decoded parameter list */
#define STMT_MAX 256    /* named prepared statements per connection */
#define PORTAL_MAX 16   /* named portals per connection */
#define PEND_MAX 4096   /* messages waiting for their responses */
#define NAME_CAP 64
#define SUMMARY_SQL 160
#define ENDPOINT_CAP 256

#define CODE_V3 196608u
#define CODE_CANCEL 80877102u
#define CODE_SSL 80877103u
#define CODE_GSS 80877104u

enum { F_HDR = 0, F_BODY, F_LOST, F_ONEBYTE, F_SYNC };
#define SYNC_N 8 /* bytes of a write judged at a resync point */
enum { PH_START = 0, PH_AUTH, PH_READY, PH_STOP };

struct pdir {
	int st;
	int boundary; /* the next feed starts a write: a resync point */
	uint8_t sb[SYNC_N]; /* F_SYNC: the write's first bytes */
	uint32_t sblen;
	uint64_t sync_ts;
	uint64_t last_ts;
	uint8_t hdr[5];
	uint32_t hlen, need_hdr; /* 5 typed, 4 untyped (startup) */
	uint8_t type;            /* 0: untyped startup message */
	uint32_t rem;
	uint8_t *buf;
	size_t bcap;
	uint32_t blen;
	uint64_t total;
	int keep; /* keep the body (not for secrets, copy data, data rows) */
	int cut;
	uint64_t first_ts;
};

/* A client message waiting for its response. */
struct pend {
	uint8_t type;      /* Q P B D E S C H F, or 0 for startup */
	char *text;        /* statement text (heap) or NULL */
	char *params;      /* heap or NULL */
	char name[NAME_CAP + 1]; /* statement name */
	int stmt_idx;      /* Q: statements reported so far */
	uint64_t first_ts, last_ts, bytes;
	/* response */
	int got;
	uint64_t rfirst, rlast, rbytes;
	int64_t rows;
	int copy;
};

struct stmt {
	int used;
	char name[NAME_CAP + 1];
	char *text;
	uint64_t lru;
};

struct portal {
	int used;
	char name[NAME_CAP + 1];
	char stmt[NAME_CAP + 1];
	char *text;
	char *params;
};

struct err {
	char sev[16], code[8], msg[256], detail[256], hint[256];
	int64_t pos;
};

struct pgsql {
	struct pdir d[2];
	int phase;
	char user[128], db[128], app[128], auth[32];
	struct fr_fifo q; /* of struct pend */
	struct stmt st[STMT_MAX];
	struct stmt unnamed;
	struct portal po[PORTAL_MAX + 1]; /* [0]: the unnamed portal */
	uint64_t lru;
	int s2c_wait; /* after a server gap: resync after the next client message */
	uint64_t batch_first_ts, batch_bytes; /* Parse/Bind before an Execute */
};

static const char *kind_of(uint8_t t)
{
	switch (t) {
	case 'Q': return "simple";
	case 'E': return "extended";
	case 'P': return "parse";
	case 'B': return "bind";
	case 'D': return "describe";
	case 'C': return "close";
	case 'F': return "function";
	case 'X': return "cancel";
	case 0: return "startup";
	default: return "other";
	}
}

/* ---- helpers -------------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *r = malloc(n + 1);
	if (r) {
		memcpy(r, s, n);
		r[n] = 0;
	}
	return r;
}

/* A NUL-terminated string at the cursor (span into the buffer); -1 if the
 * message ends first. */
static int cstr(struct fr_cur *c, const char **s, size_t *n)
{
	const uint8_t *z = memchr(c->p, 0, cur_left(c));
	if (!z) {
		c->bad = 1;
		return -1;
	}
	*s = (const char *)c->p;
	*n = (size_t)(z - c->p);
	cur_skip(c, *n + 1);
	return 0;
}

static void copy_name(char *dst, const char *s, size_t n)
{
	fr_sql_printable(s, n, dst, NAME_CAP + 1);
}

static void parse_err(const uint8_t *p, size_t n, struct err *e)
{
	memset(e, 0, sizeof(*e));
	e->pos = -1;
	struct fr_cur c;
	cur_init(&c, p, n);
	while (cur_left(&c)) {
		uint8_t f = cur_u8(&c);
		const char *s;
		size_t l;
		if (f == 0 || cstr(&c, &s, &l))
			break;
		switch (f) {
		case 'V': fr_sql_printable(s, l, e->sev, sizeof(e->sev)); break;
		case 'S': if (!e->sev[0]) fr_sql_printable(s, l, e->sev, sizeof(e->sev)); break;
		case 'C': fr_sql_printable(s, l, e->code, sizeof(e->code)); break;
		case 'M': fr_sql_printable(s, l, e->msg, sizeof(e->msg)); break;
		case 'D': fr_sql_printable(s, l, e->detail, sizeof(e->detail)); break;
		case 'H': fr_sql_printable(s, l, e->hint, sizeof(e->hint)); break;
		case 'P':
			e->pos = 0;
			for (size_t i = 0; i < l && i < 9 && s[i] >= '0' && s[i] <= '9'; i++)
				e->pos = e->pos * 10 + (s[i] - '0');
			break;
		default: break;
		}
	}
}

/* The i-th statement of a simple query's text (split at ';' outside
 * quotes and comments); the whole text if there is no i-th. */
static void nth_statement(const char *s, size_t n, int idx, const char **out, size_t *on)
{
	int k = 0;
	size_t start = 0;
	char q = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : ';';
		if (q) {
			if (c == q)
				q = 0;
			continue;
		}
		if (c == '\'' || c == '"') {
			q = c;
		} else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
		} else if (c == ';') {
			size_t a = start, b = i;
			while (a < b && (s[a] == ' ' || s[a] == '\n' || s[a] == '\t' || s[a] == '\r'))
				a++;
			start = i + 1;
			if (a == b)
				continue;
			if (k++ == idx) {
				*out = s + a;
				*on = b - a;
				return;
			}
		}
	}
	*out = s;
	*on = n;
}

/* ---- statements and portals ------------------------------------------------ */

static struct stmt *stmt_get(struct pgsql *s, const char *name, int create, struct fr_pctx *ctx, uint64_t ts)
{
	if (!name[0])
		return &s->unnamed;
	struct stmt *free_slot = NULL, *old = NULL;
	for (int i = 0; i < STMT_MAX; i++) {
		struct stmt *t = &s->st[i];
		if (t->used && !strcmp(t->name, name))
			return t;
		if (!t->used && !free_slot)
			free_slot = t;
		if (t->used && (!old || t->lru < old->lru))
			old = t;
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		ctx->anomaly(ctx, ts, "bound_exceeded",
			     "pgsql: more than 256 prepared statements on one connection; the least used forgotten");
		free(old->text);
		memset(old, 0, sizeof(*old));
		free_slot = old;
	}
	free_slot->used = 1;
	memcpy(free_slot->name, name, sizeof(free_slot->name));
	return free_slot;
}

static struct portal *portal_get(struct pgsql *s, const char *name, int create)
{
	if (!name[0])
		return &s->po[0];
	struct portal *f = NULL;
	for (int i = 1; i <= PORTAL_MAX; i++) {
		if (s->po[i].used && !strcmp(s->po[i].name, name))
			return &s->po[i];
		if (!s->po[i].used && !f)
			f = &s->po[i];
	}
	if (!create)
		return NULL;
	if (!f)
		f = &s->po[1]; /* more than 16 named portals: reuse */
	f->used = 1;
	memcpy(f->name, name, sizeof(f->name));
	return f;
}

static void portal_drop(struct portal *p)
{
	free(p->text);
	free(p->params);
	p->text = p->params = NULL;
	if (p->name[0])
		p->used = 0;
}

/* ---- output ---------------------------------------------------------------- */

static struct pend *q_front(struct pgsql *s) { return fr_fifo_at(&s->q, sizeof(struct pend), 0); }

static void q_pop(struct pgsql *s)
{
	struct pend *p = q_front(s);
	if (!p)
		return;
	free(p->text);
	free(p->params);
	fr_fifo_pop(&s->q);
}

static void emit(struct pgsql *s, struct fr_pctx *ctx, struct pend *p, const char *text, size_t tlen,
		 const char *tag, const struct err *e, const char *reason)
{
	struct fr_req r;
	memset(&r, 0, offsetof(struct fr_req, f));
	char summary[SUMMARY_SQL + 32], ep[ENDPOINT_CAP], status[16], tagbuf[64];
	const char *kind = p->copy ? "copy" : kind_of(p->type);
	size_t o = fr_cat(summary, sizeof(summary), 0, kind, strlen(kind));
	if (text) {
		o = fr_cat(summary, sizeof(summary), o, " ", 1);
		fr_cat(summary, sizeof(summary), o, text, tlen < SUMMARY_SQL ? tlen : SUMMARY_SQL);
		fr_sql_normalise(text, tlen, ep, sizeof(ep));
	} else {
		fr_cat(ep, sizeof(ep), 0, kind, strlen(kind));
	}
	r.summary = summary;
	r.endpoint = ep;
	r.req_first_ns = p->first_ts;
	r.req_last_ns = p->last_ts;
	r.req_bytes = p->bytes;
	int64_t rows = -1;
	if (tag) { /* "SELECT 3", "INSERT 0 1", "COPY 5": the last number */
		fr_sql_printable(tag, strlen(tag), tagbuf, sizeof(tagbuf));
		const char *sp = strrchr(tagbuf, ' ');
		if (sp && sp[1] >= '0' && sp[1] <= '9')
			rows = strtoll(sp + 1, NULL, 10);
		tag = tagbuf;
	}
	if (p->got) {
		r.resp_first_ns = p->rfirst;
		r.resp_last_ns = p->rlast;
		r.resp_bytes = p->rbytes;
		if (e) {
			fr_cat(status, sizeof(status), 0, e->code[0] ? e->code : "ERROR", 8);
			r.error = 1;
		} else {
			fr_cat(status, sizeof(status), 0, "OK", 2);
		}
		r.status = status;
	} else if (p->type != 0 || reason) {
		r.error = reason != NULL;
	}
	r.reason = reason;
	fr_field_str(&r, "kind", kind);
	fr_field_text(&r, "statement", text, tlen);
	fr_field_str(&r, "statement_name", p->type == 'E' || p->type == 'P' ? p->name : NULL);
	fr_field_str(&r, "params", p->params);
	fr_field_str(&r, "command_tag", p->type == 0 ? (s->auth[0] ? s->auth : NULL) : tag);
	if (rows >= 0 || p->rows)
		fr_field_int(&r, "rows", rows >= 0 ? rows : p->rows);
	else
		fr_field_str(&r, "rows", NULL);
	fr_field_str(&r, "sqlstate", e && e->code[0] ? e->code : NULL);
	fr_field_str(&r, "severity", e && e->sev[0] ? e->sev : NULL);
	fr_field_str(&r, "error_message", e ? e->msg : NULL);
	fr_field_str(&r, "detail", e && e->detail[0] ? e->detail : NULL);
	fr_field_str(&r, "hint", e && e->hint[0] ? e->hint : NULL);
	if (e && e->pos >= 0)
		fr_field_int(&r, "position", e->pos);
	else
		fr_field_str(&r, "position", NULL);
	fr_field_str(&r, "database", s->db[0] ? s->db : NULL);
	fr_field_str(&r, "user", s->user[0] ? s->user : NULL);
	fr_field_str(&r, "application_name", s->app[0] ? s->app : NULL);
	ctx->emit_request(ctx, &r);
}

/* The statement a simple query's next result belongs to. */
static void simple_row(struct pgsql *s, struct fr_pctx *ctx, struct pend *p, const char *tag,
		       const struct err *e)
{
	const char *t = "";
	size_t tl = 0;
	if (p->text)
		nth_statement(p->text, strlen(p->text), p->stmt_idx++, &t, &tl);
	emit(s, ctx, p, p->text ? t : NULL, tl, tag, e, NULL);
	p->rows = 0;
	p->copy = 0;
}

static void pend_row(struct pgsql *s, struct fr_pctx *ctx, struct pend *p, const char *tag, const struct err *e)
{
	if (p->type == 'Q')
		simple_row(s, ctx, p, tag, e);
	else
		emit(s, ctx, p, p->text, p->text ? strlen(p->text) : 0, tag, e, NULL);
}

/* ---- server messages ------------------------------------------------------- */

static void on_auth(struct pgsql *s, const uint8_t *p, size_t n)
{
	struct fr_cur c;
	cur_init(&c, p, n);
	uint32_t code = cur_be32(&c);
	const char *m;
	size_t l;
	switch (code) {
	case 3: fr_cat(s->auth, sizeof(s->auth), 0, "password", 8); break;
	case 5: fr_cat(s->auth, sizeof(s->auth), 0, "md5", 3); break;
	case 7: fr_cat(s->auth, sizeof(s->auth), 0, "gss", 3); break;
	case 9: fr_cat(s->auth, sizeof(s->auth), 0, "sspi", 4); break;
	case 10: /* SASL: the first mechanism offered */
		if (!cstr(&c, &m, &l))
			fr_sql_printable(m, l, s->auth, sizeof(s->auth));
		break;
	case 0:
		if (!s->auth[0])
			fr_cat(s->auth, sizeof(s->auth), 0, "trust", 5);
		break;
	default: break; /* 11, 12: SASL continue / final (secret) */
	}
}

static void on_notice(struct fr_pctx *ctx, const struct pdir *d, uint64_t ts, int notify)
{
	if (!ctx->emit_message)
		return;
	char topic[300];
	struct fr_cur c;
	cur_init(&c, d->buf, d->blen);
	if (notify) { /* pid, channel, payload */
		const char *ch;
		size_t l;
		cur_skip(&c, 4);
		if (cstr(&c, &ch, &l))
			return;
		fr_sql_printable(ch, l, topic, sizeof(topic));
	} else {
		struct err e;
		parse_err(d->buf, d->blen, &e);
		snprintf(topic, sizeof(topic), "%s %s: %s", e.sev, e.code, e.msg);
	}
	struct fr_msg m = {
		.first_ns = d->first_ts,
		.last_ns = ts,
		.bytes = d->total + 5,
		.dir = FR_S2C,
		.kind = notify ? "notification" : "notice",
		.topic = topic,
	};
	ctx->emit_message(ctx, &m);
}

/* Drops the requests an error made the server skip, up to the Sync. */
static void skip_to_sync(struct pgsql *s)
{
	struct pend *p;
	while ((p = q_front(s)) && p->type != 'S' && p->type != 'Q' && p->type != 0)
		q_pop(s);
}

static void on_server(struct pgsql *s, struct fr_pctx *ctx, struct pdir *d, uint64_t ts)
{
	uint8_t t = d->type;
	if (t == 'N' || t == 'A') {
		on_notice(ctx, d, ts, t == 'A');
		return;
	}
	if (t == 'S' || t == 'K' || t == 'v')
		return; /* parameter status, backend key (never kept), version */
	struct pend *p = q_front(s);
	if (!p) {
		ctx->anomaly(ctx, ts, "unpaired_response", "pgsql: server message without a request");
		return;
	}
	if (!p->got) {
		p->got = 1;
		p->rfirst = d->first_ts;
	}
	p->rlast = ts;
	p->rbytes += d->total + 5;
	struct err e;
	switch (t) {
	case 'R':
		on_auth(s, d->buf, d->blen);
		break;
	case 'E':
		parse_err(d->buf, d->blen, &e);
		if (p->type == 'S') /* an error at Sync: nothing of its own */
			break;
		pend_row(s, ctx, p, NULL, &e);
		if (p->type == 0) {
			q_pop(s);
		} else if (p->type != 'Q') {
			q_pop(s);
			skip_to_sync(s);
		} else {
			p->got = 0; /* the rest of the query text is not run */
			p->stmt_idx = 1 << 20;
			p->rbytes = 0;
		}
		break;
	case 'Z':
		/* requests the server skipped or left unanswered before the Sync */
		skip_to_sync(s);
		p = q_front(s);
		if (p && p->type == 0)
			pend_row(s, ctx, p, NULL, NULL);
		s->phase = PH_READY;
		q_pop(s);
		break;
	case 'C':
	case 'I':
	case 's': {
		char tag[64];
		if (t == 'C')
			fr_sql_printable((const char *)d->buf, strnlen((const char *)d->buf, d->blen), tag,
					 sizeof(tag));
		else
			fr_cat(tag, sizeof(tag), 0, t == 'I' ? "EMPTY" : "SUSPENDED", t == 'I' ? 5 : 9);
		pend_row(s, ctx, p, tag, NULL);
		if (p->type != 'Q')
			q_pop(s);
		break;
	}
	case 'D':
	case 'd':
		p->rows += t == 'D';
		break;
	case 'G':
	case 'H':
	case 'W':
		p->copy = 1;
		break;
	case '1': case '2': case '3': case 'n': case 'T':
		if (p->type == 'P' || p->type == 'B' || p->type == 'C' || (p->type == 'D' && t != '1'))
			q_pop(s);
		break;
	default: /* t: parameter description (then T or n), c: copy done */
		break;
	}
}

/* ---- client messages ------------------------------------------------------- */

static struct pend *push(struct pgsql *s, struct fr_pctx *ctx, struct pdir *d, uint64_t ts, uint8_t type)
{
	if (s->q.len >= PEND_MAX) {
		ctx->anomaly(ctx, ts, "bound_exceeded", "pgsql: more than 4096 messages waiting; oldest dropped");
		q_pop(s);
	}
	struct pend *p = fr_fifo_push(&s->q, sizeof(*p));
	if (!p)
		return NULL;
	p->type = type;
	p->first_ts = d->first_ts;
	p->last_ts = ts;
	p->bytes = d->total + (type ? 5 : 4);
	return p;
}

static void on_startup(struct pgsql *s, struct fr_pctx *ctx, struct pdir *d, uint64_t ts)
{
	struct fr_cur c;
	cur_init(&c, d->buf, d->blen);
	uint32_t code = cur_be32(&c);
	if (code == CODE_SSL || code == CODE_GSS) {
		s->d[FR_S2C].st = F_ONEBYTE;
		return;
	}
	if (code == CODE_CANCEL) { /* pid and secret key: not kept */
		struct pend *p = push(s, ctx, d, ts, 'X');
		if (p) {
			emit(s, ctx, p, NULL, 0, NULL, NULL, NULL);
			q_pop(s);
		}
		return;
	}
	const char *k, *v;
	size_t kl, vl;
	while (cur_left(&c) && !cstr(&c, &k, &kl) && kl && !cstr(&c, &v, &vl)) {
		if (fr_lc_eq((const uint8_t *)k, kl, "user"))
			fr_sql_printable(v, vl, s->user, sizeof(s->user));
		else if (fr_lc_eq((const uint8_t *)k, kl, "database"))
			fr_sql_printable(v, vl, s->db, sizeof(s->db));
		else if (fr_lc_eq((const uint8_t *)k, kl, "application_name"))
			fr_sql_printable(v, vl, s->app, sizeof(s->app));
	}
	if (!s->db[0])
		memcpy(s->db, s->user, sizeof(s->db));
	s->phase = PH_AUTH;
	push(s, ctx, d, ts, 0);
}

/* Bind: portal, statement, formats, values (text ones shown), result
 * formats. */
static void on_bind(struct pgsql *s, struct fr_pctx *ctx, struct fr_cur *c, uint64_t ts)
{
	const char *pn, *sn;
	size_t pl, sl;
	if (cstr(c, &pn, &pl) || cstr(c, &sn, &sl))
		return;
	char pname[NAME_CAP + 1], sname[NAME_CAP + 1];
	copy_name(pname, pn, pl);
	copy_name(sname, sn, sl);
	struct portal *po = portal_get(s, pname, 1);
	portal_drop(po);
	po->used = 1;
	memcpy(po->stmt, sname, sizeof(po->stmt));
	struct stmt *st = stmt_get(s, sname, 0, ctx, ts);
	if (st && st->text) {
		po->text = dup_n(st->text, strlen(st->text));
		st->lru = ++s->lru;
	} else {
		char unk[NAME_CAP + 32];
		snprintf(unk, sizeof(unk), "<unknown statement %s>", sname[0] ? sname : "(unnamed)");
		po->text = dup_n(unk, strlen(unk));
		ctx->anomaly(ctx, ts, "unknown_statement",
			     "pgsql: Bind to a statement prepared before the recording (or forgotten)");
	}
	uint16_t nf = cur_be16(c);
	const uint8_t *fmts = NULL;
	if (cur_bytes(c, &fmts, (size_t)nf * 2))
		return;
	uint16_t np = cur_be16(c);
	if (c->bad)
		return;
	char buf[PARAMS_CAP + 1];
	size_t o = 0;
	buf[0] = 0;
	for (uint16_t i = 0; i < np && o + 8 < PARAMS_CAP; i++) {
		int32_t len = (int32_t)cur_be32(c);
		const uint8_t *v = NULL;
		if (c->bad || (len > 0 && cur_bytes(c, &v, (size_t)len))) {
			o = fr_cat(buf, sizeof(buf), o, ", ...", 5);
			break;
		}
		if (i)
			o = fr_cat(buf, sizeof(buf), o, ", ", 2);
		int bin = nf == 1 ? fmts[1] : (nf > i ? fmts[2 * i + 1] : 0);
		if (len < 0) {
			o = fr_cat(buf, sizeof(buf), o, "NULL", 4);
		} else if (bin) {
			char b[40];
			snprintf(b, sizeof(b), "<binary %d bytes>", len);
			o = fr_cat(buf, sizeof(buf), o, b, strlen(b));
		} else {
			char tmp[260];
			fr_sql_printable((const char *)v, (size_t)len, tmp, sizeof(tmp));
			o = fr_cat(buf, sizeof(buf), o, "'", 1);
			o = fr_cat(buf, sizeof(buf), o, tmp, sizeof(tmp));
			o = fr_cat(buf, sizeof(buf), o, "'", 1);
		}
	}
	if (np)
		po->params = dup_n(buf, o);
}

static void on_client(struct pgsql *s, struct fr_pctx *ctx, struct pdir *d, uint64_t ts)
{
	s->s2c_wait = 0;
	if (d->type == 0) {
		on_startup(s, ctx, d, ts);
		return;
	}
	uint8_t t = d->type;
	if (d->cut && d->total > C2S_CAP && d->keep)
		ctx->anomaly(ctx, ts, "bound_exceeded", "pgsql: client message longer than 64 KiB; kept its start");
	struct fr_cur c;
	cur_init(&c, d->buf, d->blen);
	const char *a, *b;
	size_t al, bl;
	struct pend *p;
	switch (t) {
	case 'Q':
		if ((p = push(s, ctx, d, ts, 'Q')))
			p->text = dup_n((const char *)d->buf, d->blen && !d->buf[d->blen - 1] ? d->blen - 1 :
				  (d->blen > TEXT_CAP ? TEXT_CAP : d->blen));
		if (p && p->text && strlen(p->text) > TEXT_CAP)
			p->text[TEXT_CAP] = 0;
		break;
	case 'P': {
		if (cstr(&c, &a, &al) || cstr(&c, &b, &bl))
			break;
		char name[NAME_CAP + 1];
		copy_name(name, a, al);
		struct stmt *st = stmt_get(s, name, 1, ctx, ts);
		free(st->text);
		st->text = dup_n(b, bl > TEXT_CAP ? TEXT_CAP : bl);
		st->lru = ++s->lru;
		if ((p = push(s, ctx, d, ts, 'P'))) {
			p->text = dup_n(st->text, st->text ? strlen(st->text) : 0);
			memcpy(p->name, name, sizeof(p->name));
		}
		break;
	}
	case 'B':
		on_bind(s, ctx, &c, ts);
		if ((p = push(s, ctx, d, ts, 'B'))) {
			struct portal *po = portal_get(s, "", 0);
			p->text = po && po->text ? dup_n(po->text, strlen(po->text)) : NULL;
		}
		break;
	case 'E': {
		if (cstr(&c, &a, &al))
			break;
		char pname[NAME_CAP + 1];
		copy_name(pname, a, al);
		struct portal *po = portal_get(s, pname, 0);
		if (!(p = push(s, ctx, d, ts, 'E')))
			break;
		if (po) {
			p->text = dup_n(po->text, po->text ? strlen(po->text) : 0);
			p->params = dup_n(po->params, po->params ? strlen(po->params) : 0);
			memcpy(p->name, po->stmt, sizeof(p->name));
		}
		if (s->batch_first_ts) { /* the Parse / Bind that led to it */
			p->first_ts = s->batch_first_ts;
			p->bytes += s->batch_bytes;
		}
		break;
	}
	case 'C': {
		uint8_t what = cur_u8(&c);
		if (cstr(&c, &a, &al))
			break;
		char name[NAME_CAP + 1];
		copy_name(name, a, al);
		if (what == 'S' && name[0]) {
			struct stmt *st = stmt_get(s, name, 0, ctx, ts);
			if (st) {
				free(st->text);
				memset(st, 0, sizeof(*st));
			}
		} else if (what == 'P') {
			struct portal *po = portal_get(s, name, 0);
			if (po)
				portal_drop(po);
		}
		push(s, ctx, d, ts, 'C');
		break;
	}
	case 'D': case 'S': case 'F':
		push(s, ctx, d, ts, t);
		break;
	case 'd': case 'c': case 'f': { /* COPY FROM STDIN data */
		struct pend *f = q_front(s);
		if (f)
			f->bytes += d->total + 5;
		break;
	}
	default: /* p: password / SASL (secret), H flush, X terminate */
		break;
	}
	/* an Execute's row starts at the first Parse / Bind of its batch */
	if (t == 'P' || t == 'B' || t == 'D') {
		if (!s->batch_first_ts)
			s->batch_first_ts = d->first_ts;
		s->batch_bytes += d->total + 5;
	} else if (t != 'H') {
		s->batch_first_ts = 0;
		s->batch_bytes = 0;
	}
}

/* ---- framing and resynchronisation ----------------------------------------- */

static int keep_body(int dir, uint8_t t)
{
	if (dir == FR_C2S)
		return t != 'p' && t != 'd';
	return t != 'D' && t != 'd' && t != 'K'; /* R: its code is kept, its SASL data not used */
}

static int plausible(const struct pgsql *s, int dir, const uint8_t *p, size_t n)
{
	if (n < 5)
		return 0;
	uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (len < 4 || len > (1u << 30))
		return 0;
	if (dir == FR_S2C)
		return s->q.len && !s->s2c_wait && strchr("RSKZTDCEINAG123nstHWdc", p[0]) != NULL;
	if (len > (1u << 24))
		return 0;
	switch (p[0]) {
	case 'Q': case 'P': /* text, or an unnamed statement's NUL */
		return n < 6 || p[5] >= 0x20 || p[5] == '\n' || p[5] == 0;
	case 'S': case 'H': case 'X':
		return len == 4;
	case 'D': case 'C':
		return len >= 6 && len < 1024 && (n < 6 || p[5] == 'S' || p[5] == 'P');
	case 'E':
		return len >= 9 && len < 1024;
	case 'B':
		return len >= 12;
	default:
		return 0;
	}
}

static void lose(struct pgsql *s, struct fr_pctx *ctx)
{
	struct pend *p;
	while ((p = q_front(s))) {
		if (p->type != 'S' && p->type != 'B' && p->type != 'D' && p->type != 'C')
			emit(s, ctx, p, p->text, p->text ? strlen(p->text) : 0, NULL, NULL, "lost in gap");
		q_pop(s);
	}
	for (int i = 0; i < 2; i++) {
		s->d[i].st = F_LOST;
		s->d[i].hlen = 0;
	}
	s->batch_first_ts = 0;
	s->batch_bytes = 0;
}

static void msg_end(struct pgsql *s, struct fr_pctx *ctx, int dir, uint64_t ts)
{
	struct pdir *d = &s->d[dir];
	d->st = F_HDR;
	if (dir == FR_C2S)
		on_client(s, ctx, d, ts);
	else
		on_server(s, ctx, d, ts);
	d->blen = 0;
	d->total = 0;
	d->cut = 0;
}

static void frame(struct pgsql *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct pdir *d = &s->d[dir];
	struct fr_cur c;
	cur_init(&c, p, n);
	while (cur_left(&c) && s->phase != PH_STOP && d->st != F_LOST) {
		if (d->st == F_ONEBYTE) { /* the answer to SSLRequest / GSSENCRequest */
			uint8_t b = cur_u8(&c);
			d->st = F_HDR;
			if (b == 'S' || b == 'G') {
				ctx->anomaly(ctx, ts, "not_decoded", "pgsql: the connection switches to TLS / GSS encryption");
				s->phase = PH_STOP;
			}
			continue;
		}
		if (d->st == F_HDR) {
			uint32_t need = dir == FR_C2S && s->phase == PH_START ? 4 : 5;
			d->hdr[d->hlen++] = cur_u8(&c);
			if (d->hlen < need)
				continue;
			d->hlen = 0;
			const uint8_t *h = need == 5 ? d->hdr + 1 : d->hdr;
			uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
			d->type = need == 5 ? d->hdr[0] : 0;
			if (len < 4 || len > (1u << 30)) {
				ctx->anomaly(ctx, ts, "parse_error", "pgsql: bad message length");
				lose(s, ctx);
				return;
			}
			d->rem = len - 4;
			d->first_ts = ts;
			d->blen = 0;
			d->total = 0;
			d->cut = 0;
			d->keep = keep_body(dir, d->type);
			d->st = F_BODY;
			if (!d->rem)
				msg_end(s, ctx, dir, ts);
			continue;
		}
		size_t take = cur_left(&c) < d->rem ? cur_left(&c) : d->rem;
		const uint8_t *b = NULL;
		cur_bytes(&c, &b, take);
		size_t cap = !d->keep ? 0 : dir == FR_C2S ? C2S_CAP : S2C_CAP;
		if (d->cut || fr_keep(&d->buf, &d->bcap, &d->blen, b, take, cap) < take)
			d->cut = 1;
		d->total += take;
		d->rem -= (uint32_t)take;
		if (!d->rem)
			msg_end(s, ctx, dir, ts);
	}
}

/* At a resync point: the first SYNC_N bytes of a write (or all of a
 * shorter one) decide whether the framing starts there. */
static void judge(struct pgsql *s, struct fr_pctx *ctx, int dir)
{
	struct pdir *d = &s->d[dir];
	d->st = F_LOST;
	if (dir == FR_C2S && s->phase == PH_START) {
		/* the first client write: a startup message, or a message of a
		 * connection taken up mid-way */
		uint32_t code = 0;
		if (d->sblen >= 8)
			code = (uint32_t)d->sb[4] << 24 | (uint32_t)d->sb[5] << 16 | (uint32_t)d->sb[6] << 8 | d->sb[7];
		if (code == CODE_V3 || code == CODE_SSL || code == CODE_GSS || code == CODE_CANCEL) {
			d->st = F_HDR;
			s->d[FR_S2C].st = F_HDR;
			frame(s, ctx, dir, d->sb, d->sblen, d->sync_ts);
			return;
		}
		s->phase = PH_READY;
	}
	if (!plausible(s, dir, d->sb, d->sblen))
		return;
	d->st = F_HDR;
	frame(s, ctx, dir, d->sb, d->sblen, d->sync_ts);
}

static void feed_dir(struct pgsql *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct pdir *d = &s->d[dir];
	if (!d->buf) /* never NULL: readers of an empty body still get a valid pointer */
		d->buf = fr_grow(NULL, &d->bcap, 1, 256);
	int boundary = d->boundary || ts != d->last_ts;
	d->boundary = 0;
	d->last_ts = ts;
	if (d->st == F_LOST && boundary) {
		d->st = F_SYNC;
		d->sblen = 0;
		d->sync_ts = ts;
	}
	if (d->st == F_SYNC) {
		size_t k = n < SYNC_N - d->sblen ? n : SYNC_N - d->sblen;
		memcpy(d->sb + d->sblen, p, k);
		d->sblen += (uint32_t)k;
		p += k;
		n -= k;
		if (d->sblen < SYNC_N)
			return; /* the next write goes on (a server reads a length first) */
		judge(s, ctx, dir);
	}
	if (d->st == F_LOST || s->phase == PH_STOP)
		return;
	frame(s, ctx, dir, p, n, ts);
}

/* ---- the descriptor -------------------------------------------------------- */

/* Parse ("P" len name NUL query NUL ...) or Bind ("B" len portal NUL
 * statement NUL nformats ...) of a connection taken up mid-way (a pool's
 * old connection): printable names, then printable SQL / a small count. */
static int probe_extended(const uint8_t *p, size_t n, uint32_t len)
{
	size_t i = 5, end = 1 + (size_t)len;
	for (int name = 0; name < (p[0] == 'B' ? 2 : 1); name++) {
		for (; i < n && i < end && p[i]; i++)
			if (p[i] < 0x20 || p[i] >= 0x7f || i > 5 + 64 * (size_t)(name + 1))
				return FR_PROBE_NO;
		if (i >= n)
			return FR_PROBE_MAYBE;
		if (i >= end)
			return FR_PROBE_NO;
		i++; /* the NUL */
	}
	if (p[0] == 'B') {
		if (i + 2 > n)
			return FR_PROBE_MAYBE;
		return ((size_t)p[i] << 8 | p[i + 1]) <= 1024 && i + 2 <= end ? FR_PROBE_C2S : FR_PROBE_NO;
	}
	size_t j;
	for (j = i; j < n && j < end - 1 && j < i + 64 && p[j]; j++)
		if ((p[j] < 0x20 && p[j] != '\n' && p[j] != '\r' && p[j] != '\t') || p[j] == 0x7f)
			return FR_PROBE_NO;
	if (j == i)
		return j < n ? FR_PROBE_NO : FR_PROBE_MAYBE;
	return j == i + 64 || (j < n && !p[j]) ? FR_PROBE_C2S : FR_PROBE_MAYBE;
}

static int pgsql_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport != FR_TCP)
		return FR_PROBE_NO;
	if (n < 8)
		return FR_PROBE_MAYBE;
	uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	uint32_t code = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	if ((code == CODE_SSL || code == CODE_GSS) && len == 8)
		return FR_PROBE_C2S;
	if (code == CODE_CANCEL && len == 16)
		return FR_PROBE_C2S;
	if (code == CODE_V3 && len > 8 && len < 10000)
		return FR_PROBE_C2S;
	/* a simple query taken up mid-connection: 'Q' length text NUL */
	uint32_t ql = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if ((p[0] == 'P' || p[0] == 'B') && ql >= 8 && ql < (1u << 24))
		return probe_extended(p, n, ql);
	if (p[0] == 'Q' && ql > 5 && ql < (1u << 24)) {
		size_t end = 1 + (size_t)ql, i;
		for (i = 5; i < n && i < end - 1 && i < 200; i++)
			if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f)
				return FR_PROBE_NO;
		if (i == end - 1 && i < n)
			return p[i] == 0 ? FR_PROBE_C2S : FR_PROBE_NO;
		return i == 200 ? FR_PROBE_C2S : FR_PROBE_MAYBE;
	}
	return FR_PROBE_NO;
}

static void pgsql_init(void *state, int transport)
{
	struct pgsql *s = state;
	(void)transport;
	for (int i = 0; i < 2; i++) {
		s->d[i].st = F_LOST;
		s->d[i].boundary = 1;
	}
}

static int pgsql_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *ch)
{
	struct pgsql *s = state;
	if (ch->dir < 0 || ch->dir > 1 || s->phase == PH_STOP)
		return -1;
	feed_dir(s, ctx, ch->dir, ch->p, ch->len, ch->ts);
	return 0;
}

static void pgsql_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct pgsql *s = state;
	(void)ts;
	if (dir < 0 || dir > 1)
		return;
	struct pdir *d = &s->d[dir];
	d->boundary = 1;
	if (d->st == F_BODY && len < d->rem) {
		d->rem -= (uint32_t)len;
		d->total += len;
		d->cut = 1;
		return;
	}
	if (dir == FR_S2C && s->phase != PH_START) {
		/* responses cut (snap length, loss): those waiting are reported
		 * with what was seen; the client's framing is still good */
		struct pend *p;
		while ((p = q_front(s))) {
			if (p->type == 'Q' || p->type == 'E' || p->type == 0)
				emit(s, ctx, p, p->text, p->text ? strlen(p->text) : 0, NULL, NULL,
				     "response cut by a gap");
			q_pop(s);
		}
		d->st = F_LOST;
		d->hlen = 0;
		s->s2c_wait = 1;
		return;
	}
	if (d->st != F_LOST) {
		if (s->phase == PH_START)
			s->phase = PH_READY;
		lose(s, ctx);
	}
}

static void pgsql_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct pgsql *s = state;
	(void)ts;
	const char *reason = fr_end_reason(why);
	struct pend *p;
	while ((p = q_front(s))) {
		if (p->type == 'Q' || p->type == 'E' || p->type == 'P' || p->type == 0 || p->type == 'F')
			emit(s, ctx, p, p->text, p->text ? strlen(p->text) : 0, NULL, NULL, reason);
		q_pop(s);
	}
	fr_fifo_free(&s->q);
	for (int i = 0; i < STMT_MAX; i++)
		free(s->st[i].text);
	free(s->unnamed.text);
	for (int i = 0; i <= PORTAL_MAX; i++)
		portal_drop(&s->po[i]);
	for (int i = 0; i < 2; i++)
		free(s->d[i].buf);
}

const struct fr_proto fr_proto_pgsql = {
	.name = "pgsql",
	.table = "pgsql",
	.schema = "CREATE TABLE pgsql (request_id INTEGER PRIMARY KEY, kind TEXT, statement TEXT, "
		  "statement_name TEXT, params TEXT, command_tag TEXT, rows INTEGER, sqlstate TEXT, "
		  "severity TEXT, error_message TEXT, detail TEXT, hint TEXT, position INTEGER, "
		  "database TEXT, user TEXT, application_name TEXT)",
	.state_size = sizeof(struct pgsql),
	.ports = {5432, 5433, 6432, 0},
	.udp = 0,
	.probe = pgsql_probe,
	.init = pgsql_init,
	.feed = pgsql_feed,
	.gap = pgsql_gap,
	.finish = pgsql_finish,
};
