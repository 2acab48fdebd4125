/* mysql.c - MySQL / MariaDB client/server protocol: login, commands and
 * their responses, prepared statements tracked per connection so that
 * every EXECUTE row carries its SQL text.
 *
 * Reference: https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
 *
 *   packet   = length (3, LE) | sequence id (1) | payload (length bytes)
 *              a payload of 0xffffff bytes continues in the next packet
 *   greeting = 0x0a | version NUL | conn id (4) | salt (8) | 0 | caps lo (2)
 *              | charset | status (2) | caps hi (2) | salt len | 10 zero | ...
 *              | auth plugin NUL
 *   login    = caps (4) | max packet (4) | charset | 23 zero | user NUL
 *              | auth response (secret: skipped, never kept) | [db NUL]
 *              | [auth plugin NUL] | [attributes]
 *   command  = seq 0 | command byte | arguments
 *   OK       = 0x00 (or 0xfe, CLIENT_DEPRECATE_EOF) | affected (lenenc)
 *              | last insert id (lenenc) | status (2) | warnings (2)
 *   ERR      = 0xff | code (2) | '#' sqlstate (5) | message
 *   EOF      = 0xfe | warnings (2) | status (2)            (5 bytes)
 *   result   = column count | column defs | [EOF] | rows | EOF or OK
 *   prepared = 0x00 | statement id (4) | columns (2) | params (2) | 0
 *              | warnings (2), then param defs [EOF], column defs [EOF]
 *
 * Decoded: handshake (version, connection id, user, database, plugins, auth
 * switch; a LOGIN row with OK or the error), every command named (COM_QUERY
 * with query attributes, STMT_PREPARE/EXECUTE/FETCH/CLOSE/RESET with
 * parameter values of the common types, INIT_DB, PING, QUIT, CHANGE_USER,
 * RESET_CONNECTION, ...), OK/ERR/EOF in both EOF styles, result sets (rows,
 * bytes), multi-statement and multi-result responses (one row per command:
 * rows and affected rows summed, the first error kept), LOCAL INFILE, the
 * compressed protocol (CLIENT_COMPRESS, zlib: mysql_compress.c turns it
 * back into plain packets; request and response sizes are then the plain
 * ones).  Not decoded: zstd compression (MySQL 8.0.18+) and TLS (the
 * connection is marked by an anomaly and no longer parsed), a compressed
 * connection taken up mid-way without its login (its bytes do not look
 * like MySQL), binlog/replication commands (named and counted only).  Auth
 * data of either side never leaves this file.
 *
 * Resynchronisation: a gap inside a packet of known length keeps the
 * framing (the kept bytes are cut there); any other gap loses both
 * directions until a client write starts with a plausible command header
 * (sequence 0, known command), after which the next server write that
 * starts with sequence 1 is its response.  A recording that starts
 * mid-connection begins the same way.  Compressed, a gap inside a packet
 * stored as is keeps the framing; inside a zlib packet the rest of that
 * packet is skipped (what it carried is lost, as above); elsewhere the
 * compressed framing waits for a write that starts with a packet header
 * (mz_resync), and the plain framing resynchronises inside it.
 */
#include "../proto.h"
#include "../sqlnorm.h"
#include "mysql_compress.h"
#include "../../formats/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C2S_CAP 65536  /* kept bytes of a client packet (statement, params) */
#define S2C_CAP 1024   /* kept bytes of a server packet (rows are counted only) */
#define STMT_MAX 256   /* prepared statements tracked per connection */
#define TEXT_CAP 4096  /* kept bytes of a statement's text */
#define PARAMS_CAP 1024 /* bytes of the decoded parameter list */
#define NPARAM_MAX 4096 /* parameters decoded per statement */
#define SUMMARY_SQL 160 /* bytes of the statement in the summary */
#define ENDPOINT_CAP 256

/* capability flags */
#define CAP_CONNECT_WITH_DB 0x00000008u
#define CAP_COMPRESS 0x00000020u
#define CAP_PROTOCOL_41 0x00000200u
#define CAP_SSL 0x00000800u
#define CAP_SECURE_CONN 0x00008000u
#define CAP_PLUGIN_AUTH 0x00080000u
#define CAP_CONNECT_ATTRS 0x00100000u
#define CAP_AUTH_LENENC 0x00200000u
#define CAP_DEPRECATE_EOF 0x01000000u
#define CAP_QUERY_ATTRS 0x08000000u
#define CAP_ZSTD 0x04000000u /* CLIENT_ZSTD_COMPRESSION_ALGORITHM */
/* server status flags */
#define ST_MORE_RESULTS 0x0008u
#define ST_CURSOR_EXISTS 0x0040u

enum { /* commands */
	COM_SLEEP = 0, COM_QUIT, COM_INIT_DB, COM_QUERY, COM_FIELD_LIST, COM_CREATE_DB, COM_DROP_DB,
	COM_REFRESH, COM_SHUTDOWN, COM_STATISTICS, COM_PROCESS_INFO, COM_CONNECT, COM_PROCESS_KILL,
	COM_DEBUG, COM_PING, COM_TIME, COM_DELAYED_INSERT, COM_CHANGE_USER, COM_BINLOG_DUMP,
	COM_TABLE_DUMP, COM_CONNECT_OUT, COM_REGISTER_SLAVE, COM_STMT_PREPARE, COM_STMT_EXECUTE,
	COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_STMT_RESET, COM_SET_OPTION, COM_STMT_FETCH,
	COM_DAEMON, COM_BINLOG_DUMP_GTID, COM_RESET_CONNECTION, COM_LAST,
	COM_LOGIN = 0x100, /* pseudo-command: the handshake */
};

static const char *const cmd_names[COM_LAST] = {
	"SLEEP", "QUIT", "INIT_DB", "QUERY", "FIELD_LIST", "CREATE_DB", "DROP_DB", "REFRESH",
	"SHUTDOWN", "STATISTICS", "PROCESS_INFO", "CONNECT", "PROCESS_KILL", "DEBUG", "PING", "TIME",
	"DELAYED_INSERT", "CHANGE_USER", "BINLOG_DUMP", "TABLE_DUMP", "CONNECT_OUT", "REGISTER_SLAVE",
	"STMT_PREPARE", "STMT_EXECUTE", "STMT_SEND_LONG_DATA", "STMT_CLOSE", "STMT_RESET",
	"SET_OPTION", "STMT_FETCH", "DAEMON", "BINLOG_DUMP_GTID", "RESET_CONNECTION",
};

