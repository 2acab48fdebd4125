/* recorder.h - what the rooms of flightrec-record share (internal): the
 * options, the recorder's state, and the functions each file offers the
 * others.
 *
 *   main.c      setup checks, load and attach, the poll loop
 *   privs.c     the capabilities kept after the attach
 *   options.c   the option table: defaults, parsers, --help
 *   control.c   the output directory as a shared place: its safety checks,
 *               the pid file, the trigger files, the `snapshot` command
 *   ring.c      segments: open, rotate, the ring's bounds; snapshots
 *   syncer.c    the fsync of each closed segment, off the drain's thread
 *   rings.c     the BPF ring buffers (one per CPU) read and merged
 *   drain.c     ring-buffer events into records; the connection table
 *               (redaction state, stream positions, kept heads) and its
 *               CONN_STATE/CONN_HEAD records; losses
 *   metadata.c  the process table, pod metadata (files, API, node fallback)
 *   triggers.c  automatic triggers (OOM, crash, restart, Kubernetes events,
 *               alerts), their cooldown, the cap on snapshots kept
 *   ctlsock.c   the control socket (DIR/control.sock)
 */
#ifndef FLIGHTREC_RECORDER_H
#define FLIGHTREC_RECORDER_H

#include <linux/types.h>

#include "../bpf/flightrec.h"
#include "../formats/conntab.h"
#include "../formats/kube.h"
#include "../formats/segment.h"
#include "redact.h"

struct fr_kubeapi;
struct syncer;

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#define PROG "flightrec-record"
#define MAX_FILTER 64
#define NBUCKET 4096
#define MAX_SNAPS 16 /* snapshots whose after-windows overlap */
#define MAX_SNAPS_TEXT "16"

enum { EXIT_FAIL = 1 };

/* Set by the signal handlers; the poll loop acts on them. */
extern volatile sig_atomic_t stop_flag, snap_flag;

struct numlist {
	uint32_t v[MAX_FILTER];
	int n;
};

struct strlist {
	const char *v[MAX_FILTER];
	int n;
};

struct opts {
	const char *dir; /* canonical (dir_buf) once check_environment passed */
	char dir_buf[PATH_MAX];
	double duration;
	uint64_t segment_size, ring_size, ringbuf;
	double segment_age, ring_age, after;
	uint32_t snaplen, zstd_level, kube_every;
	uint64_t head_size, heads_total; /* kept connection heads: per direction, all */
	struct numlist pids, ports;
	struct strlist cgroups, pods_files, svc_files;
	int kube_api;
	int no_tls; /* --no-tls: no TLS uprobes (capture/tls.c); 2: the kernel cannot */
	const char *kubeconfig, *node, *log_pods_dir, *log_containers_dir;
	struct fr_redact redact;
	int verbose;
	/* automatic triggers and the control socket: triggers.c, ctlsock.c */
	unsigned triggers; /* TRIG_* bits */
	double cooldown;
	uint32_t snap_max;
	uint64_t snap_bytes;
	const char *control_group, *ring_group, *cluster_trigger;
	int hooks; /* enum fr_hooks */
};

/* The kernel hooks the recorder attaches (capture/hooks.c). */
enum fr_hooks { FR_HOOKS_AUTO, FR_HOOKS_SOCKETS, FR_HOOKS_SYSCALLS };

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

/* What the recorder keeps of its own per connection of the table: the
 * redaction scanner's state of each direction. */
struct conn_user {
	struct fr_redact_state rs[2];
	uint8_t started[2]; /* rs[dir] has seen the direction's first bytes */
	uint64_t next[2];   /* the stream position after what rs[dir] saw or was told it missed */
	uint64_t tls_seg;   /* 1 + index of the segment its CONN_TLS is in; 0 none */
};

