/* clickhouse.c - a small client of ClickHouse's HTTP interface (libcurl):
 * statements with a text answer, and INSERTs whose body is produced on
 * the fly.  See clickhouse.h. */
#define _GNU_SOURCE
#include "clickhouse.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *p;
	size_t n, cap;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;
	size_t n = size * nmemb;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return 0; /* curl reports a write error */
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = 0;
	return n;
}

int ch_open(struct ch *c, const char *url)
{
	memset(c, 0, sizeof(*c));
	static int inited;
	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = 1;
	}
	size_t n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	c->url = strndup(url, n);
	c->curl = curl_easy_init();
	if (!c->url || !c->curl) {
		ch_close(c);
		return -1;
	}
	return 0;
}

void ch_close(struct ch *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	c->curl = NULL;
	c->url = NULL;
}

/* One request: the query in the URL when body is produced by fill, else in
 * the POST body.  The server's answer goes to *out on success, its
 * exception text to c->err on failure. */
static int request(struct ch *c, const char *settings, const char *sql, ch_fill_fn fill, void *ctx, char **out)
{
	CURL *h = c->curl;
	struct buf b = {0};
	char *url = NULL;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	struct curl_slist *hdr = NULL;
	if (fill) {
		char *q = curl_easy_escape(h, sql, 0);
		if (q && asprintf(&url, "%s/?%s%squery=%s", c->url, settings ? settings : "", settings ? "&" : "", q) < 0)
			url = NULL;
		curl_free(q);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, (curl_read_callback)fill);
		curl_easy_setopt(h, CURLOPT_READDATA, ctx);
		hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked");
		hdr = curl_slist_append(hdr, "Expect:");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	} else {
		if (asprintf(&url, "%s/%s%s", c->url, settings ? "?" : "", settings ? settings : "") < 0)
			url = NULL;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, sql);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(sql));
	}
	if (!url) {
		curl_slist_free_all(hdr);
		snprintf(c->err, sizeof(c->err), "out of memory");
		return CH_ERROR;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	free(url);
	int ret = CH_OK;
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(c->err, sizeof(c->err), "the data could not be read");
		ret = CH_ERROR;
	} else if (rc != CURLE_OK) {
		snprintf(c->err, sizeof(c->err), "%s: %s", c->url, curl_easy_strerror(rc));
		ret = CH_UNREACHABLE;
	} else if (status != 200) {
		size_t n = b.n;
		while (n && (b.p[n - 1] == '\n' || b.p[n - 1] == ' '))
			n--;
		snprintf(c->err, sizeof(c->err), "%.*s", (int)n, b.p ? b.p : "");
		ret = status >= 500 && !n ? CH_UNREACHABLE : CH_ERROR;
	}
	if (ret == CH_OK && out) {
		*out = b.p ? b.p : strdup("");
		return *out ? CH_OK : CH_ERROR;
	}
	free(b.p);
	return ret;
}

int ch_exec(struct ch *c, const char *sql, char **out)
{
	return ch_exec_with(c, NULL, sql, out);
}

int ch_exec_with(struct ch *c, const char *settings, const char *sql, char **out)
{
	if (out)
		*out = NULL;
	return request(c, settings, sql, NULL, NULL, out);
}

int ch_insert(struct ch *c, const char *settings, const char *query, ch_fill_fn fill, void *ctx)
{
	return request(c, settings, query, fill, ctx, NULL);
}

int ch_count(struct ch *c, const char *sql, long long *out)
{
	char *a;
	int rc = ch_exec(c, sql, &a);
	if (rc != CH_OK)
		return rc;
	char *end;
	*out = strtoll(a, &end, 10);
	if (end == a) {
		snprintf(c->err, sizeof(c->err), "unexpected answer to '%.60s': '%.60s'", sql, a);
		rc = CH_ERROR;
	}
	free(a);
	return rc;
}
