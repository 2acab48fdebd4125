/* tls.c - attaches the TLS plaintext uprobes of bpf/hooks_tls.h (issue
 * 17) to every TLS library the machine's processes map: OpenSSL 1.1/3.x
 * as libssl.so, OpenSSL (or BoringSSL) linked into an executable (static
 * builds, NodeSource's Node.js), and Go's crypto/tls.  Each OpenSSL gets
 * the SSL_* uprobes and uretprobes of hooks[] (SSL_set_bio at its entry
 * only: it tells memory BIOs, Node's, from socket BIOs); each Go program
 * entry uprobes and uprobes on the RET instructions of (*Conn).Write and
 * Read.
 *
 * Discovery: at start, each /proc/PID/maps line naming a libssl.so file,
 * read through /proc/PID/root (a container's own copy is its own file),
 * plus the system's own libssl files (those new processes will map).  The
 * other executable mappings (programs and libraries) are looked into
 * (tls_elf.c): defined SSL_write and SSL_read symbols are an OpenSSL
 * inside, crypto/tls.(*Conn).Write (in the symbols, or in Go's function
 * table when stripped) a Go program.  A uprobe set on a file fires in
 * every process that maps it, started before or after, so each distinct
 * file (device + inode) is looked into once, whatever maps it: attached,
 * or skipped with one log line (a failed attach is not tried again for
 * the next process that maps the file).  Later, each process announced by
 * the kernel side (at its first socket event, and again at its first
 * after an exec) is scanned the same way (tls_scan, from on_proc): a
 * container started since with its own libssl gets its uprobes while its
 * first client still runs (the announcement wakes the reader at once),
 * with CAP_SYS_ADMIN raised for the attach only (privs.c).  Not covered: a
 * library a process loads with dlopen after its first socket event.
 *
 * The library index (uprobe cookie, FR_TLS_LIB_BITS bits: up to 65536
 * distinct TLS files) comes back in each plaintext DATA event; the version
 * is read from the libcrypto beside the libssl (the "OpenSSL x.y.z"
 * string; libssl itself has none), or from the executable, and logged.
 *
 * Links: on kernels with uprobe_multi links (Linux 6.6+, probed at start),
 * one link per program and file, made with bpf(BPF_LINK_CREATE) by hand
 * (Debian 12's libbpf 1.1 has no call for it; the programs are loaded
 * with that attach type); else, and with FLIGHTREC_NO_UPROBE_MULTI set
 * (tests of the fallback), libbpf's link per uprobe.  Each link's removal
 * waits for a grace period of the kernel's: tls_detach removes them in
 * parallel threads; stopping with one libssl attached took 0.9-1.1 s with
 * its 19 links, 0.07-0.1 s with its 7 uprobe_multi links. */
#define _GNU_SOURCE
#include "bpf/flightrec.skel.h"
#include "recorder.h"
#include "tls_elf.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TLS_MAX_LIBS (1 << FR_TLS_LIB_BITS) /* the index is in the uprobe cookie */
#define GO_MAX_RETS 16			   /* RET instructions of one Go function */

struct tls_lib {
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
	char version[64];
	char desc[PATH_MAX + 80]; /* tls_library() */
	/* OpenSSL: entry and return of each of hooks[]; Go: 3 entries and
	 * the RETs of Write and Read */
	struct bpf_link *links[3 + 2 * GO_MAX_RETS];
	int n_links;
	int mfds[8]; /* uprobe_multi links instead (multi): one per program */
	int n_mfds;
};

/* The libraries attached, by index (each allocated once: tls_library's
 * strings stay put while the array grows). */
static struct tls_lib **libs;
static int n_libs, cap_libs;

/* Every file looked into (a libssl, an executable mapping), TLS or not,
 * attached or failed: each is looked into once, whatever maps it. */
static struct tls_file {
	dev_t dev;
	ino_t ino;
} *files;
static int n_files, cap_files;

/* 1 if the file of st was looked into already, else 0 after noting it
 * (-1: no memory, and it is looked into all the same). */
