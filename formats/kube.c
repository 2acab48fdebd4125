/* kube.c - PodList/ServiceList JSON (jansson) to POD and SERVICE records. */
#define _GNU_SOURCE
#include "kube.h"
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fr_kube {
	struct fr_pod *pods;
	size_t n_pods, cap_pods;
	struct fr_service *svcs;
	size_t n_svcs, cap_svcs;
	json_t **roots; /* parsed documents: the records' strings live here */
	size_t n_roots, cap_roots;
	char **strs; /* copied strings (fallback pods, derived names) */
	size_t n_strs, cap_strs;
};

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

struct fr_kube *fr_kube_new(void) { return calloc(1, sizeof(struct fr_kube)); }

void fr_kube_free(struct fr_kube *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n_roots; i++)
		json_decref(k->roots[i]);
	for (size_t i = 0; i < k->n_strs; i++)
		free(k->strs[i]);
	free(k->roots);
	free(k->strs);
	free(k->pods);
	free(k->svcs);
	free(k);
}

/* A copy owned by k, as a span ("" when s is NULL or out of memory). */
static struct fr_span own(struct fr_kube *k, const char *s)
{
	struct fr_span sp = {(const uint8_t *)"", 0};
	if (!s || grow((void **)&k->strs, &k->cap_strs, k->n_strs, sizeof(char *)))
		return sp;
	char *c = strdup(s);
	if (!c)
		return sp;
	k->strs[k->n_strs++] = c;
	sp.p = (const uint8_t *)c;
	sp.len = (uint32_t)strlen(c);
	return sp;
}

