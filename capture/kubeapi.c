/* kubeapi.c - a thread that lists this node's pods and the services from
 * the Kubernetes API server (libcurl, TLS), for --kube-api/--kubeconfig;
 * the credentials and the requests are formats/kubeclient.c's. */
#define _GNU_SOURCE
#include "../formats/kubeclient.h"
#include "kubeapi.h"
#include "kevents.h"
#include "recorder.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct blob {
	char *p;
	size_t n;
};

struct fr_kubeapi {
	struct fr_kubeclient *kc;
	char node[256];
	int every;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, started;
	struct fr_kube *ready;
	char err[512];
	int has_err;
	struct fr_kev *kev; /* with events: the trigger state (the thread's own) */
	struct fr_kev_trigger pending[32]; /* found, not yet taken (under mu) */
	int npending;
	char cm_url[1024]; /* the cluster trigger's ConfigMap, or "" */
	int want_events;
	long last_status;  /* HTTP status of the last get() */
};

/* GET url into out (the caller frees out->p); 0, or -1 with err. */
static int get(struct fr_kubeapi *a, const char *url, struct blob *out, char *err, size_t errlen)
{
	return fr_kubeclient_request(a->kc, "GET", url, NULL, NULL, &out->p, &out->n, &a->last_status, err,
				     errlen);
}

/* The Warning events, compared with the last poll's (kevents.c); the
 * triggers found wait in a->pending.  A failure to list events (RBAC) is
 * reported and leaves the pods alone. */
static void kube_events(struct fr_kubeapi *a, const char *pods, size_t npods)
{
	if (!a->want_events)
		return;
	char url[1024], err[512] = "";
	struct blob ev = {0, 0};
	struct fr_kev_trigger t[32];
	snprintf(url, sizeof(url), "%s/api/v1/events?fieldSelector=type%%3DWarning", fr_kubeclient_server(a->kc));
	int have = get(a, url, &ev, err, sizeof(err)) == 0;
	int n = fr_kev_diff(a->kev, pods, npods, have ? ev.p : NULL, ev.n, t, 32);
	free(ev.p);
	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < n && a->npending < 32; i++)
		a->pending[a->npending++] = t[i];
	if (!have) {
		snprintf(a->err, sizeof(a->err), "events (Kubernetes triggers; RBAC needs list on events, or --triggers without kube): %s", err);
		a->has_err = 1;
	}
	pthread_mutex_unlock(&a->mu);
}

static struct fr_kube *fetch(struct fr_kubeapi *a, char *err, size_t errlen)
{
	char url[1024];
	struct blob pods = {0, 0}, svcs = {0, 0};
	struct fr_kube *k = fr_kube_new();
	char *node = curl_easy_escape(NULL, a->node, 0);
	snprintf(url, sizeof(url), "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", fr_kubeclient_server(a->kc),
		 node ? node : "");
	curl_free(node);
	int ok = k && get(a, url, &pods, err, errlen) == 0 &&
		 fr_kube_add_json(k, pods.p, pods.n, err, errlen) >= 0;
	if (ok && a->kev)
		kube_events(a, pods.p, pods.n);
	snprintf(url, sizeof(url), "%s/api/v1/services", fr_kubeclient_server(a->kc));
	ok = ok && get(a, url, &svcs, err, errlen) == 0 &&
	     fr_kube_add_json(k, svcs.p, svcs.n, err, errlen) >= 0;
	free(pods.p);
	free(svcs.p);
	if (!ok) {
		fr_kube_free(k);
		return NULL;
	}
	return k;
}

/* The cluster trigger's ConfigMap (kevents.c decides whether it fired). */
static void cluster_poll(struct fr_kubeapi *a)
{
	struct blob cm = {0, 0};
	struct fr_kev_trigger t;
	char err[512];
	int ok = get(a, a->cm_url, &cm, err, sizeof(err)) == 0;
	int fire = 0;
	if (ok || a->last_status == 404)
		fire = fr_kev_cluster(a->kev, ok ? cm.p : NULL, cm.n, &t);
	free(cm.p);
	pthread_mutex_lock(&a->mu);
	if (fire && a->npending < 32)
		a->pending[a->npending++] = t;
	if (!ok && a->last_status != 404) {
		snprintf(a->err, sizeof(a->err), "cluster trigger: %.480s", err);
		a->has_err = 1;
	}
	pthread_mutex_unlock(&a->mu);
}

