/* hooks_sockets.h - the "sockets" hook set of bpf/flightrec.bpf.c (which
 * includes it last): the same events as the system call set, from hooks
 * that run only where sockets move bytes, so that the other system calls
 * of every process do not pay for the recorder (with the raw sys_enter and
 * sys_exit tracepoints attached, every system call of the machine takes
 * the kernel's slow path and runs a BPF program).
 *
 *   tp_btf/sock_send_length, sock_recv_length   a socket moved bytes: the
 *       socket and the byte count; the fd and the buffers are the system
 *       call's arguments, from the task's user registers (bpf_task_pt_regs)
 *   tp_btf/tcp_sendmsg_locked   when a TCP send started (egress times)
 *   cgroup/recvmsg4, recvmsg6 (root cgroup)   the sender of a datagram (the
 *       user's copy of the address is written only after the socket hook)
 *   tp_btf/sk_data_ready (6.10+, optional)   when ingress bytes became
 *       readable, for reads that came later (ARRIVAL records)
 *   tp_btf/inet_sock_set_state   connect (client) and accepted (server)
 *       TCP sockets: the role and the time of the connection's OPEN; and
 *       tcp_close: the socket's file is gone (close(2), dup2 over it,
 *       close_range, exec, exit, a process sharing the fd table); an
 *       abortive close or a socket reset before it ends at
 *       tcp:tcp_destroy_sock (hooks_tcp.h)
 *
 * Only tracepoints: this kernel (and others built the same way) refuses
 * fentry programs with EPERM.
 *
 * The loader (capture/hooks.c) picks this set when the kernel's BTF has
 * every one of these (Linux 6.12+: tcp_sendmsg_locked), else the system
 * call set.  A connection
 * is (tgid, fd) as there, and is known on each event by its socket: the
 * hook's sk against the one remembered, with no look into the fd table.
 * Calls the registers do not describe (io_uring, kernel threads) are not
 * recorded. */

/* The kernel has sock:sk_data_ready (6.10+): ingress arrival times. */
const volatile __u8 has_data_ready = 0;

#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3

/* A TCP socket's role and open time, from its state changes, until its
 * first use claims them.  The client's is claimed only by the process
 * that connected (a forked child's first use is mid-stream, as with the
 * system call set); the server's by the first process to use it (the
 * change happens in softirq, not in the acceptor). */
struct sk_open {
	__u64 ts;
	__u32 tgid;
	__u8 role;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sk_open);
} sk_opens SEC(".maps");

/* What the recorder keeps per socket it records (made when a TCP
 * connection starts, or with its first recorded connection): the hooks
 * that run for every socket find none for the others at the cost of one
 * failed lookup.
 *
 * Arrival of ingress bytes (issue 12): when the bytes a read returns
 * became readable.  sk_data_ready runs as data is queued on a socket
 * (softirq: often in the sender's task).  first: the arrival of the oldest
 * unread bytes (0: none waiting); last: of the newest.  A read takes
 * first; what it leaves queued arrived by last.
 *
 * send_ts: when the TCP send in progress started (tcp_sendmsg_locked),
 * taken and cleared by the socket hook at the end of the call.
 *
 * skip: the last process to move bytes on the socket is one the filters
 * leave out (a server's socket has its storage before any process uses
 * it): no clock is read for it until a wanted process uses it again. */
struct sk_ctx {
	__u64 first, last;
	__u64 send_ts;
	__u32 skip;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sk_ctx);
} sk_ctx SEC(".maps");

/* Reads whose bytes waited less than this are not marked.  A blocked
 * reader's wake-up takes some microseconds, and on a loaded machine most
 * reads wait 50 us or more: at 50 us the ARRIVAL records took the
 * recording from 0.36x to 1.19x the size of the zstd pcap (12-byte HTTP
 * bodies, tests/bench/record-overhead).  A wait of a millisecond is one a
 * latency breakdown cares about. */
const volatile __u64 arrival_min_ns = 1000000;

/* The time ingress bytes of a TCP socket became readable: the socket's
 * own clock, refreshed as the kernel started processing the segment that
 * brought them (tcp_rcv_established, tcp_rcv_state_process: tcp_mstamp,
 * in microseconds of the clock bpf_ktime_get_ns reads), rounded up so
 * that it never comes before the sender's start; saves a clock read,
 * which costs more than the rest of the program on a virtual machine
 * (kvm-clock). */
