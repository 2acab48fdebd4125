/* kubeapi.h - pods of this node and services from the Kubernetes API
 * server, fetched by a background thread (libcurl) and handed over as
 * struct fr_kube sets. */
#ifndef FLIGHTREC_KUBEAPI_H
#define FLIGHTREC_KUBEAPI_H

#include "../formats/kube.h"

struct fr_kubeapi;

struct fr_kev_trigger;

/* Starts polling every `every` seconds; with events, also the Warning
 * events, and pods' readiness is compared poll to poll (kevents.h); with
 * cluster ("NAMESPACE/NAME"), that ConfigMap every 2 s (the cluster
 * trigger, kevents.h).  kubeconfig NULL: in-cluster
 * (KUBERNETES_SERVICE_HOST/PORT, the service account token and CA under
 * /var/run/secrets/kubernetes.io/serviceaccount/).  node: the field
 * selector spec.nodeName.  Returns NULL with a reason in err. */
struct fr_kubeapi *fr_kubeapi_start(const char *kubeconfig, const char *node, int every,
				    int events, const char *cluster, char *err, size_t errlen);
/* Moves up to max triggers found by the polls so far into out; returns
 * how many. */
int fr_kubeapi_take_triggers(struct fr_kubeapi *a, struct fr_kev_trigger *out, int max);
/* The newest complete set fetched since the last call (the caller owns it
 * and frees it with fr_kube_free), or NULL. */
struct fr_kube *fr_kubeapi_take(struct fr_kubeapi *a);
/* The last error, if any, copied into buf; returns 1 if there was one. */
int fr_kubeapi_error(struct fr_kubeapi *a, char *buf, size_t len);
void fr_kubeapi_stop(struct fr_kubeapi *a); /* NULL accepted */

#endif
