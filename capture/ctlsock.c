/* ctlsock.c - the recorder's control socket, DIR/control.sock: the server
 * side of the protocol in formats/ctl.h.  Made before privileges are
 * dropped (a --control-group needs CAP_CHOWN), polled by the main loop
 * without blocking it: a client has 200 ms to send its line.  A path there
 * that is not our own socket (planted by someone else) is left alone and
 * only disables the socket: SIGUSR1 and the pid file still work. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/ctl.h"
#include "triggers.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct ctl {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t served;
};

/* --control-group: a group name or number.  -1 when unknown. */
static gid_t group_of(const char *g)
{
	char *end;
	unsigned long n = strtoul(g, &end, 10);
	if (*g && !*end)
		return (gid_t)n;
	struct group *gr = getgrnam(g);
	return gr ? gr->gr_gid : (gid_t)-1;
}

int ctl_open(struct recorder *r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	r->ctl = calloc(1, sizeof(*r->ctl));
	if (!r->ctl)
		return -1;
	r->ctl->fd = -1;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" FR_CTL_SOCKET, r->o->dir) >=
	    sizeof(sa.sun_path)) {
		logmsg("control socket off: %s/" FR_CTL_SOCKET " is too long for a socket path "
		       "(SIGUSR1 still works)", r->o->dir);
		return 0;
	}
	gid_t gid = (gid_t)-1, rgid = (gid_t)-1;
	if (r->o->control_group && (gid = group_of(r->o->control_group)) == (gid_t)-1) {
		logmsg("--control-group %s: no such group", r->o->control_group);
		return -1;
	}
	if (r->o->ring_group && (rgid = group_of(r->o->ring_group)) == (gid_t)-1) {
		logmsg("--ring-group %s: no such group", r->o->ring_group);
		return -1;
	}
	/* new files in a setgid directory take its group: segments need no
	 * chown (nor CAP_CHOWN) once privileges are dropped, only a chmod */
	if (rgid != (gid_t)-1 && (chown(r->o->dir, (uid_t)-1, rgid) < 0 || chmod(r->o->dir, 02750) < 0)) {
		logmsg("--ring-group: cannot give %s to group %s: %s", r->o->dir, r->o->ring_group,
		       strerror(errno));
		return -1;
	}
	if (lstat(sa.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
			logmsg("control socket off: %s is not a socket of ours (planted?); SIGUSR1 "
			       "still works", sa.sun_path);
			return 0;
		}
		unlink(sa.sun_path); /* left by a recorder that was killed */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	mode_t old = umask(0177);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	umask(old);
	if (ok && gid != (gid_t)-1) {
		/* the group reaches the socket: the directory becomes
		 * traversable (not readable) by it */
		ok = chown(sa.sun_path, (uid_t)-1, gid) == 0 && chmod(sa.sun_path, 0660) == 0 &&
		     lstat(r->o->dir, &st) == 0 &&
		     (st.st_gid == gid || rgid != (gid_t)-1 || chown(r->o->dir, (uid_t)-1, gid) == 0) &&
		     chmod(r->o->dir, (st.st_mode & 07777) | S_IXGRP) == 0;
	}
	if (!ok || listen(fd, 16) < 0) {
		logmsg("cannot make the control socket %s: %s", sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(sa.sun_path);
		return -1;
	}
	r->ctl->fd = fd;
	snprintf(r->ctl->path, sizeof(r->ctl->path), "%s", sa.sun_path);
	return 0;
}

/* Printable ASCII only, at most 127 bytes: the reason goes into a MARK and
 * a directory name. */
static void clean_reason(char *s)
{
	size_t n = 0;
	for (char *p = s; *p && n < 127; p++)
		if (*p >= 0x20 && *p < 0x7f)
			s[n++] = *p;
	s[n] = 0;
	while (n && s[n - 1] == ' ')
		s[--n] = 0;
}

static void reply(int fd, const char *fmt, const char *a, const char *b)
{
	char line[FR_CTL_LINE];
	int n = snprintf(line, sizeof(line) - 1, fmt, a, b);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0) {
		/* the client went away: nothing to do */
	}
}

