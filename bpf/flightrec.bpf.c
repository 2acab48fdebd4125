// SPDX-License-Identifier: GPL-2.0
/* flightrec.bpf.c - socket capture, with one of two hook sets the loader
 * picks (capture/hooks.c): the raw sys_enter/sys_exit tracepoints of
 * hooks_syscalls.h (no kprobes, no fentry, no tracefs needed; Linux
 * 5.13+), or the socket tracepoints of hooks_sockets.h (Linux 6.12+),
 * which spare every other system call.  Both produce the same events; the
 * code they share is here (the closes of many fds at once in closes.h),
 * and the hook sets are included at the end.
 *
 * At the exit of the socket syscalls of interest, the arguments are still
 * in pt_regs: the program reads what the kernel moved (ingress buffers are
 * full by then; egress uses the byte count the call returned) and sends
 * DATA events; connect/accept/close and the first use of an fd
 * produce OPEN/CLOSE events with the tuple read from struct sock (CO-RE).
 * A process is announced (PROC) the first time it is seen and on exec.
 * Every event that does not fit in the ring buffer is counted per CPU in
 * `losses`.  The event ABI is bpf/flightrec.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "flightrec.h"

char LICENSE[] SEC("license") = "GPL";

/* Settings, written by the loader before load. */
const volatile __u32 self_tgid = 0;
const volatile __u32 snaplen = 4096;
const volatile __u8 filter_pids = 0;
const volatile __u8 filter_cgroups = 0;
const volatile __u8 filter_ports = 0;
/* Wake the reader only once this much is waiting (it also polls): one
 * wakeup per event would cost the traced processes dearly. */
const volatile __u64 wakeup_bytes = 0;
/* The "sockets" hook set is attached (bpf/hooks_sockets.h), not the
 * system call tracepoints. */
const volatile __u8 hooks_sockets = 0;
/* The kernel has bpf_loop (5.17+): without it a close_range or an exit
 * looks at the first FALLBACK_SCAN_FDS fds of the range only. */
const volatile __u8 has_loop = 0;
/* The TLS uprobes may be attached (hooks_tls.h): socket calls made inside
 * an SSL call are looked at. */
const volatile __u8 tls_on = 0;

/* Written by user space at run time (mmap'd .bss). */
__u64 loss_epoch_ns = 0;
__u32 gen_counter = 0;

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define MSG_PEEK 2

/* x86_64 system call numbers. */
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_dup2 33
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_accept4 288
#define NR_close_range 436
#define CLOSE_RANGE_CLOEXEC 4
#define NR_dup3 292
#define NR_recvmmsg 299
#define NR_sendmmsg 307


/* One ring buffer per CPU, each event into the ring of the CPU it runs
 * on: a shared ring's reservation takes a spinlock every CPU contends for
 * (its cache line bouncing between them), which was most of an event's
 * cost (issue 16).  The loader creates the rings (capture/rings.c), all of
 * one size, and puts them in this array; the reader merges them. */
struct cpu_ringbuf {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18); /* a template: the loader sizes each ring */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* set by the loader: the possible CPUs */
	__type(key, __u32);
	__array(values, struct cpu_ringbuf);
} events SEC(".maps");

/* The ring buffer of the current CPU, or NULL (none set for it). */
static __always_inline void *cpu_ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&events, &cpu);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} pid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} port_filter SEC(".maps");


struct conn_key {
	__u32 tgid;
	__u32 fd;
};

struct conn {
	__u64 file; /* the open file: a reused fd number has another */
	__u64 sk;
	__u64 pos_out, pos_in;
	__u64 calls_out, calls_in;
	__u32 gen;
	__u8 proto;
	__u8 ignored;
	__u8 announced; /* the process's PROC event was delivered */
	__u8 tls; /* an SSL object uses it: its socket bytes are ciphertext,
		   * not written; pos_out/pos_in count plaintext from then on */
	__u32 ino; /* the socket's inode number: a new socket can get the
		    * address of a file closed unseen, not its number */
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

_Static_assert(sizeof(struct fr_ev_data) == __builtin_offsetof(struct fr_ev_data, payload),
	       "payload must start at sizeof(struct fr_ev_data)");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fr_loss_ctr);
} losses SEC(".maps");

