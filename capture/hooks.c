/* hooks.c - which kernel hooks flightrec-record attaches.  Two sets of
 * programs live in bpf/flightrec.bpf.c and produce the same events:
 *
 *   sockets   the socket tracepoints (bpf/hooks_sockets.h): only calls
 *             that move socket bytes run a program; Linux 6.12+
 *             (sock_send_length/recv_length 6.3, tcp_sendmsg_locked 6.12)
 *   syscalls  the raw sys_enter/sys_exit tracepoints
 *             (bpf/hooks_syscalls.h): every system call of the machine
 *             takes the slow path and runs a program; Linux 5.13+
 *
 * Both sets attach the tcp: tracepoints of bpf/hooks_tcp.h (TCP records).
 * With --hooks auto the sockets set is taken when the running kernel's
 * BTF has every tracepoint it needs.  The choice is logged
 * and written into every segment header (`hooks`). */
#define _GNU_SOURCE
#include "bpf/flightrec.skel.h"
#include "recorder.h"

#include "cgroup.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* What the sockets set attaches to, in the kernel's BTF.  optional: the
 * program is left out when it is missing (a kernel without IPv6). */
static const char *const needs[] = {
	"btf_trace_sock_send_length", "btf_trace_sock_recv_length", "btf_trace_inet_sock_set_state",
	"btf_trace_tcp_sendmsg_locked", "btf_trace_tcp_destroy_sock",
};

/* The TCP evidence hooks of both sets (bpf/hooks_tcp.h), each left out
 * when the kernel lacks its tracepoint (all are in 5.11). */
static const char *const tcp_tps[] = {
	"btf_trace_tcp_retransmit_skb", "btf_trace_tcp_send_reset", "btf_trace_tcp_receive_reset",
	"btf_trace_tcp_destroy_sock",
};

/* 1 when the kernel has what the sockets set needs; else 0 and *missing
 * names the first thing it lacks. */
static int sockets_available(const char **missing)
{
	struct btf *btf = btf__load_vmlinux_btf();
	*missing = "kernel BTF";
	if (!btf)
		return 0;
	int ok = 1;
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]) && ok; i++)
		if (btf__find_by_name_kind(btf, needs[i], BTF_KIND_TYPEDEF) <= 0) {
			ok = 0;
			*missing = needs[i] + strlen("btf_trace_");
		}
	btf__free(btf);
	return ok;
}

int hooks_choose(struct recorder *r)
{
	struct flightrec_bpf *s = r->skel;
	const char *missing;
	int avail = sockets_available(&missing);
	int sockets = r->o->hooks == FR_HOOKS_SOCKETS || (r->o->hooks == FR_HOOKS_AUTO && avail);
	if (r->o->hooks == FR_HOOKS_SOCKETS && !avail) {
		logmsg("--hooks sockets: this kernel lacks %s (the socket hooks need Linux 6.12+); "
		       "use --hooks syscalls", missing);
		return -1;
	}
	struct bpf_program *socket_progs[] = {
		s->progs.fr_sk_state, s->progs.fr_sock_send, s->progs.fr_sock_recv,
		s->progs.fr_send_start, s->progs.fr_dgram_peer4, s->progs.fr_dgram_peer6,
	};
	for (size_t i = 0; i < sizeof(socket_progs) / sizeof(socket_progs[0]); i++)
		bpf_program__set_autoload(socket_progs[i], sockets);
	struct btf *btf = btf__load_vmlinux_btf();
	int ready = sockets && btf && btf__find_by_name_kind(btf, "btf_trace_sk_data_ready", BTF_KIND_TYPEDEF) > 0;
	struct bpf_program *tcp_progs[] = {
		s->progs.fr_tcp_retransmit, s->progs.fr_tcp_send_reset, s->progs.fr_tcp_recv_reset,
		s->progs.fr_tcp_destroy,
	};
	int n_tcp = 0;
	for (size_t i = 0; i < sizeof(tcp_progs) / sizeof(tcp_progs[0]); i++) {
		int has = btf && btf__find_by_name_kind(btf, tcp_tps[i], BTF_KIND_TYPEDEF) > 0;
		bpf_program__set_autoload(tcp_progs[i], has);
		n_tcp += has;
	}
	if (n_tcp < 4)
		logmsg("this kernel lacks some tcp: tracepoints: TCP retransmissions and resets are not all recorded");
	btf__free(btf);
	bpf_program__set_autoload(s->progs.fr_data_ready, ready);
	s->rodata->has_data_ready = (__u8)ready;
	r->arrival_min_ns = ready ? s->rodata->arrival_min_ns : 0;
	bpf_program__set_autoload(s->progs.fr_sys_enter, !sockets);
	bpf_program__set_autoload(s->progs.fr_sys_exit, !sockets);
	s->rodata->hooks_sockets = (__u8)sockets;
	snprintf(r->hooks, sizeof(r->hooks), "%s", sockets ? "sockets" : "syscalls");
	if (sockets)
		snprintf(r->hooks_why, sizeof(r->hooks_why), "socket tracepoints, %s",
			 ready ? "ingress arrival times" : "no arrival times (no sk_data_ready)");
	else if (r->o->hooks == FR_HOOKS_SYSCALLS)
		snprintf(r->hooks_why, sizeof(r->hooks_why), "system call tracepoints, forced by --hooks");
	else
		snprintf(r->hooks_why, sizeof(r->hooks_why), "system call tracepoints: the kernel lacks %s",
			 missing);
	return 0;
}

void hooks_report_verifier(struct recorder *r)
{
	if (!r->o->verbose)
		return;
	char line[512];
	size_t n = 0;
	struct bpf_program *p;
	bpf_object__for_each_program(p, r->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		int fd = bpf_program__fd(p);
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || n >= sizeof(line))
			continue;
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s %u", n ? ", " : "", bpf_program__name(p),
				      info.verified_insns);
	}
	logmsg("verifier: instructions processed per program (limit 1000000): %s", n ? line : "unknown");
}

/* The cgroup programs of the sockets set, at the root of the cgroup v2
 * tree (the skeleton's attach leaves cgroup programs alone).  A link is
 * one of several programs there: others (a CNI's) are left as they are. */
int hooks_attach_cgroup(struct recorder *r)
{
	if (strcmp(r->hooks, "sockets"))
		return 0;
	const char *root = fr_cgroup_root();
	if (!root) {
		logmsg("--hooks sockets: no cgroup v2 mount for the datagram address hooks");
		return -1;
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		logmsg("cannot open %s: %s", root, strerror(errno));
		return -1;
	}
	struct bpf_program *p[2] = {r->skel->progs.fr_dgram_peer4, r->skel->progs.fr_dgram_peer6};
	for (int i = 0; i < 2; i++) {
		r->cg_links[i] = bpf_program__attach_cgroup(p[i], fd);
		if (!r->cg_links[i]) {
			logmsg("cannot attach %s to %s: %s", bpf_program__name(p[i]), root, strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

void hooks_detach(struct recorder *r)
{
	for (int i = 0; i < 2; i++) {
		bpf_link__destroy(r->cg_links[i]);
		r->cg_links[i] = NULL;
	}
}
