/* test_pcap_decode.c - the frame decoder of import-pcap: link types, VLAN
 * tags, IPv6 extension headers, IPv4 and IPv6 fragment reassembly (out of
 * order, overlapping, bounded), and every truncation of a frame. */
#define _GNU_SOURCE
#include "harness.h"
#include "../../analyze/pcap/pcap_internal.h"

#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}
static uint8_t *be32(uint8_t *p, uint32_t v)
{
	be16(p, (uint16_t)(v >> 16));
	return be16(p + 2, (uint16_t)v) ;
}

/* Ethernet (with ntags VLAN tags) + IPv4 + TCP + payload. */
static size_t eth_v4_tcp(uint8_t *b, int ntags, const char *payload)
{
	size_t pl = strlen(payload);
	uint8_t *p = b;
	memset(p, 0xaa, 12);
	p += 12;
	for (int i = 0; i < ntags; i++) {
		p = be16(p, i == 0 && ntags > 1 ? 0x88a8 : 0x8100);
		p = be16(p, (uint16_t)(100 + i));
	}
	p = be16(p, 0x0800);
	uint8_t *ip = p;
	*p++ = 0x45;
	*p++ = 0;
	p = be16(p, (uint16_t)(20 + 20 + pl));
	p = be16(p, 1);
	p = be16(p, 0x4000);
	*p++ = 64;
	*p++ = 6;
	p = be16(p, 0);
	memcpy(p, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	p += 8;
	(void)ip;
	p = be16(p, 40000);
	p = be16(p, 80);
	p = be32(p, 1000);
	p = be32(p, 2000);
	*p++ = 5 << 4;
	*p++ = FR_TH_ACK | FR_TH_PSH;
	p = be16(p, 65535);
	p = be32(p, 0);
	memcpy(p, payload, pl);
	return (size_t)(p - b) + pl;
}

static struct fr_decode_stats st;

static int decode(int dlt, const uint8_t *b, size_t n, struct fr_defrag *df, struct fr_pkt *o)
{
	/* an exact-size copy: ASan catches any read past the frame */
	uint8_t *c = malloc(n ? n : 1);
	memcpy(c, b, n);
	int r = fr_decode(dlt, c, (uint32_t)n, 1, df, &st, o);
	static uint8_t keep[70000];
	if (r == 1 && o->caplen) { /* payload must be inside the frame (or the defrag buffer) */
		memcpy(keep, o->payload, o->caplen);
		o->payload = keep;
	}
	free(c);
	return r;
}

TEST(pcap_decode_ethernet_vlan_qinq)
{
	uint8_t b[200];
	struct fr_defrag *df = fr_defrag_new(4, 1000);
	for (int tags = 0; tags <= 2; tags++) {
		size_t n = eth_v4_tcp(b, tags, "hello");
		struct fr_pkt o;
		CHECK_EQ(decode(DLT_EN10MB, b, n, df, &o), 1);
		CHECK_EQ(o.family, 4);
		CHECK_EQ(o.proto, 6);
		CHECK_EQ(o.sport, 40000);
		CHECK_EQ(o.dport, 80);
		CHECK_EQ(o.seq, 1000);
		CHECK_EQ(o.ack, 2000);
		CHECK_EQ(o.flags, (FR_TH_ACK | FR_TH_PSH));
		CHECK_EQ(o.caplen, 5);
		CHECK_EQ(o.len, 5);
		CHECK_MEMEQ(o.payload, "hello", 5);
	}
	fr_defrag_free(df);
}

TEST(pcap_decode_every_truncation_is_safe)
{
	uint8_t b[200];
	size_t n = eth_v4_tcp(b, 1, "0123456789");
	struct fr_defrag *df = fr_defrag_new(4, 1000);
	for (size_t k = 0; k < n; k++) {
		struct fr_pkt o;
		int r = decode(DLT_EN10MB, b, k, df, &o);
		if (r == 1) { /* headers complete: a shorter payload, same wire length */
			CHECK_GE(k, n - 10);
			CHECK_EQ(o.len, 10);
			CHECK_EQ(o.caplen, k - (n - 10));
		} else
			CHECK_EQ(r, -1);
	}
	fr_defrag_free(df);
}

TEST(pcap_decode_bad_headers)
{
	uint8_t b[200];
	size_t n = eth_v4_tcp(b, 0, "x");
	struct fr_defrag *df = fr_defrag_new(4, 1000);
	struct fr_pkt o;
	b[14 + 20 + 12] = 4 << 4; /* TCP data offset 16 bytes */
	CHECK_EQ(decode(DLT_EN10MB, b, n, df, &o), -1);
	n = eth_v4_tcp(b, 0, "x");
	b[14] = 0x44; /* IHL 16 bytes */
	CHECK_EQ(decode(DLT_EN10MB, b, n, df, &o), -1);
	n = eth_v4_tcp(b, 0, "x");
	be16(b + 16, 0); /* total length 0 (TSO): the captured length counts */
	CHECK_EQ(decode(DLT_EN10MB, b, n, df, &o), 1);
	CHECK_EQ(o.len, 1);
	n = eth_v4_tcp(b, 0, "x");
	be16(b + 12, 0x0806); /* ARP */
	CHECK_EQ(decode(DLT_EN10MB, b, n, df, &o), 0);
	CHECK_EQ(decode(12345, b, n, df, &o), 0);
	fr_defrag_free(df);
}

TEST(pcap_decode_link_types)
{
	uint8_t e[200], b[220];
	size_t n = eth_v4_tcp(e, 0, "abc");
	size_t ipn = n - 14;
	struct fr_defrag *df = fr_defrag_new(4, 1000);
	struct fr_pkt o;
	/* raw */
	CHECK_EQ(decode(DLT_RAW, e + 14, ipn, df, &o), 1);
	CHECK_EQ(o.caplen, 3);
	CHECK_EQ(decode(DLT_IPV4, e + 14, ipn, df, &o), 1);
	CHECK_EQ(o.caplen, 3);
	/* null: host order family 2, and 2 in big-endian */
	memcpy(b, "\x02\x00\x00\x00", 4);
	memcpy(b + 4, e + 14, ipn);
	CHECK_EQ(decode(DLT_NULL, b, ipn + 4, df, &o), 1);
	memcpy(b, "\x00\x00\x00\x02", 4);
	CHECK_EQ(decode(DLT_NULL, b, ipn + 4, df, &o), 1);
	CHECK_EQ(decode(DLT_LOOP, b, ipn + 4, df, &o), 1);
	/* SLL: protocol at offset 14 */
	memset(b, 0, 16);
	be16(b + 14, 0x0800);
	memcpy(b + 16, e + 14, ipn);
	CHECK_EQ(decode(DLT_LINUX_SLL, b, ipn + 16, df, &o), 1);
	CHECK_EQ(o.caplen, 3);
	/* SLL2: protocol first, 20 bytes */
	memset(b, 0, 20);
	be16(b, 0x0800);
	memcpy(b + 20, e + 14, ipn);
	CHECK_EQ(decode(DLT_LINUX_SLL2, b, ipn + 20, df, &o), 1);
	CHECK_EQ(o.caplen, 3);
	fr_defrag_free(df);
}

/* IPv6 + hop-by-hop options + TCP, and IPv6 + fragment header + UDP. */
TEST(pcap_decode_ipv6_ext_headers_and_fragments)
{
	uint8_t b[300];
	struct fr_defrag *df = fr_defrag_new(4, 1000);
	struct fr_pkt o;
	uint8_t *p = b;
	p = be32(p, 0x60000000);
	p = be16(p, 8 + 20 + 2);
	*p++ = 0; /* hop-by-hop */
	*p++ = 64;
	memset(p, 0, 32);
	p[15] = 1;
	p[31] = 2;
	p += 32;
	*p++ = 6; /* next: TCP */
	*p++ = 0; /* 8 bytes */
	memset(p, 0, 6);
	p += 6;
	p = be16(p, 5555);
	p = be16(p, 6379);
	p = be32(p, 1);
	p = be32(p, 0);
	*p++ = 5 << 4;
	*p++ = FR_TH_ACK;
	p = be16(p, 1000);
	p = be32(p, 0);
	memcpy(p, "OK", 2);
	p += 2;
	CHECK_EQ(decode(DLT_RAW, b, (size_t)(p - b), df, &o), 1);
	CHECK_EQ(o.family, 6);
	CHECK_EQ(o.dport, 6379);
	CHECK_EQ(o.caplen, 2);
	CHECK_EQ(o.src[15], 1);
	/* a UDP datagram of 8 + 24 bytes in two fragments, the last first */
	uint8_t udp[32];
	be16(udp, 53);
	be16(udp + 2, 40000);
	be16(udp + 4, 32);
	be16(udp + 6, 0);
	memcpy(udp + 8, "abcdefghijklmnopqrstuvwx", 24);
	for (int part = 1; part >= 0; part--) {
		p = b;
		uint32_t off = part ? 16 : 0, len = part ? 16 : 16;
		p = be32(p, 0x60000000);
		p = be16(p, (uint16_t)(8 + len));
		*p++ = 44;
		*p++ = 64;
		memset(p, 0, 32);
		p += 32;
		*p++ = 17;
		*p++ = 0;
		p = be16(p, (uint16_t)(off | (part ? 0 : 1)));
		p = be32(p, 0xabcdef);
		memcpy(p, udp + off, len);
		p += len;
		int r = decode(DLT_RAW, b, (size_t)(p - b), df, &o);
		CHECK_EQ(r, (part ? 0 : 1));
	}
	CHECK_EQ(o.proto, 17);
	CHECK_EQ(o.sport, 53);
	CHECK_EQ(o.caplen, 24);
	CHECK_MEMEQ(o.payload, udp + 8, 24);
	fr_defrag_free(df);
}

/* An IPv4 UDP datagram in 4 fragments sent out of order with an
 * overlapping copy that disagrees: the first copy wins. */
TEST(pcap_decode_ipv4_fragments_out_of_order_overlap)
{
	uint8_t body[8 + 40];
	be16(body, 1234);
	be16(body + 2, 53);
	be16(body + 4, sizeof(body));
	be16(body + 6, 0);
	for (int i = 0; i < 40; i++)
		body[8 + i] = (uint8_t)('A' + i % 26);
	struct { uint32_t off, len; int more; int junk; } parts[] = {
		{32, 16, 0, 0}, {8, 16, 1, 0}, {16, 16, 1, 1}, {0, 8, 1, 0}, {16, 8, 1, 0}};
	struct fr_defrag *df = fr_defrag_new(4, 1000);
	struct fr_pkt o;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		uint8_t b[100], *p = b;
		*p++ = 0x45;
		*p++ = 0;
		p = be16(p, (uint16_t)(20 + parts[i].len));
		p = be16(p, 77);
		p = be16(p, (uint16_t)((parts[i].more ? 0x2000 : 0) | parts[i].off / 8));
		*p++ = 64;
		*p++ = 17;
		p = be16(p, 0);
		memcpy(p, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		p += 8;
		memcpy(p, body + parts[i].off, parts[i].len);
		if (parts[i].junk) /* bytes 16..23 differ from the first copy */
			memset(p, '#', 8);
		p += parts[i].len;
		int r = decode(DLT_RAW, b, (size_t)(p - b), df, &o);
		CHECKF(r == (i == 3 ? 1 : 0), "part %zu: %d", i, r);
		if (r == 1) {
			CHECK_EQ(o.caplen, 40);
			CHECK_MEMEQ(o.payload, body + 8, 40);
		}
	}
	fr_defrag_free(df);
}

TEST(pcap_decode_fragment_table_is_bounded)
{
	struct fr_defrag *df = fr_defrag_new(4, 1000000000);
	memset(&st, 0, sizeof(st));
	for (int id = 0; id < 100; id++) { /* first halves only */
		uint8_t b[100], *p = b;
		*p++ = 0x45;
		*p++ = 0;
		p = be16(p, 20 + 16);
		p = be16(p, (uint16_t)id);
		p = be16(p, 0x2000);
		*p++ = 64;
		*p++ = 17;
		p = be16(p, 0);
		memcpy(p, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
		p += 8;
		memset(p, 0, 16);
		p += 16;
		struct fr_pkt o;
		CHECK_EQ(decode(DLT_RAW, b, (size_t)(p - b), df, &o), 0);
	}
	CHECK_EQ(st.frags, 100);
	CHECK_EQ(st.frags_dropped, 96);
	fr_defrag_free(df);
}