static struct fr_span jspan(json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;
	struct fr_span s = {(const uint8_t *)"", 0};
	if (json_is_string(v)) {
		s.p = (const uint8_t *)json_string_value(v);
		s.len = (uint32_t)json_string_length(v);
	}
	return s;
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *fr_kube_deployment_of(const char *rs, const char *hash, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", rs);
	char *dash = strrchr(out, '-');
	if (!dash || dash == out)
		return out;
	const char *suf = dash + 1;
	int ok;
	if (hash && *hash) {
		ok = !strcmp(suf, hash);
	} else {
		size_t n = strlen(suf);
		ok = n >= 1 && n <= 10;
		for (size_t i = 0; ok && i < n; i++)
			ok = (suf[i] >= 'a' && suf[i] <= 'z') || (suf[i] >= '0' && suf[i] <= '9');
	}
	if (ok)
		*dash = 0;
	return out;
}

/* "containerd://abc" -> "abc" */
static struct fr_span strip_scheme(struct fr_span s)
{
	for (uint32_t i = 0; i + 2 < s.len; i++)
		if (s.p[i] == ':' && s.p[i + 1] == '/' && s.p[i + 2] == '/') {
			s.p += i + 3;
			s.len -= i + 3;
			break;
		}
	return s;
}

static void add_pod(struct fr_kube *k, json_t *item)
{
	json_t *md = json_object_get(item, "metadata");
	json_t *spec = json_object_get(item, "spec");
	json_t *status = json_object_get(item, "status");
	if (!json_is_object(md) || grow((void **)&k->pods, &k->cap_pods, k->n_pods, sizeof(*k->pods)))
		return;
	struct fr_pod *p = &k->pods[k->n_pods++];
	memset(p, 0, sizeof(*p));
	p->uid = jspan(md, "uid");
	p->namespace_ = jspan(md, "namespace");
	p->name = jspan(md, "name");
	p->node = jspan(spec, "nodeName");
	json_t *labels = json_object_get(md, "labels");
	const char *key;
	json_t *v;
	json_object_foreach(labels, key, v) {
		if (!json_is_string(v))
			continue;
		if (p->n_labels >= FR_POD_MAX_LABELS) {
			p->n_dropped++;
			continue;
		}
		struct fr_kv *kv = &p->labels[p->n_labels++];
		kv->key = (struct fr_span){(const uint8_t *)key, (uint32_t)strlen(key)};
		kv->value = (struct fr_span){(const uint8_t *)json_string_value(v),
					     (uint32_t)json_string_length(v)};
	}
	/* owner: the controller reference, else the first one */
	json_t *owners = json_object_get(md, "ownerReferences"), *owner = NULL;
	size_t i;
	json_array_foreach(owners, i, v) {
		if (!owner || json_is_true(json_object_get(v, "controller")))
			owner = v;
	}
	if (owner) {
		const char *kind = jstr(owner, "kind"), *name = jstr(owner, "name");
		if (kind && name && !strcmp(kind, "ReplicaSet")) {
			char dep[256];
			fr_kube_deployment_of(name, jstr(labels, "pod-template-hash"), dep, sizeof(dep));
			if (strcmp(dep, name)) {
				p->owner_kind = own(k, "Deployment");
				p->owner_name = own(k, dep);
			} else {
				p->owner_kind = jspan(owner, "kind");
				p->owner_name = jspan(owner, "name");
			}
		} else {
			p->owner_kind = jspan(owner, "kind");
			p->owner_name = jspan(owner, "name");
		}
	}
	json_t *ips = json_object_get(status, "podIPs");
	json_array_foreach(ips, i, v) {
		struct fr_span s = jspan(v, "ip");
		if (!s.len)
			continue;
		if (p->n_ips >= FR_POD_MAX_IPS)
			p->n_dropped++;
		else
			p->ips[p->n_ips++] = s;
	}
	if (p->n_ips == 0 && jspan(status, "podIP").len)
		p->ips[p->n_ips++] = jspan(status, "podIP");
	/* containers: the statuses have ids; spec has the rest */
	static const char *lists[] = {"initContainerStatuses", "containerStatuses",
				      "ephemeralContainerStatuses"};
	for (int l = 0; l < 3; l++) {
		json_array_foreach(json_object_get(status, lists[l]), i, v) {
			if (p->n_containers >= FR_POD_MAX_CONTAINERS) {
				p->n_dropped++;
				continue;
			}
			struct fr_container *c = &p->containers[p->n_containers++];
			c->id = strip_scheme(jspan(v, "containerID"));
			c->name = jspan(v, "name");
			c->image = jspan(v, "image");
		}
	}
	if (p->n_containers == 0) {
		json_array_foreach(json_object_get(spec, "containers"), i, v) {
			if (p->n_containers >= FR_POD_MAX_CONTAINERS) {
				p->n_dropped++;
				continue;
			}
			struct fr_container *c = &p->containers[p->n_containers++];
			c->id = (struct fr_span){(const uint8_t *)"", 0};
			c->name = jspan(v, "name");
			c->image = jspan(v, "image");
		}
	}
}

static uint8_t proto_of(const char *s)
{
	if (s && !strcmp(s, "UDP"))
		return 17;
	if (s && !strcmp(s, "SCTP"))
		return 132;
	return 6;
}

static void add_service(struct fr_kube *k, json_t *item)
{
	json_t *md = json_object_get(item, "metadata");
	json_t *spec = json_object_get(item, "spec");
	if (!json_is_object(md) || grow((void **)&k->svcs, &k->cap_svcs, k->n_svcs, sizeof(*k->svcs)))
		return;
	struct fr_service *s = &k->svcs[k->n_svcs++];
	memset(s, 0, sizeof(*s));
	s->namespace_ = jspan(md, "namespace");
	s->name = jspan(md, "name");
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(spec, "clusterIPs"), i, v) {
		if (!json_is_string(v) || !strcmp(json_string_value(v), "None"))
			continue;
		if (s->n_ips >= FR_SVC_MAX_IPS)
			s->n_dropped++;
		else
			s->ips[s->n_ips++] = (struct fr_span){(const uint8_t *)json_string_value(v),
							      (uint32_t)json_string_length(v)};
	}
	const char *cip = jstr(spec, "clusterIP");
	if (s->n_ips == 0 && cip && strcmp(cip, "None") && *cip)
		s->ips[s->n_ips++] = jspan(spec, "clusterIP");
	json_array_foreach(json_object_get(spec, "ports"), i, v) {
		if (s->n_ports >= FR_SVC_MAX_PORTS) {
			s->n_dropped++;
			continue;
		}
		struct fr_svc_port *sp = &s->ports[s->n_ports++];
		json_int_t port = json_integer_value(json_object_get(v, "port"));
		json_t *tp = json_object_get(v, "targetPort");
		sp->port = (uint16_t)port;
		sp->target_port = json_is_integer(tp) ? (uint16_t)json_integer_value(tp)
						      : json_is_string(tp) ? 0 : (uint16_t)port;
		sp->proto = proto_of(jstr(v, "protocol"));
		sp->name = jspan(v, "name");
	}
	const char *key;
	json_object_foreach(json_object_get(spec, "selector"), key, v) {
		if (!json_is_string(v))
			continue;
		if (s->n_selector >= FR_POD_MAX_LABELS) {
			s->n_dropped++;
			continue;
		}
		s->selector[s->n_selector++] = (struct fr_kv){
			{(const uint8_t *)key, (uint32_t)strlen(key)},
			{(const uint8_t *)json_string_value(v), (uint32_t)json_string_length(v)}};
	}
}