static int file_seen(const struct stat *st)
{
	for (int i = 0; i < n_files; i++)
		if (files[i].dev == st->st_dev && files[i].ino == st->st_ino)
			return 1;
	if (n_files == cap_files) {
		int cap = cap_files ? 2 * cap_files : 64;
		struct tls_file *f = realloc(files, (size_t)cap * sizeof(*f));
		if (!f)
			return -1;
		files = f;
		cap_files = cap;
	}
	files[n_files++] = (struct tls_file){st->st_dev, st->st_ino};
	return 0;
}

/* uprobe_multi links (Linux 6.6): one link holds one program's uprobes
 * at many offsets of one file, and its removal waits for one grace period
 * of the kernel's, where a link per uprobe waits for one each (and the
 * kernel serializes them).  Debian 12's libbpf (1.1) and headers predate
 * them: the link is made with bpf(BPF_LINK_CREATE) here, for programs
 * loaded with that expected attach type (tls_prepare, after a probe). */
#define FR_BPF_TRACE_UPROBE_MULTI 48	    /* enum bpf_attach_type, Linux 6.6 */
#define FR_BPF_F_UPROBE_MULTI_RETURN 1U /* link_create.uprobe_multi.flags */

struct multi_attr { /* union bpf_attr's link_create, Linux 6.6 */
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid, pad;
};
_Static_assert(sizeof(struct multi_attr) == 64, "link_create.uprobe_multi ends at byte 60");

static int multi;		/* uprobe_multi links (else one link per uprobe) */
static const char *multi_why; /* why not */

/* How the uprobes are linked, for the log. */
static const char *link_mode(void)
{
	static char s[160];
	if (multi)
		return "uprobe_multi links";
	snprintf(s, sizeof(s), "a link per uprobe: %s", multi_why ? multi_why : "?");
	return s;
}

/* A uprobe_multi link of prog_fd on the n offs[] of the file at path (all
 * with cookie), return probes if ret: its fd, or -1 (errno set). */
static int multi_link(int prog_fd, const char *path, const uint64_t *offs, int n, uint64_t cookie, int ret)
{
	uint64_t cookies[2 * GO_MAX_RETS];
	if (n <= 0 || n > 2 * GO_MAX_RETS) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < n; i++)
		cookies[i] = cookie;
	struct multi_attr a = {
		.prog_fd = (uint32_t)prog_fd, .attach_type = FR_BPF_TRACE_UPROBE_MULTI,
		.path = (uintptr_t)path, .offsets = (uintptr_t)offs, .cookies = (uintptr_t)cookies,
		.cnt = (uint32_t)n, .multi_flags = ret ? FR_BPF_F_UPROBE_MULTI_RETURN : 0,
	};
	return (int)syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof(a));
}

/* NULL if this kernel makes uprobe_multi links (a program of that attach
 * type loads, and a link on "/", not a regular file, fails with EBADF:
 * libbpf's own probe), else why not. */
static const char *multi_probe(void)
{
	static char why[96];
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = FR_BPF_TRACE_UPROBE_MULTI);
	int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &po);
	if (fd < 0) {
		snprintf(why, sizeof(why), "a program of that type does not load: %s", strerror(errno));
		return why;
	}
	uint64_t off = 0;
	int k = multi_link(fd, "/", &off, 1, 0, 0);
	if (k >= 0 || errno != EBADF)
		snprintf(why, sizeof(why), "a link on / gave %s, not EBADF", k >= 0 ? "a link" : strerror(errno));
	if (k >= 0)
		close(k);
	close(fd);
	return k >= 0 || errno != EBADF ? why : NULL;
}

/* The "OpenSSL x.y.z" version string of the libcrypto beside the libssl
 * at path (libssl.so.3 -> libcrypto.so.3), into out; "unknown" if none. */
static void lib_version(const char *path, char *out, size_t size)
{
	snprintf(out, size, "unknown");
	char cpath[PATH_MAX];
	const char *base = strrchr(path, '/');
	const char *so = strstr(base ? base : path, "libssl");
	if (!so || (size_t)(so - path) + 16 + strlen(so) >= sizeof(cpath))
		return;
	snprintf(cpath, sizeof(cpath), "%.*slibcrypto%s", (int)(so - path), path, so + strlen("libssl"));
	tls_elf_openssl_version(cpath, out, size);
}

