/* patho_gen.c - writes the pathological inputs of issue 11 as segment
 * files: hostile byte streams a recording may hold, made small on disk
 * (zstd shrinks repetitive junk to almost nothing).
 *
 * usage: patho_gen CASE OUT.frs [N]
 *   junk-stream N       a TCP connection carrying N bytes (default 64M)
 *                       of bytes no protocol recognises; another where
 *                       the same follow a Redis PING
 *   tiny-conns N        N connections (default 100000) of 3 bytes each
 *   http-chunk-overflow a chunk size of 15 hex digits, then a normal
 *                       request on the same connection
 *   dns-compression-loop a name that points at itself, over UDP and as
 *                       the first message of a TCP flow; then a good query
 *   redis-huge-bulk     bulk lengths near 2^63, then PING
 *   redis-nesting-100k  a reply nested 100,000 deep; a flow whose first
 *                       message is such a reply
 *   hpack-bomb          a 4 KB header indexed 12,000 times (48 MB decoded)
 *   header-list-bomb    a header block of 100 CONTINUATION frames (1.6 MB)
 *   mysql-16mib         a query packet declaring 16 MiB - 1, then close
 *   kafka-2g-array      requests and responses whose arrays declare 2^31
 *                       elements
 *   sql-shaped          SQL-injection-shaped text everywhere a recording
 *                       carries text: process comm/exe/cmdline, an HTTP
 *                       path and header, a Redis key
 * Deterministic: the same bytes every run.  Used by
 * tests/unit/pathological.sh and the corpus cases named patho-*.
 */
#define _GNU_SOURCE
#include "../../formats/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct fr_writer *w;
static uint64_t ts = 1000000000, seq;

struct conn {
	uint32_t pid, fd;
	uint64_t pos[2];
	int udp;
	struct fr_addr local, remote;
};

static void add(struct fr_record *r)
{
	r->ts = (ts += 1000);
	r->seq = ++seq;
	if (fr_writer_add(w, r) < 0) {
		fprintf(stderr, "patho_gen: write failed\n");
		exit(1);
	}
}

static void addr4(struct fr_addr *a, int proto, uint8_t last, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = 4;
	a->proto = (uint8_t)proto;
	a->port = port;
	a->addr[0] = 10;
	a->addr[3] = last;
}

/* A client connection from 10.0.0.1:sport to 10.0.0.2:dport. */
static void open_conn(struct conn *c, uint32_t pid, int udp, uint16_t sport, uint16_t dport)
{
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->fd = 3;
	c->udp = udp;
	addr4(&c->local, udp ? 17 : 6, 1, sport);
	addr4(&c->remote, udp ? 17 : 6, 2, dport);
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.u.open.conn.pid = pid;
	r.u.open.conn.fd = c->fd;
	r.u.open.role = FR_ROLE_CLIENT;
	r.u.open.local = c->local;
	r.u.open.remote = c->remote;
	add(&r);
}

/* dir: FR_EGRESS (client to server) or FR_INGRESS. */
static void data(struct conn *c, int dir, const void *p, size_t n)
{
	while (n) {
		size_t k = n < FR_MAX_SNAPLEN ? n : FR_MAX_SNAPLEN;
		struct fr_record r;
		memset(&r, 0, sizeof(r));
		r.kind = FR_DATA;
		r.u.data.conn.pid = c->pid;
		r.u.data.conn.fd = c->fd;
		r.u.data.dir = (uint8_t)dir;
		r.u.data.syscall = dir == FR_EGRESS ? FR_SYS_WRITE : FR_SYS_READ;
		r.u.data.orig_len = (uint32_t)k;
		r.u.data.payload.p = p;
		r.u.data.payload.len = (uint32_t)k;
		if (c->udp) {
			r.u.data.flags = FR_DATA_NO_POS;
			r.u.data.peer = c->remote;
		} else {
			r.u.data.stream_pos = c->pos[dir];
			c->pos[dir] += k;
		}
		add(&r);
		p = (const uint8_t *)p + k;
		n -= k;
	}
}