/* The reader is woken when the bytes waiting cross a multiple of
 * wakeup_bytes, once per crossing.  Waking on every event above the mark
 * (until the reader catches up) sent one inter-processor interrupt per event
 * under load.  pending: bytes of this event not yet counted by the ring
 * (bpf_ringbuf_output: all of them; reserve/submit: none).  A crossing
 * missed in a race between CPUs costs latency only: the reader also polls. */
static __always_inline __u64 rb_flags(void *rb, __u64 size, __u64 pending)
{
	if (!wakeup_bytes)
		return 0;
	__u64 after = bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) + pending;
	__u64 before = after > size ? after - size : 0;
	if (after / wakeup_bytes != before / wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void count_losses(__u64 n, __u64 bytes);

static __always_inline void count_loss(__u64 bytes)
{
	count_losses(1, bytes);
}

/* n events lost, of bytes in all (0 when unknown). */
static __always_inline void count_losses(__u64 n, __u64 bytes)
{
	__u32 zero = 0;
	struct fr_loss_ctr *l = bpf_map_lookup_elem(&losses, &zero);
	if (!l)
		return;
	__u64 now = bpf_ktime_get_ns();
	if (l->count == 0 || l->last_ns < loss_epoch_ns)
		l->first_ns = now;
	l->last_ns = now;
	l->count += n;
	l->bytes += bytes;
}

static __always_inline int tgid_ok(__u32 tgid)
{
	if (tgid == self_tgid)
		return 0;
	if (filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return 0;
	if (filter_cgroups) {
		__u64 id = bpf_get_current_cgroup_id();
		if (bpf_map_lookup_elem(&cgroup_filter, &id))
			return 1;
		for (int l = 1; l < 16; l++) {
			id = bpf_get_current_ancestor_cgroup_id(l);
			if (id == 0)
				break;
			if (bpf_map_lookup_elem(&cgroup_filter, &id))
				return 1;
		}
		return 0;
	}
	return 1;
}

/* The open file behind fd of the current process, or NULL.  The walk to
 * the file table uses direct loads through the task's BTF pointer (no
 * helper call); the slot itself takes one bpf_probe_read_kernel. */
static __always_inline struct file *fd_file(__u32 fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct files_struct *files = t->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

/* The struct sock behind file f if it is a TCP or UDP socket of family
 * inet/inet6, else NULL. */
static __always_inline struct sock *file_sock(struct file *f)
{
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *so = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return NULL;
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam != AF_INET && fam != AF_INET6)
		return NULL;
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return NULL;
	return sk;
}

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. */
static __always_inline void set_v6(struct fr_ev_addr *a, const __u8 *v6)
{
	__builtin_memcpy(a->addr, v6, 16);
	a->family = 6;
	__u32 w0, w1, w2;
	__builtin_memcpy(&w0, v6, 4);
	__builtin_memcpy(&w1, v6 + 4, 4);
	__builtin_memcpy(&w2, v6 + 8, 4);
	if (w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff)) {
		a->family = 4;
		__builtin_memcpy(a->addr, v6 + 12, 4);
		__builtin_memset(a->addr + 4, 0, 12);
	}
}

static __always_inline void sk_tuple(struct sock *sk, struct fr_ev_addr *l, struct fr_ev_addr *r)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u8 proto = (__u8)BPF_CORE_READ(sk, sk_protocol);
	l->proto = r->proto = proto;
	if (fam == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 b = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		l->family = r->family = 4;
		__builtin_memcpy(l->addr, &a, 4);
		__builtin_memcpy(r->addr, &b, 4);
	} else {
		struct in6_addr a = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
		struct in6_addr b = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
		set_v6(l, a.in6_u.u6_addr8);
		set_v6(r, b.in6_u.u6_addr8);
	}
	l->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (r->port == 0)
		r->family = 0; /* not connected (UDP) */
}

/* A sockaddr from user memory into a. */
static __always_inline void user_addr(struct fr_ev_addr *a, const void *p, __u8 proto)
{
	__u16 fam = 0;
	if (!p || bpf_probe_read_user(&fam, sizeof(fam), p))
		return;
	if (fam == AF_INET) {
		struct fr_sockaddr_in s;
		if (bpf_probe_read_user(&s, sizeof(s), p))
			return;
		a->family = 4;
		a->port = bpf_ntohs(s.sin_port);
		__builtin_memcpy(a->addr, &s.sin_addr, 4);
	} else if (fam == AF_INET6) {
		struct fr_sockaddr_in6 s;
		if (bpf_probe_read_user(&s, sizeof(s), p))
			return;
		set_v6(a, s.sin6_addr);
		a->port = bpf_ntohs(s.sin6_port);
	} else {
		return;
	}
	a->proto = proto;
}

