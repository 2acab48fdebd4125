/* kevents.h - Kubernetes triggers from the API watcher's polls (pure
 * functions of the JSON it fetched, unit-tested): Warning events BackOff,
 * Unhealthy, Failed and Evicted about pods of this node, and pods whose
 * Ready condition turns from True to False. */
#ifndef FLIGHTREC_KEVENTS_H
#define FLIGHTREC_KEVENTS_H

#include <stddef.h>
#include <stdint.h>

struct fr_kev;

struct fr_kev_trigger {
	char target[320]; /* "BackOff prod/api-7c9d-x", "NotReady prod/api-7c9d-x" */
	char detail[512]; /* the event's message and count, or the condition's reason */
};

/* A new state: events last seen before since (seconds since the epoch)
 * never fire.  NULL when out of memory. */
struct fr_kev *fr_kev_new(int64_t since);
void fr_kev_free(struct fr_kev *k); /* NULL accepted */

/* One poll: pods is this node's PodList (JSON), events an EventList of
 * Warning events (NULL or unparsable: no events this time).  Writes at most
 * max new triggers into out and returns how many; a pod seen Ready before
 * and NotReady now fires once per transition, an event once per new count.
 * Returns -1 (state unchanged) when pods is not a PodList. */
int fr_kev_diff(struct fr_kev *k, const char *pods, size_t npods, const char *events,
		size_t nevents, struct fr_kev_trigger *out, int max);

#endif
