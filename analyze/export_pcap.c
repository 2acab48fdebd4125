/* export_pcap.c - `flightrec export-pcap`: a recording as a pcapng file
 * that Wireshark and tshark dissect.  This file is the command: options,
 * filters, the inputs in order, and the output written under a temporary
 * name; export_pcap_packets.c makes the packets (how is said there). */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/pcapng.h"
#include "../formats/segment.h"
#include "export_pcap_internal.h"
#include "flightrec.h"
#include "../formats/outfile.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* RFC 3339 UTC ("2026-11-24T22:01:59.5Z") or seconds since the epoch. */
static int parse_time(const char *s, int64_t *out)
{
	char *end;
	if (strchr(s, 'T')) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!end)
			return -1;
		int64_t ns = 0;
		if (*end == '.') {
			int64_t scale = 100000000;
			for (end++; *end >= '0' && *end <= '9'; end++, scale /= 10)
				ns += (*end - '0') * scale;
		}
		if (*end == 'Z')
			end++;
		if (*end)
			return -1;
		*out = (int64_t)timegm(&tm) * 1000000000 + ns;
		return 0;
	}
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || v < 0 || v > 9e9)
		return -1;
	*out = (int64_t)(v * 1e9);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flightrec export-pcap PATH... -o FILE.pcapng [--from T] [--to T] [--conn PID:FD[:GEN]] [--pod NAME]\n"
		"\n"
		"Writes a recording's connections as a pcapng file for Wireshark or tshark.\n"
		"PATH is a segment file or a recording or snapshot directory.  The packets are\n"
		"made up around the recorded payloads: Ethernet, IPv4/IPv6 and TCP/UDP headers\n"
		"with correct checksums; each TCP connection starts with a three-way handshake\n"
		"and its segments carry sequence numbers ISN + 1 + stream position, so data\n"
		"missing from the recording shows as missing sequence ranges (\"previous\n"
		"segment not captured\"); CONN_CLOSE becomes FIN/FIN-ACK/ACK.  Connections\n"
		"already open when the recording started get made-up addresses (10.254.x.y).\n"
		"Each packet carries a comment with node, pid, comm, pod and connection; each\n"
		"node is a pcapng interface.\n"
		"\n"
		"  -o, --output FILE   the pcapng file to write ('-' for stdout)\n"
		"      --from T        only packets at or after T: RFC 3339 UTC time\n"
		"                      (2026-11-24T22:01:59.5Z) or seconds since the epoch\n"
		"      --to T          only packets at or before T\n"
		"      --conn P:F[:G]  only the connection with pid P, fd F (and generation G)\n"
		"      --pod NAME      only connections of a pod or a workload: NAME or\n"
		"                      NAMESPACE/NAME, as `flightrec report` shows them (by the\n"
		"                      process's container, or the local or remote address)\n"
		"  -h, --help          this help\n"
		"\n"
		"Exit: 0 ok, 1 some segments were damaged (the rest was exported), 2 usage or\n"
		"unreadable input.\n");
}

/* Writes the packets of every segment under path; out names the output
 * in messages.  *rc: EXIT_USAGE when a path, a file or the output failed,
 * EXIT_DAMAGED (unless worse) when a segment had damaged ranges. */
static void export_path(struct pcap_export *x, const char *path, const char *out, int *rc)
{
	char err[512], **files;
	int nf = fr_list_segments(path, &files, err, sizeof(err));
	if (nf <= 0) {
		fprintf(stderr, "flightrec export-pcap: %s\n", nf < 0 ? err : "no segment files here");
		*rc = EXIT_USAGE;
		return;
	}
	for (int j = 0; j < nf; j++) {
		struct fr_reader *r = fr_reader_open(files[j], err, sizeof(err));
		if (!r) {
			fprintf(stderr, "flightrec export-pcap: %s\n", err);
			*rc = EXIT_USAGE;
			continue;
		}
		const struct fr_header *h = fr_reader_header(r);
		uint32_t node = pcx_node_id(x, h->node);
		struct fr_record rec;
		while (fr_reader_next(r, &rec) > 0)
			if (pcx_on_record(x, node, h, &rec)) {
				fprintf(stderr, "flightrec export-pcap: %s: write error or out of memory\n", out);
				*rc = EXIT_USAGE;
				break;
			}
		size_t nd;
		fr_reader_damage(r, &nd);
		if (nd) {
			fprintf(stderr, "flightrec export-pcap: %s: %zu damaged range(s) skipped\n", files[j], nd);
			if (*rc == EXIT_OK)
				*rc = EXIT_DAMAGED;
		}
		fr_reader_free(r);
	}
	fr_free_list(files, nf);
}

