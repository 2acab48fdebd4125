/* main.c - flightrec-record: loads bpf/flightrec.bpf.c, drains its ring
 * buffer, adds process and pod metadata, redacts secrets, and writes
 * segments into a ring bounded by size and age; `snapshot` (or SIGUSR1)
 * freezes the ring into DIR/snapshots/. */
#define _GNU_SOURCE
#include <linux/types.h>

#include "bpf/flightrec.skel.h"
#include "../bpf/flightrec.h"
#include "../formats/cli.h"
#include "../formats/kube.h"
#include "../formats/segment.h"
#include "cgroup.h"
#include "kubeapi.h"
#include "redact.h"

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct fr_ev_data) == offsetof(struct fr_ev_data, payload),
	       "payload must start at sizeof(struct fr_ev_data)");

#define PROG "flightrec-record"
#define PIDFILE ".flightrec-record.pid"
#define REASONFILE ".snapshot-reason"
#define LASTSNAPFILE ".snapshot-last"
#define MAX_FILTER 64

enum { EXIT_FAIL = 1 };

static volatile sig_atomic_t stop_flag, snap_flag;

struct opts {
	const char *dir; /* canonical (dir_buf) once check_environment passed */
	char dir_buf[PATH_MAX];
	double duration;
	uint64_t segment_size, ring_size, ringbuf;
	double segment_age, ring_age, after;
	uint32_t snaplen;
	int zstd_level;
	uint32_t pids[MAX_FILTER];
	int n_pids;
	const char *cgroups[MAX_FILTER];
	int n_cgroups;
	uint16_t ports[MAX_FILTER];
	int n_ports;
	const char *pods_files[MAX_FILTER];
	int n_pods_files;
	const char *svc_files[MAX_FILTER];
	int n_svc_files;
	int kube_api;
	const char *kubeconfig;
	int kube_every;
	const char *node;
	const char *log_pods_dir, *log_containers_dir;
	struct fr_redact redact;
	int verbose;
};

struct proc {
	uint32_t pid, ppid;
	uint64_t cgid, start_ns;
	char comm[17];
	char exe[256];
	char cmd[1024];
	size_t cmdlen;
	char cgpath[512];
	char cid[65];
	uint64_t last_ns;
	struct proc *next;
};

struct rstate {
	struct fr_connkey k;
	uint8_t dir;
	struct fr_redact_state st;
	struct rstate *next;
};

#define NBUCKET 4096

struct recorder {
	struct opts *o;
	struct flightrec_bpf *skel;
	struct ring_buffer *rb;
	struct fr_writer *w;
	char cur_path[PATH_MAX];
	uint64_t seg_index, seg_open_ns, good_bytes, seg_start_bytes, seq;
	uint64_t ring_bytes, ring_cur_bytes; /* at the last directory scan: all, current */
	int ring_scanned;
	char node[256], boot_id[64], kernel[128], filters[512], redaction[512];
	struct fr_kube *kube;     /* --pods/--services or the API */
	struct fr_kube *fallback; /* pods found in the node's files */
	struct fr_kubeapi *api;
	struct proc *procs[NBUCKET];
	size_t n_procs;
	struct rstate *rst[NBUCKET];
	size_t n_rst;
	int failed;
	int snap_active;
	uint64_t snap_until;
	char snap_dir[PATH_MAX];
	int ncpu;
	struct fr_loss_ctr *loss_prev, *loss_cur;
	uint64_t n_events, n_data, n_lost, n_bad;
	unsigned burst;
	uint8_t payload[FR_EV_MAX_SNAP];
};

static void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t wall_offset(void)
{
	struct timespec m, r;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((int64_t)r.tv_sec - (int64_t)m.tv_sec) * 1000000000ll + (r.tv_nsec - m.tv_nsec);
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		snap_flag = 1;
	else
		stop_flag = 1;
}

static struct fr_span S(const char *s) { return (struct fr_span){(const uint8_t *)s, (uint32_t)strlen(s)}; }

