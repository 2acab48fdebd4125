/* main.c - flightrec-record: loads bpf/flightrec.bpf.c, attaches it,
 * drops the privileges it no longer needs, and polls its ring buffer into
 * the segment ring until stopped; `snapshot` (or SIGUSR1) freezes the ring
 * into DIR/snapshots/.  recorder.h says which file does what. */
#define _GNU_SOURCE
#include "bpf/flightrec.skel.h"
#include "../formats/cli.h"
#include "cgroup.h"
#include "kubeapi.h"
#include "recorder.h"
#include "triggers.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct fr_ev_data) == offsetof(struct fr_ev_data, payload),
	       "payload must start at sizeof(struct fr_ev_data)");

volatile sig_atomic_t stop_flag, snap_flag;

void logmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flockfile(stderr); /* one line, also from the syncer's thread */
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
	va_end(ap);
}

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		snap_flag = 1;
	else
		stop_flag = 1;
}

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
	if (maj < 5 || (maj == 5 && min < 13)) {
		/* global BPF functions with pointer arguments (fr_emit_data):
		 * 5.12; task storage in tracing programs: 5.13 */
		logmsg("kernel %s is too old: needs 5.13 or later (BPF ring buffer, BTF tracepoints, global functions, task storage)",
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
	for (int i = 0; i < o->pids.n && n < cap; i++)
		n += (size_t)snprintf(r->filters + n, cap - n, " pid=%u", o->pids.v[i]);
	for (int i = 0; i < o->cgroups.n && n < cap; i++)
		n += (size_t)snprintf(r->filters + n, cap - n, " cgroup=%s", o->cgroups.v[i]);
	for (int i = 0; i < o->ports.n && n < cap; i++)
		n += (size_t)snprintf(r->filters + n, cap - n, " port=%u", o->ports.v[i]);
}

/* Everything main needs before the programs load: names, metadata, the
 * API watcher.  0, or -1 after a message. */
static int recorder_init(struct recorder *r, struct opts *o)
{
	struct utsname u;
	r->o = o;
	uname(&u);
	snprintf(r->node, sizeof(r->node), "%s", o->node ? o->node : u.nodename);
	snprintf(r->kernel, sizeof(r->kernel), "%s", u.release);
	read_small("/proc/sys/kernel/random/boot_id", r->boot_id, sizeof(r->boot_id));
	fr_redact_describe(&o->redact, r->redaction, sizeof(r->redaction));
	describe_filters(r);
	r->kube = fr_kube_new();
	r->fallback = fr_kube_new();
	r->ncpu = libbpf_num_possible_cpus();
	if (!r->kube || !r->fallback || r->ncpu <= 0)
		return -1;
	r->loss_prev = calloc((size_t)r->ncpu, sizeof(*r->loss_prev));
	r->loss_cur = calloc((size_t)r->ncpu, sizeof(*r->loss_cur));
	if (!r->loss_prev || !r->loss_cur || conns_init(r) || load_metadata_files(r))
		return -1;
	if (o->kube_api) {
		char err[512];
		r->api = fr_kubeapi_start(o->kubeconfig, r->node, (int)o->kube_every,
					  (o->triggers & TRIG_KUBE) != 0,
					  (o->triggers & TRIG_CLUSTER) ? o->cluster_trigger : NULL, err,
					  sizeof(err));
		if (!r->api) {
			logmsg("--kube-api: %s", err);
			return -1;
		}
	}
	return 0;
}

/* Each CPU's ring buffer: --ringbuf shared among the CPUs (a power of two
 * each), but at least 1 MiB each (or --ringbuf if smaller), so that a
 * node of many CPUs does not get rings too small for a burst. */
static uint64_t cpu_ring_size(uint64_t total, int ncpu)
{
	uint64_t floor = total < (1u << 20) ? total : (1u << 20);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), each = page;
	while (each * 2 <= total / (uint64_t)ncpu)
		each *= 2;
	return each < floor ? floor : each;
}

/* The rings of the CPUs, into the loaded programs' array, and the reader
 * of them.  0, or -1 after a message. */
static int make_rings(struct recorder *r)
{
	r->rb = rings_new();
	if (!r->rb) {
		logmsg("out of memory");
		return -1;
	}
	int outer = bpf_map__fd(r->skel->maps.events);
	for (__u32 cpu = 0; cpu < (__u32)r->ncpu; cpu++) {
		int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "fr_cpu_ring", 0, 0, (__u32)r->ring_size, NULL);
		int err = fd < 0 ? -errno : 0;
		if (!err && bpf_map_update_elem(outer, &cpu, &fd, BPF_ANY))
			err = -errno;
		if (!err)
			err = rings_add(r->rb, fd, on_event, r, 1);
		if (fd >= 0)
			close(fd);
		if (err) {
			logmsg("cannot make the BPF ring buffer of CPU %u (%" PRIu64 " bytes): %s", cpu,
			       r->ring_size, strerror(-err));
			return -1;
		}
	}
	return 0;
}

