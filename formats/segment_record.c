/* segment_record.c - record bodies of the segment format: each kind's
 * layout, with its size, encode and decode side by side.
 *
 * Reference: formats/SEGMENT.md, "Records".  A kind is one section below
 * (its layout, then <kind>_size, <kind>_put, <kind>_get) and one row of the
 * table `kinds` at the end.  The writer and the reader reach bodies only
 * through seg_record_size, seg_record_put and fr_record_decode; the
 * columnar blocks (segment_columnar.c) also know the DATA fixed part, which
 * they predict field by field.
 *
 * Sizes: -1 when the record cannot be encoded, more than FR_MAX_RECORD
 * when it is too big.  A _put writes exactly _size bytes.  A _get reads
 * through a bounds-checked cursor and returns 0, or -1 when the body is
 * malformed; spans point into the body.
 */
#define _GNU_SOURCE
#include "segment_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const char *const syscall_names[] = {
	"?", "read", "write", "readv", "writev", "sendto", "recvfrom",
	"sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "sendfile",
	"SSL_write", "SSL_read", "pcap",
};

const char *fr_syscall_name(unsigned sys)
{
	return sys < FR_SYS_MAX ? syscall_names[sys] : "?";
}

static struct fr_span span(const uint8_t *p, size_t n)
{
	struct fr_span s = {p, (uint32_t)n};
	return s;
}

/* ---- shared parts: addresses, connection keys, TLV fields ------------------- */

/* addr: u8 family, u8 proto, u16 port, 16 bytes address (ADDR_LEN). */
static uint8_t *put_addr(uint8_t *p, const struct fr_addr *a)
{
	p = put_u8(p, a->family);
	p = put_u8(p, a->proto);
	p = put_le16(p, a->port);
	return put_mem(p, a->addr, 16);
}

static void get_addr(struct fr_cur *c, struct fr_addr *a)
{
	const uint8_t *b;
	a->family = cur_u8(c);
	a->proto = cur_u8(c);
	a->port = cur_le16(c);
	if (cur_bytes(c, &b, 16) == 0)
		memcpy(a->addr, b, 16);
}

const char *fr_addr_str(const struct fr_addr *a, char *buf, size_t len)
{
	if (a->family == 4)
		snprintf(buf, len, "%u.%u.%u.%u:%u", a->addr[0], a->addr[1], a->addr[2],
			 a->addr[3], a->port);
	else if (a->family == 6) {
		char tmp[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, a->addr, tmp, sizeof(tmp));
		snprintf(buf, len, "[%s]:%u", tmp, a->port);
	} else
		snprintf(buf, len, "-");
	return buf;
}

/* The first 16 bytes of DATA, CONN_OPEN, CONN_CLOSE and CONN_STATE: u32
 * pid, fd, gen, tid. */
static uint8_t *put_key(uint8_t *p, const struct fr_connkey *k, uint32_t tid)
{
	p = put_le32(p, k->pid);
	p = put_le32(p, k->fd);
	p = put_le32(p, k->gen);
	return put_le32(p, tid);
}

static void get_key(struct fr_cur *c, struct fr_connkey *k, uint32_t *tid)
{
	k->pid = cur_le32(c);
	k->fd = cur_le32(c);
	k->gen = cur_le32(c);
	*tid = cur_le32(c);
}

/* A TLV field: u16 tag, u32 len, len bytes. */
static size_t tlv_size(const struct fr_span *s) { return 6 + s->len; }

static uint8_t *put_tlv(uint8_t *p, uint16_t tag, const void *v, uint32_t len)
{
	p = put_le16(p, tag);
	p = put_le32(p, len);
	return put_mem(p, v, len);
}

/* A string field is written only when non-empty. */
static size_t str_size(const struct fr_span *s) { return s->len ? tlv_size(s) : 0; }
static uint8_t *put_str(uint8_t *p, uint16_t tag, const struct fr_span *s)
{
	return s->len ? put_tlv(p, tag, s->p, s->len) : p;
}

/* A pair value: u16 n1, n1 bytes, rest.  Its first part has a u16 length:
 * a longer one cannot be encoded and makes the record too big (the writer
 * then refuses it). */
