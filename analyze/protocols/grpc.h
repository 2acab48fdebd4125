/* grpc.h - the gRPC layer (grpc.c) that http2.c runs on each stream; internal
 * to analyze/protocols/.
 *
 * http2.c hands a stream's header fields and DATA bytes to it; at the end
 * of the stream, grpc_fields() appends the `grpc` table's fields to the
 * request and grpc_outcome() gives its status and error.  A stream is a
 * gRPC call when its content-type is application/grpc* or it carries
 * grpc-* fields.
 */
#ifndef FLIGHTREC_GRPC_H
#define FLIGHTREC_GRPC_H

#include "../proto.h"

#include <stddef.h>
#include <stdint.h>

/* Length-prefixed messages of one direction (5-byte prefix: flag, length). */
struct grpc_dir {
	uint8_t pre[5];
	uint8_t prelen;  /* prefix bytes collected */
	uint32_t remain; /* bytes left of the current message */
	uint32_t msgs;   /* messages whose prefix was seen */
	int compressed;  /* a message with the compressed flag */
	int lost;        /* framing lost in a gap: counts are a floor */
	int bad;         /* a prefix whose flag is neither 0 nor 1 */
};

struct grpc_call {
	int is_grpc;
	int status;     /* grpc-status, -1: none */
	char message[256]; /* grpc-message, percent-decoded */
	struct grpc_dir d[2];
};

extern const struct fr_proto fr_proto_grpc;

void grpc_init(struct grpc_call *g);
/* A header field of direction dir (request, response or trailers). */
void grpc_field(struct grpc_call *g, int dir, const uint8_t *name, size_t nlen, const uint8_t *value,
		size_t vlen);
/* DATA payload bytes (padding excluded) of direction dir. */
void grpc_data(struct grpc_call *g, int dir, const uint8_t *p, size_t n);
/* n DATA bytes of direction dir are missing. */
void grpc_gap(struct grpc_call *g, int dir, uint64_t n);
/* 1: the DATA of both directions are whole length-prefixed messages (a
 * call whose headers are not known is still recognised by this). */
int grpc_framed(const struct grpc_call *g);
/* The status text (the name of grpc-status, into buf of 24 bytes) or NULL,
 * and whether the call failed (responded: the response ended). */
const char *grpc_outcome(const struct grpc_call *g, int responded, char *buf, int *error);
/* Appends the grpc table's fields (service and method from path). */
void grpc_fields(const struct grpc_call *g, const char *path, struct fr_req *r, char *svc, size_t svccap);

#endif