/* Opens, configures and loads the programs, fills the filter maps and
 * makes the ring buffers.  0, or -1 after a message. */
static int load(struct recorder *r)
{
	const struct opts *o = r->o;
	libbpf_set_print(libbpf_log);
	r->skel = flightrec_bpf__open();
	if (!r->skel) {
		logmsg("cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	r->skel->rodata->self_tgid = (__u32)getpid();
	r->skel->rodata->snaplen = o->snaplen;
	r->skel->rodata->filter_pids = o->pids.n > 0;
	r->skel->rodata->filter_cgroups = o->cgroups.n > 0;
	r->skel->rodata->filter_ports = o->ports.n > 0;
	r->ring_size = cpu_ring_size(o->ringbuf, r->ncpu);
	r->skel->rodata->wakeup_bytes = r->ring_size / 16;
	/* bpf_loop is a base helper, the same for every tracing program;
	 * libbpf cannot probe BPF_PROG_TYPE_TRACING itself (-EOPNOTSUPP: it
	 * needs an attach target), which left has_loop 0 on every kernel */
	r->skel->rodata->has_loop =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, NULL) == 1;
	bpf_map__set_max_entries(r->skel->maps.events, (__u32)r->ncpu);
	tls_prepare(r);
	if (hooks_choose(r))
		return -1;
	int err = flightrec_bpf__load(r->skel);
	if (err) {
		logmsg("cannot load the BPF programs: %s (see the verifier log above)", strerror(-err));
		return -1;
	}
	hooks_report_verifier(r);
	__u8 one = 1;
	for (int i = 0; i < o->pids.n; i++)
		bpf_map_update_elem(bpf_map__fd(r->skel->maps.pid_filter), &o->pids.v[i], &one, BPF_ANY);
	for (int i = 0; i < o->ports.n; i++) {
		__u16 port = (__u16)o->ports.v[i];
		bpf_map_update_elem(bpf_map__fd(r->skel->maps.port_filter), &port, &one, BPF_ANY);
	}
	for (int i = 0; i < o->cgroups.n; i++) {
		__u64 id = fr_cgroup_id_of(o->cgroups.v[i]);
		if (!id) {
			logmsg("--cgroup %s: no such cgroup v2 directory", o->cgroups.v[i]);
			return -1;
		}
		bpf_map_update_elem(bpf_map__fd(r->skel->maps.cgroup_filter), &id, &one, BPF_ANY);
	}
	return make_rings(r);
}

/* Attaches the programs: the events start.  0, or -1 after a message. */
static int attach(struct recorder *r)
{
	int err = flightrec_bpf__attach(r->skel);
	if (err) {
		logmsg("cannot attach the %s hooks: %s", r->hooks, strerror(-err));
		return -1;
	}
	if (!r->o->no_tls && !privs_uprobe_ok())
		logmsg("tls: no CAP_SYS_ADMIN: Linux 6.16 and the stable kernels since July 2025 refuse "
		       "uprobes without it (CAP_PERFMON was enough before); TLS may be recorded as ciphertext");
	if (tls_attach(r) || hooks_attach_cgroup(r))
		return -1;
	return 0;
}

/* What the loop does about once a second: flush, new pods from the API,
 * the end of a snapshot's after-window, rotation by age, the ring's bounds. */
static void every_second(struct recorder *r, uint64_t now)
{
	ring_check_dir(r);
	int frc = r->w ? fr_writer_flush(r->w) : 0;
	if (frc)
		handle_write_error(r, frc);
	if (r->api) {
		struct fr_kube *k = fr_kubeapi_take(r->api);
		char e[512];
		if (k) {
			fr_kube_free(r->kube);
			r->kube = k;
			add_pods(r, r->kube, now);
		} else if (fr_kubeapi_error(r->api, e, sizeof(e))) {
			logmsg("--kube-api: %s", e);
		}
	}
	kube_triggers(r);
	/* An after-window is counted on the events' clock: a reader behind
	 * after a burst has not yet written the window's last seconds. */
	uint64_t drained = r->backlog && r->last_ts ? r->last_ts : now;
	if (r->n_snaps && drained >= r->snaps[0].until)
		snapshots_end(r, drained, 0);
	else if (r->w && ((r->o->segment_age > 0 && now - r->seg_open_ns >= r->o->segment_age * 1e9) ||
			  segment_full(r)))
		rotate(r);
	enforce_ring(r, headroom_bytes(r));
	sweep_conns(r, now);
}

/* Polls the ring buffer until a signal, --duration or a write error. */
static void run(struct recorder *r)
{
	uint64_t t0 = mono_ns(), last_loss = t0, last_sec = t0;
	while (!stop_flag) {
		/* The kernel side wakes us only when much is waiting: consume
		 * after every timeout too. */
		int n = rings_poll(r->rb, 50);
		r->burst = 0;
		if (n >= 0 || n == -EAGAIN)
			n = rings_consume(r->rb);
		r->burst = 0;
		r->backlog = n < 0; /* only a drain to the end says none wait */
		if (n < 0 && n != -EINTR && n != -EAGAIN && !r->failed) {
			logmsg("ring buffer: %s", strerror(-n));
			break;
		}
		if (r->failed)
			break;
		disk_full_note(r);
		uint64_t now = mono_ns();
		ctl_poll(r);
		if (snap_flag) {
			snap_flag = 0;
			snapshot_start(r);
		}
		if (now - last_loss >= 200000000ull) {
			last_loss = now;
			poll_losses(r);
		}
		if (now - last_sec >= 1000000000ull) {
			last_sec = now;
			every_second(r, now);
		} else if (r->w && segment_full(r)) {
			rotate(r);
		}
		if (r->o->duration > 0 && now - t0 >= r->o->duration * 1e9)
			break;
	}
	ring_check_dir(r);
	/* drain what the kernel still holds, then account for its losses */
	if (!r->failed) {
		rings_consume(r->rb);
		poll_losses(r);
		disk_full_note(r);
		snapshots_end(r, mono_ns(), 1);
		add_mark(r, "stop", "");
	}
	if (r->o->verbose) {
		struct fr_conntab_stats cs;
		fr_conntab_stats(r->conns, &cs);
		logmsg("%" PRIu64 " events, %" PRIu64 " data, %" PRIu64 " lost, %" PRIu64 " malformed",
		       r->n_events, r->n_data, r->n_lost, r->n_bad);
		logmsg("connections: %" PRIu64 " open, %" PRIu64 " evicted; heads: %" PRIu64
		       " bytes held, %" PRIu64 " dropped", cs.conns, cs.evicted, cs.head_bytes,
		       cs.heads_dropped);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "snapshot"))
		return snapshot_cmd(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "status"))
		return status_cmd(argc - 1, argv + 1);

	static struct opts o;
	static struct recorder r;
	char pidpath[PATH_MAX];
	int pidfd, rc = EXIT_FAIL;
	if (opts_parse(argc, argv, &o) || check_metadata_files(&o))
		return EXIT_USAGE;
	if (check_environment(&o) || (pidfd = pidfile_lock(o.dir)) < 0)
		return EXIT_FAIL;
	snprintf(pidpath, sizeof(pidpath), "%s/%s", o.dir, PIDFILE);
	if (recorder_init(&r, &o) || load(&r) || triggers_load(&r) || ctl_open(&r))
		goto cleanup;
	/* the first segment is open before the hooks are attached, and the
	 * loop starts right after: no events wait in the ring buffers for
	 * the setup (under load they filled them: LOSS at the start) */
	ring_start(&r);
	if (seg_open(&r))
		goto cleanup;
	add_mark(&r, "start", r.filters);
	if (attach(&r)) {
		fr_writer_abandon(r.w); /* a failed start leaves no segment */
		r.w = NULL;
		unlink(r.cur_path);
		goto cleanup;
	}
	if (privs_drop(!o.no_tls) < 0) {
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
	logmsg("recording into %s (hooks: %s, %s; %s; redaction: %s)", o.dir, r.hooks, r.hooks_why, r.filters,
	       r.redaction[0] ? r.redaction : "off");
	/* started with the capabilities dropped, which a thread inherits;
	 * NULL: the drain syncs each closed segment itself */
	r.sync = syncer_start();
	run(&r);
	rc = 0;
cleanup:
	seg_close(&r);
	syncer_stop(r.sync);
	if (r.failed)
		rc = EXIT_FAIL;
	ctl_close(&r);
	triggers_free(&r);
	unlink(pidpath);
	close(pidfd);
	rings_free(r.rb);
	hooks_detach(&r);
	tls_detach();
	flightrec_bpf__destroy(r.skel);
	fr_kubeapi_stop(r.api);
	fr_kube_free(r.kube);
	fr_kube_free(r.fallback);
	recorder_free_tables(&r);
	if (r.dir_fd > 0)
		close(r.dir_fd);
	free(r.loss_prev);
	free(r.loss_cur);
	fr_cgroup_fini();
	return rc;
}
