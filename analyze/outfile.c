/* outfile.c - output files written under a temporary name and renamed into
 * place (outfile.h). */
#define _GNU_SOURCE
#include "outfile.h"

#include <errno.h>
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
	char *tmp = NULL;
	if (asprintf(&tmp, "%.*s.%s.part-XXXXXX", dir_len, path, base ? base + 1 : path) < 0) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
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
