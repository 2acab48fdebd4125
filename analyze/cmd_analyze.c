/* cmd_analyze.c - `flightrec analyze PATH... -o DB`: options, then the
 * replay engine (engine.c). */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../reports/rules.h"
#include "engine.h"
#include "flightrec.h"
#include "../formats/outfile.h"
#include "pcap/pcap_import.h"

#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flightrec analyze PATH... -o DB [options]\n"
		"\n"
		"Replays segment files, recording directories and snapshot directories (one\n"
		"or many nodes) into a SQLite database: connections, requests with timing\n"
		"breakdown, one table per protocol, messages (pub/sub deliveries, pushes),\n"
		"anomalies, the views golden_signals, edges, slowest, failures, and the alerts\n"
		"of the alert rules (table alerts).\n"
		"Protocols (their tables):");
	for (int i = 0; fr_protocols[i]; i++)
		fprintf(f, " %s (%s%s%s)", fr_protocols[i]->name, fr_protocols[i]->table,
			fr_protocols[i]->child_table ? ", " : "",
			fr_protocols[i]->child_table ? fr_protocols[i]->child_table : "");
	fprintf(f, "\n"
		"\n"
		"A PATH may also be a packet capture (pcap or pcapng, gzip-compressed or not;\n"
		"recognised by its magic bytes, whatever its name): the captures are imported\n"
		"together as by `flightrec import-pcap` (with --pods/--services) into a\n"
		"temporary recording under $TMPDIR (default /tmp), which is analyzed with the\n"
		"other PATHs and removed afterwards.\n"
		"\n"
		"  -o, --output DB        database to create (replaced if it exists)\n"
		"  -j, --jobs N           worker threads (output is identical for every N)\n"
		"      --from TIME        ignore records before TIME\n"
		"      --to TIME          ignore records after TIME\n"
		"                         TIME: monotonic ns as in the segments (123456789),\n"
		"                         or wall clock 2026-11-24T22:01:59[.123]Z\n"
		"      --max-memory SIZE  bound on parser state for all connections (256M)\n"
		"      --dim-cap N        distinct values per view dimension (100)\n"
		"      --idle SECONDS     end connections silent this long in the recording;\n"
		"                         their pending requests get reason 'connection evicted'\n"
		"                         (300; 0 keeps them until the end)\n"
		"      --pods FILE        kubectl get pods -A -o json: pods and their workloads, for\n"
		"                         addresses and containers the recording does not describe\n"
		"      --services FILE    kubectl get services -A -o json: cluster IPs to services\n"
		"      --rules FILE       alert rules evaluated into the alerts table at the end\n"
		"                         (default: the compiled-in reports/rules.conf; `flightrec\n"
		"                         report --rules FILE` evaluates others later; an empty\n"
		"                         FILE evaluates none)\n"
		"  -q, --quiet            no progress bar\n"
		"  -h, --help\n"
		"\n"
		"Exit codes: 0 ok, 1 damaged input (what was readable is in DB), 2 usage or\n"
		"unreadable input.\n");
}