/* The functions hooked, each with the entry program of hooks_tls.h it
 * gets (and fr_ssl_ret at its return, unless noret).  optional: absent
 * from some versions (the _ex forms and SSL_peek_ex came with OpenSSL
 * 1.1.1).  SSL_set_bio tells memory BIOs (Node.js) from socket BIOs. */
enum { P_WRITE, P_WRITE_EX, P_READ, P_READ_EX, P_HANDSHAKE, P_SET_BIO };

static const struct tls_hook {
	const char *func;
	int prog, optional, noret;
} hooks[] = {
	{"SSL_write", P_WRITE, 0, 0},	   {"SSL_read", P_READ, 0, 0},	      {"SSL_do_handshake", P_HANDSHAKE, 0, 0},
	{"SSL_write_ex", P_WRITE_EX, 1, 0}, {"SSL_read_ex", P_READ_EX, 1, 0},  {"SSL_connect", P_HANDSHAKE, 1, 0},
	{"SSL_accept", P_HANDSHAKE, 1, 0},  {"SSL_peek", P_HANDSHAKE, 1, 0},   {"SSL_peek_ex", P_HANDSHAKE, 1, 0},
	{"SSL_set_bio", P_SET_BIO, 1, 1},
};
#define N_HOOKS (sizeof(hooks) / sizeof(hooks[0]))
_Static_assert(2 * N_HOOKS <= sizeof(((struct tls_lib *)0)->links) / sizeof(struct bpf_link *),
	       "links[] holds an entry and a return link per hook");

static struct bpf_program *entry_prog(struct flightrec_bpf *s, int prog)
{
	struct bpf_program *p[] = {
		[P_WRITE] = s->progs.fr_ssl_write, [P_WRITE_EX] = s->progs.fr_ssl_write_ex,
		[P_READ] = s->progs.fr_ssl_read,   [P_READ_EX] = s->progs.fr_ssl_read_ex,
		[P_HANDSHAKE] = s->progs.fr_ssl_handshake, [P_SET_BIO] = s->progs.fr_ssl_set_bio,
	};
	return p[prog];
}

/* Forgets that the file of l was looked into, when it cannot be reached
 * at path any more (its process exited during the attach: the failure
 * says nothing of the file, and the next process that maps it retries). */
static void file_forget(dev_t dev, ino_t ino, const char *path)
{
	if (access(path, F_OK) == 0)
		return;
	for (int i = 0; i < n_files; i++)
		if (files[i].dev == dev && files[i].ino == ino) {
			files[i] = files[--n_files];
			return;
		}
}

/* A new entry of libs[] for the file at path (shown as shown), or NULL:
 * already looked into (*dup set: attached, or failed and said so then),
 * or no room (after a log line).  noted: the caller looked into the file
 * (file_seen) already.  n_libs grows when the attach succeeds. */
static struct tls_lib *new_lib(const char *path, const char *shown, int noted, int *dup)
{
	struct stat st;
	*dup = 0;
	if (stat(path, &st) < 0)
		return NULL;
	if (!noted && file_seen(&st) == 1) {
		*dup = 1;
		return NULL;
	}
	if (n_libs == TLS_MAX_LIBS) {
		logmsg("tls: %s skipped: more than %d distinct TLS libraries", shown, TLS_MAX_LIBS);
		return NULL;
	}
	if (n_libs == cap_libs) {
		int cap = cap_libs ? 2 * cap_libs : 16;
		struct tls_lib **p = realloc(libs, (size_t)cap * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + cap_libs, 0, (size_t)(cap - cap_libs) * sizeof(*p));
		libs = p;
		cap_libs = cap;
	}
	struct tls_lib *l = libs[n_libs] ? libs[n_libs] : malloc(sizeof(*l));
	if (!l) {
		logmsg("tls: %s skipped: out of memory", shown);
		return NULL;
	}
	libs[n_libs] = l;
	memset(l, 0, sizeof(*l));
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	snprintf(l->path, sizeof(l->path), "%s", shown);
	return l;
}

