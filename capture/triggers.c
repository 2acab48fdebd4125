/* triggers.c - automatic triggers of flightrec-record: the OOM killer's
 * victims, containers' main processes that crash and restart (both from
 * bpf/triggers.bpf.c), Kubernetes events and alerts (through kevents.c and
 * the control socket); the cooldown they share, and the cap on the
 * snapshots kept.  triggers.h describes the rules. */
#define _GNU_SOURCE
#include "bpf/triggers.skel.h"
#include "../bpf/triggers.h"
#include "cgroup.h"
#include "kevents.h"
#include "kubeapi.h"
#include "triggers.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define V1_MEMORY "/sys/fs/cgroup/memory"
#define CRASH_MEMORY 16            /* pods whose crash a restart is matched with */
#define CRASH_WINDOW_NS (600 * 1000000000ull) /* a start this soon after a crash is a restart */

struct crash {
	char root[64];     /* cgroup mount the pod's directory is under */
	char podkey[512];  /* the pod's cgroup directory, relative to root */
	char target[320];
	uint64_t ns;
	unsigned restarts;
	uint32_t last_pid; /* of the last restart: its later execs are the same start */
};

struct trig {
	struct triggers_bpf *skel;
	uint64_t last_auto_ns;
	int have_auto;
	struct crash crashed[CRASH_MEMORY];
	int ncrash;
};

static const char *const names[] = {"oom", "crash", "restart", "kube", "alert", "cluster"};

const char *trigger_name(unsigned kind)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (kind == 1u << i)
			return names[i];
	return "manual";
}

int triggers_parse(const char *list, unsigned *mask)
{
	*mask = 0;
	if (!strcmp(list, "none"))
		return 0;
	if (!strcmp(list, "all")) {
		*mask = TRIG_ALL;
		return 0;
	}
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		unsigned i = 0;
		while (i < sizeof(names) / sizeof(names[0]) && strcmp(w, names[i]))
			i++;
		if (i == sizeof(names) / sizeof(names[0]))
			return -1;
		*mask |= 1u << i;
	}
	return 0;
}

/* ---- firing -------------------------------------------------------------- */

int trigger_fire(struct recorder *r, unsigned kind, const char *target, const char *detail,
		 char *why, size_t whylen)
{
	struct trig *t = r->trig;
	char reason[192], mark[1024];
	if (kind == TRIG_MANUAL)
		snprintf(reason, sizeof(reason), "%s", target);
	else
		snprintf(reason, sizeof(reason), "%s %s", trigger_name(kind), target);
	snprintf(mark, sizeof(mark), "%s (%s trigger%s%s)", reason, trigger_name(kind),
		 detail && *detail ? ": " : "", detail ? detail : "");
	why[0] = 0;
	if (kind != TRIG_MANUAL) {
		uint64_t now = mono_ns();
		if (!(r->o->triggers & kind)) {
			snprintf(why, whylen, "the %s trigger is off (--triggers)", trigger_name(kind));
			return 1;
		}
		if (kind != TRIG_CLUSTER && t && t->have_auto &&
		    now - t->last_auto_ns < (uint64_t)(r->o->cooldown * 1e9)) {
			double left = r->o->cooldown - (double)(now - t->last_auto_ns) / 1e9;
			snprintf(why, whylen, "in the cooldown (%.0f s left)", left);
			add_mark(r, "trigger-suppressed", mark);
			logmsg("trigger suppressed, %s: %s", why, mark);
			return 1;
		}
		if (t && kind != TRIG_CLUSTER) {
			t->have_auto = 1;
			t->last_auto_ns = now;
		}
	}
	logmsg("trigger: %s", mark);
	if (snapshot_begin(r, reason, mark) < 0) {
		snprintf(why, whylen, "the snapshot failed (see the recorder's log)");
		return -1;
	}
	return 0;
}

/* ---- the cap on snapshots kept ------------------------------------------- */

struct kept_snap {
	char name[NAME_MAX + 1];
	uint64_t bytes;
};

/* a snapshot whose after-window is still open */
static int still_open(const struct recorder *r, const char *name)
{
	for (int i = 0; i < r->n_snaps; i++)
		if (!strcmp(r->snaps[i].name, name))
			return 1;
	return 0;
}

static int snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kept_snap *)a)->name, ((const struct kept_snap *)b)->name);
}

/* Bytes of the regular files directly in dirfd/name (never followed). */
static uint64_t dir_bytes(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	uint64_t n = 0;
	struct dirent *e;
	struct stat st;
	while (d && (e = readdir(d)) != NULL)
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			n += (uint64_t)st.st_size;
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return n;
}

