/* export_pcap_packets.c - the packets of `flightrec export-pcap`
 * (export_pcap.c): records in, made-up packets out to the pcapng writer.
 *
 * Each connection gets made-up packets around its DATA payloads: a
 * three-way handshake before its first packet, one TCP segment per DATA
 * record (split at 32 KiB) whose sequence number is the ISN + 1 +
 * stream_pos, so bytes missing from the recording are missing sequence
 * ranges; acknowledgements follow the peer's bytes seen so far; CONN_CLOSE
 * becomes FIN, FIN-ACK, ACK.  UDP DATA becomes one datagram each.  The
 * ISNs are a hash of the two endpoints, so the client's and the server's
 * sockets of one connection (both recorded on one node) give the same
 * sequence numbers for the same bytes, one handshake, and each end's FIN
 * at its own close (the other end may still send until it closes); a UDP datagram recorded by both its
 * sender's and its receiver's socket (same addresses and bytes, within 2 s)
 * is written once.  A connection whose CONN_OPEN is not in the input (it
 * rotated out of the ring) takes its addresses and role from the
 * CONN_STATE record at the start of a segment (2.1); one without either
 * (open before the recording) gets made-up addresses 10.254.x.y ->
 * 10.255.0.1.
 * Every packet carries a comment: node, pid, comm, pod, connection and
 * stream position.  One pcapng interface per node.
 */
#define _GNU_SOURCE
#include "../formats/bytes.h"
#include "../formats/pcapng.h"
#include "../formats/segment.h"
#include "export_pcap_internal.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small maps --------------------------------------------------------------- */

struct conn {
	struct conn *next;
	struct conn *tnext; /* in the table by addresses (TCP, from CONN_OPEN) */
	uint32_t node; /* interface id */
	struct fr_connkey key;
	struct fr_addr local, remote;
	uint8_t udp, role, hs_done, closed, faked, in_tuples;
	uint8_t peer_fin; /* the other end's socket closed: its FIN is out */
	uint32_t isn_l, isn_r;
	uint64_t end_l, end_r; /* stream bytes sent so far by local / remote */
};

struct proc {
	struct proc *next;
	uint32_t node, pid;
	char comm[32];
	char pod[160];
};

struct podip {
	struct podip *next;
	uint8_t family;
	uint8_t addr[16];
	char pod[160];
};

struct podct {
	struct podct *next;
	char id[80];
	char pod[160];
};

/* a pod's workload (NAMESPACE/OWNER as the analyzer names it), for --pod */
struct podwl {
	struct podwl *next;
	char pod[160], wl[160];
};

static struct conn *conn_get(struct pcap_export *x, uint32_t node, const struct fr_connkey *k, int create)
{
	uint32_t h = fr_hash(k, sizeof(*k), fr_hash(&node, 4, FR_HASH_INIT)) % NB;
	for (struct conn *c = x->conns[h]; c; c = c->next)
		if (c->node == node && c->key.pid == k->pid && c->key.fd == k->fd && c->key.gen == k->gen)
			return c;
	if (!create)
		return NULL;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->node = node;
	c->key = *k;
	c->next = x->conns[h];
	x->conns[h] = c;
	return c;
}

/* The sockets of one TCP connection recorded on one node (its two ends,
 * or two generations of one socket) share a packet flow: one handshake,
 * each end's FIN when that end closes.  They are found by addresses. */
static uint32_t tuple_hash(const struct conn *c)
{
	return (fr_hash(&c->local, sizeof(c->local), FR_HASH_INIT) ^ fr_hash(&c->remote, sizeof(c->remote), FR_HASH_INIT) ^
		c->node) % NB;
}