static const char *cmd_name(int c)
{
	if (c == COM_LOGIN)
		return "LOGIN";
	return c >= 0 && c < COM_LAST ? cmd_names[c] : "UNKNOWN";
}

/* Commands the server does not answer. */
static int no_reply(int c)
{
	return c == COM_QUIT || c == COM_STMT_CLOSE || c == COM_STMT_SEND_LONG_DATA;
}

enum { F_HDR = 0, F_BODY, F_LOST, F_SYNC };
#define SYNC_N 8 /* bytes of a write judged at a resync point */
enum { PH_START = 0, PH_LOGIN, PH_AUTH, PH_CMD, PH_STOP };
enum { R_FIRST = 0, R_COLDEFS, R_COLEOF, R_ROWS, R_PREP_DEFS, R_PREP_TAIL, R_DONE };

struct mdir {
	int st;
	int boundary;   /* the next feed starts a write: a resync point */
	uint8_t sb[SYNC_N]; /* F_SYNC: the write's first bytes */
	uint32_t sblen;
	uint64_t sync_ts;
	uint64_t last_ts;
	uint8_t hdr[4];
	uint32_t hlen, rem;
	int cont;       /* the logical packet goes on in the next packet */
	uint8_t seq;    /* of the logical packet's first packet */
	uint8_t *buf;   /* kept bytes of the logical packet */
	size_t bcap;
	uint32_t blen;
	uint64_t total; /* bytes of the logical packet */
	int cut;        /* bytes were not kept (cap or gap) */
	uint64_t first_ts;
};

struct stmt {
	uint32_t id;
	int used;
	uint16_t nparams;
	char *text;     /* heap, NUL-terminated, <= TEXT_CAP */
	uint8_t *types; /* 2 bytes per parameter once bound, heap */
	uint64_t lru;
};

struct cmd {
	int active;
	int cmd;
	char *text;      /* statement (heap TEXT_CAP + 1) */
	size_t tlen;
	int has_id;
	uint32_t stmt_id;
	char params[PARAMS_CAP + 1];
	int has_params;
	uint64_t first_ts, last_ts, bytes;
	/* response */
	int rst;
	int got;
	uint64_t rfirst, rlast, rbytes;
	uint64_t defs_left;
	int64_t rows, affected, insert_id, warnings;
	int has_rows, has_ok;
	int cut;         /* the response was cut by a gap */
	int err;
	int err_code;
	char sqlstate[6];
	char errmsg[256];
	uint32_t prep_id;
	uint16_t prep_params;
	int prep_ok;
};

struct mysql {
	struct mdir d[2];
	int phase;
	uint32_t caps_srv, caps_cli;
	int deprecate_eof; /* -1 unknown */
	char version[64];
	uint32_t conn_id;
	char user[128], db[128], plugin[64];
	char newdb[128]; /* INIT_DB / USE argument, taken on OK */
	struct cmd c;
	struct stmt st[STMT_MAX];
	uint64_t lru;
	/* the compressed protocol: on after the login's OK, per direction */
	int zon[2];
	int zbound[2];     /* the next feed starts a write */
	uint64_t zlast_ts[2];
	struct mz_dir z[2];
};

/* ---- bounded readers ------------------------------------------------------- */

static uint64_t lenenc(struct fr_cur *c, int *null)
{
	uint8_t b = cur_u8(c);
	if (null)
		*null = b == 0xfb;
	switch (b) {
	case 0xfc: return cur_le16(c);
	case 0xfd: { uint64_t v = cur_le16(c); return v | (uint64_t)cur_u8(c) << 16; }
	case 0xfe: return cur_le64(c);
	case 0xfb: return 0;
	case 0xff: c->bad = 1; return 0;
	default: return b;
	}
}

/* A NUL-terminated string at the cursor, copied printable into out. */
static void cstr(struct fr_cur *c, char *out, size_t cap)
{
	const uint8_t *z = memchr(c->p, 0, cur_left(c));
	size_t n = z ? (size_t)(z - c->p) : cur_left(c);
	fr_sql_printable((const char *)c->p, n, out, cap);
	cur_skip(c, n + (z ? 1 : 0));
}

/* ---- prepared statements ------------------------------------------------- */

static struct stmt *stmt_find(struct mysql *s, uint32_t id)
{
	for (int i = 0; i < STMT_MAX; i++)
		if (s->st[i].used && s->st[i].id == id)
			return &s->st[i];
	return NULL;
}

static void stmt_drop(struct stmt *t)
{
	free(t->text);
	free(t->types);
	memset(t, 0, sizeof(*t));
}

static void stmt_add(struct mysql *s, struct fr_pctx *ctx, uint64_t ts, uint32_t id, uint16_t np,
		     const char *text, size_t n)
{
	struct stmt *t = stmt_find(s, id), *old = NULL;
	for (int i = 0; !t && i < STMT_MAX; i++) {
		if (!s->st[i].used)
			t = &s->st[i];
		else if (!old || s->st[i].lru < old->lru)
			old = &s->st[i];
	}
	if (!t) {
		ctx->anomaly(ctx, ts, "bound_exceeded",
			     "mysql: more than 256 prepared statements on one connection; the least used forgotten");
		t = old;
	}
	stmt_drop(t);
	t->used = 1;
	t->id = id;
	t->nparams = np;
	t->lru = ++s->lru;
	t->text = malloc(n + 1);
	if (t->text) {
		memcpy(t->text, text, n);
		t->text[n] = 0;
	}
}

static void stmt_clear(struct mysql *s)
{
	for (int i = 0; i < STMT_MAX; i++)
		stmt_drop(&s->st[i]);
}

/* ---- output ---------------------------------------------------------------- */

static void cmd_reset(struct cmd *c)
{
	char *text = c->text;
	memset(c, 0, sizeof(*c));
	c->text = text;
	c->err_code = -1;
}

