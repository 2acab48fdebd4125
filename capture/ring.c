/* ring.c - the segments of the recording directory: the current one
 * (opened with the metadata in force and the state of the open
 * connections, rotated by size and age), the ring's bounds (--ring-size,
 * --ring-age: the oldest closed segments go first), a disk that fills up;
 * and snapshots, which hard-link the ring's segments into
 * snapshots/<time>-<reason>/ and keep linking for --after seconds (each
 * trigger its own window: overlapping snapshots share segments); the
 * first segment after a trigger starts with the kept connection heads. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "recorder.h"
#include "triggers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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

/* ---- a full disk --------------------------------------------------------- */

/* Deletes the oldest segment of the ring that is closed and held by no
 * snapshot (deleting a segment a snapshot links to frees nothing), and
 * notes it in r->df.  1 when one was deleted. */
static int drop_oldest(struct recorder *r)
{
	char **v;
	int n = list_segments(r->o->dir, &v), done = -1;
	for (int i = 0; i < n && done < 0; i++) {
		char p[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", r->o->dir, v[i]);
		if (!strcmp(p, r->cur_path) || lstat(p, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_nlink > 1 || unlink(p) < 0)
			continue;
		done = i;
		if (!r->df.segs++)
			snprintf(r->df.first, sizeof(r->df.first), "%s", v[i]);
		snprintf(r->df.last, sizeof(r->df.last), "%s", v[i]);
		r->df.bytes += (uint64_t)st.st_size;
	}
	if (done >= 0 && n > 1) /* the heads of what closed before the oldest left */
		forget_closed_heads(r, v[done == 0 ? 1 : 0]);
	free_list(v, n);
	r->ring_scanned = 0;
	return done >= 0;
}

/* Room on a full disk: first the blocks of segments closed but still held
 * open by the syncer (a deleted one frees nothing until it is closed: on a
 * small disk the ring deleted the segment just closed and found no room),
 * else the oldest segment (drop_oldest).  1 when there may be room now. */
static int make_room(struct recorder *r)
{
	return syncer_drain(r->sync) > 0 || drop_oldest(r);
}

/* Discards the block the writer could not write, counted in r->df. */
static void drop_pending(struct recorder *r)
{
	struct fr_writer_pending d;
	fr_writer_drop(r->w, &d);
	if (!d.records)
		return;
	if (!r->df.lost || d.first_ts < r->df.lost_first)
		r->df.lost_first = d.first_ts;
	if (d.last_ts > r->df.lost_last)
		r->df.lost_last = d.last_ts;
	r->df.lost += d.records;
	r->df.lost_bytes += d.bytes;
}

/* The disk is full (-ENOSPC): the writer has cut its file back to its last
 * complete block and holds the block it could not write.  Deletes the
 * ring's oldest segments (never a snapshot's) one at a time until the
 * block is written.  When only the current segment is left and it has
 * complete blocks, the pending block is dropped (a LOSS record will say
 * so) and the segment closed: it is then the oldest, and its successor
 * takes its room.  0 when recording goes on, else -errno. */
static int disk_full(struct recorder *r)
{
	for (;;) {
		int rc = fr_writer_flush(r->w);
		if (rc != -ENOSPC)
			return rc;
		if (make_room(r))
			continue;
		if (r->df_busy || r->good_bytes <= r->seg_start_bytes)
			return -ENOSPC;
		drop_pending(r);
		r->df_busy = 1;
		seg_close(r);
		if (!r->failed)
			seg_open(r);
		r->df_busy = 0;
		if (!r->w)
			return -ENOSPC;
	}
}

void disk_full_note(struct recorder *r)
{
	if ((!r->df.segs && !r->df.lost) || !r->w || r->df_busy)
		return;
	struct disk_full d = r->df;
	memset(&r->df, 0, sizeof(r->df));
	char text[3 * NAME_MAX + 256];
	int n = snprintf(text, sizeof(text), "disk full: deleted %d segment%s of the ring (%" PRIu64
			 " bytes", d.segs, d.segs == 1 ? "" : "s", d.bytes);
	if (d.segs)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ", %s to %s", d.first, d.last);
	snprintf(text + n, sizeof(text) - (size_t)n, "); %" PRIu64 " records not written", d.lost);
	add_mark(r, "disk-full", text);
	if (d.lost) {
		struct fr_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_LOSS;
		rec.ts = mono_ns();
		rec.u.loss = (struct fr_loss){UINT32_MAX, FR_LOSS_DISK, d.lost, d.lost_bytes,
					      d.lost_first, d.lost_last};
		add(r, &rec);
	}
	uint64_t now = mono_ns();
	if (!r->df_told_ns || now - r->df_told_ns >= 60000000000ull || r->o->verbose) {
		r->df_told_ns = now;
		logmsg("%s; recording goes on%s", text, r->o->verbose ? "" : " (said again at most once a minute)");
	}
}

static void link_into_snapshot(const char *snap_dir, const char *file)
{
	char dst[PATH_MAX * 2];
	const char *base = strrchr(file, '/');
	snprintf(dst, sizeof(dst), "%s/%s", snap_dir, base ? base + 1 : file);
	if (link(file, dst) < 0 && errno != EEXIST)
		logmsg("snapshot: cannot link %s into %s: %s", file, snap_dir, strerror(errno));
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
				    /* the drain does not wait for zstd; with small blocks
				     * (small segments) the hand-over to the thread would
				     * cost more than compressing */
				    .thread = block_bytes(r->o) >= (1u << 20),
				    .fast_behind = 1,
				    .on_block = on_block,
				    .arg = r};
	char err[512];
	enforce_ring(r, headroom_bytes(r) + 4096); /* and a header */
	if (ring_check_dir(r)) { /* segments go by path: only into our directory */
		r->cur_path[0] = 0;
		return -1;
	}
	while (!(r->w = fr_writer_open(r->cur_path, &h, &wo, err, sizeof(err))) && errno == ENOSPC &&
	       make_room(r))
		;
	if (!r->w) {
		int e = errno;
		if (e != ENOSPC && ring_check_dir(r)) { /* removed between the check and the open */
			r->cur_path[0] = 0;
			return -1;
		}
		if (e == ENOSPC)
			logmsg("disk full: %s, with every older segment no snapshot holds deleted; "
			       "recording stopped", err);
		else
			logmsg("%s", err);
		r->cur_path[0] = 0;
		r->failed = 1;
		stop_flag = 1;
		return -1;
	}
	if (r->o->ring_group)
		chmod(r->cur_path, 0640); /* --ring-group: the group of the setgid directory */
	r->good_bytes = r->seg_start_bytes = fr_writer_bytes(r->w);
	r->seg_open_ns = h.created_ns;
	fr_conntab_set_epoch(r->conns, r->seg_index); /* closes are dated by segment */
	if (!r->run_first[0]) {
		const char *b = strrchr(r->cur_path, '/');
		snprintf(r->run_first, sizeof(r->run_first), "%.*s", NAME_MAX, b ? b + 1 : r->cur_path);
	}
	r->seg_index++;
	for (int i = 0; i < r->n_snaps; i++) /* every open after-window */
		link_into_snapshot(r->snaps[i].dir, r->cur_path);
	emit_metadata(r);
	emit_conns(r, r->heads_due);
	r->heads_due = 0;
	return 0;
}

