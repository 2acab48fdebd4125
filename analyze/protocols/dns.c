/* dns.c - DNS queries and responses over UDP (one message per datagram,
 * paired by transaction id and peer) and TCP (2-byte length prefix).
 *
 * References: RFC 1035 (message format, name compression), RFC 7766 (DNS
 * over TCP), RFC 6895 (rcodes and types: IANA "Domain Name System (DNS)
 * Parameters").
 *
 *                                 1  1  1  1  1  1
 *   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
 *  +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *  |                      ID                       |
 *  |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
 *  |                    QDCOUNT                    |
 *  |                    ANCOUNT                    |
 *  |                    NSCOUNT                    |
 *  |                    ARCOUNT                    |
 *  +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
 *  question: QNAME QTYPE QCLASS; answers: NAME TYPE CLASS TTL RDLENGTH RDATA
 *  names: labels (len 1..63) ending in 0, or a pointer 11xxxxxx xxxxxxxx
 *
 * Names are decoded with loop protection (at most 64 pointer jumps, 255
 * bytes of name).  Answers are rendered as text ("A 10.0.0.1; CNAME x.").
 */
#include "../proto.h"
#include "../../formats/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEND_MAX 1024 /* queries waiting for a response (grows on demand) */
#define NAME_MAX_TXT 256
#define ANS_TXT 1024

struct pend {
	uint16_t id;
	uint16_t qtype;
	char qname[NAME_MAX_TXT];
	int peer_family;
	uint8_t peer[16];
	uint16_t port;
	uint64_t ts, bytes;
};

struct tcpdir {
	uint8_t *buf; /* one message, up to 65535 bytes + the prefix */
	uint32_t have, need;
	uint64_t first_ts;
	int skip; /* bytes to skip after a gap (unknown: resync impossible) */
	int lost;
};

struct dns {
	int transport;
	struct pend *q;
	uint32_t nq, qcap;
	struct tcpdir t[2];
};

static const struct {
	uint16_t v;
	const char *name;
} types[] = {
	{1, "A"}, {2, "NS"}, {5, "CNAME"}, {6, "SOA"}, {12, "PTR"}, {13, "HINFO"}, {15, "MX"},
	{16, "TXT"}, {28, "AAAA"}, {33, "SRV"}, {35, "NAPTR"}, {41, "OPT"}, {43, "DS"},
	{46, "RRSIG"}, {47, "NSEC"}, {48, "DNSKEY"}, {64, "SVCB"}, {65, "HTTPS"}, {99, "SPF"},
	{252, "AXFR"}, {255, "ANY"}, {257, "CAA"}, {0, NULL},
};

static const char *const rcodes[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
};

static void type_str(uint16_t t, char *buf, size_t n)
{
	for (int i = 0; types[i].name; i++)
		if (types[i].v == t) {
			snprintf(buf, n, "%s", types[i].name);
			return;
		}
	snprintf(buf, n, "TYPE%u", t);
}

static void rcode_str(unsigned r, char *buf, size_t n)
{
	if (r < sizeof(rcodes) / sizeof(rcodes[0]))
		snprintf(buf, n, "%s", rcodes[r]);
	else
		snprintf(buf, n, "RCODE%u", r);
}

/* Reads a possibly compressed name at c (advancing c past it) from the
 * message msg..msg+len.  Writes dotted text to out.  0 or -1. */
static int read_name(struct fr_cur *c, const uint8_t *msg, size_t len, char *out, size_t cap)
{
	struct fr_cur r = *c; /* where we read labels */
	int jumped = 0, jumps = 0;
	size_t o = 0, total = 0;
	out[0] = 0;
	for (;;) {
		uint8_t l = cur_u8(&r);
		if (r.bad)
			return -1;
		if ((l & 0xc0) == 0xc0) {
			uint8_t l2 = cur_u8(&r);
			if (r.bad)
				return -1;
			size_t off = (size_t)(l & 0x3f) << 8 | l2;
			if (off >= len)
				return -1;
			if (++jumps > 64)
				return -2; /* a compression loop */
			if (!jumped) {
				*c = r;
				jumped = 1;
			}
			cur_init(&r, msg + off, len - off);
			continue;
		}
		if (l & 0xc0)
			return -1; /* 01/10: extended label types, not supported */
		if (l == 0)
			break;
		const uint8_t *lab;
		if (cur_bytes(&r, &lab, l) < 0)
			return -1;
		total += l + 1u;
		if (total > 255)
			return -1;
		for (size_t i = 0; i < l && o + 2 < cap; i++) {
			uint8_t ch = lab[i];
			out[o++] = (ch > 0x20 && ch < 0x7f && ch != '\\') ? (char)ch : '?';
		}
		if (o + 2 < cap)
			out[o++] = '.';
		out[o] = 0;
	}
	if (!jumped)
		*c = r;
	if (o == 0 && cap > 1) {
		out[0] = '.';
		out[1] = 0;
	} else if (o > 0) {
		out[o - 1] = 0; /* no trailing dot */
	}
	return 0;
}

