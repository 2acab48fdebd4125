/* segment.h - the flightrec segment format: records, writer, reader.
 *
 * The segment_*.c files of this folder are the only code that knows the
 * byte layout (segment_internal.h says which file does what);
 * formats/SEGMENT.md specifies it.  Everything else works on the decoded
 * structures below.
 *
 * Ownership: every struct fr_span handed out by the reader points into the
 * reader's current block buffer and stays valid until the next call to
 * fr_reader_next() (or fr_reader_free()).  Spans passed to the writer are
 * copied (encoded) before fr_writer_add() returns.
 */
#ifndef FLIGHTREC_SEGMENT_H
#define FLIGHTREC_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define FR_FORMAT_VERSION 3        /* major: a reader refuses a larger one */
#define FR_FORMAT_MINOR 0          /* minor: additions a reader of the same major can skip */
#define FR_SEGMENT_SUFFIX ".frs"

#define FR_MAX_SNAPLEN (64u * 1024)
#define FR_MAX_RECORD (16u * 1024 * 1024)   /* one encoded record, any kind */
#define FR_MAX_BLOCK_RAW (64u * 1024 * 1024) /* one block, decompressed */

/* A (pointer, length) view of bytes owned by someone else. */
struct fr_span {
	const uint8_t *p;
	uint32_t len;
};

enum fr_kind {
	FR_DATA = 1,
	FR_CONN_OPEN = 2,
	FR_CONN_CLOSE = 3,
	FR_PROCESS = 4,
	FR_POD = 5,
	FR_SERVICE = 6,
	FR_LOSS = 7,
	FR_MARK = 8,
	FR_CONN_STATE = 9, /* 2.1 */
	FR_CONN_HEAD = 10, /* 2.1 */
	FR_ARRIVAL = 11,   /* 2.2 */
	FR_CONN_TLS = 12,  /* 2.3 */
	FR_CONN_TCP = 13,  /* 2.4 */
	FR_KIND_MAX = 13,
};

const char *fr_kind_name(unsigned kind); /* "DATA", ...; "UNKNOWN" */

enum fr_dir { FR_EGRESS = 0, FR_INGRESS = 1 };
enum fr_role { FR_ROLE_UNKNOWN = 0, FR_ROLE_CLIENT = 1, FR_ROLE_SERVER = 2 };

/* Syscall that produced a DATA record (informational). */
enum fr_syscall {
	FR_SYS_UNKNOWN = 0, FR_SYS_READ, FR_SYS_WRITE, FR_SYS_READV, FR_SYS_WRITEV,
	FR_SYS_SENDTO, FR_SYS_RECVFROM, FR_SYS_SENDMSG, FR_SYS_RECVMSG,
	FR_SYS_SENDMMSG, FR_SYS_RECVMMSG, FR_SYS_SENDFILE, FR_SYS_SSL_WRITE,
	FR_SYS_SSL_READ, FR_SYS_PCAP, FR_SYS_MAX
};
const char *fr_syscall_name(unsigned sys);

/* DATA flags */
#define FR_DATA_TRUNCATED 0x1u /* cap_len < orig_len (snap length) */
#define FR_DATA_REDACTED 0x2u  /* the recorder overwrote secrets in payload */
#define FR_DATA_NO_POS 0x4u    /* stream_pos unknown (e.g. UDP) */
#define FR_DATA_TLS 0x8u       /* TLS plaintext (SSL_read/SSL_write), not socket bytes (2.3) */

/* An endpoint: family 0 (none), 4 or 6; addr holds 4 or 16 bytes, network
 * order; port in host order. */
struct fr_addr {
	uint8_t family;
	uint8_t proto; /* 6 TCP, 17 UDP, 0 unknown */
	uint16_t port;
	uint8_t addr[16];
};

/* A connection as the kernel knows it: per node, (pid, fd, generation). */
struct fr_connkey {
	uint32_t pid;
	uint32_t fd;
	uint32_t gen;
};