static void read_small(const char *path, char *buf, size_t len)
{
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* ---- the output directory ------------------------------------------------ */

/* The recorder runs as root in a directory other users may reach: it writes
 * there only through names it creates itself (O_EXCL, O_NOFOLLOW, rename)
 * and reads back only regular files of its own, so a symlink or a file
 * planted there cannot make it write, truncate or read anything else. */

/* Why st (an ancestor of the output directory, or the directory itself when
 * own is set) lets another user change what the path names; NULL if not. */
static const char *dir_risk(const struct stat *st, int own)
{
	if (!S_ISDIR(st->st_mode))
		return "is not a directory";
	if (own && st->st_uid != geteuid())
		return "is not owned by the recorder's user";
	if (!own && st->st_uid != 0 && st->st_uid != geteuid())
		return "is owned by another user";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return "is writable by other users and not sticky";
	return NULL;
}

/* Resolves dir (which must exist) into out, a canonical path, after
 * checking that no other user can redirect it: a symlink given as dir must
 * be ours or root's, the directory must be ours, and neither it nor any
 * parent may be writable by others unless sticky.  0, or -1 with a message
 * logged. */
static int safe_dir(const char *dir, char *out)
{
	struct stat st;
	if (lstat(dir, &st) < 0) {
		logmsg("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != geteuid()) {
		logmsg("output directory %s is a symlink owned by another user: refused", dir);
		return -1;
	}
	if (!realpath(dir, out)) {
		logmsg("%s: %s", dir, strerror(errno));
		return -1;
	}
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", out);
	for (int own = 1;; own = 0) {
		const char *why = lstat(p, &st) < 0 ? strerror(errno) : dir_risk(&st, own);
		if (why) {
			logmsg("output directory %s: %s %s: refused", out, p, why);
			return -1;
		}
		if (!strcmp(p, "/"))
			return 0;
		char *slash = strrchr(p, '/');
		slash[slash == p] = 0; /* the parent; "/" for a top-level one */
	}
}

/* Reads the first line of a regular file of ours named name in dir, without
 * following a symlink; "" when there is none. */
static void read_own(const char *dir, const char *name, char *buf, size_t len)
{
	char p[PATH_MAX];
	struct stat st;
	buf[0] = 0;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
		ssize_t n = read(fd, buf, len - 1);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
	}
	close(fd);
}

/* Replaces dir/name with a new file holding text: written under a fresh
 * name, then renamed over it (rename replaces a planted symlink, it does not
 * follow it).  0, or -1 with errno set. */
static int write_own(const char *dir, const char *name, const char *text)
{
	char tmp[PATH_MAX], p[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/%s.XXXXXX", dir, name);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = mkstemp(tmp); /* O_EXCL, 0600 */
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int ok = write(fd, text, n) == (ssize_t)n;
	int e = errno;
	close(fd);
	if (!ok || rename(tmp, p) < 0) {
		e = ok ? errno : e;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* The pid file holds a write lock while the recorder runs, and `snapshot`
 * asks the kernel which process holds it (F_GETLK): a pid left in the file
 * by a recorder killed with -9 is never signalled.  Returns the locked fd,
 * or -1 with a message logged (another recorder runs here, or the file is
 * not a regular file of ours). */
static int pidfile_lock(const char *dir)
{
	char p[PATH_MAX], buf[32];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, PIDFILE);
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1) {
		logmsg("%s is not a regular file of ours (%s): remove it", p,
		       fd < 0 ? strerror(errno) : "planted by someone else?");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		fcntl(fd, F_GETLK, &q);
		logmsg("another recorder (pid %d) is recording into %s", (int)q.l_pid, dir);
		close(fd);
		return -1;
	}
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		logmsg("cannot write %s: %s", p, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The pid of the recorder holding dir's pid file, or 0 with a message logged
 * when none does. */
static pid_t pidfile_holder(const char *dir)
{
	char p[PATH_MAX], buf[32];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, PIDFILE);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		logmsg("no recorder running for %s (no %s)", dir, PIDFILE);
		return 0;
	}
	struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		 fcntl(fd, F_GETLK, &q) == 0;
	close(fd);
	if (ok && q.l_type != F_UNLCK && q.l_pid > 0)
		return q.l_pid;
	read_own(dir, PIDFILE, buf, sizeof(buf));
	logmsg("no recorder running for %s: %s names pid %s, but no recorder holds it (left by a "
	       "recorder that was killed; safe to remove)", dir, PIDFILE, buf[0] ? buf : "?");
	return 0;
}

/* ---- segments ------------------------------------------------------------ */

static void handle_write_error(struct recorder *r, int rc);
static int add(struct recorder *r, struct fr_record *rec);
static void enforce_ring(struct recorder *r, uint64_t headroom);

static uint32_t block_bytes(const struct opts *o);

/* The most the next write can add to the disk: a block (its raw target, one
 * more record of up to a full snap length, zstd's bound) and a footer. */
static uint64_t headroom_bytes(const struct recorder *r)
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

/* Deletes the oldest closed segments while the ring (plus headroom for the
 * next block) exceeds --ring-size, or while they are older than --ring-age. */
static void enforce_ring(struct recorder *r, uint64_t headroom)
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
	for (int i = 0; i < n; i++) {
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
			if (r->o->verbose)
				logmsg("ring: deleted %s", v[i]);
		}
	}
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

static void emit_metadata(struct recorder *r);

static int seg_open(struct recorder *r)
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

	struct fr_writer_opts wo = {.level = r->o->zstd_level,
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
	r->seg_index++;
	if (r->snap_active)
		link_into_snapshot(r, r->cur_path);
	emit_metadata(r);
	return 0;
}

/* Closes the current segment.  A segment that could not be finished (disk
 * full) is cut back to its last complete block. */
static void seg_close(struct recorder *r)
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
static int segment_full(struct recorder *r)
{
	return r->good_bytes > r->seg_start_bytes &&
	       fr_writer_bytes(r->w) + headroom_bytes(r) > r->o->segment_size;
}

static void prune_procs(struct recorder *r, uint64_t now);

static void rotate(struct recorder *r)
{
	prune_procs(r, mono_ns()); /* the next segment repeats only live ones */
	seg_close(r);
	if (!r->failed)
		seg_open(r);
}

static void handle_write_error(struct recorder *r, int rc)
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

static int add(struct recorder *r, struct fr_record *rec)
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

/* ---- metadata ------------------------------------------------------------ */

static void add_mark(struct recorder *r, const char *kind, const char *text)
{
	struct fr_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = FR_MARK;
	rec.ts = mono_ns();
	rec.u.mark.kind = S(kind);
	rec.u.mark.text = S(text);
	add(r, &rec);
}

static void add_proc_record(struct recorder *r, const struct proc *p, uint64_t ts)
{
	struct fr_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = FR_PROCESS;
	rec.ts = ts;
	rec.u.proc.pid = p->pid;
	rec.u.proc.ppid = p->ppid;
	rec.u.proc.cgroup_id = p->cgid;
	rec.u.proc.start_ns = p->start_ns;
	rec.u.proc.comm = S(p->comm);
	rec.u.proc.exe = S(p->exe);
	uint8_t cmd[sizeof(p->cmd)];
	size_t cmdlen = fr_redact_cmdline(&r->o->redact, (const uint8_t *)p->cmd, p->cmdlen, cmd,
					  sizeof(cmd));
	rec.u.proc.cmdline = (struct fr_span){cmd, (uint32_t)cmdlen};
	rec.u.proc.cgroup_path = S(p->cgpath);
	rec.u.proc.container_id = S(p->cid);
	add(r, &rec);
}

static void add_pods(struct recorder *r, const struct fr_kube *k, uint64_t ts)
{
	struct fr_record rec;
	for (size_t i = 0; i < fr_kube_n_pods(k); i++) {
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_POD;
		rec.ts = ts;
		rec.u.pod = *fr_kube_pod(k, i);
		add(r, &rec);
	}
	for (size_t i = 0; i < fr_kube_n_services(k); i++) {
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_SERVICE;
		rec.ts = ts;
		rec.u.svc = *fr_kube_service(k, i);
		add(r, &rec);
	}
}

/* Every segment starts with the metadata in force. */
static void emit_metadata(struct recorder *r)
{
	uint64_t ts = mono_ns();
	add_pods(r, r->kube, ts);
	add_pods(r, r->fallback, ts);
	for (int b = 0; b < NBUCKET; b++)
		for (struct proc *p = r->procs[b]; p; p = p->next)
			add_proc_record(r, p, ts);
}

/* Forgets processes that are gone and were not seen for a minute. */
static void prune_procs(struct recorder *r, uint64_t now)
{
	for (int b = 0; b < NBUCKET; b++) {
		struct proc **pp = &r->procs[b];
		while (*pp) {
			struct proc *p = *pp;
			if (now - p->last_ns > 60000000000ull && kill((pid_t)p->pid, 0) < 0 &&
			    errno == ESRCH) {
				*pp = p->next;
				free(p);
				r->n_procs--;
			} else {
				pp = &p->next;
			}
		}
	}
}

/* Node files fallback: a pod known only by the UID in a cgroup path, named
 * from /var/log/pods/<namespace>_<name>_<uid>/ and its containers from
 * /var/log/containers/<pod>_<namespace>_<container>-<id>.log. */
static void fallback_pod(struct recorder *r, const char *uid, const char *cid, uint64_t ts)
{
	if (fr_kube_find_uid(r->kube, uid))
		return;
	const struct fr_pod *known = fr_kube_find_uid(r->fallback, uid);
	if (known) {
		for (uint32_t i = 0; i < known->n_containers; i++)
			if (known->containers[i].id.len == strlen(cid) &&
			    !memcmp(known->containers[i].id.p, cid, strlen(cid)))
				return;
		if (!*cid)
			return;
	}
	char ns[512] = "", name[512] = "", cname[512] = "";
	DIR *d = opendir(r->o->log_pods_dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), ul = strlen(uid);
		if (l > ul + 2 && !strcmp(e->d_name + l - ul, uid) && e->d_name[l - ul - 1] == '_') {
			char tmp[512];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(l - ul - 1), e->d_name);
			char *us = strchr(tmp, '_');
			if (us) {
				*us = 0;
				snprintf(ns, sizeof(ns), "%s", tmp);
				snprintf(name, sizeof(name), "%s", us + 1);
			}
			break;
		}
	}
	if (d)
		closedir(d);
	if (*cid && (d = opendir(r->o->log_containers_dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char suffix[80];
			snprintf(suffix, sizeof(suffix), "-%s.log", cid);
			size_t l = strlen(e->d_name), sl = strlen(suffix);
			if (l > sl && !strcmp(e->d_name + l - sl, suffix)) {
				char tmp[512];
				snprintf(tmp, sizeof(tmp), "%.*s", (int)(l - sl), e->d_name);
				char *last = strrchr(tmp, '_');
				if (last)
					snprintf(cname, sizeof(cname), "%s", last + 1);
				break;
			}
		}
		closedir(d);
	}
	/* Rebuild this pod's record with the new container (fallback pods are
	 * few; a new one replaces the old in the set). */
	struct fr_kube *nk = fr_kube_new();
	if (!nk)
		return;
	for (size_t i = 0; i < fr_kube_n_pods(r->fallback); i++) {
		const struct fr_pod *o = fr_kube_pod(r->fallback, i);
		if (o == known)
			continue;
		char u[128], n1[256], n2[256];
		snprintf(u, sizeof(u), "%.*s", (int)o->uid.len, o->uid.p);
		snprintf(n1, sizeof(n1), "%.*s", (int)o->namespace_.len, o->namespace_.p);
		snprintf(n2, sizeof(n2), "%.*s", (int)o->name.len, o->name.p);
		struct fr_pod *np = fr_kube_add_pod(nk, u, n1, n2);
		for (uint32_t c = 0; np && c < o->n_containers; c++) {
			char a[128], b[256], im[256];
			snprintf(a, sizeof(a), "%.*s", (int)o->containers[c].id.len, o->containers[c].id.p);
			snprintf(b, sizeof(b), "%.*s", (int)o->containers[c].name.len, o->containers[c].name.p);
			snprintf(im, sizeof(im), "%.*s", (int)o->containers[c].image.len, o->containers[c].image.p);
			fr_kube_pod_add_container(nk, np, a, b, im);
		}
	}
	struct fr_pod *np = fr_kube_add_pod(nk, uid, ns, name);
	if (np && known) {
		for (uint32_t c = 0; c < known->n_containers; c++) {
			char a[128], b[256];
			snprintf(a, sizeof(a), "%.*s", (int)known->containers[c].id.len, known->containers[c].id.p);
			snprintf(b, sizeof(b), "%.*s", (int)known->containers[c].name.len, known->containers[c].name.p);
			fr_kube_pod_add_container(nk, np, a, b, "");
		}
	}
	if (np && *cid)
		fr_kube_pod_add_container(nk, np, cid, cname, "");
	fr_kube_free(r->fallback);
	r->fallback = nk;
	if (np) {
		struct fr_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_POD;
		rec.ts = ts;
		rec.u.pod = *fr_kube_pod(nk, fr_kube_n_pods(nk) - 1);
		add(r, &rec);
	}
}

