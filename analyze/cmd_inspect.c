/* cmd_inspect.c - `flightrec info`, `flightrec cat`, `flightrec verify`: look at
 * segments without analyzing them. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/segment.h"
#include "flightrec.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Opens every segment under each PATH in turn and calls fn on it.  Returns
 * the worst exit code: 2 if a path or file could not be read at all, 1 if a
 * file had damage, else 0. */
typedef int (*seg_fn)(const char *file, struct fr_reader *r, void *arg);


/* A header's text field on one line: it comes from a file that may be
 * hostile, so control bytes (terminal escapes) are shown as \xNN. */
static void text_line(const char *label, const char *s)
{
	fputs(label, stdout);
	fr_escape(stdout, (const uint8_t *)s, strlen(s), SIZE_MAX);
	putchar('\n');
}

static int for_each_segment(int n, char **paths, seg_fn fn, void *arg)
{
	int worst = EXIT_OK;
	char err[512];
	for (int i = 0; i < n; i++) {
		char **files;
		int nf = fr_list_segments(paths[i], &files, err, sizeof(err));
		if (nf < 0) {
			fprintf(stderr, "flightrec: %s\n", err);
			worst = EXIT_USAGE;
			continue;
		}
		if (nf == 0) {
			fprintf(stderr, "flightrec: %s: no segment files (*%s) in this directory\n",
				paths[i], FR_SEGMENT_SUFFIX);
			worst = EXIT_USAGE;
		}
		for (int j = 0; j < nf; j++) {
			struct fr_reader *r = fr_reader_open(files[j], err, sizeof(err));
			if (!r) {
				fprintf(stderr, "flightrec: %s\n", err);
				worst = EXIT_USAGE;
				continue;
			}
			int rc = fn(files[j], r, arg);
			size_t nd;
			fr_reader_damage(r, &nd);
			if (nd && worst == EXIT_OK)
				worst = EXIT_DAMAGED;
			if (rc > worst)
				worst = rc;
			fr_reader_free(r);
		}
		fr_free_list(files, nf);
	}
	return worst;
}

static void print_damage(const char *file, struct fr_reader *r)
{
	size_t nd;
	const struct fr_damage *d = fr_reader_damage(r, &nd);
	for (size_t i = 0; i < nd; i++)
		fprintf(stderr, "%s: damaged bytes %" PRIu64 "-%" PRIu64 " (%" PRIu64 " bytes): %s\n",
			file, d[i].offset, d[i].offset + d[i].length, d[i].length, d[i].what);
}

/* ---- info ---------------------------------------------------------------- */

struct info_acc {
	uint64_t kinds[FR_KIND_MAX + 1];
	uint64_t records, blocks, comp, raw, file_bytes, payload, damage, files;
	uint64_t unknown; /* records of kinds this reader does not know: skipped */
	uint64_t first, last;
	int64_t wall_offset;
	int verbose;
};