static __always_inline void fill_hdr(struct fr_ev_hdr *h, __u32 type, __u64 id)
{
	h->type = type;
	h->version = FR_ABI_VERSION;
	h->ts = bpf_ktime_get_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
}

/* Announces the current process the first time it is seen (or after it
 * moved to another cgroup, or after an exec: fr_exec), or on exec. */
static __always_inline int emit_proc(__u64 id, __u32 flags)
{
	__u32 tgid = id >> 32;
	__u64 cg = bpf_get_current_cgroup_id();
	__u64 *old = bpf_map_lookup_elem(&seen, &tgid);
	if (old && *old == cg && !flags)
		return 1;
	void *rb = cpu_ring();
	struct fr_ev_proc *e = NULL;
	if (rb)
		e = bpf_ringbuf_reserve(rb, sizeof(*e), 0);
	if (!e) {
		count_loss(0);
		return 0; /* not announced: tried again with the next event */
	}
	bpf_map_update_elem(&seen, &tgid, &cg, BPF_ANY);
	fill_hdr(&e->h, FR_EV_PROC, id);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->flags = flags;
	e->cgroup_id = cg;
	e->start_ns = BPF_CORE_READ(t, group_leader, start_time);
	BPF_CORE_READ_STR_INTO(&e->comm, t, group_leader, comm);
	const unsigned char *name = BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.name);
	e->exe[0] = 0;
	if (name)
		bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), name);
	unsigned long a0 = BPF_CORE_READ(t, mm, arg_start);
	unsigned long a1 = BPF_CORE_READ(t, mm, arg_end);
	__u32 n = a1 > a0 ? (__u32)(a1 - a0) : 0;
	if (n > FR_EV_CMDLINE)
		n = FR_EV_CMDLINE;
	if (n && bpf_probe_read_user(e->cmdline, n, (const void *)a0))
		n = 0;
	e->cmdline_len = n;
	e->pad = 0;
	/* an announcement wakes the reader at once when the TLS uprobes are
	 * on: it looks into the process's libraries (tls_scan) while a short
	 * one (a curl) still lives; one wakeup per new process */
	bpf_ringbuf_submit(e, tls_on && !flags ? BPF_RB_FORCE_WAKEUP : rb_flags(rb, sizeof(*e) + 8, 0));
	return 1;
}

static __always_inline int port_wanted(__u16 port)
{
	return bpf_map_lookup_elem(&port_filter, &port) != NULL;
}

/* The CLOSE of the connection of (tgid, fd), if there is one, and its
 * entry goes.  keep_file: unless fd still holds that open file (0: in any
 * case).  The file is checked again here, not by the caller, so that of two
 * threads finding the same stale entry the second does not close the new
 * connection the first just made. */
static __always_inline void tcp_close_sample(__u64 id, __u32 fd, const struct conn *c);
static __always_inline void tcp_track(__u64 sk, __u32 tgid, __u32 fd, __u32 gen);

static __always_inline void do_close(__u64 id, __u32 fd, __u64 keep_file)
{
	struct conn_key k = {.tgid = id >> 32, .fd = fd};
	struct conn *c = bpf_map_lookup_elem(&conns, &k);
	if (!c || (keep_file && c->file == keep_file))
		return;
	if (!c->ignored) {
		if (c->proto == IPPROTO_TCP)
			tcp_close_sample(id, fd, c); /* hooks_tcp.h */
		void *rb = cpu_ring();
		struct fr_ev_close *e = NULL;
		if (rb)
			e = bpf_ringbuf_reserve(rb, sizeof(*e), 0);
		if (e) {
			fill_hdr(&e->h, FR_EV_CLOSE, id);
			e->fd = fd;
			e->gen = c->gen;
			e->bytes_out = c->pos_out;
			e->bytes_in = c->pos_in;
			e->calls_out = c->calls_out;
			e->calls_in = c->calls_in;
			bpf_ringbuf_submit(e, rb_flags(rb, sizeof(*e) + 8, 0));
		} else {
			count_loss(0);
		}
	}
	bpf_map_delete_elem(&conns, &k);
}

