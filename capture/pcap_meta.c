/* pcap_meta.c - pod and service metadata for an imported capture, from
 * the Kubernetes API's JSON (`kubectl get pods -A -o json`, `kubectl get
 * services -A -o json`), as POD and SERVICE records.
 *
 * Reference: Kubernetes API v1 Pod and Service objects
 * (https://kubernetes.io/docs/reference/kubernetes-api/).
 *
 * Accepted shapes: a v1 List ({"items": [...]}), a single object, or an
 * array of objects.  The owner workload is the controller owner reference;
 * a ReplicaSet whose name ends in the pod's pod-template-hash label is
 * reported as its Deployment (other owners, e.g. a CronJob's Job, as they
 * are).
 */
#include "pcap_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fr_meta {
	json_t *pods, *svcs;  /* owned JSON documents (spans point into them) */
	struct fr_record *rec;
	size_t n;
	char **strs;          /* strings made here (deployment names) */
	size_t nstr;
};

static struct fr_span sp(const char *s)
{
	return (struct fr_span){(const uint8_t *)(s ? s : ""), s ? (uint32_t)strlen(s) : 0};
}

static const char *str_at(json_t *o, const char *path)
{
	/* path: "a.b.c" of nested objects */
	char key[64];
	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		o = json_object_get(o, key);
		path += n + (dot ? 1 : 0);
	}
	return json_is_string(o) ? json_string_value(o) : NULL;
}

static json_t *items_of(json_t *doc)
{
	if (json_is_array(doc))
		return doc;
	json_t *it = json_object_get(doc, "items");
	return json_is_array(it) ? it : NULL;
}

static int add(struct fr_meta *m, const struct fr_record *r)
{
	struct fr_record *n = realloc(m->rec, (m->n + 1) * sizeof(*n));
	if (!n)
		return -1;
	m->rec = n;
	m->rec[m->n++] = *r;
	return 0;
}

static const char *keep(struct fr_meta *m, char *s)
{
	char **n = realloc(m->strs, (m->nstr + 1) * sizeof(*n));
	if (!n) {
		free(s);
		return NULL;
	}
	m->strs = n;
	m->strs[m->nstr++] = s;
	return s;
}

static int pod_one(struct fr_meta *m, json_t *o)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_POD;
	struct fr_pod *p = &r.u.pod;
	p->uid = sp(str_at(o, "metadata.uid"));
	p->namespace_ = sp(str_at(o, "metadata.namespace"));
	p->name = sp(str_at(o, "metadata.name"));
	p->node = sp(str_at(o, "spec.nodeName"));
	if (!p->name.len)
		return 0;
	json_t *labels = json_object_get(json_object_get(o, "metadata"), "labels");
	const char *k;
	json_t *v;
	json_object_foreach(labels, k, v)
	{
		if (!json_is_string(v))
			continue;
		if (p->n_labels < FR_POD_MAX_LABELS)
			p->labels[p->n_labels++] = (struct fr_kv){sp(k), sp(json_string_value(v))};
		else
			p->n_dropped++;
	}
	json_t *owners = json_object_get(json_object_get(o, "metadata"), "ownerReferences");
	size_t i;
	json_array_foreach(owners, i, v)
	{
		if (!json_is_true(json_object_get(v, "controller")) && json_array_size(owners) > 1)
			continue;
		const char *kind = str_at(v, "kind"), *name = str_at(v, "name");
		const char *hash = str_at(o, "metadata.labels.pod-template-hash");
		if (kind && name && !strcmp(kind, "ReplicaSet") && hash) {
			size_t nl = strlen(name), hl = strlen(hash);
			if (nl > hl + 1 && name[nl - hl - 1] == '-' && !strcmp(name + nl - hl, hash)) {
				char *dep = strndup(name, nl - hl - 1);
				if (dep && keep(m, dep)) {
					kind = "Deployment";
					name = dep;
				}
			}
		}
		p->owner_kind = sp(kind);
		p->owner_name = sp(name);
		break;
	}
	json_t *ips = json_object_get(json_object_get(o, "status"), "podIPs");
	json_array_foreach(ips, i, v)
	{
		const char *ip = str_at(v, "ip");
		if (!ip)
			continue;
		if (p->n_ips < FR_POD_MAX_IPS)
			p->ips[p->n_ips++] = sp(ip);
		else
			p->n_dropped++;
	}
	if (!p->n_ips && str_at(o, "status.podIP"))
		p->ips[p->n_ips++] = sp(str_at(o, "status.podIP"));
	json_t *cs = json_object_get(json_object_get(o, "status"), "containerStatuses");
	json_array_foreach(cs, i, v)
	{
		if (p->n_containers >= FR_POD_MAX_CONTAINERS) {
			p->n_dropped++;
			continue;
		}
		const char *id = str_at(v, "containerID");
		const char *sep = id ? strstr(id, "://") : NULL; /* containerd://<id> */
		p->containers[p->n_containers++] =
			(struct fr_container){sp(sep ? sep + 3 : id), sp(str_at(v, "name")), sp(str_at(v, "image"))};
	}
	return add(m, &r);
}

