/* pcap_decode.c - link layer, IPv4/IPv6 and TCP/UDP headers of captured
 * frames, with bounded IP fragment reassembly.
 *
 * References: IEEE 802.3 / 802.1Q (Ethernet, VLAN tags); the tcpdump.org
 * link-type list (LINKTYPE_NULL, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL,
 * LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, LINKTYPE_IPV4/IPV6); RFC 791 (IPv4),
 * RFC 8200 (IPv6, extension headers, fragment header), RFC 9293 (TCP),
 * RFC 768 (UDP).
 *
 *  Ethernet      | dst 6 | src 6 | [0x8100/0x88a8/0x9100 tci 2]* | type 2 |
 *  Linux SLL     | pkttype 2 | hatype 2 | halen 2 | addr 8 | proto 2 |
 *  Linux SLL2    | proto 2 | rsv 2 | ifindex 4 | hatype 2 | pkttype 1 | halen 1 | addr 8 |
 *  BSD null/loop | family 4 (host order / network order) |
 *
 *  IPv4  |ver ihl|tos| total len |  id  |flags frag off| ttl |proto| csum | src | dst | opts
 *  IPv6  |ver tc flow 4| payload len 2 | next 1 | hop 1 | src 16 | dst 16 | ext headers...
 *  TCP   | sport | dport | seq 4 | ack 4 |doff rsv|flags| win | csum | urg | opts
 *  UDP   | sport | dport | len | csum |
 *
 * Every byte is read through the bounds-checked cursor of formats/bytes.h.
 */
#include "pcap_internal.h"
#include "../../formats/bytes.h"

#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100

#define MAX_DGRAM 65535u
#define NBLK ((MAX_DGRAM + 7) / 8)

/* ---- fragment reassembly ------------------------------------------------- */

struct frag {
	int used;
	uint8_t family, proto;
	uint8_t src[16], dst[16];
	uint32_t id;
	uint64_t first_ts;
	uint32_t end;      /* datagram length, known once the last fragment came */
	uint32_t nset;     /* 8-byte blocks filled */
	int have_last, bad;
	uint8_t *buf;      /* MAX_DGRAM bytes, allocated on first use */
	uint8_t map[(NBLK + 7) / 8];
};

struct fr_defrag {
	unsigned n;
	uint64_t timeout;
	struct frag *e;
};

struct fr_defrag *fr_defrag_new(unsigned max_dgrams, uint64_t timeout_ns)
{
	struct fr_defrag *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->n = max_dgrams ? max_dgrams : 1;
	d->timeout = timeout_ns;
	d->e = calloc(d->n, sizeof(*d->e));
	if (!d->e) {
		free(d);
		return NULL;
	}
	return d;
}

void fr_defrag_free(struct fr_defrag *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->n; i++)
		free(d->e[i].buf);
	free(d->e);
	free(d);
}

static struct frag *frag_find(struct fr_defrag *d, uint8_t fam, uint8_t proto, const uint8_t *src,
			      const uint8_t *dst, uint32_t id, uint64_t ts, struct fr_decode_stats *st)
{
	struct frag *freee = NULL, *oldest = NULL;
	size_t al = fam == 4 ? 4 : 16;
	for (unsigned i = 0; i < d->n; i++) {
		struct frag *f = &d->e[i];
		if (f->used && ts > f->first_ts && ts - f->first_ts > d->timeout) {
			f->used = 0; /* expired */
			st->frags_dropped++;
		}
		if (!f->used) {
			if (!freee)
				freee = f;
			continue;
		}
		if (f->family == fam && f->proto == proto && f->id == id && !memcmp(f->src, src, al) &&
		    !memcmp(f->dst, dst, al))
			return f;
		if (!oldest || f->first_ts < oldest->first_ts)
			oldest = f;
	}
	struct frag *f = freee;
	if (!f) {
		f = oldest;
		st->frags_dropped++;
	}
	if (!f->buf && !(f->buf = malloc(MAX_DGRAM)))
		return NULL;
	uint8_t *buf = f->buf;
	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->used = 1;
	f->family = fam;
	f->proto = proto;
	memcpy(f->src, src, al);
	memcpy(f->dst, dst, al);
	f->id = id;
	f->first_ts = ts;
	return f;
}

/* Adds fragment [off, off+len) of a datagram (more: not the last one).
 * Returns 1 with the whole datagram in *out, *outlen when complete (valid
 * until the next call), 0 while waiting, -1 if the datagram is dropped. */
