/* hooks_tls.h - TLS plaintext at the TLS library's API boundary (issue
 * 17: OpenSSL 1.1/3.x, linked dynamically or statically; Go's
 * crypto/tls), included by
 * flightrec.bpf.c after the socket code it shares (conns, fr_emit_data).
 *
 * Design:
 *   - uprobes and uretprobes on SSL_write, SSL_read, SSL_write_ex,
 *     SSL_read_ex, and SSL_do_handshake/SSL_connect/SSL_accept/SSL_peek/
 *     SSL_peek_ex (one program, "handshake": their socket calls tie the
 *     connection but give no plaintext; a peeked byte is read again by
 *     SSL_read), attached by the loader
 *     (capture/tls.c) to each distinct libssl file the traced processes
 *     map.  The uprobe cookie is the loader's index of that library.
 *   - Entry: the thread's task_ctx keeps (ssl, buf, len or the _ex count
 *     pointer, entry time, library).  Nested calls keep the outer one.
 *   - The socket code of either hook set (fr_emit_data) asks tls_claim()
 *     before it writes ciphertext: a socket call made by a thread inside an
 *     SSL call ties that SSL object to the fd (map ssl_fds) and marks the
 *     connection tls; from then on the connection's socket bytes (the
 *     ciphertext) are neither written nor counted.  SSL_do_handshake is
 *     hooked so that the handshake's own ciphertext is claimed too (curl's
 *     SSL_connect and nginx's handshake go through it): the first record
 *     of the connection after its cleartext prefix is the plaintext.
 *   - Return: ret (or *count for the _ex calls) plaintext bytes become a
 *     DATA event flagged FR_EV_TLS on the connection of the fd tied to
 *     the SSL object, with stream positions taken from the connection's
 *     pos_out/pos_in: those counters carry the cleartext bytes before TLS
 *     (a STARTTLS prefix) and the plaintext bytes after, so the analyzer
 *     reads one clean stream.  Egress carries the entry time of SSL_write.
 *   - The DATA event's pad field carries the library index (the cookie).
 *
 *   - Memory BIOs (Node.js, whose TLS runs over BIO pairs with libuv
 *     doing the socket I/O; Python's SSLObject): no socket call inside
 *     the SSL calls.  SSL_set_bio(ssl, rbio, wbio) with rbio != wbio
 *     (SSL_set_fd's socket BIO is one BIO both ways) marks the thread
 *     (task_ctx.mb), and on such a thread (mb_claim, tls_return):
 *       - a client: an SSL call on an SSL object not tied yet returns
 *         (it wrote its ClientHello into the BIO), and the thread's next
 *         socket send is a TLS record on a connection with no bytes yet:
 *         that SSL object is tied to it;
 *       - a server: a ClientHello received on a connection with no bytes
 *         yet marks it tls (not written), and the SSL call that follows
 *         on the thread (fed that record) ties its SSL object to it.
 *     Only a connection's first bytes tie, and only a TLS record: a
 *     cleartext connection of the same thread stays cleartext, and one
 *     already tied is not taken by another SSL object.
 *
 * Limits:
 *   - A memory-BIO connection open before the start is not tied (its
 *     first bytes seen are not its first).  A thread that gave an SSL
 *     object a BIO pair and also relays a ClientHello it does not
 *     terminate (a TLS pass-through proxy in the same thread) would have
 *     that connection marked tls and never tied: its bytes not written.
 *   - A statically linked OpenSSL (or BoringSSL) gets these same
 *     programs, attached to the executable by symbol (capture/tls.c).
 *   - Go's crypto/tls has programs of its own, at the end of this file.
 */

#define TLS_CALL_WRITE 1
#define TLS_CALL_READ 2
#define TLS_CALL_HANDSHAKE 3

struct ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

/* SSL object -> fd of its socket, learned inside an SSL call. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __u32);
} ssl_fds SEC(".maps");

/* (tgid, fd) -> the open file of a socket a Go tls.Conn began its
 * handshake on before the recorder knew the connection (the sockets hook
 * set makes a connection at its first bytes, and so does either set for
 * one opened before the start): its first bytes find it here. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct conn_key);
	__type(value, __u64);
} tls_pending SEC(".maps");

/* The type of the TLS record the bytes of a begin with (20-23), or 0;
 * *hs its sixth byte (a handshake record's message type: 1 ClientHello). */
static __always_inline __u8 tls_record(const struct data_arg *a, __u8 *hs)
{
	const void *src = (const void *)a->src;
	__u8 b[6] = {};
	if (!src || a->bytes < sizeof(b))
		return 0;
	if (a->niov) {
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), src) || v.iov_len < sizeof(b))
			return 0;
		src = v.iov_base;
	}
	if (bpf_probe_read_user(b, sizeof(b), src) || b[0] < 20 || b[0] > 23 || b[1] != 3 || b[2] > 4)
		return 0;
	*hs = b[5];
	return b[0];
}