static void lib_destroy(struct tls_lib *l, const char *path)
{
	file_forget(l->dev, l->ino, path);
	for (int j = 0; j < l->n_links; j++)
		bpf_link__destroy(l->links[j]);
	for (int j = 0; j < l->n_mfds; j++)
		close(l->mfds[j]);
	l->n_links = l->n_mfds = 0;
}

/* attach_lib with uprobe_multi links: one per entry program and one for
 * fr_ssl_ret; 0, or -1 after a log line. */
static int attach_lib_multi(struct recorder *r, struct tls_lib *l, const char *path, char *missing, size_t msize)
{
	struct tls_elf e;
	if (tls_elf_open(&e, path)) {
		logmsg("tls: %s (%s) skipped: not an ELF file", l->path, l->version);
		file_forget(l->dev, l->ino, path);
		return -1;
	}
	const char *names[N_HOOKS];
	struct tls_sym sym[N_HOOKS];
	for (size_t i = 0; i < N_HOOKS; i++)
		names[i] = hooks[i].func;
	tls_elf_find(&e, names, (int)N_HOOKS, sym);
	tls_elf_close(&e);
	uint64_t rets[N_HOOKS];
	int nret = 0;
	for (int prog = P_WRITE; prog <= P_SET_BIO; prog++) {
		uint64_t offs[N_HOOKS];
		int n = 0;
		for (size_t i = 0; i < N_HOOKS; i++) {
			if (hooks[i].prog != prog)
				continue;
			if (!sym[i].func || !sym[i].off) {
				if (!hooks[i].optional) {
					logmsg("tls: %s (%s) skipped: cannot attach to %s: not in its symbols", l->path,
					       l->version, hooks[i].func);
					lib_destroy(l, path);
					return -1;
				}
				size_t m = strlen(missing);
				snprintf(missing + m, msize - m, "%s%s", m ? ", " : "", hooks[i].func);
				continue;
			}
			offs[n++] = sym[i].off;
			if (!hooks[i].noret)
				rets[nret++] = sym[i].off;
		}
		int fd = n ? multi_link(bpf_program__fd(entry_prog(r->skel, prog)), path, offs, n, (uint64_t)n_libs, 0) : -2;
		if (fd == -1) {
			logmsg("tls: %s (%s) skipped: cannot attach: %s", l->path, l->version, strerror(errno));
			lib_destroy(l, path);
			return -1;
		}
		if (fd >= 0)
			l->mfds[l->n_mfds++] = fd;
	}
	int fd = multi_link(bpf_program__fd(r->skel->progs.fr_ssl_ret), path, rets, nret, (uint64_t)n_libs, 1);
	if (fd < 0) {
		logmsg("tls: %s (%s) skipped: cannot attach the return probes: %s", l->path, l->version, strerror(errno));
		lib_destroy(l, path);
		return -1;
	}
	l->mfds[l->n_mfds++] = fd;
	return 0;
}

/* Attaches the OpenSSL uprobes to the file at path (shown as shown; pid:
 * the process it was found in, or NULL; in_exe: OpenSSL linked into that
 * executable, whose version string it holds itself); 0 attached or already
 * attached, -1 after a log line.  A missing optional function is named in
 * the log line. */
