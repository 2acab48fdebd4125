/* fuzz_pcap.c - libFuzzer harness for import-pcap: the input is a capture
 * file (pcap or pcapng).  It goes through libpcap, the frame decoder (with
 * fragment reassembly) and the flow table with small limits, as
 * fr_pcap_import() drives them; every record produced must encode. */
#define _GNU_SOURCE
#include "../../analyze/pcap/pcap_internal.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>

static int check(void *arg, struct fr_record *r)
{
	static uint8_t buf[FR_MAX_SNAPLEN + 4096];
	(void)arg;
	if (r->kind == FR_DATA && r->u.data.payload.len > r->u.data.orig_len)
		abort();
	if (fr_record_encode(r, buf, sizeof(buf)) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, eb);
	if (!pc) {
		fclose(f);
		return 0;
	}
	struct fr_flow_limits l;
	fr_flow_limits_default(&l);
	l.max_flows = 8;
	l.ooo_dir_bytes = 4096;
	l.ooo_dir_segs = 16;
	l.ooo_total = 16384;
	l.hole_ns = 1000;
	struct fr_flows *fl = fr_flows_new(&l, check, NULL);
	struct fr_defrag *df = fr_defrag_new(4, 1000000);
	struct fr_decode_stats st = {0};
	int dlt = pcap_datalink(pc);
	struct pcap_pkthdr *h;
	const u_char *p;
	while (fl && df && pcap_next_ex(pc, &h, &p) == 1) {
		struct fr_pkt k;
		uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
		if (fr_decode(dlt, p, h->caplen, ts, df, &st, &k) == 1) {
			if (k.caplen > k.len)
				abort();
			fr_flows_packet(fl, &k);
		}
	}
	if (fl)
		fr_flows_finish(fl);
	fr_flows_free(fl);
	fr_defrag_free(df);
	pcap_close(pc);
	return 0;
}
