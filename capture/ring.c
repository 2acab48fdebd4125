/* ring.c - the segments of the recording directory: the current one
 * (opened with the metadata in force and the state of the open
 * connections, rotated by size and age), the ring's bounds (--ring-size,
 * --ring-age: the oldest closed segments go first), a disk that fills up;
 * and snapshots, which hard-link the ring's segments into
 * snapshots/<time>-<reason>/ and keep linking for --after seconds; the
 * first segment after a trigger starts with the kept connection heads. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "recorder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t wall_offset(void)
{
	struct timespec m, r;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((int64_t)r.tv_sec - (int64_t)m.tv_sec) * 1000000000ll + (r.tv_nsec - m.tv_nsec);
}

static uint32_t block_bytes(const struct opts *o);

/* The most the next write can add to the disk: a block (its raw target, one
 * more record of up to a full snap length, zstd's bound) and a footer. */
uint64_t headroom_bytes(const struct recorder *r)
{
	uint64_t b = block_bytes(r->o) + FR_EV_MAX_SNAP + 1024;
	return b + b / 128 + 1024 + 16384;
}

static uint32_t block_bytes(const struct opts *o)
{
	uint64_t b = o->segment_size / 8;
	if (b > (4u << 20)) /* 4 MiB: about 30% fewer bytes than 1 MiB blocks */
		b = 4u << 20;
	if (b < 16384)
		b = 16384;
	return (uint32_t)b;
}

/* After each block.  The ring's size is known from the last scan of the
 * directory plus what the current segment grew since (closed segments do
 * not grow; a new segment scans): the directory is scanned again only when
 * that could pass --ring-size, not at every block (hundreds per second
 * under load; --ring-age is enforced by the scan every second). */
static void on_block(void *arg, uint64_t file_bytes)
{
	struct recorder *r = arg;
	r->good_bytes = file_bytes;
	uint64_t grown = file_bytes > r->ring_cur_bytes ? file_bytes - r->ring_cur_bytes : 0;
	if (r->ring_scanned && r->ring_bytes + grown + headroom_bytes(r) <= r->o->ring_size)
		return;
	enforce_ring(r, headroom_bytes(r));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment files of the recording directory, sorted (oldest first). */
static int list_segments(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	*out = NULL;
	if (!d)
		return 0;
	int n = 0, cap = 0;
	char **v = NULL;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, FR_SEGMENT_SUFFIX) || e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, (size_t)cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(v, (size_t)n, sizeof(*v), name_cmp);
	*out = v;
	return n;
}

