/* kubeclient.c - a small client of the Kubernetes API server (libcurl):
 * kubeconfig or service-account credentials, one request at a time.
 * kubeclient.h says what each function returns. */
#define _GNU_SOURCE
#include "kubeclient.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_BODY (256u << 20)

struct blob {
	char *p;
	size_t n;
};

struct fr_kubeclient {
	char server[512];
	char token[4096];
	char ca_file[512];
	struct blob ca, cert, key;
	int insecure;
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct blob *b = arg;
	size_t k = sz * n;
	if (b->n + k > MAX_BODY)
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

static int load_kubeconfig(struct fr_kubeclient *a, const char *path, char *err, size_t errlen)
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
	size_t n = strlen(a->server);
	while (n && a->server[n - 1] == '/')
		a->server[--n] = 0;
	return 0;
}

static int load_incluster(struct fr_kubeclient *a, char *err, size_t errlen)
{
	const char *h = getenv("KUBERNETES_SERVICE_HOST"), *p = getenv("KUBERNETES_SERVICE_PORT");
	if (!h || !p) {
		snprintf(err, errlen, "not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): use --kubeconfig FILE");
		return -1;
	}
	snprintf(a->server, sizeof(a->server), strchr(h, ':') ? "https://[%s]:%s" : "https://%s:%s", h, p);
	struct blob t = read_file(SA_DIR "/token");
	if (!t.p) {
		snprintf(err, errlen, "cannot read %s/token", SA_DIR);
		return -1;
	}
	snprintf(a->token, sizeof(a->token), "%s", t.p);
	trim(a->token);
	free(t.p);
	snprintf(a->ca_file, sizeof(a->ca_file), SA_DIR "/ca.crt");
	return 0;
}

struct fr_kubeclient *fr_kubeclient_new(const char *kubeconfig, char *err, size_t errlen)
{
	struct fr_kubeclient *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (kubeconfig ? load_kubeconfig(a, kubeconfig, err, errlen) : load_incluster(a, err, errlen)) {
		fr_kubeclient_free(a);
		return NULL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return a;
}

void fr_kubeclient_free(struct fr_kubeclient *a)
{
	if (!a)
		return;
	free(a->ca.p);
	free(a->cert.p);
	free(a->key.p);
	free(a);
}

const char *fr_kubeclient_server(const struct fr_kubeclient *a)
{
	return a->server;
}

int fr_kubeclient_request(struct fr_kubeclient *a, const char *method, const char *url, const char *ctype,
			  const char *body, char **out, size_t *outlen, long *status, char *err, size_t errlen)
{
	struct blob b = {0, 0};
	*out = NULL;
	*outlen = 0;
	*status = 0;
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "curl init failed");
		return -1;
	}
	struct curl_slist *hd = NULL;
	char line[4200];
	if (a->token[0]) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", a->token);
		hd = curl_slist_append(hd, line);
	}
	hd = curl_slist_append(hd, "Accept: application/json");
	if (body && ctype) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		hd = curl_slist_append(hd, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	if (body) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
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
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hd);
	curl_easy_cleanup(c);
	*out = b.p;
	*outlen = b.n;
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(rc));
		return -1;
	}
	if (*status < 200 || *status > 299) {
		snprintf(err, errlen, "%s: HTTP status %ld", url, *status);
		return -1;
	}
	return 0;
}
