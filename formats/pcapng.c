/* pcapng.c - pcapng writer and packet synthesiser (see pcapng.h).
 *
 * Reference: pcapng (draft-ietf-opsawg-pcapng), RFC 791 (IPv4 header and
 * checksum), RFC 8200 (IPv6), RFC 9293 (TCP), RFC 768 (UDP), RFC 1071
 * (the Internet checksum).
 *
 *  block  | type 4 | total length 4 | body ... padded to 4 | total length 4 |
 *  SHB    | 0x0a0d0d0a | len | 0x1a2b3c4d | major 1 | minor 0 | section len -1 (8) | options |
 *  IDB    | 1 | len | linktype 2 | reserved 2 | snaplen 4 | options (if_name 2, if_tsresol 9) |
 *  EPB    | 6 | len | if id 4 | ts high 4 | ts low 4 | cap len 4 | orig len 4 | data | options (comment 1) |
 *  option | code 2 | length 2 | value padded to 4 |   ... opt_endofopt (0, 0)
 *
 * Blocks are written in the host's byte order, as pcapng allows (the SHB's
 * byte-order magic tells readers).
 */
#include "pcapng.h"
#include "bytes.h"

#include <stdlib.h>
#include <string.h>

struct fr_pcapng {
	FILE *f;
	int failed;
	uint32_t nif;
	uint8_t *buf;
	size_t cap;
};

static uint8_t *put_h16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
	return p + 2;
}
static uint8_t *put_h32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
	return p + 4;
}

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

static uint8_t *put_opt(uint8_t *p, uint16_t code, const void *v, size_t len)
{
	p = put_h16(p, code);
	p = put_h16(p, (uint16_t)len);
	if (len)
		memcpy(p, v, len);
	memset(p + len, 0, pad4(len) - len);
	return p + pad4(len);
}

static int ensure(struct fr_pcapng *w, size_t n)
{
	if (n <= w->cap)
		return 0;
	uint8_t *b = realloc(w->buf, n);
	if (!b)
		return -1;
	w->buf = b;
	w->cap = n;
	return 0;
}

/* Finishes the block started at w->buf (type written) ending at end. */
static int block_out(struct fr_pcapng *w, uint8_t *end)
{
	uint32_t total = (uint32_t)(end - w->buf) + 4;
	put_h32(w->buf + 4, total);
	put_h32(end, total);
	if (fwrite(w->buf, 1, total, w->f) != total)
		w->failed = 1;
	return w->failed ? -1 : 0;
}

struct fr_pcapng *fr_pcapng_new(FILE *f, const char *appl)
{
	struct fr_pcapng *w = calloc(1, sizeof(*w));
	if (!w || ensure(w, 1024)) {
		free(w);
		return NULL;
	}
	w->f = f;
	size_t al = appl ? strlen(appl) : 0;
	if (al > 512)
		al = 512;
	uint8_t *p = put_h32(w->buf, 0x0a0d0d0a);
	p += 4;
	p = put_h32(p, 0x1a2b3c4d);
	p = put_h16(p, 1);
	p = put_h16(p, 0);
	p = put_h32(p, 0xffffffffu); /* section length unknown */
	p = put_h32(p, 0xffffffffu);
	if (al)
		p = put_opt(p, 4, appl, al); /* shb_userappl */
	p = put_opt(p, 0, NULL, 0);
	block_out(w, p);
	return w;
}

int fr_pcapng_add_if(struct fr_pcapng *w, const char *name, const char *descr)
{
	size_t nl = name ? strlen(name) : 0, dl = descr ? strlen(descr) : 0;
	if (nl > 256)
		nl = 256;
	if (dl > 256)
		dl = 256;
	uint8_t *p = put_h32(w->buf, 1);
	p += 4;
	p = put_h16(p, 1); /* LINKTYPE_ETHERNET */
	p = put_h16(p, 0);
	p = put_h32(p, 0); /* no snap length limit */
	if (nl)
		p = put_opt(p, 2, name, nl); /* if_name */
	if (dl)
		p = put_opt(p, 3, descr, dl); /* if_description */
	uint8_t res = 9;                    /* if_tsresol: 10^-9 s */
	p = put_opt(p, 9, &res, 1);
	p = put_opt(p, 0, NULL, 0);
	block_out(w, p);
	return (int)w->nif++;
}

