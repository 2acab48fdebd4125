/* options.c - flightrec-record's command line.  Every option is one row of
 * the table below: its names, its argument, its default, its parser and its
 * help text.  The defaults are the rows' default strings run through their
 * parsers, and --help and the getopt tables are made from the rows, so an
 * option is written in one place. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "recorder.h"
#include "triggers.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>

struct opt;
typedef int (*opt_fn)(struct opts *o, const struct opt *d, const char *arg);

struct opt {
	const char *name;  /* long name; NULL for a section title (help) */
	char letter;       /* short name, or 0 */
	const char *arg;   /* the argument's name in --help; NULL: a flag */
	const char *def;   /* default, given to parse before the command line; NULL: none */
	opt_fn parse;
	size_t off;        /* the field of struct opts the generic parsers set */
	uint64_t min, max; /* their range */
	const char *help;  /* lines after the first start with "\n" */
};

#define F(field) offsetof(struct opts, field)

static int bad(const struct opt *d, const char *arg, const char *why)
{
	logmsg("bad --%s: %s%s%s", d->name, arg, why ? " " : "", why ? why : "");
	return -1;
}

/* A size with K/M/G suffixes into a uint64_t. */
static int p_size(struct opts *o, const struct opt *d, const char *arg)
{
	uint64_t v;
	if (fr_parse_size(arg, &v) || v < d->min || v > d->max)
		return bad(d, arg, NULL);
	*(uint64_t *)((char *)o + d->off) = v;
	return 0;
}

/* A power of two (--ringbuf). */
static int p_pow2(struct opts *o, const struct opt *d, const char *arg)
{
	uint64_t v;
	if (fr_parse_size(arg, &v) || v < d->min || v > d->max || (v & (v - 1)))
		return bad(d, arg, "(a power of two from 4K to 1G)");
	*(uint64_t *)((char *)o + d->off) = v;
	return 0;
}

/* Seconds, fractions allowed, into a double; min 1 means "more than 0". */
static int p_secs(struct opts *o, const struct opt *d, const char *arg)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || v < 0 || (d->min && v == 0))
		return bad(d, arg, "(seconds)");
	*(double *)((char *)o + d->off) = v;
	return 0;
}

static int parse_num(const struct opt *d, const char *arg, uint32_t *v)
{
	uint64_t x;
	if (fr_parse_u64(arg, &x) || x < d->min || x > d->max)
		return bad(d, arg, NULL);
	*v = (uint32_t)x;
	return 0;
}

/* A number in [min, max] into a uint32_t. */
static int p_u32(struct opts *o, const struct opt *d, const char *arg)
{
	return parse_num(d, arg, (uint32_t *)((char *)o + d->off));
}

/* One more number in a struct numlist (repeatable filters). */
static int p_numlist(struct opts *o, const struct opt *d, const char *arg)
{
	struct numlist *l = (struct numlist *)((char *)o + d->off);
	if (l->n >= MAX_FILTER)
		return bad(d, arg, "(too many)");
	return parse_num(d, arg, &l->v[l->n++]);
}

/* One more string in a struct strlist. */
static int p_strlist(struct opts *o, const struct opt *d, const char *arg)
{
	struct strlist *l = (struct strlist *)((char *)o + d->off);
	if (l->n >= MAX_FILTER)
		return bad(d, arg, "(too many)");
	l->v[l->n++] = arg;
	return 0;
}

static int p_str(struct opts *o, const struct opt *d, const char *arg)
{
	*(const char **)((char *)o + d->off) = arg;
	return 0;
}

/* A file read at start (--pods, --services, --kubeconfig): checked here,
 * before the output directory is made, so a FIFO, a directory, /dev/null
 * or an empty file is a usage error with nothing written. */
static int file_ok(const struct opt *d, const char *arg)
{
	char err[512];
	if (fr_input_file_ok(arg, err, sizeof(err)) < 0) {
		logmsg("--%s: %s", d->name, err);
		return -1;
	}
	return 0;
}