static void on_proc(struct recorder *r, const struct fr_ev_proc *e)
{
	unsigned b = e->h.pid % NBUCKET;
	struct proc *p = r->procs[b];
	while (p && p->pid != e->h.pid)
		p = p->next;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return;
		p->next = r->procs[b];
		r->procs[b] = p;
		r->n_procs++;
	}
	p->pid = e->h.pid;
	p->ppid = e->ppid;
	p->cgid = e->cgroup_id;
	p->start_ns = e->start_ns;
	p->last_ns = e->h.ts;
	snprintf(p->comm, sizeof(p->comm), "%.*s", FR_EV_COMM, e->comm);
	/* exe and cmdline from /proc while the process lives, else from the
	 * kernel's event (base name; first 256 bytes of the arguments) */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%u/exe", e->h.pid);
	ssize_t n = readlink(path, p->exe, sizeof(p->exe) - 1);
	if (n > 0)
		p->exe[n] = 0;
	else
		snprintf(p->exe, sizeof(p->exe), "%.*s", FR_EV_EXE, e->exe);
	uint32_t kl = e->cmdline_len < FR_EV_CMDLINE ? e->cmdline_len : FR_EV_CMDLINE;
	p->cmdlen = 0;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", e->h.pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t k = read(fd, p->cmd, sizeof(p->cmd));
		close(fd);
		if (k > 0)
			p->cmdlen = (size_t)k;
	}
	if (p->cmdlen < kl || (p->cmdlen >= kl && memcmp(p->cmd, e->cmdline, kl))) {
		memcpy(p->cmd, e->cmdline, kl);
		p->cmdlen = kl;
	}
	while (p->cmdlen && p->cmd[p->cmdlen - 1] == 0)
		p->cmdlen--;
	const char *cg = fr_cgroup_path(e->cgroup_id);
	snprintf(p->cgpath, sizeof(p->cgpath), "%s", cg ? cg : "");
	fr_cgroup_container_id(p->cgpath, p->cid, sizeof(p->cid));
	char uid[64];
	if (fr_cgroup_pod_uid(p->cgpath, uid, sizeof(uid)))
		fallback_pod(r, uid, p->cid, e->h.ts);
	add_proc_record(r, p, e->h.ts);
}