static size_t pair_size(const struct fr_span *a, const struct fr_span *b)
{
	return a->len > 0xffff ? (size_t)FR_MAX_RECORD + 1 : 6 + 2 + (size_t)a->len + b->len;
}
static uint8_t *put_pair(uint8_t *p, uint16_t tag, const struct fr_span *a,
			 const struct fr_span *b)
{
	p = put_le16(p, tag);
	p = put_le32(p, 2 + a->len + b->len);
	p = put_le16(p, (uint16_t)a->len);
	p = put_mem(p, a->p, a->len);
	return put_mem(p, b->p, b->len);
}
static int get_pair(const uint8_t *v, uint32_t len, struct fr_span *a, struct fr_span *b)
{
	struct fr_cur c;
	cur_init(&c, v, len);
	uint16_t n1 = cur_le16(&c);
	const uint8_t *p1;
	if (cur_bytes(&c, &p1, n1))
		return -1;
	*a = span(p1, n1);
	*b = span(c.p, cur_left(&c));
	return 0;
}

/* Calls fn on each TLV field up to the end of c; -1 when the TLV framing is
 * broken.  Unknown tags are the callbacks' to ignore. */
typedef void (*tlv_fn)(struct fr_record *r, uint16_t tag, const uint8_t *v, uint32_t len);

static int walk_tlv(struct fr_cur *c, struct fr_record *r, tlv_fn fn)
{
	while (cur_left(c) > 0) {
		uint16_t tag = cur_le16(c);
		uint32_t len = cur_le32(c);
		const uint8_t *v;
		if (cur_bytes(c, &v, len))
			return -1;
		fn(r, tag, v, len);
	}
	return c->bad ? -1 : 0;
}

/* ---- 1 DATA: one socket read or write ------------------------------------------
 *
 *   0 u32 pid     4 u32 fd      8 u32 gen    12 u32 tid
 *  16 u8 dir     17 u8 syscall 18 u16 flags  20 u32 orig_len
 *  24 u64 stream_pos           32 addr peer  52 u32 cap_len
 *  56 cap_len bytes payload    (cap_len <= orig_len, <= FR_MAX_SNAPLEN)
 */

static long data_size(const struct fr_record *r)
{
	const struct fr_data *d = &r->u.data;
	if (d->payload.len > FR_MAX_SNAPLEN || d->payload.len > d->orig_len)
		return -1;
	return DATA_FIXED + (long)d->payload.len;
}

static uint8_t *data_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_data *d = &r->u.data;
	p = put_key(p, &d->conn, d->tid);
	p = put_u8(p, d->dir);
	p = put_u8(p, d->syscall);
	p = put_le16(p, d->flags);
	p = put_le32(p, d->orig_len);
	p = put_le64(p, d->stream_pos);
	p = put_addr(p, &d->peer);
	p = put_le32(p, d->payload.len);
	return put_mem(p, d->payload.p, d->payload.len);
}

static int data_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_data *d = &r->u.data;
	get_key(c, &d->conn, &d->tid);
	d->dir = cur_u8(c);
	d->syscall = cur_u8(c);
	d->flags = cur_le16(c);
	d->orig_len = cur_le32(c);
	d->stream_pos = cur_le64(c);
	get_addr(c, &d->peer);
	uint32_t cap = cur_le32(c);
	const uint8_t *pl;
	if (cap > FR_MAX_SNAPLEN || cap > d->orig_len || d->dir > 1 || cur_bytes(c, &pl, cap))
		return -1;
	d->payload = span(pl, cap);
	return 0;
}

/* ---- 2 CONN_OPEN (64 bytes) ------------------------------------------------------
 *
 *   0 u32 pid, fd, gen, tid   16 u8 role   17 3 bytes pad (0)   20 u32 netns
 *  24 addr local              44 addr remote
 */

static long open_size(const struct fr_record *r)
{
	(void)r;
	return 64;
}

static uint8_t *open_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_conn_open *o = &r->u.open;
	p = put_key(p, &o->conn, o->tid);
	p = put_u8(p, o->role);
	p = put_mem(p, "\0\0\0", 3);
	p = put_le32(p, o->netns);
	p = put_addr(p, &o->local);
	return put_addr(p, &o->remote);
}

static int open_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_conn_open *o = &r->u.open;
	get_key(c, &o->conn, &o->tid);
	o->role = cur_u8(c);
	cur_skip(c, 3);
	o->netns = cur_le32(c);
	get_addr(c, &o->local);
	get_addr(c, &o->remote);
	return c->bad ? -1 : 0;
}

