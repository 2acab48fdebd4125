/* ctl.h - the recorder's control socket: where it is and the client side
 * of its protocol, shared by `flightrec-record snapshot|status` and
 * `flightrec watch` (the server is capture/ctlsock.c).
 *
 * The socket is DIR/control.sock (Unix, stream), mode 0600 (root only), or
 * 0660 with --control-group.  One request per connection, one line each
 * way:
 *   snapshot REASON   a snapshot now (manual: no cooldown)
 *   alert REASON      an automatic trigger of kind "alert" (switchable,
 *                     under the cooldown): `flightrec watch` sends these
 *   status            the recorder's health
 * Replies: "ok TEXT" (TEXT: the snapshot's directory, or the status),
 * "suppressed WHY" (an automatic trigger the recorder let pass: off, or in
 * its cooldown; the reason is still written to the ring as a MARK), or
 * "error WHY".  The recorder records the requester's uid, gid and pid
 * (SO_PEERCRED) in the snapshot's MARK. */
#ifndef FLIGHTREC_CTL_H
#define FLIGHTREC_CTL_H

#include <stddef.h>

#define FR_CTL_SOCKET "control.sock"
#define FR_CTL_LINE 512 /* longest request or reply line, newline included */

/* Sends `request` (one line, no newline) to the recorder of recording
 * directory dir (or to the socket path itself when dir names a socket) and
 * waits up to timeout_ms for its one-line reply, copied without the
 * newline into reply.  Before sending, checks that the socket is a socket
 * owned by root or by the caller, and that the process listening runs as
 * that same user (SO_PEERCRED): nothing is sent to a socket someone else
 * planted.
 * Returns 0 when a reply came, 1 when no recorder listens there (no socket,
 * or nobody accepts: the caller may fall back to the signal), or -1 with a
 * reason in reply. */
int fr_ctl_request(const char *dir, const char *request, int timeout_ms, char *reply,
		   size_t replylen);

#endif