struct fr_data {
	struct fr_connkey conn;
	uint32_t tid;
	uint8_t dir;     /* enum fr_dir */
	uint8_t syscall; /* enum fr_syscall */
	uint16_t flags;  /* FR_DATA_* */
	uint64_t stream_pos; /* offset of payload's first byte in this direction */
	uint32_t orig_len;   /* bytes the syscall moved */
	struct fr_addr peer; /* UDP: the datagram's peer; else family 0 */
	struct fr_span payload; /* cap_len = payload.len <= orig_len */
};

struct fr_conn_open {
	struct fr_connkey conn;
	uint32_t tid;
	uint8_t role; /* enum fr_role */
	uint8_t pad[3];
	uint32_t netns;
	struct fr_addr local;
	struct fr_addr remote;
};

struct fr_conn_close {
	struct fr_connkey conn;
	uint32_t tid;
	uint64_t bytes_out, bytes_in;
	uint64_t calls_out, calls_in;
};

struct fr_process {
	uint32_t pid, ppid;
	uint64_t cgroup_id;
	uint64_t start_ns; /* process start time, monotonic; 0 unknown */
	struct fr_span comm, exe, cmdline, cgroup_path, container_id;
	/* cmdline: arguments separated by NUL bytes */
};

#define FR_POD_MAX_IPS 8
#define FR_POD_MAX_LABELS 32
#define FR_POD_MAX_CONTAINERS 16

struct fr_kv {
	struct fr_span key, value;
};
struct fr_container {
	struct fr_span id, name, image;
};

/* Lists beyond the FR_POD_MAX_* bounds are dropped on decode, counted in
 * n_dropped. */
struct fr_pod {
	struct fr_span uid, namespace_, name, node, owner_kind, owner_name;
	uint32_t n_ips, n_labels, n_containers, n_dropped;
	struct fr_span ips[FR_POD_MAX_IPS]; /* text form, "10.1.2.3" */
	struct fr_kv labels[FR_POD_MAX_LABELS];
	struct fr_container containers[FR_POD_MAX_CONTAINERS];
};

#define FR_SVC_MAX_IPS 8
#define FR_SVC_MAX_PORTS 16
struct fr_svc_port {
	uint16_t port, target_port;
	uint8_t proto; /* 6 or 17 */
	struct fr_span name;
};
struct fr_service {
	struct fr_span namespace_, name;
	uint32_t n_ips, n_ports, n_dropped;
	struct fr_span ips[FR_SVC_MAX_IPS];
	struct fr_svc_port ports[FR_SVC_MAX_PORTS];
	struct fr_kv selector[FR_POD_MAX_LABELS];
	uint32_t n_selector;
};

enum fr_loss_reason { FR_LOSS_RINGBUF = 1, FR_LOSS_USERSPACE = 2, FR_LOSS_PCAP = 3, FR_LOSS_DISK = 4 };
struct fr_loss {
	uint32_t cpu; /* UINT32_MAX: not per CPU */
	uint32_t reason;
	uint64_t count; /* events lost */
	uint64_t bytes; /* payload bytes lost, if known */
	uint64_t first_ns, last_ns; /* the range in which they were lost */
};

/* When the bytes of an ingress DATA record (the next record of conn with
 * that stream_pos) became readable, when they waited for the reader. */
struct fr_arrival {
	struct fr_connkey conn;
	uint64_t stream_pos;
	uint64_t arrival_ns;
};

/* The TLS library whose plaintext the FR_DATA_TLS records of conn hold
 * (before the first of them in each segment). */
struct fr_conn_tls {
	struct fr_connkey conn;
	struct fr_span library; /* "OpenSSL 3.0.19 27 Jan 2026 (/usr/lib/.../libssl.so.3)" */
};

/* TCP evidence of a recorded connection's socket, from the kernel's tcp:
 * tracepoints: a retransmission, a reset sent or received, or the RTT
 * sample taken when the connection closes. */
enum fr_tcp_event {
	FR_TCP_RETRANSMIT = 1, /* segs segments were sent again */
	FR_TCP_RESET_SENT = 2,
	FR_TCP_RESET_RECEIVED = 3,
	FR_TCP_RTT = 4, /* the sample at the connection's close */
	FR_TCP_EVENT_MAX = 4,
};
const char *fr_tcp_event_name(unsigned ev); /* "retransmit", ...; "unknown" */
const char *fr_tcp_state_name(unsigned state); /* "ESTABLISHED", ...; "unknown" */

