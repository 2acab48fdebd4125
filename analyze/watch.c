/* watch.c - `flightrec watch RINGDIR`: alert rules on a live ring.
 *
 * Follows the segments of a running recorder as they are written (the
 * newest segment, then each new one: fr_reader_follow), runs the protocol
 * parsers of the registry on each connection's bytes as they come, and
 * keeps one sample per HTTP request (HTTP/1, HTTP/2, gRPC) of the last
 * --window seconds.  Every second it evaluates two rules, named as in the
 * report's rules (reports/rules.conf):
 *   http_error_rate  error_rate > --error-rate   (5xx, errors, no response)
 *   http_p99         latency p99 > --p99
 * each over the window and only with --min requests or more in it.  A rule
 * that starts firing asks the recorder for a snapshot through its control
 * socket ("alert <rule> <value> > <threshold> on <endpoint>"): the recorder
 * applies its own switch (--triggers alert) and cooldown.  A rule fires
 * again only after it cleared.
 *
 * Bounded memory: at most WATCH_CONNS connections are parsed (the rest are
 * counted as untracked), connections idle for IDLE_NS are ended, at most
 * WATCH_SAMPLES samples are kept, and each parser keeps to its own bounds.
 * Simplifications against `flightrec analyze`: the protocol is detected
 * from single payloads (no buffering of a probe), connections that began
 * before the segment being followed start mid-stream (no kept heads), and
 * both ends of a connection recorded on the node count twice (which leaves
 * the rates alone). */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/ctl.h"
#include "../formats/segment.h"
#include "flightrec.h"
#include "proto.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_CONNS 16384
#define WATCH_SAMPLES (1u << 18)
#define WATCH_ENDPOINTS 256 /* distinct endpoints named; the rest are "*" */
#define PROBE_TRIES 8
#define IDLE_NS (300 * 1000000000ull)

struct wconn {
	struct wconn *next; /* hash chain */
	struct fr_connkey key;
	int transport;
	uint16_t lport, rport;
	const struct fr_proto *proto;
	void *pstate;
	int detect; /* 0 undecided, 1 parsing, 2 not parsed (unknown, hopeless) */
	int tries;
	int c2s_dir; /* recorded direction carrying client -> server */
	uint64_t next_pos[2];
	int pos_init[2];
	uint64_t last_ts;
	struct watch *w;
};

struct sample {
	uint64_t ts, lat; /* end of the request, its latency (0: no response) */
	uint16_t ep;
	uint8_t err;
};

struct rule {
	const char *name;
	double threshold;
	int firing;
};

struct watch {
	const char *dir;
	double window, duration;
	uint32_t min;
	int quiet;
	struct rule err_rule, p99_rule;
	struct wconn **tab;
	size_t nb, n;
	struct sample *s;
	size_t head, len; /* ring of samples, oldest at head */
	char *eps[WATCH_ENDPOINTS];
	int neps;
	uint64_t requests, untracked, alerts;
};

static volatile sig_atomic_t stop;
static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- samples --------------------------------------------------------------- */

static uint16_t endpoint_id(struct watch *w, const char *ep)
{
	for (int i = 0; i < w->neps; i++)
		if (!strcmp(w->eps[i], ep))
			return (uint16_t)i;
	if (w->neps == WATCH_ENDPOINTS - 1) /* the last slot is "*" */
		return WATCH_ENDPOINTS - 1;
	w->eps[w->neps] = strdup(ep);
	return w->eps[w->neps] ? (uint16_t)w->neps++ : WATCH_ENDPOINTS - 1;
}

static int is_http(const struct fr_proto *p)
{
	return p && (!strcmp(p->name, "http1") || !strcmp(p->name, "http2") || !strcmp(p->name, "grpc"));
}

