/* registry.c - the protocol registry: one line per protocol.  Detection tries
 * them in this order (those whose well-known port matches first). */
#include "proto.h"

extern const struct fr_proto fr_proto_http1;
extern const struct fr_proto fr_proto_redis;
extern const struct fr_proto fr_proto_dns;
extern const struct fr_proto fr_proto_http2;
extern const struct fr_proto fr_proto_grpc;

const struct fr_proto *const fr_protocols[] = {
	&fr_proto_http1,
	&fr_proto_redis,
	&fr_proto_dns,
	&fr_proto_http2,
	&fr_proto_grpc, /* a layer of http2: its table, never detected */
	NULL,
};