static int info_one(const char *file, struct fr_reader *r, void *arg)
{
	struct info_acc *a = arg;
	struct info_acc one;
	memset(&one, 0, sizeof(one));
	struct fr_record rec;
	while (fr_reader_next(r, &rec) > 0) {
		one.kinds[rec.kind]++;
		one.records++;
		if (rec.kind == FR_DATA)
			one.payload += rec.u.data.payload.len;
		if (one.records == 1 || rec.ts < one.first)
			one.first = rec.ts;
		if (rec.ts > one.last)
			one.last = rec.ts;
	}
	const struct fr_header *h = fr_reader_header(r);
	const struct fr_reader_stats *st = fr_reader_stats(r);
	size_t nd;
	fr_reader_damage(r, &nd);
	if (a->files == 0 || a->verbose) {
		text_line("segment:        ", file);
		printf("format:         %u.%u\n", h->version, h->minor);
		text_line("node:           ", h->node);
		text_line("boot id:        ", h->boot_id);
		text_line("kernel:         ", h->kernel);
		text_line("recorder:       ", h->recorder);
		text_line("source:         ", h->source);
		if (h->hooks[0])
			text_line("hooks:          ", h->hooks);
		if (h->hooks[0])
			printf("arrival times:  %s\n", h->arrival_min_ns ? "yes (ARRIVAL records)" : "no");
		printf("segment index:  %" PRIu64 "\n", h->segment_index);
		printf("snap length:    %u\n", h->snaplen);
		printf("zstd level:     %u\n", h->zstd_level);
		text_line("filters:        ", h->filters[0] ? h->filters : "(none)");
		text_line("redaction:      ", h->redaction[0] ? h->redaction : "(none)");
		printf("clock offset:   %" PRId64 " ns (wall = monotonic + offset)\n", h->wall_offset_ns);
		printf("footer index:   %s\n", fr_reader_has_footer(r) ? "yes" : "no (writer did not close the file)");
		if (a->verbose) {
			printf("blocks:         %" PRIu64 "\n", st->blocks);
			printf("records:        %" PRIu64 "\n\n", one.records);
		}
	}
	if (a->files == 0) {
		a->wall_offset = h->wall_offset_ns;
		a->first = one.first;
	}
	if (one.records && one.first < a->first)
		a->first = one.first;
	if (one.last > a->last)
		a->last = one.last;
	for (int k = 0; k <= FR_KIND_MAX; k++)
		a->kinds[k] += one.kinds[k];
	a->records += one.records;
	a->unknown += st->unknown_kinds;
	a->payload += one.payload;
	a->blocks += st->blocks;
	a->comp += st->comp_bytes;
	a->raw += st->raw_bytes;
	a->file_bytes += st->file_bytes;
	a->damage += nd;
	a->files++;
	print_damage(file, r);
	return EXIT_OK;
}

static void usage_info(FILE *f)
{
	fprintf(f, "usage: flightrec info [--verbose] PATH...\n"
		   "\n"
		   "Describes segments: the header of the first one (node, kernel, recorder,\n"
		   "snap length, filters, redaction, clock offset), then block count, time\n"
		   "range, records per kind and bytes raw vs compressed over all of them.\n"
		   "PATH is a segment file or a recording or snapshot directory.\n"
		   "\n"
		   "  -v, --verbose   print the header of every segment\n"
		   "  -h, --help      this help\n"
		   "\n"
		   "Exit: 0 ok, 1 some blocks damaged (the rest was read), 2 usage or unreadable.\n");
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	struct info_acc a;
	memset(&a, 0, sizeof(a));
	int c;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v': a.verbose = 1; break;
		case 'h': usage_info(stdout); return EXIT_OK;
		default: usage_info(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_info(stderr);
		return EXIT_USAGE;
	}
	int rc = for_each_segment(argc - optind, argv + optind, info_one, &a);
	if (a.files == 0)
		return rc;
	char t1[64], t2[64];
	printf("segments:       %" PRIu64 "\n", a.files);
	printf("blocks:         %" PRIu64 "\n", a.blocks);
	if (a.records)
		printf("time range:     %s .. %s (%.3f s)\n",
		       fr_time_str((int64_t)a.first + a.wall_offset, t1, sizeof(t1)),
		       fr_time_str((int64_t)a.last + a.wall_offset, t2, sizeof(t2)),
		       (double)(a.last - a.first) / 1e9);
	printf("records:        %" PRIu64 "\n", a.records);
	for (int k = 1; k <= FR_KIND_MAX; k++)
		if (a.kinds[k])
			printf("  %-12s  %" PRIu64 "\n", fr_kind_name((unsigned)k), a.kinds[k]);
	if (a.unknown)
		printf("  %-12s  %" PRIu64 " (kinds of a newer format: skipped)\n", "unknown", a.unknown);
	printf("payload bytes:  %" PRIu64 "\n", a.payload);
	printf("raw bytes:      %" PRIu64 "\n", a.raw);
	printf("compressed:     %" PRIu64 " (%.2fx)\n", a.comp, a.comp ? (double)a.raw / (double)a.comp : 0.0);
	printf("file bytes:     %" PRIu64 "\n", a.file_bytes);
	printf("damaged ranges: %" PRIu64 "\n", a.damage);
	return rc;
}