/* ---- 3 CONN_CLOSE (48 bytes) ------------------------------------------------------
 *
 *   0 u32 pid, fd, gen, tid   16 u64 bytes_out, bytes_in, calls_out, calls_in
 */

static long close_size(const struct fr_record *r)
{
	(void)r;
	return 48;
}

static uint8_t *close_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_conn_close *c = &r->u.close;
	p = put_key(p, &c->conn, c->tid);
	p = put_le64(p, c->bytes_out);
	p = put_le64(p, c->bytes_in);
	p = put_le64(p, c->calls_out);
	return put_le64(p, c->calls_in);
}

static int close_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_conn_close *cl = &r->u.close;
	get_key(c, &cl->conn, &cl->tid);
	cl->bytes_out = cur_le64(c);
	cl->bytes_in = cur_le64(c);
	cl->calls_out = cur_le64(c);
	cl->calls_in = cur_le64(c);
	return c->bad ? -1 : 0;
}

/* ---- 4 PROCESS -------------------------------------------------------------------
 *
 *   0 u32 pid   4 u32 ppid   8 u64 cgroup_id   16 u64 start_ns
 *  24 TLV: 1 comm, 2 exe, 3 cmdline (NUL-separated), 4 cgroup path,
 *     5 container id
 */

static long proc_size(const struct fr_record *r)
{
	const struct fr_process *p = &r->u.proc;
	return (long)(24 + str_size(&p->comm) + str_size(&p->exe) + str_size(&p->cmdline) +
		      str_size(&p->cgroup_path) + str_size(&p->container_id));
}

static uint8_t *proc_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_process *pr = &r->u.proc;
	p = put_le32(p, pr->pid);
	p = put_le32(p, pr->ppid);
	p = put_le64(p, pr->cgroup_id);
	p = put_le64(p, pr->start_ns);
	p = put_str(p, 1, &pr->comm);
	p = put_str(p, 2, &pr->exe);
	p = put_str(p, 3, &pr->cmdline);
	p = put_str(p, 4, &pr->cgroup_path);
	return put_str(p, 5, &pr->container_id);
}

static void proc_tlv(struct fr_record *r, uint16_t tag, const uint8_t *v, uint32_t len)
{
	struct fr_process *p = &r->u.proc;
	struct fr_span s = span(v, len);
	switch (tag) {
	case 1: p->comm = s; break;
	case 2: p->exe = s; break;
	case 3: p->cmdline = s; break;
	case 4: p->cgroup_path = s; break;
	case 5: p->container_id = s; break;
	}
}

static int proc_get(struct fr_cur *c, struct fr_record *r)
{
	r->u.proc.pid = cur_le32(c);
	r->u.proc.ppid = cur_le32(c);
	r->u.proc.cgroup_id = cur_le64(c);
	r->u.proc.start_ns = cur_le64(c);
	if (c->bad)
		return -1;
	return walk_tlv(c, r, proc_tlv);
}

/* ---- 5 POD -------------------------------------------------------------------------
 *
 * TLV only: 1 uid, 2 namespace, 3 name, 4 node, 5 owner kind, 6 owner name,
 * 7 pod IP (repeated), 8 label (pair key, value; repeated), 9 container
 * (triple id, name, image: u16 n1, id, u16 n2, name, image; repeated).
 * Lists are written up to their FR_POD_MAX_* bounds.
 */

static size_t container_size(const struct fr_container *c)
{
	if (c->id.len > 0xffff || c->name.len > 0xffff)
		return (size_t)FR_MAX_RECORD + 1;
	return 6 + 4 + (size_t)c->id.len + c->name.len + c->image.len;
}

static uint8_t *put_container(uint8_t *p, const struct fr_container *c)
{
	p = put_le16(p, 9);
	p = put_le32(p, 4 + c->id.len + c->name.len + c->image.len);
	p = put_le16(p, (uint16_t)c->id.len);
	p = put_mem(p, c->id.p, c->id.len);
	p = put_le16(p, (uint16_t)c->name.len);
	p = put_mem(p, c->name.p, c->name.len);
	return put_mem(p, c->image.p, c->image.len);
}

