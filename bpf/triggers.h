/* triggers.h - the event ABI between bpf/triggers.bpf.c and the recorder's
 * automatic triggers (capture/triggers.c): a process chosen by the OOM
 * killer, a container's main process dying on a signal or a non-zero exit,
 * and a container's main process starting (a restart, when its container
 * crashed before).  Fixed-width fields, explicit padding.  Bump
 * FR_TEV_VERSION on any change. */
#ifndef FLIGHTREC_TRIGGERS_ABI_H
#define FLIGHTREC_TRIGGERS_ABI_H

#define FR_TEV_VERSION 1
#define FR_TEV_COMM 16

enum fr_tev_type {
	FR_TEV_OOM = 1,   /* oom:mark_victim: the OOM killer chose this process */
	FR_TEV_EXIT = 2,  /* a main process ended with a signal or a non-zero status */
	FR_TEV_START = 3, /* a main process exec'd */
};

/* A "main process" is the first process of a container: pid 1 of its own
 * pid namespace, or, for a process sharing its parent's pid namespace, one
 * whose parent is in another cgroup (the runtime's shim or runc are outside
 * the container's cgroup).  The recorder then keeps only those whose cgroup
 * path names a container. */
struct fr_tev {
	__u32 type;    /* enum fr_tev_type */
	__u32 version; /* FR_TEV_VERSION */
	__u64 ts;      /* bpf_ktime_get_ns() */
	__u32 pid;     /* tgid, in the initial pid namespace */
	__u32 ppid;
	__u32 exit_code; /* EXIT: the wait status (status << 8, or the signal | 0x80 core) */
	__u32 ns_pid;    /* pid in its own pid namespace */
	__u32 ns_level;  /* depth of that namespace (0: the host's) */
	__u32 pad;
	__u64 cgroup_id; /* cgroup v2 (default hierarchy) */
	__u64 memcg_id;  /* the cgroup of its memory controller (v1 or v2), 0 if none */
	char comm[FR_TEV_COMM];
};

#endif
