/* sink_rows.c - the sink's rows that go in one at a time, each under the
 * sink's lock with its prepared statement: recording key/values, segments,
 * processes, pods, services, marks, connections, anomalies, messages. */
#define _GNU_SOURCE
#include "sink_internal.h"

#include <stdlib.h>
#include <string.h>

/* Steps, resets and unbinds st. */
static void step(struct sink *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && !s->failed) {
		fprintf(stderr, "flightrec: sqlite insert: %s\n", sqlite3_errmsg(s->db));
		s->failed = 1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (++s->rows % 500000 == 0) {
		exec(s->db, "COMMIT");
		exec(s->db, "BEGIN");
	}
}

static void bt(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bspan(sqlite3_stmt *st, int i, struct fr_span sp)
{
	if (sp.p && sp.len)
		sqlite3_bind_text(st, i, (const char *)sp.p, (int)sp.len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bi(sqlite3_stmt *st, int i, int64_t v) { sqlite3_bind_int64(st, i, v); }

void sink_kv(struct sink *s, const char *key, const char *value)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_KV];
	bt(st, 1, key);
	bt(st, 2, value);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

void sink_segment(struct sink *s, const char *file, const struct fr_header *h, const char *sha256,
		  uint64_t bytes, const struct fr_reader_stats *stt, size_t damaged, int has_footer,
		  uint64_t first_ts, uint64_t last_ts)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_SEG];
	bt(st, 1, file);
	bt(st, 2, h->node);
	bi(st, 3, (int64_t)h->segment_index);
	bt(st, 4, h->source);
	bt(st, 5, h->recorder);
	bt(st, 6, sha256);
	bi(st, 7, (int64_t)bytes);
	bi(st, 8, (int64_t)stt->blocks);
	bi(st, 9, (int64_t)stt->records);
	bi(st, 10, (int64_t)damaged);
	bi(st, 11, has_footer);
	bi(st, 12, (int64_t)first_ts);
	bi(st, 13, (int64_t)last_ts);
	bi(st, 14, h->wall_offset_ns);
	bi(st, 15, h->snaplen);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

/* Strips a runtime prefix ("containerd://", "docker://") from an id. */
static struct fr_span strip_runtime(struct fr_span sp)
{
	for (uint32_t i = 0; i + 2 < sp.len; i++)
		if (sp.p[i] == ':' && sp.p[i + 1] == '/' && sp.p[i + 2] == '/') {
			sp.p += i + 3;
			sp.len -= i + 3;
			break;
		}
	return sp;
}

void sink_process(struct sink *s, const char *node, const struct fr_process *p)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_PROC];
	bt(st, 1, node);
	bi(st, 2, p->pid);
	bi(st, 3, p->ppid);
	bi(st, 4, (int64_t)p->start_ns);
	bspan(st, 5, p->comm);
	bspan(st, 6, p->exe);
	/* cmdline: NUL-separated -> spaces */
	if (p->cmdline.len) {
		char *c = malloc(p->cmdline.len);
		if (c) {
			uint32_t n = p->cmdline.len;
			memcpy(c, p->cmdline.p, n);
			while (n && c[n - 1] == 0)
				n--;
			for (uint32_t i = 0; i < n; i++)
				if (!c[i])
					c[i] = ' ';
			sqlite3_bind_text(st, 7, c, (int)n, SQLITE_TRANSIENT);
			free(c);
		}
	}
	bi(st, 8, (int64_t)p->cgroup_id);
	bspan(st, 9, p->cgroup_path);
	bspan(st, 10, strip_runtime(p->container_id));
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

static char *span_dup(struct fr_span sp)
{
	char *c = malloc(sp.len + 1);
	if (c) {
		if (sp.len)
			memcpy(c, sp.p, sp.len);
		c[sp.len] = 0;
	}
	return c;
}

