/* segment.c - writer and reader of flightrec segment files.
 *
 * Reference: formats/SEGMENT.md (the byte layout, version 2.0; 1.0 is still
 * read, and written on request).  This file
 * and that document change together.
 */
#define _GNU_SOURCE
#include "segment.h"
#include "bytes.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static const uint8_t file_magic[8] = {'F', 'R', 'S', 'E', 'G', '\r', '\n', 0x1a};
#define BLOCK_MAGIC 0x31425246u /* "FRB1": records as they are */
#define COL_MAGIC 0x32425246u /* "FRB2": records split into streams (v2) */
#define INDEX_MAGIC 0x58495246u /* "FRIX" */
#define TRAILER_MAGIC 0x4e455246u /* "FREN" */
#define BLOCK_HDR 40
#define REC_HDR 24
#define TRAILER 16
#define INDEX_ENTRY 32
#define MAX_HEADER 65536
#define ADDR_LEN 20

enum { H_NODE = 1, H_BOOT_ID, H_KERNEL, H_RECORDER, H_WALL_OFFSET, H_CREATED,
       H_SEG_INDEX, H_SNAPLEN, H_LEVEL, H_FILTERS, H_REDACTION, H_SOURCE };

static const char *const kind_names[] = {
	"UNKNOWN", "DATA", "CONN_OPEN", "CONN_CLOSE", "PROCESS",
	"POD", "SERVICE", "LOSS", "MARK",
};

const char *fr_kind_name(unsigned kind)
{
	return kind <= FR_KIND_MAX ? kind_names[kind] : "UNKNOWN";
}

static const char *const syscall_names[] = {
	"?", "read", "write", "readv", "writev", "sendto", "recvfrom",
	"sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "sendfile",
	"SSL_write", "SSL_read", "pcap",
};

const char *fr_syscall_name(unsigned sys)
{
	return sys < FR_SYS_MAX ? syscall_names[sys] : "?";
}

static uint32_t crc(const void *p, size_t n)
{
	return (uint32_t)crc32(0, p, (uInt)n);
}

/* ---- record encoding ----------------------------------------------------- */

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

static size_t tlv_size(const struct fr_span *s) { return 6 + s->len; }

static uint8_t *put_tlv(uint8_t *p, uint16_t tag, const void *v, uint32_t len)
{
	p = put_le16(p, tag);
	p = put_le32(p, len);
	return put_mem(p, v, len);
}

/* A string field is written only when non-empty. */
static uint8_t *put_str(uint8_t *p, uint16_t tag, const struct fr_span *s)
{
	return s->len ? put_tlv(p, tag, s->p, s->len) : p;
}
static size_t str_size(const struct fr_span *s) { return s->len ? tlv_size(s) : 0; }

/* A pair's first part has a u16 length: a longer one cannot be encoded and
 * makes the record too big (the writer then refuses it). */
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

/* Upper bound of the encoded body of r; 0 if r cannot be encoded. */
static size_t body_size(const struct fr_record *r)
{
	size_t n = 0;
	switch (r->kind) {
	case FR_DATA:
		if (r->u.data.payload.len > FR_MAX_SNAPLEN ||
		    r->u.data.payload.len > r->u.data.orig_len)
			return 0;
		return 56 + r->u.data.payload.len;
	case FR_CONN_OPEN: return 64;
	case FR_CONN_CLOSE: return 48;
	case FR_LOSS: return 40;
	case FR_PROCESS: {
		const struct fr_process *p = &r->u.proc;
		return 24 + str_size(&p->comm) + str_size(&p->exe) + str_size(&p->cmdline) +
		       str_size(&p->cgroup_path) + str_size(&p->container_id);
	}
	case FR_POD: {
		const struct fr_pod *p = &r->u.pod;
		n = str_size(&p->uid) + str_size(&p->namespace_) + str_size(&p->name) +
		    str_size(&p->node) + str_size(&p->owner_kind) + str_size(&p->owner_name);
		for (uint32_t i = 0; i < p->n_ips && i < FR_POD_MAX_IPS; i++)
			n += tlv_size(&p->ips[i]);
		for (uint32_t i = 0; i < p->n_labels && i < FR_POD_MAX_LABELS; i++)
			n += pair_size(&p->labels[i].key, &p->labels[i].value);
		for (uint32_t i = 0; i < p->n_containers && i < FR_POD_MAX_CONTAINERS; i++) {
			const struct fr_container *c = &p->containers[i];
			n += c->id.len > 0xffff || c->name.len > 0xffff
				     ? (size_t)FR_MAX_RECORD + 1
				     : 6 + 4 + (size_t)c->id.len + c->name.len + c->image.len;
		}
		return n;
	}
	case FR_SERVICE: {
		const struct fr_service *s = &r->u.svc;
		n = str_size(&s->namespace_) + str_size(&s->name);
		for (uint32_t i = 0; i < s->n_ips && i < FR_SVC_MAX_IPS; i++)
			n += tlv_size(&s->ips[i]);
		for (uint32_t i = 0; i < s->n_ports && i < FR_SVC_MAX_PORTS; i++)
			n += 6 + 5 + s->ports[i].name.len;
		for (uint32_t i = 0; i < s->n_selector && i < FR_POD_MAX_LABELS; i++)
			n += pair_size(&s->selector[i].key, &s->selector[i].value);
		return n;
	}
	case FR_MARK:
		return str_size(&r->u.mark.kind) + str_size(&r->u.mark.text);
	default:
		return 0;
	}
}

static uint8_t *put_key(uint8_t *p, const struct fr_connkey *k, uint32_t tid)
{
	p = put_le32(p, k->pid);
	p = put_le32(p, k->fd);
	p = put_le32(p, k->gen);
	return put_le32(p, tid);
}