static int svc_one(struct fr_meta *m, json_t *o)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_SERVICE;
	struct fr_service *s = &r.u.svc;
	s->namespace_ = sp(str_at(o, "metadata.namespace"));
	s->name = sp(str_at(o, "metadata.name"));
	if (!s->name.len)
		return 0;
	json_t *spec = json_object_get(o, "spec");
	json_t *ips = json_object_get(spec, "clusterIPs"), *v;
	size_t i;
	json_array_foreach(ips, i, v)
	{
		if (!json_is_string(v) || !strcmp(json_string_value(v), "None"))
			continue;
		if (s->n_ips < FR_SVC_MAX_IPS)
			s->ips[s->n_ips++] = sp(json_string_value(v));
		else
			s->n_dropped++;
	}
	const char *cip = str_at(spec, "clusterIP");
	if (!s->n_ips && cip && strcmp(cip, "None"))
		s->ips[s->n_ips++] = sp(cip);
	json_array_foreach(json_object_get(spec, "ports"), i, v)
	{
		if (s->n_ports >= FR_SVC_MAX_PORTS) {
			s->n_dropped++;
			continue;
		}
		struct fr_svc_port *pt = &s->ports[s->n_ports++];
		json_int_t port = json_integer_value(json_object_get(v, "port"));
		json_t *tp = json_object_get(v, "targetPort");
		pt->port = (uint16_t)(port > 0 && port < 65536 ? port : 0);
		pt->target_port = json_is_integer(tp) && json_integer_value(tp) > 0 &&
						  json_integer_value(tp) < 65536
					  ? (uint16_t)json_integer_value(tp)
					  : pt->port; /* a named port: unknown here */
		const char *proto = str_at(v, "protocol");
		pt->proto = proto && !strcmp(proto, "UDP") ? 17 : 6;
		pt->name = sp(str_at(v, "name"));
	}
	const char *k;
	json_object_foreach(json_object_get(spec, "selector"), k, v)
	{
		if (!json_is_string(v))
			continue;
		if (s->n_selector < FR_POD_MAX_LABELS)
			s->selector[s->n_selector++] = (struct fr_kv){sp(k), sp(json_string_value(v))};
		else
			s->n_dropped++;
	}
	return add(m, &r);
}

static json_t *load(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je);
	if (!doc) {
		snprintf(err, errlen, "%s:%d: %s (expected `kubectl get ... -o json` output)", path,
			 je.line, je.text);
		return NULL;
	}
	return doc;
}

struct fr_meta *fr_meta_load(const char *pods, const char *services, char *err, size_t errlen)
{
	struct fr_meta *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	size_t i;
	json_t *v;
	if (pods) {
		if (!(m->pods = load(pods, err, errlen)))
			goto fail;
		json_t *items = items_of(m->pods);
		if (items) {
			json_array_foreach(items, i, v) if (pod_one(m, v)) goto oom;
		} else if (pod_one(m, m->pods))
			goto oom;
	}
	if (services) {
		if (!(m->svcs = load(services, err, errlen)))
			goto fail;
		json_t *items = items_of(m->svcs);
		if (items) {
			json_array_foreach(items, i, v) if (svc_one(m, v)) goto oom;
		} else if (svc_one(m, m->svcs))
			goto oom;
	}
	return m;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	fr_meta_free(m);
	return NULL;
}

size_t fr_meta_count(const struct fr_meta *m) { return m ? m->n : 0; }

void fr_meta_record(const struct fr_meta *m, size_t i, struct fr_record *r) { *r = m->rec[i]; }

void fr_meta_free(struct fr_meta *m)
{
	if (!m)
		return;
	json_decref(m->pods);
	json_decref(m->svcs);
	for (size_t i = 0; i < m->nstr; i++)
		free(m->strs[i]);
	free(m->strs);
	free(m->rec);
	free(m);
}
