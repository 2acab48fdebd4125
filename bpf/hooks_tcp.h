/* hooks_tcp.h - TCP evidence of the recorded connections, for both hook
 * sets (bpf/flightrec.bpf.c includes it last): retransmissions, resets
 * sent and received, and a smoothed RTT sample at each connection's close,
 * from the kernel's tcp: tracepoints (tp_btf; fentry and kprobes are
 * refused on some kernels):
 *
 *   tcp_retransmit_skb   a packet was sent again (its segments counted)
 *   tcp_send_reset       a RST left (sk NULL: no socket, e.g. a closed port)
 *   tcp_receive_reset    a RST came in on a synchronized connection
 *   tcp_destroy_sock     the socket is gone: its entry goes; the sockets
 *                        set also ends its connections there when it was
 *                        aborted (see fr_sk_state)
 *
 * A recorded TCP socket is known by its address in tcp_socks, filled when
 * its connection starts (new_conn, both sets): an event of any other
 * socket costs one failed lookup.  Every one of these events is rare next
 * to the data path (a retransmission, a reset; destroy once per socket).
 * The entry outlives the connection's CLOSE until the socket is destroyed,
 * so that a reset of an abortive close and late retransmissions still
 * name it.  The RTT sample is taken in do_close (tcp_close_sample). */

/* The connection a TCP socket is recorded as (the latest, when several
 * processes use it). */
struct tcp_owner {
	__u32 tgid;
	__u32 fd;
	__u32 gen;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct tcp_owner);
} tcp_socks SEC(".maps");

/* Called by new_conn for a recorded TCP connection. */
static __always_inline void tcp_track(__u64 sk, __u32 tgid, __u32 fd, __u32 gen)
{
	struct tcp_owner o = {.tgid = tgid, .fd = fd, .gen = gen};
	bpf_map_update_elem(&tcp_socks, &sk, &o, BPF_ANY);
}

/* One TCP event of the connection (tgid, fd, gen) on sk. */
static __always_inline void tcp_emit(__u32 tgid, __u32 fd, __u32 gen, const struct sock *sk, __u8 ev,
				     __u16 segs)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	void *rb = cpu_ring();
	struct fr_ev_tcp *e = NULL;
	if (rb)
		e = bpf_ringbuf_reserve(rb, sizeof(*e), 0);
	if (!e) {
		count_loss(0);
		return;
	}
	e->h.type = FR_EV_TCP;
	e->h.version = FR_ABI_VERSION;
	e->h.ts = bpf_ktime_get_ns();
	e->h.pid = tgid;
	e->h.tid = 0;
	e->fd = fd;
	e->gen = gen;
	e->event = ev;
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->segs = segs;
	e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	e->pad = 0;
	bpf_ringbuf_submit(e, rb_flags(rb, sizeof(*e) + 8, 0));
}

/* An event of sk, if it is a recorded socket. */
static __always_inline void tcp_event(const struct sock *sk, __u8 ev, __u16 segs)
{
	__u64 key = (__u64)sk;
	if (!sk) /* tcp_send_reset: a reply to a packet of no socket */
		return;
	struct tcp_owner *o = bpf_map_lookup_elem(&tcp_socks, &key);
	if (!o)
		return;
	tcp_emit(o->tgid, o->fd, o->gen, sk, ev, segs);
}

/* Called by do_close for a TCP connection that was written: the RTT
 * sample (and the retransmission count) when it closes, if the socket
 * has one (an aborted connection's was cleared). */
static __always_inline void tcp_close_sample(__u64 id, __u32 fd, const struct conn *c)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)c->sk;
	if (!tp || !BPF_CORE_READ(tp, srtt_us))
		return;
	tcp_emit(id >> 32, fd, c->gen, (const struct sock *)c->sk, FR_EV_TCP_RTT, 0);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(fr_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	__u64 key = (__u64)sk;
	struct tcp_owner *o = bpf_map_lookup_elem(&tcp_socks, &key);
	if (!o)
		return 0;
	const struct tcp_skb_cb *cb = (const struct tcp_skb_cb *)&skb->cb[0];
	__u16 segs = BPF_CORE_READ(cb, tcp_gso_segs);
	tcp_emit(o->tgid, o->fd, o->gen, sk, FR_EV_TCP_RETRANSMIT, segs ? segs : 1);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(fr_tcp_send_reset, const struct sock *sk)
{
	tcp_event(sk, FR_EV_TCP_RESET_SENT, 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(fr_tcp_recv_reset, const struct sock *sk)
{
	tcp_event(sk, FR_EV_TCP_RESET_RECEIVED, 0);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(fr_tcp_destroy, const struct sock *sk)
{
	__u64 key = (__u64)sk;
	if (hooks_sockets)
		sk_closed(sk);
	bpf_map_delete_elem(&tcp_socks, &key);
	return 0;
}