struct fr_conn_tcp {
	struct fr_connkey conn;
	uint8_t event; /* enum fr_tcp_event; a reader keeps unknown values */
	uint8_t state; /* the socket's TCP state (1 ESTABLISHED ... 12, as Linux) */
	uint16_t segs; /* RETRANSMIT: segments retransmitted; else 0 */
	uint32_t srtt_us; /* smoothed RTT then, microseconds; 0 unknown */
	uint32_t total_retrans; /* the socket's retransmitted segments so far */
};

struct fr_mark {
	struct fr_span kind; /* "trigger", "note", "start", "stop" ... */
	struct fr_span text;
	struct fr_span snapshot; /* 2.1: the snapshot a trigger or snapshot-end is about */
};

/* CONN_STATE: a connection still open when a segment starts. */
#define FR_STATE_OPEN 0x1u /* role, netns and addresses come from its CONN_OPEN */
#define FR_STATE_HEAD 0x2u /* its CONN_HEAD record follows */

struct fr_conn_state {
	struct fr_connkey conn;
	uint32_t tid;
	uint8_t role;  /* enum fr_role */
	uint8_t flags; /* FR_STATE_* */
	uint32_t netns;
	struct fr_addr local, remote;
	uint64_t pos[2];   /* per enum fr_dir: stream position reached (the next byte's) */
	uint64_t bytes[2]; /* per enum fr_dir: bytes the calls moved (orig_len), as seen */
	uint64_t calls[2]; /* per enum fr_dir: DATA records */
	uint64_t first_ns; /* its CONN_OPEN, or its first record */
	uint64_t last_ns;  /* its last record */
};

/* CONN_HEAD: the first bytes of a TCP connection, both directions, as the
 * chunks the calls moved (so the two directions replay in their order).
 * Each direction's chunks are its stream from position 0, without holes. */
enum fr_head_end {
	FR_HEAD_GROWING = 0, /* not ended: the head is the whole stream so far */
	FR_HEAD_FULL = 1,    /* the per-connection bound was reached */
	FR_HEAD_HOLE = 2,    /* the next bytes were not captured (snap length, loss) */
	FR_HEAD_DROPPED = 3, /* the recorder's memory bound: kept no further */
};

struct fr_conn_head {
	struct fr_connkey conn;
	uint8_t end[2];    /* per enum fr_dir: enum fr_head_end */
	uint32_t n_chunks;
	uint32_t len[2];   /* per enum fr_dir: head bytes, the sum of its chunks */
	struct fr_span chunks; /* n_chunks chunks as encoded (SEGMENT.md) */
};

/* One chunk of a head: len bytes of direction dir, moved by a call at ts. */
struct fr_head_chunk {
	uint64_t ts;
	uint8_t dir; /* enum fr_dir */
	struct fr_span bytes;
};

#define FR_HEAD_CHUNK_HDR 16 /* bytes of a chunk before its payload */

/* Encodes one chunk at p (FR_HEAD_CHUNK_HDR + len bytes the caller sized);
 * returns the end.  A head's chunks are these, back to back. */
uint8_t *fr_head_chunk_put(uint8_t *p, uint64_t ts, uint8_t dir, const uint8_t *b, uint32_t len);
/* The chunk at *off of h->chunks (start with *off = 0): 1 with *c filled
 * (c->bytes points into h->chunks) and *off moved past it, 0 after the last
 * chunk or at a chunk that does not fit (a decoded head has none). */
int fr_head_chunk_next(const struct fr_conn_head *h, size_t *off, struct fr_head_chunk *c);

struct fr_record {
	uint16_t kind; /* enum fr_kind; other values are skipped by the reader */
	uint16_t flags; /* reserved, 0 */
	uint64_t ts;   /* ns, kernel monotonic clock (or capture clock for pcap) */
	uint64_t seq;  /* node-local, strictly increasing per writer */
	union {
		struct fr_data data;
		struct fr_conn_open open;
		struct fr_conn_close close;
		struct fr_process proc;
		struct fr_pod pod;
		struct fr_service svc;
		struct fr_loss loss;
		struct fr_mark mark;
		struct fr_conn_state state;
		struct fr_conn_head head;
		struct fr_arrival arrival;
		struct fr_conn_tls tls;
		struct fr_conn_tcp tcp;
	} u;
};