static void remove_snapshot(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(fd, e->d_name, 0);
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		logmsg("snapshots: cannot remove %s: %s", name, strerror(errno));
	else
		logmsg("snapshots: removed %s (--snapshots-max/--snapshots-size)", name);
}

void snapshots_cap(struct recorder *r)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/snapshots", r->o->dir);
	int dfd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dup(dfd));
	struct kept_snap *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *e;
	struct stat st;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			struct kept_snap *nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name);
		v[n].bytes = dir_bytes(dfd, e->d_name);
		total += v[n++].bytes;
	}
	if (d)
		closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), snap_cmp);
	const char *cur = strrchr(r->snap_dir, '/');
	cur = cur ? cur + 1 : "";
	size_t left = n;
	for (size_t i = 0; i < n; i++) {
		int too_many = r->o->snap_max && left > r->o->snap_max;
		int too_big = r->o->snap_bytes && total > r->o->snap_bytes;
		if (!too_many && !too_big)
			break;
		if (!strcmp(v[i].name, cur) || still_open(r, v[i].name))
			continue; /* never a snapshot being written */
		remove_snapshot(dfd, v[i].name);
		total -= v[i].bytes;
		left--;
	}
	free(v);
	close(dfd);
}

/* ---- who: cgroups, pods ---------------------------------------------------- */

/* Finds the directory with inode id below root/rel (rel "" or "/a/b"):
 * its path relative to root ("/a/b/c") into out.  1 if found. */
static int cg_find(const char *root, const char *rel, uint64_t id, char *out, size_t len,
		   int depth)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s%s", root, rel);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int found = 0;
	while (d && !found && (e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", rel, e->d_name);
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == id) {
			snprintf(out, len, "%s", sub);
			found = 1;
		} else if (depth < 16) {
			found = cg_find(root, sub, id, out, len, depth + 1);
		}
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return found;
}

/* The cgroup path of a trigger event: its cgroup v2 directory when that
 * names a container or a pod, else its memory cgroup's (a cgroup v1 host).
 * Sets *root to the mount it is under.  "" when neither is found. */
static void event_cgroup(const struct fr_tev *e, char *out, size_t len, const char **root)
{
	char tmp[64];
	const char *v2 = fr_cgroup_root();
	out[0] = 0;
	*root = v2 ? v2 : "";
	if (v2 && e->cgroup_id && cg_find(v2, "", e->cgroup_id, out, len, 0) &&
	    (fr_cgroup_container_id(out, tmp, sizeof(tmp)) || fr_cgroup_pod_uid(out, tmp, sizeof(tmp))))
		return;
	struct stat st;
	if (e->memcg_id && stat(V1_MEMORY "/memory.limit_in_bytes", &st) == 0) {
		char p[PATH_MAX];
		if (cg_find(V1_MEMORY, "", e->memcg_id, p, sizeof(p), 0)) {
			snprintf(out, len, "%s", p);
			*root = V1_MEMORY;
		}
	}
}

/* Inside what the recorder records: the --pid filters (when there are
 * any: the process is one of them) and the --cgroup filters (when there
 * are any).  A recorder told to record some processes or pods is not
 * snapshotted by another pod's crash. */
static int in_scope(const struct recorder *r, uint32_t pid, const char *path, const char *root)
{
	if (r->o->pids.n) {
		int found = 0;
		for (int i = 0; i < r->o->pids.n && !found; i++)
			found = r->o->pids.v[i] == pid;
		if (!found)
			return 0;
	}
	if (!r->o->cgroups.n)
		return 1;
	for (int i = 0; i < r->o->cgroups.n; i++) {
		const char *f = r->o->cgroups.v[i];
		size_t rl = strlen(root);
		if (!strncmp(f, root, rl) && (f[rl] == '/' || !f[rl]))
			f += rl;
		while (*f == '/')
			f++;
		size_t fl = strlen(f);
		while (fl && f[fl - 1] == '/')
			fl--;
		if (!fl || (!strncmp(path + 1, f, fl) && (path[1 + fl] == '/' || !path[1 + fl])))
			return 1;
	}
	return 0;
}

static void span_cpy(char *out, size_t len, struct fr_span s)
{
	snprintf(out, len, "%.*s", (int)s.len, (const char *)s.p);
}

/* The pod ("namespace/name", or "pod <uid>") and container of a cgroup
 * path into target and cname; 0 when the path names no container or pod. */