static struct fr_redact_state *redact_state(struct recorder *r, const struct fr_connkey *k,
					    uint8_t dir, int *created)
{
	*created = 0;
	unsigned b = (k->pid * 31u + k->fd * 7u + k->gen + dir) % NBUCKET;
	for (struct rstate *s = r->rst[b]; s; s = s->next)
		if (s->k.pid == k->pid && s->k.fd == k->fd && s->k.gen == k->gen && s->dir == dir)
			return &s->st;
	if (r->n_rst >= 65536) {
		/* connections that ended without a close we saw (the process
		 * exited): start over rather than grow without bound */
		for (int i = 0; i < NBUCKET; i++)
			while (r->rst[i]) {
				struct rstate *x = r->rst[i];
				r->rst[i] = x->next;
				free(x);
			}
		r->n_rst = 0;
	}
	struct rstate *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	r->n_rst++;
	s->k = *k;
	s->dir = dir;
	s->next = r->rst[b];
	r->rst[b] = s;
	*created = 1;
	return &s->st;
}

static void redact_forget(struct recorder *r, const struct fr_connkey *k)
{
	for (uint8_t dir = 0; dir < 2; dir++) {
		unsigned b = (k->pid * 31u + k->fd * 7u + k->gen + dir) % NBUCKET;
		for (struct rstate **pp = &r->rst[b]; *pp; pp = &(*pp)->next) {
			struct rstate *s = *pp;
			if (s->k.pid == k->pid && s->k.fd == k->fd && s->k.gen == k->gen && s->dir == dir) {
				*pp = s->next;
				free(s);
				r->n_rst--;
				break;
			}
		}
	}
}

static void conv_addr(struct fr_addr *a, const struct fr_ev_addr *e)
{
	a->family = e->family == 4 || e->family == 6 ? e->family : 0;
	a->proto = e->proto;
	a->port = e->port;
	memcpy(a->addr, e->addr, 16);
	if (a->family == 4)
		memset(a->addr + 4, 0, 12);
}

/* One event from the ring buffer; its size is checked before any field is
 * trusted. */
static int on_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct fr_ev_hdr *h = data;
	struct fr_record rec;
	if (size < sizeof(*h) || h->version != FR_ABI_VERSION) {
		r->n_bad++;
		return 0;
	}
	r->n_events++;
	/* not memset: the record is 2 KiB (its union holds a pod); each case
	 * zeroes its own member */
	rec.flags = 0;
	rec.seq = 0;
	rec.ts = h->ts;
	switch (h->type) {
	case FR_EV_DATA: {
		const struct fr_ev_data *e = data;
		if (size < sizeof(*e) || e->cap_len > FR_EV_MAX_SNAP ||
		    size < sizeof(*e) + e->cap_len || e->cap_len > e->orig_len) {
			r->n_bad++;
			return 0;
		}
		struct fr_data *d = &rec.u.data;
		*d = (struct fr_data){0};
		rec.kind = FR_DATA;
		d->conn = (struct fr_connkey){h->pid, e->fd, e->gen};
		d->tid = h->tid;
		d->dir = e->dir ? FR_INGRESS : FR_EGRESS;
		d->syscall = e->syscall < FR_SYS_MAX ? e->syscall : FR_SYS_UNKNOWN;
		d->flags = e->flags & (FR_DATA_TRUNCATED | FR_DATA_NO_POS);
		d->stream_pos = e->stream_pos;
		d->orig_len = e->orig_len;
		conv_addr(&d->peer, &e->peer);
		const uint8_t *pl = e->payload;
		if (r->o->redact.enabled && e->cap_len) {
			/* scanned in the ring buffer; copied only to overwrite */
			struct fr_redact_state fresh, *st;
			int created = 0;
			memset(&fresh, 0, sizeof(fresh));
			st = (d->flags & FR_DATA_NO_POS) ? &fresh
							 : redact_state(r, &d->conn, d->dir, &created);
			if (st && created && d->stream_pos == 0)
				fr_redact_stream_start(st, e->payload, e->cap_len);
			if (st && fr_redact_copy(&r->o->redact, st, e->payload, e->cap_len, r->payload, &pl))
				d->flags |= FR_DATA_REDACTED;
		}
		d->payload = (struct fr_span){pl, e->cap_len};
		r->n_data++;
		break;
	}
	case FR_EV_OPEN: {
		const struct fr_ev_open *e = data;
		if (size < sizeof(*e)) {
			r->n_bad++;
			return 0;
		}
		rec.kind = FR_CONN_OPEN;
		rec.u.open = (struct fr_conn_open){0};
		rec.u.open.conn = (struct fr_connkey){h->pid, e->fd, e->gen};
		rec.u.open.tid = h->tid;
		rec.u.open.role = e->role <= FR_ROLE_SERVER ? e->role : FR_ROLE_UNKNOWN;
		rec.u.open.netns = e->netns;
		conv_addr(&rec.u.open.local, &e->local);
		conv_addr(&rec.u.open.remote, &e->remote);
		break;
	}
	case FR_EV_CLOSE: {
		const struct fr_ev_close *e = data;
		if (size < sizeof(*e)) {
			r->n_bad++;
			return 0;
		}
		rec.kind = FR_CONN_CLOSE;
		rec.u.close = (struct fr_conn_close){0};
		rec.u.close.conn = (struct fr_connkey){h->pid, e->fd, e->gen};
		rec.u.close.tid = h->tid;
		rec.u.close.bytes_out = e->bytes_out;
		rec.u.close.bytes_in = e->bytes_in;
		rec.u.close.calls_out = e->calls_out;
		rec.u.close.calls_in = e->calls_in;
		redact_forget(r, &rec.u.close.conn);
		break;
	}
	case FR_EV_PROC: {
		const struct fr_ev_proc *e = data;
		if (size < sizeof(*e)) {
			r->n_bad++;
			return 0;
		}
		on_proc(r, e);
		return r->failed ? -1 : 0;
	}
	default:
		r->n_bad++;
		return 0;
	}
	add(r, &rec);
	if (r->failed)
		return -1;
	if (r->w && segment_full(r))
		rotate(r);
	/* Under sustained load libbpf would keep consuming in one poll call:
	 * come back to the main loop now and then (timers, signals). */
	if (++r->burst >= 4096) {
		r->burst = 0;
		return -EAGAIN;
	}
	return 0;
}

/* Per-CPU loss counters become LOSS records. */
static void poll_losses(struct recorder *r)
{
	__u32 zero = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.losses), &zero, r->loss_cur))
		return;
	uint64_t now = mono_ns();
	for (int c = 0; c < r->ncpu; c++) {
		struct fr_loss_ctr *cur = &r->loss_cur[c], *prev = &r->loss_prev[c];
		if (cur->count <= prev->count)
			continue;
		struct fr_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_LOSS;
		rec.ts = cur->last_ns;
		rec.u.loss.cpu = (uint32_t)c;
		rec.u.loss.reason = FR_LOSS_RINGBUF;
		rec.u.loss.count = cur->count - prev->count;
		rec.u.loss.bytes = cur->bytes - prev->bytes;
		rec.u.loss.first_ns = cur->first_ns;
		rec.u.loss.last_ns = cur->last_ns;
		r->n_lost += rec.u.loss.count;
		*prev = *cur;
		add(r, &rec);
	}
	r->skel->bss->loss_epoch_ns = now;
}