int cmd_export_pcap(int argc, char **argv)
{
	enum { O_FROM = 256, O_TO, O_CONN, O_POD };
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'}, {"from", required_argument, 0, O_FROM},
		{"to", required_argument, 0, O_TO}, {"conn", required_argument, 0, O_CONN},
		{"pod", required_argument, 0, O_POD}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	struct pcap_export *x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "flightrec export-pcap: out of memory\n");
		return EXIT_USAGE;
	}
	x->from = INT64_MIN;
	x->to = INT64_MAX;
	const char *out = NULL;
	int c, rc = EXIT_OK;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case O_FROM:
		case O_TO:
			if (parse_time(optarg, c == O_FROM ? &x->from : &x->to)) {
				fprintf(stderr, "flightrec export-pcap: bad time '%s' (want 2026-11-24T22:01:59Z or epoch seconds)\n", optarg);
				free(x);
				return EXIT_USAGE;
			}
			break;
		case O_CONN: {
			unsigned p, f, g = 0;
			int k = sscanf(optarg, "%u:%u:%u", &p, &f, &g);
			if (k < 2) {
				fprintf(stderr, "flightrec export-pcap: --conn wants PID:FD[:GEN], not '%s'\n", optarg);
				free(x);
				return EXIT_USAGE;
			}
			x->have_conn = 1;
			x->only = (struct fr_connkey){p, f, g};
			break;
		}
		case O_POD: x->pod = optarg; break;
		case 'h': usage(stdout); free(x); return EXIT_OK;
		default: usage(stderr); free(x); return EXIT_USAGE;
		}
	}
	if (optind >= argc || !out) {
		fprintf(stderr, "flightrec export-pcap: %s\n", !out ? "-o FILE is required" : "no recording given");
		usage(stderr);
		free(x);
		return EXIT_USAGE;
	}
	/* a file: written under a temporary name, 0600 (it holds payloads),
	 * renamed into place only when complete (outfile.h) */
	char err[512], *tmp = NULL;
	int fd = -1;
	FILE *f = stdout;
	if (strcmp(out, "-") && (!(tmp = fr_out_begin(out, &fd, err, sizeof(err))) || !(f = fdopen(fd, "wb")))) {
		fprintf(stderr, "flightrec export-pcap: %s\n", tmp ? strerror(errno) : err);
		if (fd >= 0)
			close(fd);
		fr_out_abort(tmp);
		free(x);
		return EXIT_USAGE;
	}
	x->w = fr_pcapng_new(f, "flightrec export-pcap " FLIGHTREC_VERSION);
	for (int i = optind; i < argc && x->w; i++)
		export_path(x, argv[i], out, &rc);
	if (fr_pcapng_free(x->w) || (f != stdout ? fclose(f) : fflush(f))) {
		fprintf(stderr, "flightrec export-pcap: %s: %s\n", out, strerror(errno));
		rc = EXIT_USAGE;
	}
	int filtered = x->pod || x->have_conn || x->from != INT64_MIN || x->to != INT64_MAX;
	if (rc != EXIT_USAGE && filtered && x->packets == 0) {
		fprintf(stderr, "flightrec export-pcap: nothing matched%s%s%s%s: no file written (--pod "
				"takes a pod's or a workload's NAME or NAMESPACE/NAME)\n",
			x->pod ? " --pod " : "", x->pod ? x->pod : "", x->have_conn ? " --conn" : "",
			x->from != INT64_MIN || x->to != INT64_MAX ? " the time range" : "");
		rc = EXIT_USAGE;
	}
	if (tmp && rc == EXIT_USAGE) {
		fr_out_abort(tmp);
	} else if (tmp && fr_out_commit(tmp, out) < 0) {
		fprintf(stderr, "flightrec export-pcap: %s: %s\n", out, strerror(errno));
		rc = EXIT_USAGE;
	}
	if (rc != EXIT_USAGE) { /* after an error, that error is the one line */
		fprintf(stderr, "%s: %" PRIu64 " packets, %" PRIu64 " TCP connections, %" PRIu64 " payload bytes",
			out, x->packets, x->conns_out, x->bytes);
		if (x->udp_dups)
			fprintf(stderr, "; %" PRIu64 " UDP datagrams recorded at both ends written once", x->udp_dups);
		fputc('\n', stderr);
	}
	pcx_free(x);
	return rc;
}
