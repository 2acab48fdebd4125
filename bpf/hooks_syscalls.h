/* hooks_syscalls.h - the "syscalls" hook set of bpf/flightrec.bpf.c (which
 * includes it after its common code): the raw sys_enter and sys_exit
 * tracepoints, for kernels without the socket tracepoints of
 * hooks_sockets.h (capture/hooks.c picks the set).  Every system call of
 * the machine runs these programs; they return at once for all but the
 * socket calls. */

/* The messages of a sendmmsg/recvmmsg that moved nmsg of them: a DATA
 * event each (a: the call's, src the mmsghdr array; changed here), for
 * the first FR_EV_MAX_MMSG; the others are counted as lost (a LOSS record,
 * their bytes unknown: 0).  A bpf_loop over all of them would add a frame
 * between fr_sys_exit's and fr_emit_data's, past the 512-byte stack.  The
 * socket hook set sees each message on its own (hooks_sockets.h). */
static __always_inline void do_mmsg(struct data_arg *a, struct conn *c, struct sock *sk, __u32 nmsg)
{
	struct mmsghdr *v = (struct mmsghdr *)a->src;
	for (int i = 0; i < FR_EV_MAX_MMSG; i++) {
		if (i >= nmsg)
			break;
		struct msg_head m;
		__u32 len = 0;
		if (bpf_probe_read_user(&m, sizeof(m), &v[i].msg_hdr) ||
		    bpf_probe_read_user(&len, sizeof(len), &v[i].msg_len))
			break;
		__builtin_memset(&a->peer, 0, sizeof(a->peer));
		if (c->proto == IPPROTO_UDP) {
			if (m.name)
				user_addr(&a->peer, m.name, IPPROTO_UDP);
			else
				sk_peer(sk, &a->peer);
		}
		a->bytes = len;
		a->src = (__u64)m.iov;
		a->niov = m.iovlen;
		fr_emit_data(c, a);
	}
	if (nmsg > FR_EV_MAX_MMSG)
		count_losses(nmsg - FR_EV_MAX_MMSG, 0);
}

/* Entry time of the calls that send: a DATA egress event carries the time
 * the process handed the bytes over, not the time the call returned.  On
 * loopback and veth the receiver can read the bytes before the sender's
 * call returns; with exit times a client's request could seem to start
 * after the server read it, and the network's share of a latency would come
 * out negative.  This program runs at every syscall entry and returns at
 * once for all but the sending calls. */
SEC("tp_btf/sys_enter")
int BPF_PROG(fr_sys_enter, struct pt_regs *regs, long nr)
{
	switch (nr) {
	case NR_write: case NR_writev: case NR_sendto: case NR_sendmsg: case NR_sendmmsg:
	case NR_sendfile:
		break;
	default:
		return 0;
	}
	struct task_ctx *t = bpf_task_storage_get(&task_ctx, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (t)
		t->send_ts = bpf_ktime_get_ns();
	return 0;
}

/* The calls of fr_sys_exit that change the fd table or make a connection
 * (close, dup2/dup3, close_range, accept, connect): what they do to the
 * connections.  1 when nr is one of them. */
static __always_inline int sys_fd_call(__u64 id, struct pt_regs *regs, long nr, long ret)
{
	__u32 fd = (__u32)regs->di;
	struct sock *sk = NULL;
	switch (nr) {
	case NR_close:
		do_close(id, fd, 0);
		return 1;
	case NR_dup2:
	case NR_dup3: {
		/* the kernel closed newfd's file, if newfd was open and not
		 * oldfd's file already (dup2(fd, fd), or a dup of the same
		 * socket: the connection goes on) */
		__u32 nfd = (__u32)ret;
		do_close(id, nfd, (__u64)fd_file(nfd));
		return 1;
	}
	case NR_close_range:
		/* the fds are closed by now; CLOEXEC only marks them */
		if (!(regs->dx & CLOSE_RANGE_CLOEXEC))
			scan_close(id, (__u32)regs->di, (__u32)regs->si, SCAN_ALL);
		return 1;
	case NR_accept:
	case NR_accept4:
		if (ret >= 0)
			get_conn(id, (__u32)ret, fd_file((__u32)ret), &sk, 2, 1);
		return 1;
	case NR_connect: {
		struct file *f = fd_file(fd);
		if (f && (ret == 0 || ret == -EINPROGRESS))
			/* 2: a TCP socket's second connect (non-blocking: the
			 * one that finds it connected) is the same connection;
			 * a UDP socket connects anew to each peer */
			get_conn(id, fd, f, &sk, 1, 2);
		return 1;
	}
	}
	return 0;
}

/* The rest of a data call's DATA event, from its arguments: the syscall,
 * the peer of a UDP socket, the iovecs.  1 to emit it, 0 when done
 * (sendmmsg/recvmmsg emit their own) or nothing to emit. */
static __always_inline int sys_data(struct data_arg *a, struct conn *c, struct sock *sk,
				    struct pt_regs *regs, long nr)
{
	int udp = c->proto == IPPROTO_UDP;
	switch (nr) {
	case NR_read:
	case NR_write:
		a->sys = a->dir ? FR_EV_SYS_READ : FR_EV_SYS_WRITE;
		if (udp)
			sk_peer(sk, &a->peer);
		return 1;
	case NR_readv:
	case NR_writev:
		a->sys = a->dir ? FR_EV_SYS_READV : FR_EV_SYS_WRITEV;
		a->niov = regs->dx;
		if (udp)
			sk_peer(sk, &a->peer);
		return 1;
	case NR_sendto:
	case NR_recvfrom:
		a->sys = a->dir ? FR_EV_SYS_RECVFROM : FR_EV_SYS_SENDTO;
		if (udp) {
			if (regs->r8)
				user_addr(&a->peer, (const void *)regs->r8, IPPROTO_UDP);
			else
				sk_peer(sk, &a->peer);
		}
		return 1;
	case NR_sendmsg:
	case NR_recvmsg: {
		struct msg_head m;
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)a->src))
			return 0;
		a->sys = a->dir ? FR_EV_SYS_RECVMSG : FR_EV_SYS_SENDMSG;
		if (udp) {
			if (m.name)
				user_addr(&a->peer, m.name, IPPROTO_UDP);
			else
				sk_peer(sk, &a->peer);
		}
		a->src = (__u64)m.iov;
		a->niov = m.iovlen;
		return 1;
	}
	case NR_sendmmsg:
	case NR_recvmmsg:
		a->sys = a->dir ? FR_EV_SYS_RECVMMSG : FR_EV_SYS_SENDMMSG;
		do_mmsg(a, c, sk, a->bytes);
		return 0;
	case NR_sendfile:
		a->sys = FR_EV_SYS_SENDFILE;
		a->src = 0; /* the bytes come from a file: counted only */
		return 1;
	}
	return 0;
}

