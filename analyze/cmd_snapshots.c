/* cmd_snapshots.c - `flightrec snapshots DIR`: the snapshots of a recording
 * directory (DIR/snapshots/NAME/), one line each: whether its after-window
 * ended (its own snapshot-end MARK), its trigger time and reason, the time
 * its records span (the window: before the trigger, after it), its
 * segments and their bytes.  The trigger and snapshot-end MARK records
 * name their snapshot (MARK tag 3, format 2.1), so overlapping snapshots,
 * which share segments and so hold each other's marks, are told apart.
 * Every record of every segment is read (to find the marks and the time
 * span); nothing is written. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/segment.h"
#include "flightrec.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct snapinfo {
	const char *name;
	int segments, damaged;
	uint64_t bytes, records;
	uint64_t first_ts, last_ts;
	int64_t wall_offset;
	uint64_t trigger_ts, end_ts;
	char reason[256];
	size_t reason_len;
	int ended, cut_short;
};

static int span_is(const struct fr_span *s, const char *t)
{
	return s->len == strlen(t) && !memcmp(s->p, t, s->len);
}

static void on_mark(struct snapinfo *si, const struct fr_record *rec)
{
	const struct fr_mark *m = &rec->u.mark;
	/* a mark of 2.1 names its snapshot; an older one is taken as ours */
	if (m->snapshot.len && !span_is(&m->snapshot, si->name))
		return;
	if (span_is(&m->kind, "trigger") && (!si->trigger_ts || m->snapshot.len)) {
		si->trigger_ts = rec->ts;
		si->reason_len = m->text.len < sizeof(si->reason) ? m->text.len : sizeof(si->reason);
		memcpy(si->reason, m->text.p, si->reason_len);
	} else if (span_is(&m->kind, "snapshot-end") && m->snapshot.len) {
		si->ended = 1;
		si->end_ts = rec->ts;
		si->cut_short = memmem(m->text.p, m->text.len, "cut short", 9) != NULL;
	}
}

/* Reads every segment of dir into si.  0, or -1 when dir holds none. */
static int scan_snapshot(const char *dir, struct snapinfo *si)
{
	char err[512], **files;
	int n = fr_list_segments(dir, &files, err, sizeof(err));
	if (n <= 0) {
		if (n == 0)
			fr_free_list(files, n);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (stat(files[i], &st) == 0)
			si->bytes += (uint64_t)st.st_size;
		struct fr_reader *r = fr_reader_open(files[i], err, sizeof(err));
		if (!r) {
			si->damaged++;
			continue;
		}
		si->segments++;
		if (i == 0)
			si->wall_offset = fr_reader_header(r)->wall_offset_ns;
		struct fr_record rec;
		while (fr_reader_next(r, &rec) > 0) {
			si->records++;
			if (!si->first_ts || rec.ts < si->first_ts)
				si->first_ts = rec.ts;
			if (rec.ts > si->last_ts)
				si->last_ts = rec.ts;
			if (rec.kind == FR_MARK)
				on_mark(si, &rec);
		}
		size_t nd;
		fr_reader_damage(r, &nd);
		si->damaged += nd > 0;
		fr_reader_free(r);
	}
	fr_free_list(files, n);
	return 0;
}

static const char *wall(const struct snapinfo *si, uint64_t ts, char *buf, size_t len)
{
	if (!ts)
		return "-";
	fr_time_str((int64_t)ts + si->wall_offset, buf, len);
	return buf;
}

static void print_line(const struct snapinfo *si)
{
	char t0[64], t1[64], t2[64];
	const char *state = si->cut_short ? "cut-short" : si->ended ? "complete" : "open";
	double before = si->trigger_ts > si->first_ts ? (double)(si->trigger_ts - si->first_ts) / 1e9 : 0;
	double after = si->last_ts > si->trigger_ts && si->trigger_ts ?
			       (double)(si->last_ts - si->trigger_ts) / 1e9 : 0;
	printf("%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%d\t%" PRIu64 "\t", si->name, state,
	       wall(si, si->trigger_ts, t0, sizeof(t0)), wall(si, si->first_ts, t1, sizeof(t1)),
	       wall(si, si->last_ts, t2, sizeof(t2)), before, after, si->segments, si->bytes);
	fr_escape(stdout, (const uint8_t *)si->reason, si->reason_len, 200);
	putchar('\n');
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: flightrec snapshots DIR\n"
		   "\n"
		   "Lists the snapshots of a recording directory (DIR/snapshots/*/, or the\n"
		   "snapshot folders of DIR itself), oldest first, one tab-separated line each:\n"
		   "  name       the folder under snapshots/\n"
		   "  state      complete (its after-window ended: its snapshot-end mark),\n"
		   "             cut-short (the recorder stopped during the after-window),\n"
		   "             open (no end mark yet: still recording, or the recorder died)\n"
		   "  trigger    when it was triggered (UTC)\n"
		   "  from, to   the time its records span (UTC): its window\n"
		   "  before_s   seconds of the window before the trigger\n"
		   "  after_s    seconds of the window after the trigger\n"
		   "  segments   segment files (shared with the ring and overlapping snapshots\n"
		   "             by hard links)\n"
		   "  bytes      their size\n"
		   "  reason     the trigger's reason\n"
		   "Every record is read.  Exit codes: 0 ok, 1 a segment is damaged, 2 usage or\n"
		   "no snapshot.\n");
}

int cmd_snapshots(int argc, char **argv)
{
	static const struct option lo[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		usage(c == 'h' ? stdout : stderr);
		return c == 'h' ? EXIT_OK : EXIT_USAGE;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	char base[4096];
	struct stat st;
	snprintf(base, sizeof(base), "%s/snapshots", argv[optind]);
	if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
		snprintf(base, sizeof(base), "%s", argv[optind]);
	DIR *d = opendir(base);
	if (!d) {
		fprintf(stderr, "flightrec snapshots: %s: %s\n", base, strerror(errno));
		return EXIT_USAGE;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	int rc = EXIT_OK, shown = 0;
	for (size_t i = 0; i < n; i++) {
		char p[8192];
		snprintf(p, sizeof(p), "%s/%s", base, names[i]);
		struct snapinfo si;
		memset(&si, 0, sizeof(si));
		si.name = names[i];
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode) || scan_snapshot(p, &si) < 0)
			continue;
		if (!shown++)
			printf("name\tstate\ttrigger\tfrom\tto\tbefore_s\tafter_s\tsegments\tbytes\treason\n");
		print_line(&si);
		if (si.damaged)
			rc = EXIT_DAMAGED;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!shown) {
		fprintf(stderr, "flightrec snapshots: no snapshot in %s\n", base);
		return EXIT_USAGE;
	}
	return rc;
}