/* ---- cat ----------------------------------------------------------------- */

struct cat_opts {
	int json;
	size_t payload_max;
	int kinds; /* bitmask of kinds to print; 0 = all */
};

static void span_json(FILE *f, const char *key, const struct fr_span *s)
{
	fprintf(f, ",\"%s\":", key);
	fr_json_str(f, s->p, s->len);
}

static void addr_json(FILE *f, const char *key, const struct fr_addr *a)
{
	char buf[80];
	if (a->family == 0) {
		fprintf(f, ",\"%s\":null", key);
		return;
	}
	fr_addr_str(a, buf, sizeof(buf));
	char *colon = strrchr(buf, ':');
	*colon = 0;
	char *host = buf[0] == '[' ? buf + 1 : buf;
	if (buf[0] == '[')
		colon[-1] = 0;
	fprintf(f, ",\"%s\":{\"ip\":\"%s\",\"port\":%u,\"proto\":%u}", key, host, a->port, a->proto);
}

static const char *const roles_json[] = {"unknown", "client", "server"};

/* Each record kind prints itself twice, side by side: as the fields of a JSON
 * object (each starting with a comma, after "kind", "ts", "seq" and "node")
 * and as the rest of a text line (each starting with a space). */

static void spans_json(FILE *f, const char *key, const struct fr_span *s, uint32_t n)
{
	fprintf(f, ",\"%s\":[", key);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			putc(',', f);
		fr_json_str(f, s[i].p, s[i].len);
	}
	putc(']', f);
}

static void put_span(FILE *f, const char *key, const struct fr_span *s, size_t max)
{
	fprintf(f, " %s=", key);
	fr_escape(f, s->p, s->len, max);
}

/* " NAMESPACE/NAME" of a pod or a service. */
static void put_ns_name(FILE *f, const struct fr_span *ns, const struct fr_span *name)
{
	fputc(' ', f);
	fr_escape(f, ns->p, ns->len, 64);
	fputc('/', f);
	fr_escape(f, name->p, name->len, 128);
}

static const char *const roles_text[] = {"?", "connect", "accept"};

static const char *head_end_name(unsigned e)
{
	static const char *const n[] = {"growing", "full", "hole", "dropped"};
	return e < 4 ? n[e] : "?";
}

static void data_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_data *d = &r->u.data;
	size_t n = d->payload.len < o->payload_max ? d->payload.len : o->payload_max;
	fprintf(f, ",\"pid\":%u,\"fd\":%u,\"gen\":%u,\"tid\":%u,\"dir\":\"%s\",\"syscall\":\"%s\","
		   "\"flags\":%u,\"stream_pos\":%" PRIu64 ",\"orig_len\":%u,\"cap_len\":%u",
		d->conn.pid, d->conn.fd, d->conn.gen, d->tid, d->dir ? "ingress" : "egress",
		fr_syscall_name(d->syscall), d->flags, d->stream_pos, d->orig_len, d->payload.len);
	addr_json(f, "peer", &d->peer);
	fputs(",\"payload\":", f);
	fr_json_str(f, d->payload.p, n);
}

static void data_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_data *d = &r->u.data;
	char a[80];
	fprintf(f, " pid=%u fd=%u/%u %s %s len=%u/%u pos=%" PRIu64, d->conn.pid, d->conn.fd,
		d->conn.gen, d->dir ? "<" : ">", fr_syscall_name(d->syscall), d->payload.len,
		d->orig_len, d->stream_pos);
	if (d->peer.family)
		fprintf(f, " peer=%s", fr_addr_str(&d->peer, a, sizeof(a)));
	fputs(" \"", f);
	fr_escape(f, d->payload.p, d->payload.len, o->payload_max);
	putc('"', f);
}

static void open_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_open *c = &r->u.open;
	(void)o;
	fprintf(f, ",\"pid\":%u,\"fd\":%u,\"gen\":%u,\"tid\":%u,\"role\":\"%s\",\"netns\":%u",
		c->conn.pid, c->conn.fd, c->conn.gen, c->tid, roles_json[c->role < 3 ? c->role : 0],
		c->netns);
	addr_json(f, "local", &c->local);
	addr_json(f, "remote", &c->remote);
}