/* ---- snapshots ----------------------------------------------------------- */

static void sanitize(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			*s = '_';
}

static void snapshot_start(struct recorder *r)
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
	/* close the current segment so the snapshot's past is complete */
	seg_close(r);
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
	if (!r->failed)
		seg_open(r);
	char line[sizeof(r->snap_dir) + 1];
	snprintf(line, sizeof(line), "%s\n", r->snap_dir);
	if (write_own(r->o->dir, LASTSNAPFILE, line) < 0)
		logmsg("snapshot: cannot write %s/%s: %s", r->o->dir, LASTSNAPFILE, strerror(errno));
	logmsg("snapshot %s: %d segments before the trigger; adding the next %g s", r->snap_dir, n,
	       r->o->after);
}

static void snapshot_end(struct recorder *r)
{
	add_mark(r, "snapshot-end", r->snap_dir);
	r->snap_active = 0;
	seg_close(r); /* the last linked segment is closed: the snapshot is complete */
	if (!r->failed)
		seg_open(r);
	if (r->o->verbose)
		logmsg("snapshot %s complete", r->snap_dir);
}

/* ---- privileges ---------------------------------------------------------- */

/* After the programs are attached the recorder needs no BPF, admin or
 * network power: it keeps CAP_SYS_PTRACE (to read /proc/PID/exe of other
 * users' processes) and CAP_DAC_READ_SEARCH, drops every other capability
 * from all sets and the bounding set, and sets no_new_privs. */
