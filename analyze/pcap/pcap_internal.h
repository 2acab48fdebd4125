/* pcap_internal.h - the layers of `flightrec import-pcap`, shared by its
 * files and the unit tests; not a public interface.
 *
 *   pcap_decode.c  link layer -> IPv4/IPv6 (+ fragment reassembly) -> TCP/UDP
 *                  header fields and payload span (struct fr_pkt)
 *   pcap_flow.c    flow table, TCP reassembly per direction, UDP datagrams
 *                  -> segment records handed to an emit callback
 *   pcap_import.c  files (pcap, pcapng, gzip), time merge, segment writer
 *                  (POD/SERVICE records from --pods/--services through
 *                  formats/kube.h), the command
 */
#ifndef FLIGHTREC_PCAP_INTERNAL_H
#define FLIGHTREC_PCAP_INTERNAL_H

#include "../../formats/segment.h"

#include <stddef.h>
#include <stdint.h>

/* ---- decode -------------------------------------------------------------- */

#define FR_TH_FIN 0x01
#define FR_TH_SYN 0x02
#define FR_TH_RST 0x04
#define FR_TH_PSH 0x08
#define FR_TH_ACK 0x10

/* One TCP segment or UDP datagram.  payload points into the packet (or into
 * the fragment reassembly buffer) and is valid until the next decode call. */
struct fr_pkt {
	uint64_t ts;     /* capture time, ns since the epoch */
	uint8_t family;  /* 4 or 6 */
	uint8_t proto;   /* 6 or 17 */
	uint8_t flags;   /* TCP flags (FR_TH_*) */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	const uint8_t *payload;
	uint32_t caplen; /* payload bytes present */
	uint32_t len;    /* payload bytes on the wire (IP/UDP lengths), >= caplen */
};

struct fr_decode_stats {
	uint64_t frames, ip, tcp, udp, other_link, other_l3, other_l4;
	uint64_t malformed, truncated_hdr, frags, frags_done, frags_dropped;
};

struct fr_defrag;
/* Fragment table: at most max_dgrams datagrams under reassembly (each up to
 * 64 KiB); entries older than timeout_ns are dropped.  NULL on ENOMEM. */
struct fr_defrag *fr_defrag_new(unsigned max_dgrams, uint64_t timeout_ns);
void fr_defrag_free(struct fr_defrag *d);

/* Decodes one frame of link type dlt (a DLT_* value).  Returns 1 with *out
 * filled (a TCP or UDP packet), 0 when the frame carries nothing to import
 * (other protocols, a fragment still waiting for the rest), -1 malformed
 * (counted in st).  Never reads outside [data, data+caplen). */
int fr_decode(int dlt, const uint8_t *data, uint32_t caplen, uint64_t ts,
	      struct fr_defrag *df, struct fr_decode_stats *st, struct fr_pkt *out);
/* 1 when fr_decode knows link type dlt. */
int fr_decode_dlt_ok(int dlt);

/* ---- flows and TCP reassembly ------------------------------------------- */

struct fr_flow_limits {
	uint32_t max_flows;      /* connections tracked at once (LRU eviction) */
	uint64_t ooo_dir_bytes;  /* out-of-order bytes buffered per direction */
	uint32_t ooo_dir_segs;   /* out-of-order segments per direction */
	uint64_t ooo_total;      /* out-of-order bytes buffered in all */
	uint64_t hole_ns;        /* a hole older than this is given up as a gap */
	uint64_t tcp_idle_ns;    /* evict TCP flows idle this long */
	uint64_t udp_idle_ns;    /* evict UDP flows idle this long */
};
void fr_flow_limits_default(struct fr_flow_limits *l);

struct fr_flow_stats {
	uint64_t tcp_conns, udp_conns, handshakes, midstream;
	uint64_t data_records, data_bytes;
	uint64_t gaps, gap_bytes;          /* holes given up */
	uint64_t retrans_bytes;            /* bytes seen again (first copy kept) */
	uint64_t conflicts, conflict_bytes; /* overlaps whose bytes differ */
	uint64_t ooo_segments;             /* segments that arrived ahead of a hole */
	uint64_t before_start;             /* bytes before a mid-stream start */
	uint64_t ignored;                  /* packets of no flow (stray ACK/FIN/RST) */
	uint64_t evicted, closes, resets;
	uint64_t ooo_now, ooo_peak;        /* bytes buffered now / at most */
	uint32_t flows_now, flows_peak;
};

/* Receives every record in order; ts is set, seq is left 0 for the sink to
 * assign.  Spans point into the flow table's buffers: valid during the call
 * only.  A non-zero return stops the import (returned by fr_flows_*). */
typedef int (*fr_emit_fn)(void *arg, struct fr_record *r);

struct fr_flows;
struct fr_flows *fr_flows_new(const struct fr_flow_limits *l, fr_emit_fn emit, void *arg);
/* Feeds one packet (in capture order).  0, or the emit callback's error. */
int fr_flows_packet(struct fr_flows *f, const struct fr_pkt *p);
/* End of input: gives up every hole and delivers what is buffered.
 * Connections still open get no CONN_CLOSE (as in a live recording that
 * stops).  0 or the emit error. */
int fr_flows_finish(struct fr_flows *f);
const struct fr_flow_stats *fr_flows_stats(const struct fr_flows *f);
void fr_flows_free(struct fr_flows *f); /* NULL accepted */

/* The endpoint guessed to be the server of a connection seen without its
 * handshake: 1 if (port b) looks like the server, 0 if (port a), -1 when the
 * ports say nothing. */
int fr_guess_server(uint16_t port_a, uint16_t port_b);


#endif