static void datas(struct conn *c, int dir, const char *s)
{
	data(c, dir, s, strlen(s));
}

static void close_conn(struct conn *c)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_CLOSE;
	r.u.close.conn.pid = c->pid;
	r.u.close.conn.fd = c->fd;
	r.u.close.bytes_out = c->pos[FR_EGRESS];
	r.u.close.bytes_in = c->pos[FR_INGRESS];
	add(&r);
}

/* ---- the cases ------------------------------------------------------------ */

static void junk_stream(uint64_t n)
{
	static uint8_t b[FR_MAX_SNAPLEN];
	uint32_t x = 0x2545f491;
	for (size_t i = 0; i < sizeof(b); i++) { /* 4093-byte period: compresses */
		if (i % 4093 == 0)
			x = 0x2545f491;
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(0x80 | (x >> 24)); /* high bit set: no text, no length prefix */
	}
	/* one flow no protocol takes, one a parser takes and then must skip */
	struct conn c[2];
	open_conn(&c[0], 1000, 0, 40000, 9999);
	open_conn(&c[1], 1001, 0, 40001, 6379);
	datas(&c[1], FR_EGRESS, "*1\r\n$4\r\nPING\r\n");
	datas(&c[1], FR_INGRESS, "+PONG\r\n");
	for (int i = 0; i < 2; i++) {
		for (uint64_t done = 0; done < n;) {
			size_t k = n - done < sizeof(b) ? (size_t)(n - done) : sizeof(b);
			data(&c[i], FR_EGRESS, b, k);
			done += k;
		}
		close_conn(&c[i]);
	}
}

static void tiny_conns(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		struct conn c;
		open_conn(&c, 100000 + (uint32_t)i, 0, (uint16_t)(1024 + i % 60000), 9999);
		data(&c, FR_EGRESS, "\xee\xee\n", 3);
		close_conn(&c);
	}
}