static void emit(struct mysql *s, struct fr_pctx *ctx, const char *reason)
{
	struct cmd *c = &s->c;
	struct fr_req q;
	memset(&q, 0, offsetof(struct fr_req, f));
	char summary[SUMMARY_SQL + 32], ep[ENDPOINT_CAP], status[16];
	const char *name = cmd_name(c->cmd);
	size_t o = fr_cat(summary, sizeof(summary), 0, name, strlen(name));
	if (c->tlen) {
		o = fr_cat(summary, sizeof(summary), o, " ", 1);
		fr_cat(summary, sizeof(summary), o, c->text, c->tlen < SUMMARY_SQL ? c->tlen : SUMMARY_SQL);
	}
	/* the endpoint: the normalised statement where one runs; a prepare
	 * says so; other commands go by their name */
	if (c->tlen && (c->cmd == COM_QUERY || c->cmd == COM_STMT_EXECUTE || c->cmd == COM_STMT_FETCH)) {
		fr_sql_normalise(c->text, c->tlen, ep, sizeof(ep));
	} else if (c->tlen && c->cmd == COM_STMT_PREPARE) {
		size_t e = fr_cat(ep, sizeof(ep), 0, "PREPARE ", 8);
		fr_sql_normalise(c->text, c->tlen, ep + e, sizeof(ep) - e);
	} else {
		fr_cat(ep, sizeof(ep), 0, name, strlen(name));
	}
	q.summary = summary;
	q.endpoint = ep;
	q.req_first_ns = c->first_ts;
	q.req_last_ns = c->last_ts;
	q.req_bytes = c->bytes;
	if (c->got) {
		q.resp_first_ns = c->rfirst;
		q.resp_last_ns = c->rlast;
		q.resp_bytes = c->rbytes;
		if (c->err) {
			fr_cat_int(status, sizeof(status), 0, c->err_code);
			q.error = 1;
		} else {
			fr_cat(status, sizeof(status), 0, "OK", 2);
		}
		q.status = status;
	} else if (!no_reply(c->cmd) || reason) {
		q.error = 1;
	}
	q.reason = reason;
	fr_field_str(&q, "command", name);
	fr_field_text(&q, "statement", c->tlen ? c->text : NULL, c->tlen);
	if (c->has_id)
		fr_field_int(&q, "statement_id", c->stmt_id);
	else
		fr_field_str(&q, "statement_id", NULL);
	fr_field_str(&q, "params", c->has_params ? c->params : NULL);
	if (c->has_rows)
		fr_field_int(&q, "rows", c->rows);
	else
		fr_field_str(&q, "rows", NULL);
	if (c->has_ok) {
		fr_field_int(&q, "affected_rows", c->affected);
		fr_field_int(&q, "last_insert_id", c->insert_id);
	} else {
		fr_field_str(&q, "affected_rows", NULL);
		fr_field_str(&q, "last_insert_id", NULL);
	}
	if (c->has_ok || c->has_rows)
		fr_field_int(&q, "warnings", c->warnings);
	else
		fr_field_str(&q, "warnings", NULL);
	if (c->err) {
		fr_field_int(&q, "error_code", c->err_code);
		fr_field_str(&q, "sql_state", c->sqlstate[0] ? c->sqlstate : NULL);
		fr_field_str(&q, "error_message", c->errmsg);
	} else {
		fr_field_str(&q, "error_code", NULL);
		fr_field_str(&q, "sql_state", NULL);
		fr_field_str(&q, "error_message", NULL);
	}
	fr_field_str(&q, "database", s->db[0] ? s->db : NULL);
	fr_field_str(&q, "user", s->user[0] ? s->user : NULL);
	int login = c->cmd == COM_LOGIN || c->cmd == COM_CHANGE_USER;
	fr_field_str(&q, "auth_plugin", login && s->plugin[0] ? s->plugin : NULL);
	fr_field_str(&q, "server_version", login && s->version[0] ? s->version : NULL);
	ctx->emit_request(ctx, &q);
	cmd_reset(c);
}

/* ---- server packets ------------------------------------------------------ */

static void parse_err(struct cmd *c, const uint8_t *p, size_t n)
{
	struct fr_cur k;
	cur_init(&k, p, n);
	cur_skip(&k, 1);
	int code = cur_le16(&k);
	if (k.bad)
		code = 0;
	if (!c->err) { /* the first error of a multi-result response */
		c->err = 1;
		c->err_code = code;
		c->sqlstate[0] = 0;
		if (cur_left(&k) >= 6 && k.p[0] == '#') {
			fr_sql_printable((const char *)k.p + 1, 5, c->sqlstate, sizeof(c->sqlstate));
			cur_skip(&k, 6);
		}
		fr_sql_printable((const char *)k.p, cur_left(&k), c->errmsg, sizeof(c->errmsg));
	}
}

/* OK (0x00 or 0xfe) or EOF: returns the status flags. */
static unsigned parse_ok(struct cmd *c, const uint8_t *p, size_t n, uint64_t total)
{
	struct fr_cur k;
	cur_init(&k, p, n);
	cur_skip(&k, 1);
	if (total == 5) { /* EOF */
		int64_t w = cur_le16(&k);
		unsigned st = cur_le16(&k);
		c->warnings += w;
		return k.bad ? 0 : st;
	}
	int64_t aff = (int64_t)lenenc(&k, NULL);
	int64_t id = (int64_t)lenenc(&k, NULL);
	unsigned st = cur_le16(&k);
	int64_t w = cur_le16(&k);
	if (k.bad)
		return 0;
	c->has_ok = 1;
	c->affected += aff;
	if (id)
		c->insert_id = id;
	c->warnings += w;
	return st;
}