static __always_inline __u64 tcp_rcv_time(const struct sock *sk)
{
	/* a direct load through the helper's typed pointer: BPF_CORE_READ's
	 * bpf_probe_read_kernel cost as much as the clock */
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	return tp ? tp->tcp_mstamp * 1000 + 999 : bpf_ktime_get_ns();
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(fr_data_ready, const struct sock *sk)
{
	struct sk_ctx *a = bpf_sk_storage_get(&sk_ctx, (struct sock *)sk, 0, 0);
	if (!a || a->skip)
		return 0;
	__u64 now = sk->sk_protocol == IPPROTO_TCP ? tcp_rcv_time(sk) : bpf_ktime_get_ns();
	if (!a->first)
		a->first = now;
	a->last = now;
	return 0;
}

/* A wanted process uses the socket: if it was skipped, arrivals are taken
 * again from now on, and those seen before are stale.  1 if it was. */
static __always_inline int sk_unskip(struct sk_ctx *a)
{
	if (!a->skip)
		return 0;
	a->skip = 0;
	a->first = 0;
	return 1;
}

/* The arrival time of the bytes a read of sk just returned (at now), if
 * they waited at least arrival_min_ns, else 0. */
static __always_inline __u64 read_arrival(struct sock *sk, __u64 now)
{
	struct sk_ctx *a = bpf_sk_storage_get(&sk_ctx, sk, 0, 0);
	if (!a || sk_unskip(a) || !a->first)
		return 0;
	__u64 first = a->first;
	a->first = sk->sk_backlog.rmem_alloc.counter ? a->last : 0;
	return now - first >= arrival_min_ns ? first : 0;
}

/* The connections (tgid, fd) each socket is recorded as, for its close:
 * a socket shared by processes (fork, fd passing) is a connection of each
 * that used it, and all of them end when its file is released.  The
 * SK_USERS most recent users are kept. */
#define SK_USERS 4
struct sk_users {
	struct conn_key k[SK_USERS];
	__u32 next;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sk_users);
} sk_conns SEC(".maps");

/* The sender of a datagram being received, for the socket hook that ends
 * the same call: the user's copy of the address is written only after
 * that hook, and the copy of a datagram to user space has no tracepoint.
 * The cgroup recvmsg hooks (attached at the root cgroup) run in
 * udp_recvmsg once the address is known, for calls that ask for it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct fr_ev_addr);
} dgram_peer SEC(".maps");

/* A TCP socket closed by its process: tcp_close marks both directions
 * shut before it moves the state on (FIN_WAIT1, LAST_ACK, or CLOSE when
 * it aborts); shutdown(2) of the sending side alone leaves one unmarked.
 * This runs in the task that released the socket's file: close(2), dup2
 * over it, close_range, exec, exit, or a process sharing the fd table.
 * (A UDP socket has no such hook: its connection ends when the fd is used
 * for another socket or the process exits.) */
#define SHUTDOWN_MASK 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9