static void open_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_open *c = &r->u.open;
	char a1[80], a2[80];
	(void)o;
	fprintf(f, " pid=%u fd=%u/%u %s %s -> %s%s", c->conn.pid, c->conn.fd, c->conn.gen,
		roles_text[c->role < 3 ? c->role : 0], fr_addr_str(&c->local, a1, sizeof(a1)),
		fr_addr_str(&c->remote, a2, sizeof(a2)),
		c->local.proto == 17 ? " udp" : "");
}

static void close_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_close *c = &r->u.close;
	(void)o;
	fprintf(f, ",\"pid\":%u,\"fd\":%u,\"gen\":%u,\"tid\":%u,\"bytes_out\":%" PRIu64
		   ",\"bytes_in\":%" PRIu64 ",\"calls_out\":%" PRIu64 ",\"calls_in\":%" PRIu64,
		c->conn.pid, c->conn.fd, c->conn.gen, c->tid, c->bytes_out, c->bytes_in,
		c->calls_out, c->calls_in);
}

static void close_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_close *c = &r->u.close;
	(void)o;
	fprintf(f, " pid=%u fd=%u/%u out=%" PRIu64 "B/%" PRIu64 " in=%" PRIu64 "B/%" PRIu64,
		c->conn.pid, c->conn.fd, c->conn.gen, c->bytes_out, c->calls_out, c->bytes_in,
		c->calls_in);
}

static void process_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_process *p = &r->u.proc;
	(void)o;
	fprintf(f, ",\"pid\":%u,\"ppid\":%u,\"cgroup_id\":%" PRIu64 ",\"start_ns\":%" PRIu64,
		p->pid, p->ppid, p->cgroup_id, p->start_ns);
	span_json(f, "comm", &p->comm);
	span_json(f, "exe", &p->exe);
	span_json(f, "cmdline", &p->cmdline);
	span_json(f, "cgroup", &p->cgroup_path);
	span_json(f, "container_id", &p->container_id);
}

static void process_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_process *p = &r->u.proc;
	(void)o;
	fprintf(f, " pid=%u ppid=%u", p->pid, p->ppid);
	put_span(f, "comm", &p->comm, 64);
	put_span(f, "exe", &p->exe, 128);
	put_span(f, "container", &p->container_id, 16);
	put_span(f, "cgroup", &p->cgroup_path, 160);
}

static void pod_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_pod *p = &r->u.pod;
	(void)o;
	span_json(f, "uid", &p->uid);
	span_json(f, "namespace", &p->namespace_);
	span_json(f, "name", &p->name);
	span_json(f, "pod_node", &p->node);
	span_json(f, "owner_kind", &p->owner_kind);
	span_json(f, "owner_name", &p->owner_name);
	spans_json(f, "ips", p->ips, p->n_ips);
	fputs(",\"labels\":{", f);
	for (uint32_t i = 0; i < p->n_labels; i++) {
		if (i)
			putc(',', f);
		fr_json_str(f, p->labels[i].key.p, p->labels[i].key.len);
		putc(':', f);
		fr_json_str(f, p->labels[i].value.p, p->labels[i].value.len);
	}
	fputs("},\"containers\":[", f);
	for (uint32_t i = 0; i < p->n_containers; i++) {
		fputs(i ? ",{\"id\":" : "{\"id\":", f);
		fr_json_str(f, p->containers[i].id.p, p->containers[i].id.len);
		span_json(f, "name", &p->containers[i].name);
		span_json(f, "image", &p->containers[i].image);
		putc('}', f);
	}
	putc(']', f);
}

static void pod_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_pod *p = &r->u.pod;
	(void)o;
	put_ns_name(f, &p->namespace_, &p->name);
	put_span(f, "uid", &p->uid, 64);
	fprintf(f, " owner=");
	fr_escape(f, p->owner_kind.p, p->owner_kind.len, 32);
	fputc('/', f);
	fr_escape(f, p->owner_name.p, p->owner_name.len, 128);
	for (uint32_t i = 0; i < p->n_ips; i++)
		put_span(f, "ip", &p->ips[i], 64);
	fprintf(f, " containers=%u labels=%u", p->n_containers, p->n_labels);
}