static void http_chunk_overflow(void)
{
	struct conn c;
	open_conn(&c, 1000, 0, 40000, 80);
	datas(&c, FR_EGRESS, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n");
	datas(&c, FR_INGRESS, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nabc\r\n0\r\n\r\n");
	datas(&c, FR_EGRESS, "GET /two HTTP/1.1\r\nHost: a\r\n\r\n");
	datas(&c, FR_INGRESS, "HTTP/1.1 204 No Content\r\n\r\n");
	close_conn(&c);
}

static size_t dns_msg(uint8_t *b, int qr, int loop, const char *name)
{
	size_t n = 0;
	b[n++] = 0x12, b[n++] = loop ? 0x34 : 0x35;
	b[n++] = qr ? 0x81 : 0x01, b[n++] = qr ? 0x80 : 0x00;
	b[n++] = 0, b[n++] = 1; /* one question */
	for (int i = 0; i < 6; i++)
		b[n++] = 0;
	if (loop) {
		b[n++] = 0xc0, b[n++] = 12; /* a pointer to itself */
	} else {
		for (const char *l = name; *l;) {
			const char *dot = strchr(l, '.');
			size_t k = dot ? (size_t)(dot - l) : strlen(l);
			b[n++] = (uint8_t)k;
			memcpy(b + n, l, k);
			n += k;
			l += k + (dot ? 1 : 0);
		}
		b[n++] = 0;
	}
	b[n++] = 0, b[n++] = 1, b[n++] = 0, b[n++] = 1; /* A IN */
	return n;
}

static void dns_compression_loop(void)
{
	uint8_t b[600];
	struct conn u, t;
	open_conn(&u, 1000, 1, 40000, 53);
	data(&u, FR_EGRESS, b, dns_msg(b, 0, 1, NULL));
	data(&u, FR_INGRESS, b, dns_msg(b, 1, 1, NULL));
	data(&u, FR_EGRESS, b, dns_msg(b, 0, 0, "example.com"));
	data(&u, FR_INGRESS, b, dns_msg(b, 1, 0, "example.com"));
	close_conn(&u);
	open_conn(&t, 1001, 0, 40001, 53);
	for (int loop = 1; loop >= 0; loop--)
		for (int qr = 0; qr < 2; qr++) {
			size_t n = dns_msg(b + 2, qr, loop, "example.com");
			b[0] = (uint8_t)(n >> 8), b[1] = (uint8_t)n;
			data(&t, qr ? FR_INGRESS : FR_EGRESS, b, n + 2);
		}
	close_conn(&t);
}

static void redis_huge_bulk(void)
{
	struct conn c;
	open_conn(&c, 1000, 0, 40000, 6379);
	datas(&c, FR_EGRESS, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
	datas(&c, FR_INGRESS, "$9223372036854775807\r\nxx\r\n");
	datas(&c, FR_EGRESS, "*1\r\n$4\r\nPING\r\n");
	datas(&c, FR_INGRESS, "+PONG\r\n");
	datas(&c, FR_EGRESS, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9223372036854775000\r\nvv\r\n");
	datas(&c, FR_INGRESS, "-ERR Protocol error: invalid bulk length\r\n");
	close_conn(&c);
}

static void redis_nesting(void)
{
	size_t depth = 100000, n = depth * 4;
	char *deep = malloc(n + 5);
	for (size_t i = 0; i < depth; i++)
		memcpy(deep + 4 * i, "*1\r\n", 4);
	memcpy(deep + n, ":1\r\n", 5);
	struct conn c, first;
	open_conn(&c, 1000, 0, 40000, 6379);
	datas(&c, FR_EGRESS, "*4\r\n$6\r\nLRANGE\r\n$4\r\ndeep\r\n$1\r\n0\r\n$2\r\n-1\r\n");
	datas(&c, FR_INGRESS, deep);
	datas(&c, FR_EGRESS, "*1\r\n$4\r\nPING\r\n");
	datas(&c, FR_INGRESS, "+PONG\r\n");
	close_conn(&c);
	/* the recording starts inside the connection: the first bytes seen are
	 * the deep reply */
	open_conn(&first, 1001, 0, 40001, 6380);
	datas(&first, FR_INGRESS, deep);
	datas(&first, FR_EGRESS, "*1\r\n$4\r\nPING\r\n");
	datas(&first, FR_INGRESS, "+PONG\r\n");
	close_conn(&first);
	free(deep);
}

static size_t h2_frame(uint8_t *b, uint32_t len, int type, int flags, uint32_t stream)
{
	b[0] = (uint8_t)(len >> 16), b[1] = (uint8_t)(len >> 8), b[2] = (uint8_t)len;
	b[3] = (uint8_t)type, b[4] = (uint8_t)flags;
	b[5] = (uint8_t)(stream >> 24), b[6] = (uint8_t)(stream >> 16);
	b[7] = (uint8_t)(stream >> 8), b[8] = (uint8_t)stream;
	return 9;
}

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void h2_start(struct conn *c, uint32_t pid, uint16_t sport)
{
	uint8_t f[9];
	open_conn(c, pid, 0, sport, 8080);
	datas(c, FR_EGRESS, h2_preface);
	data(c, FR_EGRESS, f, h2_frame(f, 0, 4, 0, 0));  /* SETTINGS */
	data(c, FR_INGRESS, f, h2_frame(f, 0, 4, 0, 0)); /* SETTINGS */
}

static void h2_reply(struct conn *c, uint32_t stream)
{
	uint8_t f[10];
	size_t n = h2_frame(f, 1, 1, 0x5, stream); /* HEADERS END_STREAM|END_HEADERS */
	f[n++] = 0x88;                              /* :status 200 */
	data(c, FR_INGRESS, f, n);
}

static void hpack_bomb(void)
{
	static uint8_t b[16384 + 9];
	struct conn c;
	h2_start(&c, 1000, 40000);
	size_t n = 9;
	b[n++] = 0x82, b[n++] = 0x84, b[n++] = 0x86; /* GET / http */
	b[n++] = 0x40, b[n++] = 6;                   /* literal, indexed, new name */
	memcpy(b + n, "x-bomb", 6);
	n += 6;
	b[n++] = 0x7f, b[n++] = 0xa1, b[n++] = 0x1e; /* value of 4000 bytes */
	memset(b + n, 'a', 4000);
	n += 4000;
	while (n < sizeof(b))
		b[n++] = 0xbe; /* index 62: the 4 KB header again */
	h2_frame(b, (uint32_t)(n - 9), 1, 0x5, 1);
	data(&c, FR_EGRESS, b, n);
	h2_reply(&c, 1);
	close_conn(&c);
}

static void header_list_bomb(void)
{
	static uint8_t b[16384 + 9];
	struct conn c;
	h2_start(&c, 1000, 40000);
	for (int i = 0; i <= 100; i++) {
		size_t n = 9;
		if (i == 0)
			b[n++] = 0x82, b[n++] = 0x84, b[n++] = 0x86;
		while (n + 260 < sizeof(b)) { /* literal without indexing, new name */
			b[n++] = 0x00, b[n++] = 4;
			memcpy(b + n, "x-hl", 4);
			n += 4;
			b[n++] = 0x7f, b[n++] = 0x80, b[n++] = 0x01; /* 255 bytes */
			memset(b + n, 'b', 255);
			n += 255;
		}
		/* HEADERS (END_STREAM), then CONTINUATION; the last ends the block */
		h2_frame(b, (uint32_t)(n - 9), i == 0 ? 1 : 9, (i == 0 ? 0x1 : 0) | (i == 100 ? 0x4 : 0), 1);
		data(&c, FR_EGRESS, b, n);
	}
	h2_reply(&c, 1);
	close_conn(&c);
}

static void mysql_16mib(void)
{
	static const uint8_t greeting[] =
		"\x0a" "8.0.0\0"                        /* protocol 10, version */
		"\x01\x00\x00\x00" "abcdefgh\0"         /* thread id, salt */
		"\xff\xf7\x21\x02\x00\xff\x81\x15"      /* caps, charset, status, caps hi, auth len */
		"\0\0\0\0\0\0\0\0\0\0" "ijklmnopqrst\0" /* reserved, salt 2 */
		"mysql_native_password";
	static const uint8_t login[] =
		"\x05\xa6\x0f\x00" "\x00\x00\x00\x01" "\x21" /* caps (PROTOCOL_41...), max packet, charset */
		"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" "app\0" "\x00";
	uint8_t b[256];
	struct conn c;
	open_conn(&c, 1000, 0, 40000, 3306);
	size_t n = sizeof(greeting); /* with its NUL */
	b[0] = (uint8_t)n, b[1] = 0, b[2] = 0, b[3] = 0;
	memcpy(b + 4, greeting, n);
	data(&c, FR_INGRESS, b, n + 4);
	n = sizeof(login) - 1;
	b[0] = (uint8_t)n, b[1] = 0, b[2] = 0, b[3] = 1;
	memcpy(b + 4, login, n);
	data(&c, FR_EGRESS, b, n + 4);
	data(&c, FR_INGRESS, "\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00", 11); /* OK */
	data(&c, FR_EGRESS, "\xff\xff\xff\x00\x03SELECT 1", 13); /* 16 MiB - 1 declared */
	close_conn(&c);
}

static void kafka_2g_array(void)
{
	/* Metadata v1 (api 3): client id "c", topics: an array of 2^31 - 1 */
	static const uint8_t req[] = "\x00\x00\x00\x0f" "\x00\x03\x00\x01" "\x00\x00\x00\x07"
				     "\x00\x01" "c" "\x7f\xff\xff\xff";
	/* the response: brokers, an array of 2^31 (a negative int32) */
	static const uint8_t resp[] = "\x00\x00\x00\x08" "\x00\x00\x00\x07" "\x80\x00\x00\x00";
	/* Produce v3 (api 0): transactional id null, acks, timeout, topics 2^31 - 1 */
	static const uint8_t prod[] = "\x00\x00\x00\x17" "\x00\x00\x00\x03" "\x00\x00\x00\x08"
				      "\x00\x01" "c" "\xff\xff" "\xff\xff" "\x00\x00\x03\xe8"
				      "\x7f\xff\xff\xff";
	struct conn c;
	open_conn(&c, 1000, 0, 40000, 9092);
	data(&c, FR_EGRESS, req, sizeof(req) - 1);
	data(&c, FR_INGRESS, resp, sizeof(resp) - 1);
	data(&c, FR_EGRESS, prod, sizeof(prod) - 1);
	close_conn(&c);
}

#define SQL_SHAPED "x'); DROP TABLE requests; --\"'"

static struct fr_span span(const char *s)
{
	return (struct fr_span){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static void sql_shaped(void)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_PROCESS;
	r.u.proc.pid = 1000;
	r.u.proc.ppid = 1;
	r.u.proc.comm = span("a'b;DROP--");
	r.u.proc.exe = span("/bin/" SQL_SHAPED);
	static const char cmd[] = "curl\0" SQL_SHAPED;
	r.u.proc.cmdline = (struct fr_span){(const uint8_t *)cmd, sizeof(cmd)};
	add(&r);
	struct conn c;
	open_conn(&c, 1000, 0, 40000, 80);
	datas(&c, FR_EGRESS, "GET /" SQL_SHAPED " HTTP/1.1\r\nHost: ');DROP TABLE http;--\r\n\r\n");
	datas(&c, FR_INGRESS, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	close_conn(&c);
	open_conn(&c, 1000, 0, 40001, 6379);
	datas(&c, FR_EGRESS, "*2\r\n$3\r\nGET\r\n$29\r\nk'); DROP TABLE redis; --\"'\"x\r\n");
	datas(&c, FR_INGRESS, "$-1\r\n");
	close_conn(&c);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: patho_gen CASE OUT.frs [N]\n");
		return 2;
	}
	const char *name = argv[1];
	uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 0) : 0;
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "node-1");
	snprintf(h.recorder, sizeof(h.recorder), "patho_gen (tests/tools)");
	snprintf(h.source, sizeof(h.source), "synthetic");
	h.snaplen = FR_MAX_SNAPLEN;
	h.created_ns = ts;
	char err[256];
	unlink(argv[2]);
	struct fr_writer_opts o = {.level = 19, .fsync = FR_FSYNC_NONE};
	w = fr_writer_open(argv[2], &h, &o, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "patho_gen: %s\n", err);
		return 1;
	}
	if (!strcmp(name, "junk-stream"))
		junk_stream(n ? n : 64u << 20);
	else if (!strcmp(name, "tiny-conns"))
		tiny_conns(n ? n : 100000);
	else if (!strcmp(name, "http-chunk-overflow"))
		http_chunk_overflow();
	else if (!strcmp(name, "dns-compression-loop"))
		dns_compression_loop();
	else if (!strcmp(name, "redis-huge-bulk"))
		redis_huge_bulk();
	else if (!strcmp(name, "redis-nesting-100k"))
		redis_nesting();
	else if (!strcmp(name, "hpack-bomb"))
		hpack_bomb();
	else if (!strcmp(name, "header-list-bomb"))
		header_list_bomb();
	else if (!strcmp(name, "mysql-16mib"))
		mysql_16mib();
	else if (!strcmp(name, "kafka-2g-array"))
		kafka_2g_array();
	else if (!strcmp(name, "sql-shaped"))
		sql_shaped();
	else {
		fprintf(stderr, "patho_gen: no case %s\n", name);
		fr_writer_abandon(w);
		unlink(argv[2]);
		return 2;
	}
	return fr_writer_close(w) < 0 ? 1 : 0;
}
