// SPDX-License-Identifier: GPL-2.0
/* triggers.bpf.c - the kernel side of the recorder's automatic triggers:
 * the OOM killer's victims (oom:mark_victim) and the exits and execs of
 * containers' main processes (sched_process_exit, sched_process_exec).
 * Raw tracepoints: no tracefs, and the arguments are read as they come
 * (mark_victim's first argument is the task since Linux 6.8, a pid before:
 * the loader says which through victim_is_task).  Kept apart from
 * flightrec.bpf.c: its own skeleton, ring buffer and ABI (triggers.h); the
 * recorder loads it only when an automatic trigger is on.  The kernel types
 * it reads are declared here as CO-RE flavours (___fr) of the real ones. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "triggers.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u8 victim_is_task = 1;
const volatile __u32 self_tgid = 0;

#define SIGNAL_GROUP_EXIT 0x00000004

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct kernfs_node___fr {
	u64 id;
};
struct cgroup___fr {
	struct kernfs_node___fr *kn;
};
struct cgroup_subsys_state___fr {
	struct cgroup___fr *cgroup;
};
struct css_set___fr {
	struct cgroup_subsys_state___fr *subsys[14];
	struct cgroup___fr *dfl_cgrp;
};
struct upid___fr {
	int nr;
	void *ns;
};
struct pid___fr {
	unsigned int level;
	struct upid___fr numbers[1];
};
struct signal_struct___fr {
	unsigned int flags;
	int group_exit_code;
	atomic_t live;
};
struct task_struct___fr {
	pid_t pid;
	pid_t tgid;
	int exit_code;
	struct task_struct___fr *real_parent;
	struct signal_struct___fr *signal;
	struct css_set___fr *cgroups;
	struct pid___fr *thread_pid;
	char comm[16];
};
#pragma clang attribute pop

enum cgroup_subsys_id___fr { memory_cgrp_id = 4 };

struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);
} tevents SEC(".maps");

static __always_inline u64 dfl_cgroup(struct task_struct___fr *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline u64 mem_cgroup(struct task_struct___fr *t)
{
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id___fr, memory_cgrp_id))
		return 0;
	int i = bpf_core_enum_value(enum cgroup_subsys_id___fr, memory_cgrp_id);
	struct css_set___fr *cs = BPF_CORE_READ(t, cgroups);
	struct cgroup_subsys_state___fr *css = NULL;
	if (i < 0 || i >= 14 || !cs)
		return 0;
	bpf_probe_read_kernel(&css, sizeof(css), &cs->subsys[i]);
	if (!css)
		return 0;
	return BPF_CORE_READ(css, cgroup, kn, id);
}

/* The pid of t in its own pid namespace, and that namespace's depth. */
static __always_inline void ns_pid(struct task_struct___fr *t, __u32 *nr, __u32 *level)
{
	struct pid___fr *p = BPF_CORE_READ(t, thread_pid);
	unsigned int l = BPF_CORE_READ(p, level);
	struct upid___fr u = {};
	if (l > 32)
		l = 32;
	bpf_probe_read_kernel(&u, sizeof(u), &p->numbers[l]);
	*nr = (__u32)u.nr;
	*level = l;
}

/* pid 1 of its own pid namespace, or, in its parent's namespace, in
 * another cgroup than its parent. */
static __always_inline int is_main(struct task_struct___fr *t, __u32 nr, __u32 level)
{
	if (level > 0)
		return nr == 1;
	struct task_struct___fr *pp = BPF_CORE_READ(t, real_parent);
	return dfl_cgroup(pp) != dfl_cgroup(t) || mem_cgroup(pp) != mem_cgroup(t);
}

static __always_inline void emit(__u32 type, struct task_struct___fr *t, __u32 pid, __u32 code,
				 __u32 nr, __u32 level)
{
	struct fr_tev *e = bpf_ringbuf_reserve(&tevents, sizeof(*e), 0);
	if (!e)
		return;
	e->type = type;
	e->version = FR_TEV_VERSION;
	e->ts = bpf_ktime_get_ns();
	e->pid = pid ? pid : BPF_CORE_READ(t, tgid);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->exit_code = code;
	e->ns_pid = nr;
	e->ns_level = level;
	e->pad = 0;
	e->cgroup_id = dfl_cgroup(t);
	e->memcg_id = mem_cgroup(t);
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
	bpf_ringbuf_submit(e, 0);
}

SEC("raw_tp/mark_victim")
int fr_oom(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct___fr *t;
	__u32 nr = 0, level = 0, pid = 0;
	if (victim_is_task) {
		t = (struct task_struct___fr *)ctx->args[0];
	} else {
		/* older kernels give the victim's pid only: the cgroups are
		 * those of the task that ran out of memory, mostly the victim */
		t = (struct task_struct___fr *)bpf_get_current_task();
		pid = (__u32)ctx->args[0];
	}
	ns_pid(t, &nr, &level);
	emit(FR_TEV_OOM, t, pid, 0, nr, level);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int fr_texit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct___fr *t = (struct task_struct___fr *)ctx->args[0];
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0; /* other threads still run: the process has not ended */
	unsigned int flags = BPF_CORE_READ(t, signal, flags);
	int code = (flags & SIGNAL_GROUP_EXIT) ? BPF_CORE_READ(t, signal, group_exit_code)
					       : BPF_CORE_READ(t, exit_code);
	if (code == 0 || BPF_CORE_READ(t, tgid) == self_tgid)
		return 0;
	__u32 nr, level;
	ns_pid(t, &nr, &level);
	if (is_main(t, nr, level))
		emit(FR_TEV_EXIT, t, 0, (__u32)code, nr, level);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int fr_texec(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct___fr *t = (struct task_struct___fr *)ctx->args[0];
	__u32 nr, level;
	ns_pid(t, &nr, &level);
	if (is_main(t, nr, level))
		emit(FR_TEV_START, t, 0, 0, nr, level);
	return 0;
}