void sink_pod(struct sink *s, const struct fr_pod *p)
{
	char *ns = span_dup(p->namespace_), *name = span_dup(p->name), *owner = span_dup(p->owner_name);
	char *uid = p->uid.len ? span_dup(p->uid) : NULL;
	char *ips = NULL, *labels = NULL, *wl = NULL;
	size_t il = 0, ll = 0;
	FILE *fi = open_memstream(&ips, &il), *fl = open_memstream(&labels, &ll);
	if (!ns || !name || !owner || !fi || !fl)
		goto out;
	if (!uid && asprintf(&uid, "%s/%s", ns, name) < 0)
		uid = NULL;
	if (asprintf(&wl, "%s/%s", ns, owner[0] ? owner : name) < 0)
		wl = NULL;
	for (uint32_t i = 0; i < p->n_ips; i++)
		fprintf(fi, "%s%.*s", i ? "," : "", (int)p->ips[i].len, (const char *)p->ips[i].p);
	for (uint32_t i = 0; i < p->n_labels; i++)
		fprintf(fl, "%s%.*s=%.*s", i ? "," : "", (int)p->labels[i].key.len,
			(const char *)p->labels[i].key.p, (int)p->labels[i].value.len,
			(const char *)p->labels[i].value.p);
	fclose(fi);
	fclose(fl);
	fi = fl = NULL;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_POD];
	bt(st, 1, uid);
	bt(st, 2, ns);
	bt(st, 3, name);
	bspan(st, 4, p->node);
	bspan(st, 5, p->owner_kind);
	bspan(st, 6, p->owner_name);
	bt(st, 7, wl);
	bt(st, 8, ips);
	bt(st, 9, labels);
	step(s, st);
	for (uint32_t i = 0; i < p->n_ips; i++) {
		st = s->st[S_POD_IP];
		bspan(st, 1, p->ips[i]);
		bt(st, 2, uid);
		step(s, st);
	}
	for (uint32_t i = 0; i < p->n_labels; i++) {
		st = s->st[S_POD_LABEL];
		bt(st, 1, uid);
		bspan(st, 2, p->labels[i].key);
		bspan(st, 3, p->labels[i].value);
		step(s, st);
	}
	for (uint32_t i = 0; i < p->n_containers; i++) {
		st = s->st[S_POD_CONT];
		bspan(st, 1, strip_runtime(p->containers[i].id));
		bt(st, 2, uid);
		bspan(st, 3, p->containers[i].name);
		bspan(st, 4, p->containers[i].image);
		step(s, st);
	}
	pthread_mutex_unlock(&s->lock);
out:
	if (fi)
		fclose(fi);
	if (fl)
		fclose(fl);
	free(ns), free(name), free(owner), free(uid), free(ips), free(labels), free(wl);
}

void sink_service(struct sink *s, const struct fr_service *v)
{
	char *ips = NULL, *ports = NULL, *sel = NULL;
	size_t a = 0, b = 0, c = 0;
	FILE *fi = open_memstream(&ips, &a), *fp = open_memstream(&ports, &b), *fs = open_memstream(&sel, &c);
	if (!fi || !fp || !fs)
		goto out;
	for (uint32_t i = 0; i < v->n_ips; i++)
		fprintf(fi, "%s%.*s", i ? "," : "", (int)v->ips[i].len, (const char *)v->ips[i].p);
	for (uint32_t i = 0; i < v->n_ports; i++)
		fprintf(fp, "%s%u->%u/%s", i ? "," : "", v->ports[i].port, v->ports[i].target_port,
			v->ports[i].proto == 17 ? "udp" : "tcp");
	for (uint32_t i = 0; i < v->n_selector; i++)
		fprintf(fs, "%s%.*s=%.*s", i ? "," : "", (int)v->selector[i].key.len,
			(const char *)v->selector[i].key.p, (int)v->selector[i].value.len,
			(const char *)v->selector[i].value.p);
	fclose(fi), fclose(fp), fclose(fs);
	fi = fp = fs = NULL;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_SVC];
	bspan(st, 1, v->namespace_);
	bspan(st, 2, v->name);
	bt(st, 3, ips);
	bt(st, 4, ports);
	bt(st, 5, sel);
	step(s, st);
	for (uint32_t i = 0; i < v->n_ips; i++) {
		st = s->st[S_SVC_IP];
		bspan(st, 1, v->ips[i]);
		bspan(st, 2, v->namespace_);
		bspan(st, 3, v->name);
		step(s, st);
	}
	for (uint32_t i = 0; i < v->n_selector && i < FR_POD_MAX_LABELS; i++) {
		st = s->st[S_SVC_SEL];
		bspan(st, 1, v->namespace_);
		bspan(st, 2, v->name);
		bspan(st, 3, v->selector[i].key);
		bspan(st, 4, v->selector[i].value);
		step(s, st);
	}
	pthread_mutex_unlock(&s->lock);