static void cb_request(struct fr_pctx *ctx, const struct fr_req *r)
{
	struct wconn *c = ctx->arg;
	struct watch *w = c->w;
	if (!is_http(r->layer ? r->layer : c->proto))
		return;
	struct sample s = {0};
	s.ts = r->resp_last_ns ? r->resp_last_ns : r->req_last_ns;
	s.lat = r->resp_last_ns && r->req_first_ns && r->resp_last_ns > r->req_first_ns
			? r->resp_last_ns - r->req_first_ns : 0;
	s.err = r->error != 0;
	s.ep = endpoint_id(w, r->endpoint ? r->endpoint : r->summary ? r->summary : "?");
	if (w->len == WATCH_SAMPLES) { /* full: the oldest goes */
		w->head = (w->head + 1) % WATCH_SAMPLES;
		w->len--;
	}
	w->s[(w->head + w->len++) % WATCH_SAMPLES] = s;
	w->requests++;
}

static void cb_message(struct fr_pctx *ctx, const struct fr_msg *m)
{
	(void)ctx, (void)m;
}

static void cb_anomaly(struct fr_pctx *ctx, uint64_t ts, const char *kind, const char *detail)
{
	(void)ctx, (void)ts, (void)kind, (void)detail;
}

static void pctx(struct wconn *c, struct fr_pctx *x)
{
	memset(x, 0, sizeof(*x));
	x->arg = c;
	x->transport = c->transport;
	x->emit_request = cb_request;
	x->emit_message = cb_message;
	x->anomaly = cb_anomaly;
}

/* ---- connections ------------------------------------------------------------ */

static size_t slot(const struct watch *w, const struct fr_connkey *k)
{
	uint64_t x = ((uint64_t)k->pid << 32 | k->fd) ^ ((uint64_t)k->gen * 0x9e3779b97f4a7c15ull);
	x ^= x >> 31;
	return (size_t)(x * 0xbf58476d1ce4e5b9ull >> 7) % w->nb;
}

static struct wconn *conn_get(struct watch *w, const struct fr_connkey *k, int create)
{
	size_t b = slot(w, k);
	for (struct wconn *c = w->tab[b]; c; c = c->next)
		if (!memcmp(&c->key, k, sizeof(*k)))
			return c;
	if (!create)
		return NULL;
	if (w->n >= WATCH_CONNS) {
		w->untracked++;
		return NULL;
	}
	struct wconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = *k;
	c->w = w;
	c->next = w->tab[b];
	w->tab[b] = c;
	w->n++;
	return c;
}

static void conn_end(struct watch *w, struct wconn *c, int why, uint64_t ts)
{
	struct wconn **pp = &w->tab[slot(w, &c->key)];
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	w->n--;
	if (c->detect == 1) {
		struct fr_pctx x;
		pctx(c, &x);
		c->proto->finish(c->pstate, &x, why, ts);
	}
	free(c->pstate);
	free(c);
}

static void sweep(struct watch *w, uint64_t now)
{
	for (size_t b = 0; b < w->nb; b++)
		for (struct wconn *c = w->tab[b], *nx; c; c = nx) {
			nx = c->next;
			if (now > c->last_ts + IDLE_NS)
				conn_end(w, c, FR_END_EVICTED, now);
		}
}

static int port_hint(const struct fr_proto *p, const struct wconn *c)
{
	for (int i = 0; i < 4 && p->ports[i]; i++)
		if (p->ports[i] == c->lport || p->ports[i] == c->rport)
			return 1;
	return 0;
}

/* The registry's probes, those whose port matches first. */
static void detect(struct wconn *c, int rdir, const uint8_t *p, size_t n)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; fr_protocols[i]; i++) {
			const struct fr_proto *pr = fr_protocols[i];
			if (port_hint(pr, c) != !pass || (c->transport == FR_UDP && !pr->udp))
				continue;
			int r = pr->probe(p, n, c->transport);
			if (r != FR_PROBE_C2S && r != FR_PROBE_S2C)
				continue;
			c->pstate = calloc(1, pr->state_size ? pr->state_size : 1);
			if (!c->pstate) {
				c->detect = 2;
				return;
			}
			if (pr->init)
				pr->init(c->pstate, c->transport);
			c->proto = pr;
			c->c2s_dir = r == FR_PROBE_C2S ? rdir : !rdir;
			c->detect = 1;
			return;
		}
	if (++c->tries >= PROBE_TRIES)
		c->detect = 2;
}

