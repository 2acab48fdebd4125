"""Holds the kernel's BPF run-time statistics on (bpf(BPF_ENABLE_STATS)) until
killed, for tests/bench/record-overhead and event-cost; the sysctl
kernel.bpf_stats_enabled is left alone.  It ends with its parent, however
that ends (PR_SET_PDEATHSIG: a Ctrl-C left it running)."""
import ctypes, os, signal, struct

libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
attr = ctypes.create_string_buffer(struct.pack("I", 0), 16)  # BPF_STATS_RUN_TIME
fd = libc.syscall(321, 32, attr, 16)  # bpf(BPF_ENABLE_STATS)
if fd < 0:
    raise SystemExit("BPF_ENABLE_STATS: " + os.strerror(ctypes.get_errno()))
signal.pause()