static void resp_done(struct mysql *s, struct fr_pctx *ctx)
{
	struct cmd *c = &s->c;
	if (c->cmd == COM_STMT_PREPARE && c->prep_ok)
		stmt_add(s, ctx, c->rlast, c->prep_id, c->prep_params, c->text, c->tlen);
	if (!c->err && s->newdb[0] && (c->cmd == COM_INIT_DB || c->cmd == COM_QUERY))
		memcpy(s->db, s->newdb, sizeof(s->db));
	if (c->cmd == COM_LOGIN || c->cmd == COM_CHANGE_USER) {
		s->phase = PH_CMD;
		uint32_t both = s->caps_srv & s->caps_cli;
		if (!c->err && (both & CAP_COMPRESS)) {
			/* the OK was the last plain packet: the server's next
			 * bytes and the client's are compressed (frame()) */
			s->zon[FR_C2S] = 1;
		} else if (!c->err && (both & CAP_ZSTD)) {
			ctx->anomaly(ctx, c->rlast, "not_decoded",
				     "mysql: zstd compressed protocol; the rest of the connection is not parsed");
			s->phase = PH_STOP;
		}
	}
	s->newdb[0] = 0;
	emit(s, ctx, NULL);
}

/* A result set's first packet: column count. */
static void on_first(struct mysql *s, struct fr_pctx *ctx, const uint8_t *p, size_t n, uint64_t total)
{
	struct cmd *c = &s->c;
	struct fr_cur k;
	cur_init(&k, p, n);
	uint8_t b = p[0];
	if (b == 0xff) {
		parse_err(c, p, n);
		resp_done(s, ctx);
	} else if (b == 0x00 && c->cmd == COM_STMT_PREPARE) {
		cur_skip(&k, 1);
		c->prep_id = cur_le32(&k);
		uint16_t ncols = cur_le16(&k);
		c->prep_params = cur_le16(&k);
		cur_skip(&k, 1);
		c->warnings = cur_le16(&k);
		if (k.bad) {
			ctx->anomaly(ctx, c->rlast, "parse_error", "mysql: short prepare response");
			resp_done(s, ctx);
			return;
		}
		c->prep_ok = 1;
		c->has_id = 1;
		c->stmt_id = c->prep_id;
		c->defs_left = (uint64_t)ncols + c->prep_params;
		c->rst = c->defs_left ? R_PREP_DEFS : R_DONE;
		if (!c->defs_left)
			resp_done(s, ctx);
	} else if (b == 0x00 || (b == 0xfe && total < 0xffffff && c->cmd != COM_LOGIN &&
				 c->cmd != COM_CHANGE_USER)) {
		unsigned st = parse_ok(c, p, n, total);
		if (!(st & ST_MORE_RESULTS))
			resp_done(s, ctx);
	} else if (b == 0xfb && c->cmd == COM_QUERY) {
		/* LOCAL INFILE: the client sends the file, the server then says OK */
	} else if (c->cmd == COM_FIELD_LIST) {
		c->rst = R_ROWS;
		c->has_rows = 1;
		c->rows++;
	} else if (c->cmd == COM_STATISTICS) {
		resp_done(s, ctx);
	} else {
		uint64_t ncols = lenenc(&k, NULL);
		if (k.bad || ncols == 0 || ncols > 65535) {
			ctx->anomaly(ctx, c->rlast, "parse_error", "mysql: unexpected response packet");
			resp_done(s, ctx);
			return;
		}
		c->has_rows = 1;
		c->defs_left = ncols;
		c->rst = R_COLDEFS;
	}
}

/* An authentication packet from the server (login or CHANGE_USER). */
static void on_auth(struct mysql *s, struct fr_pctx *ctx, const uint8_t *p, size_t n, uint64_t total)
{
	struct cmd *c = &s->c;
	uint8_t b = p[0];
	if (b == 0x00 || b == 0xff) {
		if (b == 0xff)
			parse_err(c, p, n);
		else
			parse_ok(c, p, n, total);
		resp_done(s, ctx);
	} else if (b == 0xfe && total > 1) { /* auth switch: the new plugin's name */
		struct fr_cur k;
		cur_init(&k, p + 1, n - 1);
		cstr(&k, s->plugin, sizeof(s->plugin));
	}
	/* 0x01: more auth data (caching_sha2_password 0x03 fast path / 0x04
	 * full authentication); the outcome is the OK or ERR that follows */
}

static void on_server(struct mysql *s, struct fr_pctx *ctx, struct mdir *d, uint64_t ts)
{
	struct cmd *c = &s->c;
	const uint8_t *p = d->buf;
	size_t n = d->blen;
	if (s->phase == PH_START) {
		/* the greeting */
		struct fr_cur k;
		cur_init(&k, p, n);
		cur_skip(&k, 1);
		cstr(&k, s->version, sizeof(s->version));
		s->conn_id = cur_le32(&k);
		cur_skip(&k, 9);
		uint32_t lo = cur_le16(&k);
		cur_skip(&k, 3);
		uint32_t hi = cur_le16(&k);
		cur_skip(&k, 11);
		if (cur_left(&k) >= 13)
			cur_skip(&k, 13);
		s->caps_srv = lo | hi << 16;
		cstr(&k, s->plugin, sizeof(s->plugin));
		s->phase = PH_LOGIN;
		return;
	}
	if (!c->active) {
		ctx->anomaly(ctx, ts, "unpaired_response", "mysql: server packet without a command");
		return;
	}
	if (!c->got) {
		c->got = 1;
		c->rfirst = d->first_ts;
	}
	c->rlast = ts;
	c->rbytes += d->total + 4 * ((d->total / 0xffffff) + 1);
	if (n == 0)
		return;
	if (s->phase == PH_AUTH) {
		on_auth(s, ctx, p, n, d->total);
		return;
	}
	switch (c->rst) {
	case R_FIRST:
		on_first(s, ctx, p, n, d->total);
		break;
	case R_COLDEFS:
		if (p[0] == 0xff) {
			parse_err(c, p, n);
			resp_done(s, ctx);
		} else if (--c->defs_left == 0) {
			c->rst = R_COLEOF;
		}
		break;
	case R_COLEOF:
		c->rst = R_ROWS;
		if (p[0] == 0xfe && d->total < 9) {
			unsigned st = parse_ok(c, p, n, d->total);
			if (st & ST_CURSOR_EXISTS)
				resp_done(s, ctx);
			break;
		}
		__attribute__((fallthrough)); /* the first row */
	case R_ROWS:
		if (p[0] == 0xff) {
			parse_err(c, p, n);
			resp_done(s, ctx);
		} else if (p[0] == 0xfe && d->total < 0xffffff) {
			unsigned st = parse_ok(c, p, n, d->total);
			if (st & ST_MORE_RESULTS)
				c->rst = R_FIRST;
			else
				resp_done(s, ctx);
		} else {
			c->rows++;
		}
		break;
	case R_PREP_DEFS:
		if (p[0] == 0xfe && d->total < 9)
			break; /* the EOF after the parameter definitions */
		if (--c->defs_left == 0) {
			if (s->deprecate_eof == 1)
				resp_done(s, ctx);
			else
				c->rst = R_PREP_TAIL;
		}
		break;
	case R_PREP_TAIL:
		resp_done(s, ctx);
		break;
	}
}

