/* pcap2frs.c - test-side converter: TCP/UDP payloads of a pcap -> one segment
 * file, as the recorder would have seen them from the client's sockets (and,
 * with --both, also from the server's sockets, so both ends are recorded).
 *
 * This is NOT the product's pcap import (`flightrec import-pcap`,
 * analyze/pcap/), which records each flow once, from its client.  It stays
 * for the corpus cases that need what import-pcap does not make: both ends
 * of a connection (--both, for peer links and the network's share) and
 * POD/SERVICE records made up from the command line.  New cases from real
 * captures should use import-pcap.  No retransmission handling beyond
 * dropping bytes already seen; no IP reassembly.
 *
 * usage: pcap2frs [--both] [--node NAME] [--client-comm C] [--server-comm S]
 *                 [--pod IP=NAMESPACE/WORKLOAD]... [--local IP=WORKLOAD]...
 *                 [--service IP:PORT=NAMESPACE/NAME/APP]... IN.pcap OUT.frs
 * build: cc -O2 -o pcap2frs tests/tools/pcap2frs.c formats/segment_*.c \
 *           formats/text.c -lpcap -lzstd -lz
 */
#define _GNU_SOURCE
#include "../../formats/bytes.h"
#include "../../formats/segment.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ep {
	uint8_t family;
	uint8_t addr[16];
	uint16_t port;
};

struct flow {
	struct ep cli, srv;
	int udp;
	int opened;
	uint32_t isn[2]; /* 0: client->server, 1: server->client */
	int have_isn[2];
	uint64_t next[2];
	uint32_t cpid, spid, cfd, sfd;
	uint64_t last_ts;
	int fin;
};

static struct flow *flows;
static int nflows;
static struct fr_writer *w;
static uint64_t seq;
static int both;
static const char *ccomm = "client", *scomm = "server";
struct podopt {
	struct ep ip;
	char ns[64], wl[64];
};
static struct podopt pods[16];
static int npods;
struct svcopt {
	char ip[32], ns[64], name[64], app[64];
	uint16_t port;
};
static struct svcopt svcs[8];
static int nsvcs;
static uint32_t next_spid = 2000;

static int ep_eq(const struct ep *a, const struct ep *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
}

static void to_addr(const struct ep *e, int udp, struct fr_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = e->family;
	a->proto = udp ? 17 : 6;
	a->port = e->port;
	memcpy(a->addr, e->addr, 16);
}

static void add(struct fr_record *r, uint64_t ts)
{
	r->ts = ts;
	r->seq = ++seq;
	if (fr_writer_add(w, r) < 0) {
		fprintf(stderr, "pcap2frs: write failed\n");
		exit(1);
	}
}

/* --local IP=WORKLOAD: sockets bound to IP belong to WORKLOAD's pod (stands
 * for the DNAT of a ClusterIP, which loopback cannot do) */
static struct {
	struct ep ip;
	char wl[64];
} locals[8];
static int nlocals;

static const struct podopt *pod_of(const struct ep *e)
{
	for (int i = 0; i < nlocals; i++)
		if (locals[i].ip.family == e->family && !memcmp(locals[i].ip.addr, e->addr, 4))
			for (int k = 0; k < npods; k++)
				if (!strcmp(pods[k].wl, locals[i].wl))
					return &pods[k];
	for (int i = 0; i < npods; i++)
		if (pods[i].ip.family == e->family && !memcmp(pods[i].ip.addr, e->addr, e->family == 4 ? 4 : 16))
			return &pods[i];
	return NULL;
}

static void process_rec(uint32_t pid, const char *comm, const struct ep *local, uint64_t ts)
{
	struct fr_record r;
	memset(&r, 0, sizeof(r));
	r.kind = FR_PROCESS;
	r.u.proc.pid = pid;
	r.u.proc.ppid = 1;
	r.u.proc.comm.p = (const uint8_t *)comm;
	r.u.proc.comm.len = (uint32_t)strlen(comm);
	char cid[80];
	const struct podopt *p = pod_of(local);
	if (p) {
		snprintf(cid, sizeof(cid), "c-%s", p->wl);
		r.u.proc.container_id.p = (const uint8_t *)cid;
		r.u.proc.container_id.len = (uint32_t)strlen(cid);
	}
	add(&r, ts);
}

