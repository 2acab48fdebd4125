/* test_pcapng.c - export-pcap and the packet synthesiser: checksums, and a
 * synthetic recording (truncated payload, gaps, a connection without
 * CONN_OPEN, UDP, IPv6, an accepted socket) exported to pcapng and
 * imported back: the same bytes at the same stream positions. */
#define _GNU_SOURCE
#include "harness.h"
#include "../../analyze/flightrec.h"
#include "../../analyze/pcap/pcap_import.h"
#include "../../formats/cli.h"
#include "../../formats/pcapng.h"
#include "../../formats/segment.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static uint32_t sum16(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}
static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

TEST(pcapng_synth_checksums_verify)
{
	struct fr_addr a = {4, 6, 40000, {10, 0, 0, 1}}, b = {4, 6, 80, {10, 0, 0, 2}};
	struct fr_addr a6 = {6, 17, 5353, {0xfd, [15] = 1}}, b6 = {6, 17, 53, {0xfd, [15] = 2}};
	uint8_t f[FR_SYNTH_MAX_FRAME];
	static const char text[] = "odd-length payload bytes here, and more, and more";
	for (uint32_t len = 0; len < 40; len += 13) {
		struct fr_synth s = {&a, &b, 6, 0x18, 123456, 654321, (const uint8_t *)text, len};
		size_t n = fr_synth_frame(f, sizeof(f), &s);
		CHECK_EQ(n, 14 + 20 + 20 + len);
		CHECK_EQ(fold(sum16(0, f + 14, 20)), 0xffff); /* IPv4 header */
		uint32_t acc = sum16(0, f + 26, 8) + 6 + 20 + len;
		CHECK_EQ(fold(sum16(acc, f + 34, 20 + len)), 0xffff); /* TCP */
		struct fr_synth u = {&a6, &b6, 17, 0, 0, 0, (const uint8_t *)text, len};
		n = fr_synth_frame(f, sizeof(f), &u);
		CHECK_EQ(n, 14 + 40 + 8 + len);
		acc = sum16(0, f + 22, 32) + 17 + 8 + len;
		CHECK_EQ(fold(sum16(acc, f + 54, 8 + len)), 0xffff); /* UDP over IPv6 */
	}
	struct fr_synth bad = {&a, &b6, 6, 0, 0, 0, NULL, 0};
	CHECK_EQ(fr_synth_frame(f, sizeof(f), &bad), 0); /* mixed families */
}

/* ---- round trip ------------------------------------------------------------ */

#define S(str) ((struct fr_span){(const uint8_t *)(str), (uint32_t)strlen(str)})

static uint64_t seq;

static void add(struct fr_writer *w, struct fr_record *r, uint64_t ts)
{
	r->seq = ++seq;
	r->ts = ts;
	if (fr_writer_add(w, r))
		abort();
}

static void data(struct fr_writer *w, uint64_t ts, struct fr_connkey k, int dir, uint64_t pos, const char *p,
		 uint32_t orig, const struct fr_addr *peer)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_DATA;
	r.u.data.conn = k;
	r.u.data.dir = (uint8_t)dir;
	r.u.data.syscall = FR_SYS_WRITE;
	r.u.data.stream_pos = pos;
	r.u.data.payload = S(p);
	r.u.data.orig_len = orig ? orig : (uint32_t)strlen(p);
	if (r.u.data.orig_len > r.u.data.payload.len)
		r.u.data.flags |= FR_DATA_TRUNCATED;
	if (peer) {
		r.u.data.peer = *peer;
		r.u.data.flags |= FR_DATA_NO_POS;
	}
	add(w, &r, ts);
}

/* Bytes of the re-imported recording: per connection (found by its local
 * port) and direction, laid out at stream positions. */
struct side {
	uint16_t lport, rport;
	uint8_t role, fam;
	char out[256], in[256];
	uint32_t nout, nin; /* UDP: concatenated */
};