struct msginfo {
	uint16_t id, flags, qd, an, ns, ar, qtype;
	char qname[NAME_MAX_TXT];
	char answers[ANS_TXT];
	int qr, rcode;
};

static void ans_add(struct msginfo *m, const char *s)
{
	size_t o = strlen(m->answers);
	snprintf(m->answers + o, sizeof(m->answers) - o, "%s%s", o ? "; " : "", s);
}

/* Parses a whole message.  0, -1 if malformed, -2 when a name of the
 * question or answer sections is a compression loop (the header was read:
 * m->qr and the counts are set). */
static int parse_msg(const uint8_t *p, size_t n, struct msginfo *m)
{
	struct fr_cur c;
	int rn;
	cur_init(&c, p, n);
	memset(m, 0, sizeof(*m));
	m->id = cur_be16(&c);
	m->flags = cur_be16(&c);
	m->qd = cur_be16(&c);
	m->an = cur_be16(&c);
	m->ns = cur_be16(&c);
	m->ar = cur_be16(&c);
	if (c.bad)
		return -1;
	m->qr = m->flags >> 15;
	m->rcode = m->flags & 15;
	if (m->qd > 16)
		return -1;
	for (unsigned i = 0; i < m->qd; i++) {
		char name[NAME_MAX_TXT];
		if ((rn = read_name(&c, p, n, name, sizeof(name))) < 0)
			return rn;
		uint16_t t = cur_be16(&c);
		cur_be16(&c);
		if (c.bad)
			return -1;
		if (i == 0) {
			memcpy(m->qname, name, sizeof(name));
			m->qtype = t;
		}
	}
	for (unsigned i = 0; i < m->an; i++) {
		char name[NAME_MAX_TXT], tn[16], txt[NAME_MAX_TXT + 80];
		if ((rn = read_name(&c, p, n, name, sizeof(name))) < 0)
			return rn;
		uint16_t t = cur_be16(&c);
		cur_be16(&c);
		cur_be32(&c);
		uint16_t rdlen = cur_be16(&c);
		const uint8_t *rd;
		if (c.bad || cur_bytes(&c, &rd, rdlen) < 0)
			return -1;
		type_str(t, tn, sizeof(tn));
		struct fr_cur r;
		cur_init(&r, rd, rdlen);
		char v[NAME_MAX_TXT];
		v[0] = 0;
		if (t == 1 && rdlen == 4) {
			snprintf(v, sizeof(v), "%u.%u.%u.%u", rd[0], rd[1], rd[2], rd[3]);
		} else if (t == 28 && rdlen == 16) {
			int o = 0;
			for (int k = 0; k < 16; k += 2)
				o += snprintf(v + o, sizeof(v) - (size_t)o, "%s%x", k ? ":" : "", rd[k] << 8 | rd[k + 1]);
		} else if (t == 5 || t == 2 || t == 12) {
			/* rdata names may point into the whole message */
			struct fr_cur rc;
			cur_init(&rc, rd, rdlen);
			if (read_name(&rc, p, n, v, sizeof(v)) < 0)
				snprintf(v, sizeof(v), "?");
		} else if (t == 15 && rdlen > 2) {
			struct fr_cur rc;
			cur_init(&rc, rd, rdlen);
			unsigned pref = cur_be16(&rc);
			char mx[NAME_MAX_TXT - 8];
			if (read_name(&rc, p, n, mx, sizeof(mx)) < 0)
				snprintf(mx, sizeof(mx), "?");
			snprintf(v, sizeof(v), "%u %s", pref, mx);
		} else if (t == 16) {
			size_t o = 0;
			while (cur_left(&r) && o + 4 < sizeof(v)) {
				uint8_t l = cur_u8(&r);
				const uint8_t *s;
				if (cur_bytes(&r, &s, l) < 0)
					break;
				if (o && o + 1 < sizeof(v))
					v[o++] = ' ';
				v[o++] = '"';
				for (size_t k = 0; k < l && o + 3 < sizeof(v); k++)
					v[o++] = (s[k] >= 0x20 && s[k] < 0x7f && s[k] != '"') ? (char)s[k] : '?';
				v[o++] = '"';
				v[o] = 0;
			}
		} else {
			snprintf(v, sizeof(v), "(%u bytes)", rdlen);
		}
		snprintf(txt, sizeof(txt), "%s %s", tn, v);
		ans_add(m, txt);
	}
	return 0;
}