/* Closes the current segment.  On a full disk its last block is written
 * after the ring made room, or dropped (and told) when it cannot; without
 * room for the footer index it ends at its last complete block. */
void seg_close(struct recorder *r)
{
	if (!r->w)
		return;
	int rc = fr_writer_flush(r->w);
	while (rc == -ENOSPC && make_room(r))
		rc = fr_writer_flush(r->w);
	if (rc == -ENOSPC) /* no room for the last block: it is lost, and told */
		drop_pending(r);
	int fd;
	rc = fr_writer_close_unsynced(r->w, &fd);
	r->w = NULL;
	if (rc == 0) /* the fsync, 35-50 ms for 64 MiB here, is not the drain's wait */
		syncer_hand(r->sync, fd, r->cur_path);
	else
		close(fd);
	if (rc == -ENOSPC) { /* no room for the footer: a segment without one reads the same */
		if (truncate(r->cur_path, (off_t)r->good_bytes) < 0)
			logmsg("cannot cut %s back to %" PRIu64 " bytes: %s", r->cur_path,
			       r->good_bytes, strerror(errno));
		else if (r->o->verbose)
			logmsg("disk full: %s ends without its footer index", r->cur_path);
	} else if (rc) {
		if (truncate(r->cur_path, (off_t)r->good_bytes) < 0)
			logmsg("cannot cut %s back to %" PRIu64 " bytes: %s", r->cur_path,
			       r->good_bytes, strerror(errno));
		if (!r->failed)
			logmsg("%s while closing %s: the segment ends at its last complete block",
			       strerror(-rc), r->cur_path);
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
	if (rc == -ENOSPC && r->w)
		rc = disk_full(r);
	if (!rc || r->failed)
		return;
	r->failed = 1;
	stop_flag = 1;
	if (rc == -ENOSPC)
		logmsg("disk full writing %s: no room for one block even with every older segment "
		       "no snapshot holds deleted: recording stopped; the segment ends at its last "
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

/* Creates DIR/snapshots/<utc>-<reason>[-N] into sn (name and dir).  0, or
 * -1 after a message. */
static int snapshot_mkdir(struct recorder *r, const char *reason, struct snap *sn)
{
	char safe[128], p[PATH_MAX], t[32];
	snprintf(safe, sizeof(safe), "%.64s", reason);
	sanitize(safe);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(t, sizeof(t), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(p, sizeof(p), "%s/snapshots", r->o->dir);
	struct stat st;
	if ((mkdir(p, 0700) < 0 && errno != EEXIST) || lstat(p, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid()) {
		logmsg("snapshot: %s is not a directory of ours: remove it", p);
		return -1;
	}
	char name[200], dir[PATH_MAX + 256];
	snprintf(name, sizeof(name), "%s-%s", t, safe);
	for (int i = 2;; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", p, name);
		if (strlen(dir) >= sizeof(sn->dir))
			errno = ENAMETOOLONG;
		else if (mkdir(dir, 0700) == 0)
			break;
		if (errno != EEXIST || i > 100) {
			logmsg("snapshot: cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
		snprintf(name, sizeof(name), "%s-%s-%d", t, safe, i);
	}
	memcpy(sn->name, name, strlen(name) + 1);
	memcpy(sn->dir, dir, strlen(dir) + 1);
	return 0;
}

static void snap_mark(struct recorder *r, const char *kind, const char *text, const struct snap *sn)
{
	struct fr_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = FR_MARK;
	rec.ts = mono_ns();
	rec.u.mark.kind = S(kind);
	rec.u.mark.text = S(text);
	rec.u.mark.snapshot = S(sn->name);
	add(r, &rec);
}

/* Writes the snapshot-end MARK of the open snapshots whose after-window is
 * over, and removes them from the open list; with `why`, the oldest's ends
 * now, cut short for that reason (the recorder stops: all of them). */
static int end_marks(struct recorder *r, uint64_t now, const char *why)
{
	int n = 0, stopping = why && !strcmp(why, "the recorder stopped");
	while (n < r->n_snaps && (stopping || (why && n == 0) || now >= r->snaps[n].until)) {
		char text[PATH_MAX + 128];
		int cut = why && now < r->snaps[n].until;
		if (cut)
			snprintf(text, sizeof(text), "%s (cut short: %s %.1f s before the end of its "
				 "after-window)", r->snaps[n].dir, why,
				 (double)(r->snaps[n].until - now) / 1e9);
		else
			snprintf(text, sizeof(text), "%s", r->snaps[n].dir);
		snap_mark(r, "snapshot-end", text, &r->snaps[n]);
		if (r->o->verbose || cut)
			logmsg("snapshot %s %s", r->snaps[n].dir, cut ? text + strlen(r->snaps[n].dir) + 1 : "complete");
		n++;
	}
	r->n_snaps -= n;
	memmove(r->snaps, r->snaps + n, (size_t)r->n_snaps * sizeof(r->snaps[0]));
	return n;
}

/* SIGUSR1: the reason `snapshot` left in REASONFILE, or "signal". */
void snapshot_start(struct recorder *r)
{
	char reason[128] = "", p[PATH_MAX];
	read_own(r->o->dir, REASONFILE, reason, sizeof(reason));
	snprintf(p, sizeof(p), "%s/%s", r->o->dir, REASONFILE);
	unlink(p);
	if (!reason[0])
		snprintf(reason, sizeof(reason), "signal");
	snapshot_begin(r, reason, reason);
}

int snapshot_begin(struct recorder *r, const char *reason, const char *mark)
{
	if (r->n_snaps == MAX_SNAPS) /* the oldest window ends early, and says so */
		end_marks(r, mono_ns(), "more than " MAX_SNAPS_TEXT " after-windows were open");
	struct snap *sn = &r->snaps[r->n_snaps];
	if (snapshot_mkdir(r, reason, sn) < 0)
		return -1;
	snprintf(r->snap_dir, sizeof(r->snap_dir), "%s", sn->dir);
	snap_mark(r, "trigger", mark, sn);
	/* close the current segment so the snapshot's past is complete; the
	 * next one starts with the kept heads, and is linked with the rest
	 * (into the snapshots still open too: they share it) */
	seg_close(r);
	r->heads_due = 1;
	if (!r->failed)
		seg_open(r);
	char **v;
	int n = list_segments(r->o->dir, &v);
	for (int i = 0; i < n; i++) {
		char f[PATH_MAX];
		snprintf(f, sizeof(f), "%s/%s", r->o->dir, v[i]);
		link_into_snapshot(sn->dir, f);
	}
	free_list(v, n);
	sn->until = mono_ns() + (uint64_t)(r->o->after * 1e9);
	r->n_snaps++;
	char dir[sizeof(sn->dir)], line[sizeof(sn->dir) + 1];
	snprintf(dir, sizeof(dir), "%s", sn->dir);
	snprintf(line, sizeof(line), "%s\n", dir);
	if (r->o->after <= 0) /* no after-window: the snapshot ends with the heads */
		snapshots_end(r, mono_ns(), 0);
	if (write_own(r->o->dir, LASTSNAPFILE, line) < 0)
		logmsg("snapshot: cannot write %s/%s: %s", r->o->dir, LASTSNAPFILE, strerror(errno));
	logmsg("snapshot %s: %d segments before the trigger; adding the next %g s", dir, n,
	       r->o->after);
	snapshots_cap(r);
	return r->failed ? -1 : 0;
}

void snapshots_end(struct recorder *r, uint64_t now, int stopping)
{
	if (!end_marks(r, now, stopping ? "the recorder stopped" : NULL) || stopping)
		return; /* when stopping, the recorder closes the segment */
	seg_close(r); /* the last linked segment is closed: those snapshots are complete */
	if (!r->failed)
		seg_open(r);
}


/* A recording directory removed under the recorder: nothing more can be
 * written (new segments could not be created), and stopping with exit 0
 * would look like a clean recording.  A directory made again at the same
 * path (or another one moved there) is not ours: new segments must not go
 * there either.  Stop and say so; returns 1 when stopped. */
int ring_check_dir(struct recorder *r)
{
	struct stat held, now;
	if (r->failed || fstat(r->dir_fd, &held) < 0)
		return r->failed;
	if (held.st_nlink == 0)
		logmsg("the recording directory %s was removed: recording stopped", r->o->dir);
	else if (stat(r->o->dir, &now) < 0 ? errno == ENOENT || errno == ENOTDIR :
		 now.st_dev != held.st_dev || now.st_ino != held.st_ino)
		logmsg("the recording directory %s was moved or replaced: recording stopped", r->o->dir);
	else
		return 0;
	r->failed = 1;
	stop_flag = 1;
	return 1;
}

/* Continues the numbering of a ring already in the directory, and keeps the
 * directory open to notice its removal. */
void ring_start(struct recorder *r)
{
	r->dir_fd = open(r->o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char **v;
	int n = list_segments(r->o->dir, &v);
	r->seg_index = (uint64_t)n;
	uint64_t have = 0; /* the ring's segments count in its size */
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", r->o->dir, v[i]);
		if (stat(p, &st) == 0)
			have += (uint64_t)st.st_size;
	}
	free_list(v, n);
	struct statvfs sv;
	if (fstatvfs(r->dir_fd, &sv) == 0 &&
	    r->o->ring_size > have + (uint64_t)sv.f_bavail * sv.f_frsize)
		logmsg("warning: --ring-size %.1f MB is more than the free space of %s (%.1f MB): "
		       "when the disk fills, the ring deletes its oldest segments early (never a "
		       "snapshot's) and goes on", (double)r->o->ring_size / 1e6, r->o->dir,
		       (double)((uint64_t)sv.f_bavail * sv.f_frsize + have) / 1e6);
}