/* A new generation of the connection of (tgid, fd) on socket sk (of the
 * open file f), announced by an OPEN event at open_ts (0: now) unless the
 * port filter leaves it out.  ino: f's inode number, or 0 to read it. */
static __always_inline struct conn *new_conn(__u64 id, __u32 fd, struct file *f, struct sock *sk,
					     __u32 ino, __u8 role, __u64 open_ts)
{
	struct conn_key k = {.tgid = id >> 32, .fd = fd};
	struct fr_ev_addr l = {}, r = {};
	sk_tuple(sk, &l, &r);
	struct conn nc = {};
	nc.file = (__u64)f;
	nc.sk = (__u64)sk;
	nc.ino = ino ? ino : (__u32)BPF_CORE_READ(f, f_inode, i_ino);
	nc.gen = __sync_fetch_and_add(&gen_counter, 1) + 1;
	nc.proto = l.proto;
	if (filter_ports && !port_wanted(l.port) && !(r.family && port_wanted(r.port)))
		nc.ignored = 1;
	bpf_map_update_elem(&conns, &k, &nc, BPF_ANY);
	struct conn *c = bpf_map_lookup_elem(&conns, &k);
	if (!c || c->ignored)
		return c;
	c->announced = emit_proc(id, 0);
	if (nc.proto == IPPROTO_TCP)
		tcp_track((__u64)sk, k.tgid, fd, nc.gen); /* hooks_tcp.h */
	void *rb = cpu_ring();
	struct fr_ev_open *e = NULL;
	if (rb)
		e = bpf_ringbuf_reserve(rb, sizeof(*e), 0);
	if (!e) {
		count_loss(0);
		return c;
	}
	fill_hdr(&e->h, FR_EV_OPEN, id);
	if (open_ts)
		e->h.ts = open_ts;
	e->fd = fd;
	e->gen = nc.gen;
	e->role = role;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	e->local = l;
	e->remote = r;
	bpf_ringbuf_submit(e, rb_flags(rb, sizeof(*e) + 8, 0));
	return c;
}

/* The connection of (tgid, fd): the known one when fd still holds the
 * same open file f, or a new generation announced by an OPEN event (role 0
 * when first seen mid-way).  *skp: its socket (found from f when new;
 * NULL: f is no TCP/UDP socket, and the result is NULL).  force_new: 1
 * always a new generation, 2 unless the same TCP socket. */
static __always_inline struct conn *get_conn(__u64 id, __u32 fd, struct file *f, struct sock **skp,
					     __u8 role, int force_new)
{
	struct conn_key k = {.tgid = id >> 32, .fd = fd};
	struct conn *c = bpf_map_lookup_elem(&conns, &k);
	__u32 ino = 0;
	if (c && c->file == (__u64)f) {
		if (!force_new) {
			*skp = (struct sock *)c->sk;
			return c;
		}
		/* connect and accept only (rare): is it the same socket, or a
		 * new one whose struct file took the address of one closed
		 * unseen (see below)?  The inode number tells. */
		ino = (__u32)BPF_CORE_READ(f, f_inode, i_ino);
		if (c->ino == ino && force_new == 2 && c->proto == IPPROTO_TCP) {
			*skp = (struct sock *)c->sk;
			return c;
		}
		/* a UDP socket connecting anew: a new generation, the old one
		 * is not closed */
		if (c->ino != ino)
			do_close(id, fd, 0);
	} else if (c) {
		/* fd holds another open file than the one remembered: the old
		 * one was closed without a close call seen here (dup2 over it
		 * is seen, but not an io_uring close, or a close by a process
		 * sharing the fd table), and its connection ends now, before
		 * the fd's new file starts one (or none: later calls on the fd
		 * then find no entry at all). */
		do_close(id, fd, (__u64)f);
	}
	struct sock *sk = file_sock(f);
	*skp = sk;
	if (!sk)
		return NULL;
	return new_conn(id, fd, f, sk, ino, role, 0);
}

/* What one DATA event says, for fr_emit_data (a global function takes
 * at most five arguments, and pointers only to memory of a known size). */