static int p_filelist(struct opts *o, const struct opt *d, const char *arg)
{
	return file_ok(d, arg) < 0 ? -1 : p_strlist(o, d, arg);
}

static int p_flag(struct opts *o, const struct opt *d, const char *arg)
{
	(void)arg;
	*(int *)((char *)o + d->off) = 1;
	return 0;
}

static int p_kubeconfig(struct opts *o, const struct opt *d, const char *arg)
{
	if (file_ok(d, arg) < 0)
		return -1;
	o->kube_api = 1;
	return p_str(o, d, arg);
}

static int p_redact_header(struct opts *o, const struct opt *d, const char *arg)
{
	return fr_redact_add_header(&o->redact, arg) ? bad(d, arg, "(empty, too long or too many)") : 0;
}

static int p_no_redact(struct opts *o, const struct opt *d, const char *arg)
{
	(void)d, (void)arg;
	o->redact.enabled = 0;
	return 0;
}

static int p_cmdline(struct opts *o, const struct opt *d, const char *arg)
{
	static const char *const modes[] = {[FR_CMDLINE_NAMES] = "names", [FR_CMDLINE_ARGV0] = "argv0",
					    [FR_CMDLINE_FULL] = "full"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(arg, modes[i])) {
			o->redact.cmdline = i;
			return 0;
		}
	return bad(d, arg, "(names, argv0 or full)");
}

static int p_triggers(struct opts *o, const struct opt *d, const char *arg)
{
	return triggers_parse(arg, &o->triggers) ? bad(d, arg, "(oom,crash,restart,kube,alert,cluster, all or none)") : 0;
}

/* --hooks: auto, sockets or syscalls. */
static int p_hooks(struct opts *o, const struct opt *d, const char *arg)
{
	static const char *const names[] = {"auto", "sockets", "syscalls"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(arg, names[i])) {
			o->hooks = i;
			return 0;
		}
	return bad(d, arg, "(auto, sockets or syscalls)");
}

static int p_help(struct opts *o, const struct opt *d, const char *arg);
static int p_version(struct opts *o, const struct opt *d, const char *arg);