static long pod_size(const struct fr_record *r)
{
	const struct fr_pod *p = &r->u.pod;
	size_t n = str_size(&p->uid) + str_size(&p->namespace_) + str_size(&p->name) +
		   str_size(&p->node) + str_size(&p->owner_kind) + str_size(&p->owner_name);
	for (uint32_t i = 0; i < p->n_ips && i < FR_POD_MAX_IPS; i++)
		n += tlv_size(&p->ips[i]);
	for (uint32_t i = 0; i < p->n_labels && i < FR_POD_MAX_LABELS; i++)
		n += pair_size(&p->labels[i].key, &p->labels[i].value);
	for (uint32_t i = 0; i < p->n_containers && i < FR_POD_MAX_CONTAINERS; i++)
		n += container_size(&p->containers[i]);
	return (long)n;
}

static uint8_t *pod_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_pod *pd = &r->u.pod;
	p = put_str(p, 1, &pd->uid);
	p = put_str(p, 2, &pd->namespace_);
	p = put_str(p, 3, &pd->name);
	p = put_str(p, 4, &pd->node);
	p = put_str(p, 5, &pd->owner_kind);
	p = put_str(p, 6, &pd->owner_name);
	for (uint32_t i = 0; i < pd->n_ips && i < FR_POD_MAX_IPS; i++)
		p = put_tlv(p, 7, pd->ips[i].p, pd->ips[i].len);
	for (uint32_t i = 0; i < pd->n_labels && i < FR_POD_MAX_LABELS; i++)
		p = put_pair(p, 8, &pd->labels[i].key, &pd->labels[i].value);
	for (uint32_t i = 0; i < pd->n_containers && i < FR_POD_MAX_CONTAINERS; i++)
		p = put_container(p, &pd->containers[i]);
	return p;
}

/* List items beyond the bounds, or malformed, are counted in n_dropped. */
static void pod_tlv(struct fr_record *r, uint16_t tag, const uint8_t *v, uint32_t len)
{
	struct fr_pod *p = &r->u.pod;
	struct fr_span s = span(v, len);
	switch (tag) {
	case 1: p->uid = s; break;
	case 2: p->namespace_ = s; break;
	case 3: p->name = s; break;
	case 4: p->node = s; break;
	case 5: p->owner_kind = s; break;
	case 6: p->owner_name = s; break;
	case 7:
		if (p->n_ips < FR_POD_MAX_IPS)
			p->ips[p->n_ips++] = s;
		else
			p->n_dropped++;
		break;
	case 8:
		if (p->n_labels < FR_POD_MAX_LABELS &&
		    get_pair(v, len, &p->labels[p->n_labels].key, &p->labels[p->n_labels].value) == 0)
			p->n_labels++;
		else
			p->n_dropped++;
		break;
	case 9: {
		struct fr_container *c = &p->containers[p->n_containers];
		struct fr_span rest;
		if (p->n_containers < FR_POD_MAX_CONTAINERS &&
		    get_pair(v, len, &c->id, &rest) == 0 &&
		    get_pair(rest.p, rest.len, &c->name, &c->image) == 0)
			p->n_containers++;
		else
			p->n_dropped++;
		break;
	}
	}
}

static int pod_get(struct fr_cur *c, struct fr_record *r)
{
	return walk_tlv(c, r, pod_tlv);
}

/* ---- 6 SERVICE ---------------------------------------------------------------------
 *
 * TLV only: 1 namespace, 2 name, 3 cluster IP (repeated), 4 port (u16 port,
 * u16 target_port, u8 proto, rest name; repeated), 5 selector (pair;
 * repeated).  Lists are written up to their FR_SVC_MAX_* bounds.
 */

static long svc_size(const struct fr_record *r)
{
	const struct fr_service *s = &r->u.svc;
	size_t n = str_size(&s->namespace_) + str_size(&s->name);
	for (uint32_t i = 0; i < s->n_ips && i < FR_SVC_MAX_IPS; i++)
		n += tlv_size(&s->ips[i]);
	for (uint32_t i = 0; i < s->n_ports && i < FR_SVC_MAX_PORTS; i++)
		n += 6 + 5 + s->ports[i].name.len;
	for (uint32_t i = 0; i < s->n_selector && i < FR_POD_MAX_LABELS; i++)
		n += pair_size(&s->selector[i].key, &s->selector[i].value);
	return (long)n;
}

static uint8_t *put_svc_port(uint8_t *p, const struct fr_svc_port *sp)
{
	p = put_le16(p, 4);
	p = put_le32(p, 5 + sp->name.len);
	p = put_le16(p, sp->port);
	p = put_le16(p, sp->target_port);
	p = put_u8(p, sp->proto);
	return put_mem(p, sp->name.p, sp->name.len);
}