/* ---- client packets ------------------------------------------------------- */

static void add_param(struct cmd *c, size_t *o, const char *v, size_t n, int quote)
{
	if (*o)
		*o = fr_cat(c->params, sizeof(c->params), *o, ", ", 2);
	if (quote)
		*o = fr_cat(c->params, sizeof(c->params), *o, "'", 1);
	char tmp[PARAMS_CAP + 1];
	fr_sql_printable(v, n, tmp, sizeof(tmp));
	*o = fr_cat(c->params, sizeof(c->params), *o, tmp, sizeof(tmp));
	if (quote)
		*o = fr_cat(c->params, sizeof(c->params), *o, "'", 1);
}

/* One binary-protocol value of type t (unsigned flag u). 0, or -1 when the
 * packet ends or the type is unknown. */
static int param_value(struct cmd *c, size_t *o, struct fr_cur *k, uint8_t t, int u)
{
	char num[48];
	int64_t v = 0;
	switch (t) {
	case 0x01: v = u ? (int64_t)cur_u8(k) : (int64_t)(int8_t)cur_u8(k); break;
	case 0x02: case 0x0d: v = u ? (int64_t)cur_le16(k) : (int64_t)(int16_t)cur_le16(k); break;
	case 0x03: case 0x09: v = u ? (int64_t)cur_le32(k) : (int64_t)(int32_t)cur_le32(k); break;
	case 0x08: {
		uint64_t x = cur_le64(k);
		if (u && x > INT64_MAX) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)x);
			add_param(c, o, num, strlen(num), 0);
			return k->bad ? -1 : 0;
		}
		v = (int64_t)x;
		break;
	}
	case 0x04: {
		uint32_t x = cur_le32(k);
		float f;
		memcpy(&f, &x, sizeof(f));
		snprintf(num, sizeof(num), "%g", (double)f);
		add_param(c, o, num, strlen(num), 0);
		return k->bad ? -1 : 0;
	}
	case 0x05: {
		uint64_t x = cur_le64(k);
		double f;
		memcpy(&f, &x, sizeof(f));
		snprintf(num, sizeof(num), "%g", f);
		add_param(c, o, num, strlen(num), 0);
		return k->bad ? -1 : 0;
	}
	case 0x06:
		add_param(c, o, "NULL", 4, 0);
		return 0;
	case 0x07: case 0x0a: case 0x0b: case 0x0c: { /* date/time: shown raw as its length */
		uint8_t l = cur_u8(k);
		cur_skip(k, l);
		snprintf(num, sizeof(num), "<time %u bytes>", l);
		add_param(c, o, num, strlen(num), 0);
		return k->bad ? -1 : 0;
	}
	case 0x0f: case 0x10: case 0xf5: case 0xf6: case 0xf7: case 0xf8: case 0xf9: case 0xfa:
	case 0xfb: case 0xfc: case 0xfd: case 0xfe: {
		uint64_t l = lenenc(k, NULL);
		if (k->bad || l > cur_left(k))
			return -1;
		add_param(c, o, (const char *)k->p, l > 256 ? 256 : (size_t)l, 1);
		cur_skip(k, (size_t)l);
		return 0;
	}
	default:
		return -1;
	}
	if (k->bad)
		return -1;
	fr_cat_int(num, sizeof(num), 0, v);
	add_param(c, o, num, strlen(num), 0);
	return 0;
}

/* COM_STMT_EXECUTE: statement id, flags, iterations, then (when the
 * statement has parameters) NULL bitmap, new-params-bound flag, types,
 * values. */
static void on_execute(struct mysql *s, struct fr_pctx *ctx, struct fr_cur *k, uint64_t ts)
{
	struct cmd *c = &s->c;
	c->stmt_id = cur_le32(k);
	uint8_t flags = cur_u8(k);
	cur_skip(k, 4);
	if (k->bad)
		return;
	c->has_id = 1;
	struct stmt *t = stmt_find(s, c->stmt_id);
	if (!t || !t->text) {
		char unk[64];
		c->tlen = (size_t)snprintf(unk, sizeof(unk), "<unknown statement %u>", c->stmt_id);
		memcpy(c->text, unk, c->tlen + 1);
		ctx->anomaly(ctx, ts, "unknown_statement",
			     "mysql: EXECUTE of a statement prepared before the recording (or forgotten)");
		return;
	}
	t->lru = ++s->lru;
	c->tlen = strlen(t->text);
	memcpy(c->text, t->text, c->tlen + 1);
	uint64_t np = t->nparams;
	if ((s->caps_cli & CAP_QUERY_ATTRS) && (flags & 0x08))
		np = lenenc(k, NULL);
	if (!np || np > NPARAM_MAX || np != t->nparams)
		return;
	const uint8_t *nulls = NULL;
	if (cur_bytes(k, &nulls, (size_t)(np + 7) / 8))
		return;
	uint8_t bound = cur_u8(k);
	const uint8_t *types = NULL;
	if (bound == 1) {
		if (cur_bytes(k, &types, (size_t)np * 2))
			return;
		if (!t->types)
			t->types = malloc((size_t)np * 2);
		if (t->types)
			memcpy(t->types, types, (size_t)np * 2);
	}
	types = t->types;
	if (!types || k->bad)
		return;
	size_t o = 0;
	c->has_params = 1;
	c->params[0] = 0;
	for (uint64_t i = 0; i < np && o + 8 < PARAMS_CAP; i++) {
		if (nulls[i / 8] & (1u << (i % 8))) {
			add_param(c, &o, "NULL", 4, 0);
			continue;
		}
		if (param_value(c, &o, k, types[2 * i], types[2 * i + 1] & 0x80) < 0) {
			o = fr_cat(c->params, sizeof(c->params), o, ", ...", 5);
			break;
		}
	}
}

