/* kubeclient.h - a small client of the Kubernetes API server (libcurl):
 * the credentials of a kubeconfig file or of the pod's service account,
 * and one HTTP request at a time.  Used by the recorder's API thread
 * (capture/kubeapi.c) and by `flightrec snapshot --cluster` and
 * `flightrec collect` (analyze/cmd_cluster.c).
 *
 * The kubeconfig reader is deliberately small: it takes the first
 * `server:`, `certificate-authority:`/`-data:`, `token:`,
 * `client-certificate:`/`-data:`, `client-key:`/`-data:` and
 * `insecure-skip-tls-verify:` lines of the file (the usual one-cluster,
 * one-user file); it does not follow contexts. */
#ifndef FLIGHTREC_KUBECLIENT_H
#define FLIGHTREC_KUBECLIENT_H

#include <stddef.h>

struct fr_kubeclient;

/* The credentials of the kubeconfig file, or with kubeconfig NULL of the
 * pod the program runs in (KUBERNETES_SERVICE_HOST/PORT, the service
 * account's token and CA under
 * /var/run/secrets/kubernetes.io/serviceaccount/).  Returns the client
 * (free with fr_kubeclient_free), or NULL with a reason in err. */
struct fr_kubeclient *fr_kubeclient_new(const char *kubeconfig, char *err, size_t errlen);
void fr_kubeclient_free(struct fr_kubeclient *k); /* NULL accepted */

/* "https://host:port", without a trailing slash; owned by k. */
const char *fr_kubeclient_server(const struct fr_kubeclient *k);

/* One request: method "GET" (body NULL) or e.g. "PATCH" with body sent as
 * content type ctype, to url (the server's address and a path).  The
 * response body goes to *out (NUL-terminated, *outlen bytes without the
 * NUL; the caller frees it, also after an error) and its HTTP status to
 * *status (0: no response).  Returns 0 for a 2xx status, -1 otherwise
 * with "url: reason" in err.  Thread-safe for distinct clients. */
int fr_kubeclient_request(struct fr_kubeclient *k, const char *method, const char *url, const char *ctype,
			  const char *body, char **out, size_t *outlen, long *status, char *err, size_t errlen);

#endif