/* Encodes r's body at p (body_size(r) bytes available); returns the end. */
static uint8_t *encode_body(uint8_t *p, const struct fr_record *r)
{
	switch (r->kind) {
	case FR_DATA: {
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
	case FR_CONN_OPEN: {
		const struct fr_conn_open *o = &r->u.open;
		p = put_key(p, &o->conn, o->tid);
		p = put_u8(p, o->role);
		p = put_mem(p, "\0\0\0", 3);
		p = put_le32(p, o->netns);
		p = put_addr(p, &o->local);
		return put_addr(p, &o->remote);
	}
	case FR_CONN_CLOSE: {
		const struct fr_conn_close *c = &r->u.close;
		p = put_key(p, &c->conn, c->tid);
		p = put_le64(p, c->bytes_out);
		p = put_le64(p, c->bytes_in);
		p = put_le64(p, c->calls_out);
		return put_le64(p, c->calls_in);
	}
	case FR_LOSS: {
		const struct fr_loss *l = &r->u.loss;
		p = put_le32(p, l->cpu);
		p = put_le32(p, l->reason);
		p = put_le64(p, l->count);
		p = put_le64(p, l->bytes);
		p = put_le64(p, l->first_ns);
		return put_le64(p, l->last_ns);
	}
	case FR_PROCESS: {
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
	case FR_POD: {
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
		for (uint32_t i = 0; i < pd->n_containers && i < FR_POD_MAX_CONTAINERS; i++) {
			const struct fr_container *c = &pd->containers[i];
			p = put_le16(p, 9);
			p = put_le32(p, 4 + c->id.len + c->name.len + c->image.len);
			p = put_le16(p, (uint16_t)c->id.len);
			p = put_mem(p, c->id.p, c->id.len);
			p = put_le16(p, (uint16_t)c->name.len);
			p = put_mem(p, c->name.p, c->name.len);
			p = put_mem(p, c->image.p, c->image.len);
		}
		return p;
	}
	case FR_SERVICE: {
		const struct fr_service *s = &r->u.svc;
		p = put_str(p, 1, &s->namespace_);
		p = put_str(p, 2, &s->name);
		for (uint32_t i = 0; i < s->n_ips && i < FR_SVC_MAX_IPS; i++)
			p = put_tlv(p, 3, s->ips[i].p, s->ips[i].len);
		for (uint32_t i = 0; i < s->n_ports && i < FR_SVC_MAX_PORTS; i++) {
			const struct fr_svc_port *sp = &s->ports[i];
			p = put_le16(p, 4);
			p = put_le32(p, 5 + sp->name.len);
			p = put_le16(p, sp->port);
			p = put_le16(p, sp->target_port);
			p = put_u8(p, sp->proto);
			p = put_mem(p, sp->name.p, sp->name.len);
		}
		for (uint32_t i = 0; i < s->n_selector && i < FR_POD_MAX_LABELS; i++)
			p = put_pair(p, 5, &s->selector[i].key, &s->selector[i].value);
		return p;
	}
	case FR_MARK:
		p = put_str(p, 1, &r->u.mark.kind);
		return put_str(p, 2, &r->u.mark.text);
	}
	return p;
}

long fr_record_encode(const struct fr_record *r, uint8_t *buf, size_t cap)
{
	size_t n = body_size(r);
	if ((n == 0 && !(r->kind == FR_MARK || r->kind == FR_POD || r->kind == FR_SERVICE)) ||
	    n > FR_MAX_RECORD || n > cap)
		return -1;
	encode_body(buf, r);
	return (long)n;
}

/* ---- record decoding ----------------------------------------------------- */

static void get_key(struct fr_cur *c, struct fr_connkey *k, uint32_t *tid)
{
	k->pid = cur_le32(c);
	k->fd = cur_le32(c);
	k->gen = cur_le32(c);
	*tid = cur_le32(c);
}

static struct fr_span span(const uint8_t *p, size_t n)
{
	struct fr_span s = {p, (uint32_t)n};
	return s;
}

/* Splits a pair value "u16 n1, n1 bytes, rest". */
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

/* Iterates TLV fields in [p, end): calls back on each; returns -1 when the
 * TLV framing is broken. */
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

static void mark_tlv(struct fr_record *r, uint16_t tag, const uint8_t *v, uint32_t len)
{
	if (tag == 1)
		r->u.mark.kind = span(v, len);
	else if (tag == 2)
		r->u.mark.text = span(v, len);
}

int fr_record_decode(uint16_t kind, const uint8_t *body, size_t len, struct fr_record *r)
{
	struct fr_cur c;
	cur_init(&c, body, len);
	memset(&r->u, 0, sizeof(r->u));
	r->kind = kind;
	switch (kind) {
	case FR_DATA: {
		struct fr_data *d = &r->u.data;
		get_key(&c, &d->conn, &d->tid);
		d->dir = cur_u8(&c);
		d->syscall = cur_u8(&c);
		d->flags = cur_le16(&c);
		d->orig_len = cur_le32(&c);
		d->stream_pos = cur_le64(&c);
		get_addr(&c, &d->peer);
		uint32_t cap = cur_le32(&c);
		const uint8_t *pl;
		if (cap > FR_MAX_SNAPLEN || cap > d->orig_len || d->dir > 1 ||
		    cur_bytes(&c, &pl, cap))
			return -1;
		d->payload = span(pl, cap);
		return 0;
	}
	case FR_CONN_OPEN: {
		struct fr_conn_open *o = &r->u.open;
		get_key(&c, &o->conn, &o->tid);
		o->role = cur_u8(&c);
		cur_skip(&c, 3);
		o->netns = cur_le32(&c);
		get_addr(&c, &o->local);
		get_addr(&c, &o->remote);
		return c.bad ? -1 : 0;
	}
	case FR_CONN_CLOSE: {
		struct fr_conn_close *cl = &r->u.close;
		get_key(&c, &cl->conn, &cl->tid);
		cl->bytes_out = cur_le64(&c);
		cl->bytes_in = cur_le64(&c);
		cl->calls_out = cur_le64(&c);
		cl->calls_in = cur_le64(&c);
		return c.bad ? -1 : 0;
	}
	case FR_LOSS: {
		struct fr_loss *l = &r->u.loss;
		l->cpu = cur_le32(&c);
		l->reason = cur_le32(&c);
		l->count = cur_le64(&c);
		l->bytes = cur_le64(&c);
		l->first_ns = cur_le64(&c);
		l->last_ns = cur_le64(&c);
		return c.bad ? -1 : 0;
	}
	case FR_PROCESS:
		r->u.proc.pid = cur_le32(&c);
		r->u.proc.ppid = cur_le32(&c);
		r->u.proc.cgroup_id = cur_le64(&c);
		r->u.proc.start_ns = cur_le64(&c);
		if (c.bad)
			return -1;
		return walk_tlv(&c, r, proc_tlv);
	case FR_POD:
		return walk_tlv(&c, r, pod_tlv);
	case FR_SERVICE:
		return walk_tlv(&c, r, svc_tlv);
	case FR_MARK:
		return walk_tlv(&c, r, mark_tlv);
	}
	return -1;
}

/* ---- header -------------------------------------------------------------- */

static uint8_t *put_hstr(uint8_t *p, uint16_t tag, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	p = put_le16(p, tag);
	p = put_le16(p, (uint16_t)n);
	return put_mem(p, s, n);
}
static uint8_t *put_hu64(uint8_t *p, uint16_t tag, uint64_t v)
{
	p = put_le16(p, tag);
	p = put_le16(p, 8);
	return put_le64(p, v);
}
static uint8_t *put_hu32(uint8_t *p, uint16_t tag, uint32_t v)
{
	p = put_le16(p, tag);
	p = put_le16(p, 4);
	return put_le32(p, v);
}

#define HSTR(p, tag, field) put_hstr(p, tag, field, sizeof(field))

/* Encodes h into buf (at least MAX_HEADER bytes); returns its length. */
static size_t encode_header(uint8_t *buf, const struct fr_header *h)
{
	uint8_t *p = put_mem(buf, file_magic, 8);
	p = put_le16(p, h->version);
	p = put_le16(p, h->minor);
	uint8_t *lenp = p;
	p += 4;
	p = HSTR(p, H_NODE, h->node);
	p = HSTR(p, H_BOOT_ID, h->boot_id);
	p = HSTR(p, H_KERNEL, h->kernel);
	p = HSTR(p, H_RECORDER, h->recorder);
	p = put_hu64(p, H_WALL_OFFSET, (uint64_t)h->wall_offset_ns);
	p = put_hu64(p, H_CREATED, h->created_ns);
	p = put_hu64(p, H_SEG_INDEX, h->segment_index);
	p = put_hu32(p, H_SNAPLEN, h->snaplen);
	p = put_hu32(p, H_LEVEL, h->zstd_level);
	p = HSTR(p, H_FILTERS, h->filters);
	p = HSTR(p, H_REDACTION, h->redaction);
	p = HSTR(p, H_SOURCE, h->source);
	size_t len = (size_t)(p - buf) + 4;
	put_le32(lenp, (uint32_t)len);
	put_le32(p, crc(buf, len - 4));
	return len;
}

static void copy_str(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
}

#define HCOPY(field, v, n) copy_str(field, sizeof(field), v, n)

/* Decodes a header of hlen bytes (crc already checked). */
static int decode_header(const uint8_t *buf, size_t hlen, struct fr_header *h)
{
	struct fr_cur c;
	memset(h, 0, sizeof(*h));
	cur_init(&c, buf + 8, hlen - 8 - 4);
	h->version = cur_le16(&c);
	h->minor = cur_le16(&c);
	cur_skip(&c, 4);
	while (!c.bad && cur_left(&c) > 0) {
		uint16_t tag = cur_le16(&c), len = cur_le16(&c);
		const uint8_t *v;
		if (cur_bytes(&c, &v, len))
			return -1;
		struct fr_cur f;
		cur_init(&f, v, len);
		switch (tag) {
		case H_NODE: HCOPY(h->node, v, len); break;
		case H_BOOT_ID: HCOPY(h->boot_id, v, len); break;
		case H_KERNEL: HCOPY(h->kernel, v, len); break;
		case H_RECORDER: HCOPY(h->recorder, v, len); break;
		case H_WALL_OFFSET: h->wall_offset_ns = (int64_t)cur_le64(&f); break;
		case H_CREATED: h->created_ns = cur_le64(&f); break;
		case H_SEG_INDEX: h->segment_index = cur_le64(&f); break;
		case H_SNAPLEN: h->snaplen = cur_le32(&f); break;
		case H_LEVEL: h->zstd_level = cur_le32(&f); break;
		case H_FILTERS: HCOPY(h->filters, v, len); break;
		case H_REDACTION: HCOPY(h->redaction, v, len); break;
		case H_SOURCE: HCOPY(h->source, v, len); break;
		}
	}
	return c.bad ? -1 : 0;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*buf, n * elem);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* ---- columnar blocks (FRB2) ----------------------------------------------- */

/* A version 2 block holds the same records as a version 1 block, split into
 * streams before compression (SEGMENT.md, "Columnar block"): record headers
 * become varints and deltas, DATA fixed parts are predicted from the
 * previous DATA record of the same connection and direction, payloads are
 * concatenated.  The writer keeps building version 1 records (col_encode
 * turns them into streams at flush); the reader turns streams back into
 * version 1 records (col_decode), so record parsing is shared. */

enum { S_KIND, S_FLAGS, S_TSLO, S_TS, S_SEQ, S_LEN, S_BODY, S_MASK, S_CONN, S_NEW, S_TID,
       S_SYS, S_DFLAGS, S_POS, S_CAP, S_ORIG, S_PEER, S_PAY, N_STREAMS };

#define COL_MAX_SLOTS 65536u /* connections per block with predicted DATA */
#define COL_HASH (2 * COL_MAX_SLOTS)
#define COL_HDR_MAX (1 + 10 * N_STREAMS)
#define DATA_FIXED 56

/* DATA mask bits: which fields differ from their prediction. */
#define M_DIR 0x01u
#define M_TID 0x02u
#define M_SYS 0x04u
#define M_FLAGS 0x08u
#define M_POS 0x10u
#define M_CAP 0x20u
#define M_ORIG 0x40u
#define M_PEER 0x80u

/* KIND low bits: the DATA streams hold the record; its payload repeats. */
#define K_DATA 0x1u
#define K_REPEAT 0x2u
#define K_SHIFT 2

struct col_slot {
	uint32_t pid, fd, gen, tid;
	uint32_t hpos; /* writer: its entry in the hash table */
	struct {
		uint64_t next_pos;
		uint32_t cap;
		uint32_t pay_off; /* where the last payload is in the block's records */
		uint16_t flags;
		uint8_t sys;
	} d[2];
	uint8_t peer[ADDR_LEN];
};

static void slot_init(struct col_slot *s, uint32_t pid, uint32_t fd, uint32_t gen)
{
	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->fd = fd;
	s->gen = gen;
	s->tid = pid;
}

struct sbuf {
	uint8_t *p;
	size_t len, cap;
};

struct col_enc {
	struct sbuf s[N_STREAMS];
	struct col_slot *slots;
	size_t n_slots, slots_cap;
	uint32_t *hash; /* COL_HASH entries: slot index + 1, 0 when free */
	uint8_t hdr[COL_HDR_MAX];
	size_t hdr_len, total; /* header bytes; header + streams */
};

static void col_enc_fini(struct col_enc *e)
{
	for (int i = 0; i < N_STREAMS; i++)
		free(e->s[i].p);
	free(e->slots);
	free(e->hash);
}

static int sb_need(struct sbuf *b, size_t n)
{
	return b->len + n <= b->cap ? 0 : grow((void **)&b->p, &b->cap, b->len + n, 1);
}

static uint8_t *put_uv(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static int sb_uv(struct sbuf *b, uint64_t v)
{
	if (sb_need(b, 10))
		return -1;
	b->len = (size_t)(put_uv(b->p + b->len, v) - b->p);
	return 0;
}

static uint64_t zigzag(uint64_t d) { return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63); }
static uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1); }