static void service_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_service *s = &r->u.svc;
	(void)o;
	span_json(f, "namespace", &s->namespace_);
	span_json(f, "name", &s->name);
	spans_json(f, "cluster_ips", s->ips, s->n_ips);
	fputs(",\"ports\":[", f);
	for (uint32_t i = 0; i < s->n_ports; i++)
		fprintf(f, "%s{\"port\":%u,\"target_port\":%u,\"proto\":%u}", i ? "," : "",
			s->ports[i].port, s->ports[i].target_port, s->ports[i].proto);
	putc(']', f);
}

static void service_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_service *s = &r->u.svc;
	(void)o;
	put_ns_name(f, &s->namespace_, &s->name);
	for (uint32_t i = 0; i < s->n_ips; i++)
		put_span(f, "ip", &s->ips[i], 64);
	for (uint32_t i = 0; i < s->n_ports; i++)
		fprintf(f, " port=%u->%u/%s", s->ports[i].port, s->ports[i].target_port,
			s->ports[i].proto == 17 ? "udp" : "tcp");
}

static void loss_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_loss *l = &r->u.loss;
	(void)o;
	fprintf(f, ",\"cpu\":%d,\"reason\":%u,\"count\":%" PRIu64 ",\"bytes\":%" PRIu64
		   ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64,
		l->cpu == UINT32_MAX ? -1 : (int)l->cpu, l->reason, l->count, l->bytes,
		l->first_ns, l->last_ns);
}

static void loss_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_loss *l = &r->u.loss;
	(void)o;
	fprintf(f, " cpu=%d reason=%u count=%" PRIu64 " bytes=%" PRIu64 " span=%.3fms",
		l->cpu == UINT32_MAX ? -1 : (int)l->cpu, l->reason, l->count, l->bytes,
		(double)(l->last_ns - l->first_ns) / 1e6);
}

static void mark_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	(void)o;
	span_json(f, "mark", &r->u.mark.kind);
	span_json(f, "text", &r->u.mark.text);
	if (r->u.mark.snapshot.len)
		span_json(f, "snapshot", &r->u.mark.snapshot);
}

static void mark_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	(void)o;
	put_span(f, "mark", &r->u.mark.kind, 64);
	put_span(f, "text", &r->u.mark.text, 256);
	if (r->u.mark.snapshot.len)
		put_span(f, "snapshot", &r->u.mark.snapshot, 256);
}

static void state_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_state *c = &r->u.state;
	(void)o;
	fprintf(f, ",\"pid\":%u,\"fd\":%u,\"gen\":%u,\"tid\":%u,\"role\":\"%s\",\"flags\":%u,\"netns\":%u",
		c->conn.pid, c->conn.fd, c->conn.gen, c->tid, roles_json[c->role < 3 ? c->role : 0], c->flags,
		c->netns);
	addr_json(f, "local", &c->local);
	addr_json(f, "remote", &c->remote);
	fprintf(f, ",\"pos_out\":%" PRIu64 ",\"pos_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"bytes_in\":%" PRIu64
		   ",\"calls_out\":%" PRIu64 ",\"calls_in\":%" PRIu64 ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64,
		c->pos[0], c->pos[1], c->bytes[0], c->bytes[1], c->calls[0], c->calls[1], c->first_ns, c->last_ns);
}

static void state_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_state *c = &r->u.state;
	char a1[80], a2[80];
	(void)o;
	fprintf(f, " pid=%u fd=%u/%u %s %s -> %s%s pos=%" PRIu64 "/%" PRIu64 " out=%" PRIu64
		   "B/%" PRIu64 " in=%" PRIu64 "B/%" PRIu64 "%s",
		c->conn.pid, c->conn.fd, c->conn.gen, roles_text[c->role < 3 ? c->role : 0],
		fr_addr_str(&c->local, a1, sizeof(a1)), fr_addr_str(&c->remote, a2, sizeof(a2)),
		c->local.proto == 17 ? " udp" : "", c->pos[0], c->pos[1], c->bytes[0], c->calls[0],
		c->bytes[1], c->calls[1], (c->flags & FR_STATE_HEAD) ? " head" : "");
}

