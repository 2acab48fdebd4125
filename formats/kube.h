/* kube.h - Kubernetes pod and service metadata from the JSON of
 * `kubectl get pods -A -o json` / `kubectl get services -A -o json` (or the
 * API server's PodList/ServiceList, a List, or single objects), as the
 * segment format's POD and SERVICE records.
 *
 * Owner workload: a pod owned by a ReplicaSet is attributed to its
 * Deployment (the ReplicaSet name without the pod-template-hash suffix);
 * StatefulSet, DaemonSet, Job and other owners are kept as they are.
 *
 * Ownership: a struct fr_kube owns every string its records point to; the
 * records stay valid until fr_kube_free(). */
#ifndef FLIGHTREC_KUBE_H
#define FLIGHTREC_KUBE_H

#include <stddef.h>
#include "segment.h"

struct fr_kube;

/* An empty set.  NULL when out of memory. */
struct fr_kube *fr_kube_new(void);
void fr_kube_free(struct fr_kube *k); /* NULL accepted */

/* Parses JSON text and appends its pods and services.  Returns the number
 * of objects added (>= 0), or -1 with a one-line reason in err (k is then
 * unchanged). */
int fr_kube_add_json(struct fr_kube *k, const char *text, size_t len, char *err, size_t errlen);
/* The same for a file. */
int fr_kube_add_file(struct fr_kube *k, const char *path, char *err, size_t errlen);

/* Adds a pod known only from the node's files (fallback): strings are
 * copied.  Returns the pod (valid until the next fr_kube_add_* call on k)
 * or NULL when out of memory. */
struct fr_pod *fr_kube_add_pod(struct fr_kube *k, const char *uid, const char *ns,
			       const char *name);
/* Adds a container (copied strings) to a pod added by fr_kube_add_pod. */
int fr_kube_pod_add_container(struct fr_kube *k, struct fr_pod *p, const char *id,
			      const char *name, const char *image);

size_t fr_kube_n_pods(const struct fr_kube *k);
const struct fr_pod *fr_kube_pod(const struct fr_kube *k, size_t i);
size_t fr_kube_n_services(const struct fr_kube *k);
const struct fr_service *fr_kube_service(const struct fr_kube *k, size_t i);
/* The pod with this UID, or NULL. */
const struct fr_pod *fr_kube_find_uid(const struct fr_kube *k, const char *uid);

/* Deployment name from a ReplicaSet name: strips "-<hash>" when hash equals
 * pod_template_hash (if given) or looks like one (alphanumeric, 1 to 10
 * characters).  Writes into out; returns out. */
const char *fr_kube_deployment_of(const char *rs, const char *pod_template_hash, char *out,
				  size_t outlen);

#endif
