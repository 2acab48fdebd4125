/* triggers.h - flightrec-record's automatic triggers (triggers.c) and its
 * control socket (ctlsock.c); internal to capture/.
 *
 * A trigger has a kind and a target ("oom" on pod "prod/api-7c9d-x") and
 * becomes a snapshot named "<kind> <target>" whose MARK record says which
 * trigger fired, on what, and why.  Automatic triggers (every kind but
 * manual) are switched by --triggers and share one cooldown (--cooldown):
 * one that fires within it is written as a MARK "trigger-suppressed" into
 * the ring instead.  After every snapshot the oldest snapshots beyond
 * --snapshots-max or --snapshots-size are removed. */
#ifndef FLIGHTREC_TRIGGERS_H
#define FLIGHTREC_TRIGGERS_H

#include "recorder.h"

enum {
	TRIG_MANUAL = 0, /* the control socket's `snapshot`: always on, no cooldown */
	TRIG_OOM = 1 << 0,
	TRIG_CRASH = 1 << 1,
	TRIG_RESTART = 1 << 2,
	TRIG_KUBE = 1 << 3, /* Warning events and NotReady pods (--kube-api) */
	TRIG_ALERT = 1 << 4, /* `flightrec watch` through the control socket */
	TRIG_CLUSTER = 1 << 5, /* --cluster-trigger: an operator's, no cooldown */
	TRIG_ALL = (1 << 6) - 1,
};

/* "oom,crash,restart,kube,alert,cluster", "all" or "none" into TRIG_* bits.
 * 0 or -1. */
int triggers_parse(const char *list, unsigned *mask);
/* The name of one TRIG_* kind ("manual" for 0). */
const char *trigger_name(unsigned kind);

/* Loads and attaches bpf/triggers.bpf.c when OOM, crash or restart
 * triggers are on (its ring buffer joins r->rb), and sets up the trigger
 * state.  Call after load_and_attach and before privileges are dropped.
 * 0, or -1 after a message.  A kernel without the OOM tracepoint only
 * turns the OOM trigger off, with a message. */
int triggers_load(struct recorder *r);
void triggers_free(struct recorder *r); /* also when triggers_load failed */

/* Fires a trigger of kind on target (free text: a pod, a rule); detail
 * goes into the MARK.  Returns 0 with the snapshot's directory in
 * r->snap_dir; 1 when it was suppressed (off, or in the cooldown), with why
 * in why; -1 when the snapshot failed. */
int trigger_fire(struct recorder *r, unsigned kind, const char *target, const char *detail,
		 char *why, size_t whylen);

/* Removes the oldest snapshots (never r->snap_dir) while there are more
 * than --snapshots-max or they hold more than --snapshots-size bytes. */
void snapshots_cap(struct recorder *r);

/* Triggers found by the API watcher (kevents.c): called about once a second. */
void kube_triggers(struct recorder *r);

/* ctlsock.c: DIR/control.sock.  ctl_open: 0, or -1 after a message (a
 * socket that cannot be made only disables it: SIGUSR1 still works). */
int ctl_open(struct recorder *r);
void ctl_poll(struct recorder *r); /* serves waiting requests; never blocks long */
void ctl_close(struct recorder *r);
/* `snapshot DIR` through the socket: an exit code, or -1 when no recorder
 * listens there (the caller falls back to the pid file and SIGUSR1). */
int snapshot_via_socket(const char *dir, const char *reason);
/* `flightrec-record status DIR`: an exit code. */
int status_cmd(int argc, char **argv);

#endif
