/* ctl.c - the client side of the recorder's control socket (ctl.h). */
#define _GNU_SOURCE
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads one line (up to '\n' or EOF) within the deadline.  Its length, or -1. */
static int read_line(int fd, char *buf, size_t len, long deadline)
{
	size_t n = 0;
	while (n + 1 < len) {
		long left = deadline - now_ms();
		struct pollfd p = {fd, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		ssize_t k = read(fd, buf + n, len - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (memchr(buf, '\n', n))
			break;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return n ? (int)strlen(buf) : -1;
}

int fr_ctl_request(const char *dir, const char *request, int timeout_ms, char *reply,
		   size_t replylen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	reply[0] = 0;
	if (lstat(dir, &st) == 0 && S_ISSOCK(st.st_mode))
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dir);
	else if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" FR_CTL_SOCKET, dir) >=
		 sizeof(sa.sun_path)) {
		snprintf(reply, replylen, "%s/" FR_CTL_SOCKET ": path too long for a socket", dir);
		return -1;
	}
	if (lstat(sa.sun_path, &st) < 0)
		return 1;
	if (!S_ISSOCK(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(reply, replylen, "%s is not the recorder's socket (owner uid %u): refused",
			 sa.sun_path, (unsigned)st.st_uid);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(reply, replylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		if (e == ECONNREFUSED || e == ENOENT)
			return 1; /* left by a recorder that is gone */
		snprintf(reply, replylen, "%s: %s", sa.sun_path, strerror(e));
		return -1;
	}
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != st.st_uid) {
		snprintf(reply, replylen, "%s: the listening process is not the socket's owner: refused",
			 sa.sun_path);
		close(fd);
		return -1;
	}
	char line[FR_CTL_LINE];
	int n = snprintf(line, sizeof(line), "%s\n", request);
	if (n >= (int)sizeof(line) || write(fd, line, (size_t)n) != n) {
		snprintf(reply, replylen, "%s: cannot send the request", sa.sun_path);
		close(fd);
		return -1;
	}
	int k = read_line(fd, reply, replylen, now_ms() + timeout_ms);
	close(fd);
	if (k < 0) {
		snprintf(reply, replylen, "%s: no reply within %d ms", sa.sun_path, timeout_ms);
		return -1;
	}
	return 0;
}
