/* outfile.h - how flightrec writes an output file (a database, a pcapng, a
 * report page): under a temporary name beside it, mode 0600 whatever the umask
 * (outputs hold payloads), renamed over it once complete.  Only a regular
 * file (or nothing) is ever replaced at the path: never a device, a FIFO, a
 * directory or a symlink's target; and a failed or interrupted run leaves
 * nothing there that looks whole. */
#ifndef FLIGHTREC_OUTFILE_H
#define FLIGHTREC_OUTFILE_H

#include <stddef.h>

/* Creates the temporary file for path.  Returns its name (the caller owns
 * it) with *fd open for writing (fd may be NULL: then it is closed), or
 * NULL with a message in err. */
char *fr_out_begin(const char *path, int *fd, char *err, size_t errlen);
/* Renames tmp over path and frees tmp.  0, or -1 with errno set (tmp is
 * removed then). */
int fr_out_commit(char *tmp, const char *path);
/* Removes tmp and frees it; NULL is fine. */
void fr_out_abort(char *tmp);
/* Removes what an analyzer killed earlier (kill -9, a crash) left in dir:
 * the entries named <prefix><pid>-... owned by this user whose pid no
 * longer runs (a folder with its contents).  Temporary names carry the
 * writer's pid for this (fr_out_begin's, analyze's imported captures). */
void fr_out_reap_stale(const char *dir, const char *prefix);

#endif