int fr_parse_time(const char *s, char **paths, int npaths, uint64_t *ns)
{
	char *end;
	if (s[0] >= '0' && s[0] <= '9' && !strchr(s, '-') && !strchr(s, ':')) {
		unsigned long long v = strtoull(s, &end, 10);
		if (*end)
			return -1;
		*ns = v;
		return 0;
	}
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	int64_t frac = 0;
	if (*end == '.') {
		int digits = 0;
		for (end++; *end >= '0' && *end <= '9'; end++, digits++)
			if (digits < 9)
				frac = frac * 10 + (*end - '0');
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (*end == 'Z')
		end++;
	if (*end)
		return -1;
	int64_t wall = (int64_t)timegm(&tm) * 1000000000LL + frac;
	int64_t off = 0;
	char err[256];
	for (int i = 0; i < npaths && !off; i++) {
		char **list;
		int n = fr_list_segments(paths[i], &list, err, sizeof(err));
		if (n > 0) {
			struct fr_reader *r = fr_reader_open(list[0], err, sizeof(err));
			if (r) {
				off = fr_reader_header(r)->wall_offset_ns;
				fr_reader_free(r);
			}
		}
		if (n >= 0)
			fr_free_list(list, n);
	}
	*ns = wall > off ? (uint64_t)(wall - off) : 0;
	return 0;
}

/* 1 when path is a pcap or pcapng file, plain or gzip-compressed, by its
 * first four (decompressed) bytes. */
static int is_capture(const char *path)
{
	unsigned char m[4];
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0; /* a FIFO would block here; the segment reader refuses it */
	gzFile z = gzopen(path, "rb"); /* reads plain files as they are */
	if (!z)
		return 0;
	int n = gzread(z, m, sizeof(m));
	gzclose(z);
	if (n != 4)
		return 0;
	uint32_t le = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
	return le == 0xa1b2c3d4 || le == 0xd4c3b2a1 || le == 0xa1b23c4d || le == 0x4d3cb2a1 ||
	       le == 0x0a0d0d0a;
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

/* Imports the captures among paths[0..*npaths) into a new temporary
 * recording tmpdir and puts it in their place (first capture's slot).
 * Returns EXIT_OK, EXIT_DAMAGED (something could not be read; what could is
 * imported) or EXIT_USAGE (message printed); tmpdir is "" when there was
 * no capture. */
static int import_captures(char **paths, int *npaths, const struct fr_opts *o, char *tmpdir, size_t len)
{
	const char **caps = malloc(sizeof(char *) * (size_t)*npaths);
	int ncap = 0, first = -1, k = 0;
	tmpdir[0] = 0;
	if (!caps)
		return EXIT_USAGE;
	for (int i = 0; i < *npaths; i++)
		if (is_capture(paths[i])) {
			caps[ncap++] = paths[i];
			if (first < 0)
				first = i;
		}
	if (!ncap) {
		free(caps);
		return EXIT_OK;
	}
	/* named with our pid, so that the next run removes it if we are killed */
	fr_out_reap_stale(fr_tmpdir(), "flightrec-analyze-");
	snprintf(tmpdir, len, "%s/flightrec-analyze-%d-XXXXXX", fr_tmpdir(), (int)getpid());
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "flightrec analyze: cannot create a temporary folder %s: %s (set TMPDIR)\n",
			tmpdir, strerror(errno));
		tmpdir[0] = 0;
		free(caps);
		return EXIT_USAGE;
	}
	struct fr_pcap_opts po = {.pods = o->pods_file, .services = o->services_file,
				  .log = o->quiet ? NULL : stderr};
	char err[1024] = "";
	int rc = fr_pcap_import(caps, ncap, tmpdir, &po, NULL, err, sizeof(err));
	free(caps);
	if (rc != 0)
		fprintf(stderr, "flightrec analyze: %s\n", err);
	if (rc == 2)
		return EXIT_USAGE;
	for (int i = 0; i < *npaths; i++)
		if (i == first)
			paths[k++] = tmpdir;
		else if (!is_capture(paths[i]))
			paths[k++] = paths[i];
	*npaths = k;
	return rc ? EXIT_DAMAGED : EXIT_OK;
}

/* The alert rules over the new database, into its alerts table.  0, or
 * -1 after a message. */
static int evaluate_rules(const struct fr_rules *rules, const char *db_path, int quiet)
{
	sqlite3 *db = NULL;
	char notes[1024], err[512];
	long n = -1;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		snprintf(err, sizeof(err), "cannot open %s: %s", db_path, sqlite3_errmsg(db));
	else
		n = fr_rules_evaluate(rules, db, notes, sizeof(notes), err, sizeof(err));
	sqlite3_close(db);
	if (n < 0) {
		fprintf(stderr, "flightrec analyze: alert rules not evaluated: %s\n", err);
		return -1;
	}
	if (!quiet && n > 0)
		fprintf(stderr, "flightrec analyze: %ld alert%s fired (table alerts; `flightrec report` shows them)\n",
			n, n == 1 ? "" : "s");
	return 0;
}