static int sb_mem(struct sbuf *b, const void *p, size_t n)
{
	if (sb_need(b, n))
		return -1;
	b->len = (size_t)(put_mem(b->p + b->len, p, n) - b->p);
	return 0;
}

/* Finds or adds the slot of (pid, fd, gen); returns its index, the slot
 * count when the table is full, and sets *fresh for a new slot. */
static size_t slot_find(struct col_enc *e, uint32_t pid, uint32_t fd, uint32_t gen, int *fresh)
{
	uint32_t h = (pid * 0x9e3779b1u) ^ (fd * 0x85ebca77u) ^ (gen * 0xc2b2ae3du);
	h = (h ^ h >> 15) & (COL_HASH - 1);
	*fresh = 0;
	for (;; h = (h + 1) & (COL_HASH - 1)) {
		uint32_t v = e->hash[h];
		if (v == 0)
			break;
		struct col_slot *s = &e->slots[v - 1];
		if (s->pid == pid && s->fd == fd && s->gen == gen)
			return v - 1;
	}
	if (e->n_slots >= COL_MAX_SLOTS ||
	    grow((void **)&e->slots, &e->slots_cap, e->n_slots + 1, sizeof(*e->slots)))
		return e->n_slots + 1; /* full: the caller writes the record whole */
	struct col_slot *s = &e->slots[e->n_slots];
	slot_init(s, pid, fd, gen);
	s->hpos = h;
	e->hash[h] = (uint32_t)++e->n_slots;
	*fresh = 1;
	return e->n_slots - 1;
}

/* Encodes one well-formed DATA body (b, DATA_FIXED + cap bytes, inside the
 * block's records at raw) into the DATA streams.  Returns the KIND low bits
 * (K_DATA, and K_REPEAT when the payload repeats the slot's last one in
 * that direction), 0 when it must be written whole, -1 on allocation
 * failure. */
