/* privs.c - the recorder's capabilities once its programs are attached.
 *
 * Effective from then on: CAP_SYS_PTRACE (/proc/PID/exe, maps and root of
 * other users' processes) and CAP_DAC_READ_SEARCH (pod log folders, token
 * files).  Kept in the permitted set only, effective just while TLS
 * uprobes are attached to a library found after the start (tls_scan, from
 * the process events): CAP_SYS_ADMIN, with CAP_PERFMON and CAP_BPF if the
 * recorder has them.  Linux 6.16 (and the stable kernels since July 2025:
 * commit ba677dbe77af, "perf: Revert to requiring CAP_SYS_ADMIN for
 * uprobes") refuses a uprobe perf event without CAP_SYS_ADMIN; before it
 * CAP_PERFMON was enough, but without CAP_SYS_ADMIN nothing is kept (each
 * new process would retry, and log, an attach the kernel may refuse).
 * Every other
 * capability leaves all sets and the bounding set, and no_new_privs is
 * set.  Capabilities are per thread: a thread started before the drop
 * calls privs_thread() itself. */
#define _GNU_SOURCE
#include "recorder.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int keep[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
static const int attach_caps[] = {CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF};
static uint64_t attach_kept; /* bits of attach_caps in the permitted set */

static uint64_t keep_bits(void)
{
	uint64_t b = 0;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		b |= 1ull << keep[i];
	return b;
}

/* This thread's permitted set, or 0 if it cannot be read. */
static uint64_t permitted(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &hdr, d) < 0)
		return 0;
	return (uint64_t)d[1].permitted << 32 | d[0].permitted;
}

static int set_caps(uint64_t eff, uint64_t perm)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 2; i++) {
		d[i].effective = (uint32_t)(eff >> (32 * i));
		d[i].permitted = (uint32_t)(perm >> (32 * i));
	}
	return syscall(SYS_capset, &hdr, d) < 0 ? -1 : 0;
}

/* Drops this thread's bounding set to keep[] and sets no_new_privs. */
static int drop_bounding(void)
{
	uint64_t k = keep_bits();
	for (int c = 0; c <= 63; c++)
		if (!(k >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -1 : 0;
}

int privs_drop(int tls)
{
	uint64_t perm = permitted();
	attach_kept = 0;
	if (tls && (perm >> CAP_SYS_ADMIN & 1))
		for (size_t i = 0; i < sizeof(attach_caps) / sizeof(attach_caps[0]); i++)
			attach_kept |= perm & 1ull << attach_caps[i];
	/* the bounding set limits only what an exec may gain: the permitted
	 * attach capabilities stay usable with it dropped */
	if (drop_bounding() < 0 || set_caps(keep_bits(), keep_bits() | attach_kept) < 0)
		return -1;
	logmsg("privileges dropped: kept cap_sys_ptrace (/proc/PID/exe and /root of other users' "
	       "processes), cap_dac_read_search (pod log folders, token files not readable by root's "
	       "mode bits)%s; no_new_privs set",
	       attach_kept ? "; permitted only, raised to attach TLS uprobes to libraries found later: "
			     "cap_sys_admin (and cap_perfmon, cap_bpf)"
	       : tls	   ? "; TLS libraries found later are not attached (no cap_sys_admin)"
			   : "");
	return 0;
}

int privs_attach(int on)
{
	if (!attach_kept)
		return -1;
	return set_caps(keep_bits() | (on ? attach_kept : 0), keep_bits() | attach_kept);
}

int privs_thread(void)
{
	if (drop_bounding() < 0)
		return -1;
	return set_caps(keep_bits(), keep_bits());
}

int privs_uprobe_ok(void)
{
	return (permitted() >> CAP_SYS_ADMIN & 1) != 0;
}