static struct flow *find(const struct ep *a, const struct ep *b, int udp, int *dir)
{
	for (int i = 0; i < nflows; i++) {
		struct flow *f = &flows[i];
		if (f->udp != udp)
			continue;
		if (ep_eq(&f->cli, a) && ep_eq(&f->srv, b)) {
			*dir = 0;
			return f;
		}
		if (ep_eq(&f->cli, b) && ep_eq(&f->srv, a)) {
			*dir = 1;
			return f;
		}
	}
	return NULL;
}

static void open_flow(struct flow *f, uint64_t ts)
{
	struct fr_record r;
	f->opened = 1;
	process_rec(f->cpid, ccomm, &f->cli, ts);
	memset(&r, 0, sizeof(r));
	r.kind = FR_CONN_OPEN;
	r.u.open.conn.pid = f->cpid;
	r.u.open.conn.fd = f->cfd;
	r.u.open.role = FR_ROLE_CLIENT;
	to_addr(&f->cli, f->udp, &r.u.open.local);
	to_addr(&f->srv, f->udp, &r.u.open.remote);
	add(&r, ts);
	if (both && !(f->udp && f->spid != 0 && f != &flows[0] && 0)) {
		process_rec(f->spid, scomm, &f->srv, ts);
		memset(&r, 0, sizeof(r));
		r.kind = FR_CONN_OPEN;
		r.u.open.conn.pid = f->spid;
		r.u.open.conn.fd = f->sfd;
		r.u.open.role = FR_ROLE_SERVER;
		to_addr(&f->srv, f->udp, &r.u.open.local);
		if (!f->udp)
			to_addr(&f->cli, f->udp, &r.u.open.remote);
		add(&r, ts);
	}
}

static void data(struct flow *f, int dir, uint64_t ts, uint64_t pos, const uint8_t *p, uint32_t n)
{
	struct fr_record r;
	for (int side = 0; side < (both ? 2 : 1); side++) {
		memset(&r, 0, sizeof(r));
		r.kind = FR_DATA;
		r.u.data.conn.pid = side ? f->spid : f->cpid;
		r.u.data.conn.fd = side ? f->sfd : f->cfd;
		/* client side: dir 0 (client->server) is egress */
		int egress = side ? dir == 1 : dir == 0;
		r.u.data.dir = egress ? FR_EGRESS : FR_INGRESS;
		r.u.data.syscall = FR_SYS_PCAP;
		r.u.data.orig_len = n;
		r.u.data.stream_pos = pos;
		if (f->udp) {
			r.u.data.flags = FR_DATA_NO_POS;
			r.u.data.stream_pos = 0;
			to_addr(side ? &f->cli : &f->srv, 1, &r.u.data.peer);
		}
		r.u.data.payload.p = p;
		r.u.data.payload.len = n > FR_MAX_SNAPLEN ? FR_MAX_SNAPLEN : n;
		if (r.u.data.payload.len < n)
			r.u.data.flags |= FR_DATA_TRUNCATED;
		add(&r, ts);
	}
}

static void close_flow(struct flow *f, int server_too)
{
	struct fr_record r;
	for (int side = 0; side < (both && server_too ? 2 : 1); side++) {
		memset(&r, 0, sizeof(r));
		r.kind = FR_CONN_CLOSE;
		r.u.close.conn.pid = side ? f->spid : f->cpid;
		r.u.close.conn.fd = side ? f->sfd : f->cfd;
		add(&r, f->last_ts);
	}
}

