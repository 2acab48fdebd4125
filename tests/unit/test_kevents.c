/* test_kevents.c - Kubernetes triggers from successive polls (capture/
 * kevents.c): a pod turning NotReady fires once per transition; Warning
 * events fire once per new count, only for this node's pods, only the
 * reasons wanted, and never for events from before the recorder started. */
#define _GNU_SOURCE
#include "harness.h"
#include "../../capture/kevents.h"

#include <stdio.h>
#include <string.h>

static const char *pods(const char *ready)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"api-1\",\"namespace\":\"prod\","
		 "\"uid\":\"u-1\"},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\","
		 "\"reason\":\"ContainersNotReady\"}]}}]}",
		 ready);
	return buf;
}

static const char *event(const char *uid, const char *reason, const char *pod_uid, int count,
			 const char *when)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"EventList\",\"items\":[{\"metadata\":{\"uid\":\"%s\"},\"type\":\"Warning\","
		 "\"reason\":\"%s\",\"message\":\"Back-off restarting failed container\",\"count\":%d,"
		 "\"lastTimestamp\":\"%s\",\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"prod\","
		 "\"name\":\"api-1\",\"uid\":\"%s\",\"fieldPath\":\"spec.containers{api}\"}}]}",
		 uid, reason, count, when, pod_uid);
	return buf;
}

static int diff(struct fr_kev *k, const char *p, const char *e, struct fr_kev_trigger *out)
{
	return fr_kev_diff(k, p, strlen(p), e, e ? strlen(e) : 0, out, 8);
}
#define DIFF(k, p, e, out) diff(k, p, e, out)

TEST(kevents_notready_once_per_transition)
{
	struct fr_kev *k = fr_kev_new(0);
	struct fr_kev_trigger t[8];
	CHECK_EQ(DIFF(k, pods("False"), NULL, t), 0); /* never seen Ready */
	CHECK_EQ(DIFF(k, pods("True"), NULL, t), 0);
	CHECK_EQ(DIFF(k, pods("False"), NULL, t), 1);
	CHECK_STREQ(t[0].target, "NotReady prod/api-1");
	CHECK_STREQ(t[0].detail, "pod turned NotReady: ContainersNotReady");
	CHECK_EQ(DIFF(k, pods("False"), NULL, t), 0);
	CHECK_EQ(DIFF(k, "not json", NULL, t), -1);
	fr_kev_free(k);
}

TEST(kevents_warning_events)
{
	struct fr_kev *k = fr_kev_new(1765000000); /* 2025-12-06 */
	struct fr_kev_trigger t[8];
	const char *now = "2026-12-06T09:10:11Z", *old = "2025-01-01T00:00:00Z";
	CHECK_EQ(DIFF(k, pods("True"), event("e-1", "BackOff", "u-1", 1, now), t), 1);
	CHECK_STREQ(t[0].target, "BackOff prod/api-1");
	CHECK_STREQ(t[0].detail, "Warning event BackOff on spec.containers{api}: Back-off restarting "
				 "failed container (count 1)");
	CHECK_EQ(DIFF(k, pods("True"), event("e-1", "BackOff", "u-1", 1, now), t), 0); /* same count */
	CHECK_EQ(DIFF(k, pods("True"), event("e-1", "BackOff", "u-1", 4, now), t), 1);
	CHECK_EQ(DIFF(k, pods("True"), event("e-2", "BackOff", "u-2", 1, now), t), 0); /* other node */
	CHECK_EQ(DIFF(k, pods("True"), event("e-3", "Pulled", "u-1", 1, now), t), 0);
	CHECK_EQ(DIFF(k, pods("True"), event("e-4", "Unhealthy", "u-1", 2, old), t), 0); /* before */
	CHECK_EQ(DIFF(k, pods("True"), event("e-5", "Evicted", "u-1", 1, now), t), 1);
	CHECK_EQ(DIFF(k, pods("True"), "{\"items\":", t), 0); /* unparsable events: none */
	fr_kev_free(k);
}

TEST(kevents_cluster_trigger)
{
	struct fr_kev *k = fr_kev_new(0);
	struct fr_kev_trigger t;
	const char *a = "{\"data\":{\"reason\":\"checkout-500s\",\"id\":\"1\",\"requested\":\"2026-12-06T09:50:00Z\"}}";
	const char *b = "{\"data\":{\"reason\":\"checkout-500s\",\"id\":\"2\",\"requested\":\"2026-12-06T09:51:00Z\"}}";
	CHECK_EQ(fr_kev_cluster(k, a, strlen(a), &t), 0); /* the first poll only learns */
	CHECK_EQ(fr_kev_cluster(k, a, strlen(a), &t), 0);
	CHECK_EQ(fr_kev_cluster(k, b, strlen(b), &t), 1);
	CHECK_STREQ(t.target, "checkout-500s");
	CHECK_STREQ(t.detail, "requested at 2026-12-06T09:51:00Z (id 2)");
	CHECK_EQ(t.cluster, 1);
	CHECK_EQ(fr_kev_cluster(k, "{", 1, &t), 0); /* unparsable: id 2 kept */
	CHECK_EQ(fr_kev_cluster(k, b, strlen(b), &t), 0);
	fr_kev_free(k);
	k = fr_kev_new(0);
	CHECK_EQ(fr_kev_cluster(k, NULL, 0, &t), 0); /* none yet: created later, it fires */
	CHECK_EQ(fr_kev_cluster(k, a, strlen(a), &t), 1);
	fr_kev_free(k);
}