/* Memory BIOs: a socket call outside SSL calls, by a thread that gave an
 * SSL object a BIO pair (t->mb).  A connection's first bytes, a TLS
 * record: sent right after an SSL call on an SSL object not tied yet
 * returned (t->mb_ssl), they tie it; a ClientHello received marks the
 * connection TLS_MARKED (a server's: the SSL call that follows on the
 * thread ties it, in tls_return).  (A connection's bytes are counted only
 * while it is not tls: calls_in and calls_out stay 0 from then on.) */
#define TLS_TIED 1
#define TLS_MARKED 2

static __always_inline void mb_claim(struct task_ctx *t, const struct data_arg *a, struct conn *c)
{
	__u8 hs = 0, rec = 0;
	int fresh = !c->tls && !c->calls_in && !c->calls_out;
	if (a->dir) {
		if (fresh || c->tls == TLS_MARKED)
			rec = tls_record(a, &hs);
		if (fresh && rec == 22 && hs == 1)
			c->tls = TLS_MARKED;
		t->mb_rx_fd = c->tls == TLS_MARKED && rec ? a->fd + 1 : 0;
	} else if (t->mb_ssl && fresh && tls_record(a, &hs)) {
		struct ssl_key k = {.tgid = a->id >> 32, .ssl = t->mb_ssl};
		__u32 fd = a->fd; /* on the stack: 6.1's verifier takes no other pointer for a value */
		bpf_map_update_elem(&ssl_fds, &k, &fd, BPF_ANY);
		c->tls = TLS_TIED;
		t->mb_ssl = 0;
	}
}

/* 1: this connection's socket bytes are not written (the plaintext is);
 * called by fr_emit_data with the connection of (tgid, fd).  The pending
 * handshakes are looked up only until a connection's first call. */
static __always_inline int tls_claim(const struct data_arg *a, struct conn *c)
{
	if (!tls_on)
		return 0;
	__u64 id = a->id;
	__u32 fd = a->fd;
	struct task_ctx *t = bpf_task_storage_get(&task_ctx, bpf_get_current_task_btf(), 0, 0);
	if (t && t->ssl_depth && t->ssl) {
		struct ssl_key k = {.tgid = id >> 32, .ssl = t->ssl};
		bpf_map_update_elem(&ssl_fds, &k, &fd, BPF_ANY);
		c->tls = TLS_TIED;
	} else if (t && t->mb) {
		mb_claim(t, a, c);
	}
	if (!c->tls && !c->calls_out && !c->calls_in) {
		struct conn_key k = {.tgid = id >> 32, .fd = fd};
		__u64 *f = bpf_map_lookup_elem(&tls_pending, &k);
		if (f) {
			if (*f == c->file)
				c->tls = 1;
			bpf_map_delete_elem(&tls_pending, &k);
		}
	}
	return c->tls;
}

/* x86_64 argument registers, as the rest of flightrec.bpf.c reads them. */
static __always_inline int tls_enter(struct pt_regs *ctx, __u8 kind, __u8 ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!tgid_ok(id >> 32))
		return 0;
	struct task_ctx *t = bpf_task_storage_get(&task_ctx, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t)
		return 0;
	if (t->ssl_depth++ && t->ssl)
		return 0; /* nested: the outer call is the one */
	t->ssl = ctx->di;
	t->ssl_buf = ctx->si;
	t->ssl_len = ctx->dx;
	t->ssl_count = ex ? ctx->cx : 0;
	t->ssl_kind = kind;
	t->ssl_ts = bpf_ktime_get_ns();
	t->ssl_lib = (__u32)bpf_get_attach_cookie(ctx);
	return 0;
}

