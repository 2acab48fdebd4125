/* pcap_import.c - `flightrec import-pcap`: packet captures (pcap, pcapng,
 * gzip-compressed) to a flightrec recording.
 *
 * Reference: libpcap (pcap_open_offline(3PCAP), pcap_next_ex(3PCAP)) reads
 * both pcap and pcapng; gzip files are decompressed by zlib while libpcap
 * reads them (a fopencookie stream: bounded memory, no temporary file).
 *
 * Inputs are read together, packet by packet in capture-time order (a
 * k-way merge, one packet ahead per file), through pcap_decode.c and
 * pcap_flow.c; records go to the segment writer as they come, a new segment
 * every segment_bytes.  Memory is bounded by the flow and buffer limits,
 * whatever the size of the captures.
 */
#define _GNU_SOURCE
#include "pcap_import.h"
#include "pcap_internal.h"
#include "../../formats/cli.h"
#include "../../formats/kube.h"
#include "../flightrec.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_SEGMENT (64ull << 20)

/* ---- gzip through a stdio stream ------------------------------------------ */

static ssize_t gz_read(void *c, char *buf, size_t n)
{
	int r = gzread((gzFile)c, buf, n > INT_MAX ? INT_MAX : (unsigned)n);
	return r < 0 ? -1 : r;
}

static int gz_seek(void *c, off64_t *pos, int whence)
{
	/* only ftell() (SEEK_CUR 0): libpcap never seeks when reading */
	if (whence != SEEK_CUR || *pos != 0)
		return -1;
	*pos = gztell((gzFile)c);
	return 0;
}

static int gz_close(void *c) { return gzclose((gzFile)c) == Z_OK ? 0 : -1; }

static FILE *open_input(const char *path, int *gz, char *err, size_t errlen)
{
	*gz = 0;
	if (!strcmp(path, "-"))
		return stdin;
	if (fr_input_file_ok(path, err, errlen) < 0) /* a FIFO: use - */
		return NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	unsigned char m[2] = {0, 0};
	size_t k = fread(m, 1, 2, f);
	if (k == 2 && m[0] == 0x1f && m[1] == 0x8b) {
		fclose(f);
		gzFile z = gzopen(path, "rb");
		if (!z) {
			snprintf(err, errlen, "%s: cannot open gzip stream", path);
			return NULL;
		}
		gzbuffer(z, 256 * 1024);
		cookie_io_functions_t io = {gz_read, NULL, gz_seek, gz_close};
		FILE *cf = fopencookie(z, "rb", io);
		if (!cf) {
			gzclose(z);
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return NULL;
		}
		*gz = 1;
		return cf;
	}
	rewind(f);
	return f;
}

/* ---- inputs ------------------------------------------------------------------ */

struct src {
	const char *name;
	pcap_t *pc;
	int dlt, gz;
	uint64_t packets;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t ts;
	int pending; /* h/data hold the next packet */
	int damaged;
	char what[PCAP_ERRBUF_SIZE + 128];
};

static void src_next(struct src *s)
{
	s->pending = 0;
	if (!s->pc || s->damaged)
		return;
	int rc = pcap_next_ex(s->pc, &s->h, &s->data);
	if (rc == 1) {
		s->pending = 1;
		s->packets++;
		int64_t sec = s->h->ts.tv_sec;
		s->ts = sec < 0 ? 0 : (uint64_t)sec * 1000000000u + (uint64_t)s->h->ts.tv_usec;
		return;
	}
	if (rc == PCAP_ERROR) {
		FILE *f = pcap_file(s->pc);
		long off = f ? ftell(f) : -1;
		s->damaged = 1;
		snprintf(s->what, sizeof(s->what),
			 "%s: damaged or truncated capture: stopped after packet %" PRIu64
			 " (read up to byte %ld%s): %s",
			 s->name, s->packets, off, s->gz ? " of the decompressed stream" : "",
			 pcap_geterr(s->pc));
	}
}

/* ---- output -------------------------------------------------------------------- */

/* The recording being written: segments in dir, a new one past seg_bytes. */
struct out {
	const char *dir;
	struct fr_header h;
	struct fr_writer *w;
	uint64_t seq, index, seg_bytes, segments, records;
	const struct fr_kube *meta; /* pods and services, or NULL */
	const char *start_text; /* MARK start, first segment only */
	char err[512];
};

