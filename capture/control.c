/* control.c - the recording directory as a place other users may reach,
 * and the `snapshot` command that triggers a running recorder through it.
 * The recorder runs as root in a directory other users may reach: it writes
 * there only through names it creates itself (O_EXCL, O_NOFOLLOW, rename)
 * and reads back only regular files of its own, so a symlink or a file
 * planted there cannot make it write, truncate or read anything else. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "recorder.h"
#include "triggers.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Why st (an ancestor of the output directory, or the directory itself when
 * own is set) lets another user change what the path names; NULL if not. */
static const char *dir_risk(const struct stat *st, int own)
{
	if (!S_ISDIR(st->st_mode))
		return "is not a directory";
	if (own && st->st_uid != geteuid())
		return "is not owned by the recorder's user";
	if (!own && st->st_uid != 0 && st->st_uid != geteuid())
		return "is owned by another user";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return "is writable by other users and not sticky";
	return NULL;
}

/* Resolves dir (which must exist) into out, a canonical path, after
 * checking that no other user can redirect it: a symlink given as dir must
 * be ours or root's, the directory must be ours, and neither it nor any
 * parent may be writable by others unless sticky.  0, or -1 with a message
 * logged. */
int safe_dir(const char *dir, char *out)
{
	struct stat st;
	if (lstat(dir, &st) < 0) {
		logmsg("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != geteuid()) {
		logmsg("output directory %s is a symlink owned by another user: refused", dir);
		return -1;
	}
	if (!realpath(dir, out)) {
		logmsg("%s: %s", dir, strerror(errno));
		return -1;
	}
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", out);
	for (int own = 1;; own = 0) {
		const char *why = lstat(p, &st) < 0 ? strerror(errno) : dir_risk(&st, own);
		if (why) {
			logmsg("output directory %s: %s %s: refused", out, p, why);
			return -1;
		}
		if (!strcmp(p, "/"))
			return 0;
		char *slash = strrchr(p, '/');
		slash[slash == p] = 0; /* the parent; "/" for a top-level one */
	}
}

/* Reads the first line of a regular file of ours named name in dir, without
 * following a symlink; "" when there is none. */
void read_own(const char *dir, const char *name, char *buf, size_t len)
{
	char p[PATH_MAX];
	struct stat st;
	buf[0] = 0;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
		ssize_t n = read(fd, buf, len - 1);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
	}
	close(fd);
}

/* Replaces dir/name with a new file holding text: written under a fresh
 * name, then renamed over it (rename replaces a planted symlink, it does not
 * follow it).  0, or -1 with errno set. */
int write_own(const char *dir, const char *name, const char *text)
{
	char tmp[PATH_MAX], p[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/%s.XXXXXX", dir, name);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = mkstemp(tmp); /* O_EXCL, 0600 */
	if (fd < 0)
		return -1;
	size_t n = strlen(text);
	int ok = write(fd, text, n) == (ssize_t)n;
	int e = errno;
	close(fd);
	if (!ok || rename(tmp, p) < 0) {
		e = ok ? errno : e;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* The pid file holds a write lock while the recorder runs, and `snapshot`
 * asks the kernel which process holds it (F_GETLK): a pid left in the file
 * by a recorder killed with -9 is never signalled.  Returns the locked fd,
 * or -1 with a message logged (another recorder runs here, or the file is
 * not a regular file of ours). */
int pidfile_lock(const char *dir)
{
	char p[PATH_MAX], buf[32];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, PIDFILE);
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1) {
		logmsg("%s is not a regular file of ours (%s): remove it", p,
		       fd < 0 ? strerror(errno) : "planted by someone else?");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		fcntl(fd, F_GETLK, &q);
		logmsg("another recorder (pid %d) is recording into %s", (int)q.l_pid, dir);
		close(fd);
		return -1;
	}
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		logmsg("cannot write %s: %s", p, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The pid of the recorder holding dir's pid file, or 0 with a message logged
 * when none does. */
static pid_t pidfile_holder(const char *dir)
{
	char p[PATH_MAX], buf[32];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, PIDFILE);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		logmsg("no recorder running for %s (no %s)", dir, PIDFILE);
		return 0;
	}
	struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		 fcntl(fd, F_GETLK, &q) == 0;
	close(fd);
	if (ok && q.l_type != F_UNLCK && q.l_pid > 0)
		return q.l_pid;
	read_own(dir, PIDFILE, buf, sizeof(buf));
	logmsg("no recorder running for %s: %s names pid %s, but no recorder holds it (left by a "
	       "recorder that was killed; safe to remove)", dir, PIDFILE, buf[0] ? buf : "?");
	return 0;
}


int snapshot_cmd(int argc, char **argv)
{
	const char *reason = "manual";
	static const struct option lo[] = {{"reason", required_argument, 0, 'r'},
					   {"help", no_argument, 0, 'h'},
					   {0, 0, 0, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:h", lo, NULL)) != -1) {
		if (c == 'r')
			reason = optarg;
		else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: " PROG " snapshot DIR [--reason TEXT]\n");
		return EXIT_USAGE;
	}
	int via = snapshot_via_socket(argv[optind], reason);
	if (via >= 0)
		return via;
	char dir[PATH_MAX];
	if (access(argv[optind], F_OK) < 0) {
		logmsg("no recorder running for %s: %s", argv[optind], strerror(errno));
		return EXIT_FAIL;
	}
	if (safe_dir(argv[optind], dir) < 0)
		return EXIT_FAIL;
	pid_t pid = pidfile_holder(dir);
	if (pid <= 0)
		return EXIT_FAIL;
	/* A pidfd pins the process: if the recorder exits and its pid is
	 * reused after the check below, the signal goes nowhere. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0 || pidfile_holder(dir) != pid) {
		logmsg("the recorder (pid %d) is gone", (int)pid);
		if (pfd >= 0)
			close(pfd);
		return EXIT_FAIL;
	}
	char last_before[PATH_MAX], last[PATH_MAX];
	read_own(dir, LASTSNAPFILE, last_before, sizeof(last_before));
	if (write_own(dir, REASONFILE, reason) < 0) {
		logmsg("cannot write %s/%s: %s", dir, REASONFILE, strerror(errno));
		close(pfd);
		return EXIT_FAIL;
	}
	long sent = syscall(SYS_pidfd_send_signal, pfd, SIGUSR1, NULL, 0);
	close(pfd);
	if (sent < 0) {
		logmsg("cannot signal recorder %d: %s", (int)pid, strerror(errno));
		return EXIT_FAIL;
	}
	for (int i = 0; i < 100; i++) {
		usleep(50000);
		read_own(dir, LASTSNAPFILE, last, sizeof(last));
		if (last[0] && strcmp(last, last_before)) {
			printf("%s\n", last);
			return 0;
		}
	}
	logmsg("the recorder (pid %d) did not report a snapshot within 5 s", (int)pid);
	return EXIT_FAIL;
}

