/* hooks_tls.h - TLS plaintext at the OpenSSL API boundary (issue 17,
 * part 1: OpenSSL 1.1/3.x linked dynamically), included by
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
 * Limits, and what the later parts need:
 *   - The tie needs the library to do the socket I/O itself, on the thread
 *     in the SSL call (socket BIOs: curl, nginx, python's ssl sockets).
 *     Memory-BIO users (python asyncio's SSLObject, and Node.js, whose TLS
 *     runs over BIO pairs with libuv doing the socket I/O) get no tie:
 *     their plaintext is dropped and their ciphertext written.  Node needs
 *     another tie (its TLSWrap to the uv stream's fd, or matching the
 *     ciphertext lengths the BIO hands out to the next socket write).
 *   - A statically linked OpenSSL/BoringSSL is these same programs
 *     attached to the executable by symbol (capture/tls.c's job).
 *   - Go's crypto/tls: a goroutine moves between threads while blocked, so
 *     neither task_ctx nor the thread tie holds: entry state keyed by
 *     goroutine, the fd read from the tls.Conn (its net.Conn's
 *     poll.FD.Sysfd, offsets from DWARF), returns found by disassembly
 *     instead of uretprobes; the emission (fr_emit_data with FR_EV_TLS on
 *     the fd's connection, conn->tls to suppress the ciphertext) is the
 *     same as tls_return's.
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

/* 1: this connection's socket bytes are not written (the plaintext is);
 * called by fr_emit_data with the connection of (tgid, fd). */
static __always_inline int tls_claim(__u64 id, __u32 fd, struct conn *c)
{
	if (!tls_on)
		return 0;
	struct task_ctx *t = bpf_task_storage_get(&task_ctx, bpf_get_current_task_btf(), 0, 0);
	if (t && t->ssl_depth && t->ssl) {
		struct ssl_key k = {.tgid = id >> 32, .ssl = t->ssl};
		bpf_map_update_elem(&ssl_fds, &k, &fd, BPF_ANY);
		c->tls = 1;
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
	if (!ssl || t->ssl_kind == TLS_CALL_HANDSHAKE)
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
	struct ssl_key k = {.tgid = id >> 32, .ssl = ssl};
	__u32 *fd = bpf_map_lookup_elem(&ssl_fds, &k);
	if (!fd)
		return 0; /* no socket call seen for it yet (reads from its buffer) */
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

SEC("uretprobe")
int fr_ssl_ret(struct pt_regs *ctx)
{
	return tls_return(ctx);
}
