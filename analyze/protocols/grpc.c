/* grpc.c - gRPC calls inside HTTP/2 streams: the layer http2.c runs on each
 * stream, and the descriptor of the `grpc` table.
 *
 * Reference: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
 * (framing, headers, trailers) and doc/statuscodes.md (status names).
 *
 *   request   HEADERS  :method POST, :path /package.Service/Method,
 *                      content-type application/grpc[+proto|+json...],
 *                      te: trailers, grpc-timeout, grpc-encoding, ...
 *             DATA     length-prefixed messages, then END_STREAM
 *   response  HEADERS  :status 200, content-type application/grpc...
 *             DATA     length-prefixed messages
 *             HEADERS  trailers: grpc-status, grpc-message (END_STREAM)
 *   or "trailers-only": one HEADERS with :status, grpc-status, END_STREAM.
 *
 *   message  +--------------+---------------------------+---------------+
 *            | compressed 8 | length 32 (big-endian)    | message bytes |
 *            +--------------+---------------------------+---------------+
 *
 * The summary and endpoint of a call are its path; grpc-status != 0 is an
 * error; the call type (unary, client/server streaming, bidi) is read from
 * the messages seen each way.  gRPC is never a connection's protocol: its
 * descriptor only names the table (the connection is http2's).
 */
#include "grpc.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

static int starts_with(const uint8_t *p, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n >= k && !memcmp(p, lit, k);
}

void grpc_init(struct grpc_call *g)
{
	memset(g, 0, sizeof(*g));
	g->status = -1;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* grpc-message is percent-encoded (PROTOCOL-HTTP2.md); kept printable */
static void set_message(struct grpc_call *g, const uint8_t *v, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < sizeof(g->message); i++) {
		uint8_t c = v[i];
		if (c == '%' && i + 2 < n && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
			c = (uint8_t)(hexval(v[i + 1]) << 4 | hexval(v[i + 2]));
			i += 2;
		}
		g->message[o++] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
	}
	g->message[o] = 0;
}

void grpc_field(struct grpc_call *g, int dir, const uint8_t *name, size_t nlen, const uint8_t *value,
		size_t vlen)
{
	(void)dir;
	if (nlen == 12 && !memcmp(name, "content-type", 12)) {
		if (starts_with(value, vlen, "application/grpc"))
			g->is_grpc = 1;
	} else if (starts_with(name, nlen, "grpc-")) {
		g->is_grpc = 1;
		if (nlen == 11 && !memcmp(name, "grpc-status", 11)) {
			int v = 0;
			size_t i;
			for (i = 0; i < vlen && i < 6 && value[i] >= '0' && value[i] <= '9'; i++)
				v = v * 10 + (value[i] - '0');
			g->status = i && i == vlen ? v : 2; /* not a number: UNKNOWN */
		} else if (nlen == 12 && !memcmp(name, "grpc-message", 12)) {
			set_message(g, value, vlen);
		}
	}
}

void grpc_data(struct grpc_call *g, int dir, const uint8_t *p, size_t n)
{
	struct grpc_dir *d = &g->d[dir & 1];
	size_t i = 0;
	while (i < n && !d->lost) {
		if (d->remain) {
			size_t k = n - i < d->remain ? n - i : d->remain;
			d->remain -= (uint32_t)k;
			i += k;
			continue;
		}
		d->pre[d->prelen++] = p[i++];
		if (d->prelen < 5)
			continue;
		d->prelen = 0;
		d->msgs++;
		if (d->pre[0] & 1)
			d->compressed = 1;
		if (d->pre[0] > 1)
			d->bad = 1;
		d->remain = (uint32_t)d->pre[1] << 24 | (uint32_t)d->pre[2] << 16 | (uint32_t)d->pre[3] << 8 |
			    d->pre[4];
	}
}

void grpc_gap(struct grpc_call *g, int dir, uint64_t n)
{
	struct grpc_dir *d = &g->d[dir & 1];
	if (!d->prelen && n <= d->remain)
		d->remain -= (uint32_t)n;
	else
		d->lost = 1;
}

static int whole(const struct grpc_dir *d)
{
	return !d->lost && !d->bad && !d->prelen && !d->remain;
}

int grpc_framed(const struct grpc_call *g)
{
	return g->d[FR_C2S].msgs && whole(&g->d[FR_C2S]) && whole(&g->d[FR_S2C]);
}

const char *grpc_outcome(const struct grpc_call *g, int responded, char *buf, int *error)
{
	if (g->status < 0) {
		*error = 1; /* no status: the call did not finish as gRPC does */
		(void)responded;
		return NULL;
	}
	*error = g->status != 0;
	if (g->status < (int)(sizeof(status_names) / sizeof(status_names[0])))
		return status_names[g->status];
	snprintf(buf, 24, "%d", g->status);
	return buf;
}

void grpc_fields(const struct grpc_call *g, const char *path, struct fr_req *r, char *svc, size_t svccap)
{
	const char *m = NULL;
	size_t sl = 0;
	if (path && path[0] == '/') {
		const char *slash = strchr(path + 1, '/');
		if (slash) {
			sl = (size_t)(slash - path - 1);
			m = slash + 1;
		}
	}
	if (m) {
		fr_cat(svc, svccap, 0, path + 1, sl);
		fr_field_str(r, "service", svc);
		fr_field_text(r, "method", m, strcspn(m, "?"));
	} else {
		fr_field_str(r, "service", NULL);
		fr_field_str(r, "method", NULL);
	}
	uint32_t up = g->d[FR_C2S].msgs, down = g->d[FR_S2C].msgs;
	fr_field_str(r, "call_type", up > 1 && down > 1 ? "bidi_streaming" : up > 1 ? "client_streaming" :
					  down > 1 ? "server_streaming" : "unary");
	if (g->status >= 0)
		fr_field_int(r, "grpc_status", g->status);
	else
		fr_field_str(r, "grpc_status", NULL);
	fr_field_str(r, "grpc_message", g->message[0] ? g->message : NULL);
	fr_field_int(r, "req_messages", up);
	fr_field_int(r, "resp_messages", down);
	fr_field_int(r, "compressed", g->d[0].compressed || g->d[1].compressed);
}

/* ---- the descriptor: a layer, never detected on its own ------------------ */

static int grpc_probe(const uint8_t *p, size_t n, int transport)
{
	(void)p, (void)n, (void)transport;
	return FR_PROBE_NO;
}

static int grpc_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *c)
{
	(void)state, (void)ctx, (void)c;
	return -1; /* not a connection's protocol: http2.c runs the layer */
}

static void grpc_conn_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	(void)state, (void)ctx, (void)dir, (void)len, (void)ts;
}

static void grpc_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	(void)state, (void)ctx, (void)why, (void)ts;
}

const struct fr_proto fr_proto_grpc = {
	.name = "grpc",
	.table = "grpc",
	.schema = "CREATE TABLE grpc (request_id INTEGER PRIMARY KEY, service TEXT, method TEXT, "
		  "call_type TEXT, grpc_status INTEGER, grpc_message TEXT, req_messages INTEGER, "
		  "resp_messages INTEGER, compressed INTEGER)",
	.state_size = 1,
	.probe = grpc_probe,
	.feed = grpc_feed,
	.gap = grpc_conn_gap,
	.finish = grpc_finish,
};