static void packet(uint64_t ts, const uint8_t *p, size_t n, int link)
{
	struct fr_cur c;
	cur_init(&c, p, n);
	uint16_t et = 0;
	if (link == DLT_EN10MB) {
		cur_skip(&c, 12);
		et = cur_be16(&c);
		while (et == 0x8100) {
			cur_skip(&c, 2);
			et = cur_be16(&c);
		}
	} else if (link == DLT_LINUX_SLL) {
		cur_skip(&c, 14);
		et = cur_be16(&c);
	} else if (link == DLT_NULL) {
		uint32_t af = cur_le32(&c);
		et = af == 2 ? 0x0800 : 0x86dd;
	} else if (link == DLT_RAW || link == 12) {
		et = (c.p < c.end && (*c.p >> 4) == 6) ? 0x86dd : 0x0800;
	} else {
		return;
	}
	struct ep src = {0}, dst = {0};
	uint8_t proto;
	size_t ip_payload;
	if (et == 0x0800) {
		uint8_t vihl = cur_u8(&c);
		size_t ihl = (size_t)(vihl & 15) * 4;
		cur_skip(&c, 1);
		uint16_t tot = cur_be16(&c);
		cur_skip(&c, 4);
		cur_skip(&c, 1);
		proto = cur_u8(&c);
		cur_skip(&c, 2);
		const uint8_t *a;
		if (cur_bytes(&c, &a, 4) < 0)
			return;
		src.family = 4;
		memcpy(src.addr, a, 4);
		if (cur_bytes(&c, &a, 4) < 0)
			return;
		dst.family = 4;
		memcpy(dst.addr, a, 4);
		if (ihl < 20 || cur_skip(&c, ihl - 20) < 0 || tot < ihl)
			return;
		ip_payload = tot - ihl;
	} else if (et == 0x86dd) {
		cur_skip(&c, 4);
		uint16_t plen = cur_be16(&c);
		proto = cur_u8(&c);
		cur_skip(&c, 1);
		const uint8_t *a;
		if (cur_bytes(&c, &a, 16) < 0)
			return;
		src.family = 6;
		memcpy(src.addr, a, 16);
		if (cur_bytes(&c, &a, 16) < 0)
			return;
		dst.family = 6;
		memcpy(dst.addr, a, 16);
		ip_payload = plen;
	} else {
		return;
	}
	if (c.bad)
		return;
	if (ip_payload > cur_left(&c))
		ip_payload = cur_left(&c);
	c.end = c.p + ip_payload;
	if (proto == 6) {
		src.port = cur_be16(&c);
		dst.port = cur_be16(&c);
		uint32_t sq = cur_be32(&c);
		cur_skip(&c, 4);
		uint8_t off = cur_u8(&c);
		uint8_t fl = cur_u8(&c);
		if (c.bad || cur_skip(&c, (size_t)(off >> 4) * 4 - 14) < 0)
			return;
		int dir;
		struct flow *f = find(&src, &dst, 0, &dir);
		if (!f) {
			flows = realloc(flows, (size_t)(nflows + 1) * sizeof(*flows));
			f = &flows[nflows++];
			memset(f, 0, sizeof(*f));
			/* the SYN sender is the client; mid-stream: the lower... port is the server */
			int swap = !(fl & 0x02) ? src.port < dst.port : (fl & 0x10) != 0;
			f->cli = swap ? dst : src;
			f->srv = swap ? src : dst;
			dir = swap ? 1 : 0;
			f->cpid = 1000 + (uint32_t)nflows;
			f->cfd = 3;
			f->spid = next_spid;
			for (int i = 0; i < nflows - 1; i++)
				if (ep_eq(&flows[i].srv, &f->srv))
					f->spid = flows[i].spid;
			if (f->spid == next_spid)
				next_spid++;
			f->sfd = 10 + (uint32_t)nflows;
		}
		f->last_ts = ts;
		if (!f->opened)
			open_flow(f, ts);
		if (fl & 0x02) { /* SYN */
			f->isn[dir] = sq;
			f->have_isn[dir] = 1;
			return;
		}
		if (!f->have_isn[dir]) {
			f->isn[dir] = sq - 1; /* mid-stream: call this the start */
			f->have_isn[dir] = 1;
		}
		uint32_t n_pl = (uint32_t)cur_left(&c);
		if (n_pl) {
			uint64_t pos = (uint32_t)(sq - f->isn[dir] - 1);
			const uint8_t *pl = c.p;
			if (pos + n_pl > f->next[dir]) {
				if (pos < f->next[dir]) { /* partly retransmitted */
					uint32_t skip = (uint32_t)(f->next[dir] - pos);
					pl += skip, n_pl -= skip, pos += skip;
				}
				data(f, dir, ts, pos, pl, n_pl);
				f->next[dir] = pos + n_pl;
			}
		}
		if (fl & 0x05)
			f->fin = 1;
	} else if (proto == 17) {
		src.port = cur_be16(&c);
		dst.port = cur_be16(&c);
		cur_skip(&c, 4);
		if (c.bad)
			return;
		int dir;
		struct flow *f = find(&src, &dst, 1, &dir);
		if (!f) {
			flows = realloc(flows, (size_t)(nflows + 1) * sizeof(*flows));
			f = &flows[nflows++];
			memset(f, 0, sizeof(*f));
			f->udp = 1;
			f->cli = src;
			f->srv = dst;
			dir = 0;
			f->cpid = 1000 + (uint32_t)nflows;
			f->cfd = 3;
			/* one server socket for all clients of a server address */
			f->spid = 0;
			for (int i = 0; i < nflows - 1; i++)
				if (flows[i].udp && ep_eq(&flows[i].srv, &f->srv))
					f->spid = flows[i].spid, f->sfd = flows[i].sfd;
			if (!f->spid) {
				f->spid = next_spid++;
				f->sfd = 10 + (uint32_t)nflows;
				f->opened = 0;
			} else {
				/* server socket already open: only open the client side */
				f->opened = 1;
				int b = both;
				both = 0;
				open_flow(f, ts);
				both = b;
			}
		}
		f->last_ts = ts;
		if (!f->opened)
			open_flow(f, ts);
		data(f, dir, ts, 0, c.p, (uint32_t)cur_left(&c));
	}
}