static uint8_t *svc_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_service *s = &r->u.svc;
	p = put_str(p, 1, &s->namespace_);
	p = put_str(p, 2, &s->name);
	for (uint32_t i = 0; i < s->n_ips && i < FR_SVC_MAX_IPS; i++)
		p = put_tlv(p, 3, s->ips[i].p, s->ips[i].len);
	for (uint32_t i = 0; i < s->n_ports && i < FR_SVC_MAX_PORTS; i++)
		p = put_svc_port(p, &s->ports[i]);
	for (uint32_t i = 0; i < s->n_selector && i < FR_POD_MAX_LABELS; i++)
		p = put_pair(p, 5, &s->selector[i].key, &s->selector[i].value);
	return p;
}

static void svc_tlv(struct fr_record *r, uint16_t tag, const uint8_t *v, uint32_t len)
{
	struct fr_service *s = &r->u.svc;
	switch (tag) {
	case 1: s->namespace_ = span(v, len); break;
	case 2: s->name = span(v, len); break;
	case 3:
		if (s->n_ips < FR_SVC_MAX_IPS)
			s->ips[s->n_ips++] = span(v, len);
		else
			s->n_dropped++;
		break;
	case 4: {
		struct fr_cur c;
		cur_init(&c, v, len);
		struct fr_svc_port sp;
		sp.port = cur_le16(&c);
		sp.target_port = cur_le16(&c);
		sp.proto = cur_u8(&c);
		sp.name = span(c.p, cur_left(&c));
		if (!c.bad && s->n_ports < FR_SVC_MAX_PORTS)
			s->ports[s->n_ports++] = sp;
		else
			s->n_dropped++;
		break;
	}
	case 5:
		if (s->n_selector < FR_POD_MAX_LABELS &&
		    get_pair(v, len, &s->selector[s->n_selector].key,
			     &s->selector[s->n_selector].value) == 0)
			s->n_selector++;
		else
			s->n_dropped++;
		break;
	}
}

static int svc_get(struct fr_cur *c, struct fr_record *r)
{
	return walk_tlv(c, r, svc_tlv);
}

/* ---- 7 LOSS (40 bytes) ---------------------------------------------------------------
 *
 *   0 u32 cpu   4 u32 reason   8 u64 count, bytes, first_ns, last_ns
 */

static long loss_size(const struct fr_record *r)
{
	(void)r;
	return 40;
}

static uint8_t *loss_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_loss *l = &r->u.loss;
	p = put_le32(p, l->cpu);
	p = put_le32(p, l->reason);
	p = put_le64(p, l->count);
	p = put_le64(p, l->bytes);
	p = put_le64(p, l->first_ns);
	return put_le64(p, l->last_ns);
}

static int loss_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_loss *l = &r->u.loss;
	l->cpu = cur_le32(c);
	l->reason = cur_le32(c);
	l->count = cur_le64(c);
	l->bytes = cur_le64(c);
	l->first_ns = cur_le64(c);
	l->last_ns = cur_le64(c);
	return c->bad ? -1 : 0;
}

/* ---- 11 ARRIVAL (32 bytes; 2.2) ---------------------------------------------------------
 *
 *   0 u32 pid, fd, gen   12 u32 pad (0)   16 u64 stream_pos   24 u64 arrival_ns
 */

static long arrival_size(const struct fr_record *r)
{
	(void)r;
	return 32;
}

static uint8_t *arrival_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_arrival *a = &r->u.arrival;
	p = put_le32(p, a->conn.pid);
	p = put_le32(p, a->conn.fd);
	p = put_le32(p, a->conn.gen);
	p = put_le32(p, 0);
	p = put_le64(p, a->stream_pos);
	return put_le64(p, a->arrival_ns);
}

static int arrival_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_arrival *a = &r->u.arrival;
	a->conn.pid = cur_le32(c);
	a->conn.fd = cur_le32(c);
	a->conn.gen = cur_le32(c);
	cur_le32(c);
	a->stream_pos = cur_le64(c);
	a->arrival_ns = cur_le64(c);
	return c->bad ? -1 : 0;
}

/* ---- 12 CONN_TLS (2.3) ---------------------------------------------------------------
 *
 *   0 u32 pid, fd, gen   12 library: text, to the end of the body
 */

static long conn_tls_size(const struct fr_record *r)
{
	return 12 + (long)r->u.tls.library.len;
}