static int same_addr(const struct fr_addr *a, const struct fr_addr *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

static void tuple_add(struct pcap_export *x, struct conn *c)
{
	uint32_t h = tuple_hash(c);
	c->tnext = x->tuples[h];
	x->tuples[h] = c;
	c->in_tuples = 1;
}

/* Another socket of c's connection: of the other end (reversed 1) or of
 * the same end (reversed 0). */
static struct conn *tuple_twin(struct pcap_export *x, const struct conn *c, int reversed)
{
	const struct fr_addr *l = reversed ? &c->remote : &c->local, *r = reversed ? &c->local : &c->remote;
	for (struct conn *t = x->tuples[tuple_hash(c)]; t; t = t->tnext)
		if (t != c && t->node == c->node && same_addr(&t->local, l) && same_addr(&t->remote, r))
			return t;
	return NULL;
}

static void conn_drop(struct pcap_export *x, struct conn *c)
{
	if (c->in_tuples)
		for (struct conn **pp = &x->tuples[tuple_hash(c)]; *pp; pp = &(*pp)->tnext)
			if (*pp == c) {
				*pp = c->tnext;
				break;
			}
	uint32_t h = fr_hash(&c->key, sizeof(c->key), fr_hash(&c->node, 4, FR_HASH_INIT)) % NB;
	for (struct conn **pp = &x->conns[h]; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
}

static struct proc *proc_get(struct pcap_export *x, uint32_t node, uint32_t pid, int create)
{
	uint32_t h = (pid * 2654435761u + node) % NB;
	for (struct proc *p = x->procs[h]; p; p = p->next)
		if (p->pid == pid && p->node == node)
			return p;
	if (!create)
		return NULL;
	struct proc *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->node = node;
	p->next = x->procs[h];
	x->procs[h] = p;
	return p;
}

static const char *pod_by_ip(struct pcap_export *x, const struct fr_addr *a)
{
	if (!a->family)
		return NULL;
	uint32_t h = fr_hash(a->addr, 16, a->family) % NB;
	for (struct podip *p = x->ips[h]; p; p = p->next)
		if (p->family == a->family && !memcmp(p->addr, a->addr, 16))
			return p->pod;
	return NULL;
}

static const char *pod_by_container(struct pcap_export *x, const char *id)
{
	if (!id[0])
		return NULL;
	uint32_t h = fr_hash(id, strlen(id), 0) % NB;
	for (struct podct *p = x->cts[h]; p; p = p->next)
		if (!strcmp(p->id, id))
			return p->pod;
	return NULL;
}

static const char *wl_by_pod(struct pcap_export *x, const char *pod)
{
	uint32_t h = fr_hash(pod, strlen(pod), 0) % NB;
	for (struct podwl *p = x->wls[h]; p; p = p->next)
		if (!strcmp(p->pod, pod))
			return p->wl;
	return NULL;
}

static void span_cpy(char *dst, size_t n, const struct fr_span *s)
{
	size_t l = s->len < n - 1 ? s->len : n - 1;
	if (l) /* an empty span may have no bytes at all (p NULL) */
		memcpy(dst, s->p, l);
	dst[l] = 0;
}

/* Text address to a pod-IP entry; 0 or -1. */
static int inet_pton_fr(const char *ip, struct podip *e)
{
	if (inet_pton(AF_INET, ip, e->addr) == 1) {
		e->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, e->addr) == 1) {
		e->family = 6;
		return 0;
	}
	return -1;
}

static void on_pod(struct pcap_export *x, const struct fr_pod *p)
{
	char name[160], ns[80], nm[80], owner[80];
	span_cpy(ns, sizeof(ns), &p->namespace_);
	span_cpy(nm, sizeof(nm), &p->name);
	span_cpy(owner, sizeof(owner), &p->owner_name);
	snprintf(name, sizeof(name), "%s/%s", ns, nm);
	if (!wl_by_pod(x, name)) {
		struct podwl *w = calloc(1, sizeof(*w));
		if (!w)
			return;
		snprintf(w->pod, sizeof(w->pod), "%s", name);
		snprintf(w->wl, sizeof(w->wl), "%s/%s", ns, owner[0] ? owner : nm);
		uint32_t h = fr_hash(name, strlen(name), 0) % NB;
		w->next = x->wls[h];
		x->wls[h] = w;
	}
	for (uint32_t i = 0; i < p->n_ips; i++) {
		char ip[64];
		span_cpy(ip, sizeof(ip), &p->ips[i]);
		struct podip *e = calloc(1, sizeof(*e));
		if (!e)
			return;
		if (inet_pton_fr(ip, e)) {
			free(e);
			continue;
		}
		snprintf(e->pod, sizeof(e->pod), "%s", name);
		uint32_t h = fr_hash(e->addr, 16, e->family) % NB;
		e->next = x->ips[h];
		x->ips[h] = e;
	}
	for (uint32_t i = 0; i < p->n_containers; i++) {
		struct podct *e = calloc(1, sizeof(*e));
		if (!e)
			return;
		span_cpy(e->id, sizeof(e->id), &p->containers[i].id);
		snprintf(e->pod, sizeof(e->pod), "%s", name);
		uint32_t h = fr_hash(e->id, strlen(e->id), 0) % NB;
		e->next = x->cts[h];
		x->cts[h] = e;
	}
}

/* ---- packets ------------------------------------------------------------------- */

uint32_t pcx_node_id(struct pcap_export *x, const char *node)
{
	for (uint32_t i = 0; i < x->nnodes; i++)
		if (!strcmp(x->nodes[i], node))
			return i;
	char **n = realloc(x->nodes, (x->nnodes + 1) * sizeof(*n));
	if (!n)
		return 0;
	x->nodes = n;
	x->nodes[x->nnodes] = strdup(node);
	char descr[300];
	snprintf(descr, sizeof(descr), "flightrec node %s", node);
	fr_pcapng_add_if(x->w, node[0] ? node : "flightrec", descr);
	return x->nnodes++;
}

static uint32_t isn_of(const struct fr_addr *a, const struct fr_addr *b)
{
	uint32_t h = fr_hash(a->addr, 16, FR_HASH_INIT ^ a->family);
	h = fr_hash(&a->port, 2, h);
	h = fr_hash(b->addr, 16, h);
	h = fr_hash(&b->port, 2, h);
	return h * 2654435761u;
}

static void fake_addrs(struct pcap_export *x, struct conn *c, const struct fr_addr *peer)
{
	uint32_t n = ++x->fake;
	if (!c->local.family) {
		c->local = (struct fr_addr){4, c->udp ? 17 : 6, (uint16_t)(20000 + n % 40000),
					    {10, 254, (uint8_t)(n >> 8), (uint8_t)n}};
		c->faked = 1;
	}
	if (!c->remote.family) {
		if (peer && peer->family)
			c->remote = *peer;
		else
			c->remote = (struct fr_addr){4, c->udp ? 17 : 6, 1, {10, 255, 0, 1}};
	}
	if (c->remote.family != c->local.family) { /* one family per packet */
		struct fr_addr *fix = c->faked ? &c->local : &c->remote;
		uint8_t fam = c->faked ? c->remote.family : c->local.family;
		*fix = fam == 4 ? (struct fr_addr){4, fix->proto, fix->port, {10, 255, (uint8_t)(n >> 8), (uint8_t)n}}
				: (struct fr_addr){6, fix->proto, fix->port, {0xfd, 0xff, [14] = (uint8_t)(n >> 8), [15] = (uint8_t)n}};
	}
	c->isn_l = isn_of(&c->local, &c->remote);
	c->isn_r = isn_of(&c->remote, &c->local);
}

static void comment(struct pcap_export *x, const struct conn *c, const char *what, char *buf, size_t n)
{
	struct proc *p = proc_get(x, c->node, c->key.pid, 0);
	const char *pod = p && p->pod[0] ? p->pod : NULL;
	if (!pod)
		pod = pod_by_ip(x, &c->local);
	snprintf(buf, n, "node=%s pid=%u comm=%s pod=%s conn=%u:%u:%u%s%s", x->nodes[c->node], c->key.pid,
		 p && p->comm[0] ? p->comm : "-", pod ? pod : "-", c->key.pid, c->key.fd, c->key.gen,
		 what ? " " : "", what ? what : "");
}

/* One packet from local (out = 1) or from remote. */
static int emit(struct pcap_export *x, struct conn *c, uint64_t wall, int out, uint8_t flags, uint32_t seq, uint32_t ack,
		const uint8_t *p, uint32_t len, const char *what)
{
	struct fr_synth s = {out ? &c->local : &c->remote, out ? &c->remote : &c->local, c->udp ? 17 : 6,
			     flags, seq, ack, p, len};
	size_t n = fr_synth_frame(x->frame, sizeof(x->frame), &s);
	if (!n)
		return 0;
	char cm[600];
	comment(x, c, what, cm, sizeof(cm));
	x->packets++;
	return fr_pcapng_packet(x->w, c->node, wall, x->frame, (uint32_t)n, cm);
}

#define SYN 2
#define ACK 16
#define FIN 1
#define PSH 8

static int handshake(struct pcap_export *x, struct conn *c, uint64_t wall)
{
	if (c->hs_done || c->udp)
		return 0;
	c->hs_done = 1;
	struct conn *t = c->in_tuples ? tuple_twin(x, c, 1) : NULL;
	if (t && t->hs_done) /* both ends known before either sent (CONN_STATE, --from) */
		return 0;
	x->conns_out++;
	/* the client sends the SYN: local unless the socket was accepted */
	int cl = c->role != FR_ROLE_SERVER;
	uint32_t ic = cl ? c->isn_l : c->isn_r, is = cl ? c->isn_r : c->isn_l;
	int rc = emit(x, c, wall, cl, SYN, ic, 0, NULL, 0, "handshake (synthesised)");
	rc |= emit(x, c, wall, !cl, SYN | ACK, is, ic + 1, NULL, 0, "handshake (synthesised)");
	rc |= emit(x, c, wall, cl, ACK, ic + 1, is + 1, NULL, 0, "handshake (synthesised)");
	return rc;
}

static int wanted(struct pcap_export *x, const struct conn *c, uint64_t wall)
{
	if ((int64_t)wall < x->from || (int64_t)wall > x->to)
		return 0;
	if (x->have_conn && (c->key.pid != x->only.pid || c->key.fd != x->only.fd ||
			     (x->only.gen && c->key.gen != x->only.gen)))
		return 0;
	if (x->pod) {
		struct proc *p = proc_get(x, c->node, c->key.pid, 0);
		const char *cand[3] = {p && p->pod[0] ? p->pod : NULL, pod_by_ip(x, &c->local),
				       pod_by_ip(x, &c->remote)};
		for (int i = 0; i < 6; i++) { /* the pods, then their workloads */
			const char *v = i < 3 ? cand[i] : cand[i - 3] ? wl_by_pod(x, cand[i - 3]) : NULL;
			const char *slash = v ? strchr(v, '/') : NULL;
			if (v && (!strcmp(v, x->pod) || (!strchr(x->pod, '/') && slash && !strcmp(slash + 1, x->pod))))
				return 1;
		}
		return 0;
	}
	return 1;
}

static int on_data(struct pcap_export *x, uint32_t node, const struct fr_data *d, uint64_t wall)
{
	struct conn *c = conn_get(x, node, &d->conn, 1);
	if (!c)
		return -1;
	if (!c->local.family && !c->remote.family) {
		c->udp = d->peer.family != 0 && d->peer.proto != 6;
		fake_addrs(x, c, &d->peer);
	}
	if (!wanted(x, c, wall))
		return 0;
	int out = d->dir == FR_EGRESS;
	x->bytes += d->payload.len;
	char what[96];
	if (c->udp) {
		const struct fr_addr *peer = d->peer.family == c->local.family ? &d->peer : &c->remote;
		struct fr_addr save = c->remote;
		c->remote = *peer;
		uint32_t len = d->payload.len > FR_SYNTH_MAX_PAYLOAD ? FR_SYNTH_MAX_PAYLOAD : d->payload.len;
		const struct fr_addr *src = out ? &c->local : peer, *dst = out ? peer : &c->local;
		uint32_t hsh = fr_hash(src, sizeof(*src), fr_hash(dst, sizeof(*dst), fr_hash(d->payload.p, len, FR_HASH_INIT)));
		for (uint32_t i = 0; i < 256 && i < x->nrecent; i++) {
			const __typeof__(x->recent[0]) *e = &x->recent[i];
			/* either copy may come first in the file: a sender's copy
			 * carries the time its call entered, the receiver's the
			 * time its call returned */
			uint64_t apart = wall > e->wall ? wall - e->wall : e->wall - wall;
			if (e->hash == hsh && e->node == c->node && apart < 2000000000ull &&
			    (e->key.pid != c->key.pid || e->key.fd != c->key.fd || e->key.gen != c->key.gen)) {
				x->udp_dups++; /* the other end's copy of the same datagram */
				return 0;
			}
		}
		x->recent[x->nrecent % 256].hash = hsh;
		x->recent[x->nrecent % 256].node = c->node;
		x->recent[x->nrecent % 256].key = c->key;
		x->recent[x->nrecent % 256].wall = wall;
		x->nrecent++;
		snprintf(what, sizeof(what), "%s %u/%u bytes", out ? "sent" : "received", len, d->orig_len);
		int rc = emit(x, c, wall, out, 0, 0, 0, d->payload.p, len, what);
		c->remote = save;
		return rc;
	}
	if (handshake(x, c, wall))
		return -1;
	uint64_t pos = d->stream_pos;
	if (d->flags & FR_DATA_NO_POS)
		pos = out ? c->end_l : c->end_r;
	uint64_t *mine = out ? &c->end_l : &c->end_r, *theirs = out ? &c->end_r : &c->end_l;
	uint32_t isn = out ? c->isn_l : c->isn_r, pisn = out ? c->isn_r : c->isn_l;
	uint32_t done = 0;
	do {
		uint32_t n = d->payload.len - done > FR_SYNTH_MAX_PAYLOAD ? FR_SYNTH_MAX_PAYLOAD : d->payload.len - done;
		snprintf(what, sizeof(what), "stream_pos=%" PRIu64 "%s", pos + done,
			 d->payload.len < d->orig_len ? " truncated" : "");
		if (emit(x, c, wall, out, PSH | ACK, isn + 1 + (uint32_t)(pos + done),
			 pisn + 1 + (uint32_t)*theirs, d->payload.p + done, n, what))
			return -1;
		done += n;
	} while (done < d->payload.len);
	if (pos + d->orig_len > *mine)
		*mine = pos + d->orig_len;
	return 0;
}

static int on_close(struct pcap_export *x, uint32_t node, const struct fr_conn_close *cc, uint64_t wall)
{
	struct conn *c = conn_get(x, node, &cc->conn, 0);
	if (!c)
		return 0;
	int rc = 0;
	if (!c->udp && c->hs_done && wanted(x, c, wall)) {
		uint32_t fl = c->isn_l + 1 + (uint32_t)c->end_l, fr = c->isn_r + 1 + (uint32_t)c->end_r;
		struct conn *t = c->in_tuples ? tuple_twin(x, c, 1) : NULL;
		rc |= emit(x, c, wall, 1, FIN | ACK, fl, fr + c->peer_fin, NULL, 0, "close (synthesised)");
		if (t || c->peer_fin) {
			/* the other end was recorded: its FIN comes (or came) with
			 * its own close; it may still send until then */
			rc |= emit(x, c, wall, 0, ACK, fr + c->peer_fin, fl + 1, NULL, 0, "close (synthesised)");
			if (t)
				t->peer_fin = 1;
		} else {
			rc |= emit(x, c, wall, 0, FIN | ACK, fr, fl + 1, NULL, 0, "close (synthesised)");
			rc |= emit(x, c, wall, 1, ACK, fl + 1, fr + 1, NULL, 0, "close (synthesised)");
		}
	}
	conn_drop(x, c);
	return rc;
}

/* A new connection with its addresses (from CONN_OPEN or CONN_STATE), in
 * the table by addresses with its other end.  NULL when out of memory. */
static struct conn *conn_addressed(struct pcap_export *x, uint32_t node, const struct fr_connkey *k,
				   uint8_t role, const struct fr_addr *local, const struct fr_addr *remote)
{
	struct conn *c = conn_get(x, node, k, 1);
	if (!c)
		return NULL;
	c->local = *local;
	c->remote = *remote;
	c->role = role;
	c->udp = local->proto == 17 || remote->proto == 17;
	fake_addrs(x, c, NULL);
	if (!c->udp && !c->faked) {
		struct conn *t = tuple_twin(x, c, 0);
		if (t && t->key.pid == c->key.pid && t->key.fd == c->key.fd) {
			/* a second connect() on the same socket: one flow */
			c->hs_done = t->hs_done;
			c->peer_fin = t->peer_fin;
			conn_drop(x, t);
			t = NULL;
		}
		if (!t)
			t = tuple_twin(x, c, 1);
		if (t) /* the other end (or a sharer of the socket) made the handshake */
			c->hs_done |= t->hs_done;
		tuple_add(x, c);
	}
	return c;
}

int pcx_on_record(struct pcap_export *x, uint32_t node, const struct fr_header *h, const struct fr_record *r)
{
	uint64_t wall = (uint64_t)((int64_t)r->ts + h->wall_offset_ns);
	switch (r->kind) {
	case FR_PROCESS: {
		struct proc *p = proc_get(x, node, r->u.proc.pid, 1);
		if (!p)
			return -1;
		span_cpy(p->comm, sizeof(p->comm), &r->u.proc.comm);
		char id[80];
		span_cpy(id, sizeof(id), &r->u.proc.container_id);
		const char *pod = pod_by_container(x, id);
		snprintf(p->pod, sizeof(p->pod), "%s", pod ? pod : "");
		return 0;
	}
	case FR_POD:
		on_pod(x, &r->u.pod);
		return 0;
	case FR_CONN_OPEN: {
		const struct fr_conn_open *o = &r->u.open;
		struct conn *c = conn_get(x, node, &o->conn, 0);
		if (c) /* a new connection on the same key */
			conn_drop(x, c);
		c = conn_addressed(x, node, &o->conn, o->role, &o->local, &o->remote);
		if (!c)
			return -1;
		if (!c->udp && wanted(x, c, wall))
			return handshake(x, c, wall);
		return 0;
	}
	case FR_CONN_STATE: {
		/* a connection open when its segment began: its addresses and
		 * role when its CONN_OPEN has rotated out (its handshake, made
		 * up, comes before its first packet, as for one without) */
		const struct fr_conn_state *st = &r->u.state;
		if (!(st->flags & FR_STATE_OPEN) || conn_get(x, node, &st->conn, 0))
			return 0;
		struct conn *c = conn_addressed(x, node, &st->conn, st->role, &st->local, &st->remote);
		if (!c)
			return -1;
		c->end_l = st->pos[FR_EGRESS];
		c->end_r = st->pos[FR_INGRESS];
		return 0;
	}
	case FR_DATA:
		return on_data(x, node, &r->u.data, wall);
	case FR_CONN_CLOSE:
		return on_close(x, node, &r->u.close, wall);
	}
	return 0;
}

void pcx_free(struct pcap_export *x)
{
	for (int i = 0; i < NB; i++) {
		for (struct conn *a = x->conns[i], *n; a; a = n) {
			n = a->next;
			free(a);
		}
		for (struct proc *a = x->procs[i], *n; a; a = n) {
			n = a->next;
			free(a);
		}
		for (struct podip *a = x->ips[i], *n; a; a = n) {
			n = a->next;
			free(a);
		}
		for (struct podct *a = x->cts[i], *n; a; a = n) {
			n = a->next;
			free(a);
		}
		for (struct podwl *a = x->wls[i], *n; a; a = n) {
			n = a->next;
			free(a);
		}
	}
	for (uint32_t i = 0; i < x->nnodes; i++)
		free(x->nodes[i]);
	free(x->nodes);
	free(x);
}