static void head_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_head *hd = &r->u.head;
	fprintf(f, ",\"pid\":%u,\"fd\":%u,\"gen\":%u,\"len_out\":%u,\"len_in\":%u,\"end_out\":%u,"
		   "\"end_in\":%u,\"chunks\":[",
		hd->conn.pid, hd->conn.fd, hd->conn.gen, hd->len[0], hd->len[1], hd->end[0], hd->end[1]);
	size_t off = 0;
	struct fr_head_chunk c;
	for (int i = 0; fr_head_chunk_next(hd, &off, &c); i++) {
		size_t n = c.bytes.len < o->payload_max ? c.bytes.len : o->payload_max;
		fprintf(f, "%s{\"ts\":%" PRIu64 ",\"dir\":\"%s\",\"len\":%u,\"payload\":", i ? "," : "", c.ts,
			c.dir ? "ingress" : "egress", c.bytes.len);
		fr_json_str(f, c.bytes.p, n);
		putc('}', f);
	}
	putc(']', f);
}

static void head_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_head *hd = &r->u.head;
	fprintf(f, " pid=%u fd=%u/%u out=%uB/%s in=%uB/%s chunks=%u \"", hd->conn.pid, hd->conn.fd,
		hd->conn.gen, hd->len[0], head_end_name(hd->end[0]), hd->len[1],
		head_end_name(hd->end[1]), hd->n_chunks);
	size_t off = 0;
	struct fr_head_chunk c;
	if (fr_head_chunk_next(hd, &off, &c))
		fr_escape(f, c.bytes.p, c.bytes.len, o->payload_max);
	putc('"', f);
}

static void arrival_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_arrival *a = &r->u.arrival;
	(void)o;
	fprintf(f, ",\"pid\":%u,\"fd\":%u,\"gen\":%u,\"stream_pos\":%" PRIu64 ",\"arrival_ns\":%" PRIu64,
		a->conn.pid, a->conn.fd, a->conn.gen, a->stream_pos, a->arrival_ns);
}

static void arrival_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_arrival *a = &r->u.arrival;
	(void)o;
	fprintf(f, " pid=%u fd=%u/%u pos=%" PRIu64 " readable %.3fms before", a->conn.pid, a->conn.fd,
		a->conn.gen, a->stream_pos, (double)(r->ts - a->arrival_ns) / 1e6);
}

static void tls_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	(void)o;
	fprintf(f, ",\"pid\":%u,\"fd\":%u,\"gen\":%u", r->u.tls.conn.pid, r->u.tls.conn.fd, r->u.tls.conn.gen);
	span_json(f, "library", &r->u.tls.library);
}

static void tls_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	(void)o;
	fprintf(f, " pid=%u fd=%u/%u ", r->u.tls.conn.pid, r->u.tls.conn.fd, r->u.tls.conn.gen);
	fr_escape(f, r->u.tls.library.p, r->u.tls.library.len, 256);
}

static void tcp_json(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_tcp *t = &r->u.tcp;
	(void)o;
	fprintf(f,
		",\"pid\":%u,\"fd\":%u,\"gen\":%u,\"event\":\"%s\",\"event_code\":%u,\"state\":\"%s\","
		"\"segs\":%u,\"srtt_us\":%u,\"total_retrans\":%u",
		t->conn.pid, t->conn.fd, t->conn.gen, fr_tcp_event_name(t->event), t->event,
		fr_tcp_state_name(t->state), t->segs, t->srtt_us, t->total_retrans);
}