/* COM_QUERY: with CLIENT_QUERY_ATTRIBUTES a parameter count, set count,
 * and (if any) bitmap, bound flag, types and names, values precede the
 * query text. */
static void on_query(struct mysql *s, struct fr_cur *k)
{
	if (s->caps_cli & CAP_QUERY_ATTRS) {
		uint64_t np = lenenc(k, NULL);
		lenenc(k, NULL);
		if (np) {
			if (np > NPARAM_MAX || cur_skip(k, (size_t)(np + 7) / 8))
				return;
			if (cur_u8(k) == 1)
				for (uint64_t i = 0; i < np && !k->bad; i++) {
					cur_skip(k, 2);
					uint64_t l = lenenc(k, NULL);
					cur_skip(k, (size_t)l);
				}
			/* values: not kept */
			return;
		}
	}
}

static void set_text(struct cmd *c, const uint8_t *p, size_t n)
{
	if (n > TEXT_CAP)
		n = TEXT_CAP;
	memcpy(c->text, p, n);
	c->text[n] = 0;
	c->tlen = n;
}

static void on_login(struct mysql *s, struct fr_pctx *ctx, struct mdir *d, uint64_t ts)
{
	struct fr_cur k;
	cur_init(&k, d->buf, d->blen);
	uint32_t caps = cur_le32(&k);
	if (d->total == 32 && (caps & CAP_SSL)) {
		ctx->anomaly(ctx, ts, "not_decoded", "mysql: the connection switches to TLS (SSL request)");
		s->phase = PH_STOP;
		return;
	}
	s->caps_cli = caps;
	s->deprecate_eof = !!(caps & s->caps_srv & CAP_DEPRECATE_EOF);
	cur_skip(&k, 4 + 1 + 23);
	cstr(&k, s->user, sizeof(s->user));
	/* the auth response: skipped, never copied */
	if (caps & CAP_AUTH_LENENC)
		cur_skip(&k, (size_t)lenenc(&k, NULL));
	else if (caps & CAP_SECURE_CONN)
		cur_skip(&k, cur_u8(&k));
	else
		cstr(&k, (char[2]){0}, 1);
	if (caps & CAP_CONNECT_WITH_DB)
		cstr(&k, s->db, sizeof(s->db));
	if ((caps & CAP_PLUGIN_AUTH) && cur_left(&k))
		cstr(&k, s->plugin, sizeof(s->plugin));
	cmd_reset(&s->c);
	s->c.active = 1;
	s->c.cmd = COM_LOGIN;
	s->phase = PH_AUTH;
}

/* A command packet (sequence 0). */
static void on_command(struct mysql *s, struct fr_pctx *ctx, struct mdir *d, uint64_t ts)
{
	struct cmd *c = &s->c;
	if (c->active && c->cut)
		emit(s, ctx, "response cut by a gap");
	else if (c->active && c->got)
		resp_done(s, ctx); /* e.g. a prepare whose last EOF style was unknown */
	else if (c->active)
		emit(s, ctx, "no response before the next command");
	cmd_reset(c);
	c->active = 1;
	c->first_ts = d->first_ts;
	c->last_ts = ts;
	c->bytes = d->total + 4 * ((d->total / 0xffffff) + 1);
	struct fr_cur k;
	cur_init(&k, d->buf, d->blen);
	c->cmd = cur_u8(&k);
	if (d->cut && d->total > C2S_CAP)
		ctx->anomaly(ctx, ts, "bound_exceeded", "mysql: client packet longer than 64 KiB; kept its start");
	switch (c->cmd) {
	case COM_QUERY:
		on_query(s, &k);
		if (!k.bad) {
			set_text(c, k.p, cur_left(&k));
			if (c->tlen > 4 && fr_lc_eq((const uint8_t *)c->text, 4, "use ")) {
				const char *a = c->text + 4;
				size_t an = c->tlen - 4;
				while (an && (*a == ' ' || *a == '`'))
					a++, an--;
				while (an && (a[an - 1] == ' ' || a[an - 1] == '`' || a[an - 1] == ';'))
					an--;
				fr_sql_printable(a, an, s->newdb, sizeof(s->newdb));
			}
		}
		break;
	case COM_STMT_PREPARE:
		set_text(c, k.p, cur_left(&k));
		break;
	case COM_INIT_DB:
		fr_sql_printable((const char *)k.p, cur_left(&k), s->newdb, sizeof(s->newdb));
		set_text(c, k.p, cur_left(&k));
		break;
	case COM_STMT_EXECUTE:
		on_execute(s, ctx, &k, ts);
		break;
	case COM_STMT_FETCH:
	case COM_STMT_CLOSE:
	case COM_STMT_RESET:
	case COM_STMT_SEND_LONG_DATA: {
		c->stmt_id = cur_le32(&k);
		c->has_id = !k.bad;
		struct stmt *t = c->has_id ? stmt_find(s, c->stmt_id) : NULL;
		if (t && t->text) {
			set_text(c, (const uint8_t *)t->text, strlen(t->text));
		} else if (c->has_id) {
			char unk[64];
			int l = snprintf(unk, sizeof(unk), "<unknown statement %u>", c->stmt_id);
			set_text(c, (const uint8_t *)unk, (size_t)l);
		}
		if (t && c->cmd == COM_STMT_CLOSE)
			stmt_drop(t);
		break;
	}
	case COM_CHANGE_USER:
		cstr(&k, s->user, sizeof(s->user));
		s->phase = PH_AUTH;
		stmt_clear(s);
		break;
	case COM_RESET_CONNECTION:
		stmt_clear(s);
		break;
	default:
		break;
	}
	if (no_reply(c->cmd))
		emit(s, ctx, NULL);
}

static void on_client(struct mysql *s, struct fr_pctx *ctx, struct mdir *d, uint64_t ts)
{
	if (s->phase == PH_LOGIN && d->seq == 1) {
		on_login(s, ctx, d, ts);
		s->c.first_ts = d->first_ts;
		s->c.last_ts = ts;
		s->c.bytes = d->total + 4;
		return;
	}
	if (s->phase == PH_AUTH || (s->c.active && d->seq != 0)) {
		/* auth data (secret) or LOCAL INFILE contents: counted only */
		s->c.last_ts = ts;
		s->c.bytes += d->total + 4;
		return;
	}
	if (d->seq != 0 || d->blen == 0) {
		ctx->anomaly(ctx, ts, "parse_error", "mysql: client packet out of sequence");
		return;
	}
	s->phase = PH_CMD;
	on_command(s, ctx, d, ts);
}