/* The kind of an object that does not say (an item of a generic List):
 * a pod has containers or a pod IP, a service a cluster IP or ports. */
static const char *shape_kind(json_t *o)
{
	json_t *spec = json_object_get(o, "spec"), *status = json_object_get(o, "status");
	if (json_object_get(spec, "containers") || json_object_get(status, "podIP") ||
	    json_object_get(status, "containerStatuses"))
		return "Pod";
	if (json_object_get(spec, "clusterIP") || json_object_get(spec, "ports"))
		return "Service";
	return NULL;
}

static int add_object(struct fr_kube *k, json_t *o)
{
	const char *kind = jstr(o, "kind");
	json_t *items = json_object_get(o, "items");
	if (json_is_array(items)) {
		int n = 0;
		size_t i;
		json_t *v;
		const char *item_kind = NULL;
		if (kind && !strcmp(kind, "PodList"))
			item_kind = "Pod";
		else if (kind && !strcmp(kind, "ServiceList"))
			item_kind = "Service";
		json_array_foreach(items, i, v) {
			const char *ik = jstr(v, "kind");
			if (!ik)
				ik = item_kind ? item_kind : shape_kind(v);
			if (ik && !strcmp(ik, "Pod")) {
				add_pod(k, v);
				n++;
			} else if (ik && !strcmp(ik, "Service")) {
				add_service(k, v);
				n++;
			}
		}
		return n;
	}
	if (kind && !strcmp(kind, "Pod")) {
		add_pod(k, o);
		return 1;
	}
	if (kind && !strcmp(kind, "Service")) {
		add_service(k, o);
		return 1;
	}
	return -1;
}

int fr_kube_add_json(struct fr_kube *k, const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, 0, &je);
	if (!root) {
		snprintf(err, errlen, "not JSON: line %d: %s", je.line, je.text);
		return -1;
	}
	if (!json_is_object(root) || grow((void **)&k->roots, &k->cap_roots, k->n_roots, sizeof(json_t *))) {
		snprintf(err, errlen, "not a Kubernetes object or list");
		json_decref(root);
		return -1;
	}
	size_t np = k->n_pods, ns = k->n_svcs;
	int n = add_object(k, root);
	if (n < 0) {
		k->n_pods = np;
		k->n_svcs = ns;
		snprintf(err, errlen, "not a PodList, ServiceList, List, Pod or Service");
		json_decref(root);
		return -1;
	}
	k->roots[k->n_roots++] = root;
	return n;
}

int fr_kube_add_file(struct fr_kube *k, const char *path, char *err, size_t errlen)
{
	if (fr_input_file_ok(path, err, errlen) < 0)
		return -1;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %m", path);
		return -1;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 65536 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return -1;
			}
			buf = nb;
		}
		size_t r = fread(buf + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
	}
	fclose(f);
	char e[256];
	int n = fr_kube_add_json(k, buf, len, e, sizeof(e));
	free(buf);
	if (n < 0)
		snprintf(err, errlen, "%s: %s", path, e);
	return n;
}

struct fr_pod *fr_kube_add_pod(struct fr_kube *k, const char *uid, const char *ns, const char *name)
{
	if (grow((void **)&k->pods, &k->cap_pods, k->n_pods, sizeof(*k->pods)))
		return NULL;
	struct fr_pod *p = &k->pods[k->n_pods++];
	memset(p, 0, sizeof(*p));
	p->uid = own(k, uid);
	p->namespace_ = own(k, ns);
	p->name = own(k, name);
	return p;
}

int fr_kube_pod_add_container(struct fr_kube *k, struct fr_pod *p, const char *id,
			      const char *name, const char *image)
{
	if (p->n_containers >= FR_POD_MAX_CONTAINERS)
		return -1;
	struct fr_container *c = &p->containers[p->n_containers++];
	c->id = own(k, id);
	c->name = own(k, name);
	c->image = own(k, image);
	return 0;
}

size_t fr_kube_n_pods(const struct fr_kube *k) { return k ? k->n_pods : 0; }
const struct fr_pod *fr_kube_pod(const struct fr_kube *k, size_t i) { return &k->pods[i]; }
size_t fr_kube_n_services(const struct fr_kube *k) { return k ? k->n_svcs : 0; }
const struct fr_service *fr_kube_service(const struct fr_kube *k, size_t i) { return &k->svcs[i]; }

const struct fr_pod *fr_kube_find_uid(const struct fr_kube *k, const char *uid)
{
	size_t n = strlen(uid);
	for (size_t i = 0; k && i < k->n_pods; i++)
		if (k->pods[i].uid.len == n && !memcmp(k->pods[i].uid.p, uid, n))
			return &k->pods[i];
	return NULL;
}
