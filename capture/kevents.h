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
	int cluster;      /* 1: the cluster trigger (fr_kev_cluster); target is its reason */
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

/* The cluster trigger: one ConfigMap every recorder polls (`kubectl apply`
 * of data {reason, id, requested}).  json is the ConfigMap as the API
 * returned it, or NULL when it does not exist (404).  The first poll only
 * learns the current id; a later poll that finds another non-empty id
 * writes one trigger into out (target: the reason, "manual" if none;
 * detail: the requested time and the id) and returns 1; else 0. */
int fr_kev_cluster(struct fr_kev *k, const char *json, size_t n, struct fr_kev_trigger *out);

#endif
