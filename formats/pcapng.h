/* pcapng.h - a small pcapng writer and a packet synthesiser, for
 * `flightrec export-pcap`: recordings hold socket payloads, Wireshark wants
 * packets, so each DATA payload is wrapped in made-up Ethernet, IPv4 or
 * IPv6, and TCP or UDP headers with correct checksums.
 *
 * Reference: the pcapng specification (draft-ietf-opsawg-pcapng): Section
 * Header Block, Interface Description Block (if_name, if_tsresol = 9: ns),
 * Enhanced Packet Block with opt_comment.
 */
#ifndef FLIGHTREC_PCAPNG_H
#define FLIGHTREC_PCAPNG_H

#include "segment.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct fr_pcapng;

/* Writes the section header to f (not closed by the writer; the caller
 * owns it).  NULL on ENOMEM. */
struct fr_pcapng *fr_pcapng_new(FILE *f, const char *appl);
/* Adds an Ethernet interface named name (e.g. a node); returns its id. */
int fr_pcapng_add_if(struct fr_pcapng *w, const char *name, const char *descr);
/* Writes one Enhanced Packet Block: ts in ns since the epoch, comment may
 * be NULL.  Returns 0 or -1 (write error, sticky). */
int fr_pcapng_packet(struct fr_pcapng *w, uint32_t ifid, uint64_t ts_ns, const uint8_t *frame,
		     uint32_t len, const char *comment);
/* Flushes; returns 0 or -1 if any write failed.  Frees w (NULL accepted). */
int fr_pcapng_free(struct fr_pcapng *w);

/* ---- packet synthesis ----------------------------------------------------- */

struct fr_synth {
	const struct fr_addr *src, *dst; /* same family, 4 or 6 */
	uint8_t proto;                   /* 6 or 17 */
	uint8_t flags;                   /* TCP flags: FIN 1, SYN 2, RST 4, PSH 8, ACK 16 */
	uint32_t seq, ack;
	const uint8_t *payload;
	uint32_t len;                    /* at most FR_SYNTH_MAX_PAYLOAD */
};

#define FR_SYNTH_MAX_PAYLOAD 32768u
#define FR_SYNTH_MAX_FRAME (FR_SYNTH_MAX_PAYLOAD + 14 + 40 + 20)

/* Builds Ethernet + IP + TCP/UDP + payload into buf (cap bytes), with the
 * IPv4 header checksum and the TCP/UDP checksum filled in.  Returns the
 * frame length, or 0 if it does not fit or the addresses are unusable. */
size_t fr_synth_frame(uint8_t *buf, size_t cap, const struct fr_synth *s);

#endif