/* ---- framing and resynchronisation ----------------------------------------- */

/* Does a write starting with p look like the start of what dir sends next? */
static int plausible(const struct mysql *s, int dir, const uint8_t *p, size_t n)
{
	if (n < 5)
		return 0;
	uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	if (len == 0)
		return 0;
	if (dir == FR_S2C) {
		if (p[3] == 0 && p[4] == 10 && len >= 20 && s->phase == PH_START)
			return 1;
		return s->c.active && !s->c.cut && p[3] == 1;
	}
	if (p[3] == 1 && s->phase == PH_LOGIN)
		return len >= 32;
	if (p[3] != 0 || p[4] >= COM_LAST || p[4] == COM_SLEEP)
		return 0;
	if (p[4] == COM_QUERY || p[4] == COM_STMT_PREPARE)
		return len >= 2 && (n < 6 || (p[5] >= 0x20 && p[5] < 0x7f) || p[5] == '\n' || p[5] == '\t' ||
				    p[5] == '\r' || (s->caps_cli & CAP_QUERY_ATTRS));
	return 1;
}

static void lose(struct mysql *s, struct fr_pctx *ctx, uint64_t ts, const char *why)
{
	if (why)
		ctx->anomaly(ctx, ts, "parse_error", why);
	if (s->c.active)
		emit(s, ctx, "lost in gap");
	for (int i = 0; i < 2; i++) {
		s->d[i].st = F_LOST;
		s->d[i].hlen = 0;
		s->d[i].cont = 0;
	}
}

static void packet_end(struct mysql *s, struct fr_pctx *ctx, int dir, uint64_t ts)
{
	struct mdir *d = &s->d[dir];
	d->st = F_HDR;
	if (d->cont)
		return;
	if (dir == FR_C2S)
		on_client(s, ctx, d, ts);
	else
		on_server(s, ctx, d, ts);
	d->blen = 0;
	d->total = 0;
	d->cut = 0;
}

/* Frames n bytes of dir's plain packets; returns the bytes taken: all of
 * them, unless the login's OK switched the connection to the compressed
 * protocol (the rest is compressed). */
static size_t frame(struct mysql *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct mdir *d = &s->d[dir];
	struct fr_cur c;
	cur_init(&c, p, n);
	while (cur_left(&c) && s->phase != PH_STOP && d->st != F_LOST) {
		if (s->zon[FR_C2S] && !s->zon[dir]) {
			s->zon[dir] = 1;
			break;
		}
		if (d->st == F_HDR) {
			d->hdr[d->hlen++] = cur_u8(&c);
			if (d->hlen < 4)
				continue;
			d->hlen = 0;
			uint8_t seq = d->hdr[3];
			d->rem = (uint32_t)d->hdr[0] | (uint32_t)d->hdr[1] << 8 | (uint32_t)d->hdr[2] << 16;
			if (!d->cont) {
				d->seq = seq;
				d->first_ts = ts;
				d->blen = 0;
				d->total = 0;
				d->cut = 0;
			}
			d->cont = d->rem == 0xffffff;
			d->st = F_BODY;
			if (d->rem == 0)
				packet_end(s, ctx, dir, ts);
			continue;
		}
		size_t take = cur_left(&c) < d->rem ? cur_left(&c) : d->rem;
		const uint8_t *b = NULL;
		cur_bytes(&c, &b, take);
		size_t cap = dir == FR_C2S ? C2S_CAP : S2C_CAP;
		if (d->cut || fr_keep(&d->buf, &d->bcap, &d->blen, b, take, cap) < take)
			d->cut = 1;
		d->total += take;
		d->rem -= (uint32_t)take;
		if (!d->rem)
			packet_end(s, ctx, dir, ts);
	}
	if (s->zon[FR_C2S] && !s->zon[dir] && d->st == F_HDR && !d->hlen && !d->cont)
		s->zon[dir] = 1; /* the OK ended this write */
	return n - cur_left(&c);
}

/* At a resync point: the first SYNC_N bytes of a write (or all of a
 * shorter one) decide whether the framing starts there. */
static void judge(struct mysql *s, struct fr_pctx *ctx, int dir)
{
	struct mdir *d = &s->d[dir];
	d->st = F_LOST;
	if (!plausible(s, dir, d->sb, d->sblen))
		return;
	d->st = F_HDR;
	if (dir == FR_C2S && s->d[FR_S2C].st == F_LOST)
		s->d[FR_S2C].boundary = 1;
	frame(s, ctx, dir, d->sb, d->sblen, d->sync_ts);
}

/* One direction's plain packet stream; returns the bytes taken (as
 * frame()). */
static size_t feed_plain(struct mysql *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct mdir *d = &s->d[dir];
	size_t n0 = n;
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
			return n0; /* the next write goes on (a server reads a header first) */
		int zon = s->zon[dir];
		judge(s, ctx, dir);
		if (s->zon[dir] != zon)
			return n0 - n; /* (the login's OK in the judged bytes) */
	}
	if (d->st == F_LOST || s->phase == PH_STOP)
		return n0;
	return n0 - n + frame(s, ctx, dir, p, n, ts);
}

struct zarg {
	struct mysql *s;
	struct fr_pctx *ctx;
	int dir;
	uint64_t ts;
};

/* The plain bytes of compressed packets; a packet's start may begin a
 * plain packet (a resync point). */
static void z_out(void *arg, const uint8_t *p, size_t n, int start)
{
	struct zarg *a = arg;
	if (start)
		a->s->d[a->dir].boundary = 1;
	feed_plain(a->s, a->ctx, a->dir, p, n, a->ts);
}