static uint8_t *conn_tls_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_conn_tls *t = &r->u.tls;
	p = put_le32(p, t->conn.pid);
	p = put_le32(p, t->conn.fd);
	p = put_le32(p, t->conn.gen);
	if (t->library.len)
		memcpy(p, t->library.p, t->library.len);
	return p + t->library.len;
}

static int conn_tls_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_conn_tls *t = &r->u.tls;
	t->conn.pid = cur_le32(c);
	t->conn.fd = cur_le32(c);
	t->conn.gen = cur_le32(c);
	if (c->bad)
		return -1;
	t->library = span(c->p, cur_left(c));
	c->p += cur_left(c);
	return 0;
}

/* ---- 13 CONN_TCP (24 bytes; 2.4) -----------------------------------------------------------
 *
 *   0 u32 pid, fd, gen   12 u8 event   13 u8 state   14 u16 segs
 *   16 u32 srtt_us   20 u32 total_retrans          (24 bytes)
 */

static long tcp_size(const struct fr_record *r)
{
	(void)r;
	return 24;
}

static uint8_t *tcp_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_conn_tcp *t = &r->u.tcp;
	p = put_le32(p, t->conn.pid);
	p = put_le32(p, t->conn.fd);
	p = put_le32(p, t->conn.gen);
	*p++ = t->event;
	*p++ = t->state;
	p = put_le16(p, t->segs);
	p = put_le32(p, t->srtt_us);
	return put_le32(p, t->total_retrans);
}

static int tcp_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_conn_tcp *t = &r->u.tcp;
	t->conn.pid = cur_le32(c);
	t->conn.fd = cur_le32(c);
	t->conn.gen = cur_le32(c);
	t->event = cur_u8(c);
	t->state = cur_u8(c);
	t->segs = cur_le16(c);
	t->srtt_us = cur_le32(c);
	t->total_retrans = cur_le32(c);
	return c->bad ? -1 : 0;
}

const char *fr_tcp_event_name(unsigned ev)
{
	static const char *const names[] = {
		[FR_TCP_RETRANSMIT] = "retransmit", [FR_TCP_RESET_SENT] = "reset_sent",
		[FR_TCP_RESET_RECEIVED] = "reset_received", [FR_TCP_RTT] = "rtt",
	};
	return ev > 0 && ev <= FR_TCP_EVENT_MAX ? names[ev] : "unknown";
}

const char *fr_tcp_state_name(unsigned state)
{
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT",  [3] = "SYN_RECV",   [4] = "FIN_WAIT1",
		[5] = "FIN_WAIT2",   [6] = "TIME_WAIT", [7] = "CLOSE",      [8] = "CLOSE_WAIT",
		[9] = "LAST_ACK",    [10] = "LISTEN",   [11] = "CLOSING",   [12] = "NEW_SYN_RECV",
	};
	return state > 0 && state <= 12 ? names[state] : "unknown";
}

/* ---- 8 MARK --------------------------------------------------------------------------
 *
 * TLV: 1 kind (start, stop, trigger, snapshot-end, disk-full, note), 2 text,
 * 3 snapshot (2.1: the name of the snapshot a trigger or snapshot-end is
 * about).
 */

static long mark_size(const struct fr_record *r)
{
	return (long)(str_size(&r->u.mark.kind) + str_size(&r->u.mark.text) +
		      str_size(&r->u.mark.snapshot));
}

static uint8_t *mark_put(uint8_t *p, const struct fr_record *r)
{
	p = put_str(p, 1, &r->u.mark.kind);
	p = put_str(p, 2, &r->u.mark.text);
	return put_str(p, 3, &r->u.mark.snapshot);
}

static void mark_tlv(struct fr_record *r, uint16_t tag, const uint8_t *v, uint32_t len)
{
	if (tag == 1)
		r->u.mark.kind = span(v, len);
	else if (tag == 2)
		r->u.mark.text = span(v, len);
	else if (tag == 3)
		r->u.mark.snapshot = span(v, len);
}

static int mark_get(struct fr_cur *c, struct fr_record *r)
{
	return walk_tlv(c, r, mark_tlv);
}

/* ---- 9 CONN_STATE (128 bytes; 2.1) ---------------------------------------------------
 *
 *   0 u32 pid, fd, gen, tid   16 u8 role   17 u8 flags   18 u16 pad (0)   20 u32 netns
 *  24 addr local              44 addr remote
 *  64 u64 pos_out, pos_in     80 u64 bytes_out, bytes_in   96 u64 calls_out, calls_in
 * 112 u64 first_ns           120 u64 last_ns
 */