static void tcp_text(FILE *f, const struct fr_record *r, const struct cat_opts *o)
{
	const struct fr_conn_tcp *t = &r->u.tcp;
	(void)o;
	fprintf(f, " pid=%u fd=%u/%u %s state=%s", t->conn.pid, t->conn.fd, t->conn.gen,
		fr_tcp_event_name(t->event), fr_tcp_state_name(t->state));
	if (t->event == FR_TCP_RETRANSMIT)
		fprintf(f, " segs=%u", t->segs);
	fprintf(f, " srtt=%.3fms total_retrans=%u", t->srtt_us / 1e3, t->total_retrans);
}

typedef void (*cat_fn)(FILE *f, const struct fr_record *r, const struct cat_opts *o);

static const struct {
	cat_fn json, text;
} cat_kinds[FR_KIND_MAX + 1] = {
	[FR_DATA] = {data_json, data_text},
	[FR_CONN_OPEN] = {open_json, open_text},
	[FR_CONN_CLOSE] = {close_json, close_text},
	[FR_PROCESS] = {process_json, process_text},
	[FR_POD] = {pod_json, pod_text},
	[FR_SERVICE] = {service_json, service_text},
	[FR_LOSS] = {loss_json, loss_text},
	[FR_MARK] = {mark_json, mark_text},
	[FR_CONN_STATE] = {state_json, state_text},
	[FR_CONN_HEAD] = {head_json, head_text},
	[FR_ARRIVAL] = {arrival_json, arrival_text},
	[FR_CONN_TLS] = {tls_json, tls_text},
	[FR_CONN_TCP] = {tcp_json, tcp_text},
};

static void cat_json(FILE *f, const struct fr_header *h, const struct fr_record *r,
		     const struct cat_opts *o)
{
	fprintf(f, "{\"kind\":\"%s\",\"ts\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"node\":",
		fr_kind_name(r->kind), r->ts, r->seq);
	fr_json_str(f, (const uint8_t *)h->node, strlen(h->node));
	if (r->kind <= FR_KIND_MAX && cat_kinds[r->kind].json)
		cat_kinds[r->kind].json(f, r, o);
	fputs("}\n", f);
}

static void cat_text(FILE *f, const struct fr_header *h, const struct fr_record *r,
		     const struct cat_opts *o)
{
	char t[64];
	fr_time_str((int64_t)r->ts + h->wall_offset_ns, t, sizeof(t));
	fprintf(f, "%" PRIu64 " %s ", r->seq, t + 11);
	fr_escape(f, (const uint8_t *)h->node, strlen(h->node), SIZE_MAX);
	fprintf(f, " %-10s", fr_kind_name(r->kind));
	if (r->kind <= FR_KIND_MAX && cat_kinds[r->kind].text)
		cat_kinds[r->kind].text(f, r, o);
	putc('\n', f);
}

static int cat_one(const char *file, struct fr_reader *r, void *arg)
{
	const struct cat_opts *o = arg;
	const struct fr_header *h = fr_reader_header(r);
	struct fr_record rec;
	while (fr_reader_next(r, &rec) > 0) {
		if (o->kinds && !(o->kinds & (1 << rec.kind)))
			continue;
		if (o->json)
			cat_json(stdout, h, &rec, o);
		else
			cat_text(stdout, h, &rec, o);
	}
	print_damage(file, r);
	return EXIT_OK;
}

static void usage_cat(FILE *f)
{
	fprintf(f, "usage: flightrec cat [--json] [--kind KIND]... [--payload N] PATH...\n"
		   "\n"
		   "Prints every record, one per line, in file order.\n"
		   "PATH is a segment file or a recording or snapshot directory.\n"
		   "\n"
		   "  -j, --json         one JSON object per line; payload bytes >= 0x80 appear as\n"
		   "                     \\u0080..\\u00ff (the payload is the string's Latin-1 bytes)\n"
		   "  -k, --kind KIND    only records of this kind (DATA, CONN_OPEN, CONN_CLOSE,\n"
		   "                     PROCESS, POD, SERVICE, LOSS, MARK, CONN_STATE,\n"
		   "                     CONN_HEAD); repeatable\n"
		   "  -p, --payload N    show at most N payload bytes (text: default 64;\n"
		   "                     JSON: default all)\n"
		   "  -h, --help         this help\n"
		   "\n"
		   "Exit: 0 ok, 1 some blocks damaged (the rest was printed), 2 usage or unreadable.\n");
}