static void on_data(struct watch *w, const struct fr_data *d, uint64_t ts)
{
	struct wconn *c = conn_get(w, &d->conn, 1);
	if (!c)
		return;
	c->last_ts = ts;
	int rdir = d->dir == FR_INGRESS, udp = (d->flags & FR_DATA_NO_POS) != 0;
	if (udp)
		c->transport = FR_UDP;
	struct fr_pctx x;
	pctx(c, &x);
	uint64_t missing = 0;
	if (!udp) {
		if (c->pos_init[rdir] && d->stream_pos > c->next_pos[rdir])
			missing = d->stream_pos - c->next_pos[rdir];
		c->next_pos[rdir] = d->stream_pos + d->orig_len;
		c->pos_init[rdir] = 1;
	}
	if (c->detect == 0 && d->payload.len)
		detect(c, rdir, d->payload.p, d->payload.len);
	if (c->detect != 1)
		return;
	int dir = rdir == c->c2s_dir ? FR_C2S : FR_S2C;
	if (missing)
		c->proto->gap(c->pstate, &x, dir, missing, ts);
	struct fr_chunk ch = {.dir = dir, .ts = ts, .p = d->payload.p, .len = d->payload.len};
	if (udp && d->peer.family) {
		ch.peer_family = d->peer.family;
		ch.peer_addr = d->peer.addr;
		ch.peer_port = d->peer.port;
	}
	if (c->proto->feed(c->pstate, &x, &ch) < 0) {
		c->proto->finish(c->pstate, &x, FR_END_CLOSE, ts);
		c->detect = 2;
		return;
	}
	if (!udp && d->payload.len < d->orig_len)
		c->proto->gap(c->pstate, &x, dir, d->orig_len - d->payload.len, ts);
}

static void on_record(struct watch *w, const struct fr_record *r)
{
	struct wconn *c;
	switch (r->kind) {
	case FR_DATA:
		on_data(w, &r->u.data, r->ts);
		break;
	case FR_CONN_OPEN:
		if ((c = conn_get(w, &r->u.open.conn, 1)) != NULL) {
			c->transport = r->u.open.remote.proto == 17 ? FR_UDP : FR_TCP;
			c->lport = r->u.open.local.port;
			c->rport = r->u.open.remote.port;
			c->last_ts = r->ts;
		}
		break;
	case FR_CONN_STATE:
		if ((c = conn_get(w, &r->u.state.conn, 1)) != NULL && !c->pos_init[0] && !c->pos_init[1]) {
			c->transport = r->u.state.remote.proto == 17 ? FR_UDP : FR_TCP;
			c->lport = r->u.state.local.port;
			c->rport = r->u.state.remote.port;
			c->last_ts = r->ts;
		}
		break;
	case FR_CONN_CLOSE:
		if ((c = conn_get(w, &r->u.close.conn, 0)) != NULL)
			conn_end(w, c, FR_END_CLOSE, r->ts);
		break;
	}
}