static __always_inline void sk_closed(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	bpf_map_delete_elem(&sk_opens, &key);
	struct sk_users *u = bpf_map_lookup_elem(&sk_conns, &key);
	if (!u)
		return;
	struct sk_users cu = *u;
	bpf_map_delete_elem(&sk_conns, &key);
	for (int i = 0; i < SK_USERS; i++) {
		struct conn_key ck = cu.k[i];
		if (!ck.tgid)
			continue;
		struct conn *c = bpf_map_lookup_elem(&conns, &ck);
		if (!c || c->sk != key)
			continue;
		__u64 id = (__u64)ck.tgid << 32 | (__u32)bpf_get_current_pid_tgid();
		do_close(id, ck.fd, 0);
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(fr_sk_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct sk_open o = {};
	if (newstate == TCP_SYN_SENT) {
		o.tgid = bpf_get_current_pid_tgid() >> 32;
		if (!tgid_ok(o.tgid)) /* in the connecting process: filters apply */
			return 0;
		o.role = 1;
	} else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		o.role = 2;
	} else {
		/* an abort (newstate TCP_CLOSE) ends the connection when the
		 * socket is destroyed (fr_tcp_destroy, hooks_tcp.h), after the
		 * reset it sends: its TCP record comes before the CLOSE */
		if ((newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) &&
		    sk->sk_shutdown == SHUTDOWN_MASK)
			sk_closed(sk);
		return 0;
	}
	o.ts = bpf_ktime_get_ns();
	__u64 key = (__u64)sk;
	bpf_map_update_elem(&sk_opens, &key, &o, BPF_ANY);
	/* before the first send: its start time goes there */
	bpf_sk_storage_get(&sk_ctx, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	return 0;
}

/* The connection of (tgid, fd) on sk: the known one if it is on sk, else
 * a new generation (the old one, on another socket, ends first). */
static __always_inline struct conn *sk_get_conn(__u64 id, __u32 fd, struct sock *sk)
{
	struct conn_key k = {.tgid = id >> 32, .fd = fd};
	struct conn *c = bpf_map_lookup_elem(&conns, &k);
	if (c && c->sk == (__u64)sk)
		return c;
	if (c)
		do_close(id, fd, 0);
	struct socket *so = sk->sk_socket;
	if (!so)
		return NULL;
	struct file *f = so->file;
	if (!f)
		return NULL;
	__u64 key = (__u64)sk;
	__u8 role = 0;
	__u64 ts = 0;
	struct sk_open *o = bpf_map_lookup_elem(&sk_opens, &key);
	if (o) {
		if (o->role == 2 || o->tgid == k.tgid) {
			role = o->role;
			ts = o->ts;
		}
		bpf_map_delete_elem(&sk_opens, &key);
	}
	struct sk_users *u = bpf_map_lookup_elem(&sk_conns, &key);
	if (u) {
		u->k[u->next % SK_USERS] = k;
		u->next++;
	} else {
		struct sk_users nu = {.next = 1};
		nu.k[0] = k;
		bpf_map_update_elem(&sk_conns, &key, &nu, BPF_ANY);
	}
	bpf_sk_storage_get(&sk_ctx, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	return new_conn(id, fd, f, sk, 0, role, ts);
}

/* The data call the task's registers describe, as an fr_ev_syscall, if
 * its direction agrees with the hook's (dir 0 sent, 1 received: a read on
 * a socket receives); else 0. */
static __always_inline __u8 sock_sys(long nr, __u8 dir)
{
	__u8 sys;
	switch (nr) {
	case NR_read: sys = FR_EV_SYS_READ; break;
	case NR_write: sys = FR_EV_SYS_WRITE; break;
	case NR_readv: sys = FR_EV_SYS_READV; break;
	case NR_writev: sys = FR_EV_SYS_WRITEV; break;
	case NR_sendto: sys = FR_EV_SYS_SENDTO; break;
	case NR_recvfrom: sys = FR_EV_SYS_RECVFROM; break;
	case NR_sendmsg: sys = FR_EV_SYS_SENDMSG; break;
	case NR_recvmsg: sys = FR_EV_SYS_RECVMSG; break;
	case NR_sendmmsg: sys = FR_EV_SYS_SENDMMSG; break;
	case NR_recvmmsg: sys = FR_EV_SYS_RECVMMSG; break;
	case NR_sendfile: sys = FR_EV_SYS_SENDFILE; break;
	default:
		return 0;
	}
	int sends = sys == FR_EV_SYS_WRITE || sys == FR_EV_SYS_WRITEV || sys == FR_EV_SYS_SENDTO ||
		    sys == FR_EV_SYS_SENDMSG || sys == FR_EV_SYS_SENDMMSG || sys == FR_EV_SYS_SENDFILE;
	return (dir == 0) == sends ? sys : 0;
}

/* The message of a sendmmsg/recvmmsg call (vector v of vlen) that n bytes
 * just moved, read into m.  The hooks see the messages one by one, in
 * order, with no sign of where a call starts: message i follows when the
 * kernel has just written message i-1's length (the count of the event
 * before) into the same vector.  A stale entry of an earlier call with
 * that same length misleads it.  0, or -1. */
static __always_inline int mmsg_head(struct task_struct *task, const struct mmsghdr *v, __u64 vlen,
				     int n, struct msg_head *m)
{
	__u32 i = 0;
	struct task_ctx *t = bpf_task_storage_get(&task_ctx, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t)
		return -1;
	if (t->mm_vec == (__u64)v && t->mm_idx > 0 && t->mm_idx < (__u32)vlen && t->mm_idx < 1024) {
		__u32 prev = ~0u;
		bpf_probe_read_user(&prev, sizeof(prev), &v[t->mm_idx - 1].msg_len);
		if (prev == t->mm_last)
			i = t->mm_idx;
	}
	t->mm_vec = (__u64)v;
	t->mm_idx = i + 1;
	t->mm_last = (__u32)n;
	return bpf_probe_read_user(m, sizeof(*m), &v[i & 1023]) ? -1 : 0;
}

/* A socket moved n bytes (dir 0 sent, 1 received), cheapest tests first:
 * the count, the socket's kind, the process, the system call.  sc: the
 * socket's storage if the caller has it (a send), else NULL. */
static __always_inline void sock_data(struct sock *sk, int n, int flags, __u8 dir, __u64 ts,
				      struct sk_ctx *sc)
{
	if (n <= 0 || (dir && (flags & MSG_PEEK)))
		return;
	__u16 fam = sk->__sk_common.skc_family;
	if (fam != AF_INET && fam != AF_INET6)
		return;
	__u16 proto = sk->sk_protocol;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	if (!tgid_ok(id >> 32)) {
		if (sc)
			sc->skip = 1;
		return;
	}
	if (sc)
		sk_unskip(sc);
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->flags & (PF_KTHREAD | PF_IO_WORKER))
		return;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return;
	__u8 sys = sock_sys(regs->orig_ax, dir);
	if (!sys)
		return;
	__u32 fd = (__u32)regs->di;
	struct conn *c = sk_get_conn(id, fd, sk);
	if (!c)
		return;
	struct data_arg a = {.id = id, .ts = ts, .src = regs->si, .fd = fd, .bytes = (__u32)n,
			     .dir = dir, .sys = sys};
	int udp = proto == IPPROTO_UDP;
	if (udp && dir) {
		__u32 tid = (__u32)id;
		struct fr_ev_addr *p = bpf_map_lookup_elem(&dgram_peer, &tid);
		if (p) {
			a.peer = *p;
			bpf_map_delete_elem(&dgram_peer, &tid);
		}
	}
	const void *buf = (const void *)regs->si;
	struct msg_head m;
	switch (sys) {
	case FR_EV_SYS_READV:
	case FR_EV_SYS_WRITEV:
		a.niov = regs->dx;
		break;
	case FR_EV_SYS_SENDTO:
		if (udp && regs->r8)
			user_addr(&a.peer, (const void *)regs->r8, IPPROTO_UDP);
		break;
	case FR_EV_SYS_SENDMSG:
	case FR_EV_SYS_RECVMSG:
	case FR_EV_SYS_SENDMMSG:
	case FR_EV_SYS_RECVMMSG:
		if (sys == FR_EV_SYS_SENDMSG || sys == FR_EV_SYS_RECVMSG ?
			    bpf_probe_read_user(&m, sizeof(m), buf) :
			    mmsg_head(task, buf, regs->dx, n, &m))
			return;
		if (udp && !dir && m.name)
			user_addr(&a.peer, m.name, IPPROTO_UDP);
		a.src = (__u64)m.iov;
		a.niov = m.iovlen;
		break;
	case FR_EV_SYS_SENDFILE:
		a.src = 0; /* the bytes come from a file: counted only */
		break;
	}
	if (udp && !a.peer.family)
		sk_peer(sk, &a.peer);
	if (dir && has_data_ready) {
		a.ts = bpf_ktime_get_ns(); /* the event's time too: one clock read */
		a.arrival = read_arrival(sk, a.ts);
	}
	fr_emit_data(c, &a);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(fr_sock_send, struct sock *sk, int ret, int flags)
{
	/* the start time of the send, if tcp_sendmsg_locked saw it (taken
	 * and cleared first: a failed send leaves none for the next one) */
	__u64 ts = 0;
	struct sk_ctx *a = NULL;
	if (sk->sk_protocol == IPPROTO_TCP) {
		a = bpf_sk_storage_get(&sk_ctx, sk, 0, 0);
		if (a) {
			ts = a->send_ts;
			a->send_ts = 0;
		}
	}
	sock_data(sk, ret, flags, 0, ts, a);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(fr_sock_recv, struct sock *sk, int ret, int flags)
{
	sock_data(sk, ret, flags, 1, 0, NULL);
	return 0;
}

/* Egress events carry the time the send started (see fr_sys_enter): a
 * TCP send's first pass in tcp_sendmsg_locked, before any segment left
 * (the kernel refuses fentry/kprobes here; tracepoints are what there
 * is).  A UDP send, with no such hook, carries the time it returned.  The
 * socket hook at the end of the call takes the time and clears it. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(fr_send_start, const struct sock *sk)
{
	struct sk_ctx *a = bpf_sk_storage_get(&sk_ctx, (struct sock *)sk, 0, 0);
	if (a && !a->send_ts && !a->skip)
		a->send_ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int dgram_from(struct bpf_sock_addr *ctx, __u8 v6)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fr_ev_addr a = {};
	if (v6) {
		__u32 w[4];
		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
		set_v6(&a, (const __u8 *)w);
	} else {
		__u32 ip = ctx->user_ip4;
		a.family = 4;
		__builtin_memcpy(a.addr, &ip, 4);
	}
	a.port = bpf_ntohs((__u16)ctx->user_port);
	a.proto = IPPROTO_UDP;
	bpf_map_update_elem(&dgram_peer, &tid, &a, BPF_ANY);
	return 1;
}

SEC("cgroup/recvmsg4")
int fr_dgram_peer4(struct bpf_sock_addr *ctx)
{
	return dgram_from(ctx, 0);
}

SEC("cgroup/recvmsg6")
int fr_dgram_peer6(struct bpf_sock_addr *ctx)
{
	return dgram_from(ctx, 1);
}