int cmd_analyze(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, 0, 'o'}, {"jobs", required_argument, 0, 'j'},
		{"from", required_argument, 0, 'F'},   {"to", required_argument, 0, 'T'},
		{"max-memory", required_argument, 0, 'M'}, {"dim-cap", required_argument, 0, 'D'},
		{"pods", required_argument, 0, 'P'},   {"services", required_argument, 0, 'S'},
		{"idle", required_argument, 0, 'I'},   {"rules", required_argument, 0, 'R'},
		{"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	struct fr_opts o;
	fr_opts_default(&o);
	const char *out = NULL, *from = NULL, *to = NULL, *rules_file = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:j:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'j':
			o.jobs = atoi(optarg);
			if (o.jobs < 1 || o.jobs > 64) {
				fprintf(stderr, "flightrec analyze: -j wants 1..64\n");
				return EXIT_USAGE;
			}
			break;
		case 'F': from = optarg; break;
		case 'T': to = optarg; break;
		case 'M':
			if (fr_parse_size(optarg, &o.max_memory) < 0 || o.max_memory < (1u << 20)) {
				fprintf(stderr, "flightrec analyze: --max-memory wants a size >= 1M\n");
				return EXIT_USAGE;
			}
			break;
		case 'D':
			o.dim_cap = atoi(optarg);
			if (o.dim_cap < 1) {
				fprintf(stderr, "flightrec analyze: --dim-cap wants a positive number\n");
				return EXIT_USAGE;
			}
			break;
		case 'I': {
			char *end;
			double v = strtod(optarg, &end);
			if (*end || v < 0) {
				fprintf(stderr, "flightrec analyze: --idle wants seconds >= 0\n");
				return EXIT_USAGE;
			}
			o.idle_ns = (uint64_t)(v * 1e9);
			break;
		}
		case 'P': o.pods_file = optarg; break;
		case 'S': o.services_file = optarg; break;
		case 'R': rules_file = optarg; break;
		case 'q': o.quiet = 1; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (!out || optind >= argc) {
		fprintf(stderr, "flightrec analyze: need at least one PATH and -o DB\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	char **paths = argv + optind;
	int npaths = argc - optind;
	if (from) {
		if (fr_parse_time(from, paths, npaths, &o.from_ns) < 0) {
			fprintf(stderr, "flightrec analyze: bad --from time '%s'\n", from);
			return EXIT_USAGE;
		}
		o.have_from = 1;
	}
	if (to) {
		if (fr_parse_time(to, paths, npaths, &o.to_ns) < 0) {
			fprintf(stderr, "flightrec analyze: bad --to time '%s'\n", to);
			return EXIT_USAGE;
		}
		o.have_to = 1;
	}
	struct fr_rules rules; /* read first: a bad rules file costs no analysis */
	char err[512];
	if (fr_rules_load(rules_file, &rules, err, sizeof(err)) < 0) {
		fprintf(stderr, "flightrec analyze: %s\n", err);
		return EXIT_USAGE;
	}
	struct fr_kube *kube = NULL;
	if (o.pods_file || o.services_file) {
		kube = fr_kube_new();
		if (!kube || (o.pods_file && fr_kube_add_file(kube, o.pods_file, err, sizeof(err)) < 0) ||
		    (o.services_file && fr_kube_add_file(kube, o.services_file, err, sizeof(err)) < 0)) {
			fprintf(stderr, "flightrec analyze: %s\n", kube ? err : "out of memory");
			fr_kube_free(kube);
			fr_rules_fini(&rules);
			return EXIT_USAGE;
		}
		o.kube = kube;
	}
	char tmpdir[4096];
	int irc = import_captures(paths, &npaths, &o, tmpdir, sizeof(tmpdir));
	o.progress = !o.quiet && isatty(2);
	int rc = irc == EXIT_USAGE ? EXIT_USAGE : fr_analyze(paths, npaths, out, &o);
	fr_kube_free(kube);
	if (tmpdir[0] && nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "flightrec analyze: cannot remove %s: %s\n", tmpdir, strerror(errno));
	if (rc != EXIT_USAGE && evaluate_rules(&rules, out, o.quiet) < 0)
		rc = EXIT_USAGE;
	fr_rules_fini(&rules);
	return rc == EXIT_OK ? irc : rc;
}
