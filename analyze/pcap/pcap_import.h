/* pcap_import.h - import packet captures (pcap, pcapng, gzip-compressed)
 * into a flightrec recording, for `flightrec import-pcap` and for
 * `flightrec analyze capture.pcap`.
 *
 * What the recording holds (see analyze/pcap/pcap_flow.c for the details):
 *  - one connection per TCP or UDP flow, seen from its client: CONN_OPEN
 *    with local = client and remote = server, DATA egress = client to
 *    server, ingress = server to client; key (pid 0, fd = counter from 1,
 *    gen 1).  Role CLIENT when the handshake was captured; role UNKNOWN for
 *    a flow first seen at its data (oriented by well-known server ports,
 *    else by the first sender);
 *  - TCP DATA per reassembled in-order piece, stream_pos from the first byte
 *    after the SYN (or the first byte seen); gaps are stream_pos jumps;
 *    CONN_CLOSE at FIN+FIN, RST, or eviction of an idle flow;
 *  - UDP DATA per datagram, FR_DATA_NO_POS, peer = the server endpoint;
 *  - record ts = capture time in ns since the epoch (wall_offset_ns 0,
 *    source "pcap"); POD/SERVICE records from --pods/--services at the
 *    start of every segment; a MARK "start" naming the inputs, and a MARK
 *    "note" for each input that was damaged.
 */
#ifndef FLIGHTREC_PCAP_IMPORT_H
#define FLIGHTREC_PCAP_IMPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct fr_pcap_opts {
	const char *node;      /* node name in the segment headers; NULL: "pcap" */
	const char *pods;      /* `kubectl get pods -A -o json` file, or NULL */
	const char *services;  /* `kubectl get services -A -o json` file, or NULL */
	uint32_t max_flows;    /* connections tracked at once; 0: 65536 */
	uint64_t max_buffer;   /* out-of-order bytes buffered in all; 0: 64 MiB */
	uint64_t segment_bytes; /* start a new segment file past this; 0: 64 MiB */
	FILE *log;             /* warnings and the summary; NULL: silent */
};

struct fr_pcap_result {
	uint64_t packets, records, tcp_conns, udp_conns, gaps, gap_bytes;
	uint64_t data_bytes, conflicts, segments;
};

/* Imports files (read together, in capture-time order) into a new
 * recording in outdir (created if missing; it must hold no segment yet).
 *
 * Returns 0 when everything was read; 1 when some input was damaged or
 * truncated: what could be read is imported and err says which file and
 * where it stopped; 2 when nothing could be imported (unreadable input,
 * unsupported link type, outdir unusable, bad --pods file), err says why.
 * Whatever the result, the segments written are complete and closed.
 * res may be NULL. */
int fr_pcap_import(const char *const *files, int n, const char *outdir,
		   const struct fr_pcap_opts *o, struct fr_pcap_result *res,
		   char *err, size_t errlen);

#endif