/* ---- rules ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void alert(struct watch *w, const char *reason)
{
	char req[FR_CTL_LINE], rep[FR_CTL_LINE];
	snprintf(req, sizeof(req), "alert %.400s", reason);
	int rc = fr_ctl_request(w->dir, req, 10000, rep, sizeof(rep));
	w->alerts++;
	printf("FIRING %s: %s\n", reason, rc > 0 ? "no recorder listens on the control socket" : rep);
	fflush(stdout);
}

/* Drops samples older than the window; evaluates both rules over the rest. */
static void evaluate(struct watch *w, uint64_t now)
{
	uint64_t from = now > (uint64_t)(w->window * 1e9) ? now - (uint64_t)(w->window * 1e9) : 0;
	while (w->len && w->s[w->head].ts < from) {
		w->head = (w->head + 1) % WATCH_SAMPLES;
		w->len--;
	}
	uint64_t n = 0, errs = 0, nlat = 0;
	static uint32_t ep_err[WATCH_ENDPOINTS], ep_slow[WATCH_ENDPOINTS];
	static uint64_t lat[WATCH_SAMPLES];
	memset(ep_err, 0, sizeof(ep_err));
	for (size_t i = 0; i < w->len; i++) {
		const struct sample *s = &w->s[(w->head + i) % WATCH_SAMPLES];
		n++;
		errs += s->err;
		ep_err[s->ep] += s->err;
		if (s->lat)
			lat[nlat++] = s->lat;
	}
	double rate = n ? (double)errs / (double)n : 0;
	qsort(lat, nlat, sizeof(lat[0]), cmp_u64);
	double p99 = nlat ? (double)lat[(nlat * 99 + 99) / 100 - 1] / 1e9 : 0;
	char reason[400];
	int top = 0;
	for (int i = 1; i < WATCH_ENDPOINTS; i++)
		if (ep_err[i] > ep_err[top])
			top = i;
	int fire = n >= w->min && rate > w->err_rule.threshold;
	if (fire && !w->err_rule.firing) {
		snprintf(reason, sizeof(reason), "%s %.2f > %g on %s (%" PRIu64 " of %" PRIu64 " in %g s)",
			 w->err_rule.name, rate, w->err_rule.threshold,
			 top < w->neps ? w->eps[top] : "*", errs, n, w->window);
		alert(w, reason);
	}
	w->err_rule.firing = fire;
	fire = nlat >= w->min && p99 > w->p99_rule.threshold;
	if (fire && !w->p99_rule.firing) {
		/* the endpoint with the most requests slower than the threshold */
		memset(ep_slow, 0, sizeof(ep_slow));
		for (size_t i = 0; i < w->len; i++) {
			const struct sample *s = &w->s[(w->head + i) % WATCH_SAMPLES];
			ep_slow[s->ep] += s->lat > (uint64_t)(w->p99_rule.threshold * 1e9);
		}
		top = 0;
		for (int i = 1; i < WATCH_ENDPOINTS; i++)
			if (ep_slow[i] > ep_slow[top])
				top = i;
		snprintf(reason, sizeof(reason), "%s %.3fs > %gs on %s (%" PRIu64 " requests in %g s)",
			 w->p99_rule.name, p99, w->p99_rule.threshold, top < w->neps ? w->eps[top] : "*",
			 nlat, w->window);
		alert(w, reason);
	}
	w->p99_rule.firing = fire;
	if (!w->quiet)
		fprintf(stderr, "flightrec watch: %" PRIu64 " requests in the window, error_rate %.3f, p99 %.3fs; %zu connections\n",
			n, rate, p99, w->n);
}

/* ---- following the ring ----------------------------------------------------- */

/* The segment after cur in dir's sorted list (the newest when cur is NULL),
 * or NULL when there is none (yet). */
static char *next_segment(const char *dir, const char *cur)
{
	char **v, err[256], *out = NULL;
	int n = fr_list_segments(dir, &v, err, sizeof(err));
	for (int i = 0; i < n && !out; i++)
		if (cur ? strcmp(v[i], cur) > 0 : i == n - 1)
			out = strdup(v[i]);
	if (n > 0)
		fr_free_list(v, n);
	return out;
}

static int drain(struct watch *w, struct fr_reader *rd)
{
	struct fr_record rec;
	int k = 0;
	while (fr_reader_next(rd, &rec) == 1) {
		on_record(w, &rec);
		k++;
	}
	return k;
}