static int frag_add(struct fr_defrag *d, uint8_t fam, uint8_t proto, const uint8_t *src,
		    const uint8_t *dst, uint32_t id, uint64_t ts, uint32_t off, const uint8_t *p,
		    uint32_t len, uint32_t wire_len, int more, struct fr_decode_stats *st,
		    const uint8_t **out, uint32_t *outlen)
{
	st->frags++;
	struct frag *f = frag_find(d, fam, proto, src, dst, id, ts, st);
	if (!f)
		return -1;
	if (f->bad)
		return -1;
	/* a fragment cut by the snap length, too long, or a middle fragment not
	 * a multiple of 8 bytes, spoils the datagram */
	if (len < wire_len || (uint64_t)off + len > MAX_DGRAM || (more && (len % 8)) ||
	    (!more && f->have_last && off + len != f->end)) {
		f->bad = 1;
		f->used = 0;
		st->frags_dropped++;
		return -1;
	}
	if (!more) {
		f->have_last = 1;
		f->end = off + len;
	}
	for (uint32_t b = off / 8; b * 8 < off + len; b++) {
		if (f->map[b / 8] & (1u << (b % 8)))
			continue; /* first copy wins */
		uint32_t s = b * 8, e = s + 8;
		if (e > off + len)
			e = off + len;
		memcpy(f->buf + s, p + (s - off), e - s);
		f->map[b / 8] |= (uint8_t)(1u << (b % 8));
		f->nset++;
	}
	if (f->have_last && f->nset >= (f->end + 7) / 8) {
		for (uint32_t b = 0; b < (f->end + 7) / 8; b++)
			if (!(f->map[b / 8] & (1u << (b % 8))))
				return 0;
		f->used = 0;
		st->frags_done++;
		*out = f->buf;
		*outlen = f->end;
		return 1;
	}
	return 0;
}

/* ---- transport ------------------------------------------------------------- */

/* Parses a TCP or UDP header at p: cap bytes captured of wire bytes. */
static int l4(uint8_t proto, const uint8_t *p, uint32_t cap, uint32_t wire,
	      struct fr_decode_stats *st, struct fr_pkt *o)
{
	struct fr_cur c;
	cur_init(&c, p, cap);
	o->proto = proto;
	if (proto == 6) {
		o->sport = cur_be16(&c);
		o->dport = cur_be16(&c);
		o->seq = cur_be32(&c);
		o->ack = cur_be32(&c);
		uint8_t doff = cur_u8(&c) >> 4;
		o->flags = cur_u8(&c);
		if (c.bad) {
			st->truncated_hdr++;
			return -1;
		}
		uint32_t hl = doff * 4u;
		if (hl < 20 || hl > wire) {
			st->malformed++;
			return -1;
		}
		if (cap < hl) {
			st->truncated_hdr++;
			return -1;
		}
		o->payload = p + hl;
		o->caplen = cap - hl;
		o->len = wire - hl;
		st->tcp++;
		return 1;
	}
	if (proto == 17) {
		o->sport = cur_be16(&c);
		o->dport = cur_be16(&c);
		uint16_t ulen = cur_be16(&c);
		cur_skip(&c, 2);
		if (c.bad) {
			st->truncated_hdr++;
			return -1;
		}
		if (wire < 8) {
			st->malformed++;
			return -1;
		}
		uint32_t len = wire - 8;
		if (ulen >= 8 && ulen - 8u < len)
			len = ulen - 8u; /* trailing bytes beyond the UDP length */
		else if (ulen != 0 && ulen < 8) {
			st->malformed++;
			return -1;
		}
		o->flags = 0;
		o->seq = o->ack = 0;
		o->payload = p + 8;
		o->caplen = cap - 8 < len ? cap - 8 : len;
		o->len = len;
		st->udp++;
		return 1;
	}
	st->other_l4++;
	return 0;
}

/* ---- IP ---------------------------------------------------------------------- */