static void feed_dir(struct mysql *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	if (!s->zon[dir]) {
		size_t used = feed_plain(s, ctx, dir, p, n, ts);
		if (used == n || !s->zon[dir])
			return;
		p += used, n -= used;
		s->zlast_ts[dir] = ts;
	}
	struct mz_dir *z = &s->z[dir];
	int boundary = s->zbound[dir] || ts != s->zlast_ts[dir];
	s->zbound[dir] = 0;
	s->zlast_ts[dir] = ts;
	if (z->st == MZ_LOST && (!boundary || !mz_resync(z, p, n)))
		return;
	struct zarg a = {s, ctx, dir, ts};
	if (mz_feed(z, p, n, z_out, &a) < 0) {
		ctx->anomaly(ctx, ts, "parse_error", "mysql: bad compressed packet");
		lose(s, ctx, ts, NULL);
	}
}

/* ---- the descriptor -------------------------------------------------------- */

static int mysql_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport != FR_TCP)
		return FR_PROBE_NO;
	if (n < 5)
		return FR_PROBE_MAYBE;
	uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	if (p[3] == 0 && p[4] == 10 && len >= 20 && len < 1024) {
		/* the greeting: "0x0a version NUL", the version printable */
		for (size_t i = 5; i < n && i < 4 + len && i < 64; i++) {
			if (p[i] == 0)
				return i > 6 ? FR_PROBE_S2C : FR_PROBE_NO;
			if (p[i] < 0x20 || p[i] >= 0x7f)
				return FR_PROBE_NO;
		}
		return n < 64 && n < 4 + len ? FR_PROBE_MAYBE : FR_PROBE_NO;
	}
	if (p[3] == 0 && (p[4] == COM_QUERY || p[4] == COM_STMT_PREPARE) && len >= 4 && len < (1u << 24) - 1) {
		/* a query taken up mid-connection: printable text of the length */
		size_t end = 4 + (size_t)len;
		size_t i;
		for (i = 5; i < n && i < end && i < 200; i++)
			if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f)
				return FR_PROBE_NO;
		return i == end || i == 200 ? FR_PROBE_C2S : FR_PROBE_MAYBE;
	}
	if (p[3] == 0 && p[4] == COM_STMT_EXECUTE && len >= 10 && len < 1024 * 1024) {
		/* an EXECUTE taken up mid-connection (a pool's old connection):
		 * flags (cursor type) then iteration count 1 */
		if (n < 14)
			return FR_PROBE_MAYBE;
		return p[9] < 0x10 && p[10] == 1 && !p[11] && !p[12] && !p[13] ? FR_PROBE_C2S : FR_PROBE_NO;
	}
	return FR_PROBE_NO;
}

static void mysql_init(void *state, int transport)
{
	struct mysql *s = state;
	(void)transport;
	s->deprecate_eof = -1;
	s->c.err_code = -1;
	for (int i = 0; i < 2; i++) {
		s->d[i].st = F_LOST; /* a write must start with a plausible header */
		s->d[i].boundary = 1;
	}
}

static int mysql_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *ch)
{
	struct mysql *s = state;
	if (ch->dir < 0 || ch->dir > 1)
		return -1;
	if (!s->c.text && !(s->c.text = malloc(TEXT_CAP + 1)))
		return -1;
	if (s->phase == PH_STOP)
		return -1;
	feed_dir(s, ctx, ch->dir, ch->p, ch->len, ch->ts);
	return 0;
}

static void mysql_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct mysql *s = state;
	if (dir < 0 || dir > 1 || !s->c.text)
		return;
	struct mdir *d = &s->d[dir];
	d->boundary = 1;
	if (s->zon[dir]) {
		/* compressed: the plain stream keeps its place only when the
		 * bytes lost were stored as is */
		s->zbound[dir] = 1;
		if (mz_gap(&s->z[dir], len) < 1)
			len = UINT64_MAX;
	}
	if (d->st == F_BODY && len < d->rem) {
		d->rem -= (uint32_t)len; /* inside a packet: still in sync */
		d->total += len;
		d->cut = 1;
		return;
	}
	if (dir == FR_S2C) {
		/* a response cut (snap length, loss): the command stays open,
		 * its rows counted up to here, until the client's next command */
		if (s->c.active)
			s->c.cut = 1;
		d->st = F_LOST;
		d->hlen = 0;
		d->cont = 0;
		return;
	}
	if (d->st != F_LOST)
		lose(s, ctx, ts, NULL);
}

static void mysql_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct mysql *s = state;
	if (s->c.active && s->c.cut)
		emit(s, ctx, "response cut by a gap");
	else if (s->c.active && s->c.text && s->c.got && s->c.rst == R_PREP_TAIL)
		resp_done(s, ctx); /* complete, but the EOF style was unknown */
	else if (s->c.active && s->c.text)
		emit(s, ctx, fr_end_reason(why));
	for (int i = 0; i < 2; i++) { /* a packet declared longer than what came */
		struct mdir *d = &s->d[i];
		if (d->st == F_BODY && (d->rem || d->cont)) {
			char m[160];
			snprintf(m, sizeof(m), "mysql: %s inside a %s packet: %llu bytes seen, %u more declared",
				 fr_end_reason(why), i == FR_C2S ? "client" : "server",
				 (unsigned long long)d->total, d->rem);
			ctx->anomaly(ctx, ts, "truncated", m);
		}
	}
	stmt_clear(s);
	free(s->c.text);
	for (int i = 0; i < 2; i++) {
		free(s->d[i].buf);
		mz_fini(&s->z[i]);
	}
}

const struct fr_proto fr_proto_mysql = {
	.name = "mysql",
	.table = "mysql",
	.schema = "CREATE TABLE mysql (request_id INTEGER PRIMARY KEY, command TEXT, statement TEXT, "
		  "statement_id INTEGER, params TEXT, rows INTEGER, affected_rows INTEGER, "
		  "last_insert_id INTEGER, warnings INTEGER, error_code INTEGER, sql_state TEXT, "
		  "error_message TEXT, database TEXT, user TEXT, auth_plugin TEXT, server_version TEXT)",
	.state_size = sizeof(struct mysql),
	.ports = {3306, 3307, 33060, 0},
	.udp = 0,
	.probe = mysql_probe,
	.init = mysql_init,
	.feed = mysql_feed,
	.gap = mysql_gap,
	.finish = mysql_finish,
};