static int out_add(struct out *s, struct fr_record *r)
{
	r->seq = ++s->seq;
	int rc = fr_writer_add(s->w, r);
	if (rc) {
		snprintf(s->err, sizeof(s->err), "%s: writing a segment: %s", s->dir, strerror(-rc));
		return rc;
	}
	s->records++;
	return 0;
}

static int out_close(struct out *s)
{
	if (!s->w)
		return 0;
	int rc = fr_writer_close(s->w);
	s->w = NULL;
	if (rc && !s->err[0])
		snprintf(s->err, sizeof(s->err), "%s: closing a segment: %s", s->dir, strerror(-rc));
	return rc;
}

static int out_open(struct out *s, uint64_t ts)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/pcap-%06" PRIu64 FR_SEGMENT_SUFFIX, s->dir, s->index);
	s->h.segment_index = s->index++;
	s->h.created_ns = ts;
	char err[256];
	s->w = fr_writer_open(path, &s->h, NULL, err, sizeof(err));
	if (!s->w) {
		snprintf(s->err, sizeof(s->err), "%s", err);
		return -EIO;
	}
	s->segments++;
	/* a segment stands alone: it repeats the metadata */
	size_t npods = s->meta ? fr_kube_n_pods(s->meta) : 0;
	size_t nsvcs = s->meta ? fr_kube_n_services(s->meta) : 0;
	for (size_t i = 0; i < npods + nsvcs; i++) {
		struct fr_record r;
		memset(&r, 0, sizeof(r));
		if (i < npods) {
			r.kind = FR_POD;
			r.u.pod = *fr_kube_pod(s->meta, i);
		} else {
			r.kind = FR_SERVICE;
			r.u.svc = *fr_kube_service(s->meta, i - npods);
		}
		r.ts = ts;
		int rc = out_add(s, &r);
		if (rc)
			return rc;
	}
	if (s->start_text) {
		struct fr_record r;
		memset(&r, 0, sizeof(r));
		r.kind = FR_MARK;
		r.ts = ts;
		r.u.mark.kind = (struct fr_span){(const uint8_t *)"start", 5};
		size_t n = strlen(s->start_text);
		r.u.mark.text = (struct fr_span){(const uint8_t *)s->start_text, (uint32_t)(n > 60000 ? 60000 : n)};
		s->start_text = NULL;
		return out_add(s, &r);
	}
	return 0;
}