static int ipv4(const uint8_t *p, uint32_t cap, uint64_t ts, struct fr_defrag *df,
		struct fr_decode_stats *st, struct fr_pkt *o)
{
	struct fr_cur c;
	cur_init(&c, p, cap);
	uint8_t vihl = cur_u8(&c);
	cur_skip(&c, 1);
	uint16_t tot = cur_be16(&c);
	uint16_t id = cur_be16(&c);
	uint16_t frag = cur_be16(&c);
	cur_skip(&c, 1);
	uint8_t proto = cur_u8(&c);
	cur_skip(&c, 2);
	const uint8_t *src, *dst;
	cur_bytes(&c, &src, 4);
	cur_bytes(&c, &dst, 4);
	if (c.bad) {
		st->truncated_hdr++;
		return -1;
	}
	uint32_t hl = (vihl & 15u) * 4u;
	if ((vihl >> 4) != 4 || hl < 20) {
		st->malformed++;
		return -1;
	}
	if (cap < hl) {
		st->truncated_hdr++;
		return -1;
	}
	uint32_t wire;
	if (tot == 0)
		wire = cap; /* TSO on the capturing host: length not filled in */
	else if (tot < hl) {
		st->malformed++;
		return -1;
	} else
		wire = tot;
	uint32_t avail = cap < wire ? cap : wire; /* drop Ethernet padding */
	st->ip++;
	o->family = 4;
	memset(o->src, 0, 16);
	memset(o->dst, 0, 16);
	memcpy(o->src, src, 4);
	memcpy(o->dst, dst, 4);
	uint32_t off = (frag & 0x1fffu) * 8u;
	int more = (frag & 0x2000u) != 0;
	if (off || more) {
		const uint8_t *whole;
		uint32_t wl;
		int r = frag_add(df, 4, proto, src, dst, id, ts, off, p + hl, avail - hl, wire - hl,
				 more, st, &whole, &wl);
		if (r <= 0)
			return 0;
		return l4(proto, whole, wl, wl, st, o);
	}
	return l4(proto, p + hl, avail - hl, wire - hl, st, o);
}

static int ipv6(const uint8_t *p, uint32_t cap, uint64_t ts, struct fr_defrag *df,
		struct fr_decode_stats *st, struct fr_pkt *o)
{
	struct fr_cur c;
	cur_init(&c, p, cap);
	uint8_t ver = cur_u8(&c) >> 4;
	cur_skip(&c, 3);
	uint16_t plen = cur_be16(&c);
	uint8_t nh = cur_u8(&c);
	cur_skip(&c, 1);
	const uint8_t *src, *dst;
	cur_bytes(&c, &src, 16);
	cur_bytes(&c, &dst, 16);
	if (c.bad) {
		st->truncated_hdr++;
		return -1;
	}
	if (ver != 6) {
		st->malformed++;
		return -1;
	}
	st->ip++;
	uint32_t wire = plen ? plen : cap - 40; /* 0: jumbogram or TSO */
	uint32_t avail = cap - 40 < wire ? cap - 40 : wire;
	o->family = 6;
	memcpy(o->src, src, 16);
	memcpy(o->dst, dst, 16);
	/* IPv4-mapped addresses are stored as IPv4 (SEGMENT.md) */
	const uint8_t *q = p + 40;
	uint32_t done = 0; /* ext header bytes consumed */
	for (int hops = 0; hops < 16; hops++) {
		switch (nh) {
		case 0: case 43: case 60: case 135: case 139: case 140: { /* hop, routing, dest opts, mobility, HIP, shim6 */
			struct fr_cur e;
			cur_init(&e, q + done, avail - done);
			nh = cur_u8(&e);
			uint32_t l = (cur_u8(&e) + 1u) * 8u;
			if (e.bad || l > avail - done) {
				st->truncated_hdr++;
				return -1;
			}
			done += l;
			continue;
		}
		case 51: { /* AH: length in 4-byte units, minus 2 */
			struct fr_cur e;
			cur_init(&e, q + done, avail - done);
			nh = cur_u8(&e);
			uint32_t l = (cur_u8(&e) + 2u) * 4u;
			if (e.bad || l > avail - done) {
				st->truncated_hdr++;
				return -1;
			}
			done += l;
			continue;
		}
		case 44: { /* fragment */
			struct fr_cur e;
			cur_init(&e, q + done, avail - done);
			uint8_t fnh = cur_u8(&e);
			cur_skip(&e, 1);
			uint16_t fo = cur_be16(&e);
			uint32_t id = cur_be32(&e);
			if (e.bad) {
				st->truncated_hdr++;
				return -1;
			}
			done += 8;
			if (wire < done) {
				st->malformed++;
				return -1;
			}
			uint32_t off = (uint32_t)(fo >> 3) * 8u;
			int more = fo & 1;
			if (!off && !more) { /* atomic fragment */
				nh = fnh;
				continue;
			}
			const uint8_t *whole;
			uint32_t wl;
			int r = frag_add(df, 6, fnh, src, dst, id, ts, off, q + done, avail - done,
					 wire - done, more, st, &whole, &wl);
			if (r <= 0)
				return 0;
			/* the fragmentable part may hold more extension headers:
			 * only the transport header is handled there */
			return l4(fnh, whole, wl, wl, st, o);
		}
		default:
			if (wire < done) {
				st->malformed++;
				return -1;
			}
			return l4(nh, q + done, avail - done, wire - done, st, o);
		}
	}
	st->malformed++;
	return -1;
}

