/* cgroup.c - container and pod identity from cgroup paths; cgroup id ->
 * path on cgroup v2 (the id is the directory's inode number). */
#define _GNU_SOURCE
#include "cgroup.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* 64 hex digits at p, followed by end, '.', or '/'. */
static int hex64_at(const char *p)
{
	for (int i = 0; i < 64; i++)
		if (!is_hex(p[i]))
			return 0;
	return p[64] == 0 || p[64] == '.' || p[64] == '/';
}

size_t fr_cgroup_container_id(const char *path, char *out, size_t outlen)
{
	if (outlen)
		out[0] = 0;
	if (!path || outlen < 65)
		return 0;
	/* The last path component that holds an id wins (nested cgroups). */
	const char *found = NULL;
	for (const char *c = path; *c; c++) {
		/* "/<64hex>" (cgroupfs) or "<prefix>-<64hex>" (systemd) */
		if ((*c != '/' && *c != '-') || !hex64_at(c + 1))
			continue;
		/* not the conmon scope of CRI-O: crio-conmon-<id>.scope */
		if (*c == '-' && c - path >= 6 && !strncmp(c - 6, "conmon", 6))
			continue;
		found = c + 1;
	}
	if (!found)
		return 0;
	memcpy(out, found, 64);
	out[64] = 0;
	return 64;
}

size_t fr_cgroup_pod_uid(const char *path, char *out, size_t outlen)
{
	if (outlen)
		out[0] = 0;
	if (!path || outlen < 37)
		return 0;
	const char *p = path;
	while ((p = strstr(p, "pod")) != NULL) {
		const char *u = p + 3;
		int before_ok = p > path && (p[-1] == '-' || p[-1] == '/');
		size_t n = 0;
		while (n < 36 && (is_hex(u[n]) || u[n] == '_' || u[n] == '-'))
			n++;
		if (before_ok && n == 36 && (u[36] == '.' || u[36] == '/' || u[36] == 0) &&
		    (u[8] == '_' || u[8] == '-')) {
			for (size_t i = 0; i < 36; i++)
				out[i] = u[i] == '_' ? '-' : u[i];
			out[36] = 0;
			return 36;
		}
		p += 3;
	}
	return 0;
}

/* ---- id -> path ---------------------------------------------------------- */

struct cg_ent {
	uint64_t id;
	char *path;
};
static struct cg_ent *cg_tab;
static size_t cg_n, cg_cap;
static char cg_root[256];
static int cg_root_done;
static time_t cg_last_walk;

const char *fr_cgroup_root(void)
{
	if (cg_root_done)
		return cg_root[0] ? cg_root : NULL;
	cg_root_done = 1;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return NULL;
	char line[1024];
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		char mnt[256];
		if (sscanf(line, "%*s %*s %*s %*s %255s", mnt) == 1) {
			snprintf(cg_root, sizeof(cg_root), "%s", mnt);
			break;
		}
	}
	fclose(f);
	return cg_root[0] ? cg_root : NULL;
}

static void cg_add(uint64_t id, const char *rel)
{
	for (size_t i = 0; i < cg_n; i++)
		if (cg_tab[i].id == id) {
			if (strcmp(cg_tab[i].path, rel)) {
				free(cg_tab[i].path);
				cg_tab[i].path = strdup(rel);
			}
			return;
		}
	if (cg_n == cg_cap) {
		size_t nc = cg_cap ? cg_cap * 2 : 256;
		struct cg_ent *t = realloc(cg_tab, nc * sizeof(*t));
		if (!t)
			return;
		cg_tab = t;
		cg_cap = nc;
	}
	char *p = strdup(rel);
	if (!p)
		return;
	cg_tab[cg_n++] = (struct cg_ent){id, p};
}

static void cg_walk(const char *abs, const char *rel, int depth)
{
	if (depth > 16)
		return;
	DIR *d = opendir(abs);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		char a[4096], r[4096];
		if (snprintf(a, sizeof(a), "%s/%s", abs, e->d_name) >= (int)sizeof(a) ||
		    snprintf(r, sizeof(r), "%s/%s", rel, e->d_name) >= (int)sizeof(r))
			continue;
		cg_add(e->d_ino, r);
		cg_walk(a, r, depth + 1);
	}
	closedir(d);
}

const char *fr_cgroup_path(uint64_t id)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cg_n; i++)
			if (cg_tab[i].id == id)
				return cg_tab[i].path;
		const char *root = fr_cgroup_root();
		time_t now = time(NULL);
		if (!root || pass || now == cg_last_walk)
			break;
		cg_last_walk = now; /* at most one walk per second */
		struct stat st;
		if (stat(root, &st) == 0)
			cg_add(st.st_ino, "/");
		cg_walk(root, "", 0);
	}
	return NULL;
}

uint64_t fr_cgroup_id_of(const char *path)
{
	char buf[4096];
	const char *root = fr_cgroup_root();
	if (path[0] != '/' || (root && strncmp(path, root, strlen(root)))) {
		if (!root)
			return 0;
		snprintf(buf, sizeof(buf), "%s/%s", root, path[0] == '/' ? path + 1 : path);
		path = buf;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return st.st_ino;
}

void fr_cgroup_fini(void)
{
	for (size_t i = 0; i < cg_n; i++)
		free(cg_tab[i].path);
	free(cg_tab);
	cg_tab = NULL;
	cg_n = cg_cap = 0;
}
