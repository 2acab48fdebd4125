/* closes.h - the closes of many connections at once, for
 * bpf/flightrec.bpf.c (which includes it after its common code, before
 * the hook sets): close_range(2) (hooks_syscalls.h), exec (the
 * close-on-exec fds) and the exit of a process. */

#define MAX_SCAN_FDS 65536 /* fds looked at on exit and close_range, at most */
#define FALLBACK_SCAN_FDS 64

/* Closes of many fds at once: close_range(2), and the exit of a process
 * (its last thread: the kernel closes its files right after the
 * sched_process_exit tracepoint).  bpf_loop (5.17+) keeps the verifier's
 * work independent of the count; older kernels get a short bounded loop
 * (the branch not taken is dead code to the verifier: has_loop is
 * constant). */
enum { SCAN_ALL, SCAN_OPEN, SCAN_STALE };

struct scan {
	__u64 id;
	__u32 first;
	__u32 mode; /* SCAN_OPEN: only fds open in the bitmap; SCAN_STALE: only
		     * connections whose fd no longer holds their file */
	unsigned long *open_fds;
	struct file **fds;
	unsigned long word;
};

static long scan_fd(__u64 i, void *arg)
{
	struct scan *s = arg;
	__u32 fd = s->first + (__u32)i;
	if (s->mode == SCAN_STALE) {
		/* the map first: the fd slot is read for known fds only */
		struct conn_key k = {.tgid = s->id >> 32, .fd = fd};
		if (!bpf_map_lookup_elem(&conns, &k))
			return 0;
		struct file *f = NULL;
		bpf_probe_read_kernel(&f, sizeof(f), &s->fds[fd]);
		do_close(s->id, fd, (__u64)f);
		return 0;
	}
	if (s->mode == SCAN_OPEN) {
		if ((fd & 63) == 0 || i == 0) {
			s->word = 0;
			bpf_probe_read_kernel(&s->word, sizeof(s->word), &s->open_fds[fd / 64]);
		}
		if (!(s->word >> (fd & 63) & 1))
			return 0;
	}
	do_close(s->id, fd, 0);
	return 0;
}

static __always_inline void scan_close(__u64 id, __u32 first, __u32 last, __u32 mode)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct files_struct *files = t->files;
	if (!files)
		return;
	struct fdtable *fdt = files->fdt;
	if (!fdt)
		return;
	__u32 max = fdt->max_fds;
	if (max == 0 || first >= max)
		return;
	if (last >= max)
		last = max - 1;
	if (last < first)
		return;
	__u32 n = last - first + 1;
	if (n > MAX_SCAN_FDS)
		n = MAX_SCAN_FDS;
	struct scan s = {.id = id, .first = first, .mode = mode,
			 .open_fds = fdt->open_fds, .fds = fdt->fd};
	if (has_loop) {
		bpf_loop(n, scan_fd, &s, 0);
		return;
	}
	for (__u32 i = 0; i < FALLBACK_SCAN_FDS; i++) {
		if (i >= n)
			break;
		scan_fd(i, &s);
	}
}

/* By this tracepoint the exec has closed the close-on-exec fds (Python's
 * sockets, SOCK_CLOEXEC ones) without a close call: each connection of
 * the process whose fd no longer holds its file gets its CLOSE here, before
 * the PROC event of the new program.  Inherited sockets stay connections of
 * the same process.  Processes never announced made no connection. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(fr_exec, struct task_struct *p, pid_t old_pid, void *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!bpf_map_lookup_elem(&seen, &tgid))
		return 0;
	scan_close(id, 0, ~0u, SCAN_STALE);
	if (tgid_ok(tgid))
		emit_proc(id, FR_PROC_EXEC);
	/* the new program maps its libraries only after this: its next
	 * socket event announces it again (no cgroup has id 0), when they
	 * are mapped; the entry stays for fr_exit */
	__u64 none = 0;
	bpf_map_update_elem(&seen, &tgid, &none, BPF_EXIST);
	return 0;
}

/* The exit of a process's last thread closes its files without a close
 * call: each of its connections gets its CLOSE here, at the exit time.
 * (A killed client otherwise looked like a connection still open at the
 * end of the recording.)  Processes never announced made no connection. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fr_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!bpf_map_lookup_elem(&seen, &tgid))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0; /* other threads still run */
	/* sockets: a close(2) of a socket another process still holds was
	 * not seen, so every connection of the process ends here, not only
	 * those of the fds still open */
	scan_close(id, 0, ~0u, hooks_sockets ? SCAN_ALL : SCAN_OPEN);
	bpf_map_delete_elem(&seen, &tgid); /* a new process with this pid is announced anew */
	return 0;
}
