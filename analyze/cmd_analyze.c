/* cmd_analyze.c - `flightrec analyze PATH... -o DB`: options, then the
 * replay engine (engine.c). */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "engine.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flightrec analyze PATH... -o DB [options]\n"
		"\n"
		"Replays segment files, recording directories and snapshot directories (one\n"
		"or many nodes) into a SQLite database: connections, requests with timing\n"
		"breakdown, per-protocol tables (http, redis, dns), anomalies, and the views\n"
		"golden_signals, edges, slowest, failures.\n"
		"\n"
		"  -o, --output DB        database to create (replaced if it exists)\n"
		"  -j, --jobs N           worker threads (output is identical for every N)\n"
		"      --from TIME        ignore records before TIME\n"
		"      --to TIME          ignore records after TIME\n"
		"                         TIME: monotonic ns as in the segments (123456789),\n"
		"                         or wall clock 2026-11-24T22:01:59[.123]Z\n"
		"      --max-memory SIZE  bound on parser state for all connections (256M)\n"
		"      --dim-cap N        distinct values per view dimension (100)\n"
		"      --pods FILE        kubectl get pods -o json (not yet supported)\n"
		"      --services FILE    kubectl get services -o json (not yet supported)\n"
		"  -q, --quiet            no progress bar\n"
		"  -h, --help\n"
		"\n"
		"Exit codes: 0 ok, 1 damaged input (what was readable is in DB), 2 usage or\n"
		"unreadable input.\n");
}

/* Returns 0 and *ns (monotonic) or -1.  Wall-clock times use the wall offset
 * of the first input's header. */
static int parse_time(const char *s, char **paths, int npaths, uint64_t *ns)
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

int cmd_analyze(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, 0, 'o'}, {"jobs", required_argument, 0, 'j'},
		{"from", required_argument, 0, 'F'},   {"to", required_argument, 0, 'T'},
		{"max-memory", required_argument, 0, 'M'}, {"dim-cap", required_argument, 0, 'D'},
		{"pods", required_argument, 0, 'P'},   {"services", required_argument, 0, 'S'},
		{"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	struct fr_opts o;
	fr_opts_default(&o);
	const char *out = NULL, *from = NULL, *to = NULL;
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
		case 'P': o.pods_file = optarg; break;
		case 'S': o.services_file = optarg; break;
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
		if (parse_time(from, paths, npaths, &o.from_ns) < 0) {
			fprintf(stderr, "flightrec analyze: bad --from time '%s'\n", from);
			return EXIT_USAGE;
		}
		o.have_from = 1;
	}
	if (to) {
		if (parse_time(to, paths, npaths, &o.to_ns) < 0) {
			fprintf(stderr, "flightrec analyze: bad --to time '%s'\n", to);
			return EXIT_USAGE;
		}
		o.have_to = 1;
	}
	if (o.pods_file || o.services_file)
		fprintf(stderr, "flightrec analyze: --pods/--services are accepted but not read yet "
				"(the kubectl JSON parser formats/kube.c is on another branch); pods come "
				"from POD/SERVICE records\n");
	o.progress = !o.quiet && isatty(2);
	return fr_analyze(paths, npaths, out, &o);
}