#define CLUSTER_EVERY 2 /* seconds between polls of the cluster trigger */

static void *run(void *arg)
{
	struct fr_kubeapi *a = arg;
	time_t next_fetch = 0;
	/* started before the recorder drops its capabilities (privs.c): this
	 * thread, which talks to the network, drops its own at once */
	if (privs_thread() < 0) {
		pthread_mutex_lock(&a->mu);
		snprintf(a->err, sizeof(a->err), "cannot drop the API thread's capabilities: %s", strerror(errno));
		a->has_err = 1;
		pthread_mutex_unlock(&a->mu);
		return NULL;
	}
	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		pthread_mutex_unlock(&a->mu);
		time_t now = time(NULL);
		struct fr_kube *k = NULL;
		char err[512] = "";
		int fetched = now >= next_fetch;
		if (fetched) {
			k = fetch(a, err, sizeof(err));
			next_fetch = now + a->every;
		}
		if (a->cm_url[0])
			cluster_poll(a);
		pthread_mutex_lock(&a->mu);
		if (k) {
			fr_kube_free(a->ready);
			a->ready = k;
		} else if (fetched) {
			snprintf(a->err, sizeof(a->err), "%s", err);
			a->has_err = 1;
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += a->cm_url[0] && CLUSTER_EVERY < a->every ? CLUSTER_EVERY : a->every;
		while (!a->stop && pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

struct fr_kubeapi *fr_kubeapi_start(const char *kubeconfig, const char *node, int every,
				    int events, const char *cluster, char *err, size_t errlen)
{
	struct fr_kubeapi *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(a->node, sizeof(a->node), "%s", node);
	a->every = every > 0 ? every : 30;
	a->want_events = events;
	if ((events || cluster) && !(a->kev = fr_kev_new((int64_t)time(NULL) - 5))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!(a->kc = fr_kubeclient_new(kubeconfig, err, errlen)))
		goto fail;
	if (cluster) {
		const char *slash = strchr(cluster, '/');
		char *ns = curl_easy_escape(NULL, cluster, slash ? (int)(slash - cluster) : 0);
		char *name = slash ? curl_easy_escape(NULL, slash + 1, 0) : NULL;
		if (ns && name && *ns && *name)
			snprintf(a->cm_url, sizeof(a->cm_url), "%s/api/v1/namespaces/%s/configmaps/%s",
				 fr_kubeclient_server(a->kc), ns, name);
		curl_free(ns);
		curl_free(name);
		if (!a->cm_url[0]) {
			snprintf(err, errlen, "--cluster-trigger %s: not NAMESPACE/NAME", cluster);
			goto fail;
		}
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (pthread_create(&a->th, NULL, run, a)) {
		snprintf(err, errlen, "cannot start a thread");
		goto fail;
	}
	a->started = 1;
	return a;
fail:
	fr_kev_free(a->kev);
	fr_kubeclient_free(a->kc);
	free(a);
	return NULL;
}

struct fr_kube *fr_kubeapi_take(struct fr_kubeapi *a)
{
	pthread_mutex_lock(&a->mu);
	struct fr_kube *k = a->ready;
	a->ready = NULL;
	pthread_mutex_unlock(&a->mu);
	return k;
}

int fr_kubeapi_error(struct fr_kubeapi *a, char *buf, size_t len)
{
	pthread_mutex_lock(&a->mu);
	int had = a->has_err;
	if (had)
		snprintf(buf, len, "%s", a->err);
	a->has_err = 0;
	pthread_mutex_unlock(&a->mu);
	return had;
}

void fr_kubeapi_stop(struct fr_kubeapi *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
	}
	fr_kube_free(a->ready);
	fr_kev_free(a->kev);
	fr_kubeclient_free(a->kc);
	free(a);
}

int fr_kubeapi_take_triggers(struct fr_kubeapi *a, struct fr_kev_trigger *out, int max)
{
	pthread_mutex_lock(&a->mu);
	int n = a->npending < max ? a->npending : max;
	memcpy(out, a->pending, (size_t)n * sizeof(*out));
	memmove(a->pending, a->pending + n, (size_t)(a->npending - n) * sizeof(*out));
	a->npending -= n;
	pthread_mutex_unlock(&a->mu);
	return n;
}
