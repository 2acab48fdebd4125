/* tls.c - attaches the TLS plaintext uprobes of bpf/hooks_tls.h (issue
 * 17, part 1: OpenSSL 1.1/3.x linked dynamically) to every libssl the
 * machine's processes map.
 *
 * Discovery: at start, each /proc/PID/maps line naming a libssl.so file,
 * read through /proc/PID/root (a container's own copy is its own file),
 * plus the system's own libssl files (those new processes will map).  A
 * uprobe set on a file fires in every process that maps it, started
 * before or after, so each distinct file (device + inode) is attached
 * once.  Left for later: a container whose libssl is a file no process
 * mapped at start is missed (the recorder drops CAP_BPF/CAP_PERFMON after
 * attaching, so it cannot attach later; a rescan needs those kept).
 *
 * The library index (uprobe cookie) comes back in each plaintext DATA
 * event; the version is read from the libcrypto beside the libssl (the
 * "OpenSSL x.y.z" string; libssl itself has none) and logged. */
#define _GNU_SOURCE
#include "bpf/flightrec.skel.h"
#include "recorder.h"

#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLS_MAX_LIBS 32

struct tls_lib {
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
	char version[64];
	char desc[PATH_MAX + 80]; /* tls_library() */
	struct bpf_link *links[2 * 9]; /* entry and return of each of hooks[] */
	int n_links;
};

static struct tls_lib libs[TLS_MAX_LIBS];
static int n_libs;

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
	int fd = open(cpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			const char *end = (const char *)m + st.st_size;
			for (const char *p = m; (p = memmem(p, (size_t)(end - p), "OpenSSL ", 8)); p += 8) {
				if (p + 9 < end && p[8] >= '0' && p[8] <= '9' && p[9] == '.') {
					size_t n = strnlen(p, (size_t)(end - p));
					snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
					break;
				}
			}
			munmap(m, (size_t)st.st_size);
		}
	}
	close(fd);
}

/* The functions hooked, each with the entry program of hooks_tls.h it
 * gets (and fr_ssl_ret at its return).  optional: absent from some
 * versions (the _ex forms and SSL_peek_ex came with OpenSSL 1.1.1). */
enum { P_WRITE, P_WRITE_EX, P_READ, P_READ_EX, P_HANDSHAKE };

static const struct tls_hook {
	const char *func;
	int prog, optional;
} hooks[] = {
	{"SSL_write", P_WRITE, 0},	  {"SSL_read", P_READ, 0},	     {"SSL_do_handshake", P_HANDSHAKE, 0},
	{"SSL_write_ex", P_WRITE_EX, 1}, {"SSL_read_ex", P_READ_EX, 1},   {"SSL_connect", P_HANDSHAKE, 1},
	{"SSL_accept", P_HANDSHAKE, 1},  {"SSL_peek", P_HANDSHAKE, 1},    {"SSL_peek_ex", P_HANDSHAKE, 1},
};
#define N_HOOKS (sizeof(hooks) / sizeof(hooks[0]))
_Static_assert(2 * N_HOOKS <= sizeof(((struct tls_lib *)0)->links) / sizeof(struct bpf_link *),
	       "links[] holds an entry and a return link per hook");

static struct bpf_program *entry_prog(struct flightrec_bpf *s, int prog)
{
	struct bpf_program *p[] = {
		[P_WRITE] = s->progs.fr_ssl_write, [P_WRITE_EX] = s->progs.fr_ssl_write_ex,
		[P_READ] = s->progs.fr_ssl_read,   [P_READ_EX] = s->progs.fr_ssl_read_ex,
		[P_HANDSHAKE] = s->progs.fr_ssl_handshake,
	};
	return p[prog];
}

/* Attaches the uprobes to the file at path (shown as shown; pid: the
 * process it was found in, or NULL); 0 attached or already attached, -1
 * after a log line.  A missing optional function is named in the log line. */
static int attach_lib(struct recorder *r, const char *path, const char *shown, const char *pid)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	for (int i = 0; i < n_libs; i++)
		if (libs[i].dev == st.st_dev && libs[i].ino == st.st_ino)
			return 0;
	if (n_libs == TLS_MAX_LIBS) {
		logmsg("tls: %s skipped: more than %d distinct TLS libraries", shown, TLS_MAX_LIBS);
		return -1;
	}
	struct tls_lib *l = &libs[n_libs];
	memset(l, 0, sizeof(*l));
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	snprintf(l->path, sizeof(l->path), "%s", shown);
	lib_version(path, l->version, sizeof(l->version));
	char missing[256] = "";
	for (size_t i = 0; i < N_HOOKS; i++) {
		for (int ret = 0; ret < 2; ret++) {
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
			for (int j = 0; j < l->n_links; j++)
				bpf_link__destroy(l->links[j]);
			return -1;
		}
	}
	char desc[sizeof(l->desc)];
	snprintf(desc, sizeof(desc), "%s (%s)", l->version, l->path);
	memcpy(l->desc, desc, sizeof(desc));
	logmsg("tls: attached to %s%s%s (%s, library %d%s%s)", shown, pid ? " of pid " : "", pid ? pid : "",
	       l->version, n_libs, missing[0] ? "; it has no " : "", missing);
	n_libs++;
	return 0;
}

/* The libssl files process pid maps. */
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
		if (!path)
			continue;
		path[strcspn(path, "\n")] = 0;
		const char *base = strrchr(path, '/') + 1;
		if (strncmp(base, "libssl.so", 9) || !strcmp(path, last))
			continue;
		snprintf(last, sizeof(last), "%s", path);
		char full[PATH_MAX + 64];
		snprintf(full, sizeof(full), "/proc/%s/root%s", pid, path);
		attach_lib(r, full, path, pid);
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
	struct bpf_program *p[] = {s->progs.fr_ssl_write, s->progs.fr_ssl_write_ex, s->progs.fr_ssl_read,
				   s->progs.fr_ssl_read_ex, s->progs.fr_ssl_handshake, s->progs.fr_ssl_ret};
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		bpf_program__set_autoload(p[i], on);
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
			attach_lib(r, sys[i], sys[i], NULL);
	DIR *d = opendir("/proc");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] >= '1' && e->d_name[0] <= '9')
				scan_pid(r, e->d_name);
		closedir(d);
	}
	if (!n_libs)
		logmsg("tls: no libssl found: TLS connections are recorded as ciphertext");
	return 0;
}

const char *tls_library(uint32_t i)
{
	return i < (uint32_t)n_libs ? libs[i].desc : "unknown TLS library";
}

void tls_scan(struct recorder *r, uint32_t pid)
{
	if (r->o->no_tls)
		return;
	char p[16];
	snprintf(p, sizeof(p), "%u", pid);
	scan_pid(r, p);
}

void tls_detach(void)
{
	for (int i = 0; i < n_libs; i++)
		for (int j = 0; j < libs[i].n_links; j++)
			bpf_link__destroy(libs[i].links[j]);
	n_libs = 0;
}
