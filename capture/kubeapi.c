/* kubeapi.c - a thread that lists this node's pods and the services from
 * the Kubernetes API server (libcurl, TLS), for --kube-api/--kubeconfig.
 *
 * The kubeconfig reader is deliberately small: it takes the first
 * `server:`, `certificate-authority:`/`-data:`, `token:`,
 * `client-certificate:`/`-data:`, `client-key:`/`-data:` and
 * `insecure-skip-tls-verify:` lines of the file (the usual one-cluster,
 * one-user file); it does not follow contexts. */
#define _GNU_SOURCE
#include "kubeapi.h"
#include "kevents.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct blob {
	char *p;
	size_t n;
};

struct fr_kubeapi {
	char server[512];
	char token[4096];
	char ca_file[512];
	struct blob ca, cert, key;
	int insecure;
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

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct blob *b = arg;
	size_t k = sz * n;
	if (b->n + k > (256u << 20))
		return 0;
	char *q = realloc(b->p, b->n + k + 1);
	if (!q)
		return 0;
	memcpy(q + b->n, p, k);
	b->p = q;
	b->n += k;
	b->p[b->n] = 0;
	return k;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static struct blob b64dec(const char *s)
{
	struct blob b = {malloc(strlen(s) * 3 / 4 + 4), 0};
	unsigned acc = 0;
	int bits = 0;
	for (; b.p && *s; s++) {
		int v = b64val((unsigned char)*s);
		if (v < 0)
			continue;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b.p[b.n++] = (char)(acc >> bits);
		}
	}
	return b;
}

static struct blob read_file(const char *path)
{
	struct blob b = {0, 0};
	FILE *f = fopen(path, "rb");
	if (!f)
		return b;
	char buf[8192];
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
		on_data(buf, 1, k, &b);
	fclose(f);
	return b;
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '"' ||
		     s[n - 1] == '\''))
		s[--n] = 0;
}

static int load_kubeconfig(struct fr_kubeapi *a, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %m", path);
		return -1;
	}
	char line[65536];
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		while (*p == ' ' || *p == '-')
			p++;
		char *colon = strchr(p, ':');
		if (!colon)
			continue;
		*colon = 0;
		char *v = colon + 1;
		while (*v == ' ' || *v == '"' || *v == '\'')
			v++;
		trim(v);
		if (!strcmp(p, "server") && !a->server[0])
			snprintf(a->server, sizeof(a->server), "%s", v);
		else if (!strcmp(p, "token") && !a->token[0])
			snprintf(a->token, sizeof(a->token), "%s", v);
		else if (!strcmp(p, "certificate-authority-data") && !a->ca.p)
			a->ca = b64dec(v);
		else if (!strcmp(p, "certificate-authority") && !a->ca.p)
			a->ca = read_file(v);
		else if (!strcmp(p, "client-certificate-data") && !a->cert.p)
			a->cert = b64dec(v);
		else if (!strcmp(p, "client-certificate") && !a->cert.p)
			a->cert = read_file(v);
		else if (!strcmp(p, "client-key-data") && !a->key.p)
			a->key = b64dec(v);
		else if (!strcmp(p, "client-key") && !a->key.p)
			a->key = read_file(v);
		else if (!strcmp(p, "insecure-skip-tls-verify"))
			a->insecure = !strcmp(v, "true");
	}
	fclose(f);
	if (!a->server[0]) {
		snprintf(err, errlen, "%s: no server", path);
		return -1;
	}
	return 0;
}

static int get(struct fr_kubeapi *a, const char *url, struct blob *out, char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "curl init failed");
		return -1;
	}
	struct curl_slist *hd = NULL;
	char auth[4200];
	if (a->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
		hd = curl_slist_append(hd, auth);
	}
	hd = curl_slist_append(hd, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	if (a->ca.p) {
		struct curl_blob cb = {a->ca.p, a->ca.n, CURL_BLOB_NOCOPY};
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &cb);
	} else if (a->ca_file[0]) {
		curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
	}
	if (a->cert.p && a->key.p) {
		struct curl_blob cb = {a->cert.p, a->cert.n, CURL_BLOB_NOCOPY};
		struct curl_blob kb = {a->key.p, a->key.n, CURL_BLOB_NOCOPY};
		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
	}
	if (a->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	a->last_status = status;
	curl_slist_free_all(hd);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(rc));
		return -1;
	}
	if (status != 200) {
		snprintf(err, errlen, "%s: HTTP status %ld", url, status);
		return -1;
	}
	return 0;
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
	snprintf(url, sizeof(url), "%s/api/v1/events?fieldSelector=type%%3DWarning", a->server);
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
	snprintf(url, sizeof(url), "%s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", a->server,
		 node ? node : "");
	curl_free(node);
	int ok = k && get(a, url, &pods, err, errlen) == 0 &&
		 fr_kube_add_json(k, pods.p, pods.n, err, errlen) >= 0;
	if (ok && a->kev)
		kube_events(a, pods.p, pods.n);
	snprintf(url, sizeof(url), "%s/api/v1/services", a->server);
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
	if (kubeconfig) {
		if (load_kubeconfig(a, kubeconfig, err, errlen))
			goto fail;
	} else {
		const char *h = getenv("KUBERNETES_SERVICE_HOST"), *p = getenv("KUBERNETES_SERVICE_PORT");
		if (!h || !p) {
			snprintf(err, errlen, "not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): "
					      "use --kubeconfig FILE");
			goto fail;
		}
		snprintf(a->server, sizeof(a->server), strchr(h, ':') ? "https://[%s]:%s" : "https://%s:%s", h, p);
		struct blob t = read_file(SA_DIR "/token");
		if (!t.p) {
			snprintf(err, errlen, "cannot read %s/token", SA_DIR);
			goto fail;
		}
		snprintf(a->token, sizeof(a->token), "%s", t.p);
		trim(a->token);
		free(t.p);
		snprintf(a->ca_file, sizeof(a->ca_file), SA_DIR "/ca.crt");
	}
	if (cluster) {
		const char *slash = strchr(cluster, '/');
		char *ns = curl_easy_escape(NULL, cluster, slash ? (int)(slash - cluster) : 0);
		char *name = slash ? curl_easy_escape(NULL, slash + 1, 0) : NULL;
		if (ns && name && *ns && *name)
			snprintf(a->cm_url, sizeof(a->cm_url), "%s/api/v1/namespaces/%s/configmaps/%s",
				 a->server, ns, name);
		curl_free(ns);
		curl_free(name);
		if (!a->cm_url[0]) {
			snprintf(err, errlen, "--cluster-trigger %s: not NAMESPACE/NAME", cluster);
			goto fail;
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
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
	free(a->ca.p);
	free(a->cert.p);
	free(a->key.p);
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
	free(a->ca.p);
	free(a->cert.p);
	free(a->key.p);
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