static int who(const struct recorder *r, const char *path, char *target, size_t tlen, char *cname,
	       size_t clen)
{
	char uid[64], cid[72];
	int has_uid = fr_cgroup_pod_uid(path, uid, sizeof(uid)) > 0;
	int has_cid = fr_cgroup_container_id(path, cid, sizeof(cid)) > 0;
	cname[0] = 0;
	if (!has_uid && !has_cid)
		return 0;
	const struct fr_pod *p = has_uid ? fr_kube_find_uid(r->kube, uid) : NULL;
	if (!p && has_uid)
		p = fr_kube_find_uid(r->fallback, uid);
	if (p && p->name.len) {
		char ns[256], name[256];
		span_cpy(ns, sizeof(ns), p->namespace_);
		span_cpy(name, sizeof(name), p->name);
		snprintf(target, tlen, "%.100s/%.200s", ns, name);
		for (uint32_t i = 0; has_cid && i < p->n_containers; i++)
			if (p->containers[i].id.len == strlen(cid) &&
			    !memcmp(p->containers[i].id.p, cid, strlen(cid)))
				span_cpy(cname, clen, p->containers[i].name);
	} else if (has_uid) {
		snprintf(target, tlen, "pod %s", uid);
	} else {
		snprintf(target, tlen, "container %.12s", cid);
	}
	if (!cname[0] && has_cid)
		snprintf(cname, clen, "%.12s", cid);
	return 1;
}

/* ---- kernel events ------------------------------------------------------- */

static void how_it_ended(uint32_t code, char *out, size_t len)
{
	int sig = code & 0x7f;
	if (sig) {
		const char *n = sigabbrev_np(sig);
		snprintf(out, len, "killed by SIG%s%s", n ? n : "?", code & 0x80 ? " (core dumped)" : "");
	} else {
		snprintf(out, len, "exit status %u", (code >> 8) & 0xff);
	}
}

static void remember_crash(struct trig *t, const char *root, const char *path, const char *target,
			   uint64_t ts)
{
	char podkey[512];
	snprintf(podkey, sizeof(podkey), "%s", path);
	char *slash = strrchr(podkey, '/'); /* the container's parent: its pod */
	if (slash && slash != podkey)
		*slash = 0;
	struct crash *c = NULL;
	for (int i = 0; i < t->ncrash && !c; i++)
		if (!strcmp(t->crashed[i].podkey, podkey) && !strcmp(t->crashed[i].root, root))
			c = &t->crashed[i];
	if (!c) {
		if (t->ncrash == CRASH_MEMORY) /* forget the oldest */
			memmove(&t->crashed[0], &t->crashed[1], sizeof(t->crashed[0]) * (CRASH_MEMORY - 1));
		else
			t->ncrash++;
		c = &t->crashed[t->ncrash - 1];
		memset(c, 0, sizeof(*c));
		snprintf(c->root, sizeof(c->root), "%s", root);
		snprintf(c->podkey, sizeof(c->podkey), "%s", podkey);
	}
	snprintf(c->target, sizeof(c->target), "%s", target);
	c->ns = ts;
}

/* A main process started: a restart when it is in a pod that crashed in
 * the last CRASH_WINDOW_NS.  Only those pods' directories are searched. */
static void on_start(struct recorder *r, const struct fr_tev *e)
{
	struct trig *t = r->trig;
	for (int i = 0; i < t->ncrash; i++) {
		struct crash *c = &t->crashed[i];
		char path[PATH_MAX], why[256], detail[512];
		if (e->ts < c->ns || e->ts - c->ns > CRASH_WINDOW_NS || e->pid == c->last_pid)
			continue;
		uint64_t id = strcmp(c->root, V1_MEMORY) ? e->cgroup_id : e->memcg_id;
		if (!cg_find(c->root, c->podkey, id, path, sizeof(path), 0))
			continue;
		c->restarts++;
		c->last_pid = e->pid;
		snprintf(detail, sizeof(detail),
			 "main process pid %u (%.16s) started %.1f s after the crash; restart %u",
			 e->pid, e->comm, (double)(e->ts - c->ns) / 1e9, c->restarts);
		trigger_fire(r, TRIG_RESTART, c->target, detail, why, sizeof(why));
		return;
	}
}