struct data_arg {
	__u64 id;      /* bpf_get_current_pid_tgid() */
	__u64 ts;      /* when the call entered (egress), or 0 for now */
	__u64 src;     /* a buffer (niov == 0) or an iovec array of niov
			* entries; 0: count only */
	__u64 niov;
	__u64 arrival; /* sockets, ingress: when the bytes became readable */
	__u32 fd;
	__u32 bytes;   /* moved by the call */
	__u8 dir;      /* 0 egress, 1 ingress */
	__u8 sys;      /* enum fr_ev_syscall */
	__u16 flags;   /* FR_EV_TLS: TLS plaintext (hooks_tls.h); else 0 */
	struct fr_ev_addr peer; /* UDP: the peer; else zero */
	__u32 lib;     /* FR_EV_TLS: the library's index (the event's pad) */
	__u32 pad;
};

static __always_inline void data_hdr(struct fr_ev_data *d, const struct data_arg *a, const struct conn *c,
				     __u64 pos, __u32 cap)
{
	d->h.type = FR_EV_DATA;
	d->h.version = FR_ABI_VERSION;
	d->h.ts = a->ts ? a->ts : bpf_ktime_get_ns(); /* the entry time of a send: no second clock read */
	d->h.pid = a->id >> 32;
	d->h.tid = (__u32)a->id;
	d->fd = a->fd;
	d->gen = c->gen;
	d->dir = a->dir;
	d->syscall = a->sys;
	d->flags = (cap < a->bytes ? FR_EV_TRUNCATED : 0) | (c->proto == IPPROTO_UDP ? FR_EV_NO_POS : 0) |
		   (a->flags & FR_EV_TLS);
	d->orig_len = a->bytes;
	d->stream_pos = pos;
	d->peer = a->peer;
	d->cap_len = cap;
	d->pad = a->lib;
	d->arrival = a->arrival;
}

/* Copies up to want bytes of an iovec array into dst, a region of 2 * C
 * bytes (each copy's offset is below C and its length at most C: the
 * verifier adds the two bounds); returns the count. */
static __always_inline __u32 copy_iov(__u8 *dst, const struct iovec *iov, __u64 cnt, __u32 want,
				      const __u32 C)
{
	__u32 off = 0;
	for (int i = 0; i < FR_EV_MAX_IOV; i++) {
		if (i >= cnt || off >= want)
			break;
		struct iovec v;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		__u64 n = v.iov_len;
		if (n > want - off)
			n = want - off;
		__u32 o = off & (C - 1); /* off < want <= C */
		__u32 m = (__u32)n;
		barrier_var(m);
		if (m > C)
			m = C;
		if (bpf_probe_read_user(dst + o, m, v.iov_base))
			break;
		off += m;
	}
	return off;
}

/* The DATA event of c whose payload (want bytes at most) fits in C bytes,
 * reserved in the ring buffer in one of a few sizes (a reservation's size
 * is a constant to the verifier) and filled there: the payload is read
 * from user memory once, straight into the ring.  A call with several
 * iovecs reserves 2 * C (see copy_iov); one iovec is a plain buffer.  The
 * record's unused tail costs ring space only (cap_len says what is
 * payload; the reader accepts a record longer than that).  Returns 0, or
 * -1 when the ring is full. */
static __always_inline int emit_sized(void *rb, const struct data_arg *a, const struct conn *c,
				      __u64 pos, __u32 want, const __u32 C)
{
	const void *src = (const void *)a->src;
	struct fr_ev_data *d;
	__u32 cap = 0;
	__u64 size;
	if (src && a->niov > 1) {
		size = sizeof(*d) + 2 * C;
		d = bpf_ringbuf_reserve(rb, sizeof(*d) + 2 * C, 0);
		if (!d)
			return -1;
		cap = copy_iov(d->payload, src, a->niov, want, C);
	} else {
		size = sizeof(*d) + C;
		d = bpf_ringbuf_reserve(rb, sizeof(*d) + C, 0);
		if (!d)
			return -1;
		if (src && a->niov == 1) {
			struct iovec v = {};
			bpf_probe_read_user(&v, sizeof(v), src);
			src = v.iov_base;
			if (v.iov_len < want)
				want = (__u32)v.iov_len;
		}
		/* want <= C already, but 6.1's verifier loses such bounds
		 * through a 32-bit stack spill ("R2 unbounded memory access",
		 * tests/qemu/run.sh): bound it again in the register passed */
		__u32 n = want;
		barrier_var(n);
		if (n > C)
			n = C;
		if (src && n && !bpf_probe_read_user(d->payload, n, src))
			cap = n;
	}
	data_hdr(d, a, c, pos, cap);
	bpf_ringbuf_submit(d, rb_flags(rb, size + 8, 0));
	return 0;
}

