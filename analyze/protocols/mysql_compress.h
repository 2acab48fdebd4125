/* mysql_compress.h - the framing of the MySQL compressed protocol
 * (CLIENT_COMPRESS), for mysql.c only: it turns one direction's compressed
 * packets back into the plain packet stream.  See mysql_compress.c. */
#ifndef FLIGHTREC_MYSQL_COMPRESS_H
#define FLIGHTREC_MYSQL_COMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

enum { MZ_HDR = 0, MZ_BODY, MZ_SKIP, MZ_LOST };

/* One direction.  Starts zeroed (MZ_HDR: the next byte begins a packet). */
struct mz_dir {
	int st;
	uint8_t hdr[7];
	uint32_t hlen;
	uint32_t rem;  /* payload bytes of the current packet still to come */
	uint32_t ulen; /* its uncompressed length; 0: stored as is */
	uint64_t out;  /* bytes it inflated to so far */
	z_stream z;
	int zinit;     /* z is set up (inflateInit) */
	uint64_t skipped; /* compressed bytes not decoded (after a gap) */
};

/* Receives the plain bytes of packets in order; start is 1 for the first
 * bytes of a packet (a point where the plain framing may resynchronise).
 * p is valid during the call only. */
typedef void (*mz_sink)(void *arg, const uint8_t *p, size_t n, int start);

/* Feeds n bytes of the direction's stream.  Returns 0, or -1 when they
 * are malformed (a bad length or zlib data); the direction is then
 * MZ_LOST until mz_resync accepts the start of a write. */
int mz_feed(struct mz_dir *d, const uint8_t *p, size_t n, mz_sink out, void *arg);

/* len bytes are missing.  Returns 1 when they fall inside a packet whose
 * payload is stored as is (the plain stream has a gap of len bytes and the
 * framing holds), 0 when the framing holds but the rest of the current
 * packet's compressed data is undecodable (skipped; the plain stream lost
 * its place), -1 when the framing is lost (MZ_LOST). */
int mz_gap(struct mz_dir *d, uint64_t len);

/* In MZ_LOST, at the start of a write: 1 (and MZ_HDR) when its first n
 * bytes look like a compressed packet header, else 0. */
int mz_resync(struct mz_dir *d, const uint8_t *p, size_t n);

/* Frees the inflater. */
void mz_fini(struct mz_dir *d);

#endif