/* One program, at the exit of every system call: the kernel has filled
 * the buffers and says how many bytes moved.  The call's arguments are
 * still in pt_regs (x86_64 keeps the caller's argument registers there):
 * fd in di, the buffer (iovec array, msghdr, mmsghdr array) in si, the
 * length or count in dx, recvfrom's flags in r10 and its sockaddr in r8. */
SEC("tp_btf/sys_exit")
int BPF_PROG(fr_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	switch (nr) {
	case NR_read: case NR_write: case NR_readv: case NR_writev: case NR_sendfile:
	case NR_connect: case NR_accept: case NR_sendto: case NR_recvfrom:
	case NR_sendmsg: case NR_recvmsg: case NR_accept4: case NR_recvmmsg:
	case NR_sendmmsg: case NR_close: case NR_close_range: case NR_dup2: case NR_dup3:
		break;
	default:
		return 0;
	}
	if (ret < 0 && !(nr == NR_connect && ret == -EINPROGRESS))
		return 0; /* failed calls (EAGAIN, ...) move nothing */
	if (ret == 0 && nr != NR_connect && nr != NR_close && nr != NR_close_range && nr != NR_accept &&
	    nr != NR_accept4 && nr != NR_dup2 && nr != NR_dup3)
		return 0; /* end of stream, or nothing sent */
	__u64 id = bpf_get_current_pid_tgid();
	if (!tgid_ok(id >> 32))
		return 0;
	if (sys_fd_call(id, regs, nr, ret))
		return 0;
	__u32 fd = (__u32)regs->di;
	__u32 flags = nr == NR_recvfrom ? (__u32)regs->r10 : nr == NR_recvmsg ? (__u32)regs->dx : 0;
	struct file *f = fd_file(fd);
	if (!f)
		return 0;
	if (ret <= 0 || (flags & MSG_PEEK)) /* a peek is read again later */
		return 0;
	struct sock *sk = NULL;
	struct conn *c = get_conn(id, fd, f, &sk, 0, 0);
	if (!c || !sk)
		return 0;
	struct data_arg a = {.id = id, .src = regs->si, .fd = fd, .bytes = (__u32)ret, .dir = 1};
	switch (nr) {
	case NR_write: case NR_writev: case NR_sendto: case NR_sendmsg: case NR_sendmmsg:
	case NR_sendfile: {
		a.dir = 0;
		struct task_ctx *t = bpf_task_storage_get(&task_ctx, bpf_get_current_task_btf(), 0, 0);
		if (t)
			a.ts = t->send_ts;
	}
	}
	if (sys_data(&a, c, sk, regs, nr))
		fr_emit_data(c, &a);
	return 0;
}