static int follow(struct watch *w)
{
	char *cur = NULL;
	struct fr_reader *rd = NULL;
	uint64_t t0 = mono_now(), last_eval = 0, last_sweep = t0;
	while (!stop) {
		if (!rd) {
			char err[512];
			cur = next_segment(w->dir, NULL);
			if (cur && !(rd = fr_reader_open(cur, err, sizeof(err)))) {
				fprintf(stderr, "flightrec watch: %s\n", err);
				free(cur);
				cur = NULL;
			}
		}
		int got = rd ? drain(w, rd) : 0;
		char *nx = rd ? next_segment(w->dir, cur) : NULL;
		if (nx) { /* the recorder moved on: the rest of this one, then the next */
			fr_reader_follow(rd);
			drain(w, rd);
			fr_reader_free(rd);
			free(cur);
			char err[512];
			cur = nx;
			rd = fr_reader_open(cur, err, sizeof(err));
			if (!rd) {
				fprintf(stderr, "flightrec watch: %s\n", err);
				free(cur);
				cur = NULL;
			}
			continue;
		}
		uint64_t now = mono_now();
		if (now - last_eval >= 1000000000ull) {
			last_eval = now;
			evaluate(w, now);
		}
		if (now - last_sweep >= 10000000000ull) {
			last_sweep = now;
			sweep(w, now);
		}
		if (w->duration > 0 && now - t0 >= (uint64_t)(w->duration * 1e9))
			break;
		if (!(rd && fr_reader_follow(rd)) && !got)
			usleep(200000);
	}
	for (size_t b = 0; b < w->nb; b++)
		while (w->tab[b])
			conn_end(w, w->tab[b], FR_END_RECORDING, mono_now());
	fr_reader_free(rd);
	free(cur);
	return EXIT_OK;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flightrec watch RINGDIR [OPTIONS]\n"
		"Follows the ring of a running recorder as it is written, parses its HTTP\n"
		"requests (HTTP/1, HTTP/2, gRPC) and evaluates two rules over a sliding\n"
		"window every second; a rule that starts firing asks the recorder for a\n"
		"snapshot through RINGDIR/control.sock (\"alert <rule> ...\"; the recorder's\n"
		"--triggers and --cooldown apply).  Needs read access to the ring\n"
		"(flightrec-record --ring-group) and to the socket (--control-group).\n"
		"  --error-rate RATE  http_error_rate: share of failed requests (5xx,\n"
		"                     errors, no response) above RATE (default 0.05)\n"
		"  --p99 SECS         http_p99: 99th percentile latency above SECS (default 1)\n"
		"  --window SECS      the sliding window (default 30)\n"
		"  --min N            only with N requests or more in the window (default 20)\n"
		"  --duration SECS    stop after SECS (default: at SIGINT/SIGTERM)\n"
		"  -q, --quiet        no per-second line on stderr\n"
		"Each alert is a line \"FIRING <reason>: <the recorder's reply>\" on stdout.\n");
}

static int num(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || *out < 0 ? -1 : 0;
}

int cmd_watch(int argc, char **argv)
{
	static struct watch w;
	memset(&w, 0, sizeof(w));
	w.window = 30;
	w.min = 20;
	w.err_rule = (struct rule){"http_error_rate", 0.05, 0};
	w.p99_rule = (struct rule){"http_p99", 1.0, 0};
	static const struct option lo[] = {{"error-rate", required_argument, 0, 'e'},
					   {"p99", required_argument, 0, 'p'},
					   {"window", required_argument, 0, 'w'},
					   {"min", required_argument, 0, 'm'},
					   {"duration", required_argument, 0, 'd'},
					   {"quiet", no_argument, 0, 'q'},
					   {"help", no_argument, 0, 'h'},
					   {0, 0, 0, 0}};
	int c;
	double v;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		}
		if (c == 'q') {
			w.quiet = 1;
			continue;
		}
		if (c == '?' || num(optarg, &v) || ((c == 'w' || c == 'm') && v < 1)) {
			if (c != '?')
				fprintf(stderr, "flightrec watch: bad value: %s\n", optarg);
			usage(stderr);
			return EXIT_USAGE;
		}
		if (c == 'e')
			w.err_rule.threshold = v;
		else if (c == 'p')
			w.p99_rule.threshold = v;
		else if (c == 'w')
			w.window = v;
		else if (c == 'm')
			w.min = (uint32_t)v;
		else
			w.duration = v;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	w.dir = argv[optind];
	if (access(w.dir, R_OK | X_OK) < 0) {
		fprintf(stderr, "flightrec watch: %s: %s (the recorder's --ring-group gives a group read access)\n",
			w.dir, strerror(errno));
		return EXIT_USAGE;
	}
	w.nb = 4096;
	w.tab = calloc(w.nb, sizeof(*w.tab));
	w.s = calloc(WATCH_SAMPLES, sizeof(*w.s));
	if (!w.tab || !w.s) {
		fprintf(stderr, "flightrec watch: out of memory\n");
		return EXIT_USAGE;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rc = follow(&w);
	fprintf(stderr, "flightrec watch: %" PRIu64 " requests, %" PRIu64 " alerts, %" PRIu64 " connections untracked\n",
		w.requests, w.alerts, w.untracked);
	for (int i = 0; i < w.neps; i++)
		free(w.eps[i]);
	free(w.tab);
	free(w.s);
	return rc;
}