static int col_put_data(struct col_enc *e, const uint8_t *raw, const uint8_t *b, size_t blen)
{
	struct fr_cur c;
	cur_init(&c, b, blen);
	uint32_t pid = cur_le32(&c), fd = cur_le32(&c), gen = cur_le32(&c), tid = cur_le32(&c);
	uint8_t dir = cur_u8(&c), sys = cur_u8(&c);
	uint16_t flags = cur_le16(&c);
	uint32_t orig = cur_le32(&c);
	uint64_t pos = cur_le64(&c);
	const uint8_t *peer, *pl;
	cur_bytes(&c, &peer, ADDR_LEN);
	uint32_t cap = cur_le32(&c);
	if (c.bad || dir > 1 || cap > orig || cur_left(&c) != cap)
		return 0;
	pl = c.p;
	int fresh;
	size_t si = slot_find(e, pid, fd, gen, &fresh);
	if (si > e->n_slots)
		return 0;
	struct col_slot *s = &e->slots[si];
	unsigned m = dir;
	if (tid != s->tid)
		m |= M_TID;
	if (sys != s->d[dir].sys)
		m |= M_SYS;
	if (flags != s->d[dir].flags)
		m |= M_FLAGS;
	if (pos != s->d[dir].next_pos)
		m |= M_POS;
	if (cap != s->d[dir].cap)
		m |= M_CAP;
	if (orig != cap)
		m |= M_ORIG;
	if (memcmp(peer, s->peer, ADDR_LEN) != 0)
		m |= M_PEER;
	int done = K_DATA;
	if (cap == s->d[dir].cap && (cap == 0 || !memcmp(raw + s->d[dir].pay_off, pl, cap)))
		done |= K_REPEAT;
	uint8_t mb = (uint8_t)m;
	if (sb_mem(&e->s[S_MASK], &mb, 1) || sb_uv(&e->s[S_CONN], si))
		return -1;
	if (fresh && (sb_uv(&e->s[S_NEW], pid) || sb_uv(&e->s[S_NEW], fd) || sb_uv(&e->s[S_NEW], gen)))
		return -1;
	if (((m & M_TID) && sb_uv(&e->s[S_TID], tid)) ||
	    ((m & M_SYS) && sb_mem(&e->s[S_SYS], &sys, 1)) ||
	    ((m & M_FLAGS) && sb_uv(&e->s[S_DFLAGS], flags)) ||
	    ((m & M_POS) && sb_uv(&e->s[S_POS], zigzag(pos - s->d[dir].next_pos))) ||
	    ((m & M_CAP) && sb_uv(&e->s[S_CAP], cap)) ||
	    ((m & M_ORIG) && sb_uv(&e->s[S_ORIG], orig - cap)) ||
	    ((m & M_PEER) && sb_mem(&e->s[S_PEER], peer, ADDR_LEN)) ||
	    (!(done & K_REPEAT) && sb_mem(&e->s[S_PAY], pl, cap)))
		return -1;
	s->d[dir].pay_off = (uint32_t)(pl - raw);
	s->tid = tid;
	s->d[dir].sys = sys;
	s->d[dir].flags = flags;
	s->d[dir].next_pos = pos + orig;
	s->d[dir].cap = cap;
	memcpy(s->peer, peer, ADDR_LEN);
	return done;
}

/* Splits n version 1 records (raw, len bytes) into streams.  0, or -1 when
 * out of memory or the records do not parse (the caller then writes a
 * version 1 block). */
static int col_encode(struct col_enc *e, const uint8_t *raw, size_t len, uint32_t n)
{
	int rc = -1;
	if (!e->hash && !(e->hash = calloc(COL_HASH, sizeof(*e->hash))))
		return -1;
	for (int i = 0; i < N_STREAMS; i++)
		e->s[i].len = 0;
	e->n_slots = 0;
	struct fr_cur c;
	cur_init(&c, raw, len);
	uint64_t prev_ts = 0, prev_seq = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint16_t kind = cur_le16(&c), flags = cur_le16(&c);
		uint32_t blen = cur_le32(&c);
		uint64_t ts = cur_le64(&c), seq = cur_le64(&c);
		const uint8_t *body;
		if (c.bad || cur_bytes(&c, &body, blen))
			goto out;
		uint64_t dts = zigzag(ts - prev_ts);
		uint8_t tlo = (uint8_t)dts;
		int done = 0;
		if (kind == FR_DATA && (done = col_put_data(e, raw, body, blen)) < 0)
			goto out;
		if (sb_uv(&e->s[S_KIND], (uint64_t)kind << K_SHIFT | (unsigned)done) ||
		    sb_uv(&e->s[S_FLAGS], flags) || sb_mem(&e->s[S_TSLO], &tlo, 1) ||
		    sb_uv(&e->s[S_TS], dts >> 8) ||
		    sb_uv(&e->s[S_SEQ], zigzag(seq - prev_seq - 1)))
			goto out;
		if (!done && (sb_uv(&e->s[S_LEN], blen) || sb_mem(&e->s[S_BODY], body, blen)))
			goto out;
		prev_ts = ts;
		prev_seq = seq;
	}
	if (cur_left(&c) != 0)
		goto out;
	uint8_t *p = put_u8(e->hdr, N_STREAMS);
	e->total = 0;
	for (int i = 0; i < N_STREAMS; i++) {
		p = put_uv(p, e->s[i].len);
		e->total += e->s[i].len;
	}
	e->hdr_len = (size_t)(p - e->hdr);
	e->total += e->hdr_len;
	rc = 0;
out:
	for (size_t i = 0; i < e->n_slots; i++)
		e->hash[e->slots[i].hpos] = 0;
	return rc;
}

/* Copies the encoded block (e->total bytes) to dst. */
static void col_gather(const struct col_enc *e, uint8_t *dst)
{
	dst = put_mem(dst, e->hdr, e->hdr_len);
	for (int i = 0; i < N_STREAMS; i++)
		dst = put_mem(dst, e->s[i].p, e->s[i].len);
}

/* Reads a LEB128 varint of at most 10 bytes; sets c->bad on a short or
 * over-long one. */