static int on_tev(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct fr_tev *e = data;
	if (size < sizeof(*e) || e->version != FR_TEV_VERSION) {
		r->n_bad++;
		return 0;
	}
	if (e->type == FR_TEV_START) {
		if (r->trig->ncrash)
			on_start(r, e);
		return 0;
	}
	if (e->type != FR_TEV_OOM && e->type != FR_TEV_EXIT)
		return 0;
	char path[PATH_MAX], target[320], cname[256], detail[1024], why[256], how[64];
	const char *root;
	event_cgroup(e, path, sizeof(path), &root);
	if (!in_scope(r, e->pid, path[0] ? path : "/", root))
		return 0;
	int known = who(r, path, target, sizeof(target), cname, sizeof(cname));
	if (e->type == FR_TEV_OOM) {
		if (!known)
			snprintf(target, sizeof(target), "%.16s", e->comm);
		snprintf(detail, sizeof(detail), "the OOM killer chose pid %u (%.16s)%s%s, cgroup %s",
			 e->pid, e->comm, cname[0] ? ", container " : "", cname, path[0] ? path : "?");
		trigger_fire(r, TRIG_OOM, target, detail, why, sizeof(why));
		return 0;
	}
	if (!known)
		return 0; /* not a container's main process */
	how_it_ended(e->exit_code, how, sizeof(how));
	snprintf(detail, sizeof(detail), "main process pid %u (%.16s) of container %s %s, cgroup %s",
		 e->pid, e->comm, cname, how, path);
	remember_crash(r->trig, root, path, target, e->ts);
	trigger_fire(r, TRIG_CRASH, target, detail, why, sizeof(why));
	return 0;
}

/* Since Linux 6.8 oom:mark_victim passes the task, before only its pid. */
static int victim_is_task(void)
{
	struct btf *b = btf__load_vmlinux_btf();
	int res = 1;
	if (!b)
		return res;
	int id = btf__find_by_name_kind(b, "btf_trace_mark_victim", BTF_KIND_TYPEDEF);
	const struct btf_type *t = id > 0 ? btf__type_by_id(b, id) : NULL;
	if (t)
		t = btf__type_by_id(b, t->type); /* pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(b, t->type); /* the prototype */
	if (t && btf_is_func_proto(t) && btf_vlen(t) >= 2)
		res = btf_is_ptr(btf__type_by_id(b, btf_params(t)[1].type));
	btf__free(b);
	return res;
}

static int attach_one(struct bpf_program *p, struct bpf_link **link, const char *tp)
{
	*link = bpf_program__attach(p);
	if (!*link) {
		logmsg("triggers: cannot attach to %s: %s", tp, strerror(errno));
		return -1;
	}
	return 0;
}

int triggers_load(struct recorder *r)
{
	r->trig = calloc(1, sizeof(*r->trig));
	if (!r->trig)
		return -1;
	unsigned want = r->o->triggers;
	if (!(want & (TRIG_OOM | TRIG_CRASH | TRIG_RESTART)))
		return 0;
	struct triggers_bpf *s = triggers_bpf__open();
	if (!s) {
		logmsg("triggers: cannot open the BPF object: %s", strerror(errno));
		return -1;
	}
	r->trig->skel = s;
	s->rodata->self_tgid = (__u32)getpid();
	s->rodata->victim_is_task = (__u8)victim_is_task();
	bpf_program__set_autoload(s->progs.fr_oom, (want & TRIG_OOM) != 0);
	bpf_program__set_autoload(s->progs.fr_texit, (want & (TRIG_CRASH | TRIG_RESTART)) != 0);
	bpf_program__set_autoload(s->progs.fr_texec, (want & TRIG_RESTART) != 0);
	int err = triggers_bpf__load(s);
	if (err) {
		logmsg("triggers: cannot load bpf/triggers.bpf.c: %s (--triggers none goes without)",
		       strerror(-err));
		return -1;
	}
	if ((want & TRIG_OOM) && attach_one(s->progs.fr_oom, &s->links.fr_oom, "oom:mark_victim"))
		r->o->triggers &= ~TRIG_OOM;
	if ((want & (TRIG_CRASH | TRIG_RESTART)) &&
	    attach_one(s->progs.fr_texit, &s->links.fr_texit, "sched:sched_process_exit"))
		return -1;
	if ((want & TRIG_RESTART) &&
	    attach_one(s->progs.fr_texec, &s->links.fr_texec, "sched:sched_process_exec"))
		return -1;
	err = rings_add(r->rb, bpf_map__fd(s->maps.tevents), on_tev, r, 0);
	if (err) {
		logmsg("triggers: cannot poll their ring buffer: %s", strerror(-err));
		return -1;
	}
	return 0;
}

void triggers_free(struct recorder *r)
{
	if (!r->trig)
		return;
	triggers_bpf__destroy(r->trig->skel);
	free(r->trig);
	r->trig = NULL;
}

void kube_triggers(struct recorder *r)
{
	struct fr_kev_trigger t[8];
	char why[256];
	int n;
	while (r->api && (n = fr_kubeapi_take_triggers(r->api, t, 8)) > 0)
		for (int i = 0; i < n; i++)
			trigger_fire(r, t[i].cluster ? TRIG_CLUSTER : TRIG_KUBE, t[i].target, t[i].detail,
				     why, sizeof(why));
}