static int attach_lib(struct recorder *r, const char *path, const char *shown, const char *pid, int in_exe)
{
	int dup;
	struct tls_lib *l = new_lib(path, shown, in_exe, &dup);
	if (!l)
		return dup ? 0 : -1;
	if (!in_exe)
		lib_version(path, l->version, sizeof(l->version));
	else if (tls_elf_openssl_version(path, l->version, sizeof(l->version)))
		snprintf(l->version, sizeof(l->version), "OpenSSL (version unknown)");
	char missing[256] = "";
	if (multi && attach_lib_multi(r, l, path, missing, sizeof(missing)))
		return -1;
	for (size_t i = 0; i < N_HOOKS && !multi; i++) {
		for (int ret = 0; ret < 2 - hooks[i].noret; ret++) {
			LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = hooks[i].func, .retprobe = ret,
				    .bpf_cookie = (__u64)n_libs);
			struct bpf_program *p = ret ? r->skel->progs.fr_ssl_ret : entry_prog(r->skel, hooks[i].prog);
			struct bpf_link *k = bpf_program__attach_uprobe_opts(p, -1, path, 0, &uo);
			int err = errno;
			if (k) {
				l->links[l->n_links++] = k;
				continue;
			}
			if (hooks[i].optional && err == ENOENT && !ret) {
				size_t n = strlen(missing);
				snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "", hooks[i].func);
				break;
			}
			logmsg("tls: %s (%s) skipped: cannot attach to %s: %s", shown, l->version, hooks[i].func,
			       strerror(err));
			lib_destroy(l, path);
			return -1;
		}
	}
	char desc[sizeof(l->desc)];
	snprintf(desc, sizeof(desc), "%s (%s)", l->version, l->path);
	memcpy(l->desc, desc, sizeof(desc));
	logmsg("tls: attached to %s%s%s (%s%s, library %d%s%s; %s)", shown, pid ? " of pid " : "", pid ? pid : "",
	       l->version, in_exe ? " linked in" : "", n_libs, missing[0] ? "; it has no " : "", missing, link_mode());
	n_libs++;
	return 0;
}

/* Uprobes of program p at the n offsets offs[] of the file at path, with
 * cookie, into l: one uprobe_multi link, or a link each; NULL, or why
 * not (the links made stay in l). */
static const char *uprobes(struct tls_lib *l, struct bpf_program *p, const char *path, const uint64_t *offs, int n,
			   uint64_t cookie)
{
	if (multi) {
		int fd = multi_link(bpf_program__fd(p), path, offs, n, cookie, 0);
		if (fd < 0)
			return strerror(errno);
		l->mfds[l->n_mfds++] = fd;
		return NULL;
	}
	for (int j = 0; j < n; j++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie);
		struct bpf_link *b = bpf_program__attach_uprobe_opts(p, -1, path, offs[j], &uo);
		if (!b)
			return strerror(errno);
		l->links[l->n_links++] = b;
	}
	return NULL;
}

/* Go's crypto/tls in the executable at path (e open on it): entry uprobes
 * on (*Conn).Write, (*Conn).Read and (*Conn).handshakeContext, and plain
 * uprobes on the RET instructions of Write and Read (a uretprobe replaces
 * the return address on the goroutine's stack, which Go moves when it
 * grows it: uretprobes crash Go programs).  The cookie is the library
 * index, and above its FR_TLS_LIB_BITS bits the address of the itab of *net.TCPConn as
 * net.Conn when the program is loaded at its link addresses (hooks_tls.h
 * reads the fd through it only then; 0: any net.Conn is taken as one). */
