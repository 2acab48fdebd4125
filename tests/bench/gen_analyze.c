/* gen_analyze.c - builds the analyzer benchmark's recording: the client-side
 * connections of real corpus captures (HTTP keep-alive, Redis pipelined,
 * DNS over UDP) replayed over and over, 64 connections interleaved, with
 * fresh connection keys, advancing stream positions and timestamps, until
 * the payload reaches the requested size.  Segments rotate at 256 MiB.
 *
 * usage: gen_analyze OUTDIR SIZE TEMPLATE.frs...   (SIZE like 1G)
 */
#define _GNU_SOURCE
#include "../../formats/cli.h"
#include "../../formats/segment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct chunk {
	int dir;
	uint8_t *p;
	uint32_t n;
};

struct tmpl {
	struct fr_addr local, remote;
	int udp;
	struct chunk *c;
	int nc;
	uint64_t bytes;
};

struct slot {
	int t;
	uint32_t pid, fd;
	int rep, reps, ci;
	uint64_t pos[2];
};

static struct tmpl tm[16];
static int ntm;

static void load(const char *path)
{
	char err[256];
	struct fr_reader *r = fr_reader_open(path, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "gen_analyze: %s: %s\n", path, err);
		exit(2);
	}
	struct fr_record rec;
	int have = 0;
	uint32_t pid = 0, fd = 0;
	struct tmpl *t = &tm[ntm];
	while (fr_reader_next(r, &rec) > 0) {
		if (!have && rec.kind == FR_CONN_OPEN && rec.u.open.role == FR_ROLE_CLIENT) {
			have = 1;
			pid = rec.u.open.conn.pid;
			fd = rec.u.open.conn.fd;
			t->local = rec.u.open.local;
			t->remote = rec.u.open.remote;
			t->udp = rec.u.open.remote.proto == 17;
		} else if (have && rec.kind == FR_DATA && rec.u.data.conn.pid == pid && rec.u.data.conn.fd == fd) {
			t->c = realloc(t->c, (size_t)(t->nc + 1) * sizeof(*t->c));
			struct chunk *c = &t->c[t->nc++];
			c->dir = rec.u.data.dir;
			c->n = rec.u.data.payload.len;
			c->p = malloc(c->n ? c->n : 1);
			memcpy(c->p, rec.u.data.payload.p, c->n);
			t->bytes += c->n;
		}
	}
	fr_reader_free(r);
	if (t->nc)
		ntm++;
}

int main(int argc, char **argv)
{
	uint64_t target;
	if (argc < 4 || fr_parse_size(argv[2], &target) < 0) {
		fprintf(stderr, "usage: gen_analyze OUTDIR SIZE TEMPLATE.frs...\n");
		return 2;
	}
	for (int i = 3; i < argc && ntm < 16; i++)
		load(argv[i]);
	if (!ntm)
		return 2;
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
		perror(argv[1]);
		return 2;
	}
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "bench-node");
	snprintf(h.recorder, sizeof(h.recorder), "gen_analyze (tests/bench)");
	snprintf(h.source, sizeof(h.source), "synthetic");
	h.snaplen = FR_MAX_SNAPLEN;
	struct fr_writer *w = NULL;
	int segno = 0;
	uint64_t ts = 1000000000, seq = 0, bytes = 0, records = 0, conns = 0;
	struct slot sl[64];
	uint32_t next_pid = 10000;
	for (int i = 0; i < 64; i++) {
		memset(&sl[i], 0, sizeof(sl[i]));
		sl[i].t = -1;
	}
	char err[256];
	while (bytes < target) {
		if (!w || fr_writer_bytes(w) > (256u << 20)) {
			if (w && fr_writer_close(w) < 0)
				return 1;
			char path[4096];
			snprintf(path, sizeof(path), "%s/seg-%05d.frs", argv[1], segno);
			h.segment_index = (uint64_t)segno++;
			h.created_ns = ts;
			w = fr_writer_open(path, &h, NULL, err, sizeof(err));
			if (!w) {
				fprintf(stderr, "gen_analyze: %s\n", err);
				return 1;
			}
		}
		for (int i = 0; i < 64 && bytes < target; i++) {
			struct slot *s = &sl[i];
			struct fr_record r;
			memset(&r, 0, sizeof(r));
			ts += 1000;
			if (s->t < 0) { /* open a new connection */
				s->t = (int)((conns + (uint64_t)i) % (uint64_t)ntm);
				s->pid = next_pid++;
				s->fd = 3;
				s->rep = s->ci = 0;
				s->reps = tm[s->t].udp ? 50 : 200;
				s->pos[0] = s->pos[1] = 0;
				conns++;
				r.kind = FR_CONN_OPEN;
				r.u.open.conn.pid = s->pid;
				r.u.open.conn.fd = s->fd;
				r.u.open.role = FR_ROLE_CLIENT;
				r.u.open.local = tm[s->t].local;
				r.u.open.local.port = (uint16_t)(20000 + (s->pid % 40000));
				r.u.open.remote = tm[s->t].remote;
			} else if (s->rep >= s->reps) {
				r.kind = FR_CONN_CLOSE;
				r.u.close.conn.pid = s->pid;
				r.u.close.conn.fd = s->fd;
				s->t = -1;
			} else {
				const struct tmpl *t = &tm[s->t];
				const struct chunk *c = &t->c[s->ci];
				r.kind = FR_DATA;
				r.u.data.conn.pid = s->pid;
				r.u.data.conn.fd = s->fd;
				r.u.data.dir = (uint8_t)c->dir;
				r.u.data.syscall = c->dir == FR_EGRESS ? FR_SYS_WRITE : FR_SYS_READ;
				r.u.data.orig_len = c->n;
				r.u.data.payload.p = c->p;
				r.u.data.payload.len = c->n;
				if (t->udp) {
					r.u.data.flags = FR_DATA_NO_POS;
					r.u.data.peer = t->remote;
				} else {
					r.u.data.stream_pos = s->pos[c->dir];
					s->pos[c->dir] += c->n;
				}
				bytes += c->n;
				if (++s->ci == t->nc) {
					s->ci = 0;
					s->rep++;
				}
			}
			r.ts = ts;
			r.seq = ++seq;
			if (fr_writer_add(w, &r) < 0)
				return 1;
			records++;
		}
	}
	for (int i = 0; i < 64; i++)
		if (sl[i].t >= 0) {
			struct fr_record r;
			memset(&r, 0, sizeof(r));
			r.kind = FR_CONN_CLOSE;
			r.u.close.conn.pid = sl[i].pid;
			r.u.close.conn.fd = sl[i].fd;
			r.ts = ++ts;
			r.seq = ++seq;
			fr_writer_add(w, &r);
			records++;
		}
	if (fr_writer_close(w) < 0)
		return 1;
	printf("payload_bytes %llu records %llu connections %llu segments %d\n", (unsigned long long)bytes,
	       (unsigned long long)records, (unsigned long long)conns, segno);
	return 0;
}