static void emit(struct fr_pctx *ctx, const struct pend *q, const struct msginfo *m, uint64_t ts, uint64_t bytes,
		 const char *reason)
{
	struct fr_req r;
	memset(&r, 0, offsetof(struct fr_req, f)); /* the fields: as many as n_fields says */
	char tn[16], summary[NAME_MAX_TXT + 32], rc[16];
	uint16_t qtype = q ? q->qtype : m->qtype;
	const char *qname = q ? q->qname : m->qname;
	type_str(qtype, tn, sizeof(tn));
	snprintf(summary, sizeof(summary), "%s %s", tn, qname);
	r.summary = summary;
	r.endpoint = tn;
	if (q) {
		r.req_first_ns = r.req_last_ns = q->ts;
		r.req_bytes = q->bytes;
		if (q->peer_family) {
			r.peer_family = q->peer_family;
			r.peer_addr = q->peer;
			r.peer_port = q->port;
		}
	}
	if (m) {
		rcode_str((unsigned)m->rcode, rc, sizeof(rc));
		r.status = rc;
		r.error = m->rcode != 0;
		r.resp_first_ns = r.resp_last_ns = ts;
		r.resp_bytes = bytes;
	} else {
		r.error = 1;
	}
	r.reason = reason;
	fr_field_str(&r, "qname", qname);
	fr_field_str(&r, "qtype", tn);
	fr_field_str(&r, "rcode", m ? rc : NULL);
	fr_field_str(&r, "answers", m && m->answers[0] ? m->answers : NULL);
	fr_field_int(&r, "answer_count", m ? m->an : 0);
	fr_field_int(&r, "txid", q ? q->id : m->id);
	fr_field_str(&r, "transport", ctx->transport == FR_UDP ? "udp" : "tcp");
	ctx->emit_request(ctx, &r);
}

static int same_peer(const struct pend *q, const struct fr_chunk *ch)
{
	if (!q->peer_family || !ch->peer_family)
		return 1;
	return q->peer_family == ch->peer_family && q->port == ch->peer_port &&
	       !memcmp(q->peer, ch->peer_addr, ch->peer_family == 4 ? 4 : 16);
}

static void on_message(struct dns *s, struct fr_pctx *ctx, const uint8_t *p, size_t n, uint64_t ts,
		       const struct fr_chunk *ch)
{
	struct msginfo m;
	int rc = parse_msg(p, n, &m);
	if (rc < 0) {
		ctx->anomaly(ctx, ts, "parse_error",
			     rc == -2 ? "dns: name compression loop (more than 64 pointers)" : "dns: malformed message");
		return;
	}
	if (!m.qr) {
		if (s->nq == PEND_MAX) {
			ctx->anomaly(ctx, ts, "bound_exceeded", "dns: more than 1024 queries waiting; oldest reported unanswered");
			emit(ctx, &s->q[0], NULL, 0, 0, "too many queries waiting");
			memmove(s->q, s->q + 1, (PEND_MAX - 1) * sizeof(s->q[0]));
			s->nq--;
		}
		if (s->nq == s->qcap) {
			uint32_t nc = s->qcap ? s->qcap * 2 : 4;
			struct pend *nq = realloc(s->q, nc * sizeof(*nq));
			if (!nq)
				return;
			s->q = nq;
			s->qcap = nc;
		}
		struct pend *q = &s->q[s->nq++];
		memset(q, 0, sizeof(*q));
		q->id = m.id;
		q->qtype = m.qtype;
		memcpy(q->qname, m.qname, sizeof(q->qname));
		q->ts = ts;
		q->bytes = n;
		if (ch && ch->peer_family && ch->peer_addr) {
			q->peer_family = ch->peer_family;
			memcpy(q->peer, ch->peer_addr, ch->peer_family == 4 ? 4 : 16);
			q->port = ch->peer_port;
		}
		return;
	}
	for (uint32_t i = 0; i < s->nq; i++) {
		struct pend *q = &s->q[i];
		if (q->id == m.id && (!ch || same_peer(q, ch))) {
			emit(ctx, q, &m, ts, n, NULL);
			memmove(s->q + i, s->q + i + 1, (s->nq - i - 1) * sizeof(s->q[0]));
			s->nq--;
			return;
		}
	}
	ctx->anomaly(ctx, ts, "unpaired_response", "dns: response without a query");
	emit(ctx, NULL, &m, ts, n, "response without query");
}

/* ---- TCP: 2-byte length prefix ------------------------------------------- */