/* ---- segment header ---------------------------------------------------- */

struct fr_header {
	uint16_t version, minor;
	char node[256];
	char boot_id[64];
	char kernel[128];
	char recorder[64];     /* recorder name and version */
	int64_t wall_offset_ns; /* wall time = ts + wall_offset_ns */
	uint64_t created_ns;    /* monotonic time the segment was opened */
	uint64_t segment_index; /* position in the recording, from 0 */
	uint32_t snaplen;
	uint32_t zstd_level;
	char filters[512];   /* capture filters, text */
	char redaction[512]; /* redaction rules in force, text; "" = none */
	char source[64];     /* "ebpf", "pcap", "synthetic" */
	char hooks[16];      /* 2.2: the recorder's kernel hooks, "sockets" or "syscalls"; "" unknown */
	uint64_t arrival_min_ns; /* 2.2: ARRIVAL records mark reads that waited this long; 0: none */
};

/* ---- writer -------------------------------------------------------------- */

enum fr_fsync { FR_FSYNC_NONE = 0, FR_FSYNC_CLOSE = 1, FR_FSYNC_BLOCK = 2 };

struct fr_writer_opts {
	int level;            /* zstd level, default 3 */
	uint32_t block_bytes; /* flush a block at this raw size, default 4 MiB */
	int fsync;            /* enum fr_fsync, default FR_FSYNC_CLOSE */
	/* 0: the current format (FR_FORMAT_VERSION, columnar blocks); 1: a
	 * version 1.0 file, for readers older than version 2 (and tests). */
	int format;
	/* 1: full blocks are compressed and written by a thread of the
	 * writer's while the caller fills the next (segment_writer.c); the
	 * calls below then report a block's failure at the next block or
	 * flush, and on_block is called from them, in the caller's thread.
	 * The thread starts at the first full block (without one, if it
	 * cannot be started). */
	int thread;
	/* With thread: a block handed over while the thread still writes the
	 * one before is compressed at zstd's fastest level (-1), so that a
	 * writer behind its caller catches up instead of holding it up (the
	 * recorder: events lost in the kernel); the file then differs from
	 * one written without. */
	int fast_behind;
	/* Called after each block reaches the file, with the file's size. */
	void (*on_block)(void *arg, uint64_t file_bytes);
	void *arg;
};

struct fr_writer;

/* Creates PATH (mode 0600, O_EXCL) and writes the header.  Returns NULL on
 * failure with a message in err and errno set (ENOSPC: the disk is full);
 * nothing is left behind. */
struct fr_writer *fr_writer_open(const char *path, const struct fr_header *h,
				 const struct fr_writer_opts *o, char *err,
				 size_t errlen);
/* Encodes one record into the current block; flushes the block when full.
 * The record's seq and ts are written as given.  Returns 0, or -errno (the
 * writer is then failed: further adds fail, close still writes what it can),
 * except -ENOSPC: the disk is full, the record is in the pending block and
 * the file ends at its last complete block, as before the flush; a later
 * flush writes the block (when there is room again), or fr_writer_drop
 * discards it. */
int fr_writer_add(struct fr_writer *w, const struct fr_record *r);
/* Adds a record of any kind with an already encoded body (for tools that
 * copy records, and for tests of readers that meet unknown kinds). */
int fr_writer_add_raw(struct fr_writer *w, uint16_t kind, uint64_t ts, uint64_t seq,
		      const void *body, uint32_t len);
/* Ends the current block (if any) and writes it.  0 or -errno (-ENOSPC:
 * the block stays pending, as fr_writer_add says). */
int fr_writer_flush(struct fr_writer *w);
/* What fr_writer_drop discarded: the pending block's records. */
struct fr_writer_pending {
	uint64_t records, bytes; /* bytes: of the records, uncompressed */
	uint64_t first_ts, last_ts;
};
/* Discards the records of the block not yet written (after -ENOSPC, when no
 * room can be made), and says what they were in *out (zero: none). */
void fr_writer_drop(struct fr_writer *w, struct fr_writer_pending *out);
/* Flushes, writes the footer index, fsyncs per policy, closes and frees.
 * Returns 0 or -errno; w is freed either way.  NULL is accepted. */