struct recorder {
	struct opts *o;
	struct flightrec_bpf *skel;
	struct fr_rings *rb; /* the capture's rings and the triggers' (rings.c) */
	uint64_t ring_size;  /* of each CPU's ring buffer */
	struct fr_writer *w;
	struct syncer *sync; /* syncs and closes closed segments (syncer.c) */
	char cur_path[PATH_MAX];
	uint64_t seg_index, seg_open_ns, good_bytes, seg_start_bytes, seq;
	uint64_t ring_bytes, ring_cur_bytes; /* at the last directory scan: all, current */
	int ring_scanned;
	int dir_fd; /* the recording directory, to notice its removal */
	char node[256], boot_id[64], kernel[128], filters[512], redaction[512];
	char hooks[16]; /* the hook set attached: "sockets" or "syscalls" */
	char hooks_why[96]; /* what they are, or why not the sockets set */
	struct bpf_link *cg_links[2]; /* the sockets set's cgroup programs */
	uint64_t arrival_min_ns;      /* ARRIVAL records for waits this long; 0: none */
	struct fr_kube *kube;     /* --pods/--services or the API */
	struct fr_kube *fallback; /* pods found in the node's files */
	struct fr_kubeapi *api;
	struct proc *procs[NBUCKET];
	size_t n_procs;
	struct fr_conntab *conns; /* open connections: drain.c */
	uint64_t last_ts;         /* largest event time so far */
	int backlog;              /* the last drain stopped with events waiting */
	uint64_t last_sweep;      /* of the connection table (sweep_conns) */
	int heads_due;            /* the next seg_open writes the kept heads */
	char run_first[NAME_MAX + 1]; /* name of this run's first segment */
	struct disk_full {            /* what a full disk cost, not yet told (ring.c) */
		int segs;             /* segments deleted to make room */
		uint64_t bytes;
		char first[NAME_MAX + 1], last[NAME_MAX + 1];
		uint64_t lost, lost_bytes, lost_first, lost_last; /* records not written */
	} df;
	int df_busy;          /* making room: no rotation inside */
	uint64_t df_told_ns;  /* the last time a full disk was logged */
	int failed;
	int n_snaps; /* snapshots whose after-window is open, oldest first */
	struct snap {
		uint64_t until; /* monotonic ns: the end of its after-window */
		char name[NAME_MAX + 1]; /* under snapshots/ */
		char dir[PATH_MAX];
	} snaps[MAX_SNAPS];
	char snap_dir[PATH_MAX + 256]; /* the last snapshot made (never removed by the cap) */
	int ncpu;
	struct fr_loss_ctr *loss_prev, *loss_cur;
	uint64_t n_events, n_data, n_lost, n_bad;
	unsigned burst;
	struct trig *trig; /* triggers.c */
	struct ctl *ctl;   /* ctlsock.c */
	uint8_t payload[FR_EV_MAX_SNAP];
};

static inline struct fr_span S(const char *s)
{
	return (struct fr_span){(const uint8_t *)s, (uint32_t)strlen(s)};
}

/* main.c */
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t mono_ns(void);

/* options.c: fills o with the defaults, then the command line.  0, or -1
 * after a message (exit 2); --help and --version exit 0 here. */
int opts_parse(int argc, char **argv, struct opts *o);
void usage(FILE *f);

/* control.c */
int safe_dir(const char *dir, char *out);
int pidfile_lock(const char *dir);
void read_own(const char *dir, const char *name, char *buf, size_t len);
int write_own(const char *dir, const char *name, const char *text);
int snapshot_cmd(int argc, char **argv);
#define PIDFILE ".flightrec-record.pid"
#define REASONFILE ".snapshot-reason"
#define LASTSNAPFILE ".snapshot-last"

/* ring.c: records go into the current segment through add(); on a write
 * error r->failed is set and the loop stops. */
int add(struct recorder *r, struct fr_record *rec);
void add_mark(struct recorder *r, const char *kind, const char *text);
void ring_start(struct recorder *r);
int seg_open(struct recorder *r);
void seg_close(struct recorder *r);
void rotate(struct recorder *r);

/* syncer.c: syncer_hand takes a closed segment's open fd and fsyncs and
 * closes it on the syncer's thread (or at once, when the thread is busy
 * with SYNC_MAX files or absent: s NULL).  syncer_drain waits until no
 * file waits, and returns how many did; syncer_stop waits for all and
 * ends the thread. */
struct syncer *syncer_start(void);
void syncer_hand(struct syncer *s, int fd, const char *path);
int syncer_drain(struct syncer *s);
void syncer_stop(struct syncer *s);
int segment_full(struct recorder *r);
uint64_t headroom_bytes(const struct recorder *r);
void enforce_ring(struct recorder *r, uint64_t headroom);
/* A write failed with -errno rc: on a full disk the ring makes room
 * (deletes its oldest segments no snapshot holds) and goes on; otherwise,
 * or when not even one segment fits, the recording stops (r->failed). */
void handle_write_error(struct recorder *r, int rc);
/* Tells what a full disk cost since the last call (a MARK disk-full and a
 * LOSS record, into the current segment; a line on stderr at most once a
 * minute).  Cheap when there is nothing to tell. */
void disk_full_note(struct recorder *r);
/* Stops the recording (1) when the output directory was removed or replaced;
 * 0 while it is still the one opened at start. */
int ring_check_dir(struct recorder *r);
/* A trigger: a new snapshot, which holds the ring's segments and those of
 * the next --after seconds (overlapping the after-windows of snapshots
 * still open: they share segments). */
void snapshot_start(struct recorder *r);
/* Ends the after-windows that are over (all of them when stopping): each
 * with its snapshot-end MARK, in a segment then closed. */