/* One DATA event of connection c, as a says (emit_sized).  (The payload
 * used to be read into a per-CPU scratch and copied with
 * bpf_ringbuf_output: two copies, and 660-745 ns per event with 1 KiB.)
 *
 * A global function: the verifier checks it once, on its own, not once
 * per call site and path of its callers as when inlined.  fr_sys_exit
 * inlined it a dozen times (each with copy_iov's loop), which was more
 * than 6.1's verifier would explore ("BPF program is too large",
 * tests/qemu/run.sh).  To the verifier its pointer arguments are memory
 * of their type's size, possibly NULL; its frame adds to the caller's
 * under the 512-byte stack limit.  Returns 0. */
static __always_inline int tls_claim(const struct data_arg *a, struct conn *c);

__noinline int fr_emit_data(struct conn *c, const struct data_arg *a)
{
	if (!c || !a)
		return 0;
	if (!(a->flags & FR_EV_TLS) && tls_claim(a, c))
		return 0; /* a TLS connection's ciphertext (hooks_tls.h) */
	if (c->ignored && !(a->peer.family && filter_ports && port_wanted(a->peer.port)))
		return 0;
	if (!c->announced)
		c->announced = emit_proc(a->id, 0);
	__u32 bytes = a->bytes;
	__u64 pos;
	if (a->dir) {
		pos = __sync_fetch_and_add(&c->pos_in, bytes);
		__sync_fetch_and_add(&c->calls_in, 1);
	} else {
		pos = __sync_fetch_and_add(&c->pos_out, bytes);
		__sync_fetch_and_add(&c->calls_out, 1);
	}
	__u32 want = bytes < snaplen ? bytes : snaplen;
	if (!a->src)
		want = 0;
	void *rb = cpu_ring();
	int err = -1;
	if (!rb)
		;
	else if (want <= 64)
		err = emit_sized(rb, a, c, pos, want, 64);
	else if (want <= 256)
		err = emit_sized(rb, a, c, pos, want, 256);
	else if (want <= 1024)
		err = emit_sized(rb, a, c, pos, want, 1024);
	else if (want <= 2048)
		err = emit_sized(rb, a, c, pos, want, 2048);
	else if (want <= 4096)
		err = emit_sized(rb, a, c, pos, want, 4096);
	else if (want <= 8192)
		err = emit_sized(rb, a, c, pos, want, 8192);
	else if (want <= 16384)
		err = emit_sized(rb, a, c, pos, want, 16384);
	else
		err = emit_sized(rb, a, c, pos, want, FR_EV_MAX_SNAP);
	if (err)
		count_loss(bytes);
	return 0;
}

static __always_inline void sk_peer(struct sock *sk, struct fr_ev_addr *a)
{
	struct fr_ev_addr l = {};
	sk_tuple(sk, &l, a);
}

/* The head of a struct user_msghdr (of a struct mmsghdr too): all the
 * hooks need of it, in less stack than the whole. */
struct msg_head {
	void *name;
	__u64 namelen;
	struct iovec *iov;
	__u64 iovlen;
};

/* Per-thread state of the hook sets (task storage). */
struct task_ctx {
	__u64 send_ts;           /* syscalls: entry time of the send in progress */
	__u64 mm_vec;            /* sockets: the mmsghdr vector of the last vectored call, */
	__u32 mm_idx;            /* the index of its next message, */
	__u32 mm_last;           /* and the byte count of its last one */
	/* TLS (hooks_tls.h): the SSL call in progress */
	__u64 ssl, ssl_buf, ssl_len, ssl_count, ssl_ts;
	__u32 ssl_lib;  /* the library's index (uprobe cookie) */
	__u8 ssl_kind;  /* TLS_CALL_* */
	__u8 ssl_depth; /* nested SSL calls */
	__u8 mb;        /* the thread gave an SSL object a memory BIO pair */
	__u8 ssl_pad;
	/* memory BIOs (hooks_tls.h): the SSL object whose next ciphertext
	 * this thread sends, and fd + 1 of the last TLS record it received */
	__u64 mb_ssl;
	__u32 mb_rx_fd;
	__u32 mb_pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctx SEC(".maps");

#include "closes.h"
#include "hooks_syscalls.h"
#include "hooks_sockets.h"
#include "hooks_tls.h"
#include "hooks_tcp.h"