int fr_writer_close(struct fr_writer *w);
/* As fr_writer_close, but without its fsync and its close: the file is
 * handed over in *fd, for the caller to sync and close (the recorder does
 * it on another thread).  Returns 0 or -errno; w is freed either way. */
int fr_writer_close_unsynced(struct fr_writer *w, int *fd);
/* Closes the file without a footer (as if the writer died); for tests. */
void fr_writer_abandon(struct fr_writer *w);
uint64_t fr_writer_bytes(const struct fr_writer *w); /* file size so far */
uint64_t fr_writer_records(const struct fr_writer *w);
/* Blocks written at the fast level (fast_behind) so far; read it after a
 * flush. */
uint64_t fr_writer_fast_blocks(const struct fr_writer *w);

/* ---- reader -------------------------------------------------------------- */

struct fr_damage {
	uint64_t offset; /* file offset where damage starts */
	uint64_t length; /* bytes skipped */
	char what[96];
};

struct fr_block_info {
	uint64_t offset;
	uint32_t comp_len, raw_len, count;
	uint64_t first_ts, last_ts;
};

struct fr_reader;

/* Opens and checks the header.  NULL on failure (not a segment, unreadable,
 * newer major version) with a one-line reason in err. */
struct fr_reader *fr_reader_open(const char *path, char *err, size_t errlen);
void fr_reader_free(struct fr_reader *r); /* NULL accepted */
const struct fr_header *fr_reader_header(const struct fr_reader *r);
/* Restricts fr_reader_next() to blocks overlapping [from, to] (monotonic
 * ns); blocks outside are not decompressed.  Records are still returned
 * whole-block, so callers filter single records themselves. */
void fr_reader_set_range(struct fr_reader *r, uint64_t from, uint64_t to);
/* Next record: 1 and *rec filled, 0 at end of file.  Damage never stops the
 * reader: it is recorded (fr_reader_damage) and reading goes on. */
int fr_reader_next(struct fr_reader *r, struct fr_record *rec);
/* Follows a segment still being written (`flightrec watch`): from the
 * first call on, a block cut short at the end of the file is one not
 * written yet, not damage; when the file grew since it was opened or last
 * followed, fr_reader_next() goes on with the new blocks.  Returns 1 when
 * it grew, 0 when not (or when the file has a footer: it is complete). */
int fr_reader_follow(struct fr_reader *r);
/* Damage found so far (fills as reading proceeds). */
const struct fr_damage *fr_reader_damage(const struct fr_reader *r, size_t *n);
/* 1 when the file had a valid footer index. */
int fr_reader_has_footer(const struct fr_reader *r);
/* Information on the block the last record came from. */
const struct fr_block_info *fr_reader_block(const struct fr_reader *r);
/* Counters: blocks read, bytes of compressed/raw payload, records skipped
 * because their kind is unknown. */
struct fr_reader_stats {
	uint64_t blocks, comp_bytes, raw_bytes, records, unknown_kinds;
	uint64_t file_bytes;
};
const struct fr_reader_stats *fr_reader_stats(const struct fr_reader *r);

/* Decodes one record body (used by the reader, exposed for the fuzzer).
 * Returns 0, or -1 if the body is malformed for its kind. */
int fr_record_decode(uint16_t kind, const uint8_t *body, size_t len,
		     struct fr_record *rec);

/* Encodes r's body into buf (cap bytes).  Returns the body length, or -1
 * when r cannot be encoded (bad lengths) or cap is too small. */
long fr_record_encode(const struct fr_record *r, uint8_t *buf, size_t cap);

/* ---- paths --------------------------------------------------------------- */

/* Expands PATH (a segment file, a recording directory, or a snapshot
 * directory) to the sorted list of segment files in it.  Returns the count
 * (>= 0) and a malloc'd array of malloc'd strings in *out, or -1 with a
 * message in err. */
int fr_list_segments(const char *path, char ***out, char *err, size_t errlen);
void fr_free_list(char **list, int n);

/* Formats an address "1.2.3.4:80" or "[::1]:80" into buf. */
const char *fr_addr_str(const struct fr_addr *a, char *buf, size_t len);

#endif
