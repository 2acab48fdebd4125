/* registry.c - the protocol registry: one line per protocol.  Detection tries
 * them in this order (those whose well-known port matches first).  Adding a
 * protocol is its file analyze/protocols/<name>.c exporting
 * `const struct fr_proto fr_proto_<name>`, a line P(<name>) below, and its
 * corpus cases under tests/corpus/<name>/: the dump, the help texts, the
 * split-invariance test and the fuzz harness go through this list
 * (tests/unit/throwaway_protocol.sh adds a protocol that way and checks). */
#include "proto.h"

#define PROTOCOLS(P) \
	P(http1)     \
	P(redis)     \
	P(dns)       \
	P(http2)     \
	P(grpc)      /* a layer of http2: its table, never detected */ \
	P(kafka)     /* after http2: a server's SETTINGS frame reads as a Kafka request */ \
	P(mysql)     \
	P(pgsql)     \
	/* end */

#define DECLARE(name) extern const struct fr_proto fr_proto_##name;
#define ENTRY(name) &fr_proto_##name,

PROTOCOLS(DECLARE)

const struct fr_proto *const fr_protocols[] = {
	PROTOCOLS(ENTRY) NULL,
};

const char *fr_proto_table(int i)
{
	for (int k = 0; fr_protocols[k] && i >= 0; k++) {
		if (i-- == 0)
			return fr_protocols[k]->table;
		if (fr_protocols[k]->child_table && i-- == 0)
			return fr_protocols[k]->child_table;
	}
	return NULL;
}