static int parse_ip(const char *s, struct ep *e)
{
	unsigned a, b, c, d;
	if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4)
		return -1;
	e->family = 4;
	e->addr[0] = (uint8_t)a, e->addr[1] = (uint8_t)b, e->addr[2] = (uint8_t)c, e->addr[3] = (uint8_t)d;
	return 0;
}

int main(int argc, char **argv)
{
	const char *node = "node-1";
	int i;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--both"))
			both = 1;
		else if (!strcmp(argv[i], "--node") && i + 1 < argc)
			node = argv[++i];
		else if (!strcmp(argv[i], "--client-comm") && i + 1 < argc)
			ccomm = argv[++i];
		else if (!strcmp(argv[i], "--server-comm") && i + 1 < argc)
			scomm = argv[++i];
		else if (!strcmp(argv[i], "--pod") && i + 1 < argc && npods < 16) {
			char ip[64];
			const char *s = argv[++i], *eq = strchr(s, '='), *sl = eq ? strchr(eq, '/') : NULL;
			if (!eq || !sl || (size_t)(eq - s) >= sizeof(ip))
				return 2;
			memcpy(ip, s, (size_t)(eq - s));
			ip[eq - s] = 0;
			if (parse_ip(ip, &pods[npods].ip) < 0)
				return 2;
			snprintf(pods[npods].ns, sizeof(pods[npods].ns), "%.*s", (int)(sl - eq - 1), eq + 1);
			snprintf(pods[npods].wl, sizeof(pods[npods].wl), "%s", sl + 1);
			npods++;
		} else if (!strcmp(argv[i], "--local") && i + 1 < argc && nlocals < 8) {
			char ip[32];
			if (sscanf(argv[++i], "%31[0-9.]=%63s", ip, locals[nlocals].wl) != 2 ||
			    parse_ip(ip, &locals[nlocals].ip) < 0)
				return 2;
			nlocals++;
		} else if (!strcmp(argv[i], "--service") && i + 1 < argc && nsvcs < 8) {
			/* IP:PORT=NAMESPACE/NAME/APP (selector app=APP) */
			struct svcopt *v = &svcs[nsvcs];
			unsigned port;
			if (sscanf(argv[++i], "%31[0-9.]:%u=%63[^/]/%63[^/]/%63s", v->ip, &port, v->ns, v->name, v->app) != 5)
				return 2;
			v->port = (uint16_t)port;
			nsvcs++;
		} else {
			fprintf(stderr, "pcap2frs: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: pcap2frs [--both] [--node N] [--pod IP=NS/WL]... IN.pcap OUT.frs\n");
		return 2;
	}
	char err[PCAP_ERRBUF_SIZE + 256];
	pcap_t *pc = pcap_open_offline_with_tstamp_precision(argv[i], PCAP_TSTAMP_PRECISION_NANO, err);
	if (!pc) {
		fprintf(stderr, "pcap2frs: %s\n", err);
		return 2;
	}
	struct fr_header h;
	memset(&h, 0, sizeof(h));
	snprintf(h.node, sizeof(h.node), "%s", node);
	snprintf(h.recorder, sizeof(h.recorder), "pcap2frs (tests)");
	snprintf(h.source, sizeof(h.source), "pcap");
	h.snaplen = FR_MAX_SNAPLEN;
	w = fr_writer_open(argv[i + 1], &h, NULL, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "pcap2frs: %s\n", err);
		return 2;
	}
	struct pcap_pkthdr *ph;
	const u_char *pkt;
	int link = pcap_datalink(pc);
	int first = 1, first_svc = 1;
	while (pcap_next_ex(pc, &ph, &pkt) == 1) {
		uint64_t ts = (uint64_t)ph->ts.tv_sec * 1000000000ull + (uint64_t)ph->ts.tv_usec;
		if (first) {
			first = 0;
			/* pod metadata, as the recorder repeats it at a segment's start */
			for (int k = 0; k < npods; k++) {
				struct fr_record r;
				memset(&r, 0, sizeof(r));
				r.kind = FR_POD;
				char uid[96], name[96], ip[32], cid[96], owner[64];
				snprintf(uid, sizeof(uid), "uid-%s", pods[k].wl);
				snprintf(name, sizeof(name), "%s-0", pods[k].wl);
				snprintf(ip, sizeof(ip), "%u.%u.%u.%u", pods[k].ip.addr[0], pods[k].ip.addr[1],
					 pods[k].ip.addr[2], pods[k].ip.addr[3]);
				snprintf(cid, sizeof(cid), "containerd://c-%s", pods[k].wl);
				snprintf(owner, sizeof(owner), "%s", pods[k].wl);
#define SP(x) ((struct fr_span){(const uint8_t *)(x), (uint32_t)strlen(x)})
				r.u.pod.uid = SP(uid);
				r.u.pod.namespace_ = SP(pods[k].ns);
				r.u.pod.name = SP(name);
				r.u.pod.node = SP(node);
				r.u.pod.owner_kind = SP("Deployment");
				r.u.pod.owner_name = SP(owner);
				r.u.pod.n_ips = 1;
				r.u.pod.ips[0] = SP(ip);
				r.u.pod.n_labels = 1;
				r.u.pod.labels[0].key = SP("app");
				r.u.pod.labels[0].value = SP(owner);
				r.u.pod.n_containers = 1;
				r.u.pod.containers[0].id = SP(cid);
				r.u.pod.containers[0].name = SP(owner);
				r.u.pod.containers[0].image = SP("debian:12");
				add(&r, ts);
			}
		}
		if (first_svc) {
			first_svc = 0;
			for (int k = 0; k < nsvcs; k++) {
				struct fr_record r;
				memset(&r, 0, sizeof(r));
				r.kind = FR_SERVICE;
				r.u.svc.namespace_ = SP(svcs[k].ns);
				r.u.svc.name = SP(svcs[k].name);
				r.u.svc.n_ips = 1;
				r.u.svc.ips[0] = SP(svcs[k].ip);
				r.u.svc.n_ports = 1;
				r.u.svc.ports[0].port = svcs[k].port;
				r.u.svc.ports[0].target_port = svcs[k].port;
				r.u.svc.ports[0].proto = 6;
				r.u.svc.n_selector = 1;
				r.u.svc.selector[0].key = SP("app");
				r.u.svc.selector[0].value = SP(svcs[k].app);
				add(&r, ts);
			}
		}
		packet(ts, pkt, ph->caplen, link);
	}
	for (int k = 0; k < nflows; k++) {
		if (!flows[k].fin && !flows[k].udp)
			continue;
		int last = 1; /* a UDP server socket closes once, after its last client */
		for (int j = k + 1; j < nflows; j++)
			if (flows[k].udp && flows[j].udp && flows[j].spid == flows[k].spid)
				last = 0;
		close_flow(&flows[k], last);
	}
	pcap_close(pc);
	free(flows);
	return fr_writer_close(w) < 0 ? 1 : 0;
}