static int l3(uint16_t type, const uint8_t *p, uint32_t cap, uint64_t ts, struct fr_defrag *df,
	      struct fr_decode_stats *st, struct fr_pkt *o)
{
	if (type == ETH_IPV4)
		return ipv4(p, cap, ts, df, st, o);
	if (type == ETH_IPV6)
		return ipv6(p, cap, ts, df, st, o);
	st->other_l3++;
	return 0;
}

/* Skips VLAN tags after an ethertype; returns the inner type. */
static uint16_t skip_vlans(struct fr_cur *c, uint16_t type)
{
	for (int i = 0; i < 8 && (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD); i++) {
		cur_skip(c, 2);
		type = cur_be16(c);
	}
	return type;
}

static int ip_by_version(const uint8_t *p, uint32_t cap, uint64_t ts, struct fr_defrag *df,
			 struct fr_decode_stats *st, struct fr_pkt *o)
{
	if (cap < 1) {
		st->truncated_hdr++;
		return -1;
	}
	switch (p[0] >> 4) {
	case 4: return ipv4(p, cap, ts, df, st, o);
	case 6: return ipv6(p, cap, ts, df, st, o);
	}
	st->other_l3++;
	return 0;
}

int fr_decode_dlt_ok(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB: case DLT_LINUX_SLL: case DLT_LINUX_SLL2: case DLT_RAW:
	case DLT_IPV4: case DLT_IPV6: case DLT_NULL: case DLT_LOOP:
#if DLT_RAW != 12
	case 12:
#endif
	case 14:
		return 1;
	}
	return 0;
}

int fr_decode(int dlt, const uint8_t *data, uint32_t caplen, uint64_t ts, struct fr_defrag *df,
	      struct fr_decode_stats *st, struct fr_pkt *out)
{
	struct fr_cur c;
	cur_init(&c, data, caplen);
	uint16_t type = 0; /* set on every path that reaches l3() */
	st->frames++;
	out->ts = ts;
	switch (dlt) {
	case DLT_EN10MB:
		cur_skip(&c, 12);
		type = skip_vlans(&c, cur_be16(&c));
		break;
	case DLT_LINUX_SLL:
		cur_skip(&c, 14);
		type = skip_vlans(&c, cur_be16(&c));
		break;
	case DLT_LINUX_SLL2:
		type = cur_be16(&c);
		cur_skip(&c, 18);
		type = skip_vlans(&c, type);
		break;
	case DLT_NULL:
	case DLT_LOOP: {
		const uint8_t *f;
		if (cur_bytes(&c, &f, 4))
			break;
		/* AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30
		 * (BSDs, macOS).  DLT_NULL is in the capturing host's byte
		 * order, so accept both. */
		uint32_t le = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24;
		uint32_t be = (uint32_t)f[3] | (uint32_t)f[2] << 8 | (uint32_t)f[1] << 16 | (uint32_t)f[0] << 24;
		uint32_t fam = dlt == DLT_LOOP ? be : (le < 256 ? le : be);
		if (fam == 2)
			type = ETH_IPV4;
		else if (fam == 10 || fam == 24 || fam == 28 || fam == 30)
			type = ETH_IPV6;
		else
			type = 0;
		break;
	}
	case DLT_IPV4:
		return ipv4(data, caplen, ts, df, st, out);
	case DLT_IPV6:
		return ipv6(data, caplen, ts, df, st, out);
	default:
		if (dlt == DLT_RAW || dlt == 12 || dlt == 14)
			return ip_by_version(data, caplen, ts, df, st, out);
		st->other_link++;
		return 0;
	}
	if (c.bad) {
		st->truncated_hdr++;
		return -1;
	}
	return l3(type, c.p, (uint32_t)cur_left(&c), ts, df, st, out);
}