int cmd_cat(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, 0, 'j'}, {"kind", required_argument, 0, 'k'},
		{"payload", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	struct cat_opts o = {0, 0, 0};
	long pmax = -1;
	int c;
	while ((c = getopt_long(argc, argv, "jk:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': o.json = 1; break;
		case 'k': {
			int k;
			for (k = 1; k <= FR_KIND_MAX; k++)
				if (strcasecmp(optarg, fr_kind_name((unsigned)k)) == 0)
					break;
			if (k > FR_KIND_MAX) {
				fprintf(stderr, "flightrec cat: unknown kind '%s' (see --help)\n", optarg);
				return EXIT_USAGE;
			}
			o.kinds |= 1 << k;
			break;
		}
		case 'p': {
			char *end;
			pmax = strtol(optarg, &end, 10);
			if (*end || pmax < 0) {
				fprintf(stderr, "flightrec cat: --payload takes a byte count\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'h': usage_cat(stdout); return EXIT_OK;
		default: usage_cat(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_cat(stderr);
		return EXIT_USAGE;
	}
	o.payload_max = pmax >= 0 ? (size_t)pmax : (o.json ? SIZE_MAX : 64);
	int rc = for_each_segment(argc - optind, argv + optind, cat_one, &o);
	if (fflush(stdout) != 0)
		return EXIT_USAGE;
	return rc;
}

/* ---- verify -------------------------------------------------------------- */

struct verify_acc {
	uint64_t files, blocks, records, damaged, no_footer;
	int quiet;
};

static int verify_one(const char *file, struct fr_reader *r, void *arg)
{
	struct verify_acc *a = arg;
	struct fr_record rec;
	uint64_t n = 0;
	while (fr_reader_next(r, &rec) > 0)
		n++;
	size_t nd;
	const struct fr_damage *d = fr_reader_damage(r, &nd);
	const struct fr_reader_stats *st = fr_reader_stats(r);
	for (size_t i = 0; i < nd; i++)
		printf("%s: DAMAGED bytes %" PRIu64 "-%" PRIu64 " (%" PRIu64 " bytes): %s\n", file,
		       d[i].offset, d[i].offset + d[i].length, d[i].length, d[i].what);
	if (!a->quiet || nd)
		printf("%s: %s, %" PRIu64 " blocks, %" PRIu64 " records%s\n", file,
		       nd ? "DAMAGED" : "ok", st->blocks, n,
		       fr_reader_has_footer(r) ? "" : ", no footer (writer did not close it)");
	a->files++;
	a->blocks += st->blocks;
	a->records += n;
	a->damaged += nd;
	a->no_footer += !fr_reader_has_footer(r);
	return EXIT_OK;
}

static void usage_verify(FILE *f)
{
	fprintf(f, "usage: flightrec verify [--quiet] PATH...\n"
		   "\n"
		   "Reads every block of every segment, checks checksums and decompression,\n"
		   "and prints each damaged byte range.  Blocks after damage are still read.\n"
		   "\n"
		   "  -q, --quiet   print only damaged files and the summary\n"
		   "  -h, --help    this help\n"
		   "\n"
		   "Exit: 0 all intact, 1 damage found (what could be read was), 2 usage or\n"
		   "a file that is not a readable segment.\n");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	struct verify_acc a;
	memset(&a, 0, sizeof(a));
	int c;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q': a.quiet = 1; break;
		case 'h': usage_verify(stdout); return EXIT_OK;
		default: usage_verify(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_verify(stderr);
		return EXIT_USAGE;
	}
	int rc = for_each_segment(argc - optind, argv + optind, verify_one, &a);
	printf("%" PRIu64 " segments, %" PRIu64 " blocks, %" PRIu64 " records, %" PRIu64
	       " damaged ranges, %" PRIu64 " without footer\n",
	       a.files, a.blocks, a.records, a.damaged, a.no_footer);
	return rc;
}
