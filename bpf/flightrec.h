/* flightrec.h - the event ABI between bpf/flightrec.bpf.c and the recorder
 * (capture/).  Fixed-width fields, explicit padding; every event starts
 * with struct fr_ev_hdr.  Bump FR_ABI_VERSION on any change. */
#ifndef FLIGHTREC_BPF_ABI_H
#define FLIGHTREC_BPF_ABI_H

#define FR_ABI_VERSION 4

#define FR_EV_MAX_SNAP 65536 /* payload bytes per event, at most */
#define FR_EV_CMDLINE 256
#define FR_EV_COMM 16
#define FR_EV_EXE 64
#define FR_EV_MAX_IOV 8  /* iovecs copied per vectored call */
#define FR_EV_MAX_MMSG 8 /* messages reported per sendmmsg/recvmmsg by the system call hooks (the rest: LOSS) */

enum fr_ev_type {
	FR_EV_DATA = 1,
	FR_EV_OPEN = 2,
	FR_EV_CLOSE = 3,
	FR_EV_PROC = 4,
	FR_EV_TCP = 5,
};

/* The DATA event's syscall field.  The segment format's enum fr_syscall
 * (formats/segment.h) has the same values: capture/drain.c checks that at
 * compile time and copies the field. */
enum fr_ev_syscall {
	FR_EV_SYS_READ = 1,
	FR_EV_SYS_WRITE,
	FR_EV_SYS_READV,
	FR_EV_SYS_WRITEV,
	FR_EV_SYS_SENDTO,
	FR_EV_SYS_RECVFROM,
	FR_EV_SYS_SENDMSG,
	FR_EV_SYS_RECVMSG,
	FR_EV_SYS_SENDMMSG,
	FR_EV_SYS_RECVMMSG,
	FR_EV_SYS_SENDFILE,
};

/* The DATA event's flags (the same bits as FR_DATA_* of segment.h). */
#define FR_EV_TRUNCATED 0x1 /* cap_len < orig_len */
#define FR_EV_NO_POS 0x4    /* stream_pos unknown (UDP) */
#define FR_EV_TLS 0x8       /* TLS plaintext from SSL_read/SSL_write (syscall READ/WRITE) */
/* A TLS uprobe's cookie: the library's index in its low FR_TLS_LIB_BITS
 * bits (capture/tls.c; Go's cookie has an address above them) */
#define FR_TLS_LIB_BITS 16

struct fr_ev_hdr {
	__u32 type; /* enum fr_ev_type */
	__u32 version; /* FR_ABI_VERSION */
	__u64 ts;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 pid;  /* tgid */
	__u32 tid;
};

struct fr_ev_addr {
	__u8 family; /* 0, 4, 6 */
	__u8 proto;  /* 6, 17 */
	__u16 port;  /* host order */
	__u8 addr[16];
};

struct fr_ev_data {
	struct fr_ev_hdr h;
	__u32 fd;
	__u32 gen;
	__u8 dir; /* 0 egress, 1 ingress */
	__u8 syscall; /* enum fr_ev_syscall */
	__u16 flags; /* FR_EV_TRUNCATED, FR_EV_NO_POS */
	__u32 orig_len;
	__u64 stream_pos;
	struct fr_ev_addr peer;
	__u32 cap_len;
	__u32 pad; /* FR_EV_TLS: the TLS library's index (capture/tls.c) */
	__u64 arrival; /* ingress, sockets hooks: when the bytes became readable
			* (sock:sk_data_ready), if they waited at least
			* arrival_min_ns for the reader; else 0 */
	__u8 payload[]; /* cap_len bytes, at offset 88 == sizeof; the event
			* may be longer (the ring reservation is one of a
			* few sizes): the bytes past cap_len mean nothing */
};

struct fr_ev_open {
	struct fr_ev_hdr h;
	__u32 fd;
	__u32 gen;
	__u8 role; /* 0 unknown (seen mid-stream), 1 client, 2 server */
	__u8 pad[3];
	__u32 netns;
	struct fr_ev_addr local;
	struct fr_ev_addr remote;
};

struct fr_ev_close {
	struct fr_ev_hdr h;
	__u32 fd;
	__u32 gen;
	__u64 bytes_out, bytes_in;
	__u64 calls_out, calls_in;
};

/* TCP evidence of a recorded connection's socket (bpf/hooks_tcp.h): h.pid
 * is the connection's tgid (the event often runs in softirq), h.tid 0. */
enum fr_ev_tcp_event {
	FR_EV_TCP_RETRANSMIT = 1,
	FR_EV_TCP_RESET_SENT = 2,
	FR_EV_TCP_RESET_RECEIVED = 3,
	FR_EV_TCP_RTT = 4, /* sample at the connection's close */
};

struct fr_ev_tcp {
	struct fr_ev_hdr h;
	__u32 fd;
	__u32 gen;
	__u8 event; /* enum fr_ev_tcp_event */
	__u8 state; /* the socket's TCP state */
	__u16 segs; /* RETRANSMIT: segments sent again */
	__u32 srtt_us;
	__u32 total_retrans;
	__u32 pad;
};

#define FR_PROC_EXEC 1 /* emitted by exec, not first sight */

struct fr_ev_proc {
	struct fr_ev_hdr h;
	__u32 ppid;
	__u32 flags;
	__u64 cgroup_id;
	__u64 start_ns;
	char comm[FR_EV_COMM];
	char exe[FR_EV_EXE]; /* base name of the executable */
	__u32 cmdline_len;
	__u32 pad;
	char cmdline[FR_EV_CMDLINE];
};

/* Per-CPU loss counters (array map "losses", one entry). */
struct fr_loss_ctr {
	__u64 count;
	__u64 bytes;
	__u64 first_ns; /* first loss since loss_epoch_ns */
	__u64 last_ns;
};

#endif
