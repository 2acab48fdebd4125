/* otlp.c - requests as OpenTelemetry spans in OTLP/JSON (otlp.h).
 *
 * Reference: the OTLP specification, "JSON Protobuf Encoding"
 * (opentelemetry-proto docs/specification.md) and
 * opentelemetry/proto/trace/v1/trace.proto: field names in lowerCamelCase,
 * trace and span ids as hex (not base64), enums as integers, 64-bit
 * integers as decimal strings.  Attribute names follow the semantic
 * conventions (k8s.*, service.name, http.*, url.path, rpc.*, db.*,
 * messaging.*, network.*); what they have no name for is "flightrec.*".
 *
 *   TracesData  {"resourceSpans": [ResourceSpans]}          one per line
 *   ResourceSpans {"resource": {"attributes": [KeyValue]},
 *                  "scopeSpans": [{"scope": {"name", "version"},
 *                                  "spans": [Span]}]}
 *   Span {"traceId": 32 hex, "spanId": 16 hex, "parentSpanId"?, "name",
 *         "kind": 2 server | 3 client, "startTimeUnixNano": "ns",
 *         "endTimeUnixNano": "ns", "attributes": [KeyValue],
 *         "status"?: {"code": 2, "message"}}
 *   KeyValue {"key", "value": {"stringValue" | "intValue": "n"}} */
#include "../formats/cli.h"
#include "otlp.h"
#include "out.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPANS_PER_LINE 1000
#define NAME_MAX_LEN 128

/* Columns of SPANS_SQL */
enum {
	C_ID, C_CONN, C_PROTO, C_SIDE, C_START, C_END, C_SUMMARY, C_ENDPOINT, C_STATUS, C_ERROR, C_REASON,
	C_PEER_ADDR, C_PEER_PORT, C_PEER_REQ, C_REQ_BYTES, C_RESP_BYTES, C_SERVER_WL,
	C_NODE, C_PID, C_COMM, C_POD, C_TRANSPORT, C_REMOTE_ADDR, C_REMOTE_PORT, C_OFF,
	C_H_METHOD, C_H_PATH, C_H_STATUS, C_H_HOST, C_H_UA,
	C_H2_METHOD, C_H2_PATH, C_H2_STATUS, C_H2_AUTHORITY,
	C_G_SERVICE, C_G_METHOD, C_G_STATUS, C_G_MESSAGE,
	C_R_COMMAND, C_D_QNAME, C_D_QTYPE, C_D_RCODE, C_K_API, C_K_TOPIC, C_K_CLIENT,
	C_M_STATEMENT, C_M_ERROR, C_M_DB, C_P_STATEMENT, C_P_SQLSTATE, C_P_DB,
};

static const char SPANS_SQL[] =
	"SELECT r.id, r.conn_id, r.protocol, r.side, r.start_ns, r.end_ns, r.summary, r.endpoint, r.status,"
	" r.error, r.reason, r.peer_addr, r.peer_port, r.peer_request_id, r.req_bytes, r.resp_bytes,"
	" r.server_workload, c.node, c.pid, c.comm, c.local_pod, c.transport, c.remote_addr, c.remote_port,"
	" coalesce(k.off, 0),"
	" h.method, h.path, h.status, h.host, h.user_agent, h2.method, h2.path, h2.status, h2.authority,"
	" g.service, g.method, g.grpc_status, g.grpc_message, x.command, d.qname, d.qtype, d.rcode,"
	" ka.api, ka.topic, ka.client_id, my.statement, my.error_code, my.database,"
	" pg.statement, pg.sqlstate, pg.database"
	" FROM requests r LEFT JOIN connections c ON c.id = r.conn_id"
	" LEFT JOIN (SELECT node, min(wall_offset_ns) AS off FROM segments GROUP BY node) k ON k.node = c.node"
	" LEFT JOIN http h ON h.request_id = r.id LEFT JOIN http2 h2 ON h2.request_id = r.id"
	" LEFT JOIN grpc g ON g.request_id = r.id LEFT JOIN redis x ON x.request_id = r.id"
	" LEFT JOIN dns d ON d.request_id = r.id LEFT JOIN kafka ka ON ka.request_id = r.id"
	" LEFT JOIN mysql my ON my.request_id = r.id LEFT JOIN pgsql pg ON pg.request_id = r.id"
	" ORDER BY c.node, c.pid, c.local_pod, r.id";

