/* export_pcap_internal.h - what the two files of `flightrec export-pcap`
 * share: the command (export_pcap.c) sets the filters and the writer of a
 * struct pcap_export and feeds it records; export_pcap_packets.c keeps the
 * connections, processes and pods they describe and writes the packets. */
#ifndef FLIGHTREC_EXPORT_PCAP_INTERNAL_H
#define FLIGHTREC_EXPORT_PCAP_INTERNAL_H

#include "../formats/pcapng.h"
#include "../formats/segment.h"

#include <stdint.h>

struct conn;
struct proc;
struct podip;
struct podct;
struct podwl;

#define NB 4096

struct pcap_export {
	struct fr_pcapng *w;
	struct conn *conns[NB];
	struct conn *tuples[NB];
	struct proc *procs[NB];
	struct podip *ips[NB];
	struct podct *cts[NB];
	struct podwl *wls[NB];
	char **nodes;
	uint32_t nnodes;
	uint32_t fake;
	/* filters */
	int64_t from, to; /* wall ns; INT64_MIN/MAX when unset */
	int have_conn;
	struct fr_connkey only;
	const char *pod;
	uint64_t packets, bytes, conns_out, udp_dups;
	/* recent UDP datagrams, to write a datagram recorded by both its
	 * sender's and its receiver's socket once */
	struct {
		uint32_t hash, node;
		struct fr_connkey key;
		uint64_t wall;
	} recent[256];
	uint32_t nrecent;
	uint8_t frame[FR_SYNTH_MAX_FRAME];
};

/* The interface id of a node (one pcapng interface each), made at its first
 * use (0, the first, when out of memory). */
uint32_t pcx_node_id(struct pcap_export *x, const char *node);
/* Takes one record of node (interface id) whose segment header is h:
 * updates the maps, writes the packets it makes.  0, or -1 on a write
 * error or out of memory. */
int pcx_on_record(struct pcap_export *x, uint32_t node, const struct fr_header *h, const struct fr_record *r);
/* Frees x and all it holds (not x->w, the caller's). */
void pcx_free(struct pcap_export *x);

#endif