static const struct opt table[] = {
	{.help = "Output and ring:"},
	{"output", 'o', "DIR", NULL, p_str, F(dir), 0, 0, "recording directory (created 0700 if missing)"},
	{"duration", 'd', "SECS", NULL, p_secs, F(duration), 1, 0,
	 "stop after SECS seconds (default: at SIGINT/SIGTERM)"},
	{"segment-size", 0, "SIZE", "64M", p_size, F(segment_size), 64 << 10, UINT64_MAX,
	 "start a new segment at this size (K/M/G\n"
	 "suffixes; at least 64K, at most half of --ring-size)"},
	{"segment-age", 0, "SECS", "600", p_secs, F(segment_age), 0, 0,
	 "start a new segment after SECS seconds"},
	{"ring-size", 0, "SIZE", "1G", p_size, F(ring_size), 256 << 10, UINT64_MAX,
	 "delete the oldest segments beyond SIZE in total\n(at least 256K)"},
	{"ring-age", 0, "SECS", NULL, p_secs, F(ring_age), 0, 0,
	 "delete segments older than SECS (default: no limit)"},
	{"zstd-level", 0, "N", "1", p_u32, F(zstd_level), 1, 19,
	 "compression level of the blocks (1 to 19; 3 costs\n"
	 "~20% more recorder CPU for the same size on HTTP)"},

	{.help = "Capture:"},
	{"snaplen", 's', "N", "4096", p_u32, F(snaplen), 1, FR_EV_MAX_SNAP,
	 "payload bytes kept per system call (at most\n65536); the original length is always kept"},
	{"ringbuf", 0, "SIZE", "32M", p_pow2, F(ringbuf), 4 << 10, 1 << 30,
	 "kernel ring buffers' size (a power of two, at least\n"
	 "4K), shared among the CPUs' rings (each at least\n"
	 "1M, or SIZE if less); events that do not fit\n"
	 "become LOSS records"},
	{"pid", 'p', "PID", NULL, p_numlist, F(pids), 1, INT32_MAX,
	 "capture only these processes (repeatable)"},
	{"cgroup", 'c', "PATH", NULL, p_strlist, F(cgroups), 0, 0,
	 "capture only processes in this cgroup v2 directory or\n"
	 "below it, e.g. a pod's slice (repeatable; absolute or\n"
	 "relative to the cgroup v2 mount)"},
	{"port", 'P', "N", NULL, p_numlist, F(ports), 1, 65535,
	 "capture only connections with this local or remote\n"
	 "port, and UDP datagrams with this peer port\n(repeatable)"},
	{"hooks", 0, "SET", "auto", p_hooks, 0, 0, 0,
	 "kernel hooks: sockets (the socket tracepoints, Linux\n"
	 "6.12+: only socket calls pay), syscalls (the raw\n"
	 "system call tracepoints, 5.13+: every system call\n"
	 "pays), or auto (sockets where the kernel has them)"},
	{"no-tls", 0, NULL, NULL, p_flag, F(no_tls), 0, 0,
	 "no TLS plaintext: by default uprobes on each libssl\n"
	 "the processes map give SSL_read/SSL_write plaintext\n"
	 "instead of the ciphertext"},

	{.help = "Connections (the state of the open ones at the start of every segment;\n"
		 "the kept first bytes of each TCP connection at the start of a snapshot):"},
	{"head-size", 0, "SIZE", "16K", p_size, F(head_size), 0, 4 << 20,
	 "first bytes kept per direction of a TCP connection\n"
	 "(at most 4M; 0: keep no heads)"},
	{"heads-total", 0, "SIZE", "64M", p_size, F(heads_total), 0, UINT64_MAX,
	 "memory for the heads of all connections (the\n"
	 "oldest connections' heads are dropped first)"},

	{.help = "Pod metadata (POD and SERVICE records; repeated at the start of every\nsegment):"},
	{"pods", 0, "FILE", NULL, p_filelist, F(pods_files), 0, 0,
	 "JSON of `kubectl get pods -A -o json` (repeatable)"},
	{"services", 0, "FILE", NULL, p_filelist, F(svc_files), 0, 0,
	 "JSON of `kubectl get services -A -o json`\n(repeatable)"},
	{"kube-api", 0, NULL, NULL, p_flag, F(kube_api), 0, 0,
	 "list this node's pods and all services from the API\n"
	 "server (in-cluster service account), every\n--kube-refresh seconds"},
	{"kubeconfig", 0, "FILE", NULL, p_kubeconfig, F(kubeconfig), 0, 0,
	 "the same, with the server and credentials of FILE"},
	{"kube-refresh", 0, "SECS", "30", p_u32, F(kube_every), 1, 86400,
	 "refresh period of --kube-api"},
	{"node", 0, "NAME", NULL, p_str, F(node), 0, 0, "node name (default: the host name)"},
	{"log-pods", 0, "DIR", "/var/log/pods", p_str, F(log_pods_dir), 0, 0,
	 "node files fallback: pod names from\n"
	 "DIR/<namespace>_<name>_<uid>/, for pods found by the\nUID in their cgroup path"},
	{"log-containers", 0, "DIR", "/var/log/containers", p_str, F(log_containers_dir), 0, 0,
	 "and their container names from DIR"},

	{.help = "Redaction (on by default; the segment header lists the rules):"},
	{"redact-header", 0, "NAME", NULL, p_redact_header, 0, 0, 0,
	 "overwrite this HTTP/1 header's values too\n"
	 "(repeatable; default Authorization,\n"
	 "Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key,\n"
	 "X-Auth-Token, and Redis credentials: AUTH, HELLO\n"
	 "AUTH, MIGRATE AUTH, ACL SETUSER passwords, the values\n"
	 "of requirepass and masterauth in CONFIG)"},
	{"cmdline", 0, "MODE", "names", p_cmdline, 0, 0, 0,
	 "what of a command line is kept: names (argv[0] and\n"
	 "option names, \"redis-cli -a ?\"), argv0, or full"},
	{"no-redact", 0, NULL, NULL, p_no_redact, 0, 0, 0,
	 "keep secrets as captured (command lines too)"},

	{.help = "Snapshots:"},
	{"after", 0, "SECS", "60", p_secs, F(after), 0, 0,
	 "a snapshot keeps the SECS seconds after its trigger\ntoo"},

	{.help = "Triggers (each fired trigger is a snapshot named \"<trigger> <target>\",\n"
		 "its MARK says what fired on what):"},
	{"triggers", 0, "LIST", "all", p_triggers, 0, 0, 0,
	 "automatic triggers on: oom (a process OOM-killed),\n"
	 "crash (a container's main process killed by a\n"
	 "signal or exiting non-zero), restart (a main process\n"
	 "starting again in a pod that crashed), kube (Warning\n"
	 "events BackOff, Unhealthy, Failed, Evicted and pods\n"
	 "turning NotReady; with --kube-api), alert (`flightrec\n"
	 "watch` requests), cluster (--cluster-trigger); all\n"
	 "or none"},
	{"cluster-trigger", 0, "NS/NAME", NULL, p_str, F(cluster_trigger), 0, 0,
	 "with --kube-api: every 2 s, the ConfigMap NAME in\n"
	 "namespace NS; a new data.id is a snapshot \"cluster\n"
	 "<data.reason>\" on every node that polls it (no\n"
	 "cooldown; its MARK has data.requested)"},
	{"cooldown", 0, "SECS", "300", p_secs, F(cooldown), 0, 0,
	 "after an automatic snapshot, later automatic\n"
	 "triggers only write a MARK trigger-suppressed"},
	{"snapshots-max", 0, "N", "20", p_u32, F(snap_max), 0, 100000,
	 "keep at most N snapshots, the oldest removed first\n(0: no limit)"},
	{"snapshots-size", 0, "SIZE", "4G", p_size, F(snap_bytes), 0, UINT64_MAX,
	 "and at most SIZE in their files (0: no limit)"},
	{"control-group", 0, "GROUP", NULL, p_str, F(control_group), 0, 0,
	 "DIR/control.sock is 0600 root's; with GROUP it is\n"
	 "0660 and DIR traversable by GROUP"},
	{"ring-group", 0, "GROUP", NULL, p_str, F(ring_group), 0, 0,
	 "GROUP may read the ring (`flightrec watch`): DIR\n"
	 "becomes 2750 and its group GROUP, new segments 0640"},

	{.help = ""},
	{"verbose", 'v', NULL, NULL, p_flag, F(verbose), 0, 0, "report ring deletions and statistics"},
	{"help", 'h', NULL, NULL, p_help, 0, 0, 0, "this text"},
	{"version", 'V', NULL, NULL, p_version, 0, 0, 0, "the version"},
};
#define N_OPTS (sizeof(table) / sizeof(table[0]))