static int collect(const char *dir, struct side *sides, int max)
{
	char err[256], **files;
	int nf = fr_list_segments(dir, &files, err, sizeof(err)), ns = 0;
	uint32_t fds[16] = {0};
	for (int i = 0; i < nf; i++) {
		struct fr_reader *r = fr_reader_open(files[i], err, sizeof(err));
		struct fr_record rec;
		while (r && fr_reader_next(r, &rec) > 0) {
			if (rec.kind == FR_CONN_OPEN && ns < max) {
				struct side *s = &sides[ns];
				memset(s, '.', sizeof(*s));
				s->lport = rec.u.open.local.port;
				s->rport = rec.u.open.remote.port;
				s->role = rec.u.open.role;
				s->fam = rec.u.open.local.family;
				s->nout = s->nin = 0;
				s->out[255] = s->in[255] = 0;
				fds[ns++] = rec.u.open.conn.fd;
			} else if (rec.kind == FR_DATA) {
				for (int j = 0; j < ns; j++) {
					if (fds[j] != rec.u.data.conn.fd)
						continue;
					struct side *s = &sides[j];
					int out = rec.u.data.dir == FR_EGRESS;
					char *buf = out ? s->out : s->in;
					uint32_t *n = out ? &s->nout : &s->nin;
					uint64_t pos = rec.u.data.flags & FR_DATA_NO_POS ? *n : rec.u.data.stream_pos;
					for (uint32_t k = 0; k < rec.u.data.payload.len && pos + k < 255; k++)
						buf[pos + k] = (char)rec.u.data.payload.p[k];
					if (pos + rec.u.data.orig_len > *n)
						*n = (uint32_t)(pos + rec.u.data.orig_len);
				}
			}
		}
		fr_reader_free(r);
	}
	fr_free_list(files, nf);
	return ns;
}

static const struct side *find(const struct side *s, int n, uint16_t lport)
{
	for (int i = 0; i < n; i++)
		if (s[i].lport == lport)
			return &s[i];
	return NULL;
}

