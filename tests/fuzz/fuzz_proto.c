/* fuzz_proto.c - libFuzzer harness for every registered protocol parser
 * (analyze/registry.c): each input is fed to each parser in turn, so a
 * new protocol is fuzzed, and replayed on every saved input, by being
 * registered.  FR_FUZZ_PROTO=name restricts it to one parser.
 *
 * Input: byte 0 is the transport (bit 0: UDP), then records:
 *   u8 h (bit 0 direction: 0 client->server; bit 1: a gap), u16 BE len,
 *   then len payload bytes (none for a gap: len is the gap's size).
 * Every chunk is copied to the end of a buffer of its exact size so that
 * ASan catches any over-read.  probe() also sees every chunk.
 * Saved inputs: tests/fuzz/corpus/fuzz_proto/<protocol they were found
 * with>/ (tests/fuzz/mkseeds.py makes seeds from the regression corpus). */
#include <stdio.h>
#include "../../analyze/proto.h"

#include <stdlib.h>
#include <string.h>

static size_t sink_bytes;

static void h_emit(struct fr_pctx *ctx, const struct fr_req *r)
{
	(void)ctx;
	if (r->summary)
		sink_bytes += strlen(r->summary);
	if (r->status)
		sink_bytes += strlen(r->status);
	if (r->endpoint)
		sink_bytes += strlen(r->endpoint);
	for (int i = 0; i < r->n_fields; i++)
		if (r->f[i].type == FR_F_TEXT && r->f[i].len)
			sink_bytes += (unsigned char)r->f[i].s[r->f[i].len - 1];
	if (r->peer_addr)
		sink_bytes += r->peer_addr[0];
}

static void h_message(struct fr_pctx *ctx, const struct fr_msg *m)
{
	(void)ctx;
	sink_bytes += m->bytes + strlen(m->kind) + (m->topic ? strlen(m->topic) : 0);
}

static void h_anomaly(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *detail)
{
	(void)ctx;
	(void)ts;
	sink_bytes += strlen(kind) + strlen(detail);
}

static int run_proto(const struct fr_proto *p, const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int transport = (data[0] & 1) ? FR_UDP : FR_TCP;
	void *st = calloc(1, p->state_size);
	if (!st)
		return 0;
	struct fr_pctx ctx = {0};
	ctx.transport = transport;
	ctx.emit_request = h_emit;
	ctx.emit_message = h_message;
	ctx.anomaly = h_anomaly;
	if (p->init)
		p->init(st, transport);
	size_t i = 1;
	uint64_t ts = 1000;
	static const uint8_t peer[16] = {10, 0, 0, 1};
	while (i + 3 <= size) {
		uint8_t h = data[i];
		size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
		i += 3;
		ts += 1000;
		if (h & 2) {
			p->gap(st, &ctx, h & 1, len, ts);
			continue;
		}
		if (len > size - i)
			len = size - i;
		uint8_t *copy = malloc(len ? len : 1);
		if (!copy)
			break;
		memcpy(copy, data + i, len);
		i += len;
		p->probe(copy, len, transport);
		struct fr_chunk ch = {0};
		ch.dir = h & 1;
		ch.ts = ts;
		ch.p = copy;
		ch.len = len;
		if (transport == FR_UDP) {
			ch.peer_family = 4;
			ch.peer_addr = peer;
			ch.peer_port = 53;
		}
		p->feed(st, &ctx, &ch);
		free(copy);
	}
	p->finish(st, &ctx, FR_END_RECORDING, ts + 1);
	free(st);
	return 0;
}

static const struct fr_proto *only; /* FR_FUZZ_PROTO, or NULL: all */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *name = getenv("FR_FUZZ_PROTO");
	if (name && *name && !(only = fr_proto_find(name))) {
		fprintf(stderr, "fuzz_proto: FR_FUZZ_PROTO=%s is not a registered protocol\n", name);
		exit(2);
	}
	fprintf(stderr, "fuzz_proto: each input through");
	for (int i = 0; fr_protocols[i]; i++)
		if (!only || only == fr_protocols[i])
			fprintf(stderr, " %s", fr_protocols[i]->name);
	fputc('\n', stderr);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int i = 0; fr_protocols[i]; i++)
		if (!only || only == fr_protocols[i])
			run_proto(fr_protocols[i], data, size);
	return 0;
}