out:
	if (fi)
		fclose(fi);
	if (fp)
		fclose(fp);
	if (fs)
		fclose(fs);
	free(ips), free(ports), free(sel);
}

void sink_mark(struct sink *s, const char *node, uint64_t ts, const struct fr_mark *m)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_MARK];
	bt(st, 1, node);
	bi(st, 2, (int64_t)ts);
	bspan(st, 3, m->kind);
	bspan(st, 4, m->text);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

int sink_addr_text(const struct fr_addr *a, char *buf, size_t len)
{
	if (a->family == 4)
		return snprintf(buf, len, "%u.%u.%u.%u", a->addr[0], a->addr[1], a->addr[2], a->addr[3]);
	if (a->family != 6)
		return -1;
	struct fr_addr b = *a;
	b.port = 0;
	fr_addr_str(&b, buf, len);
	/* "[x::y]:0" -> "x::y" */
	char *e = strrchr(buf, ']');
	if (e)
		*e = 0;
	memmove(buf, buf + 1, strlen(buf));
	return (int)strlen(buf);
}

static void baddr(sqlite3_stmt *st, int i, const struct fr_addr *a)
{
	char buf[64];
	int n = sink_addr_text(a, buf, sizeof(buf));
	if (n < 0) {
		sqlite3_bind_null(st, i);
		sqlite3_bind_null(st, i + 1);
		return;
	}
	sqlite3_bind_text(st, i, buf, n, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, i + 1, a->port);
}

static const char *role_name(int r)
{
	return r == FR_ROLE_CLIENT ? "client" : r == FR_ROLE_SERVER ? "server" : "unknown";
}

void sink_conn(struct sink *s, const struct conn_row *c)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_CONN];
	bi(st, 1, (int64_t)c->id);
	bt(st, 2, c->node);
	bi(st, 3, c->key.pid);
	bi(st, 4, c->key.fd);
	bi(st, 5, c->key.gen);
	bt(st, 6, c->transport == FR_UDP ? "udp" : "tcp");
	bt(st, 7, role_name(c->role));
	bt(st, 8, c->protocol);
	baddr(st, 9, &c->local);
	baddr(st, 11, &c->remote);
	bi(st, 13, (int64_t)c->start_ns);
	bi(st, 14, (int64_t)c->end_ns);
	bi(st, 15, (int64_t)c->bytes_out);
	bi(st, 16, (int64_t)c->bytes_in);
	bi(st, 17, (int64_t)c->gap_bytes);
	bi(st, 18, (int64_t)c->requests);
	bi(st, 19, c->closed);
	if (c->head >= 0)
		bi(st, 20, c->head);
	else
		sqlite3_bind_null(st, 20);
	if (c->tls[0])
		bt(st, 21, c->tls);
	else
		sqlite3_bind_null(st, 21);
	for (int i = 22; i <= 26; i++)
		sqlite3_bind_null(st, i);
	if (c->tcp) {
		bi(st, 22, c->retransmits);
		bi(st, 23, (int64_t)c->resets_sent + c->resets_received);
		bi(st, 24, c->resets_sent);
		bi(st, 25, c->resets_received);
		if (c->srtt_us)
			bi(st, 26, c->srtt_us);
	}
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

void sink_anomaly(struct sink *s, uint64_t conn_id, uint64_t ts, const char *kind, const char *detail)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_ANOM];
	if (conn_id)
		bi(st, 1, (int64_t)conn_id);
	bi(st, 2, (int64_t)ts);
	bt(st, 3, kind);
	bt(st, 4, detail);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}

void sink_message(struct sink *s, uint64_t conn_id, const struct fr_proto *p, const struct fr_msg *m)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = s->st[S_MSG];
	bi(st, 1, (int64_t)conn_id);
	bt(st, 2, p->name);
	bi(st, 3, (int64_t)m->first_ns);
	bi(st, 4, (int64_t)m->last_ns);
	bt(st, 5, m->dir == FR_C2S ? "client" : "server");
	bt(st, 6, m->kind);
	bt(st, 7, m->topic);
	bi(st, 8, (int64_t)m->bytes);
	step(s, st);
	pthread_mutex_unlock(&s->lock);
}