#define STATE_FIXED 128

static long state_size(const struct fr_record *r)
{
	(void)r;
	return STATE_FIXED;
}

static uint8_t *state_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_conn_state *s = &r->u.state;
	p = put_key(p, &s->conn, s->tid);
	p = put_u8(p, s->role);
	p = put_u8(p, s->flags);
	p = put_le16(p, 0);
	p = put_le32(p, s->netns);
	p = put_addr(p, &s->local);
	p = put_addr(p, &s->remote);
	for (int d = 0; d < 2; d++)
		p = put_le64(p, s->pos[d]);
	for (int d = 0; d < 2; d++)
		p = put_le64(p, s->bytes[d]);
	for (int d = 0; d < 2; d++)
		p = put_le64(p, s->calls[d]);
	p = put_le64(p, s->first_ns);
	return put_le64(p, s->last_ns);
}

static int state_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_conn_state *s = &r->u.state;
	get_key(c, &s->conn, &s->tid);
	s->role = cur_u8(c);
	s->flags = cur_u8(c);
	cur_skip(c, 2);
	s->netns = cur_le32(c);
	get_addr(c, &s->local);
	get_addr(c, &s->remote);
	for (int d = 0; d < 2; d++)
		s->pos[d] = cur_le64(c);
	for (int d = 0; d < 2; d++)
		s->bytes[d] = cur_le64(c);
	for (int d = 0; d < 2; d++)
		s->calls[d] = cur_le64(c);
	s->first_ns = cur_le64(c);
	s->last_ns = cur_le64(c);
	return c->bad ? -1 : 0;
}

/* ---- 10 CONN_HEAD (2.1) -------------------------------------------------------------------
 *
 *   0 u32 pid, fd, gen, n_chunks   16 u8 end_out   17 u8 end_in
 *  18 u16 chunks_at: offset of the first chunk (28; a reader skips what lies
 *     between byte 28 and it)      20 u32 len_out  24 u32 len_in
 *  chunks_at: n_chunks chunks, filling the rest of the body, each
 *     0 u64 ts   8 u8 dir   9 u8 flags (0)   10 u16 pad (0)   12 u32 len
 *    16 len bytes
 *  The chunks of one direction add up to its len: its stream from position 0.
 */

#define HEAD_FIXED 28

uint8_t *fr_head_chunk_put(uint8_t *p, uint64_t ts, uint8_t dir, const uint8_t *b, uint32_t len)
{
	p = put_le64(p, ts);
	p = put_u8(p, dir);
	p = put_u8(p, 0);
	p = put_le16(p, 0);
	p = put_le32(p, len);
	return put_mem(p, b, len);
}

int fr_head_chunk_next(const struct fr_conn_head *h, size_t *off, struct fr_head_chunk *c)
{
	struct fr_cur cur;
	if (*off >= h->chunks.len)
		return 0;
	cur_init(&cur, h->chunks.p + *off, h->chunks.len - *off);
	c->ts = cur_le64(&cur);
	c->dir = cur_u8(&cur);
	cur_skip(&cur, 3);
	uint32_t len = cur_le32(&cur);
	const uint8_t *b;
	if (cur_bytes(&cur, &b, len) || c->dir > 1)
		return 0;
	c->bytes = span(b, len);
	*off = (size_t)(cur.p - h->chunks.p);
	return 1;
}

/* 0 when h->chunks holds exactly n_chunks chunks whose directions add up to
 * len[], else -1. */
static int head_check(const struct fr_conn_head *h)
{
	uint64_t len[2] = {0, 0};
	size_t off = 0;
	struct fr_head_chunk c;
	uint32_t n = 0;
	while (n < h->n_chunks && fr_head_chunk_next(h, &off, &c)) {
		len[c.dir] += c.bytes.len;
		n++;
	}
	if (n != h->n_chunks || off != h->chunks.len || len[0] != h->len[0] || len[1] != h->len[1])
		return -1;
	return 0;
}

static long head_size(const struct fr_record *r)
{
	const struct fr_conn_head *h = &r->u.head;
	if (h->chunks.len > FR_MAX_RECORD)
		return (long)FR_MAX_RECORD + 1;
	if (head_check(h) || h->end[0] > FR_HEAD_DROPPED || h->end[1] > FR_HEAD_DROPPED)
		return -1;
	return HEAD_FIXED + (long)h->chunks.len;
}