static inline uint64_t cur_uv(struct fr_cur *c)
{
	if (c->p < c->end && *c->p < 0x80)
		return *c->p++; /* the common case: one byte */
	uint64_t v = 0;
	for (int sh = 0; sh < 70; sh += 7) {
		uint8_t b = cur_u8(c);
		if (c->bad)
			return 0;
		if (sh == 63 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
	c->bad = 1;
	return 0;
}

/* Rebuilds the version 1 records of a columnar block: col (clen bytes)
 * must decode to exactly count records of out_len bytes in out.  slots is
 * the caller's scratch table (grown here, at most COL_MAX_SLOTS).  Returns
 * 0, or -1 with a reason in *why when the block is malformed. */
static int col_decode(const uint8_t *col, size_t clen, uint32_t count, uint8_t *out,
		      size_t out_len, struct col_slot **slots, size_t *slots_cap,
		      const char **why)
{
	struct fr_cur h, s[N_STREAMS];
	cur_init(&h, col, clen);
	*why = "bad stream table";
	if (cur_u8(&h) != N_STREAMS)
		return -1;
	uint64_t lens[N_STREAMS], sum = 0;
	for (int i = 0; i < N_STREAMS; i++) {
		lens[i] = cur_uv(&h);
		sum += lens[i];
		if (h.bad || lens[i] > clen || sum > clen)
			return -1;
	}
	if (sum != cur_left(&h))
		return -1;
	const uint8_t *p = h.p;
	for (int i = 0; i < N_STREAMS; i++) {
		cur_init(&s[i], p, (size_t)lens[i]);
		p += lens[i];
	}
	size_t n_slots = 0, o = 0;
	uint64_t prev_ts = 0, prev_seq = 0;
	*why = "stream ended early";
	for (uint32_t i = 0; i < count; i++) {
		uint64_t k = cur_uv(&s[S_KIND]);
		uint64_t flags = cur_uv(&s[S_FLAGS]);
		uint64_t tlo = cur_u8(&s[S_TSLO]);
		uint64_t ts = prev_ts + unzigzag(cur_uv(&s[S_TS]) << 8 | tlo);
		uint64_t seq = prev_seq + 1 + unzigzag(cur_uv(&s[S_SEQ]));
		if (s[S_KIND].bad || s[S_FLAGS].bad || s[S_TSLO].bad || s[S_TS].bad || s[S_SEQ].bad)
			return -1;
		*why = "bad record header";
		if (k >> K_SHIFT > 0xffff || flags > 0xffff ||
		    ((k & K_DATA) && k >> K_SHIFT != FR_DATA) || (k & 3) == K_REPEAT)
			return -1;
		uint8_t *rh = out + o; /* the record header, written below */
		if (out_len - o < REC_HDR) {
			*why = "records longer than raw_len";
			return -1;
		}
		o += REC_HDR;
		uint32_t blen;
		if (!(k & K_DATA)) {
			uint64_t n = cur_uv(&s[S_LEN]);
			const uint8_t *b;
			*why = "bad body length";
			if (s[S_LEN].bad || n > FR_MAX_RECORD || n > out_len - o ||
			    cur_bytes(&s[S_BODY], &b, (size_t)n))
				return -1;
			blen = (uint32_t)n;
			put_mem(out + o, b, blen);
		} else {
			*why = "bad DATA fields";
			unsigned m = cur_u8(&s[S_MASK]);
			uint64_t si = cur_uv(&s[S_CONN]);
			if (s[S_MASK].bad || s[S_CONN].bad || si > n_slots)
				return -1;
			if (si == n_slots) {
				uint64_t pid = cur_uv(&s[S_NEW]), fd = cur_uv(&s[S_NEW]),
					 gen = cur_uv(&s[S_NEW]);
				if (s[S_NEW].bad || pid > UINT32_MAX || fd > UINT32_MAX ||
				    gen > UINT32_MAX || n_slots >= COL_MAX_SLOTS ||
				    grow((void **)slots, slots_cap, n_slots + 1, sizeof(**slots)))
					return -1;
				slot_init(&(*slots)[n_slots++], (uint32_t)pid, (uint32_t)fd,
					  (uint32_t)gen);
			}
			struct col_slot *sl = &(*slots)[si];
			unsigned dir = m & M_DIR;
			uint64_t tid = sl->tid, flg = sl->d[dir].flags, cap = sl->d[dir].cap;
			uint64_t pos = sl->d[dir].next_pos, extra = 0;
			uint8_t sys = sl->d[dir].sys;
			const uint8_t *peer = sl->peer, *pl;
			if (m & M_TID)
				tid = cur_uv(&s[S_TID]);
			if (m & M_SYS)
				sys = cur_u8(&s[S_SYS]);
			if (m & M_FLAGS)
				flg = cur_uv(&s[S_DFLAGS]);
			if (m & M_POS)
				pos += unzigzag(cur_uv(&s[S_POS]));
			if (m & M_CAP)
				cap = cur_uv(&s[S_CAP]);
			if (m & M_ORIG)
				extra = cur_uv(&s[S_ORIG]);
			if (m & M_PEER)
				cur_bytes(&s[S_PEER], &peer, ADDR_LEN);
			if (s[S_TID].bad || s[S_SYS].bad || s[S_DFLAGS].bad || s[S_POS].bad ||
			    s[S_CAP].bad || s[S_ORIG].bad || s[S_PEER].bad || tid > UINT32_MAX ||
			    flg > 0xffff || cap > FR_MAX_RECORD - DATA_FIXED ||
			    extra > UINT32_MAX - cap || DATA_FIXED + cap > out_len - o)
				return -1;
			if (!(k & K_REPEAT)) {
				if (cur_bytes(&s[S_PAY], &pl, (size_t)cap))
					return -1;
			} else {
				/* the slot's last payload, rebuilt before this record */
				uint64_t po = sl->d[dir].pay_off;
				if ((m & M_CAP) || po + cap > o - REC_HDR)
					return -1;
				pl = out + po;
			}
			uint8_t *q = out + o;
			q = put_le32(q, sl->pid);
			q = put_le32(q, sl->fd);
			q = put_le32(q, sl->gen);
			q = put_le32(q, (uint32_t)tid);
			q = put_u8(q, (uint8_t)dir);
			q = put_u8(q, sys);
			q = put_le16(q, (uint16_t)flg);
			q = put_le32(q, (uint32_t)(cap + extra));
			q = put_le64(q, pos);
			q = put_mem(q, peer, ADDR_LEN);
			q = put_le32(q, (uint32_t)cap);
			put_mem(q, pl, (size_t)cap);
			blen = DATA_FIXED + (uint32_t)cap;
			sl->tid = (uint32_t)tid;
			sl->d[dir].sys = sys;
			sl->d[dir].flags = (uint16_t)flg;
			sl->d[dir].next_pos = pos + cap + extra;
			sl->d[dir].cap = (uint32_t)cap;
			sl->d[dir].pay_off = (uint32_t)(o + DATA_FIXED);
			if (peer != sl->peer)
				memcpy(sl->peer, peer, ADDR_LEN);
		}
		o += blen;
		rh = put_le16(rh, (uint16_t)(k >> K_SHIFT));
		rh = put_le16(rh, (uint16_t)flags);
		rh = put_le32(rh, blen);
		rh = put_le64(rh, ts);
		put_le64(rh, seq);
		prev_ts = ts;
		prev_seq = seq;
		*why = "stream ended early";
	}
	*why = "streams longer than their records";
	for (int i = 0; i < N_STREAMS; i++)
		if (cur_left(&s[i]) != 0)
			return -1;
	*why = "records shorter than raw_len";
	return o == out_len ? 0 : -1;
}

/* ---- writer -------------------------------------------------------------- */

struct idx_entry {
	uint64_t offset, first_ts, last_ts;
	uint32_t count, raw_len;
};

struct fr_writer {
	int fd;
	int failed; /* -errno of the first failure, sticky */
	struct fr_writer_opts o;
	ZSTD_CCtx *cctx;
	uint8_t *raw;  /* records of the current block */
	size_t raw_len, raw_cap;
	uint8_t *comp; /* BLOCK_HDR + compressed frame */
	size_t comp_cap;
	uint32_t count;
	uint64_t first_ts, last_ts;
	uint64_t offset; /* file size */
	uint64_t records;
	struct idx_entry *idx;
	size_t n_idx, idx_cap;
	struct col_enc col; /* version 2: stream buffers, reused per block */
	uint8_t *colbuf;    /* the streams gathered for zstd */
	size_t colbuf_cap;
};

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

struct fr_writer *fr_writer_open(const char *path, const struct fr_header *h,
				 const struct fr_writer_opts *o, char *err, size_t errlen)
{
	struct fr_writer *w = calloc(1, sizeof(*w));
	uint8_t *hdr = malloc(MAX_HEADER);
	if (!w || !hdr) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	w->fd = -1;
	if (o)
		w->o = *o;
	if (w->o.level == 0)
		w->o.level = 3;
	if (w->o.block_bytes == 0)
		w->o.block_bytes = 4u << 20;
	if (w->o.block_bytes > FR_MAX_BLOCK_RAW / 2)
		w->o.block_bytes = FR_MAX_BLOCK_RAW / 2;
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->o.level);
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	struct fr_header hh = *h;
	hh.zstd_level = (uint32_t)w->o.level;
	hh.version = w->o.format == 1 ? 1 : FR_FORMAT_VERSION;
	hh.minor = w->o.format == 1 ? 0 : FR_FORMAT_MINOR;
	size_t hlen = encode_header(hdr, &hh);
	int rc = write_all(w->fd, hdr, hlen);
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		close(w->fd);
		unlink(path);
		w->fd = -1;
		goto fail;
	}
	w->offset = hlen;
	free(hdr);
	return w;
fail:
	free(hdr);
	if (w) {
		if (w->fd >= 0) {
			close(w->fd);
			unlink(path);
		}
		ZSTD_freeCCtx(w->cctx);
	}
	free(w);
	return NULL;
}