static void feed_tcp(struct dns *s, struct fr_pctx *ctx, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct tcpdir *t = &s->t[dir];
	struct fr_cur c;
	cur_init(&c, p, n);
	while (cur_left(&c)) {
		if (t->lost)
			return; /* after a gap there is no way to find a length prefix */
		if (!t->buf && !(t->buf = malloc(65537)))
			return;
		if (t->have == 0)
			t->first_ts = ts;
		size_t want = t->have < 2 ? 2 - t->have : (size_t)t->need + 2 - t->have;
		size_t take = cur_left(&c) < want ? cur_left(&c) : want;
		const uint8_t *b = NULL;
		cur_bytes(&c, &b, take);
		memcpy(t->buf + t->have, b, take);
		t->have += (uint32_t)take;
		if (t->have == 2) {
			t->need = (uint32_t)t->buf[0] << 8 | t->buf[1];
			if (t->need < 12) {
				ctx->anomaly(ctx, ts, "parse_error", "dns: TCP message shorter than a header");
				t->lost = 1;
				return;
			}
		}
		if (t->have >= 2 && t->have == t->need + 2) {
			on_message(s, ctx, t->buf + 2, t->need, ts, NULL);
			t->have = 0;
		}
	}
}

/* ---- the descriptor ------------------------------------------------------ */

static int header_ok(const uint8_t *p, size_t n)
{
	struct msginfo m;
	if (n < 12)
		return -1;
	unsigned opcode = (p[2] >> 3) & 15;
	unsigned qd = (unsigned)p[4] << 8 | p[5];
	if (opcode > 5 || qd != 1)
		return -1;
	/* a compression loop is DNS all the same (a malformed message the
	 * parser reports), not a reason to leave the flow unclassified */
	if (parse_msg(p, n, &m) == -1)
		return -1;
	return m.qr;
}

static int dns_probe(const uint8_t *p, size_t n, int transport)
{
	if (transport == FR_UDP) {
		int qr = header_ok(p, n);
		return qr < 0 ? FR_PROBE_NO : qr ? FR_PROBE_S2C : FR_PROBE_C2S;
	}
	if (n < 2)
		return FR_PROBE_MAYBE;
	size_t len = (size_t)p[0] << 8 | p[1];
	if (len < 12)
		return FR_PROBE_NO;
	if (n - 2 < len)
		return n < 2 + 12 ? FR_PROBE_MAYBE : FR_PROBE_NO;
	int qr = header_ok(p + 2, len);
	return qr < 0 ? FR_PROBE_NO : qr ? FR_PROBE_S2C : FR_PROBE_C2S;
}

static void dns_init(void *state, int transport)
{
	struct dns *s = state;
	s->transport = transport;
}

static int dns_feed(void *state, struct fr_pctx *ctx, const struct fr_chunk *ch)
{
	struct dns *s = state;
	if (ch->dir < 0 || ch->dir > 1)
		return -1;
	if (s->transport == FR_UDP)
		on_message(s, ctx, ch->p, ch->len, ch->ts, ch);
	else
		feed_tcp(s, ctx, ch->dir, ch->p, ch->len, ch->ts);
	return 0;
}

static void dns_gap(void *state, struct fr_pctx *ctx, int dir, uint64_t len, uint64_t ts)
{
	struct dns *s = state;
	(void)len;
	if (dir < 0 || dir > 1 || s->transport == FR_UDP)
		return;
	if (!s->t[dir].lost)
		ctx->anomaly(ctx, ts, "parse_error", "dns: gap in a TCP stream; rest of the direction skipped");
	s->t[dir].lost = 1;
}

static void dns_finish(void *state, struct fr_pctx *ctx, int why, uint64_t ts)
{
	struct dns *s = state;
	(void)ts;
	const char *reason = why == FR_END_CLOSE ? "connection closed" :
			     why == FR_END_EVICTED ? "connection evicted" : "end of recording";
	for (uint32_t i = 0; i < s->nq; i++)
		emit(ctx, &s->q[i], NULL, 0, 0, reason);
	s->nq = 0;
	free(s->q);
	s->q = NULL;
	s->qcap = 0;
	for (int i = 0; i < 2; i++) {
		free(s->t[i].buf);
		s->t[i].buf = NULL;
	}
}

const struct fr_proto fr_proto_dns = {
	.name = "dns",
	.table = "dns",
	.schema = "CREATE TABLE dns (request_id INTEGER PRIMARY KEY, qname TEXT, qtype TEXT, "
		  "rcode TEXT, answers TEXT, answer_count INTEGER, txid INTEGER, transport TEXT)",
	.state_size = sizeof(struct dns),
	.ports = {53, 5353, 0, 0},
	.udp = 1,
	.probe = dns_probe,
	.init = dns_init,
	.feed = dns_feed,
	.gap = dns_gap,
	.finish = dns_finish,
};