static uint8_t *head_put(uint8_t *p, const struct fr_record *r)
{
	const struct fr_conn_head *h = &r->u.head;
	p = put_le32(p, h->conn.pid);
	p = put_le32(p, h->conn.fd);
	p = put_le32(p, h->conn.gen);
	p = put_le32(p, h->n_chunks);
	p = put_u8(p, h->end[0]);
	p = put_u8(p, h->end[1]);
	p = put_le16(p, HEAD_FIXED);
	p = put_le32(p, h->len[0]);
	p = put_le32(p, h->len[1]);
	return put_mem(p, h->chunks.p, h->chunks.len);
}

static int head_get(struct fr_cur *c, struct fr_record *r)
{
	struct fr_conn_head *h = &r->u.head;
	h->conn.pid = cur_le32(c);
	h->conn.fd = cur_le32(c);
	h->conn.gen = cur_le32(c);
	h->n_chunks = cur_le32(c);
	h->end[0] = cur_u8(c);
	h->end[1] = cur_u8(c);
	uint16_t at = cur_le16(c);
	h->len[0] = cur_le32(c);
	h->len[1] = cur_le32(c);
	if (c->bad || at < HEAD_FIXED || cur_skip(c, at - HEAD_FIXED))
		return -1;
	h->chunks = span(c->p, cur_left(c));
	return head_check(h);
}

/* ---- the kinds --------------------------------------------------------------------- */

static const struct kind_codec {
	const char *name;
	long (*size)(const struct fr_record *r);
	uint8_t *(*put)(uint8_t *p, const struct fr_record *r);
	int (*get)(struct fr_cur *c, struct fr_record *r);
} kinds[] = {
	[0] = {"UNKNOWN", NULL, NULL, NULL},
	[FR_DATA] = {"DATA", data_size, data_put, data_get},
	[FR_CONN_OPEN] = {"CONN_OPEN", open_size, open_put, open_get},
	[FR_CONN_CLOSE] = {"CONN_CLOSE", close_size, close_put, close_get},
	[FR_PROCESS] = {"PROCESS", proc_size, proc_put, proc_get},
	[FR_POD] = {"POD", pod_size, pod_put, pod_get},
	[FR_SERVICE] = {"SERVICE", svc_size, svc_put, svc_get},
	[FR_LOSS] = {"LOSS", loss_size, loss_put, loss_get},
	[FR_MARK] = {"MARK", mark_size, mark_put, mark_get},
	[FR_CONN_STATE] = {"CONN_STATE", state_size, state_put, state_get},
	[FR_CONN_HEAD] = {"CONN_HEAD", head_size, head_put, head_get},
	[FR_ARRIVAL] = {"ARRIVAL", arrival_size, arrival_put, arrival_get},
	[FR_CONN_TLS] = {"CONN_TLS", conn_tls_size, conn_tls_put, conn_tls_get},
	[FR_CONN_TCP] = {"CONN_TCP", tcp_size, tcp_put, tcp_get},
};
_Static_assert(sizeof(kinds) / sizeof(kinds[0]) == FR_KIND_MAX + 1,
	       "every kind up to FR_KIND_MAX has a row in kinds[]");

static int known(unsigned kind) { return kind > 0 && kind <= FR_KIND_MAX; }

const char *fr_kind_name(unsigned kind)
{
	return kind <= FR_KIND_MAX ? kinds[kind].name : "UNKNOWN";
}

long seg_record_size(const struct fr_record *r)
{
	return known(r->kind) ? kinds[r->kind].size(r) : -1;
}

uint8_t *seg_record_put(uint8_t *p, const struct fr_record *r)
{
	return known(r->kind) ? kinds[r->kind].put(p, r) : p;
}

long fr_record_encode(const struct fr_record *r, uint8_t *buf, size_t cap)
{
	long n = seg_record_size(r);
	if (n < 0 || n > (long)FR_MAX_RECORD || (size_t)n > cap)
		return -1;
	seg_record_put(buf, r);
	return n;
}

int fr_record_decode(uint16_t kind, const uint8_t *body, size_t len, struct fr_record *r)
{
	struct fr_cur c;
	cur_init(&c, body, len);
	memset(&r->u, 0, sizeof(r->u));
	r->kind = kind;
	return known(kind) ? kinds[kind].get(&c, r) : -1;
}