/* Reserves room for one record of blen body bytes and writes its header;
 * returns where the body goes, or NULL (w->failed set). */
static uint8_t *begin_record(struct fr_writer *w, uint16_t kind, uint64_t ts, uint64_t seq,
			     size_t blen)
{
	int rc = grow((void **)&w->raw, &w->raw_cap, w->raw_len + REC_HDR + blen, 1);
	if (rc) {
		w->failed = rc;
		return NULL;
	}
	uint8_t *p = w->raw + w->raw_len;
	p = put_le16(p, kind);
	p = put_le16(p, 0);
	p = put_le32(p, (uint32_t)blen);
	p = put_le64(p, ts);
	return put_le64(p, seq);
}

static int end_record(struct fr_writer *w, size_t blen, uint64_t ts)
{
	w->raw_len += REC_HDR + blen;
	if (w->count == 0 || ts < w->first_ts)
		w->first_ts = ts;
	if (w->count == 0 || ts > w->last_ts)
		w->last_ts = ts;
	w->count++;
	w->records++;
	if (w->raw_len >= w->o.block_bytes)
		return fr_writer_flush(w);
	return 0;
}

int fr_writer_add(struct fr_writer *w, const struct fr_record *r)
{
	if (w->failed)
		return w->failed;
	size_t blen = body_size(r);
	if (blen == 0 && !(r->kind == FR_MARK || r->kind == FR_POD || r->kind == FR_SERVICE))
		return -EINVAL;
	if (blen > FR_MAX_RECORD)
		return -E2BIG;
	uint8_t *p = begin_record(w, r->kind, r->ts, r->seq, blen);
	if (!p)
		return w->failed;
	encode_body(p, r);
	return end_record(w, blen, r->ts);
}

int fr_writer_add_raw(struct fr_writer *w, uint16_t kind, uint64_t ts, uint64_t seq,
		      const void *body, uint32_t len)
{
	if (w->failed)
		return w->failed;
	if (len > FR_MAX_RECORD)
		return -E2BIG;
	uint8_t *p = begin_record(w, kind, ts, seq, len);
	if (!p)
		return w->failed;
	put_mem(p, body, len);
	return end_record(w, len, ts);
}

int fr_writer_flush(struct fr_writer *w)
{
	if (w->failed)
		return w->failed;
	if (w->count == 0)
		return 0;
	size_t bound = ZSTD_compressBound(w->raw_len);
	int rc = grow((void **)&w->comp, &w->comp_cap, BLOCK_HDR + bound, 1);
	if (rc)
		return w->failed = rc;
	/* Version 2: streams when they encode (they are never longer than the
	 * records in practice; if they are, the block stays version 1). */
	const uint8_t *src = w->raw;
	size_t src_len = w->raw_len;
	uint32_t magic = BLOCK_MAGIC;
	if (w->o.format != 1 && col_encode(&w->col, w->raw, w->raw_len, w->count) == 0 &&
	    w->col.total <= w->raw_len &&
	    grow((void **)&w->colbuf, &w->colbuf_cap, w->col.total, 1) == 0) {
		col_gather(&w->col, w->colbuf);
		src = w->colbuf;
		src_len = w->col.total;
		magic = COL_MAGIC;
	}
	size_t clen = ZSTD_compress2(w->cctx, w->comp + BLOCK_HDR, bound, src, src_len);
	if (ZSTD_isError(clen))
		return w->failed = -EIO;
	uint8_t *p = w->comp;
	p = put_le32(p, magic);
	p = put_le32(p, (uint32_t)clen);
	p = put_le32(p, (uint32_t)w->raw_len);
	p = put_le32(p, w->count);
	p = put_le64(p, w->first_ts);
	p = put_le64(p, w->last_ts);
	p = put_le32(p, crc(w->comp + BLOCK_HDR, clen));
	put_le32(p, crc(w->comp, 36));
	rc = write_all(w->fd, w->comp, BLOCK_HDR + clen);
	if (rc)
		return w->failed = rc;
	if (w->o.fsync == FR_FSYNC_BLOCK && fdatasync(w->fd) < 0)
		return w->failed = -errno;
	rc = grow((void **)&w->idx, &w->idx_cap, w->n_idx + 1, sizeof(*w->idx));
	if (rc)
		return w->failed = rc;
	w->idx[w->n_idx++] = (struct idx_entry){w->offset, w->first_ts, w->last_ts,
						 w->count, (uint32_t)w->raw_len};
	w->offset += BLOCK_HDR + clen;
	w->raw_len = 0;
	w->count = 0;
	if (w->o.on_block)
		w->o.on_block(w->o.arg, w->offset);
	return 0;
}

static int write_footer(struct fr_writer *w)
{
	size_t n = 8 + INDEX_ENTRY * w->n_idx + TRAILER;
	uint8_t *buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	uint8_t *p = put_le32(buf, INDEX_MAGIC);
	p = put_le32(p, (uint32_t)w->n_idx);
	for (size_t i = 0; i < w->n_idx; i++) {
		p = put_le64(p, w->idx[i].offset);
		p = put_le64(p, w->idx[i].first_ts);
		p = put_le64(p, w->idx[i].last_ts);
		p = put_le32(p, w->idx[i].count);
		p = put_le32(p, w->idx[i].raw_len);
	}
	uint32_t icrc = crc(buf, (size_t)(p - buf));
	p = put_le64(p, w->offset);
	p = put_le32(p, icrc);
	put_le32(p, TRAILER_MAGIC);
	int rc = write_all(w->fd, buf, n);
	free(buf);
	if (rc == 0)
		w->offset += n;
	return rc;
}

static void writer_free(struct fr_writer *w)
{
	ZSTD_freeCCtx(w->cctx);
	col_enc_fini(&w->col);
	free(w->colbuf);
	free(w->raw);
	free(w->comp);
	free(w->idx);
	free(w);
}

int fr_writer_close(struct fr_writer *w)
{
	if (!w)
		return 0;
	int rc = fr_writer_flush(w);
	if (rc == 0)
		rc = write_footer(w);
	if (rc == 0 && w->o.fsync != FR_FSYNC_NONE && fsync(w->fd) < 0)
		rc = -errno;
	if (close(w->fd) < 0 && rc == 0)
		rc = -errno;
	writer_free(w);
	return rc;
}

void fr_writer_abandon(struct fr_writer *w)
{
	if (!w)
		return;
	close(w->fd);
	writer_free(w);
}

uint64_t fr_writer_bytes(const struct fr_writer *w) { return w->offset + (w->count ? BLOCK_HDR : 0); }
uint64_t fr_writer_records(const struct fr_writer *w) { return w->records; }

/* ---- reader -------------------------------------------------------------- */

#define MAX_DAMAGE 1024