/* "  -o, --output DIR" padded to the help column, then the help lines. */
static void usage_row(FILE *f, const struct opt *d)
{
	char left[64];
	int n = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s", d->letter ? '-' : ' ',
			 d->letter ? d->letter : ' ', d->letter ? ", " : "  ", d->name,
			 d->arg ? " " : "", d->arg ? d->arg : "");
	fprintf(f, "%s%*s", left, n < 26 ? 26 - n : 1, "");
	int col = n < 26 ? 26 : n + 1;
	for (const char *h = d->help; *h;) {
		int k = (int)strcspn(h, "\n");
		fprintf(f, "%.*s", k, h);
		col += k;
		h += k;
		if (*h == '\n') {
			fprintf(f, "\n%26s", "");
			col = 26;
			h++;
		}
	}
	if (d->def) {
		if (col + 11 + (int)strlen(d->def) > 80) /* " (default X)" on a line of its own */
			fprintf(f, "\n%25s", "");
		fprintf(f, " (default %s)", d->def);
	}
	fputc('\n', f);
}

void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [OPTIONS] -o DIR\n"
		"       " PROG " snapshot DIR [--reason TEXT]\n"
		"       " PROG " status DIR\n"
		"\n"
		"Captures what processes send and receive on their TCP and UDP sockets\n"
		"(eBPF on the system call tracepoints), with process and pod metadata, into\n"
		"a ring of segment files in DIR (*.frs, names sort in time order, mode 0600)\n"
		"that holds the last minutes.  Needs root.  Read the recording with\n"
		"`flightrec info|cat|verify DIR`.\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		if (!table[i].name)
			fprintf(f, "\n%s%s", table[i].help, *table[i].help ? "\n" : "");
		else
			usage_row(f, &table[i]);
		if (table[i].name && !strcmp(table[i].name, "after"))
			fprintf(f,
				"  SIGUSR1, or `" PROG " snapshot DIR [--reason TEXT]`, links the ring's\n"
				"  segments into DIR/snapshots/<utc-time>-<reason>/ (hard links), writes a\n"
				"  MARK record, and keeps linking new segments for --after seconds, then\n"
				"  ends with a snapshot-end MARK.  Each trigger has its own after-window:\n"
				"  overlapping snapshots share segments.  `flightrec snapshots DIR` lists\n"
				"  them.  `snapshot` goes through DIR/control.sock when the recorder\n"
				"  listens there (the MARK then names the requester's uid, gid and pid).\n");
	}
	fprintf(f, "\n"
		   "A full disk: the ring deletes its oldest segments (never a snapshot's) to\n"
		   "make room, says so in a MARK disk-full record (and a LOSS record for\n"
		   "records it could not write), and goes on; it warns at start when\n"
		   "--ring-size exceeds the free space.\n"
		   "\n"
		   "Exit status: 0 after a clean stop, 1 on a runtime error (a disk without\n"
		   "room for one segment: the current one is closed at its last complete\n"
		   "block), 2 on bad usage.\n");
}

