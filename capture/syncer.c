/* syncer.c - the fsync of each closed segment, on a thread of its own.
 *
 * Closing a 64 MiB segment waited 35-50 ms for its fsync on the drain's
 * thread, while the kernel's ring buffers filled (LOSS at segment switches
 * under load).  The drain now hands the closed file to this thread, which
 * syncs and closes it, and opens the next segment at once.  A failed sync
 * is logged (the segment may then be incomplete after a crash); recording
 * goes on, and the next write says whether the disk still works.  At most
 * SYNC_MAX files wait: past that, or without the thread, the caller syncs
 * the file itself, so a slow disk slows the drain as it did before.
 *
 * A file the ring deletes while it waits here keeps its blocks until it is
 * closed: on a full disk the recorder lets the syncer finish (syncer_drain)
 * before it deletes anything.
 */
#include "recorder.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define SYNC_MAX 4

struct syncer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	int stop, head, n; /* n: files waiting, the one being synced included */
	struct {
		int fd;
		char path[PATH_MAX];
	} q[SYNC_MAX];
};

static void sync_close(int fd, const char *path)
{
	if (fsync(fd) < 0)
		logmsg("cannot sync %s: %s: it may be incomplete after a crash", path, strerror(errno));
	close(fd);
}

static void *run(void *arg)
{
	struct syncer *s = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* the main thread takes the signals */
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->n && !s->stop)
			pthread_cond_wait(&s->work, &s->mu);
		if (!s->n)
			break; /* stopping, nothing left */
		int fd = s->q[s->head].fd;
		char path[PATH_MAX];
		memcpy(path, s->q[s->head].path, sizeof(path));
		pthread_mutex_unlock(&s->mu);
		sync_close(fd, path);
		pthread_mutex_lock(&s->mu);
		s->head = (s->head + 1) % SYNC_MAX;
		if (!--s->n)
			pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct syncer *syncer_start(void)
{
	struct syncer *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	if (pthread_create(&s->thread, NULL, run, s)) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->work);
		pthread_cond_destroy(&s->idle);
		free(s);
		return NULL;
	}
	return s;
}

void syncer_hand(struct syncer *s, int fd, const char *path)
{
	if (s) {
		pthread_mutex_lock(&s->mu);
		if (s->n < SYNC_MAX) {
			int i = (s->head + s->n++) % SYNC_MAX;
			s->q[i].fd = fd;
			snprintf(s->q[i].path, sizeof(s->q[i].path), "%s", path);
			pthread_cond_signal(&s->work);
			pthread_mutex_unlock(&s->mu);
			return;
		}
		pthread_mutex_unlock(&s->mu);
	}
	sync_close(fd, path);
}

int syncer_drain(struct syncer *s)
{
	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	int had = s->n;
	while (s->n)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	return had;
}

void syncer_stop(struct syncer *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL); /* after the files still waiting */
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	free(s);
}
