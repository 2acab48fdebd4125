/* outfile.c - output files written under a temporary name and renamed into
 * place (outfile.h). */
#define _GNU_SOURCE
#include "outfile.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *fr_out_begin(const char *path, int *fd, char *err, size_t errlen)
{
	struct stat st;
	if (!*path) {
		snprintf(err, errlen, "the output path is empty");
		return NULL;
	}
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a regular file: not replacing it", path);
		return NULL;
	}
	const char *base = strrchr(path, '/');
	int dir_len = base ? (int)(base - path) + 1 : 0;
	char *tmp = NULL, *dir = NULL, *prefix = NULL;
	if (asprintf(&tmp, "%.*s.%s.part-%d-XXXXXX", dir_len, path, base ? base + 1 : path, (int)getpid()) < 0 ||
	    asprintf(&dir, "%.*s", dir_len ? dir_len : 1, dir_len ? path : ".") < 0 ||
	    asprintf(&prefix, ".%s.part-", base ? base + 1 : path) < 0) {
		snprintf(err, errlen, "out of memory");
		free(tmp), free(dir), free(prefix);
		return NULL;
	}
	fr_out_reap_stale(dir, prefix); /* a killed run's part file */
	free(dir), free(prefix);
	int f = mkstemp(tmp); /* O_EXCL, 0600 */
	if (f < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return NULL;
	}
	if (fd)
		*fd = f;
	else
		close(f);
	return tmp;
}

int fr_out_commit(char *tmp, const char *path)
{
	int rc = rename(tmp, path);
	if (rc < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
	}
	free(tmp);
	return rc;
}

void fr_out_abort(char *tmp)
{
	if (tmp)
		unlink(tmp);
	free(tmp);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(p);
}

void fr_out_reap_stale(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t pl = strlen(prefix);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, pl))
			continue;
		char *end;
		long pid = strtol(e->d_name + pl, &end, 10);
		if (end == e->d_name + pl || *end != '-' || pid <= 0 || pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* still running (or not ours to ask) */
		char p[4096];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) < 0 || st.st_uid != geteuid())
			continue;
		if (S_ISDIR(st.st_mode))
			nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		else if (S_ISREG(st.st_mode))
			unlink(p);
	}
	closedir(d);
}