void snapshots_end(struct recorder *r, uint64_t now, int stopping);
/* A snapshot named after reason, with mark as its MARK "trigger" text:
 * 0 (its directory in r->snap_dir), or -1 after a message. */
int snapshot_begin(struct recorder *r, const char *reason, const char *mark);

/* rings.c: the reader of BPF ring buffers.  rings_new: NULL when out of
 * memory.  rings_add maps the ring buffer map_fd (a dup of it is kept):
 * merged ones are read as one stream of struct fr_ev_hdr records, the
 * oldest head first; the others each in order, cb(ctx, record, size) for
 * each record.  0 or -errno.  rings_consume delivers what is committed:
 * the count, or a callback's negative return (it stops there; the record
 * is consumed).  rings_poll waits up to timeout_ms for any ring to have
 * data (the kernel's wakeups), then consumes: the count or -errno.
 * rings_free unmaps and closes (NULL is fine). */
struct fr_rings;
typedef int (*fr_ring_cb)(void *ctx, void *data, size_t size);
struct fr_rings *rings_new(void);
int rings_add(struct fr_rings *rs, int map_fd, fr_ring_cb cb, void *ctx, int merged);
int rings_consume(struct fr_rings *rs);
int rings_poll(struct fr_rings *rs, int timeout_ms);
void rings_free(struct fr_rings *rs);

/* drain.c */
int conns_init(struct recorder *r); /* 0, or -1 when out of memory */
int on_event(void *ctx, void *data, size_t size);
void poll_losses(struct recorder *r);
/* The CONN_STATE records of the open connections, into the current segment
 * (at its start); with heads, the CONN_HEAD records of the kept heads. */
void emit_conns(struct recorder *r, int heads);
/* Forgets connections of processes gone for a minute (their close was not
 * seen); at most every 30 s. */
void sweep_conns(struct recorder *r, uint64_t now);

/* hooks.c: picks the hook set (--hooks, or what the kernel's BTF offers),
 * sets r->hooks and the programs to load in the opened, not yet loaded
 * skeleton.  0, or -1 after a message (a set forced but unavailable). */
int hooks_choose(struct recorder *r);
/* With --verbose, logs how many instructions the kernel's verifier went
 * through for each loaded program (its limit is 1M per program: the
 * headroom left on this kernel). */
void hooks_report_verifier(struct recorder *r);
/* Attaches the set's programs the skeleton does not (the root cgroup's);
 * 0, or -1 after a message.  hooks_detach undoes it (any state). */
int hooks_attach_cgroup(struct recorder *r);
void hooks_detach(struct recorder *r);

/* tls.c: TLS plaintext uprobes.  tls_prepare sets them up before the
 * load (none with --no-tls); tls_attach attaches them to the libssl files
 * found (0; a library it cannot attach is logged and skipped);
 * tls_detach destroys the links (any state). */
void tls_prepare(struct recorder *r);
int tls_attach(struct recorder *r);
void tls_detach(void);
/* "OpenSSL 3.0.19 27 Jan 2026 (/usr/lib/.../libssl.so.3)" for the library
 * of index i (an event's field), or "unknown TLS library"; static. */
const char *tls_library(uint32_t i);

/* tls.c: tls_scan attaches to the TLS libraries process pid maps that no
 * uprobe covers yet (nothing with --no-tls); with CAP_SYS_ADMIN (or
 * CAP_PERFMON on kernels before 6.16) effective. */
void tls_scan(struct recorder *r, uint32_t pid);

/* privs.c: capabilities after the attach.  privs_drop keeps CAP_SYS_PTRACE
 * and CAP_DAC_READ_SEARCH effective and, with tls and CAP_SYS_ADMIN, the
 * attach capabilities in its permitted set only; privs_attach(1) raises
 * them, privs_attach(0) lowers them again (-1: none kept, or capset failed);
 * privs_thread drops a thread started before privs_drop to the kept two;
 * privs_uprobe_ok says whether CAP_SYS_ADMIN is permitted.  0 or -1
 * (errno set). */
int privs_drop(int tls);
int privs_attach(int on);
int privs_thread(void);
int privs_uprobe_ok(void);

/* metadata.c */
int load_metadata_files(struct recorder *r);
/* Reads the --pods and --services files once to check them, before the
 * recorder touches anything: 0, or -1 after a message (a usage error). */
int check_metadata_files(const struct opts *o);
void add_pods(struct recorder *r, const struct fr_kube *k, uint64_t ts);
void emit_metadata(struct recorder *r);
void prune_procs(struct recorder *r, uint64_t now);
void on_proc(struct recorder *r, const struct fr_ev_proc *e);
void recorder_free_tables(struct recorder *r);

#endif