static void free_list(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The oldest segment left is `oldest`: the kept heads of connections that
 * closed in a segment of this run before it have no bytes in the ring any
 * more.  (Names sort in time order; a segment of this run has a name no
 * smaller than the run's first, and its index after the last '-'.) */
static void forget_closed_heads(struct recorder *r, const char *oldest)
{
	const char *dash = strrchr(oldest, '-');
	if (!r->run_first[0] || strcmp(oldest, r->run_first) < 0 || !dash)
		return;
	fr_conntab_forget_closed(r->conns, strtoull(dash + 1, NULL, 10));
}

/* Deletes the oldest closed segments while the ring (plus headroom for the
 * next block) exceeds --ring-size, or while they are older than --ring-age. */
void enforce_ring(struct recorder *r, uint64_t headroom)
{
	char **v;
	int n = list_segments(r->o->dir, &v);
	uint64_t total = 0;
	uint64_t *sz = calloc((size_t)n + 1, sizeof(*sz));
	time_t *mt = calloc((size_t)n + 1, sizeof(*mt));
	if (!sz || !mt)
		goto out;
	uint64_t cur = 0;
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", r->o->dir, v[i]);
		if (stat(p, &st) == 0) {
			sz[i] = (uint64_t)st.st_size;
			mt[i] = st.st_mtime;
		}
		if (!strcmp(p, r->cur_path))
			cur = sz[i];
		total += sz[i];
	}
	time_t now = time(NULL);
	int deleted = 0, i;
	for (i = 0; i < n; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", r->o->dir, v[i]);
		if (!strcmp(p, r->cur_path))
			break; /* never the segment being written */
		int too_big = total + headroom > r->o->ring_size;
		int too_old = r->o->ring_age > 0 && difftime(now, mt[i]) > r->o->ring_age;
		if (!too_big && !too_old)
			break;
		if (unlink(p) == 0) {
			total -= sz[i];
			deleted = 1;
			if (r->o->verbose)
				logmsg("ring: deleted %s", v[i]);
		}
	}
	if (deleted && i < n)
		forget_closed_heads(r, v[i]);
	r->ring_bytes = total;
	r->ring_cur_bytes = cur;
	r->ring_scanned = 1;
out:
	free(sz);
	free(mt);
	free_list(v, n);
}

static void link_into_snapshot(struct recorder *r, const char *file)
{
	char dst[PATH_MAX * 2];
	const char *base = strrchr(file, '/');
	snprintf(dst, sizeof(dst), "%s/%s", r->snap_dir, base ? base + 1 : file);
	if (link(file, dst) < 0 && errno != EEXIST)
		logmsg("snapshot: cannot link %s into %s: %s", file, r->snap_dir, strerror(errno));
}

int seg_open(struct recorder *r)
{
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	h.version = FR_FORMAT_VERSION;
	h.minor = FR_FORMAT_MINOR;
	snprintf(h.node, sizeof(h.node), "%s", r->node);
	snprintf(h.boot_id, sizeof(h.boot_id), "%s", r->boot_id);
	snprintf(h.kernel, sizeof(h.kernel), "%s", r->kernel);
	snprintf(h.recorder, sizeof(h.recorder), PROG " " FLIGHTREC_VERSION);
	snprintf(h.source, sizeof(h.source), "ebpf");
	snprintf(h.filters, sizeof(h.filters), "%s", r->filters);
	snprintf(h.hooks, sizeof(h.hooks), "%s", r->hooks);
	h.arrival_min_ns = r->arrival_min_ns;
	snprintf(h.redaction, sizeof(h.redaction), "%s", r->redaction);
	h.wall_offset_ns = wall_offset();
	h.created_ns = mono_ns();
	h.segment_index = r->seg_index;
	h.snaplen = r->o->snaplen;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char t[64];
	strftime(t, sizeof(t), "%Y%m%dT%H%M%S", &tm);
	snprintf(r->cur_path, sizeof(r->cur_path), "%s/%s.%09ldZ-%06" PRIu64 "%s", r->o->dir, t,
		 ts.tv_nsec, r->seg_index, FR_SEGMENT_SUFFIX);

	struct fr_writer_opts wo = {.level = (int)r->o->zstd_level,
				    .block_bytes = block_bytes(r->o),
				    .fsync = FR_FSYNC_CLOSE,
				    .on_block = on_block,
				    .arg = r};
	char err[512];
	enforce_ring(r, headroom_bytes(r) + 4096); /* and a header */
	r->w = fr_writer_open(r->cur_path, &h, &wo, err, sizeof(err));
	if (!r->w) {
		if (strstr(err, "No space left"))
			logmsg("disk full: %s; recording stopped", err);
		else
			logmsg("%s", err);
		r->cur_path[0] = 0;
		r->failed = 1;
		stop_flag = 1;
		return -1;
	}
	r->good_bytes = r->seg_start_bytes = fr_writer_bytes(r->w);
	r->seg_open_ns = h.created_ns;
	fr_conntab_set_epoch(r->conns, r->seg_index); /* closes are dated by segment */
	if (!r->run_first[0]) {
		const char *b = strrchr(r->cur_path, '/');
		snprintf(r->run_first, sizeof(r->run_first), "%.*s", NAME_MAX, b ? b + 1 : r->cur_path);
	}
	r->seg_index++;
	if (r->snap_active)
		link_into_snapshot(r, r->cur_path);
	emit_metadata(r);
	emit_conns(r, r->heads_due);
	r->heads_due = 0;
	return 0;
}

/* Closes the current segment.  A segment that could not be finished (disk
 * full) is cut back to its last complete block. */
void seg_close(struct recorder *r)
{
	if (!r->w)
		return;
	int rc = fr_writer_close(r->w);
	r->w = NULL;
	if (rc) {
		if (truncate(r->cur_path, (off_t)r->good_bytes) < 0)
			logmsg("cannot cut %s back to %" PRIu64 " bytes: %s", r->cur_path,
			       r->good_bytes, strerror(errno));
		if (!r->failed)
			logmsg("%s while closing %s: the segment ends at its last complete block",
			       rc == -ENOSPC ? "disk full" : strerror(-rc), r->cur_path);
		r->failed = 1;
	}
	r->cur_path[0] = 0;
}

/* Full when the next block could pass --segment-size (and at least one
 * block was written since the segment began). */
int segment_full(struct recorder *r)
{
	return r->good_bytes > r->seg_start_bytes &&
	       fr_writer_bytes(r->w) + headroom_bytes(r) > r->o->segment_size;
}

void rotate(struct recorder *r)
{
	prune_procs(r, mono_ns()); /* the next segment repeats only live ones */
	seg_close(r);
	if (!r->failed)
		seg_open(r);
}

void handle_write_error(struct recorder *r, int rc)
{
	if (r->failed)
		return;
	r->failed = 1;
	stop_flag = 1;
	if (rc == -ENOSPC)
		logmsg("disk full writing %s: recording stopped; the segment ends at its last "
		       "complete block (%" PRIu64 " bytes)", r->cur_path, r->good_bytes);
	else
		logmsg("cannot write %s: %s: recording stopped; the segment ends at its last "
		       "complete block", r->cur_path, strerror(-rc));
	fr_writer_abandon(r->w);
	r->w = NULL;
	if (truncate(r->cur_path, (off_t)r->good_bytes) < 0)
		logmsg("cannot cut %s back: %s", r->cur_path, strerror(errno));
}

int add(struct recorder *r, struct fr_record *rec)
{
	if (!r->w)
		return -1;
	rec->seq = ++r->seq;
	int rc = fr_writer_add(r->w, rec);
	if (rc) {
		handle_write_error(r, rc);
		return -1;
	}
	return 0;
}

void add_mark(struct recorder *r, const char *kind, const char *text)
{
	struct fr_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = FR_MARK;
	rec.ts = mono_ns();
	rec.u.mark.kind = S(kind);
	rec.u.mark.text = S(text);
	add(r, &rec);
}


/* ---- snapshots ----------------------------------------------------------- */

static void sanitize(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			*s = '_';
}

void snapshot_start(struct recorder *r)
{
	char reason[128] = "", p[PATH_MAX];
	read_own(r->o->dir, REASONFILE, reason, sizeof(reason));
	snprintf(p, sizeof(p), "%s/%s", r->o->dir, REASONFILE);
	unlink(p);
	if (!reason[0])
		snprintf(reason, sizeof(reason), "signal");
	char safe[128];
	snprintf(safe, sizeof(safe), "%.64s", reason);
	sanitize(safe);
	if (r->snap_active) { /* a new trigger ends the previous window */
		r->snap_active = 0;
		rotate(r);
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char t[32];
	strftime(t, sizeof(t), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(p, sizeof(p), "%s/snapshots", r->o->dir);
	struct stat st;
	if ((mkdir(p, 0700) < 0 && errno != EEXIST) || lstat(p, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid()) {
		logmsg("snapshot: %s is not a directory of ours: remove it", p);
		return;
	}
	snprintf(r->snap_dir, sizeof(r->snap_dir), "%s/snapshots/%s-%s", r->o->dir, t, safe);
	for (int i = 2; mkdir(r->snap_dir, 0700) < 0; i++) {
		if (errno != EEXIST || i > 100) {
			logmsg("snapshot: cannot create %s: %s", r->snap_dir, strerror(errno));
			return;
		}
		snprintf(r->snap_dir, sizeof(r->snap_dir), "%s/snapshots/%s-%s-%d", r->o->dir, t, safe, i);
	}
	add_mark(r, "trigger", reason);
	/* close the current segment so the snapshot's past is complete; the
	 * next one starts with the kept heads, and is linked with the rest */
	seg_close(r);
	r->heads_due = 1;
	if (!r->failed)
		seg_open(r);
	char **v;
	int n = list_segments(r->o->dir, &v);
	for (int i = 0; i < n; i++) {
		char f[PATH_MAX];
		snprintf(f, sizeof(f), "%s/%s", r->o->dir, v[i]);
		link_into_snapshot(r, f);
	}
	free_list(v, n);
	r->snap_active = r->o->after > 0;
	r->snap_until = mono_ns() + (uint64_t)(r->o->after * 1e9);
	if (!r->snap_active && !r->failed) {
		/* no after-window: the snapshot ends with the heads */
		seg_close(r);
		seg_open(r);
	}
	char line[sizeof(r->snap_dir) + 1];
	snprintf(line, sizeof(line), "%s\n", r->snap_dir);
	if (write_own(r->o->dir, LASTSNAPFILE, line) < 0)
		logmsg("snapshot: cannot write %s/%s: %s", r->o->dir, LASTSNAPFILE, strerror(errno));
	logmsg("snapshot %s: %d segments before the trigger; adding the next %g s", r->snap_dir, n,
	       r->o->after);
}

void snapshot_end(struct recorder *r)
{
	add_mark(r, "snapshot-end", r->snap_dir);
	r->snap_active = 0;
	seg_close(r); /* the last linked segment is closed: the snapshot is complete */
	if (!r->failed)
		seg_open(r);
	if (r->o->verbose)
		logmsg("snapshot %s complete", r->snap_dir);
}


/* A recording directory removed under the recorder: nothing more can be
 * written (new segments could not be created), and stopping with exit 0
 * would look like a clean recording.  Stop and say so. */
void ring_check_dir(struct recorder *r)
{
	struct stat st;
	if (r->failed || fstat(r->dir_fd, &st) < 0 || st.st_nlink > 0)
		return;
	logmsg("the recording directory %s was removed: recording stopped", r->o->dir);
	r->failed = 1;
	stop_flag = 1;
}

/* Continues the numbering of a ring already in the directory, and keeps the
 * directory open to notice its removal. */
void ring_start(struct recorder *r)
{
	r->dir_fd = open(r->o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **v;
	int n = list_segments(r->o->dir, &v);
	r->seg_index = (uint64_t)n;
	free_list(v, n);
}