static int attach_go(struct recorder *r, struct tls_elf *e, const char *path, const char *shown, const char *pid)
{
	static const char *const names[] = {
		"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).handshakeContext",
		"go.itab.*net.TCPConn,net.Conn", "go:itab.*net.TCPConn,net.Conn", /* Go < 1.20, >= 1.20 */
	};
	struct tls_sym s[5];
	tls_elf_find(e, names, 5, s);
	int stripped = !s[0].func || !s[1].func || !s[2].func;
	if (stripped) /* no symbol table: Go's own function table */
		tls_elf_go_funcs(e, names, 3, s);
	int dup;
	struct tls_lib *l = new_lib(path, shown, 1, &dup);
	if (!l)
		return dup ? 0 : -1;
	int minor = 0;
	if (tls_elf_go_version(e, l->version, sizeof(l->version)) == 0)
		sscanf(l->version, "Go go1.%d", &minor);
	else
		snprintf(l->version, sizeof(l->version), "Go (version unknown)");
	uint64_t itab = e->exec ? (s[3].va ? s[3].va : s[4].va) : 0;
	struct flightrec_bpf *k = r->skel;
	struct bpf_program *entry[] = {k->progs.fr_go_write, k->progs.fr_go_read, k->progs.fr_go_handshake};
	const char *why = NULL;
	int nret[2] = {0, 0};
	if (minor < 18)
		why = "Go 1.18 or later needed (register ABI, build info)";
	for (int i = 0; i < 3 && !why; i++)
		if (!s[i].func || !s[i].off)
			why = "crypto/tls.(*Conn) Write, Read or handshakeContext not found";
	uint64_t cookie = itab << FR_TLS_LIB_BITS | (uint64_t)n_libs;
	for (int i = 0; i < 3 && !why; i++)
		why = uprobes(l, entry[i], path, &s[i].off, 1, cookie);
	uint64_t offs[2 * GO_MAX_RETS];
	for (int i = 0; i < 2 && !why; i++) {
		nret[i] = tls_elf_rets(e, &s[i], offs + (i ? nret[0] : 0), GO_MAX_RETS);
		if (nret[i] <= 0)
			why = "the RET instructions of Write or Read not found";
	}
	if (!why) /* uprobes at the RETs: not uretprobes */
		why = uprobes(l, k->progs.fr_go_ret, path, offs, nret[0] + nret[1], cookie);
	if (why) {
		logmsg("tls: %s%s%s (%s crypto/tls) skipped: %s", shown, pid ? " of pid " : "", pid ? pid : "",
		       l->version, why);
		lib_destroy(l, path);
		return -1;
	}
	snprintf(l->desc, sizeof(l->desc), "%s crypto/tls (%s)", l->version, l->path);
	logmsg("tls: attached to %s%s%s (%s crypto/tls, library %d; %d and %d returns of Write and Read; "
	       "the fd %s%s; %s)",
	       shown, pid ? " of pid " : "", pid ? pid : "", l->version, n_libs, nret[0], nret[1],
	       itab ? "of *net.TCPConn connections" : "of any net.Conn",
	       stripped ? "; functions from the Go function table: no symbols" : "", link_mode());
	n_libs++;
	return 0;
}

/* Looks into the executable file at path (shown as shown; mapped by pid),
 * once per file: OpenSSL or Go's crypto/tls inside get their uprobes. */
static void examine(struct recorder *r, const char *path, const char *shown, const char *pid)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (file_seen(&st) == 1)
		return;
	struct tls_elf e;
	if (tls_elf_open(&e, path)) {
		file_forget(st.st_dev, st.st_ino, path);
		return;
	}
	static const char *const names[] = {"SSL_write", "SSL_read", "crypto/tls.(*Conn).Write"};
	struct tls_sym s[3];
	tls_elf_find(&e, names, 3, s);
	if (s[0].func && s[1].func)
		attach_lib(r, path, shown, pid, 1);
	else if (s[2].func || tls_elf_go_funcs(&e, names + 2, 1, s + 2) == 1)
		attach_go(r, &e, path, shown, pid);
	tls_elf_close(&e);
}

/* The TLS libraries process pid maps: libssl.so files, and the OpenSSL or
 * Go crypto/tls inside its other executable mappings. */
static void scan_pid(struct recorder *r, const char *pid)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%s/maps", pid);
	FILE *f = fopen(p, "re");
	if (!f)
		return;
	char line[PATH_MAX + 128];
	char last[PATH_MAX] = "";
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		char *perms = strchr(line, ' ');
		if (!path || !perms || perms > path)
			continue;
		path[strcspn(path, "\n")] = 0;
		const char *base = strrchr(path, '/') + 1;
		int ssl = !strncmp(base, "libssl.so", 9);
		if ((!ssl && perms[3] != 'x') || !strcmp(path, last))
			continue;
		snprintf(last, sizeof(last), "%s", path);
		char full[PATH_MAX + 64];
		snprintf(full, sizeof(full), "/proc/%s/root%s", pid, path);
		if (ssl)
			attach_lib(r, full, path, pid, 0);
		else
			examine(r, full, path, pid);
	}
	fclose(f);
}

/* Why the TLS uprobes cannot load on this kernel, or NULL. */
static const char *tls_unsupported(void)
{
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) != 1)
		return "the kernel lacks bpf_get_attach_cookie (Linux 5.15+)";
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_task_storage_get, NULL) != 1)
		return "the kernel lacks task storage for uprobes";
	return NULL;
}