static const char POD_SQL[] =
	"SELECT namespace, name, node, owner_kind, owner_name, workload FROM pods"
	" WHERE namespace || '/' || name = ?1 ORDER BY uid LIMIT 1";

struct ctx {
	FILE *f;
	char seed[65]; /* the recording's dump hash: ids differ between recordings */
	int nattr;     /* attributes written in the current list */
	sqlite3_stmt *pod;
};

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int isnull(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL;
}

static void json_str(FILE *f, const char *s)
{
	fr_out_json_text(f, s, strlen(s));
}

static void attr_str(struct ctx *c, const char *key, const char *v)
{
	if (!v || !*v)
		return;
	fprintf(c->f, "%s{\"key\":\"%s\",\"value\":{\"stringValue\":", c->nattr++ ? "," : "", key);
	json_str(c->f, v);
	fputs("}}", c->f);
}

static void attr_int(struct ctx *c, const char *key, long long v)
{
	fprintf(c->f, "%s{\"key\":\"%s\",\"value\":{\"intValue\":\"%lld\"}}", c->nattr++ ? "," : "", key, v);
}

/* An integer column as an intValue when it holds one */
static void attr_col_int(struct ctx *c, const char *key, sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_INTEGER)
		attr_int(c, key, sqlite3_column_int64(st, i));
}