static int drop_privileges(void)
{
	const int keep[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
	for (int c = 0; c <= 63; c++) {
		int k = 0;
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
			k |= keep[i] == c;
		if (!k && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	}
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		data[keep[i] / 32].effective |= 1u << (keep[i] % 32);
		data[keep[i] / 32].permitted |= 1u << (keep[i] % 32);
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [OPTIONS] -o DIR\n"
"       " PROG " snapshot DIR [--reason TEXT]\n"
"\n"
"Captures what processes send and receive on their TCP and UDP sockets\n"
"(eBPF on the system call tracepoints), with process and pod metadata, into\n"
"a ring of segment files in DIR (*.frs, names sort in time order, mode 0600)\n"
"that holds the last minutes.  Needs root.  Read the recording with\n"
"`flightrec info|cat|verify DIR`.\n"
"\n"
"Output and ring:\n"
"  -o, --output DIR        recording directory (created 0700 if missing)\n"
"  -d, --duration SECS     stop after SECS seconds (default: until SIGINT/SIGTERM)\n"
"      --segment-size SIZE start a new segment at this size (default 64M;\n"
"                          K/M/G suffixes; at most half of --ring-size)\n"
"      --segment-age SECS  start a new segment after SECS seconds (default 600)\n"
"      --ring-size SIZE    delete the oldest segments beyond SIZE in total\n"
"                          (default 1G)\n"
"      --ring-age SECS     delete segments older than SECS (default: no limit)\n"
"      --zstd-level N      compression level of the blocks (default 1)\n"
"\n"
"Capture:\n"
"  -s, --snaplen N         payload bytes kept per system call (default 4096,\n"
"                          at most 65536); the original length is always kept\n"
"      --ringbuf SIZE      kernel ring buffer size (default 16M; a power of two,\n"
"                          at least 4K); events that do not fit become LOSS\n"
"                          records\n"
"  -p, --pid PID           capture only these processes (repeatable)\n"
"  -c, --cgroup PATH       capture only processes in this cgroup v2 directory or\n"
"                          below it, e.g. a pod's slice (repeatable; absolute or\n"
"                          relative to the cgroup v2 mount)\n"
"  -P, --port N            capture only connections with this local or remote\n"
"                          port, and UDP datagrams with this peer port\n"
"                          (repeatable)\n"
"\n"
"Pod metadata (POD and SERVICE records; repeated at the start of every\n"
"segment):\n"
"      --pods FILE         JSON of `kubectl get pods -A -o json` (repeatable)\n"
"      --services FILE     JSON of `kubectl get services -A -o json` (repeatable)\n"
"      --kube-api          list this node's pods and all services from the API\n"
"                          server (in-cluster service account), every\n"
"                          --kube-refresh seconds\n"
"      --kubeconfig FILE   the same, with the server and credentials of FILE\n"
"      --kube-refresh SECS refresh period of --kube-api (default 30)\n"
"      --node NAME         node name (default: the host name)\n"
"      --log-pods DIR      node files fallback: pod names from DIR/<namespace>_\n"
"                          <name>_<uid>/ (default /var/log/pods), container\n"
"                          names from --log-containers DIR (default\n"
"                          /var/log/containers), for pods found by the UID in\n"
"                          their cgroup path\n"
"      --log-containers DIR\n"
"\n"
"Redaction (on by default; the segment header lists the rules):\n"
"      --redact-header NAME overwrite this HTTP/1 header's values too\n"
"                          (repeatable; default Authorization,\n"
"                          Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key,\n"
"                          X-Auth-Token, and Redis credentials: AUTH, HELLO\n"
"                          AUTH, MIGRATE AUTH, ACL SETUSER passwords, the values\n"
"                          of requirepass and masterauth in CONFIG)\n"
"      --cmdline MODE      what of a command line is kept: names (default:\n"
"                          argv[0] and option names, \"redis-cli -a ?\"),\n"
"                          argv0, or full\n"
"      --no-redact         keep secrets as captured (command lines too)\n"
"\n"
"Snapshots:\n"
"      --after SECS        a snapshot keeps the SECS seconds after its trigger\n"
"                          too (default 60)\n"
"  SIGUSR1, or `" PROG " snapshot DIR [--reason TEXT]`, links the ring's\n"
"  segments into DIR/snapshots/<utc-time>-<reason>/ (hard links), writes a\n"
"  MARK record, and keeps linking new segments for --after seconds.\n"
"\n"
"  -v, --verbose           report ring deletions and statistics\n"
"  -h, --help              this text\n"
"  -V, --version           the version\n"
"\n"
"Exit status: 0 after a clean stop, 1 on a runtime error (disk full: the\n"
"current segment is closed at its last complete block), 2 on bad usage.\n");
}

static int parse_secs(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int snapshot_cmd(int argc, char **argv)
{
	const char *reason = "manual";
	static const struct option lo[] = {{"reason", required_argument, 0, 'r'},
					   {"help", no_argument, 0, 'h'},
					   {0, 0, 0, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:h", lo, NULL)) != -1) {
		if (c == 'r')
			reason = optarg;
		else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: " PROG " snapshot DIR [--reason TEXT]\n");
		return EXIT_USAGE;
	}
	char dir[PATH_MAX];
	if (access(argv[optind], F_OK) < 0) {
		logmsg("no recorder running for %s: %s", argv[optind], strerror(errno));
		return EXIT_FAIL;
	}
	if (safe_dir(argv[optind], dir) < 0)
		return EXIT_FAIL;
	pid_t pid = pidfile_holder(dir);
	if (pid <= 0)
		return EXIT_FAIL;
	/* A pidfd pins the process: if the recorder exits and its pid is
	 * reused after the check below, the signal goes nowhere. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0 || pidfile_holder(dir) != pid) {
		logmsg("the recorder (pid %d) is gone", (int)pid);
		if (pfd >= 0)
			close(pfd);
		return EXIT_FAIL;
	}
	char last_before[PATH_MAX], last[PATH_MAX];
	read_own(dir, LASTSNAPFILE, last_before, sizeof(last_before));
	if (write_own(dir, REASONFILE, reason) < 0) {
		logmsg("cannot write %s/%s: %s", dir, REASONFILE, strerror(errno));
		close(pfd);
		return EXIT_FAIL;
	}
	long sent = syscall(SYS_pidfd_send_signal, pfd, SIGUSR1, NULL, 0);
	close(pfd);
	if (sent < 0) {
		logmsg("cannot signal recorder %d: %s", (int)pid, strerror(errno));
		return EXIT_FAIL;
	}
	for (int i = 0; i < 100; i++) {
		usleep(50000);
		read_own(dir, LASTSNAPFILE, last, sizeof(last));
		if (last[0] && strcmp(last, last_before)) {
			printf("%s\n", last);
			return 0;
		}
	}
	logmsg("the recorder (pid %d) did not report a snapshot within 5 s", (int)pid);
	return EXIT_FAIL;
}

static int add_filter_num(const char *what, const char *s, long max, uint32_t *v, int *n)
{
	char *end;
	long x = strtol(s, &end, 10);
	if (*end || x <= 0 || x > max || *n >= MAX_FILTER) {
		logmsg("bad %s: %s", what, s);
		return -1;
	}
	v[(*n)++] = (uint32_t)x;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_SEGSIZE = 256, O_SEGAGE, O_RINGSIZE, O_RINGAGE, O_RINGBUF, O_PODS, O_SVCS,
	       O_KUBEAPI, O_KUBECONFIG, O_KUBEREFRESH, O_NODE, O_REDACT, O_NOREDACT, O_AFTER,
	       O_ZSTD, O_LOGPODS, O_LOGCONT, O_CMDLINE };
	static const struct option lo[] = {
		{"output", required_argument, 0, 'o'}, {"duration", required_argument, 0, 'd'},
		{"segment-size", required_argument, 0, O_SEGSIZE},
		{"segment-age", required_argument, 0, O_SEGAGE},
		{"ring-size", required_argument, 0, O_RINGSIZE},
		{"ring-age", required_argument, 0, O_RINGAGE},
		{"ringbuf", required_argument, 0, O_RINGBUF},
		{"snaplen", required_argument, 0, 's'}, {"pid", required_argument, 0, 'p'},
		{"cgroup", required_argument, 0, 'c'}, {"port", required_argument, 0, 'P'},
		{"pods", required_argument, 0, O_PODS}, {"services", required_argument, 0, O_SVCS},
		{"kube-api", no_argument, 0, O_KUBEAPI},
		{"kubeconfig", required_argument, 0, O_KUBECONFIG},
		{"kube-refresh", required_argument, 0, O_KUBEREFRESH},
		{"node", required_argument, 0, O_NODE},
		{"log-pods", required_argument, 0, O_LOGPODS},
		{"log-containers", required_argument, 0, O_LOGCONT},
		{"redact-header", required_argument, 0, O_REDACT},
		{"no-redact", no_argument, 0, O_NOREDACT}, {"after", required_argument, 0, O_AFTER},
		{"cmdline", required_argument, 0, O_CMDLINE},
		{"zstd-level", required_argument, 0, O_ZSTD},
		{"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
	int c;
	uint32_t tmp[MAX_FILTER];
	while ((c = getopt_long(argc, argv, "o:d:s:p:c:P:vhV", lo, NULL)) != -1) {
		switch (c) {
		case 'o': o->dir = optarg; break;
		case 'd':
			if (parse_secs(optarg, &o->duration) || o->duration == 0) {
				logmsg("bad --duration: %s", optarg);
				return -1;
			}
			break;
		case O_SEGSIZE:
			if (fr_parse_size(optarg, &o->segment_size) || o->segment_size < 65536) {
				logmsg("bad --segment-size (at least 64K): %s", optarg);
				return -1;
			}
			break;
		case O_RINGSIZE:
			if (fr_parse_size(optarg, &o->ring_size) || o->ring_size < 262144) {
				logmsg("bad --ring-size (at least 256K): %s", optarg);
				return -1;
			}
			break;
		case O_RINGBUF:
			if (fr_parse_size(optarg, &o->ringbuf) || o->ringbuf < 4096 ||
			    (o->ringbuf & (o->ringbuf - 1)) || o->ringbuf > (1ull << 30)) {
				logmsg("bad --ringbuf (a power of two from 4K to 1G): %s", optarg);
				return -1;
			}
			break;
		case O_SEGAGE:
		case O_RINGAGE:
		case O_AFTER: {
			double v;
			if (parse_secs(optarg, &v)) {
				logmsg("bad number of seconds: %s", optarg);
				return -1;
			}
			*(c == O_SEGAGE ? &o->segment_age : c == O_RINGAGE ? &o->ring_age : &o->after) = v;
			break;
		}
		case 's': {
			int n = 0;
			if (add_filter_num("--snaplen", optarg, FR_EV_MAX_SNAP, tmp, &n))
				return -1;
			o->snaplen = tmp[0];
			break;
		}
		case O_ZSTD: {
			int n = 0;
			if (add_filter_num("--zstd-level", optarg, 19, tmp, &n))
				return -1;
			o->zstd_level = (int)tmp[0];
			break;
		}
		case O_KUBEREFRESH: {
			int n = 0;
			if (add_filter_num("--kube-refresh", optarg, 86400, tmp, &n))
				return -1;
			o->kube_every = (int)tmp[0];
			break;
		}
		case 'p':
			if (add_filter_num("--pid", optarg, INT_MAX, o->pids, &o->n_pids))
				return -1;
			break;
		case 'P': {
			int n = 0;
			if (add_filter_num("--port", optarg, 65535, tmp, &n) || o->n_ports >= MAX_FILTER)
				return -1;
			o->ports[o->n_ports++] = (uint16_t)tmp[0];
			break;
		}
		case 'c':
			if (o->n_cgroups >= MAX_FILTER)
				return -1;
			o->cgroups[o->n_cgroups++] = optarg;
			break;
		case O_PODS:
			if (o->n_pods_files >= MAX_FILTER)
				return -1;
			o->pods_files[o->n_pods_files++] = optarg;
			break;
		case O_SVCS:
			if (o->n_svc_files >= MAX_FILTER)
				return -1;
			o->svc_files[o->n_svc_files++] = optarg;
			break;
		case O_KUBEAPI: o->kube_api = 1; break;
		case O_KUBECONFIG: o->kube_api = 1; o->kubeconfig = optarg; break;
		case O_NODE: o->node = optarg; break;
		case O_LOGPODS: o->log_pods_dir = optarg; break;
		case O_LOGCONT: o->log_containers_dir = optarg; break;
		case O_REDACT:
			if (fr_redact_add_header(&o->redact, optarg)) {
				logmsg("bad or too many --redact-header: %s", optarg);
				return -1;
			}
			break;
		case O_NOREDACT: o->redact.enabled = 0; break;
		case O_CMDLINE:
			if (!strcmp(optarg, "names") || !strcmp(optarg, "argv0") || !strcmp(optarg, "full")) {
				o->redact.cmdline = optarg[0] == 'n' ? FR_CMDLINE_NAMES
						    : optarg[0] == 'a' ? FR_CMDLINE_ARGV0 : FR_CMDLINE_FULL;
				break;
			}
			logmsg("bad --cmdline: %s (names, argv0 or full)", optarg);
			return -1;
		case 'v': o->verbose = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf(PROG " " FLIGHTREC_VERSION "\n"); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		logmsg("unexpected argument: %s (see --help)", argv[optind]);
		return -1;
	}
	if (!o->dir) {
		logmsg("no output directory: use -o DIR (see --help)");
		return -1;
	}
	if (o->segment_size > o->ring_size / 2) {
		o->segment_size = o->ring_size / 2;
	}
	return 0;
}

/* ---- setup checks -------------------------------------------------------- */

static int check_environment(struct opts *o)
{
	if (geteuid() != 0) {
		logmsg("must run as root (it loads eBPF programs)");
		return -1;
	}
	struct utsname u;
	uname(&u);
	int maj = 0, min = 0;
	sscanf(u.release, "%d.%d", &maj, &min);
	if (maj < 5 || (maj == 5 && min < 11)) {
		logmsg("kernel %s is too old: needs 5.11 or later (BPF ring buffer, BTF tracepoints, task storage)",
		       u.release);
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		logmsg("the kernel has no BTF (/sys/kernel/btf/vmlinux): needs CONFIG_DEBUG_INFO_BTF=y");
		return -1;
	}
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		logmsg("cannot create output directory %s: %s", o->dir, strerror(errno));
		return -1;
	}
	if (safe_dir(o->dir, o->dir_buf) < 0)
		return -1;
	o->dir = o->dir_buf;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/.write-test-%d", o->dir, getpid());
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		logmsg("output directory %s is not writable: %s", o->dir, strerror(errno));
		return -1;
	}
	close(fd);
	unlink(p);
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void describe_filters(struct recorder *r)
{
	const struct opts *o = r->o;
	size_t n = 0, cap = sizeof(r->filters);
	n += (size_t)snprintf(r->filters + n, cap - n, "snaplen=%u", o->snaplen);
	for (int i = 0; i < o->n_pids && n < cap; i++)
		n += (size_t)snprintf(r->filters + n, cap - n, " pid=%u", o->pids[i]);
	for (int i = 0; i < o->n_cgroups && n < cap; i++)
		n += (size_t)snprintf(r->filters + n, cap - n, " cgroup=%s", o->cgroups[i]);
	for (int i = 0; i < o->n_ports && n < cap; i++)
		n += (size_t)snprintf(r->filters + n, cap - n, " port=%u", o->ports[i]);
}

static int load_metadata_files(struct recorder *r)
{
	char err[512];
	for (int i = 0; i < r->o->n_pods_files; i++)
		if (fr_kube_add_file(r->kube, r->o->pods_files[i], err, sizeof(err)) < 0) {
			logmsg("--pods: %s", err);
			return -1;
		}
	for (int i = 0; i < r->o->n_svc_files; i++)
		if (fr_kube_add_file(r->kube, r->o->svc_files[i], err, sizeof(err)) < 0) {
			logmsg("--services: %s", err);
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "snapshot"))
		return snapshot_cmd(argc - 1, argv + 1);

	static struct opts o;
	static struct recorder r;
	int rc = EXIT_FAIL, pidfd = -1;
	char pidpath[PATH_MAX] = "";
	o.segment_size = 64ull << 20;
	o.ring_size = 1ull << 30;
	o.ringbuf = 16ull << 20;
	o.segment_age = 600;
	o.after = 60;
	o.snaplen = 4096;
	o.zstd_level = 1; /* -3 costs ~20% more recorder CPU for the same size on HTTP traffic */
	o.kube_every = 30;
	o.log_pods_dir = "/var/log/pods";
	o.log_containers_dir = "/var/log/containers";
	fr_redact_init(&o.redact);
	if (parse_opts(argc, argv, &o))
		return EXIT_USAGE;
	r.o = &o;
	if (check_environment(&o) || (pidfd = pidfile_lock(o.dir)) < 0)
		return EXIT_FAIL;
	snprintf(pidpath, sizeof(pidpath), "%s/%s", o.dir, PIDFILE);

	struct utsname u;
	uname(&u);
	snprintf(r.node, sizeof(r.node), "%s", o.node ? o.node : u.nodename);
	snprintf(r.kernel, sizeof(r.kernel), "%s", u.release);
	read_small("/proc/sys/kernel/random/boot_id", r.boot_id, sizeof(r.boot_id));
	fr_redact_describe(&o.redact, r.redaction, sizeof(r.redaction));
	describe_filters(&r);
	r.kube = fr_kube_new();
	r.fallback = fr_kube_new();
	r.ncpu = libbpf_num_possible_cpus();
	if (!r.kube || !r.fallback || r.ncpu <= 0)
		goto cleanup;
	r.loss_prev = calloc((size_t)r.ncpu, sizeof(*r.loss_prev));
	r.loss_cur = calloc((size_t)r.ncpu, sizeof(*r.loss_cur));
	if (!r.loss_prev || !r.loss_cur)
		goto cleanup;
	if (load_metadata_files(&r))
		goto cleanup;
	if (o.kube_api) {
		char err[512];
		r.api = fr_kubeapi_start(o.kubeconfig, r.node, o.kube_every, err, sizeof(err));
		if (!r.api) {
			logmsg("--kube-api: %s", err);
			goto cleanup;
		}
	}

	/* load and attach */
	libbpf_set_print(libbpf_log);
	r.skel = flightrec_bpf__open();
	if (!r.skel) {
		logmsg("cannot open the BPF object: %s", strerror(errno));
		goto cleanup;
	}
	r.skel->rodata->self_tgid = (__u32)getpid();
	r.skel->rodata->snaplen = o.snaplen;
	r.skel->rodata->filter_pids = o.n_pids > 0;
	r.skel->rodata->filter_cgroups = o.n_cgroups > 0;
	r.skel->rodata->filter_ports = o.n_ports > 0;
	r.skel->rodata->wakeup_bytes = o.ringbuf / 16;
	r.skel->rodata->has_loop =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACING, BPF_FUNC_loop, NULL) == 1;
	bpf_map__set_max_entries(r.skel->maps.events, (__u32)o.ringbuf);
	bpf_map__set_max_entries(r.skel->maps.scratch, (__u32)r.ncpu);
	int err = flightrec_bpf__load(r.skel);
	if (err) {
		logmsg("cannot load the BPF programs: %s (see the verifier log above)", strerror(-err));
		goto cleanup;
	}
	__u8 one = 1;
	for (int i = 0; i < o.n_pids; i++)
		bpf_map_update_elem(bpf_map__fd(r.skel->maps.pid_filter), &o.pids[i], &one, BPF_ANY);
	for (int i = 0; i < o.n_ports; i++)
		bpf_map_update_elem(bpf_map__fd(r.skel->maps.port_filter), &o.ports[i], &one, BPF_ANY);
	for (int i = 0; i < o.n_cgroups; i++) {
		__u64 id = fr_cgroup_id_of(o.cgroups[i]);
		if (!id) {
			logmsg("--cgroup %s: no such cgroup v2 directory", o.cgroups[i]);
			goto cleanup;
		}
		bpf_map_update_elem(bpf_map__fd(r.skel->maps.cgroup_filter), &id, &one, BPF_ANY);
	}
	r.rb = ring_buffer__new(bpf_map__fd(r.skel->maps.events), on_event, &r, NULL);
	if (!r.rb) {
		logmsg("cannot open the BPF ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	err = flightrec_bpf__attach(r.skel);
	if (err) {
		logmsg("cannot attach to the system call tracepoints: %s", strerror(-err));
		goto cleanup;
	}
	if (drop_privileges() < 0) {
		logmsg("cannot drop privileges: %s", strerror(errno));
		goto cleanup;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	{
		char **v;
		int n = list_segments(o.dir, &v);
		r.seg_index = (uint64_t)n; /* continue the numbering of an existing ring */
		free_list(v, n);
	}
	if (seg_open(&r))
		goto cleanup;
	add_mark(&r, "start", r.filters);
	logmsg("recording into %s (%s; redaction: %s)", o.dir, r.filters,
	       r.redaction[0] ? r.redaction : "off");

	uint64_t t0 = mono_ns(), last_loss = t0, last_sec = t0;
	while (!stop_flag) {
		/* The kernel side wakes us only when much is waiting: consume
		 * after every timeout too. */
		int n = ring_buffer__poll(r.rb, 50);
		r.burst = 0;
		if (n >= 0 || n == -EAGAIN)
			n = ring_buffer__consume(r.rb);
		r.burst = 0;
		if (n < 0 && n != -EINTR && n != -EAGAIN && !r.failed) {
			logmsg("ring buffer: %s", strerror(-n));
			break;
		}
		if (r.failed)
			break;
		uint64_t now = mono_ns();
		if (snap_flag) {
			snap_flag = 0;
			snapshot_start(&r);
		}
		if (now - last_loss >= 200000000ull) {
			last_loss = now;
			poll_losses(&r);
		}
		if (now - last_sec >= 1000000000ull) {
			last_sec = now;
			int frc = r.w ? fr_writer_flush(r.w) : 0;
			if (frc)
				handle_write_error(&r, frc);
			if (r.api) {
				struct fr_kube *k = fr_kubeapi_take(r.api);
				char e[512];
				if (k) {
					fr_kube_free(r.kube);
					r.kube = k;
					add_pods(&r, r.kube, now);
				} else if (fr_kubeapi_error(r.api, e, sizeof(e))) {
					logmsg("--kube-api: %s", e);
				}
			}
			if (r.snap_active && now >= r.snap_until)
				snapshot_end(&r);
			else if (r.w && ((o.segment_age > 0 && now - r.seg_open_ns >= o.segment_age * 1e9) ||
					 segment_full(&r))) {
				rotate(&r);
			}
			enforce_ring(&r, headroom_bytes(&r));
		} else if (r.w && segment_full(&r)) {
			rotate(&r);
		}
		if (o.duration > 0 && now - t0 >= o.duration * 1e9)
			break;
	}
	/* drain what the kernel still holds, then account for its losses */
	if (!r.failed) {
		ring_buffer__consume(r.rb);
		poll_losses(&r);
		add_mark(&r, "stop", "");
	}
	rc = r.failed ? EXIT_FAIL : 0;
	if (o.verbose)
		logmsg("%" PRIu64 " events, %" PRIu64 " data, %" PRIu64 " lost, %" PRIu64 " malformed",
		       r.n_events, r.n_data, r.n_lost, r.n_bad);
cleanup:
	seg_close(&r);
	if (r.failed)
		rc = EXIT_FAIL;
	if (pidfd >= 0) {
		unlink(pidpath);
		close(pidfd);
	}
	ring_buffer__free(r.rb);
	flightrec_bpf__destroy(r.skel);
	fr_kubeapi_stop(r.api);
	fr_kube_free(r.kube);
	fr_kube_free(r.fallback);
	for (int b = 0; b < NBUCKET; b++) {
		while (r.procs[b]) {
			struct proc *p = r.procs[b];
			r.procs[b] = p->next;
			free(p);
		}
		while (r.rst[b]) {
			struct rstate *s = r.rst[b];
			r.rst[b] = s->next;
			free(s);
		}
	}
	free(r.loss_prev);
	free(r.loss_cur);
	fr_cgroup_fini();
	return rc;
}