static void serve(struct recorder *r, int fd)
{
	struct timeval tv = {0, 200000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char line[FR_CTL_LINE + 1];
	size_t n = 0;
	while (n < FR_CTL_LINE && !memchr(line, '\n', n)) {
		ssize_t k = read(fd, line + n, FR_CTL_LINE - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	line[n] = 0;
	if (!memchr(line, '\n', n))
		return; /* no complete request in time */
	line[strcspn(line, "\n")] = 0;
	struct ucred cr = {0};
	socklen_t cl = sizeof(cr);
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
	char comm[32] = "?", p[64], who[160], why[256];
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)cr.pid);
	FILE *f = fopen(p, "r");
	if (f && fgets(comm, sizeof(comm), f))
		comm[strcspn(comm, "\n")] = 0;
	if (f)
		fclose(f);
	snprintf(who, sizeof(who), "requested by uid %u gid %u pid %d (%s)", (unsigned)cr.uid,
		 (unsigned)cr.gid, (int)cr.pid, comm);
	r->ctl->served++;
	if (!strcmp(line, "status")) {
		char s[256];
		snprintf(s, sizeof(s), "recording %s; %llu events, %llu lost; %s", r->o->dir,
			 (unsigned long long)r->n_events, (unsigned long long)r->n_lost,
			 r->n_snaps ? "snapshot window open" : "no snapshot window open");
		reply(fd, "ok %s%s", s, "");
		return;
	}
	unsigned kind;
	char *arg;
	if (!strncmp(line, "snapshot ", 9)) {
		kind = TRIG_MANUAL;
		arg = line + 9;
	} else if (!strncmp(line, "alert ", 6)) {
		kind = TRIG_ALERT;
		arg = line + 6;
	} else {
		reply(fd, "error unknown request: %.64s%s", line, "");
		return;
	}
	clean_reason(arg);
	if (!*arg) {
		reply(fd, "error %s%s", "an empty reason", "");
		return;
	}
	int rc = trigger_fire(r, kind, arg, who, why, sizeof(why));
	if (rc == 0)
		reply(fd, "ok %s%s", r->snap_dir, "");
	else
		reply(fd, rc > 0 ? "suppressed %s%s" : "error %s%s", why, "");
}

void ctl_poll(struct recorder *r)
{
	if (!r->ctl || r->ctl->fd < 0)
		return;
	/* asked first: an accept4 that finds no client still makes and frees
	 * a socket (3% of the recorder's CPU under load, at every wake-up) */
	struct pollfd p = {.fd = r->ctl->fd, .events = POLLIN};
	if (poll(&p, 1, 0) != 1)
		return;
	for (int i = 0; i < 8; i++) {
		int c = accept4(r->ctl->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			return;
		serve(r, c);
		close(c);
	}
}

void ctl_close(struct recorder *r)
{
	if (!r->ctl)
		return;
	if (r->ctl->fd >= 0) {
		close(r->ctl->fd);
		unlink(r->ctl->path);
	}
	free(r->ctl);
	r->ctl = NULL;
}

/* ---- clients: `snapshot` and `status` ------------------------------------ */

int snapshot_via_socket(const char *dir, const char *reason)
{
	char req[FR_CTL_LINE], rep[FR_CTL_LINE];
	snprintf(req, sizeof(req), "snapshot %.400s", reason);
	int rc = fr_ctl_request(dir, req, 10000, rep, sizeof(rep));
	if (rc > 0)
		return -1;
	if (rc < 0) {
		logmsg("%s", rep);
		return EXIT_FAIL;
	}
	if (!strncmp(rep, "ok ", 3)) {
		printf("%s\n", rep + 3);
		return 0;
	}
	logmsg("the recorder refused: %s", rep);
	return EXIT_FAIL;
}

int status_cmd(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: " PROG " status DIR\n"
				"Asks the recorder of DIR through DIR/" FR_CTL_SOCKET
				" whether it runs: exit 0 and one line\n"
				"if it answers within 2 s (a liveness probe), else 1.\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : EXIT_USAGE;
	}
	char rep[FR_CTL_LINE];
	int rc = fr_ctl_request(argv[1], "status", 2000, rep, sizeof(rep));
	if (rc == 0 && !strncmp(rep, "ok ", 3)) {
		printf("%s\n", rep + 3);
		return 0;
	}
	logmsg("%s", rc > 0 ? "no recorder listens on the control socket" : rep);
	return EXIT_FAIL;
}
