/* metadata.c - who is behind each byte: the process table (filled from
 * the kernel's process events and /proc, repeated at the start of every
 * segment, pruned when processes are gone), pods and services from files
 * or the API server, and the node-files fallback for pods known only by
 * the UID in a cgroup path. */
#define _GNU_SOURCE
#include "cgroup.h"
#include "recorder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void add_proc_record(struct recorder *r, const struct proc *p, uint64_t ts)
{
	struct fr_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.kind = FR_PROCESS;
	rec.ts = ts;
	rec.u.proc.pid = p->pid;
	rec.u.proc.ppid = p->ppid;
	rec.u.proc.cgroup_id = p->cgid;
	rec.u.proc.start_ns = p->start_ns;
	rec.u.proc.comm = S(p->comm);
	rec.u.proc.exe = S(p->exe);
	uint8_t cmd[sizeof(p->cmd)];
	size_t cmdlen = fr_redact_cmdline(&r->o->redact, (const uint8_t *)p->cmd, p->cmdlen, cmd,
					  sizeof(cmd));
	rec.u.proc.cmdline = (struct fr_span){cmd, (uint32_t)cmdlen};
	rec.u.proc.cgroup_path = S(p->cgpath);
	rec.u.proc.container_id = S(p->cid);
	add(r, &rec);
}

void add_pods(struct recorder *r, const struct fr_kube *k, uint64_t ts)
{
	struct fr_record rec;
	for (size_t i = 0; i < fr_kube_n_pods(k); i++) {
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_POD;
		rec.ts = ts;
		rec.u.pod = *fr_kube_pod(k, i);
		add(r, &rec);
	}
	for (size_t i = 0; i < fr_kube_n_services(k); i++) {
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_SERVICE;
		rec.ts = ts;
		rec.u.svc = *fr_kube_service(k, i);
		add(r, &rec);
	}
}

/* Every segment starts with the metadata in force. */
void emit_metadata(struct recorder *r)
{
	uint64_t ts = mono_ns();
	add_pods(r, r->kube, ts);
	add_pods(r, r->fallback, ts);
	for (int b = 0; b < NBUCKET; b++)
		for (struct proc *p = r->procs[b]; p; p = p->next)
			add_proc_record(r, p, ts);
}

/* Forgets processes that are gone and were not seen for a minute. */
void prune_procs(struct recorder *r, uint64_t now)
{
	for (int b = 0; b < NBUCKET; b++) {
		struct proc **pp = &r->procs[b];
		while (*pp) {
			struct proc *p = *pp;
			if (now - p->last_ns > 60000000000ull && kill((pid_t)p->pid, 0) < 0 &&
			    errno == ESRCH) {
				*pp = p->next;
				free(p);
				r->n_procs--;
			} else {
				pp = &p->next;
			}
		}
	}
}

/* Node files fallback: a pod known only by the UID in a cgroup path, named
 * from /var/log/pods/<namespace>_<name>_<uid>/ and its containers from
 * /var/log/containers/<pod>_<namespace>_<container>-<id>.log. */
static void fallback_pod(struct recorder *r, const char *uid, const char *cid, uint64_t ts)
{
	if (fr_kube_find_uid(r->kube, uid))
		return;
	const struct fr_pod *known = fr_kube_find_uid(r->fallback, uid);
	if (known) {
		for (uint32_t i = 0; i < known->n_containers; i++)
			if (known->containers[i].id.len == strlen(cid) &&
			    !memcmp(known->containers[i].id.p, cid, strlen(cid)))
				return;
		if (!*cid)
			return;
	}
	char ns[512] = "", name[512] = "", cname[512] = "";
	DIR *d = opendir(r->o->log_pods_dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), ul = strlen(uid);
		if (l > ul + 2 && !strcmp(e->d_name + l - ul, uid) && e->d_name[l - ul - 1] == '_') {
			char tmp[512];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(l - ul - 1), e->d_name);
			char *us = strchr(tmp, '_');
			if (us) {
				*us = 0;
				snprintf(ns, sizeof(ns), "%s", tmp);
				snprintf(name, sizeof(name), "%s", us + 1);
			}
			break;
		}
	}
	if (d)
		closedir(d);
	if (*cid && (d = opendir(r->o->log_containers_dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char suffix[80];
			snprintf(suffix, sizeof(suffix), "-%s.log", cid);
			size_t l = strlen(e->d_name), sl = strlen(suffix);
			if (l > sl && !strcmp(e->d_name + l - sl, suffix)) {
				char tmp[512];
				snprintf(tmp, sizeof(tmp), "%.*s", (int)(l - sl), e->d_name);
				char *last = strrchr(tmp, '_');
				if (last)
					snprintf(cname, sizeof(cname), "%s", last + 1);
				break;
			}
		}
		closedir(d);
	}
	/* Rebuild this pod's record with the new container (fallback pods are
	 * few; a new one replaces the old in the set). */
	struct fr_kube *nk = fr_kube_new();
	if (!nk)
		return;
	for (size_t i = 0; i < fr_kube_n_pods(r->fallback); i++) {
		const struct fr_pod *o = fr_kube_pod(r->fallback, i);
		if (o == known)
			continue;
		char u[128], n1[256], n2[256];
		snprintf(u, sizeof(u), "%.*s", (int)o->uid.len, o->uid.p);
		snprintf(n1, sizeof(n1), "%.*s", (int)o->namespace_.len, o->namespace_.p);
		snprintf(n2, sizeof(n2), "%.*s", (int)o->name.len, o->name.p);
		struct fr_pod *np = fr_kube_add_pod(nk, u, n1, n2);
		for (uint32_t c = 0; np && c < o->n_containers; c++) {
			char a[128], b[256], im[256];
			snprintf(a, sizeof(a), "%.*s", (int)o->containers[c].id.len, o->containers[c].id.p);
			snprintf(b, sizeof(b), "%.*s", (int)o->containers[c].name.len, o->containers[c].name.p);
			snprintf(im, sizeof(im), "%.*s", (int)o->containers[c].image.len, o->containers[c].image.p);
			fr_kube_pod_add_container(nk, np, a, b, im);
		}
	}
	struct fr_pod *np = fr_kube_add_pod(nk, uid, ns, name);
	if (np && known) {
		for (uint32_t c = 0; c < known->n_containers; c++) {
			char a[128], b[256];
			snprintf(a, sizeof(a), "%.*s", (int)known->containers[c].id.len, known->containers[c].id.p);
			snprintf(b, sizeof(b), "%.*s", (int)known->containers[c].name.len, known->containers[c].name.p);
			fr_kube_pod_add_container(nk, np, a, b, "");
		}
	}
	if (np && *cid)
		fr_kube_pod_add_container(nk, np, cid, cname, "");
	fr_kube_free(r->fallback);
	r->fallback = nk;
	if (np) {
		struct fr_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.kind = FR_POD;
		rec.ts = ts;
		rec.u.pod = *fr_kube_pod(nk, fr_kube_n_pods(nk) - 1);
		add(r, &rec);
	}
}