void tls_prepare(struct recorder *r)
{
	struct flightrec_bpf *s = r->skel;
	const char *why = r->o->no_tls ? NULL : tls_unsupported();
	if (why) {
		logmsg("tls: off: %s; TLS connections are recorded as ciphertext", why);
		r->o->no_tls = 2; /* said: tls_attach says nothing more */
	}
	int on = !r->o->no_tls;
	struct bpf_program *p[] = {s->progs.fr_ssl_write,   s->progs.fr_ssl_write_ex, s->progs.fr_ssl_read,
				   s->progs.fr_ssl_read_ex, s->progs.fr_ssl_handshake, s->progs.fr_ssl_ret,
				   s->progs.fr_go_write,    s->progs.fr_go_read,      s->progs.fr_go_handshake,
				   s->progs.fr_go_ret,      s->progs.fr_ssl_set_bio};
	multi_why = !on ? NULL : getenv("FLIGHTREC_NO_UPROBE_MULTI") ? "FLIGHTREC_NO_UPROBE_MULTI set" : multi_probe();
	multi = on && !multi_why;
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		bpf_program__set_autoload(p[i], on);
		if (multi)
			bpf_program__set_expected_attach_type(p[i], FR_BPF_TRACE_UPROBE_MULTI);
	}
	s->rodata->tls_on = (__u8)on;
}

int tls_attach(struct recorder *r)
{
	if (r->o->no_tls) {
		if (r->o->no_tls == 1)
			logmsg("tls: off (--no-tls): TLS connections are recorded as ciphertext");
		return 0;
	}
	static const char *const sys[] = {
		"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.1.1",
		"/lib/x86_64-linux-gnu/libssl.so.3",     "/usr/lib64/libssl.so.3",
		"/usr/lib/libssl.so.3",
	};
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (access(sys[i], R_OK) == 0)
			attach_lib(r, sys[i], sys[i], NULL, 0);
	DIR *d = opendir("/proc");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
				scan_pid(r, e->d_name);
		closedir(d);
	}
	if (!n_libs)
		logmsg("tls: no TLS library found: TLS connections are recorded as ciphertext");
	return 0;
}

const char *tls_library(uint32_t i)
{
	return i < (uint32_t)n_libs ? libs[i]->desc : "unknown TLS library";
}

void tls_scan(struct recorder *r, uint32_t pid)
{
	if (r->o->no_tls)
		return;
	char p[16];
	snprintf(p, sizeof(p), "%u", pid);
	scan_pid(r, p);
}

static void *destroy_thread(void *arg)
{
	bpf_link__destroy(arg);
	return NULL;
}

static void *close_thread(void *arg) /* arg: a link's fd + 1 */
{
	close((int)(intptr_t)arg - 1);
	return NULL;
}

/* Runs fn(arg) in a thread of th[] (*n of them running; at BATCH, they
 * are waited for first), or here when no thread can be made. */
enum { BATCH = 64 };
static void spawn(void *(*fn)(void *), void *arg, pthread_t *th, int *n)
{
	if (*n == BATCH)
		while (*n)
			pthread_join(th[--*n], NULL);
	if (pthread_create(&th[*n], NULL, fn, arg))
		fn(arg);
	else
		++*n;
}

/* Each uprobe's removal waits for the kernel's grace periods (about 80 ms
 * here, 1.5 s for one library's 18 uprobes one after the other; one
 * uprobe_multi link waits once for all its uprobes): the links go in
 * parallel, up to 64 threads at a time, so that they wait together. */
void tls_detach(void)
{
	pthread_t th[BATCH];
	int n = 0;
	for (int i = 0; i < n_libs; i++) {
		struct tls_lib *l = libs[i];
		for (int j = 0; j < l->n_links; j++)
			spawn(destroy_thread, l->links[j], th, &n);
		for (int j = 0; j < l->n_mfds; j++)
			spawn(close_thread, (void *)(intptr_t)(l->mfds[j] + 1), th, &n);
		l->n_links = l->n_mfds = 0;
	}
	while (n)
		pthread_join(th[--n], NULL);
	for (int i = 0; i < cap_libs; i++)
		free(libs[i]);
	free(libs);
	free(files);
	libs = NULL;
	files = NULL;
	n_libs = cap_libs = n_files = cap_files = 0;
}
