/* registry.c - the protocol registry: one line per protocol.  Detection tries
 * them in this order (those whose well-known port matches first). */
#include "proto.h"

extern const struct fr_proto fr_proto_http1;

const struct fr_proto *const fr_protocols[] = {
	&fr_proto_http1,
	NULL,
};