int fr_pcapng_packet(struct fr_pcapng *w, uint32_t ifid, uint64_t ts_ns, const uint8_t *frame,
		     uint32_t len, const char *comment)
{
	size_t cl = comment ? strlen(comment) : 0;
	if (cl > 4096)
		cl = 4096;
	if (ensure(w, 64 + pad4(len) + pad4(cl) + 16)) {
		w->failed = 1;
		return -1;
	}
	uint8_t *p = put_h32(w->buf, 6);
	p += 4;
	p = put_h32(p, ifid);
	p = put_h32(p, (uint32_t)(ts_ns >> 32));
	p = put_h32(p, (uint32_t)ts_ns);
	p = put_h32(p, len);
	p = put_h32(p, len);
	if (len)
		memcpy(p, frame, len);
	memset(p + len, 0, pad4(len) - len);
	p += pad4(len);
	if (cl) {
		p = put_opt(p, 1, comment, cl); /* opt_comment */
		p = put_opt(p, 0, NULL, 0);
	}
	return block_out(w, p);
}

int fr_pcapng_free(struct fr_pcapng *w)
{
	if (!w)
		return 0;
	int rc = w->failed || fflush(w->f) ? -1 : 0;
	free(w->buf);
	free(w);
	return rc;
}

/* ---- synthesis --------------------------------------------------------------- */

static uint8_t *put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}
static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
	p = put_be16(p, (uint16_t)(v >> 16));
	return put_be16(p, (uint16_t)v);
}

static uint32_t sum16(uint32_t acc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

size_t fr_synth_frame(uint8_t *buf, size_t cap, const struct fr_synth *s)
{
	int v6 = s->src->family == 6;
	if ((s->src->family != 4 && !v6) || s->dst->family != s->src->family || s->len > FR_SYNTH_MAX_PAYLOAD)
		return 0;
	size_t iph = v6 ? 40 : 20, l4h = s->proto == 6 ? 20 : 8;
	size_t total = 14 + iph + l4h + s->len;
	if (total > cap || (s->proto != 6 && s->proto != 17))
		return 0;
	size_t al = v6 ? 16 : 4;
	/* Ethernet: locally administered MACs made from the addresses */
	uint8_t *p = buf;
	const uint8_t *da = s->dst->addr, *sa = s->src->addr;
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
	memcpy(mac + 2, da + al - 4, 4);
	p = put_mem(p, mac, 6);
	memcpy(mac + 2, sa + al - 4, 4);
	p = put_mem(p, mac, 6);
	p = put_be16(p, v6 ? 0x86dd : 0x0800);
	uint8_t *ip = p;
	uint16_t l4len = (uint16_t)(l4h + s->len);
	if (v6) {
		p = put_be32(p, 0x60000000u);
		p = put_be16(p, l4len);
		*p++ = s->proto;
		*p++ = 64;
		p = put_mem(p, sa, 16);
		p = put_mem(p, da, 16);
	} else {
		*p++ = 0x45;
		*p++ = 0;
		p = put_be16(p, (uint16_t)(20 + l4len));
		p = put_be16(p, 0);      /* id */
		p = put_be16(p, 0x4000); /* DF */
		*p++ = 64;
		*p++ = s->proto;
		p = put_be16(p, 0);
		p = put_mem(p, sa, 4);
		p = put_mem(p, da, 4);
		put_be16(ip + 10, fold(sum16(0, ip, 20)));
	}
	uint8_t *l4 = p;
	if (s->proto == 6) {
		p = put_be16(p, s->src->port);
		p = put_be16(p, s->dst->port);
		p = put_be32(p, s->seq);
		p = put_be32(p, s->ack);
		*p++ = 5 << 4;
		*p++ = s->flags;
		p = put_be16(p, 65535); /* window */
		p = put_be16(p, 0);     /* checksum, below */
		p = put_be16(p, 0);
	} else {
		p = put_be16(p, s->src->port);
		p = put_be16(p, s->dst->port);
		p = put_be16(p, l4len);
		p = put_be16(p, 0);
	}
	p = put_mem(p, s->payload, s->len);
	/* pseudo header + transport header + payload */
	uint32_t acc = sum16(0, sa, al);
	acc = sum16(acc, da, al);
	acc += s->proto;
	acc += l4len;
	acc = sum16(acc, l4, l4len);
	uint16_t ck = fold(acc);
	if (s->proto == 17 && ck == 0)
		ck = 0xffff;
	put_be16(l4 + (s->proto == 6 ? 16 : 6), ck);
	return (size_t)(p - buf);
}