static __always_inline int tls_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_ctx *t = bpf_task_storage_get(&task_ctx, bpf_get_current_task_btf(), 0, 0);
	if (!t || !t->ssl_depth)
		return 0;
	if (--t->ssl_depth)
		return 0;
	__u64 ssl = t->ssl;
	t->ssl = 0;
	if (!ssl)
		return 0;
	struct ssl_key k = {.tgid = id >> 32, .ssl = ssl};
	__u32 *fd = bpf_map_lookup_elem(&ssl_fds, &k);
	if (!fd && t->mb) { /* memory BIOs (mb_claim) */
		struct conn_key ck = {.tgid = id >> 32, .fd = t->mb_rx_fd - 1};
		struct conn *c = t->mb_rx_fd ? bpf_map_lookup_elem(&conns, &ck) : NULL;
		if (c && c->tls == TLS_MARKED) {
			c->tls = TLS_TIED;
			bpf_map_update_elem(&ssl_fds, &k, &ck.fd, BPF_ANY);
			fd = bpf_map_lookup_elem(&ssl_fds, &k);
		} else {
			t->mb_ssl = ssl;
		}
	}
	t->mb_rx_fd = 0;
	if (!fd || t->ssl_kind == TLS_CALL_HANDSHAKE)
		return 0;
	long ret = ctx->ax;
	__u64 n = (__u64)ret;
	if (t->ssl_count) {
		if (ret != 1)
			return 0;
		n = 0;
		if (bpf_probe_read_user(&n, sizeof(n), (const void *)t->ssl_count))
			return 0;
	} else if ((int)ret <= 0) {
		return 0;
	} else {
		n = (__u32)ret;
	}
	if (n == 0 || n > t->ssl_len || n > 0x7fffffff)
		return 0;
	struct conn_key ck = {.tgid = id >> 32, .fd = *fd};
	struct conn *c = bpf_map_lookup_elem(&conns, &ck);
	if (!c || !c->tls)
		return 0;
	__u8 dir = t->ssl_kind == TLS_CALL_READ;
	struct data_arg a = {.id = id, .ts = dir ? 0 : t->ssl_ts, .src = t->ssl_buf, .fd = *fd,
			     .bytes = (__u32)n, .dir = dir, .sys = dir ? FR_EV_SYS_READ : FR_EV_SYS_WRITE,
			     .flags = FR_EV_TLS, .lib = t->ssl_lib};
	fr_emit_data(c, &a);
	return 0;
}

SEC("uprobe")
int fr_ssl_write(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_CALL_WRITE, 0);
}

SEC("uprobe")
int fr_ssl_write_ex(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_CALL_WRITE, 1);
}

SEC("uprobe")
int fr_ssl_read(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_CALL_READ, 0);
}

SEC("uprobe")
int fr_ssl_read_ex(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_CALL_READ, 1);
}

SEC("uprobe")
int fr_ssl_handshake(struct pt_regs *ctx)
{
	return tls_enter(ctx, TLS_CALL_HANDSHAKE, 0);
}

/* SSL_set_bio(ssl, rbio, wbio), entry only: the SSL object gets new BIOs,
 * so its tie, if any, is gone (an SSL object freed and another made at
 * the same address keeps the key of ssl_fds; a memory-BIO one is tied
 * once only).  Two BIOs, not one socket BIO both ways (SSL_set_fd's), are
 * memory BIOs (Node.js, Python's SSLObject): this thread's SSL calls make
 * no socket call (mb_claim). */
SEC("uprobe")
int fr_ssl_set_bio(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!tls_on || !tgid_ok(id >> 32))
		return 0;
	struct ssl_key k = {.tgid = id >> 32, .ssl = ctx->di};
	bpf_map_delete_elem(&ssl_fds, &k);
	if (!ctx->si || ctx->si == ctx->dx)
		return 0;
	struct task_ctx *t = bpf_task_storage_get(&task_ctx, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (t)
		t->mb = 1;
	return 0;
}

SEC("uretprobe")
int fr_ssl_ret(struct pt_regs *ctx)
{
	return tls_return(ctx);
}

/* Go's crypto/tls (Go 1.18+ on x86_64, register ABI: receiver and
 * arguments in RAX, RBX, RCX, ..., results in RAX, RBX, ...; the current
 * goroutine's g in R14), attached by capture/tls.c to each Go program:
 *   - (*Conn).handshakeContext (every handshake, and every Read and Write
 *     on their way) marks the connection of the tls.Conn's fd tls before
 *     the handshake's first byte (or leaves the fd's open file in
 *     tls_pending for a connection not known yet): its ciphertext is
 *     never written.
 *   - (*Conn).Write emits its buffer at entry, on a known connection
 *     (marked tls as the handshake does).
 *   - (*Conn).Read (and Write on a connection not known yet) keeps
 *     (buffer, length, fd, time) by goroutine (tgid, g): a goroutine
 *     blocked in Read resumes on any thread, and a thread runs other
 *     goroutines meanwhile; uprobes on the RET instructions (found by
 *     disassembly: uretprobes crash Go) emit RAX (n) plaintext bytes as
 *     the SSL_* programs do.
 * The fd: tls.Conn starts with conn net.Conn (itab, data); the data of a
 * *net.TCPConn points to its netFD, which starts with poll.FD {fdMutex
 * (16 bytes), Sysfd int} (Go 1.19's sources, Debian 12's golang-go, the
 * one tested; the same layout in the Go releases known to the author
 * since 1.9, not checked here; DWARF is not read).  The cookie's bits above FR_TLS_LIB_BITS are the address of the
 * *net.TCPConn,net.Conn itab in a program loaded at its link addresses: a
 * tls.Conn over another net.Conn (a wrapper, a pipe) is then skipped. */
#define GO_NETFD_SYSFD 16 /* offsetof(net.netFD, pfd.Sysfd) */

