/* kevents.c - Kubernetes triggers from the API watcher's polls
 * (kevents.h): Warning events about this node's pods and pods turning
 * NotReady.  Pure functions of the JSON of each poll and of the state the
 * last polls left. */
#define _GNU_SOURCE
#include "kevents.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEEN_MAX 4096 /* events remembered (uid and count): the oldest go first */

struct pod_ready {
	char uid[64];
	int ready; /* 1 True, 0 False, -1 no condition */
};

struct seen {
	char uid[64];
	int64_t count;
};

struct fr_kev {
	int64_t since;
	struct pod_ready *pods;
	size_t npods;
	struct seen seen[SEEN_MAX];
	size_t nseen, next;
	char cluster_id[128]; /* the cluster trigger's id last seen */
	int cluster_polled;
};

static const char *const reasons[] = {"BackOff", "Unhealthy", "Failed", "Evicted"};

struct fr_kev *fr_kev_new(int64_t since)
{
	struct fr_kev *k = calloc(1, sizeof(*k));
	if (k)
		k->since = since;
	return k;
}

void fr_kev_free(struct fr_kev *k)
{
	if (!k)
		return;
	free(k->pods);
	free(k);
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : "";
}

/* "2026-12-06T09:10:11Z" (fractions allowed) into seconds; 0 if none. */
static int64_t rfc3339(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!*s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

static int ready_of(json_t *pod)
{
	json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions");
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c)
		if (!strcmp(str(c, "type"), "Ready"))
			return !strcmp(str(c, "status"), "True");
	return -1;
}

static const char *ready_reason(json_t *pod)
{
	json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions");
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c)
		if (!strcmp(str(c, "type"), "Ready"))
			return *str(c, "reason") ? str(c, "reason") : str(c, "message");
	return "";
}

static int was_ready(const struct fr_kev *k, const char *uid)
{
	for (size_t i = 0; i < k->npods; i++)
		if (!strcmp(k->pods[i].uid, uid))
			return k->pods[i].ready;
	return -1;
}

/* New (not seen with this count or more)?  Remembers it. */
static int new_event(struct fr_kev *k, const char *uid, int64_t count)
{
	for (size_t i = 0; i < k->nseen; i++)
		if (!strcmp(k->seen[i].uid, uid)) {
			if (count <= k->seen[i].count)
				return 0;
			k->seen[i].count = count;
			return 1;
		}
	struct seen *s = &k->seen[k->next];
	snprintf(s->uid, sizeof(s->uid), "%s", uid);
	s->count = count;
	k->next = (k->next + 1) % SEEN_MAX;
	if (k->nseen < SEEN_MAX)
		k->nseen++;
	return 1;
}

static int wanted_reason(const char *r)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(r, reasons[i]))
			return 1;
	return 0;
}

/* The pod of items whose uid (or namespace and name) the event names. */
static json_t *pod_of(json_t *items, json_t *obj)
{
	size_t i;
	json_t *p;
	json_array_foreach(items, i, p) {
		json_t *md = json_object_get(p, "metadata");
		if (*str(obj, "uid") ? !strcmp(str(md, "uid"), str(obj, "uid"))
				     : !strcmp(str(md, "name"), str(obj, "name")) &&
					       !strcmp(str(md, "namespace"), str(obj, "namespace")))
			return p;
	}
	return NULL;
}

static int diff_events(struct fr_kev *k, json_t *items, json_t *ev, struct fr_kev_trigger *out,
		       int n, int max)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(ev, "items"), i, e) {
		json_t *obj = json_object_get(e, "involvedObject");
		if (n >= max || strcmp(str(e, "type"), "Warning") || strcmp(str(obj, "kind"), "Pod") ||
		    !wanted_reason(str(e, "reason")) || !pod_of(items, obj))
			continue;
		json_t *series = json_object_get(e, "series");
		int64_t t = rfc3339(str(e, "lastTimestamp"));
		if (!t)
			t = rfc3339(str(series, "lastObservedTime"));
		if (!t)
			t = rfc3339(str(e, "eventTime"));
		json_t *c = json_object_get(e, "count");
		if (!json_is_integer(c))
			c = json_object_get(series, "count");
		int64_t count = json_is_integer(c) ? json_integer_value(c) : 1;
		const char *uid = str(json_object_get(e, "metadata"), "uid");
		if (!new_event(k, *uid ? uid : str(json_object_get(e, "metadata"), "name"), count) ||
		    t < k->since)
			continue;
		snprintf(out[n].target, sizeof(out[n].target), "%.32s %.120s/%.160s", str(e, "reason"),
			 str(obj, "namespace"), str(obj, "name"));
		snprintf(out[n].detail, sizeof(out[n].detail), "Warning event %.32s%s%.100s: %.300s (count %lld)",
			 str(e, "reason"), *str(obj, "fieldPath") ? " on " : "", str(obj, "fieldPath"),
			 str(e, "message"), (long long)count);
		n++;
	}
	return n;
}

int fr_kev_diff(struct fr_kev *k, const char *pods, size_t npods, const char *events,
		size_t nevents, struct fr_kev_trigger *out, int max)
{
	json_t *pl = json_loadb(pods, npods, 0, NULL);
	json_t *items = json_object_get(pl, "items");
	if (!json_is_array(items)) {
		json_decref(pl);
		return -1;
	}
	int n = 0;
	struct pod_ready *now = calloc(json_array_size(items) + 1, sizeof(*now));
	size_t i;
	json_t *p;
	json_array_foreach(items, i, p) {
		json_t *md = json_object_get(p, "metadata");
		int r = ready_of(p);
		if (now) {
			snprintf(now[i].uid, sizeof(now[i].uid), "%s", str(md, "uid"));
			now[i].ready = r;
		}
		if (r == 0 && was_ready(k, str(md, "uid")) == 1 && n < max) {
			snprintf(out[n].target, sizeof(out[n].target), "NotReady %.120s/%.160s",
				 str(md, "namespace"), str(md, "name"));
			snprintf(out[n].detail, sizeof(out[n].detail), "pod turned NotReady%s%.300s",
				 *ready_reason(p) ? ": " : "", ready_reason(p));
			n++;
		}
	}
	if (now) {
		free(k->pods);
		k->pods = now;
		k->npods = json_array_size(items);
	}
	json_t *ev = events ? json_loadb(events, nevents, 0, NULL) : NULL;
	if (ev)
		n = diff_events(k, items, ev, out, n, max);
	json_decref(ev);
	json_decref(pl);
	return n;
}

int fr_kev_cluster(struct fr_kev *k, const char *json, size_t n, struct fr_kev_trigger *out)
{
	json_t *cm = json ? json_loadb(json, n, 0, NULL) : NULL;
	json_t *data = json_object_get(cm, "data");
	char id[128];
	snprintf(id, sizeof(id), "%s", str(data, "id"));
	int fire = k->cluster_polled && *id && strcmp(id, k->cluster_id);
	if (fire) {
		memset(out, 0, sizeof(*out));
		out->cluster = 1;
		snprintf(out->target, sizeof(out->target), "%.200s",
			 *str(data, "reason") ? str(data, "reason") : "manual");
		snprintf(out->detail, sizeof(out->detail), "requested at %.64s (id %.127s)",
			 *str(data, "requested") ? str(data, "requested") : "?", id);
	}
	if (json && !cm) /* unparsable: keep what was known */
		return 0;
	snprintf(k->cluster_id, sizeof(k->cluster_id), "%s", id);
	k->cluster_polled = 1;
	json_decref(cm);
	return fire;
}