/* 2n hex digits of SHA-256(kind, seed, id) into out; never all zeros */
static void make_id(const struct ctx *c, const char *kind, long long id, int n, char *out)
{
	unsigned char md[32];
	unsigned int len = 0;
	char in[160];
	int k = snprintf(in, sizeof(in), "flightrec %s %s %lld", kind, c->seed, id);
	EVP_Digest(in, (size_t)k, md, &len, EVP_sha256(), NULL);
	int zero = 1;
	for (int i = 0; i < n; i++)
		zero &= md[i] == 0;
	if (zero)
		md[n - 1] = 1;
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* The resource of a span: the process and pod that recorded it */
static void resource(struct ctx *c, sqlite3_stmt *st)
{
	const char *pod = col(st, C_POD), *comm = col(st, C_COMM);
	char service[256] = "";
	fputs("{\"resourceSpans\":[{\"resource\":{\"attributes\":[", c->f);
	c->nattr = 0;
	if (pod) {
		sqlite3_reset(c->pod);
		sqlite3_bind_text(c->pod, 1, pod, -1, SQLITE_TRANSIENT);
	}
	if (pod && sqlite3_step(c->pod) == SQLITE_ROW) {
		const char *kind = col(c->pod, 3), *wl = col(c->pod, 5);
		const char *wname = wl && strchr(wl, '/') ? strchr(wl, '/') + 1 : wl;
		snprintf(service, sizeof(service), "%s", wname ? wname : col(c->pod, 1));
		attr_str(c, "service.name", service);
		attr_str(c, "service.namespace", col(c->pod, 0));
		attr_str(c, "k8s.namespace.name", col(c->pod, 0));
		attr_str(c, "k8s.pod.name", col(c->pod, 1));
		attr_str(c, "k8s.node.name", col(c->pod, 2));
		static const struct {
			const char *kind, *key;
		} kinds[] = {{"Deployment", "k8s.deployment.name"}, {"ReplicaSet", "k8s.deployment.name"},
			     {"StatefulSet", "k8s.statefulset.name"}, {"DaemonSet", "k8s.daemonset.name"},
			     {"Job", "k8s.job.name"}, {"CronJob", "k8s.cronjob.name"}};
		for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (!strcmp(kind, kinds[i].kind))
				attr_str(c, kinds[i].key, wname);
	} else
		attr_str(c, "service.name", comm ? comm : "unknown_service");
	attr_str(c, "host.name", col(st, C_NODE));
	attr_col_int(c, "process.pid", st, C_PID);
	attr_str(c, "process.executable.name", comm);
	fputs("]},\"scopeSpans\":[{\"scope\":{\"name\":\"flightrec\",\"version\":\"" FLIGHTREC_VERSION "\"},"
	      "\"spans\":[",
	      c->f);
}

/* The span's name: low in cardinality (the endpoint, not the summary) */
static void span_name(sqlite3_stmt *st, char *out, size_t n)
{
	const char *proto = col(st, C_PROTO), *ep = col(st, C_ENDPOINT), *sum = col(st, C_SUMMARY);
	if (!strcmp(proto, "grpc") && !isnull(st, C_G_SERVICE))
		snprintf(out, n, "%s/%s", col(st, C_G_SERVICE), isnull(st, C_G_METHOD) ? "?" : col(st, C_G_METHOD));
	else if (!strcmp(proto, "kafka") && !isnull(st, C_K_API))
		snprintf(out, n, "%s%s%s", col(st, C_K_API), isnull(st, C_K_TOPIC) ? "" : " ",
			 isnull(st, C_K_TOPIC) ? "" : col(st, C_K_TOPIC));
	else if (!strcmp(proto, "dns"))
		snprintf(out, n, "DNS %s", ep ? ep : "?");
	else
		snprintf(out, n, "%s", ep ? ep : sum ? sum : proto);
	if (strlen(out) >= NAME_MAX_LEN) { /* cut on a UTF-8 character boundary */
		size_t k = NAME_MAX_LEN - 3;
		while (k && (out[k] & 0xc0) == 0x80)
			k--;
		strcpy(out + k, "...");
	}
}

/* The attributes of the request's protocol */
static void protocol_attrs(struct ctx *c, sqlite3_stmt *st)
{
	const char *proto = col(st, C_PROTO);
	if (!strcmp(proto, "http1") || (!strcmp(proto, "http2") && isnull(st, C_G_SERVICE))) {
		int h1 = proto[4] == '1';
		attr_str(c, "http.request.method", col(st, h1 ? C_H_METHOD : C_H2_METHOD));
		attr_str(c, "url.path", col(st, h1 ? C_H_PATH : C_H2_PATH));
		attr_col_int(c, "http.response.status_code", st, h1 ? C_H_STATUS : C_H2_STATUS);
		attr_str(c, "server.address", col(st, h1 ? C_H_HOST : C_H2_AUTHORITY));
		if (h1)
			attr_str(c, "user_agent.original", col(st, C_H_UA));
		attr_str(c, "network.protocol.name", "http");
		attr_str(c, "network.protocol.version", h1 ? "1.1" : "2");
	} else if (!strcmp(proto, "grpc")) {
		attr_str(c, "rpc.system", "grpc");
		attr_str(c, "rpc.service", col(st, C_G_SERVICE));
		attr_str(c, "rpc.method", col(st, C_G_METHOD));
		attr_col_int(c, "rpc.grpc.status_code", st, C_G_STATUS);
	} else if (!strcmp(proto, "redis")) {
		attr_str(c, "db.system", "redis");
		attr_str(c, "db.operation.name", col(st, C_R_COMMAND));
		attr_str(c, "db.query.text", col(st, C_SUMMARY));
	} else if (!strcmp(proto, "mysql") || !strcmp(proto, "pgsql")) {
		int my = proto[0] == 'm';
		attr_str(c, "db.system", my ? "mysql" : "postgresql");
		attr_str(c, "db.query.text", col(st, my ? C_M_STATEMENT : C_P_STATEMENT));
		attr_str(c, "db.namespace", col(st, my ? C_M_DB : C_P_DB));
		if (my && sqlite3_column_int64(st, C_M_ERROR))
			attr_str(c, "db.response.status_code", col(st, C_M_ERROR));
		if (!my)
			attr_str(c, "db.response.status_code", col(st, C_P_SQLSTATE));
	} else if (!strcmp(proto, "dns")) {
		attr_str(c, "dns.question.name", col(st, C_D_QNAME));
		attr_str(c, "flightrec.dns.question.type", col(st, C_D_QTYPE));
		attr_str(c, "flightrec.dns.rcode", col(st, C_D_RCODE));
	} else if (!strcmp(proto, "kafka")) {
		attr_str(c, "messaging.system", "kafka");
		attr_str(c, "messaging.operation.name", col(st, C_K_API));
		attr_str(c, "messaging.destination.name", col(st, C_K_TOPIC));
		attr_str(c, "messaging.client.id", col(st, C_K_CLIENT));
	}
}

static void span(struct ctx *c, sqlite3_stmt *st, struct fr_otlp_stats *stats)
{
	long long id = sqlite3_column_int64(st, C_ID), peer = sqlite3_column_int64(st, C_PEER_REQ);
	int server = !strcmp(col(st, C_SIDE), "server"), linked = server && !isnull(st, C_PEER_REQ);
	long long root = linked ? peer : id;
	char tid[33], sid[17], pid[17], name[NAME_MAX_LEN * 4];
	make_id(c, "trace", root, 16, tid);
	make_id(c, "span", id, 8, sid);
	long long off = sqlite3_column_int64(st, C_OFF), start = sqlite3_column_int64(st, C_START) + off;
	long long end = isnull(st, C_END) ? start : sqlite3_column_int64(st, C_END) + off;
	fprintf(c->f, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", tid, sid);
	if (linked) {
		make_id(c, "span", peer, 8, pid);
		fprintf(c->f, ",\"parentSpanId\":\"%s\"", pid);
		stats->linked++;
	}
	span_name(st, name, sizeof(name));
	fputs(",\"name\":", c->f);
	json_str(c->f, name);
	fprintf(c->f, ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":\"%lld\",\"attributes\":[",
		server ? 2 : 3, start, end < start ? start : end);
	c->nattr = 0;
	attr_str(c, "network.transport", col(st, C_TRANSPORT));
	attr_str(c, "network.peer.address", isnull(st, C_PEER_ADDR) ? col(st, C_REMOTE_ADDR) : col(st, C_PEER_ADDR));
	attr_col_int(c, "network.peer.port", st, isnull(st, C_PEER_ADDR) ? C_REMOTE_PORT : C_PEER_PORT);
	if (!server)
		attr_str(c, "peer.service", col(st, C_SERVER_WL));
	protocol_attrs(c, st);
	attr_str(c, "flightrec.protocol", col(st, C_PROTO));
	attr_str(c, "flightrec.summary", col(st, C_SUMMARY));
	attr_str(c, "flightrec.status", col(st, C_STATUS));
	attr_int(c, "flightrec.request.id", id);
	attr_col_int(c, "flightrec.connection.id", st, C_CONN);
	attr_col_int(c, "flightrec.request.bytes", st, C_REQ_BYTES);
	attr_col_int(c, "flightrec.response.bytes", st, C_RESP_BYTES);
	fputs("]", c->f);
	if (sqlite3_column_int64(st, C_ERROR)) {
		const char *why = col(st, C_REASON);
		if (!why || !*why)
			why = isnull(st, C_STATUS) ? "no response" : col(st, C_STATUS);
		fputs(",\"status\":{\"code\":2,\"message\":", c->f);
		json_str(c->f, why);
		fputs("}", c->f);
	}
	fputs("}", c->f);
	stats->spans++;
}

/* 1 when the current row's resource differs from the one in key */
static int new_resource(sqlite3_stmt *st, char *key, size_t n)
{
	char k[512];
	snprintf(k, sizeof(k), "%s\x1f%lld\x1f%s", isnull(st, C_NODE) ? "" : col(st, C_NODE),
		 (long long)sqlite3_column_int64(st, C_PID), isnull(st, C_POD) ? "" : col(st, C_POD));
	if (!strcmp(k, key))
		return 0;
	snprintf(key, n, "%s", k);
	return 1;
}

int fr_otlp_write(sqlite3 *db, FILE *f, struct fr_otlp_stats *stats, char *err, size_t errlen)
{
	struct ctx c = {.f = f};
	sqlite3_stmt *st = NULL, *seed = NULL;
	memset(stats, 0, sizeof(*stats));
	snprintf(c.seed, sizeof(c.seed), "-");
	if (sqlite3_prepare_v2(db, "SELECT value FROM recording WHERE key = 'dump_sha256'", -1, &seed, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(seed) == SQLITE_ROW && !isnull(seed, 0))
		snprintf(c.seed, sizeof(c.seed), "%s", col(seed, 0));
	sqlite3_finalize(seed);
	if (sqlite3_prepare_v2(db, SPANS_SQL, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, POD_SQL, -1, &c.pod, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "not an analysis database of this flightrec: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	char key[512] = "\x1e";
	int in_line = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (new_resource(st, key, sizeof(key)) || in_line == SPANS_PER_LINE) {
			if (in_line)
				fputs("]}]}]}\n", f);
			resource(&c, st);
			stats->resources++;
			in_line = 0;
		}
		if (in_line++)
			putc(',', f);
		span(&c, st, stats);
	}
	if (in_line)
		fputs("]}]}]}\n", f);
	if (rc != SQLITE_DONE)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_finalize(c.pod);
	if (rc != SQLITE_DONE)
		return -1;
	if (fflush(f) != 0 || ferror(f)) {
		snprintf(err, errlen, "cannot write the output");
		return -1;
	}
	return 0;
}