struct go_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_call {
	__u64 buf, len, ts;
	__u32 fd, lib;
	__u8 kind;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

/* The fd of the tls.Conn in RAX: 0, or -1 (not over a *net.TCPConn). */
static __always_inline int go_conn_fd(struct pt_regs *ctx, __u32 *fd)
{
	__u64 itab = bpf_get_attach_cookie(ctx) >> FR_TLS_LIB_BITS;
	__u64 iface[2] = {}, netfd = 0;
	__s64 sysfd = -1;
	if (bpf_probe_read_user(iface, sizeof(iface), (const void *)ctx->ax))
		return -1;
	if (itab && iface[0] != itab)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (const void *)iface[1]) ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (const void *)(netfd + GO_NETFD_SYSFD)))
		return -1;
	if (sysfd < 0 || sysfd > 0x7fffffff)
		return -1;
	*fd = (__u32)sysfd;
	return 0;
}

/* The connection of (tgid, fd) if it is the one of the fd's open file now
 * (the sockets hook set can keep one whose close it missed), or NULL; *f
 * that file. */
static __always_inline struct conn *go_conn(__u64 id, __u32 fd, __u64 *f)
{
	struct conn_key ck = {.tgid = id >> 32, .fd = fd};
	struct conn *c = bpf_map_lookup_elem(&conns, &ck);
	*f = (__u64)fd_file(fd);
	return c && c->file == *f ? c : NULL;
}

/* Marks the connection of (tgid, fd) tls, or leaves the fd's open file in
 * tls_pending when the connection is not known yet; returns it or NULL. */
static __always_inline struct conn *go_mark(__u64 id, __u32 fd)
{
	__u64 f;
	struct conn *c = go_conn(id, fd, &f);
	if (c) {
		c->tls = 1;
		return c;
	}
	struct conn_key ck = {.tgid = id >> 32, .fd = fd};
	if (f)
		bpf_map_update_elem(&tls_pending, &ck, &f, BPF_ANY);
	return NULL;
}

static __always_inline void go_emit(struct conn *c, __u64 id, const struct go_call *call, __u32 n)
{
	__u8 dir = call->kind == TLS_CALL_READ;
	struct data_arg a = {.id = id, .ts = dir ? 0 : call->ts, .src = call->buf, .fd = call->fd,
			     .bytes = n, .dir = dir, .sys = dir ? FR_EV_SYS_READ : FR_EV_SYS_WRITE,
			     .flags = FR_EV_TLS, .lib = call->lib};
	fr_emit_data(c, &a);
}

/* Write's plaintext is emitted at its entry when its connection is known
 * (Write sends all of b unless the connection fails, and a program may
 * exit before a goroutine blocked in Write returns); Read's, and Write's
 * on a connection whose first bytes are still to come, at the return. */
static __always_inline int go_enter(struct pt_regs *ctx, __u8 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_call call = {.buf = ctx->bx, .len = ctx->cx, .kind = kind};
	if (!tls_on || !tgid_ok(id >> 32) || go_conn_fd(ctx, &call.fd))
		return 0;
	call.ts = bpf_ktime_get_ns();
	call.lib = (__u32)(bpf_get_attach_cookie(ctx) & ((1u << FR_TLS_LIB_BITS) - 1));
	if (kind == TLS_CALL_WRITE) {
		struct conn *c = go_mark(id, call.fd);
		if (c) {
			if (call.len && call.len <= 0x7fffffff)
				go_emit(c, id, &call, (__u32)call.len);
			return 0;
		}
	}
	struct go_key k = {.tgid = id >> 32, .g = ctx->r14};
	bpf_map_update_elem(&go_calls, &k, &call, BPF_ANY);
	return 0;
}

SEC("uprobe")
int fr_go_write(struct pt_regs *ctx)
{
	return go_enter(ctx, TLS_CALL_WRITE);
}

SEC("uprobe")
int fr_go_read(struct pt_regs *ctx)
{
	return go_enter(ctx, TLS_CALL_READ);
}

SEC("uprobe")
int fr_go_handshake(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 fd;
	if (tls_on && tgid_ok(id >> 32) && !go_conn_fd(ctx, &fd))
		go_mark(id, fd);
	return 0;
}

SEC("uprobe")
int fr_go_ret(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key k = {.tgid = id >> 32, .g = ctx->r14};
	struct go_call *p = bpf_map_lookup_elem(&go_calls, &k);
	if (!p)
		return 0;
	struct go_call call = *p;
	bpf_map_delete_elem(&go_calls, &k);
	__s64 n = (__s64)ctx->ax;
	if (n <= 0 || (__u64)n > call.len || n > 0x7fffffff)
		return 0;
	__u64 f;
	struct conn *c = go_conn(id, call.fd, &f);
	if (c && c->tls)
		go_emit(c, id, &call, (__u32)n);
	return 0;
}