static int p_help(struct opts *o, const struct opt *d, const char *arg)
{
	(void)o, (void)d, (void)arg;
	usage(stdout);
	exit(0);
}

static int p_version(struct opts *o, const struct opt *d, const char *arg)
{
	(void)o, (void)d, (void)arg;
	printf(PROG " " FLIGHTREC_VERSION "\n");
	exit(0);
}

int opts_parse(int argc, char **argv, struct opts *o)
{
	struct option lo[N_OPTS + 1];
	char shorts[2 * N_OPTS + 1];
	size_t nl = 0, ns = 0;
	memset(o, 0, sizeof(*o));
	fr_redact_init(&o->redact);
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *d = &table[i];
		if (!d->name)
			continue;
		if (d->def && d->parse(o, d, d->def))
			return -1; /* a default the table gets wrong */
		lo[nl++] = (struct option){d->name, d->arg ? required_argument : no_argument, NULL, (int)(256 + i)};
		if (d->letter) {
			shorts[ns++] = d->letter;
			if (d->arg)
				shorts[ns++] = ':';
		}
	}
	lo[nl] = (struct option){0};
	shorts[ns] = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct opt *d = NULL;
		for (size_t i = 0; i < N_OPTS && !d; i++)
			if (c == (int)(256 + i) || (c < 256 && c == table[i].letter))
				d = &table[i];
		if (!d) {
			usage(stderr);
			return -1;
		}
		if (d->parse(o, d, optarg))
			return -1;
	}
	if (optind != argc) {
		logmsg("unexpected argument: %s (see --help)", argv[optind]);
		return -1;
	}
	if (!o->dir) {
		logmsg("no output directory: use -o DIR (see --help)");
		return -1;
	}
	if (o->cluster_trigger && !o->kube_api) {
		logmsg("--cluster-trigger needs --kube-api or --kubeconfig (see --help)");
		return -1;
	}
	if (o->segment_size > o->ring_size / 2)
		o->segment_size = o->ring_size / 2;
	return 0;
}