static int out_emit(void *arg, struct fr_record *r)
{
	struct out *s = arg;
	if (s->w && fr_writer_bytes(s->w) >= s->seg_bytes) {
		int rc = out_close(s);
		if (rc)
			return rc;
	}
	if (!s->w) {
		int rc = out_open(s, r->ts);
		if (rc)
			return rc;
	}
	return out_add(s, r);
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int prepare_dir(const char *dir, char *err, size_t errlen)
{
	if (mkdir_p(dir) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *e;
	size_t sl = strlen(FR_SEGMENT_SUFFIX);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > sl && !strcmp(e->d_name + l - sl, FR_SEGMENT_SUFFIX)) {
			snprintf(err, errlen, "%s already holds segments (%s): give a new or empty directory",
				 dir, e->d_name);
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

/* ---- the import ------------------------------------------------------------------ */

/* One import, phase to phase. */
struct import {
	const char *const *files;
	int n;
	const char *outdir;
	const struct fr_pcap_opts *o;
	struct src *srcs;
	struct out out;
	struct fr_kube *meta;
	struct fr_flows *flows;
	struct fr_defrag *df;
	struct fr_decode_stats dst;
	char *start;
	char *err;
	size_t errlen;
	int worst;  /* EXIT_* so far */
	int logged; /* err was printed on the log already */
};

/* --pods and --services.  0 or -1 (err set). */
static int load_meta(struct import *im)
{
	const struct fr_pcap_opts *o = im->o;
	if (!o->pods && !o->services)
		return 0;
	im->meta = fr_kube_new();
	if (!im->meta || (o->pods && fr_kube_add_file(im->meta, o->pods, im->err, im->errlen) < 0) ||
	    (o->services && fr_kube_add_file(im->meta, o->services, im->err, im->errlen) < 0)) {
		if (!im->meta)
			snprintf(im->err, im->errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Opens input i as a capture of a supported link type.  0, or -1 with the
 * reason in what. */
static int open_src(struct import *im, int i, char *what, size_t len)
{
	struct src *s = &im->srcs[i];
	const char *file = im->files[i];
	char pe[PCAP_ERRBUF_SIZE];
	s->name = file;
	FILE *f = open_input(file, &s->gz, what, len);
	if (!f)
		return -1;
	s->pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, pe);
	if (!s->pc) {
		snprintf(what, len, "%s: not a readable pcap or pcapng capture: %s", file, pe);
		if (f != stdin)
			fclose(f);
		return -1;
	}
	s->dlt = pcap_datalink(s->pc);
	if (!fr_decode_dlt_ok(s->dlt)) {
		const char *nm = pcap_datalink_val_to_name(s->dlt);
		snprintf(what, len,
			 "%s: link type %d (%s) is not supported (Ethernet, Linux SLL/SLL2, raw IP and "
			 "BSD loopback are)", file, s->dlt, nm ? nm : "?");
		pcap_close(s->pc);
		s->pc = NULL;
		return -1;
	}
	return 0;
}

/* Opens every input first: a bad name fails before anything is written.
 * Returns the number opened; *snaplen: the largest snap length. */
static int open_srcs(struct import *im, uint32_t *snaplen)
{
	int opened = 0;
	*snaplen = 0;
	for (int i = 0; i < im->n; i++) {
		char what[PCAP_ERRBUF_SIZE + 300];
		if (open_src(im, i, what, sizeof(what)) < 0) {
			if (im->o->log)
				fprintf(im->o->log, "flightrec: %s\n", what);
			im->logged = 1;
			if (!im->err[0])
				snprintf(im->err, im->errlen, "%s", what);
			im->worst = EXIT_USAGE;
			continue;
		}
		int sl = pcap_snapshot(im->srcs[i].pc);
		if (sl > 0 && (uint32_t)sl > *snaplen)
			*snaplen = (uint32_t)sl;
		opened++;
	}
	return opened;
}

/* The recording's segment header and its MARK "start" naming the inputs. */
static void out_init(struct import *im, uint32_t snaplen)
{
	const struct fr_pcap_opts *o = im->o;
	struct out *sk = &im->out;
	sk->dir = im->outdir;
	sk->meta = im->meta;
	sk->seg_bytes = o->segment_bytes ? o->segment_bytes : DEFAULT_SEGMENT;
	snprintf(sk->h.node, sizeof(sk->h.node), "%s", o->node ? o->node : "pcap");
	snprintf(sk->h.recorder, sizeof(sk->h.recorder), "flightrec import-pcap %s", FLIGHTREC_VERSION);
	snprintf(sk->h.source, sizeof(sk->h.source), "pcap");
	sk->h.snaplen = snaplen > FR_MAX_SNAPLEN ? FR_MAX_SNAPLEN : snaplen;
	sk->h.zstd_level = 3;
	sk->h.wall_offset_ns = 0;
	size_t sl = 16;
	for (int i = 0; i < im->n; i++)
		sl += strlen(im->files[i]) + 1;
	im->start = malloc(sl);
	if (im->start) {
		strcpy(im->start, "import-pcap:");
		for (int i = 0; i < im->n; i++) {
			strcat(im->start, " ");
			strcat(im->start, im->files[i]);
		}
	}
	sk->start_text = im->start;
}

/* The flow table (with the limits of the options) and the IP fragment
 * table.  0 or -1 (out of memory). */
static int flows_init(struct import *im)
{
	const struct fr_pcap_opts *o = im->o;
	struct fr_flow_limits lim;
	fr_flow_limits_default(&lim);
	if (o->max_flows)
		lim.max_flows = o->max_flows;
	if (o->max_buffer) {
		lim.ooo_total = o->max_buffer;
		if (lim.ooo_dir_bytes > lim.ooo_total)
			lim.ooo_dir_bytes = lim.ooo_total;
	}
	im->flows = fr_flows_new(&lim, out_emit, &im->out);
	im->df = fr_defrag_new(64, 30ull * 1000000000);
	return im->flows && im->df ? 0 : -1;
}

/* A progress line on a terminal: packets so far, bytes read of total. */
static void show_progress(const struct import *im, uint64_t npkt, uint64_t total_bytes)
{
	FILE *log = im->o->log;
	uint64_t at = 0;
	for (int i = 0; i < im->n; i++) {
		FILE *pf = im->srcs[i].pc && !im->srcs[i].gz ? pcap_file(im->srcs[i].pc) : NULL;
		long off = pf ? ftell(pf) : -1;
		at += off > 0 ? (uint64_t)off : 0;
	}
	fprintf(log, "\rimport-pcap: %" PRIu64 " packets, %" PRIu64 " MB", npkt, at >> 20);
	if (total_bytes)
		fprintf(log, " of %" PRIu64 " (%.0f%%)", total_bytes >> 20, 100.0 * (double)at / (double)total_bytes);
	fflush(log);
}

/* Every packet of every input, in capture-time order, through the decoder
 * into the flows; then the flows still open are ended.  0 or the first
 * error of the recording's writer. */
static int read_packets(struct import *im)
{
	for (int i = 0; i < im->n; i++)
		src_next(&im->srcs[i]);
	int rc = 0, progress = im->o->log && isatty(fileno(im->o->log));
	uint64_t total_bytes = 0, npkt = 0;
	for (int i = 0; i < im->n && progress; i++) {
		struct stat sb;
		if (im->srcs[i].pc && !im->srcs[i].gz && !stat(im->files[i], &sb))
			total_bytes += (uint64_t)sb.st_size;
	}
	for (;;) {
		struct src *best = NULL;
		for (int i = 0; i < im->n; i++)
			if (im->srcs[i].pending && (!best || im->srcs[i].ts < best->ts))
				best = &im->srcs[i];
		if (!best)
			break;
		struct fr_pkt p;
		uint32_t cap = best->h->caplen;
		if (fr_decode(best->dlt, best->data, cap, best->ts, im->df, &im->dst, &p) == 1 &&
		    (rc = fr_flows_packet(im->flows, &p)))
			break;
		src_next(best);
		if (progress && !(++npkt & 0xffff))
			show_progress(im, npkt, total_bytes);
	}
	if (progress && npkt > 0xffff)
		fprintf(im->o->log, "\r\033[K");
	if (!rc)
		rc = fr_flows_finish(im->flows);
	return rc;
}

static struct fr_record note(uint64_t ts, const char *text)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_MARK;
	r.ts = ts;
	r.u.mark.kind = (struct fr_span){(const uint8_t *)"note", 4};
	r.u.mark.text = (struct fr_span){(const uint8_t *)text, (uint32_t)strlen(text)};
	return r;
}

/* The damaged inputs: logged, in err, and a MARK "note" each in the
 * recording (the analyzer sees it as an anomaly); an import that found no
 * TCP or UDP packet still leaves a valid, empty recording.  Returns rc, or
 * the first error of the writer. */
static int notes(struct import *im, int rc)
{
	for (int i = 0; i < im->n; i++) {
		struct src *s = &im->srcs[i];
		if (!s->damaged)
			continue;
		if (im->o->log)
			fprintf(im->o->log, "flightrec: %s\n", s->what);
		if (!im->err[0] || im->worst < EXIT_DAMAGED)
			snprintf(im->err, im->errlen, "%s", s->what);
		if (im->worst < EXIT_DAMAGED)
			im->worst = EXIT_DAMAGED;
		if (!rc && im->out.w) {
			struct fr_record r = note(im->out.h.created_ns, s->what);
			rc = out_emit(&im->out, &r);
		}
	}
	if (!im->out.w && !rc && !im->out.segments) {
		struct fr_record r = note(0, "import-pcap: no TCP or UDP packets");
		rc = out_emit(&im->out, &r);
	}
	return rc;
}

/* The result and the summary on the log. */
static void summary(const struct import *im, struct fr_pcap_result *res)
{
	const struct fr_flow_stats *fs = fr_flows_stats(im->flows);
	const struct fr_decode_stats *dst = &im->dst;
	uint64_t packets = 0;
	for (int i = 0; i < im->n; i++)
		packets += im->srcs[i].packets;
	if (res) {
		res->packets = packets;
		res->records = im->out.records;
		res->tcp_conns = fs->tcp_conns;
		res->udp_conns = fs->udp_conns;
		res->gaps = fs->gaps;
		res->gap_bytes = fs->gap_bytes;
		res->data_bytes = fs->data_bytes;
		res->conflicts = fs->conflicts;
		res->segments = im->out.segments;
	}
	FILE *log = im->o->log;
	if (!log)
		return;
	fprintf(log,
		"%s: %" PRIu64 " packets (%" PRIu64 " TCP, %" PRIu64 " UDP, %" PRIu64
		" other frames or fragments), %" PRIu64 " records in %" PRIu64 " segment(s)\n",
		im->outdir, packets, dst->tcp, dst->udp, packets - dst->tcp - dst->udp, im->out.records,
		im->out.segments);
	fprintf(log,
		"  connections: %" PRIu64 " TCP (%" PRIu64 " with handshake, %" PRIu64
		" mid-stream), %" PRIu64 " UDP; %" PRIu64 " closed, %" PRIu64 " reset, %" PRIu64 " evicted\n",
		fs->tcp_conns, fs->handshakes, fs->midstream, fs->udp_conns, fs->closes, fs->resets,
		fs->evicted);
	fprintf(log,
		"  payload: %" PRIu64 " bytes in %" PRIu64 " DATA; gaps %" PRIu64 " (%" PRIu64
		" bytes); retransmitted %" PRIu64 " bytes; out of order %" PRIu64
		" segments; conflicting overlaps %" PRIu64 " (%" PRIu64 " bytes)\n",
		fs->data_bytes, fs->data_records, fs->gaps, fs->gap_bytes, fs->retrans_bytes,
		fs->ooo_segments, fs->conflicts, fs->conflict_bytes);
	if (dst->frags || dst->malformed || dst->truncated_hdr)
		fprintf(log,
			"  ip fragments %" PRIu64 " (%" PRIu64 " datagrams rebuilt, %" PRIu64
			" dropped); malformed %" PRIu64 "; headers cut by the snap length %" PRIu64 "\n",
			dst->frags, dst->frags_done, dst->frags_dropped, dst->malformed, dst->truncated_hdr);
	fprintf(log, "  memory: at most %u flows, %" PRIu64 " bytes buffered out of order\n",
		fs->flows_peak, fs->ooo_peak);
}

/* The steps of fr_pcap_import; returns im->worst. */
static int import_run(struct import *im, struct fr_pcap_result *res)
{
	uint32_t snaplen;
	if (load_meta(im) < 0)
		return im->worst = EXIT_USAGE;
	if (!open_srcs(im, &snaplen)) {
		if (!im->err[0])
			snprintf(im->err, im->errlen, "no capture to import");
		return im->worst = EXIT_USAGE;
	}
	if (prepare_dir(im->outdir, im->err, im->errlen))
		return im->worst = EXIT_USAGE;
	out_init(im, snaplen);
	if (flows_init(im) < 0) {
		snprintf(im->err, im->errlen, "out of memory");
		return im->worst = EXIT_USAGE;
	}
	int rc = notes(im, read_packets(im));
	int crc = out_close(&im->out);
	if (rc || crc) {
		snprintf(im->err, im->errlen, "%s", im->out.err[0] ? im->out.err : "writing the recording failed");
		im->worst = EXIT_USAGE;
		im->logged = 0;
	}
	summary(im, res);
	return im->worst;
}

int fr_pcap_import(const char *const *files, int n, const char *outdir, const struct fr_pcap_opts *o,
		   struct fr_pcap_result *res, char *err, size_t errlen)
{
	static const struct fr_pcap_opts none;
	struct import im;
	memset(&im, 0, sizeof(im));
	im.files = files;
	im.n = n;
	im.outdir = outdir;
	im.o = o ? o : &none;
	im.err = err;
	im.errlen = errlen;
	im.worst = EXIT_OK;
	err[0] = 0;
	if (res)
		memset(res, 0, sizeof(*res));
	im.srcs = calloc((size_t)(n > 0 ? n : 1), sizeof(*im.srcs));
	if (!im.srcs) {
		snprintf(err, errlen, "out of memory");
		return EXIT_USAGE;
	}
	int worst = import_run(&im, res);
	if (worst == EXIT_USAGE && im.o->log && err[0] && !im.logged)
		fprintf(im.o->log, "flightrec: %s\n", err);
	for (int i = 0; i < n; i++)
		if (im.srcs[i].pc)
			pcap_close(im.srcs[i].pc);
	free(im.srcs);
	fr_flows_free(im.flows);
	fr_defrag_free(im.df);
	fr_kube_free(im.meta);
	free(im.start);
	return worst;
}

/* ---- the command ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flightrec import-pcap FILE... -o DIR [--node NAME] [--pods FILE] [--services FILE]\n"
		"\n"
		"Imports packet captures (pcap or pcapng, optionally gzip-compressed; '-' is\n"
		"stdin) into a new flightrec recording in DIR, for `flightrec analyze` and the\n"
		"other tools.  Several files are merged in capture-time order.  Link types:\n"
		"Ethernet (with VLAN tags), Linux cooked (SLL, SLL2), raw IPv4/IPv6, BSD\n"
		"loopback.  IPv4 and IPv6, fragments reassembled.\n"
		"\n"
		"The record model: every TCP or UDP flow is ONE connection seen from its\n"
		"client (pid 0, fd = a counter from 1, gen 1): CONN_OPEN local = client,\n"
		"remote = server; DATA egress = client to server (requests), ingress = server\n"
		"to client (responses).  The server's side is not recorded a second time, so\n"
		"requests are counted once.  Roles come from the handshake (role client); a\n"
		"connection already open when the capture started is taken up at its first\n"
		"data with role unknown, oriented by a guess: the endpoint on a well-known\n"
		"service port (80, 443, 53, 6379, 3306, 5432, 9092, 8080, ...) or else on a\n"
		"port below 1024 is the server, else the first sender is the client.\n"
		"\n"
		"TCP is reassembled per direction: out-of-order segments are buffered,\n"
		"retransmissions dropped (the first copy wins; overlaps whose bytes differ\n"
		"are counted), and missing bytes become gaps: jumps of stream_pos, the\n"
		"offset in the direction's stream.  FIN from both sides or RST give\n"
		"CONN_CLOSE.  UDP datagrams are DATA records with their peer.  Record times\n"
		"are the capture's (ns since the epoch, clock offset 0).  Memory is bounded,\n"
		"whatever the capture's size: about 2.5 KB per tracked flow (--max-flows; the\n"
		"least recently used is evicted, idle ones too), the out-of-order buffer\n"
		"(--max-buffer) and 4 MB for IP fragments: about 230 MB at most with the\n"
		"defaults, a few MB for typical captures.\n"
		"\n"
		"  -o, --output DIR       the new recording (created; must hold no segments)\n"
		"      --node NAME        node name in the segment headers (default \"pcap\")\n"
		"      --pods FILE        pod metadata: `kubectl get pods -A -o json` output\n"
		"      --services FILE    service metadata: `kubectl get services -A -o json`\n"
		"      --max-flows N      connections tracked at once (default 65536)\n"
		"      --max-buffer SIZE  out-of-order bytes buffered in all (default 64M)\n"
		"  -q, --quiet            no summary\n"
		"  -h, --help             this help\n"
		"\n"
		"Exit: 0 ok; 1 a capture was damaged or truncated: what could be read was\n"
		"imported and the message says where reading stopped; 2 usage, or nothing\n"
		"could be imported.\n");
}

int cmd_import_pcap(int argc, char **argv)
{
	enum { O_NODE = 256, O_PODS, O_SVCS, O_FLOWS, O_BUF };
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'}, {"node", required_argument, 0, O_NODE},
		{"pods", required_argument, 0, O_PODS}, {"services", required_argument, 0, O_SVCS},
		{"max-flows", required_argument, 0, O_FLOWS}, {"max-buffer", required_argument, 0, O_BUF},
		{"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	struct fr_pcap_opts o;
	memset(&o, 0, sizeof(o));
	o.log = stderr;
	const char *out = NULL;
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case O_NODE: o.node = optarg; break;
		case O_PODS: o.pods = optarg; break;
		case O_SVCS: o.services = optarg; break;
		case O_FLOWS:
			if (fr_parse_size(optarg, &v) || !v || v > (1u << 24)) {
				fprintf(stderr, "flightrec import-pcap: --max-flows wants 1..16M, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			o.max_flows = (uint32_t)v;
			break;
		case O_BUF:
			if (fr_parse_size(optarg, &v) || !v) {
				fprintf(stderr, "flightrec import-pcap: --max-buffer wants a size like 64M, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			o.max_buffer = v;
			break;
		case 'q': o.log = NULL; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc || !out) {
		fprintf(stderr, "flightrec import-pcap: %s\n", !out ? "-o DIR is required" : "no capture file given");
		usage(stderr);
		return EXIT_USAGE;
	}
	char err[1024];
	int rc = fr_pcap_import((const char *const *)argv + optind, argc - optind, out, &o, NULL, err,
			       sizeof(err));
	if (rc != EXIT_OK && err[0] && !o.log)
		fprintf(stderr, "flightrec import-pcap: %s\n", err);
	return rc;
}