TEST(pcapng_export_then_import_keeps_bytes_and_positions)
{
	char rec[512], png[512], again[512], err[512];
	snprintf(rec, sizeof(rec), "%s/rec.frs", t_tmpdir());
	snprintf(png, sizeof(png), "%s/x.pcapng", t_tmpdir());
	snprintf(again, sizeof(again), "%s/again", t_tmpdir());
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "node-a");
	snprintf(h.source, sizeof(h.source), "synthetic");
	h.wall_offset_ns = 1700000000000000000LL;
	struct fr_writer *w = fr_writer_open(rec, &h, NULL, err, sizeof(err));
	CHECK(w);
	struct fr_record r;
	uint64_t t = 1000000000;
	memset(&r, 0, sizeof(r));
	r.kind = FR_POD;
	r.u.pod.namespace_ = S("shop");
	r.u.pod.name = S("web-1");
	r.u.pod.n_ips = 1;
	r.u.pod.ips[0] = S("10.0.0.1");
	r.u.pod.n_containers = 1;
	r.u.pod.containers[0] = (struct fr_container){S("c1"), S("web"), S("nginx")};
	add(w, &r, t);
	memset(&r, 0, sizeof(r));
	r.kind = FR_PROCESS;
	r.u.proc.pid = 100;
	r.u.proc.comm = S("curl");
	r.u.proc.container_id = S("c1");
	add(w, &r, t);
	/* 1: a client connection: truncated response, a gap in each direction */
	struct fr_connkey k1 = {100, 5, 1}, k2 = {100, 7, 1}, k3 = {100, 9, 1}, k4 = {200, 3, 1};
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.u.open = (struct fr_conn_open){k1, 100, FR_ROLE_CLIENT, {0}, 0, {4, 6, 40000, {10, 0, 0, 1}},
					  {4, 6, 80, {10, 0, 0, 2}}};
	add(w, &r, t += 1000);
	data(w, t += 1000, k1, FR_EGRESS, 0, "GET / HTTP/1.1\r\n\r\n", 0, NULL);
	data(w, t += 1000, k1, FR_INGRESS, 0, "HTTP/1.1 2", 50, NULL); /* 40 bytes not captured */
	data(w, t += 1000, k1, FR_INGRESS, 50, "rest", 0, NULL);
	data(w, t += 1000, k1, FR_EGRESS, 100, "again", 0, NULL); /* 82 bytes lost */
	/* 2: a connection open before the recording (no CONN_OPEN) */
	data(w, t += 1000, k2, FR_EGRESS, 7, "hello", 0, NULL);
	data(w, t += 1000, k2, FR_INGRESS, 3, "world", 0, NULL);
	/* 3: UDP */
	struct fr_addr dns = {4, 17, 53, {10, 0, 0, 53}};
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.u.open = (struct fr_conn_open){k3, 100, FR_ROLE_CLIENT, {0}, 0, {4, 17, 5353, {10, 0, 0, 1}}, dns};
	add(w, &r, t += 1000);
	data(w, t += 1000, k3, FR_EGRESS, 0, "query", 0, &dns);
	data(w, t += 1000, k3, FR_INGRESS, 0, "answer", 0, &dns);
	/* 4: IPv6, the server's accepted socket */
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.u.open = (struct fr_conn_open){k4, 200, FR_ROLE_SERVER, {0}, 0, {6, 6, 6379, {0xfd, [15] = 2}},
					  {6, 6, 5000, {0xfd, [15] = 1}}};
	add(w, &r, t += 1000);
	data(w, t += 1000, k4, FR_INGRESS, 0, "PING\r\n", 0, NULL);
	data(w, t += 1000, k4, FR_EGRESS, 0, "+PONG\r\n", 0, NULL);
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_CLOSE;
	r.u.close.conn = k1;
	add(w, &r, t += 1000);
	CHECK_EQ(fr_writer_close(w), 0);

	char *argv[] = {"export-pcap", rec, "-o", png, NULL};
	optind = 0;
	CHECK_EQ(cmd_export_pcap(4, argv), EXIT_OK);
	const char *files[] = {png};
	struct fr_pcap_opts o;
	memset(&o, 0, sizeof(o));
	struct fr_pcap_result res;
	CHECK_EQ(fr_pcap_import(files, 1, again, &o, &res, err, sizeof(err)), 0);
	CHECK_EQ(res.tcp_conns, 3);
	CHECK_EQ(res.udp_conns, 1);

	struct side s[8];
	int n = collect(again, s, 8);
	CHECK_EQ(n, 4);
	const struct side *c1 = find(s, n, 40000);
	CHECK(c1);
	CHECK_EQ(c1->role, FR_ROLE_CLIENT);
	CHECK_EQ(c1->rport, 80);
	CHECK_EQ(c1->nout, 105);
	CHECK_MEMEQ(c1->out, "GET / HTTP/1.1\r\n\r\n", 18);
	CHECK_MEMEQ(c1->out + 100, "again", 5);
	CHECK_EQ(c1->out[18], '.');
	CHECK_EQ(c1->out[99], '.'); /* the gap stays a gap */
	CHECK_EQ(c1->nin, 54);
	CHECK_MEMEQ(c1->in, "HTTP/1.1 2.", 11);
	CHECK_MEMEQ(c1->in + 50, "rest", 4);
	/* no CONN_OPEN: made-up addresses, positions relative to the first byte */
	int found2 = 0;
	for (int i = 0; i < n; i++)
		if (s[i].fam == 4 && s[i].rport == 1) {
			found2 = 1;
			CHECK_MEMEQ(s[i].out + 7, "hello", 5);
			CHECK_MEMEQ(s[i].in + 3, "world", 5);
		}
	CHECK(found2);
	const struct side *c3 = find(s, n, 5353);
	CHECK(c3);
	CHECK_EQ(c3->rport, 53);
	CHECK_EQ(c3->nout, 5);
	CHECK_MEMEQ(c3->out, "query", 5);
	CHECK_MEMEQ(c3->in, "answer", 6);
	/* the accepted socket: its peer is the client after the round trip */
	const struct side *c4 = find(s, n, 5000);
	CHECK(c4);
	CHECK_EQ(c4->fam, 6);
	CHECK_EQ(c4->rport, 6379);
	CHECK_EQ(c4->role, FR_ROLE_CLIENT);
	CHECK_MEMEQ(c4->out, "PING\r\n", 6);
	CHECK_MEMEQ(c4->in, "+PONG\r\n", 7);
}