struct fr_reader {
	int fd;
	uint64_t size;     /* file size */
	uint64_t data_end; /* end of the block area (index start, or size) */
	uint64_t pos;      /* next block header to read (sequential mode) */
	struct fr_header h;
	int has_footer;
	struct idx_entry *idx;
	size_t n_idx, next_idx;
	uint64_t from, to;
	ZSTD_DCtx *dctx;
	uint8_t *comp;
	size_t comp_cap;
	uint8_t *raw;
	size_t raw_cap, raw_len, raw_pos;
	uint8_t *col; /* version 2 block: decompressed streams */
	size_t col_cap;
	struct col_slot *slots; /* version 2 block: connections */
	size_t slots_cap;
	struct fr_block_info cur;
	struct fr_damage *damage;
	size_t n_damage, damage_cap;
	uint64_t damage_dropped;
	struct fr_reader_stats st;
	int done;
};

static ssize_t read_at(struct fr_reader *r, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(r->fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

__attribute__((format(printf, 4, 5)))
static void add_damage(struct fr_reader *r, uint64_t off, uint64_t len, const char *fmt, ...)
{
	if (r->n_damage >= MAX_DAMAGE) {
		r->damage_dropped++;
		return;
	}
	if (grow((void **)&r->damage, &r->damage_cap, r->n_damage + 1, sizeof(*r->damage)))
		return;
	struct fr_damage *d = &r->damage[r->n_damage++];
	d->offset = off;
	d->length = len;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->what, sizeof(d->what), fmt, ap);
	va_end(ap);
}

/* Loads the footer index if the trailer and index check out. */
static void load_footer(struct fr_reader *r, uint64_t hlen)
{
	uint8_t t[TRAILER];
	if (r->size < hlen + TRAILER + 8 || read_at(r, t, TRAILER, r->size - TRAILER) != TRAILER)
		return;
	struct fr_cur c;
	cur_init(&c, t, TRAILER);
	uint64_t ioff = cur_le64(&c);
	uint32_t icrc = cur_le32(&c);
	if (cur_le32(&c) != TRAILER_MAGIC || ioff < hlen || ioff > r->size - TRAILER - 8)
		return;
	uint64_t ilen = r->size - TRAILER - ioff;
	if (ilen > (uint64_t)64 << 20)
		return;
	uint8_t *buf = malloc(ilen);
	if (!buf)
		return;
	if (read_at(r, buf, ilen, ioff) != (ssize_t)ilen || crc(buf, ilen) != icrc)
		goto out;
	cur_init(&c, buf, ilen);
	uint32_t magic = cur_le32(&c), n = cur_le32(&c);
	if (magic != INDEX_MAGIC || (uint64_t)n * INDEX_ENTRY != ilen - 8)
		goto out;
	struct idx_entry *idx = calloc(n ? n : 1, sizeof(*idx));
	if (!idx)
		goto out;
	uint64_t prev = hlen;
	for (uint32_t i = 0; i < n; i++) {
		idx[i].offset = cur_le64(&c);
		idx[i].first_ts = cur_le64(&c);
		idx[i].last_ts = cur_le64(&c);
		idx[i].count = cur_le32(&c);
		idx[i].raw_len = cur_le32(&c);
		if (idx[i].offset < prev || idx[i].offset + BLOCK_HDR > ioff) {
			free(idx);
			goto out; /* inconsistent: fall back to scanning */
		}
		prev = idx[i].offset + BLOCK_HDR;
	}
	r->idx = idx;
	r->n_idx = n;
	r->has_footer = 1;
	r->data_end = ioff;
out:
	free(buf);
}

struct fr_reader *fr_reader_open(const char *path, char *err, size_t errlen)
{
	struct fr_reader *r = calloc(1, sizeof(*r));
	uint8_t *hbuf = NULL;
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->to = UINT64_MAX;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(r->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	r->size = (uint64_t)st.st_size;
	r->st.file_bytes = r->size;
	uint8_t fixed[16];
	if (read_at(r, fixed, 16, 0) != 16 || memcmp(fixed, file_magic, 8) != 0) {
		snprintf(err, errlen, "%s: not a flightrec segment (bad magic)", path);
		goto fail;
	}
	struct fr_cur c;
	cur_init(&c, fixed + 8, 8);
	uint16_t major = cur_le16(&c);
	cur_le16(&c);
	uint32_t hlen = cur_le32(&c);
	if (major > FR_FORMAT_VERSION) {
		snprintf(err, errlen, "%s: segment format %u is newer than this flightrec (%u): upgrade flightrec",
			 path, major, FR_FORMAT_VERSION);
		goto fail;
	}
	if (major == 0 || hlen < 20 || hlen > MAX_HEADER || hlen > r->size) {
		snprintf(err, errlen, "%s: not a flightrec segment (bad header length)", path);
		goto fail;
	}
	hbuf = malloc(hlen);
	if (!hbuf || read_at(r, hbuf, hlen, 0) != (ssize_t)hlen) {
		snprintf(err, errlen, "%s: cannot read header", path);
		goto fail;
	}
	cur_init(&c, hbuf + hlen - 4, 4);
	if (cur_le32(&c) != crc(hbuf, hlen - 4) || decode_header(hbuf, hlen, &r->h) < 0) {
		snprintf(err, errlen, "%s: damaged segment header (checksum): the file cannot be read", path);
		goto fail;
	}
	free(hbuf);
	hbuf = NULL;
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->pos = hlen;
	r->data_end = r->size;
	load_footer(r, hlen);
	return r;
fail:
	free(hbuf);
	fr_reader_free(r);
	return NULL;
}

void fr_reader_free(struct fr_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->idx);
	free(r->comp);
	free(r->raw);
	free(r->col);
	free(r->slots);
	free(r->damage);
	free(r);
}

const struct fr_header *fr_reader_header(const struct fr_reader *r) { return &r->h; }
int fr_reader_has_footer(const struct fr_reader *r) { return r->has_footer; }
const struct fr_block_info *fr_reader_block(const struct fr_reader *r) { return &r->cur; }
const struct fr_reader_stats *fr_reader_stats(const struct fr_reader *r) { return &r->st; }

const struct fr_damage *fr_reader_damage(const struct fr_reader *r, size_t *n)
{
	*n = r->n_damage;
	return r->damage;
}

void fr_reader_set_range(struct fr_reader *r, uint64_t from, uint64_t to)
{
	r->from = from;
	r->to = to;
}

struct bhdr {
	uint32_t magic, comp_len, raw_len, count, pcrc;
	uint64_t first_ts, last_ts;
};

/* Parses a block header at b; 0 when magic, crc and lengths hold. */
static int parse_bhdr(const uint8_t *b, struct bhdr *h)
{
	struct fr_cur c;
	cur_init(&c, b, BLOCK_HDR);
	h->magic = cur_le32(&c);
	if (h->magic != BLOCK_MAGIC && h->magic != COL_MAGIC)
		return -1;
	h->comp_len = cur_le32(&c);
	h->raw_len = cur_le32(&c);
	h->count = cur_le32(&c);
	h->first_ts = cur_le64(&c);
	h->last_ts = cur_le64(&c);
	h->pcrc = cur_le32(&c);
	if (cur_le32(&c) != crc(b, 36))
		return -1;
	if (h->raw_len > FR_MAX_BLOCK_RAW || h->comp_len > ZSTD_compressBound(h->raw_len) ||
	    h->comp_len == 0)
		return -1;
	return 0;
}

/* Finds the next valid block header at or after off (before data_end).
 * Returns its offset, or data_end if none. */
static uint64_t resync(struct fr_reader *r, uint64_t off)
{
	enum { WIN = 1 << 16 };
	uint8_t *buf = malloc(WIN + BLOCK_HDR);
	if (!buf)
		return r->data_end;
	while (off + BLOCK_HDR <= r->data_end) {
		size_t want = WIN + BLOCK_HDR;
		if (off + want > r->data_end)
			want = (size_t)(r->data_end - off);
		ssize_t got = read_at(r, buf, want, off);
		if (got < BLOCK_HDR)
			break;
		for (ssize_t i = 0; i + BLOCK_HDR <= got; i++) {
			struct bhdr h;
			if (buf[i] == 'F' && buf[i + 1] == 'R' && parse_bhdr(buf + i, &h) == 0) {
				free(buf);
				return off + (uint64_t)i;
			}
		}
		off += (uint64_t)got - BLOCK_HDR + 1;
	}
	free(buf);
	return r->data_end;
}

/* Loads the block at off into r->raw.  Returns the offset of the following
 * block, or 0 when nothing more can be read from this point.  *ok is set
 * when the block was loaded. */
static uint64_t load_block(struct fr_reader *r, uint64_t off, int *ok)
{
	uint8_t b[BLOCK_HDR];
	struct bhdr h;
	*ok = 0;
	if (off >= r->data_end)
		return 0;
	if (off + BLOCK_HDR > r->data_end) {
		add_damage(r, off, r->data_end - off, "torn tail: partial block header (writer stopped mid-block)");
		return 0;
	}
	if (read_at(r, b, BLOCK_HDR, off) != BLOCK_HDR)
		return 0;
	if (parse_bhdr(b, &h) < 0) {
		uint64_t next = resync(r, off + 1);
		add_damage(r, off, next - off, "bad block header; skipped to %s",
			   next < r->data_end ? "next block" : "end of file");
		return next < r->data_end ? next : 0;
	}
	uint64_t next = off + BLOCK_HDR + h.comp_len;
	if (next > r->data_end) {
		add_damage(r, off, r->data_end - off,
			   "torn tail: block of %u bytes cut at %" PRIu64 " (writer stopped mid-block)",
			   h.comp_len, r->data_end - off - BLOCK_HDR);
		return 0;
	}
	r->cur = (struct fr_block_info){off, h.comp_len, h.raw_len, h.count, h.first_ts, h.last_ts};
	if (h.last_ts < r->from || h.first_ts > r->to)
		return next;
	if (grow((void **)&r->comp, &r->comp_cap, h.comp_len, 1) ||
	    grow((void **)&r->raw, &r->raw_cap, h.raw_len ? h.raw_len : 1, 1)) {
		add_damage(r, off, BLOCK_HDR + (uint64_t)h.comp_len, "out of memory for block");
		return next;
	}
	if (read_at(r, r->comp, h.comp_len, off + BLOCK_HDR) != (ssize_t)h.comp_len) {
		add_damage(r, off, BLOCK_HDR + (uint64_t)h.comp_len, "read error");
		return next;
	}
	if (crc(r->comp, h.comp_len) != h.pcrc) {
		add_damage(r, off, BLOCK_HDR + (uint64_t)h.comp_len, "block checksum mismatch (%u records lost)", h.count);
		return next;
	}
	int col = h.magic == COL_MAGIC;
	if (col && grow((void **)&r->col, &r->col_cap, h.raw_len ? h.raw_len : 1, 1)) {
		add_damage(r, off, BLOCK_HDR + (uint64_t)h.comp_len, "out of memory for block");
		return next;
	}
	/* A columnar block's streams are at most raw_len bytes. */
	size_t n = ZSTD_decompressDCtx(r->dctx, col ? r->col : r->raw, h.raw_len, r->comp,
				       h.comp_len);
	if (ZSTD_isError(n) || (!col && n != h.raw_len)) {
		add_damage(r, off, BLOCK_HDR + (uint64_t)h.comp_len, "zstd: %s",
			   ZSTD_isError(n) ? ZSTD_getErrorName(n) : "size mismatch");
		return next;
	}
	const char *why;
	if (col && col_decode(r->col, n, h.count, r->raw, h.raw_len, &r->slots, &r->slots_cap,
			      &why) < 0) {
		add_damage(r, off, BLOCK_HDR + (uint64_t)h.comp_len,
			   "malformed columnar block: %s (%u records lost)", why, h.count);
		return next;
	}
	n = h.raw_len;
	r->raw_len = n;
	r->raw_pos = 0;
	r->st.blocks++;
	r->st.comp_bytes += h.comp_len;
	r->st.raw_bytes += h.raw_len;
	*ok = 1;
	return next;
}

/* Advances to the next block that loads; 0 at the end. */
static int next_block(struct fr_reader *r)
{
	int ok = 0;
	while (!ok && !r->done) {
		if (r->has_footer) {
			while (r->next_idx < r->n_idx &&
			       (r->idx[r->next_idx].last_ts < r->from ||
				r->idx[r->next_idx].first_ts > r->to))
				r->next_idx++;
			if (r->next_idx >= r->n_idx) {
				r->done = 1;
				break;
			}
			load_block(r, r->idx[r->next_idx++].offset, &ok);
		} else {
			uint64_t next = load_block(r, r->pos, &ok);
			if (next == 0)
				r->done = 1;
			else
				r->pos = next;
		}
	}
	return ok;
}

int fr_reader_next(struct fr_reader *r, struct fr_record *rec)
{
	for (;;) {
		if (r->raw_pos >= r->raw_len) {
			r->raw_len = r->raw_pos = 0;
			if (!next_block(r))
				return 0;
		}
		struct fr_cur c;
		cur_init(&c, r->raw + r->raw_pos, r->raw_len - r->raw_pos);
		uint16_t kind = cur_le16(&c);
		uint16_t flags = cur_le16(&c);
		uint32_t blen = cur_le32(&c);
		uint64_t ts = cur_le64(&c), seq = cur_le64(&c);
		const uint8_t *body;
		if (c.bad || cur_bytes(&c, &body, blen)) {
			add_damage(r, r->cur.offset, BLOCK_HDR + (uint64_t)r->cur.comp_len,
				   "record framing broken at byte %zu of block", r->raw_pos);
			r->raw_pos = r->raw_len;
			continue;
		}
		r->raw_pos += REC_HDR + blen;
		if (kind == 0 || kind > FR_KIND_MAX) {
			r->st.unknown_kinds++;
			continue;
		}
		if (fr_record_decode(kind, body, blen, rec) < 0) {
			add_damage(r, r->cur.offset, BLOCK_HDR + (uint64_t)r->cur.comp_len,
				   "malformed %s record skipped", fr_kind_name(kind));
			continue;
		}
		rec->flags = flags;
		rec->ts = ts;
		rec->seq = seq;
		r->st.records++;
		return 1;
	}
}

/* ---- paths --------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fr_free_list(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int fr_list_segments(const char *path, char ***out, char *err, size_t errlen)
{
	struct stat st;
	*out = NULL;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		char **l = malloc(sizeof(*l));
		if (!l || !(l[0] = strdup(path))) {
			free(l);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*out = l;
		return 1;
	}
	DIR *d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char **l = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	size_t sl = strlen(FR_SEGMENT_SUFFIX);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len <= sl || strcmp(e->d_name + len - sl, FR_SEGMENT_SUFFIX) != 0 ||
		    e->d_name[0] == '.')
			continue;
		char *full;
		if (grow((void **)&l, &cap, n + 1, sizeof(*l)) ||
		    asprintf(&full, "%s/%s", path, e->d_name) < 0) {
			closedir(d);
			fr_free_list(l, (int)n);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		l[n++] = full;
	}
	closedir(d);
	if (n)
		qsort(l, n, sizeof(*l), cmp_str);
	*out = l;
	return (int)n;
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