void on_proc(struct recorder *r, const struct fr_ev_proc *e)
{
	unsigned b = e->h.pid % NBUCKET;
	struct proc *p = r->procs[b];
	while (p && p->pid != e->h.pid)
		p = p->next;
	/* announced (at its first socket event, or its first after an exec:
	 * the program's libraries are mapped by then): the TLS libraries it
	 * maps that no uprobe covers yet (a container started since) */
	if (!(e->flags & FR_PROC_EXEC) && !r->o->no_tls && privs_attach(1) == 0) {
		tls_scan(r, e->h.pid);
		privs_attach(0);
	}
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return;
		p->next = r->procs[b];
		r->procs[b] = p;
		r->n_procs++;
	}
	p->pid = e->h.pid;
	p->ppid = e->ppid;
	p->cgid = e->cgroup_id;
	p->start_ns = e->start_ns;
	p->last_ns = e->h.ts;
	snprintf(p->comm, sizeof(p->comm), "%.*s", FR_EV_COMM, e->comm);
	/* exe and cmdline from /proc while the process lives, else from the
	 * kernel's event (base name; first 256 bytes of the arguments) */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%u/exe", e->h.pid);
	ssize_t n = readlink(path, p->exe, sizeof(p->exe) - 1);
	if (n > 0)
		p->exe[n] = 0;
	else
		snprintf(p->exe, sizeof(p->exe), "%.*s", FR_EV_EXE, e->exe);
	uint32_t kl = e->cmdline_len < FR_EV_CMDLINE ? e->cmdline_len : FR_EV_CMDLINE;
	p->cmdlen = 0;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", e->h.pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t k = read(fd, p->cmd, sizeof(p->cmd));
		close(fd);
		if (k > 0)
			p->cmdlen = (size_t)k;
	}
	if (p->cmdlen < kl || (p->cmdlen >= kl && memcmp(p->cmd, e->cmdline, kl))) {
		memcpy(p->cmd, e->cmdline, kl);
		p->cmdlen = kl;
	}
	while (p->cmdlen && p->cmd[p->cmdlen - 1] == 0)
		p->cmdlen--;
	const char *cg = fr_cgroup_path(e->cgroup_id);
	snprintf(p->cgpath, sizeof(p->cgpath), "%s", cg ? cg : "");
	fr_cgroup_container_id(p->cgpath, p->cid, sizeof(p->cid));
	char uid[64];
	if (fr_cgroup_pod_uid(p->cgpath, uid, sizeof(uid)))
		fallback_pod(r, uid, p->cid, e->h.ts);
	add_proc_record(r, p, e->h.ts);
}

int check_metadata_files(const struct opts *o)
{
	char err[512];
	struct fr_kube *k = fr_kube_new();
	int rc = k ? 0 : -1;
	for (int i = 0; k && !rc && i < o->pods_files.n; i++)
		if (fr_kube_add_file(k, o->pods_files.v[i], err, sizeof(err)) < 0)
			logmsg("--pods: %s", err), rc = -1;
	for (int i = 0; k && !rc && i < o->svc_files.n; i++)
		if (fr_kube_add_file(k, o->svc_files.v[i], err, sizeof(err)) < 0)
			logmsg("--services: %s", err), rc = -1;
	fr_kube_free(k);
	return rc;
}

int load_metadata_files(struct recorder *r)
{
	char err[512];
	for (int i = 0; i < r->o->pods_files.n; i++)
		if (fr_kube_add_file(r->kube, r->o->pods_files.v[i], err, sizeof(err)) < 0) {
			logmsg("--pods: %s", err);
			return -1;
		}
	for (int i = 0; i < r->o->svc_files.n; i++)
		if (fr_kube_add_file(r->kube, r->o->svc_files.v[i], err, sizeof(err)) < 0) {
			logmsg("--services: %s", err);
			return -1;
		}
	return 0;
}

void recorder_free_tables(struct recorder *r)
{
	fr_conntab_free(r->conns);
	r->conns = NULL;
	for (int b = 0; b < NBUCKET; b++) {
		while (r->procs[b]) {
			struct proc *p = r->procs[b];
			r->procs[b] = p->next;
			free(p);
		}
	}
}
